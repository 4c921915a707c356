"""`phone-tui screenshots` when the browser fails: a hung Chromium (whose helper keeps writing
to its profile after the main process is killed) or one that exits with an error ends in one
line and exit 2; nothing it started is left running, no profile folder is left behind, and
the pictures not yet started are not drawn. A fake `chromium` on PATH stands in for it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from phone_tui import cli
from phone_tui.errors import PngError
from phone_tui.flows.model import shipped_flows
from phone_tui.ui import png

# The fake browser: logs each start, then (FAKE_CHROMIUM=hang) forks a helper that keeps
# writing into --user-data-dir and never exits while the main process never ends either,
# or (fail) exits 1 with some stderr.
FAKE = """#!{python}
import os, sys, time
from pathlib import Path

log = Path(os.environ["FAKE_CHROMIUM_LOG"])
profile = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--user-data-dir=")))
with log.open("a") as out:
    out.write(f"start {{os.getpid()}} {{sys.argv[-1]}}\\n")
if os.environ["FAKE_CHROMIUM"] == "fail":
    sys.stderr.write("[1:1:ERROR:zygote_host] some noise\\nRunning as root without --no-sandbox\\n")
    sys.exit(1)
helper = os.fork()
if helper == 0:
    deadline = time.monotonic() + 30  # a safety net: the test kills it long before
    n = 0
    while time.monotonic() < deadline:
        try:
            (profile / "Default").mkdir(parents=True, exist_ok=True)
            (profile / "Default" / f"cache-{{n % 64}}").write_bytes(b"x" * 512)
        except OSError:
            pass
        n += 1
        if n % 256 == 0:
            time.sleep(0.001)
    os._exit(0)
with log.open("a") as out:
    out.write(f"helper {{helper}}\\n")
while True:
    time.sleep(1)
"""


def _gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for a reaper that is not ours counts)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.fixture
def fake_chromium(tmp_path, monkeypatch):
    """A fake `chromium` alone on PATH, TMPDIR in tmp_path, a short timeout; yields a function
    giving (svgs it was started on, helper pids). Kills any process it logged, by pid."""
    bin_dir, temp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    temp.mkdir()
    browser = bin_dir / "chromium"
    browser.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
    browser.chmod(0o755)
    log = tmp_path / "chromium.log"
    log.touch()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_CHROMIUM_LOG", str(log))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(png, "TIMEOUT", 0.5)

    def started() -> tuple[list[str], list[int]]:
        lines = [line.split() for line in log.read_text().splitlines()]
        return ([words[2] for words in lines if words[0] == "start"],
                [int(words[1]) for words in lines if words[0] == "helper"])

    started.temp = temp  # type: ignore[attr-defined]
    yield started
    lines = [line.split() for line in log.read_text().splitlines()]
    for pid in {int(words[1]) for words in lines}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _svgs(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = [folder / f"shot-{n}.svg" for n in range(count)]
    for path in paths:
        path.write_text('<svg viewBox="0 0 40 20"></svg>', encoding="utf-8")
    return paths


def _one_first_run_flow(monkeypatch) -> None:
    first_run = [p for p in shipped_flows() if p.stem == "screenshots-first-run"]
    monkeypatch.setattr("phone_tui.flows.model.shipped_flows", lambda: first_run)


def test_a_hung_browser_ends_in_one_line_and_leaves_no_process_or_profile(
        fake_chromium, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_CHROMIUM", "hang")
    _one_first_run_flow(monkeypatch)
    code = cli.main(["screenshots", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("phone-tui: error: ") and "took over 0.5 s to draw it" in err, err
    assert ".svg" in err  # names the picture
    starts, helpers = fake_chromium()
    assert 1 <= len(starts) <= png.JOBS and helpers
    assert all(_gone(pid) for pid in helpers), helpers
    assert not list(fake_chromium.temp.glob("phone-tui-chromium-*"))


def test_a_browser_that_fails_is_reported_once_and_later_pictures_are_not_started(
        fake_chromium, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CHROMIUM", "fail")
    svgs = _svgs(tmp_path / "out", 4)
    with pytest.raises(PngError) as raised:
        png.render_pngs(svgs, png.find_browser(), jobs=1)
    message = str(raised.value)
    assert message == (f"{svgs[0]}: {png.find_browser()} wrote no PNG "
                       "(exit 1: Running as root without --no-sandbox)")
    starts, _ = fake_chromium()
    assert starts == [svgs[0].resolve().as_uri()]  # the other three were never started
    assert not list(fake_chromium.temp.glob("phone-tui-chromium-*"))


def test_after_a_hang_the_pictures_not_yet_started_are_not_drawn(fake_chromium, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("FAKE_CHROMIUM", "hang")
    svgs = _svgs(tmp_path / "out", 6)
    with pytest.raises(PngError, match="took over 0.2 s"):
        png.render_pngs(svgs, png.find_browser(), jobs=2, timeout=0.2)
    starts, helpers = fake_chromium()
    assert len(starts) == 2 and len(helpers) == 2, starts
    assert all(_gone(pid) for pid in helpers)
    assert not list(fake_chromium.temp.glob("phone-tui-chromium-*"))


def test_a_browser_exiting_with_an_error_through_the_cli_is_one_line(
        fake_chromium, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_CHROMIUM", "fail")
    _one_first_run_flow(monkeypatch)
    code = cli.main(["screenshots", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "wrote no PNG (exit 1: Running as root without --no-sandbox)" in err


def test_no_folder_for_the_profile_is_a_png_error_naming_it(fake_chromium, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("FAKE_CHROMIUM", "fail")
    svg = _svgs(tmp_path / "out", 1)[0]
    missing = tmp_path / "no-such-tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    with pytest.raises(PngError, match="no folder for .* profile in .*no-such-tmp"):
        png.render_png(svg, png.find_browser())
    assert fake_chromium() == ([], [])
