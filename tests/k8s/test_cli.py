"""`hive reconcile --runtime kubernetes` as an operator runs it: a real `hive` process, a real apiserver.

API only (no controllers, so no pod ever starts): a pass applies the objects and
then fails its health gate, which is what a cluster that cannot run the pods
looks like; the plans before and after are what this checks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from reconciler.runtime.kubernetes import open_client


def create_namespace(kubeconfig: str, name: str) -> None:
    async def go() -> None:
        c = await open_client(kubeconfig)
        try:
            await c.core.create_namespace({"metadata": {"name": name}})
        finally:
            await c.api.close()

    asyncio.run(go())


def read_statefulsets(kubeconfig: str, namespace: str) -> dict[str, dict[str, object]]:
    async def go() -> dict[str, dict[str, object]]:
        c = await open_client(kubeconfig)
        try:
            resp = await c.apps.list_namespaced_stateful_set(namespace, _preload_content=False)
            body = json.loads(await resp.read())
        finally:
            await c.api.close()
        return {item["metadata"]["name"]: item for item in body["items"]}

    return asyncio.run(go())


def test_dry_run_prints_the_local_plan_format_and_sees_what_a_pass_applied(
    hive, state_dir: Path, k8s_api: dict[str, str], k8s_namespace: str
) -> None:
    kube = {"KUBECONFIG": k8s_api["KUBECONFIG"], "HIVE_KUBE_NAMESPACE": k8s_namespace}
    create_namespace(k8s_api["KUBECONFIG"], k8s_namespace)
    assert hive("init").returncode == 0
    for name in ("alpha", "beta", "gamma"):
        assert hive("agent", "add", name).returncode == 0

    local = hive("reconcile", "--dry-run")
    remote = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=kube)
    assert remote.returncode == local.returncode == 2, remote.stderr
    assert remote.stdout == local.stdout
    assert (
        remote.stdout.strip().splitlines()[-1] == "Plan: 4 to create, 0 to change, 0 to destroy."
    )  # + manager

    hive("reconcile", "--runtime", "kubernetes", "--health-timeout", "1", env=kube, timeout=180)
    assert sorted(read_statefulsets(k8s_api["KUBECONFIG"], k8s_namespace)) == [
        "hive-alpha",
        "hive-beta",
        "hive-gamma",
        "hive-manager",
    ]
    clean = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=kube)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    assert hive("agent", "set", "beta", "model", "haiku").returncode == 0
    changed = hive("reconcile", "--dry-run", "--runtime", "kubernetes", env=kube)
    assert changed.returncode == 2
    lines = changed.stdout.strip().splitlines()
    assert lines[-1] == "Plan: 0 to create, 1 to change, 0 to destroy."
    assert any(line.lstrip().startswith("~ beta") for line in lines), changed.stdout


def test_a_bad_setting_is_one_line_naming_it(hive, k8s_api: dict[str, str]) -> None:
    assert hive("init").returncode == 0
    done = hive(
        "reconcile", "--dry-run", "--runtime", "kubernetes",
        env={"KUBECONFIG": "/nonexistent/kubeconfig", "HIVE_KUBE_NAMESPACE": "x"},
    )  # fmt: skip
    assert done.returncode != 0
    assert "/nonexistent/kubeconfig does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
