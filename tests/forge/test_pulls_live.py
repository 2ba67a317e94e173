"""A manager's proposal becomes a Forgejo pull request; merging it there deploys the agent; an
operator's `hive approve` marks the next one merged by the same commit on both mains.

Real: the daemon in-process (sockets, meta watch, proposal watch, the reconciler's loop with the
local runtime, the dashboard with its webhook, outbox and sender), bubblewrap for every agent,
`hive-harness serve`, the `claude` binary from node_modules and its MCP client, `git push`/`git
fetch` against a bare repo. Stand-ins: the scripted Messages API (``tests/seams/scripted_api.py``,
routed per agent as in ``tests/reconciler/test_spawn_live.py``), since the Anthropic API cannot be
reached here, and the Forgejo stand-in (``tests/seams/forgejo.py``), since no Forgejo server can
run here; the test plays the reviewer pressing "Merge" and the signed deliveries Forgejo sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from desired import proposals, remote
from desired.bootstrap import init_meta_repo
from desired.changes import set_agent_field
from desired.proposals import ProposalStatus
from desired.repo import MAIN, MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_core.forge import connection
from hive_core.forge.connection import Connection
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from hive_web.forgejo import write_secret
from hive_web.keys import WebConfig
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.conftest import run_hive
from tests.reconciler.conftest import REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually
from tests.reconciler.test_spawn_live import pytestmark as live_marks
from tests.seams.forgejo import ForgejoStandIn
from tests.seams.scripted_api import Reply, RoutedAPI, ToolUse, text
from tests.security.test_sandbox_claude import Swarm
from tests.web.conftest import http

pytestmark = live_marks


def hive(layout: StateLayout, *args: str) -> str:
    return run_hive(layout.root, *args).stdout


def deliver(url: str, forge: ForgejoStandIn, secret: str, event: str, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Forgejo-Event": event,
        "X-Forgejo-Delivery": str(uuid.uuid4()),
        "X-Forgejo-Signature": forge.sign(secret, body),
    }
    return http("POST", f"{url}/hooks/forgejo", raw=body, headers=headers)


async def test_a_manager_proposal_is_a_pull_request_and_merging_it_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"forgepr-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)
    repo = MetaRepo(layout.meta)
    repo.commit(lambda s: set_agent_field(s, "manager", "model", "haiku"), author=TESTER, message="haiku")
    forge = ForgejoStandIn(tmp_path / "forgejo")
    forge.seed(layout.meta)
    forge.start()
    remote.set_remote(repo, str(forge.bare))
    secret, _ = write_secret(layout)
    conn = Connection(url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url="http://hive.test")
    connection.save(layout, conn, forge.token)
    with RoutedAPI() as api:
        for key, value in api.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HIVE_CLAUDE_BIN", raising=False)
        daemon = Daemon(layout, web=WebConfig(host="127.0.0.1", port=0))
        add_reconciler(daemon, RuntimeOptions("local"), LoopSettings(health_timeout=60))
        task = asyncio.create_task(daemon.run())
        try:
            await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop")
            await eventually(lambda: daemon.core.login_codes.base_url, what="the dashboard")
            url = str(daemon.core.login_codes.base_url)
            swarm = Swarm(layout, daemon, api, 0)
            await eventually(lambda: swarm.turns("manager"), timeout=120, what="the manager's first turn")
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
                                "files": {"brief.md": "count the gophers\n"},
                            },
                        ),
                    )
                ),
                text("drafted scout"),
            )
            client = HiveClient(layout.admin_socket)
            try:
                await client.request(Send(to="manager", body="we need someone to count gophers"))
            finally:
                await client.aclose()

            await eventually(lambda: forge.pulls, timeout=120, what="the proposal's pull request")
            (pr,) = forge.pulls.values()
            (pending,) = proposals.pending(repo)
            assert pr.head == f"proposals/{pending.id}" and pr.by_api
            assert "gopher census" in pr.title and f"proposed by {pending.author}" in pr.body
            assert forge.head(pr.head) == pending.commit

            merge = forge.merge(pr.number)
            closed = await asyncio.to_thread(
                deliver, url, forge, secret, "pull_request", forge.closed_payload(pr.number, "alice")
            )
            assert closed.status == 202 and "approved" in closed.body["approval"], closed.body
            pushed = await asyncio.to_thread(
                deliver, url, forge, secret, "push", forge.push_payload("main", merge)
            )
            assert pushed.status == 202, pushed.body
            assert str(repo.head(MAIN)) == merge, "main is Forgejo's merge commit"
            approved = proposals.get(repo, pending.id)
            assert approved.status is ProposalStatus.APPROVED and approved.resolution is not None
            assert approved.resolution.commit == merge and approved.resolution.by.startswith("alice")

            await eventually(
                lambda: (s := forge.status_of(merge, "hive/apply")) and s["status"] == "success",
                timeout=240,
                what="hive/apply success on the merge",
            )
            assert "scout" in str(forge.status_of(merge, "hive/apply"))
            run = json.loads((layout.agent_build("scout") / "run.json").read_text())
            assert run["sandboxed"] is True, "scout runs in bubblewrap"
            assert not [c for c in forge.calls if c.path.endswith("/merge")], "nothing merged twice"

            # the operator's way: `hive agent add --propose`, then `hive approve` on the host
            await asyncio.to_thread(
                hive, layout, "agent", "add", "tally", "--model", "haiku", "--state", "stopped", "--propose"
            )
            await eventually(lambda: len(forge.pulls) == 2, timeout=60, what="the second pull request")
            second = max(forge.pulls)
            (tally,) = proposals.pending(repo)
            await asyncio.to_thread(hive, layout, "approve", str(tally.id))
            await eventually(lambda: forge.pulls[second].merged, timeout=60, what="#2 marked merged")
            landed = proposals.get(repo, tally.id).resolution
            assert landed is not None and forge.pulls[second].merge_sha == landed.commit
            assert forge.head("main") == str(repo.head(MAIN)) == landed.commit, "one main on both sides"
            assert forge.unexpected == []
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            forge.stop()
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)
