"""The body of an ``EnvelopeKind.SMS`` envelope: a transfer-layer PDU after 3GPP TS 23.040 9.2.

Four TPDUs cross between a phone and the carrier's SMS centre:

SMS-SUBMIT (phone -> SMSC, 9.2.2.2)
    first octet (TP-MTI 01, TP-RD, TP-VPF, TP-SRR, TP-UDHI, TP-RP) | TP-MR | TP-DA | TP-PID
    | TP-DCS | TP-VP (one octet, relative; absent when TP-VPF is 00) | TP-UDL | TP-UD
SMS-SUBMIT-REPORT (SMSC -> phone, 9.2.2.2a; RP-ACK or, with TP-FCS, RP-ERROR)
    first octet (TP-MTI 01) | TP-FCS (errors only) | TP-PI (00) | TP-MR
    (TS 23.040 carries the message reference in the RP layer under it; there is no RP layer
    here, so the reference follows the parameter indicator.)
SMS-DELIVER-REPORT (phone -> SMSC, 9.2.2.1a; only its RP-ERROR form is sent: the hop's
acknowledgement is the RP-ACK)
    first octet (TP-MTI 00) | TP-FCS | TP-PI (00)
SMS-DELIVER (SMSC -> phone, 9.2.2.1)
    first octet (TP-MTI 00, TP-MMS, TP-SRI, TP-UDHI, TP-RP) | TP-OA | TP-PID | TP-DCS
    | TP-SCTS | TP-UDL | TP-UD
SMS-STATUS-REPORT (SMSC -> phone, 9.2.2.3)
    first octet (TP-MTI 10, TP-MMS, TP-SRQ) | TP-MR | TP-RA | TP-SCTS | TP-DT | TP-ST

Addresses (9.1.2.5) are a digit count, a type octet (0x91 international with "+", 0x81
otherwise) and swapped BCD digits, at most 20; time stamps (9.2.3.11) are seven swapped BCD
octets, year to second and a quarter-hour zone (this carrier writes UTC). The relative validity
period (9.2.3.12.1) is one octet from 5 minutes to 63 weeks. Only the default alphabet and UCS-2
(TP-DCS 0x00 / 0x08) are read; enhanced and absolute validity formats are refused.

:func:`read_sms` is the one reader: anything off the network goes through it and comes out typed
and checked, or raises :class:`sms.SmsMalformed`; the work is bounded by
:data:`MAX_TPDU` octets.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from phone_tui.modem.sms import MAX_USER_DATA, SmsMalformed, SmsPart

# first octet + address (2 + 10) + PID + DCS + time stamp + UDL + UD: the longest TPDU, a
# DELIVER (a SUBMIT has a reference and a validity octet instead of the time stamp's seven)
MAX_TPDU = 1 + 12 + 1 + 1 + 7 + 1 + MAX_USER_DATA
MAX_DIGITS = 20

MTI_DELIVER = 0b00  # SC -> MS (MS -> SC: DELIVER-REPORT, not used: the hop acknowledges)
MTI_SUBMIT = 0b01  # MS -> SC; SC -> MS: SUBMIT-REPORT
MTI_STATUS_REPORT = 0b10

_RD = 0x04
_MMS = 0x04  # TP-MMS set: no more messages waiting
_VPF_MASK = 0x18
_VPF_NONE = 0x00
_VPF_RELATIVE = 0x10
_SRR = 0x20  # SUBMIT: status report requested; DELIVER: SRI; STATUS-REPORT: SRQ
_UDHI = 0x40
_RP = 0x80

TON_INTERNATIONAL = 0x91
TON_UNKNOWN = 0x81
PID_DEFAULT = 0x00


class TpStatus(enum.IntEnum):
    """TP-ST (9.2.3.15), the three this SMSC gives."""

    DELIVERED = 0x00  # short message received by the SME
    FAILED = 0x41  # permanent error: incompatible destination (the line takes no plain SMS)
    EXPIRED = 0x46  # permanent error: SM validity period expired

    @property
    def word(self) -> str:
        return self.name.lower()


class FailureCause(enum.IntEnum):
    """TP-FCS of a SUBMIT-REPORT or DELIVER-REPORT error (9.2.3.22), those used here."""

    TPDU_NOT_SUPPORTED = 0xB0  # a phone that takes no plain SMS (the Secure OS)
    SC_BUSY = 0xC0  # the SMSC cannot store it now
    INVALID_ADDRESS = 0xC3  # invalid SME address
    SYSTEM_FAILURE = 0xC2  # the SMSC (or the recipient's store) is full
    MS_ERROR = 0xD2  # the phone could not keep it (its store failed, nothing to take it)
    # 0xE0-0xFE are for the SMSC's own causes (application specific): these two are this one's.
    INCOMPLETE = 0xE0  # the message's other parts did not come in time (or no room to hold them)
    SENDER_QUOTA = 0xE1  # too many of the sender's texts wait at the SMSC already
    UNSPECIFIED = 0xFF


# -- fields ---------------------------------------------------------------------------------------

def encode_address(number: str) -> bytes:
    """TP-DA / TP-OA / TP-RA of ``number`` ("+" and 1 to 20 digits)."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not 1 <= len(digits) <= MAX_DIGITS or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not an SMS address: {number!r}")
    padded = digits + ("F" if len(digits) % 2 else "")
    octets = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    return bytes((len(digits), TON_INTERNATIONAL if international else TON_UNKNOWN)) + octets


def _read_address(body: bytes, at: int, what: str) -> tuple[str, int]:
    if at + 2 > len(body):
        raise SmsMalformed(f"the {what} is cut short")
    count, kind = body[at], body[at + 1]
    if not 1 <= count <= MAX_DIGITS:
        raise SmsMalformed(f"an {what} of {count} digits (1 to {MAX_DIGITS})")
    if kind not in (TON_INTERNATIONAL, TON_UNKNOWN):
        raise SmsMalformed(f"an {what} of type {kind:#04x}")
    size = -(-count // 2)
    raw = body[at + 2:at + 2 + size]
    if len(raw) != size:
        raise SmsMalformed(f"the {what} is cut short")
    digits = []
    for octet in raw:
        digits += [octet & 0x0F, octet >> 4]
    if any(d > 9 for d in digits[:count]) or (count % 2 and digits[count] != 0x0F):
        raise SmsMalformed(f"an {what} with a digit that is not one")
    number = ("+" if kind == TON_INTERNATIONAL else "") + "".join(map(str, digits[:count]))
    return number, at + 2 + size


def _bcd(value: int) -> int:
    return (value % 10) << 4 | value // 10


def _unbcd(octet: int, what: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise SmsMalformed(f"a {what} that is not decimal")
    return low * 10 + high


def encode_timestamp(at: float) -> bytes:
    """TP-SCTS / TP-DT for wall-clock ``at`` (seconds), in UTC."""
    when = datetime.fromtimestamp(at, UTC)
    return bytes(_bcd(v) for v in (when.year % 100, when.month, when.day, when.hour,
                                   when.minute, when.second, 0))


def _read_timestamp(body: bytes, at: int, what: str) -> tuple[float, int]:
    raw = body[at:at + 7]
    if len(raw) != 7:
        raise SmsMalformed(f"the {what} is cut short")
    year, month, day, hour, minute, second = (_unbcd(octet, what) for octet in raw[:6])
    zone = raw[6]
    quarters = _unbcd(zone & 0xF7, what)  # bit 3 is the sign
    if quarters > 56:  # +-14 h
        raise SmsMalformed(f"a {what} with a zone of {quarters} quarter-hours")
    offset = timedelta(minutes=15 * quarters) * (-1 if zone & 0x08 else 1)
    try:
        when = datetime(2000 + year, month, day, hour, minute, second,
                        tzinfo=timezone(offset))
    except ValueError:
        raise SmsMalformed(f"a {what} that is not a date") from None
    return when.timestamp(), at + 7


def encode_validity(seconds: float) -> int:
    """The relative TP-VP octet for at least ``seconds`` (the longest, 63 weeks, past it)."""
    minutes = math.ceil(seconds / 60) if math.isfinite(seconds) else 1 << 30
    if minutes <= 12 * 60:
        return max(math.ceil(minutes / 5) - 1, 0)
    if minutes <= 24 * 60:
        return 143 + math.ceil((minutes - 12 * 60) / 30)
    days = math.ceil(minutes / 1440)
    if days <= 30:
        return 166 + days
    return min(192 + math.ceil(days / 7), 255)


def validity_seconds(octet: int) -> float:
    """The period a relative TP-VP octet stands for."""
    if octet <= 143:
        return (octet + 1) * 300.0
    if octet <= 167:
        return 12 * 3600.0 + (octet - 143) * 1800.0
    if octet <= 196:
        return (octet - 166) * 86400.0
    return (octet - 192) * 7 * 86400.0


def _read_user_data(body: bytes, at: int, dcs: int, has_udh: bool) -> SmsPart:
    if at >= len(body):
        raise SmsMalformed("the user data length is missing")
    udl = body[at]
    # SmsPart.from_wire checks the length against the alphabet; the octets must end the TPDU.
    return SmsPart.from_wire(dcs, udl, body[at + 1:], has_udh)


# -- the TPDUs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsSubmit:
    """A phone's message (one part) for ``recipient``."""

    message_ref: int
    recipient: str
    part: SmsPart
    validity: float | None = None  # seconds; None: the SMSC's default
    status_report: bool = False

    def encode(self) -> bytes:
        first = MTI_SUBMIT | (_SRR if self.status_report else 0) | (_UDHI if self.part.udh
                                                                    else 0)
        vp = b""
        if self.validity is not None:
            first |= _VPF_RELATIVE
            vp = bytes((encode_validity(self.validity),))
        return (bytes((first, _byte(self.message_ref))) + encode_address(self.recipient)
                + bytes((PID_DEFAULT, self.part.encoding.value)) + vp
                + bytes((self.part.udl,)) + self.part.user_data)

    @property
    def text(self) -> str:
        return self.part.text

    def summary(self) -> str:
        return f"SMS-SUBMIT #{self.message_ref} to {self.recipient}: {_shown(self.part)}"


@dataclass(frozen=True)
class SmsSubmitReport:
    """The SMSC's answer to a SUBMIT: accepted (``cause`` None) or refused."""

    message_ref: int
    cause: FailureCause | None = None

    @property
    def accepted(self) -> bool:
        return self.cause is None

    def encode(self) -> bytes:
        fcs = b"" if self.cause is None else bytes((self.cause,))
        return bytes((MTI_SUBMIT,)) + fcs + bytes((0x00, _byte(self.message_ref)))

    @property
    def text(self) -> str:
        return ""

    def summary(self) -> str:
        what = "accepted" if self.cause is None else f"refused ({self.cause.name.lower()})"
        return f"SMS-SUBMIT-REPORT #{self.message_ref}: {what}"


@dataclass(frozen=True)
class SmsDeliver:
    """One part from ``sender``, stamped by the SMSC at ``sc_time`` (wall-clock seconds)."""

    sender: str
    part: SmsPart
    sc_time: float
    status_report: bool = False  # TP-SRI: the sender asked for a report
    more: bool = False  # TP-MMS clear: more messages wait at the SMSC

    def encode(self) -> bytes:
        first = (MTI_DELIVER | (0 if self.more else _MMS) | (_SRR if self.status_report else 0)
                 | (_UDHI if self.part.udh else 0))
        return (bytes((first,)) + encode_address(self.sender)
                + bytes((PID_DEFAULT, self.part.encoding.value))
                + encode_timestamp(self.sc_time) + bytes((self.part.udl,))
                + self.part.user_data)

    @property
    def text(self) -> str:
        return self.part.text

    def summary(self) -> str:
        return f"SMS-DELIVER from {self.sender}: {_shown(self.part)}"


@dataclass(frozen=True)
class SmsStatusReport:
    """What became of the message ``message_ref`` the phone sent to ``recipient``."""

    message_ref: int
    recipient: str
    status: TpStatus
    sc_time: float  # when the SMSC took the message
    discharge_time: float  # when it was delivered, or given up

    def encode(self) -> bytes:
        return (bytes((MTI_STATUS_REPORT | _MMS, _byte(self.message_ref)))
                + encode_address(self.recipient) + encode_timestamp(self.sc_time)
                + encode_timestamp(self.discharge_time) + bytes((self.status,)))

    @property
    def text(self) -> str:
        return ""

    def summary(self) -> str:
        return (f"SMS-STATUS-REPORT #{self.message_ref} to {self.recipient}: "
                f"{self.status.word}")


@dataclass(frozen=True)
class SmsDeliverReport:
    """A phone refusing the SMS-DELIVER it was just given (the one in flight to it)."""

    cause: FailureCause

    def encode(self) -> bytes:
        return bytes((MTI_DELIVER, self.cause, 0x00))

    @property
    def text(self) -> str:
        return ""

    def summary(self) -> str:
        return f"SMS-DELIVER-REPORT: refused ({self.cause.name.lower()})"


SmsTpdu = SmsSubmit | SmsSubmitReport | SmsDeliver | SmsDeliverReport | SmsStatusReport


def _byte(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"a message reference of {value!r} (0 to 255)")
    return value


def _shown(part: SmsPart) -> str:
    where = f" (part {part.concat.sequence}/{part.concat.total})" if part.concat else ""
    return f"{part.text!r}{where}"


def read_sms(body: bytes, *, uplink: bool | None = None) -> SmsTpdu:
    """The TPDU in an SMS envelope's ``body``, checked, or :class:`SmsMalformed`.

    The same TP-MTI means one thing up and another down (SUBMIT / SUBMIT-REPORT): ``uplink``
    says which way the body went (True: phone to SMSC, False: SMSC to phone); None (an
    onlooker who saw the bytes only) tells them apart by shape."""
    if not isinstance(body, bytes | bytearray):
        raise SmsMalformed("an SMS body must be bytes")
    body = bytes(body)
    if not body:
        raise SmsMalformed("an empty SMS body")
    if len(body) > MAX_TPDU:
        raise SmsMalformed(f"an SMS body of {len(body)} octets (at most {MAX_TPDU})")
    first = body[0]
    mti = first & 0x03
    if mti == MTI_DELIVER:
        if uplink is None:
            uplink = len(body) <= 3
        return _read_deliver_report(body) if uplink else _read_deliver(body)
    if mti == MTI_STATUS_REPORT:
        if uplink:
            raise SmsMalformed("an SMS-STATUS-REPORT sent by a phone")
        return _read_status_report(body)
    if mti == MTI_SUBMIT:
        if uplink is None:
            uplink = len(body) > 4
        return _read_submit(body) if uplink else _read_submit_report(body)
    raise SmsMalformed("a reserved message type")


def _read_submit(body: bytes) -> SmsSubmit:
    first = body[0]
    if first & _RP:
        raise SmsMalformed("a reply path is not offered")
    vpf = first & _VPF_MASK
    if vpf not in (_VPF_NONE, _VPF_RELATIVE):
        raise SmsMalformed("only a relative validity period is read")
    if len(body) < 2:
        raise SmsMalformed("an SMS-SUBMIT cut short")
    ref = body[1]
    recipient, at = _read_address(body, 2, "destination address")
    if at + 2 > len(body):
        raise SmsMalformed("an SMS-SUBMIT cut short")
    if body[at] != PID_DEFAULT:
        raise SmsMalformed(f"a protocol identifier of {body[at]:#04x}")
    dcs = body[at + 1]
    at += 2
    validity = None
    if vpf == _VPF_RELATIVE:
        if at >= len(body):
            raise SmsMalformed("the validity period is missing")
        validity = validity_seconds(body[at])
        at += 1
    part = _read_user_data(body, at, dcs, bool(first & _UDHI))
    return SmsSubmit(ref, recipient, part, validity, bool(first & _SRR))


def _read_submit_report(body: bytes) -> SmsSubmitReport:
    if body[0] != MTI_SUBMIT:
        raise SmsMalformed("an SMS-SUBMIT-REPORT with flags set")
    if len(body) == 3:
        pi, ref = body[1], body[2]
        cause = None
    elif len(body) == 4:
        try:
            cause = FailureCause(body[1])
        except ValueError:
            raise SmsMalformed(f"a failure cause of {body[1]:#04x}") from None
        pi, ref = body[2], body[3]
    else:
        raise SmsMalformed(f"an SMS-SUBMIT-REPORT of {len(body)} octets")
    if pi != 0:
        raise SmsMalformed("an SMS-SUBMIT-REPORT with optional parameters")
    return SmsSubmitReport(ref, cause)


def _read_deliver_report(body: bytes) -> SmsDeliverReport:
    if len(body) != 3 or body[0] != MTI_DELIVER or body[2] != 0:
        raise SmsMalformed("an SMS-DELIVER-REPORT that is not a plain refusal")
    try:
        return SmsDeliverReport(FailureCause(body[1]))
    except ValueError:
        raise SmsMalformed(f"a failure cause of {body[1]:#04x}") from None


def _read_deliver(body: bytes) -> SmsDeliver:
    first = body[0]
    if first & (_RP | 0x18):
        raise SmsMalformed("an SMS-DELIVER with reserved or reply-path bits")
    sender, at = _read_address(body, 1, "originating address")
    if at + 2 > len(body):
        raise SmsMalformed("an SMS-DELIVER cut short")
    if body[at] != PID_DEFAULT:
        raise SmsMalformed(f"a protocol identifier of {body[at]:#04x}")
    dcs = body[at + 1]
    sc_time, at = _read_timestamp(body, at + 2, "service centre time stamp")
    part = _read_user_data(body, at, dcs, bool(first & _UDHI))
    return SmsDeliver(sender, part, sc_time, bool(first & _SRR), not first & _MMS)


def _read_status_report(body: bytes) -> SmsStatusReport:
    first = body[0]
    if first & (_UDHI | _RP | 0x18):
        raise SmsMalformed("an SMS-STATUS-REPORT with reserved bits or user data")
    if len(body) < 2:
        raise SmsMalformed("an SMS-STATUS-REPORT cut short")
    ref = body[1]
    recipient, at = _read_address(body, 2, "recipient address")
    sc_time, at = _read_timestamp(body, at, "service centre time stamp")
    discharge, at = _read_timestamp(body, at, "discharge time")
    if len(body) != at + 1:
        raise SmsMalformed("an SMS-STATUS-REPORT of the wrong length")
    try:
        status = TpStatus(body[at])
    except ValueError:
        raise SmsMalformed(f"a status of {body[at]:#04x}") from None
    return SmsStatusReport(ref, recipient, status, sc_time, discharge)
