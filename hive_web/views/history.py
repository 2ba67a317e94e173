"""The History section: the desired-state git log (first parents of main), with diffs on demand."""

from __future__ import annotations

from typing import Any

from desired.repo import MAIN, MetaRepo, commit_info
from hive_kit.errors import NotFoundError


def history_rows(repo: MetaRepo, limit: int) -> list[dict[str, Any]]:
    rows = []
    for commit in repo.log(MAIN, limit=limit):
        info = commit_info(commit)
        rows.append(
            {
                "revision": info.revision,
                "author": info.author,
                "email": info.email,
                "when": info.when.isoformat(),
                "message": info.message,
                "merge": len(info.parents) > 1,
            }
        )
    return rows


def commit_detail(repo: MetaRepo, revision: str) -> dict[str, Any]:
    """One commit's diff against its first parent (a merge shows what it brought into main)."""
    if not all(c in "0123456789abcdef" for c in revision) or not 4 <= len(revision) <= 40:
        raise NotFoundError(f"{revision!r} is not a commit id; pick one from the History list")
    commit = repo.resolve(revision)
    info = commit_info(commit)
    parent = commit.parent_ids[0] if commit.parent_ids else None
    return {
        "revision": info.revision,
        "author": info.author,
        "email": info.email,
        "when": info.when.isoformat(),
        "message": info.message,
        "diff": repo.diff(parent, commit.id),
    }
