"""The kubernetes runtime on a whole node: create → Ready, and 20 agents from empty. Numbers are
printed, never asserted; record them in docs/performance.md.

    sudo PYTHONPATH=$PWD .venv/bin/python bench/k8s_node_bench.py [--one 5] [--many 20] [--rounds 50]

Starts a single node from scripts/k8s (``up.sh --node``: root, and a build in $HIVE_K8S_BIN),
then, each in a namespace of its own, with the stand-in agent of tests/k8s/standin.py (the
host's Python read-only in the busybox test image; nothing is pulled):

- create → Ready, one agent at a time: ``KubernetesRuntime.create`` until ``list()`` says
  running (ServiceAccount, ConfigMap, StatefulSet, its PVC provisioned and bound, the pod
  scheduled and its container started);
- ``--many`` agents from empty: the driver's creates all at once until every one runs, and the
  whole loop (``Reconciler.run`` from a meta repo with that many agents, the manager too) until
  every agent's Ready condition is Deployed (the health gate included: ``AliveHealth``, 2 s);
- the no-op pass with those agents in the cache (bench/k8s_bench.py's, here with pods).

Baseline, in the same run on the same node: bare Pods with the same container (no
StatefulSet, no PVC, no ServiceAccount or ConfigMap of their own), one at a time and all at
once: what starting that container costs on this node at all. Ratios are ours / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from desired.changes import add_agent  # noqa: E402
from desired.repo import Author, MetaRepo  # noqa: E402
from hive_kit.launch import AgentLaunchConfig  # noqa: E402
from hive_kit.paths import StateLayout  # noqa: E402
from reconciler.act import launch_spec  # noqa: E402
from reconciler.loop import LoopSettings, Reconciler  # noqa: E402
from reconciler.model import ContainerState  # noqa: E402
from reconciler.runtime import kubernetes_objects as ko  # noqa: E402
from reconciler.runtime.kubernetes import KubernetesRuntime, open_client  # noqa: E402
from reconciler.status import read_statuses  # noqa: E402
from tests.k8s.standin import host_python_settings  # noqa: E402

AUTHOR = Author("bench", "bench@example.test")
BIN = os.environ.get("HIVE_K8S_BIN", "/var/cache/hyperhive-k8s/bin")
SECRET = {"metadata": {"name": "hyperhive-api-key"}, "stringData": {"ANTHROPIC_API_KEY": "sk-bench"}}
TIMEOUT = 300.0


def quiet(line: str) -> None:
    return None


def secs(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


async def namespace(c: Any, ns: str) -> None:
    await c.core.create_namespace({"metadata": {"name": ns}})
    await c.core.create_namespaced_secret(ns, SECRET)


def runtime(root: Path, kubeconfig: str, ns: str) -> KubernetesRuntime:
    return KubernetesRuntime(StateLayout(root), host_python_settings(ns), kubeconfig=kubeconfig)


async def until_running(rt: KubernetesRuntime, names: list[str]) -> None:
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        seen = await rt.list()
        if all(n in seen and seen[n].state is ContainerState.RUNNING for n in names):
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"not all running after {TIMEOUT:g} s: {names}")


async def create(rt: KubernetesRuntime, name: str) -> None:
    spec = launch_spec(rt.layout, name, is_manager=False)
    AgentLaunchConfig(name=name, role="agent", model="sonnet", fingerprint="fp", revision="r").write(
        spec.config_file
    )
    await rt.create(spec, quiet)


def bare_pod(name: str, ns: str) -> dict[str, Any]:
    """The agent's container alone: the same image, command, mounts and user; /state an emptyDir."""
    sts = ko.stateful_set(name, "agent", '{"fingerprint": "fp"}', 1, host_python_settings(ns))
    spec = sts["spec"]["template"]["spec"]
    spec["serviceAccountName"] = "default"
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "config"] + [
        {"name": "state", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "bare-config"}},
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bare-{name}"}, "spec": spec}


async def bare_running(c: Any, ns: str, names: list[str]) -> None:
    import json

    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        resp = await c.core.list_namespaced_pod(ns, _preload_content=False)
        pods = {p["metadata"]["name"]: p for p in json.loads(await resp.read())["items"]}
        if all(
            any(
                s.get("ready")
                for s in (pods.get(f"bare-{n}", {}).get("status") or {}).get("containerStatuses") or []
            )
            for n in names
        ):
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"bare pods not all running after {TIMEOUT:g} s")


async def bare(c: Any, ns: str, names: list[str]) -> float:
    from kubernetes_asyncio.client.exceptions import ApiException

    t = time.perf_counter()
    for n in names:
        for _ in range(100):  # a new namespace's `default` ServiceAccount comes from a controller
            try:
                await c.core.create_namespaced_pod(ns, bare_pod(n, ns))
                break
            except ApiException as exc:
                if exc.status != 403 or "serviceaccount" not in str(exc.body):
                    raise
                await asyncio.sleep(0.1)
    await bare_running(c, ns, names)
    return time.perf_counter() - t


async def converge_loop(root: Path, kubeconfig: str, ns: str, many: int) -> float:
    """``Reconciler.run`` from empty until every agent's Ready is Deployed."""
    rt = runtime(root, kubeconfig, ns)
    init_meta_repo(rt.layout.meta)

    def agents(state):  # type: ignore[no-untyped-def]
        for i in range(many):
            state = add_agent(state, {"name": f"l{i}"})
        return state

    MetaRepo(rt.layout.meta).commit(agents, author=AUTHOR, message=f"{many} agents")
    rec = Reconciler(rt.layout, rt, settings=LoopSettings(resync=0.5, health_timeout=TIMEOUT))
    t = time.perf_counter()
    task = asyncio.create_task(rec.run())
    try:
        while time.perf_counter() - t < TIMEOUT:
            statuses = read_statuses(rec.store)
            if len(statuses) == many + 1 and all(s.condition("Ready").reason == "Deployed" for s in statuses):
                return time.perf_counter() - t
            await asyncio.sleep(0.1)
        raise SystemExit(f"the loop did not converge {many} agents in {TIMEOUT:g} s")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await rec.close()
        rec.store.close()
        await rt.aclose()


async def noop_pass(rt: KubernetesRuntime, rounds: int) -> tuple[list[float], int]:
    before = rt.requests
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        await rt.list()
        times.append(time.perf_counter() - t)
    return times, rt.requests - before


async def run(kubeconfig: str, root: Path, one: int, many: int, rounds: int) -> None:
    c = await open_client(kubeconfig)
    for ns in ("b-one", "b-many", "b-loop", "b-bare"):
        await namespace(c, ns)
    await c.core.create_namespaced_config_map(
        "b-bare",
        {"metadata": {"name": "bare-config"}, "data": {"agent.json": '{"name": "bare", "model": "sonnet"}'}},
    )

    # warm the node: the first container on it pays for the image's first unpack
    await bare(c, "b-bare", ["warm"])

    rt = runtime(root / "one", kubeconfig, "b-one")
    ours = []
    for i in range(one):
        t = time.perf_counter()
        await create(rt, f"o{i}")
        await until_running(rt, [f"o{i}"])
        ours.append(time.perf_counter() - t)
    base = [await bare(c, "b-bare", [f"s{i}"]) for i in range(one)]
    await rt.aclose()

    rt = runtime(root / "many", kubeconfig, "b-many")
    names = [f"m{i}" for i in range(many)]
    t = time.perf_counter()
    await asyncio.gather(*(create(rt, n) for n in names))
    await until_running(rt, names)
    driver_many = time.perf_counter() - t
    noop, requests = await noop_pass(rt, rounds)
    await rt.aclose()
    base_many = await bare(c, "b-bare", [f"p{i}" for i in range(many)])
    loop_many = await converge_loop(root / "loop", kubeconfig, "b-loop", many)
    await c.api.close()

    print(f"create → Ready, one agent at a time ({one}): {secs(ours)}")
    print(f"  baseline, a bare Pod with the same container:  {secs(base)}")
    print(f"  ratio ours / baseline (median): {statistics.median(ours) / statistics.median(base):.2f}")
    print(f"{many} agents from empty, the driver's creates at once until all run: {driver_many:.1f} s")
    print(f"{many} agents from empty, the loop (+ manager, health gate) until all Ready: {loop_many:.1f} s")
    print(f"  baseline, {many} bare Pods at once: {base_many:.1f} s")
    print(f"  ratio driver / baseline: {driver_many / base_many:.2f}")
    print(f"  ratio loop / baseline: {loop_many / base_many:.2f}")
    print(
        f"no-op list with {many} running agents' StatefulSets and Pods cached: "
        f"median {statistics.median(noop) * 1000:.2f} ms; API requests in {rounds} passes: {requests}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", type=int, default=5, help="agents created one at a time")
    parser.add_argument("--many", type=int, default=20, help="agents converged from empty")
    parser.add_argument("--rounds", type=int, default=50, help="no-op passes timed")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("a node needs root (containerd and the kubelet): run it with sudo")
    with tempfile.TemporaryDirectory(prefix="k8snb") as tmp:
        run_dir = Path(tmp) / "k8s"
        up = subprocess.run(
            ["bash", str(ROOT / "scripts/k8s/up.sh"), str(run_dir), BIN, "--node"],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if up.returncode != 0:
            sys.exit(f"scripts/k8s/up.sh --node failed:\n{up.stdout}{up.stderr}")
        try:
            asyncio.run(
                run(str(run_dir / "admin.kubeconfig"), Path(tmp) / "hive", args.one, args.many, args.rounds)
            )
        finally:
            down = subprocess.run(
                ["bash", str(ROOT / "scripts/k8s/down.sh"), str(run_dir)],
                capture_output=True,
                text=True,
                check=False,
            )
            if down.returncode != 0:
                print(f"scripts/k8s/down.sh: {down.stdout}{down.stderr}", file=sys.stderr)


if __name__ == "__main__":
    main()
