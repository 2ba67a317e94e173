"""Against a real `hive serve` with the local runtime: what the operator does in the browser.

The daemon runs as a subprocess with the dashboard on a free port and the
reconciler launching the fake agent (`tests/seams/fake_agent.py`, the
harness's test seam) in bubblewrap. Agents' requests are played by
`hive_kit.client.SyncClient` on their own sockets (identity = socket),
exactly as a harness talks to the host. State dirs live under
`test-artifacts/` because the sandbox mounts its own /tmp.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import apply_changes
from desired.repo import MetaRepo
from hive_kit import wire
from hive_kit.changes import AddAgent, ChangeSet
from hive_kit.client import SyncClient
from hive_kit.paths import StateLayout
from tests.reconciler.conftest import REPO_ROOT
from tests.web.conftest import TEST_AUTHOR, cli_login_link, log_in, login_with, running_hive_serve, screenshot

pytestmark = pytest.mark.slow


@dataclass
class Hive:
    layout: StateLayout
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, name: str) -> SyncClient:
        if name == "manager":
            return SyncClient(self.layout.manager_socket)
        return SyncClient(self.layout.agent_socket(name))


@pytest.fixture
def hive_serve() -> Iterator[Hive]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"web-serve-{uuid.uuid4().hex[:8]}")
    layout.root.mkdir(parents=True)
    repo, _ = init_meta_repo(layout.meta, TEST_AUTHOR)
    change = ChangeSet(ops=[AddAgent(agent={"name": "coder", "description": "writes the code"})])
    repo.commit(lambda s: apply_changes(s, change), author=TEST_AUTHOR, message="add coder")
    with running_hive_serve(layout) as (proc, url, log):
        yield Hive(layout, proc, url, log)


def _open(page: Any, hive: Hive, section: str) -> None:
    log_in(page, cli_login_link(hive.layout), f"/#{section}")
    page.wait_for_selector("#live[data-state=live]")


def test_serve_prints_a_login_link_and_never_the_token(hive_serve: Hive) -> None:
    text = hive_serve.log.read_text()
    token = (hive_serve.layout.root / "web-token").read_text().strip()
    assert token not in text
    assert f"dashboard token created in {hive_serve.layout.root / 'web-token'}" in text
    printed = re.search(r"log in: (http://127\.0\.0\.1:\d+/login\?code=\S+)", text)
    assert printed is not None, text
    login_with(printed.group(1))  # the printed link logs in, once
    from tests.web.conftest import http

    assert http("GET", printed.group(1)).status == 401, "a second use is refused"


def test_question_answered_in_the_browser_reaches_the_asker(hive_serve: Hive, page: Any) -> None:
    _open(page, hive_serve, "decisions")
    coder = hive_serve.client("coder")
    asked = coder.request(
        wire.Ask(
            question="Which database?", options=["postgres", "sqlite", "duckdb"], multi=True, ttl_seconds=900
        )
    )
    qid = asked.question.id
    card = page.locator(f"[data-question='{qid}']")
    card.wait_for()
    assert card.locator("input[type=checkbox]").count() == 3
    assert "expires in" in card.locator(".ttl").inner_text()
    card.locator("input[value=postgres]").check()
    card.locator("input[value=sqlite]").check()
    card.locator("input[name=free]").fill("sqlite for tests")
    screenshot(page, "question")
    card.locator("button[type=submit]").click()
    card.wait_for(state="detached")
    got = coder.request(wire.Recv(wait_seconds=10, max=5))
    bodies = " ".join(m.body for m in got.messages)
    assert "postgres, sqlite, sqlite for tests" in bodies
    coder.close()


def test_cancelling_a_question_tells_the_asker(hive_serve: Hive, page: Any) -> None:
    coder = hive_serve.client("coder")
    qid = coder.request(wire.Ask(question="Ship it?", options=["yes", "no"])).question.id
    _open(page, hive_serve, "decisions")
    card = page.locator(f"[data-question='{qid}']")
    assert card.locator("input[type=radio]").count() == 2
    page.once("dialog", lambda d: d.accept())
    card.locator("[data-cancel]").click()
    card.wait_for(state="detached")
    got = coder.request(wire.Recv(wait_seconds=10, max=5))
    assert any("cancelled" in m.body for m in got.messages)
    coder.close()


def test_messages_flow_both_ways(hive_serve: Hive, page: Any) -> None:
    _open(page, hive_serve, "messages")
    coder = hive_serve.client("coder")
    coder.request(wire.Send(to="operator", body="build is green"))
    page.locator("#inbox-table tbody tr", has_text="build is green").wait_for()
    page.locator("#flow-table tbody tr", has_text="build is green").wait_for()
    area = page.locator("#compose textarea")
    area.click()
    area.type("@co")
    page.locator("#mentions li[data-name=coder]").wait_for()
    page.keyboard.press("Enter")
    area.type("please rebase on main")
    assert area.input_value() == "@coder please rebase on main"
    screenshot(page, "messages")
    page.click("#compose button[type=submit]")
    got = coder.request(wire.Recv(wait_seconds=10, max=5))
    assert [m.body for m in got.messages] == ["please rebase on main"]
    assert got.messages[0].sender == "operator"
    page.locator("#flow-table tbody tr", has_text="please rebase on main").wait_for()
    coder.close()


def test_bad_inputs_against_the_daemon(hive_serve: Hive) -> None:
    from tests.web.conftest import http

    headers = login_with(cli_login_link(hive_serve.layout)).writes(hive_serve.url)
    unknown = http("POST", hive_serve.url + "/api/questions/999/answer", {"answer": "x"}, headers=headers)
    assert unknown.status == 404, unknown.body
    nobody = http("POST", hive_serve.url + "/api/messages", {"to": "ghost", "body": "hi"}, headers=headers)
    assert 400 <= nobody.status < 500
    assert "ghost" in nobody.error
    empty = http("POST", hive_serve.url + "/api/messages", {"to": "coder", "body": "  "}, headers=headers)
    assert empty.status == 400
    reminder = http("POST", hive_serve.url + "/api/reminders/42/cancel", headers=headers)
    assert reminder.status == 404


def test_reminders_cancel(hive_serve: Hive, page: Any) -> None:
    coder = hive_serve.client("coder")
    rid = coder.request(wire.Remind(message="check CI", delay_seconds=3600)).reminder.id
    _open(page, hive_serve, "reminders")
    row = page.locator(f"#reminders-table tr[data-reminder='{rid}']")
    assert "pending" in row.inner_text()
    row.locator("[data-cancel]").click()
    row.locator(".pill", has_text="cancelled").wait_for()
    coder.close()


def _ready(page: Any, name: str, timeout: float = 40_000) -> None:
    page.locator(f"#swarm-table tr[data-agent={name}] [data-ready=true]").wait_for(timeout=timeout)


def test_manager_proposal_appears_live_approving_it_brings_the_agent_to_ready(
    hive_serve: Hive, page: Any
) -> None:
    """Must show: a manager proposal appears live; approving it makes the agent appear and reach Ready."""
    _open(page, hive_serve, "decisions")
    manager = hive_serve.client("manager")
    pid = manager.request(wire.RequestSpawn(name="reviewer", description="reviews coder's diffs")).proposal_id
    card = page.locator(f"article[data-proposal='{pid}']")
    card.wait_for()
    assert '"name": "reviewer"' in card.locator("pre.diff").inner_text()
    card.locator("[data-approve]").click()
    card.wait_for(state="detached")
    page.click("#nav a[data-section=swarm]")
    page.locator("#swarm-table tr[data-agent=reviewer]").wait_for()
    _ready(page, "reviewer")
    assert "reviewer" in MetaRepo(hive_serve.layout.meta).load().state.agents
    screenshot(page, "swarm-live")
    manager.close()


def test_editing_a_model_shows_the_plan_diff_then_the_agent_updates(hive_serve: Hive, page: Any) -> None:
    """Must show: the form edit appears in the live plan as a diff, then the reconciler applies it."""
    _open(page, hive_serve, "swarm")
    _ready(page, "coder")
    page.click("#swarm-table tr[data-agent=coder] [data-edit]")
    page.fill("#edit-agent-form input[name=model]", "opus")
    page.click("#edit-agent-form button[type=submit]")
    page.click("#nav a[data-section=plan]")
    revision = MetaRepo(hive_serve.layout.meta).load().revision
    diff = page.locator("#plan-table tr[data-plan=coder]", has_text="model: sonnet → opus")
    done = page.locator("#plan-body tr", has_text="model changed sonnet → opus")
    page.wait_for_function(
        "rev => { const a = window.hive.state().agents.find(x => x.name === 'coder');"
        " return a.status && a.status.applied_revision === rev && a.effective_model === 'opus'; }",
        arg=revision,
        timeout=40_000,
    )
    # The plan row (before the pass) or the history row (after it) names the change.
    diff.or_(done).first.wait_for(timeout=20_000)
