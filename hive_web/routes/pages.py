"""The HTML: the dashboard shell (with its first snapshot inline), logging in and out, a health probe.

Logging in makes a session (``hive_web.sessions``) and sets its id as an
HttpOnly, SameSite=Strict cookie (Secure over https). Two ways in: paste the
token into ``/login``, or open a one-time link from `hive dashboard url`
(``/login?code=...``; the code is the daemon's, ``hive_core.logins``).
"""

from __future__ import annotations

from aiohttp import web

from hive_web.keys import DEPS, SESSIONS
from hive_web.readers.snapshot import gather
from hive_web.security import SESSION_COOKIE, request_auth, safe_next
from hive_web.sessions import MAX_AGE_SECONDS
from hive_web.views.html import inline_json, render
from hive_web.views.snapshot import snapshot_json

routes = web.RouteTableDef()
CODE_SPENT = (
    "this login link was already used or has expired (a link works once, for 5 minutes): "
    "run `hive dashboard url` for a new one"
)
BAD_LOGIN = "wrong token: paste the one in <state dir>/web-token, or use `hive dashboard url`"


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    snapshot = snapshot_json(await gather(request.app))
    html = render(
        "dashboard.html",
        csrf=request_auth(request).csrf,
        snapshot=inline_json(snapshot),
        retry_ms=deps.config.sse_retry_ms,
    )
    return _html(html)


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _login_page(target: str, error: str | None = None, status: int = 200) -> web.Response:
    return _html(render("login.html", error=error, next=safe_next(target)), status)


def _logged_in(request: web.Request, target: str) -> web.Response:
    """A new session's cookie, and on to ``target``.

    The hop is a same-origin page rather than a 303: when the link was opened
    from another site (a chat, a mail), a redirect would still count as that
    site's navigation and the browser would hold back the SameSite=Strict
    cookie on the first load of the dashboard.
    """
    session_id, _ = request.app[SESSIONS].create()
    response = _html(render("logged_in.html", target=target))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(MAX_AGE_SECONDS),
    )
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    code, target = request.query.get("code"), request.query.get("next", "/")
    if code is not None:
        if request.app[DEPS].logins.redeem(code):
            return _logged_in(request, safe_next(target))
        return _login_page(target, CODE_SPENT, status=401)
    if request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE, "")) is not None:
        raise web.HTTPSeeOther(safe_next(target))
    return _login_page(target)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    guard = request.app[DEPS].guard
    form = await request.post()
    target = str(form.get("next", "/"))
    if not guard.token_matches(str(form.get("token", ""))):
        return _login_page(target, BAD_LOGIN, status=401)
    return _logged_in(request, safe_next(target))


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    request.app[SESSIONS].revoke(request.cookies.get(SESSION_COOKIE, ""))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
