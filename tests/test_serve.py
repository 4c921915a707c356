"""phone-tui serve: the app in a web browser through textual-serve, checked in real Chromium."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from phone_tui import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run installs Debian's chromium and sets this, so a missing browser fails CI, not skips.
REQUIRED = os.environ.get("PHONE_TUI_REQUIRE_BROWSER") == "1"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PIN = "482916"
# What phone-tui serve answers when it refuses (as in phone_tui/ui/serve.py, spelt out here).
REFUSAL = "Refused: open the URL printed by phone-tui serve, with its token.\n"


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
            self.url = f"http://{host}:{port}/?token=t0k3n"

        def serve(self) -> None:
            pass

    import phone_tui.ui.serve

    monkeypatch.setattr(phone_tui.ui.serve, "TokenServer", FakeServer)
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"]) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(tmp_path), "serve"]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err
    assert "http://127.0.0.1:8000/?token=t0k3n" in out
    assert served == [("0.0.0.0", 8000, "phone-tui"), ("127.0.0.1", 8000, "phone-tui")]
    assert cli.main(["--data-dir", str(tmp_path), "serve", "--port", "70000"]) == 2
    assert "--port must be 1 to 65535" in capsys.readouterr().err


def test_each_server_makes_its_own_32_byte_url_safe_token():
    from phone_tui.ui.serve import TokenServer

    first = TokenServer("true", host="127.0.0.1", port=8000, title="t")
    second = TokenServer("true", host="127.0.0.1", port=8000, title="t")
    assert first.token != second.token
    assert base64.urlsafe_b64decode(first.token + "=") and len(first.token) == 43
    assert first.url == f"http://127.0.0.1:8000/?token={first.token}"
    assert TokenServer("true", host="::1", port=80, title="t").url.startswith("http://[::1]:80/")


@pytest.mark.parametrize(("header", "bound", "allowed"), [
    ("127.0.0.1:8000", "127.0.0.1", True),
    ("localhost:8000", "127.0.0.1", True),
    ("[::1]:8000", "127.0.0.1", True),
    ("LOCALHOST:8000", "localhost", True),
    ("127.0.0.1:8001", "127.0.0.1", False),  # another server's port
    ("evil.example:8000", "127.0.0.1", False),  # DNS rebinding: a name that resolves here
    ("localhost.evil.example:8000", "127.0.0.1", False),
    ("127.0.0.1", "127.0.0.1", False),  # no port: port 80, not 8000
    ("", "127.0.0.1", False),
    (None, "127.0.0.1", False),
    ("192.0.2.7:8000", "192.0.2.7", True),
    ("localhost:8000", "192.0.2.7", False),
    ("192.0.2.7:8000", "0.0.0.0", True),  # a wildcard bind: any address of this machine
    ("evil.example:8000", "0.0.0.0", False),
])
def test_the_host_header_must_name_this_server(header, bound, allowed):
    from phone_tui.ui.serve import host_allowed

    assert host_allowed(header, bound, 8000) is allowed


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


class Served:
    """A running ``phone-tui serve``: its port, the URL it printed and everything it wrote."""

    def __init__(self, data_dir) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "phone_tui", "--data-dir", str(data_dir), "serve",
             "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            found = self._wait_until_serving(time.monotonic() + 30)
        except BaseException:
            self.stop()  # a server that did not come up must not outlive the test
            raise
        self.url = found.group(0)
        self.token = parse_qs(urlsplit(self.url).query).get("token", [""])[0]
        self.origin = f"http://127.0.0.1:{self.port}"

    def _wait_until_serving(self, deadline: float) -> re.Match[str]:
        """The port answers and the URL was read from the output (by the reader thread, which
        on a busy machine can come after the port opens, though serve prints it first)."""
        while True:
            found = re.search(r"http://\S+", "".join(self.output))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if found:
                    return found
            except OSError:
                assert self.process.poll() is None, "".join(self.output)
            assert time.monotonic() < deadline, f"the server did not start: {self.output}"
            time.sleep(0.2)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        return "".join(self.output)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("served")
    _set_up_locked(data_dir)
    server = Served(data_dir)
    try:
        yield server
    finally:
        server.stop()


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def _websocket_url(served: Served) -> str:
    """The WebSocket URL the page renders for a browser (today's page: /ws, no token)."""
    status, page = _get(served.url)
    assert status == 200
    return html.unescape(re.search(r'data-session-websocket-url="([^"]*)"', page).group(1))


def test_the_printed_url_carries_a_32_byte_token(served):
    assert served.url.startswith(f"http://127.0.0.1:{served.port}/?token=")
    assert len(base64.urlsafe_b64decode(served.token + "=")) == 32


@pytest.mark.parametrize("query", ["", "?token=", "?token=wrong", "?fontsize=16"])
def test_the_page_is_refused_without_the_right_token(served, query):
    status, body = _get(f"http://127.0.0.1:{served.port}/{query}")
    assert (status, body) == (403, REFUSAL)


def test_the_page_is_refused_with_a_token_one_character_off(served):
    off = served.token[:-1] + ("A" if served.token[-1] != "A" else "B")
    assert _get(served.url.replace(served.token, off))[0] == 403
    assert _get(served.url + "x")[0] == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost.evil.example:{port}"])
def test_the_page_is_refused_on_a_forged_host_even_with_the_token(served, host):
    status, body = _get(served.url, host=host.format(port=served.port))
    assert (status, body) == (403, REFUSAL)


def test_the_page_with_the_token_opens_the_websocket_with_the_token(served):
    for host in (f"127.0.0.1:{served.port}", f"localhost:{served.port}"):
        status, page = _get(served.url, host=host)
        assert status == 200
        assert f'data-session-websocket-url="ws://{host}/ws/{served.token}"' in page


async def _handshake(url: str, origin: str | None = None, host: str | None = None) -> int:
    """The HTTP status a WebSocket handshake gets (101 when the server accepts it)."""
    import aiohttp

    headers = {"Host": host} if host else {}
    async with aiohttp.ClientSession() as session:
        try:
            websocket = await session.ws_connect(url + "?width=80&height=24", origin=origin,
                                                 headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await websocket.close()
        return 101


async def test_the_websocket_from_a_foreign_origin_is_refused_even_with_the_token(served):
    url = _websocket_url(served)
    assert await _handshake(url, origin="http://evil.example") == 403
    assert await _handshake(url, origin=f"http://localhost:{served.port + 1}") == 403
    assert await _handshake(url, origin="null") == 403


async def test_the_websocket_without_an_origin_is_refused(served):
    assert await _handshake(_websocket_url(served)) == 403


async def test_the_websocket_on_a_forged_host_is_refused(served):
    url = _websocket_url(served)
    for host in ("evil.example", f"evil.example:{served.port}"):
        assert await _handshake(url, origin=f"http://{host}", host=host) == 403


async def test_the_websocket_without_the_right_token_is_refused(served):
    base = f"ws://127.0.0.1:{served.port}"
    assert await _handshake(f"{base}/ws", origin=served.origin) == 403  # textual-serve's own
    assert await _handshake(f"{base}/ws/wrong", origin=served.origin) == 403
    assert _get(f"http://127.0.0.1:{served.port}/download/anything")[0] == 403


async def test_the_websocket_with_the_token_from_the_page_origin_is_accepted(served):
    assert await _handshake(_websocket_url(served), origin=served.origin) == 101


async def test_the_token_is_printed_once_and_never_logged(tmp_path):
    server = Served(tmp_path)
    try:
        assert _get(server.url)[0] == 200
        assert _get(server.url + "x")[0] == 403
        assert _get(server.url, host="evil.example")[0] == 403
        assert await _handshake(_websocket_url(server), origin="http://evil.example") == 403
    finally:
        output = server.stop()
    assert server.token and output.count(server.token) == 1, output
    assert "refused" in output  # the owner sees that someone tried


def _launch(playwright, *extra: str):  # noqa: ANN202 - a Playwright Browser
    assert CHROMIUM is not None, "chromium is required here (PHONE_TUI_REQUIRE_BROWSER=1)"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *extra])


needs_browser = pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="Debian's "
                                   "chromium is not installed (.ci/run installs it)")


@needs_browser
def test_the_lock_screen_in_a_real_browser_and_unlocking_there(served, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        screen: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda data: screen.append(
            data if isinstance(data, str) else data.decode("utf-8", "replace"))))
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(served.url)

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
        # The page asks nothing of anyone but this server (textual-serve's template also asks
        # Google for a font; the Content-Security-Policy stops it).
        origin = served.url.split("/?")[0]
        assert f"{origin}/static/css/xterm.css" in requested
        assert requested and all(url.startswith((origin, origin.replace("http", "ws")))
                                 for url in requested), requested
        browser.close()


@needs_browser
def test_the_browser_gets_403_and_no_app_without_the_right_token(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        for url in (f"http://127.0.0.1:{served.port}/", served.url.replace(served.token, "x"),
                    served.url + "x"):
            response = page.goto(url)
            assert response.status == 403
            assert page.inner_text("body").strip() == REFUSAL.strip()
            page.wait_for_timeout(500)  # time for a page's script to open a socket, if any
            assert page.locator(".xterm").count() == 0
        assert sockets == []
        browser.close()


@needs_browser
def test_a_rebound_name_in_the_browser_is_refused_even_with_the_token(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # rebind.example resolves to 127.0.0.1, as an attacker's DNS would after rebinding.
        browser = _launch(playwright, "--host-resolver-rules=MAP rebind.example 127.0.0.1")
        page = browser.new_page()
        response = page.goto(f"http://rebind.example:{served.port}/?token={served.token}")
        assert response.status == 403
        assert page.locator(".xterm").count() == 0
        browser.close()


OPEN_WEBSOCKET = """url => new Promise(done => {
    const socket = new WebSocket(url + "?width=80&height=24");
    socket.onopen = () => { socket.close(); done("open"); };
    socket.onerror = () => done("refused");
    setTimeout(() => done("no answer"), 10000);
})"""


@contextlib.contextmanager
def _foreign_site():  # noqa: ANN202 - an Iterator[str]
    """Another local user's web page, on another port of this machine. (Chromium itself keeps a
    public site such as evil.example off loopback; the aiohttp tests above send its Origin.)"""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"<html><body>not yours</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


@needs_browser
def test_a_foreign_page_in_the_browser_cannot_open_the_websocket_even_with_the_token(served):
    from playwright.sync_api import sync_playwright

    websocket_url = _websocket_url(served)  # as if the token had leaked to the other page
    with _foreign_site() as foreign, sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page()
        page.goto(foreign)
        assert page.evaluate(OPEN_WEBSOCKET, websocket_url) == "refused"
        page.goto(served.url)  # the same script on the served page's own origin opens it
        assert page.evaluate(OPEN_WEBSOCKET, websocket_url) == "open"
        browser.close()
