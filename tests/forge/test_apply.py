"""``hive/apply``: a revision merged in Forgejo is deployed, and its commit says so, once.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here. The rest is real: the dashboard and its webhook, the
reconciler on the local runtime in bubblewrap, and the fake agent
(``tests/seams/fake_agent.py``, the harness's test seam) it deploys.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desired import remote
from desired.bootstrap import init_meta_repo
from desired.repo import MetaRepo
from hive_core.forge import connection
from hive_core.forge.connection import Connection
from hive_kit.paths import StateLayout
from hive_web.forgejo import write_secret
from hive_web.readers.reconciler import ReconcilerLink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime.local import LocalRuntime
from tests.forge.test_checks import DASH, Hooked, wait_for
from tests.reconciler.conftest import AGENT_COMMAND, REPO_ROOT, kill_all
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import TEST_AUTHOR, EventLogSink, serve
from tests.web.test_webhook import Recorder

CODER = json.dumps({"name": "coder", "description": "writes the code"}, indent=2)


@pytest.fixture
def deploying(server_loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[tuple[Hooked, Reconciler]]:
    root = REPO_ROOT / "test-artifacts" / f"forge-{uuid.uuid4().hex[:8]}"
    layout = StateLayout(root)
    root.mkdir(parents=True)
    init_meta_repo(layout.meta, TEST_AUTHOR)
    forge = ForgejoStandIn(tmp_path / "forgejo")
    forge.seed(layout.meta)
    forge.start()
    remote.set_remote(MetaRepo(layout.meta), str(forge.bare))
    secret, _ = write_secret(layout)
    conn = Connection(url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url=DASH)
    connection.save(layout, conn, forge.token)
    link = ReconcilerLink(layout)
    served = serve(layout, server_loop, reconciler=link, operator=Recorder())

    async def make() -> Reconciler:
        runtime = LocalRuntime(layout, AGENT_COMMAND, stop_grace=2.0)
        return Reconciler(
            layout, runtime, events=EventLogSink(served.feed), settings=LoopSettings(health_timeout=20)
        )

    rec: Reconciler = served.call(make)
    link.attach(rec.runtime)
    try:
        yield Hooked(served, forge, secret, Recorder()), rec
    finally:
        served.call(rec.close)
        rec.store.close()
        served.close()
        forge.stop()
        kill_all(layout)
        shutil.rmtree(root, ignore_errors=True)
    assert forge.unexpected == []


def _apply_states(forge: ForgejoStandIn, sha: str) -> list[tuple[str, str]]:
    return [
        (s["status"], s["description"]) for s in forge.statuses.get(sha, []) if s["context"] == "hive/apply"
    ]


def test_a_revision_merged_in_forgejo_gets_hive_apply_once_deployed(
    deploying: tuple[Hooked, Reconciler],
) -> None:
    hooked, rec = deploying
    hooked.served.call(rec.apply_once)  # the manager, as a fresh swarm starts
    sha, reply = hooked.push("main", "agents/coder.json", CODER)
    assert reply.status == 202 and reply.body["main"]["moved"] is True, reply.body

    def applied() -> Any:
        states = _apply_states(hooked.forge, sha)
        if states and states[-1][0] == "success":
            return states
        hooked.served.call(rec.apply_once)
        return None

    states = wait_for("hive/apply success", applied, limit=90)
    assert states[0] == ("pending", "applying: 0 of 1 ready; waiting for coder")
    assert states[-1] == ("success", "deployed: coder ready")
    assert len(states) == len(set(states)), f"no state is sent twice: {states}"
    hooked.served.call(rec.apply_once)
    again = hooked.send("push", hooked.forge.push_payload("main", sha))
    assert again.status == 202
    wait_for("the plan status of main", lambda: hooked.forge.status_of(sha, "hive/plan"))
    assert _apply_states(hooked.forge, sha) == states, "settled: later passes and deliveries send nothing"
