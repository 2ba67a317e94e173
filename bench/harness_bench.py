"""Harness speed: send → claude child starting, and per-turn overhead beyond the CLI itself.

Run: ``PYTHONPATH=$PWD python bench/harness_bench.py [--turns N]``

Same parts as the e2e tests: the daemon in-process on real sockets, a real
`hive-harness serve`, the real `claude` CLI from node_modules, our MCP server;
the model is the scripted Messages API (tests/seams), answering at once.

Printed (ms, p50 / p90 over N turns):
- baseline: `claude --version`, and a bare `claude --print` turn with the same
  MCP config run directly (the CLI's own start-up + MCP connect + one call);
- send → child: from the operator's `send` to the harness spawning claude
  (the `turn_start` event is published right before the spawn);
- turn overhead, the harness's own share: (send → `turn_end`) minus the
  child's spawn-to-exit time (`claude_ms` in `turn_end`): wake, prompt, spawn,
  stream parsing, stats row, open-threads query. Beside it, send → turn_end
  minus the bare turn, which also counts the extra CLI work our flags cause
  (--continue loading a growing session, the longer system prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hive_core.wire import Send
from hive_harness.command import child_env
from tests.core.conftest import start_daemon
from tests.harness.conftest import CLAUDE, HarnessProcess, make_swarm
from tests.seams.scripted_api import ScriptedAPI, text


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def show(label: str, values: list[float]) -> None:
    p50, p90 = statistics.median(values), pct(values, 0.9)
    print(f"{label:<44} p50 {p50:7.0f} ms   p90 {p90:7.0f} ms   (n={len(values)})")


def bare_turns(api: ScriptedAPI, mcp_config: Path, state: Path, n: int) -> list[float]:
    env = child_env(dict(__import__("os").environ), state, api.env())
    argv = [str(CLAUDE), "--print", "--output-format", "stream-json", "--verbose", "--model", "haiku"]
    argv += ["--mcp-config", str(mcp_config), "--strict-mcp-config", "--", "hi"]
    out = []
    for _ in range(n):
        api.push(text("ok"))
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=state, capture_output=True, check=True, timeout=120)
        out.append((time.perf_counter() - start) * 1000)
    return out


def version_times(n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([str(CLAUDE), "--version"], capture_output=True, check=True, timeout=60)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def harness_turns(
    root: Path, api: ScriptedAPI, n: int
) -> tuple[list[float], list[float], list[float], Path, Path]:
    running = await start_daemon(make_swarm(root / "hive"))
    proc = HarnessProcess(running.layout, "bob", "agent", api.env())
    proc.start("agent")
    try:
        await proc.ready()
        await proc.wait_turns(1, timeout=120)
        operator = running.client("operator")
        to_child, to_end, own = [], [], []
        for i in range(n):
            api.push(text("ok"))
            seq = (await proc.get("/api/state"))["seq"]
            sent = time.time()
            await operator.request(Send(to="bob", body=f"ping {i}"))
            await proc.wait_turns(i + 2, timeout=120)
            events = (await proc.get(f"/events/history?after={seq}"))["events"]
            start = next(e["ts"] for e in events if e["kind"] == "turn_start")
            end = next(e for e in events if e["kind"] == "turn_end")
            to_child.append((start - sent) * 1000)
            to_end.append((end["ts"] - sent) * 1000)
            own.append((end["ts"] - sent) * 1000 - end["claude_ms"])
        return to_child, to_end, own, proc.state / ".hive" / "mcp-config.json", proc.state
    finally:
        proc.stop()
        await running.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedAPI() as api:
        to_child, to_end, own, mcp_config, state = await harness_turns(Path(tmp), api, args.turns)
        bare = bare_turns(api, mcp_config, state, args.turns)
        versions = version_times(args.turns)
    print(f"harness bench: {args.turns} turns, scripted model answering at once")
    show("baseline: claude --version", versions)
    show("baseline: bare claude --print turn (+MCP)", bare)
    show("send → claude child starting", to_child)
    show("send → turn_end (whole turn via harness)", to_end)
    show("per-turn overhead: harness's own share", own)
    show("  (send → turn_end minus bare-turn p50)", [t - statistics.median(bare) for t in to_end])


if __name__ == "__main__":
    asyncio.run(main())
