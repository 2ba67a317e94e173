"""Dashboard speed: `/api/state` with 200 agents, SSE fan-out latency, first paint in Chromium.

Run: ``PYTHONPATH=$PWD python bench/web_bench.py`` (prints numbers; asserts nothing).
Everything is real: a meta repo with 200 agents, the core store's EventLog,
the aiohttp app on a TCP port, aiohttp clients reading the SSE stream, and
Debian's Chromium. The server runs on its own thread and event loop; the
SSE clients share the process (and its GIL) with it, so the latency numbers
are an upper bound for clients on another machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent
from desired.repo import Author, MetaRepo
from hive_core.events import EventLog, MessageSent
from hive_core.stores.schema import open_core_db
from hive_kit.paths import StateLayout
from hive_web.dashboard import bound_port, create_app, make_guard, start
from hive_web.deps import Deps
from hive_web.keys import WebConfig

AGENTS = 200
TOKEN_ENV = "HIVE_BENCH_WEB_TOKEN"
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "100"))
RATE = 500  # events per second
SECONDS = 4
PREVIEW = re.compile(rb'"preview":"([0-9.]+)"')
AUTHOR = Author("bench", "bench@example.test")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def make_swarm(root: Path) -> StateLayout:
    layout = StateLayout(root)
    root.mkdir(parents=True)
    init_meta_repo(layout.meta, AUTHOR)

    def build(state: Any) -> Any:
        for n in range(AGENTS - 1):
            state = add_agent(state, {"name": f"agent{n:03d}", "description": f"bench agent {n}"})
        return state

    MetaRepo(layout.meta).commit(build, author=AUTHOR, message="200 agents")
    return layout


class Server:
    def __init__(self, layout: StateLayout) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.feed = EventLog(open_core_db(layout.db))
        config = WebConfig(port=0)
        guard = make_guard(layout, config)[0]
        self.token = guard.token  # every request logs in (the bench reads as a script would: Bearer)
        deps = Deps(layout=layout, feed=self.feed, guard=guard, config=config)

        async def go() -> aiohttp.web.AppRunner:
            return await start(create_app(deps), config)

        self.runner = self.call(go())
        self.url = f"http://127.0.0.1:{bound_port(self.runner)}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"}


async def bench_state(url: str, runs: int = 200) -> list[float]:
    times = []
    async with aiohttp.ClientSession(headers=bearer()) as session:
        for _ in range(runs):
            t0 = time.perf_counter()
            async with session.get(f"{url}/api/state") as resp:
                body = await resp.read()
            times.append((time.perf_counter() - t0) * 1000)
    agents = len(json.loads(body)["agents"])
    print(f"/api/state with {agents} agents: {len(body) / 1024:.0f} KiB", flush=True)
    return times


async def sse_client(url: str, expected: int, latencies: list[float], hello: asyncio.Queue[None]) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=bearer()) as session,
        session.get(f"{url}/api/stream") as resp,
    ):
        seen, rest = 0, b""
        async for data in resp.content.iter_any():
            now = time.perf_counter()
            if b"event: hello" in data:
                hello.put_nowait(None)
            chunk, _, rest = (rest + data).rpartition(b"\n\n")  # whole frames only
            for sent in PREVIEW.findall(chunk):
                latencies.append((now - float(sent)) * 1000)
                seen += 1
            if seen >= expected:
                return


async def clients_main(url: str, count: int, expected: int) -> None:
    """The client side, in its own process: open ``count`` streams, say "ready", report latencies."""
    latencies: list[float] = []
    hello: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(sse_client(url, expected, latencies, hello)) for _ in range(count)]
    for _ in range(count):
        await hello.get()
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    print(json.dumps(latencies), flush=True)


def bench_fanout(server: Server) -> tuple[list[float], int]:
    """100 SSE clients in a second process (so they do not share the server's GIL)."""
    import subprocess

    total = RATE * SECONDS
    argv = [sys.executable, __file__, "--clients", server.url, str(CLIENTS), str(total)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)  # dies with us: see finally below
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the SSE clients did not connect")

    async def publish() -> None:
        start_at = time.perf_counter()
        for n in range(total):
            delay = start_at + n / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            server.feed.publish(
                MessageSent(id=n, sender="a", recipient="b", preview=repr(time.perf_counter()))
            )

    server.call(publish())
    latencies = json.loads(proc.stdout.readline())
    proc.wait(60)
    return latencies, total


def bench_dcl(url: str, runs: int = 7) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(extra_http_headers=bearer()).new_page()
        for _ in range(runs):
            page.goto(url + "/", wait_until="domcontentloaded")
            page.wait_for_selector("#swarm-table tr[data-agent=agent198]")
            nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            entry = json.loads(nav)
            times.append(entry["domContentLoadedEventEnd"] - entry["startTime"])
        browser.close()
    return times


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hive-web-bench-") as tmp:
        layout = make_swarm(Path(tmp) / "state")
        server = Server(layout)
        os.environ[TOKEN_ENV] = server.token  # also for the SSE clients' process
        try:
            state = asyncio.run(bench_state(server.url))
            p50, p95 = statistics.median(state), pct(state, 0.95)
            print(f"/api/state p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p50 <= 30 ms)")
            latencies, total = bench_fanout(server)
            p50, p99 = statistics.median(latencies), pct(latencies, 0.99)
            print(
                f"SSE fan-out: {CLIENTS} clients x {total} events at {RATE}/s: delivered {len(latencies)}, "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 50 ms)"
            )
            dcl = bench_dcl(server.url)
            print(
                f"dashboard DOMContentLoaded with {AGENTS} agents: median {statistics.median(dcl):.0f} ms, "
                f"max {max(dcl):.0f} ms (target <= 500 ms)"
            )
        finally:
            server.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--clients":
        asyncio.run(clients_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        main()
