"""The agent page of a pod agent: its token on the host, its digest in the pod, the page port.

Pure tests of what the driver renders, then API tier against a real kube-apiserver 1.20 (etcd +
apiserver, no node): the objects the server keeps hold the token's digest only, each in its own
agent's ConfigMap, mounted only in its own agent's pod. The dashboard through the pod proxy to a
real harness is the node tier's (``test_page_proxy.py``).
"""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from desired.changes import add_agent
from hive_kit import pagetoken
from hive_kit.paths import StateLayout
from reconciler.runtime import kubernetes_objects as ko
from reconciler.runtime import kubernetes_page as kpage
from tests.k8s.test_driver import Swarm, quiet
from tests.web.conftest import layout as web_layout  # noqa: F401 (a fixture: the dashboard's state dir)
from tests.web.conftest import server_loop  # noqa: F401 (a fixture: the dashboard's loop)

S = ko.KubeSettings(namespace="swarm", broker_url="tls://10.0.0.1:7443")


def harness(sts: dict[str, Any]) -> dict[str, Any]:
    return sts["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def sts_for(agent: str, s: ko.KubeSettings) -> dict[str, Any]:
    agent_json = json.dumps({"name": agent, "fingerprint": "f", "revision": "r"})
    return kpage.with_page(ko.stateful_set(agent, "agent", agent_json, 1, s), s)


def test_with_the_broker_the_harness_serves_its_page_on_the_named_port() -> None:
    c = harness(sts_for("alice", S))
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HIVE_PAGE_LISTEN"] == "0.0.0.0:7700"
    assert env["HIVE_PAGE_TOKEN_SHA256_FILE"] == "/etc/hyperhive/page-token.sha256"
    assert c["ports"] == [{"name": "page", "containerPort": 7700, "protocol": "TCP"}]
    # the digest comes with the agent's own ConfigMap, at /etc/hyperhive, read-only
    assert {"name": "config", "mountPath": "/etc/hyperhive", "readOnly": True} in c["volumeMounts"]


def test_without_the_broker_nothing_changes() -> None:
    c = harness(sts_for("alice", ko.KubeSettings()))
    assert "ports" not in c
    assert not any(e["name"].startswith("HIVE_PAGE") for e in c["env"])
    assert kpage.digest_data(StateLayout(Path("/nonexistent")), "alice", ko.KubeSettings()) == {}


def test_the_token_is_made_once_kept_0600_and_only_its_digest_goes_to_the_configmap(tmp_path: Path) -> None:
    layout = StateLayout(tmp_path)
    cm = kpage.with_digest(ko.config_map("alice", "{}", S), layout, "alice", S)
    token = layout.page_token_for("alice").read_text().strip()
    assert len(token) >= 40
    assert stat.S_IMODE(layout.page_token_for("alice").stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.page_token_for("alice").parent.stat().st_mode) == 0o700
    assert cm["data"]["page-token.sha256"].strip() == pagetoken.digest(token)
    assert token not in json.dumps(cm)
    again = kpage.with_digest(ko.config_map("alice", "{}", S), layout, "alice", S)
    assert again == cm  # applied again: the same token (a pod keeps working), no new one
    other = kpage.with_digest(ko.config_map("bob", "{}", S), layout, "bob", S)
    assert other["data"]["page-token.sha256"] != cm["data"]["page-token.sha256"]
    pod = kpage.page_pod(layout, "alice", S, "/k")
    assert pod is not None and pod.token == token
    assert pod.path == "/api/v1/namespaces/swarm/pods/hive-alice-0:7700/proxy"
    assert token not in repr(pod) and token not in str(pod)
    kpage.forget_token(layout, "alice")
    assert kpage.page_pod(layout, "alice", S, "/k") is None  # destroyed: no page to reach
    assert kpage.page_pod(layout, "bob", ko.KubeSettings(), None) is None  # no broker: the socket


def test_a_state_dir_it_cannot_write_is_one_line_naming_the_file(tmp_path: Path) -> None:
    from hive_kit.errors import PermanentError

    (tmp_path / "secrets").write_text("a file where the directory should be")
    with pytest.raises(
        PermanentError, match=r"agent alice: cannot keep its page token in .*page-tokens/alice"
    ):
        kpage.ensure_token(StateLayout(tmp_path), "alice")


# ---- against the API server ----------------------------------------------------------------------


@pytest.fixture
async def swarm(tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str) -> AsyncIterator[Swarm]:
    s = Swarm(tmp_path / "hive", k8s_api, k8s_namespace)
    s.runtime.settings = dataclasses.replace(s.runtime.settings, broker_url="tls://10.0.0.1:7443")
    await s.admin("create_namespace", {"metadata": {"name": k8s_namespace}})
    for name in ("alice", "bob"):
        s.commit(lambda st, name=name: add_agent(st, {"name": name, "model": "claude-sonnet-4-5"}))
    try:
        yield s
    finally:
        await s.runtime.aclose()


async def everything_in(swarm: Swarm) -> str:
    """Every ConfigMap, Secret, StatefulSet, ServiceAccount and event in the namespace, as text."""
    out = []
    for method in (
        "list_namespaced_config_map",
        "list_namespaced_secret",
        "list_namespaced_stateful_set",
        "list_namespaced_service_account",
        "list_namespaced_event",
    ):
        found = await swarm.admin(method, swarm.namespace)
        out.append(json.dumps(found.to_dict(), default=str))
    return "\n".join(out)


async def test_the_server_holds_digests_only_each_mounted_only_in_its_own_pod(swarm: Swarm) -> None:
    for name in ("alice", "bob"):
        await swarm.runtime.create(swarm.spec(name), quiet)
    tokens = {n: kpage.read_token(swarm.layout, n) for n in ("alice", "bob")}
    assert all(tokens.values())
    stored = await everything_in(swarm)
    for name, token in tokens.items():
        assert token is not None and token not in stored, f"{name}'s page token is on the API server"
        build = "".join(p.read_text() for p in swarm.layout.agent_build(name).rglob("*") if p.is_file())
        assert token not in build  # agent.json and whatever else the pass rendered
        cm = await swarm.read("read_namespaced_config_map", f"hive-{name}")
        assert cm is not None and cm["data"]["page-token.sha256"].strip() == pagetoken.digest(token)
    for name, other in (("alice", "bob"), ("bob", "alice")):
        sts = await swarm.read("read_namespaced_stateful_set", f"hive-{name}")
        assert sts is not None
        maps = {
            v["configMap"]["name"] for v in sts["spec"]["template"]["spec"]["volumes"] if "configMap" in v
        }
        assert f"hive-{name}" in maps and not any(other in m for m in maps)
        ports = harness(sts)["ports"]
        assert [(p["name"], p["containerPort"]) for p in ports] == [("page", 7700)]
    # an update (a roll) keeps the token; a destroy forgets it with the ConfigMap
    await swarm.runtime.update(swarm.spec("alice"), quiet)
    assert kpage.read_token(swarm.layout, "alice") == tokens["alice"]
    await swarm.runtime.destroy("alice", quiet)
    assert kpage.read_token(swarm.layout, "alice") is None
    assert await swarm.read("read_namespaced_config_map", "hive-alice") is None
    assert swarm.runtime.page_pod("alice") is None
    bob = swarm.runtime.page_pod("bob")
    assert bob is not None and bob.token == tokens["bob"] and bob.pod == "hive-bob-0"


def test_a_pod_page_that_does_not_answer_is_the_502_naming_the_pod(
    k8s_api: dict[str, str], k8s_namespace: str, request: pytest.FixtureRequest
) -> None:
    """The dashboard (in process, real aiohttp app) with a pod page on the real API server, whose
    pod does not exist: the API server's own answer (a Status) is the usual 502, naming the pod,
    for a read, a write and the stream alike; the session and CSRF checks come first, as always."""
    from tests.web.conftest import http, serve

    layout: StateLayout = request.getfixturevalue("web_layout")  # tests/web's, imported above
    loop = request.getfixturevalue("server_loop")
    pod = kpage.PagePod("ghost", k8s_namespace, "not-a-real-token", k8s_api["KUBECONFIG"])
    served = serve(layout, loop, agent_page=lambda name: pod if name == "ghost" else None)
    try:
        where = f"the page of agent ghost (pod hive-ghost-0 in namespace {k8s_namespace}) does not answer"
        base = f"{served.url}/agents/ghost"
        for method, path, body, headers in (
            ("GET", "api/state", None, served.login().reads()),
            ("GET", "events/stream", None, served.login().reads()),
            ("POST", "api/model", {"model": "x"}, served.login().writes(served.url)),
        ):
            got = http(method, f"{base}/{path}", body, headers)
            assert got.status == 502, (path, got.body)
            text = got.body["error"] if isinstance(got.body, dict) else str(got.body)
            assert text.startswith(where) and "the API server answered 404" in text, text
        assert http("GET", f"{base}/api/state").status in (401, 303)  # no session: not even asked
        refused = http("POST", f"{base}/api/model", {"model": "x"}, served.login().reads())
        assert refused.status == 403  # no Origin/CSRF
    finally:
        served.close()
