"""Proposals as pull requests, the dashboard's side: keep the forge's pull requests in step, and
take a merge or a close made in Forgejo as the proposal's approval or denial.

``pulls_watch`` runs in the daemon's forge component (``forge_component``),
with or without the web tier: after every proposal event (and once at
start) it looks at every proposal and queues, per proposal, what the forge
should have (``hive_core.forge.pulls.wanted``); the sender makes it so.

The webhook calls ``settle_merged`` and ``settle_closed`` for a pull request
closed in Forgejo. A pull request is a proposal's only if ``forge.sqlite``
says so (the sender stored the link when it opened it), never because of its
branch name: anyone can open a pull request from a branch named
``proposals/7``. A merge is taken only as far as Forgejo's main, fetched
now, contains it and the push gate accepts it, exactly as a ``git push``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Any

from aiohttp import web

from desired import proposals
from desired.proposals import Proposal, ProposalStatus
from desired.repo import Author, MetaRepo
from hive_core.forge import connection, pulls
from hive_core.forge.report import APPLY, PLAN, VALIDATE
from hive_core.forge.store import ForgeStore
from hive_kit.errors import HiveError
from hive_kit.names import ProposalId
from hive_web.forge_checks import Watching, plan_lines
from hive_web.keys import FORGE, META

log = logging.getLogger(__name__)
WAKE = frozenset({"proposal_added", "proposal_resolved"})
RESYNC = 300.0
NOTE_WINDOW = 600.0  # a comment by the closer this recent is the denial's note ("close with comment")


async def pulls_watch(w: Watching) -> None:
    """Look at every proposal at start, after each proposal event, and every ``RESYNC`` seconds
    (a look that failed is caught up without an event)."""
    feed = w.feed
    events = aiter(feed.subscribe(since=feed.last_seq))  # before the first look: nothing is lost
    await _sync_logged(w)
    waiting: asyncio.Future[Any] | None = None
    try:
        while True:
            # asyncio.wait, not wait_for: a timeout must not cancel (and so end) the subscription
            waiting = waiting or asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({waiting}, timeout=RESYNC)
            if not done:
                await _sync_logged(w)
                continue
            event, waiting = waiting.result(), None
            if event.kind in WAKE:
                await _sync_logged(w)
    finally:
        if waiting is not None:
            waiting.cancel()


async def _sync_logged(w: Watching) -> None:
    try:
        await sync_pulls(w)
    except Exception:  # must never end the component; the next proposal event tries again
        log.exception("forge: keeping proposals' pull requests in step failed")


async def sync_pulls(w: Watching) -> list[str]:
    """Queue what the forge should have for every proposal; the keys queued."""
    conn = await asyncio.to_thread(connection.load, w.layout)
    if conn is None:
        return []
    store = w.link.store
    links = store.pulls()
    queued = []
    for proposal in await w.meta.run(proposals.list_all):
        pid = int(proposal.id)
        key = pulls.key(pid)
        last = store.latest(key)
        plan = None
        if proposal.status is ProposalStatus.PENDING and not _same_open(last, proposal):
            plan = await plan_lines(w.meta, w.reconciler, proposal.commit)
        wish = pulls.wanted(proposal, links.get(pid), last is not None, plan, conn.dashboard_url)
        if wish is None:
            if proposal.status is not ProposalStatus.PENDING:
                store.drop(key)  # settled in Forgejo: an "open" still waiting is moot
            continue
        if wish["want"] == "open" and _same_open(last, proposal):
            continue  # already asked for at this commit; a drifted plan is no reason to push again
        if store.enqueue(key, wish):
            queued.append(key)
    if queued:
        w.link.sender.poke()
        log.info("forge: proposals' pull requests queued: %s", ", ".join(queued))
    return queued


def _same_open(last: dict[str, Any] | None, proposal: Proposal) -> bool:
    return last is not None and last.get("want") == "open" and last.get("sha") == proposal.commit


def forge_author(login: str) -> Author:
    """Who decided in Forgejo, as a tagger: the login, kept to the characters a login can hold."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "", login)[:40] or "someone"
    return Author(name=f"{name} (Forgejo)", email=f"{name}@forgejo.invalid")


async def settle_merged(app: web.Application, number: int, merge_sha: str, login: str) -> dict[str, Any]:
    """After main followed Forgejo's: record a proposal's merge as its approval (or say what it was)."""
    link = app[FORGE].store.pull_of_pr(number)
    if link is None:
        return {
            "approval": f"#{number} merged in Forgejo by {login or 'someone'}: an approval of its own, "
            f"validated like a git push (main is at {merge_sha[:12]})"
        }
    note = f"merged in Forgejo as #{number} by {login or 'someone'}"

    def record(repo: MetaRepo) -> str:
        proposal = proposals.get(repo, ProposalId(link.pid))
        if proposal.status is ProposalStatus.APPROVED:
            return f"proposal {link.pid} was approved here already; #{number} is its merge"
        if proposal.status is ProposalStatus.DENIED:
            return (
                f"proposal {link.pid} was denied here; the merge of #{number} moved main like a git push, "
                "it is not an approval"
            )
        proposals.record_approval(repo, ProposalId(link.pid), merge_sha, by=forge_author(login), note=note)
        return f"proposal {link.pid} approved: {note}"

    app[FORGE].store.set_pull_state(link.pid, "merged")  # first: nothing is sent back for it
    try:
        said = await app[META].run(record)
    except HiveError as exc:
        app[FORGE].store.set_pull_state(link.pid, "open")
        queue_note(app, number, pulls.refusal_comment(number, str(exc)))
        return {"approval": f"refused: {exc}", "refused_approval": True}
    return {"approval": said, "proposal": link.pid}


async def settle_closed(app: web.Application, number: int, login: str) -> dict[str, Any]:
    """A proposal's pull request closed unmerged in Forgejo: deny it, the closer's last comment the note."""
    store = app[FORGE].store
    link = store.pull_of_pr(number)
    if link is None:
        return {"denial": f"#{number} is not a proposal's pull request; nothing to deny"}
    said = store.last_comment(number)
    fresh = said is not None and said[0] == login and time.time() - said[2] < NOTE_WINDOW
    note = said[1] if said is not None and fresh else f"closed in Forgejo (#{number}) by {login or 'someone'}"

    def deny(repo: MetaRepo) -> str:
        proposal = proposals.get(repo, ProposalId(link.pid))
        if proposal.status is not ProposalStatus.PENDING:
            return (
                f"proposal {link.pid} is already {proposal.status.value}; closing #{number} changes nothing"
            )
        proposals.deny(repo, ProposalId(link.pid), by=forge_author(login), note=note)
        return f"proposal {link.pid} denied: {note}"

    before = link.state
    store.set_pull_state(link.pid, "closed")
    try:
        return {"denial": await app[META].run(deny), "proposal": link.pid}
    except HiveError as exc:
        store.set_pull_state(link.pid, before)
        return {"denial": f"refused: {exc}"}


def queue_note(app: web.Application, number: int, body: str) -> None:
    """One comment on #``number`` (the same text is never posted twice)."""
    key = f"note:{number}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"
    if app[FORGE].store.enqueue(key, {"kind": "note", "pr": number, "body": body}):
        app[FORGE].sender.poke()


def pulls_json(store: ForgeStore, commits: dict[int, tuple[str, str]]) -> dict[str, Any]:
    """Proposal id → its pull request, and its checks as last sent or queued: validate and plan on
    the proposal's commit, apply on the commit that landed on main (``commits``: id → both)."""
    found: dict[str, Any] = {}
    for pid, link in store.pulls().items():
        head, landed = commits.get(pid, ("", ""))
        keys = [f"status:{head}:{VALIDATE}", f"status:{head}:{PLAN}", f"status:{landed}:{APPLY}"]
        checks = [store.latest(k) for k in keys]
        found[str(pid)] = link.to_json() | {
            "checks": [
                {k: c[k] for k in ("context", "state", "description", "target_url")} for c in checks if c
            ]
        }
    return found
