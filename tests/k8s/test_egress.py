"""An agent's egress as a NetworkPolicy: what is rendered (pure) and what the API server keeps.

API tier against a real kube-apiserver 1.20 (etcd + apiserver): the policy is an object it
stores and validates, so the selectors, ports and peers here are the ones a CNI would enforce.
Whether traffic is then really dropped depends on the CNI; the test cluster's bridge plugin
enforces nothing, so no test here sends a packet (docs/kubernetes.md, Egress).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from desired.changes import add_agent
from hive_kit.errors import PermanentError, UserError
from reconciler.runtime import kubernetes_egress as kegress
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime.kubernetes import open_client, settings_from_env
from tests.k8s import admin
from tests.k8s.test_driver import Swarm, quiet

S = ko.KubeSettings(namespace="swarm", broker_url="tls://10.0.0.1:7443", egress_cidrs=("160.79.104.0/23",))
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["spec"]["egress"]  # type: ignore[no-any-return]


def test_the_policy_selects_the_agents_pod_and_lets_in_only_its_page() -> None:
    policy = kegress.network_policy("alice", S)
    assert policy["metadata"]["name"] == "hive-alice" and ko.is_ours(policy)
    assert policy["spec"]["podSelector"] == {"matchLabels": ko.labels("alice")}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # the page port (the pod proxy's way in, token required), from anywhere; nothing else
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 7700}]}]
    # without the TLS broker there is no page port: nothing in at all
    assert kegress.network_policy("alice", ko.KubeSettings())["spec"]["ingress"] == []


def test_egress_is_dns_the_broker_and_the_operators_cidrs_on_443() -> None:
    dns, broker, api = rules(kegress.network_policy("alice", S))
    assert dns == {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": DNS_PORTS,
    }
    assert broker == {
        "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}],
        "ports": [{"protocol": "TCP", "port": 7443}],
    }
    assert api == {
        "to": [{"ipBlock": {"cidr": "160.79.104.0/23"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def test_a_broker_by_name_opens_its_port_only_and_v6_is_one_address() -> None:
    named = ko.KubeSettings(broker_url="tls://hive.example:7443")
    assert rules(kegress.network_policy("a", named))[1] == {"ports": [{"protocol": "TCP", "port": 7443}]}
    v6 = ko.KubeSettings(broker_url="tls://[fd00::1]:7443")
    assert rules(kegress.network_policy("a", v6))[1]["to"] == [{"ipBlock": {"cidr": "fd00::1/128"}}]


def test_a_model_gateway_is_let_through_on_its_own_port_and_never_to_any_address() -> None:
    """HIVE_KUBE_MODEL_BASE_URL: where every pod's claude calls the model, so its policy must allow it;
    a name cannot be a peer, and its port open to any address would be every HTTPS server for 443."""
    by_ip = ko.KubeSettings(broker_url="tls://10.0.0.1:7443", model_base_url="http://10.0.0.9:8080/v1")
    assert rules(kegress.network_policy("a", by_ip))[2] == {
        "to": [{"ipBlock": {"cidr": "10.0.0.9/32"}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
    assert kegress.model_api_warning(by_ip) is None
    named = ko.KubeSettings(model_base_url="https://llm-gateway.example")
    assert [r["ports"] for r in rules(kegress.network_policy("a", named))] == [DNS_PORTS]  # nothing open
    warning = kegress.model_api_warning(named)
    assert warning and "llm-gateway.example" in warning and "HIVE_KUBE_EGRESS_CIDRS" in warning
    listed = ko.KubeSettings(model_base_url="https://llm-gateway.example:8443", egress_cidrs=("10.9.0.0/16",))
    _, model, cidrs = rules(kegress.network_policy("a", listed))
    assert model == {
        "to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}],
        "ports": [{"protocol": "TCP", "port": 8443}],
    }
    assert cidrs["ports"] == [{"protocol": "TCP", "port": 443}] and kegress.model_api_warning(listed) is None
    assert "HIVE_KUBE_EGRESS_CIDRS is not set" in (kegress.model_api_warning(ko.KubeSettings()) or "")


def test_without_a_broker_or_cidrs_only_dns_is_open() -> None:
    assert [r["ports"] for r in rules(kegress.network_policy("a", ko.KubeSettings()))] == [DNS_PORTS]


def test_the_cidr_setting_is_normalised_and_a_bad_one_is_one_line() -> None:
    got = settings_from_env({"HIVE_KUBE_EGRESS_CIDRS": "160.79.104.7/23, 2607:6bc0::/48,10.1.2.3"})
    assert got.egress_cidrs == ("160.79.104.0/23", "2607:6bc0::/48", "10.1.2.3/32")
    with pytest.raises(
        UserError, match=r"^HIVE_KUBE_EGRESS_CIDRS: 'api\.anthropic\.com' is not an address or CIDR"
    ):
        settings_from_env({"HIVE_KUBE_EGRESS_CIDRS": "api.anthropic.com"})


def test_a_bad_cidr_setting_is_one_line_from_the_cli(hive: Any) -> None:
    assert hive("init").returncode == 0
    done = hive(
        "reconcile", "--dry-run", "--runtime", "kubernetes",
        env={"HIVE_KUBE_EGRESS_CIDRS": "anthropic", "KUBECONFIG": "/nonexistent"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "HIVE_KUBE_EGRESS_CIDRS: 'anthropic' is not an address or CIDR" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


# ---- against the API server ----------------------------------------------------------------------


async def read_policy(swarm: Swarm, name: str) -> dict[str, Any] | None:
    return await admin.read(swarm.kubeconfig, "read_namespaced_network_policy", name, swarm.namespace)


async def create_policy(swarm: Swarm, body: dict[str, Any]) -> None:
    from kubernetes_asyncio import client

    c = await open_client(swarm.kubeconfig)
    try:
        await client.NetworkingV1Api(c.api).create_namespaced_network_policy(swarm.namespace, body)
    finally:
        await c.api.close()


@pytest.fixture
async def swarm(tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str) -> AsyncIterator[Swarm]:
    s = Swarm(tmp_path / "hive", k8s_api, k8s_namespace)
    s.runtime.settings = ko.KubeSettings(
        namespace=k8s_namespace, broker_url="tls://10.0.0.1:7443", egress_cidrs=("160.79.104.0/23",)
    )
    await s.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    for name in ("alice", "bob"):
        s.commit(lambda st, name=name: add_agent(st, {"name": name}))
    try:
        yield s
    finally:
        await s.runtime.aclose()


async def test_each_agent_gets_its_policy_and_destroy_removes_it(swarm: Swarm) -> None:
    for name in ("alice", "bob"):
        await swarm.runtime.create(swarm.spec(name), quiet)
    stored = await read_policy(swarm, "hive-alice")
    assert stored is not None and ko.is_ours(stored)
    spec = stored["spec"]
    assert spec["podSelector"] == {"matchLabels": ko.labels("alice")}  # alice's pod, not bob's
    sts = await swarm.read("read_namespaced_stateful_set", "hive-alice")
    assert sts is not None and sts["spec"]["template"]["metadata"]["labels"] == ko.labels("alice")
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [{"ports": [{"protocol": "TCP", "port": 7700}]}]  # the page port only
    ports = [(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]]
    assert ports == [("UDP", 53), ("TCP", 53), ("TCP", 7443), ("TCP", 443)]
    peers = [peer for rule in spec["egress"] for peer in rule.get("to", [])]
    assert {"ipBlock": {"cidr": "10.0.0.1/32"}} in peers and {"ipBlock": {"cidr": "160.79.104.0/23"}} in peers
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert ko.FIELD_MANAGER in managers

    await swarm.runtime.destroy("alice", quiet)
    assert await read_policy(swarm, "hive-alice") is None
    assert await read_policy(swarm, "hive-bob") is not None


def foreign_policy(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "theirs"}},
        "spec": {"podSelector": {"matchLabels": {"app": "theirs"}}, "policyTypes": ["Ingress"]},
    }


async def test_someone_elses_policies_are_never_touched(swarm: Swarm) -> None:
    """One with an unrelated name, and one named as alice's would be (``hive-alice``)."""
    await create_policy(swarm, foreign_policy("deny-all"))
    await create_policy(swarm, foreign_policy("hive-alice"))
    theirs = {n: await read_policy(swarm, n) for n in ("deny-all", "hive-alice")}
    with pytest.raises(PermanentError, match=r"networkpolicy hive-alice in namespace .* is not hyperhive's"):
        await swarm.runtime.create(swarm.spec("alice"), quiet)
    await swarm.runtime.create(swarm.spec("bob"), quiet)
    await swarm.runtime.destroy("alice", quiet)
    await swarm.runtime.destroy("bob", quiet)
    for name, was in theirs.items():
        now = await read_policy(swarm, name)
        assert now is not None and was is not None
        assert now["metadata"]["resourceVersion"] == was["metadata"]["resourceVersion"]
