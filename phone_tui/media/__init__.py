"""Call media: codecs, frame sealing, jitter buffer, call quality and audio."""
