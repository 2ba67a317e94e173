"""Agents outlive `hive serve`; `hive restart`, `hive rebuild` and `hive stop --all` act on them once.

Real parts throughout: `hive serve` and `hive` as subprocesses, the local runtime's bubblewrap
sandboxes, the deploy store. The agent program is the fake agent (tests/seams/fake_agent.py),
which says hello like the harness and then idles: the real harness would need a model to talk to.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desired.repo import MetaRepo
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.runtime import procs
from tests.conftest import HiveRunner, subprocess_env
from tests.reconciler.conftest import AGENT_COMMAND, add
from tests.reconciler.helpers import count_agent_processes

ENV = {"HIVE_AGENT_COMMAND": " ".join(AGENT_COMMAND), "HIVE_WEB_PORT": "0"}


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """`hive serve` on a state dir, started and stopped (SIGTERM, as Ctrl-C or systemd would)."""

    def __init__(self, layout: StateLayout, log: Path) -> None:
        self.layout, self.log = layout, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "hive", "serve", "--state-dir", str(self.layout.root)]
        with self.log.open("wb") as out:  # the default log level: what an operator sees
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env(**ENV), start_new_session=True
            )

    def stop(self) -> str:
        """Stop it; what it printed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        return self.log.read_text()


@pytest.fixture
def serve(layout: StateLayout, tmp_path: Path) -> Iterator[Serve]:
    daemon = Serve(layout, tmp_path / "serve.log")
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def cli(hive: HiveRunner, layout: StateLayout) -> Callable[..., subprocess.CompletedProcess[str]]:
    return lambda *args: hive(*args, "--state-dir", str(layout.root), env=ENV, state=False)


def ready(cli: Callable[..., subprocess.CompletedProcess[str]], *names: str) -> bool:
    done = cli("status", "--json")
    if done.returncode != 0:
        return False
    agents = {a["name"]: a for a in json.loads(done.stdout)["agents"]}
    return all(
        name in agents
        and any(c["type"] == "Ready" and c["reason"] == "Deployed" for c in agents[name]["conditions"])
        and not any(c["type"] == "Reconciling" and c["status"] for c in agents[name]["conditions"])
        for name in names
    )


def pids(layout: StateLayout) -> dict[str, int]:
    return procs.scan(procs.root_key(layout.root))


def test_agents_outlive_serve_and_a_restarted_serve_adopts_them(
    layout: StateLayout, repo: MetaRepo, serve: Serve, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    add(repo, "alpha")
    serve.start()
    wait_until(lambda: ready(cli, "manager", "alpha"), 60, "manager and alpha Ready")
    refused = cli("stop", "--all")
    assert refused.returncode == 1 and "stop it first" in refused.stderr
    before = pids(layout)
    assert set(before) == {"manager", "alpha"}

    printed = serve.stop()
    assert "migrated" not in printed, "a fresh state dir's schema migrations are not news"
    note = "2 agents keep running (alpha, manager); `hive serve` adopts them on start; "
    note += "`hive stop --all` stops them"
    assert note in printed
    assert pids(layout) == before and all(procs.alive(pid) for pid in before.values())

    serve.start()
    # its loop runs once it takes a "reconcile now" (which also asks it for one more pass)
    wait_until(lambda: cli("reconcile", "--now").returncode == 0, 60, "the restarted daemon's reconciler")
    wait_until(lambda: ready(cli, "manager", "alpha"), 60, "the restarted daemon to report both Ready")
    assert pids(layout) == before, "a restarted daemon adopts running agents; it does not restart them"
    assert count_agent_processes(layout) == {"manager": 1, "alpha": 1}
    serve.stop()

    stopped = cli("stop", "--all")
    assert stopped.returncode == 0 and "stopped alpha, manager" in stopped.stdout
    assert pids(layout) == {} and not any(procs.alive(pid) for pid in before.values())
    assert "stop asked by the operator (`hive stop --all`)" in cli("history", "alpha").stdout


def _fingerprint(layout: StateLayout, name: str) -> str:
    return AgentLaunchConfig.read(layout.agent_build(name) / "agent.json").fingerprint


def test_restart_and_rebuild_act_once_change_nothing_desired_and_are_in_history(
    layout: StateLayout, repo: MetaRepo, serve: Serve, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    add(repo, "alpha")
    serve.start()
    wait_until(lambda: ready(cli, "manager", "alpha"), 60, "manager and alpha Ready")
    main = repo.head()
    first, fingerprint = pids(layout)["alpha"], _fingerprint(layout, "alpha")
    (layout.agent_state("alpha") / "notes.md").write_text("kept\n")
    (layout.agent_build("alpha") / "leftover").write_text("from the old build\n")

    restarted = cli("restart", "alpha")
    assert restarted.returncode == 0 and "alpha is restarting" in restarted.stdout, restarted.stderr
    wait_until(
        lambda: pids(layout).get("alpha") not in (None, first) and ready(cli, "alpha"), 60, "a restart"
    )
    second = pids(layout)["alpha"]
    assert _fingerprint(layout, "alpha") == fingerprint, "a restart runs the same build"
    assert (layout.agent_build("alpha") / "leftover").exists(), "a restart keeps the build"

    rebuilt = cli("rebuild", "alpha")
    assert rebuilt.returncode == 0 and "alpha is being rebuilt" in rebuilt.stdout, rebuilt.stderr
    wait_until(
        lambda: pids(layout).get("alpha") not in (None, second) and ready(cli, "alpha"), 60, "a rebuild"
    )
    assert not (layout.agent_build("alpha") / "leftover").exists(), "a rebuild destroys the container"
    assert (layout.agent_state("alpha") / "notes.md").read_text() == "kept\n", "/state is kept"
    assert _fingerprint(layout, "alpha") == fingerprint
    assert count_agent_processes(layout) == {"manager": 1, "alpha": 1}
    assert pids(layout)["manager"], "the other agent was left alone"

    assert repo.head() == main, "neither edits desired state"
    history = cli("history", "alpha").stdout
    assert "restart asked by the operator (`hive restart`)" in history
    assert "rebuild asked by the operator (`hive rebuild`)" in history
    events = cli("events", "--json").stdout
    assert '"agent_rebuilt"' in events

    for verb in ("restart", "rebuild"):
        unknown = cli(verb, "ghost")
        assert unknown.returncode == 1 and "no agent named 'ghost'" in unknown.stderr
        assert len(unknown.stderr.strip().splitlines()) == 1
