"""Reading files from an agent's state dir, and nothing else.

The request names an agent and a path *relative to that agent's state
dir*. Absolute paths and ``..`` are refused outright; what is left is
resolved (following symlinks) and must still lie inside the state dir, so a
symlink an agent planted cannot lead the viewer anywhere else. Reads stop at
1 MiB.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from hive_kit.errors import NotFoundError, UserError
from hive_kit.names import name_problem

MAX_READ = 1024 * 1024
MAX_LISTING = 500


class ForbiddenPath(UserError):
    """The path leaves the agent's state dir."""

    http_status = 403


def checked_relative(raw: str) -> PurePosixPath:
    if "\x00" in raw or len(raw) > 4096:
        raise UserError("the path holds a NUL byte or is longer than 4096 characters")
    rel = PurePosixPath(raw or ".")
    if rel.is_absolute() or raw.startswith("~"):
        raise ForbiddenPath(f"{raw!r} is absolute; give a path relative to the agent's state dir")
    if ".." in rel.parts:
        raise ForbiddenPath(f"{raw!r} contains '..'; only files inside the agent's state dir can be read")
    return rel


def resolve_in(base: Path, raw: str) -> Path:
    """``base/raw`` with symlinks resolved, refused unless it stays inside ``base``."""
    rel = checked_relative(raw)
    root = base.resolve()
    target = (root / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise ForbiddenPath(f"{raw!r} leads outside the agent's state dir (a symlink?); refused")
    return target


def read_state_file(state_dir: Path, agent: str, raw: str) -> dict[str, Any]:
    why = name_problem(agent)
    if why is not None:
        raise UserError(f"agent {agent!r}: {why}")
    if not state_dir.is_dir():
        raise NotFoundError(f"agent {agent!r} has no state dir")
    target = resolve_in(state_dir, raw)
    if not target.exists():
        raise NotFoundError(f"{raw!r} does not exist in {agent}'s state dir")
    rel = target.relative_to(state_dir.resolve()).as_posix()
    if target.is_dir():
        entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))[:MAX_LISTING]
        listing = [{"name": p.name, "dir": p.is_dir()} for p in entries]
        return {"agent": agent, "path": rel, "kind": "dir", "entries": listing}
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(MAX_READ)
    return {
        "agent": agent,
        "path": rel,
        "kind": "file",
        "size": size,
        "truncated": size > MAX_READ,
        "text": data.decode("utf-8", errors="replace"),
    }
