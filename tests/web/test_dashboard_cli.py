"""`hive dashboard url`: only the admin socket mints a login link; without a dashboard it says why.

The link working (once, for five minutes) against a real `hive serve` is in
`test_serve.py` and `test_security.py`; here: who may ask, and the answers
when there is nothing to log into.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive.cli.dashboard import with_host
from hive.daemon import Daemon
from hive_kit import wire
from hive_kit.client import SyncClient
from hive_kit.errors import ForbiddenError
from hive_kit.paths import StateLayout
from tests.conftest import assert_no_traceback, subprocess_env
from tests.core.conftest import make_swarm


def _cli(layout: StateLayout, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hive", "dashboard", "url", "--state-dir", str(layout.root), *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_no_traceback(done)
    return done


@pytest.fixture
def headless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateLayout]:
    """A daemon with its sockets but no dashboard (`hive serve --no-web`)."""
    layout = make_swarm(Path(tmp_path_factory.mktemp("cli")) / "hive")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hive-loop", daemon=True)
    thread.start()

    async def boot() -> tuple[Daemon, asyncio.Task[None]]:
        daemon = Daemon(layout, web=None)
        return daemon, asyncio.create_task(daemon.run())

    daemon, task = asyncio.run_coroutine_threadsafe(boot(), loop).result(timeout=30)
    deadline = time.monotonic() + 30
    while not layout.agent_socket("coder").exists():
        assert time.monotonic() < deadline and not task.done(), "the daemon did not come up"
        time.sleep(0.05)
    try:
        yield layout
    finally:

        async def shutdown() -> None:
            daemon.stop.set()
            await asyncio.wait_for(task, 15)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_without_a_daemon_it_says_so_in_one_line(tmp_path: Path) -> None:
    nowhere = _cli(StateLayout(tmp_path / "nothing-here"))
    assert nowhere.returncode == 1 and nowhere.stdout == ""
    assert nowhere.stderr.count("\n") == 1 and "run `hive init`" in nowhere.stderr, nowhere.stderr
    layout = make_swarm(tmp_path / "hive")  # a state dir, but no `hive serve` on it
    done = _cli(layout)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no `hive serve` is running" in done.stderr


def test_a_daemon_without_a_dashboard_says_so(headless: StateLayout) -> None:
    done = _cli(headless)
    assert done.returncode != 0 and "the dashboard is not running" in done.stderr, done.stderr


def test_agents_cannot_mint_a_login_link(headless: StateLayout) -> None:
    for path in (headless.agent_socket("coder"), headless.manager_socket):
        with SyncClient(path) as client, pytest.raises(ForbiddenError):
            client.request(wire.DashboardLogin())


def test_the_host_can_be_replaced_for_the_browser() -> None:
    link = "http://127.0.0.1:7000/login?code=abc"
    assert with_host(link, None) == link
    assert with_host(link, "my-box") == "http://my-box:7000/login?code=abc"
    assert with_host(link, "my-box:443") == "http://my-box:443/login?code=abc"
