"""Flow expectations on the carrier's lawful-intercept records (flows/model.py, the runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phone_tui.flows.model import FlowError, load_flow
from phone_tui.modem.intercept import LawfulIntercept
from phone_tui.ui.flow_runner import describe, record_matches

STAGE = '''
[flow]
id = "t"
title = "T"
audience = "test"
handsets = 2
profile = "full"

[[step]]
say = "Both unlock."
do = [{ unlock = true, phone = 1 }, { unlock = true, phone = 2 }]
expect = [{ event = "Unlocked", phone = 1 }, { event = "Unlocked", phone = 2 }]
'''

BAD = '''
[flow]
id = "t"
title = "T"
audience = "test"
handsets = 2

[[step]]
say = "Look."
expect = [EXPECT]
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_intercept_expectation_is_read_with_its_table():
    path = Path("x.toml")
    from phone_tui.flows.model import parse_flow
    flow = parse_flow({"flow": {"id": "t", "title": "T", "audience": "test", "handsets": 2},
                       "step": [{"say": "s", "expect": [
                           {"intercept": {"service": "sms", "text_contains": "hi", "from": 1}},
                           {"intercept": {"service": "e2e-message", "has_text": True},
                            "absent": True}]}]}, path)
    first, second = flow.steps[0].expect
    assert first.intercept == {"service": "sms", "text_contains": "hi", "from": 1}
    assert not first.absent and second.absent
    assert describe(first) == "intercept record service='sms' text_contains='hi' from=1"
    assert describe(second).startswith("no intercept record service='e2e-message'")


@pytest.mark.parametrize(("expect", "message"), [
    ('{ intercept = { service = "fax" } }',
     r"line 10, key 'step 1.expect\[0\].intercept.service': expected one of registration"),
    ('{ intercept = { colour = "red" } }',
     r"key 'step 1.expect\[0\].intercept.colour': unknown key \(known: record, service"),
    ('{ intercept = { content = "plaintext" } }',
     r"intercept.content': expected one of clear, decodable, ciphertext"),
    ('{ intercept = { from = 3 } }', r"intercept.from': expected a phone number from 1 to 2"),
    ('{ intercept = { to = true } }', r"intercept.to': expected a phone number"),
    ('{ intercept = { text_contains = "" } }', r"intercept.text_contains': expected a non-emp"),
    ('{ intercept = { has_text = "no" } }', r"intercept.has_text': expected true or false"),
    ('{ intercept = { has_text = false, text_contains = "x" } }',
     r"intercept.has_text': has_text = false and text_contains cannot both hold"),
    ('{ intercept = {} }', r"expect\[0\].intercept': expected a table"),
    ('{ intercept = "sms" }', r"expect\[0\].intercept': expected a table"),
    ('{ intercept = { service = "sms" }, phone = 2 }',
     r"expect\[0\].phone': intercept goes alone"),
    ('{ intercept = { service = "sms" }, absent = 1 }', r"expect\[0\].absent': expected true"),
])
def test_a_bad_intercept_expectation_names_the_file_line_and_key(tmp_path, expect, message):
    path = write(tmp_path, BAD.replace("EXPECT", expect))
    with pytest.raises(FlowError, match=message) as problem:
        load_flow(path)
    assert str(path) in str(problem.value) and "\n" not in str(problem.value)


def test_records_match_by_service_text_parties_and_no_text():
    intercept = LawfulIntercept(lambda: 0.0)
    sms = intercept.emit("IRI-REPORT", "sms", calling="+1", called="+2", state="submitted",
                         sms_text="The budget\nis final", content="clear")
    e2e = intercept.emit("IRI-REPORT", "e2e-message", calling="+1", called="+2",
                         content="ciphertext", size=300)
    lines = {1: {"+1", "+1o"}, 2: {"+2"}}.__getitem__
    assert record_matches({"service": "sms", "text_contains": "budget is"}, sms, lines)
    assert not record_matches({"service": "sms", "text_contains": "secret"}, sms, lines)
    assert record_matches({"from": 1, "to": 2, "state": "submitted"}, sms, lines)
    assert not record_matches({"from": 2}, sms, lines)
    assert record_matches({"content": "ciphertext", "has_text": False}, e2e, lines)
    assert not record_matches({"text_contains": "budget"}, e2e, lines)
    assert not record_matches({"has_text": True}, e2e, lines)


async def test_a_flow_expects_an_e2e_messages_record_without_its_text(flow_runner, tmp_path):
    path = write(tmp_path, STAGE + '''
[[step]]
say = "Minister Li sends the figures end to end: the carrier records who and how much."
do = [{ send = "The budget figures are final.", to = "2", phone = 1 }]
expect = [
  { intercept = { service = "e2e-message", from = 1, to = 2, content = "ciphertext" } },
  { intercept = { service = "e2e-message", has_text = false } },
  { intercept = { text_contains = "budget" }, absent = true }]
''')
    report = await flow_runner(path)
    assert report.passed, [r.missing for r in report.results]


async def test_a_flow_fails_when_no_record_has_the_text(flow_runner, tmp_path):
    path = write(tmp_path, STAGE + '''
[[step]]
say = "The text is not in any record: this step must fail."
do = [{ send = "The budget figures are final.", to = "2", phone = 1 }]
expect = [{ intercept = { service = "sms", text_contains = "budget" } }]
timeout = 1
''')
    report = await flow_runner(path)
    assert not report.passed
    assert report.results[-1].missing == [
        "intercept record service='sms' text_contains='budget'"]


def test_an_intercept_party_may_be_a_seeded_contact_by_name(tmp_path):
    path = write(tmp_path, BAD.replace(
        "EXPECT", '{ intercept = { service = "sms", to = "Duty Officer", from = "Echo" } }'))
    expectation = load_flow(path).steps[0].expect[0]
    assert expectation.intercept == {"service": "sms", "to": "Duty Officer", "from": "Echo"}
    with pytest.raises(FlowError, match=r"intercept.to': expected a phone from 1 to 2 or a "
                                        r"contact's name \(known: Duty Officer, "):
        load_flow(write(tmp_path, BAD.replace("EXPECT", '{ intercept = { to = "Duty" } }')))


def test_records_match_a_contact_by_its_number_digit_for_digit():
    intercept = LawfulIntercept(lambda: 0.0)
    e2e = intercept.emit("IRI-REPORT", "e2e-message", calling="+1", called="+8619000000110",
                         content="ciphertext", size=300)
    lines = {1: {"+1"}, "Duty Officer": {"+86 190 0000 0110"},
             "Echo": {"+86 190 0000 0100"}}.__getitem__
    assert record_matches({"from": 1, "to": "Duty Officer"}, e2e, lines)
    assert not record_matches({"to": "Echo"}, e2e, lines)
