"""The SMS text codec (TS 23.038 / 23.040): alphabets, septet packing, segmentation, and what
a hostile network can send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phone_tui.errors import PhoneTuiError
from phone_tui.modem.sms import (
    CONCAT_SEPTETS,
    CONCAT_UNITS,
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_PARTS,
    Encoding,
    ReassemblyBuffer,
    SmsMalformed,
    SmsPart,
    SmsTooLong,
    cost,
    from_septets,
    pack_septets,
    reassemble,
    segments,
    to_septets,
    units,
    unpack_septets,
)

GSM7_CHARS = [c for i, c in enumerate(GSM7_BASIC) if i != 0x1B] + list(GSM7_EXTENSION.values())


def wire(part: SmsPart) -> SmsPart:
    """The part as the receiver parses it."""
    return SmsPart.from_wire(part.encoding.value, part.udl, part.user_data, bool(part.udh))


# -- published vectors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "packed"), [
    ("hellohello", "E8329BFD4697D9EC37"),  # TS 23.038 / GSM 03.38 common reference
    ("Test", "D4F29C0E"),
    ("", ""),
])
def test_septets_pack_to_the_published_octets_and_back(text, packed):
    septets = to_septets(text)
    assert pack_septets(septets).hex().upper() == packed
    assert from_septets(unpack_septets(bytes.fromhex(packed), len(septets))) == text


def test_after_a_concatenation_header_one_fill_bit_aligns_the_first_septet():
    """6 header octets are 48 bits: one fill bit brings the text to septet 7 ('a' << 1 = C2)."""
    part = segments("a" * 161, reference=0xCC)[0]
    assert part.user_data[:6].hex().upper() == "050003CC0201"
    assert part.user_data[6] == 0xC2
    assert part.udl == 160 and len(part.user_data) == 140
    assert part.user_data == _reference_with_udh(to_septets("a" * 153), part.udh, fill=1)


def test_extension_characters_are_two_septets_behind_the_escape():
    assert to_septets("€") == bytes([0x1B, 0x65])
    assert units("{}[]~\\|^€") == 18
    assert from_septets(to_septets("a{b}c€")) == "a{b}c€"


def test_an_escape_before_an_unknown_code_shows_the_default_character_as_ts_23038_asks():
    assert from_septets(bytes([0x1B, 0x41])) == "A"
    assert from_septets(bytes([0x41, 0x1B])) == "A "


# -- segmentation boundaries ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "encoding", "parts", "left"), [
    ("a" * 160, Encoding.GSM7, 1, 0),
    ("a" * 161, Encoding.GSM7, 2, 2 * CONCAT_SEPTETS - 161),
    ("a" * 306, Encoding.GSM7, 2, 0),
    ("a" * 307, Encoding.GSM7, 3, 152),
    ("€" * 80, Encoding.GSM7, 1, 0),
    ("a" + "€" * 80, Encoding.GSM7, 2, 153 * 2 - 161),
    ("ж" * 70, Encoding.UCS2, 1, 0),
    ("ж" * 71, Encoding.UCS2, 2, 2 * CONCAT_UNITS - 71),
    ("😀" * 35, Encoding.UCS2, 1, 0),
    ("😀" * 36, Encoding.UCS2, 2, 67 - 6),  # 33 emoji (66 units, 1 unit unused) + 3
])
def test_segment_boundaries(text, encoding, parts, left):
    cut = segments(text)
    assert len(cut) == parts and {p.encoding for p in cut} == {encoding}
    assert cost(text).parts == parts and cost(text).left == left
    assert reassemble([wire(p) for p in cut]) == text
    if parts == 1:
        assert cut[0].udh == b"" and cut[0].concat is None
    else:
        assert all(len(p.udh) == 6 and p.concat.total == parts for p in cut)
        assert [p.concat.sequence for p in cut] == list(range(1, parts + 1))


def test_an_escape_pair_at_the_boundary_goes_whole_to_the_next_part():
    text = "a" * 152 + "€" + "b" * 10  # the € would take septets 153 and 154
    first, second = segments(text)
    assert first.text == "a" * 152 and first.udl == 7 + 152
    assert second.text.startswith("€")
    assert reassemble([wire(first), wire(second)]) == text


def test_a_surrogate_pair_at_the_boundary_goes_whole_to_the_next_part():
    text = "ж" * 66 + "😀" + "ж" * 5
    first, second = segments(text)
    assert first.text == "ж" * 66 and len(first.user_data) == 6 + 132
    assert second.text.startswith("😀")
    assert reassemble([wire(second), wire(first)]) == text


def test_one_char_outside_gsm7_makes_the_whole_text_ucs2():
    assert segments("price 5€")[0].encoding is Encoding.GSM7
    assert segments("price 5€ — ok")[0].encoding is Encoding.UCS2


def test_255_parts_fit_and_256_are_refused_with_a_clear_error():
    assert len(segments("a" * CONCAT_SEPTETS * MAX_PARTS)) == MAX_PARTS
    with pytest.raises(SmsTooLong, match="at most 255") as caught:
        segments("a" * (CONCAT_SEPTETS * MAX_PARTS + 1))
    assert isinstance(caught.value, PhoneTuiError)
    assert not cost("a" * (CONCAT_SEPTETS * MAX_PARTS + 1)).fits
    assert cost("a" * (CONCAT_SEPTETS * MAX_PARTS + 1)).describe().startswith("too long")


def test_cost_reads_as_the_compose_field_says_it():
    assert cost("").describe() == "0/160 \u00b7 1 SMS \u00b7 GSM-7"
    assert cost("a" * 23).describe() == "23/160 \u00b7 1 SMS \u00b7 GSM-7"
    assert cost("a" * 289).describe() == "2 SMS \u00b7 GSM-7 \u00b7 17 left"
    assert cost("{").describe() == "2/160 \u00b7 1 SMS \u00b7 GSM-7"  # an escape pair
    assert cost("\u0436" * 70).describe() == "70/70 \u00b7 1 SMS \u00b7 UCS-2"
    assert cost("\u0436" * 150).describe() == "3 SMS \u00b7 UCS-2 \u00b7 51 left"


# -- round trips ----------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(GSM7_CHARS), max_size=400), st.integers(0, 255))
def test_any_gsm7_text_round_trips_through_its_parts(text, reference):
    cut = segments(text, reference)
    assert all(p.encoding is Encoding.GSM7 and len(p.user_data) <= 140 for p in cut)
    assert reassemble([wire(p) for p in cut]) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_text_round_trips_through_its_parts(text):
    cut = segments(text)
    assert all(len(p.user_data) <= 140 for p in cut)
    assert reassemble([wire(p) for p in cut]) == text
    assert len(cut) == cost(text).parts


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=7 * 24), st.integers(0, 8))
def test_packing_matches_the_bit_by_bit_reference(raw, udh_len):
    septets = bytes(b & 0x7F for b in raw)
    udh = bytes([udh_len - 1]) + bytes(udh_len - 1) if udh_len else b""
    fill = -(-udh_len * 8 // 7) * 7 - udh_len * 8
    packed = pack_septets(septets, udh)
    assert packed == _reference_with_udh(septets, udh, fill)
    assert unpack_septets(packed, -(-udh_len * 8 // 7) + len(septets), udh_len) == septets


def _reference_with_udh(septets: bytes, udh: bytes, fill: int) -> bytes:
    bits = [(o >> b) & 1 for o in udh for b in range(8)] + [0] * fill
    bits += [(s >> b) & 1 for s in septets for b in range(7)]
    bits += [0] * (-len(bits) % 8)
    return bytes(sum(bits[i + b] << b for b in range(8)) for i in range(0, len(bits), 8))


# -- hostile parts --------------------------------------------------------------------------------

@pytest.mark.parametrize(("dcs", "udl", "data", "udhi", "says"), [
    (0x04, 1, b"\x00", False, "data coding"),
    (0x00, 161, bytes(141), False, "octets"),
    (0x00, 161, bytes(140), False, "at most 160"),
    (0x00, 10, bytes(5), False, "length says 9"),
    (0x08, 3, b"\x00\x41\x00", False, "odd"),
    (0x08, 2, b"\xd8\x3d", False, "lone surrogate"),
    (0x08, 2, b"\xdc\x00", False, "lone surrogate"),
    (0x08, 1, b"\x09", True, "header length"),
    (0x08, 2, b"\x00\x41", True, "header length of 0"),
    (0x08, 6, b"\x05\x00\x03\x01\x02\x03", True, "part 3 of 2"),
    (0x08, 6, b"\x05\x00\x03\x01\x00\x00", True, "part 0 of 0"),
    (0x08, 6, b"\x05\x00\x04\x01\x02\x01", True, "longer than the header"),
    (0x08, 5, b"\x04\x00\x02\x01\x02", True, "of 2 octets"),
    (0x08, 4, b"\x03\x00\x03\x01", True, "longer than the header"),
    (0x08, 3, b"\x02\x00\x01", True, "longer than the header"),
    (0x08, 2, b"\x01\x00", True, "cut short"),
    (0x08, 11, b"\x0a\x00\x03\x01\x02\x01\x00\x03\x01\x02\x02", True, "two concatenation"),
    (0x00, 6, b"\x05\x00\x03\x01\x02\x01", True, "longer than the user data"),
    (0x08, 0, b"", True, "empty"),
])
def test_a_hostile_part_is_refused_with_a_typed_error(dcs, udl, data, udhi, says):
    with pytest.raises(SmsMalformed, match=says):
        SmsPart.from_wire(dcs, udl, data, udhi)


def test_unknown_header_elements_are_skipped():
    # A port element (IEI 0x05) before the concatenation element.
    data = b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x07\x02\x01" + "hi".encode("utf-16-be")
    part = SmsPart.from_wire(0x08, len(data), data, True)
    assert part.text == "hi" and (part.concat.reference, part.concat.total) == (7, 2)


def _parts(text: str, reference: int = 1) -> list[SmsPart]:
    return [wire(p) for p in segments(text, reference)]


def test_reassembly_refuses_missing_duplicate_mixed_and_foreign_parts():
    one, two = _parts("a" * 200)
    with pytest.raises(SmsMalformed, match="1 of 2"):
        reassemble([one])
    with pytest.raises(SmsMalformed, match="twice"):
        reassemble([one, one])
    with pytest.raises(SmsMalformed, match="different messages"):
        reassemble([one, _parts("b" * 200, reference=2)[1]])
    ucs_two = _parts("ж" * 100)[1]
    with pytest.raises(SmsMalformed, match="alphabets"):
        reassemble([one, ucs_two])
    with pytest.raises(SmsMalformed, match="without a concatenation"):
        reassemble([_parts("hi")[0], one])
    with pytest.raises(SmsMalformed, match="no parts"):
        reassemble([])
    with pytest.raises(SmsMalformed, match="at most 255"):
        reassemble([one] * 256)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0x00, 0x08, 0x04]), st.integers(-1, 200), st.binary(max_size=160),
       st.booleans())
def test_random_bytes_from_the_network_raise_nothing_but_a_typed_error(dcs, udl, data, udhi):
    try:
        part = SmsPart.from_wire(dcs, udl, data, udhi)
    except SmsMalformed:
        return
    assert len(part.user_data) <= 140 and isinstance(part.text, str)


# -- the phone's reassembly buffer ----------------------------------------------------------------

def test_the_buffer_puts_parts_together_in_any_order_and_ignores_a_second_copy():
    buffer = ReassemblyBuffer()
    one, two, three = _parts("x" * 400)
    assert buffer.add(0, "+1", three) is None
    assert buffer.add(1, "+1", one) is None
    assert buffer.add(2, "+1", one) is None  # again, after a carrier restart
    assert buffer.add(3, "+1", two) == "x" * 400
    assert buffer.pending_parts == 0
    assert buffer.add(4, "+1", _parts("hi")[0]) == "hi"


def test_the_same_reference_from_two_senders_are_two_messages():
    buffer = ReassemblyBuffer()
    a1, a2 = _parts("a" * 200)
    b1, b2 = _parts("b" * 200)
    assert buffer.add(0, "+1", a1) is None and buffer.add(0, "+2", b1) is None
    assert buffer.add(0, "+2", b2) == "b" * 200
    assert buffer.add(0, "+1", a2) == "a" * 200


def test_the_buffer_gives_up_after_its_timeout_and_says_what_came():
    buffer = ReassemblyBuffer(timeout=60)
    one, _two, three = _parts("x" * 400)
    buffer.add(0, "+1", one)
    buffer.add(10, "+1", three)
    assert buffer.expire(59) == []
    [gone] = buffer.expire(60)
    assert (gone.sender, gone.received, gone.total) == ("+1", 2, 3)
    assert gone.text == "x" * 153 + "…" + "x" * (400 - 306)
    assert buffer.pending_parts == 0


def test_the_buffer_is_bounded_in_messages_and_parts():
    buffer = ReassemblyBuffer(max_messages=3, max_parts=5)
    for reference in range(10):
        buffer.add(reference, "+1", _parts("y" * 400, reference)[0])
    assert buffer.pending_parts == 3
    pushed = buffer.expire(10)  # the timeout is days: these were pushed out by newer ones
    assert [gone.reference for gone in pushed] == list(range(7))
    # Parts: two messages of two parts each fill 4 of 5; a third takes the oldest's place.
    buffer = ReassemblyBuffer(max_messages=16, max_parts=5)
    for reference in range(3):
        one, two, _three = _parts("z" * 400, reference)
        buffer.add(0, "+1", one)
        buffer.add(0, "+1", two)
    assert buffer.pending_parts <= 5
    assert [gone.reference for gone in buffer.expire(0)] == [0]
