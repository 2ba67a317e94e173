"""Seed files for agents in pods, against a real kube-apiserver 1.20 (etcd + apiserver, API only).

A real meta repo with an agent drafted with seed files, and the reconciler's own pass
(``Reconciler.apply_once``) driving the kubernetes runtime: the seeds reach the cluster as the
agent's seed ConfigMap, the StatefulSet's pod template runs the seed init container first, and
nothing is written into the host's state dir (a pod's /state is not there). No controllers run,
so no pod starts and the health gate fails; the copy routine itself is ``test_seeds.py``'s.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from desired.changes import draft_agent, set_agent_field
from desired.schema import agent_fingerprint
from hive_kit.errors import PermanentError
from hive_kit.seeding import BUNDLE_FILE
from reconciler.act import launch_config, launch_spec
from reconciler.loop import LoopSettings, Reconciler
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.base import LaunchSpec
from tests.k8s.test_driver import Swarm, quiet

BRIEF = b"# Brief\nParse the nightly logs.\n"
PLAN = b"1. read /var/log\n"


@pytest.fixture
async def swarm(tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str) -> AsyncIterator[Swarm]:
    s = Swarm(tmp_path / "hive", k8s_api, k8s_namespace)
    await s.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    fields = {"name": "coder", "model": "claude-sonnet-4-5"}
    s.commit(lambda st: draft_agent(st, fields, None, {"brief.md": BRIEF, "notes/plan.md": PLAN}))
    try:
        yield s
    finally:
        await s.runtime.aclose()


async def test_a_pass_carries_the_seeds_to_the_pod_and_not_to_the_host(swarm: Swarm) -> None:
    rec = Reconciler(swarm.layout, swarm.runtime, settings=LoopSettings(health_timeout=0.5))
    await rec.apply_once()  # applies, then fails its health gate: no controllers, no pod

    cm = await swarm.read("read_namespaced_config_map", "hive-coder-seed")
    assert cm is not None and ko.is_ours(cm)
    bundle = json.loads(cm["data"][BUNDLE_FILE])
    assert bundle["files"] == {"brief.md": BRIEF.decode(), "notes/plan.md": PLAN.decode()}
    sts = await swarm.read("read_namespaced_stateful_set", "hive-coder")
    assert sts is not None
    pod = sts["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "seed" and init["command"][:2] == ["hive-harness", "seed"]
    assert init["image"] == pod["containers"][0]["image"]
    assert {
        "name": "seed",
        "configMap": {"name": "hive-coder-seed", "optional": True, "defaultMode": 420},
    } in pod["volumes"]
    assert not (swarm.layout.agent_state("coder") / "brief.md").exists(), (
        "the host's state dir is no pod's /state"
    )
    manager = await swarm.read("read_namespaced_config_map", "hive-manager-seed")
    assert manager is not None and json.loads(manager["data"][BUNDLE_FILE])["files"] == {}


def spec(swarm: Swarm, name: str, *, seeded: bool = False) -> LaunchSpec:
    """``name``'s launch spec as a pass makes it: seeds only for a create."""
    snap = swarm.repo.load()
    config = launch_config(snap.state, name, snap.revision, agent_fingerprint(snap.state, name))
    out = launch_spec(swarm.layout, name, is_manager=False)
    config.write(out.config_file)
    return dataclasses.replace(out, seeds=snap.state.seeds.get(name, {})) if seeded else out


async def test_an_update_leaves_the_seeds_and_destroy_deletes_them(swarm: Swarm) -> None:
    await swarm.runtime.create(spec(swarm, "coder", seeded=True), quiet)
    before = await swarm.read("read_namespaced_config_map", "hive-coder-seed")
    swarm.commit(lambda st: set_agent_field(st, "coder", "model", "claude-opus-4-1"))
    await swarm.runtime.update(spec(swarm, "coder"), quiet)
    after = await swarm.read("read_namespaced_config_map", "hive-coder-seed")
    assert before is not None and after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
        "an update must not hand the init container a new bundle (it would fill gaps again)"
    )
    await swarm.runtime.destroy("coder", quiet)
    assert await swarm.read("read_namespaced_config_map", "hive-coder-seed") is None
    assert await swarm.read("read_namespaced_config_map", "hive-coder") is None


async def test_someone_elses_config_map_of_that_name_is_refused_and_kept(swarm: Swarm) -> None:
    theirs = {"metadata": {"name": "hive-coder-seed", "labels": {"app": "theirs"}}, "data": {"k": "v"}}
    await swarm.admin("create_namespaced_config_map", swarm.namespace, theirs)
    with pytest.raises(PermanentError, match=r"configmap hive-coder-seed in namespace .* is not hyperhive's"):
        await swarm.runtime.create(spec(swarm, "coder", seeded=True), quiet)
    await swarm.runtime.destroy("coder", quiet)
    kept = await swarm.read("read_namespaced_config_map", "hive-coder-seed")
    assert kept is not None and kept["data"] == {"k": "v"}
