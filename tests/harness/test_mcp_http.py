"""The persistent MCP server without claude: the token, the config entry, restart after death, turn ends.

Real sockets and a real in-process server; the host socket is absent (tools
then answer "refused (unavailable)", which is all these checks need).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from hive_harness.command import HarnessConfigError, McpEndpoint, mcp_config, mcp_transport
from hive_harness.mcp_http import PersistentMcp, bearer_ok
from hive_harness.mcp_server import TURN_ENDED, ToolCalls
from hive_kit.launch import AgentLaunchConfig

ALICE = AgentLaunchConfig(name="alice", role="agent", model="haiku")
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_bearer_must_match_exactly() -> None:
    assert bearer_ok([(b"authorization", b"Bearer s3cret")], "s3cret")
    assert not bearer_ok([(b"authorization", b"Bearer s3cre")], "s3cret")
    assert not bearer_ok([(b"authorization", b"s3cret")], "s3cret")
    assert not bearer_ok([(b"x-token", b"Bearer s3cret")], "s3cret")
    assert not bearer_ok([], "s3cret")


def test_config_points_claude_at_the_endpoint_with_its_token_and_stdio_stays_the_fallback() -> None:
    endpoint = McpEndpoint("http://127.0.0.1:4321/mcp", "tok")
    http = mcp_config(ALICE, {"HIVE_SOCKET": "/run/hive/hive.sock"}, endpoint)["mcpServers"]
    assert http["hyperhive"] == {  # type: ignore[index]
        "type": "http",
        "url": "http://127.0.0.1:4321/mcp",
        "headers": {"Authorization": "Bearer tok"},
    }
    stdio = mcp_config(ALICE, {"HIVE_SOCKET": "/run/hive/hive.sock"})["mcpServers"]["hyperhive"]  # type: ignore[index]
    assert stdio["type"] == "stdio" and stdio["args"][-3:] == ["mcp", "--role", "agent"]


def test_transport_defaults_to_http_and_refuses_unknown_values() -> None:
    assert mcp_transport({}) == "http"
    assert mcp_transport({"HIVE_MCP_TRANSPORT": "STDIO"}) == "stdio"
    with pytest.raises(HarnessConfigError, match="HIVE_MCP_TRANSPORT"):
        mcp_transport({"HIVE_MCP_TRANSPORT": "sse"})


async def test_ending_the_turn_ends_calls_still_running() -> None:
    calls = ToolCalls()
    parked = asyncio.Event()

    async def recv_forever() -> str:
        parked.set()
        await asyncio.sleep(3600)
        return "never"

    async def quick() -> str:
        return "done"

    assert await calls.run(quick()) == "done"
    running = asyncio.create_task(calls.run(recv_forever()))
    await parked.wait()
    assert len(calls) == 1 and calls.cancel_all() == 1
    assert await running == TURN_ENDED and len(calls) == 0


async def _post(url: str, token: str | None) -> tuple[int, str]:
    headers = dict(ACCEPT) | ({"Authorization": f"Bearer {token}"} if token is not None else {})
    async with aiohttp.ClientSession() as session, session.post(url, json=INIT, headers=headers) as response:
        return response.status, await response.text()


async def test_server_refuses_requests_without_its_token(tmp_path: Path) -> None:
    mcp = PersistentMcp(ALICE, tmp_path / "hive.sock")
    try:
        endpoint = await mcp.ensure()
        assert endpoint.url.startswith("http://127.0.0.2:") and len(endpoint.token) >= 40
        assert (await _post(endpoint.url, None))[0] == 401
        assert (await _post(endpoint.url, "not-" + endpoint.token))[0] == 401
        status, body = await _post(endpoint.url, endpoint.token)
        assert status == 200 and '"serverInfo"' in body and "hyperhive" in body
    finally:
        await mcp.stop()


async def test_a_dead_server_is_replaced_on_the_next_ensure(tmp_path: Path) -> None:
    mcp = PersistentMcp(ALICE, tmp_path / "hive.sock")
    try:
        first = await mcp.ensure()
        assert await mcp.ensure() is first and mcp.starts == 1  # alive: the same server
        task = mcp.task
        assert task is not None
        task.cancel()  # the server dies between turns
        await asyncio.wait({task})
        second = await mcp.ensure()
        assert mcp.starts == 2 and second.token != first.token
        assert (await _post(second.url, second.token))[0] == 200
        with pytest.raises(aiohttp.ClientConnectionError):  # nothing listens where the dead one was
            await _post(first.url, first.token)
    finally:
        await mcp.stop()
    assert not mcp.alive()


async def test_tool_call_over_http_answers_with_the_agents_refusal_text(tmp_path: Path) -> None:
    """A whole tools/call through the HTTP stack (no host: the tool's readable refusal comes back)."""
    mcp = PersistentMcp(ALICE, tmp_path / "hive.sock")
    try:
        endpoint = await mcp.ensure()
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}},
        }
        headers = ACCEPT | {"Authorization": f"Bearer {endpoint.token}", "MCP-Protocol-Version": "2025-06-18"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(endpoint.url, json=call, headers=headers) as response,
        ):
            body = await response.text()
        data = json.loads(next(ln[5:] for ln in body.splitlines() if ln.startswith("data:")))
        assert "refused (unavailable)" in data["result"]["content"][0]["text"]
    finally:
        await mcp.stop()
