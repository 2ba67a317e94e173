"""Empty -> three agents and the manager Running as pods with the real harness, each saying hello over TLS.

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``): a real `hive serve --runtime kubernetes
--broker-listen` process listens on the pod network's gateway address (the node's bridge), and
the kubernetes runtime gives each pod a projected ServiceAccount token, the CA and
``HIVE_BROKER_URL`` instead of a hostPath socket (``tests/k8s/pods.py``). What stands in: nothing
on the broker's path; the image is the busybox test image with the host's Python read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.k8s import admin
from tests.k8s.pods import namespace_with_key, served, wait_ready

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow]

AGENTS = {"alpha", "beta", "gamma", "manager"}


async def test_three_agents_in_pods_say_hello_over_tls(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> None:
    await namespace_with_key(k8s_node, k8s_namespace)
    assert hive("init").returncode == 0
    for name in ("alpha", "beta", "gamma"):
        assert hive("agent", "add", name).returncode == 0
    with served(state_dir, k8s_node, k8s_namespace) as daemon:
        rows = await wait_ready(hive, daemon, AGENTS)  # `hive status`: all four Ready (Deployed)
        assert all(rows[name]["runtime_state"] == "running" for name in AGENTS), rows
        text = daemon.text()
        pod_log = await admin.call(
            k8s_node["KUBECONFIG"], "read_namespaced_pod_log", "hive-alpha-0", k8s_namespace, tail_lines=30
        )
        for name in AGENTS:  # each said its hello over TLS, as itself
            assert f"is agent {name} (pod hive-{name}-0)" in text, f"{rows}\n{text[-3000:]}\n{pod_log}"
        sts = await admin.read(
            k8s_node["KUBECONFIG"], "read_namespaced_stateful_set", "hive-alpha", k8s_namespace
        )
        assert sts is not None
        volumes = sts["spec"]["template"]["spec"]["volumes"]
        assert not any("hostPath" in v and v["name"] == "socket" for v in volumes)  # TLS, not the socket
