"""Egress proxy cost: added latency per request, streamed throughput, and CPU per MB, against direct.

Run: ``PYTHONPATH=$PWD python bench/egress_bench.py`` (prints numbers; asserts nothing).

Everything is real and on loopback: an aiohttp upstream on 127.0.0.1, the
host's proxy (``hive_core.egress.EgressProxy``) on a unix socket in one
process and the in-sandbox forwarder (``hive_harness.egress_forward``) in
another, exactly the two hops an agent's request takes. The client opens
a new connection per request both ways (the proxy serves one plain-HTTP
request per connection), so the ratio is the cost of the two extra hops,
not of connection reuse. The baseline is the same request straight to the
upstream, measured in the same run.
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

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
STREAM_MB = 10
STREAMS = int(os.environ.get("BENCH_STREAMS", "5"))
CHUNK = 64 * 1024

PROXY_PROCESS = """
import asyncio, sys
from pathlib import Path
from desired.egress import parse_patterns
from hive_core.egress import EgressProxy
async def main():
    patterns = parse_patterns([sys.argv[2]])
    proxy = EgressProxy("bench", lambda: patterns, lambda rec: None)
    await proxy.serve(Path(sys.argv[1]))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

FORWARDER_PROCESS = """
import asyncio, sys
from pathlib import Path
from hive_harness.egress_forward import EgressForwarder
async def main():
    fwd = EgressForwarder(Path(sys.argv[1]))
    print(await fwd.start(), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def upstream() -> tuple[web.AppRunner, int]:
    async def small(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = STREAM_MB * 1024 * 1024
        await response.prepare(request)
        block = b"x" * CHUNK
        for _ in range(STREAM_MB * 1024 * 1024 // CHUNK):
            await response.write(block)
        return response

    app = web.Application()
    app.router.add_get("/small", small)
    app.router.add_get("/stream", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def get(connect_port: int, target: str, path: str, *, tunnel: bool) -> int:
    """One GET over a new connection; returns the body bytes read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", connect_port, limit=CHUNK * 4)
    if tunnel:
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        line = f"GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    elif connect_port == int(target.rsplit(":", 1)[1]):
        line = f"GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    else:
        line = f"GET http://{target}{path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    writer.write(line.encode())
    await reader.readuntil(b"\r\n\r\n")
    total = 0
    while chunk := await reader.read(CHUNK * 4):
        total += len(chunk)
    writer.close()
    return total


async def latency(port: int, target: str, *, tunnel: bool) -> list[float]:
    out = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        await get(port, target, "/small", tunnel=tunnel)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(port: int, target: str, *, tunnel: bool) -> float:
    start = time.perf_counter()
    got = 0
    for _ in range(STREAMS):
        got += await get(port, target, "/stream", tunnel=tunnel)
    return got / (1024 * 1024) / (time.perf_counter() - start)


def spawn(code: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def main() -> None:
    runner, port = await upstream()
    target = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "egress.sock"
        proxy, _ = spawn(PROXY_PROCESS, str(sock), target)
        forwarder, fport = spawn(FORWARDER_PROCESS, str(sock))
        try:
            via = int(fport)
            await latency(port, target, tunnel=False)  # warm up
            direct = await latency(port, target, tunnel=False)
            plain = await latency(via, target, tunnel=False)
            tunnel = await latency(via, target, tunnel=True)
            print(f"requests: {REQUESTS} per mode, a new connection each (ms)")
            print(f"  {'mode':<22}{'p50':>8}{'p99':>8}{'mean':>8}  p50 vs direct")
            for name, values in (
                ("direct", direct),
                ("proxy, plain HTTP", plain),
                ("proxy, CONNECT", tunnel),
            ):
                ratio = pct(values, 0.5) / pct(direct, 0.5)
                print(
                    f"  {name:<22}{pct(values, 0.5):>8.2f}{pct(values, 0.99):>8.2f}"
                    f"{statistics.mean(values):>8.2f}  {ratio:.2f}x"
                )
            print(
                f"  added by the proxy: p50 +{pct(tunnel, 0.5) - pct(direct, 0.5):.2f} ms, "
                f"p99 +{pct(tunnel, 0.99) - pct(direct, 0.99):.2f} ms (CONNECT)"
            )
            mb_direct = await throughput(port, target, tunnel=False)
            before = cpu_seconds(proxy.pid), cpu_seconds(forwarder.pid)
            mb_proxy = await throughput(via, target, tunnel=True)
            after = cpu_seconds(proxy.pid), cpu_seconds(forwarder.pid)
            moved = STREAMS * STREAM_MB
            print(f"streamed {STREAM_MB} MB x {STREAMS}:")
            print(f"  direct        {mb_direct:8.1f} MB/s")
            print(f"  via proxy     {mb_proxy:8.1f} MB/s  ({mb_proxy / mb_direct:.2f}x direct)")
            print(
                f"  CPU per MB: host proxy {1000 * (after[0] - before[0]) / moved:.2f} ms, "
                f"in-sandbox forwarder {1000 * (after[1] - before[1]) / moved:.2f} ms"
            )
        finally:
            for proc in (proxy, forwarder):
                proc.kill()
                proc.wait()
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
