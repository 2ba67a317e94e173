"""States and controls on the real CLI: needs-login, prompt too long, cancel, model switch, `claude mcp list`.

Real: daemon + sockets, `hive-harness serve`, `claude`, our MCP server.
Stand-in: the scripted Messages API (tests/seams/scripted_api.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hive_core.events import LoggedIn, NeedsLogin
from hive_kit.launch import AgentLaunchConfig
from hive_kit.wire import Send
from tests.conftest import subprocess_env
from tests.harness.conftest import claude_mcp_line, needs_claude
from tests.seams.scripted_api import Reply, ScriptedAPI, Text, prompt_too_long, text

pytestmark = [pytest.mark.slow, needs_claude, pytest.mark.timeout(180)]


def _kinds(rows: list[dict]) -> list[str]:
    return [r["result_kind"] for r in rows]


async def test_no_credentials_means_needs_login_until_a_secrets_file_appears(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob")  # no ANTHROPIC_* anywhere
    rows = await bob.wait_turns(1)
    assert _kinds(rows) == ["needs_login"]
    state = await bob.wait_until("needs_login status", lambda: _status(bob, "needs_login"))
    assert state["status"] == "needs_login"
    history = (await bob.get("/events/history"))["events"]
    assert any(e["kind"] == "status_changed" and e["status"] == "needs_login" for e in history)
    host_events = hive.daemon.core.events.read_since(0, 1000)
    assert any(isinstance(e, NeedsLogin) and e.agent == "bob" for e in host_events)

    # the operator starts the CLI's own login from the page: its URL shows up; cancelling ends the child
    await bob.post("/api/login/start")
    login = await bob.wait_until("the login URL", lambda: _login_url(bob))
    assert login["url"].startswith("https://") and login["phase"] == "waiting_for_code"
    assert (await bob.post("/api/login/cancel"))["login"]["phase"] == "cancelled"
    assert (await bob.get("/api/state"))["status"] == "needs_login"

    # the operator drops an API key (and endpoint) into the agent's state dir: the same wake is retried
    secrets = bob.state / "secrets.env"
    secrets.write_text(
        f"ANTHROPIC_API_KEY={api.env()['ANTHROPIC_API_KEY']}\nANTHROPIC_BASE_URL={api.base_url}\n"
    )
    secrets.chmod(0o600)
    rows = await bob.wait_turns(2)
    assert _kinds(rows) == ["needs_login", "ok"] and rows[1]["wake_from"] == rows[0]["wake_from"]
    await bob.wait_until("online status", lambda: _status(bob, "online"))
    assert any(
        isinstance(e, LoggedIn) and e.agent == "bob" for e in hive.daemon.core.events.read_since(0, 1000)
    )


async def _login_url(proc):  # type: ignore[no-untyped-def]
    login = (await proc.get("/api/state"))["login"]
    return login if login["url"] else None


async def _status(proc, status: str):  # type: ignore[no-untyped-def]
    state = await proc.get("/api/state")
    return state if state["status"] == status else None


async def test_prompt_too_long_compacts_the_session_then_retries_once(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    api.push(text("noted"))  # a second exchange, so the session has something to compact
    await hive.client("operator").request(Send(to="bob", body="remember: the answer is 42"))
    await bob.wait_turns(2)

    # The CLI compacts reactively on its own first; when its compaction request is refused too, it
    # gives up with "Prompt is too long" and the harness runs /compact and retries the wake once.
    api.push(
        prompt_too_long(), prompt_too_long(), text("SUMMARY: the answer is 42"), text("still know it: 42")
    )
    await hive.client("operator").request(Send(to="bob", body="what is the answer?"))
    rows = await bob.wait_turns(5)
    assert _kinds(rows)[2:] == ["prompt_too_long", "ok", "ok"]
    assert rows[3]["wake_from"].startswith("compact:")
    assert rows[4]["wake_from"] == "operator"
    assert (
        "SUMMARY: the answer is 42" in api.main_requests()[-1].all_text()
    )  # the retry ran on the compacted session
    notes = [e["text"] for e in (await bob.get("/events/history"))["events"] if e["kind"] == "note"]
    assert any("prompt too long" in n for n in notes)


async def test_cancel_mid_turn_kills_the_child_records_cancelled_and_the_loop_goes_on(
    hive, harness, api: ScriptedAPI
) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    release = threading.Event()
    api.push(Reply(blocks=(Text("this never finishes"),), hold=release))
    await hive.client("operator").request(Send(to="bob", body="start something long"))
    state = await bob.wait_until("a running claude child", lambda: _running(bob))
    pid = state["claude_pid"]
    assert (await bob.post("/api/cancel"))["cancelled"] is True
    rows = await bob.wait_turns(2)
    release.set()
    assert _kinds(rows) == ["ok", "cancelled"]
    assert not Path(f"/proc/{pid}").exists()

    api.push(text("back at it"))
    await hive.client("operator").request(Send(to="bob", body="are you there?"))
    assert _kinds(await bob.wait_turns(3)) == ["ok", "cancelled", "ok"]


async def _running(proc):  # type: ignore[no-untyped-def]
    state = await proc.get("/api/state")
    return state if state["claude_pid"] and state["turn_state"] == "thinking" else None


async def test_page_prompt_model_switch_new_session_and_compact(hive, harness, api: ScriptedAPI) -> None:
    bob = await harness("bob", env=api.env())
    await bob.wait_turns(1)
    assert (await bob.post("/api/model", model="sonnet"))["model"] == "sonnet"
    assert (bob.state / "model-override").read_text().strip() == "sonnet"
    await bob.post("/api/new-session")
    api.push(text("fresh start"))
    await bob.post("/api/send", body="hello again, from your page")
    rows = await bob.wait_turns(2)
    assert rows[1]["wake_from"] == "operator (agent page)"
    assert "hello again, from your page" in api.main_requests()[-1].all_text()
    request = api.main_requests()[-1].body
    assert "sonnet" in request["model"]
    # a new session: the earlier restart-note exchange is not in the conversation any more
    assert "harness restarted" not in json.dumps(request["messages"])
    state = await bob.get("/api/state")
    assert state["model"] == "sonnet" and state["new_session_pending"] is False
    history = (await bob.get("/events/history"))["events"]
    assert any(e["kind"] == "model_changed" and e["model"] == "sonnet" for e in history)
    await bob.post("/api/compact")
    rows = await bob.wait_turns(3)
    assert rows[2]["wake_from"] == "operator: compact" and rows[2]["result_kind"] == "ok"


def test_claude_mcp_list_reports_the_harness_server_connected(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    AgentLaunchConfig(name="alice", role="agent", model="haiku").write(config)
    env = subprocess_env(
        HIVE_AGENT_CONFIG=str(config), HIVE_SOCKET=str(tmp_path / "hive.sock"), HOME=str(tmp_path)
    )
    printed = subprocess.run(
        [sys.executable, "-m", "hive_harness", "mcp-config"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    server = json.loads(printed.stdout)["mcpServers"]["hyperhive"]
    line, printed_all = claude_mcp_line(server, env, tmp_path)
    assert "Connected" in line, printed_all
    assert server["env"]["HIVE_SOCKET"] == str(tmp_path / "hive.sock")
