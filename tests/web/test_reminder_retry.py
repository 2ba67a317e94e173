"""Reminders: the operator retries one that failed delivery, in Chromium, against the real host core.

The whole daemon (`hive.daemon.Daemon`: host core, agent sockets, deadline
scheduler, meta watch, and the dashboard as its `web` component) runs in a
background loop, as inside `hive serve`, with one difference: its clock is the
wall clock plus an offset the test moves forward. That is how the scheduler's
five failed attempts, 30 s apart, happen in a second instead of two and a half
minutes; the scheduler itself runs unchanged (the test only pokes it awake, as
a new deadline would).

The failure is the real one: the reminder's agent left desired state (the
operator destroyed it from the dashboard), so each delivery attempt is
refused with "agent peer is not in desired state". The operator adds it back,
clicks retry, and the reminder lands in the agent's inbox, read through its
own socket with `hive_kit.client`, exactly as its harness would.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hive.daemon import Daemon
from hive_core.events import ReminderRetried
from hive_core.stores.reminders import MAX_ATTEMPTS
from hive_kit import wire
from hive_kit.client import SyncClient
from hive_kit.paths import StateLayout
from hive_web.keys import WebConfig
from tests.conftest import subprocess_env
from tests.core.conftest import make_swarm
from tests.web.conftest import Login, Reply, Served, http, log_in, login_with, open_dashboard

pytestmark = pytest.mark.slow
_URL = re.compile(r"dashboard on (http://127\.0\.0\.1:\d+)/")
_LINK = re.compile(r"log in: (\S+)")


class ShiftedClock:
    """Wall-clock time plus an offset that only the test moves (forward)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Hive:
    layout: StateLayout
    daemon: Daemon
    loop: asyncio.AbstractEventLoop
    clock: ShiftedClock
    url: str
    login: Login

    def on_loop(self, fn: Any) -> None:
        self.loop.call_soon_threadsafe(fn)

    def tick(self, seconds: float) -> None:
        """Move the daemon's clock on and wake its deadline scheduler."""
        self.clock.advance(seconds)
        self.on_loop(self.daemon.core.poke_deadlines)

    def headers(self) -> dict[str, str]:
        """What the dashboard page sends on a write: its cookie, Origin and the CSRF token from its <meta>."""
        return self.login.writes(self.url)

    def login_link(self) -> str:
        """A fresh one-time link, minted by the daemon as `hive dashboard url` asks it to."""

        async def issue() -> str:
            return self.daemon.core.login_codes.issue().url

        return asyncio.run_coroutine_threadsafe(issue(), self.loop).result(timeout=10)

    def post(self, path: str, body: Any = None) -> Reply:
        return http("POST", self.url + path, body if body is not None else {}, headers=self.headers())

    def reminders(self) -> dict[int, wire.Reminder]:
        """Every reminder, as the operator's `hive reminders` reads them (admin socket)."""
        with SyncClient(self.layout.admin_socket) as admin:
            found = admin.request(wire.ListReminders(include_done=True, limit=200)).reminders
        return {r.id: r for r in found}


def _wait(predicate: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def hive(tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> Iterator[Hive]:
    layout = make_swarm(Path(tmp_path_factory.mktemp("rem")) / "hive")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hive-loop", daemon=True)
    thread.start()
    clock = ShiftedClock()

    async def boot() -> tuple[Daemon, asyncio.Task[None]]:
        daemon = Daemon(layout, clock=clock, web=WebConfig(host="127.0.0.1", port=0))
        return daemon, asyncio.create_task(daemon.run())

    booted: Future[tuple[Daemon, asyncio.Task[None]]] = asyncio.run_coroutine_threadsafe(boot(), loop)
    daemon, task = booted.result(timeout=30)
    printed: list[str] = []

    def announced() -> tuple[str, str] | None:
        printed.append(capsys.readouterr().out)
        found, link = _URL.search("".join(printed)), _LINK.search("".join(printed))
        if task.done():
            raise RuntimeError(f"the daemon stopped: {task.exception()!r}")
        return (found.group(1), link.group(1)) if found and link else None

    url, link = _wait(announced, "the dashboard to come up", timeout=30)
    try:
        yield Hive(layout, daemon, loop, clock, url, login_with(link))
    finally:

        async def shutdown() -> None:
            daemon.stop.set()
            await asyncio.wait_for(task, 15)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _open_reminders(page: Any, hive: Hive) -> None:
    log_in(page, hive.login_link(), "/#reminders")
    page.wait_for_selector("#live[data-state=live]")


def _fail_until_given_up(hive: Hive, rid: int) -> wire.Reminder:
    """Let the scheduler try (and fail) until it gives up: one attempt per 30 s of daemon time."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        hive.tick(31)
        got = _wait(
            lambda n=attempt: (r := hive.reminders()[rid]).attempts >= n and r,
            f"delivery attempt {attempt} of reminder #{rid}",
        )
        assert got.attempts == attempt, got
    return got  # type: ignore[no-any-return]


def test_retrying_a_failed_reminder_delivers_it_to_the_agent(hive: Hive, page: Any) -> None:
    peer = SyncClient(hive.layout.agent_socket("peer"))
    rid = peer.request(wire.Remind(message="rerun the flaky test", delay_seconds=20)).reminder.id
    peer.close()

    # The operator destroys peer from the dashboard: its reminders can no longer be delivered.
    destroyed = hive.post("/api/agents/peer/destroy")
    assert destroyed.status == 200, destroyed.body
    _wait(lambda: not hive.layout.agent_socket("peer").exists(), "peer's socket to go")

    failed = _fail_until_given_up(hive, rid)
    assert (failed.status, failed.attempts) == ("failed", MAX_ATTEMPTS)
    assert failed.last_error == "agent peer is not in desired state"
    hive.tick(3600)  # given up: however long we wait, the scheduler tries no more
    time.sleep(0.3)
    assert hive.reminders()[rid].attempts == MAX_ATTEMPTS

    _open_reminders(page, hive)
    row = page.locator(f"#reminders-table tr[data-reminder='{rid}']")
    assert row.locator(".pill").inner_text() == "failed"
    assert "agent peer is not in desired state" in row.locator(".problems").inner_text()
    assert row.locator("td").nth(5).inner_text() == str(MAX_ATTEMPTS)
    assert row.locator("[data-cancel]").count() == 0

    # Back in desired state (the dashboard's add-agent form), then retry from the row.
    added = hive.post("/api/agents", {"name": "peer", "description": "back again"})
    assert added.status == 201, added.body
    _wait(lambda: hive.layout.agent_socket("peer").exists(), "peer's socket to come back")
    row.locator("[data-retry]").click()
    page.locator(".toast", has_text=f"reminder #{rid}: queued again").wait_for()

    # The retry is an event of its own: live in the page's event flow, and in `hive events`.
    page.locator("#events-table tr", has_text="reminder_retried").wait_for(state="attached")
    retried = [e for e in _events(hive) if e["kind"] == "reminder_retried"]
    assert [(e["id"], e["agent"], e["by"]) for e in retried] == [(rid, "peer", "operator")]

    # What the operator notices: the row turns sent, with no error and no retry button.
    row.locator(".pill", has_text="sent").wait_for()
    assert row.locator(".problems").count() == 0
    assert row.locator("[data-retry]").count() == 0
    assert row.locator("td").nth(5).inner_text() == "1"
    sent = hive.reminders()[rid]
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)

    # What the agent notices: the reminder in its inbox, on its own socket.
    with SyncClient(hive.layout.agent_socket("peer")) as peer:
        got = peer.request(wire.Recv(wait_seconds=10, max=5))
    assert len(got.messages) == 1, got.messages
    assert got.messages[0].body.startswith(f"[reminder #{rid}, set ")
    assert got.messages[0].body.endswith("] rerun the flaky test")


def _events(hive: Hive) -> list[dict[str, Any]]:
    """`hive events --json`: the host's event log over the admin socket, one JSON object a line."""
    done = subprocess.run(
        [sys.executable, "-m", "hive", "events", "--json", "--state-dir", str(hive.layout.root)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_a_reminder_retried_event_makes_the_page_reread_reminders(dashboard: Served, page: Any) -> None:
    """The event alone (no other change) is enough for the Reminders section to re-read its rows."""
    open_dashboard(page, dashboard, "/#reminders")
    page.wait_for_selector("#live[data-state=live]")
    with page.expect_response(lambda r: r.url.endswith("/api/state")) as reread:
        dashboard.publish(ReminderRetried(id=7, agent="peer", by="operator"))
    assert reread.value.status == 200
    page.locator("#events-table tr", has_text="reminder_retried").wait_for(state="attached")


def test_retrying_what_cannot_be_retried_is_refused_and_changes_nothing(hive: Hive) -> None:
    with SyncClient(hive.layout.agent_socket("peer")) as peer:
        rid = peer.request(wire.Remind(message="stand-up", delay_seconds=600)).reminder.id
        cancelled = peer.request(wire.Remind(message="old", delay_seconds=600)).reminder.id
        peer.request(wire.CancelThread(kind="reminder", id=cancelled))
    before = hive.reminders()

    unknown = hive.post("/api/reminders/999999/retry")
    assert unknown.status == 404, unknown.body
    assert "no reminder #999999" in unknown.error

    not_a_number = hive.post("/api/reminders/abc/retry")
    assert not_a_number.status == 400, not_a_number.body
    assert "'abc'" in str(not_a_number.body)

    done = hive.post(f"/api/reminders/{cancelled}/retry")
    assert done.status == 409, done.body
    assert f"reminder #{cancelled} is cancelled" in done.error

    no_token = http(
        "POST",
        f"{hive.url}/api/reminders/{rid}/retry",
        {},
        headers={"Origin": hive.url, **hive.login.reads()},
    )
    assert no_token.status == 403, no_token.body

    assert hive.reminders() == before
    assert before[rid].status == "pending"
