"""Kubernetes' own restarts told as crashes (pure: ``kubernetes_restarts`` over pod JSON shaped as
the API server sends it). The node tier shows the same with a real deleted pod and a real killed
container (test_crash_events.py)."""

from __future__ import annotations

from typing import Any

from reconciler.runtime.kubernetes_restarts import RestartLog


def pod(uid: str, *, restarts: int = 0, revision: str = "rev1", deleting: bool = False, agent: str = "alice",
        exit_code: int | None = None) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {
        "name": f"hive-{agent}-0",
        "uid": uid,
        "labels": {"hyperhive.dev/agent": agent, "controller-revision-hash": f"hive-{agent}-{revision}"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T22:00:00Z"
    status: dict[str, Any] = {"name": "harness", "restartCount": restarts}
    if exit_code is not None:
        status["lastState"] = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
    return {"metadata": meta, "status": {"containerStatuses": [status]}}


def see(log: RestartLog, *pods: dict[str, Any]) -> None:
    log.see({p["metadata"]["name"]: p for p in pods})


def details(log: RestartLog, agent: str = "alice") -> list[str]:
    return [r.detail for r in log.of(agent)]


def test_a_first_sight_is_only_marked() -> None:
    log = RestartLog()
    see(log, pod("u1", restarts=3, exit_code=1))  # the daemon started after three old crashes
    assert log.of("alice") == ()


def test_a_deleted_pod_replaced_is_one_crash_whatever_the_events_in_between() -> None:
    log = RestartLog()
    see(log, pod("u1"))
    see(log, pod("u1", deleting=True))  # kubectl delete pod: marked for deletion
    see(log)  # gone
    see(log, pod("u2"))  # the controller's new pod
    see(log, pod("u2"))  # and its next status update
    assert details(log) == [
        "pod hive-alice-0 was deleted or evicted; the StatefulSet controller made a new one"
    ]


def test_each_kubelet_restart_is_one_crash_with_how_it_ended() -> None:
    log = RestartLog()
    see(log, pod("u1"))
    see(log, pod("u1", restarts=1, exit_code=137))
    see(log, pod("u1", restarts=1, exit_code=137))  # a relist: same pod, same count
    see(log, pod("u1", restarts=2, exit_code=1))
    assert details(log) == [
        "container harness exited with code 137 (Error); the kubelet restarted it (1 restart(s) so far)",
        "container harness exited with code 1 (Error); the kubelet restarted it (2 restart(s) so far)",
    ]
    assert [r.seq for r in log.of("alice")] == [1, 2]


def test_a_roll_and_our_own_stop_and_start_are_not_crashes() -> None:
    log = RestartLog()
    see(log, pod("u1"))
    see(log, pod("u2", revision="rev2"))  # an update rolled it: a new controller revision
    log.stopped("alice")
    see(log)
    see(log, pod("u3", revision="rev2"))  # our start
    see(log, pod("u4", revision="rev2"))  # and then someone deletes it: that one is a crash
    assert len(details(log)) == 1


def test_a_destroyed_agent_made_again_starts_from_a_first_sight() -> None:
    log = RestartLog()
    see(log, pod("u1"))
    log.forget("alice")
    see(log, pod("u1", deleting=True))  # the old pod on its way out is not marked again
    see(log, pod("u2"))  # the new StatefulSet's pod, same template: same revision
    assert log.of("alice") == ()


def test_agents_are_told_apart() -> None:
    log = RestartLog()
    see(log, pod("a1"), pod("b1", agent="bob"))
    see(log, pod("a1"), pod("b2", agent="bob"))
    assert log.of("alice") == () and len(log.of("bob")) == 1
