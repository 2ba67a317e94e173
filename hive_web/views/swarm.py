"""The Swarm table's rows, from desired state (runtime status is merged in when known)."""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from desired.schema import AgentSpec, DesiredState
from hive_kit.names import Role


def agent_row(state: DesiredState, spec: AgentSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "role": spec.role.value,
        "model": spec.model,
        "effective_model": state.effective_model(spec.name),
        "state": spec.state.value,
        "suspended": spec.suspended,
        "description": spec.description,
        "allowed_recipients": list(spec.allowed_recipients),
        "extra_mcp_servers": sorted(spec.extra_mcp_servers),
        "has_agent_nix": spec.name in state.agent_nix,
    }


def swarm_rows(state: DesiredState) -> list[dict[str, Any]]:
    """Manager first, then agents by name: the order an operator scans."""
    specs = sorted(state.agents.values(), key=lambda s: (s.role is not Role.MANAGER, s.name))
    return [agent_row(state, spec) for spec in specs]


def settings_json(state: DesiredState) -> dict[str, Any]:
    return state.settings.model_dump(mode="json")


def agent_config(state: DesiredState, name: str) -> dict[str, Any]:
    """What the config viewer shows: the agent's file as stored, and its agent.nix."""
    spec = state.agents[name]
    return {
        "name": name,
        "file": f"agents/{name}.json",
        "desired": spec.model_dump(mode="json"),
        "effective_model": state.effective_model(name),
        "agent_nix": state.agent_nix.get(name),
    }


def status_view(status: dict[str, Any]) -> dict[str, Any]:
    """The reconciler's recorded status, trimmed to what a row shows (history stays out)."""
    conditions = [
        {"type": c["type"], "status": c["status"], "reason": c["reason"], "message": c["message"]}
        for c in status.get("conditions", [])
    ]
    badges = [c["type"].lower() for c in conditions if c["type"] == "Stalled" and c["status"]]
    return {
        "conditions": conditions,
        "runtime": status.get("runtime_state"),
        "applied_revision": status.get("applied_revision"),
        "pending": status.get("pending"),
        "last_error": status.get("last_error"),
        "next_retry": status.get("next_retry"),
        "badges": badges,
    }


def merge_status(rows: list[dict[str, Any]], statuses: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their status; an agent the reconciler has not seen yet has ``status: None``."""
    return [
        {**row, "status": status_view(statuses[row["name"]]) if row["name"] in statuses else None}
        for row in rows
    ]


def recent_history(statuses: dict[str, dict[str, Any]], limit: int = 50) -> list[dict[str, Any]]:
    """Every agent's reconcile history merged, newest first."""
    rows = [entry for status in statuses.values() for entry in status.get("history", [])]
    rows.sort(key=lambda entry: entry.get("started_at", 0), reverse=True)
    return rows[:limit]


def add_facts(
    rows: list[dict[str, Any]],
    costs: dict[str, float | None],
    needs_login: Set[str],
    paused: Mapping[str, str] | None = None,
) -> None:
    """Cost so far, the needs-login badge and the paused: budget badge (with its reason), in place."""
    for row in rows:
        row["cost_usd"] = costs.get(row["name"])
        row["needs_login"] = row["name"] in needs_login
        row["paused"] = (paused or {}).get(row["name"])
