"""The HTML: the dashboard shell (with its first snapshot inline), login, and a health probe."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
from aiohttp import web

from hive_web.keys import CONFIG, GUARD
from hive_web.security import SESSION_COOKIE
from hive_web.snapshot import build_snapshot

routes = web.RouteTableDef()
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
)


def render(template: str, **context: object) -> str:
    return _env.get_template(template).render(**context)


def inline_json(data: object) -> str:
    """JSON safe inside <script type="application/json"> (no '</script>' breakout)."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    snapshot = await build_snapshot(request.app)
    html = render(
        "dashboard.html",
        csrf=request.app[GUARD].csrf_token,
        snapshot=inline_json(snapshot),
        retry_ms=request.app[CONFIG].sse_retry_ms,
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
    guard = request.app[GUARD]
    form = await request.post()
    token = str(form.get("token", ""))
    if not guard.token_matches(token):
        html = render("login.html", error="wrong token: use the one `hive serve` printed")
        return web.Response(text=html, content_type="text/html", status=401)
    response = web.HTTPSeeOther("/")
    response.set_cookie(SESSION_COOKIE, guard.session_value, httponly=True, samesite="Strict", path="/")
    raise response
