"""Desired state merges by field: approvals and edits keep both sides' changes unless they collide.

Real meta repos (pygit2, bare, as `hive init` makes them) and the real
approve path; the merge rules themselves are also checked as a property of
the pure ``desired.merge.merge_files``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desired import proposals
from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, remove_agent, set_agent_field, set_agent_nix
from desired.edit import from_document, rebase_edit, to_document, write
from desired.merge import MergeConflict, merge_files
from desired.repo import Author, MetaRepo
from desired.schema import DesiredState

OP = Author("Op", "op@example.test")
MGR = Author("manager", "manager@hyperhive.local")


@pytest.fixture
def repo(tmp_path: Path) -> MetaRepo:
    repo = init_meta_repo(tmp_path / "meta.git")[0]
    repo.commit(lambda s: add_agent(s, {"name": "coder", "model": "sonnet"}), author=OP, message="coder")
    return repo


def propose(repo: MetaRepo, field: str, value: Any, name: str = "coder") -> proposals.Proposal:
    return proposals.propose(
        repo, lambda s: set_agent_field(s, name, field, value), author=MGR, description=f"{name}: {field}"
    )


def state_of(repo: MetaRepo) -> DesiredState:
    return repo.load().state


def line_merge_conflicts(repo: MetaRepo, proposal: proposals.Proposal) -> bool:
    """What git's own line merge would say of approving ``proposal`` now (the old behaviour)."""
    main = repo.head()
    assert main is not None
    return repo.git.merge_commits(main, pygit2.Oid(hex=proposal.commit)).conflicts is not None


@pytest.mark.parametrize("first", ["model", "state"])
def test_proposals_changing_neighbouring_fields_of_one_agent_both_approve_in_either_order(
    repo: MetaRepo, first: str
) -> None:
    values = {"model": "opus", "state": "stopped"}  # adjacent lines of agents/coder.json
    made = {field: propose(repo, field, value) for field, value in values.items()}
    second = next(f for f in values if f != first)
    proposals.approve(repo, made[first].id, by=OP)
    assert line_merge_conflicts(repo, made[second]), "git's line merge calls this a conflict"

    proposals.approve(repo, made[second].id, by=OP)

    coder = state_of(repo).agents["coder"]
    assert (coder.model, coder.state.value) == ("opus", "stopped")
    merge = repo.resolve("main")
    assert len(merge.parents) == 2, "the second approval is a merge commit of main and the proposal"
    assert str(merge.parents[1].id) == made[second].commit
    tag = repo.tag_object(f"approved/{made[second].id}")
    assert tag is not None and str(tag.target) == str(merge.id)
    assert proposals.pending(repo) == []


def test_two_proposals_changing_the_same_field_conflict_naming_it_and_change_nothing(repo: MetaRepo) -> None:
    haiku, opus = propose(repo, "model", "haiku"), propose(repo, "model", "opus")
    proposals.approve(repo, haiku.id, by=OP)
    before = repo.head()

    with pytest.raises(MergeConflict) as caught:
        proposals.approve(repo, opus.id, by=OP)

    message = str(caught.value)
    assert (
        f'agents/coder.json: model: main has "haiku", proposal {opus.id} has "opus" (was "sonnet")' in message
    )
    assert f"hive deny {opus.id}" in message
    assert repo.head() == before
    assert proposals.get(repo, opus.id).status is proposals.ProposalStatus.PENDING
    assert repo.git.references.get(f"refs/tags/approved/{opus.id}") is None
    assert repo.git.references.get(f"refs/heads/proposals/{opus.id}") is not None


def test_the_same_change_on_both_sides_merges(repo: MetaRepo) -> None:
    p = propose(repo, "model", "opus")
    repo.commit(lambda s: set_agent_field(s, "coder", "model", "opus"), author=OP, message="opus")
    repo.commit(lambda s: set_agent_field(s, "coder", "description", "x"), author=OP, message="x")
    proposals.approve(repo, p.id, by=OP)
    coder = state_of(repo).agents["coder"]
    assert (coder.model, coder.description) == ("opus", "x")


def test_an_agent_removed_on_main_and_changed_by_a_proposal_is_a_conflict(repo: MetaRepo) -> None:
    p = propose(repo, "model", "opus")
    repo.commit(lambda s: remove_agent(s, "coder"), author=OP, message="no coder")
    before = repo.head()
    with pytest.raises(
        MergeConflict,
        match=re.escape(f"agents/coder.json: main deleted the file, proposal {p.id} changed it"),
    ):
        proposals.approve(repo, p.id, by=OP)
    assert repo.head() == before


def test_lists_are_values_and_objects_merge_key_by_key(repo: MetaRepo) -> None:
    github = propose(repo, "extra_mcp_servers", {"github": {"command": "github-mcp"}})
    linear = propose(repo, "extra_mcp_servers", {"linear": {"command": "linear-mcp"}})
    proposals.approve(repo, github.id, by=OP)
    proposals.approve(repo, linear.id, by=OP)
    assert set(state_of(repo).agents["coder"].extra_mcp_servers) == {"github", "linear"}

    mine, theirs = (
        propose(repo, "allowed_recipients", ["manager"]),
        propose(repo, "allowed_recipients", ["operator"]),
    )
    proposals.approve(repo, mine.id, by=OP)
    with pytest.raises(
        MergeConflict, match=r'allowed_recipients: main has \["manager"\], proposal \d+ has \["operator"\]'
    ):
        proposals.approve(repo, theirs.id, by=OP)


def test_agent_nix_keeps_gits_line_merge(repo: MetaRepo) -> None:
    lines = [f"  # line {i}" for i in range(8)]
    text = "{ ... }: {\n" + "\n".join(lines) + "\n}\n"
    repo.commit(lambda s: set_agent_nix(s, "coder", text), author=OP, message="nix")

    def nix_edit(index: int, new: str) -> proposals.Proposal:
        edited = text.replace(lines[index], new)
        return proposals.propose(
            repo, lambda s: set_agent_nix(s, "coder", edited), author=MGR, description=f"nix line {index}"
        )

    top, bottom, clash = nix_edit(0, "  top = 1;"), nix_edit(7, "  bottom = 1;"), nix_edit(0, "  top = 2;")
    proposals.approve(repo, top.id, by=OP)
    proposals.approve(repo, bottom.id, by=OP)
    merged = state_of(repo).agent_nix["coder"]
    assert "top = 1;" in merged and "bottom = 1;" in merged
    with pytest.raises(
        MergeConflict,
        match=re.escape(f"agents/coder/agent.nix: main and proposal {clash.id} changed the same lines"),
    ):
        proposals.approve(repo, clash.id, by=OP)


def test_a_whole_document_edit_keeps_what_main_changed_meanwhile(repo: MetaRepo) -> None:
    """`hive desired edit`: the edit started from one revision; main moved before it was saved."""
    snap = repo.load()
    doc = to_document(snap.state)
    doc["agents"]["coder"]["description"] = "writes code"
    edited = from_document(json.dumps(doc), snap.state)
    repo.commit(lambda s: set_agent_field(s, "coder", "model", "opus"), author=OP, message="opus")

    write(repo, rebase_edit(snap.state, edited), author=OP, message="describe coder")
    coder = state_of(repo).agents["coder"]
    assert (coder.model, coder.description) == ("opus", "writes code")

    doc["agents"]["coder"]["model"] = "haiku"
    clash = from_document(json.dumps(doc), snap.state)
    before = repo.head()
    with pytest.raises(
        MergeConflict, match=re.escape('agents/coder.json: model: main has "opus", your edit has "haiku"')
    ):
        write(repo, rebase_edit(snap.state, clash), author=OP, message="cheaper")
    assert repo.head() == before


# ---- the rules, as a property of the pure merge ----------------------------------------------------

KEYS = ["model", "state", "description", "allowed_recipients", "extra", "nested"]
values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=6,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=len(KEYS))


@settings(max_examples=200, deadline=None)
@given(base=documents, edits=st.data())
def test_merging_disjoint_field_edits_equals_applying_both(
    base: dict[str, Any], edits: st.DataObject
) -> None:
    keys = edits.draw(st.lists(st.sampled_from(KEYS), unique=True))
    split = edits.draw(st.integers(0, len(keys)))
    ours_keys, theirs_keys = keys[:split], keys[split:]

    def edit(doc: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        out = dict(doc)
        for key in keys:
            if edits.draw(st.booleans(), label=f"remove {key}") and key in out:
                del out[key]
            else:
                out[key] = edits.draw(values, label=f"value of {key}")
        return out

    ours, theirs = edit(base, ours_keys), edit(base, theirs_keys)
    both = edit(base, [])  # base, then ours' edits, then theirs'
    for side, keys in ((ours, ours_keys), (theirs, theirs_keys)):
        for key in keys:
            if key in side:
                both[key] = side[key]
            else:
                both.pop(key, None)

    def tree(doc: dict[str, Any]) -> dict[str, bytes]:
        return {"agents/x.json": json.dumps(doc).encode()}

    def merged(a: dict[str, Any], b: dict[str, Any]) -> Any:
        return json.loads(merge_files(tree(base), tree(a), tree(b))["agents/x.json"])

    assert merged(ours, theirs) == both
    assert merged(theirs, ours) == both, "the order of the two sides does not matter"
