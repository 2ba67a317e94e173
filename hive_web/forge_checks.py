"""Checks on a head Forgejo told us about: fetch it, validate it, plan it, queue what Forgejo shows.

The webhook handler calls ``check_head`` for a push to any branch and for a
pull request opened, synchronized or reopened. The head checked is the one
*fetched now* (``desired.remote.fetch_ref``), never the payload's ``after``:
a delivery only says "look again", so a late or repeated one checks the
current head and, the outbox dropping payloads equal to what was sent,
costs no API call. Validation is the push gate's own (``MetaRepo.load``);
the plan is the reconciler's, of that head against the live swarm, read
through the dashboard's ``ReconcilerLink``. Nothing here calls Forgejo: the
payloads go to the outbox and the sender's task (``hive_core.forge.sender``),
run by the daemon's forge component (``hive_web.forge_component``), sends them.

Also here, because the webhook, the watches and the component all share
them: ``ForgeLink`` (the outbox and the sender that drains it) and
``Watching`` (what the proposals and ``hive/apply`` watches read).
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from desired import remote
from desired.repo import MetaRepo
from hive_core.forge import connection
from hive_core.forge.connection import Connection
from hive_core.forge.report import Checks, PlanView, outbox_items, plan_status, report_body, validate_status
from hive_core.forge.sender import Sender
from hive_core.forge.store import ForgeStore
from hive_kit.errors import DesiredStateError, HiveError, Problem
from hive_kit.paths import StateLayout
from hive_web.feed import EventFeed
from hive_web.keys import DEPS, FORGE, HOOKS, META
from hive_web.meta import MetaWorker
from hive_web.readers.reconciler import ReconcilerLink
from reconciler.render import render_plan

RefsSubscribe = Callable[[str, Callable[[Any], None]], Callable[[], None]]
"""``MetaWatch.subscribe``: call back on every move of the meta repo's refs; returns the unsubscribe."""


@dataclass
class ForgeLink:
    """The forge store and the sender draining it: one per process, shared by the webhook (which
    queues) and the forge component (which sends); ``sender.poke()`` after queueing."""

    store: ForgeStore
    sender: Sender


@dataclass(frozen=True)
class Watching:
    """What the proposals' and ``hive/apply`` watches read: the host's event log, the meta repo on
    its own thread, the reconciler's reads, and (in the daemon) the meta repo's ref watcher."""

    layout: StateLayout
    link: ForgeLink
    meta: MetaWorker
    reconciler: ReconcilerLink | None
    feed: EventFeed
    on_refs: RefsSubscribe | None = None


async def connected(app: web.Application) -> Connection | None:
    return await asyncio.to_thread(connection.load, app[DEPS].layout)


async def fetch(app: web.Application, source: str, dest: str) -> str:
    """Fetch ``source`` from the remote into ``dest``, one fetch at a time per meta repo."""
    async with app[HOOKS].lock:
        return await asyncio.to_thread(remote.fetch_ref, app[DEPS].layout.meta, source, dest)


async def check_head(
    app: web.Application, conn: Connection, sha: str, ref: str, pull: int | None = None
) -> dict[str, Any]:
    """Validate and plan ``sha``, queue its statuses (and the plan comment of ``pull``); a summary."""
    problems, state = await app[META].run(lambda repo: _validate(repo, sha))
    plan, no_plan = await _plan(app[DEPS].reconciler, state, sha)
    checks = Checks(sha=sha, ref=ref, problems=problems, plan=plan, no_plan=no_plan, pull=pull)
    link = app[FORGE]
    link.store.save_report(checks.report_id, sha, report_body(checks))
    queued = [
        key for key, payload in outbox_items(checks, conn.dashboard_url) if link.store.enqueue(key, payload)
    ]
    link.sender.poke()
    return {
        "sha": sha,
        "report": checks.report_id,
        "validate": validate_status(checks, conn.dashboard_url)["description"],
        "plan": plan_status(checks, conn.dashboard_url)["description"],
        "queued": queued,
    }


async def plan_lines(meta: MetaWorker, link: ReconcilerLink | None, sha: str) -> list[str] | None:
    """The rendered plan of commit ``sha`` against the live swarm, or None when there is none."""
    _problems, state = await meta.run(lambda repo: _validate(repo, sha))
    plan, _why = await _plan(link, state, sha)
    return list(plan.lines) if plan is not None else None


def _validate(repo: MetaRepo, sha: str) -> tuple[tuple[Problem, ...], Any]:
    try:
        return (), repo.load(sha).state
    except DesiredStateError as exc:
        return exc.problems, None
    except HiveError as exc:
        return (Problem(file="(commit)", path="$", message=str(exc)),), None


async def _plan(link: ReconcilerLink | None, state: Any, sha: str) -> tuple[PlanView | None, str]:
    if state is None:
        return None, "hive/validate failed"
    if link is None or not link.live:
        return None, "the reconciler is not running in this daemon"
    try:
        plan = await link.plan_at(state, sha)
    except HiveError as exc:
        return None, str(exc)
    return PlanView(
        revision=sha, lines=tuple(render_plan(plan)), counts=plan.counts, refused=plan.refused
    ), ""


def report_page(report: dict[str, Any]) -> str:
    """The report as a small self-contained page (every value escaped: branch names are anyone's)."""
    e = html.escape
    title = f"hyperhive check of {report['sha'][:12]}"
    parts = [
        f"<h1>{e(title)}</h1>",
        f"<p>ref <code>{e(report['ref'])}</code>, commit <code>{e(report['sha'])}</code></p>",
    ]
    if report["problems"]:
        parts.append("<h2>hive/validate: failure</h2><ul>")
        parts += [f"<li><code>{e(p['text'])}</code></li>" for p in report["problems"]]
        parts.append("</ul>")
    else:
        parts.append("<h2>hive/validate: success</h2>")
    if report["plan_id"]:
        parts.append(f"<h2>hive/plan <code>{e(report['plan_id'])}</code> against the live swarm</h2>")
        parts.append(f"<pre>{e(chr(10).join(report['plan']))}</pre>")
    elif report["no_plan"]:
        parts.append(f"<h2>hive/plan: no plan</h2><p>{e(report['no_plan'])}</p>")
    style = "body{font-family:system-ui;margin:2em;background:#111;color:#ddd}pre,code{color:#9f9}"
    return f"<!doctype html><title>{e(title)}</title><style>{style}</style>" + "".join(parts)
