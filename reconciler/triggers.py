"""What wakes the loop: the meta repo's refs changing, and the "reconcile now" file.

watchfiles' default filter ignores everything under `.git`, and a bare repo
is nothing but such files, so we pass our own: only `refs/...`,
`packed-refs` and `HEAD` count (never `*.lock` files, which come and go
during every write). The debounce is short (50 ms) so a push is acted on in
well under a second. "Reconcile now" is a file (`run/reconcile-now`) that
`hive reconcile --now` or the dashboard touches: it works whichever process
asks, with no socket protocol to agree on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from hive_kit.paths import StateLayout

log = logging.getLogger(__name__)

NOW_FILE = "reconcile-now"
DEBOUNCE_MS = 50


def now_file(layout: StateLayout) -> Path:
    return layout.run / NOW_FILE


def request_now(layout: StateLayout) -> Path:
    """Ask a running loop for an immediate pass with every backoff forgiven."""
    path = now_file(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("now\n")
    return path


class RefFilter:
    """Accept ref updates in the bare meta repo and the now-file; nothing else."""

    def __init__(self, layout: StateLayout) -> None:
        self.meta = str(layout.meta) + "/"
        self.now = str(now_file(layout))

    def __call__(self, change: Change, path: str) -> bool:
        if path == self.now:
            return change is not Change.deleted
        if not path.startswith(self.meta) or path.endswith(".lock"):
            return False
        rel = path[len(self.meta) :]
        return rel.startswith("refs/") or rel in ("packed-refs", "HEAD")


async def watch(
    layout: StateLayout, on_change: Callable[[], None], on_now: Callable[[], None], stop: asyncio.Event
) -> None:
    """Call ``on_change`` when a ref moves and ``on_now`` when the now-file is touched, until ``stop``."""
    layout.run.mkdir(parents=True, exist_ok=True)
    filt = RefFilter(layout)
    async for changes in awatch(
        layout.meta, layout.run, watch_filter=filt, debounce=DEBOUNCE_MS, step=10, stop_event=stop
    ):
        paths = {p for _, p in changes}
        if filt.now in paths:
            log.info("reconcile now requested")
            on_now()
        if paths - {filt.now}:
            log.info("meta repo refs changed: %s", ", ".join(sorted(paths - {filt.now})))
            on_change()
