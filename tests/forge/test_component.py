"""The forge component alone: idle without a forge, and one sender per state dir.

The Forgejo stand-in (``tests/seams/forgejo.py``) replaces a Forgejo server,
which cannot run here. The rest is real: ``forge.sqlite``, the host's event
log, the ``flock`` claim, the pyforgejo client over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import threading
import time

import pytest

from hive_core.events import EventLog
from hive_core.forge import claim, connection
from hive_core.forge.connection import Connection
from hive_core.forge.report import VALIDATE
from hive_core.forge.store import store_path
from hive_core.stores.schema import open_core_db
from hive_kit.paths import StateLayout
from hive_web import forge_component
from hive_web.forge_component import ForgeComponent
from tests.seams.forgejo import ForgejoStandIn


def component(layout: StateLayout) -> ForgeComponent:
    return ForgeComponent(layout, EventLog(open_core_db(layout.db)), None, None, webhooks=False)


def status_row(sha: str, description: str) -> dict[str, str]:
    return {
        "kind": "status",
        "sha": sha,
        "context": VALIDATE,
        "state": "success",
        "description": description,
        "target_url": "http://hive.test:7000/",
    }


async def until(what: str, check: object, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


def test_without_a_forge_it_opens_nothing_and_starts_no_thread(layout: StateLayout) -> None:
    async def main() -> None:
        idle = component(layout)
        before = {t.name for t in threading.enumerate()}
        task = asyncio.create_task(idle.run())
        await asyncio.sleep(0.3)
        assert {t.name for t in threading.enumerate()} == before
        assert not idle.sending and not store_path(layout).exists() and not claim.claim_path(layout).exists()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_one_sender_per_state_dir_and_the_next_takes_over(
    layout: StateLayout, forge: ForgejoStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forge_component, "CLAIM_RETRY", 0.2)
    conn = Connection(
        url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url="http://hive.test:7000"
    )
    connection.save(layout, conn, forge.token)
    sha = forge.head("main")

    def posted() -> int:
        return sum(1 for c in forge.calls if c.method == "POST" and "/statuses/" in c.path)

    async def main() -> None:
        first, second = component(layout), component(layout)
        one = asyncio.create_task(first.run())
        await until("the first to claim the outbox", lambda: first.sending)
        # beside hive.lock, out of every sandbox: an agent sees only its own run/<name>
        held = claim.claim_path(layout)
        assert held.parent == layout.run and stat.S_IMODE(held.stat().st_mode) == 0o600
        assert stat.S_IMODE(layout.run.stat().st_mode) == 0o700
        assert not held.is_relative_to(layout.run_dir_for("coder", is_manager=False))
        two = asyncio.create_task(second.run())
        await asyncio.sleep(0.5)
        assert not second.sending, "a second sender on the same state dir waits"

        # both see the row (one forge.sqlite); both are poked; it is sent once
        second.link().store.enqueue(f"status:{sha}:{VALIDATE}", status_row(sha, "one"))
        first.link().sender.poke()
        second.link().sender.poke()
        await until("the status sent", lambda: posted() == 1)
        await asyncio.sleep(0.5)
        assert posted() == 1

        one.cancel()
        await asyncio.gather(one, return_exceptions=True)
        await until("the second to take over", lambda: second.sending)
        second.link().store.enqueue(f"status:{sha}:{VALIDATE}", status_row(sha, "two"))
        second.link().sender.poke()
        await until("the next status sent by the second", lambda: posted() == 2)
        assert forge.status_of(sha, VALIDATE)["description"] == "two"  # type: ignore[index]
        two.cancel()
        await asyncio.gather(two, return_exceptions=True)
        first.close()
        second.close()

    asyncio.run(main())


def test_an_unreadable_outbox_is_logged_and_does_not_end_the_component(
    layout: StateLayout,
    forge: ForgejoStandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A root task of the daemon: if it ended, `hive serve` would stop the whole swarm."""
    monkeypatch.setattr(forge_component, "CLAIM_RETRY", 0.2)
    conn = Connection(
        url=forge.url, owner=forge.owner, repo=forge.name, dashboard_url="http://hive.test:7000"
    )
    connection.save(layout, conn, forge.token)
    store_path(layout).write_text("not a database\n")

    async def main() -> None:
        broken = component(layout)
        task = asyncio.create_task(broken.run())
        await until("the error logged", lambda: "file is not a database" in caplog.text)
        await asyncio.sleep(0.5)
        assert not task.done() and not broken.sending
        assert claim.sender_pid(layout) is None, "the claim is given back while it cannot send"
        store_path(layout).unlink()  # the operator moves the broken file away
        await until("sending once the store opens", lambda: broken.sending)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        broken.close()

    with caplog.at_level(logging.ERROR, logger="hive_web.forge_component"):
        asyncio.run(main())
    assert "Traceback" not in caplog.text, "a broken store is one line, not a traceback"
