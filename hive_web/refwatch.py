"""Notice when the meta repo's refs move, and hint every open page to re-read desired state.

Anything may write the meta repo: the CLI, the manager's `propose`, a `git
push`, this dashboard. Watching its refs (not each writer) is the one place
that sees them all. The host core turns proposal tags into durable events;
this watcher only says "main or a proposal moved" (``ref_hint`` is the pure
part), so a page shows a commit made from a terminal without a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from desired.repo import MAIN, MetaRepo
from hive_web.fanout import Fanout

log = logging.getLogger(__name__)

Refs = Mapping[str, str]


def read_refs(repo: MetaRepo) -> dict[str, str]:
    refs: dict[str, str] = {}
    for name in repo.git.references:
        refs[name] = str(repo.git.references[name].target)
    return refs


def ref_hint(before: Refs, after: Refs) -> dict[str, Any] | None:
    """What a page needs to know about a ref change, or None when nothing moved."""
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if not changed:
        return None
    return {"revision": after.get(MAIN), "refs": changed[:50]}


async def watch_refs(
    meta: Path, read: Callable[[], Awaitable[dict[str, str]]], hints: Fanout, stop: asyncio.Event
) -> None:
    """Publish a ``desired`` hint for every batch of ref changes until ``stop`` is set."""
    from watchfiles import awatch

    before = await read()
    root = str(meta)

    def only_refs(_change: object, path: str) -> bool:
        rel = path[len(root) + 1 :] if path.startswith(root) else path
        return (rel.startswith("refs/") or rel == "packed-refs") and not rel.endswith(".lock")

    with contextlib.suppress(asyncio.CancelledError):
        async for _changes in awatch(meta, watch_filter=only_refs, stop_event=stop, debounce=50, step=20):
            after = await read()
            hint = ref_hint(before, after)
            if hint is not None:
                hints.hint("desired", hint)
                log.debug("meta repo refs moved: %s", hint["refs"])
            before = after
