"""The Egress section of an agent's page: its allow-list, its connections, and a summary (pure)."""

from __future__ import annotations

from typing import Any

from hive_kit import wire


def egress_json(result: wire.EgressEntries) -> dict[str, Any]:
    """Rows newest first, times as unix seconds (the page formats them), and totals over those rows."""
    entries = [e.model_dump(mode="json") for e in result.entries]
    return {
        "agent": result.agent,
        "allow": result.allow,
        "entries": entries,
        "summary": {
            "allowed": sum(e.allowed for e in result.entries),
            "denied": sum(not e.allowed for e in result.entries),
            "bytes_up": sum(e.bytes_up for e in result.entries),
            "bytes_down": sum(e.bytes_down for e in result.entries),
        },
    }
