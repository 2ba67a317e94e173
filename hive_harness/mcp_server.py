"""`hive-harness mcp`: the stdio MCP server named `hyperhive` that claude launches for every turn.

It reads the launch config (`HIVE_AGENT_CONFIG`) for the agent's name, role and
allowed recipients, and talks to the host over the agent's socket
(`HIVE_SOCKET`). The tool functions take a ``ToolContext`` first; ``bind``
hides it from the schema MCP derives from the signature.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from hive_core.client import HiveClient
from hive_core.launch import ENV_CONFIG, ENV_SOCKET, SANDBOX_CONFIG, SANDBOX_SOCKET, AgentLaunchConfig
from hive_harness.command import SERVER_NAME
from hive_harness.mcp_agent import AGENT_TOOLS, ToolContext
from hive_harness.mcp_manager import MANAGER_TOOLS

ToolFn = Callable[..., Awaitable[str]]
ToolTable = tuple[tuple[ToolFn, str], ...]


def bind(fn: ToolFn, ctx: ToolContext) -> ToolFn:
    """`fn` with its first parameter (the context) filled in and removed from the signature."""
    signature = inspect.signature(fn, eval_str=True)
    params = list(signature.parameters.values())[1:]

    @functools.wraps(fn)
    async def tool(**kwargs: Any) -> str:
        return await fn(ctx, **kwargs)

    del tool.__wrapped__
    tool.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": str}
    return tool


def build_server(launch: AgentLaunchConfig, client: HiveClient) -> MCPServer[Any]:
    """The agent surface, plus the manager surface when the role is manager."""
    ctx = ToolContext(launch, client)
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        instructions=f"hyperhive tools for {launch.name} ({launch.role}): messages, questions, reminders"
        + (", and desired-state changes for the swarm" if launch.role == "manager" else ""),
        log_level="WARNING",
    )
    tools: ToolTable = AGENT_TOOLS + (MANAGER_TOOLS if launch.role == "manager" else ())
    for fn, description in tools:
        server.add_tool(bind(fn, ctx), name=fn.__name__, description=description, structured_output=False)
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
