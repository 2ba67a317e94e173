"""A description edit during a turn: the plan says metadata only, the agent keeps running, the turn ends.

Real: the daemon (sockets, egress proxy, the reconciler's loop with the local
runtime, the meta watch), bubblewrap, `hive-harness serve` as the agent's own
uid, the `claude` binary from node_modules. Stand-in: the scripted Messages API
(tests/seams), which holds the agent's turn open until the test lets it finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.plan import plan
from reconciler.readonly import world
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.reconciler.conftest import REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually
from tests.seams.scripted_api import Reply, ScriptedAPI, Text
from tests.security.test_sandbox_claude import Swarm

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs a root daemon and bwrap"
    ),
    pytest.mark.skipif(not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"),
]


@pytest.fixture
async def swarm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Swarm]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"meta-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)

    def build(state):  # type: ignore[no-untyped-def]
        state = set_agent_field(state, "manager", "state", "stopped")  # one claude agent is enough
        return add_agent(state, {"name": "alpha", "model": "haiku", "description": "writes code"})

    MetaRepo(layout.meta).commit(build, author=TESTER, message="alpha")
    with ScriptedAPI() as api:
        for key, value in api.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HIVE_CLAUDE_BIN", raising=False)
        daemon = Daemon(layout)
        add_reconciler(daemon, RuntimeOptions("local"), LoopSettings(health_timeout=60))
        task = asyncio.create_task(daemon.run())
        swarm = Swarm(layout, daemon, api, 0)
        try:
            await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop")
            with contextlib.suppress(AssertionError):
                await eventually(lambda: swarm.turns("alpha"), timeout=120, what="alpha's first turn")
            assert swarm.turns("alpha"), f"alpha ran no turn:\n{swarm.log('alpha')}"
            yield swarm
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)


async def test_a_description_edit_mid_turn_restarts_nothing_and_the_turn_completes(swarm: Swarm) -> None:
    control = swarm.daemon.core.reconciler
    assert isinstance(control, LoopControl)
    repo = MetaRepo(swarm.layout.meta)
    key = procs.root_key(swarm.layout.root)
    pid = procs.scan(key)["alpha"]

    release = threading.Event()
    swarm.api.push(Reply(blocks=(Text("reviewed it"),), hold=release))
    asked = len(swarm.api.main_requests())
    client = HiveClient(swarm.layout.admin_socket)
    try:
        await client.request(Send(to="alpha", body="review the parser, take your time"))
    finally:
        await client.aclose()
    await eventually(lambda: len(swarm.api.main_requests()) > asked, timeout=60, what="alpha's turn to start")

    edited = set_agent_field(repo.load().state, "alpha", "description", "writes and reviews code")
    w = await world(swarm.layout, control.rec.runtime)  # the dashboard editor's preview, as it reads it
    preview = plan(edited, "f" * 40, w.observed, w.applied).to_json()
    assert [(a["agent"], a["action"], a["reason"]) for a in preview["actions"]] == [
        ("alpha", "metadata", "metadata only, no restart")
    ]
    assert preview["summary"]["text"] == "Plan: 0 to create, 1 to change (1 metadata only), 0 to destroy."

    info = repo.commit(
        lambda s: set_agent_field(s, "alpha", "description", "writes and reviews code"),
        author=TESTER,
        message="alpha reviews too",
    )
    assert info is not None

    def applied() -> bool:
        return bool(control.status()["agents"]["alpha"]["applied_revision"] == info.revision)

    await eventually(applied, timeout=30, what="the edit recorded as applied")
    status = control.status()["agents"]["alpha"]
    assert status["history"][0]["action"] == "metadata"
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["reason"] == "Deployed"
    assert len(swarm.turns("alpha")) == 1, "the held turn is still running"
    assert procs.scan(key)["alpha"] == pid

    release.set()
    await eventually(lambda: len(swarm.turns("alpha")) >= 2, timeout=60, what="the held turn to end")
    assert swarm.turns("alpha")[1]["result_kind"] == "ok", swarm.log("alpha")
    assert procs.scan(key)["alpha"] == pid, "the agent was never restarted"
