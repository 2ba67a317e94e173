"""What is on disk under the state dir: kept agent dirs, an agent's build dir, its state files.

Every function here blocks (directory walks, file reads); routes run them on
a worker thread. Walks are bounded (``MAX_WALK`` files, 50 build files, 500
listing entries, 1 MiB per read) so one huge state dir cannot stall a page.
"""

from __future__ import annotations

from pathlib import Path

from desired.schema import DesiredState
from hive_kit.errors import NotFoundError, UserError
from hive_kit.names import name_problem
from hive_kit.paths import StateLayout
from hive_web.views.kept import KeptDir, kept_names
from hive_web.views.statefiles import (
    MAX_LISTING,
    MAX_READ,
    DirListing,
    FileRead,
    ForbiddenPath,
    checked_relative,
)

MAX_WALK = 20_000
MAX_TOP = 30
RENDERED_FILES = 50
RENDERED_MAX = 64 * 1024


def agent_dirs(layout: StateLayout) -> list[str]:
    agents = layout.root / "agents"
    if not agents.is_dir():
        return []
    return [p.name for p in agents.iterdir() if p.is_dir()]


def dir_summary(name: str, path: Path) -> KeptDir:
    """Files and bytes under ``path`` (symlinks not followed; stops counting at MAX_WALK files)."""
    files = size = 0
    for item in path.rglob("*"):
        if files >= MAX_WALK:
            break
        if item.is_file() and not item.is_symlink():
            files += 1
            size += item.stat().st_size
    top = (
        sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:MAX_TOP]
        if path.is_dir()
        else []
    )
    return KeptDir(name=name, path=str(path), files=files, bytes=size, top=tuple(top))


def kept_dirs(layout: StateLayout, state: DesiredState) -> list[KeptDir]:
    """Each agent dir on disk whose agent left desired state, summarised."""
    return [dir_summary(name, layout.agent_dir(name)) for name in kept_names(agent_dirs(layout), state)]


def rendered_files(build_dir: Path) -> dict[str, str]:
    """What the runtime was handed for this agent (its build dir: launch config, rendered Nix)."""
    if not build_dir.is_dir():
        return {}
    out: dict[str, str] = {}
    for path in sorted(build_dir.rglob("*"))[:RENDERED_FILES]:
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                out[path.relative_to(build_dir).as_posix()] = handle.read(RENDERED_MAX).decode(
                    errors="replace"
                )
    return out


def resolve_in(base: Path, raw: str) -> Path:
    """``base/raw`` with symlinks resolved, refused unless it stays inside ``base``."""
    rel = checked_relative(raw)
    root = base.resolve()
    target = (root / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise ForbiddenPath(f"{raw!r} leads outside the agent's state dir (a symlink?); refused")
    return target


def read_state_file(state_dir: Path, agent: str, raw: str) -> DirListing | FileRead:
    """A directory listing or the first MiB of a file, from inside ``agent``'s state dir only."""
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
        return DirListing(agent, rel, tuple((p.name, p.is_dir()) for p in entries))
    size = target.stat().st_size
    with target.open("rb") as handle:
        data = handle.read(MAX_READ)
    return FileRead(agent, rel, size, data)
