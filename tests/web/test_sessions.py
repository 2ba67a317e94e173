"""Sessions on a fake clock: random ids, idle and absolute expiry, revocation, what is kept on disk."""

from __future__ import annotations

import json
from pathlib import Path

from hive_web.sessions import IDLE_SECONDS, MAX_AGE_SECONDS, MAX_SESSIONS, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_a_day_unused_or_a_week_in_all(tmp_path: Path) -> None:
    clock = Clock()
    sessions = Sessions(tmp_path / "s.json", "fp", clock)
    idle_id, _ = sessions.create()
    busy_id, _ = sessions.create()
    for _ in range(6):  # used every day for six days: still alive
        clock.now += IDLE_SECONDS - 60
        assert sessions.get(busy_id) is not None
    assert sessions.get(idle_id) is None, "unused for more than a day"
    clock.now += MAX_AGE_SECONDS  # however busy, a week is the limit
    assert sessions.get(busy_id) is None
    assert len(sessions) == 0


def test_ids_are_random_revocable_and_kept_only_as_digests(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sessions = Sessions(path, "fp")
    first, one = sessions.create()
    second, two = sessions.create()
    assert first != second and one.csrf != two.csrf and len(first) >= 43
    saved = path.read_text()
    assert first not in saved and second not in saved
    assert json.loads(saved)["token"] == "fp"
    sessions.revoke(first)
    assert sessions.get(first) is None and sessions.get(second) is not None
    again = Sessions(path, "fp")  # the daemon restarted
    assert again.get(second) is not None and again.get(first) is None
    assert Sessions(path, "another token").get(second) is None, "a new token logs everyone out"
    assert sessions.get("") is None and sessions.get("made-up") is None


def test_a_damaged_file_logs_everyone_out_and_the_count_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{not json")
    sessions = Sessions(path, "fp")
    assert len(sessions) == 0
    ids = [sessions.create()[0] for _ in range(MAX_SESSIONS + 5)]
    assert len(sessions) == MAX_SESSIONS
    assert sessions.get(ids[-1]) is not None
