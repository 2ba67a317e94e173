"""The real harness in pods says hello over the TLS broker with its projected token (node tier).

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``): a real `hive serve --runtime kubernetes
--broker-listen` process listens on the pod network's gateway address (the node's bridge), and
the kubernetes runtime gives each pod a projected ServiceAccount token, the CA and
``HIVE_BROKER_URL`` instead of the hostPath socket. The harness is this checkout's, run by the
host's Python mounted read-only into the busybox test image (nothing is pulled), as in
``test_pods.py``. What stands in: nothing on the broker's path; the image is the test image.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hive_core.broker_certs import ensure_certs
from tests.conftest import subprocess_env
from tests.k8s import admin
from tests.k8s.test_pods import harness_env

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow]


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ready_rows(hive: Any, env: dict[str, str]) -> dict[str, Any]:
    status = hive("status", "--runtime", "kubernetes", "--json", env=env)
    if status.returncode != 0:
        return {}
    return {row["name"]: row for row in json.loads(status.stdout)["agents"]}


def is_ready(row: dict[str, Any]) -> bool:
    ready = next((c for c in row.get("conditions", []) if c["type"] == "Ready"), {})
    return ready.get("status") is True and ready.get("reason") == "Deployed"


async def test_three_agents_in_pods_say_hello_over_tls(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> None:
    gateway = str(ipaddress.ip_network(k8s_node["HIVE_K8S_POD_CIDR"])[1])  # the bridge's address
    port = free_port(gateway)
    await admin.call(k8s_node["KUBECONFIG"], "create_namespace", {"metadata": {"name": k8s_namespace}})
    secret = {
        "metadata": {"name": "hyperhive-api-key"},
        "stringData": {"ANTHROPIC_API_KEY": "sk-test-not-real"},
    }
    await admin.call(k8s_node["KUBECONFIG"], "create_namespaced_secret", k8s_namespace, secret)
    assert hive("init").returncode == 0
    for name in ("alpha", "beta", "gamma"):
        assert hive("agent", "add", name).returncode == 0
    # what the first `hive serve --broker-listen` makes; made first so the runtime can hand pods the CA
    cert = ensure_certs(state_dir / "broker-tls", (gateway,))
    assert cert.ca is not None
    env = {k: v for k, v in harness_env(k8s_node, k8s_namespace).items() if k != "HIVE_KUBE_HOST_SOCKET"}
    env |= {"HIVE_KUBE_BROKER_URL": f"tls://{gateway}:{port}", "HIVE_KUBE_BROKER_CA": str(cert.ca)}
    argv = [sys.executable, "-m", "hive", "serve", "--runtime", "kubernetes", "--no-web"]
    argv += ["--state-dir", str(state_dir), "--broker-listen", f"{gateway}:{port}", "--broker-san", gateway]
    log = state_dir.parent / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            argv, env=subprocess_env(**env, PYTHONUNBUFFERED="1"), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        rows: dict[str, Any] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and serve.poll() is None:
            rows = await asyncio.to_thread(ready_rows, hive, env)
            if {"alpha", "beta", "gamma", "manager"} <= rows.keys() and all(map(is_ready, rows.values())):
                break
            await asyncio.sleep(3)
        text = log.read_text(errors="replace")
        assert serve.poll() is None, f"hive serve exited:\n{text[-4000:]}"
        for name in ("alpha", "beta", "gamma", "manager"):
            assert name in rows and is_ready(rows[name]), f"{name}: {rows.get(name)}\n{text[-4000:]}"
        pod_log = await admin.call(
            k8s_node["KUBECONFIG"], "read_namespaced_pod_log", "hive-alpha-0", k8s_namespace, tail_lines=30
        )
        for name in ("alpha", "beta", "gamma", "manager"):  # each said its hello over TLS, as itself
            assert f"is agent {name} (pod hive-{name}-0)" in text, f"{rows}\n{text[-3000:]}\n{pod_log}"
        sts = await admin.read(
            k8s_node["KUBECONFIG"], "read_namespaced_stateful_set", "hive-alpha", k8s_namespace
        )
        assert sts is not None
        volumes = sts["spec"]["template"]["spec"]["volumes"]
        assert not any("hostPath" in v and v["name"] == "socket" for v in volumes)  # TLS, not the socket
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(serve.pid, signal.SIGKILL)
            serve.wait(10)
