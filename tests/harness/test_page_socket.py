"""The agent page API on its unix socket: where it is, who may open it, and what a failure costs.

No TCP port: the page is served on ``page/page.sock`` in the agent's socket
directory, the socket 0660 in a directory the harness makes 0700 when the
runtime did not. A page that cannot be served turns the page off, not the
agent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hive_harness.loop import Harness
from hive_harness.serve import page_socket, start_site
from hive_kit.launch import ENV_PAGE, SANDBOX_PAGE, SANDBOX_SOCKET
from hive_kit.paths import StateLayout
from tests.harness.offline import offline_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield from offline_harness(tmp_path)


async def _state(path: Path) -> dict[str, object]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as client,
        client.get("http://agent-page/api/state") as reply,
    ):
        assert reply.status == 200
        data: dict[str, object] = await reply.json()
        return data


def test_the_page_socket_sits_beside_the_agents_socket(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    for name, manager in (("coder", False), ("boss", True)):
        host_socket = layout.socket_for(name, is_manager=manager)
        assert page_socket({}, str(host_socket)) == layout.page_socket_for(name, is_manager=manager)
    assert page_socket({}, SANDBOX_SOCKET) == Path(SANDBOX_PAGE)
    assert page_socket({ENV_PAGE: "/elsewhere/p.sock"}, SANDBOX_SOCKET) == Path("/elsewhere/p.sock")


async def test_served_on_a_0660_socket_in_a_0700_dir_and_removed_on_close(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "page" / "page.sock"
    site = await start_site(harness, path)
    assert site is not None
    try:
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert (await _state(path))["name"] == "bob"
    finally:
        await site.close()
    assert not path.exists()


async def test_a_restart_replaces_a_stale_socket_and_the_old_one_leaves_it_alone(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "page" / "page.sock"
    old = await start_site(harness, path)
    new = await start_site(harness, path)  # a restarted harness racing its predecessor
    assert old is not None and new is not None
    try:
        await old.close()  # the predecessor exits after the new one bound
        assert path.exists()
        assert (await _state(path))["name"] == "bob"
    finally:
        await new.close()


async def test_a_page_that_cannot_be_served_leaves_the_agent_running(
    harness: Harness, tmp_path: Path
) -> None:
    (tmp_path / "page").write_text("a file where the directory should be")
    assert await start_site(harness, tmp_path / "page" / "page.sock") is None
    notes = [e.payload["text"] for e in harness.rt.bus.history() if e.kind == "note"]
    assert len(notes) == 1 and notes[0].startswith("agent page off: cannot serve")
    site = await start_site(harness, tmp_path / "ok" / "page.sock")  # elsewhere, it comes up
    assert site is not None
    await site.close()


async def test_there_is_no_tcp_listener(harness: Harness, tmp_path: Path) -> None:
    before = _tcp_listeners()
    site = await start_site(harness, tmp_path / "page" / "page.sock")
    assert site is not None
    try:
        assert _tcp_listeners() == before
    finally:
        await site.close()


def _tcp_listeners() -> set[str]:
    """Local addresses of this process's listening TCP sockets (from /proc/net/tcp{,6} and its fds)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.islink(f"/proc/self/fd/{fd}") else ""
        if target.startswith("socket:["):
            mine.add(target[len("socket:[") : -1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in mine:  # 0A: LISTEN; [9]: the inode
                    listening.add(fields[1])
    return listening
