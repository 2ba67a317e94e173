"""What wakes the loop (a commit, "reconcile now") and how approvals are closed in git.

The loop runs through ``reconciler.service.run`` — the same entry `hive
serve` uses — with its real watchfiles watcher on the bare meta repo.
"""

from __future__ import annotations

import asyncio

from desired import proposals
from desired.changes import add_agent
from desired.repo import MetaRepo
from hive_core.events import AgentSpawned
from hive_kit.paths import StateLayout
from reconciler import service
from reconciler.backoff import Policy, Retry
from reconciler.events import MemorySink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.local import LocalRuntime
from reconciler.triggers import RefFilter, request_now
from tests.reconciler.conftest import TESTER, add
from tests.reconciler.helpers import eventually
from tests.seams.hello_host import HelloHost


def test_ref_filter_sees_refs_and_the_now_file_only(layout: StateLayout) -> None:
    from watchfiles import Change

    filt = RefFilter(layout)
    meta = str(layout.meta)
    assert filt(Change.modified, f"{meta}/refs/heads/main")
    assert filt(Change.modified, f"{meta}/packed-refs")
    assert filt(Change.added, f"{meta}/refs/tags/approved/3")
    assert not filt(Change.added, f"{meta}/refs/heads/main.lock")
    assert not filt(Change.added, f"{meta}/objects/ab/cdef")
    assert filt(Change.added, str(layout.run / "reconcile-now"))
    assert not filt(Change.added, str(layout.run / "agents" / "coder.sock"))


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
        rec = await started
        await eventually(lambda: sink.of(AgentSpawned, "manager"), what="the first pass")
        await asyncio.sleep(0.3)  # let the watcher settle on its first scan
        add(repo, "late")
        await eventually(lambda: sink.of(AgentSpawned, "late"), timeout=15, what="a pass after the commit")

        rec.retry["late"] = Retry(failures=1, next_at=1e12, error="pretend it failed")
        request_now(layout)
        await eventually(
            lambda: rec.retry["late"].next_at == 0.0, what="reconcile-now to forgive the backoff"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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
