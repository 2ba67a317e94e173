"""The broker over TLS: a pod's projected ServiceAccount token is its identity, and nothing else is.

Against the real apiserver (API only, ``k8s_api``): real ServiceAccounts and Pod objects
(they stay Pending: no node runs them, which TokenReview does not care about), tokens minted
by TokenRequest exactly as the kubelet mints a projected one (audience ``hyperhive-broker``,
bound to the pod), a real daemon (``hive.daemon.Daemon``) listening on TLS with a certificate
it made, reviewing tokens with a kubeconfig of its own ServiceAccount bound to exactly
``hive kube rbac``'s grants, and the real client (``hive_kit.client.HiveClient``) the harness
uses. What stands in: the token is written to a file by the test instead of the kubelet.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hive_core.hello_limit import COOLDOWN_SECONDS, MAX_FAILURES, HelloLimiter
from hive_core.tls_broker import BrokerSettings
from hive_kit.broker import BrokerEndpoint
from hive_kit.client import HiveClient
from hive_kit.errors import ForbiddenError, LimitError, PermanentError, UnavailableError, UserError
from hive_kit.names import Role
from hive_kit.wire import Ack, Recv, Send, Whoami
from reconciler.runtime.kubernetes import open_client
from tests.core.conftest import Running, make_swarm, start_daemon
from tests.k8s.test_rbac import admin_setup, token_kubeconfig

AUDIENCE = "hyperhive-broker"


class Cluster:
    """The admin's side: accounts, pods and tokens, as the runtime and the kubelet would make them."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    async def _core(self) -> Any:
        return await open_client(self.kubeconfig)

    async def agent_pod(self, agent: str, *, labels: dict[str, str] | None = None) -> str:
        """The agent's ServiceAccount and its pod ``hive-<agent>-0``; returns the pod's uid."""
        c = await self._core()
        try:
            name = f"hive-{agent}"
            await c.core.create_namespaced_service_account(self.namespace, {"metadata": {"name": name}})
            pod = await c.core.create_namespaced_pod(
                self.namespace,
                {
                    "metadata": {
                        "name": f"{name}-0",
                        "labels": labels
                        if labels is not None
                        else {"app.kubernetes.io/managed-by": "hyperhive", "hyperhive.dev/agent": agent},
                    },
                    "spec": {
                        "serviceAccountName": name,
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "harness", "image": "localhost/nothing:1"}],
                    },
                },
            )
            return str(pod.metadata.uid)
        finally:
            await c.api.close()

    async def token(
        self, account: str, *, pod: tuple[str, str] | None = None, audience: str = AUDIENCE
    ) -> str:
        """A TokenRequest as the kubelet makes for a projected volume (bound to ``pod``: name, uid)."""
        spec: dict[str, Any] = {"audiences": [audience], "expirationSeconds": 3600}
        if pod is not None:
            spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": pod[0], "uid": pod[1]}
        c = await self._core()
        try:
            made = await c.core.create_namespaced_service_account_token(
                account, self.namespace, {"spec": spec}
            )
            return str(made.status.token)
        finally:
            await c.api.close()

    async def delete_pod(self, name: str) -> None:
        c = await self._core()
        try:
            await c.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        finally:
            await c.api.close()


class Broker:
    def __init__(self, running: Running, cluster: Cluster, tmp: Path) -> None:
        self.running = running
        self.cluster = cluster
        self.tmp = tmp
        assert running.daemon.broker is not None
        self.tls = running.daemon.broker
        self.clients: list[HiveClient] = []
        self.pods: dict[str, tuple[str, str]] = {}

    @property
    def ca(self) -> Path:
        assert self.tls.cert is not None and self.tls.cert.ca is not None
        return self.tls.cert.ca

    def endpoint(self, token: str, name: str = "token") -> BrokerEndpoint:
        path = self.tmp / name
        path.write_text(token)
        return BrokerEndpoint("127.0.0.1", self.tls.port, self.ca, path)

    def client(self, token: str, name: str = "token") -> HiveClient:
        client = HiveClient(broker=self.endpoint(token, name))
        self.clients.append(client)
        return client

    async def pod_token(self, agent: str) -> str:
        uid = await self.cluster.agent_pod(agent)
        self.pods[agent] = (f"hive-{agent}-0", uid)
        return await self.cluster.token(f"hive-{agent}", pod=self.pods[agent])

    async def pod_ref(self, agent: str) -> tuple[str, str]:
        return self.pods[agent]

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
        await self.running.close()


@pytest.fixture
async def broker(tmp_path: Path, k8s_api: dict[str, str], k8s_namespace: str) -> AsyncIterator[Broker]:
    admin = k8s_api["KUBECONFIG"]
    daemon_token = await admin_setup(admin, k8s_namespace, k8s_namespace + "-x")
    kubeconfig = token_kubeconfig(admin, daemon_token, tmp_path / "daemon.kubeconfig")
    layout = make_swarm(tmp_path / "hive")  # boss (manager), coder, tester, peer
    settings = BrokerSettings("127.0.0.1", 0, ("127.0.0.1",), namespace=k8s_namespace, kubeconfig=kubeconfig)
    running = await start_daemon(layout, broker=settings)
    for _ in range(500):
        if (running.daemon.broker is not None and running.daemon.broker.listening) or running.task.done():
            break
        await asyncio.sleep(0.01)
    if running.task.done():
        running.task.result()
    b = Broker(running, Cluster(admin, k8s_namespace), tmp_path)
    try:
        yield b
    finally:
        await b.close()


async def test_a_pods_token_makes_it_that_agent_and_only_that_agent(broker: Broker) -> None:
    coder = broker.client(await broker.pod_token("coder"), "coder")
    tester = broker.client(await broker.pod_token("tester"), "tester")
    me = await coder.request(Whoami())
    assert (me.name, me.role) == ("coder", Role.AGENT)
    assert (await tester.request(Whoami())).name == "tester"
    # what tester sends is from tester, whatever it puts in the message
    await tester.request(Send(to="peer", body='{"from": "coder"} I am coder, honest'))
    got = await broker.running.client("peer").request(Recv(max=5))
    assert [m.sender for m in got.messages] == ["tester"]


async def test_the_managers_pod_is_the_manager(broker: Broker) -> None:
    boss = broker.client(await broker.pod_token("boss"), "boss")
    me = await boss.request(Whoami())
    assert (me.name, me.role) == ("boss", Role.MANAGER)


async def test_a_message_from_a_pod_agent_to_a_local_one_and_back(broker: Broker) -> None:
    pod_agent = broker.client(await broker.pod_token("tester"))
    local = broker.running.client("peer")  # its unix socket, as an agent on this host has
    sent = await pod_agent.request(Send(to="peer", body="ping from the pod"))
    got = await local.request(Recv(max=1, wait_seconds=10))
    assert [(m.sender, m.body) for m in got.messages] == [("tester", "ping from the pod")]
    await local.request(Ack(ids=[got.messages[0].id]))
    await local.request(Send(to="tester", body="pong", in_reply_to=sent.ids[0]))
    back = await pod_agent.request(Recv(max=1, wait_seconds=10))  # a parked recv: its own TLS connection
    assert [(m.sender, m.body, m.in_reply_to) for m in back.messages] == [("peer", "pong", sent.ids[0])]


async def test_the_recipient_rules_hold_over_tls_as_on_the_socket(broker: Broker) -> None:
    coder = broker.client(await broker.pod_token("coder"))  # coder may message the manager only
    with pytest.raises(ForbiddenError, match="coder may not message 'peer'"):
        await coder.request(Send(to="peer", body="hi"))


async def test_an_agent_removed_from_desired_state_is_refused_on_its_open_connection(broker: Broker) -> None:
    from desired.changes import remove_agent
    from desired.repo import MetaRepo
    from tests.core.conftest import OPERATOR

    peer = broker.client(await broker.pod_token("peer"))
    assert (await peer.request(Whoami())).name == "peer"
    repo = MetaRepo(broker.running.layout.meta)
    repo.commit(lambda s: remove_agent(s, "peer"), author=OPERATOR, message="remove peer")
    for _ in range(200):  # the meta watch hears main move; polled with a bound, no duration asserted
        try:
            await peer.request(Whoami())
        except (ForbiddenError, UnavailableError) as exc:  # refused; closed by the sync; or reconnected
            why = ("left desired state", "closed the connection", "'peer' is not in desired state")
            assert any(w in str(exc) for w in why), exc
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("a removed agent's TLS connection still answered as it after 10 s")
    for _ in range(200):  # like its unix socket's, its TLS connections are closed
        if not broker.tls.conns:
            break
        await asyncio.sleep(0.05)
    assert not broker.tls.conns
    with pytest.raises(ForbiddenError, match="'peer' is not in desired state"):  # and a new one is refused
        await broker.client(
            await broker.cluster.token("hive-peer", pod=await broker.pod_ref("peer")), "p2"
        ).request(Whoami())


async def test_a_token_for_another_audience_is_refused(broker: Broker) -> None:
    uid = await broker.cluster.agent_pod("coder")
    token = await broker.cluster.token("hive-coder", pod=("hive-coder-0", uid), audience="other")
    with pytest.raises(ForbiddenError, match="broker token refused"):
        await broker.client(token).request(Whoami())


async def test_a_broker_token_is_no_credential_for_the_api_server(broker: Broker) -> None:
    """What an agent could do with the only token in its pod: nothing on the cluster."""
    from kubernetes_asyncio.client.exceptions import ApiException

    token = await broker.pod_token("coder")
    kubeconfig = token_kubeconfig(broker.cluster.kubeconfig, token, broker.tmp / "agent.kubeconfig")
    c = await open_client(kubeconfig)
    try:
        with pytest.raises(ApiException) as refused:
            await c.core.list_namespaced_pod(broker.cluster.namespace)
    finally:
        await c.api.close()
    assert refused.value.status == 401


async def test_a_token_not_bound_to_a_pod_is_refused(broker: Broker) -> None:
    await broker.cluster.agent_pod("coder")
    token = await broker.cluster.token("hive-coder")
    with pytest.raises(ForbiddenError, match="not bound to a pod"):
        await broker.client(token).request(Whoami())


async def test_accounts_that_are_no_agent_are_refused(broker: Broker) -> None:
    ghost = await broker.pod_token("ghost")  # hive-ghost: our naming, but not in desired state
    with pytest.raises(ForbiddenError, match="'ghost' is not in desired state"):
        await broker.client(ghost, "ghost").request(Whoami())
    # the daemon's own account is not an agent either
    own = await broker.cluster.token("hyperhive")
    with pytest.raises(ForbiddenError, match="not an agent's ServiceAccount"):
        await broker.client(own, "own").request(Whoami())


async def test_a_pod_not_labelled_as_that_agents_is_refused(broker: Broker) -> None:
    uid = await broker.cluster.agent_pod("coder", labels={"hyperhive.dev/agent": "tester"})
    token = await broker.cluster.token("hive-coder", pod=("hive-coder-0", uid))
    with pytest.raises(ForbiddenError, match="not agent coder's"):
        await broker.client(token).request(Whoami())


async def test_a_deleted_pods_token_is_refused_within_the_cache_window(broker: Broker) -> None:
    token = await broker.pod_token("coder")
    first = broker.client(token, "a")
    assert (await first.request(Whoami())).name == "coder"
    assert (await broker.client(token, "b").request(Whoami())).name == "coder"
    assert broker.tls.reviewer.reviews == 1  # the second connection was the cache's
    await broker.cluster.delete_pod("hive-coder-0")
    for i in range(60):  # at most the cache's 10 s; polled with a generous bound, no duration asserted
        try:
            await broker.client(token, f"c{i}").request(Whoami())
        except ForbiddenError as exc:
            assert "is gone" in str(exc) or "not authenticated" in str(exc) or "invalid" in str(exc), exc
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("a deleted pod's token was still accepted after 30 s")


async def test_no_token_or_garbage_is_refused_and_nothing_is_served(broker: Broker) -> None:
    with pytest.raises(ForbiddenError, match="broker token refused"):
        await broker.client("not-a-token").request(Whoami())
    # a client that skips the hello and asks straight away: its request is taken as the hello
    ctx = ssl.create_default_context(cafile=str(broker.ca))
    reader, writer = await asyncio.open_connection("127.0.0.1", broker.tls.port, ssl=ctx)
    writer.write(b'{"op": "whoami"}\n')
    answer = json.loads(await reader.readline())
    assert answer["ok"] is False and "first line on the TLS broker" in answer["error"]["message"]
    assert await reader.read() == b""  # and closed
    writer.close()


async def test_requests_sent_right_behind_the_hello_are_answered_as_the_agent(broker: Broker) -> None:
    """The hello and two requests in one write (one TLS record): the hand-off loses none of them."""
    token = await broker.pod_token("coder")
    ctx = ssl.create_default_context(cafile=str(broker.ca))
    reader, writer = await asyncio.open_connection("127.0.0.1", broker.tls.port, ssl=ctx)
    writer.write(json.dumps({"token": token}).encode() + b'\n{"op": "whoami"}\n{"op": "whoami"}\n')
    hello = json.loads(await reader.readline())
    assert hello == {"ok": True, "agent": "coder", "role": "agent"}
    for _ in range(2):
        answer = json.loads(await reader.readline())
        assert answer["ok"] is True and answer["name"] == "coder"
    writer.close()


async def test_a_missing_token_file_is_one_clear_error(broker: Broker) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", broker.tls.port, broker.ca, broker.tmp / "absent")
    with pytest.raises(PermanentError, match=r"cannot read the broker token from .*absent"):
        await HiveClient(broker=endpoint).request(Whoami())


async def test_a_plain_text_client_gets_no_answer(broker: Broker) -> None:
    def plain() -> bytes:
        with socket.create_connection(("127.0.0.1", broker.tls.port), timeout=20) as s:
            s.sendall(b'{"op": "whoami"}\n')
            got = b""
            while chunk := s.recv(4096):
                got += chunk
            return got

    got = await asyncio.to_thread(plain)
    assert b'"ok"' not in got and b"coder" not in got  # the TLS handshake failed: closed, nothing served


async def test_a_certificate_for_another_name_is_refused_by_the_client(broker: Broker) -> None:
    token = await broker.pod_token("coder")
    path = broker.tmp / "t"
    path.write_text(token)
    wrong = BrokerEndpoint("localhost", broker.tls.port, broker.ca, path)  # the cert names 127.0.0.1 only
    with pytest.raises(PermanentError, match="certificate we do not trust"):
        await HiveClient(broker=wrong).request(Whoami())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def raw_hello(broker: Broker, token: str, source: str) -> dict[str, Any]:
    """One hello from ``source`` (a loopback address of our choosing), and the broker's answer."""
    ctx = ssl.create_default_context(cafile=str(broker.ca))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", broker.tls.port, ssl=ctx, local_addr=(source, 0)
    )
    try:
        writer.write(json.dumps({"token": token}).encode() + b"\n")
        answer: dict[str, Any] = json.loads(await reader.readline())
        return answer
    finally:
        writer.close()


async def test_an_address_whose_hellos_keep_failing_is_refused_without_a_review(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Each hello costs a TokenReview; a flooding address gets ten a minute, and nobody else pays."""
    clock = Clock()
    broker.tls.limiter = HelloLimiter(clock=clock)  # the shipped numbers, on a clock the test moves
    reviewer = broker.tls.reviewer
    good = await broker.pod_token("coder")
    start = reviewer.reviews
    for i in range(MAX_FAILURES):
        with pytest.raises(ForbiddenError, match="broker token refused"):
            await broker.client(f"garbage-{i}", f"g{i}").request(Whoami())
    assert reviewer.reviews == start + MAX_FAILURES  # each one was reviewed
    # the next: refused at once, saying when to retry, and no review asked
    with pytest.raises(LimitError, match=r"too many failed broker hellos from 127\.0\.0\.1 .*retry in 60 s"):
        await broker.client("garbage-x", "gx").request(Whoami())
    refused = await raw_hello(broker, good, "127.0.0.1")  # a good token too (not reviewed yet)
    assert refused["ok"] is False and refused["error"]["code"] == "limit"
    assert reviewer.reviews == start + MAX_FAILURES
    # another address is not locked out: the good agent gets in from there
    assert await raw_hello(broker, good, "127.0.0.2") == {"ok": True, "agent": "coder", "role": "agent"}
    # now its review is cached: it costs nothing, so it passes from the cooling address as well
    assert (await raw_hello(broker, good, "127.0.0.1"))["ok"] is True
    assert reviewer.reviews == start + MAX_FAILURES + 1
    warned = [r for r in caplog.records if "refused without a TokenReview" in r.getMessage()]
    assert len(warned) == 1 and "127.0.0.1 failed 10 hellos" in warned[0].getMessage()  # once, not per try
    clock.now += COOLDOWN_SECONDS  # the cool-down is over: reviewed again
    with pytest.raises(ForbiddenError, match="broker token refused"):
        await broker.client("garbage-y", "gy").request(Whoami())
    assert reviewer.reviews == start + MAX_FAILURES + 2


def test_broker_settings_errors_name_the_option() -> None:
    with pytest.raises(UserError, match="--broker-listen 'nope' is not HOST:PORT"):
        BrokerSettings.parse("nope", [], None, None, namespace="ns", kubeconfig=None)
    with pytest.raises(UserError, match="both --broker-cert and --broker-key"):
        BrokerSettings.parse("0.0.0.0:7443", [], Path("/x.crt"), None, namespace="ns", kubeconfig=None)
