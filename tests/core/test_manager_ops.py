"""The manager's socket: proposals, spawn requests, start/stop of others (never itself), and the
reconciler seam answering clearly while no reconciler is attached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from desired import proposals
from desired.repo import MetaRepo
from hive_core.events import AgentSpawned, ProposalAdded, ProposalResolved
from hive_kit import wire
from hive_kit.errors import BadRequestError, ForbiddenError, NotFoundError, UnavailableError
from tests.core.conftest import OPERATOR, Running


async def test_request_spawn_becomes_a_proposal_and_its_resolution_reaches_the_manager(
    daemon: Running,
) -> None:
    boss = daemon.client("boss")
    result = await boss.request(wire.RequestSpawn(name="writer", description="writes docs", model="haiku"))
    repo = MetaRepo(daemon.layout.meta)
    proposal = proposals.get(repo, result.proposal_id)
    assert proposal.author.startswith("boss <")
    assert "writer" in proposals.proposed_state(repo, proposal).agents
    threads = await boss.request(wire.GetOpenThreads())
    assert [a.id for a in threads.approvals] == [result.proposal_id]

    proposals.approve(repo, result.proposal_id, by=OPERATOR)
    daemon.daemon.core.meta_changed.set()
    bodies: list[str] = []
    for _ in range(50):
        bodies += [m.body for m in (await boss.request(wire.Recv(wait_seconds=0.2, max=32))).messages]
        if any("approval_resolved" in b for b in bodies):
            break
    assert any(f"proposal #{result.proposal_id}" in b and "approved" in b for b in bodies), bodies
    kinds = [type(e) for e in daemon.daemon.core.events.read_since(0, 1000)]
    assert ProposalAdded in kinds and ProposalResolved in kinds
    # the new agent gets its socket once main moves
    for _ in range(100):
        if daemon.layout.agent_socket("writer").exists():
            break
        await asyncio.sleep(0.02)
    assert (await daemon.client("writer").request(wire.Whoami())).name == "writer"


async def test_propose_validates_ops_with_a_readable_error(daemon: Running) -> None:
    with pytest.raises(BadRequestError, match="invalid change ops"):
        await daemon.client("boss").request(wire.Propose(ops=[{"op": "explode"}], description="boom"))
    done = await daemon.client("boss").request(
        wire.Propose(
            ops=[{"op": "set", "name": "peer", "field": "model", "value": "opus"}], description="faster"
        )
    )
    assert done.proposal_id >= 1


async def test_manager_stops_and_starts_others_but_never_itself(daemon: Running) -> None:
    boss = daemon.client("boss")
    stopped = await boss.request(wire.Stop(name="peer"))
    assert stopped.revision
    repo = MetaRepo(daemon.layout.meta)
    assert repo.load().state.agents["peer"].state == "stopped"
    assert repo.resolve().author.name == "boss"
    again = await boss.request(wire.Stop(name="peer"))
    assert again.revision is None and "already" in again.note
    await boss.request(wire.Start(name="peer"))
    assert repo.load().state.agents["peer"].state == "running"
    with pytest.raises(ForbiddenError, match="may not stop yourself"):
        await boss.request(wire.Stop(name="manager"))


async def test_only_the_manager_socket_has_manager_ops(daemon: Running) -> None:
    with pytest.raises(ForbiddenError, match="not available on the agent socket"):
        await daemon.client("tester").request(wire.Stop(name="peer"))


class _Reconciler:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.asked: list[tuple[str, str, str]] = []

    def request_reconcile(self, reason: str) -> None:
        self.reasons.append(reason)

    async def restart(self, name: str, by: str = "") -> str:
        self.asked.append(("restart", name, by))
        return f"restarting {name}"

    async def update(self, name: str) -> str:
        return f"updating {name}"

    async def rebuild(self, name: str, by: str = "") -> str:
        self.asked.append(("rebuild", name, by))
        return f"rebuilding {name}"

    def status(self) -> Mapping[str, Any]:
        return {"agents": {"peer": {"Ready": True}}}


async def test_reconciler_ops_need_a_reconciler(daemon: Running) -> None:
    with pytest.raises(UnavailableError, match="reconciler is not running"):
        await daemon.client("boss").request(wire.Restart(name="peer"))
    with pytest.raises(UnavailableError, match="reconciler is not running"):
        await daemon.client("operator").request(wire.ReconcileNow())
    fake = _Reconciler()  # a test seam standing in for reconciler/ (issue 3)
    daemon.daemon.core.attach_reconciler(fake)
    assert (await daemon.client("boss").request(wire.Restart(name="peer"))).note == "restarting peer"
    await daemon.client("operator").request(wire.ReconcileNow(reason="test"))
    assert fake.reasons == ["test"]
    status = await daemon.client("operator").request(wire.Status())
    assert status.reconciler == {"agents": {"peer": {"Ready": True}}}


async def test_restart_and_rebuild_are_the_operators_and_no_agents(daemon: Running) -> None:
    """`hive restart`/`hive rebuild` go over the admin socket; an agent's socket refuses both, and only
    the manager's keeps `restart` (its tool, never on itself). The reconciler is a stand-in here
    (``_Reconciler``): what it does with the ask is tests/reconciler/test_lifecycle_cli.py's."""
    fake = _Reconciler()
    daemon.daemon.core.attach_reconciler(fake)
    operator = daemon.client("operator")
    assert (await operator.request(wire.Restart(name="peer"))).note == "restarting peer"
    assert (await operator.request(wire.Rebuild(name="peer"))).note == "rebuilding peer"
    assert fake.asked == [
        ("restart", "peer", "the operator (`hive restart`)"),
        ("rebuild", "peer", "the operator (`hive rebuild`)"),
    ]
    for req in (wire.Restart(name="peer"), wire.Rebuild(name="peer"), wire.Rebuild(name="tester")):
        with pytest.raises(ForbiddenError, match="not available on the agent socket"):
            await daemon.client("tester").request(req)
    with pytest.raises(ForbiddenError, match="not available on the manager socket"):
        await daemon.client("boss").request(wire.Rebuild(name="peer"))
    with pytest.raises(NotFoundError, match="no agent named 'ghost'"):
        await operator.request(wire.Rebuild(name="ghost"))
    assert len(fake.asked) == 2, "nothing refused reached the reconciler"


async def test_lifecycle_events_land_in_the_managers_inbox(daemon: Running) -> None:
    daemon.daemon.core.events.publish(AgentSpawned(agent="peer", revision="abcdef1234567890"))
    await daemon.client("peer").request(wire.Report(status="needs_login"))
    bodies = [m.body for m in (await daemon.client("boss").request(wire.Recv(max=32))).messages]
    assert any(b.startswith("[spawned] agent peer") for b in bodies)
    assert any(b.startswith("[needs_login] agent peer") for b in bodies)
    operator = [m.body for m in (await daemon.client("operator").request(wire.Inbox())).messages]
    assert any("[needs_login] peer" in b for b in operator)


async def test_hello_wakes_a_waiting_health_gate(daemon: Running) -> None:
    harnesses = daemon.daemon.core.harnesses
    since = time.time()
    waiting = asyncio.create_task(harnesses.wait_hello("peer", since, timeout=10))
    await asyncio.sleep(0.01)
    await daemon.client("peer").request(wire.Hello(pid=42, web_port=8123))
    assert await asyncio.wait_for(waiting, 5)
    assert not await harnesses.wait_hello("tester", since, timeout=0.05)


async def test_an_approval_made_while_the_daemon_was_down_still_reaches_the_manager(swarm) -> None:  # type: ignore[no-untyped-def]
    from tests.core.conftest import start_daemon

    first = await start_daemon(swarm)
    made = await first.client("boss").request(wire.RequestSpawn(name="writer", description="docs"))
    await first.close()
    repo = MetaRepo(swarm.meta)
    await asyncio.sleep(1.1)  # tag times have one-second resolution
    proposals.approve(repo, made.proposal_id, by=OPERATOR)

    second = await start_daemon(swarm)
    try:
        bodies = [m.body for m in (await second.client("boss").request(wire.Recv(max=32))).messages]
        assert any(f"proposal #{made.proposal_id}" in b and "approved" in b for b in bodies), bodies
        added = [e for e in second.daemon.core.events.read_since(0, 1000) if isinstance(e, ProposalAdded)]
        assert len(added) == 1, "the proposal seen before the restart is not announced again"
    finally:
        await second.close()
