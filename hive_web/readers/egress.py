"""An agent's egress log, read as the operator through the host core's `egress` op (as `hive egress` does)."""

from __future__ import annotations

from hive_kit import wire
from hive_web.operator import OperatorCall, ask_core


async def agent_egress(
    call: OperatorCall | None, name: str, limit: int, denied_only: bool
) -> wire.EgressEntries:
    """The agent's latest connections, newest first, and its allow-list; 503 without a host core."""
    request = wire.Egress(agent=name, limit=limit, denied_only=denied_only)
    return await ask_core(call, request, wire.EgressEntries)
