"""Broker round trip over TLS (a pod's way in) against the unix socket (an agent on this host).

Prints, for one real `hive serve --broker-listen` process:
  * `whoami` round trip, p50 / p99, one request at a time: unix socket vs TLS, and the ratio
  * `send` round trip (a durable write), the same
  * a new connection's cost: unix connect + `whoami` vs TLS handshake + token hello + `whoami`
    (the token review is cached 10 s, so this is the handshake and the hello, not the API server)

Needs the Kubernetes build of scripts/k8s (an API-only cluster is started and stopped here): the
broker reviews a real projected-style token (TokenRequest bound to a Pod object).

Run: PYTHONPATH=$PWD python bench/tls_broker_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hive_kit.broker import BrokerEndpoint  # noqa: E402
from hive_kit.client import HiveClient  # noqa: E402
from hive_kit.wire import Send, Whoami  # noqa: E402
from reconciler.runtime.kubernetes import open_client  # noqa: E402
from tests.core.conftest import make_swarm  # noqa: E402

BIN = os.environ.get("HIVE_K8S_BIN", "/var/cache/hyperhive-k8s/bin")
NS = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def mint_token(kubeconfig: str) -> str:
    """hive-peer's account, its pod object, and a pod-bound token for audience hyperhive-broker."""
    c = await open_client(kubeconfig)
    try:
        await c.core.create_namespace({"metadata": {"name": NS}})
        await c.core.create_namespaced_service_account(NS, {"metadata": {"name": "hive-peer"}})
        labels = {"app.kubernetes.io/managed-by": "hyperhive", "hyperhive.dev/agent": "peer"}
        pod = await c.core.create_namespaced_pod(
            NS,
            {
                "metadata": {"name": "hive-peer-0", "labels": labels},
                "spec": {
                    "serviceAccountName": "hive-peer",
                    "automountServiceAccountToken": False,
                    "containers": [{"name": "harness", "image": "localhost/nothing:1"}],
                },
            },
        )
        ref = {"kind": "Pod", "apiVersion": "v1", "name": "hive-peer-0", "uid": pod.metadata.uid}
        spec = {"audiences": ["hyperhive-broker"], "expirationSeconds": 3600, "boundObjectRef": ref}
        made = await c.core.create_namespaced_service_account_token("hive-peer", NS, {"spec": spec})
        return str(made.status.token)
    finally:
        await c.api.close()


def start_daemon(state: Path, port: int, kubeconfig: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        HIVE_LOG_LEVEL="WARNING",
        KUBECONFIG=kubeconfig,
        HIVE_KUBE_NAMESPACE=NS,
    )
    argv = [sys.executable, "-m", "hive", "serve", "--no-web", "--no-reconcile", "--state-dir", str(state)]
    argv += ["--broker-listen", f"127.0.0.1:{port}", "--broker-san", "127.0.0.1"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("hive serve --broker-listen did not come up in 60 s")


async def timed(n: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await once()
        out.append(time.perf_counter() - t0)
    return out


def line(what: str, unix: list[float], tls: list[float]) -> None:
    def q(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100)[int(p) - 1] * 1e3

    u50, t50 = statistics.median(unix) * 1e3, statistics.median(tls) * 1e3
    print(
        f"{what:<34} unix p50 {u50:7.3f} ms p99 {q(unix, 99):7.3f} ms | "
        f"tls p50 {t50:7.3f} ms p99 {q(tls, 99):7.3f} ms | tls/unix {t50 / u50:5.2f}x"
    )


async def measure(state: Path, port: int, token_file: Path, rounds: int) -> None:
    ca = state / "broker-tls" / "ca.crt"
    endpoint = BrokerEndpoint("127.0.0.1", port, ca, token_file)
    unix_path = state / "run" / "agents" / "peer" / "hive.sock"
    async with HiveClient(unix_path) as unix, HiveClient(broker=endpoint) as tls:
        for c in (unix, tls):  # connect and warm up
            for _ in range(50):
                await c.request(Whoami())
        line("whoami round trip", await timed(rounds, lambda: unix.request(Whoami())),
             await timed(rounds, lambda: tls.request(Whoami())))  # fmt: skip
        send = Send(to="tester", body="bench")
        line("send round trip (durable)", await timed(rounds, lambda: unix.request(send)),
             await timed(rounds, lambda: tls.request(send)))  # fmt: skip

    async def fresh_unix() -> None:
        async with HiveClient(unix_path) as c:
            await c.request(Whoami())

    async def fresh_tls() -> None:
        async with HiveClient(broker=endpoint) as c:
            await c.request(Whoami())

    n = max(20, rounds // 20)
    line("new connection + whoami", await timed(n, fresh_unix), await timed(n, fresh_tls))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    if not Path(BIN, "BUILD-INFO").is_file():
        raise SystemExit(f"no Kubernetes build in {BIN}: bash scripts/k8s/build.sh {BIN} (as root)")
    with tempfile.TemporaryDirectory(prefix="tlsbench") as tmp:
        run, state = Path(tmp) / "k8s", Path(tmp) / "hive"
        run.mkdir()
        up = subprocess.run(
            ["bash", str(ROOT / "scripts/k8s/up.sh"), str(run), BIN],
            capture_output=True,
            text=True,
            check=False,
        )
        if up.returncode != 0:
            raise SystemExit(f"scripts/k8s/up.sh failed:\n{up.stderr[-2000:]}")
        daemon = None
        try:
            kubeconfig = dict(x.split("=", 1) for x in (run / "cluster.env").read_text().split() if "=" in x)[
                "KUBECONFIG"
            ]
            token_file = Path(tmp) / "token"
            token_file.write_text(asyncio.run(mint_token(kubeconfig)))
            make_swarm(state)
            port = free_port()
            daemon = start_daemon(state, port, kubeconfig)
            print(f"broker round trip, {args.rounds} sequential requests each, one agent")
            asyncio.run(measure(state, port, token_file, args.rounds))
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(20)
            subprocess.run(
                ["bash", str(ROOT / "scripts/k8s/down.sh"), str(run)], capture_output=True, check=False
            )


if __name__ == "__main__":
    main()
