"""Call control for plain carrier calls, after 3GPP TS 24.008's CC messages (section 9.3),
in ``EnvelopeKind.CC`` envelopes between a phone and the carrier's voice switch. Sans-IO.

Body:  version u8 | message type u8 | call reference 16 | cause u8 | codec length u8 | codec

The message types are TS 24.008's numbers (table 10.3: SETUP 0x05, ALERTING 0x01, CONNECT
0x07, DISCONNECT 0x25, RELEASE 0x2D); the causes its cause values (10.5.4.11, after ITU-T
Q.850). Only SETUP carries a codec (short lower-case ASCII); every other message has a zero
length there. The envelope's ``src`` and ``dst`` are the two parties: from a phone, ``dst`` is
the other party; from the switch, ``src`` is. The body is plain: the carrier reads all of it.
Anything that does not parse raises CcError, with bounded work (the body's size is checked
first).
"""

from __future__ import annotations

import string
import struct
from dataclasses import dataclass
from enum import IntEnum

CC_VERSION = 1
_HEAD = struct.Struct(">BB16sBB")
MAX_CODEC = 32
MAX_BODY = _HEAD.size + MAX_CODEC
_CODEC_CHARS = frozenset(string.ascii_lowercase + string.digits + "-")


class CcError(ValueError):
    """A call-control body that cannot be read."""


class CcType(IntEnum):
    ALERTING = 0x01
    SETUP = 0x05
    CONNECT = 0x07
    DISCONNECT = 0x25
    RELEASE = 0x2D


class Cause(IntEnum):
    """TS 24.008 10.5.4.11 cause values (the ones this network gives)."""

    UNASSIGNED_NUMBER = 1
    NORMAL_CLEARING = 16
    USER_BUSY = 17
    NO_USER_RESPONDING = 18
    NO_ANSWER = 19
    SUBSCRIBER_ABSENT = 20
    CALL_REJECTED = 21
    DESTINATION_OUT_OF_ORDER = 27
    NORMAL_UNSPECIFIED = 31
    TEMPORARY_FAILURE = 41
    SERVICE_NOT_IMPLEMENTED = 79
    INVALID_TRANSACTION = 81  # a message about a call the switch does not hold


# What a release reason reads as in an intercept record and a log (TS 24.008's names).
CAUSE_TEXT = {
    Cause.UNASSIGNED_NUMBER: "unassigned number",
    Cause.NORMAL_CLEARING: "normal clearing",
    Cause.USER_BUSY: "user busy",
    Cause.NO_USER_RESPONDING: "no user responding",
    Cause.NO_ANSWER: "no answer",
    Cause.SUBSCRIBER_ABSENT: "unavailable (subscriber absent)",
    Cause.CALL_REJECTED: "call rejected",
    Cause.DESTINATION_OUT_OF_ORDER: "destination out of order (a leg dropped)",
    Cause.NORMAL_UNSPECIFIED: "normal, unspecified",
    Cause.TEMPORARY_FAILURE: "temporary failure",
    Cause.SERVICE_NOT_IMPLEMENTED: "not supported (service not implemented)",
    Cause.INVALID_TRANSACTION: "invalid transaction identifier (no such call)",
}

# Clearing messages: they end the call, and carry why.
CLEARING = frozenset({CcType.DISCONNECT, CcType.RELEASE})


@dataclass(frozen=True)
class CcMessage:
    type: CcType
    ref: bytes  # the call reference: 16 bytes, chosen by the caller
    cause: Cause = Cause.NORMAL_CLEARING  # clearing messages only (0 on the wire otherwise)
    codec: str = ""  # SETUP only

    @property
    def ref_hex(self) -> str:
        return self.ref.hex()

    def encode(self) -> bytes:
        codec = self.codec.encode()
        if len(self.ref) != 16 or len(codec) > MAX_CODEC:
            raise ValueError("bad call-control fields")
        cause = self.cause if self.type in CLEARING else 0
        return _HEAD.pack(CC_VERSION, self.type, self.ref, cause, len(codec)) + codec


def decode_cc(body: bytes) -> CcMessage:
    """A call-control message from the network (hostile): CcError unless it is well formed."""
    if not _HEAD.size <= len(body) <= MAX_BODY:
        raise CcError(f"call control of {len(body)} bytes")
    version, kind, ref, cause, length = _HEAD.unpack_from(body)
    if version != CC_VERSION:
        raise CcError(f"unknown call-control version {version}")
    try:
        cc_type = CcType(kind)
    except ValueError:
        raise CcError(f"unknown call-control message type {kind}") from None
    raw = body[_HEAD.size:]
    if len(raw) != length:
        raise CcError("codec length does not match the body")
    if raw and cc_type is not CcType.SETUP:
        raise CcError("a codec outside SETUP")
    codec = raw.decode("ascii", errors="replace")
    if not set(codec) <= _CODEC_CHARS:
        raise CcError("a codec name that is not short lower-case ASCII")
    if cc_type is CcType.SETUP and not codec:
        raise CcError("SETUP without a codec")
    if cc_type in CLEARING:
        try:
            reason = Cause(cause)
        except ValueError:
            reason = Cause.NORMAL_UNSPECIFIED  # unknown causes read as unspecified (24.008)
    elif cause:
        raise CcError("a cause outside a clearing message")
    else:
        reason = Cause.NORMAL_CLEARING
    return CcMessage(cc_type, ref, reason, codec)
