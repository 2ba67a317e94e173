"""hive.json max_spawns_per_day, through the manager's real socket: the manager's spawn requests and
proposals adding agents count; the refusal names the cap and when it resets (00:00 UTC).

The daemon's clock is a fake one (``clocked``) so "tomorrow" needs no waiting.
"""

from __future__ import annotations

import pytest

from desired.changes import set_setting
from desired.repo import MetaRepo
from hive_kit import wire
from hive_kit.errors import LimitError, UserError
from tests.core.conftest import OPERATOR, FakeClock, Running


def cap_spawns(daemon: Running, cap: int) -> None:
    repo = MetaRepo(daemon.layout.meta)
    repo.commit(lambda s: set_setting(s, "max_spawns_per_day", cap), author=OPERATOR, message="cap")
    daemon.daemon.core.desired.refresh()


def add(name: str) -> wire.Propose:
    return wire.Propose(ops=[{"op": "add_agent", "agent": {"name": name}}], description=f"add {name}")


async def test_the_manager_is_refused_its_third_spawn_of_the_day_and_may_spawn_again_after_utc_midnight(
    clocked: Running, clock: FakeClock
) -> None:
    cap_spawns(clocked, 2)
    boss = clocked.client("boss")
    await boss.request(wire.RequestSpawn(name="writer", description="writes docs"))
    await boss.request(add("reader"))  # a proposal adding an agent counts too
    with pytest.raises(LimitError) as refused:
        await boss.request(wire.RequestSpawn(name="third", description="one too many"))
    message = str(refused.value)
    assert "max_spawns_per_day is 2 and 2 spawn(s) were requested today (UTC)" in message
    assert "resets at 00:00 UTC (in 16 h 0 min)" in message  # the fake clock reads 08:00 UTC
    with pytest.raises(LimitError):
        await boss.request(add("fourth"))
    # edits that add no agent are not spawns
    await boss.request(
        wire.Propose(ops=[{"op": "set", "name": "peer", "field": "model", "value": "opus"}], description="x")
    )

    clock.advance(16 * 3600)  # 00:00 UTC: a new day
    done = await boss.request(wire.RequestSpawn(name="third", description="a new day"))
    assert done.proposal_id >= 1


async def test_a_refused_proposal_does_not_use_up_a_spawn(clocked: Running) -> None:
    cap_spawns(clocked, 1)
    boss = clocked.client("boss")
    with pytest.raises(UserError, match="not a valid name"):
        await boss.request(add("Bad Name"))
    assert (await boss.request(add("writer"))).proposal_id >= 1
