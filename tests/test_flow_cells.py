"""The flow actions fake_cell and allow_2g, and the cell events as expectations."""

from __future__ import annotations

from test_flow_intercept import write

FLOW = """
[flow]
id = "t-cells"
title = "t"
audience = "test"
persona = "{persona}"
handsets = 1
profile = "full"

[[step]]
say = "Unlock."
do = [{{ unlock = true }}{extra}]
expect = [{{ event = "Unlocked" }}{step1}]

[[step]]
say = "A fake base station comes near."
do = [{{ fake_cell = true }}]
expect = [{expect}]
timeout = 5
"""


async def test_the_fake_cell_catches_the_open_os(flow_runner, tmp_path):
    report = await flow_runner(write(tmp_path, FLOW.format(
        persona="open", extra="", step1="",
        expect='{ event = "CellCamped", where = { rat = "2G", null_cipher = true } }')))
    assert report.passed, [r.missing for r in report.results]


async def test_with_allow_2g_off_the_open_os_refuses_the_fake_cell(flow_runner, tmp_path):
    report = await flow_runner(write(tmp_path, FLOW.format(
        persona="open", extra=", { allow_2g = false }",
        step1=', { event = "SettingChanged", where = { key = "allow_2g", value = false } }',
        expect='{ event = "CellRefused", where = { kind = "downgrade_2g" } }')))
    assert report.passed, [r.missing for r in report.results]


async def test_the_secure_os_refuses_the_fake_cell(flow_runner, tmp_path):
    report = await flow_runner(write(tmp_path, FLOW.format(
        persona="secure", extra="", step1="",
        expect='{ event = "CellRefused", where = { kind = "identity_request" } }, '
               '{ event = "CellRefused", where = { kind = "downgrade_2g" } }')))
    assert report.passed, [r.missing for r in report.results]


async def test_allow_2g_on_the_secure_os_is_a_clear_failure(flow_runner, tmp_path):
    report = await flow_runner(write(tmp_path, FLOW.format(
        persona="secure", extra=", { allow_2g = true }", step1="",
        expect='{ event = "Unlocked" }')))
    assert not report.passed
    assert "policy" in report.results[0].missing[0], report.results[0].missing


STAGE = """
[flow]
id = "t-attacker"
title = "t"
audience = "test"
persona = "open"
handsets = 2
profile = "full"

[[step]]
say = "Both unlock."
do = [{ unlock = true, phone = 1 }, { unlock = true, phone = 2 }]
expect = [{ event = "Unlocked", phone = 1 }, { event = "Unlocked", phone = 2 }]

[[step]]
say = "A fake base station next to phone 1: it asks for the IMSI."
do = [{ fake_cell = true, phone = 1 }]
expect = [{ attacker = { what = "imsi", phone = 1 } }]

[[step]]
say = "A plain SMS: the carrier and the attacker both read it."
do = [{ sms = "Meet at the east gate at 17:00.", to = "2", phone = 1 }]
expect = [{ event = "TextReceived", phone = 2 },
          { intercept = { service = "sms", from = 1, text_contains = "east gate" } },
          { attacker = { what = "sms", phone = 1, text_contains = "east gate" } }]
timeout = 30

[[step]]
say = "The same end to end: neither reads it."
do = [{ send = "The budget is 4.2 million.", to = "2", phone = 1 }]
expect = [{ event = "MessageReceived", phone = 2 },
          { attacker = { what = "e2e-message", phone = 1, text_contains = "ciphertext" } },
          { attacker = { text_contains = "4.2 million" }, absent = true },
          { intercept = { text_contains = "4.2 million" }, absent = true }]
timeout = 30
"""


async def test_on_the_fake_cell_the_attacker_reads_the_sms_and_not_the_e2e_message(
        flow_runner, tmp_path):
    report = await flow_runner(write(tmp_path, STAGE))
    assert report.passed, [r.missing for r in report.results]


async def test_an_attacker_expectation_fails_when_nothing_was_caught(flow_runner, tmp_path):
    text = STAGE.replace('do = [{ fake_cell = true, phone = 1 }]', 'do = [{ wait = 1 }]')
    report = await flow_runner(write(tmp_path, text.split("[[step]]\nsay = \"A plain")[0]))
    assert not report.passed
    assert report.results[-1].missing == [
        "caught by the fake base station what='imsi' phone=1"]


def test_a_bad_attacker_expectation_names_its_key(tmp_path):
    import pytest

    from phone_tui.flows.model import FlowError, load_flow

    bad = STAGE.replace('{ attacker = { what = "imsi", phone = 1 } }',
                        '{ attacker = { what = "passport", phone = 1 } }')
    with pytest.raises(FlowError) as caught:
        load_flow(write(tmp_path, bad))
    assert "step 2.expect[0].attacker.what" in str(caught.value)
    assert "expected one of imsi, imei, sms" in str(caught.value)
