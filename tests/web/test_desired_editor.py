"""The whole-document desired-state editor: read, preview (diff + plan), apply on one revision, refusals.

The HTTP tests run the dashboard over a real meta repo; the browser tests add
the real reconciler with the local runtime and the fake agent (the fixtures
of `test_recon`), so "apply" is followed by a real deploy. `hive agent list`
is the real CLI reading the same meta repo.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from desired import proposals
from desired.edit import document_text
from reconciler.loop import Reconciler
from tests.conftest import subprocess_env
from tests.web.conftest import Served, browser_headers, http, open_dashboard, screenshot, session_headers

EDIT = "/api/desired"


def post(served: Served, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return http(
        "POST", served.url + path, body, headers=browser_headers(served) if headers is None else headers
    )


def doc(served: Served) -> tuple[str, dict[str, Any]]:
    got = http("GET", served.url + EDIT, headers=session_headers(served)).body
    return got["revision"], json.loads(got["text"])


def edit(served: Served, change: Any) -> dict[str, Any]:
    revision, document = doc(served)
    change(document)
    return {"revision": revision, "text": json.dumps(document, indent=2)}


def agent_list(served: Served) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "hive", "agent", "list", "--json", "--state-dir", str(served.layout.root)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=True,
    )
    return list(json.loads(done.stdout)["agents"])


def test_the_document_is_the_cli_one_at_its_revision(dashboard: Served) -> None:
    got = http("GET", dashboard.url + EDIT, headers=session_headers(dashboard)).body
    snap = dashboard.repo.load()
    assert got["revision"] == snap.revision
    assert got["text"] == document_text(snap.state)
    assert set(json.loads(got["text"])) == {"hive.json", "agents"}


def test_preview_shows_the_diff_and_writes_nothing(dashboard: Served) -> None:
    before = dashboard.repo.head()
    body = edit(dashboard, lambda d: d["agents"]["manager"].update(model="opus"))
    reply = post(dashboard, EDIT + "/preview", body)
    assert reply.status == 200, reply.body
    assert reply.body["changed"] == ["agents/manager.json"]
    assert '-  "model": null,' in reply.body["diff"] and '+  "model": "opus",' in reply.body["diff"]
    assert reply.body["stale"] is False
    assert reply.body["plan"] is None and "reconciler" in reply.body["plan_note"]
    assert dashboard.repo.head() == before


def test_apply_commits_as_the_operator_on_that_revision(dashboard: Served) -> None:
    body = edit(dashboard, lambda d: d["agents"]["manager"].update(model="haiku"))
    reply = post(dashboard, EDIT + "/apply", {**body, "message": "manager on haiku"})
    assert reply.status == 200, reply.body
    head = dashboard.repo.resolve("main")
    assert reply.body["changed"] is True and reply.body["revision"] == str(head.id)
    assert head.author.name == "operator" and head.message.strip() == "manager on haiku"
    assert [str(p) for p in head.parent_ids] == [body["revision"]]
    assert dashboard.repo.load().state.agents["manager"].model == "haiku"

    stale = post(dashboard, EDIT + "/apply", body)  # the same edit, made against the old revision
    assert stale.status == 409, stale.body
    assert "desired state changed since you opened it" in stale.error
    assert stale.body["main"] == str(head.id) and '+  "model": "haiku"' in stale.body["moved"]
    assert dashboard.repo.resolve("main").id == head.id

    again = post(dashboard, EDIT + "/apply", edit(dashboard, lambda d: None))
    assert again.status == 200 and again.body["changed"] is False


def test_propose_instead_leaves_main_alone(dashboard: Served) -> None:
    before = dashboard.repo.head()
    body = edit(dashboard, lambda d: d["agents"]["manager"].update(description="runs the show"))
    reply = post(dashboard, EDIT + "/apply", {**body, "propose": True, "message": "reword the manager"})
    assert reply.status == 201, reply.body
    made = proposals.get(dashboard.repo, reply.body["proposed"]["id"])
    assert made.description == "reword the manager" and made.author.startswith("operator")
    assert proposals.proposed_state(dashboard.repo, made).agents["manager"].description == "runs the show"
    assert dashboard.repo.head() == before
    nothing = post(dashboard, EDIT + "/apply", {**edit(dashboard, lambda d: None), "propose": True})
    assert nothing.status == 400 and "changes nothing" in nothing.error


def _second_manager(d: dict[str, Any]) -> None:
    d["agents"]["boss"] = {"name": "boss", "role": "manager"}


def _unknown_field(d: dict[str, Any]) -> None:
    d["agents"]["manager"]["modle"] = "opus"


def test_refusals_name_the_problem_and_change_nothing(dashboard: Served) -> None:
    before, agents = dashboard.repo.head(), agent_list(dashboard)
    revision, _ = doc(dashboard)
    broken = post(dashboard, EDIT + "/preview", {"revision": revision, "text": '{\n  "agents": {,}\n}'})
    assert broken.status == 400, broken.body
    assert "line 2 column 14" in broken.error and broken.body["problems"][0]["file"] == "desired-state.json"
    twice = post(dashboard, EDIT + "/apply", {"revision": revision, "text": '{"agents": {}, "agents": {}}'})
    assert twice.status == 422 and "'agents' appears twice" in twice.body["problems"][0]["message"]

    for change, file, words in (
        (_unknown_field, "agents/manager.json", "unknown field 'modle'"),
        (_second_manager, "agents/", "manager"),
    ):
        for path in ("/preview", "/apply"):
            reply = post(dashboard, EDIT + path, edit(dashboard, change))
            assert reply.status == 422, reply.body
            found = [
                p for p in reply.body["problems"] if p["file"].startswith(file) and words in p["message"]
            ]
            assert found and found[0]["fix"], reply.body["problems"]

    shapes = (
        ({"revision": "main", "text": "{}"}, 400, "revision"),
        ({"revision": "0" * 40, "text": "{}"}, 404, "no revision"),
        ({"revision": revision}, 400, "text"),
        ({"revision": revision, "text": "{}", "extra": 1}, 400, "extra"),
    )
    for body, status, words in shapes:
        reply = post(dashboard, EDIT + "/apply", body)
        assert reply.status == status and words in reply.error, (body, reply.body)
    huge = post(dashboard, EDIT + "/apply", {"revision": revision, "text": " " * (300 * 1024)})
    assert huge.status == 413, huge.body
    not_json = http("POST", dashboard.url + EDIT + "/apply", raw=b"{nope", headers=browser_headers(dashboard))
    assert not_json.status == 400 and "not valid JSON" in not_json.error

    body = edit(dashboard, lambda d: d["agents"]["manager"].update(model="opus"))
    no_csrf = post(
        dashboard, EDIT + "/apply", body, headers={"Origin": dashboard.url, **session_headers(dashboard)}
    )
    assert no_csrf.status == 403 and "CSRF" in no_csrf.error
    foreign = post(
        dashboard, EDIT + "/apply", body, headers={**browser_headers(dashboard), "Origin": "http://evil"}
    )
    assert foreign.status == 403
    assert dashboard.repo.head() == before and agent_list(dashboard) == agents


# ---- in Chromium, over the real reconciler ------------------------------------------------------


def _open(page: Any, served: Served) -> None:
    open_dashboard(page, served, "/#desired")
    page.wait_for_selector("#live[data-state=live]")
    page.wait_for_function("() => document.getElementById('desired-text').value.includes('coder')")


def _rewrite(page: Any, js: str) -> None:
    """Change the parsed document with ``js`` and put it back in the textarea, as typing would."""
    page.eval_on_selector(
        "#desired-text",
        "(el, js) => { const d = JSON.parse(el.value); eval(js)(d); el.value = JSON.stringify(d, null, 2);"
        " el.dispatchEvent(new Event('input')); }",
        js,
    )


def _ready_at(page: Any, revision: str) -> None:
    page.wait_for_function(
        "rev => { const r = window.hive.state().agents.find(a => a.name === 'coder');"
        " return r.status && r.status.applied_revision === rev; }",
        arg=revision,
        timeout=30_000,
    )


@pytest.mark.slow
def test_edit_preview_apply_in_the_browser(with_rec: tuple[Served, Reconciler], page: Any) -> None:
    served, rec = with_rec
    served.call(rec.apply_once)
    _open(page, served)
    revision = served.repo.load().revision
    assert page.inner_text("#desired-revision") == f"read at {revision[:10]}"
    assert page.is_disabled("#desired-apply"), "no apply before a preview"

    _rewrite(page, "d => { d.agents.coder.model = 'opus'; }")
    page.click("#desired-preview-btn")
    row = page.locator("#desired-plan tr[data-plan=coder]")
    row.wait_for()
    assert "update" in row.inner_text() and "model: sonnet → opus" in row.inner_text()
    assert "agents/coder.json" in page.inner_text("#desired-preview pre.diff")
    assert served.repo.load().revision == revision, "a preview writes nothing"
    screenshot(page, "desired-editor")

    page.click("#desired-apply")
    page.locator(".toast", has_text="committed").wait_for()
    snap = served.repo.load()
    assert snap.state.agents["coder"].model == "opus" and snap.revision != revision
    assert served.repo.resolve("main").author.name == "operator"
    page.wait_for_function(
        "rev => document.getElementById('desired-revision').dataset.revision === rev", arg=snap.revision
    )
    served.call(rec.apply_once)
    _ready_at(page, snap.revision)
    page.click("#nav a[data-section=swarm]")
    page.locator("#swarm-table tr[data-agent=coder] [data-ready=true]").wait_for()
    coder = next(a for a in agent_list(served) if a["name"] == "coder")
    assert coder["model"] == "opus"


def _reload(page: Any, gone: str) -> None:
    """Reload the document and wait until the fetched text has replaced the edit containing ``gone``.

    The click returns before the fetch lands; editing before it does would be overwritten by it
    (under CI load that made the edit vanish and the stale-revision banner never show).
    """
    page.click("#desired-reload")
    page.wait_for_function("t => !document.getElementById('desired-text').value.includes(t)", arg=gone)


@pytest.mark.slow
def test_errors_and_a_stale_revision_in_the_browser(with_rec: tuple[Served, Reconciler], page: Any) -> None:
    served, _rec = with_rec
    before, agents = served.repo.head(), agent_list(served)
    _open(page, served)

    page.fill(
        "#desired-text", '{\n  "hive.json": {},\n  "agents": {\n    "coder": {"model": "opus",}\n  }\n}\n'
    )
    page.click("#desired-preview-btn")
    problem = page.locator("#desired-problems li").first
    problem.wait_for()
    assert "line 4 column 31" in problem.inner_text()
    assert page.get_attribute("#desired-text", "aria-invalid") == "true"

    _reload(page, gone='"opus",}')
    _rewrite(page, "d => { d.agents.coder.modle = 'opus'; d.agents.boss = {name: 'boss', role: 'manager'}; }")
    page.click("#desired-preview-btn")
    page.locator("#desired-problems li", has_text="unknown field 'modle'").wait_for()
    texts = page.locator("#desired-problems li").all_inner_texts()
    assert any("agents/coder.json: $.modle" in t and "fix:" in t for t in texts), texts
    assert any("manager" in t and "agents/boss.json" in t for t in texts), texts
    assert page.is_disabled("#desired-apply")
    screenshot(page, "desired-editor-problems")
    assert served.repo.head() == before and agent_list(served) == agents

    # A valid edit, previewed; then someone else commits (the CLI) before it is applied.
    _reload(page, gone="modle")
    _rewrite(page, "d => { d.agents.coder.description = 'from the editor'; }")
    page.click("#desired-preview-btn")
    page.locator("#desired-plan").wait_for()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hive",
            "agent",
            "set",
            "coder",
            "model",
            "haiku",
            "--state-dir",
            str(served.layout.root),
        ],
        env=subprocess_env(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    moved = served.repo.head()
    page.locator("#desired-moved", has_text="main moved").wait_for()
    page.click("#desired-apply")
    page.locator("#desired-problems li", has_text="desired state changed since you opened it").wait_for()
    assert '+  "model": "haiku"' in page.inner_text("#desired-preview pre.diff")
    assert served.repo.head() == moved
    assert served.repo.load().state.agents["coder"].description == "writes the code"
