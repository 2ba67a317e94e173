"""A property of the pure planner: carrying out a plan leaves nothing to do (one pass converges).

Worlds are generated (desired agents, containers in every state, stale or
missing applied records, foreign containers); the plan's actions are
applied to a model of the world; planning again must find no action, and
foreign containers must be untouched.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desired.schema import AgentSpec, DesiredState, RunState, SwarmSettings, agent_fingerprint
from hive_kit.names import Role
from reconciler.model import ActionKind, Applied, ContainerState, Observed, spec_view
from reconciler.plan import plan

NAMES = ["a", "b", "c", "d", "e"]
REV = "f" * 40


@st.composite
def worlds(draw):  # type: ignore[no-untyped-def]
    wanted = draw(st.lists(st.sampled_from(NAMES), unique=True))
    agents = {"boss": AgentSpec(name="boss", role=Role.MANAGER)}
    for name in wanted:
        agents[name] = AgentSpec(
            name=name,
            model=draw(st.sampled_from([None, "opus", "haiku"])),
            state=draw(st.sampled_from(list(RunState))),
            suspended=draw(st.booleans()),
            description=draw(st.sampled_from(["", "writes code"])),
        )
    desired = DesiredState(settings=SwarmSettings(), agents=agents)
    observed, applied = {}, {}
    for name in [*NAMES, "boss", "foreign"]:
        if draw(st.booleans()):
            observed[name] = Observed(
                name, draw(st.sampled_from(list(ContainerState))), managed=name != "foreign"
            )
        record = draw(st.sampled_from(["none", "current", "stale", "other description"]))
        if record != "none" and name in agents:
            fp = agent_fingerprint(desired, name) if record != "stale" else "old"
            view = spec_view(desired, name)
            if record == "other description":  # deployed before a metadata-only edit
                view["description"] = "was something else"
            applied[name] = Applied(name, "e" * 40, fp, view)
    return desired, observed, applied


def carry_out(desired, observed, applied, actions):  # type: ignore[no-untyped-def]
    observed, applied = dict(observed), dict(applied)
    for action in actions:
        name = action.name
        if action.kind in (ActionKind.DESTROY, ActionKind.PURGE):
            observed.pop(name, None)
            applied.pop(name, None)
            continue
        running = desired.agents[name].state is RunState.RUNNING
        rebuilt = action.kind in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE)
        if rebuilt or action.kind is ActionKind.METADATA or action.changes:  # as act.apply records
            applied[name] = Applied(name, REV, action.fingerprint, spec_view(desired, name))
        if action.kind is ActionKind.METADATA:
            continue
        elif action.kind is ActionKind.STOP:
            running = False
        state = ContainerState.RUNNING if running else ContainerState.STOPPED
        observed[name] = Observed(name, state)
    return observed, applied


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_one_pass_converges_and_never_touches_foreign_containers(world) -> None:  # type: ignore[no-untyped-def]
    desired, observed, applied = world
    first = plan(desired, REV, observed, applied)
    assert all(a.name != "foreign" for a in first.actions)
    if first.refused:
        return
    observed2, applied2 = carry_out(desired, observed, applied, first.actions)
    second = plan(desired, REV, observed2, applied2)
    assert second.actions == (), (first.actions, second.actions)
    assert observed2.get("foreign") == observed.get("foreign")
