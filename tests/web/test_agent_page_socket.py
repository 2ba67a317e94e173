"""An agent page end to end over its unix socket: a real `hive-harness serve`, the real daemon's dashboard.

The daemon (host core, sockets, and the dashboard as its `web` component, as
in `hive serve`) runs on a background loop; the agent is a real harness
process for ``coder`` (no sandbox, so ``page/page.sock`` sits beside its host
socket, where `StateLayout.page_socket_for` says). Its turns run a claude
that exits at once: the page is what is tested here, not the model. The
operator reaches the page only through the dashboard, logged in; the harness
listens on no TCP port at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hive.daemon import Daemon
from hive_web.keys import WebConfig
from tests.core.conftest import make_swarm
from tests.harness.conftest import HarnessProcess
from tests.web.conftest import Login, http, log_in, login_with

pytestmark = pytest.mark.slow


@dataclass
class Hive:
    daemon: Daemon
    loop: asyncio.AbstractEventLoop
    url: str
    harness: HarnessProcess

    def login_link(self) -> str:
        async def issue() -> str:
            return self.daemon.core.login_codes.issue().url

        return asyncio.run_coroutine_threadsafe(issue(), self.loop).result(timeout=10)


def _until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def hive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hive]:
    layout = make_swarm(Path(tmp_path_factory.mktemp("page")) / "hive")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hive-loop", daemon=True)
    thread.start()

    async def boot() -> tuple[Daemon, asyncio.Task[None]]:
        daemon = Daemon(layout, web=WebConfig(host="127.0.0.1", port=0))
        return daemon, asyncio.create_task(daemon.run())

    daemon, task = asyncio.run_coroutine_threadsafe(boot(), loop).result(timeout=30)
    env = {"HIVE_MCP_TRANSPORT": "stdio", "HIVE_CLAUDE_BIN": "/bin/false"}
    harness = HarnessProcess(layout, "coder", "agent", env)
    try:
        url = _until("the dashboard", lambda: daemon.core.login_codes.base_url)
        harness.start("agent")
        yield Hive(daemon, loop, url, harness)
    finally:
        harness.stop()

        async def shutdown() -> None:
            daemon.stop.set()
            await asyncio.wait_for(task, 15)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _page_up(hive: Hive, login: Login) -> bool:
    reply = http("GET", f"{hive.url}/agents/coder/api/state", headers=login.reads())
    assert reply.status in (200, 502, 503), reply.body  # 503 until its hello, 502 until its socket
    return reply.status == 200


def _tcp_listeners(pid: int) -> list[str]:
    """The local addresses ``pid`` listens on over TCP (its socket fds matched in /proc/net/tcp{,6})."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # state 0A = LISTEN; [9] = inode
                    found.append(fields[1])
    return found


def _sse_until(hive: Hive, login: Login, kind: str, want: dict[str, Any]) -> dict[str, Any]:
    """Read the agent's stream through the dashboard until an event of ``kind`` carrying ``want``."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(hive.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    conn.request("GET", "/agents/coder/events/stream?after=0", headers=login.reads())
    response = conn.getresponse()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    try:
        current: dict[str, str] = {}
        while True:
            line = response.fp.readline().decode().rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                current[key] = value
                continue
            if current.get("event") == kind:
                data: dict[str, Any] = json.loads(current["data"])
                if want.items() <= data.items():
                    return data
            current = {}
    finally:
        conn.close()


def test_the_agent_page_works_through_the_dashboard_over_its_socket(hive: Hive, page: Any) -> None:
    login = login_with(hive.login_link())
    _until("the agent page", lambda: _page_up(hive, login))
    socket_path = hive.daemon.layout.page_socket_for("coder", is_manager=False)
    assert stat.S_ISSOCK(socket_path.stat().st_mode)

    state = http("GET", f"{hive.url}/agents/coder/api/state", headers=login.reads())
    assert state.status == 200 and state.headers["Content-Type"].startswith("application/json")
    assert state.body["name"] == "coder"
    assert http("GET", f"{hive.url}/agents/coder/api/state").status == 401, "not without a session"

    assert hive.harness.proc is not None
    assert _tcp_listeners(hive.harness.proc.pid) == [], "the page (and nothing else) on TCP"

    changed = http(
        "POST", f"{hive.url}/agents/coder/api/model", {"model": "opus"}, headers=login.writes(hive.url)
    )
    assert changed.status == 200 and changed.body["model"] == "opus", changed.body
    assert _sse_until(hive, login, "model_changed", {"model": "opus"})["desired"] == "haiku"

    log_in(page, hive.login_link(), "/agents/coder/")
    page.wait_for_selector("body[data-live='1']")
    page.locator("#model-badge", has_text="opus").wait_for()
    area = page.locator("#prompt textarea")
    area.fill("/model sonnet")
    area.press("Enter")
    page.locator("#model-badge", has_text="sonnet").wait_for()
    assert _sse_until(hive, login, "model_changed", {"model": "sonnet"})
