"""The model-API gateway with real agents: the key stays on the host, and the host reads the bill.

Real: the daemon (sockets, the gateway on each agent's ``model.sock``, the
reconciler with the local runtime), bubblewrap, `hive-harness serve` as the
agent's own uid in its own network namespace, the `claude` binary from
node_modules, the ledger file, ``nsenter`` + ``setpriv`` to run a shell
command as the agent outside any turn. Stand-in: the scripted Messages API
(tests/seams) as the upstream in place of api.anthropic.com; it records the
key each request carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from desired.bootstrap import init_meta_repo
from desired.changes import add_agent, set_agent_field
from desired.repo import MetaRepo
from hive.daemon import Daemon, add_reconciler
from hive_core.ledger import Source, utc_day
from hive_kit.client import HiveClient
from hive_kit.launch import GATEWAY_PLACEHOLDER_KEY
from hive_kit.paths import StateLayout
from hive_kit.wire import Send
from reconciler.host import LoopControl
from reconciler.loop import LoopSettings
from reconciler.runtime import procs
from reconciler.runtime.registry import RuntimeOptions
from tests.reconciler.conftest import REPO_ROOT, TESTER
from tests.reconciler.helpers import eventually
from tests.seams.scripted_api import ScriptedAPI, Usage, text, tool

CLAUDE = REPO_ROOT / "node_modules" / ".bin" / "claude"
KEY_HEAD, KEY_TAIL = "sk-ant-host-only", "-7f3a9c"
HOST_KEY = KEY_HEAD + KEY_TAIL
"""Written split wherever an agent could see the test's words (its transcript), so finding it whole
inside the sandbox means the key itself leaked."""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("bwrap") or not shutil.which("nsenter"),
        reason="needs a root daemon, bwrap and nsenter",
    ),
    pytest.mark.skipif(not CLAUDE.exists(), reason="run `npm install` at the repo root for the claude CLI"),
]


@dataclass
class Hive:
    layout: StateLayout
    daemon: Daemon
    api: ScriptedAPI

    def gateway_rows(self, name: str) -> list[dict[str, int]]:
        rows = self.daemon.core.ledger._rows(
            "SELECT input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens FROM turns"
            " WHERE agent = ? AND source = ? ORDER BY id",
            (name, Source.GATEWAY.value),
        )
        keys = ("input", "output", "cache_read", "cache_creation")
        return [dict(zip(keys, (int(v) for v in r), strict=True)) for r in rows]

    def harness_turns(self, name: str) -> list[dict[str, object]]:
        return self.daemon.core.ledger.turns(name)

    def log(self, name: str) -> str:
        path = self.layout.agent_dir(name) / "agent.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def as_agent(self, name: str, *command: str) -> subprocess.CompletedProcess[str]:
        """``command`` run as ``name``'s shell would: in its namespaces, with its uid, outside any turn
        (in a thread: the daemon under test runs on this event loop)."""
        ids = self.daemon.core.identities.lookup(name)
        assert ids is not None
        outer = procs.scan(procs.root_key(self.layout.root))[name]
        pid = next(p for p in procs.descendants(outer) if os.stat(f"/proc/{p}").st_uid == ids.uid)
        argv = ["nsenter", f"--target={pid}", "--all", "--"]
        argv += ["setpriv", f"--reuid={ids.uid}", f"--regid={ids.gid}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *command]
        env = {"PATH": "/usr/bin:/bin", "HOME": "/state/home"}
        return await asyncio.to_thread(
            subprocess.run, argv, capture_output=True, text=True, timeout=60, env=env, check=False
        )

    async def send(self, to: str, body: str) -> None:
        client = HiveClient(self.layout.admin_socket)
        try:
            await client.request(Send(to=to, body=body))
        finally:
            await client.aclose()


@pytest.fixture
async def hive(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hive]:
    layout = StateLayout(REPO_ROOT / "test-artifacts" / f"gateway-{uuid.uuid4().hex[:8]}")
    init_meta_repo(layout.meta, TESTER)

    def build(state):  # type: ignore[no-untyped-def]
        state = set_agent_field(state, "manager", "state", "stopped")
        return add_agent(state, {"name": "alpha", "model": "claude-haiku-4-5"})

    MetaRepo(layout.meta).commit(build, author=TESTER, message="alpha")
    with ScriptedAPI() as api:
        for key, value in api.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ANTHROPIC_API_KEY", HOST_KEY)
        monkeypatch.delenv("HIVE_CLAUDE_BIN", raising=False)
        monkeypatch.delenv("HIVE_MODEL_GATEWAY", raising=False)
        daemon = Daemon(layout)
        add_reconciler(daemon, RuntimeOptions("local"), LoopSettings(health_timeout=60))
        task = asyncio.create_task(daemon.run())
        hive = Hive(layout, daemon, api)
        try:
            await eventually(lambda: isinstance(daemon.core.reconciler, LoopControl), what="the loop")
            with contextlib.suppress(AssertionError):
                await eventually(lambda: hive.harness_turns("alpha"), timeout=120, what="alpha's first turn")
            assert hive.harness_turns("alpha"), f"alpha ran no turn:\n{hive.log('alpha')}"
            yield hive
        finally:
            daemon.stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
            procs.kill_all(layout.root)
            shutil.rmtree(layout.root, ignore_errors=True)


def _keys(api: ScriptedAPI) -> set[str | None]:
    return {c.headers.get("x-api-key") for c in api.calls if c.path.startswith("/v1/")}


async def test_a_turn_goes_through_the_gateway_and_the_key_is_nowhere_in_the_sandbox(hive: Hive) -> None:
    usage = Usage(1500, 70, cache_read_input_tokens=300, cache_creation_input_tokens=40)
    probe = " ; ".join(
        [
            f"K={KEY_HEAD}; K=$K{KEY_TAIL}",
            'env | grep -c -- "$K"',
            'grep -c -- "$K" /proc/self/environ',
            'grep -rlsD skip -- "$K" /state /run/hive /etc /tmp',
            'echo "BASE=$ANTHROPIC_BASE_URL KEY=$ANTHROPIC_API_KEY"',
            "echo END",
        ]
    )
    before = len(hive.harness_turns("alpha"))
    hive.api.push(tool("Bash", usage, command=probe, description="look for the key"), text("done", usage))
    await hive.send("alpha", "look for the key")
    await eventually(lambda: len(hive.harness_turns("alpha")) > before, timeout=120, what="alpha's Bash turn")
    result = "\n".join(r for req in hive.api.main_requests() for r in req.tool_results())
    assert "END" in result, hive.log("alpha")
    lines = result.split("END")[0].strip().splitlines()
    assert lines[:2] == ["0", "0"], f"the key is in the agent's environment: {result}"
    assert f"KEY={GATEWAY_PLACEHOLDER_KEY}" in result and "BASE=http://127.0.0.3:" in result
    assert not any(line.startswith("/") for line in lines), f"a file in the sandbox holds the key: {result}"

    assert _keys(hive.api) == {HOST_KEY}, "the API saw the host's key on every call, never the agent's"
    assert all(HOST_KEY not in r.all_text() for r in hive.api.requests)
    await eventually(lambda: len(hive.gateway_rows("alpha")) == len(hive.api.requests), what="the rows")
    rows = hive.gateway_rows("alpha")
    scripted = {"input": 1500, "output": 70, "cache_read": 300, "cache_creation": 40}
    assert rows[-2:] == [scripted, scripted], "one gateway row per call, to the token"
    main_calls = len(hive.api.main_requests())
    side_calls = len(hive.api.requests) - main_calls
    assert len(rows) == main_calls + side_calls, "every model call the API answered is in the ledger"
    turn = hive.harness_turns("alpha")[0]
    assert turn["source"] == Source.CLAIMED.value, "the harness's report is kept, its money not counted twice"
    spent = hive.daemon.core.ledger.spend("alpha")
    assert spent.input_tokens == sum(r["input"] for r in rows)
    assert spent.turns == len(hive.harness_turns("alpha"))


async def test_a_curl_outside_a_turn_is_billed_to_its_socket_and_refused_once_paused(hive: Hive) -> None:
    body = json.dumps(
        {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
         "tools": [{"name": "t", "input_schema": {"type": "object"}}]}
    )  # fmt: skip
    hive.api.push(text("free tokens?", Usage(input_tokens=4321, output_tokens=9)))
    before = len(hive.gateway_rows("alpha"))
    curl = ["curl", "-sS", "-m", "20", "--unix-socket", "/run/hive/model.sock", "http://api/v1/messages"]
    forged = ["-H", "x-api-key: sk-ant-agents-own", "-H", "X-Hive-Agent: manager"]
    forged += ["-H", "content-type: application/json"]
    out = await hive.as_agent("alpha", *curl, *forged, "-d", body)
    assert '"input_tokens": 4321' in out.stdout or '"input_tokens":4321' in out.stdout, out
    await eventually(lambda: len(hive.gateway_rows("alpha")) > before, timeout=10, what="the curl's row")
    row = hive.gateway_rows("alpha")[-1]
    assert row == {"input": 4321, "output": 9, "cache_read": 0, "cache_creation": 0}
    assert hive.daemon.core.ledger.spend("manager").input_tokens == 0, "a header names no one"
    assert _keys(hive.api) == {HOST_KEY}

    budget = {"usd_per_day": 0.0001}
    MetaRepo(hive.layout.meta).commit(
        lambda s: set_agent_field(s, "alpha", "budget", budget), author=TESTER, message="budget"
    )
    calls = len(hive.api.calls)
    refused = await hive.as_agent("alpha", *curl, "-H", "content-type: application/json", "-d", body)
    error = json.loads(refused.stdout)
    assert error["error"]["type"] == "permission_error" and "paused: budget" in error["error"]["message"]
    assert "agents/alpha.json `budget`" in error["error"]["message"], "the refusal names the fix"
    assert len(hive.api.calls) == calls, "nothing reached the API"

    # the operator's "resume for today" (the budget question's answer) lets its calls through again
    core = hive.daemon.core
    core.budget_holds.resume("alpha", utc_day(core.clock()), by="operator", at=core.clock())
    hive.api.push(text("resumed", Usage(input_tokens=7, output_tokens=1)))
    resumed = await hive.as_agent("alpha", *curl, "-H", "content-type: application/json", "-d", body)
    assert "resumed" in resumed.stdout and len(hive.api.calls) == calls + 1, resumed
