"""The HTML: the dashboard shell (with its first snapshot inline), login, and a health probe."""

from __future__ import annotations

from aiohttp import web

from hive_web.keys import DEPS
from hive_web.readers.snapshot import gather
from hive_web.security import SESSION_COOKIE
from hive_web.views.html import inline_json, render
from hive_web.views.snapshot import snapshot_json

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    snapshot = snapshot_json(await gather(request.app))
    html = render(
        "dashboard.html",
        csrf=deps.guard.csrf_token,
        snapshot=inline_json(snapshot),
        retry_ms=deps.config.sse_retry_ms,
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/login")
async def login_page(_request: web.Request) -> web.Response:
    return web.Response(text=render("login.html", error=None), content_type="text/html")


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    guard = request.app[DEPS].guard
    form = await request.post()
    token = str(form.get("token", ""))
    if not guard.token_matches(token):
        html = render("login.html", error="wrong token: use the one `hive serve` printed")
        return web.Response(text=html, content_type="text/html", status=401)
    response = web.HTTPSeeOther("/")
    response.set_cookie(SESSION_COOKIE, guard.session_value, httponly=True, samesite="Strict", path="/")
    raise response
