"""Agent create → hello, the new sandbox against the old one, same run: record in docs/performance.md.

    PYTHONPATH=$PWD python bench/sandbox_bench.py [--rounds N] [--fake]

Each round creates one agent with the local runtime and times `create` until
its harness says hello on its socket, then stops it. Rounds alternate:

- **new**: what `reconciler.runtime.sandbox.bwrap_argv` builds — own network
  namespace, allow-listed root, the agent's own uid through setpriv, plus
  the runtime's start-up work (uid lookup, state dir ownership, scanning the
  host for what to bind);
- **old**: the argv before issue 11 — every top-level host directory bound
  read-only, the host's network, uid 0 — with the same runtime otherwise.

The agent is the real harness (`python -m hive_harness serve`), whose hello
comes before any model call, or the fake agent (``--fake``), which isolates
the sandbox's own cost from Python's start-up. Needs root, bwrap, setpriv.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from hive_core.identities import AgentIds  # noqa: E402
from hive_kit.paths import StateLayout  # noqa: E402
from reconciler.act import launch_spec  # noqa: E402
from reconciler.runtime import procs  # noqa: E402
from reconciler.runtime.base import LaunchSpec  # noqa: E402
from reconciler.runtime.local import DEFAULT_COMMAND, LocalRuntime  # noqa: E402
from tests.seams.hello_host import HelloHost  # noqa: E402

FAKE = (sys.executable, str(ROOT / "tests" / "seams" / "fake_agent.py"))
_SKIP_TOP = frozenset({"proc", "dev", "tmp", "run", "state", "lost+found", "etc"})


def _mirror(directory: Path, skip: frozenset[str]) -> list[str]:
    args: list[str] = []
    for name in sorted(os.listdir(directory)):
        full = directory / name
        if name in skip:
            continue
        if full.is_symlink():
            args += ["--symlink", os.readlink(full), str(full)]
        else:
            args += ["--ro-bind", str(full), str(full)]
    return args


def old_argv(bwrap: str, spec: LaunchSpec, state_root: Path, command: Sequence[str]) -> list[str]:
    """The sandbox before issue 11 (reconciler/runtime/sandbox.py at 22ba5c9), for comparison only."""
    args = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", spec.name]
    args += _mirror(Path("/"), _SKIP_TOP)
    args += ["--dir", "/etc", *_mirror(Path("/etc"), frozenset({"hyperhive"}))]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    for path in (Path(sys.prefix), ROOT):
        if path.parts[1] in ("tmp", "run"):
            args += ["--ro-bind", str(path), str(path)]
    args += ["--tmpfs", str(state_root), "--bind", str(spec.state_dir), "/state"]
    args += ["--ro-bind", str(spec.config_file), "/etc/hyperhive/agent.json"]
    args += ["--bind", str(spec.socket.parent), "/run/hive", "--chdir", "/state", "--", *command]
    return args


class OldRuntime(LocalRuntime):
    """The same runtime, launching the old argv as root (no uid, no state dir hand-over)."""

    def _argv(
        self, spec: LaunchSpec, ids: AgentIds | None, seccomp: int | None = None
    ) -> tuple[list[str], dict[str, str]]:
        _, env = super()._argv(spec, None)
        command = [part.format(role=spec.role, name=spec.name) for part in self.command]
        env.update(
            HIVE_AGENT_CONFIG="/etc/hyperhive/agent.json",
            HIVE_SOCKET="/run/hive/hive.sock",
            HIVE_AGENT_STATE="/state",
            HOME="/state/home",
        )
        assert self.support.bwrap is not None
        return old_argv(self.support.bwrap, spec, self.layout.root, command), env

    async def start(self, spec: LaunchSpec, progress: Any) -> None:
        bwrap, self.bwrap = self.bwrap, None  # take the unsandboxed path of start (no uid) …
        try:
            await super().start(spec, progress)
        finally:
            self.bwrap = bwrap


async def one_round(runtime: LocalRuntime, layout: StateLayout, name: str) -> float:
    from hive_kit.launch import AgentLaunchConfig

    host = HelloHost(layout)
    spec = launch_spec(layout, name, is_manager=False)
    await host.open_agent(name, is_manager=False)
    AgentLaunchConfig(name=name, role="agent", model="haiku").write(spec.config_file)
    since = time.time()
    start = time.perf_counter()
    try:
        await runtime.create(spec, lambda _line: None)
        if not await host.wait_hello(name, since, 60):
            raise RuntimeError(f"{name} said no hello; see {spec.log_file}")
        took = time.perf_counter() - start
        await runtime.stop(name, lambda _line: None)
    finally:
        await host.close()
    return took


async def main(rounds: int, fake: bool) -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the new sandbox drops each agent to its own uid")
    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-", dir=ROOT / "test-artifacts"))
    layout = StateLayout(work)
    init_meta_repo(layout.meta)
    command = FAKE if fake else DEFAULT_COMMAND
    new, old = LocalRuntime(layout, command, stop_grace=3.0), OldRuntime(layout, command, stop_grace=3.0)
    if new.refusal:
        raise SystemExit(f"no sandbox here: {new.refusal}")
    times: dict[str, list[float]] = {"new": [], "old": []}
    try:
        await one_round(new, layout, "warmup")  # page cache, the capability probe, the first uid
        for i in range(rounds):
            for label, runtime in (
                (("new", new), ("old", old)) if i % 2 == 0 else (("old", old), ("new", new))
            ):
                times[label].append(await one_round(runtime, layout, f"a{i}{label}"))
    finally:
        procs.kill_all(layout.root)
        shutil.rmtree(work, ignore_errors=True)
    agent = "fake agent" if fake else "hive-harness serve"
    print(f"agent create → hello, {agent}, {rounds} rounds each (seconds):")
    for label in ("old", "new"):
        values = sorted(times[label])
        p95 = values[max(0, round(0.95 * len(values)) - 1)]
        print(f"  {label}: median {statistics.median(values):.3f}  p95 {p95:.3f}  min {values[0]:.3f}")
    ratio = statistics.median(times["new"]) / statistics.median(times["old"])
    print(f"  new / old (medians): {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fake", action="store_true", help="the fake agent instead of the real harness")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.fake))
