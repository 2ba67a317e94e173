"""`hive costs` as an operator runs it: the venv's console script over a real ledger file.

The rows are written by ``hive_core.ledger.Ledger``, the code the daemon runs for a
``turn_usage`` report; no daemon is needed to read them, and none runs here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from hive.cli.costs import since_day
from hive_core.ledger import Ledger
from hive_kit import wire
from hive_kit.errors import UserError
from hive_kit.paths import StateLayout
from tests.conftest import subprocess_env

HIVE = str(Path(sys.executable).parent / "hive")


def hive(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HIVE, "costs", *args, "--state-dir", str(layout.root)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
        timeout=60,
    )


def turn(turn_id: str, model: str, cost: float | None, tokens: int = 100) -> wire.TurnUsage:
    usage = wire.ModelUsage(model=model, input_tokens=tokens, output_tokens=tokens // 10, cost_usd=cost)
    return wire.TurnUsage(turn_id=turn_id, models=[usage], started_at=0.0, duration_ms=100)


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    lay = StateLayout(tmp_path / "hive")
    init_meta_repo(lay.meta)
    now = datetime.now(UTC).timestamp()
    clock = iter([now - 10 * 86400, now - 86400, now, now])
    ledger = Ledger(lay.ledger, clock=lambda: next(clock))
    ledger.record("coder", turn("old", "claude-sonnet-4-5", 1.0))
    ledger.record("coder", turn("a", "claude-sonnet-4-5", 0.25))
    ledger.record("tester", turn("b", "claude-haiku-4-5", None, tokens=1_000_000))
    ledger.record("coder", turn("c", "claude-haiku-4-5", 0.05))
    ledger.close()
    return lay


def json_of(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_by_agent_model_and_day_add_up_to_the_same_total(layout: StateLayout) -> None:
    by_agent = json_of(hive(layout, "--json"))
    assert [(r["key"], r["turns"]) for r in by_agent["rows"]] == [("tester", 1), ("coder", 2)]
    estimate = 1.0 + 0.1 * 5  # a million haiku input tokens at $1/M, 100k output at $5/M
    assert by_agent["total"]["cost_usd"] == pytest.approx(0.30 + estimate)
    assert by_agent["total"]["estimated_usd"] == pytest.approx(estimate)
    by_model = json_of(hive(layout, "--by", "model", "--json"))
    assert {r["key"]: r["turns"] for r in by_model["rows"]} == {"claude-haiku-4-5": 2, "claude-sonnet-4-5": 1}
    by_day = json_of(hive(layout, "--by", "day", "--json"))
    assert len(by_day["rows"]) == 2 and by_day["total"] == by_agent["total"] | {"key": "total"}
    everything = json_of(hive(layout, "--since", "all", "--json"))
    assert everything["total"]["cost_usd"] == pytest.approx(1.30 + estimate)
    coder = json_of(hive(layout, "--agent", "coder", "--since", "all", "--json"))
    assert coder["total"]["turns"] == 3


def test_the_table_has_a_totals_row_and_marks_estimates(layout: StateLayout) -> None:
    done = hive(layout, "--by", "model")
    assert done.returncode == 0, done.stderr
    assert "claude-haiku-4-5" in done.stdout and "total" in done.stdout
    assert "$1.80" in done.stdout and "* includes $1.50 priced from hive_core/prices.py" in done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--by", "week"], "invalid value for '--by': 'week' is not one of 'agent', 'model', 'day'"),
        (["--since", "yesterdayish"], "--since 'yesterdayish' is not a day"),
        (["--since", "2026-13-01"], "--since '2026-13-01'"),
        (["--since", "0d"], "use Nd"),
        (["--agent", "../x"], "--agent '../x'"),
    ],
)
def test_bad_input_is_one_clean_line(layout: StateLayout, args: list[str], needle: str) -> None:
    done = hive(layout, *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and needle in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_a_fresh_state_dir_has_no_turns_yet(tmp_path: Path) -> None:
    lay = StateLayout(tmp_path / "hive")
    init_meta_repo(lay.meta)
    done = hive(lay)
    assert done.returncode == 0 and "no turns recorded" in done.stdout
    assert not lay.ledger.exists(), "reading creates no ledger"


def test_since_reads_days_dates_and_words() -> None:
    today = datetime(2026, 12, 10, 15, tzinfo=UTC)
    assert since_day("7d", today=today) == "2026-12-04"
    assert since_day("1d", today=today) == since_day("today", today=today) == "2026-12-10"
    assert since_day("2026-12-01", today=today) == "2026-12-01"
    assert since_day("all", today=today) < "1970"
    with pytest.raises(UserError):
        since_day("-3d", today=today - timedelta(days=1))
