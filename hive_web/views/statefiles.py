"""The state-file viewer's rules and answers: which paths may be asked for, and what is shown.

The request names an agent and a path *relative to that agent's state dir*.
Absolute paths and ``..`` are refused here, before anything is touched. Then
an allow-list decides, on the path asked for and again on where its symlinks
lead (``hive_web.readers.statedirs.read_state_file`` resolves them and
refuses a target outside the state dir):

- served: notes, markdown and logs: files named ``*.md``, ``*.markdown``,
  ``*.txt``, ``*.log`` and rotated logs (``*.log.1``), and directory listings;
- never: claude's home (``home/``: its credentials, settings and history),
  anything under a dot-directory or named with a dot (``.hive/mcp-config.json``
  holds the MCP bearer token, ``.claude/``, ``.git/``, ``.env``), files whose
  name says secret, credential, token, password or mcp-config
  (``secrets.env``), sqlite files (``*.sqlite``, ``*.db``, their ``-wal``,
  ``-shm`` and ``-journal``), and everything else.

Why an allow-list: the viewer shows an agent's work to the operator, and the
agent writes whatever it likes into its state dir. What it may show is
named; a new kind of secret file stays hidden without anyone remembering to
list it. A refusal is a 403 that names the rule. Reads stop at 1 MiB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from hive_kit.errors import ForbiddenError, UserError

MAX_READ = 1024 * 1024
MAX_LISTING = 500
READABLE_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".log"})
_ROTATED_LOG = re.compile(r"\.log\.\d{1,3}$")
_SQLITE = re.compile(r"\.(sqlite3?|db)(-wal|-shm|-journal)?$")
_SECRET = re.compile(r"(^|[^a-z])(secrets?|credentials?|tokens?|passwords?|mcp-config)([^a-z]|$)")
SHOWN = "only notes, markdown and logs are shown (*.md, *.markdown, *.txt, *.log)"


class ForbiddenPath(ForbiddenError):
    """The path leaves the agent's state dir, or the viewer's allow-list."""


@dataclass(frozen=True)
class DirEntry:
    name: str
    is_dir: bool
    refused: str | None  # why it would not be shown, or None


@dataclass(frozen=True)
class DirListing:
    agent: str
    path: str  # relative to the state dir
    entries: Sequence[DirEntry]  # dirs first


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


def refusal(rel: PurePosixPath, *, is_dir: bool) -> str | None:
    """Why the viewer will not show ``rel`` (relative to the state dir), or None."""
    parts = [p for p in rel.parts if p != "."]
    if parts and parts[0] == "home":
        return "claude's home (home/: credentials, settings, history) is never shown"
    for part in parts:
        if part.startswith("."):
            return f"{part!r} is a dot-file or dot-directory (tool configs, tokens) and is never shown"
    if is_dir or not parts:
        return None
    name = parts[-1].lower()
    if _SECRET.search(name):
        return f"{parts[-1]!r} is named like a secret, credential or token and is never shown"
    if _SQLITE.search(name):
        return f"{parts[-1]!r} is a sqlite file and is never shown"
    if PurePosixPath(name).suffix in READABLE_SUFFIXES or _ROTATED_LOG.search(name):
        return None
    return f"{parts[-1]!r} is not shown: {SHOWN}"


def refuse_unless_shown(raw: str, rel: PurePosixPath, *, is_dir: bool, resolved: bool = False) -> None:
    """Raise ``ForbiddenPath`` naming the rule when ``rel`` may not be shown."""
    why = refusal(rel, is_dir=is_dir)
    if why is None:
        return
    if resolved:
        raise ForbiddenPath(f"{raw!r} is a symlink to {rel.as_posix()!r}, which is refused: {why}")
    raise ForbiddenPath(f"{raw!r} refused: {why}")


def state_file_json(entry: DirListing | FileRead) -> dict[str, Any]:
    if isinstance(entry, DirListing):
        listing = [{"name": e.name, "dir": e.is_dir, "refused": e.refused} for e in entry.entries]
        return {"agent": entry.agent, "path": entry.path, "kind": "dir", "entries": listing}
    return {
        "agent": entry.agent,
        "path": entry.path,
        "kind": "file",
        "size": entry.size,
        "truncated": entry.size > MAX_READ,
        "text": entry.data.decode("utf-8", errors="replace"),
    }
