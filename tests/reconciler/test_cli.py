"""`hive reconcile`, `hive status`, `hive suspend|resume|purge` as a user runs them: real subprocesses.

The agent program is the fake agent (tests/seams/fake_agent.py), given
through HIVE_AGENT_COMMAND; sandboxes are real bubblewrap.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from hive_kit.paths import StateLayout
from reconciler.runtime import procs
from tests.reconciler.conftest import AGENT_COMMAND, kill_all

ENV = {"HIVE_AGENT_COMMAND": " ".join(AGENT_COMMAND)}


@pytest.fixture
def swarm(hive, state_dir: Path):
    assert hive("init").returncode == 0
    yield lambda *args: hive(*args, env=ENV)
    kill_all(StateLayout(state_dir.absolute()))


def tree(root: Path) -> dict[str, str]:
    """Every file hyperhive writes under root, with its content hash.

    Left out: what the running agents themselves write (their state dirs and
    log output) and sqlite's -shm index (shared memory, not data).
    """
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = path.relative_to(root).parts
            agent_owned = (
                len(rel) > 2 and rel[0] == "agents" and (rel[2] == "state" or rel[2].startswith("agent.log"))
            )
            if name.endswith("-shm") or path.is_socket() or agent_owned:
                continue
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_three_agents_then_dry_run_is_clean_and_a_model_change_is_one_tilde(swarm, state_dir: Path) -> None:
    swarm("agent", "add", "alpha")
    swarm("agent", "add", "beta", "--model", "haiku")
    plan = swarm("reconcile", "--dry-run")
    assert plan.returncode == 2, plan.stderr
    assert plan.stdout.strip().splitlines()[-1] == "Plan: 3 to create, 0 to change, 0 to destroy."

    applied = swarm("reconcile")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "in bubblewrap" in applied.stdout
    clean = swarm("reconcile", "--dry-run")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.startswith("No changes.")

    swarm("agent", "set", "beta", "model", "opus")
    before = tree(state_dir)
    changed = swarm("reconcile", "--dry-run", "--json")
    assert changed.returncode == 2
    data = json.loads(changed.stdout)
    assert [(a["agent"], a["symbol"]) for a in data["actions"]] == [("beta", "~")]
    assert data["actions"][0]["changes"] == [{"field": "model", "old": "haiku", "new": "opus"}]
    text = swarm("reconcile", "--dry-run").stdout
    assert '~ model: "haiku" → "opus"' in text
    assert tree(state_dir) == before, "a dry run changes nothing anywhere"

    assert swarm("reconcile").returncode == 0
    status = json.loads(swarm("status", "--json").stdout)
    by_name = {a["name"]: a for a in status["agents"]}
    assert set(by_name) == {"alpha", "beta", "manager"}
    for agent in by_name.values():
        ready = next(c for c in agent["conditions"] if c["type"] == "Ready")
        assert ready["status"] is True and ready["reason"] == "Deployed"
        assert agent["applied_revision"] == agent["desired_revision"]
    assert [h["action"] for h in by_name["beta"]["history"]] == ["update", "create"]
    assert [h["action"] for h in by_name["alpha"]["history"]] == ["create"]


def test_remove_keeps_state_purge_removes_it(swarm, state_dir: Path) -> None:
    swarm("agent", "add", "temp")
    assert swarm("reconcile").returncode == 0
    agent_dir = state_dir / "agents" / "temp"
    assert (agent_dir / "state" / "launched.json").exists()

    refused = swarm("purge", "temp")
    assert refused.returncode == 1 and "still in desired state" in refused.stderr

    swarm("agent", "remove", "temp")
    plan = swarm("reconcile", "--dry-run")
    assert "  - temp: destroy (removed from desired state (state dir kept))" in plan.stdout
    assert swarm("reconcile").returncode == 0
    assert (agent_dir / "state" / "launched.json").exists()
    assert not (agent_dir / "build").exists()

    assert swarm("purge", "temp").returncode == 0
    assert not agent_dir.exists()


def test_suspend_and_resume_edit_desired_state(swarm) -> None:
    swarm("agent", "add", "quiet")
    assert swarm("suspend", "quiet").returncode == 0
    shown = json.loads(swarm("agent", "show", "quiet", "--json").stdout)
    assert shown["suspended"] is True
    plan = swarm("reconcile", "--dry-run")
    assert "= quiet: left alone (suspended" in plan.stdout
    assert "quiet: create" not in plan.stdout
    assert swarm("resume", "quiet").returncode == 0
    assert "+ quiet: create" in swarm("reconcile", "--dry-run").stdout


def test_reconcile_now_without_a_daemon_says_what_to_do(swarm) -> None:
    result = swarm("reconcile", "--now")
    assert result.returncode == 1
    assert "hive serve" in result.stderr and "hive reconcile" in result.stderr


def test_a_failing_apply_exits_one_and_says_why(swarm) -> None:
    swarm("agent", "add", "broken", "--description", "fake:exit=3")
    result = swarm("reconcile")
    assert result.returncode == 1, result.stdout
    assert "broken: failed: agent broken exited with code 3" in result.stdout
    assert "Apply complete: 1 succeeded, 1 failed." in result.stdout
    status = json.loads(swarm("status", "--json").stdout)
    broken = next(a for a in status["agents"] if a["name"] == "broken")
    assert "exited with code 3" in broken["last_error"]
    assert broken["history"][0]["result"] == "failed"


def test_a_one_shot_apply_waits_for_each_agents_hello(swarm, state_dir: Path) -> None:
    """Without a daemon, healthy still means "said hello on its socket", not merely "still running"."""
    swarm("agent", "add", "mute", "--description", "fake:slow=60")  # runs, but never reaches its socket
    result = swarm("reconcile", "--health-timeout", "2")
    assert result.returncode == 1, result.stdout
    log = state_dir.absolute() / "agents" / "mute" / "agent.log"
    assert "mute: failed: agent mute did not announce itself on its socket within 2s" in result.stdout
    assert str(log) in result.stdout, "the error says where to look"
    assert "Apply complete: 1 succeeded, 1 failed." in result.stdout, "the manager said hello in time"
    status = {a["name"]: a for a in json.loads(swarm("status", "--json").stdout)["agents"]}
    assert status["manager"]["conditions"][0] == {
        "type": "Ready",
        "status": True,
        "reason": "Deployed",
        "message": status["manager"]["conditions"][0]["message"],
    }
    run = StateLayout(state_dir.absolute()).run
    assert not list(run.rglob("hive.sock")), "the one-shot leaves no socket behind for `hive serve`"


def test_a_description_edit_restarts_nothing_and_the_plan_says_metadata_only(swarm, state_dir: Path) -> None:
    swarm("agent", "add", "alpha", "--description", "writes code")
    assert swarm("reconcile").returncode == 0
    key = procs.root_key(state_dir.absolute())
    pid = procs.scan(key)["alpha"]

    swarm("agent", "set", "alpha", "description", "writes and reviews code")
    plan = swarm("reconcile", "--dry-run")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    lines = plan.stdout.splitlines()
    assert "  ~ alpha (metadata only, no restart)" in lines
    assert '      ~ description: "writes code" → "writes and reviews code"' in lines
    assert lines[-1] == "Plan: 0 to create, 1 to change (1 metadata only), 0 to destroy."
    data = json.loads(swarm("reconcile", "--dry-run", "--json").stdout)
    assert [(a["agent"], a["action"]) for a in data["actions"]] == [("alpha", "metadata")]
    assert data["summary"]["metadata_only"] == 1

    applied = swarm("reconcile")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert procs.scan(key)["alpha"] == pid, "a description edit must not restart the agent"
    alpha = {a["name"]: a for a in json.loads(swarm("status", "--json").stdout)["agents"]}["alpha"]
    assert alpha["applied_revision"] == alpha["desired_revision"]
    assert next(c for c in alpha["conditions"] if c["type"] == "Ready")["reason"] == "Deployed"
    assert [h["action"] for h in alpha["history"]] == ["metadata", "create"]
    assert swarm("reconcile", "--dry-run").stdout.startswith("No changes.")

    swarm("agent", "set", "alpha", "model", "opus")  # what runs changed: that still rebuilds
    assert swarm("reconcile").returncode == 0
    assert procs.scan(key)["alpha"] != pid
