"""Saved plans: `hive reconcile --dry-run --out FILE`, then `hive reconcile --plan FILE`, refused when stale.

Terraform's "Saved plan is stale" is the model. A saved plan records the
desired revision it was made at and what it observed of every agent (its
container state and pid, and what was last applied to it). Applying it
first observes again: a new revision of `main`, or any agent whose observed
state moved (a crash, a restart, someone else's apply), refuses it with
exit 1 and the reasons, and nothing is applied. Otherwise the pass it runs
is the same plan, because planning is a pure function of exactly those
inputs (``reconciler.plan``).

The plan id is the one the Forgejo plan comment shows
(``hive_core.forge.report.PlanView.plan_id``), so the operator can see that
what is applied is what was reviewed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hive_core.forge.report import PlanView
from hive_kit.errors import UserError
from reconciler.model import Plan
from reconciler.observe import World
from reconciler.render import render_plan


class SavedPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["hyperhive-plan/1"] = "hyperhive-plan/1"
    plan_id: str
    revision: str
    observed: dict[str, dict[str, Any]]
    made_at: float
    plan: dict[str, Any]
    lines: list[str]


def plan_id(plan: Plan) -> str:
    lines = tuple(render_plan(plan))
    return PlanView(revision=plan.revision, lines=lines, counts=plan.counts, refused=plan.refused).plan_id


def observed_view(world: World) -> dict[str, dict[str, Any]]:
    """Per agent, what a stale check compares: container state, pid, and what was applied."""
    names = sorted(world.observed.keys() | world.applied.keys())
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        obs, app = world.observed.get(name), world.applied.get(name)
        out[name] = {
            "state": obs.state.value if obs else "missing",
            "pid": obs.pid if obs else None,
            "applied_revision": app.revision if app else None,
            "applied_fingerprint": app.fingerprint if app else None,
        }
        if obs is not None and obs.rebuild:  # the runtime's own inputs moved (nixos: the host's pins)
            out[name]["rebuild"] = obs.rebuild
    return out


def save(path: Path, world: World, plan: Plan) -> SavedPlan:
    saved = SavedPlan(
        plan_id=plan_id(plan),
        revision=plan.revision,
        observed=observed_view(world),
        made_at=time.time(),
        plan=plan.to_json(),
        lines=render_plan(plan),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(saved.model_dump_json(indent=2) + "\n")
        os.replace(tmp, path)  # never half a plan at PATH
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write the plan to {path}: {exc.strerror or exc}; pick a writable path"
        ) from None
    return saved


def load(path: Path) -> SavedPlan:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UserError(f"cannot read the saved plan {path}: {why}") from None
    try:
        return SavedPlan.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        raise UserError(
            f"{path} is not a saved hyperhive plan; make one with `hive reconcile --dry-run --out {path}`"
        ) from None


def stale_reasons(saved: SavedPlan, world: World) -> list[str]:
    """Why ``saved`` may no longer be applied (empty: it may)."""
    reasons = []
    if world.snap.revision != saved.revision:
        reasons.append(
            f"desired state moved: the plan was made at {saved.revision[:12]}, main is now "
            f"{world.snap.revision[:12]}"
        )
    now = observed_view(world)
    for name in sorted(now.keys() | saved.observed.keys()):
        was, is_ = saved.observed.get(name), now.get(name)
        if was != is_:
            reasons.append(f"agent {name} moved: {_describe(was)} → {_describe(is_)}")
    return reasons


def _describe(view: dict[str, Any] | None) -> str:
    if view is None:
        return "absent"
    text = str(view["state"]) + (f" (pid {view['pid']})" if view.get("pid") else "")
    applied = view.get("applied_revision")
    text += f", applied {str(applied)[:12]}" if applied else ""
    return text + (f", {view['rebuild']}" if view.get("rebuild") else "")
