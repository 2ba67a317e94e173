"""`hive purge` removes an agent's dirs and leaves its spend in the host's ledger.

Real: `hive` subprocesses, the reconciler, bubblewrap sandboxes running the
fake agent (tests/seams/fake_agent.py, through HIVE_AGENT_COMMAND), the
ledger file. The agent's turn is written with ``Ledger.record``, the daemon's
own code for a ``turn_usage`` report (no daemon runs in this test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hive_core.ledger import Ledger
from hive_kit import wire
from hive_kit.paths import StateLayout
from tests.reconciler.conftest import AGENT_COMMAND, kill_all

ENV = {"HIVE_AGENT_COMMAND": " ".join(AGENT_COMMAND)}


@pytest.fixture
def swarm(hive, state_dir: Path):  # type: ignore[no-untyped-def]
    assert hive("init").returncode == 0
    yield lambda *args: hive(*args, env=ENV)
    kill_all(StateLayout(state_dir.absolute()))


def test_purge_leaves_the_agents_spend_in_the_ledger(swarm, state_dir: Path) -> None:  # type: ignore[no-untyped-def]
    swarm("agent", "add", "temp")
    assert swarm("reconcile").returncode == 0
    layout = StateLayout(state_dir.absolute())
    ledger = Ledger(layout.ledger)
    usage = wire.ModelUsage(model="claude-sonnet-4-5", input_tokens=500, output_tokens=20, cost_usd=0.42)
    ledger.record("temp", wire.TurnUsage(turn_id="t1", models=[usage], started_at=0, duration_ms=9))
    ledger.close()

    swarm("agent", "remove", "temp")
    assert swarm("reconcile").returncode == 0
    assert swarm("purge", "temp").returncode == 0
    assert not layout.agent_dir("temp").exists()

    done = swarm("costs", "--json", "--since", "all")
    assert done.returncode == 0, done.stderr
    rows = {r["key"]: r for r in json.loads(done.stdout)["rows"]}
    assert rows["temp"]["cost_usd"] == pytest.approx(0.42) and rows["temp"]["input_tokens"] == 500
