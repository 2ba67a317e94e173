"""What is on disk under the state dir: kept agent dirs, an agent's build dir, its state files.

Every function here blocks (directory walks, file reads); routes run them on
a worker thread. The state-file viewer's reads check the allow-list
(``hive_web.views.statefiles``) on the path asked for and on where it leads,
then open it without following symlinks, so what is read is what was
checked. Walks are bounded (``MAX_WALK`` files, 50 build files, 500 listing
entries, 1 MiB per read) so one huge state dir cannot stall a page.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from desired.schema import DesiredState
from hive_kit.errors import NotFoundError, UserError
from hive_kit.names import name_problem
from hive_kit.paths import StateLayout
from hive_web.views.kept import KeptDir, kept_names
from hive_web.views.statefiles import (
    MAX_LISTING,
    MAX_READ,
    DirEntry,
    DirListing,
    FileRead,
    ForbiddenPath,
    checked_relative,
    refusal,
    refuse_unless_shown,
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


def resolve_in(base: Path, raw: str) -> tuple[Path, PurePosixPath]:
    """``base/raw`` with symlinks resolved, and its path relative to ``base``.

    Refused unless it stays inside ``base`` and both the path asked for and the
    path it resolves to pass the viewer's allow-list (``views.statefiles``).
    """
    rel = checked_relative(raw)
    refuse_unless_shown(raw, rel, is_dir=True)  # the directories on the way (home/, dot-dirs)
    root = base.resolve()
    target = (root / rel).resolve()
    if target != root and not target.is_relative_to(root):
        raise ForbiddenPath(f"{raw!r} leads outside the agent's state dir (a symlink?); refused")
    return target, PurePosixPath(target.relative_to(root).as_posix())


def _open_beneath(root: Path, rel: PurePosixPath) -> int:
    """An fd for ``root/rel``, opened one component at a time without following any symlink.

    ``rel`` is already resolved, so a symlink met here was swapped in after the
    check (an agent racing the viewer): refused rather than followed. Opened
    non-blocking, so a FIFO cannot hang the read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        for part in rel.parts:
            if part == ".":
                continue
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _listing(fd: int) -> list[DirEntry]:
    with os.scandir(fd) as found:
        entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in found]
    entries.sort(key=lambda e: (not e[1], e[0]))
    return [DirEntry(name, is_dir, refusal(PurePosixPath(name), is_dir=is_dir)) for name, is_dir in entries][
        :MAX_LISTING
    ]


def read_state_file(state_dir: Path, agent: str, raw: str) -> DirListing | FileRead:
    """A directory listing or the first MiB of a file the viewer's allow-list lets through."""
    why = name_problem(agent)
    if why is not None:
        raise UserError(f"agent {agent!r}: {why}")
    if not state_dir.is_dir():
        raise NotFoundError(f"agent {agent!r} has no state dir")
    target, rel = resolve_in(state_dir, raw)
    asked, is_dir = checked_relative(raw), target.is_dir()
    refuse_unless_shown(raw, asked, is_dir=is_dir)
    refuse_unless_shown(raw, rel, is_dir=is_dir, resolved=rel != asked)
    if not target.exists():
        raise NotFoundError(f"{raw!r} does not exist in {agent}'s state dir")
    try:
        fd = _open_beneath(state_dir.resolve(), rel)
    except OSError as exc:
        raise ForbiddenPath(f"{raw!r} changed while it was being read ({exc.strerror}); refused") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return DirListing(agent, rel.as_posix(), tuple(_listing(fd)))
        if not stat.S_ISREG(info.st_mode):
            raise ForbiddenPath(f"{raw!r} is not a regular file; refused")
        if info.st_nlink > 1:
            raise ForbiddenPath(
                f"{raw!r} has other hard links (it may be another file by a shown name); refused"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_READ)
        return FileRead(agent, rel.as_posix(), info.st_size, data)
    finally:
        os.close(fd)
