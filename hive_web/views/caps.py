"""hive.json's caps on fan-out beside their use now, as the Swarm section's one line.

Input is the ``caps`` dict of the admin ``status`` op (``hive_core.ops.admin.caps_usage``).
"""

from __future__ import annotations

from typing import Any


def _used(label: str, used: int, cap: int | None) -> str:
    return f"{label} {used}/{cap}" if cap is not None else f"{label} {used} (no cap)"


def caps_json(caps: dict[str, Any]) -> dict[str, Any]:
    running = [str(r[0]) for r in caps.get("turns_running", [])]
    queued = [str(q[0]) for q in caps.get("turns_queued", [])]
    turns = _used("turns running", len(running), caps.get("max_concurrent_turns"))
    if queued:
        turns += f", {len(queued)} queued"
    parts = [
        _used("agents", int(caps.get("agents", 0)), caps.get("max_agents")),
        _used("spawns today", int(caps.get("spawns_today", 0)), caps.get("max_spawns_per_day")),
        turns,
    ]
    waiting = ", ".join(queued) or "none"
    detail = f"running: {', '.join(running) or 'none'}; waiting, first in line first: {waiting}"
    return {"line": " · ".join(parts), "detail": detail, "running": running, "queued": queued, **caps}
