"""The forge outbox in a real ``forge.sqlite``: what is queued, replaced, remembered and retried."""

from __future__ import annotations

from hive_core.forge.sender import MAX_DELAY, backoff
from hive_core.forge.store import ForgeStore
from hive_kit.paths import StateLayout

KEY = "status:abc:hive/plan"


def test_a_payload_equal_to_the_last_sent_is_never_queued(layout: StateLayout) -> None:
    store = ForgeStore.open(layout)
    try:
        first = {"kind": "status", "state": "pending"}
        assert store.enqueue(KEY, first) is True
        assert store.enqueue(KEY, dict(first)) is False, "already waiting"
        store.sent(store.pending()[0], {"summary": "ok"})
        assert store.pending() == [] and store.enqueue(KEY, first) is False, "already sent"
        assert store.latest(KEY) == first
        assert store.enqueue(KEY, {"kind": "status", "state": "success"}) is True
    finally:
        store.close()


def test_a_newer_payload_replaces_one_in_flight_and_survives_its_send(layout: StateLayout) -> None:
    store = ForgeStore.open(layout)
    try:
        store.enqueue(KEY, {"n": 1})
        taken = store.pending()[0]
        store.enqueue(KEY, {"n": 2})  # a new push while the first was being sent
        store.sent(taken, {"summary": "ok"})
        left = store.pending()
        assert [p.payload for p in left] == [{"n": 2}], "the newer one still goes out"
        store.failed(left[0], "cannot reach Forgejo", 4.0)
        again = store.pending()[0]
        assert (again.attempts, again.last_error) == (1, "cannot reach Forgejo")
        assert store.last_error() is not None and store.calls()[0].ok is False
    finally:
        store.close()


def test_a_replayed_delivery_id_is_seen_once_across_restarts(layout: StateLayout) -> None:
    store = ForgeStore.open(layout)
    assert store.first_sight("d-1", "push") is True
    store.close()
    store = ForgeStore.open(layout)
    try:
        assert store.first_sight("d-1", "push") is False
        assert store.drop_pending() == 0
    finally:
        store.close()


def test_backoff_doubles_to_a_cap() -> None:
    delays = [backoff(n) for n in (1, 2, 3, 20)]
    assert 0.9 <= delays[0] <= 1.1 and 1.8 <= delays[1] <= 2.2 and 3.6 <= delays[2] <= 4.4
    assert MAX_DELAY * 0.9 <= delays[3] <= MAX_DELAY * 1.1
