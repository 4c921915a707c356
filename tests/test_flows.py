"""The flow format and its headless runner: checks, shipped flows, snapshot comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from phone_tui import cli
from phone_tui.flows.model import FlowError, load_flow, shipped_flows
from phone_tui.handset.events import Locked, Unlocked
from phone_tui.ui.flow_runner import matches

MINIMAL = '''
[flow]
id = "t"
title = "T"
audience = "test"

[[step]]
say = "Unlock."
do = [{ unlock = true }]
expect = [{ event = "Unlocked" }]
'''


def write(tmp_path: Path, text: str, name: str = "flow.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", shipped_flows(), ids=lambda p: p.stem)
def test_every_shipped_flow_passes_check(path):
    flow = load_flow(path)
    assert flow.id == path.stem and flow.steps


@pytest.mark.parametrize(("change", "message"), [
    (("audience = \"test\"", "audience = \"party\""), r"key 'flow.audience': expected one of"),
    (("[[step]]\nsay = \"Unlock.\"", "[[step]]\nsay = \"\""), r"line 8, key 'step 1.say'"),
    (("unlock = true", "unlock = 3"), r"key 'step 1.do\[0\].unlock': unlock: type the phone"),
    (("unlock = true", "dance = true"), r"key 'step 1.do\[0\].dance': unknown action"),
    (("event = \"Unlocked\"", "event = \"Teleported\""), r"step 1.expect\[0\].event': unknown"),
    (("event = \"Unlocked\"", "event = \"Unlocked\", phone = 3"),
     r"step 1.expect\[0\].phone': expected a phone number from 1 to 1"),
    (("say = \"Unlock.\"", "say = \"Unlock.\"\ntimeout = -1"), r"step 1.timeout"),
    (("[flow]", "[flw]"), r"key 'flw': unknown table"),
    (("id = \"t\"", "id = "), r"line 3.*not valid TOML"),
])
def test_a_malformed_flow_names_the_file_step_and_key(tmp_path, change, message):
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(FlowError, match=message) as problem:
        load_flow(path)
    assert str(path) in str(problem.value)


def test_flow_check_command(tmp_path, capsys):
    good = write(tmp_path, MINIMAL, "good.toml")
    bad = write(tmp_path, MINIMAL.replace("say = \"Unlock.\"", "say = 5"), "bad.toml")
    assert cli.main(["flow", "check", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    assert cli.main(["flow", "check", str(good), str(bad)]) == 2
    out = capsys.readouterr()
    assert "good.toml" in out.out and "bad.toml" in out.err and "step 1.say" in out.err
    assert len(out.err.strip().splitlines()) == 1
    assert cli.main(["flow", "run", "no-such-flow"]) == 2
    assert "no flow 'no-such-flow'" in capsys.readouterr().err


def test_event_expectations_match_class_phone_and_fields():
    from phone_tui.flows.model import Expectation

    wanted = Expectation(phone=2, event="Locked", where={"reason": "idle"})
    assert matches(wanted, 2, Locked("secure", "idle"))
    assert not matches(wanted, 1, Locked("secure", "idle"))
    assert not matches(wanted, 2, Locked("secure", "user"))
    assert not matches(wanted, 2, Unlocked("secure"))


@pytest.mark.parametrize("path", shipped_flows(), ids=lambda p: p.stem)
def test_every_shipped_flow_completes_headless(path, capsys, fast_kdf):
    assert cli.main(["flow", "run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "✗" not in out


def test_flow_run_check_against_a_missing_or_empty_baseline_is_exit_2(tmp_path, capsys):
    """From the new-user review: a missing baseline said "screens differ" (exit 1), as if the
    screens had changed."""
    (tmp_path / "empty").mkdir()
    for where, said in ((tmp_path / "nowhere", "no such folder"),
                        (tmp_path / "empty", "holds no step-NN.svg")):
        assert cli.main(["flow", "run", "demo-os-switch", "--check", str(where)]) == 2
        out, err = capsys.readouterr()
        assert said in err and err.count("\n") == 1 and "differ" not in out, (out, err)


def test_flow_run_check_passes_on_its_own_output_and_fails_on_a_changed_screen(tmp_path,
                                                                                capsys, fast_kdf):
    flow = next(p for p in shipped_flows() if p.stem == "demo-os-switch")
    baseline, again, changed = tmp_path / "base", tmp_path / "again", tmp_path / "changed"
    assert cli.main(["flow", "run", str(flow), "--snapshots", str(baseline)]) == 0
    steps = len(load_flow(flow).steps)
    assert sorted(p.name for p in baseline.glob("*.svg")) == [
        f"step-{n:02d}.svg" for n in range(1, steps + 1)]
    assert cli.main(["flow", "run", str(flow), "--snapshots", str(again),
                     "--check", str(baseline)]) == 0
    capsys.readouterr()
    # The same flow, but step 2 opens Settings without going into Radios: another screen.
    text = flow.read_text(encoding="utf-8").replace(
        'do = [{ open = "settings" }, { press = ["down", "enter"] }]\nexpect = [{ text = '
        '"not present — removed by policy" }]', 'do = [{ open = "settings" }]', 1)
    assert text != flow.read_text(encoding="utf-8")
    edited = write(tmp_path, text, flow.name)
    assert cli.main(["flow", "run", str(edited), "--snapshots", str(changed),
                     "--check", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "differs from" in out and "step(s) 2" in out
    report = (changed / "report.txt").read_text(encoding="utf-8")
    assert "step 2 now" in report and "Radios" in report


async def test_the_flow_runner_fixture_plays_a_flow_file(flow_runner, tmp_path):
    path = write(tmp_path, MINIMAL.replace('audience = "test"', 'audience = "test"\n'
                                           'profile = "full"') + '''
[[step]]
say = "Send the Echo a message; it answers."
do = [{ open = "messages" }, { send = "ping", to = "Echo" }]
expect = [{ event = "MessageReceived", where = { number = "+86 190 0000 0100" } }]
''')
    report = await flow_runner(path)
    assert report.passed and [r.step.number for r in report.results] == [1, 2]


def test_a_mistake_may_say_in_its_own_words_what_went_wrong(tmp_path):
    flow = '''[flow]
id = "t"
title = "T"
audience = "training"

[[step]]
say = "Look."
expect = [{ event = "Unlocked" }]
mistake = [MISTAKE]
'''
    path = tmp_path / "flow.toml"
    path.write_text(flow.replace("MISTAKE", '{ event = "PinRejected", say = "A wrong\\n PIN." }'))
    mistake = load_flow(path).steps[0].mistakes[0]
    assert (mistake.event, mistake.say) == ("PinRejected", "A wrong PIN.")
    path.write_text(flow.replace("MISTAKE", '{ event = "PinRejected", say = "" }'))
    with pytest.raises(FlowError, match=r"line 9, key 'step 1.mistake\[0\].say': expected the "
                                        r"sentence the coach says"):
        load_flow(path)
    # An expectation is not a mistake: it has nothing to say.
    path.write_text(flow.replace("mistake = [MISTAKE]", "").replace(
        '{ event = "Unlocked" }', '{ event = "Unlocked", say = "x" }'))
    with pytest.raises(FlowError, match=r"expect\[0\].say': unknown key"):
        load_flow(path)
