"""The running loop against real sandboxes: crash → event → restart; crash loop → Stalled.

The loop runs in-process (``Reconciler.run`` as a task) with ``HelloHost``
(tests/seams) answering on the agents' real sockets. Backoff is shortened
through ``LoopSettings`` so a five-failure streak fits in a test; the
growth of the delays themselves is tested on a fake clock in test_backoff.py.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from desired.repo import MetaRepo
from hive_core.events import AgentConditionChanged, AgentStarted, ContainerCrash
from hive_kit.paths import StateLayout
from reconciler.backoff import Policy
from reconciler.events import MemorySink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ContainerState
from reconciler.runtime import procs
from reconciler.runtime.local import LocalRuntime
from reconciler.status import read_statuses
from tests.reconciler.conftest import add
from tests.reconciler.helpers import agent_process, eventually
from tests.seams.hello_host import HelloHost


@pytest.fixture
async def running(layout: StateLayout, runtime: LocalRuntime):
    host = HelloHost(layout)
    sink = MemorySink()
    settings = LoopSettings(resync=0.2, health_timeout=10, backoff=Policy(base=0.05, cap=0.3, stall_after=4))
    rec = Reconciler(layout, runtime, health=host, sockets=host, events=sink, settings=settings)
    task = asyncio.create_task(rec.run())
    yield rec, sink
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await rec.close()
    await host.close()
    rec.store.close()


def ready(rec: Reconciler, name: str) -> bool:
    statuses = {s.name: s for s in read_statuses(rec.store)}
    return name in statuses and statuses[name].condition("Ready").reason == "Deployed"


async def test_kill_dash_nine_is_detected_reported_and_restarted(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, running
) -> None:
    rec, sink = running
    add(repo, "alpha")
    await eventually(lambda: ready(rec, "alpha") and ready(rec, "manager"), what="alpha Ready")
    outer = procs.scan(runtime.key)["alpha"]
    os.kill(agent_process(outer), signal.SIGKILL)

    await eventually(lambda: sink.of(ContainerCrash, "alpha"), what="a container_crash event")
    assert "exited unexpectedly" in sink.of(ContainerCrash, "alpha")[0].detail
    await eventually(
        lambda: procs.scan(runtime.key).get("alpha") not in (None, outer) and ready(rec, "alpha"),
        what="alpha restarted and Ready",
    )
    assert not sink.of(ContainerCrash, "manager")
    history = rec.store.history("alpha")
    assert history[0].action == "start" and history[0].reason.startswith("container exited unexpectedly")


async def test_crash_loop_backs_off_then_stalls_without_holding_back_others(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, running
) -> None:
    rec, _ = running
    add(repo, "broken", description="fake:exit=3")
    add(repo, "fine")

    def stalled() -> bool:
        s = {x.name: x for x in read_statuses(rec.store)}.get("broken")
        return s is not None and s.condition("Stalled").status

    await eventually(stalled, timeout=30, what="broken Stalled")
    status = {x.name: x for x in read_statuses(rec.store)}["broken"]
    assert status.condition("Stalled").reason == "RetriesExhausted"
    assert "exited with code 3" in status.condition("Stalled").message
    assert status.condition("Ready").status is False
    assert status.failures >= 4
    assert ready(rec, "fine") and ready(rec, "manager")
    observed = await runtime.list()
    assert observed["fine"].state is ContainerState.RUNNING
    assert observed["broken"].state is ContainerState.EXITED
    assert all(h.result == "failed" for h in rec.store.history("broken"))


async def test_a_restarted_daemon_restarts_dead_agents_without_an_event_storm(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    add(repo, "alpha")
    first = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        await first.apply_once()
    finally:
        first.store.close()
    os.killpg(procs.scan(runtime.key)["alpha"], signal.SIGKILL)
    await eventually(lambda: "alpha" not in procs.scan(runtime.key), what="alpha gone")

    sink = MemorySink()
    second = Reconciler(layout, LocalRuntime(layout, runtime.command), events=sink)
    try:
        result = await second.apply_once()
    finally:
        second.store.close()
    assert [(a.name, a.kind.value) for a in result.actions] == [("alpha", "start")]
    assert not sink.of(ContainerCrash), "old news is not announced on start-up"
    assert not sink.of(AgentConditionChanged, "manager"), "nothing changed for the manager"
    assert sink.of(AgentStarted, "alpha")
    assert "alpha" in procs.scan(runtime.key)


async def test_the_managers_restart_goes_through_the_loop(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, running
) -> None:
    from hive_kit.errors import ConflictError, NotFoundError
    from reconciler.host import LoopControl

    rec, _ = running
    add(repo, "alpha")
    await eventually(lambda: ready(rec, "alpha"), what="alpha Ready")
    before = procs.scan(runtime.key)["alpha"]
    control = LoopControl(rec)
    assert (await control.restart("alpha", by="boss")).startswith("agent alpha is restarting")
    with pytest.raises(ConflictError, match="busy"):  # not queued to run later by surprise
        await control.rebuild("alpha")
    await eventually(lambda: rec.store.history("alpha")[0].action == "restart", what="a restart in history")
    assert rec.store.history("alpha")[0].result == "ok"
    assert rec.store.history("alpha")[0].reason == "restart asked by boss"
    assert [h.action for h in rec.store.history("alpha")] == ["restart", "create"], (
        "the refused rebuild never ran"
    )
    assert procs.scan(runtime.key)["alpha"] != before
    assert control.status()["agents"]["alpha"]["runtime_state"] == "running"
    with pytest.raises(NotFoundError):
        await control.restart("nobody")


async def test_a_slow_starter_is_degraded_then_ready_once_it_says_hello(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    host = HelloHost(layout)
    settings = LoopSettings(resync=0.2, health_timeout=1.0)
    rec = Reconciler(layout, runtime, health=host, sockets=host, settings=settings)
    add(repo, "sleepy", description="fake:slow=3")
    task = asyncio.create_task(rec.run())

    def reason() -> str | None:
        s = {x.name: x for x in read_statuses(rec.store)}.get("sleepy")
        return s.condition("Ready").reason if s else None

    try:
        await eventually(lambda: reason() == "HealthCheckFailed", what="sleepy degraded")
        message = {x.name: x for x in read_statuses(rec.store)}["sleepy"].condition("Ready").message
        assert "did not announce itself" in message
        await eventually(lambda: reason() == "Deployed", timeout=20, what="sleepy Ready after its hello")
        assert [h.action for h in rec.store.history("sleepy")] == ["create"], "no rebuild was needed"
        assert {x.name: x for x in read_statuses(rec.store)}["sleepy"].last_error is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await host.close()
        rec.store.close()


async def test_an_agent_that_crashes_after_a_good_start_backs_off_and_stalls(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, running
) -> None:
    rec, sink = running  # stall_after=4
    add(repo, "flaky", description="fake:die=0.5")

    def status():  # type: ignore[no-untyped-def]
        return {x.name: x for x in read_statuses(rec.store)}.get("flaky")

    await eventually(
        lambda: status() is not None and status().condition("Stalled").status,
        timeout=40,
        what="flaky Stalled after repeated crashes",
    )
    stalled = status().condition("Stalled")
    assert stalled.reason == "RetriesExhausted" and "exited unexpectedly with code 5" in stalled.message
    assert len(sink.of(ContainerCrash, "flaky")) >= 3
    assert ready(rec, "manager")
