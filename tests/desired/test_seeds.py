"""Seed files in desired state (``agents/<name>/seed/<path>``): what every path into the meta repo accepts.

Real git and the real pre-receive hook installed by `hive init` for pushes; real bare repos through
``MetaRepo`` for proposals and the state round trip. An agent-controlled path, a symlink, a
submodule, an oversize file or a dotfile that would steer claude is refused naming the file and
the fix, and nothing lands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from desired import proposals
from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, draft_agent, remove_agent
from desired.edit import from_document, to_document
from desired.files import load_files
from desired.repo import Author, MetaRepo
from desired.seeds import MAX_SEED_BYTES, MAX_SEED_FILE_BYTES, encode_texts, path_problem
from hive_kit.errors import DesiredStateError
from tests.conftest import HiveRunner
from tests.desired.helpers import swarm
from tests.desired.test_git_push import clone, commit_file, git, head

ME = Author("Test Operator", "operator@example.test")


@pytest.mark.parametrize(
    "rel",
    [
        "/etc/passwd",
        "../escape.md",
        "notes/../../x",
        "a//b",
        ".claude/settings.json",
        ".mcp.json",
        "notes/.hidden",
        ".hive/mcp-config.json",
        "home/.bashrc",
        "secrets.env",
        "meta/agents/x.json",
        "events.sqlite",
        "turn-stats.sqlite-wal",
        "CLAUDE.md",
        "docs/claude.md",
        "model-override",
        "a/b/c/d/e.md",
        "-rf",
        "sp ace.md",
        "back\\slash",
    ],
)
def test_dangerous_or_odd_paths_are_refused(rel: str) -> None:
    assert path_problem(rel) is not None


@pytest.mark.parametrize("rel", ["brief.md", "notes/plan.md", "docs/api_v2.txt", "data/input-1.json"])
def test_plain_relative_paths_are_accepted(rel: str) -> None:
    assert path_problem(rel) is None


def test_seed_files_load_from_the_tree_and_round_trip() -> None:
    files = swarm(("manager", {}), ("coder", {}))
    files["agents/coder/seed/brief.md"] = b"# Brief\nwrite the parser\n"
    files["agents/coder/seed/notes/plan.md"] = b"1. read\n"
    state = load_files(files)
    assert state.seeds == {
        "coder": {"brief.md": files["agents/coder/seed/brief.md"], "notes/plan.md": b"1. read\n"}
    }
    edited = from_document(json.dumps(to_document(state)), state)
    assert edited.seeds == state.seeds, "the whole-document editor keeps seeds it does not show"


def test_each_bad_seed_is_named_with_its_file_and_fix() -> None:
    files = swarm(("manager", {}), ("coder", {}))
    files["agents/coder/seed/.claude/settings.json"] = b"{}"
    files["agents/coder/seed/big.md"] = b"x" * (MAX_SEED_FILE_BYTES + 1)
    files["agents/coder/seed/bin.dat"] = b"\xff\xfe"
    files["agents/coder/seed/esc.md"] = b"fine\n\x1b[2Khidden\n"
    files["agents/ghost/seed/brief.md"] = b"hi"
    with pytest.raises(DesiredStateError) as caught:
        load_files(files)
    text = str(caught.value)
    assert "agents/coder/seed/.claude/settings.json: $: " in text and "dotfile" in text
    assert f"agents/coder/seed/big.md: $: is {MAX_SEED_FILE_BYTES + 1} bytes" in text
    assert "agents/coder/seed/bin.dat: $: is not UTF-8 text" in text
    assert "agents/coder/seed/esc.md: line 2: holds the control character '\\x1b'" in text
    assert "agents/ghost/seed/: $: belongs to no agent" in text
    assert text.count("(fix: ") >= 5


def test_the_total_of_an_agents_seeds_is_capped() -> None:
    files = swarm(("manager", {}), ("coder", {}))
    for i in range(5):
        files[f"agents/coder/seed/part{i}.md"] = b"y" * (MAX_SEED_BYTES // 4)
    with pytest.raises(DesiredStateError, match=r"agents/coder/seed/: \$: \d+ bytes of seed files; at most"):
        load_files(files)


def test_removing_an_agent_removes_its_seeds() -> None:
    state = load_files(swarm(("manager", {})))
    state = draft_agent(state, {"name": "coder"}, None, {"brief.md": b"hi\n"})
    assert remove_agent(state, "coder").seeds == {}


def test_a_draft_becomes_one_proposal_with_every_file_in_its_diff(tmp_path: Path) -> None:
    init_meta_repo(tmp_path / "meta.git", ME)
    repo = MetaRepo(tmp_path / "meta.git")
    seeds = encode_texts("coder", {"brief.md": "# Brief\nparse the logs\n", "notes/plan.md": "step 1\n"})
    nix = "{ pkgs, ... }: { environment.systemPackages = [ pkgs.jq ]; }\n"
    found = proposals.propose(
        repo,
        lambda s: draft_agent(s, {"name": "coder", "model": "haiku"}, nix, seeds),
        author=ME,
        description="draft coder",
    )
    diff = proposals.diff(repo, found)
    for path in ("agents/coder.json", "agents/coder/agent.nix", "agents/coder/seed/brief.md"):
        assert f"+++ b/{path}" in diff
    assert "+parse the logs" in diff and "+step 1" in diff
    proposals.approve(repo, found.id, by=ME)
    assert repo.load().state.seeds["coder"]["notes/plan.md"] == b"step 1\n"


def test_draft_texts_are_checked_before_anything_is_written() -> None:
    with pytest.raises(DesiredStateError) as caught:
        encode_texts(
            "coder", {"../../etc/cron.d/x": "* * * * * root sh", "ok.md": "z" * (MAX_SEED_FILE_BYTES + 1)}
        )
    text = str(caught.value)
    assert "agents/coder/seed/../../etc/cron.d/x: $:" in text and "inside /state" in text
    assert "agents/coder/seed/ok.md: $: is" in text


def _push(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    work = clone(hive, state_dir, tmp_path)
    commit_file(work, "agents/coder.json", json.dumps({"name": "coder"}), "add coder")
    assert git(work, "push", "-q", "origin", "main").returncode == 0
    return work, head(state_dir)


def test_a_push_with_a_symlinked_seed_is_refused_and_nothing_lands(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work, before = _push(hive, state_dir, tmp_path)
    seed = work / "agents" / "coder" / "seed"
    seed.mkdir(parents=True)
    os.symlink("/etc/shadow", seed / "brief.md")
    git(work, "add", "-A")
    assert git(work, "commit", "-qm", "link a brief").returncode == 0
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert "agents/coder/seed/brief.md: $: is a symlink; a seed must be a regular file" in push.stderr
    assert head(state_dir) == before


def test_a_push_with_a_submodule_seed_is_refused(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> None:
    work, before = _push(hive, state_dir, tmp_path)
    blob = git(work, "rev-parse", "HEAD").stdout.strip()
    # a gitlink entry (mode 160000) the way `git submodule add` records one, without a network
    added = git(work, "update-index", "--add", "--cacheinfo", f"160000,{blob},agents/coder/seed/sub")
    assert added.returncode == 0, added.stderr
    assert git(work, "commit", "-qm", "a submodule seed").returncode == 0
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert "agents/coder/seed/sub: $: is a submodule" in push.stderr
    assert head(state_dir) == before


def test_a_push_with_good_seeds_lands(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> None:
    work, _ = _push(hive, state_dir, tmp_path)
    commit_file(work, "agents/coder/seed/brief.md", "# Brief\nhello\n", "coder's brief")
    push = git(work, "push", "origin", "main")
    assert push.returncode == 0, push.stderr
    assert MetaRepo(state_dir / "meta.git").load().state.seeds == {"coder": {"brief.md": b"# Brief\nhello\n"}}


def test_add_agent_then_seed_via_state(tmp_path: Path) -> None:
    """A seed for an agent added in the same commit is fine; the agent's fingerprint ignores seeds."""
    from desired.schema import agent_fingerprint

    state = add_agent(load_files(swarm(("manager", {}))), {"name": "coder"})
    seeded = draft_agent(load_files(swarm(("manager", {}))), {"name": "coder"}, None, {"brief.md": b"x"})
    assert agent_fingerprint(state, "coder") == agent_fingerprint(seeded, "coder")


def test_an_import_with_a_symlinked_seed_is_refused_and_reads_nothing(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    assert hive("init").returncode == 0
    tree = tmp_path / "tree"
    assert hive("desired", "export", str(tree)).returncode == 0
    (tree / "agents" / "manager" / "seed").mkdir(parents=True)
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host secret\n")
    os.symlink(secret, tree / "agents" / "manager" / "seed" / "brief.md")
    done = hive("desired", "import", str(tree))
    assert done.returncode == 1
    assert "agents/manager/seed/brief.md: $: is a symlink; a seed must be a regular file" in done.stderr
    assert MetaRepo(state_dir / "meta.git").load().state.seeds == {}


def test_hive_pending_marks_a_draft_and_prints_its_text_as_written(hive: HiveRunner, state_dir: Path) -> None:
    assert hive("init").returncode == 0
    repo = MetaRepo(state_dir / "meta.git")
    seeds = {"brief.md": b"# Brief\ncount gophers\n"}
    proposals.propose(
        repo,
        lambda s: draft_agent(s, {"name": "scout"}, None, seeds),
        author=ME,
        description="draft scout: [/x] [bold]census[/bold]",
    )
    done = hive("pending")
    assert done.returncode == 0, done.stderr
    assert "draft: new agent scout, starts with /state/brief.md" in done.stdout
    assert "[/x] [bold]census[/bold]" in done.stdout, "a proposer's brackets are text, not markup"
    listed = json.loads(hive("pending", "--json").stdout)
    assert listed[0]["drafts"] == [{"name": "scout", "seeds": ["brief.md"]}]
