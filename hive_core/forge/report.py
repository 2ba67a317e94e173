"""What Forgejo shows for a commit: the two statuses and the plan comment, as pure functions.

The web tier validates the head and plans it against the live swarm, then
hands the result here as a ``Checks`` record; these functions turn it into
the payloads the outbox holds. Pure, so the texts are tested without a
forge and the same head always gives the same payloads (which is what lets
the outbox drop a repeat).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from hive_kit.errors import Problem

VALIDATE, PLAN, APPLY = "hive/validate", "hive/plan", "hive/apply"
MARKER = "<!-- hyperhive:plan -->"
"""Opens hyperhive's plan comment, so it is found again (and edited) even if forge.sqlite is lost."""
MAX_DESCRIPTION = 255  # Forgejo keeps more, but its commit page shows one line


@dataclass(frozen=True)
class PlanView:
    """A plan of one head against the live swarm, as the reconciler rendered it."""

    revision: str
    lines: tuple[str, ...]  # reconciler.render.render_plan: Terraform-style, last line the summary
    counts: tuple[int, int, int]  # to create, to change, to destroy
    refused: str | None = None

    @property
    def plan_id(self) -> str:
        """The plan's id: the same head planned against the same swarm gives the same id."""
        text = json.dumps([self.revision, self.lines, self.refused])
        return "p-" + hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Checks:
    """One head's checks: its problems (empty: valid), and its plan (None: none could be made)."""

    sha: str
    ref: str
    problems: tuple[Problem, ...] = ()
    plan: PlanView | None = None
    no_plan: str = ""  # why there is no plan, when there is none
    pull: int | None = None

    @property
    def report_id(self) -> str:
        return self.plan.plan_id if self.plan is not None else "v-" + self.sha[:16]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def report_url(dashboard: str, checks: Checks) -> str:
    return f"{dashboard.rstrip('/')}/forge/reports/{checks.report_id}"


def first_problem(problems: tuple[Problem, ...]) -> str:
    p = problems[0]
    text = f"{p.file}: {p.path}: {p.message}" + (f"; fix: {p.fix}" if p.fix else "")
    more = len(problems) - 1
    return text + (f" (+{more} more)" if more else "")


def validate_status(checks: Checks, dashboard: str) -> dict[str, Any]:
    url = report_url(dashboard, checks)
    if checks.problems:
        return _status(checks.sha, VALIDATE, "failure", first_problem(checks.problems), url)
    return _status(checks.sha, VALIDATE, "success", "desired state is valid", url)


def plan_status(checks: Checks, dashboard: str) -> dict[str, Any]:
    url = report_url(dashboard, checks)
    if checks.problems:
        return _status(checks.sha, PLAN, "failure", "no plan: hive/validate failed", url)
    if checks.plan is None:
        return _status(checks.sha, PLAN, "error", f"no plan: {checks.no_plan}", url)
    if checks.plan.refused:
        return _status(checks.sha, PLAN, "failure", f"refused: {checks.plan.refused}", url)
    create, change, destroy = checks.plan.counts
    text = f"{create} to create, {change} to change, {destroy} to destroy"
    return _status(checks.sha, PLAN, "success", text, url)


def _status(sha: str, context: str, state: str, description: str, url: str) -> dict[str, Any]:
    return {
        "kind": "status",
        "sha": sha,
        "context": context,
        "state": state,
        "description": _short(description),
        "target_url": url,
    }


def comment_body(checks: Checks, dashboard: str) -> str:
    """The one plan comment on a pull request: the plan in a fenced block, with its id and revision."""
    url = report_url(dashboard, checks)
    head = f"{MARKER}\n### hyperhive plan for `{checks.sha[:12]}`\n\n"
    if checks.problems:
        listed = "\n".join(str(p) for p in checks.problems)
        return head + f"**hive/validate failed**: no plan.\n\n```\n{listed}\n```\n\n[Full report]({url})\n"
    if checks.plan is None:
        return head + f"No plan: {checks.no_plan}.\n"
    body = "\n".join(checks.plan.lines).replace("```", "`\u200b``")
    return (
        head
        + f"Plan `{checks.plan.plan_id}` of revision `{checks.plan.revision}` against the live swarm:\n\n"
        + f"```\n{body}\n```\n\n"
        + f"[Open this plan in the dashboard]({url}). This comment is edited in place on every push.\n"
    )


def comment_item(checks: Checks, dashboard: str) -> dict[str, Any]:
    return {"kind": "comment", "pr": checks.pull, "body": comment_body(checks, dashboard)}


def outbox_items(checks: Checks, dashboard: str) -> list[tuple[str, dict[str, Any]]]:
    """(key, payload) for everything this head's checks send: two statuses, and the comment on a PR."""
    items = []
    for status in (validate_status(checks, dashboard), plan_status(checks, dashboard)):
        items.append((f"status:{checks.sha}:{status['context']}", status))
    if checks.pull is not None:
        items.append((f"comment:{checks.pull}", comment_item(checks, dashboard)))
    return items


def report_body(checks: Checks) -> dict[str, Any]:
    """What the dashboard's report page shows (``/forge/reports/<id>``)."""
    return {
        "sha": checks.sha,
        "ref": checks.ref,
        "problems": [p.as_json() for p in checks.problems],
        "plan_id": checks.plan.plan_id if checks.plan else None,
        "plan": list(checks.plan.lines) if checks.plan else [],
        "no_plan": checks.no_plan,
    }


def apply_status(
    sha: str, touched: tuple[str, ...], ready: tuple[str, ...], failed: dict[str, str], url: str
) -> dict[str, Any]:
    """``hive/apply`` on a revision of main: pending while applying, then success or failure.

    ``touched``: the agents the revision changes; ``ready``: those Ready running it;
    ``failed``: agent → error for those Stalled on it (any one fails the revision).
    """
    if failed:
        text = "not ready: " + "; ".join(f"{name}: {err}" for name, err in sorted(failed.items()))
        return _status(sha, APPLY, "failure", text, url)
    if not touched:
        return _status(sha, APPLY, "success", "applied: touches no agent", url)
    if set(touched) <= set(ready):
        return _status(sha, APPLY, "success", f"deployed: {', '.join(sorted(touched))} ready", url)
    waiting = sorted(set(touched) - set(ready))
    return _status(
        sha,
        APPLY,
        "pending",
        f"applying: {len(ready)} of {len(touched)} ready; waiting for {', '.join(waiting)}",
        url,
    )


def is_final(payload: dict[str, Any] | None) -> bool:
    """A settled ``hive/apply`` (success or failure) is never changed, like a deployed/ or failed/ tag."""
    return payload is not None and payload.get("state") in ("success", "failure")
