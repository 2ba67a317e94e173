"""The kubernetes runtime's no-op pass, printed as numbers (never asserted): record them in
docs/performance.md.

    PYTHONPATH=$PWD .venv/bin/python bench/k8s_bench.py [--agents 100] [--rounds 50]

Starts an API-only cluster from scripts/k8s (needs a build in $HIVE_K8S_BIN, default
/var/cache/hyperhive-k8s/bin), creates N agents' objects with the driver, then times one
reconcile pass's observe + plan with nothing to do:

- ours: ``KubernetesRuntime.list()`` (the watch-fed caches) + ``plan``: API requests counted;
- baseline, measured in the same run against the same server: the same pass with a full list of
  StatefulSets and Pods per pass, which is what the cache saves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desired.bootstrap import init_meta_repo  # noqa: E402
from desired.changes import add_agent  # noqa: E402
from desired.repo import Author, MetaRepo  # noqa: E402
from desired.schema import agent_fingerprint  # noqa: E402
from hive_kit.paths import StateLayout  # noqa: E402
from reconciler.act import launch_config, launch_spec  # noqa: E402
from reconciler.model import Applied, spec_view  # noqa: E402
from reconciler.plan import plan  # noqa: E402
from reconciler.runtime import kubernetes_objects as ko  # noqa: E402
from reconciler.runtime.kubernetes import KubernetesRuntime, open_client  # noqa: E402

AUTHOR = Author("bench", "bench@example.test")
BIN = os.environ.get("HIVE_K8S_BIN", "/var/cache/hyperhive-k8s/bin")
NS = "bench"


def quiet(line: str) -> None:
    return None


def ms(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs) * 1000:.2f} ms (min {min(xs) * 1000:.2f}, max {max(xs) * 1000:.2f})"
    )


async def run(kubeconfig: str, root: Path, agents: int, rounds: int) -> None:
    layout = StateLayout(root)
    init_meta_repo(layout.meta)

    def many(state):  # type: ignore[no-untyped-def]
        for i in range(agents):
            state = add_agent(state, {"name": f"a{i}"})
        return state

    MetaRepo(layout.meta).commit(many, author=AUTHOR, message=f"{agents} agents")
    snap = MetaRepo(layout.meta).load()
    state = snap.state
    c = await open_client(kubeconfig)
    await c.core.create_namespace({"metadata": {"name": NS}})
    rt = KubernetesRuntime(layout, ko.KubeSettings(namespace=NS), kubeconfig=kubeconfig)
    t0 = time.perf_counter()
    for name in state.agents:
        fp = agent_fingerprint(state, name)
        spec = launch_spec(layout, name, is_manager=False)
        launch_config(state, name, snap.revision, fp).write(spec.config_file)
        await rt.create(spec, quiet)
    print(f"created {agents} agents' objects (3 applies + 3 reads each): {time.perf_counter() - t0:.1f} s")
    applied = {
        n: Applied(n, snap.revision, agent_fingerprint(state, n), spec_view(state, n)) for n in state.agents
    }
    await rt.list()
    assert rt.statefulsets is not None
    await rt.statefulsets.wait_for(lambda items: len(items) == agents, 30)

    requests, lists = rt.requests, rt.statefulsets.lists
    ours = []
    for _ in range(rounds):
        t = time.perf_counter()
        observed = await rt.list()
        result = plan(state, snap.revision, observed, applied)
        ours.append(time.perf_counter() - t)
    assert result.empty, result.actions[:3]
    made = rt.requests - requests + rt.statefulsets.lists - lists

    base = []
    for _ in range(rounds):
        t = time.perf_counter()
        sts = json.loads(
            await (
                await c.apps.list_namespaced_stateful_set(
                    NS, label_selector=ko.SELECTOR, _preload_content=False
                )
            ).read()
        )
        pods = json.loads(
            await (
                await c.core.list_namespaced_pod(NS, label_selector=ko.SELECTOR, _preload_content=False)
            ).read()
        )
        observed = {
            i["metadata"]["labels"][ko.AGENT]: ko.observe(i["metadata"]["labels"][ko.AGENT], i, None)
            for i in sts["items"]
        }
        assert not pods["items"]
        result = plan(state, snap.revision, observed, applied)
        base.append(time.perf_counter() - t)
    assert result.empty
    print(
        f"no-op pass, {agents} agents, cached list + plan: {ms(ours)}; "
        f"API requests in {rounds} passes: {made}"
    )
    print(f"baseline, full list of StatefulSets + Pods + plan:  {ms(base)}; API requests: {2 * rounds}")
    print(f"ratio ours / baseline (median): {statistics.median(ours) / statistics.median(base):.3f}")
    await rt.aclose()
    await c.api.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k8sb") as tmp:
        run_dir = Path(tmp) / "k8s"
        up = subprocess.run(
            ["bash", str(ROOT / "scripts/k8s/up.sh"), str(run_dir), BIN],
            capture_output=True,
            text=True,
            check=False,
        )
        if up.returncode != 0:
            sys.exit(f"scripts/k8s/up.sh failed:\n{up.stdout}{up.stderr}")
        try:
            asyncio.run(run(str(run_dir / "admin.kubeconfig"), Path(tmp) / "hive", args.agents, args.rounds))
        finally:
            subprocess.run(
                ["bash", str(ROOT / "scripts/k8s/down.sh"), str(run_dir)], capture_output=True, check=False
            )


if __name__ == "__main__":
    main()
