"""The network's test service: every message to ``ECHO_NUMBER`` comes back to its sender."""

from __future__ import annotations

import random

from phone_tui.modem.frames import Envelope, EnvelopeKind, ReportStatus, report_body

ECHO_NUMBER = "echo"


def echo_replies(envelope: Envelope, rng: random.Random) -> tuple[Envelope, Envelope]:
    """What the service sends back for a message: its delivery report, then the same body from
    "echo" (under a fresh id drawn from ``rng``)."""
    delivered = Envelope(EnvelopeKind.REPORT, envelope.msg_id, ECHO_NUMBER, envelope.src,
                         report_body(ReportStatus.DELIVERED))
    reply = Envelope(EnvelopeKind.MESSAGE, rng.randbytes(16), ECHO_NUMBER, envelope.src,
                     envelope.body)
    return delivered, reply
