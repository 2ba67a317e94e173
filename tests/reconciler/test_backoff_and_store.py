"""Backoff on a fake clock, the deploy store on a real sqlite file, and status conditions."""

from __future__ import annotations

import random
from pathlib import Path

from reconciler.backoff import Policy, Retry, failed, forgive
from reconciler.model import Action, ActionKind, Applied, ContainerState, Observed
from reconciler.status import Inputs, derive
from reconciler.store import HISTORY_KEEP, HistoryRow, open_deploys


def streak(n: int, policy: Policy, rng: random.Random, *, now: float = 0.0) -> list[Retry]:
    out, retry = [], Retry()
    for _ in range(n):
        retry = failed(retry, now, "boom", permanent=False, fingerprint="f", rng=rng, policy=policy)
        out.append(retry)
    return out


def test_delays_grow_exponentially_with_jitter_up_to_the_cap() -> None:
    policy = Policy()
    delays = [r.next_at for r in streak(12, policy, random.Random(7))]
    for n, delay in enumerate(delays, start=1):
        nominal = min(300.0, 2.0 ** (n - 1))
        assert nominal * 0.8 <= delay <= nominal * 1.2
    assert delays[-1] <= 360 and delays[8] > 200
    jittered = {round(r.next_at, 6) for r in streak(1, policy, random.Random(1))} | {
        round(r.next_at, 6) for r in streak(1, policy, random.Random(2))
    }
    assert len(jittered) == 2, "two agents failing together do not retry together"


def test_ready_only_when_due_and_stalled_after_five() -> None:
    retries = streak(5, Policy(), random.Random(0), now=100.0)
    first = retries[0]
    assert not first.ready(100.5, "f") and first.ready(100.0 + 1.3, "f")
    assert first.ready(100.5, "changed"), "a new desired spec is tried at once"
    assert [r.stalled for r in retries] == [False, False, False, False, True]


def test_permanent_waits_for_a_new_spec_or_reconcile_now() -> None:
    retry = failed(Retry(), 0.0, "bad nix", permanent=True, fingerprint="old", rng=random.Random(0))
    assert retry.stalled
    assert not retry.ready(1e9, "old")
    assert retry.ready(0.0, "new")
    assert forgive(retry).ready(0.0, "old") and forgive(retry).failures == 1


def test_store_keeps_ten_history_rows_per_agent_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "deploys.sqlite"
    store = open_deploys(path)
    for i in range(HISTORY_KEEP + 5):
        store.add_history(HistoryRow("a", "start", f"try {i}", "r", float(i), 5, "ok", None))
    store.add_history(HistoryRow("b", "create", "new", "r", 0.0, 5, "failed", "no"))
    store.close()
    again = open_deploys(path)
    rows = again.history("a")
    assert len(rows) == HISTORY_KEEP
    assert rows[0].reason == "try 14" and rows[-1].reason == "try 5"
    assert [r.error for r in again.history("b")] == ["no"]


def test_inventory_and_applied_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    store = open_deploys(path)
    store.add_inventory("coder", "local")
    store.record_applied("coder", "rev1", "fp", {"model": "opus"})
    store.close()
    store = open_deploys(path)
    assert store.inventory() == {"coder": "local"}
    assert store.applied()["coder"].spec == {"model": "opus"}
    store.bump_revision(["coder"], "rev2")
    assert store.applied()["coder"].revision == "rev2"


def conditions(**kw) -> dict[str, tuple[bool, str]]:
    base = dict(
        name="a",
        desired_revision="r2",
        observed=Observed("a", ContainerState.RUNNING),
        applied=Applied("a", "r2", "fp"),
        action=None,
        in_flight=False,
        retry=Retry(),
    )
    base.update(kw)
    status = derive(Inputs(**base), mono_now=10.0, wall_now=1000.0)
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_conditions_read_like_flux() -> None:
    assert conditions()["Ready"] == (True, "Deployed")
    pending = Action("a", ActionKind.UPDATE, "model changed")
    assert conditions(action=pending)["Reconciling"] == (True, "Pending")
    assert conditions(action=pending, in_flight=True)["Ready"] == (False, "Progressing")
    assert conditions(degraded="no hello")["Ready"] == (False, "HealthCheckFailed")
    stalled = Retry(failures=5, next_at=40.0, error="exited", stall_after=5)
    got = conditions(retry=stalled, action=pending)
    assert got["Stalled"] == (True, "RetriesExhausted") and got["Ready"] == (False, "RetriesExhausted")
    status = derive(Inputs("a", "r", None, None, pending, False, stalled), mono_now=10.0, wall_now=1000.0)
    assert status.next_retry == 1030.0 and status.last_error == "exited"
    assert conditions(suspended=True)["Ready"] == (True, "Suspended")
