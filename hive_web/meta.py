"""The meta repo, reached from the event loop through one worker thread.

pygit2 calls block, and a `Repository` object is not meant to be shared
across threads. So the dashboard keeps one `MetaRepo` on one dedicated
thread: calls are serialised, the loop never blocks on git, and the repo's
parsed-file cache stays warm (a 200-agent `/api/state` re-parses nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from desired.repo import MetaRepo

T = TypeVar("T")


class MetaWorker:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hive-web-meta")
        self._repo: MetaRepo | None = None

    def _with_repo(self, fn: Callable[[MetaRepo], T]) -> T:
        if self._repo is None:
            self._repo = MetaRepo(self.path)
        return fn(self._repo)

    async def run(self, fn: Callable[[MetaRepo], T]) -> T:
        """Run ``fn(repo)`` on the git thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._with_repo, fn)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
