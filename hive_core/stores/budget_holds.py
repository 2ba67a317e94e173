"""What the operator decided about a budget-paused agent, per UTC day: asked once, resumed for today.

Two small tables in the host's ``hive.sqlite`` (no agent can reach it):

- ``budget_questions``: the one operator question per agent per UTC day
  (``hive_core.ops.budgeting``). The row is the proof that a question is the
  host's own: an agent can ask the operator a question with the same words,
  but it has no row here, so answering it does nothing.
- ``budget_overrides``: "resume for today". ``budget_refusal`` lets the agent
  run for the rest of that UTC day whatever it spends; the next day its
  budget applies again.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import apsw

from desired.schema import DesiredState
from hive_core.budgets import budget_refusal
from hive_core.ledger import Ledger, utc_day
from hive_core.stores.batch import batch_for
from hive_kit.paths import StateLayout

MIGRATION_BUDGETS = """
CREATE TABLE budget_questions (
    question_id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    day TEXT NOT NULL,
    UNIQUE (agent, day)
);
CREATE TABLE budget_overrides (
    agent TEXT NOT NULL,
    day TEXT NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (agent, day)
);
"""
"""Part of the core store's migrations (hive_core.stores.schema)."""


class BudgetHolds:
    def __init__(self, conn: apsw.Connection) -> None:
        self._conn = conn
        self._batch = batch_for(conn)

    def resumed(self, agent: str, day: str) -> bool:
        """The operator resumed ``agent`` for ``day`` (UTC, ``YYYY-MM-DD``)."""
        sql = "SELECT 1 FROM budget_overrides WHERE agent = ? AND day = ?"
        return self._conn.execute(sql, (agent, day)).fetchone() is not None

    def resume(self, agent: str, day: str, by: str, at: float) -> None:
        with self._batch.write():
            self._conn.execute(
                "INSERT OR IGNORE INTO budget_overrides (agent, day, by, at) VALUES (?, ?, ?, ?)",
                (agent, day, by, at),
            )

    def asked(self, agent: str, day: str) -> int | None:
        """The id of the question the host asked about ``agent`` on ``day``, or None."""
        sql = "SELECT question_id FROM budget_questions WHERE agent = ? AND day = ?"
        row = self._conn.execute(sql, (agent, day)).fetchone()
        return None if row is None else cast(int, row[0])

    def record_question(self, question_id: int, agent: str, day: str) -> None:
        with self._batch.write():
            self._conn.execute(
                "INSERT OR IGNORE INTO budget_questions (question_id, agent, day) VALUES (?, ?, ?)",
                (question_id, agent, day),
            )

    def question(self, question_id: int) -> tuple[str, str] | None:
        """(agent, day) of the host's budget question ``question_id``, or None for any other question."""
        sql = "SELECT agent, day FROM budget_questions WHERE question_id = ?"
        row = self._conn.execute(sql, (question_id,)).fetchone()
        return None if row is None else (cast(str, row[0]), cast(str, row[1]))


def paused_on_disk(layout: StateLayout, state: DesiredState, now: float) -> dict[str, str]:
    """Read-only, for `hive status` (no daemon needed): every agent the host would refuse a turn now
    for its budget (today's ledger spend at its budget and not resumed for today), with the reason."""
    if not any(state.budget_for(name) for name in state.agents):
        return {}
    ledger = Ledger.reader(layout.ledger)
    if ledger is None:
        return {}
    holds = _reader(layout.db)
    try:
        day = utc_day(now)
        out = {}
        for name in sorted(state.agents):
            resumed = holds is not None and BudgetHolds(holds).resumed(name, day)
            why = budget_refusal(state, ledger, name, now, resumed=resumed)
            if why is not None:
                out[name] = why
        return out
    finally:
        ledger.close()
        if holds is not None:
            holds.close()


def _reader(path: Path) -> apsw.Connection | None:
    """``hive.sqlite`` read-only, or None if it (or its budget tables) does not exist yet."""
    if not path.exists():
        return None
    conn = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    conn.setbusytimeout(5000)
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'budget_overrides'"
    if conn.execute(sql).fetchone() is None:
        conn.close()
        return None
    return conn
