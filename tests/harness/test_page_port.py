"""The agent page's port: a port that stays taken turns the page off, not the agent."""

from __future__ import annotations

import socket
from pathlib import Path

from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.serve import start_site
from hive_harness.stats import TurnStats
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig


async def test_a_taken_port_leaves_the_agent_running_without_its_page(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    bus = EventBus(paths.events_db)
    launch = AgentLaunchConfig(name="bob", role="agent", model="haiku")
    harness = Harness(
        Runtime(launch, paths, bus),
        HiveClient(tmp_path / "no.sock"),
        TurnStats(paths.stats_db),
        claude_bin="claude",
        base_env={},
        system_prompt="",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert await start_site(harness, port, attempts=2) is None
    notes = [e.payload["text"] for e in bus.history() if e.kind == "note"]
    assert notes == [f"agent page off: 127.0.0.1:{port} is taken by another process"]
    runner = await start_site(harness, port)  # free again: the page comes up
    assert runner is not None
    await runner.cleanup()
