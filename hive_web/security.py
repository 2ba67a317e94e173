"""Who may talk to the dashboard, and which requests may change anything.

Upstream's dashboard had no authentication at all. Ours:

- binds 127.0.0.1 unless told otherwise;
- keeps a bearer token (generated on first start, 0600 in the state dir).
  When bound to a non-loopback address every request needs it, either as
  ``Authorization: Bearer …`` (curl, scripts) or as the session cookie the
  login form sets (browsers cannot add headers to page loads);
- on loopback, refuses foreign ``Host`` headers (DNS rebinding);
- every state-changing request from a browser must come from our own Origin
  *and* carry the CSRF token embedded in the page. A request that proves
  itself with the bearer header skips that: browsers never attach it on
  their own, so it cannot be forged cross-site;
- webhooks (``/hooks/``) skip the token and CSRF checks, which their sender
  (Forgejo) cannot pass: each one verifies the HMAC signature of its body
  instead (``hive_web.routes.hooks``), and answers nothing useful without it.

The cookie and the CSRF token are HMACs of the token, so nothing else needs
storing and both stay valid across restarts until the token file changes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from hive_kit.errors import PermanentError

log = logging.getLogger(__name__)

TOKEN_FILE = "web-token"  # noqa: S105 - a file name, not a secret
SESSION_COOKIE = "hive_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz")
HOOK_PREFIX = "/hooks/"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The dashboard token and whether it was created now (so `hive serve` shows it once)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _existing_token(path), False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token, True


def _existing_token(path: Path) -> str:
    return read_private(path, "token", "delete it and restart `hive serve`")


def read_private(path: Path, what: str, fix: str) -> str:
    """A secret kept in a 0600 file: looser modes are tightened (and logged); too short is refused."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); tightened to 0600", path, mode)
        path.chmod(0o600)
    value = path.read_text().strip()
    if len(value) < 16:
        raise PermanentError(f"{path} holds no usable {what}; {fix}")
    return value


@dataclass(frozen=True)
class Guard:
    """The token and what is derived from it, plus whether it is required."""

    token: str
    require_token: bool
    loopback: bool

    def _derive(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def csrf_token(self) -> str:
        return self._derive("csrf")

    @property
    def session_value(self) -> str:
        return self._derive("session")

    def bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)

    def session_ok(self, request: web.Request) -> bool:
        return hmac.compare_digest(request.cookies.get(SESSION_COOKIE, ""), self.session_value)

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip(), self.token)


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def host_problem(request: web.Request, guard: Guard) -> str | None:
    """Why a request's Host header is refused on a loopback bind (DNS rebinding), or None."""
    if not guard.loopback:
        return None
    hostname = urlsplit(f"//{request.host}").hostname or ""
    if is_loopback(hostname):
        return None
    return f"Host {request.host!r} is not this dashboard; open it as http://127.0.0.1:<port>/"


def auth_problem(request: web.Request, guard: Guard) -> str | None:
    """Why a request is not authenticated, or None."""
    if request.headers.get("Authorization") and not guard.bearer_ok(request):
        return "wrong token: use the token `hive serve` printed (also in <state dir>/web-token)"
    if not guard.require_token or request.path.startswith(PUBLIC_PREFIXES):
        return None
    if guard.bearer_ok(request) or guard.session_ok(request):
        return None
    return "this dashboard needs its token: log in at /login or send 'Authorization: Bearer <token>'"


def origin_problem(request: web.Request) -> str | None:
    """Why a state-changing request's Origin is refused, or None."""
    origin = request.headers.get("Origin") or _referer_origin(request.headers.get("Referer", ""))
    if not origin:
        return "missing Origin header: state-changing requests must come from the dashboard page"
    expected = f"{request.scheme}://{request.host}"
    if origin != expected:
        return f"cross-origin request from {origin} refused (this dashboard is {expected})"
    return None


def _referer_origin(referer: str) -> str:
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


async def csrf_problem(request: web.Request, guard: Guard) -> str | None:
    """Why a state-changing request fails the Origin and CSRF checks, or None."""
    if request.method in SAFE_METHODS or guard.bearer_ok(request):
        return None
    why = origin_problem(request)
    if why is not None:
        return why
    if request.path == "/login":
        return None  # the token itself is the proof; no page (and no CSRF token) exists yet
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type == "application/x-www-form-urlencoded":
        sent = str((await request.post()).get("csrf", ""))
    if not sent:
        return f"missing CSRF token ({CSRF_HEADER} header): reload the dashboard and try again"
    if not hmac.compare_digest(sent, guard.csrf_token):
        return "wrong CSRF token: reload the dashboard and try again"
    return None


def security_middleware(guard: Guard) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        why = host_problem(request, guard)
        if why is not None:
            raise web.HTTPMisdirectedRequest(text=why)
        if request.path.startswith(HOOK_PREFIX):
            return _hardened(await handler(request))  # signed, not token-authenticated
        why = auth_problem(request, guard)
        if why is not None:
            if _wants_html(request) and not request.headers.get("Authorization"):
                raise web.HTTPSeeOther("/login")
            raise web.HTTPUnauthorized(text=why, headers={"WWW-Authenticate": 'Bearer realm="hyperhive"'})
        why = await csrf_problem(request, guard)
        if why is not None:
            raise web.HTTPForbidden(text=why)
        return _hardened(await handler(request))

    return middleware


def _hardened(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
