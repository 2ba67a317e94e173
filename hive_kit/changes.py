"""The change vocabulary: the ops every editor of desired state speaks, and who may not propose what.

`hive agent add/set/remove`, `hive propose --file CHANGE.json`, the
dashboard's forms and the manager's `propose` tool all build a ``ChangeSet``
of these ops. They are part of the host–harness contract (the manager's
``propose`` carries them over the wire), so they live in the kit: the harness
can check a change before sending it. What a change *does* to desired state
(``apply_changes``) is ``desired.changes``; the host validates again there.

A change file looks like::

    {"ops": [
      {"op": "add_agent", "agent": {"name": "coder", "model": "opus"}},
      {"op": "set", "name": "coder", "field": "allowed_recipients", "value": ["manager"]},
      {"op": "remove_agent", "name": "old"}
    ]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hive_kit.errors import BadRequestError

AgentField = Literal[
    "role",
    "model",
    "state",
    "description",
    "allowed_recipients",
    "extra_mcp_servers",
    "suspended",
    "egress",
    "allowed_tools",
    "bash_allow",
    "budget",
]
AGENT_FIELDS: tuple[str, ...] = AgentField.__args__  # type: ignore[attr-defined]
SettingField = Literal[
    "operator_pronouns",
    "default_model",
    "agent_defaults",
    "allow_destroy_all",
    "egress",
    "max_agents",
    "max_spawns_per_day",
    "max_concurrent_turns",
    "budget",
]
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


def parse_ops(ops: Sequence[Any]) -> ChangeSet:
    """``{"ops": ops}`` as a ChangeSet, or a BadRequestError naming each bad op and field."""
    try:
        return ChangeSet.model_validate({"ops": list(ops)})
    except ValidationError as exc:
        problems = "; ".join(
            f"ops.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise BadRequestError(
            f"invalid change ops: {problems}. Each op is one of add_agent, remove_agent, set, "
            "set_setting, set_agent_nix (see docs/desired-state.md)"
        ) from None


SELF_FIELDS = frozenset({"state", "suspended", "role", "budget"})
"""Fields of its own spec the manager may not propose to change: it would cut its own legs (or,
for ``budget``, lift the guard on its own spend)."""

HOST_SETTINGS = frozenset(
    {"allow_destroy_all", "max_agents", "max_spawns_per_day", "max_concurrent_turns", "budget"}
    | {"kubernetes_namespace"}
)
"""hive.json fields only the operator changes: the host's own guards, not the swarm's shape
(the caps on fan-out and the swarm-wide budget bound the manager itself; the namespace is where
the daemon's Role lets it act, and moving it would strand every pod)."""


def host_setting_refusal(field: str) -> str:
    return (
        f"hive.json `{field}` is the operator's guard; the manager may not change it "
        "(leave it as it is on main, or ask the operator)"
    )


def self_change_refusal(me: str, changes: ChangeSet) -> str | None:
    """Why ``me`` (the manager) may not propose ``changes``, or None.

    The host enforces this on every proposal from the manager's socket; the
    harness asks the same function first, so the model gets the reason
    without a round trip.
    """
    for op in changes.ops:
        if isinstance(op, RemoveAgent) and op.name == me:
            return f"you ({me}) may not propose removing yourself"
        if isinstance(op, SetAgentField) and op.name == me and op.field in SELF_FIELDS:
            return f"you ({me}) may not propose changing your own {op.field}"
        if isinstance(op, AddAgent) and op.agent.get("name") == me:
            return f"{me} is you"
        if isinstance(op, SetSetting) and op.field in HOST_SETTINGS:
            return host_setting_refusal(op.field)
    return None


def self_target_refusal(me: str, target: str, verb: str) -> str | None:
    """Why ``me`` may not ``verb`` (start, stop, restart, update, spawn) ``target``, or None."""
    if target != me:
        return None
    return f"you ({me}) may not {verb} yourself; ask the operator if it is really needed (send to operator)"
