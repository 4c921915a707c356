"""Every file phone-tui reads can be damaged: one line naming the file (and key, and line where
TOML gives one), exit 2 before the UI starts (or a notice when found later), no traceback, and
the file left byte for byte as it was."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phone_tui.cli import main
from phone_tui.core.resources import seeds_dir
from phone_tui.errors import ConfigError

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "deep = " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.fixture
def cli(capsys, monkeypatch):
    """``cli(*argv)`` → (exit code, stdout, stderr); starting a UI fails the test."""
    from phone_tui.ui.app import PhoneApp
    from phone_tui.ui.stage_app import StageApp

    def no_ui(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise AssertionError("the UI started on a damaged file")

    monkeypatch.setattr(PhoneApp, "run", no_ui)
    monkeypatch.setattr(StageApp, "run", no_ui)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def refused(result: tuple[int, str, str], path: Path, *needles: str) -> str:
    """Exit 2 with exactly one line on stderr, naming ``path`` and each needle; no traceback."""
    code, _out, err = result
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("phone-tui: error: "), err
    assert "Traceback" not in err
    assert str(path) in err, err
    for needle in needles:
        assert needle in err, err
    return err


def put(path: Path, data: str | bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(raw)
    return raw


def copied_seeds(tmp_path: Path, monkeypatch, *modules: str) -> Path:
    """A copy of seeds/ that ``modules`` (dotted names) read instead of the shipped one."""
    folder = tmp_path / "seeds"
    shutil.copytree(seeds_dir(), folder)
    for module in modules:
        monkeypatch.setattr(f"{module}.seeds_dir", lambda: folder)
    return folder


# ---- sim.json ------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    ("{bad", "line 1"),
    ("[]", "expected a JSON object"),
    ("null", "expected a JSON object"),
    ('{"numbers": {"secure": "+86 190 1111 2222", "open": "+86 190 1111 2222"}}',
     "key 'numbers'"),
    ('{"numbers": {"secure": 5}}', "key 'numbers'"),
    ('{"numbers": {"secure": "+86 190 1111 2222", "open": NaN}}', "key 'numbers.open'"),
])
def test_a_damaged_sim_file_stops_the_app_before_the_ui_and_is_kept(cli, tmp_path, content,
                                                                     needle):
    sim = tmp_path / "data" / "sim.json"
    before = put(sim, content)
    refused(cli("--data-dir", str(tmp_path)), sim, needle)
    assert sim.read_bytes() == before


def test_a_damaged_sim_file_of_a_stage_phone_stops_the_demo_before_the_ui(cli, tmp_path):
    sim = tmp_path / "data" / "demo" / "phone-2" / "data" / "sim.json"
    before = put(sim, "[]")
    refused(cli("--data-dir", str(tmp_path), "demo"), sim)
    assert sim.read_bytes() == before


def test_a_damaged_sim_file_in_a_real_run_is_one_line_and_exit_2(tmp_path):
    sim = tmp_path / "data" / "sim.json"
    before = put(sim, "{bad")
    done = subprocess.run([sys.executable, "-m", "phone_tui", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and str(sim) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sim.read_bytes() == before


# ---- deep nesting (RecursionError) -----------------------------------------------------------

def test_deeply_nested_settings_stop_the_app(cli, tmp_path):
    settings = tmp_path / "settings.toml"
    before = put(settings, DEEP_TOML)
    refused(cli("--data-dir", str(tmp_path)), settings, "nested too deeply")
    assert settings.read_bytes() == before


def test_a_deeply_nested_user_theme_is_skipped_with_a_notice(tmp_path):
    from phone_tui.errors import ThemeError
    from phone_tui.ui.themes import load_themes

    theme = tmp_path / "themes" / "deep.toml"
    before = put(theme, DEEP_TOML)
    catalog = load_themes(theme.parent)
    assert "secure" in catalog.themes
    assert [type(p) for p in catalog.problems] == [ThemeError]
    assert str(theme) in str(catalog.problems[0])
    assert theme.read_bytes() == before


def test_a_deeply_nested_flow_is_refused_by_flow_check(cli, tmp_path):
    flow = tmp_path / "deep.toml"
    before = put(flow, DEEP_TOML)
    refused(cli("flow", "check", str(flow)), flow, "nested too deeply")
    assert flow.read_bytes() == before


@pytest.mark.parametrize("name", ["throttle.json", "policy.json"])
def test_a_deeply_nested_pin_counter_or_policy_stops_the_app(cli, tmp_path, name):
    path = tmp_path / "data" / "personas" / "secure" / name
    before = put(path, DEEP_JSON)
    refused(cli("--data-dir", str(tmp_path)), path, "nested too deeply")
    assert path.read_bytes() == before


def test_the_other_os_pin_policy_is_checked_at_start_up_too(cli, tmp_path):
    path = tmp_path / "data" / "personas" / "open" / "policy.json"
    before = put(path, '{"wipe_after_failures": true}')
    refused(cli("--data-dir", str(tmp_path)), path, "key 'wipe_after_failures'")
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv", [["train", "--report"], ["train"]])
def test_deeply_nested_training_results_are_one_line(cli, tmp_path, argv):
    path = tmp_path / "data" / "training" / "trainee.json"
    before = put(path, '{"attempts": ' + DEEP_JSON + "}")
    refused(cli(*argv, "--data-dir", str(tmp_path)), path, "nested too deeply")
    assert path.read_bytes() == before


# ---- wrong types and values -----------------------------------------------------------------

@pytest.mark.parametrize(("attempt", "key"), [
    ({"flow": "x", "title": "t", "steps": 3, "seconds": "slow", "finished": True},
     "attempts[0].seconds"),
    ({"flow": "x", "title": "t", "steps": 3, "hints": 1.5, "finished": True},
     "attempts[0].hints"),
    ({"flow": "x", "title": "t", "steps": 3, "seconds": 1e999, "finished": True},
     "attempts[0].seconds"),
    ({"flow": "x", "title": "t", "steps": 3, "mistakes": "many", "finished": True},
     "attempts[0].mistakes"),
])
def test_a_wrong_typed_training_value_is_one_line_naming_the_key(cli, tmp_path, attempt, key):
    path = tmp_path / "data" / "training" / "ann.json"
    before = put(path, json.dumps({"trainee": "ann", "attempts": [attempt]}))
    refused(cli("train", "--report", "--data-dir", str(tmp_path)), path, f"key '{key}'")
    assert path.read_bytes() == before


def test_a_damaged_progress_file_stops_training_before_the_ui(cli, tmp_path):
    path = tmp_path / "data" / "training" / "ann.json"
    before = put(path, '{"attempts": 5}')
    refused(cli("train", "train-first-unlock", "--trainee", "ann", "--data-dir",
                str(tmp_path)), path, "key 'attempts'")
    assert path.read_bytes() == before


def test_rule_5_in_a_contacts_file_names_the_file_key_and_line(tmp_path):
    from phone_tui.handset.contacts import load_contacts

    path = tmp_path / "contacts.toml"
    before = put(path, '[[contact]]\nname = "Desk"\nnumber = "+1 555"\nrule = 5\n')
    with pytest.raises(ConfigError) as caught:
        load_contacts(path)
    assert str(caught.value) == (f"{path}, line 4, key 'contact[0].rule': expected "
                                 '[[contact.rule]] tables (when = [...], reply = "...")')
    assert path.read_bytes() == before


@pytest.mark.parametrize("entry", ['echo = "yes"', "reply_delay_s = nan", "read_delay_s = inf",
                                   'rule = [{ when = ["help"], reply = "x", extra = 1 }]'])
def test_other_wrong_contact_values_are_refused(tmp_path, entry):
    from phone_tui.handset.contacts import load_contacts

    path = tmp_path / "contacts.toml"
    put(path, f'[[contact]]\nname = "Desk"\nnumber = "+1 555"\n{entry}\n')
    with pytest.raises(ConfigError, match=r"key 'contact\[0\]\."):
        load_contacts(path)


async def test_a_damaged_shipped_contacts_file_is_a_notice_in_the_app(app_factory, handset,
                                                                      tmp_path, monkeypatch):
    """Said when the contacts are read: at the first unlock, when the messenger needs them
    (the locked phone registers without them)."""
    from phone_tui.testing import TEST_PIN, enter_pin, notifications, set_up, settle

    seeds = copied_seeds(tmp_path, monkeypatch, "phone_tui.handset.contacts")
    contacts = seeds / "contacts.toml"
    before = put(contacts, '[[contact]]\nname = "Desk"\nnumber = "+1 555"\nrule = 5\n')
    await set_up(handset)
    app = app_factory(handset=handset)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await enter_pin(pilot, TEST_PIN)
        await settle(pilot)
        assert any(f"{contacts}, line 4, key 'contact[0].rule'" in text
                   for text in notifications(app)), notifications(app)
        assert handset.messenger is not None and app.bots == []  # no seeds, no bots
    assert contacts.read_bytes() == before


def test_persona_5_in_device_toml_stops_the_app(cli, tmp_path, monkeypatch):
    seeds = copied_seeds(tmp_path, monkeypatch, "phone_tui.handset.device")
    device = seeds / "device.toml"
    text = device.read_text()
    head = text[:text.index("[persona.secure]")]
    before = put(device, head + "persona = 5\n")
    err = refused(cli("--data-dir", str(tmp_path)), device, "key 'persona'")
    assert f"{device}, line {head.count(chr(10)) + 1}, key 'persona'" in err
    assert device.read_bytes() == before


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+inf"])
def test_a_nan_or_infinite_link_figure_in_settings_stops_the_app(cli, tmp_path, value):
    settings = tmp_path / "settings.toml"
    before = put(settings, f"[profiles.sat]\nlatency_ms = 600\njitter_ms = {value}\nloss = 0\n"
                           "down_kbps = 1\nup_kbps = 1\n")
    refused(cli("--data-dir", str(tmp_path)), settings,
            "line 3, key 'profiles.sat.jitter_ms'")
    assert settings.read_bytes() == before


@pytest.mark.parametrize("argv", [[], ["demo"]])
def test_a_nan_link_figure_in_the_shipped_profiles_stops_the_app(cli, tmp_path, monkeypatch,
                                                                 argv):
    seeds = copied_seeds(tmp_path, monkeypatch, "phone_tui.modem.profiles")
    profiles = seeds / "link_profiles.toml"
    text = profiles.read_text()
    start = text.index("[profiles.lte]")
    at = text.index("loss = ", start)
    end = text.index("\n", at)
    before = put(profiles, text[:at] + "loss = nan" + text[end:])
    line = text[:at].count("\n") + 1
    refused(cli("--data-dir", str(tmp_path), *argv), profiles,
            f"line {line}, key 'profiles.lte.loss'")
    assert profiles.read_bytes() == before


@pytest.mark.parametrize("last", ["NaN", "Infinity", "-Infinity", "1e999", '"soon"'])
def test_a_nan_last_failure_stops_the_app_instead_of_a_permanent_wait(cli, tmp_path, last):
    path = tmp_path / "data" / "personas" / "secure" / "throttle.json"
    before = put(path, f'{{"failures": 12, "last_failure": {last}}}')
    refused(cli("--data-dir", str(tmp_path)), path, "key 'last_failure'")
    assert path.read_bytes() == before


def test_a_nan_last_failure_is_refused_by_the_throttle_itself(tmp_path):
    from phone_tui.crypto.throttle import Throttle
    from phone_tui.errors import KeystoreCorrupt

    path = tmp_path / "throttle.json"
    put(path, '{"failures": 12, "last_failure": NaN}')
    with pytest.raises(KeystoreCorrupt, match="key 'last_failure'"):
        Throttle(path).load()


# ---- public.json: read after the first frame; a log line, never a crash or a rewrite ----------

@pytest.mark.parametrize("content", [DEEP_JSON, '{"bundle": "00", "one_time": []}', "[]",
                                     '{"bundle": "zz", "one_time": {}}',
                                     '{"bundle": "00", "one_time": {"x": "00"}}'],
                         ids=["deep", "one_time-list", "array", "bad-hex", "bad-key-id"])
def test_a_damaged_public_key_file_is_logged_and_kept(tmp_path, caplog, content):
    import random

    from phone_tui.modem.bus import Bus
    from phone_tui.modem.profiles import load_profiles
    from phone_tui.testing import make_handset

    phone = make_handset(tmp_path)
    public = phone.personas["secure"].folder / "public.json"
    before = put(public, content)
    bus = Bus(random.Random(7))
    with caplog.at_level(logging.WARNING):
        phone.attach(bus, load_profiles())
    assert not bus.has_keys(phone.line_number("secure"))
    assert any("public.json" in record.getMessage() for record in caplog.records)
    assert public.read_bytes() == before


# ---- stdout closed early ---------------------------------------------------------------------

@pytest.mark.parametrize(("command", "unbuffered"), [
    ("train | head -3", "1"), ("train | true", ""),
    ("train --report | true", ""), ("paths | true", "1"),
])
def test_a_reader_that_stops_early_gets_no_broken_pipe_traceback(tmp_path, command, unbuffered):
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    program, _, rest = command.partition(" | ")
    shell = (f"{sys.executable} -m phone_tui --data-dir {tmp_path} {program} | {rest}; "
             'echo "exit=${PIPESTATUS[0]}" >&2')
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.stderr.splitlines()[-1] in ("exit=0", "exit=141"), done.stderr
    assert done.stderr.splitlines()[:-1] == [], done.stderr
