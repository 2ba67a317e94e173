"""The desired-state schema: `hive.json` (swarm settings) and `agents/<name>.json`.

Types only. Every rule that needs more than a type (name shapes, recipients
that exist, one manager) lives in ``desired.rules`` so each can produce a
Problem that names the file, the JSON path and the fix. Unknown fields are
refused (``extra="forbid"``): a typo like ``"modle"`` must not silently do
nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hive_kit.names import MANAGER_ALIAS, MAX_NAME_LENGTH, AgentName, Role


class RunState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


_STRICT = ConfigDict(extra="forbid", frozen=True)


class McpServer(BaseModel):
    """An extra MCP server the agent's claude may use, as `mcp__<key>__<tool>`."""

    model_config = _STRICT

    command: str = Field(description="Executable to start (absolute path or on PATH inside the agent).")
    args: tuple[str, ...] = Field(default=(), description="Arguments passed to the command.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    allowed_tools: tuple[str, ...] = Field(
        default=("*",),
        description='Tool names (or glob patterns) claude may call without asking; ["*"] allows all.',
    )


class Budget(BaseModel):
    """Spend an agent may run up per UTC day before the host stops granting it turns."""

    model_config = _STRICT

    usd_per_day: float | None = Field(
        default=None, ge=0, description="US dollars per UTC day (the host's ledger); null = no dollar cap."
    )
    tokens_per_day: int | None = Field(
        default=None,
        ge=0,
        description="Tokens (every kind, cache included) per UTC day; null = no token cap.",
    )


class AgentSpec(BaseModel):
    """One agent: the contents of `agents/<name>.json`."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "hyperhive agent (agents/<name>.json)"},
    )

    name: str = Field(
        description="Must equal the file name. Lowercase, starts with a letter, at most 11 characters.",
        json_schema_extra={
            "pattern": "^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
            "maxLength": MAX_NAME_LENGTH,
        },
    )
    role: Role = Field(
        default=Role.AGENT,
        description="Exactly one agent in the swarm is the manager.",
        json_schema_extra={"enum": [Role.AGENT.value, Role.MANAGER.value]},
    )
    model: str | None = Field(
        default=None,
        description="Claude model for this agent; null follows hive.json's default_model.",
    )
    state: RunState = Field(default=RunState.RUNNING, description="Whether the agent should be running.")
    description: str = Field(
        default="", description="What this agent is for; shown to the operator and peers."
    )
    allowed_recipients: tuple[str, ...] = Field(
        default=(),
        description=(
            "Who this agent may message: agent names, 'manager', 'operator' or '*' (broadcast). "
            "Empty means anyone. The manager is always allowed."
        ),
    )
    extra_mcp_servers: dict[str, McpServer] = Field(
        default_factory=dict,
        description="Extra MCP servers, keyed by server name (not 'hyperhive').",
    )
    suspended: bool = Field(
        default=False, description="When true the reconciler leaves this agent exactly as it is."
    )
    egress: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "Hosts this agent may reach through the host's egress proxy besides the model API (always "
            "allowed): 'host', 'host:port', '*.domain', '*:port' or '[v6]:port'. null follows hive.json's "
            "egress; [] allows the model API only. Applies to the next connection, without a restart."
        ),
    )
    allowed_tools: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "Claude Code's built-in tools this agent may use: names such as 'Read' or 'Edit', or with a "
            "specifier such as 'WebFetch(domain:docs.python.org)'. null = hyperhive's default set. "
            "MCP tools are allowed per server (extra_mcp_servers); hyperhive's own always are."
        ),
    )
    bash_allow: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "Commands the Bash tool may run, as patterns such as 'git *' or 'pytest *'. "
            "null = Bash unrestricted; [] = no Bash at all."
        ),
    )
    budget: Budget | None = Field(
        default=None,
        description=(
            "Daily spend after which the host pauses this agent (its mail keeps queuing). "
            "null follows hive.json's budget. Changing it restarts nothing."
        ),
    )

    @field_validator("role")
    @classmethod
    def _an_agent_role(cls, role: Role) -> Role:
        if role is Role.OPERATOR:
            raise ValueError(
                "'operator' is the human at the dashboard, not an agent role; use 'agent' or 'manager'"
            )
        return role


class AgentDefaults(BaseModel):
    """Values copied into a new agent's file when it is added without them."""

    model_config = _STRICT

    state: RunState = RunState.RUNNING
    allowed_recipients: tuple[str, ...] = ()
    extra_mcp_servers: dict[str, McpServer] = Field(default_factory=dict)


class SwarmSettings(BaseModel):
    """Swarm-wide settings: the contents of `hive.json`."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "hyperhive swarm settings (hive.json)"},
    )

    operator_pronouns: str = Field(
        default="they/them", description="How agents refer to the operator in prompts."
    )
    default_model: str = Field(default="sonnet", description="Model for agents whose model is null.")
    agent_defaults: AgentDefaults = Field(
        default_factory=AgentDefaults, description="Defaults for agents added by `hive agent add`."
    )
    allow_destroy_all: bool = Field(
        default=False,
        description="Let one reconcile pass destroy every agent (a guard against an emptied repo).",
    )
    egress: tuple[str, ...] = Field(
        default=(),
        description=(
            "Hosts every agent whose own egress is null may reach, besides the model API (always allowed). "
            "Patterns as in an agent's egress."
        ),
    )
    max_agents: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Most agents (the manager included) the swarm may hold; a push, proposal or add beyond it "
            "is refused. null = no cap."
        ),
    )
    max_spawns_per_day: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Most agents the manager may spawn (request_spawn, or a proposal adding agents) per UTC day. "
            "The operator's own adds do not count. null = no cap."
        ),
    )
    max_concurrent_turns: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Most turns running at once across the swarm; further agents wait in FIFO order, shown as "
            "queued. null = no cap."
        ),
    )
    budget: Budget | None = Field(
        default=None,
        description=(
            "Daily spend per agent for agents whose own budget is null; at it the host pauses the agent. "
            "null = no budget. Only the operator changes it."
        ),
    )
    kubernetes_namespace: str | None = Field(
        default=None,
        description=(
            "The namespace the kubernetes runtime places every agent in (a DNS-1123 label; it must "
            "exist). null = `hyperhive`. HIVE_KUBE_NAMESPACE on the host overrides it. Other runtimes "
            "ignore it."
        ),
    )


class DesiredState(BaseModel):
    """The whole swarm at one revision of the meta repo."""

    model_config = ConfigDict(frozen=True)

    settings: SwarmSettings = Field(default_factory=SwarmSettings)
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    agent_nix: dict[str, str] = Field(
        default_factory=dict, description="Free-form agents/<name>/agent.nix, by agent name."
    )
    extra_files: dict[str, bytes] = Field(
        default_factory=dict, description="Other files kept verbatim (README.md and the like)."
    )
    seeds: dict[str, dict[str, bytes]] = Field(
        default_factory=dict,
        description="agents/<name>/seed/<path>: files the agent finds in /state when it is created.",
    )

    def manager(self) -> AgentSpec | None:
        return next((a for a in self.agents.values() if a.role is Role.MANAGER), None)

    def effective_model(self, name: str) -> str:
        return self.agents[name].model or self.settings.default_model

    def resolve_recipient(self, recipient: str) -> str:
        """Map the 'manager' alias to the manager's real name; other names pass through."""
        manager = self.manager()
        if recipient == MANAGER_ALIAS and manager is not None:
            return manager.name
        return recipient

    def agent_names(self) -> list[AgentName]:
        return [AgentName(n) for n in sorted(self.agents)]

    def budget_for(self, name: str) -> Budget | None:
        """The agent's own budget, else hive.json's (None: unbounded)."""
        own = self.agents[name].budget
        return self.settings.budget if own is None else own

    def egress_for(self, name: str) -> tuple[str, ...]:
        """The agent's own egress list, else hive.json's; the host adds the model API to either."""
        own = self.agents[name].egress
        return self.settings.egress if own is None else own


METADATA = ("description",)
"""Agent fields nothing that runs ever reads: the harness, its prompts, claude's flags and the Nix
config never look at them (only the operator, the dashboard and peers do). A change is recorded as
applied without a restart, and the plan shows it as "metadata only, no restart". Not here, because
a running agent reads them at its start: ``allowed_recipients`` (the harness pre-checks sends
against its launch config, and its system prompt lists them) and ``operator_pronouns`` (prompt)."""
NOT_REBUILT = frozenset({"suspended", "state", "egress", "budget", *METADATA})
"""Agent fields whose change rebuilds nothing: stopping or suspending is not a rebuild, the egress
proxy reads the allow-list per connection, the host reads ``budget`` at each turn-slot request,
and ``METADATA`` is read by nothing that runs."""
UNSET_UNHASHED = ("allowed_tools", "bash_allow")
"""Fields added after fingerprints were first recorded: left out of the hash while null, so upgrading
hyperhive rebuilds no agent that does not use them."""


def agent_fingerprint(state: DesiredState, name: str) -> str:
    """A hash of everything that, if changed, means the agent must be rebuilt.

    Covers the resolved spec (with the effective model), its agent.nix and the
    swarm settings an agent sees, except ``NOT_REBUILT``.
    """
    return _hash(_payload(state, name, exclude=NOT_REBUILT))


def legacy_fingerprint(state: DesiredState, name: str, metadata: Mapping[str, Any]) -> str:
    """The fingerprint hyperhive recorded before ``METADATA`` was left out, with ``metadata`` in it.

    Why: removing ``description`` from the hash changed every agent's fingerprint, and comparing a
    stored old one with a new one would rebuild every agent on upgrade. So a stored fingerprint
    matches desired state if it equals either this one, computed with the metadata values recorded
    with it (what ran), or the current one. A match on this one means the agent runs what desired
    state says, and at most its metadata differs. The loop then stores the current fingerprint.
    """
    payload = _payload(state, name, exclude=NOT_REBUILT - set(METADATA))
    for key in METADATA:
        if key in metadata:
            payload[key] = metadata[key]
    return _hash(payload)


def _payload(state: DesiredState, name: str, *, exclude: frozenset[str]) -> dict[str, Any]:
    spec = state.agents[name]
    payload: dict[str, Any] = spec.model_dump(mode="json", exclude=set(exclude))
    for key in UNSET_UNHASHED:
        if payload[key] is None:
            del payload[key]
    payload["model"] = state.effective_model(name)
    payload["agent_nix"] = state.agent_nix.get(name, "")
    payload["operator_pronouns"] = state.settings.operator_pronouns
    return payload


def _hash(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both file kinds, for `hive schema` and editors."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "hyperhive desired state",
        "description": "hive.json holds SwarmSettings; each agents/<name>.json holds one AgentSpec.",
        "$defs": {
            "SwarmSettings": SwarmSettings.model_json_schema(),
            "AgentSpec": AgentSpec.model_json_schema(),
        },
    }


def schema_for(kind: str) -> Mapping[str, Any]:
    if kind == "agent":
        return AgentSpec.model_json_schema()
    if kind == "swarm":
        return SwarmSettings.model_json_schema()
    return json_schema()
