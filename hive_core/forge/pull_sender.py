"""Sending one proposal's ``pull:<id>`` wish (``hive_core.forge.pulls``): git pushes and API calls.

Each step is safe to repeat, because a failure anywhere leaves the row to be
retried from the start: the branch push is idempotent, an existing pull
request is found by its branch before one is made, a merged or closed one is
left alone. The link (proposal → pull request) is stored as soon as it is
known, so the webhook can tell a proposal's pull request from a person's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pygit2

from desired import remote
from desired.repo import MAIN, MetaRepo
from hive_core.forge import gitpush, pulls
from hive_core.forge.client import ForgeClient
from hive_core.forge.store import ForgeStore, PullLink
from hive_kit.errors import PermanentError
from hive_kit.paths import StateLayout


class PullSender:
    def __init__(self, layout: StateLayout, store: ForgeStore, client: ForgeClient) -> None:
        self.layout, self.store, self.client = layout, store, client

    async def send(self, p: dict[str, Any]) -> dict[str, Any]:
        pid = int(p["pid"])
        if p["want"] == "open":
            return await self._open(pid, p)
        link = await self._link(pid)
        if link is None:
            return {"summary": f"proposal {pid} has no pull request; nothing to mark {p['want']}"}
        if link.state != "open":
            return {"summary": f"#{link.pr} of proposal {pid} is already {link.state}"}
        if p["want"] == "merged":
            return await self._merged(link, str(p["sha"]))
        await self.client.close_pull(link.pr)
        self.store.set_pull_state(pid, "closed")
        await self.client.create_comment(link.pr, pulls.denial_comment(p["by"], p["note"]))
        return {"id": link.pr, "summary": f"#{link.pr} of proposal {pid} closed (denied)"}

    async def _link(self, pid: int) -> PullLink | None:
        link = self.store.pulls().get(pid)
        if link is not None:
            return link
        found = await self.client.find_pull(pulls.branch(pid))
        if found is None:
            return None
        self.store.set_pull(pid, found[0], found[1], found[2])
        return self.store.pulls()[pid]

    async def _open(self, pid: int, p: dict[str, Any]) -> dict[str, Any]:
        name = pulls.branch(pid)
        # hyperhive owns proposals/<id>: an amendment made here replaces whatever the forge has
        await asyncio.to_thread(gitpush.push, self.layout.meta, p["sha"], f"refs/heads/{name}", force=True)
        found = await self.client.find_pull(name)
        if found is not None:
            number, url, state = found
            self.store.set_pull(pid, number, url, state if state in ("merged", "closed") else "open")
            return {"id": number, "summary": f"{name} pushed at {p['sha'][:12]}; #{number} was there"}
        number, url = await self.client.create_pull(name, p["title"], p["body"])
        self.store.set_pull(pid, number, url)
        return {"id": number, "summary": f"proposal {pid} opened as #{number}"}

    async def _merged(self, link: PullLink, landed: str) -> dict[str, Any]:
        """Put the commit that landed on the forge's main (if not yet), then mark the PR merged by it."""
        meta = self.layout.meta
        forge_main = await asyncio.to_thread(remote.fetch, meta)
        repo = MetaRepo(meta)
        if not _contains(repo, forge_main, landed):
            head = repo.head(MAIN)
            if head is None or not _contains(repo, str(head), landed):
                raise PermanentError(
                    f"main no longer contains {landed[:12]}; proposal {link.pid} cannot merge"
                )
            try:
                await asyncio.to_thread(gitpush.push, meta, str(head), "refs/heads/main")
            except gitpush.PushRejected as exc:  # the reason on Forgejo's side too, once
                note = pulls.push_refused_comment(link.pid, landed, str(exc))
                self.store.enqueue(f"note:{link.pr}:{landed}", {"kind": "note", "pr": link.pr, "body": note})
                raise
        await self.client.mark_merged(link.pr, landed)
        self.store.set_pull_state(link.pid, "merged")
        return {"id": link.pr, "summary": f"#{link.pr} of proposal {link.pid} merged as {landed[:12]}"}


def _contains(repo: MetaRepo, tip: str, commit: str) -> bool:
    a, b = pygit2.Oid(hex=tip), pygit2.Oid(hex=commit)
    return a == b or bool(repo.git.descendant_of(a, b))
