"""Cost ledger: `hive costs` over a million recorded turns, and what recording one turn costs.

Run: ``PYTHONPATH=$PWD python bench/ledger_bench.py`` (prints numbers; asserts nothing).
``BENCH_TURNS`` (default 1,000,000) sets the ledger's size.

The ledger is a real ``ledger.sqlite`` (``hive_core.ledger``). It is filled
with the statements ``Ledger.record`` runs (both tables, same SQL), batched in
one transaction so the fill takes seconds, not an hour: 50 agents, 4 models,
a year of days. Then:

- the reports `hive costs` prints (``Ledger.report`` by agent, model and day,
  over everything and over 7 days), timed in-process against the 300 ms target,
  and the whole `hive costs --json` command as an operator runs it (Python's
  start and imports included), for scale;
- the windowed reads the budgets of issue 14 item 4 will make (``spend`` of one
  agent since midnight; everyone's spend by model this week);
- ``Ledger.record`` of one more turn, p50/p99, on the full file: the cost the
  daemon pays per turn, on its event loop.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hive_core import ledger as L
from hive_kit import wire
from hive_kit.paths import StateLayout

TURNS = int(os.environ.get("BENCH_TURNS", "1000000"))
TARGET_MS = 300.0
AGENTS = [f"agent{i:02d}" for i in range(50)]
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-1"]
DAYS = 365


def fill(path: Path, now: float) -> float:
    led = L.Ledger(path)
    conn = led._conn  # the bench fills through the same SQL as Ledger.record, batched
    rnd = random.Random(7)
    started = time.perf_counter()
    with conn:
        for i in range(TURNS):
            at = now - rnd.random() * DAYS * 86400
            agent, model = rnd.choice(AGENTS), rnd.choice(MODELS)
            tokens = (
                rnd.randrange(50_000),
                rnd.randrange(4000),
                rnd.randrange(200_000),
                rnd.randrange(20_000),
            )
            cost = rnd.random() * 0.5
            conn.execute(
                L._INSERT,
                (agent, "harness", f"t{i}", 0, model, at, at, 5000, *tokens, cost, 0, 3, "{}", "ok"),
            )
            rolled = (agent, model, "harness", 1, *tokens, cost, 0.0)
            day = L.utc_day(at)
            conn.execute(L._ROLLUP, (day, *rolled))
            conn.execute(L._ROLLUP_MONTH, (day[:7], *rolled))
    led.close()
    return time.perf_counter() - started


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Best of ``repeat`` runs, in ms (the first warms sqlite's page cache, as any earlier read would)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best


def command_ms(state_dir: str) -> float:
    hive = str(Path(sys.executable).parent / "hive")
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        argv = [hive, "costs", "--json", "--since", "all", "--state-dir", state_dir]
        subprocess.run(argv, check=True, capture_output=True)
        runs.append((time.perf_counter() - t) * 1000)
    return min(runs)


def main() -> None:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        layout = StateLayout(Path(tmp))
        (layout.meta).mkdir()  # `hive costs` wants a state dir; the meta repo itself is not read
        secs = fill(layout.ledger, now)
        size = layout.ledger.stat().st_size / 1e6
        print(f"filled {TURNS:,} turns in {secs:.1f} s; ledger.sqlite {size:.0f} MB")
        reader = L.Ledger.reader(layout.ledger)
        assert reader is not None
        week = L.utc_day(now - 6 * 86400)
        print(f"\n`hive costs` reports (in-process, best of 5; target {TARGET_MS:.0f} ms):")
        for by in L.By:
            for label, since in (("all", L.ALL_DAYS), ("7d", week)):
                ms = timed(lambda by=by, since=since: reader.report(by, since_day=since))
                ratio = ms / TARGET_MS
                print(f"  --by {by.value:<5} --since {label:<3}  {ms:7.2f} ms  ({ratio:.3f}x the limit)")
        midnight = L.day_start(L.utc_day(now))
        print("\nwindowed reads for budgets (raw table, to the second):")
        ms = timed(lambda: reader.spend("agent07", since=midnight))
        print(f"  spend(one agent, since midnight)        {ms:7.2f} ms")
        ms = timed(lambda: reader.spend_by_model(since=now - 7 * 86400))
        print(f"  spend_by_model(everyone, last 7 days)   {ms:7.2f} ms")
        ms = timed(lambda: reader.spend(since=now - 30 * 86400))
        print(f"  spend(everyone, last 30 days)           {ms:7.2f} ms")
        reader.close()

        full = command_ms(tmp)
        with tempfile.TemporaryDirectory() as empty:
            (Path(empty) / "meta.git").mkdir()
            bare = command_ms(empty)
        print(f"\n`hive costs --json --since all` as a command: best {full:.0f} ms on this ledger,")
        print(f"  {bare:.0f} ms on an empty state dir (Python's start and imports):")
        print(f"  the query's share is {full - bare:.0f} ms")

        led = L.Ledger(layout.ledger, limit=L.RateLimit(burst=1e9))
        costs = []
        for i in range(2000):
            usage = wire.ModelUsage(
                model="claude-sonnet-4-5", input_tokens=1000 + i, output_tokens=50, cost_usd=0.01
            )
            report = wire.TurnUsage(
                turn_id=f"w{i}", models=[usage], started_at=now, duration_ms=4000, tool_calls=2
            )
            t = time.perf_counter()
            led.record("agent01", report)
            costs.append((time.perf_counter() - t) * 1e6)
        led.close()
        costs.sort()
        p50, p99 = statistics.median(costs), costs[int(len(costs) * 0.99)]
        print(
            f"\nLedger.record, one turn on the full ledger: p50 {p50:.0f} µs, p99 {p99:.0f} µs (2,000 turns)"
        )


if __name__ == "__main__":
    main()
