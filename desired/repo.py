"""The meta repo: a bare git repo whose branch `main` is the approved desired state.

Why a compare-and-swap loop: the CLI, the dashboard, the manager and
`git push` all write `main`. Each writer reads `main`, applies its change to
what it read, and moves `main` only if it still points where it read it
(libgit2's ref lock is the same `main.lock` git's receive-pack takes). On a
lost race it re-reads and re-applies, so no commit is ever lost.

Parsed agent files are cached by (path, blob id): after one change only the
changed file is parsed again, which keeps a 1,000-agent swarm cheap to reload.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2
from pygit2.enums import ObjectType

from desired.files import TreeLoader, dump_model, validate_changes
from desired.rules import AGENTS_DIR, HIVE_FILE
from desired.schema import AgentSpec, DesiredState
from desired.seeds import SEED_DIR
from hive_kit.errors import (
    ConflictError,
    NotFoundError,
    TemporaryError,
    UserError,
)

MAIN = "refs/heads/main"
_CAS_DEADLINE = 30.0
_STALE_LOCK_AFTER = 10.0


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Author:
        """Accept "Name <email>" or a bare name (given a local email)."""
        match = re.fullmatch(r"\s*(.+?)\s*<([^<>]+)>\s*", text)
        if match:
            return cls(match.group(1), match.group(2))
        name = text.strip()
        if not name:
            raise UserError("the author is empty; pass --author NAME or 'Name <email>'")
        slug = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-") or "someone"
        return cls(name, f"{slug}@hyperhive.local")

    def signature(self, when: float | None = None) -> pygit2.Signature:
        if when is None:
            return pygit2.Signature(self.name, self.email)
        return pygit2.Signature(self.name, self.email, int(when), 0)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True)
class Snapshot:
    """Desired state as of one commit."""

    state: DesiredState
    revision: str

    @property
    def short(self) -> str:
        return self.revision[:12]


@dataclass(frozen=True)
class CommitInfo:
    revision: str
    author: str
    email: str
    when: datetime
    message: str
    parents: tuple[str, ...]


Mutation = Callable[[DesiredState], DesiredState]
FileChanges = Mapping[str, bytes | None]
"""Path → new content, or None to delete. Paths are POSIX and relative to the repo root."""


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    return CommitInfo(
        revision=str(commit.id),
        author=commit.author.name,
        email=commit.author.email,
        when=datetime.fromtimestamp(commit.author.time, tz=UTC),
        message=commit.message.strip(),
        parents=tuple(str(p) for p in commit.parent_ids),
    )


def file_changes(old: DesiredState, new: DesiredState) -> dict[str, bytes | None]:
    """The files that differ between two states; unchanged agents keep their bytes as written."""
    changes: dict[str, bytes | None] = {}
    if new.settings != old.settings:
        changes[HIVE_FILE] = dump_model(new.settings)
    for name in old.agents.keys() - new.agents.keys():
        changes[f"{AGENTS_DIR}/{name}.json"] = None
    for name, spec in new.agents.items():
        if old.agents.get(name) != spec:
            changes[f"{AGENTS_DIR}/{name}.json"] = dump_model(spec)
    for name in old.agent_nix.keys() | new.agent_nix.keys():
        text = new.agent_nix.get(name)
        if text != old.agent_nix.get(name):
            path = f"{AGENTS_DIR}/{name}/agent.nix"
            changes[path] = None if text is None else text.encode()
    for name in old.seeds.keys() | new.seeds.keys():
        was, now = old.seeds.get(name, {}), new.seeds.get(name, {})
        for rel in was.keys() | now.keys():
            if was.get(rel) != now.get(rel):
                changes[f"{AGENTS_DIR}/{name}/{SEED_DIR}/{rel}"] = now.get(rel)
    for path in old.extra_files.keys() | new.extra_files.keys():
        if new.extra_files.get(path) != old.extra_files.get(path):
            changes[path] = new.extra_files.get(path)
    return changes


class MetaRepo:
    """One bare meta repo. Cheap to open; safe to use from many processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.git = pygit2.Repository(str(self.path))
        except pygit2.GitError as exc:
            raise NotFoundError(
                f"no meta repo at {self.path}: run `hive init` (or pass --state-dir)"
            ) from exc
        quarantine = os.environ.get("GIT_QUARANTINE_PATH")
        if quarantine:
            # Inside pre-receive, pushed objects sit in a quarantine dir until accepted.
            self.git.odb.add_disk_alternate(quarantine)
        self._agents: dict[object, AgentSpec] = {}

    # ---- reading -------------------------------------------------------------

    def resolve(self, rev: str = MAIN) -> pygit2.Commit:
        try:
            obj = self.git.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, pygit2.GitError, ValueError) as exc:
            raise NotFoundError(f"no revision {rev!r} in the meta repo {self.path}") from exc
        return commit

    def head(self, ref: str = MAIN) -> pygit2.Oid | None:
        try:
            target = self.git.references[ref].target
        except KeyError:
            return None
        return target if isinstance(target, pygit2.Oid) else None

    def commit_at(self, oid: pygit2.Oid) -> pygit2.Commit:
        return self.git[oid].peel(pygit2.Commit)

    def tree_at(self, oid: pygit2.Oid) -> pygit2.Tree:
        return self.git[oid].peel(pygit2.Tree)

    def blob(self, oid: pygit2.Oid) -> bytes:
        return self.git.odb.read(oid)[1]  # one inflate, no Object wrapper

    def tree_entries(self, tree: pygit2.Tree | None) -> dict[str, pygit2.Oid]:
        """Every file of ``tree`` (none for None) as path → blob id, without reading a blob."""
        return {} if tree is None else dict(_walk(self.git, tree, ""))

    def files_at(self, rev: str = MAIN) -> dict[str, bytes]:
        tree = self.resolve(rev).tree
        return {path: self.blob(oid) for path, oid in _walk(self.git, tree, "")}

    def load(self, rev: str = MAIN) -> Snapshot:
        """Parse and validate desired state at ``rev``; raises DesiredStateError if invalid."""
        commit = self.resolve(rev)
        return Snapshot(self.load_tree(commit.tree), str(commit.id))

    def load_tree(self, tree: pygit2.Tree) -> DesiredState:
        loader = TreeLoader(self._agents)
        for path, oid, mode in _walk_modes(self.git, tree, ""):
            loader.add(path, lambda o=oid: self.blob(o), key=(path, str(oid)), mode=mode)  # type: ignore[misc]
        return loader.finish()

    def log(self, rev: str = MAIN, limit: int | None = None) -> Iterator[pygit2.Commit]:
        """Commits reachable from ``rev`` along first parents, newest first."""
        try:
            commit: pygit2.Commit | None = self.resolve(rev)
        except NotFoundError:
            return
        count = 0
        while commit is not None and (limit is None or count < limit):
            yield commit
            count += 1
            commit = commit.parents[0] if commit.parents else None

    # ---- writing -------------------------------------------------------------

    def write_tree(self, base: pygit2.Tree | None, changes: FileChanges) -> pygit2.Oid:
        """A new tree: ``base`` with ``changes`` applied (only touched directories are rebuilt)."""
        return _build_tree(self.git, base, changes)

    def create_commit(
        self,
        tree: pygit2.Oid,
        parents: list[pygit2.Oid],
        author: Author,
        message: str,
    ) -> pygit2.Oid:
        sig = author.signature()
        return self.git.create_commit(None, sig, sig, message, tree, parents)

    def compare_and_swap(self, ref: str, expected: pygit2.Oid | None, new: pygit2.Oid, log: str) -> bool:
        """Move ``ref`` to ``new`` only if it still points at ``expected``. False on a lost race."""
        deadline = time.monotonic() + _STALE_LOCK_AFTER
        while True:
            try:
                with self.git.transaction() as txn:
                    txn.lock_ref(ref)
                    if self.head(ref) != expected:
                        raise _LostRace
                    txn.set_target(ref, new, message=log)
                return True
            except _LostRace:
                return False
            except pygit2.GitError as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise TemporaryError(
                        f"{ref} in {self.path} stays locked ({exc}); if no hive or git process is "
                        f"writing the meta repo, delete {self.path / (ref + '.lock')}"
                    ) from exc
                time.sleep(random.uniform(0.001, 0.01))  # noqa: S311 - jitter, not crypto

    def commit(
        self,
        mutate: Mutation,
        *,
        author: Author,
        message: str,
        ref: str = MAIN,
    ) -> CommitInfo | None:
        """Apply ``mutate`` to the state at ``ref`` and commit it; None if nothing changed.

        The mutation is re-run on the new state if another writer moved ``ref``
        meanwhile, so it must be a pure function of the state it is given.
        """
        deadline = time.monotonic() + _CAS_DEADLINE
        while True:
            base = self.head(ref)
            base_commit = self.commit_at(base) if base is not None else None
            old = self.load_tree(base_commit.tree) if base_commit is not None else DesiredState()
            new = mutate(old)
            changes = file_changes(old, new)
            if not changes:
                return None
            validate_changes(new, changes)  # refuses exactly what a push would
            tree = self.write_tree(base_commit.tree if base_commit else None, changes)
            oid = self.create_commit(tree, [base] if base else [], author, message)
            if self.compare_and_swap(ref, base, oid, f"hive: {message.splitlines()[0]}"):
                return commit_info(self.commit_at(oid))
            if time.monotonic() > deadline:
                raise TemporaryError(
                    f"could not update {ref}: other writers kept moving it for {_CAS_DEADLINE:.0f}s; retry"
                )
            time.sleep(random.uniform(0.0, 0.005))  # noqa: S311 - jitter, not crypto

    def replace(self, files: Mapping[str, bytes], *, author: Author, message: str) -> CommitInfo | None:
        """Make ``main`` hold exactly ``files`` (for `hive desired import`)."""
        from desired.files import load_files

        wanted = load_files(files)  # raise before touching anything
        return self.commit(lambda _old: wanted, author=author, message=message)

    # ---- tags ----------------------------------------------------------------

    def tags(self, prefix: str) -> dict[str, pygit2.Oid]:
        """Tag name suffix → target oid for tags under ``refs/tags/<prefix>``."""
        base = f"refs/tags/{prefix}"
        found: dict[str, pygit2.Oid] = {}
        for name in self.git.references:
            target = self.git.references[name].target if name.startswith(base) else None
            if isinstance(target, pygit2.Oid):
                found[name.removeprefix(base)] = target
        return found

    def tag_object(self, name: str) -> pygit2.Tag | None:
        try:
            ref = self.git.references[f"refs/tags/{name}"]
        except KeyError:
            return None
        obj = self.git[ref.target]
        return obj if isinstance(obj, pygit2.Tag) else None

    def create_tag(self, name: str, target: pygit2.Oid, tagger: Author, message: str) -> bool:
        """Create an annotated tag; False if it already exists (the caller lost a race).

        libgit2's own non-forced tag creation is not atomic across processes
        (two proposers could both "create" proposal/7, one silently lost), so the
        tag object is written first and the ref is created by compare-and-swap
        from "absent" under git's ref lock.
        """
        sig = tagger.signature()
        offset = sig.offset
        zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        text = (
            f"object {target}\ntype commit\ntag {name}\n"
            f"tagger {sig.name} <{sig.email}> {sig.time} {zone}\n\n{message.rstrip()}\n"
        )
        tag = self.git.odb.write(ObjectType.TAG, text.encode())
        return self.compare_and_swap(f"refs/tags/{name}", None, tag, f"hive: tag {name}")

    def delete_ref(self, ref: str) -> None:
        with contextlib.suppress(KeyError):
            self.git.references.delete(ref)

    def diff(
        self, old: str | pygit2.Oid | None, new: str | pygit2.Oid, paths: list[str] | None = None
    ) -> str:
        """Unified diff between two commits, optionally limited to path prefixes."""
        new_tree = self.tree_at(new) if not isinstance(new, str) else self.resolve(new).tree
        if old is None:
            diff = new_tree.diff_to_tree(swap=True)
        else:
            old_tree = self.tree_at(old) if not isinstance(old, str) else self.resolve(old).tree
            diff = old_tree.diff_to_tree(new_tree)
        patches = []
        for patch in diff:
            if patch is None:
                continue
            path = patch.delta.new_file.path or patch.delta.old_file.path
            if paths is None or any(path == p or path.startswith(p) for p in paths):
                patches.append(patch.text or "")
        return "".join(patches)


class _LostRace(Exception):
    pass


def _walk(git: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, pygit2.Oid]]:
    for path, oid, _mode in _walk_modes(git, tree, prefix):
        yield path, oid


def _walk_modes(
    git: pygit2.Repository, tree: pygit2.Tree, prefix: str
) -> Iterator[tuple[str, pygit2.Oid, int]]:
    """Every non-tree entry with its git file mode (a symlink or a submodule is not a file)."""
    for entry in tree:
        path = prefix + (entry.name or "")
        if entry.type == ObjectType.TREE:
            yield from _walk_modes(git, git[entry.id].peel(pygit2.Tree), path + "/")
        else:
            yield path, entry.id, int(entry.filemode)


def _build_tree(git: pygit2.Repository, base: pygit2.Tree | None, changes: FileChanges) -> pygit2.Oid:
    builder = git.TreeBuilder(base) if base is not None else git.TreeBuilder()
    subdirs: dict[str, dict[str, bytes | None]] = {}
    for path, data in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            subdirs.setdefault(head, {})[rest] = data
        elif data is None:
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            builder.insert(head, git.create_blob(data), pygit2.GIT_FILEMODE_BLOB)
    for name, sub in subdirs.items():
        existing = builder.get(name)
        is_dir = existing is not None and existing.type == ObjectType.TREE
        sub_base = git[existing.id].peel(pygit2.Tree) if existing is not None and is_dir else None
        oid = _build_tree(git, sub_base, sub)
        if len(git[oid].peel(pygit2.Tree)) == 0:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, pygit2.GIT_FILEMODE_TREE)
    return builder.write()


__all__ = [
    "MAIN",
    "Author",
    "CommitInfo",
    "ConflictError",
    "MetaRepo",
    "Mutation",
    "Snapshot",
    "commit_info",
    "file_changes",
]
