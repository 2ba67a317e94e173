"""Turns with known usage reach the host's ledger, and `hive costs` says what the CLI reported, to the cent.

Real: the daemon on real sockets, `hive-harness serve`, the `claude` CLI, the
ledger's sqlite file, the `hive` console script. Stand-in: the model API is the
scripted one (tests/seams), which answers with the usage each test chooses;
the CLI prices that usage itself, and its ``total_cost_usd`` is the figure the
ledger must match.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import apsw
import pytest

from hive_core.ledger import Ledger
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from tests.conftest import subprocess_env
from tests.harness.conftest import needs_claude
from tests.seams.scripted_api import ScriptedAPI, Usage, text, tool

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(180)]


def costs(layout: StateLayout, *args: str) -> Any:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hive"), "costs", "--json", "--since", "all", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(HIVE_STATE_DIR=str(layout.root)),
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ledger_turns(layout: StateLayout, agent: str) -> int:
    ledger = Ledger.reader(layout.ledger)
    if ledger is None:
        return 0
    try:
        return ledger.spend(agent).turns
    finally:
        ledger.close()


async def test_known_usage_lands_in_the_ledger_and_the_agents_own_stats_file_changes_nothing(
    hive, harness, api: ScriptedAPI
) -> None:
    alice = await harness("alice", env=api.env(), allowed_recipients=["manager"])
    await alice.wait_turns(1)
    api.push(
        tool("mcp__hyperhive__send", Usage(1200, 110, 3000, 400), to="manager", body="hi"),
        text("done", Usage(2000, 70, 5000, 0)),
    )
    await hive.client("operator").request(Send(to="alice", body="greet the manager"))
    rows = await alice.wait_turns(2)
    await alice.wait_until("two turns in the ledger", lambda: ledger_turns(hive.layout, "alice") >= 2)

    reported = sum(r["cost_usd"] for r in rows)  # the CLI's total_cost_usd of each turn
    assert rows[1]["cost_usd"] > 0
    before = costs(hive.layout)
    [row] = before["rows"]
    assert row["key"] == "alice" and row["turns"] == 2
    assert round(row["cost_usd"], 2) == round(reported, 2) and row["cost_usd"] == pytest.approx(reported)
    assert row["estimated_usd"] == 0, "the CLI reported a cost: nothing is priced from the table"
    for kind, stats_kind in (
        ("input_tokens", "input_tokens"),
        ("output_tokens", "output_tokens"),
        ("cache_read_tokens", "cache_read_tokens"),
        ("cache_creation_tokens", "cache_creation_tokens"),
    ):
        assert row[kind] == sum(r[stats_kind] for r in rows), kind
    assert (rows[1]["input_tokens"], rows[1]["cache_read_tokens"]) == (3200, 8000)
    by_model = costs(hive.layout, "--by", "model")
    assert by_model["total"]["cost_usd"] == pytest.approx(reported)

    # the agent rewrites its own stats file, as it can from inside its sandbox
    stats = apsw.Connection(str(alice.state / "turn-stats.sqlite"))
    with stats:
        stats.execute("UPDATE turn_stats SET cost_usd = 0, input_tokens = 0")
        stats.execute("DELETE FROM turn_stats WHERE id > 1")
    stats.close()
    assert costs(hive.layout) == before
