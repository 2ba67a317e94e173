"""Turn movements of the meta repo's refs into dashboard events.

Anything may write the meta repo: the CLI, the manager's `propose`, a `git
push`, this dashboard. Watching its refs (not each writer) is the one place
that sees them all. ``ref_events`` is the pure part: given the refs before
and after, which events happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from desired.repo import MAIN, MetaRepo
from hive_web.feed import EventFeed

log = logging.getLogger(__name__)

Refs = Mapping[str, str]
_TAG = "refs/tags/"


def read_refs(repo: MetaRepo) -> dict[str, str]:
    refs: dict[str, str] = {}
    for name in repo.git.references:
        target = repo.git.references[name].target
        refs[name] = str(target)
    return refs


def ref_events(before: Refs, after: Refs) -> list[tuple[str, dict[str, Any]]]:
    """Events implied by the refs changing from ``before`` to ``after``, in a stable order."""
    events: list[tuple[str, dict[str, Any]]] = []
    if before.get(MAIN) != after.get(MAIN) and after.get(MAIN):
        events.append(("desired_changed", {"revision": after[MAIN], "previous": before.get(MAIN)}))
    for name in sorted(after.keys() - before.keys()):
        if not name.startswith(_TAG):
            continue
        kind, _, pid = name.removeprefix(_TAG).partition("/")
        if not pid.isdigit():
            continue
        if kind == "proposal":
            events.append(("approval_added", {"id": int(pid)}))
        elif kind in ("approved", "denied"):
            events.append(("approval_resolved", {"id": int(pid), "status": kind}))
        elif kind in ("deployed", "failed"):
            events.append(("approval_deployed", {"id": int(pid), "status": kind}))
    return events


async def watch_refs(meta: Path, worker_read: Any, feed: EventFeed, stop: asyncio.Event) -> None:
    """Publish ref events until ``stop`` is set. ``worker_read`` returns the current refs."""
    from watchfiles import awatch

    before: dict[str, str] = await worker_read()

    def only_refs(_change: object, path: str) -> bool:
        rel = Path(path).relative_to(meta).as_posix() if path.startswith(str(meta)) else path
        return (rel.startswith("refs/") or rel == "packed-refs") and not rel.endswith(".lock")

    with contextlib.suppress(asyncio.CancelledError):
        async for _changes in awatch(meta, watch_filter=only_refs, stop_event=stop, debounce=50, step=20):
            after = await worker_read()
            for kind, payload in ref_events(before, after):
                feed.publish(kind, payload)
                log.info("meta repo: %s %s", kind, payload)
            before = after
