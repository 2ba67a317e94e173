"""The agent page API on TCP (a pod's, ``HIVE_PAGE_LISTEN``): every request needs the page token.

A real harness page app on a real TCP port and on its unix socket; the client is aiohttp, as the
API server's pod proxy is an HTTP client too (the proxy itself is tested at the node tier,
``tests/k8s/test_page_proxy.py``). The pod holds only the token's SHA-256, so the digest itself,
which the agent in the pod can read, must not open the page either.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hive_harness.loop import Harness
from hive_harness.serve import PageListen, page_listen, start_site
from hive_kit import pagetoken
from hive_kit.errors import UserError
from hive_kit.launch import AgentLaunchConfig
from tests.harness.offline import offline_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield from offline_harness(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get(port: int, token: str | None, path: str = "api/state") -> tuple[int, str]:
    headers = {pagetoken.HEADER: token} if token is not None else {}
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/{path}", headers=headers) as reply,
    ):
        return reply.status, await reply.text()


async def test_tcp_page_answers_only_its_token_and_the_socket_needs_none(
    harness: Harness, tmp_path: Path
) -> None:
    token, other = pagetoken.new_token(), pagetoken.new_token()
    digest_file = tmp_path / "page-token.sha256"
    digest_file.write_text(pagetoken.digest(token) + "\n")
    port = _free_port()
    sock = tmp_path / "run" / "page" / "page.sock"
    site = await start_site(harness, sock, PageListen("127.0.0.1", port, digest_file))
    assert site is not None
    try:
        status, body = await _get(port, token)
        assert status == 200 and '"name": "bob"' in body.replace('":"', '": "')
        # refused, with one line that says why, and nothing of the page in it
        for presented, want in ((None, 401), ("", 401), (other, 403), (pagetoken.digest(token), 403)):
            status, body = await _get(port, presented)
            assert status == want, (presented, status, body)
            assert "bob" not in body and len(body.splitlines()) == 1
        status, _ = await _get(port, other, "events/history")
        assert status == 403
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                f"http://127.0.0.1:{port}/api/model",
                json={"model": "opus"},
                headers={pagetoken.HEADER: other},
            ) as reply,
        ):
            assert reply.status == 403
        assert harness.rt.model == "haiku"  # the refused POST changed nothing
        # the unix socket (the local dashboard's way in) needs no token
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as client,
            client.get("http://agent-page/api/state") as reply,
        ):
            assert reply.status == 200
        # the host replaced the token: the file is read per request, no restart needed
        digest_file.write_text(pagetoken.digest(other))
        assert (await _get(port, other))[0] == 200
        assert (await _get(port, token))[0] == 403
        digest_file.unlink()  # no digest: closed, not open
        assert (await _get(port, other))[0] == 403
    finally:
        await site.close()


def test_page_listen_settings() -> None:
    assert page_listen({}) is None
    listen = page_listen(
        {pagetoken.ENV_PAGE_LISTEN: "0.0.0.0:7700", pagetoken.ENV_PAGE_TOKEN_DIGEST_FILE: "/etc/d"}
    )
    assert listen == PageListen("0.0.0.0", 7700, Path("/etc/d"))
    with pytest.raises(UserError, match="needs HIVE_PAGE_TOKEN_SHA256_FILE"):
        page_listen({pagetoken.ENV_PAGE_LISTEN: "0.0.0.0:7700"})
    with pytest.raises(UserError, match="is not HOST:PORT"):
        page_listen({pagetoken.ENV_PAGE_LISTEN: "7700", pagetoken.ENV_PAGE_TOKEN_DIGEST_FILE: "/d"})


def test_hive_harness_serve_refuses_a_tcp_page_without_a_token_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    config.write_text(AgentLaunchConfig(name="bob", role="agent", model="haiku").model_dump_json())
    env = {
        "HIVE_AGENT_CONFIG": str(config),
        "HIVE_AGENT_STATE": str(tmp_path / "state"),
        pagetoken.ENV_PAGE_LISTEN: "127.0.0.1:7700",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hive_harness", "serve", "--role", "agent"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "hive-harness: HIVE_PAGE_LISTEN needs HIVE_PAGE_TOKEN_SHA256_FILE: the file of the page "
        "token's SHA-256; the page is not served on TCP without a token"
    ]
