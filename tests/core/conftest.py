"""Host-core fixtures: a real meta repo, an in-process daemon on real sockets, and a real
`hive serve` subprocess for crash tests.

``swarm`` builds desired state with the `desired` API (manager ``boss``,
``coder`` limited to the manager, ``tester`` and ``peer`` open), every agent
suspended so the reconciler inside a real `hive serve` starts none of them. ``daemon``
runs ``hive.daemon.Daemon`` in the test's event loop, so a test talks to it
through ``hive_kit.client`` over the same unix sockets agents use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import Author
from hive.daemon import Daemon
from hive_core.tls_broker import BrokerSettings
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from tests.conftest import subprocess_env

OPERATOR = Author("Test Operator", "operator@example.test")


def make_swarm(root: Path) -> StateLayout:
    layout = StateLayout(root)
    repo, _ = init_meta_repo(layout.meta)

    def build(state):  # type: ignore[no-untyped-def]
        manager = next(n for n, s in state.agents.items() if s.role == "manager")
        if manager != "boss":
            state = add_agent(state, {"name": "boss", "role": "agent"})
            state = set_agent_field(state, manager, "role", "agent")
            state = set_agent_field(state, "boss", "role", "manager")
            from desired.changes import remove_agent

            state = remove_agent(state, manager)
        state = add_agent(state, {"name": "coder", "allowed_recipients": ["manager"]})
        state = add_agent(state, {"name": "tester"})
        state = add_agent(state, {"name": "peer"})
        # suspended: a real `hive serve` (with its reconciler) leaves them alone, so no harness
        # reads these inboxes but the test itself
        for name in list(state.agents):
            state = set_agent_field(state, name, "suspended", True)
        return state

    repo.commit(build, author=OPERATOR, message="test swarm")
    return layout


@pytest.fixture
def swarm(tmp_path: Path) -> StateLayout:
    return make_swarm(tmp_path / "hive")


class Running:
    def __init__(self, daemon: Daemon, task: asyncio.Task[None]) -> None:
        self.daemon = daemon
        self.task = task
        self.layout = daemon.layout
        self._clients: list[HiveClient] = []

    def client(self, name: str) -> HiveClient:
        """A client on ``name``'s socket: "operator" → admin, "boss" → manager, else agents/<name>."""
        if name == "operator":
            path = self.layout.admin_socket
        elif name == "boss":
            path = self.layout.manager_socket
        else:
            path = self.layout.agent_socket(name)
        client = HiveClient(path)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        self.daemon.stop.set()
        await asyncio.wait_for(self.task, 10)


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def start_daemon(
    layout: StateLayout, clock: FakeClock | None = None, broker: BrokerSettings | None = None
) -> Running:
    daemon = Daemon(layout, clock=clock or time.time, broker=broker)
    task = asyncio.create_task(daemon.run())
    for _ in range(500):
        if layout.admin_socket.exists() and (layout.agent_socket("coder").exists() or task.done()):
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    return Running(daemon, task)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def daemon(swarm: StateLayout) -> AsyncIterator[Running]:
    running = await start_daemon(swarm)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def clocked(swarm: StateLayout, clock: FakeClock) -> AsyncIterator[Running]:
    """A daemon whose stores and schedulers read ``clock`` instead of the wall clock."""
    running = await start_daemon(swarm, clock)
    try:
        yield running
    finally:
        await running.close()


HIVE_SERVE = (sys.executable, "-m", "hive", "serve")


class Process:
    """A real `hive serve` subprocess on a state dir."""

    def __init__(self, layout: StateLayout) -> None:
        self.layout = layout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = layout.root / "serve.log"

    def start(self) -> None:
        for path in (self.layout.admin_socket,):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                # the host core alone: no sandboxes, no dashboard port to collide on
                [*HIVE_SERVE, "--state-dir", str(self.layout.root), "--no-reconcile", "--no-web"],
                env=subprocess_env(HIVE_LOG_LEVEL="INFO"),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hive serve exited: {self.log.read_text()[-2000:]}")
            if _connectable(self.layout.admin_socket):
                return
            time.sleep(0.02)
        raise RuntimeError("hive serve did not come up in 30 s")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def _connectable(path: Path) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


@pytest.fixture
def serve_process(swarm: StateLayout) -> Iterator[Process]:
    process = Process(swarm)
    try:
        yield process
    finally:
        process.stop()
