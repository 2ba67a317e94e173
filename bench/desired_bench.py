"""Desired-state speed for a 1,000-agent swarm: load + validate, one commit, `hive agent list --json`.

Targets (issue 2): load + validate ≤ 50 ms median; one committed change ≤ 20 ms
median; `hive agent list --json` wall time including interpreter start ≤ 600 ms.
Prints numbers; asserts nothing. Run: `python bench/desired_bench.py [--agents N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from desired.changes import set_agent_field  # noqa: E402
from desired.files import dump_files, load_files  # noqa: E402
from desired.repo import Author, MetaRepo  # noqa: E402
from desired.schema import AgentSpec, DesiredState  # noqa: E402
from hive_kit.names import Role  # noqa: E402


def build_state(n: int) -> DesiredState:
    agents = {"manager": AgentSpec(name="manager", role=Role.MANAGER)}
    for i in range(n - 1):
        name = f"a{i}"
        agents[name] = AgentSpec(
            name=name,
            model="sonnet" if i % 2 else None,
            description=f"agent number {i}",
            allowed_recipients=("manager", f"a{(i + 1) % (n - 1)}"),
        )
    return DesiredState(agents=dict(sorted(agents.items())))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(label: str, samples: list[float], target: float) -> None:
    med = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    verdict = "ok" if med <= target else "OVER TARGET"
    print(f"{label:<48} median {med:8.2f} ms  p95 {p95:8.2f} ms  target ≤ {target:.0f} ms  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        repo, _ = init_meta_repo(state_dir / "meta.git")
        state = build_state(args.agents)
        files = dump_files(state)
        repo.replace(files, author=Author("bench", "b@b"), message="seed")
        print(f"swarm: {len(state.agents)} agents, {len(files)} files")

        report(
            "load + validate from the repo (cold)", timed(lambda: MetaRepo(repo.path).load(), args.repeat), 50
        )
        warm = MetaRepo(repo.path)
        warm.load()
        report("load + validate from the repo (warm cache)", timed(warm.load, args.repeat), 50)
        report("validate files in memory (no git)", timed(lambda: load_files(files), args.repeat), 50)

        counter = iter(range(10**6))
        report(
            "one committed change (long-lived writer)",
            timed(
                lambda: warm.commit(
                    lambda s: set_agent_field(s, "a1", "description", f"v{next(counter)}"),
                    author=Author("bench", "b@b"),
                    message="bench",
                ),
                args.repeat,
            ),
            20,
        )
        report(
            "one committed change (fresh MetaRepo)",
            timed(
                lambda: MetaRepo(repo.path).commit(
                    lambda s: set_agent_field(s, "a1", "description", f"v{next(counter)}"),
                    author=Author("bench", "b@b"),
                    message="bench",
                ),
                args.repeat,
            ),
            20,
        )
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        argv = [sys.executable, "-m", "hive", "agent", "list", "--json", "--state-dir", str(state_dir)]

        def cli() -> None:
            subprocess.run(argv, env=env, check=True, capture_output=True)

        report("`hive agent list --json` wall (with interpreter)", timed(cli, max(5, args.repeat // 2)), 600)


if __name__ == "__main__":
    main()
