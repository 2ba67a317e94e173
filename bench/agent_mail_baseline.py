"""The broker cycle on mcp-agent-mail (PyPI), as a baseline for bench/broker_bench.py.

Runs under an interpreter that has ``mcp_agent_mail`` installed (it needs that
package and its ``httpx``; nothing from hyperhive). It starts
``mcp_agent_mail.cli serve-http`` on a free 127.0.0.1 port with its sqlite
database and git archive in a temp dir, drives it with plain JSON-RPC
``tools/call`` POSTs (its transport is stateless streamable HTTP with JSON
responses), and prints one JSON object on stdout.

mcp-agent-mail has no parked receive: a receiver learns of a message only by
polling ``fetch_inbox`` (``since_ts`` = the newest ``created_ts`` it has seen).

Run: /tmp/agentmail-venv/bin/python bench/agent_mail_baseline.py --messages N --rounds N
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROJECT = "bench"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def log(line: str) -> None:
    print(f"agent-mail bench: {line}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=str(port),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'storage.sqlite3'}",
        STORAGE_ROOT=str(tmp / "archive"),
        LLM_ENABLED="false",
        # Its per-call console panels are debugging output; off, so we time the broker, not rich.
        TOOLS_LOG_ENABLED="false",
        LOG_RICH_ENABLED="false",
        LOG_LEVEL="WARNING",
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # no internet: don't fetch LiteLLM's price list at import
    )
    argv = [sys.executable, "-c", "from mcp_agent_mail.cli import app; app()", "serve-http"]
    with open(tmp / "server.log", "wb") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*argv, "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp,  # no stray .env from the caller's directory
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,  # same process group as this driver: broker_bench kills the group on timeout
        )


class Mail:
    def __init__(self, base: str, connections: int = 1) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(base_url=base, limits=limits, timeout=60)

    async def call(self, tool: str, **arguments: object) -> object:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        reply = await self.http.post("/mcp/", headers=HEADERS, json=body)
        reply.raise_for_status()
        result = reply.json()
        if "error" in result or result["result"].get("isError"):
            raise RuntimeError(f"{tool}: {reply.text[:500]}")
        content = result["result"]["structuredContent"]
        return content.get("result", content) if isinstance(content, dict) else content

    async def send(self, sender: str, to: str, subject: str) -> None:
        await self.call(
            "send_message", project_key=PROJECT, sender_name=sender, to=[to], subject=subject, body_md=subject
        )

    async def fetch(self, agent: str, since: str | None, limit: int) -> list[dict]:  # type: ignore[type-arg]
        args: dict[str, object] = {
            "project_key": PROJECT,
            "agent_name": agent,
            "limit": limit,
            "include_bodies": True,
        }
        if since:
            args["since_ts"] = since
        return await self.call("fetch_inbox", **args)  # type: ignore[return-value]

    async def aclose(self) -> None:
        await self.http.aclose()


async def wait_ready(mail: Mail, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            await mail.call("health_check")
            return
        except (httpx.HTTPError, RuntimeError):
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not answer within 60 s")


async def latency(mail: Mail, rounds: int, poll: float, budget: float) -> list[float]:
    """Send one message; the receiver polls fetch_inbox every ``poll`` s until it sees it."""
    since: str | None = None
    samples: list[float] = []
    stop = time.monotonic() + budget
    for i in range(rounds):
        if time.monotonic() > stop:
            break
        subject = f"ping {i}"
        start = time.perf_counter()
        sending = asyncio.create_task(mail.send("s0", "r0", subject))
        while True:
            got = await mail.fetch("r0", since, 50)
            hit = [m for m in got if m["subject"] == subject]
            if hit:
                samples.append(time.perf_counter() - start)
                since = max(m["created_ts"] for m in got)
                break
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"message {i} not seen after 30 s")
            await asyncio.sleep(poll)
        await sending
    return samples


async def throughput(base: str, count: int, window: int, poll: float, budget: float, pair: int) -> dict:  # type: ignore[type-arg]
    """s{pair} sends ``count`` messages to r{pair} (a fresh pair, so the latency run's inbox doesn't weigh on
    the fetches), up to ``window`` in flight; r{pair} polls until it has seen them."""
    sender, receiver = f"s{pair}", f"r{pair}"
    out, inp = Mail(base, window), Mail(base)
    slots = asyncio.Semaphore(window)
    stop = time.monotonic() + budget
    sent = 0

    async def send_one(i: int) -> None:
        nonlocal sent
        async with slots:
            if time.monotonic() > stop:
                return
            await out.send(sender, receiver, f"message {i}")
            sent += 1

    sending = asyncio.gather(*(send_one(i) for i in range(count)))
    seen: set[int] = set()
    since: str | None = None
    start = time.perf_counter()
    while True:
        got = await inp.fetch(
            receiver, since, count + 1
        )  # limit > count: the newest-first page never truncates
        seen.update(m["id"] for m in got)
        if got:
            since = max(m["created_ts"] for m in got)
        if sending.done() and len(seen) >= sent:
            break
        if time.monotonic() > stop + 60:
            raise RuntimeError(f"receiver saw {len(seen)} of {sent} sent")
        await asyncio.sleep(poll)
    await sending
    elapsed = time.perf_counter() - start
    await out.aclose()
    await inp.aclose()
    return {
        "window": window,
        "wanted": count,
        "messages": len(seen),
        "seconds": elapsed,
        "rate": len(seen) / elapsed,
    }


async def run(base: str, proc: subprocess.Popen[bytes], args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    mail = Mail(base)
    await wait_ready(mail, proc)
    for name in ("s0", "r0", "s1", "r1"):
        await mail.call("register_agent", project_key=PROJECT, program="bench", model="none", name=name)
    samples = await latency(mail, args.rounds, args.poll, args.budget)
    await mail.aclose()
    log(f"latency: {len(samples)} rounds")
    runs = []
    # One request in flight only: its sends serialise on a per-project archive file lock, and
    # with 32 in flight (our pipelined case) sends fail with "Archive lock busy ... Timed out
    # after 60.0s" instead of queueing, so there is no pipelined figure to compare.
    runs.append(await throughput(base, args.messages, 1, args.poll, args.budget, 1))
    log(f"throughput, 1 in flight: {runs[-1]}")
    return {"rounds_wanted": args.rounds, "latency": samples, "throughput": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument(
        "--poll", type=float, default=0.01, help="receiver's fetch_inbox poll interval, seconds"
    )
    parser.add_argument("--budget", type=float, default=120, help="wall-clock cap per measurement, seconds")
    args = parser.parse_args()
    import mcp_agent_mail  # noqa: F401 - fail here, clearly, if this interpreter lacks it

    tmp = Path(tempfile.mkdtemp(prefix="agent-mail-bench-"))
    port = free_port()
    proc = start_server(tmp, port)
    try:
        result = asyncio.run(run(f"http://127.0.0.1:{port}", proc, args))
        version = importlib.metadata.version("mcp-agent-mail")
        result.update(poll=args.poll, budget=args.budget, python=sys.version.split()[0], version=version)
        print(json.dumps(result))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if os.environ.get("AGENT_MAIL_KEEP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
