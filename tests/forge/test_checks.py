"""Commit statuses and the plan comment, from a signed delivery to what Forgejo shows.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here: its bare repo is what hyperhive fetches from, its API
is what the pyforgejo client calls, and the tests play its webhook
deliveries (signed as Forgejo signs them). Everything on our side is real:
the dashboard on a real port, `git fetch`, validation, the reconciler's plan
over the local runtime, the outbox in ``forge.sqlite`` and its sender task.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from desired import remote
from desired.repo import MAIN, MetaRepo
from hive_core.forge import connection
from hive_core.forge.connection import Connection
from hive_kit.paths import StateLayout
from hive_web.forgejo import write_secret
from hive_web.readers.reconciler import ReconcilerLink
from reconciler.runtime.local import LocalRuntime
from tests.reconciler.conftest import AGENT_COMMAND
from tests.seams.forgejo import ForgejoStandIn
from tests.web.conftest import Reply, Served, http, serve, session_headers
from tests.web.test_webhook import CODER, Recorder

DASH = "http://hive.test:7000"
# A fresh swarm's desired state holds the manager, not yet running: every plan here creates it too.
REVIEWER = json.dumps({"name": "reviewer", "model": "sonnet", "description": "reviews"}, indent=2)


@dataclass
class Hooked:
    served: Served
    forge: ForgejoStandIn
    secret: str
    operator: Recorder

    def send(
        self, event: str, payload: dict[str, Any], delivery: str | None = None, secret: str = ""
    ) -> Reply:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Forgejo-Event": event,
            "X-Forgejo-Delivery": delivery or str(uuid.uuid4()),
            "X-Forgejo-Signature": self.forge.sign(secret or self.secret, body),
        }
        return http("POST", f"{self.served.url}/hooks/forgejo", raw=body, headers=headers)

    def push(self, branch: str, rel: str, content: str, **kw: Any) -> tuple[str, Reply]:
        sha = self.forge.commit(branch, rel, content, f"{rel} on {branch}")
        return sha, self.send("push", self.forge.push_payload(branch, sha), **kw)

    @property
    def main(self) -> str:
        return str(MetaRepo(self.served.layout.meta).head(MAIN))


def wait_for(what: str, check: Callable[[], Any], limit: float = 30.0) -> Any:
    deadline = time.monotonic() + limit
    while not (found := check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)
    return found


def make_hooked(
    layout: StateLayout, forge: ForgejoStandIn, loop: asyncio.AbstractEventLoop, operator: Recorder | None
) -> Hooked:
    remote.set_remote(MetaRepo(layout.meta), str(forge.bare))
    secret, _ = write_secret(layout)
    conn = Connection(url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url=DASH)
    connection.save(layout, conn, forge.token)
    link = ReconcilerLink(layout, runtime=LocalRuntime(layout, AGENT_COMMAND, stop_grace=2.0))
    deps: dict[str, Any] = {"reconciler": link} | ({"operator": operator} if operator else {})
    return Hooked(serve(layout, loop, **deps), forge, secret, operator or Recorder())


@pytest.fixture
def hooked(
    layout: StateLayout, forge: ForgejoStandIn, server_loop: asyncio.AbstractEventLoop
) -> Iterator[Hooked]:
    """The dashboard as `hive serve` runs it, with a forge connected and main following it."""
    made = make_hooked(layout, forge, server_loop, Recorder())
    yield made
    made.served.close()


def test_a_pushed_branch_gets_validate_and_plan(hooked: Hooked) -> None:
    before = hooked.main
    sha, reply = hooked.push("add-coder", "agents/coder.json", CODER)
    assert reply.status == 202 and reply.body["fetched"] == sha, reply.body
    assert reply.body["checks"]["plan"] == "2 to create, 0 to change, 0 to destroy"

    valid = wait_for("hive/validate", lambda: hooked.forge.status_of(sha, "hive/validate"))
    plan = wait_for("hive/plan", lambda: hooked.forge.status_of(sha, "hive/plan"))
    assert (valid["status"], valid["description"]) == ("success", "desired state is valid")
    assert (plan["status"], plan["description"]) == ("success", "2 to create, 0 to change, 0 to destroy")
    report = reply.body["checks"]["report"]
    assert plan["target_url"] == f"{DASH}/forge/reports/{report}" and report.startswith("p-")
    assert hooked.main == before, "a branch is checked, never taken"

    page = http("GET", f"{hooked.served.url}/forge/reports/{report}", headers=session_headers(hooked.served))
    assert page.status == 200 and "+ coder: create" in str(page.body) and sha in str(page.body)
    anonymous = http("GET", f"{hooked.served.url}/forge/reports/{report}")
    assert anonymous.status == 401, "the report is behind the dashboard's login"


def test_a_broken_branch_fails_naming_the_file_and_the_field(hooked: Hooked) -> None:
    sha, reply = hooked.push("typo", "agents/coder.json", json.dumps({"name": "coder", "modle": "opus"}))
    assert reply.status == 202, reply.body
    valid = wait_for("hive/validate", lambda: hooked.forge.status_of(sha, "hive/validate"))
    assert valid["status"] == "failure"
    assert valid["description"].startswith("agents/coder.json: $.modle: unknown field 'modle'")
    assert "fix:" in valid["description"]
    plan = wait_for("hive/plan", lambda: hooked.forge.status_of(sha, "hive/plan"))
    assert (plan["status"], plan["description"]) == ("failure", "no plan: hive/validate failed")
    full = http(
        "GET", valid["target_url"].replace(DASH, hooked.served.url), headers=session_headers(hooked.served)
    )
    assert full.status == 200 and "unknown field" in str(full.body) and "did you mean" in str(full.body)


def _one_comment(forge: ForgejoStandIn, pr: int, sha: str) -> dict[str, Any]:
    def edited() -> Any:
        found = forge.comments_on(pr)
        return found if found and sha[:12] in found[-1]["body"] else None

    found = wait_for(f"the plan comment for {sha[:12]}", edited)
    assert len(found) == 1, [c["body"][:80] for c in found]
    return dict(found[0])


def test_a_pull_request_gets_one_plan_comment_edited_on_each_push(hooked: Hooked) -> None:
    forge = hooked.forge
    first = forge.commit("add-coder", "agents/coder.json", CODER, "add coder")
    pr = forge.open_pull("add-coder", "Add a coder")
    opened = hooked.send("pull_request", forge.pull_payload(pr, "opened"), delivery="d-opened")
    assert opened.status == 202 and opened.body["pull"] == pr, opened.body
    comment = _one_comment(forge, pr, first)
    plan_id = opened.body["checks"]["report"]
    assert comment["body"].startswith("<!-- hyperhive:plan -->")
    assert f"Plan `{plan_id}` of revision `{first}`" in comment["body"]
    assert "```\nhyperhive will perform the following actions" in comment["body"]
    assert "Plan: 2 to create, 0 to change, 0 to destroy." in comment["body"]
    wait_for("the statuses", lambda: forge.status_of(first, "hive/plan"))

    second = forge.commit("add-coder", "agents/reviewer.json", REVIEWER, "and a reviewer")
    synced = hooked.send("pull_request", forge.pull_payload(pr, "synchronized"))
    assert synced.status == 202 and synced.body["fetched"] == second
    edited = _one_comment(forge, pr, second)
    assert edited["id"] == comment["id"], "edited in place, not a second comment"
    assert "Plan: 3 to create" in edited["body"] and synced.body["checks"]["report"] != plan_id
    wait_for("the new statuses", lambda: forge.status_of(second, "hive/plan"))
    methods = [c.method for c in forge.calls if "/comments" in c.path]
    assert methods.count("POST") == 1 and methods.count("PATCH") == 1


def test_forged_replayed_and_out_of_order_deliveries_change_nothing(hooked: Hooked) -> None:
    forge = hooked.forge
    first = forge.commit("add-coder", "agents/coder.json", CODER, "add coder")
    pr = forge.open_pull("add-coder", "Add a coder")
    old_payload = forge.pull_payload(pr, "opened")
    forged = hooked.send("pull_request", old_payload, delivery="d-1", secret="not-the-secret-at-all")
    assert forged.status == 401 and forge.calls == []
    assert MetaRepo(hooked.served.layout.meta).head(f"refs/forge/pull/{pr}") is None, "nothing fetched"

    assert hooked.send("pull_request", old_payload, delivery="d-1").status == 202, "the id was not used up"
    _one_comment(forge, pr, first)
    wait_for("the statuses", lambda: forge.status_of(first, "hive/plan"))
    replay = hooked.send("pull_request", old_payload, delivery="d-1")
    assert replay.status == 202 and replay.body["duplicate"] is True

    second = forge.commit("add-coder", "agents/reviewer.json", REVIEWER, "and a reviewer")
    assert hooked.send("pull_request", forge.pull_payload(pr, "synchronized")).status == 202
    _one_comment(forge, pr, second)
    wait_for("the new statuses", lambda: forge.status_of(second, "hive/plan"))
    settled = len(forge.calls)
    late = hooked.send("pull_request", old_payload, delivery="d-late")  # the first push's, arriving last
    assert late.status == 202 and late.body["fetched"] == second, (
        "the head is fetched, not taken from the body"
    )
    assert late.body["checks"]["queued"] == []
    time.sleep(0.5)  # give a wrongly queued call the chance to go out
    assert len(forge.calls) == settled, "nothing sent again"
    assert second[:12] in forge.comments_on(pr)[0]["body"]
    assert len(forge.statuses[first]) == 2, "the old head's statuses are not touched"


def test_with_the_forge_down_main_is_followed_and_statuses_arrive_later(hooked: Hooked) -> None:
    forge, served = hooked.forge, hooked.served
    forge.stop()
    before = hooked.main
    sha, reply = hooked.push("main", "agents/coder.json", CODER)
    assert reply.status == 202 and reply.body["main"]["moved"] is True, reply.body
    assert hooked.main == sha and [type(r).__name__ for r in hooked.operator.asked] == ["ReconcileNow"]
    assert before != sha

    failed = wait_for(
        "a failed call", lambda: [e for e in served.feed.read_since(0) if e.kind == "forge_call_failed"]
    )
    assert "cannot reach Forgejo" in failed[0].error and failed[0].key.startswith(f"status:{sha}:")
    forge.start()
    valid = wait_for("hive/validate once Forgejo is back", lambda: forge.status_of(sha, "hive/validate"))
    plan = wait_for("hive/plan once Forgejo is back", lambda: forge.status_of(sha, "hive/plan"))
    assert valid["status"] == "success" and plan["description"] == "2 to create, 0 to change, 0 to destroy"
