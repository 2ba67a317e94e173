"""A recv costs what is waiting, not what an agent has ever received.

Measured in sqlite virtual-machine steps (``set_progress_handler`` counts them),
not in time: the same on any machine and under any load. Before the hot
queries were pinned to the partial indexes, sqlite's planner walked the
recipient's whole history on every recv (1.5 ms per recv after 6,000 acked
messages, growing without bound).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw

from hive_core.events import EventLog
from hive_core.stores.broker import Broker
from hive_core.stores.schema import open_core_db


def steps(conn: apsw.Connection, action: Callable[[], object]) -> int:
    counted = [0]

    def tick() -> bool:
        counted[0] += 1
        return False  # keep going

    conn.set_progress_handler(tick, 10)
    try:
        action()
    finally:
        conn.set_progress_handler(None)
    return counted[0] * 10


def history(broker: Broker, recipient: str, count: int) -> None:
    """``count`` messages sent to ``recipient``, delivered and acked."""
    for start in range(0, count, 500):
        sent = broker.send("tester", [recipient] * min(500, count - start), "old news")
        broker.take(recipient, 500)
        broker.ack(recipient, [m.id for m in sent])


def test_recv_ack_and_unread_counts_do_not_grow_with_history(tmp_path: Path) -> None:
    conn = open_core_db(tmp_path / "hive.sqlite")
    broker = Broker(conn, EventLog(conn))

    def one_round(recipient: str) -> tuple[int, int, int]:
        broker.send("tester", [recipient], "fresh")
        taken: list[int] = []
        took = steps(conn, lambda: taken.extend(m.id for m in broker.take(recipient, 32)))
        acked = steps(conn, lambda: broker.ack(recipient, taken))
        counted = steps(conn, broker.unread_counts)
        assert len(taken) == 1
        return took, acked, counted

    young = one_round("peer")
    history(broker, "coder", 20_000)
    old = one_round("coder")
    for what, before, after in zip(("take", "ack", "unread_counts"), young, old, strict=True):
        assert after < 2 * before + 200, f"{what}: {before} steps with no history, {after} with 20,000"


def test_a_harness_restart_requeues_only_its_own_unacked_mail_at_the_cost_of_that_mail(
    tmp_path: Path,
) -> None:
    conn = open_core_db(tmp_path / "hive.sqlite")
    broker = Broker(conn, EventLog(conn))
    broker.send("tester", ["peer"], "unacked")
    broker.take("peer", 32)
    quiet = steps(conn, lambda: broker.redeliver("peer"))
    broker.take("peer", 32)
    history(broker, "peer", 20_000)
    busy = steps(conn, lambda: broker.redeliver("peer"))
    assert busy < 2 * quiet + 200
    assert [m.body for m in broker.take("peer", 32)] == ["unacked"]
