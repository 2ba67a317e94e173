"""The kubernetes runtime on a whole node with the real harness and claude: a roll, a stop and start, a
deleted pod, and the agent's `/state` through all of them.

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``, as ``.ci/run`` sets): containerd, the
kubelet, the controllers and the scheduler run (scripts/k8s/up.sh --node). A real `hive serve
--runtime kubernetes` reaches the pod over the TLS broker (``tests/k8s/pods.py``); the harness and
its `claude` are this checkout's, mounted read-only into the busybox test image. What stands in:
the Anthropic API (the scripted Messages API on the pod network's gateway, given to the pod by
``HIVE_KUBE_MODEL_BASE_URL``; the test cluster's bridge CNI enforces no NetworkPolicy). The
driver's verbs on a stand-in program are ``tests/k8s/standin.py``'s, run by
``test_crash_events.py`` and the node bench.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.runtime import kubernetes_objects as ko
from tests.k8s import admin
from tests.k8s.pods import eventually, gateway, namespace_with_key, served, wait_ready
from tests.seams.scripted_api import RoutedAPI

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow, pytest.mark.timeout(900)]


RESTARTED = re.compile(r"\[reminder #(\d+), set \d+s ago\] harness restarted at")


def restart_turns(api: RoutedAPI, name: str) -> list[dict[str, Any]]:
    """Per harness start (its restart note, a reminder with an id of its own), the first request of
    ``name``'s claude that carried it: the bodies of its restart-note turns, in order."""
    turns: dict[int, dict[str, Any]] = {}
    for request in api.requests_of(name):
        for note in RESTARTED.findall(request.all_text()):
            turns.setdefault(int(note), request.body)
    return [turns[k] for k in sorted(turns)]


async def test_the_real_harness_rolls_stops_starts_and_comes_back_with_its_session(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> None:
    """Driven as an operator does, through desired state and `kubectl delete pod`, with the real harness
    and claude in the pod (``tests/k8s/pods.py``; the scripted model API stands in for Anthropic's). Each
    start of the harness is one restart-note turn; claude keeps its session under ``/state/home``
    (``--continue``), so every such turn carrying the turns before it shows that ``/state`` survived."""
    kubeconfig = k8s_node["KUBECONFIG"]
    await namespace_with_key(k8s_node, k8s_namespace)
    assert hive("init").returncode == 0
    assert hive("agent", "add", "alpha", "--model", "sonnet").returncode == 0
    with (
        RoutedAPI(host=gateway(k8s_node)) as api,
        served(state_dir, k8s_node, k8s_namespace, HIVE_KUBE_MODEL_BASE_URL=api.base_url) as daemon,
    ):

        async def pod_uid(name: str = "alpha") -> str | None:
            pod = await admin.read(kubeconfig, "read_namespaced_pod", f"hive-{name}-0", k8s_namespace)
            return None if pod is None or pod["metadata"].get("deletionTimestamp") else pod["metadata"]["uid"]

        async def started(count: int, what: str) -> dict[str, Any]:
            try:
                await eventually(daemon, what, lambda: len(restart_turns(api, "alpha")) >= count)
            except AssertionError as exc:
                seen = [(r.main, r.body.get("model"), r.all_text()[-600:]) for r in api.requests]
                raise AssertionError(f"{exc}\nthe model API saw: {seen}") from None
            return restart_turns(api, "alpha")[count - 1]

        await wait_ready(hive, daemon, {"alpha", "manager"})
        first = await started(1, "alpha's first start")
        assert "sonnet" in first["model"]
        uid, manager = await pod_uid(), await pod_uid("manager")

        assert hive("agent", "set", "alpha", "model", "opus").returncode == 0  # rolls exactly that pod
        rolled = await started(2, "alpha's start after the roll")
        assert "opus" in rolled["model"] and await pod_uid() not in (None, uid)
        assert await pod_uid("manager") == manager  # the other agent's pod was not touched

        assert hive("agent", "set", "alpha", "state", "stopped").returncode == 0
        await eventually(daemon, "no pod after stop", lambda: pod_gone(kubeconfig, k8s_namespace))
        assert hive("agent", "set", "alpha", "state", "running").returncode == 0
        await started(3, "alpha's start after stop and start")

        uid = await pod_uid()
        await admin.call(
            kubeconfig, "delete_namespaced_pod", "hive-alpha-0", k8s_namespace, grace_period_seconds=1
        )
        back = await started(4, "alpha back after its pod was deleted")
        assert await pod_uid() not in (None, uid)

        # each start continued claude's session kept in /state: its turn carried every earlier note
        notes = [sorted(set(RESTARTED.findall(json.dumps(body)))) for body in restart_turns(api, "alpha")]
        assert [len(n) for n in notes] == [1, 2, 3, 4], notes
        assert len(back["messages"]) > len(first["messages"])

        assert hive("agent", "remove", "alpha").returncode == 0
        await eventually(
            daemon,
            "alpha's StatefulSet deleted",
            lambda: sts_gone(kubeconfig, k8s_namespace),
        )
        claim = ko.claim_names("alpha")[0]
        pvc = await admin.read(kubeconfig, "read_namespaced_persistent_volume_claim", claim, k8s_namespace)
        assert pvc is not None and pvc["status"]["phase"] == "Bound"  # destroy keeps the volume


async def pod_gone(kubeconfig: str, namespace: str) -> bool:
    return await admin.read(kubeconfig, "read_namespaced_pod", "hive-alpha-0", namespace) is None


async def sts_gone(kubeconfig: str, namespace: str) -> bool:
    return await admin.read(kubeconfig, "read_namespaced_stateful_set", "hive-alpha", namespace) is None
