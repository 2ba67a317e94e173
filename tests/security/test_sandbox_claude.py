"""The real claude CLI inside real sandboxes: turns complete through the egress proxy, MCP tools work,
and its Bash tool, played hostile, fails at every boundary while the host records what it tried.

Real: the daemon (sockets, egress proxy, reconciler with the local runtime),
bubblewrap, `hive-harness serve` as each agent's own uid in its own network
namespace, the `claude` binary from node_modules (bound into the sandbox by
its real path). Stand-in: the scripted Messages API on the host's 127.0.0.1
(tests/seams), which the sandbox can reach only through the proxy, because
``ANTHROPIC_BASE_URL`` is the one allow-listed host:port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import apsw
import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_kit.client import HiveClient
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.reconciler.conftest import REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually
from tests.seams.scripted_api import ScriptedAPI, text, tool
from tests.security.test_sandbox_hostile import http_server

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs a root daemon and bwrap"
    ),
    pytest.mark.skipif(not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"),
]


@dataclass
class Swarm:
    layout: StateLayout
    daemon: Daemon
    api: ScriptedAPI
    host_port: int

    def turns(self, name: str) -> list[dict[str, Any]]:
        """The agent's turn-stats rows, oldest first, read-only: the file is the agent's (a root
        connection that wrote its -wal or -shm would leave the agent unable to open it)."""
        path = self.layout.agent_state(name) / "turn-stats.sqlite"
        flags = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        try:
            conn = apsw.Connection(f"file:{path}?mode=ro", flags=flags)
            try:
                cursor = conn.execute(
                    "SELECT result_kind, tool_call_breakdown_json FROM turn_stats ORDER BY id"
                )
                rows = cursor.fetchall()
            finally:
                conn.close()
        except apsw.Error:
            return []
        return [{"result_kind": kind, "tool_call_breakdown": json.loads(str(calls))} for kind, calls in rows]

    def mcp_entry(self, name: str) -> dict[str, Any]:
        document = json.loads((self.layout.agent_state(name) / ".hive" / "mcp-config.json").read_text())
        entry: dict[str, Any] = document["mcpServers"]["hyperhive"]
        return entry

    def log(self, name: str) -> str:
        path = self.layout.agent_dir(name) / "agent.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@pytest.fixture
async def swarm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Swarm]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"claude-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)
    repo = MetaRepo(layout.meta)

    def build(state):  # type: ignore[no-untyped-def]
        state = set_agent_field(state, "manager", "state", "stopped")  # two claude agents are enough here
        state = add_agent(state, {"name": "alpha", "model": "haiku"})
        return add_agent(state, {"name": "beta", "model": "haiku"})

    repo.commit(build, author=TESTER, message="alpha and beta")
    with ScriptedAPI() as api, http_server() as host_port:
        for key, value in api.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HIVE_CLAUDE_BIN", raising=False)
        # the operator's switch for the old direct path (the key in the sandbox, model traffic through
        # the egress proxy): what these tests check; the gateway's are in test_gateway_sandbox.py
        monkeypatch.setenv("HIVE_MODEL_GATEWAY", "off")
        daemon = Daemon(layout)
        add_reconciler(daemon, RuntimeOptions("local"), LoopSettings(health_timeout=60))
        task = asyncio.create_task(daemon.run())
        swarm = Swarm(layout, daemon, api, host_port)
        try:
            await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop")
            for name in ("alpha", "beta"):  # the restart note's turn, through the proxy
                with contextlib.suppress(AssertionError):
                    await eventually(lambda n=name: swarm.turns(n), timeout=120, what=f"{name}'s first turn")
                assert swarm.turns(name), f"{name} ran no turn:\n{swarm.log(name)}"
            yield swarm
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)


async def test_turns_complete_through_the_proxy_and_mcp_tools_answer(swarm: Swarm) -> None:
    first = swarm.turns("alpha")[0]
    assert first["result_kind"] == "ok", swarm.log("alpha")
    entry = swarm.mcp_entry("alpha")
    assert entry["url"].startswith("http://127.0.0.2:"), "the MCP server sits on the address NO_PROXY names"

    swarm.api.push(tool("mcp__hyperhive__send", to="beta", body="hello beta, alpha here"), text("sent"))
    client = HiveClient(swarm.layout.admin_socket)
    try:
        await client.request(Send(to="alpha", body="greet beta"))
    finally:
        await client.aclose()
    await eventually(lambda: len(swarm.turns("alpha")) >= 2, timeout=120, what="alpha's second turn")
    second = swarm.turns("alpha")[1]
    assert second["result_kind"] == "ok" and second["tool_call_breakdown"] == {"mcp__hyperhive__send": 1}
    results = [r for req in swarm.api.main_requests() for r in req.tool_results()]
    assert any("#" in r or "sent" in r.lower() for r in results), results

    rows = swarm.daemon.core.egress_log.recent("alpha", 200)
    api_port = swarm.api.port
    allowed = [r for r in rows if r["allowed"]]
    assert allowed and all((r["host"], r["port"]) == ("127.0.0.1", api_port) for r in allowed)
    assert sum(r["bytes_down"] for r in allowed) > 0, "the model's answers came back through the proxy"


async def test_claudes_bash_tool_cannot_read_host_secrets_or_reach_host_ports(swarm: Swarm) -> None:
    beta_mcp = swarm.mcp_entry("beta")["url"]
    port = swarm.host_port
    script = "; ".join(
        [
            "cat /etc/shadow",
            "ls /root/.ssh",
            f"ls {REPO_ROOT / '.git'}",
            f"curl -sS -m 5 http://127.0.0.1:{port}/",  # through the proxy (HTTP_PROXY): denied
            f"curl -sS -m 5 --noproxy '*' http://127.0.0.1:{port}/",  # direct: its own loopback
            f"curl -sS -m 5 -X POST {beta_mcp}",  # beta's MCP server (NO_PROXY: direct)
            "curl -sS -m 5 https://example.com/",  # CONNECT through the proxy: denied
            "unshare -Ur id",  # a user namespace, to be root in: seccomp says no
            # its own page API, to act as the operator on itself (switch to an expensive model)
            "curl -sS -m 5 --unix-socket /run/hive/page/page.sock -H 'Content-Type: application/json'"
            ' -d \'{"model": "opus"}\' http://page/api/model',
            "echo END",
        ]
    )
    swarm.api.push(tool("Bash", command=script, description="look around"), text("done looking"))
    client = HiveClient(swarm.layout.admin_socket)
    try:
        await client.request(Send(to="alpha", body="look around"))
    finally:
        await client.aclose()
    await eventually(lambda: len(swarm.turns("alpha")) >= 2, timeout=120, what="alpha's Bash turn")
    result = "\n".join(r for req in swarm.api.main_requests() for r in req.tool_results())
    assert "END" in result, result
    assert "/etc/shadow: No such file or directory" in result
    assert "/root/.ssh" in result and "No such file or directory" in result
    assert f"may not reach 127.0.0.1:{port}" in result, "the proxy refused and said why"
    assert "Connection refused" in result or "Couldn't connect" in result or "Failed to connect" in result
    assert "403" in result, "CONNECT to a host off the allow-list is refused"
    assert "hello from the host" not in result
    assert "unshare failed: Operation not permitted" in result and "uid=0" not in result
    assert "answers the dashboard only" in result, "the agent may not use its own page's controls"
    assert not (swarm.layout.agent_state("alpha") / "model-override").exists()
    denied = {
        (r["host"], r["port"]) for r in swarm.daemon.core.egress_log.recent("alpha", 200, denied_only=True)
    }
    assert ("127.0.0.1", port) in denied and ("example.com", 443) in denied


async def test_claude_mcp_list_inside_the_sandbox_reports_the_harness_server_connected(swarm: Swarm) -> None:
    """`claude mcp list`, run by claude's own Bash tool as the agent (its uid, its network namespace,
    HTTP(S)_PROXY pointing at the forwarder): the harness's MCP server on 127.0.0.2 is reached
    directly (NO_PROXY), not through the egress proxy, and answers its health check."""
    entry = (
        "python3 -c 'import json; "
        'print(json.dumps(json.load(open("/state/.hive/mcp-config.json"))["mcpServers"]["hyperhive"]))\''
    )
    script = "; ".join(
        [
            'export HOME="$(mktemp -d)"',
            'cd "$HOME"',
            'CLAUDE="${HIVE_CLAUDE_BIN:-claude}"',
            f'"$CLAUDE" mcp add-json --scope user hyperhive "$({entry})" > /dev/null',
            'echo "PROXY=$HTTPS_PROXY"',
            '"$CLAUDE" mcp list 2>&1',
            "echo END",
        ]
    )
    swarm.api.push(tool("Bash", command=script, description="check the MCP server"), text("listed"))
    client = HiveClient(swarm.layout.admin_socket)
    try:
        await client.request(Send(to="alpha", body="is your MCP server up?"))
    finally:
        await client.aclose()
    await eventually(lambda: len(swarm.turns("alpha")) >= 2, timeout=120, what="alpha's Bash turn")
    result = "\n".join(r for req in swarm.api.main_requests() for r in req.tool_results())
    assert "END" in result, result
    assert "PROXY=http://127.0.0.1:" in result, "the Bash tool runs with the forwarder as its proxy"
    line = next((ln for ln in result.splitlines() if ln.startswith("hyperhive")), "")
    assert "http://127.0.0.2:" in line and "(HTTP)" in line and "✔ Connected" in line, result
    mcp_port = int(swarm.mcp_entry("alpha")["url"].split(":")[2].split("/")[0])
    assert not [r for r in swarm.daemon.core.egress_log.recent("alpha", 200) if r["port"] == mcp_port], (
        "the health check did not go through the egress proxy"
    )
