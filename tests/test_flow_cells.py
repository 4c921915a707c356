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
