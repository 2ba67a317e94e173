"""Who may talk to the dashboard, and which requests may change anything.

Upstream's dashboard had no authentication at all. Ours, on every bind
(loopback included: any local process, an agent's shell among them, can
reach 127.0.0.1):

- keeps a bearer token (generated on first start, 0600 in the state dir);
- authenticates every request except the login page and static assets:
  either ``Authorization: Bearer <token>`` (curl, scripts) or a session
  cookie (``hive_web.sessions``: a random id the daemon keeps, set when a
  browser logs in with the token or a one-time link from `hive dashboard
  url`). Unauthenticated API requests get 401 JSON; page loads go to the
  login page;
- on loopback, refuses foreign ``Host`` headers (DNS rebinding);
- every state-changing request from a browser must come from our own Origin
  *and* carry its session's CSRF token (embedded in the page). A request
  that proves itself with the bearer header skips that: browsers never attach
  it on their own, so it cannot be forged cross-site;
- webhooks (``/hooks/``) skip the token and CSRF checks, which their sender
  (Forgejo) cannot pass: each one verifies the HMAC signature of its body
  instead (``hive_web.routes.hooks``), and answers nothing useful without it.
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
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from hive_kit.errors import PermanentError
from hive_web.sessions import Session, Sessions

log = logging.getLogger(__name__)

TOKEN_FILE = "web-token"  # noqa: S105 - a file name, not a secret
SESSION_COOKIE = "hive_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS = frozenset({"/login"})
PUBLIC_PREFIXES = ("/static/",)
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
    """The token, and whether the dashboard is bound to loopback (then the Host header is checked)."""

    token: str
    loopback: bool

    @property
    def fingerprint(self) -> str:
        """Names this token without revealing it: sessions made under another token are void."""
        return hmac.new(self.token.encode(), b"sessions", hashlib.sha256).hexdigest()

    def bearer(self, request: web.Request) -> bool | None:
        """True for the right bearer token, False for a wrong one, None when none was sent."""
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip(), self.token)


@dataclass(frozen=True)
class Auth:
    """How a request proved itself: the bearer token, or a session (with its CSRF token)."""

    session: Session | None  # None: the bearer header

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else ""


AUTH: web.RequestKey[Auth] = web.RequestKey("auth", Auth)


def request_auth(request: web.Request) -> Auth:
    """The authentication the middleware found (every route but the public ones has one)."""
    return request[AUTH]


def is_public(path: str) -> bool:
    """The login page, static assets and signed webhooks: reachable without a session."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or path.startswith(HOOK_PREFIX)


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


BAD_BEARER = "wrong token: use the token in <state dir>/web-token, or log in with `hive dashboard url`"
NOT_LOGGED_IN = (
    "not logged in: open the link `hive dashboard url` prints, log in at /login with the token "
    "in <state dir>/web-token, or send 'Authorization: Bearer <token>'"
)


def authenticate(request: web.Request, guard: Guard, sessions: Sessions) -> Auth | str:
    """The request's ``Auth``, or why it has none."""
    bearer = guard.bearer(request)
    if bearer is not None:
        return Auth(None) if bearer else BAD_BEARER
    session = sessions.get(request.cookies.get(SESSION_COOKIE, ""))
    return Auth(session) if session is not None else NOT_LOGGED_IN


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


async def csrf_problem(request: web.Request, auth: Auth) -> str | None:
    """Why a state-changing request fails the Origin and CSRF checks, or None."""
    if request.method in SAFE_METHODS or auth.session is None:
        return None  # reads, and the bearer header (which no browser sends by itself)
    why = origin_problem(request)
    if why is not None:
        return why
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type == "application/x-www-form-urlencoded":
        sent = str((await request.post()).get("csrf", ""))
    if not sent:
        return f"missing CSRF token ({CSRF_HEADER} header): reload the dashboard and try again"
    if not hmac.compare_digest(sent, auth.session.csrf):
        return "wrong CSRF token: reload the dashboard and try again"
    return None


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    """To the login page, coming back to this page afterwards."""
    target = request.path_qs
    if target in ("", "/"):
        return web.HTTPSeeOther("/login")
    return web.HTTPSeeOther(f"/login?{urlencode({'next': target})}")


def safe_next(raw: str) -> str:
    """Where to go after logging in: a path on this dashboard, never another site."""
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw or any(ord(c) < 32 for c in raw):
        return "/"
    return raw


def security_middleware(guard: Guard, sessions: Sessions) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        why = host_problem(request, guard)
        if why is not None:
            raise web.HTTPMisdirectedRequest(text=why)
        if is_public(request.path):
            if request.method not in SAFE_METHODS and not request.path.startswith(HOOK_PREFIX):
                why = origin_problem(request)  # the login form: the token is the proof, no CSRF yet
                if why is not None:
                    raise web.HTTPForbidden(text=why)
            return _hardened(await handler(request))  # webhooks check their own signature
        auth = authenticate(request, guard, sessions)
        if isinstance(auth, str):
            if _wants_html(request) and not request.headers.get("Authorization"):
                raise login_redirect(request)
            raise web.HTTPUnauthorized(text=auth, headers={"WWW-Authenticate": 'Bearer realm="hyperhive"'})
        why = await csrf_problem(request, auth)
        if why is not None:
            raise web.HTTPForbidden(text=why)
        request[AUTH] = auth
        return _hardened(await handler(request))

    return middleware


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _hardened(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response
