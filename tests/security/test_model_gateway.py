"""The host's model-API gateway over real sockets: the key it adds, the keys it drops, the usage it records.

Real: the gateway on a unix socket bound as the daemon binds it, the ledger
file, the budget check over real desired state, aiohttp clients. Stand-in:
the scripted Messages API (tests/seams) in place of api.anthropic.com, which
this machine cannot reach; it records the headers it was sent.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest

from hive_core.gateway import (
    MAX_OPEN_CALLS,
    MAX_REQUEST,
    Call,
    HostModelApi,
    ModelGateway,
    call_report,
    forwarded_headers,
    serve_on,
)
from hive_core.gateway_usage import UsageMeter
from hive_core.ledger import Bucket, Ledger, Source
from hive_core.sockets import bind_private
from hive_kit.launch import ENV_MODEL, GATEWAY_PLACEHOLDER_KEY
from reconciler.runtime.local import behind_gateway
from tests.seams.scripted_api import ScriptedAPI, Usage, text

HOST_KEY = "sk-ant-host-key-0123"
AGENT_KEY = "sk-ant-stolen-or-forged"


@dataclass
class Rig:
    api: ScriptedAPI
    socket: Path
    ledger: Ledger
    paused: dict[str, str] = field(default_factory=dict)

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(self.socket)))

    async def spent(self, agent: str) -> Bucket:
        """The agent's totals once the gateway's row is written (it writes after answering)."""
        for _ in range(200):
            if self.ledger.spend(agent).input_tokens:
                break
            await asyncio.sleep(0.02)
        return self.ledger.spend(agent)

    def keys_seen(self) -> list[tuple[str | None, str | None]]:
        return [(c.headers.get("x-api-key"), c.headers.get("Authorization")) for c in self.api.calls]


async def _record(ledger: Ledger, call: Call) -> None:
    ledger.record(call.agent, call_report(call), source=Source.GATEWAY)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with ScriptedAPI() as api:
        secrets = tmp_path / "secrets.env"
        secrets.write_text(f"ANTHROPIC_API_KEY={HOST_KEY}\nANTHROPIC_BASE_URL={api.base_url}\n")
        ledger = Ledger(tmp_path / "ledger.sqlite")
        box = Rig(api, tmp_path / "model.sock", ledger)

        async def refusal(agent: str) -> str | None:
            return box.paused.get(agent)

        gateway = ModelGateway(
            HostModelApi(secrets, environ={}).upstream, lambda call: _record(ledger, call), refusal
        )
        runner = await serve_on(gateway, "coder", bind_private(box.socket))
        try:
            yield box
        finally:
            await runner.cleanup()
            await gateway.close()
            ledger.close()


def _body(stream: bool) -> dict[str, object]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "stream": stream,
        "tools": [{"name": "x", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }


FORGED = {
    "x-api-key": AGENT_KEY,
    "Authorization": f"Bearer {AGENT_KEY}",
    "X-Hive-Agent": "manager",
    "X-Forwarded-For": "manager",
    "anthropic-version": "2023-06-01",
}


async def test_a_streamed_call_carries_the_hosts_key_and_is_recorded_to_the_token(rig: Rig) -> None:
    rig.api.push(text("hello", Usage(input_tokens=1234, output_tokens=56, cache_read_input_tokens=7)))
    async with (
        rig.session() as s,
        s.post("http://x/v1/messages?beta=true", json=_body(True), headers=FORGED) as r,
    ):
        assert r.status == 200
        assert r.content_type == "text/event-stream"
        streamed = await r.text()
    assert "event: message_start" in streamed and '"text": "hello"' in streamed
    assert rig.keys_seen() == [(HOST_KEY, None)], "the agent's key and bearer never reach the API"
    assert all("X-Hive-Agent" not in c.headers and "X-Forwarded-For" not in c.headers for c in rig.api.calls)
    assert rig.api.calls[0].path == "/v1/messages?beta=true"
    spent = await rig.spent("coder")
    assert (spent.input_tokens, spent.output_tokens, spent.cache_read_tokens) == (1234, 56, 7)
    assert spent.turns == 0, "a call is not a turn"
    assert rig.ledger.spend("manager").input_tokens == 0, "a header cannot bill another agent"
    by_model = rig.ledger.spend_by_model("coder")
    assert [b.key for b in by_model] == ["claude-haiku-4-5"] and by_model[0].estimated_usd > 0


async def test_a_plain_json_call_is_recorded_and_count_tokens_is_forwarded_unbilled(rig: Rig) -> None:
    rig.api.push(text("hi", Usage(input_tokens=300, output_tokens=20)))
    async with rig.session() as s:
        async with s.post("http://x/v1/messages", json=_body(False), headers=FORGED) as r:
            message = await r.json()
        async with s.post("http://x/v1/messages/count_tokens", json=_body(False)) as r:
            counted = await r.json()
        async with s.head("http://x/") as r:  # claude's reachability probe
            assert r.status == 200
    assert message["usage"]["input_tokens"] == 300 and counted == {"input_tokens": 100}
    spent = await rig.spent("coder")
    assert (spent.input_tokens, spent.output_tokens) == (300, 20)
    assert {key for key, _ in rig.keys_seen()} == {HOST_KEY}


async def test_a_paused_agent_is_refused_with_an_api_shaped_error_and_nothing_goes_upstream(rig: Rig) -> None:
    rig.paused["coder"] = "paused: budget: coder spent $1.0000 on 2026-12-01 (UTC)"
    async with rig.session() as s, s.post("http://x/v1/messages", json=_body(False)) as r:
        assert r.status == 403
        error = await r.json()
    assert error["type"] == "error" and error["error"]["type"] == "permission_error"
    assert "paused: budget" in error["error"]["message"]
    assert rig.api.calls == []


async def test_bad_requests_get_clear_refusals(rig: Rig) -> None:
    async with rig.session() as s:
        for method, path in (
            ("GET", "/api/oauth/profile"),
            ("POST", "/v1/messages/batches"),
            ("GET", "/v1/files"),
        ):
            async with s.request(method, f"http://x{path}", json={}) as r:
                assert r.status == 403  # batches and files would spend the host's key unmeasured
                message = (await r.json())["error"]["message"]
                assert f"{method} {path} is not forwarded" in message and "POST /v1/messages" in message
        async with s.post("http://x/v1/messages", data=io.BytesIO(b"x" * (MAX_REQUEST + 1))) as r:
            assert r.status == 413
            assert "at most 32 MB" in (await r.json())["error"]["message"]
    assert rig.api.calls == []


async def test_without_a_host_key_the_gateway_says_what_to_do(tmp_path: Path) -> None:
    async def refusal(agent: str) -> str | None:
        return None

    async def record(call: Call) -> None:
        raise AssertionError("nothing to record")

    gateway = ModelGateway(HostModelApi(tmp_path / "none.env", environ={}).upstream, record, refusal)
    runner = await serve_on(gateway, "coder", bind_private(tmp_path / "m.sock"))
    try:
        connector = aiohttp.UnixConnector(path=str(tmp_path / "m.sock"))
        async with (
            aiohttp.ClientSession(connector=connector) as s,
            s.post("http://x/v1/messages", json={}) as r,
        ):
            assert r.status == 503
            assert "ANTHROPIC_API_KEY in <state>/secrets.env" in (await r.json())["error"]["message"]
    finally:
        await runner.cleanup()
        await gateway.close()


def test_an_oauth_token_goes_as_a_bearer_with_its_beta() -> None:
    api = HostModelApi(Path("/nonexistent"), environ={"CLAUDE_CODE_OAUTH_TOKEN": "tok"})
    upstream = api.upstream()
    assert upstream is not None and upstream.base_url == "https://api.anthropic.com"
    headers = forwarded_headers({"anthropic-beta": "a-1", "x-api-key": AGENT_KEY}, upstream)
    assert headers == {"anthropic-beta": "a-1,oauth-2025-04-20", "authorization": "Bearer tok"}


def test_usage_is_read_across_chunk_boundaries_and_from_a_cut_stream() -> None:
    start = {"type": "message_start", "message": {"model": "claude-opus-4-5", "usage": {"input_tokens": 900}}}
    delta = {"type": "message_delta", "usage": {"output_tokens": 42}}
    wire_bytes = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in (start, delta))
    meter = UsageMeter(streaming=True)
    data = wire_bytes.encode()
    for i in range(0, len(data), 7):
        meter.feed(data[i : i + 7])
    usage = meter.usage()
    assert usage is not None and (usage.model, usage.input_tokens, usage.output_tokens) == (
        "claude-opus-4-5",
        900,
        42,
    )
    cut = UsageMeter(streaming=True)
    cut.feed(data[: data.index(b"event: message_delta")])
    got = cut.usage()
    assert got is not None and got.input_tokens == 900, "the input was billed once message_start came"
    assert UsageMeter(streaming=False).usage() is None
    bad = UsageMeter(streaming=False)
    bad.feed(b'{"usage": {"input_tokens": -5, "output_tokens": true}, "model": "x;rm -rf"}')
    got = bad.usage()
    assert got is not None and got.total == 0 and got.model == "unknown"


async def test_a_stream_the_agent_hangs_up_on_is_still_recorded(rig: Rig) -> None:
    hold = threading.Event()
    reply = text("slow", Usage(input_tokens=5000, output_tokens=1))
    rig.api.push(replace(reply, hold=hold))
    async with rig.session() as s:
        r = await s.post("http://x/v1/messages", json=_body(True))
        await r.content.readuntil(b"message_start")
        r.close()  # the agent hangs up mid-stream
    hold.set()
    assert (await rig.spent("coder")).input_tokens == 5000


def test_an_agent_gets_the_socket_and_a_placeholder_never_the_hosts_key() -> None:
    base = {"PATH": "/usr/bin", "ANTHROPIC_API_KEY": HOST_KEY, "ANTHROPIC_BASE_URL": "http://api", "X": "1"}
    env = behind_gateway(base, "/run/hive/model.sock", switch=None)
    assert env == {
        "PATH": "/usr/bin",
        "X": "1",
        ENV_MODEL: "/run/hive/model.sock",
        "ANTHROPIC_API_KEY": GATEWAY_PLACEHOLDER_KEY,
    }
    oauth = behind_gateway({"CLAUDE_CODE_OAUTH_TOKEN": "tok"}, "/m", switch="on")
    assert "tok" not in oauth.values()
    assert behind_gateway(base, "/m", switch="off") == base, "the operator's switch: the old direct path"
    assert behind_gateway({"PATH": "/usr/bin"}, "/m", switch=None) == {"PATH": "/usr/bin"}, (
        "no key, no gateway"
    )


async def test_an_agent_may_hold_only_so_many_calls_open(rig: Rig) -> None:
    hold = threading.Event()
    for _ in range(MAX_OPEN_CALLS):
        rig.api.push(replace(text("slow"), hold=hold))
    async with rig.session() as s:
        held = [await s.post("http://x/v1/messages", json=_body(True)) for _ in range(MAX_OPEN_CALLS)]
        try:
            for r in held:
                await r.content.readuntil(b"message_start")
            async with s.post("http://x/v1/messages", json=_body(True)) as r:
                assert r.status == 429
                assert f"coder has {MAX_OPEN_CALLS} model calls open" in (await r.json())["error"]["message"]
        finally:
            hold.set()
            for r in held:
                await r.read()
                r.release()
    assert len(rig.api.requests) == MAX_OPEN_CALLS
