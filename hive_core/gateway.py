"""The model-API gateway: every agent's model calls pass the host, which holds the key and reads the bill.

Why (issue 14, "budgets are enforced by the host, not by the harness's good
will"): the harness reports each turn's usage, but it runs as the agent, so
a hostile agent can under-report; and the API key the agents used sat in
every sandbox's environment. Here the daemon serves a per-agent
``model.sock`` in the agent's socket directory (identity = the socket, like
``hive.sock`` and ``egress.sock``; same modes). Inside the sandbox the
harness exposes it on loopback (``hive_harness.egress_forward``) and claude
gets ``ANTHROPIC_BASE_URL`` pointing there and a placeholder key.

For each request the gateway

1. answers claude's reachability probe (``HEAD /``) itself and forwards only
   what claude calls: ``POST /v1/messages``, ``POST /v1/messages/count_tokens``
   and ``GET /v1/models``. Not the rest of ``/v1``: message batches, files
   and the admin API would spend or expose the host's key unmeasured (the
   claude CLI 2.1 against the scripted API makes exactly two kinds of
   request: ``HEAD /`` and ``POST /v1/messages?beta=true``);
2. refuses, with an Anthropic-shaped error, an agent that ``budget_refusal``
   says is paused (inside a turn or not: a ``curl`` from the agent's shell is
   held to the same budget) or that has too many calls open;
3. drops every credential the agent sent (``x-api-key``, ``Authorization``,
   cookies) and any header naming who is calling, and adds the host's
   (``HostModelApi``: the daemon's environment, else ``<state>/secrets.env``);
4. streams the upstream response back chunk by chunk, never buffering it,
   while ``gateway_usage.UsageMeter`` reads ``usage`` off the wire;
5. records one ledger row per call, ``source = gateway`` (``Recorder``),
   even when the agent hangs up half way.

aiohttp on both sides (already the daemon's web stack): a streaming
reverse proxy is a few dozen lines of it, with request size bounds built in.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from hive_core.gateway_usage import CallUsage, UsageMeter, model_name
from hive_kit import wire
from hive_kit.envfile import parse_env

log = logging.getLogger(__name__)

OFFICIAL_BASE_URL = "https://api.anthropic.com"
MAX_REQUEST = 32 * 1024 * 1024
"""A Messages request with a long context and a few images is a few MB; 32 MB refuses a flood."""
MAX_OPEN_CALLS = 16
"""Per agent, at once: claude makes one or two; more is a loop or an attack (answered 429)."""
SMALL_BODY = 1 << 20
MAX_DURATION_MS = 7 * 86400 * 1000
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0
"""Between two chunks: a model may think for minutes before its first token."""
DROPPED_REQUEST = frozenset(
    {
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "accept-encoding",
        "forwarded",
    }
)
DROPPED_RESPONSE = frozenset(
    {
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "set-cookie",
        "trailer",
        "upgrade",
    }
)
KEY_NAMES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
BASE_URL_KEY = "ANTHROPIC_BASE_URL"
OAUTH_BETA = "oauth-2025-04-20"
AGENT: web.AppKey[str] = web.AppKey("agent", str)


@dataclass(frozen=True)
class Upstream:
    """Where the host sends model calls and the credential headers it adds."""

    base_url: str
    headers: Mapping[str, str]


def upstream_from(values: Mapping[str, str]) -> Upstream | None:
    """The host's upstream from its settings (env or secrets file); None when it holds no key."""
    base = (values.get(BASE_URL_KEY) or OFFICIAL_BASE_URL).rstrip("/")
    if values.get("ANTHROPIC_API_KEY"):
        return Upstream(base, {"x-api-key": values["ANTHROPIC_API_KEY"]})
    if values.get("ANTHROPIC_AUTH_TOKEN"):
        return Upstream(base, {"authorization": f"Bearer {values['ANTHROPIC_AUTH_TOKEN']}"})
    if values.get("CLAUDE_CODE_OAUTH_TOKEN"):
        token = values["CLAUDE_CODE_OAUTH_TOKEN"]
        return Upstream(base, {"authorization": f"Bearer {token}", "anthropic-beta": OAUTH_BETA})
    return None


class HostModelApi:
    """The host's key and upstream: the daemon's environment first, then ``secrets.env`` (re-read when
    it changes, so a key put there works without a restart)."""

    def __init__(self, secrets: Path, environ: Mapping[str, str] = os.environ) -> None:
        self._secrets = secrets
        self._environ = environ
        self._stamp: tuple[int, int] | None = None
        self._file: dict[str, str] = {}

    def upstream(self) -> Upstream | None:
        names = (*KEY_NAMES, BASE_URL_KEY)
        own = {k: self._environ[k] for k in names if self._environ.get(k)}
        if any(k in own for k in KEY_NAMES):
            return upstream_from(own)
        return upstream_from({**self._from_file(), **own})

    def _from_file(self) -> dict[str, str]:
        try:
            st = self._secrets.stat()
        except OSError:
            self._stamp, self._file = None, {}
            return {}
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            try:
                self._file = parse_env(self._secrets.read_text(errors="replace"), (*KEY_NAMES, BASE_URL_KEY))
            except OSError:
                self._file = {}
            self._stamp = (st.st_mtime_ns, st.st_size)
        return self._file


@dataclass(frozen=True)
class Call:
    """One forwarded model call, as the ledger gets it."""

    agent: str
    usage: CallUsage
    started_at: float
    duration_ms: int
    status: int
    complete: bool  # False: the stream ended early (the agent hung up, the upstream failed)


def call_report(call: Call) -> wire.TurnUsage:
    """The ledger's row for one call: a fresh id (a call is never a retry), priced from the table."""
    usage = call.usage
    model = wire.ModelUsage(
        model=usage.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
    )
    return wire.TurnUsage(
        turn_id=f"gw-{uuid.uuid4().hex}",
        models=[model],
        started_at=call.started_at,
        duration_ms=min(call.duration_ms, MAX_DURATION_MS),
        result_kind="ok" if call.complete else "cut",
    )


Recorder = Callable[[Call], Awaitable[None]]
Refusal = Callable[[str], Awaitable[str | None]]
"""Why this agent may not call the model now (a budget pause), or None."""


def api_error(status: int, kind: str, message: str) -> web.Response:
    """An error the claude CLI shows as it would an API error: the Messages API's own shape."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers={"x-hyperhive-gateway": "refused"})


def forwarded_headers(headers: Mapping[str, str], upstream: Upstream) -> dict[str, str]:
    """The agent's headers minus credentials, hop-by-hop and identity claims, plus the host's credentials.

    ``anthropic-beta`` is merged (the CLI's betas and an OAuth token's)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in DROPPED_REQUEST or lower.startswith(("x-hive", "x-hyperhive", "x-forwarded", "proxy-")):
            continue
        out[lower] = value
    for name, value in upstream.headers.items():
        if name == "anthropic-beta" and out.get(name):
            out[name] = f"{out[name]},{value}"
        else:
            out[name] = value
    return out


def forwarded(method: str, path: str) -> bool:
    """What the gateway sends on: the calls claude makes, nothing that spends unmeasured."""
    if method == "POST":
        return path in ("/v1/messages", "/v1/messages/count_tokens")
    return method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/"))


def _request_facts(body: bytes) -> tuple[bool, str]:
    """``stream`` and ``model`` of a Messages request body (a body that is not JSON: neither)."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return False, "unknown"
    if not isinstance(data, dict):
        return False, "unknown"
    return data.get("stream") is True, model_name(data.get("model"))


class ModelGateway:
    """One per daemon; ``app(agent)`` is the web app behind that agent's ``model.sock``."""

    def __init__(self, upstream: Callable[[], Upstream | None], record: Recorder, refusal: Refusal) -> None:
        self.upstream = upstream
        self.record = record
        self.refusal = refusal
        self._session: aiohttp.ClientSession | None = None
        self._open: dict[str, int] = {}
        self._writes: set[asyncio.Future[None]] = set()

    def app(self, agent: str) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST)
        app[AGENT] = agent
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
            )
            self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        """After the listeners: the rows still being written are written, then the upstream closes."""
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=10)
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        agent = request.app[AGENT]  # the socket's agent, whatever the request says
        if request.path == "/" and request.method in ("HEAD", "GET"):
            return web.Response(text="hyperhive model gateway\n")
        if not forwarded(request.method, request.path):
            return api_error(
                403,
                "permission_error",
                f"hyperhive gateway: {request.method} {request.path} is not forwarded (only POST "
                "/v1/messages, POST /v1/messages/count_tokens and GET /v1/models are: the host's key pays)",
            )
        if (request.content_length or 0) > MAX_REQUEST:
            return _too_big()
        if self._open.get(agent, 0) >= MAX_OPEN_CALLS:
            return api_error(
                429, "rate_limit_error", f"hyperhive gateway: {agent} has {MAX_OPEN_CALLS} model calls open"
            )
        self._open[agent] = self._open.get(agent, 0) + 1  # from here: a slow body holds a call too
        try:
            return await self._admitted(request, agent)
        finally:
            self._open[agent] -= 1

    async def _admitted(self, request: web.Request, agent: str) -> web.StreamResponse:
        why = await self.refusal(agent)
        if why is not None:
            log.info("gateway: %s's model call refused: %s", agent, why)
            return api_error(403, "permission_error", f"hyperhive: {why}")
        upstream = self.upstream()
        if upstream is None:
            return api_error(
                503,
                "api_error",
                "hyperhive gateway: the host holds no model API key; the operator puts ANTHROPIC_API_KEY "
                "in <state>/secrets.env (or hive serve's environment)",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_big()
        except ConnectionError:  # the agent hung up before its request was in: nothing was sent
            return web.Response(status=400)
        return await self._forward(request, agent, upstream, body)

    async def _forward(
        self, request: web.Request, agent: str, upstream: Upstream, body: bytes
    ) -> web.StreamResponse:
        streaming, model = _request_facts(body)
        url = upstream.base_url + request.raw_path
        headers = forwarded_headers(request.headers, upstream)
        started = time.time()
        try:
            payload = body if len(body) < SMALL_BODY else io.BytesIO(body)  # aiohttp warns on large bytes
            resp = await self.session().request(request.method, url, data=payload, headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("gateway: %s → %s failed: %s", agent, upstream.base_url, exc)
            return api_error(502, "api_error", f"hyperhive gateway: cannot reach the model API: {exc}")
        metered = request.method == "POST" and request.path == "/v1/messages" and resp.status < 300
        is_sse = resp.content_type == "text/event-stream"
        meter = UsageMeter(streaming=is_sse or streaming, requested_model=model)
        out = web.StreamResponse(status=resp.status, reason=resp.reason)
        for name, value in resp.headers.items():
            if name.lower() not in DROPPED_RESPONSE:
                out.headers.add(name, value)
        complete = False
        try:
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                if metered:
                    meter.feed(chunk)
                await out.write(chunk)
            complete = True
            await out.write_eof()
        except (ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("gateway: %s's call ended early: %s", agent, exc)
        finally:
            resp.release()
            if metered:
                self._record(agent, meter, started, resp.status, complete)
        return out

    def _record(self, agent: str, meter: UsageMeter, started: float, status: int, complete: bool) -> None:
        """Write the call's row in the background: the agent's next call on this connection need not
        wait for the ledger's commit, and a cancelled handler cannot lose the row."""
        usage = meter.usage()
        if usage is None or usage.total == 0:
            return
        call = Call(agent, usage, started, int((time.time() - started) * 1000), status, complete)
        task = asyncio.ensure_future(self.record(call))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Future[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway: a call's ledger row was not written: %s", task.exception())


def _too_big() -> web.Response:
    return api_error(
        413, "request_too_large", f"hyperhive gateway: a model request may be at most {MAX_REQUEST >> 20} MB"
    )


async def serve_on(gateway: ModelGateway, agent: str, sock: socket.socket) -> web.AppRunner:
    """The agent's gateway app on an already bound socket (``hive_core.sockets.bind_private``)."""
    runner = web.AppRunner(gateway.app(agent), access_log=None, shutdown_timeout=2)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner
