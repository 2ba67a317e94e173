"""The one watcher on the meta repo: every writer is heard, lock files are not, subscribers are apart.

Real git throughout: a bare repo made by ``init_meta_repo`` (hook and all),
a commit through ``MetaRepo``, a `git push` from a clone, an annotated tag.
The watcher runs for real (watchfiles on the repo's refs) in the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from watchfiles import Change

from desired.bootstrap import SYSTEM_AUTHOR, init_meta_repo
from desired.changes import add_agent
from desired.repo import MAIN, MetaRepo
from hive_core import metawatch
from hive_core.metawatch import MetaWatch, RefsMoved, only_refs, read_refs
from tests.conftest import subprocess_env
from tests.core.conftest import OPERATOR
from tests.reconciler.helpers import eventually


@dataclass
class Watching:
    repo: MetaRepo
    watch: MetaWatch
    heard: list[RefsMoved]

    async def settle(self) -> None:
        """Let the watcher come up (its first look) before the test writes."""
        await asyncio.sleep(0.3)

    async def hears(self, ref: str, what: str) -> RefsMoved:
        await eventually(lambda: any(ref in m.changed for m in self.heard), timeout=10, what=what)
        return next(m for m in self.heard if ref in m.changed)


@pytest.fixture
def repo(tmp_path: Path) -> MetaRepo:
    repo, _ = init_meta_repo(tmp_path / "meta.git")
    return repo


@contextlib.asynccontextmanager
async def running(watch: MetaWatch) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def watching(repo: MetaRepo) -> AsyncIterator[Watching]:
    watch = MetaWatch(repo.path)
    heard: list[RefsMoved] = []
    watch.subscribe("test", heard.append)
    watch.check()  # the seed, as HostCore.startup takes it
    async with running(watch):
        state = Watching(repo, watch, heard)
        await state.settle()
        yield state


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=subprocess_env(), check=False
    )


async def test_a_commit_through_meta_repo_is_heard_with_mains_new_target(watching: Watching) -> None:
    info = watching.repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OPERATOR, message="add")
    assert info is not None
    moved = await watching.hears(MAIN, "the commit on main")
    assert moved.main == info.revision
    assert moved.before[MAIN] != info.revision


async def test_a_git_push_into_the_bare_repo_is_heard(watching: Watching, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert git(tmp_path, "clone", "-q", str(watching.repo.path), str(work)).returncode == 0
    (work / "README.md").write_text("# pushed by hand\n")
    git(work, "add", "-A")
    committed = git(
        work, "-c", "user.name=Pusher", "-c", "user.email=p@example.test", "commit", "-qm", "readme"
    )
    assert committed.returncode == 0, committed.stderr
    push = await asyncio.to_thread(git, work, "push", "origin", "main")
    assert push.returncode == 0, push.stderr
    moved = await watching.hears(MAIN, "the pushed main")
    assert moved.main == git(work, "rev-parse", "HEAD").stdout.strip()


async def test_a_new_tag_is_heard(watching: Watching) -> None:
    head = watching.repo.head(MAIN)
    assert head is not None
    assert watching.repo.create_tag("approved/7", head, SYSTEM_AUTHOR, "approved")
    moved = await watching.hears("refs/tags/approved/7", "the new tag")
    assert "refs/tags/approved/7" not in moved.before
    assert moved.changed == ("refs/tags/approved/7",), "main did not move"


async def test_each_write_is_heard_in_turn(watching: Watching) -> None:
    for name in ("one", "two", "three"):
        info = watching.repo.commit(
            lambda s, n=name: add_agent(s, {"name": n}), author=OPERATOR, message=name
        )
        assert info is not None
        await eventually(lambda r=info.revision: any(m.main == r for m in watching.heard), what=name)


async def test_lock_files_alone_do_not_fire(watching: Watching) -> None:
    meta = watching.repo.path
    lock = meta / "refs" / "heads" / "main.lock"
    lock.write_text("0" * 40 + "\n")
    (meta / "packed-refs.lock").write_text("")
    await asyncio.sleep(0.5)  # ten debounce windows
    lock.unlink()
    (meta / "packed-refs.lock").unlink()
    await asyncio.sleep(0.5)
    assert watching.heard == []
    assert watching.watch.check() is None, "and a look by hand finds nothing moved either"


async def test_a_failing_subscriber_does_not_stop_the_others(watching: Watching) -> None:
    calls: list[str] = []

    def broken(_moved: RefsMoved) -> None:
        calls.append("broken")
        raise RuntimeError("subscriber bug")

    watching.watch.subscribe("broken", broken)
    after: list[RefsMoved] = []
    watching.watch.subscribe("after", after.append)
    watching.repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OPERATOR, message="add")
    await watching.hears(MAIN, "the commit, by the subscriber before the broken one")
    await eventually(lambda: bool(after), what="the subscriber after the broken one")
    assert calls == ["broken"]

    watching.repo.commit(lambda s: add_agent(s, {"name": "tester"}), author=OPERATOR, message="add")
    await eventually(lambda: len(after) == 2, what="the next move, the broken subscriber still there")
    assert calls == ["broken", "broken"]


async def test_unsubscribe_stops_the_calls(watching: Watching) -> None:
    late: list[RefsMoved] = []
    unsubscribe = watching.watch.subscribe("late", late.append)
    unsubscribe()
    unsubscribe()  # twice is harmless
    watching.repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OPERATOR, message="add")
    await watching.hears(MAIN, "the commit")
    assert late == []


async def test_the_periodic_rescan_catches_what_inotify_missed(
    repo: MetaRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watch that hears nothing at all (every event filtered out) still notices within one rescan."""
    monkeypatch.setattr(metawatch, "only_refs", lambda meta: lambda change, path: False)
    watch = MetaWatch(repo.path, rescan_s=0.2)
    heard: list[RefsMoved] = []
    watch.subscribe("test", heard.append)
    watch.check()
    async with running(watch):
        await asyncio.sleep(0.3)
        info = repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OPERATOR, message="add")
        assert info is not None
        await eventually(lambda: any(m.main == info.revision for m in heard), timeout=5, what="the rescan")


def test_the_first_look_only_seeds_and_later_looks_report_moves(repo: MetaRepo) -> None:
    watch = MetaWatch(repo.path)
    heard: list[RefsMoved] = []
    watch.subscribe("test", heard.append)
    assert watch.check() is None and heard == [], "nothing to compare the first look with"
    assert watch.refs[MAIN] == str(repo.head(MAIN))
    info = repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OPERATOR, message="add")
    assert info is not None
    moved = watch.check()
    assert moved is not None and moved.changed == (MAIN,) and heard == [moved]
    assert watch.check() is None, "nothing moved since"


def test_read_refs_sees_loose_and_packed_refs_and_skips_locks(repo: MetaRepo) -> None:
    meta = repo.path
    head = str(repo.head(MAIN))
    (meta / "packed-refs").write_text(f"# pack-refs with: peeled\n{head} refs/tags/old\n^{head}\n")
    (meta / "refs" / "heads" / "main.lock").write_text("0" * 40 + "\n")
    refs = read_refs(meta)
    assert refs[MAIN] == head and refs["refs/tags/old"] == head
    assert not any(name.endswith(".lock") for name in refs)


def test_only_refs_accepts_refs_packed_refs_and_head_and_nothing_else(tmp_path: Path) -> None:
    meta = tmp_path / "meta.git"
    accept = only_refs(meta)
    assert accept(Change.modified, f"{meta}/refs/heads/main")
    assert accept(Change.modified, f"{meta}/packed-refs")
    assert accept(Change.modified, f"{meta}/HEAD")
    assert accept(Change.added, f"{meta}/refs/tags/approved/3")
    assert not accept(Change.added, f"{meta}/refs/heads/main.lock")
    assert not accept(Change.added, f"{meta}/packed-refs.lock")
    assert not accept(Change.added, f"{meta}/objects/ab/cdef")
    assert not accept(Change.added, f"{tmp_path}/run/agents/coder/hive.sock")
