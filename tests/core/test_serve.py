"""`hive serve` as a process: one per state dir, private sockets that follow desired state, clean stop."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from desired.changes import add_agent, remove_agent
from desired.repo import MetaRepo
from hive_kit import wire
from hive_kit.errors import UnavailableError
from tests.conftest import HiveRunner
from tests.core.conftest import OPERATOR, Process, Running


@pytest.mark.slow
def test_one_daemon_per_state_dir_and_a_clean_stop(serve_process: Process, hive: HiveRunner) -> None:
    serve_process.start()
    layout = serve_process.layout
    second = hive("serve", "--state-dir", str(layout.root), state=False, timeout=30)
    assert second.returncode == 1
    assert "another `hive serve`" in second.stderr and "is running" in second.stderr
    assert stat.S_IMODE(layout.run.stat().st_mode) == 0o700
    assert stat.S_IMODE(layout.admin_socket.stat().st_mode) == 0o600
    for sock in (layout.manager_socket, layout.agent_socket("coder")):
        # the agent's own group may connect (root daemon: hive_core.identities); nobody else
        mode = 0o660 if os.geteuid() == 0 else 0o600
        assert stat.S_IMODE(sock.stat().st_mode) == mode
        assert stat.S_IMODE(sock.parent.stat().st_mode) == (0o750 if os.geteuid() == 0 else 0o700)
        assert sock.stat().st_uid == os.geteuid() and sock.stat().st_gid == sock.parent.stat().st_gid
    assert serve_process.stop() == 0
    assert not layout.admin_socket.exists() and not layout.agent_socket("coder").exists()
    # the directory stays: a sandbox that outlives the daemon has it bound as /run/hive
    assert layout.agent_socket("coder").parent.is_dir()


async def test_agent_sockets_follow_desired_state(daemon: Running) -> None:
    repo = MetaRepo(daemon.layout.meta)
    repo.commit(lambda s: add_agent(s, {"name": "newbie"}), author=OPERATOR, message="add newbie")
    await daemon.daemon.sockets.sync_agents()
    assert (await daemon.client("newbie").request(wire.Whoami())).name == "newbie"

    repo.commit(lambda s: remove_agent(s, "peer"), author=OPERATOR, message="remove peer")
    await daemon.daemon.sockets.sync_agents()
    assert not daemon.layout.agent_socket("peer").parent.exists()
    with pytest.raises(UnavailableError):
        await daemon.client("peer").request(wire.Whoami())
    # the manager has only its own socket, never an agents/ one
    assert not daemon.layout.agent_socket("boss").exists()


async def test_the_meta_watch_notices_main_moving_without_being_told(daemon: Running) -> None:
    repo = MetaRepo(daemon.layout.meta)
    repo.commit(lambda s: add_agent(s, {"name": "late"}), author=OPERATOR, message="add late")
    for _ in range(300):  # the meta watch hears the ref move (50 ms debounce); no poll to wait for
        if daemon.layout.agent_socket("late").exists():
            break
        await asyncio.sleep(0.02)
    assert daemon.layout.agent_socket("late").exists()


async def test_a_crashing_component_stops_the_daemon_with_an_error(swarm) -> None:  # type: ignore[no-untyped-def]
    from hive.daemon import Daemon
    from hive_kit.errors import PermanentError

    daemon = Daemon(swarm)

    async def broken() -> None:
        raise RuntimeError("boom")

    daemon.add("broken", broken)
    with pytest.raises(PermanentError, match=r"broken: RuntimeError\('boom'\)"):
        await asyncio.wait_for(daemon.run(), 10)
    assert not swarm.admin_socket.exists()


async def test_socket_dirs_of_agents_removed_while_down_are_cleared(swarm) -> None:  # type: ignore[no-untyped-def]
    from tests.core.conftest import start_daemon

    ghost = swarm.agent_socket("ghost").parent
    ghost.mkdir(parents=True)
    running = await start_daemon(swarm)
    try:
        assert not ghost.exists()
        assert swarm.agent_socket("peer").exists()
    finally:
        await running.close()
