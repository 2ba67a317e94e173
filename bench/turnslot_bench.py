"""Turn-slot overhead: what taking and giving back a swarm turn slot costs a turn, against a plain op.

Run: ``PYTHONPATH=$PWD python bench/turnslot_bench.py`` (prints numbers; asserts nothing).

Real: the host daemon (``hive.daemon.Daemon``, no reconciler) in its own
process on a temp state dir, an agent's unix socket, the harness's own client
(``HiveClient.turn_slot``). hive.json has ``max_concurrent_turns: 1``, so each
acquire also waits for the host to have seen the previous slot's connection
close: one cycle is connect + ``turn_slot`` + close + the host's release.
Baselines, in the same run: ``whoami`` on the client's pipelined connection,
and ``whoami`` on a fresh connection per call (what the slot's own
connection costs by itself). A second agent, ``payer``, has a budget (far from reached), so its
slot also reads its spend today from the ledger and the operator's resume-for-today row
(``hive_core.ops.budgeting.refusal``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2000"))

DAEMON = """
import asyncio, sys
from pathlib import Path
from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_setting
from desired.repo import Author
from hive.daemon import Daemon
from hive_kit.paths import StateLayout
layout = StateLayout(Path(sys.argv[1]))
repo, _ = init_meta_repo(layout.meta)
def build(state):
    state = set_setting(state, "max_concurrent_turns", 1)
    state = add_agent(state, {"name": "coder", "suspended": True})
    return add_agent(state, {"name": "payer", "suspended": True, "budget": {"usd_per_day": 1000}})
repo.commit(build, author=Author("bench", "bench@example.test"), message="bench swarm")
async def main():
    daemon = Daemon(layout)
    task = asyncio.create_task(daemon.run())
    while not layout.agent_socket("coder").exists():
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await task
asyncio.run(main())
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def timed(step: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    for _ in range(min(100, rounds)):  # warm-up
        await step()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        await step()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def measure(socket: Path, payer_socket: Path) -> dict[str, list[float]]:
    from hive_kit.client import HiveClient
    from hive_kit.wire import Whoami

    client = HiveClient(socket)

    async def ping() -> None:
        await client.request(Whoami())

    async def fresh_ping() -> None:
        async with HiveClient(socket) as once:
            await once.request(Whoami())

    async def slot() -> None:
        async with client.turn_slot():
            pass

    payer = HiveClient(payer_socket)

    async def budgeted_slot() -> None:
        async with payer.turn_slot():
            pass

    try:
        return {
            "whoami, pipelined connection": await timed(ping, ROUNDS),
            "whoami, fresh connection": await timed(fresh_ping, ROUNDS),
            "turn slot acquire + release": await timed(slot, ROUNDS),
            "same, agent with a budget": await timed(budgeted_slot, ROUNDS),
        }
    finally:
        await client.aclose()
        await payer.aclose()


def main() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="turnslot-bench-") as tmp:
        state = Path(tmp) / "hive"
        proc = subprocess.Popen(
            [sys.executable, "-c", DAEMON, str(state)], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("the daemon did not start")
            from hive_kit.paths import StateLayout

            layout = StateLayout(state)
            results = asyncio.run(measure(layout.agent_socket("coder"), layout.agent_socket("payer")))
        finally:
            proc.terminate()
            proc.wait(10)
    base = statistics.median(results["whoami, pipelined connection"])
    print(f"{ROUNDS} rounds each; host daemon in its own process; max_concurrent_turns 1")
    print(f"{'':32} {'p50 ms':>8} {'p99 ms':>8} {'vs whoami (p50)':>16}")
    for name, values in results.items():
        p50 = statistics.median(values)
        print(f"{name:32} {p50:8.3f} {pct(values, 0.99):8.3f} {p50 / base:15.1f}x")


if __name__ == "__main__":
    main()
