"""Seed files land in a new agent's state dir at its creation, as the agent, never over what is there.

Real: the meta repo, the reconciler (``apply_once``), the local runtime's bubblewrap sandbox running
the fake agent (tests/seams/fake_agent.py, which reads its /state as its own uid and reports), and the
nixos runtime against its recording stand-in (tests/seams/nixos_host.py: no NixOS host here).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from desired.changes import draft_agent
from desired.repo import MetaRepo
from hive_kit.paths import StateLayout
from reconciler.health import AliveHealth
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.local import LocalRuntime
from reconciler.runtime.nixos import NixosRuntime
from reconciler.seeding import place_seeds
from tests.reconciler.conftest import TESTER, remove
from tests.seams import nixos_host
from tests.seams.hello_host import HelloHost

BRIEF = b"# Brief\nParse the nightly logs.\n"
PLAN = b"1. read /var/log\n"


def draft(repo: MetaRepo, name: str, description: str = "", **seeds: bytes) -> None:
    files = seeds or {"brief.md": BRIEF, "notes/plan.md": PLAN}
    fields = {"name": name, "description": description}
    info = repo.commit(lambda s: draft_agent(s, fields, None, files), author=TESTER, message=f"draft {name}")
    assert info is not None


def owner(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


# ---- place_seeds on its own: the rule ---------------------------------------------------------


def test_seeds_fill_gaps_and_never_overwrite_or_follow_links(tmp_path: Path) -> None:
    state = tmp_path / "agent" / "state"
    (state / "notes").mkdir(parents=True)
    (state / "notes" / "plan.md").write_text("the agent's own plan\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, state / "docs")  # planted by the agent: docs -> a host dir
    os.symlink(outside / "target.md", state / "brief.md")  # a dangling link where the brief goes
    seeds = {"brief.md": BRIEF, "notes/plan.md": PLAN, "notes/new.md": b"new\n", "docs/api.md": b"x"}

    done = place_seeds(state, seeds, owner=None)

    assert done.written == ["notes/new.md"]
    assert sorted(done.kept) == ["brief.md", "notes/plan.md"]
    assert done.skipped == ["docs/api.md"]
    assert (state / "notes" / "plan.md").read_text() == "the agent's own plan\n"
    assert (state / "brief.md").is_symlink() and not (outside / "target.md").exists(), (
        "no write through a link"
    )
    assert list(outside.iterdir()) == [], "nothing written through the planted directory link"
    assert sorted(p.name for p in (state / "notes").iterdir()) == ["new.md", "plan.md"], "no temp file left"
    assert "1 placed" in done.summary("coder") and "2 kept" in done.summary("coder")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another uid needs root")
def test_seeds_belong_to_the_agent(tmp_path: Path) -> None:
    state = tmp_path / "state"
    place_seeds(state, {"brief.md": BRIEF, "notes/plan.md": PLAN}, owner=61234)
    assert owner(state) == (61234, 61234, 0o700), "a state dir made here is the agent's"
    assert owner(state / "brief.md") == (61234, 61234, 0o600)
    assert owner(state / "notes") == (61234, 61234, 0o700)


# ---- through the reconciler -------------------------------------------------------------------


def local(layout: StateLayout, runtime: LocalRuntime, host: HelloHost) -> Reconciler:
    return Reconciler(layout, runtime, health=host, sockets=host, settings=LoopSettings(health_timeout=20))


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox gives each agent its own uid: needs root")
async def test_a_created_agent_finds_its_seeds_and_a_recreated_one_keeps_what_it_wrote(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    host = HelloHost(layout)
    rec = local(layout, runtime, host)
    state = layout.agent_state("coder")
    try:
        draft(repo, "coder", "fake:probe=/state/notes")
        await rec.apply_once()
        uid = await runtime.agent_uid("coder")
        assert uid is not None
        assert (state / "brief.md").read_bytes() == BRIEF
        assert owner(state / "brief.md") == (uid, uid, 0o600)
        assert owner(state / "notes" / "plan.md")[:2] == (uid, uid)
        probe = (state / "probe.txt").read_text()
        assert "READ /state/notes: ['plan.md']" in probe, f"the agent reads its seed in its sandbox: {probe}"

        (state / "brief.md").write_bytes(b"my own notes on the brief\n")  # the agent's work
        repo.commit(
            lambda s: s.model_copy(update={"seeds": {"coder": {"brief.md": b"v2\n", "notes/plan.md": PLAN}}}),
            author=TESTER,
            message="a later edit of the seed",
        )
        assert (await rec.pass_once()).empty, (
            "a seed edit restarts nothing (seeds are not in the fingerprint)"
        )

        remove(repo, "coder")  # its state dir is kept
        await rec.apply_once()
        draft(repo, "coder", "fake:probe=/state/notes", **{"brief.md": b"v3\n", "extra.md": b"added\n"})
        await rec.apply_once()
        assert (state / "brief.md").read_bytes() == b"my own notes on the brief\n", "never overwritten"
        assert (state / "extra.md").read_bytes() == b"added\n", "a missing seed is placed at re-creation"
    finally:
        await rec.close()
        await host.close()
        rec.store.close()


async def test_the_nixos_runtime_creates_an_agent_with_its_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: StateLayout, repo: MetaRepo
) -> None:
    nixos_host.install(tmp_path, monkeypatch)
    runtime = NixosRuntime(layout, conf_dir=tmp_path / "conf")
    rec = Reconciler(layout, runtime, health=AliveHealth(runtime, settle=0.05), settings=LoopSettings())
    try:
        draft(repo, "coder")
        done = await rec.apply_once()
        (create,) = [a for a in done.actions if a.name == "coder"]
        assert create.reason == "new agent in desired state, with 2 seed files (brief.md, notes/plan.md)"
        state = layout.agent_state("coder")
        assert (state / "brief.md").read_bytes() == BRIEF and (
            state / "notes" / "plan.md"
        ).read_bytes() == PLAN
        if os.geteuid() == 0:
            uid = await runtime.agent_uid("coder")
            assert owner(state / "brief.md") == (uid, uid, 0o600), "the container's harness user owns it"
    finally:
        rec.store.close()
