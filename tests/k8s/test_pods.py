"""The kubernetes runtime on a whole node: real pods, a real PVC, Kubernetes' own restarts.

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``, as ``.ci/run`` sets): containerd,
the kubelet, the controllers and the scheduler run (scripts/k8s/up.sh --node). The
agent program is a stand-in, not the harness: the harness needs the broker, which a pod
cannot reach until the TLS broker (the next slice). It is the host's own Python, mounted
read-only into the busybox test image (nothing is pulled), and it records each start in
``/state/starts`` and prints how many there have been, so the pod's log shows whether
``/state`` survived a roll, a stop and start, and a deleted pod.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.act import launch_spec
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import KubernetesRuntime
from tests.k8s import admin

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow]

PROGRAM = """
import json, pathlib, time
cfg = json.loads(pathlib.Path("/etc/hyperhive/agent.json").read_text())
starts = pathlib.Path("/state/starts")
with starts.open("a") as f:
    f.write(cfg["model"] + "\\n")
token = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
print(f"agent {cfg['name']} model {cfg['model']} start {len(starts.read_text().splitlines())} "
      f"api-token {token}", flush=True)
while True:
    time.sleep(3600)
"""


def quiet(line: str) -> None:
    return None


def host_python_settings(namespace: str) -> ko.KubeSettings:
    """The busybox test image running this interpreter, mounted read-only (scripts/k8s/README.md)."""
    mounts = [("/usr", "/usr"), ("/usr/lib", "/lib")]
    if Path("/usr/lib64").is_dir():
        mounts.append(("/usr/lib64", "/lib64"))
    if not sys.base_prefix.startswith("/usr"):
        mounts.append((sys.base_prefix, sys.base_prefix))
    return ko.KubeSettings(
        namespace=namespace,
        image="localhost/hive-busybox:1",
        image_pull_policy="Never",
        command=(os.path.realpath(sys.base_exec_prefix + "/bin/python3"), "-c", PROGRAM),
        host_mounts=tuple(mounts),
        # root, said explicitly: the test cluster's hostPath provisioner makes each volume a root-owned
        # directory and ignores fsGroup, so uid 65534 (the default) cannot write /state there (tried:
        # the harness stand-in crash-loops); storage that honours fsGroup does not need this
        run_as=0,
    )


class Node:
    def __init__(self, root: Path, cluster: dict[str, str], namespace: str) -> None:
        self.layout = StateLayout(root)
        self.kubeconfig = cluster["KUBECONFIG"]
        self.namespace = namespace
        self.runtime = KubernetesRuntime(
            self.layout, host_python_settings(namespace), kubeconfig=self.kubeconfig
        )

    def spec(self, name: str, model: str) -> Any:
        spec = launch_spec(self.layout, name, is_manager=False)
        AgentLaunchConfig(
            name=name, role="agent", model=model, fingerprint=f"fp-{model}", revision="r"
        ).write(spec.config_file)
        return spec

    async def admin(self, call: str, *args: Any, **kw: Any) -> Any:
        return await admin.call(self.kubeconfig, call, *args, **kw)

    async def state(self, name: str, want: ContainerState, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = None
        while asyncio.get_running_loop().time() < deadline:
            seen = (await self.runtime.list()).get(name)
            if seen is not None and seen.state is want:
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"{name} never became {want}: {seen}")

    async def log_says(self, name: str, text: str, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        lines: list[str] = []
        while asyncio.get_running_loop().time() < deadline:
            lines = await asyncio.to_thread(self.runtime.logs, name, 50)
            if any(text in line for line in lines):
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"{name}'s log never said {text!r}: {lines}")

    async def pod_uid(self, name: str) -> str:
        pods = self.runtime.pods.items if self.runtime.pods else {}
        return str(pods[f"hive-{name}-0"]["metadata"]["uid"])


@pytest.fixture
async def node(tmp_path: Path, k8s_node: dict[str, str], k8s_namespace: str) -> AsyncIterator[Node]:
    n = Node(tmp_path / "hive", k8s_node, k8s_namespace)
    await n.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    secret = {
        "metadata": {"name": "hyperhive-api-key"},
        "stringData": {"ANTHROPIC_API_KEY": "sk-test-not-real"},
    }
    await n.admin("create_namespaced_secret", k8s_namespace, secret)
    try:
        yield n
    finally:
        for name in ("alice",):
            await n.runtime.destroy(name, quiet)
            await n.runtime.purge(name, quiet)
        await n.runtime.aclose()


async def test_a_pod_runs_rolls_scales_and_comes_back_with_its_state(node: Node) -> None:
    await node.runtime.create(node.spec("alice", "sonnet"), quiet)
    await node.state("alice", ContainerState.RUNNING)
    await node.log_says("alice", "agent alice model sonnet start 1 api-token False")  # no way to the API
    first = await node.pod_uid("alice")

    await node.runtime.update(node.spec("alice", "opus"), quiet)  # a model change: a new fingerprint
    assert await node.runtime.pods.wait_for(  # type: ignore[union-attr]
        lambda pods: "hive-alice-0" in pods and pods["hive-alice-0"]["metadata"]["uid"] != first, 60
    ), "the pod never rolled"
    await node.state("alice", ContainerState.RUNNING)
    await node.log_says("alice", "agent alice model opus start 2")  # /state survived the roll

    await node.runtime.stop("alice", quiet)
    await node.state("alice", ContainerState.STOPPED)
    assert await node.runtime.pods.wait_for(lambda pods: not pods, 60)  # type: ignore[union-attr]
    await node.runtime.start(node.spec("alice", "opus"), quiet)
    await node.state("alice", ContainerState.RUNNING)
    await node.log_says("alice", "start 3")

    gone = await node.pod_uid("alice")
    await node.admin("delete_namespaced_pod", "hive-alice-0", node.namespace, grace_period_seconds=1)
    assert await node.runtime.pods.wait_for(  # type: ignore[union-attr]
        lambda pods: "hive-alice-0" in pods and pods["hive-alice-0"]["metadata"]["uid"] != gone, 60
    ), "the StatefulSet never replaced the deleted pod"
    await node.state("alice", ContainerState.RUNNING)
    await node.log_says("alice", "start 4")

    claim = ko.claim_names("alice")[0]
    await node.runtime.destroy("alice", quiet)
    pvc = await admin.read(node.kubeconfig, "read_namespaced_persistent_volume_claim", claim, node.namespace)
    assert pvc is not None and pvc["status"]["phase"] == "Bound"  # destroy keeps the volume


def harness_env(cluster: dict[str, str], namespace: str) -> dict[str, str]:
    """`hive` settings that run the real harness in each pod: this checkout and its venv mounted
    read-only, the agent's socket directory by hostPath (single node, until the TLS broker)."""
    mounts = ["/usr", "/usr/lib:/lib", sys.base_prefix, str(REPO_ROOT)]
    if Path("/usr/lib64").is_dir():
        mounts.append("/usr/lib64:/lib64")
    return {
        "KUBECONFIG": cluster["KUBECONFIG"],
        "HIVE_KUBE_NAMESPACE": namespace,
        "HIVE_KUBE_IMAGE": "localhost/hive-busybox:1",
        "HIVE_KUBE_IMAGE_PULL_POLICY": "Never",
        "HIVE_KUBE_COMMAND": f"{sys.executable} -m hive_harness serve --role {{role}}",
        "HIVE_KUBE_HOST_MOUNTS": ",".join(mounts),
        "HIVE_KUBE_HOST_SOCKET": "1",
        "HIVE_KUBE_RUN_AS": "0",  # see host_python_settings
    }


async def test_three_agents_run_the_real_harness_in_pods_and_say_hello(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str, tmp_path: Path
) -> None:
    """`hive reconcile --runtime kubernetes` from empty: every pod's harness greets the host on
    its socket (the health gate passes), and `hive status` says so."""
    node = Node(tmp_path / "admin", k8s_node, k8s_namespace)
    await node.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    secret = {
        "metadata": {"name": "hyperhive-api-key"},
        "stringData": {"ANTHROPIC_API_KEY": "sk-test-not-real"},
    }
    await node.admin("create_namespaced_secret", k8s_namespace, secret)
    env = harness_env(k8s_node, k8s_namespace)
    assert hive("init").returncode == 0
    for name in ("alpha", "beta", "gamma"):
        assert hive("agent", "add", name).returncode == 0
    done = await asyncio.to_thread(
        hive, "reconcile", "--runtime", "kubernetes", "--health-timeout", "90", env=env, timeout=280
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = await asyncio.to_thread(hive, "status", "--runtime", "kubernetes", "--json", env=env)
    assert status.returncode == 0, status.stderr
    rows = {row["name"]: row for row in json.loads(status.stdout)["agents"]}
    assert {"alpha", "beta", "gamma", "manager"} <= rows.keys()
    for name in ("alpha", "beta", "gamma", "manager"):
        ready = next(c for c in rows[name]["conditions"] if c["type"] == "Ready")
        assert ready["status"] is True and ready["reason"] == "Deployed", rows[name]
        assert rows[name]["runtime_state"] == "running"
