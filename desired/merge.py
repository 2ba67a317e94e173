"""Three-way merge of desired state: file by file, and in JSON files field by field.

Why not git's line merge: an agent file is JSON with one field per line, so
two edits of neighbouring fields (``model`` on main, ``description`` in a
proposal) touch adjacent lines and git calls it a conflict; and a merge git
calls clean can still break the JSON (a comma on a line the other side moved).
So every path is decided from its three versions, base (the merge base),
ours (`main`) and theirs (the proposal, or an edit):

- unchanged on one side: the other side's version; the same on both: that;
- a JSON file changed on both sides is parsed and merged by field:
  objects key by key, recursively (an added key is a change from "absent");
  lists and scalars are values, so a list changed differently on both sides
  is a conflict, like any value;
- a file, or a field, removed on one side and changed on the other is a
  conflict;
- any other file changed on both sides (``agents/<name>/agent.nix``,
  ``README.md``) goes through git's line merge (libgit2's ``merge_file``)
  when the caller passes one, and is a whole-file conflict otherwise.

Every conflict is collected and named by file, field path and both values
(``MergeConflict``); the caller changes nothing. The result is not validated
here: callers validate it exactly as a commit to `main` is validated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pygit2
from pygit2.enums import FileMode
from pygit2.index import MergeFileResult

from desired.files import classify
from desired.repo import MetaRepo
from hive_kit.errors import ConflictError

_ABSENT: Any = object()
"""A missing key or file (distinct from JSON null)."""

LineMerge = Callable[[str, bytes | None, bytes, bytes], bytes | None]
"""(path, base, ours, theirs) → the merged bytes, or None when the same lines changed on both sides."""


@dataclass(frozen=True)
class Conflict:
    """One place both sides changed differently. ``field`` is a dotted path; "" for the whole file."""

    file: str
    field: str
    base: Any
    ours: Any
    theirs: Any

    def describe(self, ours: str, theirs: str) -> str:
        if not self.field:
            if self.ours is _ABSENT or self.theirs is _ABSENT:
                gone, kept = (ours, theirs) if self.ours is _ABSENT else (theirs, ours)
                return f"{self.file}: {gone} deleted the file, {kept} changed it"
            return f"{self.file}: {ours} and {theirs} changed the same lines"
        where = f"{self.file}: {self.field}"
        if self.ours is _ABSENT or self.theirs is _ABSENT:
            gone, kept, value = (
                (ours, theirs, self.theirs) if self.ours is _ABSENT else (theirs, ours, self.ours)
            )
            return f"{where}: {gone} removed it, {kept} set it to {_show(value)}"
        was = "" if self.base is _ABSENT else f" (was {_show(self.base)})"
        return f"{where}: {ours} has {_show(self.ours)}, {theirs} has {_show(self.theirs)}{was}"


class MergeConflict(ConflictError):
    """Both sides changed the same field (or lines) differently; ``conflicts`` says where."""

    def __init__(self, conflicts: list[Conflict], message: str = "") -> None:
        self.conflicts = conflicts
        super().__init__(message or "; ".join(c.describe("ours", "theirs") for c in conflicts))

    def lines(self, ours: str, theirs: str) -> list[str]:
        return [c.describe(ours, theirs) for c in self.conflicts]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _same(a: Any, b: Any) -> bool:
    """JSON equality (``True`` is not ``1``; key order does not matter)."""
    if a is _ABSENT or b is _ABSENT:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def merge_value(base: Any, ours: Any, theirs: Any, path: tuple[str, ...] = ()) -> tuple[Any, list[Conflict]]:
    """Merge one JSON value; ``_ABSENT`` stands for a missing key. Returns (merged, conflicts).

    Conflicts carry ``path`` as their field and an empty file name (``merge_json`` fills it in).
    """
    if _same(ours, theirs) or _same(base, theirs):
        return ours, []
    if _same(base, ours):
        return theirs, []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        old = base if isinstance(base, dict) else {}
        merged: dict[str, Any] = {}
        conflicts: list[Conflict] = []
        for key in _keys(ours, theirs):
            value, found = merge_value(
                old.get(key, _ABSENT), ours.get(key, _ABSENT), theirs.get(key, _ABSENT), (*path, key)
            )
            conflicts += found
            if value is not _ABSENT:
                merged[key] = value
        return merged, conflicts
    return ours, [Conflict("", ".".join(path), base, ours, theirs)]


def _keys(ours: dict[str, Any], theirs: dict[str, Any]) -> Iterator[str]:
    """Ours' keys in its order, then theirs' new ones: the file keeps the shape main gave it."""
    yield from ours
    yield from (k for k in theirs if k not in ours)


def merge_json(path: str, base: bytes | None, ours: bytes, theirs: bytes) -> tuple[bytes, list[Conflict]]:
    """Merge one JSON file changed on both sides, by field."""
    docs = []
    for data in (base, ours, theirs):
        try:
            docs.append(_ABSENT if data is None else json.loads(data))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return ours, [Conflict(path, "", base, ours, theirs)]  # not JSON: nothing to merge by field
    merged, conflicts = merge_value(*docs)
    found = [Conflict(path, c.field, c.base, c.ours, c.theirs) for c in conflicts]
    return (json.dumps(merged, indent=2, ensure_ascii=False) + "\n").encode(), found


def merge_file(
    path: str, base: bytes | None, ours: bytes | None, theirs: bytes | None, line_merge: LineMerge | None
) -> tuple[bytes | None, list[Conflict]]:
    """One path's merged content (None: deleted), with what conflicted."""
    if theirs in (ours, base):  # unchanged by theirs, or the same change on both sides
        return ours, []
    if base == ours:
        return theirs, []
    if ours is None or theirs is None:
        return ours, [
            Conflict(path, "", base, _ABSENT if ours is None else ours, _ABSENT if theirs is None else theirs)
        ]
    if classify(path)[0] in ("settings", "agent"):  # a seed file named *.json is text like any other
        return merge_json(path, base, ours, theirs)
    merged = line_merge(path, base, ours, theirs) if line_merge is not None else None
    if merged is None:
        return ours, [Conflict(path, "", base, ours, theirs)]
    return merged, []


def merge_files(
    base: Mapping[str, bytes],
    ours: Mapping[str, bytes],
    theirs: Mapping[str, bytes],
    line_merge: LineMerge | None = None,
) -> dict[str, bytes]:
    """The merged tree as {path: bytes}; raises ``MergeConflict`` listing every conflict."""
    merged: dict[str, bytes] = {}
    conflicts: list[Conflict] = []
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        data, found = merge_file(path, base.get(path), ours.get(path), theirs.get(path), line_merge)
        conflicts += found
        if data is not None:
            merged[path] = data
    if conflicts:
        raise MergeConflict(conflicts)
    return merged


def git_line_merge(git: pygit2.Repository) -> LineMerge:
    """libgit2's line merge (what `git merge` does to a text file), for files that are not JSON."""

    def merge(path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bytes | None:
        def entry(data: bytes) -> pygit2.IndexEntry:
            return pygit2.IndexEntry(path, git.create_blob(data), FileMode.BLOB)

        try:
            result = git.merge_file_from_index(
                None if base is None else entry(base), entry(ours), entry(theirs)
            )
        except UnicodeDecodeError:  # pygit2 hands the result back as UTF-8 text
            return None
        if not isinstance(result, MergeFileResult) or not result.automergeable:
            return None
        return result.contents.encode()

    return merge


def merge_trees(
    repo: MetaRepo, base: pygit2.Tree | None, ours: pygit2.Tree, theirs: pygit2.Tree
) -> pygit2.Oid:
    """The merged tree, written on top of ``ours``; raises ``MergeConflict`` and writes no tree.

    Decided by blob ids, so only files changed on both sides are read (a 1,000-agent swarm merges
    as fast as the few files that moved). Non-JSON files go through git's line merge.
    """
    old, mine, other = (repo.tree_entries(t) for t in (base, ours, theirs))
    line_merge = git_line_merge(repo.git)
    changes: dict[str, bytes | None] = {}
    conflicts: list[Conflict] = []

    def read(oid: pygit2.Oid | None) -> bytes | None:
        return None if oid is None else repo.blob(oid)

    for path in sorted(old.keys() | mine.keys() | other.keys()):
        b, o, t = old.get(path), mine.get(path), other.get(path)
        if t in (o, b):
            continue  # ours stands
        if b == o:
            changes[path] = read(t)
            continue
        data, found = merge_file(path, read(b), read(o), read(t), line_merge)
        conflicts += found
        changes[path] = data
    if conflicts:
        raise MergeConflict(conflicts)
    return repo.write_tree(ours, changes)
