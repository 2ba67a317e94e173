"""What the node-tier tests share: the real harness in pods, and a real `hive serve` they reach over TLS.

The harness is this checkout's, run by the host's Python mounted read-only into the busybox test
image (nothing is pulled; scripts/k8s/README.md), with this checkout's ``node_modules`` (the real
``claude``, which the harness finds there as it does locally) under the same mount. The daemon is a
real `hive serve --runtime kubernetes --broker-listen` process listening on the pod network's
gateway address (the node's bridge), the only address besides loopback a test server binds here,
and the runtime gives each pod a projected ServiceAccount token, the broker's CA and
``HIVE_BROKER_URL``. Pods run as root (``HIVE_KUBE_RUN_AS=0``): the test cluster's hostPath
provisioner makes root-owned volumes and ignores ``fsGroup``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hive_core.broker_certs import ensure_certs
from tests.conftest import subprocess_env
from tests.k8s import admin

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/hive-busybox:1"


def host_python_mounts() -> list[tuple[str, str]]:
    """(node dir, pod dir) pairs that make this interpreter run in the busybox image, read-only."""
    mounts = [("/usr", "/usr"), ("/usr/lib", "/lib")]
    if Path("/usr/lib64").is_dir():
        mounts.append(("/usr/lib64", "/lib64"))
    if not sys.base_prefix.startswith("/usr"):
        mounts.append((sys.base_prefix, sys.base_prefix))
    return mounts


def gateway(cluster: dict[str, str]) -> str:
    """The pod network's gateway: the node's bridge, the host as its pods see it."""
    return str(ipaddress.ip_network(cluster["HIVE_K8S_POD_CIDR"])[1])


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def namespace_with_key(cluster: dict[str, str], namespace: str) -> None:
    """The namespace and the API key Secret the operator makes first (docs/kubernetes.md)."""
    await admin.call(cluster["KUBECONFIG"], "create_namespace", {"metadata": {"name": namespace}})
    secret = {
        "metadata": {"name": "hyperhive-api-key"},
        "stringData": {"ANTHROPIC_API_KEY": "sk-test-not-real"},
    }
    await admin.call(cluster["KUBECONFIG"], "create_namespaced_secret", namespace, secret)


def harness_env(cluster: dict[str, str], namespace: str) -> dict[str, str]:
    """`hive` settings that run the real harness (and its claude) in each pod."""
    mounts = [f"{node}:{inside}" for node, inside in host_python_mounts()] + [str(REPO_ROOT)]
    return {
        "KUBECONFIG": cluster["KUBECONFIG"],
        "HIVE_KUBE_NAMESPACE": namespace,
        "HIVE_KUBE_IMAGE": IMAGE,
        "HIVE_KUBE_IMAGE_PULL_POLICY": "Never",
        "HIVE_KUBE_COMMAND": f"{sys.executable} -m hive_harness serve --role {{role}}",
        "HIVE_KUBE_HOST_MOUNTS": ",".join(mounts),
        "HIVE_KUBE_RUN_AS": "0",
    }


class Served:
    """A real `hive serve --runtime kubernetes --broker-listen GATEWAY:PORT` process."""

    def __init__(
        self, state_dir: Path, cluster: dict[str, str], namespace: str, *, web: bool = False, **extra: str
    ) -> None:
        host = gateway(cluster)
        port = free_port(host)
        # what the first `hive serve --broker-listen` makes; made first so the runtime can hand pods the CA
        cert = ensure_certs(state_dir / "broker-tls", (host,))
        if cert.ca is None:
            raise AssertionError("ensure_certs made no CA")
        self.env = harness_env(cluster, namespace) | extra
        self.env |= {"HIVE_KUBE_BROKER_URL": f"tls://{host}:{port}", "HIVE_KUBE_BROKER_CA": str(cert.ca)}
        argv = [sys.executable, "-m", "hive", "serve", "--runtime", "kubernetes"]
        argv += [] if web else ["--no-web"]  # web: the dashboard on a free port (HIVE_WEB_PORT=0)
        argv += ["--state-dir", str(state_dir), "--broker-listen", f"{host}:{port}", "--broker-san", host]
        self.log = state_dir.parent / "serve.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                env=subprocess_env(
                    **self.env, PYTHONUNBUFFERED="1", **({"HIVE_WEB_PORT": "0"} if web else {})
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def served(
    state_dir: Path, cluster: dict[str, str], namespace: str, *, web: bool = False, **extra: str
) -> Iterator[Served]:
    daemon = Served(state_dir, cluster, namespace, web=web, **extra)
    try:
        yield daemon
    finally:
        daemon.stop()


def ready_rows(hive: Any, env: dict[str, str]) -> dict[str, Any]:
    status = hive("status", "--runtime", "kubernetes", "--json", env=env)
    if status.returncode != 0:
        return {}
    return {row["name"]: row for row in json.loads(status.stdout)["agents"]}


def is_ready(row: dict[str, Any]) -> bool:
    ready: dict[str, Any] = next((c for c in row.get("conditions", []) if c["type"] == "Ready"), {})
    return ready.get("status") is True and ready.get("reason") == "Deployed"


async def wait_ready(hive: Any, daemon: Served, names: set[str], timeout: float = 240) -> dict[str, Any]:
    """`hive status` rows once every one of ``names`` is Ready (or the deadline): checked by the caller."""
    rows: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and daemon.proc.poll() is None:
        rows = await asyncio.to_thread(ready_rows, hive, daemon.env)
        if names <= rows.keys() and all(is_ready(rows[n]) for n in names):
            break
        await asyncio.sleep(3)
    assert daemon.proc.poll() is None, f"hive serve exited:\n{daemon.text()[-4000:]}"
    for name in sorted(names):
        assert name in rows and is_ready(rows[name]), f"{name}: {rows.get(name)}\n{daemon.text()[-4000:]}"
    return rows


async def eventually(daemon: Served, what: str, check: Any, timeout: float = 180) -> Any:
    """Poll ``check`` (a function, or one returning a coroutine) until truthy; fail with the daemon's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert daemon.proc.poll() is None, f"hive serve exited:\n{daemon.text()[-4000:]}"
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{daemon.text()[-4000:]}")
