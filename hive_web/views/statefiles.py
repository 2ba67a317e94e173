"""The state-file viewer's rules and answers: which paths may be asked for, and what is shown.

The request names an agent and a path *relative to that agent's state
dir*. Absolute paths and ``..`` are refused here, before anything is
touched; the reader (``hive_web.readers.statedirs.read_state_file``) resolves
what is left through symlinks and refuses it unless it still lies inside the
state dir, so a symlink an agent planted cannot lead the viewer anywhere
else. Reads stop at 1 MiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from hive_kit.errors import ForbiddenError, UserError

MAX_READ = 1024 * 1024
MAX_LISTING = 500


class ForbiddenPath(ForbiddenError):
    """The path leaves the agent's state dir."""


@dataclass(frozen=True)
class DirListing:
    agent: str
    path: str  # relative to the state dir
    entries: Sequence[tuple[str, bool]]  # (name, is a dir), dirs first


@dataclass(frozen=True)
class FileRead:
    agent: str
    path: str
    size: int  # the whole file's
    data: bytes  # at most MAX_READ of it


def checked_relative(raw: str) -> PurePosixPath:
    """``raw`` as a relative path that cannot climb out (``ForbiddenPath`` otherwise)."""
    if "\x00" in raw or len(raw) > 4096:
        raise UserError("the path holds a NUL byte or is longer than 4096 characters")
    rel = PurePosixPath(raw or ".")
    if rel.is_absolute() or raw.startswith("~"):
        raise ForbiddenPath(f"{raw!r} is absolute; give a path relative to the agent's state dir")
    if ".." in rel.parts:
        raise ForbiddenPath(f"{raw!r} contains '..'; only files inside the agent's state dir can be read")
    return rel


def state_file_json(entry: DirListing | FileRead) -> dict[str, Any]:
    if isinstance(entry, DirListing):
        listing = [{"name": name, "dir": is_dir} for name, is_dir in entry.entries]
        return {"agent": entry.agent, "path": entry.path, "kind": "dir", "entries": listing}
    return {
        "agent": entry.agent,
        "path": entry.path,
        "kind": "file",
        "size": entry.size,
        "truncated": entry.size > MAX_READ,
        "text": entry.data.decode("utf-8", errors="replace"),
    }
