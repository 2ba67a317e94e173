"""The egress proxy: an agent's only way out of its sandbox, one per agent, on a unix socket.

Identity is the socket again: the proxy listening on
``run/agents/<name>/egress.sock`` speaks for ``<name>`` whatever the request
says. Inside the sandbox (its own network namespace, only loopback) a small
forwarder in the harness exposes that socket as ``HTTPS_PROXY`` /
``HTTP_PROXY`` on 127.0.0.1, so Claude Code, git, pip and curl find it the
usual way.

It speaks the two forms every HTTP client uses through a proxy: ``CONNECT
host:port`` (HTTPS and anything else over TLS: bytes are relayed, never
read) and absolute-form plain HTTP (``GET http://host/path``: one request
per connection, sent upstream in origin form with ``Connection: close``).
Each connection is checked against the agent's allow-list (re-read per
connection, so a desired-state change applies at once) and recorded:
agent, host, port, bytes each way, allowed or denied, and why.

Why asyncio streams and not proxy.py (PyPI): proxy.py is a standalone
threaded/multi-process server with its own acceptors and plugin system.
Here every listener carries an identity, the policy comes from desired
state in this process, and every record goes to the daemon's store, so an
in-loop asyncio server of a few hundred lines is the smaller, auditable
thing (docs/security.md).

A hostname that resolves to a loopback, link-local or unspecified address
is refused unless the allow-list names that address itself: allowing
``*.example.com`` must not let DNS point an agent at the host's own ports
or a cloud metadata service.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from desired.egress import HostPattern, allows, canonical_host
from hive_kit.relay import CHUNK, pipe

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 256  # per agent, at once
LINGER_S = 1.0


@dataclass
class EgressRecord:
    """One connection an agent asked for, as the log keeps it."""

    agent: str
    host: str
    port: int
    method: str
    allowed: bool
    reason: str = ""  # the rule that allowed it, or why it was refused / failed
    bytes_up: int = 0  # agent → host
    bytes_down: int = 0  # host → agent
    started: float = field(default_factory=time.time)
    ended: float | None = None


Policy = Callable[[], Sequence[HostPattern]]
"""The agent's allow-list now (called once per connection)."""
Recorder = Callable[[EgressRecord], None]
"""Told about every connection once it ends (allowed, denied or failed)."""


class ProxyRefusal(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Target:
    method: str
    host: str
    port: int
    head: bytes  # for plain HTTP: the request head to send upstream; empty for CONNECT


def parse_head(head: bytes) -> Target:
    """The request's target, or ProxyRefusal(400) for what a proxy client would never send."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # latin-1 decodes anything; kept for clarity
        raise ProxyRefusal(400, "Bad Request", "the request head is not text") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProxyRefusal(400, "Bad Request", f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    method, target, version = parts
    if method == "CONNECT":
        host, port = _host_port(target, default=None)
        return Target(method, host, port, b"")
    if not target.lower().startswith("http://"):
        raise ProxyRefusal(
            400,
            "Bad Request",
            "this is hyperhive's egress proxy: send absolute http:// URLs, or CONNECT for https "
            "(HTTP_PROXY / HTTPS_PROXY point here)",
        )
    url = urlsplit(target)
    host, port = _host_port(url.netloc.rpartition("@")[2], default=80)
    path = url.path or "/"
    if url.query:
        path += f"?{url.query}"
    kept = [
        line
        for line in lines[1:]
        if line and not line.lower().startswith(("proxy-", "connection:", "keep-alive:"))
    ]
    upstream = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
    return Target(method, host, port, upstream.encode("latin-1"))


def _host_port(text: str, default: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not port_text:
        if default is None:
            raise ProxyRefusal(400, "Bad Request", f"CONNECT needs host:port, got {text[:100]!r}")
        return canonical_host(host), default
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ProxyRefusal(400, "Bad Request", f"bad port in {text[:100]!r}")
    if not host:
        raise ProxyRefusal(400, "Bad Request", f"no host in {text[:100]!r}")
    return canonical_host(host), int(port_text)


def _guarded(address: str) -> bool:
    """Loopback, link-local or unspecified: reachable only when the allow-list names the address."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


class EgressProxy:
    """One agent's proxy. ``serve(path)`` listens on its unix socket; ``handle`` serves one connection."""

    def __init__(self, agent: str, policy: Policy, record: Recorder) -> None:
        self.agent = agent
        self.policy = policy
        self.record = record
        self._open = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, path: Path, *, mode: int = 0o660) -> asyncio.Server:
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._accept, path=str(path))
        path.chmod(mode)
        return server

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection from the agent; record it (if it named a target) when it ends."""
        box: list[EgressRecord] = []
        upstream: list[asyncio.StreamWriter] = []
        self._open += 1
        try:
            await self._serve(reader, writer, box, upstream)
        except ProxyRefusal as exc:
            if box and not box[0].reason:
                box[0].reason = str(exc)
            await answer(reader, writer, exc.status, exc.reason, str(exc))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
            if box:
                box[0].reason = box[0].reason or f"client went away: {type(exc).__name__}"
            else:
                await answer(reader, writer, 400, "Bad Request", "no complete request head within the limits")
        except OSError as exc:
            if box and not box[0].reason:
                box[0].reason = f"connection lost: {exc}"
        finally:
            self._open -= 1
            for w in (*upstream, writer):
                with contextlib.suppress(Exception):
                    w.close()
            if box:
                self._finish(box[0])

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        box: list[EgressRecord],
        upstream: list[asyncio.StreamWriter],
    ) -> None:
        if self._open > MAX_CONNECTIONS:
            raise ProxyRefusal(
                429, "Too Many Requests", f"{self.agent} has {MAX_CONNECTIONS} connections open"
            )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        target = parse_head(head)
        rec = EgressRecord(self.agent, target.host, target.port, target.method, allowed=False)
        box.append(rec)
        rule = allows(self.policy(), target.host, target.port)
        if rule is None:
            rec.reason = "not on the allow-list"
            raise ProxyRefusal(403, "Forbidden", self._denied_text(target))
        up_reader, up_writer = await self._connect(target, rule, rec)
        upstream.append(up_writer)
        rec.allowed, rec.reason = True, f"allowed by {rule}"
        if target.method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        else:
            up_writer.write(target.head)
            rec.bytes_up += len(target.head)
        await self._relay(reader, writer, up_reader, up_writer, rec, http=target.method != "CONNECT")

    def _finish(self, rec: EgressRecord) -> None:
        rec.ended = time.time()
        try:
            self.record(rec)
        except Exception:
            log.exception("egress record for %s failed", self.agent)

    def _denied_text(self, target: Target) -> str:
        allowed = ", ".join(str(p) for p in self.policy()) or "nothing"
        return (
            f"hyperhive egress: {self.agent} may not reach {target.host}:{target.port} "
            f"(allowed: {allowed}). To open it, add '{target.host}:{target.port}' to the 'egress' list "
            f"of agents/{self.agent}.json in desired state; the operator approves."
        )

    async def _connect(
        self, target: Target, rule: HostPattern, rec: EgressRecord
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            addresses = await _resolve(target.host, target.port)
        except (OSError, TimeoutError) as exc:
            rec.reason = f"cannot resolve {target.host}: {exc}"
            raise ProxyRefusal(502, "Bad Gateway", rec.reason) from None
        named_by_address = rule.host != "*" and not rule.host.startswith("*.") and _is_ip(rule.host)
        usable = [a for a in addresses if named_by_address or not _guarded(a)]
        if not usable:
            rec.reason = f"{target.host} resolves to a loopback or link-local address ({addresses[0]})"
            raise ProxyRefusal(403, "Forbidden", f"hyperhive egress: {rec.reason}; name the address itself")
        last: Exception | None = None
        for address in usable:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(address, target.port, limit=CHUNK), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                last = exc
        rec.reason = f"cannot connect to {target.host}:{target.port}: {last}"
        raise ProxyRefusal(502, "Bad Gateway", rec.reason)

    async def _relay(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
        rec: EgressRecord,
        *,
        http: bool,
    ) -> None:
        """Pipe both ways until the host's side ends; for plain HTTP, rewrite the response head first.

        The agent's side starts at once: a request body must flow before any response head comes.
        """

        def sent(size: int) -> None:
            rec.bytes_up += size

        def received(size: int) -> None:
            rec.bytes_down += size

        async def downstream() -> None:
            if http:
                client_w.write(await _response_head(up_r, rec))
            await pipe(up_r, client_w, received)

        up = asyncio.ensure_future(pipe(client_r, up_w, sent))
        try:
            await downstream()  # the host's side ending ends the connection
        finally:
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await up


async def _response_head(up_reader: asyncio.StreamReader, rec: EgressRecord) -> bytes:
    """The upstream response head, saying ``Connection: close``: the client must not reuse this connection
    for another request, which might be for another host (one request per proxied plain-HTTP connection)."""
    try:
        head = await up_reader.readuntil(b"\r\n\r\n")  # no timeout: a slow model may think for minutes
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        rec.reason = f"{rec.host}:{rec.port} sent no HTTP response head ({type(exc).__name__})"
        raise ProxyRefusal(502, "Bad Gateway", rec.reason) from None
    lines = head.decode("latin-1").split("\r\n")
    kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(("connection:", "keep-alive:"))]
    out = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
    rec.bytes_down += len(out)
    return out


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses to try: an IP literal as it is (no resolver thread), a name through getaddrinfo."""
    if _is_ip(host):
        return [host]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), CONNECT_TIMEOUT_S)
    return [str(info[4][0]) for info in infos]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int, reason: str, message: str
) -> None:
    """Say why, then linger briefly: closing with the client's request body unread would reset the
    connection, and the client would see "connection reset" instead of the reason."""
    body = (message + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Hyperhive-Egress: refused\r\n\r\n"
    )
    with contextlib.suppress(Exception):
        writer.write(head.encode() + body)
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        deadline = asyncio.get_running_loop().time() + LINGER_S
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            if not await asyncio.wait_for(reader.read(CHUNK), left):
                break
