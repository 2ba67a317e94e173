"""What the forge should have for a proposal (``hive_core.forge.pulls.wanted``): pure, no forge."""

from __future__ import annotations

from datetime import UTC, datetime

from desired.proposals import Proposal, ProposalStatus, Resolution
from hive_core.forge import pulls
from hive_core.forge.store import PullLink
from hive_kit.names import ProposalId

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def proposal(status: ProposalStatus, note: str = "") -> Proposal:
    res = None if status is ProposalStatus.PENDING else Resolution("ops <o@x>", NOW, note, "b" * 40)
    return Proposal(
        ProposalId(3), "boss <b@x>", "add a scout\n\nfor gophers", NOW, "a" * 40, status, res, None
    )


def test_a_pending_proposal_wants_an_open_pull_request_with_its_plan() -> None:
    wish = pulls.wanted(proposal(ProposalStatus.PENDING), None, False, ["+ create scout"], "https://h")
    assert wish is not None and (wish["want"], wish["sha"]) == ("open", "a" * 40)
    assert wish["title"] == "add a scout (proposal #3)"
    assert "proposed by boss <b@x>" in wish["body"] and "+ create scout" in wish["body"]


def test_a_resolution_here_wants_merged_or_closed_only_for_a_proposal_the_forge_knows() -> None:
    link = PullLink(3, 9, "https://f/pulls/9", "open")
    merged = pulls.wanted(proposal(ProposalStatus.APPROVED), link, True, None, "https://h")
    assert merged == {"kind": "pull", "want": "merged", "pid": 3, "sha": "b" * 40}
    closed = pulls.wanted(proposal(ProposalStatus.DENIED, "no"), link, True, None, "https://h")
    assert closed is not None and (closed["want"], closed["note"]) == ("closed", "no")
    # resolved before the forge was connected: left alone
    assert pulls.wanted(proposal(ProposalStatus.APPROVED), None, False, None, "https://h") is None
    # resolved in Forgejo (the link already says so): nothing is sent back
    done = PullLink(3, 9, "https://f/pulls/9", "merged")
    assert pulls.wanted(proposal(ProposalStatus.APPROVED), done, True, None, "https://h") is None


def test_a_fence_in_a_description_cannot_end_the_plan_block() -> None:
    p = proposal(ProposalStatus.PENDING)
    body = pulls.body(p, ["```", "+ create scout"], "https://h")
    assert body.count("```") == 2
