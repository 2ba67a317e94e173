"""Saved plans, as the operator runs them: `hive reconcile --dry-run --out FILE`, then `--plan FILE`.

Real subprocesses, real bubblewrap sandboxes; the agent program is the fake
agent (``tests/seams/fake_agent.py``, the harness's test seam).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from hive_kit.paths import StateLayout
from reconciler.runtime import procs
from tests.reconciler.conftest import AGENT_COMMAND, kill_all

ENV = {"HIVE_AGENT_COMMAND": " ".join(AGENT_COMMAND)}


@pytest.fixture
def swarm(hive: Any, state_dir: Path) -> Any:
    assert hive("init").returncode == 0
    yield lambda *args: hive(*args, env=ENV)
    kill_all(StateLayout(state_dir.absolute()))


def test_a_saved_plan_applies_and_a_stale_one_is_refused_with_the_reason(
    swarm: Any, state_dir: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    assert swarm("agent", "add", "coder", "--description", "writes code").returncode == 0
    made = swarm("reconcile", "--dry-run", "--out", str(plan))
    assert made.returncode == 2 and "Saved the plan" in made.stderr and "+ coder" in made.stdout
    saved = json.loads(plan.read_text())
    assert saved["plan_id"].startswith("p-") and saved["lines"][-1].startswith("Plan: 2 to create")

    applied = swarm("reconcile", "--plan", str(plan))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete: 2 succeeded, 0 failed." in applied.stdout
    again = swarm("reconcile", "--plan", str(plan))
    assert again.returncode == 1 and f"saved plan {saved['plan_id']} is stale" in again.stderr
    assert "agent coder moved: absent → running" in again.stderr

    assert swarm("reconcile", "--dry-run", "--out", str(plan)).returncode == 0
    assert swarm("agent", "set", "coder", "model", "opus").returncode == 0
    moved = swarm("reconcile", "--plan", str(plan))
    assert moved.returncode == 1 and "desired state moved: the plan was made at" in moved.stderr
    assert len(moved.stderr.strip().splitlines()) <= 2

    assert swarm("reconcile").returncode == 0
    assert swarm("reconcile", "--dry-run", "--out", str(plan)).returncode == 0
    key = procs.root_key(state_dir.absolute())
    pid = procs.scan(key)["coder"]
    os.killpg(pid, signal.SIGKILL)  # the sandbox and the agent in it, as a crash of the whole box
    deadline = time.monotonic() + 20
    while "coder" in procs.scan(key):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    crashed = swarm("reconcile", "--plan", str(plan))
    assert crashed.returncode == 1 and f"agent coder moved: running (pid {pid})" in crashed.stderr
    assert "coder" not in procs.scan(key), "a stale plan applies nothing"


def test_bad_saved_plans_and_flags_are_refused_in_a_line(swarm: Any, tmp_path: Path) -> None:
    missing = swarm("reconcile", "--plan", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read the saved plan" in missing.stderr
    junk = tmp_path / "junk.json"
    junk.write_text('{"plan": 1}')
    refused = swarm("reconcile", "--plan", str(junk))
    assert refused.returncode == 1 and "is not a saved hyperhive plan" in refused.stderr
    out = swarm("reconcile", "--out", str(tmp_path / "p.json"))
    assert out.returncode == 1 and "use it with --dry-run" in out.stderr
    both = swarm("reconcile", "--dry-run", "--plan", str(junk))
    assert both.returncode == 1 and "without --dry-run" in both.stderr
    unwritable = swarm("reconcile", "--dry-run", "--out", str(tmp_path / "no-such-dir" / "p.json"))
    assert unwritable.returncode == 1 and "cannot write the plan" in unwritable.stderr
