"""The SMS envelope's body (TS 23.040 TPDUs): what the phone and the SMSC write, a known PDU from
the field, and what a hostile network can send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phone_tui.modem.sms import Encoding, SmsMalformed, segments
from phone_tui.modem.sms_pdu import (
    MAX_TPDU,
    FailureCause,
    SmsDeliver,
    SmsDeliverReport,
    SmsStatusReport,
    SmsSubmit,
    SmsSubmitReport,
    TpStatus,
    encode_address,
    encode_validity,
    read_sms,
    validity_seconds,
)

AT = 1_780_000_000.0  # a whole second, in 2026


def test_a_submit_from_the_field_reads():
    # The classic example PDU (without its SMSC prefix): "Howdy y'all!" to +15125551234.
    body = bytes.fromhex("01000B915121551532F400000CC8F79D9C07E54F61363B04")
    tpdu = read_sms(body)
    assert isinstance(tpdu, SmsSubmit)
    assert (tpdu.recipient, tpdu.text, tpdu.message_ref) == ("+15125551234", "Howdy y'all!", 0)
    assert tpdu.validity is None and not tpdu.status_report
    assert tpdu.encode() == body


@pytest.mark.parametrize("text", ["hi {there}", "\u043f\u0440\u0438\u0432\u0435\u0442 \U0001f600",
                                  "x" * 400])
def test_submit_and_deliver_round_trip_every_part(text):
    for part in segments(text, reference=7):
        submit = SmsSubmit(42, "+4915112345", part, validity=3600.0, status_report=True)
        again = read_sms(submit.encode(), uplink=True)
        assert again == submit
        deliver = SmsDeliver("5551234", part, AT, status_report=True, more=True)
        assert read_sms(deliver.encode(), uplink=False) == deliver
        assert read_sms(deliver.encode()) == deliver


def test_the_longest_parts_with_the_longest_addresses_still_read():
    for text in ("x" * 400, "\u0436" * 200, "{" * 200):
        for part in segments(text, 255)[:-1]:  # the last part may be short
            assert len(part.user_data) in (139, 140)  # 153 septets + header: 139 octets
            for tpdu in (SmsDeliver("+" + "9" * 20, part, AT),
                         SmsSubmit(255, "9" * 20, part, validity=86400.0)):
                assert read_sms(tpdu.encode()) == tpdu


def test_status_reports_and_submit_reports_round_trip():
    for status in TpStatus:
        report = SmsStatusReport(9, "+15125551234", status, AT, AT + 61)
        assert read_sms(report.encode()) == report
        assert status.word in report.summary()
    ok, refused = SmsSubmitReport(3), SmsSubmitReport(3, FailureCause.SYSTEM_FAILURE)
    assert read_sms(ok.encode(), uplink=False) == ok and ok.accepted
    assert read_sms(refused.encode()) == refused and not refused.accepted


def test_an_odd_address_pads_with_f_and_a_plus_is_international():
    assert encode_address("+123") == bytes((3, 0x91, 0x21, 0xF3))
    assert encode_address("12") == bytes((2, 0x81, 0x21))
    with pytest.raises(ValueError):
        encode_address("+" + "1" * 21)


def test_validity_octets_follow_the_four_ranges():
    assert (encode_validity(300), validity_seconds(0)) == (0, 300.0)
    assert validity_seconds(encode_validity(12 * 3600)) == 12 * 3600
    assert validity_seconds(encode_validity(24 * 3600)) == 24 * 3600
    assert validity_seconds(encode_validity(7 * 86400)) == 7 * 86400
    assert validity_seconds(255) == 63 * 7 * 86400
    for seconds in (1, 301, 13 * 3600 + 1, 40 * 86400, 10 ** 9):
        assert validity_seconds(encode_validity(seconds)) >= min(seconds, 63 * 7 * 86400)


def test_direction_matters_for_a_submit_type():
    deliver = SmsDeliver("+1", segments("x")[0], AT).encode()
    with pytest.raises(SmsMalformed):
        read_sms(deliver, uplink=True)  # a phone cannot send a DELIVER
    refusal = SmsDeliverReport(FailureCause.TPDU_NOT_SUPPORTED)
    assert read_sms(refusal.encode(), uplink=True) == read_sms(refusal.encode()) == refusal
    with pytest.raises(SmsMalformed):
        read_sms(refusal.encode(), uplink=False)
    with pytest.raises(SmsMalformed):
        read_sms(SmsSubmitReport(1).encode(), uplink=True)


@pytest.mark.parametrize("body, why", [
    (b"", "empty"),
    (b"\x03", "reserved"),
    (bytes(MAX_TPDU + 1), "at most"),
    (bytes.fromhex("01000B915121551532F400000DC8F79D9C07E54F61363B04"), "octets"),  # UDL 13
    (bytes.fromhex("01000B915121551532F400000CC8F79D9C07E54F61363B0400"), "octets"),  # extra
    (bytes.fromhex("01000B915121551532F400040CC8F79D9C07E54F61363B04"), "coding"),  # DCS 4
    (bytes.fromhex("01001B915121551532F400000CC8F79D9C07E54F61363B04"), "digits"),  # 27
    (bytes.fromhex("01000B91512155153AF400000CC8F79D9C07E54F61363B04"), "digit"),  # A
    (bytes.fromhex("01000B91512155153234000"
                   "00CC8F79D9C07E54F61363B04"), "digit"),  # no F fill
    (bytes.fromhex("01000B505121551532F400000CC8F79D9C07E54F61363B04"), "type"),
    (bytes.fromhex("09000B915121551532F400000CC8F79D9C07E54F61363B04"), "relative"),  # VPF 01
    (bytes.fromhex("41000B915121551532F400000CC8F79D9C07E54F61363B04"), "header"),  # UDHI
    (bytes((0x02, 1, 2, 0x81, 0x21)) + bytes(5), "cut short"),
    (bytes((0x02, 1, 2, 0x81, 0x21)) + bytes.fromhex("62134099999900") * 2 + b"\x00", "date"),
    (bytes((0x02, 1, 2, 0x81, 0x21)) + bytes.fromhex("622110101A1000") * 2 + b"\x00",
     "decimal"),
    (bytes((0x02, 1, 2, 0x81, 0x21)) + bytes.fromhex("62211010101000") * 2 + b"\x99",
     "status"),
    (bytes((0x01, 0x42, 0x00, 0x01)), "failure cause"),
])
def test_hostile_bodies_are_refused_with_a_reason(body, why):
    with pytest.raises(SmsMalformed, match=why):
        read_sms(body)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=MAX_TPDU + 8), st.sampled_from([None, True, False]))
def test_any_bytes_give_a_tpdu_or_sms_malformed(body, uplink):
    try:
        tpdu = read_sms(body, uplink=uplink)
    except SmsMalformed:
        return
    assert isinstance(tpdu, SmsSubmit | SmsSubmitReport | SmsDeliver | SmsDeliverReport
                      | SmsStatusReport)
    assert tpdu.encode() == body  # what was read is what was sent: nothing left unchecked
    assert isinstance(tpdu.summary(), str)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(0, 255))
def test_any_text_survives_submit_then_deliver(text, ref):
    for part in segments(text, ref):
        submit = read_sms(SmsSubmit(ref, "+44", part).encode(), uplink=True)
        assert isinstance(submit, SmsSubmit)
        deliver = read_sms(SmsDeliver("+44", submit.part, AT).encode(), uplink=False)
        assert deliver.part == part and deliver.part.encoding in Encoding
