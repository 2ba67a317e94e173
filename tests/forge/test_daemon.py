"""Through a real `hive serve`: connect, push a branch, merge it; Forgejo shows all three checks.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here. Everything else is what an operator runs: `hive
desired remote set`, `hive webhook secret`, `hive forge connect`, `hive
serve` with its reconciler on the local runtime and the fake agent
(``tests/seams/fake_agent.py``, the harness's test seam).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from hive_kit.paths import StateLayout
from tests.conftest import run_hive
from tests.forge.conftest import live_swarm
from tests.forge.test_checks import wait_for
from tests.web.conftest import http, running_hive_serve

CODER = json.dumps({"name": "coder", "description": "writes the code"}, indent=2)


def hive(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    return run_hive(layout.root, *args)


@pytest.mark.slow
def test_hive_serve_checks_a_branch_and_reports_the_deploy_of_its_merge(tmp_path: Path) -> None:
    layout, forge, token = live_swarm(tmp_path, "forge-daemon")
    secret = json.loads(hive(layout, "webhook", "secret", "--json").stdout)["secret"]
    hive(layout, "forge", "connect", "--url", forge.url, "--repo", "ops/swarm", "--token-file", str(token))
    try:
        with running_hive_serve(layout) as (_proc, url, log):

            def deliver(event: str, payload: dict[str, object]) -> None:
                body = json.dumps(payload).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Forgejo-Event": event,
                    "X-Forgejo-Delivery": str(uuid.uuid4()),
                    "X-Forgejo-Signature": forge.sign(secret, body),
                }
                reply = http("POST", f"{url}/hooks/forgejo", raw=body, headers=headers)
                assert reply.status == 202, reply.body

            branch = forge.commit("add-coder", "agents/coder.json", CODER, "add coder")
            deliver("push", forge.push_payload("add-coder", branch))
            plan = wait_for("hive/plan on the branch", lambda: forge.status_of(branch, "hive/plan"), limit=60)
            assert plan["status"] == "success" and "to create" in plan["description"]

            merged = forge.commit("main", "agents/coder.json", CODER, "merge: add coder")
            deliver("push", forge.push_payload("main", merged))
            applied = wait_for(
                "hive/apply success on main",
                lambda: (s := forge.status_of(merged, "hive/apply")) and s["status"] == "success" and s,
                limit=90,
            )
            assert "coder" in applied["description"]
            assert forge.status_of(merged, "hive/validate")["status"] == "success"  # type: ignore[index]
            assert forge.status_of(branch, "hive/validate")["status"] == "success"  # type: ignore[index]
            shown = json.loads(hive(layout, "forge", "status", "--json").stdout)
            assert shown["connected"] is True and shown["last_delivery"]["outcome"] == "fast-forwarded"
            assert forge.unexpected == []
            assert "this one waits" not in log.read_text(), "the dashboard sends through the daemon's sender"
    finally:
        forge.stop()
