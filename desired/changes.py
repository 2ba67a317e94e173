"""Structured changes to desired state: the one vocabulary every editor speaks.

`hive agent add/set/remove`, `hive propose --file CHANGE.json`, the
dashboard's forms and the manager's `propose` tool all build a ``ChangeSet``
and apply it with ``apply_changes``: a pure function from one state to the
next. Whether the result is committed to `main` or becomes a proposal is the
caller's choice, not the change's.

A change file looks like::

    {"ops": [
      {"op": "add_agent", "agent": {"name": "coder", "model": "opus"}},
      {"op": "set", "name": "coder", "field": "allowed_recipients", "value": ["manager"]},
      {"op": "remove_agent", "name": "old"}
    ]}
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from desired.errors import DesiredStateError, NotFoundError, Problem, UserError
from desired.files import validate_json
from desired.names import NAME_FIX, name_problem
from desired.rules import agent_file
from desired.schema import AgentSpec, DesiredState, Role, SwarmSettings

AgentField = Literal[
    "role", "model", "state", "description", "allowed_recipients", "extra_mcp_servers", "suspended"
]
AGENT_FIELDS: tuple[str, ...] = AgentField.__args__  # type: ignore[attr-defined]
SettingField = Literal["operator_pronouns", "default_model", "agent_defaults", "allow_destroy_all"]
SETTING_FIELDS: tuple[str, ...] = SettingField.__args__  # type: ignore[attr-defined]

_OP = ConfigDict(extra="forbid", frozen=True)


class AddAgent(BaseModel):
    """Add an agent; fields left out come from hive.json's agent_defaults."""

    model_config = _OP
    op: Literal["add_agent"] = "add_agent"
    agent: dict[str, Any] = Field(description="Fields of agents/<name>.json; 'name' is required.")


class RemoveAgent(BaseModel):
    """Remove an agent from desired state (its container goes; its state dir is kept)."""

    model_config = _OP
    op: Literal["remove_agent"] = "remove_agent"
    name: str


class SetAgentField(BaseModel):
    """Set one field of an agent."""

    model_config = _OP
    op: Literal["set"] = "set"
    name: str
    field: AgentField
    value: Any = None


class SetSetting(BaseModel):
    """Set one field of hive.json."""

    model_config = _OP
    op: Literal["set_setting"] = "set_setting"
    field: SettingField
    value: Any = None


class SetAgentNix(BaseModel):
    """Replace (or with null, delete) an agent's free-form agents/<name>/agent.nix."""

    model_config = _OP
    op: Literal["set_agent_nix"] = "set_agent_nix"
    name: str
    text: str | None = None


Op = Annotated[AddAgent | RemoveAgent | SetAgentField | SetSetting | SetAgentNix, Field(discriminator="op")]


class ChangeSet(BaseModel):
    model_config = _OP
    ops: list[Op] = Field(min_length=1)

    def summary(self) -> str:
        return "; ".join(describe_op(op) for op in self.ops)


def describe_op(op: AddAgent | RemoveAgent | SetAgentField | SetSetting | SetAgentNix) -> str:
    if isinstance(op, AddAgent):
        return f"add agent {op.agent.get('name', '?')}"
    if isinstance(op, RemoveAgent):
        return f"remove agent {op.name}"
    if isinstance(op, SetAgentField):
        return f"set {op.name}.{op.field} = {json.dumps(op.value)}"
    if isinstance(op, SetSetting):
        return f"set hive.{op.field} = {json.dumps(op.value)}"
    return f"{'replace' if op.text is not None else 'delete'} agents/{op.name}/agent.nix"


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
    return state.model_copy(update={"agents": agents, "agent_nix": nix})


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
