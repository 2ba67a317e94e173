"""The History section: the desired-state git log (first parents of main), with diffs on demand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desired.repo import CommitInfo


def commit_row(info: CommitInfo) -> dict[str, Any]:
    return {
        "revision": info.revision,
        "author": info.author,
        "email": info.email,
        "when": info.when.timestamp(),
        "message": info.message,
        "merge": len(info.parents) > 1,
    }


def history_rows(infos: Sequence[CommitInfo]) -> list[dict[str, Any]]:
    return [commit_row(info) for info in infos]


def commit_json(info: CommitInfo, diff: str) -> dict[str, Any]:
    """One commit with its diff against its first parent (a merge shows what it brought into main)."""
    return {
        "revision": info.revision,
        "author": info.author,
        "email": info.email,
        "when": info.when.timestamp(),
        "message": info.message,
        "diff": diff,
    }
