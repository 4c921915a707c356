"""Media frame sealing: AES-256-GCM with the header as associated data, RFC 7714 nonces, RFC
3711 roll-over estimation and its 64-frame replay window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phone_tui.media.srtp import (
    HEADER_BYTES,
    PT_REPORT,
    FrameOpener,
    FrameSealer,
    MediaFrameError,
)

KEY, SALT, SSRC = bytes(range(32)), bytes(range(100, 112)), 0x1234ABCD


def pair(ssrc: int = SSRC) -> tuple[FrameSealer, FrameOpener]:
    return FrameSealer(KEY, SALT, ssrc), FrameOpener(KEY, SALT, SSRC)


def flip(packet: bytes, at: int) -> bytes:
    out = bytearray(packet)
    out[at] ^= 0x01
    return bytes(out)


def test_a_sealed_frame_opens_to_what_was_sealed():
    sealer, opener = pair()
    packet = sealer.seal(7, 320 * 7, b"voice", marker=True)
    assert len(packet) == HEADER_BYTES + 5 + 16
    assert b"voice" not in packet
    frame = opener.open(packet)
    assert (frame.seq, frame.timestamp, frame.payload, frame.marker) == (7, 2240, b"voice", True)
    report = opener.open(sealer.seal(8, 0, b"sr", payload_type=PT_REPORT))
    assert report.payload_type == PT_REPORT and not report.marker


@pytest.mark.parametrize("where", ["header", "payload", "tag"])
def test_a_tampered_packet_is_refused(where):
    sealer, opener = pair()
    packet = sealer.seal(1, 320, b"hello there")
    at = {"header": 5, "payload": HEADER_BYTES + 2, "tag": len(packet) - 1}[where]
    with pytest.raises(MediaFrameError, match="authentication"):
        opener.open(flip(packet, at))
    assert opener.open(packet).payload == b"hello there"  # the forgery moved nothing


def test_a_forged_frame_does_not_move_the_window():
    sealer, opener = pair()
    opener.open(sealer.seal(1, 0, b"a"))
    forged = flip(sealer.seal(5000, 0, b"b"), HEADER_BYTES)
    with pytest.raises(MediaFrameError):
        opener.open(forged)
    assert opener.open(sealer.seal(5001, 0, b"c")).seq == 5001
    # The window is where a genuine frame put it, not where the forgery claimed.


def test_a_replayed_frame_is_refused():
    sealer, opener = pair()
    packet = sealer.seal(3, 0, b"x")
    opener.open(packet)
    with pytest.raises(MediaFrameError, match="replayed"):
        opener.open(packet)


def test_reordered_frames_within_the_window_are_taken_once_each():
    sealer, opener = pair()
    packets = [sealer.seal(n, n * 320, bytes([n])) for n in range(100)]
    order = list(range(40, 100)) + list(range(37, 40))  # 37..39 late, inside the window
    got = [opener.open(packets[n]).seq for n in order]
    assert got == order
    for n in (37, 99):
        with pytest.raises(MediaFrameError, match="replayed"):
            opener.open(packets[n])


def test_a_frame_older_than_the_window_is_refused():
    sealer, opener = pair()
    packets = [sealer.seal(n, 0, b"") for n in range(200)]
    opener.open(packets[199])
    with pytest.raises(MediaFrameError, match="too old"):
        opener.open(packets[199 - 64])
    assert opener.open(packets[199 - 63]).seq == 136


def test_decryption_continues_across_the_16_bit_seq_wrap():
    sealer, opener = pair()
    for n in range(65530, 65536 + 10):
        frame = opener.open(sealer.seal(n, n, b"%d" % n))
        assert frame.seq == n and frame.payload == b"%d" % n


def test_a_frame_from_before_the_wrap_arriving_after_it_keeps_its_roll_over():
    sealer, opener = pair()
    before, early, after = (sealer.seal(n, 0, b"") for n in (65533, 65534, 65536 + 2))
    opener.open(before)
    assert opener.open(after).seq == 65538  # roc + 1 estimated
    assert opener.open(early).seq == 65534  # roc − 1 estimated


def test_a_seq_wrap_many_times_over_keeps_decrypting():
    sealer, opener = pair()
    for n in range(0, 4 * 65536, 997):  # steps well under half the seq space
        assert opener.open(sealer.seal(n, 0, b"k")).seq == n


def test_a_frame_for_another_ssrc_is_refused():
    sealer, opener = pair(ssrc=SSRC ^ 1)
    with pytest.raises(MediaFrameError, match="SSRC"):
        opener.open(sealer.seal(1, 0, b"x"))


@pytest.mark.parametrize("size", [0, 1, HEADER_BYTES, HEADER_BYTES + 15])
def test_a_truncated_packet_is_refused(size):
    sealer, opener = pair()
    with pytest.raises(MediaFrameError, match="short"):
        opener.open(sealer.seal(1, 0, b"abcdef")[:size])
    truncated = sealer.seal(2, 0, b"abcdef")[:-1]
    with pytest.raises(MediaFrameError, match="authentication"):
        opener.open(truncated)


def test_the_sealer_never_reuses_an_index():
    sealer = FrameSealer(KEY, SALT, SSRC)
    sealer.seal(5, 0, b"")
    for again in (5, 4):
        with pytest.raises(ValueError, match="nonce"):
            sealer.seal(again, 0, b"")


def test_bad_key_material_is_refused():
    with pytest.raises(ValueError):
        FrameSealer(b"short", SALT, SSRC)
    with pytest.raises(ValueError):
        FrameOpener(KEY, b"salt", SSRC)
    with pytest.raises(ValueError):
        FrameOpener(KEY, SALT, 1 << 32)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6), st.booleans())
def test_any_bytes_give_a_frame_or_a_media_frame_error(packets, with_genuine):
    sealer, opener = pair()
    if with_genuine:
        packets = [sealer.seal(1, 0, b"genuine"), *packets]
    for packet in packets:
        try:
            frame = opener.open(packet)
        except MediaFrameError:
            continue
        assert frame.payload == b"genuine"
