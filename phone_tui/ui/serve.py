"""``phone-tui serve``: textual-serve's server, open only to whoever holds the token it prints.

The page needs ``?token=``; the page renders the WebSocket's URL as ``/ws/<token>`` (its script
appends ``?width=…``, so the token rides in the path). The token stays in the URL rather than in a
cookie because browsers send a cookie for 127.0.0.1 to every port on it: another local user's
server on another port would receive it. Every request must name this server in Host (the DNS
rebinding defence), and the WebSocket must come from the page's own Origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import socket
from typing import Any

import aiohttp_jinja2
from aiohttp import hdrs, web
from textual_serve.server import Server, to_int

log = logging.getLogger("phone_tui.serve")

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of the wildcard binds, not a bind
_LINK = re.compile(r"<link[^>]*href=\"(?P<href>[^\"]*)\"[^>]*>", re.S)
REFUSAL = "Refused: open the URL printed by phone-tui serve, with its token.\n"


def new_token() -> str:
    """32 random bytes, URL-safe (as Jupyter's token)."""
    return secrets.token_urlsafe(32)


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def host_allowed(header: str | None, bound_host: str, port: int) -> bool:
    """Whether a request's Host header names this server: the bound host and port, or for a
    loopback bind any loopback form. A name that only resolves here (DNS rebinding) is refused.
    A wildcard bind accepts IP literals and this machine's own names."""
    if not header:
        return False
    name, sep, given_port = header.lower().rpartition(":")
    if not sep or "]" in given_port:  # no port: only the default port of http
        name, given_port = header.lower(), "80"
    if given_port != str(port):
        return False
    name = name.strip("[]")
    bound = bound_host.lower()
    if bound in LOOPBACK_NAMES:
        return name in LOOPBACK_NAMES
    if bound in WILDCARDS:
        return _is_ip(name) or name in LOOPBACK_NAMES or name in _own_names()
    return name == bound.strip("[]")


def _own_names() -> set[str]:
    return {socket.gethostname().lower(), socket.getfqdn().lower()}


class TokenServer(Server):
    """textual-serve's Server behind a token, a Host check and an Origin check."""

    def __init__(self, command: str, host: str, port: int, title: str,
                 token: str | None = None) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token or new_token()

    @property
    def url(self) -> str:
        """The address to open, token included: printed once, for the owner only."""
        return f"http://{url_host(self.host)}:{self.port}/?token={self.token}"

    def initialize_logging(self) -> None:
        super().initialize_logging()
        # aiohttp's access log writes each request line at INFO, and those carry the token.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        # textual-serve prints its logo and a token-less URL here; the CLI prints the real one.
        pass

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.router.add_get("/ws/{token}", self.handle_websocket, name="session_websocket")
        app.middlewares.append(self._guard)
        return app

    def _token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def _refusal(self, request: web.Request, reason: str) -> web.Response:
        # The reason never carries the token or the path (a right token can be in the path).
        log.warning("refused a request from %s: %s", request.remote, reason)
        return web.Response(status=403, text=REFUSAL,
                            headers={"Cache-Control": "no-store"})

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        if not host_allowed(host, self.host, self.port):
            return self._refusal(request, "Host does not name this server")
        resource = request.match_info.route.resource
        name = resource.name if resource is not None else None
        if name == "index":
            if not self._token_ok(request.query.get("token", "")):
                return self._refusal(request, "page without the right token")
        elif name == "session_websocket":
            if not self._token_ok(request.match_info["token"]):
                return self._refusal(request, "WebSocket without the right token")
            origin = request.headers.get(hdrs.ORIGIN)
            if origin is None:
                return self._refusal(request, "WebSocket without an Origin")
            if origin.lower() != f"http://{host}".lower():
                return self._refusal(request, "WebSocket from another origin")
        elif name in ("websocket", "download"):
            # The token-less /ws, and downloads (phone-tui delivers no files; the page opens
            # /download/<key> without the token).
            return self._refusal(request, f"{name} without the token")
        # static: textual-serve's own script, stylesheet and fonts, no secret in them.
        return await handler(request)

    async def handle_index(self, request: web.Request) -> web.Response:
        """The page, with URLs on the host the browser used (so its WebSocket is same-origin)."""
        host = request.headers[hdrs.HOST]
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"ws://{host}/ws/{self.token}",
            "config": {"static": {"url": f"http://{host}/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        # textual-serve's page links a web font from Google: that would tell a third party
        # that (and when) a secure-phone demo is served. The page uses its fallback fonts.
        own = f"http://{host}/"
        response.text = _LINK.sub(
            lambda link: link[0] if link["href"].startswith(own) else "", response.text)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        # Nothing but this server, should a later textual-serve link anything else.
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'self' 'unsafe-inline'; "
            f"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            f"connect-src 'self' ws://{host}; frame-ancestors 'none'")
        return response
