"""What a change does to desired state: ``apply_changes``, a pure function from one state to the next.

The ops themselves (``ChangeSet`` and friends) are the kit's
(``hive_kit.changes``): the manager's harness speaks them too. Whether the
result is committed to `main` or becomes a proposal is the caller's choice
(``desired.edit.write``), not the change's.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from desired.files import validate_json
from desired.rules import agent_file
from desired.schema import AgentSpec, DesiredState, SwarmSettings
from hive_kit.changes import (
    AGENT_FIELDS,
    SETTING_FIELDS,
    AddAgent,
    ChangeSet,
    RemoveAgent,
    SetAgentField,
    SetSetting,
)
from hive_kit.errors import DesiredStateError, NotFoundError, Problem, UserError
from hive_kit.names import NAME_FIX, Role, name_problem


def parse_changeset(data: bytes, file: str = "change.json") -> ChangeSet:
    """Parse a change file; a bare list of ops is accepted as well as {"ops": [...]}."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raw = None
    if isinstance(raw, list):
        data = json.dumps({"ops": raw}).encode()
    changeset, problems = validate_json(ChangeSet, file, data)
    if problems:
        raise DesiredStateError(problems)
    assert isinstance(changeset, ChangeSet)
    return changeset


def _agent(state: DesiredState, name: str) -> AgentSpec:
    spec = state.agents.get(name)
    if spec is None:
        known = ", ".join(sorted(state.agents)) or "none"
        raise NotFoundError(f"no agent named {name!r} (agents: {known}); `hive agent list` shows them")
    return spec


def _revalidate(model: type[BaseModel], file: str, data: dict[str, Any]) -> Any:
    parsed, problems = validate_json(model, file, json.dumps(data).encode())
    if problems:
        raise DesiredStateError(problems)
    return parsed


def add_agent(state: DesiredState, fields: dict[str, Any]) -> DesiredState:
    name = fields.get("name")
    if not isinstance(name, str):
        raise DesiredStateError([Problem("agents/<name>.json", "$.name", "a name is required", NAME_FIX)])
    why = name_problem(name)
    if why is not None:
        raise DesiredStateError([Problem(agent_file(name), "$.name", why, NAME_FIX)])
    if name in state.agents:
        raise UserError(f"agent {name!r} already exists; change it with `hive agent set {name} FIELD VALUE`")
    defaults = state.settings.agent_defaults.model_dump(mode="json")
    spec = _revalidate(AgentSpec, agent_file(name), {**defaults, **fields})
    return state.model_copy(update={"agents": {**state.agents, name: spec}})


def remove_agent(state: DesiredState, name: str) -> DesiredState:
    spec = _agent(state, name)
    if spec.role is Role.MANAGER:
        raise UserError(
            f"{name!r} is the manager and a swarm needs one; make another agent the manager first"
        )
    agents = {k: v for k, v in state.agents.items() if k != name}
    nix = {k: v for k, v in state.agent_nix.items() if k != name}
    seeds = {k: v for k, v in state.seeds.items() if k != name}  # its seed files go with it
    return state.model_copy(update={"agents": agents, "agent_nix": nix, "seeds": seeds})


def set_agent_field(state: DesiredState, name: str, field: str, value: Any) -> DesiredState:
    if field == "name":
        raise UserError("an agent cannot be renamed in place; add the new name and remove the old one")
    if field not in AGENT_FIELDS:
        raise UserError(f"unknown agent field {field!r}; settable fields: {', '.join(AGENT_FIELDS)}")
    spec = _agent(state, name)
    data = {**spec.model_dump(mode="json"), field: value}
    updated = _revalidate(AgentSpec, agent_file(name), data)
    return state.model_copy(update={"agents": {**state.agents, name: updated}})


def set_setting(state: DesiredState, field: str, value: Any) -> DesiredState:
    if field not in SETTING_FIELDS:
        raise UserError(f"unknown hive.json field {field!r}; settable fields: {', '.join(SETTING_FIELDS)}")
    data = {**state.settings.model_dump(mode="json"), field: value}
    settings = _revalidate(SwarmSettings, "hive.json", data)
    return state.model_copy(update={"settings": settings})


def set_agent_nix(state: DesiredState, name: str, text: str | None) -> DesiredState:
    _agent(state, name)
    nix = {k: v for k, v in state.agent_nix.items() if k != name}
    if text is not None:
        nix[name] = text
    return state.model_copy(update={"agent_nix": nix})


def draft_agent(
    state: DesiredState, fields: dict[str, Any], agent_nix: str | None, seeds: dict[str, bytes]
) -> DesiredState:
    """A new agent whole: its JSON (``add_agent``: refused if it exists), its agent.nix, its seed files."""
    state = add_agent(state, fields)
    name = str(fields["name"])
    if agent_nix is not None:
        state = set_agent_nix(state, name, agent_nix)
    if seeds:
        state = state.model_copy(update={"seeds": {**state.seeds, name: dict(sorted(seeds.items()))}})
    return state


def apply_changes(state: DesiredState, changes: ChangeSet) -> DesiredState:
    """Apply every op in order; pure, so it can be re-run after a lost race."""
    for op in changes.ops:
        if isinstance(op, AddAgent):
            state = add_agent(state, op.agent)
        elif isinstance(op, RemoveAgent):
            state = remove_agent(state, op.name)
        elif isinstance(op, SetAgentField):
            state = set_agent_field(state, op.name, op.field, op.value)
        elif isinstance(op, SetSetting):
            state = set_setting(state, op.field, op.value)
        else:
            state = set_agent_nix(state, op.name, op.text)
    return state


_TEXT_FIELDS = frozenset({"role", "model", "state", "description"})
_LIST_FIELDS = frozenset({"allowed_recipients", "egress", "allowed_tools", "bash_allow"})
_NULLABLE_LISTS = frozenset({"egress", "allowed_tools", "bash_allow"})
"""Lists whose null means "the default" (the swarm's egress, the built-in tool set, Bash unrestricted)."""


def split_names(text: str) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``: how a person types a list of names."""
    return [item.strip() for item in text.split(",") if item.strip()]


def coerce_value(field: str, raw: Any) -> Any:
    """A value a person typed (`hive agent set`'s VALUE, a dashboard form) as the JSON value for ``field``.

    Lists take JSON or comma-separated names (nothing is the empty list);
    objects and booleans take JSON; `model` takes `null`, `default` or nothing
    to follow the swarm's default, and `egress`, `allowed_tools`, `bash_allow`
    take `null` or `default` for theirs.
    Anything already typed (JSON sent by the page) passes through, and what
    cannot be read is passed on as text for the schema to say what it expected.
    """
    if not isinstance(raw, str):
        return raw
    if field == "model" and raw in ("", "null", "default"):
        return None
    if field in _TEXT_FIELDS:
        return raw
    if field in _NULLABLE_LISTS and raw.strip() in ("null", "default"):
        return None
    if field in _LIST_FIELDS and not raw.lstrip().startswith("["):
        return split_names(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
