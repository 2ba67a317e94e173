"""A commit the manager made in its own clone, received as a git bundle and checked like a push.

The manager edits desired state in its clone (``/state/meta``), commits, and
its harness sends ``git bundle create`` of ``origin/main..<commit>`` over its
socket. The host never runs git in the manager's repo: that repo's config,
hooks and alternates are the agent's, and git run there as root would be code
execution (``core.fsmonitor``, hooks). Instead ``received`` unpacks the bundle
into a quarantine the host owns:

- a fresh bare repo in a private temp dir, its object store borrowing the meta
  repo's (``objects/info/alternates``), so the bundle's prerequisites (the
  commit it builds on) resolve without copying anything;
- ``git bundle unbundle`` run there with no system or global config, hooks off
  and ``transfer.fsckObjects``: git only indexes a pack, nothing in the bundle
  is executed or configures anything;
- the meta repo is then read with that quarantine as an extra, read-only object
  store (as the pre-receive hook reads a push), never written.

Then the checks a push gets (``desired.hook.update_problem``: the whole tree
must load), plus: the commit builds on `main`, and nothing it changes moved on
`main` since its base. ``Incoming.changes`` are the files exactly as committed,
which ``desired.proposals.propose_files`` records on top of `main`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pygit2

from desired.files import load_files
from desired.hook import update_problem
from desired.repo import MAIN, FileChanges, MetaRepo
from desired.schema import DesiredState
from hive_kit.errors import HiveError, UserError
from hive_kit.wire import MAX_BUNDLE_BYTES

MAX_COMMITS = 50
MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 4 * MAX_FILE_BYTES
MAX_FILES = 1000
"""A bundle is compressed: a 512 KiB one can inflate to gigabytes. Sizes are read from object
headers before any file's bytes are."""
GIT_TIMEOUT = 30.0
FIX = "in /state/meta: `git fetch origin && git rebase origin/main`, then propose_commit again"


@dataclass(frozen=True)
class Incoming:
    """The received commit, checked: what it changes relative to the `main` commit it builds on."""

    commit: str
    base: str  # the newest commit of `main` it builds on
    main: str  # `main` when it was checked: the proposal goes on top of this
    message: str
    changes: FileChanges  # path → bytes as committed, or None: deleted
    before: DesiredState  # `main` now
    after: DesiredState  # `main` now with ``changes``


def _git(args: list[str], git_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "HOME": str(git_dir),
    }
    argv = ["git", "-c", f"core.hooksPath={os.devnull}", "-c", "transfer.fsckObjects=true"]
    argv += ["--git-dir", str(git_dir), *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"the host could not unpack the bundle ({exc}); try again") from exc


@contextmanager
def quarantine(meta: Path, bundle: bytes) -> Iterator[tuple[MetaRepo, str]]:
    """The meta repo with the bundle's objects visible (read-only), and the bundle's one commit."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise UserError(
            f"the commit's bundle is {len(bundle)} bytes, over the {MAX_BUNDLE_BYTES}-byte limit; "
            "propose a smaller change (desired state is small text files)"
        )
    with tempfile.TemporaryDirectory(prefix="hive-bundle-") as tmp:
        root = Path(tmp)
        q = root / "q.git"
        pygit2.init_repository(str(q), bare=True)
        (q / "objects" / "info" / "alternates").write_text(f"{(meta / 'objects').absolute()}\n")
        path = root / "in.bundle"
        path.write_bytes(bundle)
        done = _git(["bundle", "unbundle", str(path)], q)
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()
            if any("prerequisite" in line or "missing" in line.lower() for line in why):
                raise UserError(
                    f"the commit does not build on the swarm's `main` (its base is unknown here); {FIX}"
                )
            raise UserError(
                "that is not a git bundle of your commit (git said: "
                f"{(why[-1] if why else 'nothing')[:200]}); call propose_commit with a ref of your clone"
            )
        heads = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
        if len(set(heads)) != 1:
            raise UserError(f"the bundle must carry exactly one commit to propose, not {len(set(heads))}")
        repo = MetaRepo(meta)
        repo.git.odb.add_disk_alternate(str(q / "objects"))
        yield repo, heads[0]


def _file_changes(repo: MetaRepo, base: pygit2.Oid, head: pygit2.Oid) -> dict[str, bytes | None]:
    old = repo.tree_entries(repo.commit_at(base).tree)
    new = repo.tree_entries(repo.commit_at(head).tree)
    changed = sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))
    if len(changed) > MAX_FILES:
        raise UserError(f"the commit changes {len(changed)} files, over {MAX_FILES}; propose less at once")
    total = 0
    for path in changed:
        if path in new:
            try:
                kind, size = repo.git.odb.read_header(new[path])
            except (KeyError, pygit2.GitError):
                kind, size = None, 0
            if kind != pygit2.enums.ObjectType.BLOB:
                raise UserError(f"{path} is not a plain file in your commit (a submodule?); remove it")
            total += size
            if size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
                raise UserError(
                    f"{path} is {size} bytes in your commit ({total} changed so far), over the "
                    f"{MAX_FILE_BYTES}-byte limit per file or {MAX_TOTAL_BYTES} in all; "
                    "desired state is small text files"
                )
    return {path: (repo.blob(new[path]) if path in new else None) for path in changed}


def _base_on_main(repo: MetaRepo, head: pygit2.Oid) -> tuple[pygit2.Oid, pygit2.Oid]:
    main = repo.head(MAIN)
    if main is None:
        raise UserError("the meta repo has no main branch yet; ask the operator to run `hive init`")
    base = repo.git.merge_base(main, head)
    if base is None:
        raise UserError(f"the commit shares no history with the swarm's `main`; {FIX}")
    if base == head:
        raise UserError("that commit is already on `main`: nothing to propose (commit your edit first)")
    walker = repo.git.walk(head, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(base)
    if sum(1 for _ in zip(walker, range(MAX_COMMITS + 1), strict=False)) > MAX_COMMITS:
        raise UserError(f"more than {MAX_COMMITS} commits on top of `main`; squash them into one")
    return main, base


def received(meta: Path, bundle: bytes, guard: Callable[[FileChanges], None] = lambda _c: None) -> Incoming:
    """Unpack, connect, validate; an ``Incoming`` or a ``UserError``/``DesiredStateError`` saying why not.

    ``guard`` sees the changed files first and may raise: a rule about who may change what reads
    better than the invalid state breaking it would cause (removing the manager leaves none).
    """
    with quarantine(meta, bundle) as (repo, sha):
        try:
            head = repo.resolve(sha).id
        except HiveError as exc:
            raise UserError(f"the bundle's commit {sha[:12]} did not arrive; {FIX}") from exc
        main, base = _base_on_main(repo, head)
        changes = _file_changes(repo, base, head)
        guard(changes)
        problem = update_problem(repo, str(main), str(head), "refs/heads/proposals/new")
        if problem is not None:
            raise problem
        moved = _file_changes(repo, base, main) if base != main else {}
        clash = sorted(set(changes) & set(moved))
        if clash:
            raise UserError(f"`main` changed {', '.join(clash)} since your commit's base; {FIX}")
        files = repo.files_at(str(main))
        before = load_files(files)
        for path, data in changes.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        after = load_files(files)  # what the proposal would make `main`: valid, or refused here
        message = repo.commit_at(head).message.strip()
        return Incoming(sha, str(base), str(main), message, changes, before, after)
