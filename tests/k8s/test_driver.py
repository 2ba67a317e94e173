"""The kubernetes runtime against a real kube-apiserver 1.20 (etcd + apiserver, built from Debian's source).

API only: no controllers run, so a StatefulSet makes no pods and no PVCs. These
tests check what the driver asks of the API server and what it leaves alone; the
PVC a StatefulSet controller would make is created here by hand, with the labels
that controller gives it (its selector's), for destroy and purge to find. Pods
that really run are the ``k8s_node`` tier's. The agents' desired state is a real
meta repo, and their launch configs are rendered by the reconciler's own
``launch_config``, so a model change moves the fingerprint as it would in a pass.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import Author, MetaRepo
from desired.schema import agent_fingerprint
from hive_kit.errors import PermanentError
from hive_kit.paths import StateLayout
from reconciler.act import launch_config, launch_spec
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import KubernetesRuntime
from tests.k8s import admin

TESTER = Author("Test Operator", "operator@example.test")
AGENTS = ("alice", "bob", "carol")


def quiet(line: str) -> None:
    return None


class Swarm:
    """A meta repo, a state dir and the driver, in one namespace of the session's cluster."""

    def __init__(self, root: Path, cluster: dict[str, str], namespace: str) -> None:
        self.layout = StateLayout(root)
        init_meta_repo(self.layout.meta)
        self.repo = MetaRepo(self.layout.meta)
        self.kubeconfig = cluster["KUBECONFIG"]
        self.namespace = namespace
        self.runtime = KubernetesRuntime(
            self.layout, ko.KubeSettings(namespace=namespace), kubeconfig=self.kubeconfig
        )

    def commit(self, change: Any) -> None:
        assert self.repo.commit(change, author=TESTER, message="test") is not None

    def spec(self, name: str) -> Any:
        """Render ``name``'s agent.json from desired state now, as a pass would before create/update."""
        snap = self.repo.load()
        config = launch_config(snap.state, name, snap.revision, agent_fingerprint(snap.state, name))
        spec = launch_spec(self.layout, name, is_manager=False)
        config.write(spec.config_file)
        return spec

    async def admin(self, call: str, *args: Any, **kw: Any) -> Any:
        return await admin.call(self.kubeconfig, call, *args, **kw)

    async def read(self, call: str, name: str) -> dict[str, Any] | None:
        """An object as the server has it now (its JSON), or None if there is none."""
        return await admin.read(self.kubeconfig, call, name, self.namespace)


@pytest.fixture
async def swarm(tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str) -> AsyncIterator[Swarm]:
    s = Swarm(tmp_path / "hive", k8s_api, k8s_namespace)
    await s.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    for name in AGENTS:
        s.commit(lambda st, name=name: add_agent(st, {"name": name, "model": "claude-sonnet-4-5"}))
    try:
        yield s
    finally:
        await s.runtime.aclose()


async def test_empty_namespace_to_three_agents_objects(swarm: Swarm) -> None:
    assert await swarm.runtime.list() == {}
    for name in AGENTS:
        await swarm.runtime.create(swarm.spec(name), quiet)
    for name in AGENTS:
        sts = await swarm.read("read_namespaced_stateful_set", f"hive-{name}")
        assert sts is not None and sts["spec"]["replicas"] == 1
        cm = await swarm.read("read_namespaced_config_map", f"hive-{name}")
        assert cm is not None and json.loads(cm["data"]["agent.json"])["name"] == name
        assert await swarm.read("read_namespaced_service_account", f"hive-{name}") is not None
        managers = {m["manager"] for m in sts["metadata"]["managedFields"]}
        assert ko.FIELD_MANAGER in managers  # server-side apply, under our name
    assert await swarm.runtime.statefulsets.wait_for(lambda items: len(items) == 3, 10)  # type: ignore[union-attr]
    seen = await swarm.runtime.list()
    assert sorted(seen) == list(AGENTS)
    assert all(o.state is ContainerState.STARTING for o in seen.values())  # no controllers: no pods


async def test_a_model_change_rolls_exactly_that_agents_template(swarm: Swarm) -> None:
    specs = {name: swarm.spec(name) for name in AGENTS}
    for spec in specs.values():
        await swarm.runtime.create(spec, quiet)
    before = {n: await swarm.read("read_namespaced_stateful_set", f"hive-{n}") for n in AGENTS}
    swarm.commit(lambda st: set_agent_field(st, "bob", "model", "claude-opus-4-1"))
    await swarm.runtime.update(swarm.spec("bob"), quiet)  # the pass re-renders bob's agent.json only
    for name in ("alice", "carol"):  # applying what they already run again changes nothing
        await swarm.runtime.update(specs[name], quiet)
    after = {n: await swarm.read("read_namespaced_stateful_set", f"hive-{n}") for n in AGENTS}
    changed = [n for n in AGENTS if after[n]["metadata"]["generation"] != before[n]["metadata"]["generation"]]  # type: ignore[index]
    assert changed == ["bob"]
    notes = after["bob"]["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
    old = before["bob"]["spec"]["template"]["metadata"]["annotations"]  # type: ignore[index]
    assert notes[ko.FINGERPRINT] != old[ko.FINGERPRINT]
    cm = await swarm.read("read_namespaced_config_map", "hive-bob")
    assert json.loads(cm["data"]["agent.json"])["model"] == "claude-opus-4-1"  # type: ignore[index]


async def test_stop_and_start_scale_and_an_update_keeps_a_stopped_agent_stopped(swarm: Swarm) -> None:
    await swarm.runtime.create(swarm.spec("alice"), quiet)
    await swarm.runtime.stop("alice", quiet)
    sts = await swarm.read("read_namespaced_stateful_set", "hive-alice")
    assert sts["spec"]["replicas"] == 0  # type: ignore[index]
    assert await swarm.runtime.statefulsets.wait_for(  # type: ignore[union-attr]
        lambda items: items.get("hive-alice", {}).get("spec", {}).get("replicas") == 0, 10
    )
    assert (await swarm.runtime.list())["alice"].state is ContainerState.STOPPED
    swarm.commit(lambda st: set_agent_field(st, "alice", "model", "claude-opus-4-1"))
    await swarm.runtime.update(swarm.spec("alice"), quiet)
    assert (await swarm.read("read_namespaced_stateful_set", "hive-alice"))["spec"]["replicas"] == 0  # type: ignore[index]
    await swarm.runtime.start(swarm.spec("alice"), quiet)
    assert (await swarm.read("read_namespaced_stateful_set", "hive-alice"))["spec"]["replicas"] == 1  # type: ignore[index]


async def make_claim(swarm: Swarm, name: str) -> None:
    """The PVC the StatefulSet controller makes (API only: none runs): its name and labels."""
    claim = {
        "metadata": {"name": ko.claim_names(name)[0], "labels": ko.labels(name)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await swarm.admin("create_namespaced_persistent_volume_claim", swarm.namespace, claim)


async def test_destroy_keeps_the_volume_and_purge_removes_it(swarm: Swarm) -> None:
    for name in ("alice", "bob"):
        await swarm.runtime.create(swarm.spec(name), quiet)
        await make_claim(swarm, name)
    await swarm.runtime.destroy("alice", quiet)
    await swarm.runtime.destroy("bob", quiet)
    await swarm.runtime.purge("bob", quiet)
    for kind in (
        "read_namespaced_stateful_set",
        "read_namespaced_config_map",
        "read_namespaced_service_account",
    ):
        assert await swarm.read(kind, "hive-alice") is None
        assert await swarm.read(kind, "hive-bob") is None
    kept = await swarm.read("read_namespaced_persistent_volume_claim", "state-hive-alice-0")
    assert kept is not None and "deletionTimestamp" not in kept["metadata"]
    purged = await swarm.read("read_namespaced_persistent_volume_claim", "state-hive-bob-0")
    # deleted; with no controller running (API only) its pvc-protection finalizer keeps it listed
    assert purged is None or "deletionTimestamp" in purged["metadata"]
    assert await swarm.runtime.statefulsets.wait_for(lambda items: not items, 10)  # type: ignore[union-attr]
    assert await swarm.runtime.list() == {}


def foreign(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "someone/else:1"}]},
            },
        },
    }


async def test_someone_elses_statefulsets_are_never_touched(swarm: Swarm) -> None:
    """One with an unrelated name, and one named as our agent's would be (``hive-alice``)."""
    await swarm.admin("create_namespaced_stateful_set", swarm.namespace, foreign("database"))
    await swarm.admin("create_namespaced_stateful_set", swarm.namespace, foreign("hive-alice"))
    theirs = {n: await swarm.read("read_namespaced_stateful_set", n) for n in ("database", "hive-alice")}
    with pytest.raises(PermanentError, match=r"hive-alice in namespace .* is not hyperhive's"):
        await swarm.runtime.create(swarm.spec("alice"), quiet)
    await swarm.runtime.create(swarm.spec("bob"), quiet)
    assert sorted(await swarm.runtime.list()) == ["bob"]  # theirs are not listed as agents
    await swarm.runtime.destroy("alice", quiet)  # alice is not ours: nothing to delete
    with pytest.raises(PermanentError, match="no hyperhive statefulset hive-alice"):
        await swarm.runtime.stop("alice", quiet)
    for name, was in theirs.items():
        now = await swarm.read("read_namespaced_stateful_set", name)
        assert now is not None and was is not None
        assert now["metadata"]["resourceVersion"] == was["metadata"]["resourceVersion"]


async def test_a_missing_namespace_is_a_permanent_error_naming_it(swarm: Swarm) -> None:
    swarm.runtime.settings = ko.KubeSettings(namespace="no-such-ns")
    with pytest.raises(PermanentError, match="namespace no-such-ns"):
        await swarm.runtime.create(swarm.spec("alice"), quiet)


async def test_the_cache_lists_again_after_410_gone(tmp_path: Path, k8s_restartable: Any) -> None:
    """A restarted apiserver's watch cache starts at the current version: resuming the watch from
    the version the cache had gets 410 Gone, and the cache lists again (and sees what changed)."""
    swarm = Swarm(tmp_path / "hive", k8s_restartable.env, "gone")
    await swarm.admin("create_namespace", {"metadata": {"name": "gone"}})
    for name in AGENTS:
        swarm.commit(lambda st, name=name: add_agent(st, {"name": name}))
    try:
        await swarm.runtime.create(swarm.spec("alice"), quiet)
        assert sorted(await swarm.runtime.list()) == ["alice"]
        cache = swarm.runtime.statefulsets
        assert cache is not None and cache.relists == 0 and cache.lists == 1
        await cache.close()  # nobody watches while the apiserver restarts and bob is created
        # a write the cache never sees: the restarted apiserver's watch cache then starts past the
        # cache's version for sure (without one, nothing may have moved, and resuming works)
        marker = {"metadata": {"name": "unseen-write"}, "data": {"k": "v"}}
        await swarm.admin("create_namespaced_config_map", "gone", marker)
        await asyncio.to_thread(k8s_restartable.restart)
        await swarm.runtime.create(swarm.spec("bob"), quiet)
        cache.start()
        assert await cache.wait_for(lambda items: "hive-bob" in items, 30), "the relist never brought bob"
        assert cache.relists == 1 and cache.lists == 2
        assert sorted(await swarm.runtime.list()) == ["alice", "bob"]
    finally:
        await swarm.runtime.aclose()


async def test_no_op_list_makes_no_request(swarm: Swarm) -> None:
    for name in AGENTS:
        await swarm.runtime.create(swarm.spec(name), quiet)
    await swarm.runtime.list()
    made, lists = swarm.runtime.requests, swarm.runtime.statefulsets.lists  # type: ignore[union-attr]
    for _ in range(20):
        await swarm.runtime.list()
    assert swarm.runtime.requests == made
    assert swarm.runtime.statefulsets.lists == lists  # type: ignore[union-attr]
    await asyncio.sleep(0)
