"""A real Kubernetes 1.20 for the kubernetes runtime's tests: built from Debian's source, up once.

`scripts/k8s/` builds kube-apiserver (and, for a node, the controller-manager,
scheduler and kubelet) from Debian's own `kubernetes` source package and starts
them on 127.0.0.1. `.ci/run` builds first (9–11 minutes cold, then cached in
/var/cache/hyperhive-k8s); these fixtures never build, so the default
`scripts/test.sh` stays fast: without a build they skip, saying how to make one.

- ``k8s_api``: etcd + kube-apiserver only (no controllers: a StatefulSet makes no
  pods). Session-scoped; each test gets its own namespace (``k8s_namespace``).
- ``k8s_node``: a whole single node (containerd, kubelet, controllers) for tests
  marked ``k8s_node``. They run only when ``HIVE_K8S_NODE_TESTS=1`` (``.ci/run``
  sets it): a node needs root and changes host sysctls while it runs.

Both are stopped by the pids up.sh recorded (`down.sh`), whatever happened.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts" / "k8s"
BIN = Path(os.environ.get("HIVE_K8S_BIN", "/var/cache/hyperhive-k8s/bin"))
NODE_TESTS = os.environ.get("HIVE_K8S_NODE_TESTS") == "1"


def cluster_problem(*, node: bool) -> str | None:
    """Why this machine cannot run the cluster (a skip reason), or None."""
    if not sys.platform.startswith("linux"):
        return "Kubernetes tests need Linux"
    if shutil.which("dpkg") is None or shutil.which("apt-get") is None:
        return "Kubernetes tests need Debian (scripts/k8s builds from Debian's kubernetes source package)"
    if node and os.geteuid() != 0:
        return "k8s_node tests need root (containerd and the kubelet)"
    if not (BIN / "BUILD-INFO").is_file():
        return (
            f"no Kubernetes build in {BIN}: run `bash scripts/k8s/build.sh {BIN}` as root "
            "(9-11 min the first time; .ci/run does) or set HIVE_K8S_BIN"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if NODE_TESTS:
        if any("k8s_node" in item.keywords for item in items) and cluster_problem(node=True) is None:
            _take_the_node()  # before any test's timeout runs: the wait may be long
        return
    skip = pytest.mark.skip(reason="k8s_node tests run with HIVE_K8S_NODE_TESTS=1 (.ci/run sets it)")
    for item in items:
        if "k8s_node" in item.keywords:
            item.add_marker(skip)


def _up(run: Path, node: bool, env: dict[str, str] | None = None) -> dict[str, str]:
    argv = ["bash", str(SCRIPTS / "up.sh"), str(run), str(BIN)] + (["--node"] if node else [])
    done = subprocess.run(
        argv,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/k8s/up.sh failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    lines = (run / "cluster.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _down(run: Path) -> None:
    subprocess.run(
        ["bash", str(SCRIPTS / "down.sh"), str(run)],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _cluster(tmp_path_factory: pytest.TempPathFactory, *, node: bool) -> Iterator[dict[str, str]]:
    why = cluster_problem(node=node)
    if why is not None:
        pytest.skip(why)
    run = tmp_path_factory.mktemp("k8s")  # short: containerd's sockets live in it
    try:
        yield _up(run, node)
    finally:
        _down(run)


@pytest.fixture(scope="session")
def k8s_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An API-only cluster for the session: RUN_DIR/cluster.env as a dict (KUBECONFIG, ...)."""
    yield from _cluster(tmp_path_factory, node=False)


NODE_LOCK = Path(os.environ.get("HIVE_K8S_NODE_LOCK", "/run/lock/hyperhive-k8s-node.lock"))
NODE_LOCK_WAIT = 45 * 60


_held: list[int] = []  # the node lock's fd, once this session has it


def _take_the_node() -> None:
    """Wait (saying so) for the machine's one node, and hold it until this session ends: a second
    node's kubelet and CNI would fight the first over the host's bridge, iptables and containerd.
    Taken at collection, not in the fixture, so no test's timeout counts the wait."""
    if _held:
        return
    NODE_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(NODE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + NODE_LOCK_WAIT
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _held.append(fd)  # released when this process exits, after the node's teardown
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                minutes = NODE_LOCK_WAIT // 60
                pytest.exit(f"another test session held the k8s node ({NODE_LOCK}) for {minutes} min", 1)
            if not said:
                print(f"\nwaiting for the k8s node: another test session holds {NODE_LOCK}", file=sys.stderr)
                said = True
            time.sleep(2)


@pytest.fixture(scope="session")
def k8s_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A single-node cluster that runs pods (root; one per machine: sessions take turns, see
    ``_take_the_node``)."""
    yield from _cluster(tmp_path_factory, node=True)


def kubectl_env(cluster: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": cluster["KUBECONFIG"]}


class Restartable:
    """An API-only cluster of one test's own, whose apiserver (and etcd) can be restarted: a new
    apiserver's watch cache starts at the current version, so older ones get 410 Gone."""

    def __init__(self, run: Path) -> None:
        with socket.socket() as s:  # the same port after a restart: clients keep their URL
            s.bind(("127.0.0.1", 0))
            self.port = str(s.getsockname()[1])
        self.run = run
        self.env = _up(run, node=False, env={"HIVE_K8S_API_PORT": self.port})

    def restart(self) -> None:
        _down(self.run)
        _up(self.run, node=False, env={"HIVE_K8S_API_PORT": self.port})


@pytest.fixture
def k8s_restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    why = cluster_problem(node=False)
    if why is not None:
        pytest.skip(why)
    cluster = Restartable(tmp_path_factory.mktemp("k8r"))
    try:
        yield cluster
    finally:
        _down(cluster.run)


@pytest.fixture
def k8s_namespace() -> str:
    """A fresh namespace name for one test; the test's driver creates it (``ensure_namespace``)."""
    return f"t-{uuid.uuid4().hex[:10]}"
