"""The dashboard over a real reconciler: status, the live plan, logs, kept state and purge.

The reconciler runs in-process on the dashboard's loop with the local
runtime, launching the fake agent (`tests/seams/fake_agent.py`, the
reconciler's test seam for the harness); see ``with_rec`` in the conftest.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.loop import Reconciler
from reconciler.runtime import procs
from tests.web.conftest import Served, browser_headers, http, open_dashboard, screenshot, session_headers

pytestmark = pytest.mark.slow


def _apply(served: Served, rec: Reconciler) -> None:
    served.call(rec.apply_once)


def _open(page: Any, served: Served, section: str) -> None:
    open_dashboard(page, served, f"/#{section}")
    page.wait_for_selector("#live[data-state=live]")


def test_plan_then_ready_then_model_edit_shows_the_diff(
    with_rec: tuple[Served, Reconciler], page: Any
) -> None:
    served, rec = with_rec
    _open(page, served, "plan")
    row = page.locator("#plan-table tr[data-plan=coder]")
    row.wait_for()
    assert "create" in row.inner_text()
    _apply(served, rec)
    page.click("#nav a[data-section=swarm]")
    ready = page.locator("#swarm-table tr[data-agent=coder] [data-ready=true]")
    ready.wait_for()
    assert "Deployed" in ready.inner_text()
    page.click("#swarm-table tr[data-agent=coder] [data-edit]")
    page.fill("#edit-agent-form input[name=model]", "opus")
    page.click("#edit-agent-form button[type=submit]")
    page.locator("#edit-agent-form").wait_for(state="hidden")
    page.click("#nav a[data-section=plan]")
    page.locator("#plan-table tr[data-plan=coder]", has_text="model: sonnet → opus").wait_for()
    screenshot(page, "plan")
    _apply(served, rec)
    page.click("#nav a[data-section=swarm]")
    revision = served.repo.load().revision
    page.wait_for_function(
        "rev => { const r = window.hive.state().agents.find(a => a.name === 'coder');"
        " return r.status && r.status.applied_revision === rev; }",
        arg=revision,
    )
    assert page.locator("#swarm-table tr[data-agent=coder] [data-ready=true]").count() == 1
    screenshot(page, "swarm-status")


def test_a_description_edit_shows_as_metadata_only_and_restarts_nothing(
    with_rec: tuple[Served, Reconciler], page: Any
) -> None:
    served, rec = with_rec
    _apply(served, rec)
    pid = procs.scan(procs.root_key(served.layout.root))["coder"]
    _open(page, served, "swarm")
    page.click("#swarm-table tr[data-agent=coder] [data-edit]")
    page.fill("#edit-agent-form input[name=description]", "writes and reviews the code")
    page.click("#edit-agent-form button[type=submit]")
    page.locator("#edit-agent-form").wait_for(state="hidden")
    page.click("#nav a[data-section=plan]")
    row = page.locator("#plan-table tr[data-plan=coder]", has_text="metadata only, no restart")
    row.wait_for()
    assert "description: writes the code → writes and reviews the code" in row.inner_text()
    summary = page.locator("#plan-summary")
    assert summary.inner_text().startswith("Plan: 0 to create, 1 to change (1 metadata only), 0 to destroy.")
    _apply(served, rec)
    assert procs.scan(procs.root_key(served.layout.root))["coder"] == pid


def test_logs_and_kept_state_purge(with_rec: tuple[Served, Reconciler], page: Any) -> None:
    served, rec = with_rec
    _apply(served, rec)
    config = http("GET", f"{served.url}/api/agents/coder/config", headers=session_headers(served)).body
    assert config["rendered"], "the config viewer shows what the runtime was handed"
    assert any('"coder"' in text for text in config["rendered"].values())
    state_dir = served.layout.agent_state("coder")
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "notes.md").write_text("remember the milk\n")
    _open(page, served, "swarm")
    page.click("#swarm-table tr[data-agent=coder] [data-logs]")
    page.locator("#viewer pre.log").wait_for()
    assert page.locator("#viewer [data-log-scope]").count() == 0, "the local runtime has one log: no picker"
    page.once("dialog", lambda d: d.accept())
    page.click("#swarm-table tr[data-agent=coder] [data-action=destroy]")
    page.locator("#swarm-table tr[data-agent=coder]").wait_for(state="detached")
    _apply(served, rec)
    page.click("#nav a[data-section=kept]")
    kept = page.locator("#kept-table tr[data-kept=coder]")
    kept.wait_for()
    assert "notes.md" in kept.inner_text() or "state/" in kept.inner_text()
    screenshot(page, "kept")
    before = served.repo.head()
    wrong = http(
        "POST", f"{served.url}/api/kept/coder/purge", {"confirm": "nope"}, headers=browser_headers(served)
    )
    assert wrong.status == 400
    assert "type the agent's name" in wrong.error
    assert state_dir.exists()
    messages: list[str] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept("coder")

    page.once("dialog", answer)
    kept.locator("[data-purge]").click()
    page.locator("#kept-table tr[data-kept=coder]").wait_for(state="detached", timeout=20_000)
    assert "deletes" in messages[0] and "for good" in messages[0]
    assert not served.layout.agent_dir("coder").exists()
    assert served.repo.head() == before


def test_revive_is_a_proposal(with_rec: tuple[Served, Reconciler]) -> None:
    served, rec = with_rec
    _apply(served, rec)
    removed = http("POST", f"{served.url}/api/agents/coder/destroy", headers=browser_headers(served))
    assert removed.status == 200
    _apply(served, rec)
    proposal = http("POST", f"{served.url}/api/kept/coder/revive", headers=browser_headers(served))
    assert proposal.status == 201, proposal.body
    assert proposal.body["status"] == "pending"
    assert "coder" not in served.repo.load().state.agents
    ghost = http("POST", f"{served.url}/api/kept/ghost/revive", headers=browser_headers(served))
    assert ghost.status == 404
