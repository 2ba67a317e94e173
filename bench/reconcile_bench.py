"""Reconciler speed, printed as numbers (never asserted): record them in docs/performance.md.

    PYTHONPATH=$PWD python bench/reconcile_bench.py [--quick]

1. a no-op plan for 1,000 desired vs 1,000 observed agents (target ≤ 50 ms median);
2. `hive reconcile --dry-run` wall time for 1,000 agents, interpreter start included (≤ 1.5 s);
3. latency from a commit on `main` to the first action (≤ 300 ms median);
4. time to converge 20 new agents on the local runtime, bubblewrap + fake agent (≤ 10 s);
5. RSS of `hive serve` with 100 idle agents (≤ 150 MB).

Agents are the test seam tests/seams/fake_agent.py (a stand-in for the harness).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from desired.changes import add_agent  # noqa: E402
from desired.repo import Author, MetaRepo  # noqa: E402
from desired.schema import agent_fingerprint  # noqa: E402
from hive_kit.paths import StateLayout  # noqa: E402
from reconciler.model import Applied, ContainerState, Observed, spec_view  # noqa: E402
from reconciler.plan import plan  # noqa: E402
from reconciler.runtime import procs  # noqa: E402

AUTHOR = Author("bench", "bench@example.test")
AGENT = f"{sys.executable} {ROOT / 'tests/seams/fake_agent.py'}"


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(ROOT), HIVE_AGENT_COMMAND=AGENT)
    e.pop("HIVE_STATE_DIR", None)
    return e


def swarm(root: Path, count: int) -> tuple[StateLayout, MetaRepo]:
    layout = StateLayout(root)
    repo, _ = init_meta_repo(layout.meta)

    def many(state):  # type: ignore[no-untyped-def]
        for i in range(count):
            state = add_agent(state, {"name": f"a{i}", "model": "haiku" if i % 2 else None})
        return state

    repo.commit(many, author=AUTHOR, message=f"{count} agents")
    return layout, repo


def kill_agents(layout: StateLayout) -> None:
    for pid in procs.scan(procs.root_key(layout.root)).values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def bench_noop_plan(tmp: Path) -> None:
    _, repo = swarm(tmp / "plan", 1000)
    snap = repo.load()
    state = snap.state
    observed = {n: Observed(n, ContainerState.RUNNING) for n in state.agents}
    applied = {
        n: Applied(n, snap.revision, agent_fingerprint(state, n), spec_view(state, n)) for n in state.agents
    }
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        result = plan(state, snap.revision, observed, applied)
        times.append(time.perf_counter() - t0)
    assert result.empty
    print(
        f"no-op plan, 1,000 vs 1,000 agents: median {statistics.median(times) * 1000:.1f} ms "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
    )


def bench_dry_run(tmp: Path) -> None:
    layout, _ = swarm(tmp / "dry", 1000)
    argv = [sys.executable, "-m", "hive", "reconcile", "--dry-run", "--state-dir", str(layout.root)]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env(), check=False)
        times.append(time.perf_counter() - t0)
    assert done.returncode == 2, done.stderr
    print(
        f"`hive reconcile --dry-run`, 1,001 agents to create (nothing running): median "
        f"{statistics.median(times):.2f} s (min {min(times):.2f})"
    )


async def bench_commit_latency(tmp: Path) -> None:
    from reconciler import service
    from reconciler.loop import LoopSettings, Reconciler
    from reconciler.runtime.local import LocalRuntime

    layout, repo = swarm(tmp / "latency", 0)
    runtime = LocalRuntime(layout, AGENT.split())
    started: asyncio.Future[Reconciler] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        service.run(layout, runtime=runtime, settings=LoopSettings(resync=3600), started=started)
    )
    rec = await started
    seen: dict[str, float] = {}
    rec.progress = lambda line: seen.setdefault(line.split()[1].rstrip(":"), time.perf_counter())
    await asyncio.sleep(3)
    lat = []
    for i in range(7):
        name = f"late{i}"
        t0 = time.perf_counter()
        repo.commit(lambda s, n=name: add_agent(s, {"name": n}), author=AUTHOR, message=f"add {name}")
        while name not in seen:
            await asyncio.sleep(0.002)
        lat.append(seen[name] - t0)
        await asyncio.sleep(1.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kill_agents(layout)
    print(
        f"commit on main → first action: median {statistics.median(lat) * 1000:.0f} ms "
        f"(min {min(lat) * 1000:.0f}, max {max(lat) * 1000:.0f})"
    )


async def bench_converge(tmp: Path) -> None:
    from reconciler.loop import LoopSettings, Reconciler
    from reconciler.runtime.local import LocalRuntime
    from tests.seams.hello_host import HelloHost

    layout, _ = swarm(tmp / "converge", 20)
    host = HelloHost(layout)
    rec = Reconciler(
        layout,
        LocalRuntime(layout, AGENT.split()),
        health=host,
        sockets=host,
        settings=LoopSettings(health_timeout=60),
    )
    t0 = time.perf_counter()
    result = await rec.apply_once()
    took = time.perf_counter() - t0
    failed = [h for a in result.actions for h in rec.store.history(a.name)[:1] if h.result != "ok"]
    rec.store.close()
    await host.close()
    kill_agents(layout)
    print(f"converge 20 new agents (+ manager), bubblewrap, hello-gated: {took:.2f} s, {len(failed)} failed")


def bench_rss(tmp: Path, count: int) -> None:
    layout, _ = swarm(tmp / "rss", count)
    argv = [sys.executable, "-m", "hive", "serve", "--state-dir", str(layout.root)]
    daemon = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = subprocess.run(
                [sys.executable, "-m", "hive", "reconcile", "--dry-run", "--state-dir", str(layout.root)],
                capture_output=True,
                env=env(),
                check=False,
            )
            if done.returncode == 0:
                break
            time.sleep(2)
        time.sleep(3)
        rss = next(
            line
            for line in Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS")
        )
        running = len(procs.scan(procs.root_key(layout.root)))
        print(f"`hive serve` with {running} idle agents: {rss.split(':')[1].strip()} RSS")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)
        kill_agents(layout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip the 100-agent RSS run")
    args = parser.parse_args()
    tmp = Path(
        tempfile.mkdtemp(
            prefix="hive-bench-", dir=ROOT / "test-artifacts" if (ROOT / "test-artifacts").exists() else None
        )
    )
    try:
        bench_noop_plan(tmp)
        bench_dry_run(tmp)
        asyncio.run(bench_commit_latency(tmp))
        asyncio.run(bench_converge(tmp))
        if not args.quick:
            bench_rss(tmp, 100)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
