"""Two-step spawn, end to end: the manager drafts an agent with a brief, the operator approves it with
`hive approve`, and the new agent's first turn finds the brief in its /state.

Real: the daemon (sockets, egress proxy, meta watch, the reconciler's loop with the local runtime),
bubblewrap for both agents (each its own uid and network namespace, the manager with its read-only
meta view), `hive-harness serve`, the `claude` binary from node_modules and its MCP client, the
`hive` CLI as a subprocess. Stand-in: the scripted Messages API (tests/seams/scripted_api.py), since
the Anthropic API cannot be reached here; this test routes its replies by the agent named in each
request's system prompt, so the manager's and the new agent's turns cannot take each other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from desired import proposals
from desired.bootstrap import init_meta_repo
from desired.changes import set_agent_field
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.conftest import subprocess_env
from tests.reconciler.conftest import REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually
from tests.seams.scripted_api import Reply, RoutedAPI, ToolUse, text, tool
from tests.security.test_sandbox_claude import Swarm

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"
BRIEF = "# Brief for scout\nCount the gophers in the east garden and report the number to the manager.\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs a root daemon and bwrap"
    ),
    pytest.mark.skipif(not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"),
]


@pytest.fixture
async def swarm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Swarm]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"spawn-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)
    MetaRepo(layout.meta).commit(
        lambda s: set_agent_field(s, "manager", "model", "haiku"), author=TESTER, message="manager on haiku"
    )
    with RoutedAPI() as api:
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
                await eventually(lambda: swarm.turns("manager"), timeout=120, what="the manager's first turn")
            assert swarm.turns("manager"), f"the manager ran no turn:\n{swarm.log('manager')}"
            yield swarm
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)


async def test_a_drafted_agent_finds_its_brief_in_state_on_its_first_turn(swarm: Swarm) -> None:
    api = swarm.api
    assert isinstance(api, RoutedAPI)
    api.route(
        "manager",
        Reply(
            blocks=(
                ToolUse(
                    "mcp__hyperhive__draft_agent",
                    {
                        "name": "scout",
                        "description": "the garden needs a gopher census",
                        "config": {"model": "haiku", "allowed_recipients": ["manager"]},
                        "files": {"brief.md": BRIEF},
                    },
                ),
            )
        ),
        text("drafted scout"),
    )
    api.route("scout", tool("Read", file_path="/state/brief.md"), text("brief read"))
    client = HiveClient(swarm.layout.admin_socket)
    try:
        await client.request(Send(to="manager", body="we need someone to count gophers"))
    finally:
        await client.aclose()
    await eventually(lambda: len(swarm.turns("manager")) >= 2, timeout=120, what="the manager's draft turn")
    results = [r for req in api.requests_of("manager") for r in req.tool_results()]
    assert any(r.startswith("proposal #1 recorded") for r in results), results

    repo = MetaRepo(swarm.layout.meta)
    (draft,) = proposals.pending(repo)
    diff = proposals.diff(repo, draft)
    assert "+++ b/agents/scout.json" in diff and "+++ b/agents/scout/seed/brief.md" in diff
    assert "+Count the gophers in the east garden" in diff, "the operator reviews the brief itself"

    approved = subprocess.run(
        [sys.executable, "-m", "hive", "approve", str(draft.id), "--state-dir", str(swarm.layout.root)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
    )
    assert approved.returncode == 0, approved.stderr

    with contextlib.suppress(AssertionError):
        await eventually(lambda: swarm.turns("scout"), timeout=180, what="scout's first turn")
    assert swarm.turns("scout"), f"scout ran no turn:\n{swarm.log('scout')}"
    run = json.loads((swarm.layout.agent_build("scout") / "run.json").read_text())
    assert run["sandboxed"] is True, "scout runs in bubblewrap as its own uid"
    read = [r for req in api.requests_of("scout") for r in req.tool_results()]
    assert any("Count the gophers in the east garden" in r for r in read), read
    brief = swarm.layout.agent_state("scout") / "brief.md"
    assert brief.stat().st_uid == run["uid"], "the seed is the agent's own file"
