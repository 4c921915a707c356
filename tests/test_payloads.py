"""The schema of each decrypted payload type: every rule, and that nothing else gets through."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phone_tui.handset.payloads import (
    MAX_BODY_CHARS,
    MAX_PLAINTEXT,
    MAX_READ_IDS,
    TIMER_PRESETS,
    PayloadError,
    ReadPayload,
    TextPayload,
    check_body,
    encoded_size,
    parse,
)

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def text(**changes: object) -> dict:
    return {"t": "text", "id": UUID, "body": "hi", "at": 1.7e9, "expire": 0, **changes}


def dump(document: object) -> bytes:
    return json.dumps(document).encode()


def refused(plaintext: bytes) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse(plaintext)
    return caught.value


def test_a_text_message_parses_into_a_frozen_typed_payload():
    payload = parse(dump(text(body="héllo 🌍\nline two\tand a tab", at=1700000000.25,
                              expire=3600)))
    assert payload == TextPayload(UUID, "héllo 🌍\nline two\tand a tab", 1700000000.25, 3600)
    with pytest.raises(AttributeError):
        payload.body = "changed"  # type: ignore[misc]


def test_a_read_receipt_parses_into_a_tuple_of_ids_without_repeats():
    assert parse(dump({"t": "read", "ids": [UUID, OTHER, UUID]})) == ReadPayload((UUID, OTHER))


@pytest.mark.parametrize("payload", [TextPayload(UUID, "x" * 100, 0.0, 30),
                                     TextPayload(OTHER, "", 1.7e9, 28 * 86400),
                                     ReadPayload((UUID,)), ReadPayload((UUID, OTHER))])
def test_what_this_messenger_sends_parses_back_to_itself(payload):
    assert parse(dump(payload.to_dict())) == payload


@pytest.mark.parametrize("expire", TIMER_PRESETS)
def test_every_timer_preset_is_accepted(expire):
    assert parse(dump(text(expire=expire))).expire == expire


@pytest.mark.parametrize(("document", "field"), [
    (text(expire="soon"), "expire"),
    (text(expire=42), "expire"),
    (text(expire=True), "expire"),
    (text(expire=30.0), "expire"),
    (text(expire=None), "expire"),
    (text(expire=[30]), "expire"),
    (text(at="now"), "at"),
    (text(at=True), "at"),
    (text(at=None), "at"),
    (text(at=-1), "at"),
    (text(at=1e12), "at"),
    (text(id="not-a-uuid"), "id"),
    (text(id=UUID.upper()), "id"),
    (text(id="{" + UUID + "}"), "id"),
    (text(id=5), "id"),
    (text(body=5), "body"),
    (text(body=None), "body"),
    (text(body=["x"]), "body"),
    (text(body={"x": 1}), "body"),
    (text(body=True), "body"),
    (text(body="\ud800"), "body"),
    (text(body="\x1b[2J"), "body"),
    (text(body="bell\x07"), "body"),
    (text(body="nul\x00"), "body"),
    (text(body="c1\x9b31m"), "body"),
    ({"t": "read", "ids": 5}, "ids"),
    ({"t": "read", "ids": UUID}, "ids"),
    ({"t": "read", "ids": {"a": UUID}}, "ids"),
    ({"t": "read", "ids": []}, "ids"),
    ({"t": "read", "ids": [UUID] * (MAX_READ_IDS + 1)}, "ids"),
    ({"t": "read", "ids": [UUID, 5]}, "ids[1]"),
    ({"t": "read", "ids": [UUID, [UUID]]}, "ids[1]"),
    ({"t": "video"}, "t"),
    ({"t": 5}, "t"),
    ({"t": None}, "t"),
    ({"id": UUID}, "t"),
    ({k: v for k, v in text().items() if k != "body"}, "body"),
    ({"t": "read"}, "ids"),
])
def test_a_field_of_the_wrong_type_or_out_of_bounds_is_refused_by_name(document, field):
    error = refused(dump(document))
    assert error.field == field and str(error).startswith(f"{field}: ")


@pytest.mark.parametrize("plaintext", [
    b'{"t": "text", "id": "%s", "body": "hi", "at": NaN, "expire": 0}' % UUID.encode(),
    b'{"t": "text", "id": "%s", "body": "hi", "at": Infinity, "expire": 0}' % UUID.encode(),
    b'{"t": "text", "id": "%s", "body": "hi", "at": -Infinity, "expire": 0}' % UUID.encode(),
    b'{"t": "text", "id": "%s", "body": "hi", "at": 1e400, "expire": 0}' % UUID.encode(),
    dump(text(at=10**400)),
    dump(text(expire=10**40)),
    b'{"t": "text", "id": "%s", "body": "hi", "at": 1, "expire": %s}' % (
        UUID.encode(), b"9" * 5000),
])
def test_nan_infinity_and_huge_numbers_are_refused(plaintext):
    refused(plaintext)


@pytest.mark.parametrize(("plaintext", "reason"), [
    (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
    (b'{"t": "read", "ids": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    (dump([text()]), "not an object"),
    (dump("text"), "not an object"),
    (dump(None), "not an object"),
    (dump(5), "not an object"),
    (b"", "not JSON"),
    (b"{", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"t": "text", "body": "\xc3("}', "not UTF-8"),
    ('{"t": "read"}'.encode("utf-16"), "not UTF-8"),
    (b"\xef\xbb\xbf" + dump(text()), "not JSON"),
    (dump(text(colour="red")), "unknown field"),
    (dump({"t": "read", "ids": [UUID], "extra": 1}), "unknown field"),
    (b'{"t": "read", "t": "text", "ids": ["%s"]}' % UUID.encode(), "repeats a key"),
    (b" " * (MAX_PLAINTEXT + 1), "over"),
])
def test_malformed_documents_are_refused_with_a_reason(plaintext, reason):
    assert reason in str(refused(plaintext))


def test_a_reason_never_repeats_what_the_peer_sent():
    secret = "attack-at-dawn"
    for document in (text(body=[secret]), text(**{secret: 1}), {"t": secret},
                     text(id=secret), text(expire=secret), {"t": "read", "ids": [secret]}):
        error = refused(dump(document))
        assert secret not in str(error) and secret not in repr(error.args)


def test_the_kind_is_named_only_when_it_is_a_known_type():
    assert refused(dump(text(expire="soon"))).kind == "text"
    assert refused(dump({"t": "read", "ids": 5})).kind == "read"
    assert refused(dump({"t": "secret-type"})).kind is None


def test_a_body_up_to_the_limit_fits_and_one_over_does_not():
    assert check_body("x" * MAX_BODY_CHARS) == "x" * MAX_BODY_CHARS
    with pytest.raises(PayloadError, match="body"):
        check_body("x" * (MAX_BODY_CHARS + 1))
    near = TextPayload(UUID, "x" * (MAX_PLAINTEXT - 200), 1.7e9, 0)
    assert encoded_size(near) <= MAX_PLAINTEXT and parse(dump(near.to_dict())) == near


def test_a_payload_that_parses_is_a_plain_one_of_the_two_types():
    assert isinstance(parse(dump(text())), TextPayload)
    assert isinstance(parse(dump({"t": "read", "ids": [UUID]})), ReadPayload)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["t", "id", "body", "at", "expire", "ids"]) | st.text(max_size=4),
        children, max_size=5),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(document=JSONISH | st.fixed_dictionaries(
    {"t": st.sampled_from(["text", "read"])},
    optional={"id": JSONISH, "body": JSONISH, "at": JSONISH, "expire": JSONISH, "ids": JSONISH}))
def test_any_json_value_parses_to_a_payload_or_raises_payload_error_only(document):
    try:
        payload = parse(json.dumps(document).encode())
    except PayloadError:
        return
    assert isinstance(payload, TextPayload | ReadPayload)
    assert parse(json.dumps(payload.to_dict()).encode()) == payload


@settings(max_examples=300, deadline=None)
@given(plaintext=st.binary(max_size=200))
def test_any_bytes_parse_to_a_payload_or_raise_payload_error_only(plaintext):
    with contextlib.suppress(PayloadError):
        parse(plaintext)
