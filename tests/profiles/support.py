"""Test support for the profile tests: a tiny HTTP server on 127.0.0.1 that records what
the browser sent (and can act as an HTTP proxy), and shared types."""

from __future__ import annotations

import base64
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext

PROXY_USER = "proxyuser"
PROXY_PASSWORD = "proxy-secret"


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]


@dataclass
class Site:
    """What the local server saw. ``origin`` is ``http://127.0.0.1:<port>``."""

    origin: str
    requests: list[Request] = field(default_factory=list)

    def last(self, path: str) -> Request:
        return next(r for r in reversed(self.requests) if urlsplit(r.target).path == path)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in (header or "").split(";") if part.strip())
    return {name: value for name, _, value in pairs}


PROBE_PAGE = b"<!doctype html><title>probe</title><p id=ok>ok</p>"
# X's real logged-out /home sends the browser to the login flow from script.
CLIENT_REDIRECT_PAGE = (
    b"<!doctype html><title>home</title><script>setTimeout(() =>"
    b" location.replace('/i/flow/login?redirect_after_login=%2Fhome'), 100)</script>"
)


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.site.requests.append(Request("GET", self.path, headers))
        if self.path.startswith("http://"):
            self._proxy(headers)
            return
        path = urlsplit(self.path).path
        cookies = parse_cookie_header(headers.get("cookie"))
        if path == "/":  # a Facebook look-alike: logged-out sessions go to /login/
            c_user = cookies.get("c_user")
            if c_user == "checkpoint":
                self._redirect("/checkpoint/1501/")
            elif c_user != "valid":
                self._redirect("/login/?next=%2F")
            else:
                self._send(200, PROBE_PAGE)
        elif path == "/home":  # an X look-alike
            if cookies.get("auth_token") == "valid":
                self._send(200, PROBE_PAGE)
            else:
                self._send(200, CLIENT_REDIRECT_PAGE)
        else:
            self._send(200, PROBE_PAGE)

    def _proxy(self, headers: dict[str, str]) -> None:
        auth = headers.get("proxy-authorization", "")
        expected = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
        if auth != f"Basic {expected}":
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, b"<!doctype html><title>proxied</title><p id=ok>via proxy</p>")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


Launch = Callable[..., Awaitable[BrowserContext]]
"""``await launch(profile, settings=None)`` -> a persistent context (see the fixture)."""


def start_site() -> tuple[ThreadingHTTPServer, Site]:
    """Serve on 127.0.0.1 in a daemon thread; stop with ``server.shutdown()``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    recorded = Site(origin=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"site": recorded})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, recorded
