"""What a decrypted message may say: one strict schema per message type.

Anyone can open a session with anyone, so an authenticated payload is still hostile input. The
plaintext must be UTF-8 JSON, an object of a known type with exactly that type's fields, each of
the right type and within bounds. Anything else raises PayloadError, whose reason names the field
and never repeats what the peer sent (it goes to the log).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

# Signal's disappearing-message presets, in seconds (0 = off).
TIMER_PRESETS = (0, 30, 300, 3600, 8 * 3600, 86400, 7 * 86400, 28 * 86400)
# One message travels in one hop frame (at most 64 KiB with the envelope, the X3DH and ratchet
# headers, the padding and the tag): its JSON may take 60 KiB. Longer is refused before parsing,
# and refused by send_text before sending; a body can hold no more characters than that.
MAX_PLAINTEXT = 60 * 1024
MAX_BODY_CHARS = MAX_PLAINTEXT
MAX_READ_IDS = 256  # a read receipt for more is sent in several
MAX_NUMBER_CHARS = 32  # digits of an "at" or "expire": enough for any real time, no 10**400
MAX_AT = 1e11  # seconds since the epoch (the year 5138): a finite, sane timestamp
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Control characters other than tab and newlines would reach the terminal that shows the chat.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class PayloadError(ValueError):
    """A decrypted payload that does not fit its schema. ``kind`` is the message type when it
    is a known one, ``field`` the offending field when there is one."""

    def __init__(self, reason: str, *, kind: str | None = None,
                 field: str | None = None) -> None:
        self.reason, self.kind, self.field = reason, kind, field
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class TextPayload:
    """A chat message."""

    id: str
    body: str
    at: float
    expire: int

    def to_dict(self) -> dict[str, Any]:
        return {"t": "text", "id": self.id, "body": self.body, "at": self.at,
                "expire": self.expire}


@dataclass(frozen=True)
class ReadPayload:
    """A read receipt for messages this phone sent."""

    ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"t": "read", "ids": list(self.ids)}


@dataclass(frozen=True)
class TimerPayload:
    """The sender set the conversation's disappearing-message timer (Signal's timer update)."""

    expire: int

    def to_dict(self) -> dict[str, Any]:
        return {"t": "timer", "expire": self.expire}


# "differ": a hangup that says the words read aloud differed (so both phones warn).
CALL_OPS = ("offer", "answer", "reveal", "reject", "busy", "hangup", "differ")
_CODEC = re.compile(r"[a-z0-9][a-z0-9.-]{0,31}")
_KEY_HEX = 64  # 32 bytes: an X25519 key or a SHA-256 commitment


@dataclass(frozen=True)
class CallPayload:
    """A call's signalling: an offer (with the caller's commitment and codec), an answer or a
    reveal (with an ephemeral key), or a reject, busy or hangup."""

    op: str
    call: str
    at: float
    commit: bytes | None = None  # offer
    codec: str | None = None  # offer
    key: bytes | None = None  # answer, reveal

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"t": "call", "op": self.op, "call": self.call, "at": self.at}
        if self.commit is not None:
            document["commit"] = self.commit.hex()
        if self.codec is not None:
            document["codec"] = self.codec
        if self.key is not None:
            document["key"] = self.key.hex()
        return document

    def __repr__(self) -> str:  # key material stays out of logs
        return f"CallPayload(op={self.op!r}, call={self.call!r})"


Payload = TextPayload | ReadPayload | TimerPayload | CallPayload


@dataclass(frozen=True)
class Unusable:
    """An authenticated message whose payload did not fit: received, but carrying nothing."""

    error: PayloadError


def parse(plaintext: bytes) -> Payload:
    """The typed payload in ``plaintext``; raises PayloadError if it does not fit a schema."""
    if len(plaintext) > MAX_PLAINTEXT:
        raise PayloadError(f"payload of {len(plaintext)} bytes is over {MAX_PLAINTEXT}")
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_int,
                              parse_float=_float, object_pairs_hook=_object)
    except RecursionError:
        raise PayloadError("payload is nested too deeply") from None
    except PayloadError:
        raise
    except ValueError:  # json.JSONDecodeError, and int() of digit strings over Python's limit
        raise PayloadError("payload is not JSON") from None
    if not isinstance(document, dict):
        raise PayloadError(f"payload is a JSON {_json_type(document)}, not an object")
    kind = document.get("t")
    schema = _SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise PayloadError("unknown message type", field="t")
    assert isinstance(kind, str)
    fields, build = schema
    if kind == "call":
        fields = _call_fields(document)
    unknown = set(document) - set(fields) - {"t"}
    if unknown:
        raise PayloadError(f"{len(unknown)} unknown field(s)", kind=kind)
    for name in fields:
        if name not in document:
            raise PayloadError("missing", kind=kind, field=name)
    return build(kind, document)


def check_body(body: object, *, kind: str | None = "text") -> str:
    """A message body as the text schema allows it (also checked before sending)."""
    if not isinstance(body, str):
        raise PayloadError(f"is a JSON {_json_type(body)}, not a string", kind=kind,
                           field="body")
    if len(body) > MAX_BODY_CHARS:
        raise PayloadError(f"is over {MAX_BODY_CHARS} characters", kind=kind, field="body")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") decodes from JSON but not to UTF-8
        raise PayloadError("holds a lone surrogate", kind=kind, field="body") from None
    if _CONTROL.search(body):
        raise PayloadError("holds control characters", kind=kind, field="body")
    return body


def without_controls(text: str) -> str:
    """``text`` with each control character the text schema refuses (C0 and C1 but tab, newline
    and carriage return) replaced by U+FFFD: for text from outside the messenger (plain SMS),
    kept under the messenger's rule."""
    return _CONTROL.sub("\ufffd", text)


def encoded_size(payload: Payload) -> int:
    """The bytes ``payload`` takes as sent (JSON, before padding)."""
    return len(json.dumps(payload.to_dict()).encode())


def is_message_id(value: object) -> bool:
    """True for a message id as this messenger makes them: a canonical lower-case UUID."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


# ---- schemas -----------------------------------------------------------------------------------


def _text(kind: str, document: dict[str, Any]) -> TextPayload:
    message_id = document["id"]
    if not is_message_id(message_id):
        raise PayloadError("is not a UUID", kind=kind, field="id")
    body = check_body(document["body"], kind=kind)
    at = document["at"]
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise PayloadError(f"is a JSON {_json_type(at)}, not a number", kind=kind, field="at")
    if not (math.isfinite(at) and 0 <= at <= MAX_AT):
        raise PayloadError("is not a time", kind=kind, field="at")
    return TextPayload(message_id, body, float(at), _expire(kind, document))


def _expire(kind: str, document: dict[str, Any]) -> int:
    expire = document["expire"]
    if isinstance(expire, bool) or not isinstance(expire, int) or expire not in TIMER_PRESETS:
        raise PayloadError(f"is not one of {TIMER_PRESETS}", kind=kind, field="expire")
    return expire


def _timer(kind: str, document: dict[str, Any]) -> TimerPayload:
    return TimerPayload(_expire(kind, document))


def _read(kind: str, document: dict[str, Any]) -> ReadPayload:
    ids = document["ids"]
    if not isinstance(ids, list):
        raise PayloadError(f"is a JSON {_json_type(ids)}, not a list", kind=kind, field="ids")
    if not 1 <= len(ids) <= MAX_READ_IDS:
        raise PayloadError(f"holds {len(ids)} ids, not 1 to {MAX_READ_IDS}", kind=kind,
                           field="ids")
    for index, message_id in enumerate(ids):
        if not is_message_id(message_id):
            raise PayloadError("is not a UUID", kind=kind, field=f"ids[{index}]")
    return ReadPayload(tuple(dict.fromkeys(ids)))


_CALL_FIELDS = {"offer": ("commit", "codec"), "answer": ("key",), "reveal": ("key",),
                "reject": (), "busy": (), "hangup": (), "differ": ()}


def _call_fields(document: dict[str, Any]) -> tuple[str, ...]:
    op = document.get("op")
    if not isinstance(op, str) or op not in _CALL_FIELDS:
        raise PayloadError(f"is not one of {CALL_OPS}", kind="call", field="op")
    return ("op", "call", "at") + _CALL_FIELDS[op]


def _call(kind: str, document: dict[str, Any]) -> CallPayload:
    op = document["op"]
    if not is_message_id(document["call"]):
        raise PayloadError("is not a UUID", kind=kind, field="call")
    at = _time(kind, document)
    commit = _hex32(kind, document, "commit") if "commit" in document else None
    key = _hex32(kind, document, "key") if "key" in document else None
    codec = None
    if "codec" in document:
        codec = document["codec"]
        if not isinstance(codec, str) or _CODEC.fullmatch(codec) is None:
            raise PayloadError("is not a codec name", kind=kind, field="codec")
    return CallPayload(op, document["call"], at, commit, codec, key)


def _time(kind: str, document: dict[str, Any]) -> float:
    at = document["at"]
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise PayloadError(f"is a JSON {_json_type(at)}, not a number", kind=kind, field="at")
    if not (math.isfinite(at) and 0 <= at <= MAX_AT):
        raise PayloadError("is not a time", kind=kind, field="at")
    return float(at)


def _hex32(kind: str, document: dict[str, Any], name: str) -> bytes:
    value = document[name]
    if not isinstance(value, str) or len(value) != _KEY_HEX or _HEX.fullmatch(value) is None:
        raise PayloadError(f"is not {_KEY_HEX} lower-case hex digits", kind=kind, field=name)
    return bytes.fromhex(value)


_HEX = re.compile(r"[0-9a-f]+")
_SCHEMAS = {"text": (("id", "body", "at", "expire"), _text), "read": (("ids",), _read),
            "timer": (("expire",), _timer), "call": ((), _call)}


# ---- the JSON parser's hooks: refuse what Python's json would otherwise let through -----------


def _refuse_constant(_name: str) -> Any:
    raise PayloadError("NaN and Infinity are not numbers")


def _int(digits: str) -> int:
    if len(digits) > MAX_NUMBER_CHARS:
        raise PayloadError("a number is too long")
    return int(digits)


def _float(digits: str) -> float:
    value = float(digits) if len(digits) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):  # 1e400 parses as infinity
        raise PayloadError("a number is too large")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):  # {"t": "text", "t": "read"}: which one is meant?
        raise PayloadError("an object repeats a key")
    return document


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
