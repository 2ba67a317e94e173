"""The one watcher on the meta repo's refs: it notices every writer and fans out to subscribers.

Anything may move a ref: the CLI, the dashboard, the manager's `propose`, a
`git push`, the webhook. Watching the refs, not each writer, is the one
place that sees them all. Subscribers (the reconciler's trigger, the host
core's desired view, sockets and proposal events, the dashboard's hints)
get one ``RefsMoved`` per debounced batch, with the refs before and after.

watchfiles' default filter ignores everything under `.git`, and a bare repo
is nothing but such files, so ``only_refs`` is our own: `refs/...`,
`packed-refs` and `HEAD` count, never the `*.lock` files that come and go
during every write. The debounce is short (50 ms), so a push is acted on in
well under a second. A subscriber that raises is logged and skipped; the
others still hear about the move.

The first look only seeds (nothing has moved yet); the daemon takes it in
``HostCore.startup``, so a write between start-up and the watcher coming up
is still reported. One safety net stays periodic, on purpose: every
``rescan_s`` (30 s) the watcher re-reads the refs even if inotify said
nothing. inotify can drop events (its queue overflows under load; a watch
is added a moment after a new directory such as ``refs/tags/approved/``
appears), and the host core has no resync of its own the way the
reconciler does. Reading the refs is a handful of small files, and a
rescan that finds nothing moved tells no one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

log = logging.getLogger(__name__)

DEBOUNCE_MS = 50
RESCAN_S = 30.0
MAIN_REF = "refs/heads/main"


@dataclass(frozen=True)
class RefsMoved:
    """One batch of ref updates: every ref's target before and after, and which differ."""

    before: Mapping[str, str]
    after: Mapping[str, str]

    @property
    def changed(self) -> tuple[str, ...]:
        names = self.before.keys() | self.after.keys()
        return tuple(sorted(n for n in names if self.before.get(n) != self.after.get(n)))

    @property
    def main(self) -> str | None:
        return self.after.get(MAIN_REF)


Subscriber = Callable[[RefsMoved], None]


def read_refs(meta: Path) -> dict[str, str]:
    """Every ref of the bare repo at ``meta`` → the object it points at (loose refs win over packed)."""
    refs: dict[str, str] = {}
    try:
        packed = (meta / "packed-refs").read_text()
    except OSError:
        packed = ""
    for line in packed.splitlines():
        if line and line[0] not in "#^":
            target, _, name = line.partition(" ")
            refs[name] = target
    root = meta / "refs"
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file() and not path.name.endswith(".lock"):
                try:
                    refs[path.relative_to(meta).as_posix()] = path.read_text().strip()
                except OSError:
                    continue  # deleted between the listing and the read: the next batch says so
    return refs


def only_refs(meta: Path) -> Callable[[Change, str], bool]:
    root = str(meta) + "/"

    def accept(_change: Change, path: str) -> bool:
        if not path.startswith(root) or path.endswith(".lock"):
            return False
        rel = path[len(root) :]
        return rel.startswith("refs/") or rel in ("packed-refs", "HEAD")

    return accept


class MetaWatch:
    """Watch ``meta``'s refs until stopped; call every subscriber on each batch that moved one."""

    def __init__(self, meta: Path, *, debounce_ms: int = DEBOUNCE_MS, rescan_s: float = RESCAN_S) -> None:
        self.meta = meta
        self.debounce_ms = debounce_ms
        self.rescan_s = rescan_s
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._refs: dict[str, str] | None = None  # None until the first look

    def subscribe(self, name: str, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber`` (named in the log if it fails); returns the call that removes it."""
        entry = (name, subscriber)
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    @property
    def refs(self) -> Mapping[str, str]:
        """The refs as of the last look (empty before the first)."""
        return dict(self._refs or {})

    def check(self) -> RefsMoved | None:
        """Read the refs now and tell the subscribers if any moved; the batch, or None.

        The first call only seeds: it has nothing to compare with.
        """
        after = read_refs(self.meta)
        before, self._refs = self._refs, after
        if before is None:
            return None
        moved = RefsMoved(before, after)
        if not moved.changed:
            return None
        log.debug("meta repo refs moved: %s", ", ".join(moved.changed[:20]))
        for name, subscriber in list(self._subscribers):
            try:
                subscriber(moved)
            except Exception:
                log.exception("meta watch subscriber %s failed on %s", name, ", ".join(moved.changed[:5]))
        return moved

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set (or the task is cancelled)."""
        while not self.meta.is_dir():  # `hive init` may not have run yet
            if stop is not None and stop.is_set():
                return
            await asyncio.sleep(0.5)
        self.check()  # whatever moved since the seed (or the seed itself, if nobody took one)
        async for _changes in awatch(
            self.meta,
            watch_filter=only_refs(self.meta),
            debounce=self.debounce_ms,
            step=10,
            stop_event=stop,
            rust_timeout=int(self.rescan_s * 1000),
            yield_on_timeout=True,  # the periodic rescan: an empty batch every rescan_s
        ):
            self.check()
