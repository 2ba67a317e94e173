"""Editing desired state from the dashboard: forms, row actions, approvals — and refusals."""

from __future__ import annotations

import json
from typing import Any

from desired import proposals
from desired.changes import apply_changes
from desired.repo import Author
from hive_kit.changes import ChangeSet, SetAgentField
from tests.conftest import HiveRunner
from tests.web.conftest import Served, browser_headers, http, session_headers


def post(served: Served, path: str, body: Any = None) -> Any:
    return http("POST", served.url + path, body if body is not None else {}, headers=browser_headers(served))


def test_add_agent_commits_as_the_operator(dashboard: Served) -> None:
    reply = post(
        dashboard, "/api/agents", {"name": "coder", "model": "opus", "recipients": "manager, operator"}
    )
    assert reply.status == 201, reply.body
    snap = dashboard.repo.load()
    coder = snap.state.agents["coder"]
    assert coder.model == "opus"
    assert coder.allowed_recipients == ("manager", "operator")
    head = dashboard.repo.resolve("main")
    assert head.author.name == "operator"
    assert head.message.strip() == "add agent coder"


def test_form_problems_are_the_cli_messages(dashboard: Served, hive: HiveRunner) -> None:
    """The same bad input gives the same problems in the dashboard as on the command line."""
    state_dir = str(dashboard.layout.root)
    for fields, argv in (
        ({"name": "Bad_Name"}, ["agent", "add", "Bad_Name"]),
        ({"name": "averyveryverylongname"}, ["agent", "add", "averyveryverylongname"]),
        ({"name": "x1", "recipients": "ghost"}, ["agent", "add", "x1", "--recipients", "ghost"]),
        ({"name": "x2", "state": "sleeping"}, ["agent", "add", "x2", "--state", "sleeping"]),
    ):
        before = dashboard.repo.head()
        reply = post(dashboard, "/api/agents", fields)
        assert reply.status == 422, reply.body
        cli = hive(*argv, "--state-dir", state_dir, state=False)
        assert cli.returncode == 1
        cli_text = " ".join(cli.stderr.split())
        for problem in reply.body["problems"]:
            assert " ".join(problem["text"].split()) in cli_text
        assert dashboard.repo.head() == before


def test_set_field_and_refusals(dashboard: Served) -> None:
    assert post(dashboard, "/api/agents", {"name": "coder"}).status == 201
    ok = post(dashboard, "/api/agents/coder/set", {"field": "model", "value": "haiku"})
    assert ok.status == 200, ok.body
    assert dashboard.repo.load().state.agents["coder"].model == "haiku"
    back = post(dashboard, "/api/agents/coder/set", {"field": "model", "value": ""})
    assert back.status == 200
    assert dashboard.repo.load().state.agents["coder"].model is None
    before = dashboard.repo.head()
    unknown = post(dashboard, "/api/agents/ghost/set", {"field": "model", "value": "opus"})
    assert unknown.status == 404
    assert "no agent named 'ghost'" in unknown.error
    field = post(dashboard, "/api/agents/coder/set", {"field": "modle", "value": "opus"})
    assert field.status == 400
    assert "unknown agent field 'modle'" in field.error
    recipients = post(dashboard, "/api/agents/coder/set", {"field": "allowed_recipients", "value": "ghost"})
    assert recipients.status == 422
    assert "ghost" in recipients.error
    shape = post(dashboard, "/api/agents/coder/set", {"value": "x"})
    assert shape.status == 400
    assert "field" in shape.error
    not_json = http(
        "POST", dashboard.url + "/api/agents/coder/set", raw=b"{nope", headers=browser_headers(dashboard)
    )
    assert not_json.status == 400
    assert "not valid JSON" in not_json.error
    assert dashboard.repo.head() == before


def test_row_actions_edit_desired_state(dashboard: Served) -> None:
    assert post(dashboard, "/api/agents", {"name": "coder"}).status == 201
    for action, check in (
        ("stop", lambda s: s.state.value == "stopped"),
        ("start", lambda s: s.state.value == "running"),
        ("suspend", lambda s: s.suspended),
        ("resume", lambda s: not s.suspended),
    ):
        reply = post(dashboard, f"/api/agents/coder/{action}")
        assert reply.status == 200, reply.body
        assert check(dashboard.repo.load().state.agents["coder"]), action
    again = post(dashboard, "/api/agents/coder/resume")
    assert again.body["changed"] is False
    before = dashboard.repo.head()
    assert post(dashboard, "/api/agents/coder/explode").status == 400
    manager = post(dashboard, "/api/agents/manager/destroy")
    assert manager.status == 400
    assert "is the manager" in manager.error
    assert dashboard.repo.head() == before
    assert post(dashboard, "/api/agents/coder/destroy").status == 200
    assert "coder" not in dashboard.repo.load().state.agents


def _propose(served: Served, model: str) -> int:
    change = ChangeSet(ops=[SetAgentField(name="manager", field="model", value=model)])
    proposal = proposals.propose(
        served.repo,
        lambda s: apply_changes(s, change),
        author=Author("manager", "manager@hyperhive.local"),
        description=f"manager on {model}",
    )
    return proposal.id


def test_approve_and_deny(dashboard: Served) -> None:
    first, second = _propose(dashboard, "opus"), _propose(dashboard, "haiku")
    state = http("GET", dashboard.url + "/api/state", headers=session_headers(dashboard)).body
    assert [p["id"] for p in state["approvals"]["pending"]] == [first, second]
    assert '+  "model": "opus"' in state["approvals"]["pending"][0]["diff"]
    approved = post(dashboard, f"/api/approvals/{first}/approve")
    assert approved.status == 200, approved.body
    assert dashboard.repo.load().state.agents["manager"].model == "opus"
    twice = post(dashboard, f"/api/approvals/{first}/approve")
    assert twice.status == 400
    assert "already approved" in twice.error
    denied = post(dashboard, f"/api/approvals/{second}/deny", {"note": "stay on opus"})
    assert denied.status == 200
    assert proposals.get(dashboard.repo, second).resolution.note == "stay on opus"  # type: ignore[union-attr]
    missing = post(dashboard, "/api/approvals/999/approve")
    assert missing.status == 404
    assert post(dashboard, "/api/approvals/abc/approve").status == 400
    history = http("GET", dashboard.url + "/api/state", headers=session_headers(dashboard)).body["approvals"][
        "history"
    ]
    assert [(p["id"], p["status"]) for p in history][:2] == [(second, "denied"), (first, "approved")]


def test_history_lists_commits_with_diffs(dashboard: Served) -> None:
    assert post(dashboard, "/api/agents", {"name": "coder", "model": "opus"}).status == 201
    commits = http("GET", dashboard.url + "/api/history?limit=5", headers=session_headers(dashboard)).body[
        "commits"
    ]
    assert commits[0]["message"] == "add agent coder"
    assert commits[0]["author"] == "operator"
    detail = http(
        "GET", f"{dashboard.url}/api/history/{commits[0]['revision']}", headers=session_headers(dashboard)
    ).body
    assert '+  "model": "opus"' in detail["diff"]
    assert http("GET", dashboard.url + "/api/history/zzz", headers=session_headers(dashboard)).status == 404
    assert (
        http("GET", dashboard.url + "/api/history?limit=0", headers=session_headers(dashboard)).status == 400
    )


def test_agent_config(dashboard: Served) -> None:
    config = http(
        "GET", dashboard.url + "/api/agents/manager/config", headers=session_headers(dashboard)
    ).body
    assert config["desired"]["role"] == "manager"
    assert json.dumps(config)  # plain JSON
    assert (
        http("GET", dashboard.url + "/api/agents/ghost/config", headers=session_headers(dashboard)).status
        == 404
    )
