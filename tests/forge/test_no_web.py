"""Forgejo under `hive serve --no-web`: the daemon, not the dashboard, sends to the forge.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here. Everything else is what an operator runs: a real
`hive serve --no-web` (the reconciler on the local runtime, the fake agent
``tests/seams/fake_agent.py`` as the harness), `hive forge connect` made
while it runs, `hive agent add --propose`, `hive approve`, `git push` to the
stand-in's bare repo. No webhook is delivered: without the web tier none
can be received, and everything asserted here is what the daemon sends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from desired.repo import MAIN, MetaRepo
from hive.daemon import serve_pid
from hive_core.forge.store import ForgeStore, store_path
from hive_kit.paths import StateLayout
from tests.conftest import run_hive
from tests.forge.conftest import live_swarm
from tests.forge.test_checks import wait_for
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import hive_serve_process


def hive(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    return run_hive(layout.root, *args)


@contextmanager
def serving_without_web(layout: StateLayout) -> Iterator[Path]:
    """A real `hive serve --no-web` on ``layout``; yields its log. Stops it and every sandbox it left."""
    with hive_serve_process(layout, "--no-web") as (proc, log):
        wait_for("hive serve listening", lambda: proc.poll() is None and "listening on" in log.read_text())
        yield log
        assert proc.poll() is None, log.read_text()[-3000:]


def propose_agent(layout: StateLayout, name: str) -> int:
    done = hive(layout, "agent", "add", name, "--description", f"{name} does it", "--propose", "--json")
    return int(json.loads(done.stdout)["proposal"])


def pull_of(forge: ForgejoStandIn, pid: int) -> Any:
    return next((p for p in forge.pulls.values() if p.head == f"proposals/{pid}"), None)


def queued(layout: StateLayout, key: str) -> dict[str, Any] | None:
    """The newest payload for ``key`` in the daemon's outbox (read as `hive forge status` reads it)."""
    store = ForgeStore.open(layout)
    try:
        return store.latest(key)
    finally:
        store.close()


def calls_to(forge: ForgejoStandIn, method: str, path_end: str) -> int:
    return sum(1 for c in forge.calls if c.method == method and c.path.endswith(path_end) and c.status < 300)


@pytest.mark.slow
def test_no_web_daemon_opens_merges_and_reports_and_resends_once_after_an_outage(tmp_path: Path) -> None:
    layout, forge, token = live_swarm(tmp_path, "forge-noweb")
    try:
        with serving_without_web(layout) as log:
            # no forge yet: the component is idle, opens nothing and calls nothing
            first = propose_agent(layout, "early")
            time.sleep(3)  # longer than the component's look for a connection; nothing may happen
            assert forge.calls == [] and not store_path(layout).exists()

            hive(
                layout,
                "forge",
                "connect",
                "--url",
                forge.url,
                "--repo",
                "ops/swarm",
                "--token-file",
                str(token),
            )
            said = wait_for("the no-webhooks line", lambda: "webhooks need the web tier" in log.read_text())
            assert said and log.read_text().count("webhooks need the web tier") == 1
            shown = json.loads(hive(layout, "forge", "status", "--json").stdout)
            assert shown["sender_pid"] == serve_pid(layout), "the daemon is the one sender"
            assert "(`hive serve`)" in hive(layout, "forge", "status").stdout
            # a connection made while the daemon runs is picked up: the waiting proposal is opened
            early = wait_for("a pull request for the earlier proposal", lambda: pull_of(forge, first))
            assert early.state == "open" and early.by_api

            pid = propose_agent(layout, "coder")
            pr = wait_for("a pull request for the CLI proposal", lambda: pull_of(forge, pid))
            assert "coder does it" in pr.body and forge.head(f"proposals/{pid}")

            hive(layout, "approve", str(pid))
            landed = str(MetaRepo(layout.meta).head(MAIN))
            wait_for("the pull request marked merged", lambda: pr.merged and pr.merge_sha == landed)
            assert forge.head("main") == landed, "main pushed to the forge, never diverged"
            applied = wait_for(
                "hive/apply success on the approved main",
                lambda: (s := forge.status_of(landed, "hive/apply")) and s["status"] == "success" and s,
                limit=90,
            )
            assert "coder" in applied["description"]

            # the forge goes away; an approval made meanwhile is sent once it is back, once
            second = propose_agent(layout, "tester")
            pr2 = wait_for("a pull request for the second proposal", lambda: pull_of(forge, second))
            forge.stop()
            hive(layout, "approve", str(second))
            landed2 = str(MetaRepo(layout.meta).head(MAIN))
            failing = wait_for(
                "the outbox keeping failed calls",
                lambda: [
                    p
                    for p in json.loads(hive(layout, "forge", "status", "--json").stdout)["pending"]
                    if p["attempts"] > 0
                ],
            )
            assert failing and "cannot reach Forgejo" in failing[0]["last_error"]
            wait_for(
                "hive/apply success queued while the forge is down",
                lambda: (q := queued(layout, f"status:{landed2}:hive/apply")) and q["state"] == "success",
                limit=90,
            )
            forge.start()
            wait_for("the second merge after the outage", lambda: pr2.merged, limit=60)
            wait_for(
                "hive/apply success after the outage",
                lambda: (s := forge.status_of(landed2, "hive/apply")) and s["status"] == "success",
                limit=90,
            )
            time.sleep(2)  # let any straggling retry arrive, so a duplicate would be seen
            sent = [(s["context"], s["status"], s["description"]) for s in forge.statuses[landed2]]
            assert len(sent) == len(set(sent)), f"no status sent twice: {sent}"
            assert calls_to(forge, "POST", f"/pulls/{pr2.number}/merge") == 1

            # a denial here closes the pull request, with who and why
            hive(layout, "deny", str(first), "--note", "not now")
            wait_for("the denied proposal's pull request closed", lambda: early.state == "closed")
            said = wait_for("the denial's comment", lambda: forge.comments_on(early.number))
            assert not early.merged and "not now" in said[-1]["body"]

            # disconnected: the component stops; a new proposal is not sent
            hive(layout, "forge", "disconnect")
            wait_for("the component to stop", lambda: "disconnected; sending stops" in log.read_text())
            before = len(forge.calls)
            late = propose_agent(layout, "late")
            time.sleep(3)
            assert len(forge.calls) == before and pull_of(forge, late) is None
        assert forge.unexpected == []
    finally:
        forge.stop()
        shutil.rmtree(layout.root, ignore_errors=True)
