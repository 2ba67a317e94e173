"""Egress policy end to end: desired state → the host's proxy → the log, the event, the notices, the page.

Real: a `hive.daemon.Daemon` on a real meta repo, the egress proxy on a unix
socket asking ``HostCore.egress_policy`` per connection and telling
``HostCore.record_egress`` when one ends (exactly how the daemon wires it
per agent), the in-sandbox forwarder, ``curl`` as the agent's client,
upstream servers on 127.0.0.1 (one plays the model API, named by
``ANTHROPIC_BASE_URL`` in the state dir's ``secrets.env``), and the
dashboard app over the same host core. Nothing is replaced.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from desired.edit import write
from desired.repo import MetaRepo
from hive_core.core import HostCore
from hive_core.egress import EgressProxy
from hive_core.events import EgressDenied
from hive_harness.egress_forward import EgressForwarder
from hive_kit.changes import ChangeSet, SetAgentField, SetSetting
from hive_web.component import host_deps
from hive_web.dashboard import create_app
from hive_web.keys import WebConfig
from tests.core.conftest import OPERATOR, Running, make_swarm, start_daemon

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


async def _server(name: str) -> web.AppRunner:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"{name} says hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])


class Agent:
    """One agent's way out, as the sandbox sees it: the forwarder in front of its proxy's socket."""

    def __init__(self, core: HostCore, name: str, sock: Path) -> None:
        self.proxy = EgressProxy(name, lambda: core.egress_policy(name), core.record_egress)
        self.sock = sock
        self.forwarder = EgressForwarder(sock)
        self.server: asyncio.Server | None = None

    async def start(self) -> Agent:
        self.server = await self.proxy.serve(self.sock)
        await self.forwarder.start()
        return self

    async def close(self) -> None:
        await self.forwarder.close()
        await self.proxy.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def get(self, port: int) -> str:
        """The status line curl saw for http://127.0.0.1:<port>/ through the proxy."""
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "10", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{port}/",
            env={"PATH": "/usr/bin:/bin", **self.forwarder.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return out.decode(errors="replace").split("\r\n", 1)[0]


class Rig:
    def __init__(self, running: Running, api: int, pypi: int, agents: dict[str, Agent]) -> None:
        self.running, self.core, self.api, self.pypi, self.agents = (
            running,
            running.daemon.core,
            api,
            pypi,
            agents,
        )
        self.repo = MetaRepo(running.layout.meta)

    def change(self, *ops: SetAgentField | SetSetting) -> None:
        write(self.repo, ChangeSet(ops=list(ops)), author=OPERATOR)

    def denials(self) -> list[EgressDenied]:
        return [e for e in self.core.events.read_since(0, 5000) if isinstance(e, EgressDenied)]

    def rows(self, agent: str) -> list[dict[str, object]]:
        return self.core.egress_log.recent(agent, 1000)


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    api, pypi = await _server("model api"), await _server("pypi")
    layout = make_swarm(tmp_path / "hive")
    layout.secrets.write_text(f"ANTHROPIC_API_KEY=sk-x\nANTHROPIC_BASE_URL=http://127.0.0.1:{_port(api)}\n")
    running = await start_daemon(layout)
    agents: dict[str, Agent] = {}
    try:
        for name in ("coder", "tester"):
            agents[name] = await Agent(running.daemon.core, name, tmp_path / f"{name}-egress.sock").start()
        yield Rig(running, _port(api), _port(pypi), agents)
    finally:
        for agent in agents.values():
            await agent.close()
        await running.close()
        await api.cleanup()
        await pypi.cleanup()


async def eventually(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _call(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _call(check: Callable[[], object]) -> object:
    result = check()
    return await result if asyncio.iscoroutine(result) else result


async def test_the_model_api_is_open_and_everything_else_closed_by_default(rig: Rig) -> None:
    coder = rig.agents["coder"]
    assert "200" in await coder.get(rig.api)
    assert "403" in await coder.get(rig.pypi)
    await eventually(lambda: len(rig.rows("coder")) == 2, "both connections recorded")
    denied, allowed = rig.rows("coder")  # newest first
    assert allowed["allowed"] and allowed["port"] == rig.api and int(allowed["bytes_down"]) > 0  # type: ignore[call-overload]
    assert (
        not denied["allowed"] and denied["port"] == rig.pypi and denied["reason"] == "not on the allow-list"
    )
    [event] = rig.denials()
    assert (event.agent, event.host, event.port) == ("coder", "127.0.0.1", rig.pypi)
    notices = [m.body for m in rig.core.broker.recent("boss", 50) if m.body.startswith("[egress_denied]")]
    assert notices == [
        f"[egress_denied] agent coder was refused 127.0.0.1:{rig.pypi}: not on the allow-list. "
        f"If it needs that host, propose adding '127.0.0.1:{rig.pypi}' to its egress list"
    ]
    assert any("[egress_denied] coder" in m.body for m in rig.core.broker.recent("operator", 50))


async def test_a_desired_state_change_reaches_the_next_connection_without_a_restart(rig: Rig) -> None:
    coder, tester = rig.agents["coder"], rig.agents["tester"]
    assert "403" in await coder.get(rig.pypi)
    rig.change(SetAgentField(name="coder", field="egress", value=[f"127.0.0.1:{rig.pypi}"]))
    await eventually(lambda: _ok(coder, rig.pypi), "coder's new allow-list to apply")
    assert "403" in await tester.get(rig.pypi)  # only coder's list changed
    rig.change(SetSetting(field="egress", value=[f"127.0.0.1:{rig.pypi}"]))
    await eventually(lambda: _ok(tester, rig.pypi), "the swarm default to apply to tester")
    rig.change(SetAgentField(name="tester", field="egress", value=[]))  # its own, empty: the model API only
    await eventually(lambda: _refused(tester, rig.pypi), "tester's empty list to apply")
    assert "200" in await tester.get(rig.api)


async def _ok(agent: Agent, port: int) -> bool:
    return "200" in await agent.get(port)


async def _refused(agent: Agent, port: int) -> bool:
    return "403" in await agent.get(port)


async def test_the_agents_own_secrets_file_does_not_move_its_model_api(rig: Rig) -> None:
    """A hostile agent can write ANTHROPIC_BASE_URL into the secrets.env of its own state dir;
    its claude may follow it, the proxy does not."""
    state = rig.running.layout.agent_state("coder")
    state.mkdir(parents=True, exist_ok=True)
    (state / "secrets.env").write_text(f"ANTHROPIC_BASE_URL=http://127.0.0.1:{rig.pypi}\n")
    assert "403" in await rig.agents["coder"].get(rig.pypi)
    assert "200" in await rig.agents["coder"].get(rig.api)


async def test_a_looping_agent_fills_the_log_not_the_inboxes(rig: Rig) -> None:
    coder = rig.agents["coder"]
    for _ in range(12):
        assert "403" in await coder.get(rig.pypi)
    await eventually(lambda: len(rig.rows("coder")) == 12, "every attempt recorded")
    assert len(rig.denials()) == 1
    notices = [m for m in rig.core.broker.recent("boss", 100) if m.body.startswith("[egress_denied]")]
    assert len(notices) == 1


async def test_the_agent_page_reads_the_log_behind_the_dashboard_auth(rig: Rig) -> None:
    coder = rig.agents["coder"]
    assert "200" in await coder.get(rig.api)
    assert "403" in await coder.get(rig.pypi)
    await eventually(lambda: len(rig.rows("coder")) == 2, "both connections recorded")
    # not loopback-bound: every request needs the token (lane W makes that true on loopback too)
    deps, _ = host_deps(rig.core, WebConfig(host="0.0.0.0", port=0))
    async with TestClient(TestServer(create_app(deps))) as client:
        refused = await client.get("/api/agents/coder/egress")
        assert refused.status == 401
        auth = {"Authorization": f"Bearer {deps.guard.token}"}
        reply = await client.get("/api/agents/coder/egress", headers=auth)
        assert reply.status == 200, await reply.text()
        data = await reply.json()
        assert data["allow"] == [f"127.0.0.1:{rig.api}"]
        assert [(e["port"], e["allowed"]) for e in data["entries"]] == [(rig.pypi, False), (rig.api, True)]
        assert data["summary"]["allowed"] == 1 and data["summary"]["denied"] == 1
        only = await (await client.get("/api/agents/coder/egress?denied=1&limit=5", headers=auth)).json()
        assert [e["port"] for e in only["entries"]] == [rig.pypi]
        ghost = await client.get("/api/agents/ghost/egress", headers=auth)
        assert ghost.status == 404 and "no agent named 'ghost'" in (await ghost.json())["error"]
        bad = await client.get("/api/agents/Not_A_Name/egress", headers=auth)
        assert bad.status == 404
        page = await client.get("/agents/coder/", headers=auth)
        text = await page.text()
        assert 'id="agent-egress"' in text and 'id="egress-denied"' in text
