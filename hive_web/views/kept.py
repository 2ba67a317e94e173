"""Kept state: agents gone from desired state whose state dir is still on disk.

Revive is a proposal to add the agent back with its last spec (found in the
meta repo's history), so it goes through the approval gate like any other
change. Purge lists exactly what would be lost before anyone confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from desired.schema import DesiredState


@dataclass(frozen=True)
class KeptDir:
    """One agent's dir on disk, summarised (``hive_web.readers.statedirs.kept_dirs``)."""

    name: str
    path: str
    files: int
    bytes: int
    top: tuple[str, ...]


def kept_names(on_disk: Iterable[str], state: DesiredState) -> list[str]:
    """The agent dirs on disk whose agent is no longer in desired state."""
    return sorted(name for name in on_disk if name not in state.agents)


def kept_rows(dirs: Sequence[KeptDir]) -> list[dict[str, Any]]:
    return [
        {"name": d.name, "path": d.path, "files": d.files, "bytes": d.bytes, "top": list(d.top)} for d in dirs
    ]
