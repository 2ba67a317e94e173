"""The persistent MCP server on the real CLI: one server for many turns, restarts, turn ends, the token.

Real: daemon + sockets + broker, `hive-harness serve` (or the `Harness` class
in-process, where a test must reach the server to kill it), the `claude` CLI
connecting over streamable HTTP. Stand-in: the scripted Messages API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from hive_harness.claude_run import ClaudeRun
from hive_harness.command import ClaudeArgs, claude_argv
from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.mcp_http import PersistentMcp
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.stats import TurnStats
from hive_harness.streamjson import ResultKind
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig
from hive_kit.wire import Recv, Send
from tests.conftest import subprocess_env
from tests.core.conftest import start_daemon
from tests.harness.conftest import CLAUDE, claude_mcp_line, needs_claude
from tests.seams.scripted_api import Reply, ScriptedAPI, Text, text, tool

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(180)]


def _entry(state: Path) -> dict[str, Any]:
    return json.loads((state / ".hive" / "mcp-config.json").read_text())["mcpServers"]["hyperhive"]


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on 127.0.0.2:`port` (MCP_HOST)."""
    wanted = f"0200007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A = LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd) in inodes for fd in fds.iterdir() if fd.is_symlink())


class StdioServerWatch:
    """Polls /proc for `hive_harness mcp` processes running in one state dir (claude's cwd)."""

    def __init__(self, state: Path) -> None:
        self.state = str(state)
        self.seen: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def _scan(self) -> None:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if b"hive_harness\0mcp" in cmdline and os.readlink(proc / "cwd") == self.state:
                    self.seen.add(int(proc.name))

    async def _run(self) -> None:
        while True:
            self._scan()
            await asyncio.sleep(0.02)

    def __enter__(self) -> StdioServerWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def _send_turn(hive, proc, api: ScriptedAPI, body: str, turns: int) -> None:  # type: ignore[no-untyped-def]
    api.push(tool("mcp__hyperhive__send", to="manager", body=body), text("sent"))
    await hive.client("operator").request(Send(to=proc.name, body=f"tell the manager: {body}"))
    rows = await proc.wait_turns(turns)
    assert rows[turns - 1]["result_kind"] == "ok", rows[turns - 1]


async def test_consecutive_turns_use_one_server_in_the_harness_and_sends_land(
    hive, harness, api: ScriptedAPI
) -> None:
    alice = await harness("alice", env=api.env())
    await alice.wait_turns(1)
    entry = _entry(alice.state)
    assert entry["type"] == "http" and entry["headers"]["Authorization"].startswith("Bearer ")
    port = urlsplit(entry["url"]).port
    assert port is not None and _listens(alice.proc.pid, port)  # served by the harness process itself

    with StdioServerWatch(alice.state) as watch:
        await _send_turn(hive, alice, api, "first", 2)
        await _send_turn(hive, alice, api, "second", 3)
    assert watch.seen == set(), "a turn launched a stdio hive-harness mcp server"
    assert _entry(alice.state) == entry and _listens(alice.proc.pid, port)  # same server, same token

    inbox = await hive.client("boss").request(Recv(wait_seconds=0, max=5))
    assert [(m.sender, m.body) for m in inbox.messages] == [("alice", "first"), ("alice", "second")]
    events = (await alice.get("/events/history"))["events"]
    inits = [e for e in events if e["kind"] == "stream" and e.get("item") == "init"]
    assert len(inits) == 3 and all(e["mcp_servers"] == {"hyperhive": "connected"} for e in inits)


async def test_stdio_fallback_still_works_when_chosen(hive, harness, api: ScriptedAPI) -> None:
    alice = await harness("alice", env={**api.env(), "HIVE_MCP_TRANSPORT": "stdio"})
    await alice.wait_turns(1)
    assert _entry(alice.state)["type"] == "stdio"
    with StdioServerWatch(alice.state) as watch:
        await _send_turn(hive, alice, api, "over stdio", 2)
    assert len(watch.seen) == 1  # the watch does see one when there is one
    inbox = await hive.client("boss").request(Recv(wait_seconds=0, max=5))
    assert [m.body for m in inbox.messages] == ["over stdio"]


async def test_claude_mcp_list_connects_and_requests_without_the_token_are_refused(
    hive, harness, api: ScriptedAPI, tmp_path: Path
) -> None:
    alice = await harness("alice", env=api.env())
    await alice.wait_turns(1)
    entry = _entry(alice.state)
    env = subprocess_env(HOME=str(tmp_path))
    line, printed_all = claude_mcp_line(entry, env, tmp_path)
    assert "(HTTP)" in line and "✔ Connected" in line, printed_all

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    accept = {"Accept": "application/json, text/event-stream"}
    async with aiohttp.ClientSession() as session:
        for headers in (accept, accept | {"Authorization": "Bearer someone-elses-token"}):
            async with session.post(entry["url"], json=body, headers=headers) as response:
                assert response.status == 401


async def test_a_cancelled_turn_leaves_no_recv_behind_to_take_the_next_message(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    release = threading.Event()
    # the model parks in recv; the operator cancels the turn while it waits
    api.push(tool("mcp__hyperhive__recv", wait_seconds=120, max=5), Reply(blocks=(Text("x"),), hold=release))

    async def parked_in_recv() -> bool:
        events = (await bob.get("/events/history"))["events"]
        return any(e["kind"] == "stream" and e.get("name") == "mcp__hyperhive__recv" for e in events)

    await hive.client("operator").request(Send(to="bob", body="wait for mail"))
    await bob.wait_until("the model calling recv", parked_in_recv)
    await asyncio.sleep(0.5)  # the call reaches the server and parks on the host
    assert (await bob.post("/api/cancel"))["cancelled"] is True
    rows = await bob.wait_turns(2)
    release.set()
    assert rows[1]["result_kind"] == "cancelled"

    # a recv left running in the server would take this message and ack it for a model that is gone
    api.push(text("got it"))
    await hive.client("operator").request(Send(to="bob", body="this must wake you"))
    rows = await bob.wait_turns(3, timeout=60)
    assert rows[2]["result_kind"] == "ok"
    assert "this must wake you" in api.main_requests()[-1].all_text()


async def test_server_killed_between_turns_is_restarted_and_the_next_turn_works(
    hive, api: ScriptedAPI
) -> None:
    launch = AgentLaunchConfig(name="bob", role="agent", model="haiku")
    paths = StatePaths(hive.layout.agent_state("bob"))
    paths.home.mkdir(parents=True, exist_ok=True)
    socket_path = hive.layout.socket_for("bob", is_manager=False)
    bus, stats, client = EventBus(paths.events_db), TurnStats(paths.stats_db), HiveClient(socket_path)
    mcp = PersistentMcp(launch, socket_path)
    env = subprocess_env(**api.env())
    harness = Harness(
        Runtime(launch, paths, bus),
        client,
        stats,
        claude_bin=str(CLAUDE),
        base_env=env,
        system_prompt="",
        mcp=mcp,
    )
    boss = hive.client("boss")
    try:
        api.push(tool("mcp__hyperhive__send", to="manager", body="before"), text("sent"))
        assert (await harness.turn("send it", "test")).kind is ResultKind.OK
        first, task = mcp.endpoint, mcp.task
        assert first is not None and task is not None
        task.cancel()  # the server dies between turns
        await asyncio.wait({task})

        # a claude pointed at the dead server does not hang: the server is "failed", the call refused
        api.push(tool("mcp__hyperhive__send", to="manager", body="lost"), text("could not"))
        args = ClaudeArgs("send it", "haiku", paths.mcp_config, "")
        run = await ClaudeRun.start(
            claude_argv(str(CLAUDE), launch, args), env=harness.claude_env(), cwd=paths.root
        )
        seen: list[dict[str, Any]] = []
        await asyncio.wait_for(run.wait(seen.append), 60)
        init = next(e for e in seen if e.get("subtype") == "init")
        assert init["mcp_servers"] == [{"name": "hyperhive", "status": "failed"}]
        assert "No such tool available" in json.dumps([e for e in seen if e["type"] == "user"])

        api.push(tool("mcp__hyperhive__send", to="manager", body="after"), text("sent"))
        assert (await harness.turn("send it again", "test")).kind is ResultKind.OK
        assert mcp.starts == 2 and mcp.endpoint is not None and mcp.endpoint.url != first.url
        assert _entry(paths.root)["url"] == mcp.endpoint.url
        inbox = await boss.request(Recv(wait_seconds=0, max=5))
        assert [m.body for m in inbox.messages] == ["before", "after"]
    finally:
        await harness.close()
        await client.aclose()
        bus.close()
        stats.close()


async def test_after_a_daemon_restart_the_next_turns_tools_reach_the_new_daemon(
    hive, harness, api: ScriptedAPI
) -> None:
    """A waiting recv holds a host connection of its own; none may be reused stale after a restart."""
    alice = await harness("alice", env=api.env())
    await alice.wait_turns(1)

    async def recv_turn(running, turns: int) -> str:  # type: ignore[no-untyped-def]
        """One turn whose model calls recv(wait_seconds=0.2); what the tool answered."""
        seq = (await alice.get("/api/state"))["seq"]
        api.push(tool("mcp__hyperhive__recv", wait_seconds=0.2, max=1), text("read"))
        await running.client("operator").request(Send(to="alice", body="check your inbox"))
        rows = await alice.wait_turns(turns)
        assert rows[turns - 1]["result_kind"] == "ok"
        events = (await alice.get(f"/events/history?after={seq}"))["events"]
        return next(e["text"] for e in events if e.get("item") == "tool_result")

    assert await recv_turn(hive, 2) == "no messages"
    await hive.close()
    again = await start_daemon(hive.layout)
    try:
        await alice.wait_until(
            "a hello to the new daemon", lambda: again.daemon.core.harnesses.last_hello("alice")
        )
        assert await recv_turn(again, 3) == "no messages"
        await _send_turn(again, alice, api, "to the new daemon", 4)
        inbox = await again.client("boss").request(Recv(wait_seconds=0, max=5))
        assert [m.body for m in inbox.messages] == ["to the new daemon"]
    finally:
        await again.close()
