"""Proposals as pull requests: opened in the forge, decided on either side, and never two mains.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here: its bare repo is what hyperhive pushes to and fetches
from, its API is what pyforgejo calls, and the tests play what a person does
in Forgejo's web UI (merge, close, comment) and the signed deliveries that
follow. Everything on our side is real: the dashboard on a real port, the
meta repo, `git push`/`git fetch`, the push gate, the outbox and its sender.
The host's proposal watch (part of the daemon, not started here) is stood in
for by publishing the same ``proposal_added``/``proposal_resolved`` events.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from desired import proposals
from desired.proposals import ProposalStatus
from desired.repo import Author, MetaRepo
from desired.schema import AgentSpec, DesiredState
from hive_core.events import ProposalAdded, ProposalResolved
from hive_kit.errors import ConflictError
from hive_kit.names import ProposalId
from hive_web import forge_pulls
from tests.forge.test_checks import DASH, Hooked, hooked, wait_for
from tests.web.conftest import http, session_headers
from tests.web.test_edits import post

__all__ = ["hooked"]  # the fixture, shared with test_checks
PROPOSER = Author(name="manager", email="manager@hive.local")


def propose(hooked: Hooked, name: str = "reviewer") -> int:
    """Propose adding an agent, as the manager's `propose` does, and publish the watch's event."""

    def add(state: DesiredState) -> DesiredState:
        agent = AgentSpec(name=name, model="sonnet", description=f"{name} of pull requests")
        return state.model_copy(update={"agents": {**state.agents, name: agent}})

    made = proposals.propose(
        MetaRepo(hooked.served.layout.meta), add, author=PROPOSER, description=f"add a {name}\n\nit reviews"
    )
    hooked.served.publish(ProposalAdded(id=int(made.id), author="manager", description=made.description))
    return int(made.id)


def opened(hooked: Hooked, pid: int) -> int:
    """Wait until proposal ``pid`` is a pull request in the forge; its number."""
    found = wait_for(
        f"proposal {pid}'s pull request",
        lambda: [p for p in hooked.forge.pulls.values() if p.head == f"proposals/{pid}"],
    )
    return int(found[0].number)


def proposal(hooked: Hooked, pid: int) -> proposals.Proposal:
    return proposals.get(MetaRepo(hooked.served.layout.meta), ProposalId(pid))


def send(hooked: Hooked, event: str, payload: dict[str, Any], **kw: Any) -> Any:
    return hooked.send(event, payload, **kw)


def calls(hooked: Hooked, check: Callable[[Any], bool]) -> list[Any]:
    return [c for c in hooked.forge.calls if check(c)]


def test_a_proposal_becomes_a_pull_request_with_its_plan_and_who_proposed_it(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    pr = hooked.forge.pulls[number]
    assert pr.by_api and pr.state == "open"
    assert hooked.forge.head(f"proposals/{pid}") == proposal(hooked, pid).commit
    assert pr.title == f"add a reviewer (proposal #{pid})"
    assert "proposed by manager <manager@hive.local>" in pr.body and "it reviews" in pr.body
    assert "+ create agent reviewer" in pr.body or "reviewer" in pr.body.split("```")[1]
    assert f"{DASH}/#decisions" in pr.body and "merging approves" in pr.body

    # Forgejo's "opened" delivery gets the checks and the plan comment, like any pull request
    reply = send(hooked, "pull_request", hooked.forge.pull_payload(number, "opened"))
    assert reply.status == 202, reply.body
    wait_for("the plan comment", lambda: hooked.forge.comments_on(number))

    # the dashboard's proposals view reads the link and the checks
    links = wait_for("the checks", lambda: _pulls(hooked).get(str(pid), {}).get("checks"))
    assert {c["context"] for c in links} == {"hive/validate", "hive/plan"}
    assert _pulls(hooked)[str(pid)]["url"].endswith(f"/pulls/{number}")

    # looking again (another proposal event) sends nothing new
    before = len(calls(hooked, lambda c: "/pulls" in c.path))
    hooked.served.publish(ProposalAdded(id=pid, author="manager", description="again"))
    time.sleep(1.0)
    assert len(calls(hooked, lambda c: "/pulls" in c.path)) == before


def _pulls(hooked: Hooked) -> dict[str, Any]:
    reply = http("GET", f"{hooked.served.url}/api/forge/pulls", headers=session_headers(hooked.served))
    assert reply.status == 200, reply.body
    return dict(reply.body["pulls"])


def test_merging_in_forgejo_approves_on_forgejos_own_commit(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    merge = hooked.forge.merge(number)
    payload = hooked.forge.closed_payload(number, login="alice")

    forged = send(hooked, "pull_request", payload, secret="not-the-secret")
    assert forged.status == 401 and proposal(hooked, pid).status is ProposalStatus.PENDING

    delivery = str(uuid.uuid4())
    reply = send(hooked, "pull_request", payload, delivery=delivery)
    assert reply.status == 202 and reply.body["approval"].startswith(f"proposal {pid} approved"), reply.body
    settled = proposal(hooked, pid)
    assert settled.status is ProposalStatus.APPROVED
    assert settled.resolution is not None and settled.resolution.commit == merge
    assert settled.resolution.by.startswith("alice (Forgejo)")
    assert f"merged in Forgejo as #{number} by alice" in settled.resolution.note
    assert hooked.main == merge == hooked.forge.head("main"), "one main, Forgejo's commit, no second merge"

    replay = send(hooked, "pull_request", payload, delivery=delivery)
    assert replay.status == 202 and replay.body.get("duplicate"), replay.body

    # the watch's proposal_resolved: nothing is sent back for a decision made in Forgejo
    hooked.served.publish(ProposalResolved(id=pid, status="approved", by="alice"))
    time.sleep(1.0)
    assert not calls(
        hooked, lambda c: c.path.endswith("/merge") or (c.method == "PATCH" and "/pulls/" in c.path)
    )


def test_closing_a_proposals_pull_request_denies_it_with_the_closing_comment(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    note = "not now: we need the budget first"
    assert send(hooked, "issue_comment", hooked.forge.comment_payload(number, note, "bob")).status == 202
    forged = hooked.forge.comment_payload(number, "approve everything", "bob")
    assert send(hooked, "issue_comment", forged, secret="guessed").status == 401
    hooked.forge.close(number)
    closing = hooked.forge.closed_payload(number, login="bob")
    assert send(hooked, "pull_request", closing, secret="guessed").status == 401
    assert proposal(hooked, pid).status is ProposalStatus.PENDING, "a forged close denies nothing"
    reply = send(hooked, "pull_request", closing)
    assert reply.status == 202 and reply.body["denial"] == f"proposal {pid} denied: {note}", reply.body
    denied = proposal(hooked, pid)
    assert denied.status is ProposalStatus.DENIED and denied.resolution is not None
    assert denied.resolution.note == note and denied.resolution.by.startswith("bob (Forgejo)")
    assert hooked.forge.head("main") == hooked.main, "main untouched on both sides"


def test_approving_in_the_dashboard_pushes_main_and_marks_the_pull_request_merged(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    approved = post(hooked.served, f"/api/approvals/{pid}/approve", {"note": "go"})
    assert approved.status == 200, approved.body
    hooked.served.publish(ProposalResolved(id=pid, status="approved", by="operator"))
    pr = wait_for(
        "the pull request merged", lambda: hooked.forge.pulls[number].merged and hooked.forge.pulls[number]
    )
    assert pr.merge_sha == hooked.main == hooked.forge.head("main"), "Forgejo's main is hyperhive's merge"
    assert proposal(hooked, pid).resolution.commit == pr.merge_sha  # type: ignore[union-attr]


def test_denying_here_closes_the_pull_request_with_the_note(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    denied = post(hooked.served, f"/api/approvals/{pid}/deny", {"note": "too many agents"})
    assert denied.status == 200, denied.body
    hooked.served.publish(ProposalResolved(id=pid, status="denied", by="operator"))
    wait_for("the pull request closed", lambda: hooked.forge.pulls[number].state == "closed")
    said = wait_for("the denial comment", lambda: hooked.forge.comments_on(number))
    assert "too many agents" in said[-1]["body"] and not hooked.forge.pulls[number].merged


def test_a_persons_pull_request_is_its_own_approval_and_a_branch_name_proves_nothing(hooked: Hooked) -> None:
    pid = propose(hooked)
    opened(hooked, pid)
    # someone opens a pull request from a branch they named like a proposal's
    sha = hooked.forge.commit("proposals/evil", "agents/coder.json", _agent("coder"), "add coder")
    number = hooked.forge.open_pull("proposals/evil", "add coder")
    merge = hooked.forge.merge(number)
    reply = send(hooked, "pull_request", hooked.forge.closed_payload(number))
    assert reply.status == 202 and "an approval of its own" in reply.body["approval"], reply.body
    assert hooked.main == merge and sha != merge
    assert proposal(hooked, pid).status is ProposalStatus.PENDING, "the proposal is not approved by it"


def test_a_merge_that_breaks_desired_state_is_refused_on_both_sides(hooked: Hooked) -> None:
    before = hooked.main
    hooked.forge.commit("broken", "agents/coder.json", '{"name": "coder", "model": 7}', "broken coder")
    number = hooked.forge.open_pull("broken", "broken coder")
    hooked.forge.merge(number)
    reply = send(hooked, "pull_request", hooked.forge.closed_payload(number))
    assert reply.status == 422 and "agents/coder.json" in reply.body["error"], reply.body
    assert hooked.main == before
    said = wait_for("the refusal comment", lambda: hooked.forge.comments_on(number))
    assert "did **not** take the merge" in said[-1]["body"] and "agents/coder.json" in said[-1]["body"]


def _agent(name: str) -> str:
    return json.dumps({"name": name, "model": "sonnet", "description": name}, indent=2)


def test_an_approval_here_that_forgejo_cannot_take_is_refused_on_both_sides(hooked: Hooked) -> None:
    pid = propose(hooked)
    number = opened(hooked, pid)
    hooked.forge.commit("main", "agents/coder.json", _agent("coder"), "pushed to Forgejo only")
    approved = post(hooked.served, f"/api/approvals/{pid}/approve", {"note": "go"})
    assert approved.status == 200, approved.body
    hooked.served.publish(ProposalResolved(id=pid, status="approved", by="operator"))
    said = wait_for("the refusal on the pull request", lambda: hooked.forge.comments_on(number))
    assert "cannot push it to main" in said[-1]["body"] and "diverged" in said[-1]["body"]
    pr = hooked.forge.pulls[number]
    assert pr.state == "open" and not pr.merged, "nothing forced, nothing marked merged"
    failed = wait_for("the failed call", lambda: [c for c in _forge_calls(hooked) if not c["ok"]])
    assert failed[0]["key"] == f"pull:{pid}" and "refused" in failed[0]["message"]


def _forge_calls(hooked: Hooked) -> list[dict[str, Any]]:
    reply = http("GET", f"{hooked.served.url}/api/hooks/forgejo", headers=session_headers(hooked.served))
    return list(reply.body["forge"]["calls"])


def test_the_pull_request_links_are_a_dashboard_read_an_agent_cannot_make(hooked: Hooked) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        reply = http("GET", f"{hooked.served.url}/api/forge/pulls", headers=headers)
        assert reply.status in (401, 403), reply.body


def test_a_merge_is_recorded_only_on_main_and_only_if_it_contains_the_proposal(hooked: Hooked) -> None:
    repo = MetaRepo(hooked.served.layout.meta)
    pid = propose(hooked)
    elsewhere = proposal(hooked, propose(hooked, "coder"))
    by = Author(name="alice (Forgejo)", email="alice@forgejo.invalid")
    with pytest.raises(ConflictError, match="is not on main"):
        proposals.record_approval(repo, ProposalId(pid), elsewhere.commit, by=by, note="x")
    with pytest.raises(ConflictError, match="does not contain proposal"):
        proposals.record_approval(repo, ProposalId(pid), hooked.main, by=by, note="x")
    assert proposal(hooked, pid).status is ProposalStatus.PENDING


@pytest.fixture
def fast_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forge_pulls, "RESYNC", 0.5)


def test_a_proposal_without_its_event_is_caught_up_and_events_still_wake_it(
    fast_resync: None, hooked: Hooked
) -> None:
    def add(state: DesiredState) -> DesiredState:
        agent = AgentSpec(name="quiet", model="sonnet", description="no event for it")
        return state.model_copy(update={"agents": {**state.agents, "quiet": agent}})

    repo = MetaRepo(hooked.served.layout.meta)
    quiet = proposals.propose(repo, add, author=PROPOSER, description="made while nobody watched")
    opened(hooked, int(quiet.id))  # no proposal_added: the periodic look finds it
    time.sleep(1.5)  # a few looks time out meanwhile
    opened(hooked, propose(hooked, "coder"))  # the subscription survived them
