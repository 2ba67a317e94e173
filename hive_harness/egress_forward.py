"""Inside the sandbox: the host's egress proxy, offered on loopback as HTTP(S)_PROXY.

The sandbox has its own network namespace with only a loopback interface,
so nothing inside can open a TCP connection to the world, the host or
another agent. The one way out is the unix socket the host bound at
``/run/hive/egress.sock``, behind which the host's proxy checks the agent's
allow-list and records every connection. Most programs only know proxies
by URL, so this forwarder listens on 127.0.0.1 and pipes each connection,
byte for byte, to that socket: it reads nothing and decides nothing (the
host does both).

The harness's own MCP server is on the sandbox's loopback too, at another
address (127.0.0.2), listed in NO_PROXY, so claude reaches it directly.

The host's model-API gateway (``/run/hive/model.sock``, ``hive_core.gateway``)
is offered the same way on a third address (127.0.0.3, also in NO_PROXY):
claude's ``ANTHROPIC_BASE_URL`` points there (``ModelForwarder.env``) with a
placeholder key, and the host adds its own key on the far side, so the real
key is never in the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

from hive_kit.launch import GATEWAY_PLACEHOLDER_KEY
from hive_kit.relay import pipe

log = logging.getLogger(__name__)

PROXY_HOST = "127.0.0.1"
MCP_HOST = "127.0.0.2"
"""Where the harness binds its MCP server inside the sandbox: never through the proxy."""
MODEL_HOST = "127.0.0.3"
"""Where the model gateway is offered inside the sandbox: never through the proxy either."""


def proxy_env(port: int) -> dict[str, str]:
    """The variables that send a process's traffic through the forwarder (both spellings: tools differ)."""
    url = f"http://{PROXY_HOST}:{port}"
    no_proxy = f"{MCP_HOST},{MODEL_HOST}"
    return {
        "HTTPS_PROXY": url,
        "https_proxy": url,
        "HTTP_PROXY": url,
        "http_proxy": url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, why: str) -> None:
    body = f"hyperhive egress: {why}\n".encode()
    head = f"HTTP/1.1 502 Bad Gateway\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)  # unread input would reset the reply
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()


class EgressForwarder:
    """Listen on ``127.0.0.1:port`` (0: any free port) and pipe every connection to ``socket_path``."""

    host = PROXY_HOST
    what = "HTTP(S)_PROXY"

    def __init__(self, socket_path: Path, port: int = 0) -> None:
        self.socket_path = socket_path
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def env(self) -> Mapping[str, str]:
        return proxy_env(self.port)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._forward, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("%s on %s:%d → %s", self.what, self.host, self.port, self.socket_path)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.socket_path))
        except OSError as exc:
            log.warning("egress: the host's proxy socket %s is not there: %s", self.socket_path, exc)
            await _refuse(
                reader, writer, f"the host's proxy is not reachable ({exc}); is `hive serve` running?"
            )
            return
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (up_writer, writer):
                with contextlib.suppress(Exception):
                    w.close()


class ModelForwarder(EgressForwarder):
    """The host's model gateway on ``127.0.0.3:port``; ``env`` is what claude needs to use it."""

    host = MODEL_HOST
    what = "model gateway"

    @property
    def env(self) -> Mapping[str, str]:
        return {
            "ANTHROPIC_BASE_URL": f"http://{MODEL_HOST}:{self.port}",
            "ANTHROPIC_API_KEY": GATEWAY_PLACEHOLDER_KEY,
        }
