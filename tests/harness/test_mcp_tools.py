"""MCP tool checks that need no host: recipient refusals, self-targeting, change validation, the schema."""

from __future__ import annotations

from hive_harness.mcp_agent import refusal_for_recipient
from hive_harness.mcp_server import build_server
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig

RESTRICTED = AgentLaunchConfig(name="coder", role="agent", model="haiku", allowed_recipients=["alice"])
MANAGER = AgentLaunchConfig(name="boss", role="manager", model="haiku")


def test_restricted_agent_may_reach_its_list_and_the_manager_only() -> None:
    assert refusal_for_recipient(RESTRICTED, "alice") is None
    assert refusal_for_recipient(RESTRICTED, "manager") is None
    refusal = refusal_for_recipient(RESTRICTED, "bob")
    assert refusal is not None and "'bob'" in refusal and "manager" in refusal
    assert refusal_for_recipient(RESTRICTED, "*") is not None
    assert refusal_for_recipient(AgentLaunchConfig(name="x", role="agent", model="m"), "bob") is None


async def _call(launch: AgentLaunchConfig, tool: str, args: dict) -> str:
    server = build_server(launch, HiveClient("/nonexistent/hive.sock"))
    result = await server.call_tool(tool, args)
    return "".join(getattr(c, "text", "") for c in result.content)  # type: ignore[union-attr]


async def test_refused_send_never_reaches_the_socket() -> None:
    text = await _call(RESTRICTED, "send", {"to": "bob", "body": "hi"})
    assert text.startswith("refused: coder may not message 'bob'")


async def test_manager_may_not_target_itself_and_bad_changes_are_explained() -> None:
    for tool in ("start", "stop", "restart", "update"):
        assert "may not" in await _call(MANAGER, tool, {"name": "boss"})
    text = await _call(
        MANAGER, "propose", {"ops": [{"op": "remove_agent", "name": "boss"}], "description": "x"}
    )
    assert "removing yourself" in text
    bad = await _call(
        MANAGER,
        "propose",
        {"ops": [{"op": "set", "name": "a", "field": "colour", "value": 1}], "description": "x"},
    )
    assert bad.startswith("refused: the change is not valid")


async def test_an_unreachable_host_is_a_readable_refusal() -> None:
    text = await _call(RESTRICTED, "whoami", {})
    assert "refused (unavailable)" in text and "hive serve" in text


async def test_surfaces_differ_by_role_and_every_tool_has_an_example() -> None:
    agent_tools = {t.name: t for t in await build_server(RESTRICTED, HiveClient("/x")).list_tools()}
    manager_tools = {t.name: t for t in await build_server(MANAGER, HiveClient("/x")).list_tools()}
    assert set(agent_tools) == {
        "send",
        "recv",
        "ask",
        "answer",
        "remind",
        "get_open_threads",
        "cancel_thread",
        "whoami",
    }
    assert set(manager_tools) - set(agent_tools) == {
        "list_agents",
        "get_agent",
        "plan",
        "history",
        "logs",
        "get_proposal",
        "propose",
        "propose_commit",
        "draft_agent",
        "request_spawn",
        "start",
        "stop",
        "restart",
        "update",
    }
    for tool in manager_tools.values():
        assert "Example:" in (tool.description or "") and "When:" in (tool.description or "")
