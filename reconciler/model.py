"""The records the pure core works on: what is desired, what runs, what was applied, and the plan.

All frozen dataclasses with no I/O, so diffing and planning can be tested
(and benchmarked at 1,000 agents) without a process, a socket or a file.
The loop builds these from the meta repo, the runtime and the deploy store,
hands them to ``reconciler.plan.plan``, and acts on the resulting ``Plan``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from desired.schema import (
    METADATA,
    UNSET_UNHASHED,
    DesiredState,
    RunState,
    agent_fingerprint,
    legacy_fingerprint,
)


class ContainerState(StrEnum):
    """What the runtime says about one container."""

    RUNNING = "running"
    STOPPED = "stopped"  # stopped on purpose (by us)
    EXITED = "exited"  # its process ended without being asked to
    STARTING = "starting"


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class SelfRestart:
    """A crash the runtime saw and already restarted itself (Kubernetes: the kubelet or the
    StatefulSet controller). ``seq`` grows per driver instance, so the loop reports each one
    once as a ``container_crash`` event and restarts nothing."""

    seq: int
    detail: str


@dataclass(frozen=True)
class Observed:
    """One container as the runtime lists it."""

    name: str
    state: ContainerState
    managed: bool = True  # in hyperhive's inventory (only those are ever destroyed)
    exit_code: int | None = None
    pid: int | None = None
    detail: str = ""
    warning: str = ""  # said in the agent's status message (e.g. it runs without its sandbox)
    rebuild: str = ""
    """Why the runtime's own inputs (not desired state) call for a rebuild: a nixos container built
    on the host's old Nix pins. The fingerprint covers desired state only, so it never churns."""
    rebuild_changes: tuple[FieldChange, ...] = ()
    self_restarts: tuple[SelfRestart, ...] = field(default=(), compare=False)
    """The runtime's own recent restarts of this agent, oldest first (a bounded window)."""


@dataclass(frozen=True)
class Applied:
    """What was last deployed for an agent: kept durably in the deploy store."""

    name: str
    revision: str
    fingerprint: str
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # rebuild in place with the new spec
    REPLACE = "replace"  # destroy then create (role changed)
    START = "start"
    RESTART = "restart"
    STOP = "stop"
    DESTROY = "destroy"  # keep the state dir
    PURGE = "purge"  # destroy and remove the state dir
    METADATA = "metadata"  # record what only people read (description): nothing restarts

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    ActionKind.CREATE: "+",
    ActionKind.UPDATE: "~",
    ActionKind.REPLACE: "-/+",
    ActionKind.START: "~",
    ActionKind.RESTART: "~",
    ActionKind.STOP: "~",
    ActionKind.DESTROY: "-",
    ActionKind.PURGE: "-",
    ActionKind.METADATA: "~",
}

METADATA_ONLY = "metadata only, no restart"


@dataclass(frozen=True)
class Action:
    """One thing to do to one agent, and why, in words an operator understands."""

    name: str
    kind: ActionKind
    reason: str
    changes: tuple[FieldChange, ...] = ()
    revision: str = ""
    fingerprint: str = ""
    rebuild: str = ""
    """Set when the runtime's own inputs moved (``Observed.rebuild``): a stall lifts when they
    move again, as it does when the fingerprint changes."""

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.name,
            "action": self.kind.value,
            "symbol": self.kind.symbol,
            "reason": self.reason,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in self.changes],
            "revision": self.revision,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Plan:
    """Every action one pass would take; ``refused`` stops the whole pass (nothing is applied)."""

    revision: str
    actions: tuple[Action, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (agent, why) left alone: suspended, unmanaged
    refused: str | None = None

    @property
    def counts(self) -> tuple[int, int, int]:
        """(to create, to change, to destroy), Terraform's way: a replace counts as both."""
        create = sum(a.kind in (ActionKind.CREATE, ActionKind.REPLACE) for a in self.actions)
        destroy = sum(
            a.kind in (ActionKind.DESTROY, ActionKind.PURGE, ActionKind.REPLACE) for a in self.actions
        )
        change = sum(a.kind.symbol == "~" for a in self.actions)
        return create, change, destroy

    @property
    def metadata_only(self) -> int:
        """How many of the changes restart nothing (counted in "to change" too)."""
        return sum(a.kind is ActionKind.METADATA for a in self.actions)

    def summary_text(self) -> str:
        """Terraform's summary line; the CLI, ``--json`` and the dashboard all show this one."""
        create, change, destroy = self.counts
        meta = f" ({self.metadata_only} metadata only)" if self.metadata_only else ""
        return f"Plan: {create} to create, {change} to change{meta}, {destroy} to destroy."

    @property
    def empty(self) -> bool:
        return not self.actions and self.refused is None

    def for_agent(self, name: str) -> Action | None:
        return next((a for a in self.actions if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        create, change, destroy = self.counts
        return {
            "revision": self.revision,
            "actions": [a.to_json() for a in self.actions],
            "skipped": [{"agent": n, "why": w} for n, w in self.skipped],
            "refused": self.refused,
            "summary": {
                "create": create,
                "change": change,
                "destroy": destroy,
                "metadata_only": self.metadata_only,
                "text": self.summary_text(),
            },
        }


def spec_view(state: DesiredState, name: str) -> dict[str, Any]:
    """The fields of an agent an operator recognises, resolved (effective model, its agent.nix).

    Stored with each applied record so a later plan can say "model sonnet → opus"
    field by field; it covers exactly what ``agent_fingerprint`` hashes.
    """
    spec = state.agents[name]
    nix = state.agent_nix.get(name, "")
    view: dict[str, Any] = {
        "role": spec.role.value,
        "model": state.effective_model(name),
        "description": spec.description,
        "allowed_recipients": list(spec.allowed_recipients),
        "extra_mcp_servers": {k: v.model_dump(mode="json") for k, v in spec.extra_mcp_servers.items()},
        "agent_nix": _short_hash(nix) if nix else "",
        "operator_pronouns": state.settings.operator_pronouns,
    }
    for key in UNSET_UNHASHED:  # shown once set, as the fingerprint hashes them
        value = getattr(spec, key)
        if value is not None:
            view[key] = list(value)
    return view


def wants_running(state: DesiredState, name: str) -> bool:
    return state.agents[name].state is RunState.RUNNING


def effective_config(state: DesiredState, name: str) -> tuple[str, bool, bool] | None:
    """Everything the planner acts on for one agent; None when the agent is not desired.

    (its fingerprint, whether it should run, whether it is suspended): two
    revisions with equal values here plan the same for this agent, so a
    commit "touches" an agent exactly when this differs across it. Swarm-wide
    settings count through the fingerprint (the effective model, the operator's
    pronouns); ones no agent sees (agent_defaults, allow_destroy_all) do not.
    """
    spec = state.agents.get(name)
    if spec is None:
        return None
    return agent_fingerprint(state, name), spec.state is RunState.RUNNING, spec.suspended


def runs_as_applied(state: DesiredState, name: str, fingerprint: str, spec: dict[str, Any]) -> bool:
    """Whether an agent deployed with ``fingerprint`` (and applied ``spec``) runs what ``state`` says.

    Metadata may still differ. A fingerprint recorded before ``METADATA`` left the hash is
    compared the old way, with the metadata it was deployed with (``legacy_fingerprint``), so
    upgrading hyperhive rebuilds no agent.
    """
    if fingerprint == agent_fingerprint(state, name):
        return True
    return fingerprint == legacy_fingerprint(state, name, {k: spec[k] for k in METADATA if k in spec})


def metadata_changes(applied: dict[str, Any], view: dict[str, Any]) -> tuple[FieldChange, ...]:
    """The ``METADATA`` fields whose desired value differs from the applied one."""
    return tuple(
        FieldChange(k, applied.get(k), view.get(k)) for k in METADATA if applied.get(k) != view.get(k)
    )


def touched_agents(before: DesiredState, after: DesiredState) -> frozenset[str]:
    """The agents whose effective config differs between two revisions (added and removed ones too)."""
    names = before.agents.keys() | after.agents.keys()
    return frozenset(n for n in names if effective_config(before, n) != effective_config(after, n))


def _short_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[FieldChange, ...]:
    keys = sorted(old.keys() | new.keys())
    out = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if before != after:  # JSON-shaped values (lists, dicts, str): == is structural
            out.append(FieldChange(key, before, after))
    return tuple(out)
