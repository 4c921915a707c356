"""The call signalling schema: what each op carries, and that nothing else gets through."""

from __future__ import annotations

import json

import pytest

from phone_tui.handset.payloads import CallPayload, PayloadError, parse

CALL = "0f8fad5b-d9cb-469f-a165-70867728950e"
HEX = "ab" * 32


def call(op: str = "offer", **changes: object) -> dict:
    extra = {"offer": {"commit": HEX, "codec": "opus-16k"}, "answer": {"key": HEX},
             "reveal": {"key": HEX}}.get(op, {})
    return {"t": "call", "op": op, "call": CALL, "at": 1.7e9, **extra, **changes}


def dump(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("payload", [
    CallPayload("offer", CALL, 1.7e9, commit=b"\xab" * 32, codec="amr-wb-12.65"),
    CallPayload("answer", CALL, 0.0, key=b"\x01" * 32),
    CallPayload("reveal", CALL, 5.5, key=b"\x02" * 32),
    CallPayload("reject", CALL, 1.0), CallPayload("busy", CALL, 1.0),
    CallPayload("hangup", CALL, 1.0)])
def test_every_op_parses_back_to_itself(payload):
    assert parse(dump(payload.to_dict())) == payload


def test_a_call_payload_keeps_its_key_material_out_of_its_repr():
    payload = CallPayload("answer", CALL, 0.0, key=b"\x01" * 32)
    assert "01" * 8 not in repr(payload)


@pytest.mark.parametrize(("document", "field"), [
    (call(op="ring"), "op"),
    (call(op=None), "op"),
    ({"t": "call", "call": CALL, "at": 1.0}, "op"),
    (call(call="not-a-uuid"), "call"),
    (call(call=CALL.upper()), "call"),
    (call(call=5), "call"),
    (call(at="now"), "at"),
    (call(at=True), "at"),
    (call(at=-1), "at"),
    (call(at=1e12), "at"),
    (call(commit="ab" * 31), "commit"),
    (call(commit="AB" * 32), "commit"),
    (call(commit="zz" * 32), "commit"),
    (call(commit=["ab"]), "commit"),
    (call(codec="Opus 16k"), "codec"),
    (call(codec=""), "codec"),
    (call(codec="x" * 40), "codec"),
    (call(codec=16), "codec"),
    (call("answer", key="ab" * 33), "key"),
    (call("reveal", key=None), "key"),
])
def test_a_wrong_field_is_refused_by_name(document, field):
    with pytest.raises(PayloadError) as caught:
        parse(dump(document))
    assert caught.value.field == field


@pytest.mark.parametrize("document", [
    call(extra=1),
    call("hangup", key=HEX),  # a field of another op
    call("answer", commit=HEX),
    {"t": "call", "op": "offer", "call": CALL, "at": 1.0, "codec": "opus-16k"},  # no commit
    {"t": "call", "op": "answer", "call": CALL, "at": 1.0},  # no key
])
def test_unknown_or_missing_fields_are_refused(document):
    with pytest.raises(PayloadError):
        parse(dump(document))


HEAD = '{"t": "call", "op": "hangup", "call": "' + CALL + '", '


@pytest.mark.parametrize("text", [
    HEAD + '"at": NaN}', HEAD + '"at": Infinity}', HEAD + '"at": 1e400}',
    HEAD + '"op": "busy", "at": 1}',
])
def test_nan_huge_numbers_and_repeated_keys_are_refused(text):
    with pytest.raises(PayloadError):
        parse(text.encode())
