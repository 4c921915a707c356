from __future__ import annotations

import subprocess
import sys

import pytest

import phone_tui
from phone_tui.cli import main


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_version_via_python_m():
    done = subprocess.run([sys.executable, "-m", "phone_tui", "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"phone-tui {phone_tui.__version__}"


def test_a_plain_start_makes_no_subcommand_parsers_and_every_other_use_gets_them():
    """Start-up parses only the top level's options (the ten subcommand parsers were about
    12 M instructions of every start: benchmarks/startup.py); a command, help or an unknown
    word still meet the full parser, and COMMANDS names every subcommand it has."""
    from phone_tui.cli import COMMANDS, parser

    plain = parser()
    args = plain.parse_args(["--data-dir", "/tmp/x", "--persona", "open"])
    assert args.command is None and args.persona == "open" and plain.add_commands is not None
    full = parser()
    assert full.parse_args(["--data-dir", "/tmp/x", "demo", "--handsets", "3"]).handsets == 3
    assert full.add_commands is None
    (choices,) = [action.choices for action in full._actions if action.dest == "command"]
    assert set(choices) == COMMANDS
    assert "screenshots" in parser().format_help()


@pytest.mark.parametrize("argv", [["--bogus"], ["--persona", "android"], ["--log-level", "x"],
                                  ["frobnicate"], ["reset", "--force"]])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("phone-tui: error: ")


def test_unknown_theme_is_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "--theme", "neon")
    assert code == 2
    assert "unknown theme 'neon'" in err and "high-contrast" in err


@pytest.mark.parametrize("command", [[], ["demo"]])
def test_a_data_dir_that_is_a_file_is_one_line_exit_2_and_the_file_is_kept(capsys, tmp_path,
                                                                           command):
    """From the new-user review: `--data-dir FILE` ended in a NotADirectoryError traceback."""
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    for folder in (afile, afile / "deeper"):
        code, _, err = run(capsys, *command, "--data-dir", str(folder))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(afile) in err and "not a folder" in err or "in the way" in err, err
    assert afile.read_text() == "mine"


def test_paths_follow_data_dir_and_env(capsys, tmp_path, monkeypatch):
    code, out, _ = run(capsys, "paths", "--data-dir", str(tmp_path))
    assert code == 0
    assert f"settings        {tmp_path}/settings.toml" in out
    monkeypatch.setenv("PHONE_TUI_HOME", str(tmp_path / "env"))
    _, out, _ = run(capsys, "paths")
    assert f"{tmp_path}/env/data" in out


def test_malformed_settings_stop_the_app_with_file_line_and_key(capsys, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text('theme = "open"\nwipe_after_failures = "ten"\n')
    code, _, err = run(capsys, "--data-dir", str(tmp_path))
    assert code == 2
    assert err.strip() == (f"phone-tui: error: {settings}, line 2, key 'wipe_after_failures': "
                           "expected an integer, got a string")
    assert settings.read_text() == 'theme = "open"\nwipe_after_failures = "ten"\n'


def test_damaged_keystore_stops_the_app_naming_the_file_and_is_kept(capsys, tmp_path):
    keystore = tmp_path / "data" / "personas" / "secure" / "keystore.bin"
    keystore.parent.mkdir(parents=True)
    keystore.write_bytes(b"PTKS\x01" + b"\x00" * 40)
    code, _, err = run(capsys, "--data-dir", str(tmp_path))
    assert code == 2
    assert str(keystore) in err and "truncated" in err
    assert keystore.read_bytes() == b"PTKS\x01" + b"\x00" * 40


def test_reset_without_yes_off_a_terminal_refuses(capsys, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115
    code, _, err = run(capsys, "reset", "--data-dir", str(tmp_path))
    assert code == 2 and "--yes" in err
    assert (tmp_path / "data").exists()


def test_reset_yes_wipes_data_and_logs_but_keeps_settings(capsys, tmp_path):
    (tmp_path / "data" / "personas").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    (tmp_path / "settings.toml").write_text('theme = "open"\n')
    code, out, _ = run(capsys, "reset", "--yes", "--data-dir", str(tmp_path))
    assert code == 0
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()
    assert (tmp_path / "settings.toml").read_text() == 'theme = "open"\n'


def test_reset_asks_and_cancels(capsys, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    code, out, _ = run(capsys, "reset", "--data-dir", str(tmp_path))
    assert code == 1 and "nothing was deleted" in out
    assert (tmp_path / "data").exists()


def test_model_layers_do_not_import_textual():
    code = ("import sys, phone_tui.handset.handset, phone_tui.crypto.keystore, "
            "phone_tui.store.database, phone_tui.core.config; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


async def test_deterministic_mode_says_so_and_logs_no_pin(tmp_path):
    from phone_tui.cli import build_app, parser
    from phone_tui.testing import TEST_PIN, enter_pin, settle

    args = parser().parse_args(["--deterministic", "--log-level", "debug",
                                "--data-dir", str(tmp_path)])
    app = build_app(args, str(tmp_path))
    assert not app.handset.entropy.secure
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert "DETERMINISTIC — NOT SECURE" in str(app.query_one("#deterministic-banner").render())
        await enter_pin(pilot, TEST_PIN)
        await enter_pin(pilot, TEST_PIN)
        await pilot.click("#duress-skip")
        await settle(pilot)
        await pilot.press("ctrl+l")
        await enter_pin(pilot, "555111")
    log = (tmp_path / "logs" / "phone-tui.log").read_text()
    assert "set up" in log and "locked (user)" in log and "wrong PIN" in log
    assert TEST_PIN not in log and "555111" not in log
    assert oct((tmp_path / "logs" / "phone-tui.log").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("text", "pattern"), [
    ('[profiles.sat]\nlatency_ms = 600\njitter_ms = 10\nloss = 3\ndown_kbps = 1\nup_kbps = 1\n',
     r"key 'profiles.sat.loss': expected a probability"),
    ('airplane = "yes"\n', r"line 1, key 'airplane': expected a boolean"),
])
def test_bad_link_settings_stop_the_app(capsys, tmp_path, text, pattern):
    import re

    (tmp_path / "settings.toml").write_text(text)
    code, _, err = run(capsys, "--data-dir", str(tmp_path))
    assert code == 2 and re.search(pattern, err), err


def test_a_second_phone_tui_on_the_same_data_folder_is_refused(tmp_path, capsys, monkeypatch):
    """Two processes on one folder would both write its keystores, stores and mailbox."""
    from phone_tui.core.instance import DEMO_LOCK_NAME, LOCK_NAME, only_instance
    from phone_tui.ui.app import PhoneApp
    from phone_tui.ui.stage_app import StageApp

    def never(_app):  # noqa: ANN001, ANN202
        raise AssertionError("the UI must not start")

    monkeypatch.setattr(PhoneApp, "run", never)
    monkeypatch.setattr(StageApp, "run", never)
    data = tmp_path / "data"
    for name, argv in ((LOCK_NAME, []), (DEMO_LOCK_NAME, ["demo"])):
        with only_instance(data, name):  # the first phone-tui, still running
            assert main(["--data-dir", str(tmp_path), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "in use by another phone-tui" in err
    # The phone and the stage are separate: one of each may run on the same folder.
    with only_instance(data, DEMO_LOCK_NAME), only_instance(data, LOCK_NAME):
        pass


@pytest.mark.parametrize("command", [[], ["demo"]])
def test_a_record_folder_that_is_a_file_or_open_to_others_is_one_line_exit_2(capsys, tmp_path,
                                                                              command):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    for folder, said in ((afile, "not a folder"), (afile / "deeper", "--record"),
                         (shared, "chmod 700")):
        code, _, err = run(capsys, *command, "--data-dir", str(tmp_path / "data"),
                           "--record", str(folder))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert said in err, err
    assert afile.read_text() == "mine"


def test_record_with_a_command_that_makes_no_calls_is_one_line_exit_2(capsys, tmp_path):
    """From the new-user review: `--record DIR paths` was accepted and did nothing."""
    code, _, err = run(capsys, "--record", str(tmp_path / "rec"), "paths")
    assert code == 2 and "--record goes with phone-tui or phone-tui demo, not paths" in err
    assert not (tmp_path / "rec").exists()
