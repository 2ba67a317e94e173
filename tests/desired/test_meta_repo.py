"""The meta repo: concurrent writers never lose a commit; approvals live in refs and tags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from desired import edit, proposals
from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import Author, MetaRepo
from hive_kit.changes import AddAgent, ChangeSet, SetAgentField
from hive_kit.errors import ConflictError, DesiredStateError, UserError
from tests.conftest import HiveRunner, subprocess_env

OP = Author("Op", "op@example.test")
MGR = Author("manager", "manager@hyperhive.local")


@pytest.fixture
def repo(tmp_path: Path) -> MetaRepo:
    return init_meta_repo(tmp_path / "meta.git")[0]


def test_init_twice_is_harmless(hive: HiveRunner, state_dir: Path) -> None:
    first = hive("init", "--json")
    assert first.returncode == 0, first.stderr
    assert hive("agent", "add", "coder").returncode == 0
    second = hive("init", "--json")
    assert second.returncode == 0
    assert json.loads(second.stdout)["created"] is False
    assert json.loads(second.stdout)["agents"] == ["coder", "manager"]


def test_twenty_concurrent_cli_writers_lose_nothing(hive: HiveRunner, state_dir: Path) -> None:
    assert hive("init").returncode == 0
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hive", "agent", "add", f"a{i}", "--state-dir", str(state_dir)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    results = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert all(code == 0 for _, code in results), results
    repo = MetaRepo(state_dir / "meta.git")
    assert sorted(repo.load().state.agents) == sorted([f"a{i}" for i in range(20)] + ["manager"])
    messages = [c.message.strip() for c in repo.log()]
    assert sorted(m for m in messages if m.startswith("add agent")) == sorted(
        f"add agent a{i}" for i in range(20)
    )
    assert len(messages) == 21  # 20 adds + init: every write is its own commit


def test_a_write_based_on_a_stale_read_is_retried_not_lost(repo: MetaRepo) -> None:
    calls = []

    def racing(state):  # another writer lands between our read and our ref update, once
        calls.append(1)
        if len(calls) == 1:
            repo.commit(lambda s: add_agent(s, {"name": "other"}), author=OP, message="other")
        return add_agent(state, {"name": "mine"})

    repo.commit(racing, author=OP, message="mine")
    assert {"other", "mine"} <= set(repo.load().state.agents)
    assert len(calls) == 2


def test_propose_pending_approve(repo: MetaRepo) -> None:
    p = proposals.propose(
        repo,
        lambda s: add_agent(s, {"name": "coder", "model": "opus"}),
        author=MGR,
        description="a coder for the backlog",
    )
    assert [x.id for x in proposals.pending(repo)] == [p.id]
    assert "coder" not in repo.load().state.agents, "a proposal leaves main alone"
    assert '+  "model": "opus"' in proposals.diff(repo, p)
    approved = proposals.approve(repo, p.id, by=OP)
    assert approved.status is proposals.ProposalStatus.APPROVED
    assert approved.resolution is not None and approved.resolution.by == "Op <op@example.test>"
    assert repo.load().state.agents["coder"].model == "opus"
    assert repo.git.references.get(f"refs/tags/approved/{p.id}") is not None
    assert proposals.pending(repo) == []
    with pytest.raises(UserError, match="already approved"):
        proposals.approve(repo, p.id, by=OP)


def test_approve_merges_when_main_moved_without_conflict(repo: MetaRepo) -> None:
    p = proposals.propose(repo, lambda s: add_agent(s, {"name": "coder"}), author=MGR, description="coder")
    repo.commit(lambda s: add_agent(s, {"name": "writer"}), author=OP, message="writer")
    proposals.approve(repo, p.id, by=OP)
    state = repo.load().state
    assert {"coder", "writer"} <= set(state.agents)
    merge = repo.resolve("main")
    assert len(merge.parents) == 2


def test_conflicting_approval_is_refused_and_changes_nothing(repo: MetaRepo) -> None:
    repo.commit(lambda s: add_agent(s, {"name": "coder", "model": "opus"}), author=OP, message="coder")
    p = proposals.propose(
        repo, lambda s: set_agent_field(s, "coder", "model", "haiku"), author=MGR, description="cheaper"
    )
    repo.commit(lambda s: set_agent_field(s, "coder", "model", "sonnet"), author=OP, message="sonnet")
    before = repo.head()
    with pytest.raises(ConflictError, match=r"agents/coder\.json"):
        proposals.approve(repo, p.id, by=OP)
    assert repo.head() == before
    assert proposals.get(repo, p.id).status is proposals.ProposalStatus.PENDING
    assert repo.git.references.get(f"refs/tags/approved/{p.id}") is None


def test_clean_merge_that_breaks_a_rule_is_refused(repo: MetaRepo) -> None:
    repo.commit(lambda s: add_agent(s, {"name": "coder"}), author=OP, message="coder")
    p = proposals.propose(
        repo,
        lambda s: set_agent_field(s, "manager", "allowed_recipients", ["coder"]),
        author=MGR,
        description="manager talks to coder only",
    )
    repo.commit(
        lambda s: s.model_copy(update={"agents": {k: v for k, v in s.agents.items() if k != "coder"}}),
        author=OP,
        message="drop coder",
    )
    before = repo.head()
    with pytest.raises(ConflictError, match="'coder' is not an agent"):
        proposals.approve(repo, p.id, by=OP)
    assert repo.head() == before


def test_deny_keeps_who_and_why_in_the_tag(repo: MetaRepo) -> None:
    p = proposals.propose(repo, lambda s: add_agent(s, {"name": "coder"}), author=MGR, description="coder")
    denied = proposals.deny(repo, p.id, by=OP, note="not this week")
    tag = repo.git[repo.git.references[f"refs/tags/denied/{p.id}"].target]
    assert isinstance(tag, pygit2.Tag)
    assert tag.message.strip() == "not this week" and tag.tagger.name == "Op"
    assert denied.resolution is not None and denied.resolution.note == "not this week"
    assert "coder" not in repo.load().state.agents
    assert repo.head(f"refs/heads/proposals/{p.id}") is None


def test_proposal_ids_are_unique_under_concurrency(tmp_path: Path, hive: HiveRunner, state_dir: Path) -> None:
    assert hive("init").returncode == 0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hive",
                "agent",
                "add",
                f"p{i}",
                "--propose",
                "--state-dir",
                str(state_dir),
            ],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert all(code == 0 for _, code in outcomes), outcomes
    pending = json.loads(hive("pending", "--json").stdout)
    assert sorted(p["id"] for p in pending) == [1, 2, 3, 4, 5, 6]
    assert sorted(p["description"] for p in pending) == sorted(f"add agent p{i}" for i in range(6))


def test_write_commits_or_proposes_and_says_which(repo: MetaRepo) -> None:
    add = ChangeSet(ops=[AddAgent(agent={"name": "coder"})])
    done = edit.write(repo, add, author=OP)
    assert done.revision == repo.load().revision and done.summary == "add agent coder"
    assert done.to_json() == {"changed": True, "revision": done.revision, "summary": "add agent coder"}
    same = ChangeSet(ops=[SetAgentField(name="coder", field="model", value=None)])
    again = edit.write(repo, same, author=OP)
    assert (again.changed, again.revision, again.proposal) == (False, None, None)
    slower = ChangeSet(ops=[SetAgentField(name="coder", field="model", value="haiku")])
    proposed = edit.write(repo, slower, author=MGR, message="cheaper", propose=True)
    assert proposed.proposal is not None and proposed.revision is None
    assert proposed.to_json() == {
        "proposal": proposed.proposal.id,
        "commit": proposed.proposal.commit,
        "status": "pending",
        "summary": "cheaper",
    }
    assert repo.load().revision == done.revision, "a proposal leaves main alone"
    with pytest.raises(ValueError, match="needs a message"):
        edit.write(repo, lambda s: s, author=OP)


def test_a_replacement_is_validated_before_anything_is_written(repo: MetaRepo) -> None:
    files = repo.files_at()
    before = repo.head()
    files["agents/ghost.json"] = b'{"name": "ghost", "modle": "opus"}'
    with pytest.raises(DesiredStateError, match="unknown field 'modle'"):
        edit.replacement(files)
    assert repo.head() == before
    files["agents/ghost.json"] = b'{"name": "ghost"}'
    done = edit.write(repo, edit.replacement(files), author=OP, message="import")
    assert done.changed and "ghost" in repo.load().state.agents
