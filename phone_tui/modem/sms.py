"""The text side of a plain SMS, after 3GPP TS 23.038 (alphabets) and TS 23.040 (user data).

A text goes as GSM 7-bit default alphabet septets (plus the extension table behind the escape
0x1B, two septets a character) when every character has a place there, else as UCS-2 (sent as
UTF-16BE, as phones do: a character outside the BMP costs two units). One part holds 160 septets
or 70 units; a longer text is concatenated (a 6-octet user data header, IEI 0x00: 8-bit
reference, total, sequence) at 153 septets or 67 units a part, at most 255 parts, and no part
ends inside an escape pair or a surrogate pair.

Everything decoded from the network (:meth:`SmsPart.from_wire`, :func:`reassemble`,
:class:`ReassemblyBuffer`) is checked and refused with :class:`SmsMalformed`; the work is
bounded by the 140-octet user data and the 255 parts.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from phone_tui.errors import PhoneTuiError

MAX_USER_DATA = 140  # octets of TP-UD in one SMS (TS 23.040 9.2.3.24)
MAX_SEPTETS = 160  # GSM-7 septets in one part without a header
MAX_UNITS = 70  # UCS-2 (UTF-16) code units in one part without a header
CONCAT_SEPTETS = 153  # per part after the 6-octet concatenation header (7 septets with fill)
CONCAT_UNITS = 67
MAX_PARTS = 255  # the 8-bit total of IEI 0x00
CONCAT_UDH_LENGTH = 6  # UDHL + IEI + IEDL + reference, total, sequence
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
ESCAPE = 0x1B

# Phone side: a concatenated message being put together waits at most this long from its first
# part (as long as the SMSC keeps the rest, see smsc.MAX_VALIDITY), in at most this many
# messages and parts at a time; the oldest goes first when full.
REASSEMBLY_TIMEOUT = 7 * 86400.0
MAX_REASSEMBLY_MESSAGES = 16
MAX_REASSEMBLY_PARTS = 512


class SmsError(PhoneTuiError):
    """Base for plain SMS problems."""


class SmsTooLong(SmsError):
    """A text needs more than 255 parts."""


class SmsMalformed(SmsError):
    """A part (or a set of parts) from the network breaks TS 23.040; it is refused."""


class Encoding(enum.Enum):
    """The alphabet of a part, with its TP-DCS value (TS 23.038 4)."""

    GSM7 = 0x00
    UCS2 = 0x08


# TS 23.038 6.2.1: the default alphabet, code 0x00 to 0x7F (0x1B is the escape, shown here as
# a space: that is what a receiver shows for an escape it cannot use).
#   @£$¥èéùìòÇ LF Øø CR ÅåΔ_ΦΓΛΩΠΨΣΘΞ ESC ÆæßÉ  !"#¤%&'()*+,-./0123456789:;<=>?
#   ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà
# written with escapes: the screens check every literal against common fonts.
GSM7_BASIC = (
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5\u0394_"
    "\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e \u00c6\u00e6\u00df\u00c9 !\"#"
    "\u00a4%&'()*+,-./0123456789:;<=>?\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1"
    "\u00dc\u00a7\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"
)
assert len(GSM7_BASIC) == 128
# TS 23.038 6.2.1.1: the extension table behind the escape (0x0A is the page break).
GSM7_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[",
                  0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "\u20ac"}  # €

_ENCODE: dict[str, tuple[int, ...]] = {
    char: (code,) for code, char in enumerate(GSM7_BASIC) if code != ESCAPE}
_ENCODE.update({char: (ESCAPE, code) for code, char in GSM7_EXTENSION.items()})


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default alphabet or its extension."""
    return all(char in _ENCODE for char in text)


def encoding_for(text: str) -> Encoding:
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _char_cost(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(_ENCODE[char])
    return 2 if ord(char) > 0xFFFF else 1


def units(text: str, encoding: Encoding | None = None) -> int:
    """Septets (GSM-7: an extension character costs 2) or UTF-16 units (UCS-2) of ``text``."""
    encoding = encoding or encoding_for(text)
    return sum(_char_cost(char, encoding) for char in text)


# -- septet packing (TS 23.038 6.1.2.1.1) --------------------------------------------------------

def to_septets(text: str) -> bytes:
    """The GSM-7 codes of ``text`` (one byte each, 0x00–0x7F), escapes included."""
    try:
        return bytes(code for char in text for code in _ENCODE[char])
    except KeyError as missing:
        raise SmsError(f"{missing.args[0]!r} is not in the GSM 7-bit alphabet") from None


def from_septets(septets: bytes) -> str:
    """Text from GSM-7 codes. As TS 23.038 asks of a receiver, an escape before a code the
    extension table lacks shows that code from the default table, and a lone escape (another
    escape, or the end) shows a space."""
    if any(code > 0x7F for code in septets):
        raise SmsMalformed("a GSM 7-bit code above 0x7F")
    out = []
    i, n = 0, len(septets)
    while i < n:
        code = septets[i]
        if code == ESCAPE:
            follow = septets[i + 1] if i + 1 < n else ESCAPE
            if follow == ESCAPE:
                out.append(" ")
                i += 2 if i + 1 < n else 1
                continue
            out.append(GSM7_EXTENSION.get(follow, GSM7_BASIC[follow]))
            i += 2
            continue
        out.append(GSM7_BASIC[code])
        i += 1
    return "".join(out)


def _fill_septets(udh_octets: int) -> int:
    """Septets a header of ``udh_octets`` takes, its fill bits included."""
    return -(-udh_octets * 8 // 7)


def pack_septets(septets: bytes, udh: bytes = b"") -> bytes:
    """TP-UD octets: ``udh`` (UDHL included), then the septets packed LSB first from the next
    septet boundary (the fill bits are zero)."""
    start = _fill_septets(len(udh)) * 7
    value = int.from_bytes(udh, "little")
    for i, septet in enumerate(septets):
        value |= (septet & 0x7F) << (start + 7 * i)
    length = -(-(start + 7 * len(septets)) // 8)
    return value.to_bytes(length, "little")


def unpack_septets(data: bytes, udl: int, udh_octets: int = 0) -> bytes:
    """The septets of TP-UD ``data`` whose TP-UDL is ``udl`` septets (header included)."""
    start = _fill_septets(udh_octets)
    value = int.from_bytes(data, "little")
    return bytes((value >> (7 * i)) & 0x7F for i in range(start, udl))


# -- parts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Concat:
    """The concatenation header of a part: reference, total parts, this part's number (1-based)."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True)
class SmsPart:
    """One SMS as it travels: its alphabet, TP-UDL (septets for GSM-7, octets for UCS-2, the
    header included), TP-UD (``user_data``, the header ``udh`` included), and what it says."""

    encoding: Encoding
    udl: int
    user_data: bytes
    udh: bytes
    concat: Concat | None
    text: str

    @property
    def chars(self) -> int:
        """Characters of this part (code points, as a person counts them)."""
        return len(self.text)

    @classmethod
    def from_wire(cls, encoding: Encoding | int, udl: int, user_data: bytes,
                  has_udh: bool) -> SmsPart:
        """Parse and check a part received from the network (TP-DCS, TP-UDL, TP-UD, TP-UDHI)."""
        try:
            encoding = Encoding(encoding)
        except ValueError:
            raise SmsMalformed(f"unknown data coding {encoding!r}") from None
        if not isinstance(user_data, bytes | bytearray) or isinstance(udl, bool) \
                or not isinstance(udl, int):
            raise SmsMalformed("user data must be bytes and its length an integer")
        user_data = bytes(user_data)
        if len(user_data) > MAX_USER_DATA:
            raise SmsMalformed(f"user data of {len(user_data)} octets (at most {MAX_USER_DATA})")
        if encoding is Encoding.GSM7:
            if not 0 <= udl <= MAX_SEPTETS:
                raise SmsMalformed(f"a length of {udl} septets (at most {MAX_SEPTETS})")
            expected = -(-udl * 7 // 8)
        else:
            if not 0 <= udl <= MAX_USER_DATA:
                raise SmsMalformed(f"a length of {udl} octets (at most {MAX_USER_DATA})")
            expected = udl
        if len(user_data) != expected:
            raise SmsMalformed(f"{len(user_data)} octets of user data where the length says "
                               f"{expected}")
        udh, concat = (_parse_udh(user_data) if has_udh else (b"", None))
        if encoding is Encoding.GSM7:
            if _fill_septets(len(udh)) > udl:
                raise SmsMalformed("the header is longer than the user data")
            text = from_septets(unpack_septets(user_data, udl, len(udh)))
        else:
            body = user_data[len(udh):]
            if len(body) % 2:
                raise SmsMalformed("UCS-2 user data of an odd number of octets")
            try:
                text = body.decode("utf-16-be")
            except UnicodeDecodeError:
                raise SmsMalformed("UCS-2 user data with a lone surrogate") from None
        return cls(encoding, udl, user_data, udh, concat, text)


def _parse_udh(user_data: bytes) -> tuple[bytes, Concat | None]:
    if not user_data:
        raise SmsMalformed("a user data header flag on empty user data")
    udhl = user_data[0]
    if udhl == 0 or udhl + 1 > len(user_data):
        raise SmsMalformed(f"a header length of {udhl} in {len(user_data)} octets")
    udh = user_data[:udhl + 1]
    concat = None
    i = 1
    while i < len(udh):
        if i + 2 > len(udh):
            raise SmsMalformed("a header element cut short")
        iei, length = udh[i], udh[i + 1]
        data = udh[i + 2:i + 2 + length]
        if len(data) != length:
            raise SmsMalformed(f"header element {iei:#04x} longer than the header")
        if iei in (IEI_CONCAT_8, IEI_CONCAT_16):
            if concat is not None:
                # TS 23.040 would take the last one; two references in one part are refused,
                # as they say two different things.
                raise SmsMalformed("two concatenation elements in one header")
            if length != (3 if iei == IEI_CONCAT_8 else 4):
                raise SmsMalformed(f"a concatenation element of {length} octets")
            reference = data[0] if iei == IEI_CONCAT_8 else int.from_bytes(data[:2], "big")
            total, sequence = data[-2], data[-1]
            if total == 0 or not 1 <= sequence <= total:
                raise SmsMalformed(f"part {sequence} of {total}")
            concat = Concat(reference, total, sequence)
        # Other elements (ports, formatting...) are skipped, as TS 23.040 asks.
        i += 2 + length
    return udh, concat


def _build(encoding: Encoding, text: str, concat: Concat | None) -> SmsPart:
    udh = b""
    if concat is not None:
        udh = bytes((CONCAT_UDH_LENGTH - 1, IEI_CONCAT_8, 3, concat.reference, concat.total,
                     concat.sequence))
    if encoding is Encoding.GSM7:
        septets = to_septets(text)
        user_data = pack_septets(septets, udh)
        udl = _fill_septets(len(udh)) + len(septets)
    else:
        user_data = udh + text.encode("utf-16-be")
        udl = len(user_data)
    return SmsPart(encoding, udl, user_data, udh, concat, text)


def _chunks(text: str, encoding: Encoding, size: int) -> list[str]:
    """``text`` cut into pieces of at most ``size`` units, never inside a character (so never
    inside an escape pair or a surrogate pair)."""
    chunks, start, used = [], 0, 0
    for i, char in enumerate(text):
        cost = _char_cost(char, encoding)
        if used + cost > size:
            chunks.append(text[start:i])
            start, used = i, 0
        used += cost
    chunks.append(text[start:])
    return chunks


def _plan(text: str) -> tuple[Encoding, list[str], int]:
    """The alphabet, the pieces, and the units one part can hold."""
    encoding = encoding_for(text)
    single, per_part = ((MAX_SEPTETS, CONCAT_SEPTETS) if encoding is Encoding.GSM7
                        else (MAX_UNITS, CONCAT_UNITS))
    if units(text, encoding) <= single:
        return encoding, [text], single
    return encoding, _chunks(text, encoding, per_part), per_part


def segments(text: str, reference: int = 0) -> list[SmsPart]:
    """The parts that carry ``text``; a concatenated message carries ``reference`` (0–255, the
    sender's counter). Raises :class:`SmsTooLong` past 255 parts."""
    if not 0 <= reference <= 0xFF:
        raise SmsError(f"a concatenation reference of {reference} (0–255)")
    encoding, chunks, _size = _plan(text)
    if len(chunks) > MAX_PARTS:
        raise SmsTooLong(f"this text needs {len(chunks)} messages; an SMS can have at most "
                         f"{MAX_PARTS}")
    if len(chunks) == 1:
        return [_build(encoding, text, None)]
    return [_build(encoding, chunk, Concat(reference, len(chunks), i))
            for i, chunk in enumerate(chunks, 1)]


@dataclass(frozen=True)
class SmsCost:
    """What a text costs, for the compose field: its alphabet, parts, and units left in the
    last part (septets for GSM-7, where ``{`` takes two; UTF-16 units for UCS-2)."""

    encoding: Encoding
    parts: int
    left: int

    @property
    def fits(self) -> bool:
        return self.parts <= MAX_PARTS

    def describe(self) -> str:
        """The compose field's counter: "23/160 \u00b7 1 SMS \u00b7 GSM-7" for one part (units
        used of the part's room), "3 SMS \u00b7 UCS-2 \u00b7 12 left" for more (room left in
        the last)."""
        if not self.fits:
            return f"too long: {self.parts} SMS (at most {MAX_PARTS})"
        alphabet = "GSM-7" if self.encoding is Encoding.GSM7 else "UCS-2"
        if self.parts == 1:
            room = MAX_SEPTETS if self.encoding is Encoding.GSM7 else MAX_UNITS
            return f"{room - self.left}/{room} \u00b7 1 SMS \u00b7 {alphabet}"
        return f"{self.parts} SMS \u00b7 {alphabet} \u00b7 {self.left} left"


def cost(text: str) -> SmsCost:
    """Parts and room left for ``text``; never raises (a too-long text says so in ``fits``)."""
    encoding, chunks, size = _plan(text)
    return SmsCost(encoding, len(chunks), size - units(chunks[-1], encoding))


def reassemble(parts: list[SmsPart]) -> str:
    """The text of a whole message from its parts (in any order): one part without a header,
    or every part 1..total of one reference, once each, in one alphabet."""
    if not parts:
        raise SmsMalformed("no parts")
    if len(parts) > MAX_PARTS:
        raise SmsMalformed(f"{len(parts)} parts (at most {MAX_PARTS})")
    if len(parts) == 1 and parts[0].concat is None:
        return parts[0].text
    first = parts[0]
    if first.concat is None:
        raise SmsMalformed("a part without a concatenation header among several")
    encodings = {part.encoding for part in parts}
    if len(encodings) > 1:
        raise SmsMalformed("parts of one message in different alphabets")
    by_sequence: dict[int, SmsPart] = {}
    for part in parts:
        concat = part.concat
        if concat is None or (concat.reference, concat.total) != (first.concat.reference,
                                                                  first.concat.total):
            raise SmsMalformed("parts of different messages")
        if concat.sequence in by_sequence:
            raise SmsMalformed(f"part {concat.sequence} twice")
        by_sequence[concat.sequence] = part
    if len(by_sequence) != first.concat.total:
        raise SmsMalformed(f"{len(by_sequence)} of {first.concat.total} parts")
    return "".join(by_sequence[i].text for i in range(1, first.concat.total + 1))


# -- the phone's reassembly buffer ----------------------------------------------------------------

@dataclass(frozen=True)
class Incomplete:
    """A concatenated message given up (timed out, or pushed out by newer ones): what came,
    with "…" where a part is missing."""

    sender: str
    reference: int
    received: int
    total: int
    text: str


@dataclass
class _Pending:
    first_seen: float
    parts: dict[int, SmsPart]


class ReassemblyBuffer:
    """The phone side of concatenation: parts come one by one (possibly twice, after a carrier
    restart), a message comes out when its last part does. Bounded in messages, parts and
    time; what is pushed out comes back from :meth:`expire` as :class:`Incomplete`."""

    def __init__(self, *, timeout: float = REASSEMBLY_TIMEOUT,
                 max_messages: int = MAX_REASSEMBLY_MESSAGES,
                 max_parts: int = MAX_REASSEMBLY_PARTS) -> None:
        self.timeout = timeout
        self.max_messages = max_messages
        self.max_parts = max_parts
        self._pending: OrderedDict[tuple[str, int, int, Encoding], _Pending] = OrderedDict()
        self._parts = 0
        self._dropped: list[Incomplete] = []

    @property
    def pending_parts(self) -> int:
        return self._parts

    def add(self, now: float, sender: str, part: SmsPart) -> str | None:
        """The whole text once ``part`` completes its message, else None."""
        concat = part.concat
        if concat is None or concat.total == 1:
            return part.text
        key = (sender, concat.reference, concat.total, part.encoding)
        pending = self._pending.get(key)
        if pending is None:
            while self._pending and (len(self._pending) >= self.max_messages
                                     or self._parts + 1 > self.max_parts):
                self._drop(next(iter(self._pending)))
            pending = self._pending[key] = _Pending(now, {})
        if concat.sequence in pending.parts:
            return None  # delivered again (at least once): the first copy counts
        pending.parts[concat.sequence] = part
        self._parts += 1
        if len(pending.parts) < concat.total:
            while self._parts > self.max_parts:
                self._drop(next(iter(self._pending)))
            return None
        del self._pending[key]
        self._parts -= len(pending.parts)
        return reassemble(list(pending.parts.values()))

    def _drop(self, key: tuple[str, int, int, Encoding]) -> None:
        pending = self._pending.pop(key)
        self._parts -= len(pending.parts)
        sender, reference, total, _encoding = key
        text = "".join(pending.parts[i].text if i in pending.parts else "…"
                       for i in range(1, total + 1))
        self._dropped.append(Incomplete(sender, reference, len(pending.parts), total, text))

    def expire(self, now: float) -> list[Incomplete]:
        """Messages given up since the last call: timed out now, or pushed out before."""
        for key in [key for key, pending in self._pending.items()
                    if now - pending.first_seen >= self.timeout]:
            self._drop(key)
        dropped, self._dropped = self._dropped, []
        return dropped
