"""Egress allow-lists and tool policy in desired state: validation, defaults, what rebuilds and what not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from desired.changes import apply_changes, coerce_value
from desired.egress import PATTERN_FIX
from desired.files import dump_files, load_files
from desired.schema import AgentSpec, DesiredState, SwarmSettings, agent_fingerprint
from hive_kit.changes import AGENT_FIELDS, SETTING_FIELDS, ChangeSet, SetAgentField, SetSetting
from hive_kit.errors import DesiredStateError
from hive_kit.names import Role
from reconciler.model import (
    ActionKind,
    Applied,
    ContainerState,
    Observed,
    runs_as_applied,
    spec_view,
    touched_agents,
)
from reconciler.plan import plan
from reconciler.render import render_plan
from tests.conftest import HiveRunner
from tests.desired.helpers import swarm

REV = "b" * 40


def problems_of(files: dict[str, bytes]) -> list[tuple[str, str, str, str]]:
    with pytest.raises(DesiredStateError) as info:
        load_files(files)
    return [(p.file, p.path, p.message, p.fix) for p in info.value.problems]


def state_of(settings: dict | None = None, **coder: object) -> DesiredState:
    return load_files(swarm(("boss", {}), ("coder", dict(coder)), settings=settings))


# ---- egress --------------------------------------------------------------------------------------


def test_egress_defaults_to_the_swarm_list_and_an_agent_list_replaces_it() -> None:
    state = state_of({"egress": ["pypi.org", "*.github.com"]}, egress=["docs.python.org:443"])
    assert state.egress_for("boss") == ("pypi.org", "*.github.com")  # null: the swarm's
    assert state.egress_for("coder") == ("docs.python.org:443",)
    closed = state_of({"egress": ["pypi.org"]}, egress=[])
    assert closed.egress_for("coder") == ()  # [] = nothing but the model API, which the host adds
    assert state_of().egress_for("coder") == ()  # the swarm default is empty


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("https://pypi.org", "leave out the scheme"),
        ("*", "every host"),
        ("pypi.org:99999", "port"),
        ("a.*.com", "first label"),
        ("::1", "brackets"),
        ("", "empty"),
    ],
)
def test_a_bad_egress_pattern_names_file_path_reason_and_fix(bad: str, why: str) -> None:
    [(file, path, message, fix)] = problems_of(swarm(("boss", {}), ("coder", {"egress": ["pypi.org", bad]})))
    assert (file, path) == ("agents/coder.json", "$.egress[1]")
    assert why in message
    assert fix == PATTERN_FIX


def test_the_swarm_egress_is_validated_in_hive_json_and_duplicates_are_refused() -> None:
    found = problems_of(swarm(("boss", {}), settings={"egress": ["pypi.org", "PyPI.org", "http://x"]}))
    assert [(f, p) for f, p, _, _ in found] == [("hive.json", "$.egress[1]"), ("hive.json", "$.egress[2]")]
    assert "listed twice" in found[0][2]
    assert "scheme" in found[1][2]


def test_egress_must_be_a_list_of_strings_or_null() -> None:
    [(file, path, _message, _fix)] = problems_of(swarm(("boss", {}), ("coder", {"egress": "pypi.org"})))
    assert (file, path) == ("agents/coder.json", "$.egress")
    load_files(swarm(("boss", {}), ("coder", {"egress": None})))


def test_an_egress_change_rebuilds_nothing_and_touches_no_agent() -> None:
    before = state_of(egress=["pypi.org"])
    after = state_of({"egress": ["github.com"]}, egress=["pypi.org", "github.com"])
    assert agent_fingerprint(before, "coder") == agent_fingerprint(after, "coder")
    assert agent_fingerprint(before, "boss") == agent_fingerprint(after, "boss")
    assert touched_agents(before, after) == frozenset()
    observed = {n: Observed(n, ContainerState.RUNNING) for n in before.agents}
    applied = {n: Applied(n, REV, agent_fingerprint(before, n), spec_view(before, n)) for n in before.agents}
    assert plan(after, REV, observed, applied).empty


# ---- tool policy ---------------------------------------------------------------------------------


def test_a_valid_tool_policy_loads() -> None:
    state = state_of(
        allowed_tools=["Read", "Edit", "WebFetch(domain:docs.python.org)"], bash_allow=["git *", "pytest *"]
    )
    assert state.agents["coder"].bash_allow == ("git *", "pytest *")
    assert state_of(bash_allow=[]).agents["coder"].bash_allow == ()
    assert state_of().agents["coder"].allowed_tools is None


@pytest.mark.parametrize(
    ("tools", "bash", "path", "why", "fix"),
    [
        (["Read", "Bash(git *)\nBash"], None, "$.allowed_tools[1]", "newline", "one line"),
        (["WebFetch(domain:x.org) Bash("], None, "$.allowed_tools[0]", "not a tool name", "WebFetch(domain"),
        (["Bash(git log (x)"], None, "$.allowed_tools[0]", "parenthesis", "Read"),
        (["Read()"], None, "$.allowed_tools[0]", "empty specifier", '"Read"'),
        (["mcp__github__search"], None, "$.allowed_tools[0]", "MCP tool", "extra_mcp_servers"),
        (["*"], None, "$.allowed_tools[0]", "not a tool name", "Read"),
        ([" "], None, "$.allowed_tools[0]", "empty", "remove it"),
        (["Read", "Read"], None, "$.allowed_tools[1]", "listed twice", "duplicate"),
        (["Read", "Bash"], ["git *"], "$.allowed_tools[1]", "bash_allow decides", "bash_allow"),
        (None, ["git *", "rm -rf /)\nBash"], "$.bash_allow[1]", "newline", "one line"),
        (None, ["git log)"], "$.bash_allow[0]", "parenthesis", "wider pattern"),
        (None, ["Bash(git *)"], "$.bash_allow[0]", "written as a rule", '"git *"'),
        (None, [""], "$.bash_allow[0]", "empty pattern", "no Bash at all"),
        (None, ["git *", "git *"], "$.bash_allow[1]", "listed twice", "duplicate"),
        (None, ["x" * 201], "$.bash_allow[0]", "limit is 200", "one line"),
    ],
)
def test_a_bad_tool_policy_names_the_entry_what_is_wrong_and_the_fix(
    tools: list[str] | None, bash: list[str] | None, path: str, why: str, fix: str
) -> None:
    fields = {k: v for k, v in (("allowed_tools", tools), ("bash_allow", bash)) if v is not None}
    [(file, found_path, message, found_fix)] = problems_of(swarm(("boss", {}), ("coder", fields)))
    assert (file, found_path) == ("agents/coder.json", path)
    assert why in message
    assert fix in found_fix


def test_unset_tool_fields_keep_the_fingerprint_an_upgrade_would_compare_against() -> None:
    """Fingerprints recorded before these fields existed must still match: upgrading rebuilds no agent."""
    state = state_of(model="opus", description="writes code")
    spec = state.agents["coder"]
    old = spec.model_dump(
        mode="json", exclude={"suspended", "state", "egress", "allowed_tools", "bash_allow", "budget"}
    )  # `budget` came later and is never hashed: that version had no such key
    old.update(model="opus", agent_nix="", operator_pronouns="they/them")
    blob = json.dumps(old, sort_keys=True, separators=(",", ":")).encode()
    stored = hashlib.sha256(blob).hexdigest()[:16]
    # the description has left the hash since (metadata): the old form is still recognised
    assert runs_as_applied(state, "coder", stored, spec_view(state, "coder"))
    observed = {n: Observed(n, ContainerState.RUNNING) for n in state.agents}
    applied = {n: Applied(n, REV, agent_fingerprint(state, n), spec_view(state, n)) for n in state.agents}
    applied["coder"] = Applied("coder", REV, stored, spec_view(state, "coder"))
    assert plan(state, REV, observed, applied).empty


def test_a_tool_policy_change_rebuilds_and_the_plan_shows_it() -> None:
    before = state_of()
    after = state_of(bash_allow=["git *"], allowed_tools=["Read", "Edit"])
    assert agent_fingerprint(before, "coder") != agent_fingerprint(after, "coder")
    assert touched_agents(before, after) == frozenset({"coder"})
    observed = {n: Observed(n, ContainerState.RUNNING) for n in before.agents}
    applied = {n: Applied(n, REV, agent_fingerprint(before, n), spec_view(before, n)) for n in before.agents}
    result = plan(after, REV, observed, applied)
    [action] = result.actions
    assert (action.name, action.kind) == ("coder", ActionKind.UPDATE)
    assert action.reason == "allowed_tools changed; bash_allow changed"
    text = render_plan(result)
    assert '      + bash_allow: ["git *"]' in text
    assert '      + allowed_tools: ["Read", "Edit"]' in text
    # and back to the defaults: shown as removed, rebuilt again
    applied = {"coder": Applied("coder", REV, agent_fingerprint(after, "coder"), spec_view(after, "coder"))}
    back = plan(before, REV, {"coder": observed["coder"]}, applied).for_agent("coder")
    assert back is not None and back.kind is ActionKind.UPDATE
    assert '      - bash_allow: ["git *"]' in render_plan(
        plan(before, REV, {"coder": observed["coder"]}, applied)
    )


def test_no_bash_is_a_change_from_unrestricted_bash() -> None:
    before, after = state_of(), state_of(bash_allow=[])
    assert agent_fingerprint(before, "coder") != agent_fingerprint(after, "coder")
    assert spec_view(after, "coder")["bash_allow"] == []


# ---- the change vocabulary -----------------------------------------------------------------------


def test_the_new_fields_are_in_the_change_vocabulary() -> None:
    assert {"egress", "allowed_tools", "bash_allow"} <= set(AGENT_FIELDS)
    assert "egress" in SETTING_FIELDS
    state = state_of()
    changed = apply_changes(
        state,
        ChangeSet(
            ops=[
                SetAgentField(name="coder", field="egress", value=["pypi.org"]),
                SetAgentField(name="coder", field="bash_allow", value=["git *"]),
                SetSetting(field="egress", value=["github.com"]),
            ]
        ),
    )
    assert changed.egress_for("coder") == ("pypi.org",)
    assert changed.egress_for("boss") == ("github.com",)
    bad = apply_changes(state, ChangeSet(ops=[SetSetting(field="egress", value=["https://x"])]))
    with pytest.raises(DesiredStateError) as info:  # the rules run where every write is validated
        load_files(dump_files(bad))
    assert (info.value.problems[0].file, info.value.problems[0].path) == ("hive.json", "$.egress[0]")


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("egress", "github.com,pypi.org", ["github.com", "pypi.org"]),
        ("egress", " github.com , *.pythonhosted.org:443 ", ["github.com", "*.pythonhosted.org:443"]),
        ("egress", '["github.com"]', ["github.com"]),
        ("egress", "", []),
        ("egress", "null", None),
        ("egress", "default", None),
        ("bash_allow", "git *,pytest *", ["git *", "pytest *"]),
        ("bash_allow", "", []),
        ("allowed_tools", "Read,Edit", ["Read", "Edit"]),
        ("allowed_tools", "default", None),
    ],
)
def test_typed_values_become_lists_or_null(field: str, typed: str, value: object) -> None:
    assert coerce_value(field, typed) == value


def test_the_schema_documents_the_fields() -> None:
    agent = AgentSpec.model_json_schema()["properties"]
    assert {"egress", "allowed_tools", "bash_allow"} <= set(agent)
    assert "model API" in agent["egress"]["description"]
    assert "egress" in SwarmSettings.model_json_schema()["properties"]
    assert AgentSpec(name="x", role=Role.AGENT).egress is None


# ---- the CLI -------------------------------------------------------------------------------------


def test_hive_agent_set_egress_and_tools(hive: HiveRunner, state_dir: Path) -> None:
    assert hive("init").returncode == 0
    assert hive("agent", "add", "coder").returncode == 0
    out = hive("agent", "set", "coder", "egress", "github.com,pypi.org")
    assert out.returncode == 0, out.stderr
    assert hive("agent", "set", "coder", "bash_allow", "git *,pytest *").returncode == 0
    shown = json.loads(hive("agent", "show", "coder", "--json").stdout)
    assert shown["egress"] == ["github.com", "pypi.org"]
    assert shown["bash_allow"] == ["git *", "pytest *"]
    bad = hive("agent", "set", "coder", "egress", "https://github.com")
    assert bad.returncode == 1
    assert "agents/coder.json: $.egress[0]" in bad.stderr and "leave out the scheme" in bad.stderr
    assert hive("agent", "set", "coder", "egress", "default").returncode == 0
    assert json.loads(hive("agent", "show", "coder", "--json").stdout)["egress"] is None
