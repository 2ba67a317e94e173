"""hive.json max_concurrent_turns: three agents woken at once take turns one after another; none is lost;
a harness killed mid-turn gives its slot back.

Real: daemon + sockets + broker, three `hive-harness serve` processes, the
`claude` CLI, our MCP server. Stand-in: the scripted Messages API
(tests/seams), whose first reply is held open so the queue can be looked at.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from typing import Any

import pytest

from desired.changes import set_setting
from desired.repo import MetaRepo
from hive_kit.wire import Send, Status
from tests.core.conftest import Running
from tests.harness.conftest import OPERATOR, HarnessProcess, needs_claude
from tests.seams.scripted_api import Reply, ScriptedAPI, Text

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(240)]

NAMES = (("boss", "manager"), ("alice", "agent"), ("bob", "agent"))


def cap_turns(hive: Running, limit: int) -> None:
    repo = MetaRepo(hive.layout.meta)
    repo.commit(lambda s: set_setting(s, "max_concurrent_turns", limit), author=OPERATOR, message="cap")
    hive.daemon.core.desired.refresh()


async def start_three(hive: Running, harness: Any, api: ScriptedAPI) -> dict[str, HarnessProcess]:
    """All three up and through their restart-note turns (which the cap also serialises)."""
    procs = {name: await harness(name, role, env=api.env()) for name, role in NAMES}
    for proc in procs.values():
        await proc.wait_turns(1)
    return procs


def held(gate: threading.Event) -> Reply:
    return Reply(blocks=(Text("held turn done"),), hold=gate)


async def wake_all(hive: Running) -> None:
    operator = hive.client("operator")
    for name, _ in NAMES:
        await operator.request(Send(to=name, body=f"wake up, {name}"))


async def queued_behind_one(procs: dict[str, HarnessProcess], hive: Running) -> str:
    """Wait until one turn runs and two wait; the runner's name."""
    slots = hive.daemon.core.turn_slots

    async def two_queued() -> bool:
        states = [(await p.get("/api/state"))["turn_state"] for p in procs.values()]
        usage = slots.usage()
        return states.count("queued") == 2 and len(usage.running) == 1 and len(usage.queued) == 2

    await next(iter(procs.values())).wait_until("one running, two queued", two_queued)
    return slots.usage().running[0][0]


async def test_three_agents_woken_at_once_take_turns_one_after_another_and_none_is_lost(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    cap_turns(hive, 1)
    procs = await start_three(hive, harness, api)
    gate = threading.Event()
    api.push(held(gate))
    await wake_all(hive)
    try:
        first = await queued_behind_one(procs, hive)
        assert (await procs[first].get("/api/state"))["turn_state"] == "thinking"
        status = await hive.client("operator").request(Status())
        assert status.caps["max_concurrent_turns"] == 1
        running, queued = status.caps["turns_running"], status.caps["turns_queued"]
        assert [r[0] for r in running] == [first] and len(queued) == 2
    finally:
        gate.set()

    for proc in procs.values():
        await proc.wait_turns(2)
    woken = {name: proc.turns()[1] for name, proc in procs.items()}
    assert all(row["wake_from"] == "operator" and row["result_kind"] == "ok" for row in woken.values())
    spans = sorted((row["started_at"], row["ended_at"], name) for name, row in woken.items())
    assert spans[0][2] == first
    for (_, ended, _), (started, _, _) in itertools.pairwise(spans):
        assert started >= ended, f"turns overlapped under max_concurrent_turns 1: {spans}"
    grants = [e.agent for e in hive.daemon.core.turn_slots.log if e.kind == "granted"][-3:]
    assert grants == [name for _, _, name in spans], "the host's slot log and the turns agree on the order"
    for name in procs:
        assert any(f"wake up, {name}" in r.all_text() for r in api.main_requests()), f"{name}'s mail was lost"


async def test_a_harness_killed_mid_turn_gives_its_slot_back(
    hive: Running, harness: Any, api: ScriptedAPI
) -> None:
    cap_turns(hive, 1)
    procs = await start_three(hive, harness, api)
    gate = threading.Event()
    api.push(held(gate))
    asked = len(api.main_requests())
    await wake_all(hive)
    first = await queued_behind_one(procs, hive)
    # kill it mid-turn: once its claude is inside the held model call, not while it starts up
    await procs[first].wait_until("the held model call", lambda: len(api.main_requests()) > asked)
    victim = procs.pop(first)
    assert victim.proc is not None
    try:
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        for proc in procs.values():
            await proc.wait_turns(2)
    finally:
        gate.set()  # a failure must not leave the scripted API holding a stream at teardown
    assert all(p.turns()[1]["result_kind"] == "ok" for p in procs.values())
    assert first not in [agent for agent, _ in hive.daemon.core.turn_slots.usage().running]
