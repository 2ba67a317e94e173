"""The persistent MCP server: one `hyperhive` per agent, streamable HTTP, served in the harness's own loop.

Why persistent: a stdio server is a new Python process per turn (interpreter,
`mcp`, pydantic: about a second of CPU before claude may call a tool). The
harness already runs an asyncio loop for the agent's whole life, so it serves
the tools itself and every turn's claude connects to it over HTTP.

Why in-process rather than a supervised child: no second interpreter per
agent, and ending a turn's tool calls (``ToolCalls``) is a method call rather
than a control channel. Its own ``HiveClient`` on the agent's socket keeps
the tools' identity the agent's, as before, and their connections apart from
the loop's.

Why 127.0.0.2: the sandbox has its own network namespace, and everything
the agent sends to the world goes through the egress forwarder named in
HTTP(S)_PROXY (``egress_forward.py``). The MCP server must not: it binds
``MCP_HOST``, a second loopback address listed in NO_PROXY, so claude
reaches it directly and the forwarder's 127.0.0.1 stays the proxy's.

Why a bearer token as well: the namespace already keeps other agents and
the host's processes off this port, but the agent's own Bash tool is on the
same loopback. Each start draws a fresh token that only the agent's 0600
mcp-config carries; a request without it gets 401. (Without a sandbox,
``--insecure-sandbox``, the token is all that keeps another local process
from acting with this agent's identity.)

Why stateless HTTP: each POST stands alone, so nothing (no MCP session, no
task) outlives a claude that exited or was killed.

Why uvicorn's signal capture is off: ``uvicorn.Server.serve`` swaps the
process's SIGTERM/SIGINT handlers for its own; the harness owns its signals.

Death: the serve task ending is noticed before the next turn (``ensure``),
which starts a new server on a new port with a new token. A turn that meets a
dead server does not hang: claude marks the server failed and the model's
call gets "No such tool available".
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hive_harness.command import McpEndpoint
from hive_harness.egress_forward import MCP_HOST
from hive_harness.mcp_server import ToolCalls, build_server
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
_HOST_CHECK = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=[f"{MCP_HOST}:*"],
    allowed_origins=[f"http://{MCP_HOST}:*"],
)
"""mcp's DNS-rebinding check, for the address we bind (its default knows only 127.0.0.1 and localhost)."""
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 3.0


class McpStartError(RuntimeError):
    """The persistent MCP server did not come up (why in the message); the turn falls back to stdio."""


def bearer_ok(headers: Iterable[tuple[bytes, bytes]], token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (compared in constant time)."""
    expected = b"Bearer " + token.encode()
    return any(name == b"authorization" and hmac.compare_digest(value, expected) for name, value in headers)


def require_bearer(app: ASGIApp, token: str) -> ASGIApp:
    """`app`, refusing every HTTP request without the token (lifespan events pass)."""
    refusal = PlainTextResponse(
        "unauthorized: this MCP server serves one agent's claude only", status_code=401
    )

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not bearer_ok(scope["headers"], token):
            await refusal(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the harness's loop owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(server: _EmbeddedServer, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits the process when the app's start-up fails: here, only the task
        raise McpStartError(f"the HTTP server gave up at start-up (exit {exc.code})") from exc
    finally:
        # However it ended, stop accepting: a dead server's port refuses at once, so a claude
        # started meanwhile marks it failed instead of talking to what is left of it.
        for listener in getattr(server, "servers", ()):
            listener.close()


class PersistentMcp:
    """One agent's `hyperhive` server: started on first use, restarted when found dead.

    ``ensure()`` before each turn returns where it listens; ``end_turn()`` after
    each turn ends the calls still running; ``stop()`` at shutdown.
    """

    def __init__(self, launch: AgentLaunchConfig, socket_path: Path | str) -> None:
        self.launch = launch
        self.socket_path = Path(socket_path)
        self.calls = ToolCalls()
        self.endpoint: McpEndpoint | None = None
        self.port: int | None = None
        self.starts = 0
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: HiveClient | None = None
        self._sock: socket.socket | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The serve task (done = the server is dead)."""
        return self._task

    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.endpoint is not None

    async def ensure(self) -> McpEndpoint:
        """The live server's endpoint, starting it (again) if there is none."""
        if self.endpoint is not None and self.alive():
            return self.endpoint
        if self._task is not None:
            log.warning(
                "%s: the MCP server on port %s is gone (%s); starting a new one",
                self.launch.name,
                self.port,
                _how_it_ended(self._task),
            )
            await self.stop()
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> McpEndpoint:
        name = self.launch.name
        token = secrets.token_urlsafe(32)
        self._client = HiveClient(self.socket_path)
        server = build_server(self.launch, self._client, self.calls)
        app = server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, transport_security=_HOST_CHECK
        )
        self._sock = sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((MCP_HOST, 0))
        except OSError as exc:
            raise McpStartError(f"cannot bind {MCP_HOST} for the MCP server: {exc.strerror or exc}") from exc
        port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            require_bearer(app, token),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.get_running_loop().create_task(
            _serve(self._server, sock), name=f"mcp-http-{name}"
        )
        self._task.add_done_callback(self._ended)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if self._task.done():
                raise McpStartError(f"the MCP server stopped while starting ({_how_it_ended(self._task)})")
            if time.monotonic() > deadline:
                raise McpStartError(f"the MCP server did not start within {START_TIMEOUT_SECONDS:.0f} s")
            await asyncio.sleep(0.005)
        self.port = port
        self.endpoint = McpEndpoint(f"http://{MCP_HOST}:{port}{MCP_PATH}", token)
        self.starts += 1
        log.info(
            "%s: MCP server hyperhive on %s:%d (streamable HTTP, start %d)", name, MCP_HOST, port, self.starts
        )
        return self.endpoint

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self._task is task and self.endpoint is not None:
            log.warning("%s: the MCP server stopped (%s)", self.launch.name, _how_it_ended(task))

    async def end_turn(self) -> None:
        """The turn's claude is gone: end the calls it left running, and their host connections.

        A parked recv must not eat new mail. Closing the connections gives the next turn
        fresh ones, as a stdio server had: none idles on the host between turns, and none
        left stale by a daemon restart is found by the next turn's first call.
        """
        ended = self.calls.cancel_all()
        if ended:
            log.info("%s: ended %d MCP tool call(s) the turn left running", self.launch.name, ended)
        if self._client is not None:
            await self._client.aclose()

    async def stop(self) -> None:
        server, task, client, sock = self._server, self._task, self._client, self._sock
        self._server = self._task = self._client = self._sock = None
        self.endpoint = None
        self.calls.cancel_all()
        if server is not None and task is not None:
            server.should_exit = True
            if not task.done():
                await asyncio.wait({task}, timeout=STOP_TIMEOUT_SECONDS)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            if _how_it_ended(task) != "it returned" and server.started:
                # it died (or was cut short) without its shutdown: end its connections and the app's
                # lifespan (the MCP session manager's task group) now
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.shutdown(), STOP_TIMEOUT_SECONDS)
        if sock is not None:
            sock.close()
        if client is not None:
            await client.aclose()


def _how_it_ended(task: asyncio.Task[None]) -> str:
    if not task.done():
        return "still running"
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}" if exc is not None else "it returned"
