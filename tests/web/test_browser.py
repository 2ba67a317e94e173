"""The dashboard in Chromium: what the operator sees and does, live, without reloading."""

from __future__ import annotations

from typing import Any

import pytest

from desired import proposals
from desired.changes import apply_changes
from desired.repo import Author
from hive_core.events import MessageSent
from hive_kit.changes import AddAgent, ChangeSet
from tests.web.conftest import Served, http, open_dashboard, screenshot, serve, session_headers

pytestmark = pytest.mark.slow
MANAGER = Author("manager", "manager@hyperhive.local")


def _commit(served: Served, agent: dict[str, Any]) -> None:
    change = ChangeSet(ops=[AddAgent(agent=agent)])
    served.repo.commit(lambda s: apply_changes(s, change), author=MANAGER, message=f"add {agent['name']}")


def _propose(served: Served, agent: dict[str, Any], why: str) -> int:
    change = ChangeSet(ops=[AddAgent(agent=agent)])
    return proposals.propose(
        served.repo, lambda s: apply_changes(s, change), author=MANAGER, description=why
    ).id


def _note(n: int) -> MessageSent:
    return MessageSent(id=n, sender="coder", recipient="operator", preview=f"note {n}")


def _open(page: Any, served: Served, section: str = "swarm") -> None:
    open_dashboard(page, served, f"/#{section}")
    page.wait_for_selector("#live[data-state=live]")


def test_proposal_appears_live_and_approving_adds_the_agent(dashboard: Served, page: Any) -> None:
    _commit(
        dashboard,
        {
            "name": "coder",
            "model": "opus",
            "allowed_recipients": ["manager"],
            "description": "writes the code",
        },
    )
    _open(page, dashboard, "decisions")
    assert page.locator("#approvals-body").inner_text().strip() == "no pending proposals"
    pid = _propose(
        dashboard,
        {"name": "reviewer", "model": "haiku", "description": "reviews diffs"},
        "add a reviewer for coder's diffs",
    )
    card = page.locator(f"article[data-proposal='{pid}']")
    card.wait_for()
    assert '"name": "reviewer"' in card.locator("pre.diff").inner_text()
    assert page.locator("#count-decisions").inner_text() == "1"
    screenshot(page, "approvals")
    card.locator("[data-approve]").click()
    card.wait_for(state="detached")
    page.click("#nav a[data-section=swarm]")
    row = page.locator("#swarm-table tr[data-agent=reviewer]")
    row.wait_for()
    assert "haiku" in row.inner_text()
    screenshot(page, "swarm")


def test_deny_sends_the_reason(dashboard: Served, page: Any) -> None:
    pid = _propose(dashboard, {"name": "spammer"}, "add a spammer")
    _open(page, dashboard, "decisions")
    card = page.locator(f"article[data-proposal='{pid}']")
    card.locator("input[name=note]").fill("we do not need one")
    card.locator("[data-deny]").click()
    card.wait_for(state="detached")
    resolved = proposals.get(dashboard.repo, pid)
    assert resolved.status is proposals.ProposalStatus.DENIED
    assert resolved.resolution is not None and resolved.resolution.note == "we do not need one"
    page.click("#approval-tabs [data-tab=history]")
    row = page.locator(f"#approvals-body tr[data-proposal='{pid}']")
    assert "we do not need one" in row.inner_text()
    row.click()
    page.locator("#approvals-body tr.detail pre.diff").wait_for()
    page.click("#approval-tabs [data-tab=pending]")


def test_add_agent_form_shows_the_cli_problems(dashboard: Served, page: Any) -> None:
    _open(page, dashboard)
    before = dashboard.repo.head()
    page.click("#add-agent summary")
    form = page.locator("#add-agent-form")
    form.locator("input[name=name]").fill("Bad_Name")
    form.locator("input[name=recipients]").fill("ghost")
    form.locator("button[type=submit]").click()
    problem = form.locator("[data-problems] li").first
    problem.wait_for()
    assert "agents/Bad_Name.json: $.name:" in problem.inner_text()
    screenshot(page, "add-agent-problems")
    assert dashboard.repo.head() == before
    form.locator("input[name=name]").fill("tester")
    form.locator("input[name=recipients]").fill("manager")
    form.locator("button[type=submit]").click()
    page.locator("#swarm-table tr[data-agent=tester]").wait_for()
    assert dashboard.repo.load().state.agents["tester"].allowed_recipients == ("manager",)


def test_editing_a_model_updates_the_row(dashboard: Served, page: Any) -> None:
    _commit(dashboard, {"name": "coder", "model": "opus"})
    _open(page, dashboard)
    page.click("#swarm-table tr[data-agent=coder] [data-edit]")
    form = page.locator("#edit-agent-form")
    form.locator("input[name=model]").fill("haiku")
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('#swarm-table tr[data-agent=coder]').innerText.includes('haiku')"
    )
    assert dashboard.repo.load().state.agents["coder"].model == "haiku"
    assert form.is_hidden()


def test_sse_drop_and_resume_loses_and_doubles_nothing(dashboard: Served, page: Any) -> None:
    _open(page, dashboard, "events")
    for n in range(5):
        dashboard.publish(_note(n))
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length === 5")
    dashboard.stop()
    page.wait_for_selector("#live[data-state=reconnecting]")
    for n in range(5, 12):
        dashboard.publish(_note(n))
    dashboard.restart()
    page.wait_for_selector("#live[data-state=live]")
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length >= 12")
    page.wait_for_timeout(300)  # a doubled event would arrive right behind the last one
    seqs = page.eval_on_selector_all("#events-table tbody tr", "rows => rows.map(r => +r.dataset.seq)")
    assert sorted(seqs) == list(range(1, 13))
    screenshot(page, "events")


def test_history_shows_commits_and_diffs(dashboard: Served, page: Any) -> None:
    _commit(dashboard, {"name": "coder", "model": "opus"})
    _open(page, dashboard, "history")
    first = page.locator("#history-table tbody tr").first
    first.wait_for()
    assert "add coder" in first.inner_text()
    assert "manager" in first.inner_text()
    first.click()
    diff = page.locator("#history-table tr.detail pre.diff")
    diff.wait_for()
    assert '"model": "opus"' in diff.inner_text()
    screenshot(page, "history")


def test_state_file_viewer_lists_and_refuses(dashboard: Served, page: Any) -> None:
    base = dashboard.layout.agent_state("manager")
    (base / "notes").mkdir(parents=True)
    (base / "notes" / "plan.md").write_text("1. approve the reviewer\n")
    _open(page, dashboard)
    page.click("#swarm-table tr[data-agent=manager] [data-files]")
    page.click("#viewer a[data-file=notes]")
    page.click("#viewer a[data-file='notes/plan.md']")
    page.wait_for_function(
        "() => document.querySelector('#viewer').innerText.includes('approve the reviewer')"
    )


class _InsecureRuntime:
    """A runtime that says its agents run unsandboxed, as LocalRuntime does under --insecure-sandbox.

    Stands in only for the runtime's answer: starting a real daemon with a broken sandbox
    is `tests/reconciler/test_sandbox.py`'s job; this checks the operator is shown it."""

    insecure_reason = "bubblewrap is not installed (apt install bubblewrap)"


def test_an_insecure_sandbox_is_a_banner_on_every_page(layout: Any, server_loop: Any, page: Any) -> None:
    from hive_web.readers.reconciler import ReconcilerLink

    link = ReconcilerLink(layout)
    link.attach(_InsecureRuntime())  # type: ignore[arg-type]
    served = serve(layout, server_loop, reconciler=link)
    try:
        state = http("GET", f"{served.url}/api/state", headers=session_headers(served)).body
        assert state["insecure_sandbox"].startswith("bubblewrap is not installed")
        _open(page, served)
        banner = page.locator("#insecure")
        banner.wait_for(state="visible")
        assert "WITHOUT their sandbox" in banner.inner_text()
        assert "apt install bubblewrap" in banner.inner_text()
        screenshot(page, "insecure-sandbox")
    finally:
        served.close()


def test_no_banner_when_agents_are_sandboxed(dashboard: Served, page: Any) -> None:
    state = http("GET", f"{dashboard.url}/api/state", headers=session_headers(dashboard)).body
    assert state["insecure_sandbox"] is None
    _open(page, dashboard)
    assert page.locator("#insecure").is_hidden()
