"""The pure planner: desired × observed × applied → actions with reasons. No processes, no files."""

from __future__ import annotations

import hashlib
import json

from desired.schema import AgentSpec, DesiredState, RunState, SwarmSettings, agent_fingerprint
from hive_kit.names import Role
from reconciler.model import ActionKind, Applied, ContainerState, Observed, spec_view
from reconciler.plan import plan
from reconciler.render import render_plan

REV = "a" * 40


def swarm(**models: str | None) -> DesiredState:
    agents = {"manager": AgentSpec(name="manager", role=Role.MANAGER)}
    agents.update({n: AgentSpec(name=n, model=m) for n, m in models.items()})
    return DesiredState(settings=SwarmSettings(), agents=agents)


def deployed(state: DesiredState) -> tuple[dict[str, Observed], dict[str, Applied]]:
    observed = {n: Observed(n, ContainerState.RUNNING) for n in state.agents}
    applied = {n: Applied(n, REV, agent_fingerprint(state, n), spec_view(state, n)) for n in state.agents}
    return observed, applied


def kinds(result) -> dict[str, ActionKind]:
    return {a.name: a.kind for a in result.actions}


def test_empty_world_creates_every_agent_and_summarises() -> None:
    state = swarm(coder="opus", writer=None)
    result = plan(state, REV, {}, {})
    assert kinds(result) == dict.fromkeys(["coder", "manager", "writer"], ActionKind.CREATE)
    assert result.counts == (3, 0, 0)
    text = render_plan(result)
    assert text[-1] == "Plan: 3 to create, 0 to change, 0 to destroy."
    assert '      + model = "opus"' in text


def test_converged_world_plans_nothing() -> None:
    state = swarm(coder="opus")
    observed, applied = deployed(state)
    result = plan(state, REV, observed, applied)
    assert result.empty
    assert render_plan(result)[-1].startswith("No changes.")


def test_model_change_updates_only_that_agent_with_old_and_new() -> None:
    old = swarm(coder="sonnet", writer="haiku")
    observed, applied = deployed(old)
    new = swarm(coder="opus", writer="haiku")
    result = plan(new, "b" * 40, observed, applied)
    assert kinds(result) == {"coder": ActionKind.UPDATE}
    action = result.actions[0]
    assert action.reason == "model changed sonnet → opus"
    assert "  ~ coder: update (model changed sonnet → opus)" in render_plan(result)
    assert '      ~ model: "sonnet" → "opus"' in render_plan(result)
    assert result.counts == (0, 1, 0)


def test_default_model_change_reaches_agents_that_follow_it() -> None:
    old = swarm(coder=None, pinned="opus")
    observed, applied = deployed(old)
    new = old.model_copy(update={"settings": SwarmSettings(default_model="haiku")})
    assert set(kinds(plan(new, REV, observed, applied))) == {"coder", "manager"}


def test_role_change_is_a_replace() -> None:
    old = DesiredState(agents={"boss": AgentSpec(name="boss", role=Role.MANAGER), "x": AgentSpec(name="x")})
    observed, applied = deployed(old)
    new = DesiredState(agents={"boss": AgentSpec(name="boss"), "x": AgentSpec(name="x", role=Role.MANAGER)})
    result = plan(new, REV, observed, applied)
    assert kinds(result) == {"boss": ActionKind.REPLACE, "x": ActionKind.REPLACE}
    assert result.counts == (2, 0, 2)
    assert any(line.startswith("  -/+ boss") for line in render_plan(result))


def test_removed_agent_is_destroyed_only_if_hyperhive_made_it() -> None:
    state = swarm(coder=None)
    observed, applied = deployed(state)
    observed["old"] = Observed("old", ContainerState.RUNNING)
    observed["foreign"] = Observed("foreign", ContainerState.RUNNING, managed=False)
    result = plan(state, REV, observed, applied)
    assert kinds(result) == {"old": ActionKind.DESTROY}
    assert ("foreign", "not created by hyperhive: never destroyed by it") in result.skipped
    assert render_plan(result)[-1] == "Plan: 0 to create, 0 to change, 1 to destroy."


def test_purge_of_a_removed_agent() -> None:
    state = swarm()
    observed, applied = deployed(state)
    result = plan(state, REV, observed, applied, purge={"gone"})
    assert kinds(result) == {"gone": ActionKind.PURGE}


def test_destroying_every_agent_is_refused_unless_allowed() -> None:
    old = swarm(coder=None)
    observed, applied = deployed(old)
    empty = DesiredState()
    refused = plan(empty, REV, observed, applied)
    assert refused.refused is not None and "allow_destroy_all" in refused.refused
    assert render_plan(refused)[0].startswith("Error: refusing to destroy every agent")
    allowed = DesiredState(settings=SwarmSettings(allow_destroy_all=True))
    assert plan(allowed, REV, observed, applied).refused is None


def test_crash_is_a_diff_restart_with_reason() -> None:
    state = swarm(coder=None)
    observed, applied = deployed(state)
    observed["coder"] = Observed("coder", ContainerState.EXITED, exit_code=137)
    result = plan(state, REV, observed, applied)
    assert kinds(result) == {"coder": ActionKind.START}
    assert result.actions[0].reason == "container exited unexpectedly (exit code 137)"


def test_desired_stopped_stops_and_stopped_agent_is_left_stopped() -> None:
    state = swarm(coder=None)
    observed, applied = deployed(state)
    stopped = state.model_copy(
        update={"agents": {**state.agents, "coder": AgentSpec(name="coder", state=RunState.STOPPED)}}
    )
    result = plan(stopped, REV, observed, applied)
    assert kinds(result) == {"coder": ActionKind.STOP}
    observed["coder"] = Observed("coder", ContainerState.STOPPED)
    assert plan(stopped, REV, observed, applied).empty


def test_suspended_agent_is_left_alone_even_if_it_changed() -> None:
    state = swarm(coder="sonnet")
    observed, applied = deployed(state)
    changed = state.model_copy(
        update={"agents": {**state.agents, "coder": AgentSpec(name="coder", model="opus", suspended=True)}}
    )
    result = plan(changed, REV, observed, applied)
    assert result.empty
    assert result.skipped[0][0] == "coder"


def test_unmanaged_container_with_a_desired_name_is_not_taken_over() -> None:
    state = swarm(coder=None)
    result = plan(state, REV, {"coder": Observed("coder", ContainerState.RUNNING, managed=False)}, {})
    assert "coder" not in kinds(result)
    assert result.skipped[0][0] == "coder"


def test_missing_applied_record_rebuilds() -> None:
    state = swarm(coder=None)
    observed, applied = deployed(state)
    del applied["coder"]
    result = plan(state, REV, observed, applied)
    assert kinds(result) == {"coder": ActionKind.UPDATE}
    assert result.actions[0].reason.startswith("no record of what was applied")


def test_json_form_carries_summary_and_field_changes() -> None:
    old = swarm(coder="sonnet")
    observed, applied = deployed(old)
    data = plan(swarm(coder="opus"), REV, observed, applied).to_json()
    assert data["summary"] == {
        "create": 0,
        "change": 1,
        "destroy": 0,
        "metadata_only": 0,
        "text": "Plan: 0 to create, 1 to change, 0 to destroy.",
    }
    assert data["actions"][0]["changes"] == [{"field": "model", "old": "sonnet", "new": "opus"}]


# ---- metadata: what nothing that runs reads ------------------------------------------------------


def described(text: str, model: str | None = None, state: RunState = RunState.RUNNING) -> DesiredState:
    agents = {
        "manager": AgentSpec(name="manager", role=Role.MANAGER),
        "coder": AgentSpec(name="coder", model=model, description=text, state=state),
    }
    return DesiredState(settings=SwarmSettings(), agents=agents)


def test_a_description_edit_is_metadata_only_and_the_plan_says_so() -> None:
    old = described("writes code")
    observed, applied = deployed(old)
    new = described("writes and reviews code")
    assert agent_fingerprint(old, "coder") == agent_fingerprint(new, "coder")
    result = plan(new, "b" * 40, observed, applied)
    [action] = result.actions
    assert (action.name, action.kind, action.reason) == (
        "coder",
        ActionKind.METADATA,
        "metadata only, no restart",
    )
    text = render_plan(result)
    assert "  ~ coder (metadata only, no restart)" in text
    assert '      ~ description: "writes code" → "writes and reviews code"' in text
    assert text[-1] == "Plan: 0 to create, 1 to change (1 metadata only), 0 to destroy."
    summary = result.to_json()["summary"]
    assert (summary["change"], summary["metadata_only"], summary["text"]) == (1, 1, text[-1])


def test_a_description_and_a_model_edit_together_rebuild_and_show_both() -> None:
    observed, applied = deployed(described("writes code", "sonnet"))
    result = plan(described("reviews code", "opus"), "b" * 40, observed, applied)
    [action] = result.actions
    assert action.kind is ActionKind.UPDATE
    assert [c.field for c in action.changes] == ["description", "model"]
    assert result.to_json()["summary"]["metadata_only"] == 0


def test_a_start_or_stop_carries_the_metadata_it_records() -> None:
    old = described("writes code")
    observed, applied = deployed(old)
    observed["coder"] = Observed("coder", ContainerState.EXITED, exit_code=9)
    start = plan(described("reviews code"), REV, observed, applied).for_agent("coder")
    assert start is not None and start.kind is ActionKind.START
    assert [(c.field, c.new) for c in start.changes] == [("description", "reviews code")]
    observed["coder"] = Observed("coder", ContainerState.RUNNING)
    stop = plan(described("reviews code", state=RunState.STOPPED), REV, observed, applied).for_agent("coder")
    assert stop is not None and stop.kind is ActionKind.STOP and len(stop.changes) == 1


def test_a_fingerprint_recorded_before_the_upgrade_still_matches() -> None:
    """Fingerprints stored by an older hyperhive hashed the description: none of them may rebuild.

    The old form is computed here as that version did (everything but suspended, state and egress).
    """
    old = described("writes code", "opus")
    # `budget` came later still and is never hashed: that version had no such key
    spec = old.agents["coder"].model_dump(mode="json", exclude={"suspended", "state", "egress", "budget"})
    for key in ("allowed_tools", "bash_allow"):
        del spec[key]
    spec.update(model="opus", agent_nix="", operator_pronouns="they/them")
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    stored = hashlib.sha256(blob).hexdigest()[:16]
    assert stored != agent_fingerprint(old, "coder"), (
        "the hash did change: this test must show why it is safe"
    )
    observed, applied = deployed(old)
    applied["coder"] = Applied("coder", REV, stored, spec_view(old, "coder"))
    assert plan(old, REV, observed, applied).empty
    meta = plan(described("reviews code", "opus"), REV, observed, applied).for_agent("coder")
    assert meta is not None and meta.kind is ActionKind.METADATA
    rebuild = plan(described("writes code", "haiku"), REV, observed, applied).for_agent("coder")
    assert rebuild is not None and rebuild.kind is ActionKind.UPDATE
