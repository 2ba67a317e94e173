"""A plan as text, the way Terraform users read one: `+ ~ -/+ -`, field-level old → new.

Pure: returns lines, leaves colour to the caller (``style_of`` says which
style a line deserves), so the CLI, the dashboard and tests share one format.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.model import Action, ActionKind, Plan

_STYLES = {"+": "green", "~": "yellow", "-/+": "magenta", "-": "red"}


def _value(value: Any) -> str:
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def action_lines(action: Action) -> list[str]:
    symbol = action.kind.symbol
    head = f"  {symbol} {action.name}: {action.kind.value} ({action.reason})"
    if action.kind is ActionKind.METADATA:
        head = f"  {symbol} {action.name} ({action.reason})"
    lines = [head]
    for change in action.changes:
        if action.kind is ActionKind.CREATE:
            if change.new in ("", [], {}, None):
                continue
            lines.append(f"      + {change.field} = {_value(change.new)}")
        elif change.old is None and change.new is not None:
            lines.append(f"      + {change.field}: {_value(change.new)}")
        elif change.new is None:
            lines.append(f"      - {change.field}: {_value(change.old)}")
        else:
            lines.append(f"      ~ {change.field}: {_value(change.old)} → {_value(change.new)}")
    return lines


def summary_line(plan: Plan) -> str:
    return plan.summary_text()


def render_plan(plan: Plan) -> list[str]:
    """The whole plan; the last line is always the summary (or "No changes.")."""
    rev = plan.revision[:12] or "(none)"
    lines: list[str] = []
    if plan.refused:
        lines += [f"Error: {plan.refused}", ""]
    if plan.actions:
        lines.append(f"hyperhive will perform the following actions (desired state @ {rev}):")
        lines.append("")
        for action in plan.actions:
            lines += action_lines(action)
        lines.append("")
    for name, why in plan.skipped:
        lines.append(f"  = {name}: left alone ({why})")
    if plan.skipped:
        lines.append("")
    if plan.actions:
        lines.append(summary_line(plan))
    elif not plan.refused:
        lines.append(f"No changes. The swarm matches desired state @ {rev}.")
    return lines


def style_of(line: str) -> str:
    stripped = line.strip()
    if stripped.startswith("Error:"):
        return "bold red"
    if stripped.startswith("Plan:") or stripped.startswith("No changes."):
        return "bold"
    symbol = stripped.split(" ", 1)[0]
    return _STYLES.get(symbol, "")
