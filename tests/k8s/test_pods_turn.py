"""A pod agent's real claude turn answers a local agent's: ping over the socket, pong from the pod over TLS.

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
- Where the local agent runs: ``hive serve`` runs one runtime, so every agent in desired state is a
  pod. ``peer`` is stopped in desired state (its StatefulSet at 0: no pod), and its harness runs on
  this host on ``peer``'s unix socket, as the harness e2e tests run it (``tests/harness/conftest.py``
  ``HarnessProcess``: the real `hive-harness serve` and the real claude, outside bubblewrap). Its
  claude sends the ping with our MCP ``send``; the pong wakes its next turn.

The fields asserted are those the local e2e test asserts for a turn that sends
(``tests/harness/test_e2e_turns.py``: who woke each turn, the message's id and body in its
prompt, the send tool's result) on both sides, plus the thread (``in_reply_to``), as
``test_broker.py`` asserts it over TLS without a pod.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from tests.harness.conftest import HarnessProcess
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
    layout = StateLayout(state_dir)
    with (
        RoutedAPI(host=gateway(k8s_node)) as api,
        served(state_dir, k8s_node, k8s_namespace, HIVE_KUBE_MODEL_BASE_URL=api.base_url) as daemon,
    ):
        await wait_ready(hive, daemon, {"alpha", "manager"})
        # alpha's first turn (the restart note) came from its pod through the stand-in API
        await eventually(daemon, "alpha's first turn", lambda: api.requests_of("alpha"))
        api.route("alpha", answer_the_ping, text("sent pong to peer"))
        peer = HarnessProcess(layout, "peer", "agent", api.env())  # on this host, on peer's socket
        peer.start("agent")
        try:
            await peer.ready()
            await peer.wait_turns(1, timeout=120)  # its restart note
            api.route("peer", tool("mcp__hyperhive__send", to="alpha", body="ping"), text("pinged"))
            operator = HiveClient(layout.admin_socket)
            try:
                await operator.request(Send(to="peer", body="ping alpha"))
            finally:
                await operator.aclose()
            await peer.wait_turns(3, timeout=240)  # the ping's turn, then the pong's
            check_the_round_trip(api)
        finally:
            peer.stop()


def sent_ids(api: RoutedAPI, sender: str, to: str) -> list[int]:
    """The message ids our send tool reported to ``sender``'s claude for its sends to ``to``."""
    found = (
        re.search(rf"sent to {to} \(#(\d+)\)", " ".join(r.tool_results())) for r in api.requests_of(sender)
    )
    return [int(m.group(1)) for m in found if m is not None]


def check_the_round_trip(api: RoutedAPI) -> None:
    """Both sides' claudes saw what a local pair sees: the sender and id in the prompt, the body,
    the send tool's result, and the pong in reply to the ping."""
    peer_texts = [r.all_text() for r in api.requests_of("peer")]
    alpha_texts = [r.all_text() for r in api.requests_of("alpha")]
    pings, pongs = sent_ids(api, "peer", "alpha"), sent_ids(api, "alpha", "peer")
    assert len(pings) == 1 and len(pongs) == 1, (peer_texts[-3:], alpha_texts[-3:])
    woke = [t for t in alpha_texts if f"--- #{pings[0]} from peer at" in t]
    assert woke and "\\nping\\n" in woke[0], alpha_texts[-3:]
    answered = [t for t in peer_texts if f"--- #{pongs[0]} from alpha at" in t]
    assert answered and "\\npong\\n" in answered[0], peer_texts[-3:]
    assert f"UTC, in reply to #{pings[0]} ---" in answered[0], answered[0][-1500:]
