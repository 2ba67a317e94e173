"""Harness speed: send → claude child starting, and per-turn overhead beyond the CLI itself.

Run: ``PYTHONPATH=$PWD python bench/harness_bench.py [--turns N]``

Same parts as the e2e tests: the daemon in-process on real sockets, a real
`hive-harness serve`, the real `claude` CLI from node_modules, our MCP server;
the model is the scripted Messages API (tests/seams), answering at once.

Everything is measured twice: with the harness's persistent MCP server
(`HIVE_MCP_TRANSPORT=http`, the default) and with the stdio fallback
(`stdio`: claude launches `hive-harness mcp` every turn).

Printed (ms, p50 / p90 over N turns):
- baseline: `claude --version`, and a bare `claude --print` turn with the same
  MCP config run directly while the harness is up (the CLI's own start-up +
  MCP connect + one call);
- MCP start cost: what a turn pays before claude can call our tools — for
  stdio, spawning `hive-harness mcp` until it answers `initialize` (wall, and
  CPU from the child's rusage); for http, one `initialize` to the running
  server;
- CPU per turn: the harness process and everything it reaped (claude, and
  the stdio server claude reaped), from /proc/<pid>/stat, over the N turns;
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
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hive_harness.command import child_env
from hive_kit.wire import Send
from tests.core.conftest import start_daemon
from tests.harness.conftest import CLAUDE, HarnessProcess, make_swarm
from tests.seams.scripted_api import ScriptedAPI, text


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def show(label: str, values: list[float]) -> None:
    p50, p90 = statistics.median(values), pct(values, 0.9)
    print(f"{label:<48} p50 {p50:7.0f} ms   p90 {p90:7.0f} ms   (n={len(values)})")


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}


def proc_cpu_ms(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid` (itself and the children it reaped), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) * 1000 / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def stdio_mcp_starts(env: dict[str, str], n: int) -> tuple[list[float], list[float]]:
    """Spawn `hive-harness mcp` until it answers initialize: (wall ms, CPU ms) per start."""
    walls, cpus = [], []
    argv = [sys.executable, "-m", "hive_harness", "mcp", "--role", "agent"]
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(INIT).encode() + b"\n")
        child.stdin.flush()
        child.stdout.readline()
        walls.append((time.perf_counter() - start) * 1000)
        child.stdin.close()
        child.wait(30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return walls, cpus


def http_mcp_initializes(entry: dict[str, Any], n: int) -> list[float]:
    """One initialize to the harness's running server, n times (wall ms)."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    headers |= entry["headers"]
    out = []
    for _ in range(n):
        request = urllib.request.Request(str(entry["url"]), json.dumps(INIT).encode(), headers)
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        out.append((time.perf_counter() - start) * 1000)
    return out


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


@dataclass
class Run:
    to_child: list[float]
    to_end: list[float]
    own: list[float]
    bare: list[float]
    mcp_wall: list[float]
    mcp_cpu: list[float]
    cpu_per_turn: float
    rss_mb: float


async def harness_turns(root: Path, api: ScriptedAPI, n: int, transport: str) -> Run:
    running = await start_daemon(make_swarm(root / "hive"))
    proc = HarnessProcess(running.layout, "bob", "agent", {**api.env(), "HIVE_MCP_TRANSPORT": transport})
    proc.start("agent")
    try:
        await proc.ready()
        await proc.wait_turns(1, timeout=120)
        assert proc.proc is not None
        operator = running.client("operator")
        to_child, to_end, own = [], [], []
        cpu_before = proc_cpu_ms(proc.proc.pid)
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
        cpu_per_turn = (proc_cpu_ms(proc.proc.pid) - cpu_before) / n
        rss = proc_rss_mb(proc.proc.pid)
        config = proc.state / ".hive" / "mcp-config.json"
        bare = await asyncio.to_thread(bare_turns, api, config, proc.state, n)
        if transport == "stdio":
            walls, cpus = await asyncio.to_thread(stdio_mcp_starts, proc.env, n)
        else:
            entry = json.loads(config.read_text())["mcpServers"]["hyperhive"]
            walls, cpus = await asyncio.to_thread(http_mcp_initializes, entry, n), [0.0] * n
        return Run(to_child, to_end, own, bare, walls, cpus, cpu_per_turn, rss)
    finally:
        proc.stop()
        await running.close()


def report(transport: str, run: Run) -> None:
    print(f"-- MCP transport: {transport}")
    show("baseline: bare claude --print turn (+MCP)", run.bare)
    if transport == "stdio":
        show("MCP start cost: spawn → initialize answered", run.mcp_wall)
        show("MCP start cost: CPU of that child", run.mcp_cpu)
    else:
        show("MCP start cost: initialize to the live server", run.mcp_wall)
    show("send → claude child starting", run.to_child)
    show("send → turn_end (whole turn via harness)", run.to_end)
    show("per-turn overhead: harness's own share", run.own)
    show("  (send → turn_end minus bare-turn p50)", [t - statistics.median(run.bare) for t in run.to_end])
    print(f"{'CPU per turn: harness + reaped children':<48} mean {run.cpu_per_turn:6.0f} ms")
    print(f"{'harness RSS after the turns':<48} {run.rss_mb:9.0f} MiB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--transport", choices=["http", "stdio", "both"], default="both")
    args = parser.parse_args()
    transports = ["http", "stdio"] if args.transport == "both" else [args.transport]
    runs = {}
    with ScriptedAPI() as api:
        for transport in transports:
            with tempfile.TemporaryDirectory() as tmp:
                runs[transport] = await harness_turns(Path(tmp), api, args.turns, transport)
        versions = version_times(args.turns)
    print(
        f"harness bench: {args.turns} turns, scripted model answering at once, load {os.getloadavg()[0]:.1f}"
    )
    show("baseline: claude --version", versions)
    for transport, run in runs.items():
        report(transport, run)


if __name__ == "__main__":
    asyncio.run(main())
