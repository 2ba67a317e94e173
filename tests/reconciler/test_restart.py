"""Restarting the daemon mid-action converges without duplicates: real processes, real `kill -9`.

The daemon here is the reconciler's own entry point (``python -m
reconciler.service``), the component `hive serve` runs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from hive_kit.paths import StateLayout
from reconciler.act import launch_config, launch_spec
from reconciler.loop import LoopSettings, Reconciler
from reconciler.readonly import dry_run
from reconciler.runtime import procs
from reconciler.runtime.local import LocalRuntime
from reconciler.store import deploys_path, open_deploys
from tests.conftest import subprocess_env
from tests.reconciler.conftest import AGENT_COMMAND, add
from tests.reconciler.helpers import count_agent_processes, eventually


class Daemon:
    def __init__(self, layout: StateLayout, log: Path) -> None:
        self.layout, self.log = layout, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "reconciler.service", "--state-dir", str(self.layout.root)]
        argv += ["--agent-command", " ".join(AGENT_COMMAND), "--resync", "0.3"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def daemon(layout: StateLayout, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(layout, tmp_path / "daemon.log")
    yield d
    d.kill()


async def test_kill_daemon_mid_create_then_restart_converges_without_duplicates(
    layout: StateLayout, repo: MetaRepo, daemon: Daemon
) -> None:
    for name in ("alpha", "beta", "gamma"):
        add(repo, name)
    daemon.start()
    await eventually(lambda: "started pid" in daemon.log.read_text(), timeout=30, what="a first spawn")
    daemon.kill()  # mid-pass: some creates done, some under way, some not begun
    before = procs.scan(procs.root_key(layout.root))

    daemon.start()
    runtime = LocalRuntime(layout, AGENT_COMMAND)

    async def converged() -> bool:
        return (await dry_run(layout, runtime)).empty

    deadline = time.monotonic() + 40
    while not await converged():
        assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
        await asyncio.sleep(0.2)
    assert count_agent_processes(layout) == dict.fromkeys(["alpha", "beta", "gamma", "manager"], 1)
    after = procs.scan(procs.root_key(layout.root))
    for name, pid in before.items():
        assert after[name] == pid, f"{name} was started again instead of adopted"


async def test_a_container_whose_create_was_cut_short_is_adopted_not_restarted(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    """The daemon died after spawning but before recording: the build files say what runs."""
    snap = repo.load()
    store = open_deploys(deploys_path(layout.root))
    store.add_inventory("manager", "local")
    spec = launch_spec(layout, "manager", True)
    from desired.schema import agent_fingerprint

    fingerprint = agent_fingerprint(snap.state, "manager")
    launch_config(snap.state, "manager", snap.revision, fingerprint).write(spec.config_file)
    await runtime.create(spec, lambda _line: None)
    pid = procs.scan(runtime.key)["manager"]
    store.close()

    rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        result = await rec.apply_once()
        assert result.empty, result.actions
        assert rec.store.applied()["manager"].revision == snap.revision
    finally:
        rec.store.close()
    assert procs.scan(runtime.key)["manager"] == pid
    os.killpg(pid, signal.SIGKILL)


async def test_upgrading_past_a_fingerprint_change_rebuilds_nothing_and_renews_the_records(
    layout: StateLayout, repo: MetaRepo, runtime: LocalRuntime
) -> None:
    """Records written before the description left the fingerprint: no agent restarts on upgrade.

    The older version's records are made here by writing its fingerprint (``legacy_fingerprint``,
    the description hashed in) over the applied records the first pass wrote.
    """
    from desired.schema import agent_fingerprint, legacy_fingerprint

    add(repo, "alpha", description="writes code")
    rec = Reconciler(layout, runtime, settings=LoopSettings(health_timeout=10))
    try:
        await rec.apply_once()
        pids = procs.scan(runtime.key)
        snap = repo.load()
        for name, row in rec.store.applied().items():
            old = legacy_fingerprint(snap.state, name, row.spec)
            assert old != row.fingerprint
            rec.store.record_applied(name, row.revision, old, row.spec)

        result = await rec.apply_once()
        assert result.empty, result.actions
        assert procs.scan(runtime.key) == pids, "no agent was restarted"
        renewed = {n: r.fingerprint for n, r in rec.store.applied().items()}
        assert renewed == {n: agent_fingerprint(snap.state, n) for n in renewed}
    finally:
        rec.store.close()
