"""Broker speed over the real agent sockets of a real `hive serve`, with durable (WAL) writes.

Prints:
  * send → parked-recv wake latency, p50 / p99 (targets ≤ 1 ms / ≤ 5 ms)
  * throughput, 1 sender → 1 receiver (target ≥ 5,000 msg/s)
  * throughput, 10 senders → 10 receivers, aggregate (target ≥ 10,000 msg/s)
  * the same cycle on mcp-agent-mail, if it is installed, and our/their ratio

Run: PYTHONPATH=$PWD python bench/broker_bench.py [--messages N] [--rounds N]
       [--agent-mail-python PATH]   (or env AGENT_MAIL_PYTHON)
The baseline runs bench/agent_mail_baseline.py under that interpreter (or this
one, if it can import mcp_agent_mail); e.g.
  python -m venv /tmp/agentmail-venv && /tmp/agentmail-venv/bin/pip install mcp-agent-mail
Senders and receivers are asyncio clients (``hive_kit.client.HiveClient``) in
this process; the daemon is its own process, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from desired.changes import add_agent, set_agent_field  # noqa: E402
from desired.repo import Author  # noqa: E402
from hive_core import wire  # noqa: E402
from hive_kit.client import HiveClient  # noqa: E402
from hive_kit.paths import StateLayout  # noqa: E402

SENDERS = [f"s{i}" for i in range(10)]
RECEIVERS = [f"r{i}" for i in range(10)]


def make_state(root: Path) -> StateLayout:
    layout = StateLayout(root)
    repo, _ = init_meta_repo(layout.meta)

    def build(state):  # type: ignore[no-untyped-def]
        for name in SENDERS + RECEIVERS:
            state = add_agent(state, {"name": name})
        for name in list(state.agents):  # suspended: the reconciler starts no harness to read them
            state = set_agent_field(state, name, "suspended", True)
        return state

    repo.commit(build, author=Author("bench", "bench@example.test"), message="bench swarm")
    return layout


def start_daemon(layout: StateLayout) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HIVE_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hive", "serve", "--no-web", "--state-dir", str(layout.root)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(str(layout.admin_socket))
            return proc
        except OSError:
            time.sleep(0.05)
        finally:
            sock.close()
    proc.kill()
    raise SystemExit("hive serve did not start")


async def wake_latency(layout: StateLayout, rounds: int) -> list[float]:
    sender, receiver = HiveClient(layout.agent_socket("s0")), HiveClient(layout.agent_socket("r0"))
    samples: list[float] = []
    for _ in range(rounds):
        parked = asyncio.create_task(receiver.request(wire.Recv(wait_seconds=30)))
        await asyncio.sleep(0.001)  # let the recv reach the daemon and park
        start = time.perf_counter()
        await sender.request(wire.Send(to="r0", body="ping"))
        got = await parked
        samples.append(time.perf_counter() - start)
        await receiver.request(wire.Ack(ids=[m.id for m in got.messages]))
    await sender.aclose()
    await receiver.aclose()
    return samples


async def pump(layout: StateLayout, sender: str, receiver: str, count: int, window: int) -> None:
    """``sender`` sends ``count`` messages with up to ``window`` requests in flight; ``receiver`` drains."""
    out = HiveClient(layout.agent_socket(sender))
    inp = HiveClient(layout.agent_socket(receiver))

    async def send_some(first: int) -> None:
        # one of ``window`` workers, each with one send in flight (on the client's one pipelined connection)
        for i in range(first, count, window):
            await out.request(wire.Send(to=receiver, body=f"message {i}"))

    async def send_all() -> None:
        await asyncio.gather(*(send_some(w) for w in range(window)))

    async def recv_all() -> None:
        seen = 0
        while seen < count:
            got = (await inp.request(wire.Recv(wait_seconds=10, max=32))).messages
            if got:
                await inp.request(wire.Ack(ids=[m.id for m in got]))
            seen += len(got)

    await asyncio.gather(send_all(), recv_all())
    await out.aclose()
    await inp.aclose()


async def throughput(layout: StateLayout, pairs: int, per_pair: int, window: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(pump(layout, SENDERS[i], RECEIVERS[i], per_pair, window) for i in range(pairs)))
    return pairs * per_pair / (time.perf_counter() - start)


def agent_mail_python(given: str | None) -> str | None:
    """The interpreter to run the mcp-agent-mail baseline under, or None when it is not installed."""
    if given:
        return given
    if importlib.util.find_spec("mcp_agent_mail") is not None:
        return sys.executable
    return None


def baseline(python: str, messages: int, rounds: int, poll: float, budget: float) -> dict | None:  # type: ignore[type-arg]
    """Run bench/agent_mail_baseline.py under ``python``; its JSON result, or None (and why) if it failed."""
    cmd = [python, str(ROOT / "bench" / "agent_mail_baseline.py"), "--messages", str(messages)]
    cmd += ["--rounds", str(rounds), "--poll", str(poll), "--budget", str(budget)]
    limit = 3 * budget + 300
    # its own process group (the driver and the server it starts), so a timeout can kill both
    # its stderr (progress lines, its server's import warnings) goes straight to ours
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, _ = driver.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.communicate()
        print(f"mcp-agent-mail: baseline did not finish within {limit:.0f} s; killed")
        return None
    finally:
        if driver.poll() is None:  # interrupted (^C): take the server down with it
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    if driver.returncode != 0 or not stdout.strip():
        print(f"mcp-agent-mail: baseline failed (exit {driver.returncode}); its stderr is above")
        return None
    return json.loads(stdout.strip().splitlines()[-1])


def compare(ours: dict[str, float], theirs: dict) -> None:  # type: ignore[type-arg]
    samples = sorted(theirs["latency"])
    poll_ms = theirs["poll"] * 1000
    print(
        f"mcp-agent-mail {theirs.get('version', '')} baseline (HTTP MCP server, sqlite + git archive, "
        f"Python {theirs['python']}). It has no parked receive: the receiver must poll fetch_inbox; "
        f"here every {poll_ms:g} ms."
    )
    if samples:
        p50 = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(
            f"  send → receiver sees it, {len(samples)} of {theirs['rounds_wanted']} rounds, polling every "
            f"{poll_ms:g} ms: p50 {ms(p50)}  p99 {ms(p99)}   (ours, parked recv: p50 {ms(ours['p50'])}  "
            f"p99 {ms(ours['p99'])})"
        )
        print(
            f"  latency ratio ours/theirs (lower is better for us): p50 {ours['p50'] / p50:.4f} "
            f"(ours {p50 / ours['p50']:,.0f}× faster), "
            f"p99 {ours['p99'] / p99:.4f} (ours {p99 / ours['p99']:,.0f}× faster)"
        )
    for run in theirs["throughput"]:
        capped = (
            "" if run["messages"] >= run["wanted"] else f" (stopped by the {theirs['budget']:g} s budget)"
        )
        key = f"rate_w{run['window']}"
        print(
            f"  throughput 1 → 1, {run['messages']} of {run['wanted']} messages{capped}, "
            f"{run['window']} in flight, receiver polling every {poll_ms:g} ms: {run['rate']:,.1f} msg/s"
            f"   (ours: {ours[key]:,.0f} msg/s)"
        )
        print(
            f"  throughput ratio ours/theirs (higher is better for us): {ours[key] / run['rate']:,.0f}×"
            f"   (theirs with 32 in flight: not measurable, sends fail with 'Archive lock busy')"
        )


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def cpu_seconds(pid: int) -> float:
    """User+system CPU the daemon has used (from /proc): its cost per message, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(layout: StateLayout, messages: int, rounds: int, pid: int) -> dict[str, float]:
    samples = await wake_latency(layout, rounds)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"wake latency (send → parked recv), {rounds} rounds: p50 {ms(p50)}  p99 {ms(p99)}"
        f"   target ≤ 1 ms / ≤ 5 ms: {verdict(p50 <= 0.001 and p99 <= 0.005)}"
    )
    ours = {"p50": p50, "p99": p99}
    targets = {(1, 32): 5_000, (10, 8): 10_000}
    for pairs, window in ((1, 1), (1, 32), (10, 1), (10, 8)):
        count = messages if pairs == 1 else messages // 5
        before = cpu_seconds(pid)
        rate = await throughput(layout, pairs, count, window)
        cost = (cpu_seconds(pid) - before) / (pairs * count) * 1e6
        target = targets.get((pairs, window))
        against = f"   target ≥ {target:,} msg/s: {verdict(rate >= target)}" if target else ""
        print(
            f"throughput {pairs} → {pairs}, {pairs * count} messages, {window} in flight per sender: "
            f"{rate:,.0f} msg/s (daemon CPU {cost:.0f} µs/msg){against}"
        )
        if pairs == 1:
            ours[f"rate_w{window}"] = rate
    return ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument(
        "--agent-mail-python",
        default=os.environ.get("AGENT_MAIL_PYTHON"),
        help="interpreter of an environment with mcp-agent-mail installed (default: env AGENT_MAIL_PYTHON, "
        "else this one if it has it)",
    )
    parser.add_argument(
        "--agent-mail-poll", type=float, default=0.01, help="their receiver's poll interval, s"
    )
    parser.add_argument(
        "--agent-mail-budget", type=float, default=120, help="their wall-clock cap per measure, s"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hive-bench-"))
    layout = make_state(tmp / "hive")
    proc = start_daemon(layout)
    try:
        load = os.getloadavg()[0]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {load:.1f}, state on {tmp}")
        ours = asyncio.run(run(layout, args.messages, args.rounds, proc.pid))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    python = agent_mail_python(args.agent_mail_python)
    if python is None:
        print(
            "mcp-agent-mail: not installed here, so no baseline was measured (pip install mcp-agent-mail, or"
        )
        print("  give --agent-mail-python / AGENT_MAIL_PYTHON: the interpreter of a venv that has it)")
        return
    # run after our daemon has stopped, so the two never share the CPUs
    theirs = baseline(python, args.messages, args.rounds, args.agent_mail_poll, args.agent_mail_budget)
    if theirs is not None:
        compare(ours, theirs)


if __name__ == "__main__":
    main()
