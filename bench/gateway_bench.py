"""Model-API gateway cost: added latency per model call against calling the (scripted) API directly.

Run: ``PYTHONPATH=$PWD python bench/gateway_bench.py`` (prints numbers; asserts nothing).

Real, on this machine: the scripted Messages API (tests/seams, the stand-in
for api.anthropic.com) on 127.0.0.1; the host's gateway
(``hive_core.gateway.ModelGateway``) on a unix socket in its own process,
reading usage off every response and writing one row per call into a real
``ledger.sqlite``; the in-sandbox model forwarder
(``hive_harness.egress_forward.ModelForwarder``) in a third process, on
127.0.0.3. That is the path a claude call takes: TCP loopback → unix socket →
the gateway → the API. The baseline is the same streamed call sent straight
to the API, measured in the same run. Keep-alive both ways, as the claude
CLI does. Not in the measured path: the budget check (a ledger query per
call; measured by bench/ledger_bench.py), replaced by "never paused" here.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.seams.scripted_api import ScriptedAPI, Usage, text  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "300"))

GATEWAY_PROCESS = """
import asyncio, sys
from pathlib import Path
from hive_core.gateway import ModelGateway, Upstream, call_report, serve_on
from hive_core.ledger import Ledger, RateLimit, Source
from hive_core.sockets import bind_private
async def main():
    ledger = Ledger(Path(sys.argv[3])) if sys.argv[3] != "-" else None
    async def record(call):
        if ledger is not None:
            await asyncio.to_thread(ledger.record, call.agent, call_report(call), source=Source.GATEWAY)
    async def never(agent):
        return None
    upstream = Upstream(sys.argv[2], {"x-api-key": "sk-ant-bench"})
    gateway = ModelGateway(lambda: upstream, record, never)
    await serve_on(gateway, "bench", bind_private(Path(sys.argv[1])))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

FORWARDER_PROCESS = """
import asyncio, sys
from pathlib import Path
from hive_harness.egress_forward import ModelForwarder
async def main():
    fwd = ModelForwarder(Path(sys.argv[1]))
    print(await fwd.start(), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 100,
    "stream": True,
    "tools": [{"name": "t", "input_schema": {"type": "object"}}],
    "messages": [{"role": "user", "content": "x" * 20_000}],  # a turn's request: tens of KB
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def spawn(code: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def run(base_url: str, api: ScriptedAPI) -> list[float]:
    times: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(CALLS + 20):
            api.push(text("hello there, a short answer", Usage(input_tokens=5000, output_tokens=30)))
            started = time.perf_counter()
            async with session.post(f"{base_url}/v1/messages?beta=true", json=BODY) as r:
                body = await r.read()
            if i >= 20:  # warm-up
                times.append((time.perf_counter() - started) * 1000)
            if b"message_stop" not in body:
                raise SystemExit(f"bad answer through {base_url}: {r.status} {body[:200]!r}")
    return times


def main() -> None:
    with ScriptedAPI() as api, tempfile.TemporaryDirectory() as tmp:
        procs: list[subprocess.Popen[str]] = []
        ports: list[str] = []
        for name, ledger in (("a", "-"), ("b", str(Path(tmp) / "ledger.sqlite"))):
            sock = Path(tmp) / f"{name}.sock"
            gateway, ready = spawn(GATEWAY_PROCESS, str(sock), api.base_url, ledger)
            forwarder, port = spawn(FORWARDER_PROCESS, str(sock))
            assert ready == "ready", ready
            procs += [gateway, forwarder]
            ports.append(port)
        try:
            direct = asyncio.run(run(api.base_url, api))
            bare = asyncio.run(run(f"http://127.0.0.3:{ports[0]}", api))
            through = asyncio.run(run(f"http://127.0.0.3:{ports[1]}", api))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(5)
    base = statistics.median(direct)
    print(f"{CALLS} streamed calls per mode (20 KB request, SSE answer), {time.strftime('%Y-%m-%d')}")
    print(f"{'':36} {'p50':>9} {'p99':>9} {'vs direct (p50)':>16}")
    modes = (
        ("direct to the API", direct),
        ("forwarder + gateway, no ledger row", bare),
        ("forwarder + gateway + ledger row", through),
    )
    for label, values in modes:
        p50, p99 = statistics.median(values), pct(values, 0.99)
        print(f"{label:36} {p50:7.2f}ms {p99:7.2f}ms {p50 / base:15.2f}x")
    print(f"added per call (p50): {statistics.median(through) - base:.2f} ms")


if __name__ == "__main__":
    main()
