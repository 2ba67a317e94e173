"""`POST /hooks/forgejo`: Forgejo says main moved; follow it through the push gate, then reconcile.

Authenticated by the delivery's HMAC signature alone (``hive_web.forgejo``),
never by the dashboard token or CSRF, which Forgejo cannot send; the
security middleware lets ``/hooks/`` through for that reason. The steps, each
refusing with ``{"error": ...}`` and changing nothing:

secret configured (503) → body ≤ 1 MiB (413) → signature (401) → JSON (400)
→ a push (else 202 ignored) → to `main` (else 202 ignored) → with a remote:
fetch it (502/503 on failure) and fast-forward `main` through the pre-receive
hook's own check (409 not a fast-forward, 422 invalid desired state) → ask
the reconciler for a pass now (202).

Every delivery is logged at INFO, kept in a short in-memory list that
``GET /api/hooks/forgejo`` (an ordinary dashboard read) shows, and published
as a ``webhook_received`` event on the host's log (``hive events``, the
dashboard's live stream). Header values are the sender's, signed or not, so
they are cut short before they reach the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from desired import remote
from desired.repo import MetaRepo
from hive_core.events import WebhookReceived
from hive_core.forge.pulls import refusal_comment
from hive_kit import wire
from hive_kit.errors import HiveError, TemporaryError, UnavailableError
from hive_web.forge_checks import check_head, connected, fetch
from hive_web.forge_pulls import queue_note, settle_closed, settle_merged
from hive_web.forgejo import (
    DELIVERY_HEADERS,
    EVENT_HEADERS,
    MAIN_REF,
    MAX_BODY_BYTES,
    PATH,
    PULL_ACTIONS,
    CommentPayload,
    Delivery,
    PullPayload,
    PushPayload,
    comment_payload,
    first_header,
    load_secret,
    parse_object,
    pull_payload,
    push_payload,
    signature_problem,
)
from hive_web.keys import DEPS, FORGE, HOOKS, META
from hive_web.operator import ask_core

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_HEADER_CHARS = 100  # delivery ids are UUIDs, event names short words


class Reply(Exception):
    """The answer to a delivery: HTTP status, JSON body, and the outcome word kept in the log."""

    def __init__(self, status: int, outcome: str, body: dict[str, Any], message: str = "") -> None:
        super().__init__(message or body.get("error") or body.get("reason") or outcome)
        self.status, self.outcome, self.body = status, outcome, body


def _refuse(status: int, outcome: str, message: str, **extra: Any) -> Reply:
    return Reply(status, outcome, {"error": message, **extra})


@routes.post(PATH)
async def forgejo(request: web.Request) -> web.Response:
    delivery = first_header(request.headers, DELIVERY_HEADERS)[:MAX_HEADER_CHARS]
    event = first_header(request.headers, EVENT_HEADERS)[:MAX_HEADER_CHARS]
    payload: PushPayload | None = None
    try:
        raw = await _authentic(request)
        await _once(request, delivery, event)
        if event == "push":
            payload = _parsed(push_payload, raw)
            reply = await (
                _follow(request, payload) if payload.ref == MAIN_REF else _branch(request, payload)
            )
        elif event == "pull_request":
            reply = await _pull(request, _parsed(pull_payload, raw))
        elif event == "issue_comment":
            reply = _comment(request, _parsed(comment_payload, raw))
        else:
            reason = f"event {event or '(none)'!r} is not a push or a pull request; nothing to do"
            raise Reply(202, "ignored", {"ignored": True, "reason": reason})
    except Reply as exc:
        reply = exc
    if payload is not None and payload.ref == MAIN_REF and reply.body.get("fetched"):
        await _check_main(request, reply)
    _remember(request, delivery, event, payload, reply)
    return web.json_response(reply.body, status=reply.status)


async def _authentic(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, once the secret is set, the size fits and the signature is Forgejo's."""
    secret = await asyncio.to_thread(load_secret, request.app[DEPS].layout)
    if secret is None:
        raise _refuse(
            503,
            "unconfigured",
            "this hive has no Forgejo webhook secret yet: run `hive webhook secret` on the host "
            "and paste the secret it prints into the webhook's settings in Forgejo",
        )
    body = await _read_capped(request)
    why = signature_problem(secret, body, request.headers)
    if why is not None:
        raise _refuse(401, "unauthorized", why)
    try:
        return parse_object(body)
    except ValueError as exc:
        raise _refuse(400, "bad-request", str(exc)) from None


async def _once(request: web.Request, delivery: str, event: str) -> None:
    """A signed delivery seen before (same ``X-Forgejo-Delivery``) is a replay: do nothing again."""
    if not delivery:
        return
    if not request.app[FORGE].store.first_sight(delivery, event):
        raise Reply(
            202, "duplicate", {"duplicate": True, "reason": f"delivery {delivery} was handled before"}
        )


def _parsed(parse: Any, raw: dict[str, Any]) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise _refuse(400, "bad-request", str(exc)) from None


async def _branch(request: web.Request, payload: PushPayload) -> Reply:
    """A push to a branch other than main: with a forge connected, check its head."""
    ignored = {"ignored": True, "ref": payload.ref}
    reason = f"a push to {payload.ref}, not {MAIN_REF}: only main is desired state"
    conn = await connected(request.app)
    if conn is None or not payload.ref.startswith("refs/heads/"):
        raise Reply(202, "ignored", {**ignored, "reason": reason + " (no forge connected to check it)"})
    if payload.after.strip("0") == "":
        raise Reply(202, "ignored", {**ignored, "reason": f"{payload.ref} was deleted; nothing to check"})
    branch = payload.ref.removeprefix("refs/heads/")
    sha = await _fetch_for_checks(request, payload.ref, f"refs/forge/heads/{branch}")
    checks = await check_head(request.app, conn, sha, payload.ref)
    return Reply(202, "checked", {"ref": payload.ref, "fetched": sha, "checks": checks}, _said(checks))


async def _pull(request: web.Request, payload: PullPayload) -> Reply:
    """A pull request opened, synchronized or reopened: check its head, and keep its one plan comment."""
    number = payload.number
    if payload.action == "closed":
        return await _pull_closed(request, payload)
    if payload.action not in PULL_ACTIONS:
        reason = f"pull request #{number} {payload.action}: only {', '.join(PULL_ACTIONS)} are checked"
        raise Reply(202, "ignored", {"ignored": True, "reason": reason})
    conn = await connected(request.app)
    if conn is None:
        reason = "no forge connected (`hive forge connect`): pull requests are not checked"
        raise Reply(202, "ignored", {"ignored": True, "reason": reason})
    sha = await _fetch_for_checks(request, f"refs/pull/{number}/head", f"refs/forge/pull/{number}")
    checks = await check_head(request.app, conn, sha, f"refs/pull/{number}/head", pull=number)
    body = {"pull": number, "fetched": sha, "checks": checks}
    return Reply(202, "checked", body, f"#{number} {_said(checks)}")


async def _pull_closed(request: web.Request, payload: PullPayload) -> Reply:
    """Closed in Forgejo: a merge is followed like a push to main, then settles its proposal (if any)."""
    number, pr, app = payload.number, payload.pull_request, request.app
    if await connected(app) is None:
        reason = "no forge connected (`hive forge connect`): pull requests decide nothing here"
        raise Reply(202, "ignored", {"ignored": True, "reason": reason})
    if not pr.merged:
        closed = {"pull": number, **await settle_closed(app, number, payload.sender.login)}
        return Reply(202, "closed", closed, f"#{number} closed: {closed['denial']}")
    if await app[META].run(remote.remote_url) is None:
        raise _refuse(409, "refused", "no remote is set for the meta repo: a merge cannot be followed")
    async with app[HOOKS].lock:
        fetched = await _fetch(request)
        try:
            forward = await _forward(request, fetched)
        except Reply as exc:
            queue_note(app, number, refusal_comment(number, str(exc)))
            raise
    login = (pr.merged_by.login if pr.merged_by else "") or payload.sender.login
    body: dict[str, Any] = {
        "pull": number,
        "fetched": fetched,
        "main": {"before": forward.before, "after": forward.after, "moved": forward.moved},
    }
    body.update(await settle_merged(app, number, pr.merge_commit_sha or fetched, login))
    body.update(await _reconcile(request, f"Forgejo merge of #{number} ({fetched[:12]})"))
    return Reply(202, "merged", body, f"#{number} merged: {body['approval']}")


def _comment(request: web.Request, payload: CommentPayload) -> Reply:
    """A comment on a pull request: kept, as the note if its author closes a proposal's PR next."""
    if payload.action != "created" or payload.issue.pull_request is None:
        raise Reply(202, "ignored", {"ignored": True, "reason": "only new comments on pull requests matter"})
    number, login = payload.issue.number, payload.comment.user.login
    request.app[FORGE].store.remember_comment(number, login, payload.comment.body)
    return Reply(202, "noted", {"pull": number}, f"comment by {login} on #{number} kept")


async def _fetch_for_checks(request: web.Request, source: str, dest: str) -> str:
    if await request.app[META].run(remote.remote_url) is None:
        raise _refuse(
            409,
            "refused",
            "no remote is set for the meta repo (`hive desired remote set URL`): nothing to fetch",
        )
    try:
        return await fetch(request.app, source, dest)
    except TemporaryError as exc:
        raise _refuse(502, "failed", str(exc)) from None
    except HiveError as exc:
        raise _refuse(409, "refused", str(exc)) from None


async def _check_main(request: web.Request, reply: Reply) -> None:
    """Main's fetched head gets the same statuses (whether it was taken or refused)."""
    conn = await connected(request.app)
    if conn is None:
        return
    try:
        reply.body["checks"] = await check_head(request.app, conn, str(reply.body["fetched"]), MAIN_REF)
    except HiveError as exc:  # checks are a report; following main already happened
        log.warning("forgejo webhook: checking main's head failed: %s", exc)


def _said(checks: dict[str, Any]) -> str:
    return f"{checks['sha'][:12]}: validate: {checks['validate']}; plan: {checks['plan']}"


async def _read_capped(request: web.Request) -> bytes:
    """The raw body (the signature covers its exact bytes), refused past ``MAX_BODY_BYTES``."""
    too_big = _refuse(413, "too-large", f"the body is over {MAX_BODY_BYTES // 1024} KiB; nothing was read")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _follow(request: web.Request, payload: PushPayload) -> Reply:
    """Fetch and fast-forward when a remote is set; then ask for a pass."""
    app = request.app
    body: dict[str, Any] = {"ref": payload.ref, "after": payload.after}
    url = await app[META].run(remote.remote_url)
    if url is None:
        body["note"] = "no remote is set for the meta repo (`hive desired remote set URL`); reconciling only"
    else:
        async with app[HOOKS].lock:
            fetched = await _fetch(request)
            forward = await _forward(request, fetched)
        body["fetched"] = fetched
        body["main"] = {"before": forward.before, "after": forward.after, "moved": forward.moved}
    body.update(await _reconcile(request, f"Forgejo push to main ({payload.after[:12] or 'unknown commit'})"))
    outcome, message = _summary(body)
    return Reply(202, outcome, body, message)


def _summary(body: dict[str, Any]) -> tuple[str, str]:
    """The outcome word and the log line for an accepted push."""
    then = f"reconcile {body['reconcile']}"
    main = body.get("main")
    if main is None:
        return "reconcile", f"no remote; {then}"
    if not main["moved"]:
        return "up-to-date", f"main already at {main['after'][:12]}; {then}"
    return "fast-forwarded", f"main {str(main['before'])[:12]} → {main['after'][:12]}; {then}"


async def _fetch(request: web.Request) -> str:
    meta = request.app[DEPS].layout.meta
    try:
        return await asyncio.to_thread(remote.fetch, meta)
    except TemporaryError as exc:
        raise _refuse(502, "failed", str(exc)) from None
    except HiveError as exc:
        raise _refuse(409, "refused", str(exc)) from None


async def _forward(request: web.Request, fetched: str) -> remote.Forward:
    def run(repo: MetaRepo) -> remote.Forward:
        return remote.fast_forward(repo, fetched, log=f"hive: fast-forward to {remote.REMOTE}/main (webhook)")

    try:
        return await request.app[META].run(run)
    except remote.NotFastForward as exc:
        raise _refuse(409, "refused", str(exc), fetched=fetched, refused=exc.lines) from None
    except remote.RefusedUpdate as exc:
        problems = exc.problems.problems if exc.problems is not None else ()
        found = [{"file": p.file, "path": p.path, "message": p.message, "fix": p.fix} for p in problems]
        status = 422 if found else 409
        raise _refuse(
            status, "refused", str(exc), fetched=fetched, refused=exc.lines, problems=found
        ) from None
    except TemporaryError as exc:
        raise _refuse(503, "failed", str(exc), fetched=fetched) from None


async def _reconcile(request: web.Request, reason: str) -> dict[str, str]:
    try:
        await ask_core(request.app[DEPS].operator, wire.ReconcileNow(reason=reason), wire.Done)
    except UnavailableError as exc:
        return {"reconcile": "unavailable", "reconcile_note": str(exc)}
    return {"reconcile": "queued"}


def _remember(
    request: web.Request, delivery: str, event: str, payload: PushPayload | None, reply: Reply
) -> None:
    record = Delivery(
        at=time.time(),
        delivery=delivery,
        event=event,
        status=reply.status,
        outcome=reply.outcome,
        message=str(reply),
        ref=payload.ref if payload is not None else "",
        after=payload.after if payload is not None else "",
        fetched=str(reply.body.get("fetched", "")),
    )
    request.app[HOOKS].deliveries.add(record)
    if delivery and reply.outcome not in ("unauthorized", "unconfigured", "too-large", "duplicate"):
        request.app[FORGE].store.delivery_outcome(delivery, reply.outcome)
    _publish(request, record)
    level = logging.INFO if reply.status < 400 else logging.WARNING
    log.log(
        level,
        "forgejo webhook: delivery %s (%s) → %d %s: %s",
        delivery or "?",
        event or "no event",
        reply.status,
        reply.outcome,
        record.message,
    )


def _publish(request: web.Request, record: Delivery) -> None:
    publish = request.app[DEPS].publish
    if publish is None:  # a dashboard without a host core: the in-memory list is all there is
        return
    publish(
        WebhookReceived(
            ts=record.at,
            delivery=record.delivery,
            event=record.event,
            ref=record.ref,
            after=record.after,
            status=record.status,
            outcome=record.outcome,
            message=record.message,
        )
    )


@routes.get("/api/hooks/forgejo")
async def deliveries(request: web.Request) -> web.Response:
    """What the webhook is set up to do, and its recent deliveries (newest first)."""
    url = await request.app[META].run(remote.remote_url)
    configured = await asyncio.to_thread(load_secret, request.app[DEPS].layout) is not None
    return web.json_response(
        {
            "path": PATH,
            "secret_configured": configured,
            "remote": remote.redact(url) if url else None,
            "deliveries": request.app[HOOKS].deliveries.to_json(),
            "forge": await _forge_summary(request),
        }
    )


async def _forge_summary(request: web.Request) -> dict[str, Any]:
    """The forge connection (no token) and the last API calls hyperhive made to it, newest first."""
    conn = await connected(request.app)
    store = request.app[FORGE].store
    return {
        "connected": conn is not None,
        "repo": conn.full_name if conn else None,
        "url": conn.url if conn else None,
        "pending": len(store.pending()),
        "calls": [c.to_json() for c in store.calls(20)],
    }
