"""The daemon's Role is enough for every verb, and nothing outside its namespace is reachable.

Against the real apiserver (API only; RBAC on): the daemon runs with a token for a
ServiceAccount bound to exactly ``kubernetes_rbac.manifests`` — the credential a daemon
in a pod would have — instead of the admin kubeconfig.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hive_kit.errors import PermanentError
from hive_kit.launch import AgentLaunchConfig
from hive_kit.paths import StateLayout
from reconciler.act import launch_spec
from reconciler.model import ContainerState
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import KubernetesRuntime, open_client
from reconciler.runtime.kubernetes_rbac import manifests


def quiet(line: str) -> None:
    return None


async def admin_setup(kubeconfig: str, namespace: str, other: str) -> str:
    """Both namespaces, the daemon's account and its Role in ``namespace``; returns its token."""
    from kubernetes_asyncio import client

    c = await open_client(kubeconfig)
    try:
        for ns in (namespace, other):
            await c.core.create_namespace({"metadata": {"name": ns}})
        await c.core.create_namespaced_service_account(namespace, {"metadata": {"name": "hyperhive"}})
        rbac = client.RbacAuthorizationV1Api(c.api)
        role, binding, reviews = manifests(namespace, "hyperhive")
        await rbac.create_namespaced_role(namespace, role)
        await rbac.create_namespaced_role_binding(namespace, binding)
        await rbac.create_cluster_role_binding(reviews)
        token = await c.core.create_namespaced_service_account_token(
            "hyperhive", namespace, {"spec": {"expirationSeconds": 3600}}
        )
        return str(token.status.token)
    finally:
        await c.api.close()


def token_kubeconfig(admin: str, token: str, path: Path) -> str:
    """The admin kubeconfig's cluster (server, CA) with the daemon's token as the user."""
    conf: dict[str, Any] = yaml.safe_load(Path(admin).read_text())
    cluster = conf["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "daemon", "user": {"token": token}}],
                "contexts": [{"name": "daemon", "context": {"cluster": cluster["name"], "user": "daemon"}}],
                "current-context": "daemon",
            }
        )
    )
    return str(path)


@pytest.fixture
async def daemon(
    tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str
) -> AsyncIterator[KubernetesRuntime]:
    token = await admin_setup(k8s_api["KUBECONFIG"], k8s_namespace, k8s_namespace + "-x")
    kubeconfig = token_kubeconfig(k8s_api["KUBECONFIG"], token, tmp_path / "daemon.kubeconfig")
    rt = KubernetesRuntime(
        StateLayout(tmp_path / "hive"), ko.KubeSettings(namespace=k8s_namespace), kubeconfig=kubeconfig
    )
    try:
        yield rt
    finally:
        await rt.aclose()


def spec(rt: KubernetesRuntime, name: str) -> Any:
    s = launch_spec(rt.layout, name, is_manager=False)
    AgentLaunchConfig(name=name, role="agent", model="m", fingerprint="f", revision="r").write(s.config_file)
    return s


async def test_every_verb_works_with_the_role_alone(daemon: KubernetesRuntime) -> None:
    rt = daemon
    rt.settings = dataclasses.replace(
        rt.settings, broker_url="tls://10.0.0.1:7443", egress_cidrs=("10.9.0.0/16",)
    )
    assert await rt.list() == {}
    # a create applies the seed ConfigMap and the NetworkPolicy too (networking.k8s.io: in the Role)
    await rt.create(dataclasses.replace(spec(rt, "alice"), seeds={"brief.md": b"hi\n"}), quiet)
    await rt.update(spec(rt, "alice"), quiet)
    await rt.stop("alice", quiet)
    assert rt.statefulsets is not None
    assert await rt.statefulsets.wait_for(
        lambda items: items.get("hive-alice", {}).get("spec", {}).get("replicas") == 0, 10
    )
    assert (await rt.list())["alice"].state is ContainerState.STOPPED
    await rt.start(spec(rt, "alice"), quiet)
    assert rt.logs("alice", 10) == []  # no pod on an API-only cluster: an empty log, not an error
    await rt.destroy("alice", quiet)
    await rt.purge("alice", quiet)
    assert await rt.statefulsets.wait_for(lambda items: not items, 10)


async def test_another_namespace_is_refused_permanently_naming_the_fix(daemon: KubernetesRuntime) -> None:
    rt = KubernetesRuntime(
        daemon.layout,
        ko.KubeSettings(namespace=daemon.settings.namespace + "-x"),
        kubeconfig=daemon.kubeconfig,
    )
    try:
        with pytest.raises(PermanentError, match=r"may not .*RBAC"):
            await rt.create(spec(rt, "bob"), quiet)
    finally:
        await rt.aclose()


def test_the_role_grants_no_secrets_and_nothing_cluster_wide_but_token_reviews() -> None:
    role, binding, reviews = manifests("ns", "hyperhive")
    assert role["kind"] == "Role" and binding["kind"] == "RoleBinding"  # namespaced
    assert all("secrets" not in rule["resources"] for rule in role["rules"])
    assert json.dumps(role).count('"*"') == 0  # no wildcards
    proxy = next(rule for rule in role["rules"] if rule["resources"] == ["pods/proxy"])
    assert proxy["verbs"] == ["get", "create"]  # the agent page through the API server: GET, POST
    policies = next(rule for rule in role["rules"] if rule["resources"] == ["networkpolicies"])
    assert policies == {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "create", "patch", "delete"],  # each agent's egress policy (no list: no cache)
    }
    # the one cluster-wide grant: the built-in role that may create TokenReviews (the TLS broker)
    assert reviews["kind"] == "ClusterRoleBinding"
    assert reviews["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert reviews["subjects"] == [{"kind": "ServiceAccount", "name": "hyperhive", "namespace": "ns"}]
    assert manifests("other", "hyperhive")[2]["metadata"]["name"] != reviews["metadata"]["name"]


async def test_listing_a_namespace_it_may_not_read_is_permanent_at_once(daemon: KubernetesRuntime) -> None:
    rt = KubernetesRuntime(
        daemon.layout,
        ko.KubeSettings(namespace=daemon.settings.namespace + "-x"),
        kubeconfig=daemon.kubeconfig,
    )
    try:
        with pytest.raises(PermanentError, match=r"statefulsets \(list, watch\) in namespace .*-x"):
            await rt.list()
    finally:
        await rt.aclose()


def test_hive_kube_rbac_prints_exactly_that_role(hive: Any) -> None:
    done = hive("kube", "rbac", "--namespace", "swarm", "--account", "daemon", state=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["kind"] == "List" and printed["items"] == manifests("swarm", "daemon")


def test_hive_kube_rbac_refuses_a_name_kubernetes_would(hive: Any) -> None:
    done = hive("kube", "rbac", "--namespace", "Bad_NS", state=False)
    assert done.returncode != 0
    assert "namespace 'Bad_NS' is not a Kubernetes name" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


async def test_the_role_may_reach_pages_through_the_pod_proxy_and_read_no_secret(
    daemon: KubernetesRuntime,
) -> None:
    """The dashboard's page requests go through ``pods/proxy`` with the daemon's credentials: GET is
    ``get`` and POST is ``create`` there; asked of the API server as the daemon's own account."""
    from kubernetes_asyncio import client

    c = await open_client(daemon.kubeconfig)
    try:
        authz = client.AuthorizationV1Api(c.api)

        async def may(verb: str, resource: str, subresource: str = "") -> bool:
            attrs = {"namespace": daemon.settings.namespace, "verb": verb, "resource": resource}
            if subresource:
                attrs["subresource"] = subresource
            review = await authz.create_self_subject_access_review({"spec": {"resourceAttributes": attrs}})
            return bool(review.status.allowed)

        assert await may("get", "pods", "proxy") and await may("create", "pods", "proxy")
        assert not await may("delete", "pods", "proxy")
        assert not await may("get", "secrets") and not await may("list", "secrets")
        assert not await may("create", "pods", "exec")  # the proxy is no shell into the pod
    finally:
        await c.api.close()
