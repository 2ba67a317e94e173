"""Kept state: agents gone from desired state whose state dir is still on disk.

Revive is a proposal to add the agent back with its last spec (found in the
meta repo's history), so it goes through the approval gate like any other
change. Purge lists exactly what would be lost before anyone confirms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from desired.repo import MAIN, MetaRepo
from desired.schema import DesiredState
from hive_kit.errors import NotFoundError
from hive_kit.paths import StateLayout

MAX_WALK = 20_000


def kept_names(layout: StateLayout, state: DesiredState) -> list[str]:
    agents = layout.root / "agents"
    if not agents.is_dir():
        return []
    return sorted(p.name for p in agents.iterdir() if p.is_dir() and p.name not in state.agents)


def dir_summary(path: Path) -> dict[str, Any]:
    """Files and bytes under ``path`` (symlinks not followed; stops counting at MAX_WALK files)."""
    files = size = 0
    for item in path.rglob("*"):
        if files >= MAX_WALK:
            break
        if item.is_file() and not item.is_symlink():
            files += 1
            size += item.stat().st_size
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:30] if path.is_dir() else []
    return {"files": files, "bytes": size, "top": top}


def kept_rows(layout: StateLayout, state: DesiredState) -> list[dict[str, Any]]:
    rows = []
    for name in kept_names(layout, state):
        base = layout.agent_dir(name)
        rows.append({"name": name, "path": str(base), **dir_summary(base)})
    return rows


def last_spec(repo: MetaRepo, name: str) -> dict[str, Any]:
    """The agent's file as it last was on main, newest first through history."""
    path = f"agents/{name}.json"
    for commit in repo.log(MAIN, limit=5000):
        try:
            entry = commit.tree[path]
        except KeyError:
            continue
        data = json.loads(repo.blob(entry.id))
        if isinstance(data, dict):
            return data
    raise NotFoundError(f"{name!r} never was in desired state; add it as a new agent instead")
