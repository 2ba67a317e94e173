"""Operators edit by `git clone` + `git push`; the pre-receive hook is the gate.

Real git, a real bare repo and the real hook installed by `hive init`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import HiveRunner, subprocess_env


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=subprocess_env(), check=False
    )


def clone(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> Path:
    assert hive("init").returncode == 0
    work = tmp_path / "work"
    assert git(tmp_path, "clone", "-q", str(state_dir / "meta.git"), str(work)).returncode == 0
    git(work, "config", "user.name", "Pusher")
    git(work, "config", "user.email", "pusher@example.test")
    return work


def commit_file(work: Path, rel: str, content: str, message: str) -> None:
    path = work / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    git(work, "add", "-A")
    assert git(work, "commit", "-qm", message).returncode == 0


def head(state_dir: Path) -> str:
    return git(state_dir, "--git-dir", str(state_dir / "meta.git"), "rev-parse", "main").stdout.strip()


def test_invalid_push_is_refused_naming_file_field_and_fix(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work = clone(hive, state_dir, tmp_path)
    before = head(state_dir)
    commit_file(work, "agents/coder.json", json.dumps({"name": "coder", "modle": "opus"}), "add coder")
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert "agents/coder.json: $.modle: unknown field 'modle' (did you mean 'model'?)" in push.stderr
    assert "fix: remove it" in push.stderr
    assert "pre-receive hook declined" in push.stderr
    assert head(state_dir) == before, "nothing may land"
    listed = json.loads(hive("agent", "list", "--json").stdout)
    assert [a["name"] for a in listed["agents"]] == ["manager"]


def test_valid_push_lands_and_shows_in_agent_list(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> None:
    work = clone(hive, state_dir, tmp_path)
    spec = {"name": "coder", "model": "opus", "allowed_recipients": ["manager"]}
    commit_file(work, "agents/coder.json", json.dumps(spec, indent=2), "add coder by push")
    push = git(work, "push", "origin", "main")
    assert push.returncode == 0, push.stderr
    listed = json.loads(hive("agent", "list", "--json").stdout)
    coder = next(a for a in listed["agents"] if a["name"] == "coder")
    assert coder["model"] == "opus" and coder["allowed_recipients"] == ["manager"]
    history = json.loads(hive("history", "coder", "--json").stdout)
    assert history[0]["author"] == "Pusher" and history[0]["message"] == "add coder by push"


def test_cross_file_rules_apply_to_pushes(hive: HiveRunner, state_dir: Path, tmp_path: Path) -> None:
    work = clone(hive, state_dir, tmp_path)
    commit_file(work, "agents/boss.json", json.dumps({"name": "boss", "role": "manager"}), "second manager")
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert (
        "agents/boss.json: $.role: a second manager" in push.stderr
        or "agents/manager.json: $.role" in push.stderr
    )


def test_hyperhive_tags_and_deleting_main_and_rewriting_history_are_refused(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work = clone(hive, state_dir, tmp_path)
    git(work, "tag", "approved/99")
    push = git(work, "push", "origin", "approved/99")
    assert push.returncode != 0 and "audit trail" in push.stderr
    delete = git(work, "push", "origin", ":main")
    assert delete.returncode != 0
    commit_file(work, "README.md", "first\n", "landed")
    assert git(work, "push", "origin", "main").returncode == 0
    landed = head(state_dir)
    assert git(work, "reset", "-q", "--hard", "HEAD~1").returncode == 0
    commit_file(work, "README.md", "other\n", "rewrite history")
    force = git(work, "push", "--force", "origin", "main")
    assert force.returncode != 0, "main's history is the audit log: no force-push"
    assert head(state_dir) == landed


def test_proposal_branches_pushed_by_operators_are_validated(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work = clone(hive, state_dir, tmp_path)
    git(work, "checkout", "-qb", "proposals/7")
    commit_file(work, "agents/x.json", "{not json", "broken proposal")
    push = git(work, "push", "origin", "proposals/7")
    assert push.returncode != 0 and "agents/x.json: $: not valid JSON" in push.stderr


def test_a_31st_agent_over_max_agents_30_is_refused_at_push_with_the_numbers(
    hive: HiveRunner, state_dir: Path, tmp_path: Path
) -> None:
    work = clone(hive, state_dir, tmp_path)
    (work / "hive.json").write_text(json.dumps({"max_agents": 30}))
    for i in range(29):  # with the manager: 30, exactly the cap
        (work / f"agents/w{i}.json").write_text(json.dumps({"name": f"w{i}"}))
    git(work, "add", "-A")
    git(work, "commit", "-qm", "thirty agents")
    assert git(work, "push", "origin", "main").returncode == 0
    at_cap = head(state_dir)
    commit_file(work, "agents/extra.json", json.dumps({"name": "extra"}), "a 31st")
    push = git(work, "push", "origin", "main")
    assert push.returncode != 0
    assert "hive.json: $.max_agents: 31 agents; hive.json max_agents is 30" in push.stderr
    assert "remove 1 agent or raise max_agents" in push.stderr
    assert head(state_dir) == at_cap, "nothing may land"
