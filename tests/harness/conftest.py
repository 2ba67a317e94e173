"""Harness end-to-end fixtures: the real daemon, a real `hive-harness serve`, the real claude CLI.

The only stand-in is ``tests/seams/scripted_api.py`` (the Anthropic API cannot
be reached here). The daemon (`hive.daemon.Daemon`) runs in the test's event
loop on real unix sockets; each harness is a subprocess (`python -m
hive_harness serve`) that launches the real `claude` from node_modules, which
launches our real MCP server over stdio. Every process is killed at teardown.

Swarm: ``boss`` (manager), ``alice`` (may message only the manager), ``bob``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, remove_agent, set_agent_field
from desired.repo import Author
from hive_harness.stats import TurnStats
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from tests.conftest import REPO_ROOT, subprocess_env
from tests.core.conftest import Running, start_daemon
from tests.seams.scripted_api import ScriptedAPI

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"
OPERATOR = Author("Test Operator", "operator@example.test")

needs_claude = pytest.mark.skipif(
    not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"
)


def make_swarm(root: Path) -> StateLayout:
    layout = StateLayout(root)
    repo, _ = init_meta_repo(layout.meta)

    def build(state):  # type: ignore[no-untyped-def]
        old = next(n for n, s in state.agents.items() if s.role == "manager")
        if old != "boss":
            state = add_agent(state, {"name": "boss", "role": "agent"})
            state = set_agent_field(state, old, "role", "agent")
            state = set_agent_field(state, "boss", "role", "manager")
            state = remove_agent(state, old)
        state = add_agent(state, {"name": "alice", "allowed_recipients": ["manager"]})
        return add_agent(state, {"name": "bob"})

    repo.commit(build, author=OPERATOR, message="harness test swarm")
    return layout


@pytest.fixture
def api() -> Iterator[ScriptedAPI]:
    with ScriptedAPI() as server:
        yield server


@pytest.fixture
async def hive(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start_daemon(make_swarm(tmp_path / "hive"))
    try:
        yield running
    finally:
        await running.close()


class HarnessProcess:
    """One `hive-harness serve` subprocess for an agent of the test swarm."""

    def __init__(self, layout: StateLayout, name: str, role: str, env: dict[str, str], **launch: Any) -> None:
        self.name = name
        self.state = layout.agent_state(name)
        self.config = layout.agent_build(name) / "agent.json"
        AgentLaunchConfig(name=name, role=role, model="haiku", **launch).write(self.config)
        socket_path = layout.socket_for(name, is_manager=role == "manager")
        self.page_socket = layout.page_socket_for(name, is_manager=role == "manager")
        self.env = subprocess_env(
            HIVE_AGENT_CONFIG=str(self.config),
            HIVE_SOCKET=str(socket_path),
            HIVE_AGENT_STATE=str(self.state),
            **env,
        )
        for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
            if key not in env:
                self.env.pop(key, None)
        self.log = self.state.parent / "harness.log"
        self.proc: subprocess.Popen[bytes] | None = None

    url = "http://agent-page"  # the page is on its unix socket; the host part is not looked at

    def session(self, timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientSession:
        """A client for the agent page API on its unix socket (``page/page.sock``)."""
        connector = aiohttp.UnixConnector(path=str(self.page_socket))
        return aiohttp.ClientSession(connector=connector, timeout=timeout or aiohttp.ClientTimeout(total=60))

    def start(self, role: str) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hive_harness", "serve", "--role", role],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- observing ---------------------------------------------------
    def turns(self) -> list[dict[str, Any]]:
        """The agent's turn-stats rows, oldest first (read from its real sqlite file)."""
        if not (self.state / "turn-stats.sqlite").exists():
            return []
        stats = TurnStats(self.state / "turn-stats.sqlite")
        try:
            return list(reversed(stats.rows()))
        finally:
            stats.close()

    async def get(self, path: str) -> Any:
        async with self.session() as session, session.get(self.url + path) as response:
            response.raise_for_status()
            return await response.json()

    async def post(self, path: str, **body: Any) -> Any:
        async with self.session() as session, session.post(self.url + path, json=body) as response:
            response.raise_for_status()
            return await response.json()

    async def wait_until(self, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
        """Poll `check` (no sleeps on the daemon's loop beyond 50 ms) until truthy; fail with the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(
                    f"harness {self.name} exited ({self.proc.returncode}):\n{self.log_text()[-4000:]}"
                )
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
        pytest.fail(f"timed out waiting for {what} on {self.name}:\n{self.log_text()[-4000:]}")

    async def wait_turns(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        return await self.wait_until(
            f"{count} turn-stats rows", lambda: len(self.turns()) >= count and self.turns(), timeout
        )

    async def ready(self) -> None:
        async def up() -> bool:
            try:
                await self.get("/api/state")
            except aiohttp.ClientError:
                return False
            return True

        await self.wait_until("the agent page", up, timeout=30)


@pytest.fixture
async def harness(hive: Running) -> AsyncIterator[Callable[..., Any]]:
    """`await harness(name, role, env, **launch)` starts one and waits for its restart-note turn."""
    started: list[HarnessProcess] = []

    async def start(
        name: str, role: str = "agent", env: dict[str, str] | None = None, **launch: Any
    ) -> HarnessProcess:
        proc = HarnessProcess(hive.layout, name, role, env or {}, **launch)
        started.append(proc)
        proc.start(role)
        await proc.ready()
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


def claude_mcp_line(server: dict[str, object], env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """Register ``server`` as `hyperhive` with the real claude CLI (user scope, in ``env``'s HOME) and
    health-check it with `claude mcp list`: its `hyperhive` line, and everything the CLI printed."""
    subprocess.run(
        [str(CLAUDE), "mcp", "add-json", "--scope", "user", "hyperhive", json.dumps(server)],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )
    listed = subprocess.run(
        [str(CLAUDE), "mcp", "list"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    line = next((ln for ln in listed.stdout.splitlines() if ln.startswith("hyperhive")), "")
    return line, listed.stdout + listed.stderr
