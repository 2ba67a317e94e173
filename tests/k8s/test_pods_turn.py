"""A pod agent's real claude turn answers a local agent: ping over the socket, pong from the pod over TLS.

A ``k8s_node`` test (root; ``HIVE_K8S_NODE_TESTS=1``). Real: `hive serve --runtime kubernetes
--broker-listen` on the pod network's gateway, the pod's projected token reviewed by the API
server, the harness in the pod and the `claude` CLI it finds in this checkout's ``node_modules``
(mounted read-only with the host's Python, ``tests/k8s/pods.py``), our MCP server in the pod,
and the broker's store.

What stands in, and why:

- The Anthropic API: the scripted Messages API (``tests/seams/scripted_api.py``), listening on
  the gateway address, which every pod's claude gets as ``ANTHROPIC_BASE_URL`` through
  ``HIVE_KUBE_MODEL_BASE_URL``. The per-agent NetworkPolicy would have to allow it; the test
  cluster's bridge CNI does not enforce NetworkPolicies, so it is reachable either way.
- The local agent: ``hive serve`` runs one runtime, so every agent in desired state is a pod.
  ``peer`` is stopped in desired state (its StatefulSet at 0: no pod, no harness), and a
  ``HiveClient`` on its unix socket on this host does what its harness would: send, then recv.
  Connections on that socket are ``peer``, exactly as for a harness on this host.

The fields asserted are those the local e2e test asserts for a turn that sends
(``tests/harness/test_e2e_turns.py``: sender and body in the recipient's inbox, who woke the turn
and the message's id and body in its prompt, the tool's result) plus the thread
(``in_reply_to``), as ``test_broker.py`` asserts it over TLS without a pod.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Ack, Recv, Send
from tests.k8s.pods import eventually, gateway, namespace_with_key, served, wait_ready
from tests.seams.scripted_api import Reply, RoutedAPI, text, tool

pytestmark = [pytest.mark.k8s_node, pytest.mark.slow, pytest.mark.timeout(600)]


def answer_the_ping(body: dict[str, Any]) -> Reply:
    """What the model says when woken by peer's ping: send pong to peer, in reply to its id."""
    woke = re.search(r"--- #(\d+) from peer at", json.dumps(body))
    if woke is None:
        return text("no ping from peer in this prompt")
    return tool("mcp__hyperhive__send", to="peer", body="pong", in_reply_to=int(woke.group(1)))


async def test_a_pod_agents_claude_turn_answers_a_local_agent(
    hive: Any, state_dir: Path, k8s_node: dict[str, str], k8s_namespace: str
) -> None:
    await namespace_with_key(k8s_node, k8s_namespace)
    assert hive("init").returncode == 0
    assert hive("agent", "add", "alpha").returncode == 0
    assert hive("agent", "add", "peer").returncode == 0
    done = hive("agent", "set", "peer", "state", "stopped")
    assert done.returncode == 0, done.stdout + done.stderr
    with (
        RoutedAPI(host=gateway(k8s_node)) as api,
        served(state_dir, k8s_node, k8s_namespace, HIVE_KUBE_MODEL_BASE_URL=api.base_url) as daemon,
    ):
        await wait_ready(hive, daemon, {"alpha", "manager"})
        # alpha's first turn (the restart note) came from its pod through the stand-in API
        await eventually(daemon, "alpha's first turn", lambda: api.requests_of("alpha"))
        api.route("alpha", answer_the_ping, text("sent pong to peer"))
        peer = HiveClient(StateLayout(state_dir).agent_socket("peer"))
        try:
            ping = await peer.request(Send(to="alpha", body="ping"))
            got: list[Any] = []

            async def pong() -> bool:
                got.extend((await peer.request(Recv(max=5, wait_seconds=5))).messages)
                return bool(got)

            deadline = time.monotonic() + 180
            while not await pong() and time.monotonic() < deadline:
                assert daemon.proc.poll() is None, daemon.text()[-4000:]
            assert got, f"no answer from alpha's pod:\n{daemon.text()[-4000:]}"
            await peer.request(Ack(ids=[m.id for m in got]))
        finally:
            await peer.aclose()
        (msg,) = got
        assert (msg.sender, msg.recipient, msg.body, msg.in_reply_to) == (
            "alpha",
            "peer",
            "pong",
            ping.ids[0],
        )
        turn = [r.all_text() for r in api.requests_of("alpha")]
        woke = [t for t in turn if f"--- #{ping.ids[0]} from peer at" in t]  # sender and id in the prompt
        assert woke and "\\nping\\n" in woke[0], turn[-3:]  # and the body

        def told() -> bool:  # the tool's result goes back to the model in the turn's next request
            return any(
                f"sent to peer (#{msg.id})" in " ".join(r.tool_results()) for r in api.requests_of("alpha")
            )

        await eventually(daemon, "the send tool's result in alpha's next request", told, timeout=60)
