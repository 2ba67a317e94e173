"""The stand-in agent program for node-tier tests that drive the kubernetes runtime's verbs directly.

Not the harness: the host's own Python, mounted read-only into the busybox test image (nothing
is pulled), running a few lines that record each start in ``/state/starts`` and print how many
there have been, so a pod's log shows whether ``/state`` survived. It needs no broker, so a test
can call ``create``/``update``/``stop``/``start`` on a ``KubernetesRuntime`` of its own without a
daemon (``test_crash_events.py``, ``bench/k8s_node_bench.py``). The real harness in pods is
``tests/k8s/pods.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.act import launch_spec
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import KubernetesRuntime
from tests.k8s import admin
from tests.k8s.pods import IMAGE, host_python_mounts

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
    return ko.KubeSettings(
        namespace=namespace,
        image=IMAGE,
        image_pull_policy="Never",
        command=(os.path.realpath(sys.base_exec_prefix + "/bin/python3"), "-c", PROGRAM),
        host_mounts=tuple(host_python_mounts()),
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
