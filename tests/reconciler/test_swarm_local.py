"""The local runtime end to end: real bubblewrap sandboxes running the fake agent, real hellos.

Uses the reconciler loop in-process with ``HelloHost`` (tests/seams) as the
daemon's socket side, so the health gate is a real hello over a real unix
socket.
"""

from __future__ import annotations

import json

import pytest

from desired.repo import MetaRepo
from hive_core.events import AgentDestroyed
from hive_kit.paths import StateLayout
from reconciler.events import MemorySink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import ActionKind, ContainerState
from reconciler.runtime import procs
from reconciler.runtime.local import LocalRuntime
from tests.reconciler.conftest import add, remove, set_field
from tests.seams.hello_host import HelloHost


@pytest.fixture
async def host(layout: StateLayout):
    h = HelloHost(layout)
    yield h
    await h.close()


def make(layout: StateLayout, runtime: LocalRuntime, host: HelloHost, sink: MemorySink) -> Reconciler:
    return Reconciler(
        layout, runtime, health=host, sockets=host, events=sink, settings=LoopSettings(health_timeout=15)
    )


async def test_empty_to_three_agents_then_model_change_then_remove(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime, host: HelloHost
) -> None:
    add(repo, "alpha")
    add(repo, "beta", model="haiku")
    sink = MemorySink()
    rec = make(layout, runtime, host, sink)

    first = await rec.apply_once()
    assert sorted(a.name for a in first.actions) == ["alpha", "beta", "manager"]
    assert {a.kind for a in first.actions} == {ActionKind.CREATE}
    listed = await runtime.list()
    assert {n: o.state for n, o in listed.items()} == dict.fromkeys(
        ["alpha", "beta", "manager"], ContainerState.RUNNING
    )
    assert runtime.bwrap is not None, "bubblewrap must be installed for this test"
    assert all(host.hellos.get(n) for n in ("alpha", "beta", "manager"))
    assert (await rec.pass_once()).empty

    set_field(repo, "beta", "model", "opus")
    second = await rec.pass_once()
    assert [(a.name, a.kind) for a in second.actions] == [("beta", ActionKind.UPDATE)]
    assert second.actions[0].reason == "model changed haiku → opus"
    pids_before = {n: o.pid for n, o in listed.items()}
    await rec.drain()
    after = await runtime.list()
    assert after["alpha"].pid == pids_before["alpha"]
    assert after["beta"].pid != pids_before["beta"]
    launched = json.loads((layout.agent_state("beta") / "launched.json").read_text())
    assert launched["model"] == "opus"

    remove(repo, "alpha")
    third = await rec.apply_once()
    assert [(a.name, a.kind) for a in third.actions] == [("alpha", ActionKind.DESTROY)]
    assert "alpha" not in await runtime.list()
    assert "alpha" not in procs.scan(runtime.key)
    assert (layout.agent_state("alpha") / "launched.json").exists(), "destroy keeps the state dir"
    assert sink.of(AgentDestroyed, "alpha")
