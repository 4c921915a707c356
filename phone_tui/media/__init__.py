"""A call's media: codec profiles as data, per-frame sealing (AES-256-GCM, SRTP-like), the
jitter buffer, the G.107 E-model and the session that sends and plays 20 ms frames.

The cores (srtp, jitter, emodel) are sans-IO; ``stream`` is the thin asyncio shell. Nothing
here imports the modem or the handset: the session is handed a ``send`` callable and fed
packets, so it runs over the emulated carrier or anything else that carries bytes.
"""
