"""The MCP server named `hyperhive`: the tool table, and `hive-harness mcp` (stdio).

By default the harness serves it itself over streamable HTTP for the agent's
whole life (`mcp_http.py`); the stdio entry point stays for the fallback and
for debugging (`claude mcp add-json`). Either way it knows the agent from the
launch config (`HIVE_AGENT_CONFIG`: name, role, allowed recipients) and talks
to the host over the agent's socket (`HIVE_SOCKET`, its identity). The tool
functions take a ``ToolContext`` first; ``bind`` hides it from the schema MCP
derives from the signature.

``ToolCalls`` exists for the persistent server: a stdio server died with its
claude, and a tool call in flight (a parked ``recv``) died with it. One server
serving many turns must end those calls itself when a turn ends, or a
``recv`` left behind by a cancelled turn would take (and ack) the next
message for a model that is gone.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from hive_harness.command import SERVER_NAME
from hive_harness.mcp_agent import AGENT_TOOLS, ToolContext
from hive_harness.mcp_manager import MANAGER_TOOLS
from hive_kit.client import HiveClient
from hive_kit.launch import ENV_CONFIG, ENV_SOCKET, SANDBOX_CONFIG, SANDBOX_SOCKET, AgentLaunchConfig
from hive_kit.names import Role

ToolFn = Callable[..., Awaitable[str]]
ToolTable = tuple[tuple[ToolFn, str], ...]
TURN_ENDED = "cancelled: the turn ended before this call finished"


class ToolCalls:
    """The tool calls in flight, so the end of a turn can end them too."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[str]] = set()

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, work: Awaitable[str]) -> str:
        """Run one call as a task of our own: cancelling it is ours to do, not the MCP library's."""
        task: asyncio.Task[str] = asyncio.ensure_future(work)
        self._running.add(task)
        try:
            await asyncio.wait({task})
        finally:
            self._running.discard(task)
            task.cancel()  # a no-op once done; ends the call if the request itself was cancelled
        return TURN_ENDED if task.cancelled() else task.result()

    def cancel_all(self) -> int:
        for task in self._running:
            task.cancel()
        return len(self._running)


def bind(fn: ToolFn, ctx: ToolContext, calls: ToolCalls | None = None) -> ToolFn:
    """`fn` with its first parameter (the context) filled in and removed from the signature."""
    signature = inspect.signature(fn, eval_str=True)
    params = list(signature.parameters.values())[1:]

    @functools.wraps(fn)
    async def tool(**kwargs: Any) -> str:
        if calls is None:
            return await fn(ctx, **kwargs)
        return await calls.run(fn(ctx, **kwargs))

    del tool.__wrapped__
    tool.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": str}
    return tool


def build_server(
    launch: AgentLaunchConfig, client: HiveClient, calls: ToolCalls | None = None
) -> MCPServer[Any]:
    """The agent surface, plus the manager surface when the role is manager."""
    ctx = ToolContext(launch, client)
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        instructions=f"hyperhive tools for {launch.name} ({launch.role}): messages, questions, reminders"
        + (", and the swarm's state: read it, propose changes to it" if launch.role is Role.MANAGER else ""),
        log_level="WARNING",
    )
    tools: ToolTable = AGENT_TOOLS + (MANAGER_TOOLS if launch.role is Role.MANAGER else ())
    for fn, description in tools:
        server.add_tool(
            bind(fn, ctx, calls), name=fn.__name__, description=description, structured_output=False
        )
    return server


def run_stdio(role: str | None = None) -> None:
    """Entry point of `hive-harness mcp`: serve until claude closes stdin."""
    launch = AgentLaunchConfig.read(Path(os.environ.get(ENV_CONFIG) or SANDBOX_CONFIG))
    if role is not None and role != launch.role:
        raise SystemExit(
            f"hive-harness mcp: --role {role} but {launch.name}'s launch config says {launch.role}; "
            "the launch config wins — fix the caller"
        )
    client = HiveClient(os.environ.get(ENV_SOCKET) or SANDBOX_SOCKET)
    build_server(launch, client).run("stdio")
