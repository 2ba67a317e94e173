"""On a whole node: Kubernetes restarts an agent, and the reconciler reports it as a crash.

A ``k8s_node`` test (scripts/k8s/up.sh --node; ``HIVE_K8S_NODE_TESTS=1``). The loop runs in
process with the kubernetes runtime and the stand-in agent program of standin.py (the host's
Python in the busybox test image, which needs no daemon), so the health gate is ``AliveHealth``:
running for 2 s. What a user does to the pod is
real: ``delete pod`` through the API, and ``kill -9`` of the container's process on the node.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from desired.repo import MetaRepo
from hive_core.events import ContainerCrash
from reconciler.events import MemorySink
from reconciler.loop import LoopSettings, Reconciler
from reconciler.status import read_statuses
from tests.k8s.standin import Node, quiet
from tests.reconciler.conftest import add
from tests.reconciler.helpers import eventually

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow]


def ready(rec: Reconciler, name: str) -> bool:
    statuses = {s.name: s for s in read_statuses(rec.store)}
    return name in statuses and statuses[name].condition("Ready").reason == "Deployed"


def container_pids(pod: str) -> list[int]:
    """The stand-in's processes in pod ``pod`` on this node (the kubelet sets HOSTNAME to the pod)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"HOSTNAME={pod}".encode() in env and b"/state/starts" in cmd:
            out.append(int(entry.name))
    return out


@pytest.fixture
async def looping(
    tmp_path: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> AsyncIterator[tuple[Node, Reconciler, MemorySink]]:
    node = Node(tmp_path / "hive", k8s_node, k8s_namespace)
    init_meta_repo(node.layout.meta)
    await node.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    secret = {"metadata": {"name": "hyperhive-api-key"}, "stringData": {"ANTHROPIC_API_KEY": "sk-test"}}
    await node.admin("create_namespaced_secret", k8s_namespace, secret)
    sink = MemorySink()
    rec = Reconciler(
        node.layout, node.runtime, events=sink, settings=LoopSettings(resync=0.5, health_timeout=90)
    )
    task = asyncio.create_task(rec.run())
    try:
        yield node, rec, sink
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rec.close()
        rec.store.close()
        for name in ("alice", "manager"):
            await node.runtime.destroy(name, quiet)
            await node.runtime.purge(name, quiet)
        await node.runtime.aclose()


async def test_a_deleted_pod_and_a_killed_container_are_each_one_crash_event(looping: Any) -> None:
    node, rec, sink = looping
    add(MetaRepo(node.layout.meta), "alice")
    await eventually(lambda: ready(rec, "alice") and ready(rec, "manager"), 180, "alice and manager Ready")
    await node.log_says("alice", "start 1")
    assert not sink.of(ContainerCrash)

    await node.admin("delete_namespaced_pod", "hive-alice-0", node.namespace, grace_period_seconds=1)
    await eventually(lambda: sink.of(ContainerCrash, "alice"), 60, "a container_crash for the deleted pod")
    await node.log_says("alice", "start 2", timeout=60)  # the StatefulSet brought it back, /state kept
    await asyncio.sleep(3)  # six more passes: nothing more to tell
    crashes = sink.of(ContainerCrash, "alice")
    assert [c.detail for c in crashes] == [
        "pod hive-alice-0 was deleted or evicted; the StatefulSet controller made a new one"
    ]

    pids = container_pids("hive-alice-0")
    assert pids, "the stand-in's process is not on this node"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    await eventually(lambda: len(sink.of(ContainerCrash, "alice")) == 2, 60, "a crash for the kill")
    await node.log_says("alice", "start 3", timeout=60)  # the kubelet restarted it in the same pod
    await asyncio.sleep(3)
    crashes = sink.of(ContainerCrash, "alice")
    assert len(crashes) == 2, crashes
    assert crashes[1].detail.startswith("container harness exited with code 137"), crashes[1].detail
    assert not sink.of(ContainerCrash, "manager")
    # Kubernetes owns restarts: the reconciler started nothing itself after the create
    assert [row.action for row in rec.store.history("alice")] == ["create"]
