"""The agent page's API: one aiohttp app per harness on a unix socket, ``page/page.sock``.

The harness serves data and actions only. The page itself is the
dashboard's (``hive_web``'s ``/agents/<name>/``): it forwards an allow-list
of these endpoints behind its own session, Origin and CSRF checks, so there
is one agent page, not a second plain one here.

Why a unix socket and no login: the socket sits in the agent's own socket
directory (``/run/hive/page/page.sock`` in the sandbox; on the host
``StateLayout.page_socket_for``), which only the daemon's user and the agent
can open. Nothing on the host network, no other agent and no browser can
reach it, and no TCP port is handed out (so none can collide or be taken).
The agent itself can reach it, and gains nothing it could not already do in
its own state dir as its own uid.

Endpoints (docs/harness.md documents payloads):

    GET  /api/state            status, turn state, model, usage, login, recent inbox, and `seq`
    GET  /events/stream        SSE, id = seq; resumes after Last-Event-ID (or ?after=) exactly once
    GET  /events/history       ?after=&limit= → {events, seq}
    GET  /api/stats            ?window=1h|24h|7d|30d|all → totals and rows from turn-stats
    POST /api/send             {body}: the operator prompts this agent directly
    POST /api/cancel           SIGINT the running claude (SIGKILL after a grace period)
    POST /api/compact          /compact the session (queued like a turn)
    POST /api/model            {model}: runtime override, persisted; "" clears it
    POST /api/new-session      next turn starts without --continue
    POST /api/login/start|code|cancel   drive `claude auth login` ({code} for /code)

POST bodies may be JSON or form-encoded. Every POST answers JSON with `ok`.
A request carrying a browser's ``Origin`` is refused: the dashboard's proxy
never sends one, so it came through something that forwards browsers here.

In a pod (``HIVE_PAGE_LISTEN``) the same app is also served on TCP, where the
dashboard comes through the API server's pod proxy: every request that did
not come over the unix socket must carry the page token (``needs_token``,
``hive_kit.pagetoken``), or it is refused before any handler runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_sse import sse_response

from hive_harness.events import LiveEvent
from hive_harness.login import LoginFlow, LoginState
from hive_harness.loop import CompactJob, Harness
from hive_harness.prompts import operator_prompt
from hive_harness.runtime import Status
from hive_kit import pagetoken
from hive_kit.errors import HiveError
from hive_kit.wire import Recent

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HARNESS = web.AppKey("harness", Harness)
LOGIN = web.AppKey("login", LoginFlow)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"body is not JSON: {exc}") from exc
        return data if isinstance(data, dict) else {}
    return dict(await request.post())


def _ok(**extra: Any) -> web.Response:
    return web.json_response({"ok": True, **extra})


async def api_state(request: web.Request) -> web.Response:
    harness = request.app[HARNESS]
    inbox: list[dict[str, Any]] = []
    try:
        recent = await harness.client.request(Recent(limit=20), timeout=2)
        inbox = [m.model_dump(mode="json") for m in recent.messages]
    except (HiveError, TimeoutError) as exc:
        log.debug("recent inbox unavailable: %s", exc)
    state = harness.rt.snapshot()
    state["claude_pid"] = harness.current.pid if harness.current is not None else None
    return web.json_response(
        {**state, "seq": harness.rt.bus.last_seq, "login": request.app[LOGIN].state.as_json(), "inbox": inbox}
    )


def _after(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"Last-Event-ID/after must be an integer seq, got {raw!r}") from exc


async def events_stream(request: web.Request) -> web.StreamResponse:
    bus = request.app[HARNESS].rt.bus
    after = _after(request)
    async with sse_response(request) as response:
        async for event in bus.replay(after):
            await response.send(json.dumps(event.as_json()), id=str(event.seq), event=event.kind)
    return response


async def events_history(request: web.Request) -> web.Response:
    bus = request.app[HARNESS].rt.bus
    limit = min(2000, max(1, int(request.query.get("limit", "2000"))))
    events: list[LiveEvent] = bus.history(after=_after(request), limit=limit)
    return web.json_response({"events": [e.as_json() for e in events], "seq": bus.last_seq})


async def api_stats(request: web.Request) -> web.Response:
    window = request.query.get("window", "24h")
    try:
        return web.json_response(request.app[HARNESS].stats.summary(window))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc


async def post_send(request: web.Request) -> web.Response:
    text = str((await _body(request)).get("body", "")).strip()
    if not text:
        raise web.HTTPBadRequest(text="body is empty: send {'body': 'your message'}")
    request.app[HARNESS].submit(operator_prompt(text))
    return _ok(queued=True)


async def post_cancel(request: web.Request) -> web.Response:
    return _ok(cancelled=await request.app[HARNESS].cancel())


async def post_compact(request: web.Request) -> web.Response:
    request.app[HARNESS].submit(CompactJob())
    return _ok(queued=True)


async def post_model(request: web.Request) -> web.Response:
    model = str((await _body(request)).get("model", "")).strip()
    return _ok(model=request.app[HARNESS].rt.set_model(model or None))


async def post_new_session(request: web.Request) -> web.Response:
    harness = request.app[HARNESS]
    harness.rt.new_session_pending = True
    harness.rt.note("the next turn starts a new claude session (no --continue)")
    return _ok(new_session_pending=True)


def _login_changed(harness: Harness, state: LoginState) -> None:
    harness.rt.bus.publish("status_changed", status=harness.rt.status.value, login=state.as_json())
    harness.login_changed.set()


async def post_login_start(request: web.Request) -> web.Response:
    harness = request.app[HARNESS]
    harness.rt.set_status(Status.LOGGING_IN, "operator started login")
    state = await request.app[LOGIN].start()
    return _ok(login=state.as_json())


async def post_login_code(request: web.Request) -> web.Response:
    code = str((await _body(request)).get("code", "")).strip()
    if not code:
        raise web.HTTPBadRequest(text="code is empty: paste the code the login page showed")
    try:
        state = await request.app[LOGIN].submit_code(code)
    except LookupError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    return _ok(login=state.as_json())


async def post_login_cancel(request: web.Request) -> web.Response:
    harness = request.app[HARNESS]
    state = await request.app[LOGIN].cancel()
    if harness.rt.status is Status.LOGGING_IN:
        harness.rt.set_status(Status.NEEDS_LOGIN, "operator cancelled login")
    return _ok(login=state.as_json())


def peer_uid(request: web.Request) -> int | None:
    """The uid of the process at the other end of the page socket (SO_PEERCRED), if it is one."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


@web.middleware
async def only_the_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The page API's controls (prompt as the operator, switch the model, log in) are the operator's:
    the agent itself shares the harness's uid and can reach the socket from inside its sandbox, so a
    connection from that uid is refused. The daemon (root) connects from outside."""
    me = os.getuid()
    if me != 0 and peer_uid(request) == me:
        raise web.HTTPForbidden(
            text="the agent page API answers the dashboard only (`hive serve`), not the agent itself"
        )
    return await handler(request)


@web.middleware
async def no_browsers(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "Origin" in request.headers:
        raise web.HTTPForbidden(text="the agent page API is the dashboard's; open /agents/<name>/ there")
    return await handler(request)


def needs_token(digest_file: Path) -> Middleware:
    """Every request not over the unix socket must show the page token (``X-Hive-Page-Token``).

    The digest file is read on every such request (a few bytes), so a token the host replaced
    (its ConfigMap's file changes under the pod) works without a restart. No file, or no digest
    in it: every TCP request is refused (fail closed). Without ``HIVE_PAGE_LISTEN`` there is no
    TCP site and no such check (the tests' own TCP sites)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _over_unix(request):
            presented = request.headers.get(pagetoken.HEADER)
            if not presented:
                raise web.HTTPUnauthorized(
                    text=f"agent page: no {pagetoken.HEADER} header; open the page through the dashboard"
                )
            if not pagetoken.matches(presented, _read_digest(digest_file)):
                raise web.HTTPForbidden(text=f"agent page: wrong {pagetoken.HEADER}")
        return await handler(request)

    return check


def _over_unix(request: web.Request) -> bool:
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock is not None and sock.family == socket.AF_UNIX


def _read_digest(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def make_app(harness: Harness, token_digest: Path | None = None) -> web.Application:
    """The page API app (``hive_harness.serve.start_site`` serves it on the page socket, and on
    TCP with ``HIVE_PAGE_LISTEN``); ``token_digest`` is the file of the page token's SHA-256."""
    checks = [only_the_host, no_browsers]
    app = web.Application(
        middlewares=checks if token_digest is None else [needs_token(token_digest), *checks]
    )
    app[HARNESS] = harness
    app[LOGIN] = LoginFlow(
        harness.claude_bin,
        harness.claude_env(),
        harness.rt.paths.root,
        on_change=lambda state: _login_changed(harness, state),
    )
    app.router.add_get("/api/state", api_state)
    app.router.add_get("/events/stream", events_stream)
    app.router.add_get("/events/history", events_history)
    app.router.add_get("/api/stats", api_stats)
    for path, handler in (
        ("/api/send", post_send),
        ("/api/cancel", post_cancel),
        ("/api/compact", post_compact),
        ("/api/model", post_model),
        ("/api/new-session", post_new_session),
        ("/api/login/start", post_login_start),
        ("/api/login/code", post_login_code),
        ("/api/login/cancel", post_login_cancel),
    ):
        app.router.add_post(path, handler)

    async def close_login(app: web.Application) -> None:
        await app[LOGIN].cancel()

    app.on_cleanup.append(close_login)
    return app
