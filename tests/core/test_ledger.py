"""The host's cost ledger: a turn's usage, reported over an agent's socket, lands under that socket's name.

Real: the daemon on real unix sockets, the ledger's sqlite file, raw JSON lines
for what a hostile harness would send. The clock of the rate limit is a fake
one (no sleeps), handed to a ``Ledger`` opened on a real file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hive_core.ledger import ALL_DAYS, By, Ledger, RateLimit, day_start
from hive_core.prices import estimate_usd, price_for
from hive_kit import wire
from hive_kit.errors import LimitError
from tests.core.conftest import FakeClock, Running


def report(
    turn_id: str = "t1", *, cost: float | None = 0.0123, model: str = "claude-sonnet-4-5"
) -> wire.TurnUsage:
    usage = wire.ModelUsage(
        model=model,
        input_tokens=1000,
        output_tokens=200,
        cache_read_tokens=3000,
        cache_creation_tokens=400,
        cost_usd=cost,
    )
    return wire.TurnUsage(
        turn_id=turn_id, models=[usage], started_at=1_800_000_000.0, duration_ms=1500, tool_calls=2
    )


async def raw(path: Path, line: dict[str, object]) -> dict[str, object]:
    """One request line as a hostile harness would write it, bypassing the client's models."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        writer.write(json.dumps(line).encode() + b"\n")
        await writer.drain()
        answer: dict[str, object] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


def ledger_of(daemon: Running) -> Ledger:
    reader = Ledger.reader(daemon.layout.ledger)
    assert reader is not None
    return reader


async def test_a_turn_is_recorded_under_the_socket_and_a_retry_counts_once(daemon: Running) -> None:
    coder = daemon.client("coder")
    first = await coder.request(report("turn-a"))
    again = await coder.request(report("turn-a"))
    assert "recorded" in first.note and "already recorded" in again.note
    ledger = ledger_of(daemon)
    spent = ledger.spend("coder")
    assert (spent.turns, spent.input_tokens, spent.cache_read_tokens) == (1, 1000, 3000)
    assert spent.cost_usd == pytest.approx(0.0123) and spent.estimated_usd == 0
    assert ledger.spend("tester").turns == 0
    overview = await daemon.client("boss").request(wire.ListAgents())
    rows = {a["name"]: a for a in overview.agents}
    assert rows["coder"]["cost_usd"] == pytest.approx(0.0123) == rows["coder"]["cost_today_usd"]
    assert rows["tester"]["cost_usd"] is None, "the manager sees the ledger: no turns, no figure"


async def test_a_report_claiming_another_agent_is_refused_and_records_nothing(daemon: Running) -> None:
    forged = {**report("forged").model_dump(mode="json"), "agent": "tester"}
    answer = await raw(daemon.layout.agent_socket("coder"), forged)
    assert answer["ok"] is False and "agent" in json.dumps(answer["error"])
    # the same report without the claim is the coder's, whatever it would have liked to be
    await daemon.client("coder").request(report("honest"))
    ledger = ledger_of(daemon)
    assert ledger.spend("tester").turns == 0
    assert [t["turn_id"] for t in ledger.turns("coder")] == ["honest"]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"turn_id": "../../etc"}, "turn_id"),
        ({"duration_ms": -5}, "duration_ms"),
        ({"models": []}, "models"),
        ({"models": [{"model": "m", "input_tokens": -1}]}, "input_tokens"),
        ({"models": [{"model": "m", "output_tokens": 10**12}]}, "output_tokens"),
        ({"models": [{"model": "m", "cost_usd": 1e9}]}, "cost_usd"),
        ({"models": [{"model": "m\x1b[31m"}]}, "model"),
    ],
)
async def test_bad_usage_is_refused_naming_the_field(
    daemon: Running, change: dict[str, object], names: str
) -> None:
    line = {**report().model_dump(mode="json"), **change}
    answer = await raw(daemon.layout.agent_socket("coder"), line)
    assert answer["ok"] is False, answer
    error = answer["error"]
    assert isinstance(error, dict) and error["code"] == "bad_request" and names in str(error["message"])
    assert "Traceback" not in str(error["message"]) and len(str(error["message"]).splitlines()) <= 2
    assert ledger_of(daemon).spend().turns == 0


async def test_nan_cost_is_refused(daemon: Running) -> None:
    """JSON has no NaN, but Python's json writes one: the wire refuses it rather than poisoning sums."""
    line = report().model_dump(mode="json")
    text = json.dumps(line).replace("0.0123", "NaN")
    reader, writer = await asyncio.open_unix_connection(str(daemon.layout.agent_socket("coder")))
    writer.write(text.encode() + b"\n")
    answer = json.loads(await reader.readline())
    writer.close()
    assert answer["ok"] is False and answer["error"]["code"] == "bad_request"


async def test_the_operator_socket_cannot_write_the_ledger(daemon: Running) -> None:
    answer = await raw(daemon.layout.admin_socket, report().model_dump(mode="json"))
    assert answer["ok"] is False


def test_a_flood_is_cut_by_the_rate_limit_and_the_bucket_refills(tmp_path: Path) -> None:
    clock = FakeClock()
    ledger = Ledger(
        tmp_path / "ledger.sqlite", clock=clock, limit=RateLimit(burst=5, per_second=1, clock=clock)
    )
    for i in range(5):
        assert ledger.record("coder", report(f"t{i}"))
    with pytest.raises(LimitError, match="faster than"):
        ledger.record("coder", report("t5"))
    assert ledger.record("tester", report("t5")), "one agent's flood does not stop another"
    clock.advance(1)
    assert ledger.record("coder", report("t5"))
    assert ledger.spend("coder").turns == 6


def test_tokens_without_a_cost_are_priced_from_the_table_and_marked(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.record("coder", report("priced", cost=None, model="claude-opus-4-1-20250805"))
    ledger.record("coder", report("reported", cost=0.5))
    expected = (1000 * 15 + 200 * 75 + 3000 * 1.5 + 400 * 18.75) / 1e6
    spent = ledger.spend("coder")
    assert spent.estimated_usd == pytest.approx(expected)
    assert spent.cost_usd == pytest.approx(expected + 0.5)
    turns = {t["turn_id"]: t for t in ledger.turns("coder")}
    assert turns["priced"]["estimated"] is True and turns["reported"]["estimated"] is False
    [day] = ledger.report(By.DAY)
    assert day.estimated_usd == pytest.approx(expected) and day.turns == 2


def test_price_table_matches_dated_ids_and_prices_unknown_models_high() -> None:
    assert price_for("claude-sonnet-4-5-20250929") == price_for("claude-sonnet-4")
    assert price_for("claude-opus-4-5").output == 25.0 and price_for("claude-opus-4-1").output == 75.0
    assert price_for("some-new-model").output == max(
        p.output for p in map(price_for, ["opus", "claude-opus-4"])
    )
    assert estimate_usd("haiku", input=1_000_000, output=0, cache_read=0, cache_creation=0) == pytest.approx(
        1.0
    )


def test_a_multi_model_turn_counts_once_per_agent_and_once_per_model(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    turn = wire.TurnUsage(
        turn_id="two",
        models=[
            wire.ModelUsage(model="claude-sonnet-4-5", input_tokens=10, cost_usd=0.2),
            wire.ModelUsage(model="claude-haiku-4-5", input_tokens=5, cost_usd=0.01),
        ],
        started_at=1.0,
        duration_ms=10,
        tool_calls=3,
    )
    ledger.record("coder", turn)
    [agent] = ledger.report(By.AGENT)
    assert (agent.turns, agent.input_tokens, round(agent.cost_usd, 6)) == (1, 15, 0.21)
    models = {b.key: b.turns for b in ledger.report(By.MODEL)}
    assert models == {"claude-sonnet-4-5": 1, "claude-haiku-4-5": 1}
    [row] = ledger.turns("coder")
    assert row["tool_call_count"] == 3 and row["duration_ms"] == 10
    assert {b.key for b in ledger.spend_by_model("coder")} == set(models)


def test_reports_from_any_day_agree_with_the_raw_turns(tmp_path: Path) -> None:
    """Reports read whole months from one rollup and the days before them from another: no seams."""
    start = day_start("2026-10-20")
    times = iter([start + i * 86400 * 1.5 for i in range(60)])  # 20 Oct → early Jan, every 36 h
    ledger = Ledger(tmp_path / "ledger.sqlite", clock=lambda: next(times))
    for i in range(60):
        ledger.record(f"a{i % 3}", report(f"t{i}", cost=0.01 * (i + 1)))
    for since in ("2026-10-20", "2026-11-01", "2026-11-17", "2026-12-31", "2027-01-01", ALL_DAYS):
        raw = ledger.spend(since=day_start(since) if since != ALL_DAYS else 0.0)
        for by in (By.AGENT, By.MODEL, By.DAY):
            rows = ledger.report(by, since_day=since)
            assert sum(b.cost_usd for b in rows) == pytest.approx(raw.cost_usd), (since, by)
            assert sum(b.input_tokens for b in rows) == raw.input_tokens, (since, by)
        one = ledger.report(By.MODEL, since_day=since, agent="a1")
        assert sum(b.cost_usd for b in one) == pytest.approx(
            ledger.spend("a1", since=raw_since(since)).cost_usd
        )
    assert ledger.totals_by_agent()["a0"] == pytest.approx(ledger.spend("a0").cost_usd)


def raw_since(day: str) -> float:
    return 0.0 if day == ALL_DAYS else day_start(day)
