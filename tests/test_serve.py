"""phone-tui serve: the app in a web browser through textual-serve, checked in real Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from phone_tui import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run installs Debian's chromium and sets this, so a missing browser fails CI, not skips.
REQUIRED = os.environ.get("PHONE_TUI_REQUIRE_BROWSER") == "1"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PIN = "482916"


def test_serve_runs_this_python_on_this_data_folder(tmp_path):
    args = cli.parser().parse_args(["--data-dir", str(tmp_path), "serve", "--demo",
                                    "--handsets", "3", "--deterministic"])
    command = cli.serve_command(args)
    assert command.startswith(sys.executable) and "-m phone_tui" in command
    assert f"--data-dir {tmp_path}" in command
    assert command.endswith("--deterministic demo --handsets 3")


def test_serve_warns_when_not_local_and_refuses_a_bad_port(tmp_path, monkeypatch, capsys):
    served = []

    class FakeServer:
        def __init__(self, command, host, port, title):  # noqa: ANN001
            served.append((host, port, title))

        def serve(self) -> None:
            pass

    import textual_serve.server

    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(tmp_path), "serve"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert served == [("0.0.0.0", 8000, "phone-tui"), ("127.0.0.1", 8000, "phone-tui")]
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--port", "70000"]) == 2
    assert "--port must be 1 to 65535" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set_up_locked(data_dir) -> None:
    """A handset with the default (RFC 9106) KDF, set up and locked: serve opens on Lock."""
    from phone_tui.core.clock import SystemClock
    from phone_tui.core.config import Settings
    from phone_tui.core.entropy import SystemEntropy
    from phone_tui.core.paths import resolve_paths
    from phone_tui.handset.device import load_device
    from phone_tui.handset.handset import Handset

    handset = Handset(resolve_paths(data_dir), Settings(), clock=SystemClock(),
                      entropy=SystemEntropy(), device=load_device())
    asyncio.run(handset.setup(PIN))
    handset.lock()


@pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="Debian's chromium is not "
                    "installed (.ci/run installs it)")
def test_the_lock_screen_in_a_real_browser_and_unlocking_there(tmp_path):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is required here (PHONE_TUI_REQUIRE_BROWSER=1)"
    _set_up_locked(tmp_path)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "phone_tui", "--data-dir", str(tmp_path),
                               "serve", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            screen: list[str] = []
            page.on("websocket", lambda ws: ws.on("framereceived", lambda data: screen.append(
                data if isinstance(data, str) else data.decode("utf-8", "replace"))))
            page.goto(f"http://127.0.0.1:{port}/")

            def wait_for(text: str) -> None:
                for _ in range(150):
                    if text in "".join(screen):
                        return
                    page.wait_for_timeout(200)
                raise AssertionError(f"{text!r} never reached the page")

            wait_for("Enter PIN")  # the lock screen, drawn by the app in the browser
            assert page.locator(".xterm").count() == 1
            page.locator(".xterm-helper-textarea").focus()  # keys, without a click on the pad
            screen.clear()
            page.keyboard.type(PIN)
            page.keyboard.press("Enter")
            wait_for("Messages")  # unlocked: the home screen's app grid
            page.screenshot(path=str(tmp_path / "browser.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
