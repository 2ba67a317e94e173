"""Proposals as pull requests: what Forgejo should show for each proposal, as pure functions.

Level-triggered like the reconciler: ``wanted`` looks at a proposal as the
meta repo holds it (pending, approved, denied) and at its pull request as
``forge.sqlite`` remembers it, and says what the forge should have, as one
outbox row per proposal (``pull:<id>``). A newer wish replaces an older one
still waiting (a proposal approved before its pull request was even opened
only needs "merged"), and a wish equal to the last one sent is never queued
again, so looking again after every proposal event costs nothing.

- pending → ``open``: push ``proposals/<id>`` at the proposal's commit, open
  a pull request into main (title: the description's first line; body: who
  proposed it, the description, the plan at proposal time, a dashboard link).
- approved here → ``merged``: push main to the forge (it holds the commit
  that landed), then mark the pull request merged by that very commit
  (Forgejo's ``manually-merged``), so both mains are the same commit.
- denied here → ``closed``: close the pull request, then comment the note.

A resolution made *in* Forgejo (merge, close) is recorded by the webhook
with the link's state set first, so nothing is sent back for it.
"""

from __future__ import annotations

from typing import Any

from desired.proposals import Proposal, ProposalStatus
from hive_core.forge.store import PullLink

MAX_TITLE = 200
MAX_PLAN_LINES = 60
FENCE_BREAK = "`\u200b``"  # a fence in a description or an error cannot end our code block


def branch(pid: int) -> str:
    return f"proposals/{pid}"


def key(pid: int) -> str:
    return f"pull:{pid}"


def title(proposal: Proposal) -> str:
    first = (proposal.description.strip().splitlines() or [f"proposal {proposal.id}"])[0].strip()
    text = f"{first} (proposal #{proposal.id})"
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def body(proposal: Proposal, plan: list[str] | None, dashboard: str) -> str:
    """The pull request's body: who proposed it, what for, its plan when proposed, where to decide."""
    lines = [
        f"**hyperhive proposal #{proposal.id}**, proposed by {proposal.author}.",
        "",
        proposal.description.strip(),
        "",
    ]
    if plan:
        shown = plan[:MAX_PLAN_LINES] + (
            [f"… ({len(plan) - MAX_PLAN_LINES} more lines)"] if len(plan) > MAX_PLAN_LINES else []
        )
        text = "\n".join(shown).replace("```", FENCE_BREAK)
        lines += [
            "Plan against the swarm when proposed (the plan comment below stays current):",
            "",
            "```",
            text,
            "```",
            "",
        ]
    lines += [
        f"Decide here or in the dashboard ({dashboard.rstrip('/')}/#decisions): **merging approves** the "
        "proposal, **closing denies** it (your last comment before closing becomes the note).",
    ]
    return "\n".join(lines) + "\n"


def wanted(
    proposal: Proposal, link: PullLink | None, known: bool, plan: list[str] | None, dashboard: str
) -> dict[str, Any] | None:
    """What the forge should have for ``proposal``; None when nothing is to be sent.

    ``known``: a ``pull:<id>`` row was queued or sent before (so a proposal resolved before its
    pull request was opened still gets it settled); proposals resolved before the forge was
    connected have neither a link nor a row, and are left alone.
    """
    pid = int(proposal.id)
    if proposal.status is ProposalStatus.PENDING:
        if link is not None and link.state != "open":
            return None  # resolved in Forgejo; the webhook is settling it here
        return {
            "kind": "pull",
            "want": "open",
            "pid": pid,
            "sha": proposal.commit,
            "title": title(proposal),
            "body": body(proposal, plan, dashboard),
        }
    if link is None and not known:
        return None
    if link is not None and link.state != "open":
        return None
    res = proposal.resolution
    if proposal.status is ProposalStatus.APPROVED:
        return {"kind": "pull", "want": "merged", "pid": pid, "sha": res.commit if res else ""}
    note = res.note if res else ""
    by = res.by if res else "unknown"
    return {"kind": "pull", "want": "closed", "pid": pid, "note": note, "by": by}


def open_payload_without_plan(payload: dict[str, Any]) -> dict[str, Any]:
    """An ``open`` wish compared without its body: a plan that drifted is no reason to push again."""
    return {k: v for k, v in payload.items() if k != "body"}


def denial_comment(by: str, note: str) -> str:
    return f"Denied in hyperhive by {by}: {note or '(no reason given)'}\n"


def refusal_comment(number: int, reason: str) -> str:
    fenced = reason.replace("```", FENCE_BREAK)
    return (
        f"hyperhive did **not** take the merge of #{number} as an approval; its main is unchanged:\n\n"
        f"```\n{fenced}\n```\n"
    )


def push_refused_comment(pid: int, landed: str, reason: str) -> str:
    return (
        f"hyperhive approved proposal #{pid} as `{landed[:12]}` but cannot push it to main: Forgejo's "
        "main has commits hyperhive's lacks, so the two diverged. Nothing is forced; it is retried.\n\n"
        f"```\n{reason.replace('```', FENCE_BREAK)}\n```\n"
    )
