"""A harness with no daemon and no claude behind it: enough to serve its page API in a test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hive_harness.events import EventBus
from hive_harness.loop import Harness
from hive_harness.runtime import Runtime, StatePaths
from hive_harness.stats import TurnStats
from hive_kit.client import HiveClient
from hive_kit.launch import AgentLaunchConfig


def offline_harness(tmp_path: Path, name: str = "bob") -> Iterator[Harness]:
    """Yield a ``Harness`` for agent ``name`` whose state is under ``tmp_path``; close its stores after."""
    paths = StatePaths(tmp_path / "state")
    paths.root.mkdir()
    bus = EventBus(paths.events_db)
    stats = TurnStats(paths.stats_db)
    try:
        yield Harness(
            Runtime(AgentLaunchConfig(name=name, role="agent", model="haiku"), paths, bus),
            HiveClient(tmp_path / "no.sock"),
            stats,
            claude_bin="claude",
            base_env={},
            system_prompt="",
        )
    finally:
        bus.close()
        stats.close()
