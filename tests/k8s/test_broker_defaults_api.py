"""`hive serve --broker-listen` alone tells pods where the broker is and which CA to trust, and a
`hive reconcile` in another shell renders the same: against the real apiserver (API only, ``k8s_api``).

A real `hive serve --runtime kubernetes --broker-listen 127.0.0.1:PORT` with no
``HIVE_KUBE_BROKER_*`` set applies the agents; their StatefulSets carry the broker's URL and
their ConfigMaps the daemon's own CA. A `hive reconcile --dry-run --runtime kubernetes` from
another process, again with no broker variables, plans nothing, while one that would render
another URL plans an update naming it: so the no-change is the shared defaults, not a plan
that cannot see settings. No controllers run (no pods start); that is not what this checks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

from hive_kit.paths import StateLayout
from reconciler.runtime.kubernetes import open_client
from tests.k8s.test_cli import create_namespace, read_statefulsets
from tests.web.conftest import hive_serve_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_config_map(kubeconfig: str, namespace: str, name: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        c = await open_client(kubeconfig)
        try:
            resp: Any = await c.core.read_namespaced_config_map(name, namespace, _preload_content=False)
            body: dict[str, Any] = json.loads(await resp.read())
            return body
        finally:
            await c.api.close()

    return asyncio.run(go())


def test_reconcile_after_serve_with_the_broker_plans_no_change(
    hive: Any, state_dir: Path, k8s_api: dict[str, str], k8s_namespace: str
) -> None:
    kubeconfig = k8s_api["KUBECONFIG"]
    kube = {"KUBECONFIG": kubeconfig, "HIVE_KUBE_NAMESPACE": k8s_namespace}
    unset = {"HIVE_KUBE_BROKER_URL": "", "HIVE_KUBE_BROKER_CA": ""}
    create_namespace(kubeconfig, k8s_namespace)
    assert hive("init").returncode == 0
    assert hive("agent", "add", "alpha").returncode == 0
    port = free_port()
    listen = ("--broker-listen", f"127.0.0.1:{port}")
    args = ("--runtime", "kubernetes", "--no-web", *listen)
    with hive_serve_process(StateLayout(state_dir), *args, **kube, **unset) as (proc, log):
        deadline = time.monotonic() + 120  # a bound on waiting, not a duration asserted
        while sorted(read_statefulsets(kubeconfig, k8s_namespace)) != ["hive-alpha", "hive-manager"]:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        sts = read_statefulsets(kubeconfig, k8s_namespace)["hive-alpha"]
        (box,) = sts["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
        env = {e["name"]: e.get("value") for e in box["env"]}
        assert env["HIVE_BROKER_URL"] == f"tls://127.0.0.1:{port}"  # the listen host, with no --broker-san
        ca = (state_dir / "broker-tls" / "ca.crt").read_text()
        assert read_config_map(kubeconfig, k8s_namespace, "hive-alpha")["data"]["broker-ca.crt"] == ca

        while True:  # the daemon records what it applied after the pass's health gate gives up
            clean = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=kube | unset)
            if clean.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert clean.returncode == 0, clean.stdout + clean.stderr + log.read_text()
        assert "No changes" in clean.stdout

        elsewhere = kube | unset | {"HIVE_KUBE_BROKER_URL": "tls://elsewhere.example:7443"}
        moved = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=elsewhere)
        assert moved.returncode == 2, moved.stdout + moved.stderr
        assert "kubernetes settings changed (broker_url)" in moved.stdout
        assert moved.stdout.strip().splitlines()[-1] == "Plan: 0 to create, 2 to change, 0 to destroy."
