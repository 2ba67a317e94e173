"""Who may use the agent page: loopback Host only (DNS rebinding), and no cross-site POSTs (CSRF).

The page binds 127.0.0.1 without a login, so the two ways a web page in the
operator's browser could reach it are refused: a rebound DNS name (wrong
`Host`) and a cross-site form POST (a foreign `Origin`). Requests without an
`Origin` (curl, the dashboard proxying server-side) are allowed; extra
browser origins (the dashboard, if it calls the page directly) come from
`HIVE_PAGE_ORIGINS`, comma-separated.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

ORIGINS_ENV = "HIVE_PAGE_ORIGINS"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_refusal(host: str, port: int) -> str | None:
    if host in {f"{name}:{port}" for name in _LOOPBACK}:
        return None
    return f"Host {host!r} is not this agent page; open it as http://127.0.0.1:{port}/"


def origin_refusal(method: str, origin: str | None, port: int, extra: frozenset[str]) -> str | None:
    if method in {"GET", "HEAD", "OPTIONS"} or not origin:
        return None
    allowed = {f"http://{name}:{port}" for name in _LOOPBACK} | extra
    if origin.rstrip("/") in allowed:
        return None
    return f"cross-site request from {origin!r} refused; add it to {ORIGINS_ENV} if it is the dashboard"


def _origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin
    referer = urlsplit(request.headers.get("Referer", ""))
    return f"{referer.scheme}://{referer.netloc}" if referer.netloc else origin


def guard_middleware(port: int) -> Middleware:
    extra = frozenset(o.strip().rstrip("/") for o in os.environ.get(ORIGINS_ENV, "").split(",") if o.strip())

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        why = host_refusal(request.host, port) or origin_refusal(
            request.method, _origin(request), port, extra
        )
        if why is not None:
            raise web.HTTPForbidden(text=why)
        return await handler(request)

    return guard
