"""The egress proxy and the in-sandbox forwarder, over real sockets.

Real: the proxy on a unix socket, the forwarder on TCP loopback, upstream
servers on 127.0.0.1, ``curl`` as the client (it honours HTTP(S)_PROXY like
Claude Code does). Nothing is replaced.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from desired.egress import PatternError, allows, model_api_pattern, parse_pattern, parse_patterns
from hive_core.egress import EgressProxy, EgressRecord
from hive_harness.egress_forward import EgressForwarder

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


async def _rig(tmp_path: Path, patterns: list[str], rigs: list[Rig]) -> Rig:
    rig = Rig(tmp_path, patterns)
    rig.server = await rig.proxy.serve(tmp_path / "egress.sock")
    await rig.forwarder.start()
    rigs.append(rig)
    return rig


class Rig:
    def __init__(self, tmp: Path, patterns: list[str]) -> None:
        self.tmp = tmp
        self.patterns = parse_patterns(patterns)
        self.records: list[EgressRecord] = []
        self.proxy = EgressProxy("coder", lambda: self.patterns, self.records.append)
        self.loop = asyncio.get_running_loop()
        self.forwarder = EgressForwarder(tmp / "egress.sock")
        self.server: asyncio.Server | None = None

    async def settled(self, count: int) -> list[EgressRecord]:
        """The records once ``count`` connections have ended (the proxy records a connection at its end)."""
        deadline = self.loop.time() + 10
        while len(self.records) < count and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self.records

    async def curl(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--max-time", "10", "-D", "-", *args,
            env={"PATH": "/usr/bin:/bin", **self.forwarder.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(text=f"hello {request.path} {len(body)}")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (3 * 1024 * 1024))

    app = web.Application()
    app.router.add_route("*", "/hello", hello)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


@pytest.fixture
async def rigs(tmp_path: Path) -> AsyncIterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        await rig.forwarder.close()
        await rig.proxy.close()
        if rig.server is not None:
            rig.server.close()
            await rig.server.wait_closed()


async def test_an_allowed_plain_http_request_goes_through_and_is_recorded(
    tmp_path: Path, upstream: int, rigs: list[Rig]
) -> None:
    rig = await _rig(tmp_path, [f"127.0.0.1:{upstream}"], rigs)
    code, out, err = await rig.curl("-X", "POST", "--data", "abc", f"http://127.0.0.1:{upstream}/hello")
    assert code == 0, err
    assert "hello /hello 3" in out
    assert "connection: close" in out.lower()
    [rec] = await rig.settled(1)
    assert (rec.agent, rec.host, rec.port, rec.method, rec.allowed) == (
        "coder",
        "127.0.0.1",
        upstream,
        "POST",
        True,
    )
    assert rec.bytes_up > 3 and rec.bytes_down > len("hello /hello 3")
    assert rec.ended is not None and rec.ended >= rec.started


async def test_connect_tunnels_bytes_both_ways(tmp_path: Path, upstream: int, rigs: list[Rig]) -> None:
    rig = await _rig(tmp_path, [f"127.0.0.1:{upstream}"], rigs)
    # --proxytunnel makes curl CONNECT even for http://, as it does for every https:// URL
    code, out, err = await rig.curl("--proxytunnel", f"http://127.0.0.1:{upstream}/big", "-o", "/dev/null")
    assert code == 0, err
    assert "200 Connection Established" in out
    [rec] = await rig.settled(1)
    assert rec.method == "CONNECT" and rec.allowed
    assert rec.bytes_down >= 3 * 1024 * 1024


async def test_a_host_not_on_the_list_is_refused_with_the_fix(
    tmp_path: Path, upstream: int, rigs: list[Rig]
) -> None:
    rig = await _rig(tmp_path, ["api.anthropic.com:443"], rigs)
    code, out, _ = await rig.curl(f"http://127.0.0.1:{upstream}/hello")
    assert "403" in out.splitlines()[0]
    assert f"coder may not reach 127.0.0.1:{upstream}" in out
    assert "agents/coder.json" in out and "egress" in out
    code, out, err = await rig.curl("--proxytunnel", f"http://127.0.0.1:{upstream}/hello")
    assert code != 0 and "403" in (out + err)
    assert [r.allowed for r in await rig.settled(2)] == [False, False]
    assert all(r.reason == "not on the allow-list" for r in rig.records)


async def test_a_name_that_resolves_to_loopback_is_refused(
    tmp_path: Path, upstream: int, rigs: list[Rig]
) -> None:
    """Allowing a host *name* must not let DNS point an agent at the host's own ports."""
    rig = await _rig(tmp_path, ["localhost"], rigs)
    _, out, _ = await rig.curl(f"http://localhost:{upstream}/hello")
    assert "403" in out.splitlines()[0] and "loopback" in out
    [rec] = await rig.settled(1)
    assert not rec.allowed and "loopback" in rec.reason


async def test_origin_form_requests_are_told_what_this_is(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = await _rig(tmp_path, ["*:443"], rigs)
    reader, writer = await asyncio.open_unix_connection(str(tmp_path / "egress.sock"))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 400") and b"egress proxy" in answer
    writer.close()
    assert rig.records == []


async def test_the_forwarder_says_when_the_host_proxy_is_gone(tmp_path: Path) -> None:
    forwarder = EgressForwarder(tmp_path / "missing.sock")
    port = await forwarder.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
    answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 502") and b"hive serve" in answer
    writer.close()
    await forwarder.close()


@pytest.mark.parametrize(
    ("pattern", "host", "port", "ok"),
    [
        ("api.anthropic.com:443", "API.Anthropic.com", 443, True),
        ("api.anthropic.com:443", "api.anthropic.com", 80, False),
        ("pypi.org", "pypi.org", 8443, True),
        ("*.github.com", "api.github.com", 443, True),
        ("*.github.com", "github.com", 443, False),
        ("*.github.com", "evilgithub.com", 443, False),
        ("*:443", "anything.example", 443, True),
        ("[::1]:8080", "::1", 8080, True),
        ("127.0.0.1:9", "127.0.0.1", 9, True),
    ],
)
def test_patterns_match_as_documented(pattern: str, host: str, port: int, ok: bool) -> None:
    assert (allows([parse_pattern(pattern)], host, port) is not None) is ok


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("*", "every host"),
        ("https://api.anthropic.com", "leave out the scheme"),
        ("api.anthropic.com:0", "port"),
        ("a.*.com", "first label"),
        ("*.com", "too wide"),
        ("::1", "brackets"),
        ("", "empty"),
        ("bad_host!", "not a valid host"),
    ],
)
def test_bad_patterns_say_what_is_wrong(bad: str, why: str) -> None:
    with pytest.raises(PatternError, match=why):
        parse_pattern(bad)


def test_the_model_api_default_follows_the_base_url() -> None:
    assert model_api_pattern(None) == "api.anthropic.com:443"
    assert model_api_pattern("http://127.0.0.1:8123") == "127.0.0.1:8123"
    assert model_api_pattern("https://proxy.corp.example/v1") == "proxy.corp.example:443"
