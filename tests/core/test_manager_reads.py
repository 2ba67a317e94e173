"""The manager's read ops over its real socket, against a real daemon with its real reconciler loop.

Every agent of the test swarm is suspended, so the loop (local runtime) starts
no sandbox: the plan says so, and the one log read is a file planted where the
local runtime keeps an agent's log (no agent runs here to write it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from desired.changes import set_agent_nix
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_harness.mcp_server import build_server
from hive_kit import wire
from hive_kit.client import HiveClient
from hive_kit.errors import ForbiddenError, NotFoundError
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime.registry import RuntimeOptions
from tests.core.conftest import OPERATOR, Running
from tests.reconciler.conftest import AGENT_COMMAND

READS = (
    wire.ListAgents(),
    wire.GetAgent(name="peer"),
    wire.PlanNow(),
    wire.DesiredHistory(),
    wire.AgentLogs(name="peer"),
    wire.GetProposal(id=1),
)


@pytest.fixture
async def live(swarm: StateLayout) -> AsyncIterator[Running]:
    daemon = Daemon(swarm)
    add_reconciler(daemon, RuntimeOptions("local", AGENT_COMMAND), LoopSettings(resync=3600))
    task = asyncio.create_task(daemon.run())
    running = Running(daemon, task)
    try:
        for _ in range(500):
            if isinstance(daemon.core.reconciler, LoopControl) or task.done():
                break
            await asyncio.sleep(0.02)
        assert isinstance(daemon.core.reconciler, LoopControl), "the reconciler never attached"
        yield running
    finally:
        await running.close()


async def test_no_ordinary_agent_may_read_the_swarm(live: Running) -> None:
    for req in READS:
        with pytest.raises(ForbiddenError, match="not available on the agent socket"):
            await live.client("tester").request(req)


async def test_the_manager_sees_agents_configs_plan_and_history(live: Running) -> None:
    repo = MetaRepo(live.layout.meta)
    nix = "{ pkgs, ... }: {\n  environment.systemPackages = [ pkgs.ripgrep ];\n}\n"
    repo.commit(lambda s: set_agent_nix(s, "coder", nix), author=OPERATOR, message="coder gets ripgrep")
    boss = live.client("boss")

    overview = await boss.request(wire.ListAgents())
    rows = {row["name"]: row for row in overview.agents}
    assert set(rows) == {"boss", "coder", "tester", "peer"}
    assert overview.revision == str(repo.head())
    assert rows["coder"]["desired_state"] == "suspended"
    assert rows["coder"]["allowed_recipients"] == ["manager"]
    assert rows["boss"]["role"] == "manager" and rows["coder"]["model"] == "sonnet"
    assert overview.reconciler is True

    coder = await boss.request(wire.GetAgent(name="coder"))
    assert coder.desired["allowed_recipients"] == ["manager"] and coder.agent_nix == nix
    assert coder.launch is None  # suspended from the start: never built

    plan = await boss.request(wire.PlanNow())
    assert "coder: left alone" in plan.text and plan.changes is False

    history = await boss.request(wire.DesiredHistory(name="coder", limit=5))
    assert history.commits[0]["message"] == "coder gets ripgrep"
    assert "+  environment.systemPackages = [ pkgs.ripgrep ];" in history.commits[0]["diff"]
    assert all("agents/coder" in c["diff"] for c in history.commits)

    with pytest.raises(NotFoundError, match=r"no agent named 'ghost'.*list_agents"):
        await boss.request(wire.GetAgent(name="ghost"))


async def test_get_proposal_shows_status_and_diff(live: Running) -> None:
    boss = live.client("boss")
    made = await boss.request(
        wire.Propose(
            ops=[{"op": "set", "name": "peer", "field": "model", "value": "opus"}], description="why"
        )
    )
    detail = await boss.request(wire.GetProposal(id=made.proposal_id))
    assert detail.proposal["status"] == "pending" and detail.proposal["description"] == "why"
    assert '+  "model": "opus"' in detail.proposal["diff"] and not detail.diff_truncated
    with pytest.raises(NotFoundError, match="no proposal #99"):
        await boss.request(wire.GetProposal(id=99))


async def test_logs_are_capped_by_lines_and_bytes(live: Running) -> None:
    log = live.layout.agent_dir("peer") / "agent.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(2000)))
    boss = live.client("boss")
    tail = await boss.request(wire.AgentLogs(name="peer", lines=500))
    assert len(tail.lines) == 500 and tail.lines[-1] == "line 1999" and not tail.truncated

    log.write_text("".join(f"{i} " + "x" * 4000 + "\n" for i in range(200)))
    tail = await boss.request(wire.AgentLogs(name="peer", lines=200))
    assert tail.truncated and tail.lines[-1].startswith("199 ")
    assert sum(len(line) + 1 for line in tail.lines) <= wire.MAX_READ_BYTES


async def test_the_manager_tools_read_through_the_real_mcp_server(live: Running) -> None:
    """The model's view: the MCP tools on the manager's socket, and the same tools on an agent's."""

    async def tool(server, name: str, args: dict) -> str:  # type: ignore[no-untyped-def]
        result = await server.call_tool(name, args)
        return "".join(getattr(c, "text", "") for c in result.content)

    client = HiveClient(live.layout.manager_socket)
    server = build_server(AgentLaunchConfig(name="boss", role="manager", model="haiku"), client)
    try:
        listing = await tool(server, "list_agents", {})
        assert '"name": "coder"' in listing and '"desired_state": "suspended"' in listing
        assert '"agent_nix": null' in await tool(server, "get_agent", {"name": "coder"})
        assert "left alone" in await tool(server, "plan", {})
        assert "no log yet for peer" in await tool(server, "logs", {"name": "peer", "lines": 10})
        assert "refused (not_found)" in await tool(server, "get_proposal", {"id": 42})
    finally:
        await client.aclose()
    # a hostile agent that calls the op on its own socket (its MCP surface has no such tool)
    rogue = HiveClient(live.layout.agent_socket("tester"))
    rogue_server = build_server(AgentLaunchConfig(name="tester", role="manager", model="haiku"), rogue)
    try:
        assert "not available on the agent socket" in await tool(rogue_server, "list_agents", {})
    finally:
        await rogue.aclose()
