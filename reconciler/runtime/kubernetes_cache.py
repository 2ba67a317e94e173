"""A watch-fed cache of one kind of object: what the kubernetes runtime's ``list`` reads.

A reconcile pass must not cost a full API list (at 100 agents that is the
difference between zero requests and several per pass), so each kind the
driver reads (StatefulSets, Pods, labelled ``managed-by=hyperhive``) is
listed once, then kept current by a watch resumed from the last
``resourceVersion`` seen (bookmarks keep it fresh while nothing changes).
When the server has compacted that version away it answers 410 Gone (as a
status or as an ERROR event in the stream); the cache then lists again —
the only time it does (``relists`` counts them, for tests and the bench).

Objects are kept as the raw JSON the server sent: the driver's pure
functions read a few fields, and decoding into the client's models would
cost more than the whole pass. The cache is this module's one long-lived
task, started by ``start`` and ended by ``close``; a caller waits for the
first list with ``synced``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hive_kit.errors import TemporaryError
from hive_kit.tasks import start_task

log = logging.getLogger(__name__)

Json = dict[str, Any]
ListCall = Callable[..., Awaitable[Any]]
"""A generated client's ``list_namespaced_*`` bound to its namespace (raw: ``_preload_content=False``)."""

WATCH_SECONDS = 240  # the server ends a watch after this; we resume from the last version
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


class Gone(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class ApiStatus(Exception):
    """A raw (``_preload_content=False``) response that was not 2xx: the client raises nothing then."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status
        self.body = body


async def checked(resp: Any) -> Any:
    """``resp`` if it is 2xx; else ``ApiStatus`` with its body (the response released)."""
    if 200 <= resp.status <= 299:
        return resp
    body = await resp.read()
    raise ApiStatus(resp.status, body)


class Refused(Exception):
    """The first list was refused in a way no retry fixes (401, 403, 404): ``status`` says which."""

    def __init__(self, status: int, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.status = status
        self.exc = exc


REFUSED = frozenset({401, 403, 404})


class WatchCache:
    def __init__(
        self,
        kind: str,
        call: ListCall,
        selector: str,
        *,
        status_of: Callable[[BaseException], int | None],
        on_change: Callable[[dict[str, Json]], None] | None = None,
    ):
        self.kind = kind
        self._on_change = on_change  # after every list and event, with the items: a pure, quick reader
        self._call = call
        self._selector = selector
        self._status_of = status_of
        self.items: dict[str, Json] = {}  # by metadata.name
        self.resource_version = ""
        self.relists = 0  # lists after the first one (each one a 410)
        self.lists = 0
        self._synced = asyncio.Event()
        self.refused: Refused | None = None  # why the last list failed, if no retry will fix it
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    def start(self) -> None:
        if self._task is None:
            self._task = start_task(f"kube-cache-{self.kind}", self._run())

    async def synced(self, timeout: float) -> None:
        """Wait for the first list. ``Refused`` at once if the server refuses it for good; a
        TemporaryError if it does not answer in time."""
        self.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._synced.is_set():
            if self.refused is not None:
                raise self.refused
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TemporaryError(
                    f"the Kubernetes API server did not list {self.kind} within {timeout:g}s; is it up "
                    "(KUBECONFIG, HIVE_KUBE_NAMESPACE)?"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), min(left, 0.1))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_for(self, check: Callable[[dict[str, Json]], bool], timeout: float) -> bool:
        """Until ``check(items)`` holds (re-checked on every event) or ``timeout``; whether it did."""
        self.start()
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: check(self.items)), timeout)
            except TimeoutError:
                return False
        return True

    async def _run(self) -> None:
        failures = 0  # in a row: the retry doubles from RETRY_SECONDS up to MAX_RETRY_SECONDS
        while True:
            try:
                if not self._synced.is_set() or not self.resource_version:
                    await self._list()
                await self._watch()
                failures = 0
            except Gone:
                log.info(
                    "kube cache %s: resourceVersion %s is gone (410); listing again",
                    self.kind,
                    self.resource_version,
                )
                self.resource_version = ""
                self.relists += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection, a 5xx: resume from the version we have
                status = self._status_of(exc)
                if status in REFUSED and not self._synced.is_set():
                    self.refused = Refused(status, exc)
                delay = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2**failures)
                failures += 1
                log.warning("kube cache %s: %s; retrying in %gs", self.kind, exc, delay)
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        resp = await checked(
            await self._call(label_selector=self._selector, _preload_content=False, _request_timeout=60)
        )
        body = json.loads(await resp.read())
        self.lists += 1
        self.refused = None
        async with self._changed:
            self.items = {item["metadata"]["name"]: item for item in body.get("items") or []}
            self.resource_version = str((body.get("metadata") or {}).get("resourceVersion", ""))
            self._synced.set()
            self._notify()

    async def _watch(self) -> None:
        try:
            resp = await checked(
                await self._call(
                    label_selector=self._selector,
                    watch=True,
                    resource_version=self.resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_SECONDS,
                    _preload_content=False,
                    _request_timeout=(10, WATCH_SECONDS + 60),  # bookmarks come about once a minute
                )
            )
        except Exception as exc:
            if self._status_of(exc) == 410:
                raise Gone from exc
            raise
        try:
            while line := await resp.content.readline():
                if line.strip():
                    await self._event(json.loads(line))
        finally:
            resp.release()

    async def _event(self, event: Json) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        meta = obj.get("metadata") or {}
        async with self._changed:
            if kind in ("ADDED", "MODIFIED"):
                self.items[meta["name"]] = obj
            elif kind == "DELETED":
                self.items.pop(meta["name"], None)
            if meta.get("resourceVersion"):
                self.resource_version = str(meta["resourceVersion"])
            self._notify()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self.items)
        self._changed.notify_all()
