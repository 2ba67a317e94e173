"""What wakes the loop (a commit, "reconcile now") and how approvals are closed in git.

The loop runs through ``reconciler.service.run`` — the same entry `hive
serve` uses — with a real watchfiles watcher on the bare meta repo (its own
``MetaWatch`` when alone, the daemon's inside `hive serve`); "reconcile now"
is the admin socket's op, sent the way the CLI and the dashboard send it.
"""

from __future__ import annotations

import asyncio

from desired import proposals
from desired.changes import add_agent
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_core.events import AgentSpawned
from hive_kit import wire
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from reconciler import service
from reconciler.backoff import Policy, Retry
from reconciler.events import MemorySink
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.local import LocalRuntime
from reconciler.runtime.registry import RuntimeOptions
from tests.reconciler.conftest import AGENT_COMMAND, TESTER, add
from tests.reconciler.helpers import eventually
from tests.seams.hello_host import HelloHost


async def test_a_commit_wakes_the_loop_without_waiting_for_the_resync(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    sink = MemorySink()
    started: asyncio.Future[Reconciler] = asyncio.get_running_loop().create_future()
    settings = LoopSettings(resync=3600, health_timeout=10)  # only the watcher can wake it
    task = asyncio.create_task(
        service.run(layout, runtime=runtime, events=sink, settings=settings, started=started)
    )
    try:
        await started
        await eventually(lambda: sink.of(AgentSpawned, "manager"), what="the first pass")
        await asyncio.sleep(0.3)  # let the watcher settle on its first scan
        add(repo, "late")
        await eventually(lambda: sink.of(AgentSpawned, "late"), timeout=15, what="a pass after the commit")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_inside_the_daemon_commits_and_the_reconcile_now_op_wake_the_loop(
    layout: StateLayout, repo: MetaRepo
) -> None:
    """The daemon's one MetaWatch pokes its reconciler; `reconcile_now` on the admin socket forgives."""
    daemon = Daemon(layout)
    settings = LoopSettings(resync=3600, health_timeout=10)  # only the watch and the op can wake it
    add_reconciler(daemon, RuntimeOptions("local", AGENT_COMMAND), settings)
    task = asyncio.create_task(daemon.run())
    client = HiveClient(layout.admin_socket)
    try:
        await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop to attach")
        control = daemon.core.reconciler
        assert isinstance(control, LoopControl)
        rec = control.rec
        await eventually(lambda: "manager" in rec.store.inventory(), what="the first pass")
        await asyncio.sleep(0.3)  # let the watcher settle on its first scan
        add(repo, "late")
        await eventually(lambda: "late" in rec.store.inventory(), timeout=15, what="a pass after the commit")

        # an agent no pass will touch, so only "reconcile now" can change its backoff
        stalled = Retry(failures=2, next_at=1e12, permanent=True, error="pretend it failed")
        rec.retry["ghost"] = stalled
        before = rec.last_plan
        done = await client.request(wire.ReconcileNow(reason="test"))
        assert isinstance(done, wire.Done)
        assert rec.retry["ghost"] == Retry(failures=2, next_at=0.0, permanent=False, error=stalled.error)
        await eventually(lambda: rec.last_plan is not before, what="a pass after reconcile now")
    finally:
        await client.aclose()
        daemon.stop.set()
        await asyncio.wait_for(task, 20)


async def test_approved_proposals_are_tagged_deployed_or_failed(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    good = proposals.propose(
        repo, lambda s: add_agent(s, {"name": "good"}), author=TESTER, description="add good"
    )
    proposals.approve(repo, good.id, by=TESTER)
    settings = LoopSettings(health_timeout=15, backoff=Policy(stall_after=1))
    host = HelloHost(layout)
    rec = Reconciler(layout, runtime, health=host, sockets=host, settings=settings)
    try:
        await rec.apply_once()
        assert proposals.get(repo, good.id).deploy == "deployed"

        bad = proposals.propose(
            repo,
            lambda s: add_agent(s, {"name": "bad", "description": "fake:exit=4"}),
            author=TESTER,
            description="add bad",
        )
        proposals.approve(repo, bad.id, by=TESTER)
        await rec.apply_once()
        outcome = proposals.get(repo, bad.id).deploy
        assert outcome is not None and outcome.startswith("failed: bad: agent bad exited with code 4")
        assert proposals.get(repo, good.id).deploy == "deployed"
    finally:
        rec.store.close()
        await host.close()
