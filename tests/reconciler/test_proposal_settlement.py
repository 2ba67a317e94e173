"""An approved proposal is settled by the agents it touches, not by the whole swarm.

Real meta repo, real bubblewrap sandboxes running the fake agent, the loop's
one-shot pass (`hive reconcile`'s path); what a user sees is read back with
`hive pending --all --json` (a real subprocess) and from the tags.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from desired import proposals
from desired.changes import add_agent, remove_agent, set_agent_field, set_agent_nix, set_setting
from desired.repo import MetaRepo
from desired.schema import DesiredState
from hive_core.events import Deployed, DeployFailed
from hive_kit.paths import StateLayout
from reconciler.backoff import Policy
from reconciler.events import E, MemorySink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.model import touched_agents
from reconciler.runtime.local import LocalRuntime
from tests.conftest import HiveRunner
from tests.reconciler.conftest import TESTER, add
from tests.seams.hello_host import HelloHost

CRASH = "fake:exit=4"  # the fake agent exits at once with code 4: a crash loop


@pytest.fixture
async def rec(layout: StateLayout, runtime: LocalRuntime) -> AsyncIterator[Reconciler]:
    host = HelloHost(layout)
    settings = LoopSettings(health_timeout=15, backoff=Policy(stall_after=1))
    loop = Reconciler(layout, runtime, health=host, sockets=host, events=MemorySink(), settings=settings)
    try:
        yield loop
    finally:
        loop.store.close()
        await host.close()


def approved(repo: MetaRepo, mutate: Callable[[DesiredState], DesiredState], description: str) -> int:
    proposal = proposals.propose(repo, mutate, author=TESTER, description=description)
    proposals.approve(repo, proposal.id, by=TESTER)
    return proposal.id


def deploy_column(hive: HiveRunner, layout: StateLayout) -> dict[int, Any]:
    """The DEPLOY column of `hive pending --all`, by proposal id."""
    out = hive("pending", "--all", "--json", "--state-dir", str(layout.root), state=False)
    assert out.returncode == 0, out.stderr
    return {p["id"]: p["deploy"] for p in json.loads(out.stdout)}


def tag_message(repo: MetaRepo, name: str) -> str | None:
    tag = repo.tag_object(name)
    return None if tag is None else tag.message


def events(loop: Reconciler, kind: type[E]) -> list[E]:
    sink = loop.events
    assert isinstance(sink, MemorySink)
    return sink.of(kind)


def rebuilt(state: DesiredState, name: str, field: str, value: Any) -> DesiredState:
    """Set ``field`` and change the model too: the fake agent reads its description only at start,
    and a description edit alone is metadata (no restart)."""
    return set_agent_field(set_agent_field(state, name, field, value), name, "model", "opus")


async def crash_looping(loop: Reconciler, repo: MetaRepo, name: str) -> None:
    add(repo, name, description=CRASH)
    await loop.apply_once()
    assert loop.retry[name].stalled, f"{name} should be Stalled before the proposal lands"


async def test_a_stalled_agent_does_not_fail_a_proposal_touching_another(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    add(repo, "b")
    await crash_looping(rec, repo, "crashy")

    pid = approved(repo, lambda s: set_agent_field(s, "b", "model", "opus"), "b: use opus")
    await rec.apply_once()

    assert deploy_column(hive, layout)[pid] == "deployed"
    assert repo.tag_object(f"failed/{pid}") is None
    assert [e.proposal_id for e in events(rec, Deployed)] == [pid]
    assert events(rec, DeployFailed) == []


async def test_a_proposal_fails_when_the_agent_it_touches_stalls(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    add(repo, "a")
    add(repo, "b")
    await rec.apply_once()

    good = approved(repo, lambda s: set_agent_field(s, "b", "model", "haiku"), "b: use haiku")
    bad = approved(repo, lambda s: rebuilt(s, "a", "description", CRASH), "a: break it")
    await rec.apply_once()

    column = deploy_column(hive, layout)
    assert column[good] == "deployed", "the same pass's other approval is not dragged down"
    assert column[bad].startswith("failed: a: agent a exited with code 4")
    message = tag_message(repo, f"failed/{bad}")
    assert message is not None and message.splitlines()[0].startswith("a: ")
    failed = events(rec, DeployFailed)
    assert [(e.agent, e.proposal_id) for e in failed] == [("a", bad)]


async def test_a_proposal_touching_no_agent_is_deployed_at_once(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    await crash_looping(rec, repo, "crashy")

    def readme(state: DesiredState) -> DesiredState:
        return state.model_copy(update={"extra_files": {**state.extra_files, "README.md": b"# swarm\n"}})

    docs = approved(repo, readme, "document the swarm")
    guard = approved(repo, lambda s: set_setting(s, "allow_destroy_all", True), "allow emptying")
    await rec.apply_once()

    column = deploy_column(hive, layout)
    assert column[docs] == "deployed" and column[guard] == "deployed"


async def test_a_swarm_wide_setting_fails_if_any_agent_it_changes_stalls(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    add(repo, "pinned", model="opus")  # an explicit model: a new default does not touch it
    add(repo, "a")
    await crash_looping(rec, repo, "crashy")

    pid = approved(repo, lambda s: set_setting(s, "default_model", "haiku"), "default to haiku")
    await rec.apply_once()

    outcome = deploy_column(hive, layout)[pid]
    assert outcome is not None and outcome.startswith("failed: crashy: agent crashy exited with code 4")
    message = tag_message(repo, f"failed/{pid}") or ""
    assert [line.split(":")[0] for line in message.splitlines()] == ["crashy"]
    assert [e.agent for e in events(rec, DeployFailed)] == ["crashy"]


async def test_fixing_removing_stopping_or_suspending_a_stalled_agent_is_deployed(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    for name in ("crashy", "doomed", "halted", "parked"):
        await crash_looping(rec, repo, name)

    fix = approved(repo, lambda s: rebuilt(s, "crashy", "description", "fixed"), "fix crashy")
    drop = approved(repo, lambda s: remove_agent(s, "doomed"), "remove doomed")
    stop = approved(repo, lambda s: set_agent_field(s, "halted", "state", "stopped"), "stop halted")
    park = approved(repo, lambda s: set_agent_field(s, "parked", "suspended", True), "suspend parked")
    await rec.apply_once()

    column = deploy_column(hive, layout)
    assert column[fix] == "deployed", "a stall left from the old spec does not fail its fix"
    assert column[drop] == "deployed", "a removal is settled once the agent is gone"
    assert column[stop] == "deployed", "stopped as desired: nothing left to retry"
    assert column[park] == "deployed", "suspended, and what it runs is this revision"
    status = json.loads(hive("status", "--json", "--state-dir", str(layout.root), state=False).stdout)
    halted = next(a for a in status["agents"] if a["name"] == "halted")
    ready = next(c for c in halted["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == (True, "Stopped")


async def test_an_approval_waits_while_the_agent_it_touches_is_still_converging(
    rec: Reconciler, repo: MetaRepo, layout: StateLayout, hive: HiveRunner
) -> None:
    await rec.apply_once()
    pid = approved(repo, lambda s: add_agent(s, {"name": "late"}), "add late")

    await rec.pass_once()  # its create is in flight: not Ready yet, not Stalled either
    assert deploy_column(hive, layout)[pid] is None
    await rec.drain()
    await rec.pass_once()
    assert deploy_column(hive, layout)[pid] == "deployed"


def test_touched_agents_are_those_whose_effective_config_changed() -> None:
    base = add_agent(add_agent(DesiredState(), {"name": "free"}), {"name": "pinned", "model": "opus"})
    assert touched_agents(base, set_setting(base, "default_model", "haiku")) == {"free"}
    assert touched_agents(base, set_setting(base, "operator_pronouns", "she/her")) == {"free", "pinned"}
    assert touched_agents(base, set_setting(base, "allow_destroy_all", True)) == frozenset()
    assert touched_agents(base, set_agent_nix(base, "pinned", "{ ... }: { }")) == {"pinned"}
    assert touched_agents(base, set_agent_field(base, "free", "state", "stopped")) == {"free"}
    assert touched_agents(base, set_agent_field(base, "free", "model", "sonnet")) == frozenset(), (
        "sonnet is already its effective model: nothing to redeploy"
    )
    assert touched_agents(base, remove_agent(base, "free")) == {"free"}
    assert touched_agents(base, set_agent_field(base, "free", "description", "x")) == frozenset(), (
        "a description is metadata: recorded without a deploy"
    )
