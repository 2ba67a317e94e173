"""The broker over TCP+TLS, for agents in pods on other machines (``hive serve --broker-listen``).

Off unless the operator asks: a host whose agents all run here has only its
unix sockets. When on, each accepted connection is TLS-only (a plain-text
client fails the handshake and is dropped), and its first line must be the
hello ``{"token": "<projected ServiceAccount token>"}`` (``hive_kit.broker``).
``AuthGate`` holds the connection until the token is reviewed
(``hive_core.tokenreview``); nothing else is read before, so no op, not even
``whoami``, is served to a stranger. A good token is answered
``{"ok": true, "agent": ..., "role": ...}`` and the transport is handed to a
``hive_core.server.Connection`` for that agent, the very class behind its
``hive.sock``: from then on the two are indistinguishable. A bad one is
answered with one error line naming what was wrong, and closed.
An address whose hellos keep failing is refused for a while without a review
(``hive_core.hello_limit``: each review is an API call, four in flight).

The connection's role is fixed at the hello (agent or manager, from desired
state); if the agent leaves desired state or its role changes, every later
request on it is refused, and ``drop_stale`` (run after each socket sync)
closes it, as the agent's unix socket is closed; a reconnect is reviewed again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hive_core.broker_certs import BrokerCert, ensure_certs
from hive_core.core import Caller, HostCore
from hive_core.hello_limit import HelloLimiter, peer_key
from hive_core.server import Connection, error_line
from hive_core.tokenreview import TokenReviewer
from hive_kit.broker import MAX_HELLO_BYTES
from hive_kit.errors import (
    BadRequestError,
    ForbiddenError,
    HiveError,
    LimitError,
    NotFoundError,
    TooLargeError,
    UserError,
)
from hive_kit.names import Role

log = logging.getLogger(__name__)

HELLO_SECONDS = 15.0
"""A connection that has not said a complete hello by then is dropped (handshake included)."""


@dataclass(frozen=True)
class BrokerSettings:
    """The operator's choices for the TLS listener (``hive serve --broker-*``)."""

    host: str
    port: int
    sans: tuple[str, ...] = ()
    cert_file: Path | None = None
    key_file: Path | None = None
    namespace: str = "hyperhive"
    kubeconfig: str | None = None
    given_sans: tuple[str, ...] = ()  # the --broker-san names as the operator gave them (broker_pods.pod_url)

    @classmethod
    def parse(
        cls,
        listen: str,
        sans: list[str],
        cert: Path | None,
        key: Path | None,
        *,
        namespace: str,
        kubeconfig: str | None,
    ) -> BrokerSettings:
        """From the CLI's words; a UserError naming the option for anything wrong."""
        host, colon, port = listen.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host or not port.isdigit() or int(port) > 65535:
            raise UserError(f"--broker-listen {listen!r} is not HOST:PORT; e.g. 0.0.0.0:7443")
        if (cert is None) != (key is None):
            raise UserError("give both --broker-cert and --broker-key, or neither (then they are made)")
        given = tuple(dict.fromkeys(s.strip() for item in sans for s in item.split(",") if s.strip()))
        names = given or (("localhost", "127.0.0.1") if host in ("0.0.0.0", "::") else (host,))
        return cls(host, int(port), names, cert, key, namespace, kubeconfig, given)


def agent_role(core: HostCore, agent: str) -> Role:
    spec = core.desired.agent(agent)
    if spec is None:
        raise ForbiddenError(f"broker token refused: agent {agent!r} is not in desired state")
    return Role.MANAGER if spec.role is Role.MANAGER else Role.AGENT


def caller_for(core: HostCore, agent: str, role: Role) -> Callable[[], Caller]:
    """Who speaks on an authenticated connection: ``agent`` as long as it keeps ``role``."""

    def caller() -> Caller:
        try:
            now = core.agent_caller(agent)
        except NotFoundError:
            raise ForbiddenError(f"agent {agent!r} left desired state; this connection is closing") from None
        if now.role is not role:
            raise ForbiddenError(f"agent {agent!r} is now {now.role}, not {role}; reconnect")
        return now

    return caller


class TlsConnection(Connection):
    """``Connection`` on TLS, which has no half-close: a client's close_notify ends the transport
    whatever we return (asyncio warns on ``True``), so what it asked and was not yet told is moot."""

    def eof_received(self) -> bool:
        super().eof_received()
        return False


class AuthGate(asyncio.Protocol):
    """An accepted TLS connection until its hello is reviewed; then a ``Connection`` takes over."""

    def __init__(self, broker: TlsBroker) -> None:
        self.broker = broker
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.peer = "?"
        self.address = "?"  # the peer's IP (an IPv6 one's /64): failed hellos are counted per address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.address = peer_key(str(peer[0]) if isinstance(peer, tuple) else str(peer))
        self._timer = asyncio.get_running_loop().call_later(HELLO_SECONDS, self._too_slow)

    def data_received(self, data: bytes) -> None:
        self._buf += data  # after the hello: requests pipelined behind it, handed on with the transport
        if self._task is not None:
            return
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_HELLO_BYTES:
                self._refuse(TooLargeError(f"the broker hello is over {MAX_HELLO_BYTES} bytes"))
            return
        assert self._transport is not None
        self._transport.pause_reading()
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        self._task = asyncio.get_running_loop().create_task(self._authenticate(line))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.broker.gates.discard(self)

    def _too_slow(self) -> None:
        if self._task is None:
            self._refuse(BadRequestError(f"no broker hello within {HELLO_SECONDS:.0f} s"))

    def _refuse(self, exc: HiveError) -> None:
        if isinstance(exc, LimitError):  # in a cool-down: its warning was logged once, when it began
            log.debug("TLS broker: refused %s: %s", self.peer, exc)
        else:
            log.warning("TLS broker: refused %s: %s", self.peer, exc)
        if isinstance(exc, UserError) and not isinstance(exc, LimitError):  # the peer's fault, not ours
            self._count_failure()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(error_line(exc))
            self._transport.close()

    def _count_failure(self) -> None:
        cooling = self.broker.limiter.failed(self.address)
        if cooling is not None:  # this failure began a cool-down: its one warning
            log.warning(
                "TLS broker: %s failed %d hellos in %.0f s; its hellos are refused without a "
                "TokenReview for %.0f s",
                self.address,
                cooling.failures,
                cooling.window,
                cooling.retry_in,
            )

    async def _authenticate(self, line: bytes) -> None:
        try:
            token = parse_hello(line)
            cooling = self.broker.limiter.check(self.address)
            if cooling is not None and not self.broker.reviewer.cached(token):
                raise LimitError(cooling.message())
            owner = await self.broker.reviewer.owner(token)
            role = agent_role(self.broker.core, owner.agent)
        except HiveError as exc:
            self._refuse(exc)
            return
        except Exception as exc:
            log.exception("TLS broker: reviewing %s's token failed", self.peer)
            self._refuse(HiveError(f"the broker could not review the token: {exc}"))
            return
        if self._timer is not None:
            self._timer.cancel()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        log.info("TLS broker: %s is agent %s (pod %s)", self.peer, owner.agent, owner.pod)
        transport.write(json.dumps({"ok": True, "agent": owner.agent, "role": str(role)}).encode() + b"\n")
        conn = self.broker.connection(caller_for(self.broker.core, owner.agent, role), role)
        self.broker.gates.discard(self)
        transport.set_protocol(conn)
        conn.connection_made(transport)
        if self._buf:
            conn.data_received(bytes(self._buf))
        transport.resume_reading()


def parse_hello(line: bytes) -> str:
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise BadRequestError(
            'the first line on the TLS broker must be {"token": "<projected ServiceAccount token>"}'
        )
    return token.strip()


class TlsBroker:
    """The TCP+TLS listener: TLS, a reviewed hello, then the agent's own ``Connection``."""

    def __init__(
        self,
        core: HostCore,
        settings: BrokerSettings,
        reviewer: TokenReviewer | None = None,
        limiter: HelloLimiter | None = None,
    ) -> None:
        self.core = core
        self.settings = settings
        self.reviewer = reviewer or TokenReviewer(settings.namespace, settings.kubeconfig)
        self.limiter = limiter or HelloLimiter()
        self.gates: set[AuthGate] = set()
        self.conns: set[Connection] = set()
        self.cert: BrokerCert | None = None
        self._server: asyncio.Server | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (``--broker-listen HOST:0`` picks a free one)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def ssl_context(self) -> ssl.SSLContext:
        s = self.settings
        if s.cert_file is not None and s.key_file is not None:
            self.cert = BrokerCert(s.cert_file, s.key_file, None)
        else:
            self.cert = ensure_certs(self.core.layout.root / "broker-tls", s.sans)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert.cert, self.cert.key)
        except (OSError, ssl.SSLError) as exc:
            raise UserError(
                f"cannot load the broker certificate {self.cert.cert} / key {self.cert.key}: {exc}; "
                "give a PEM certificate and its key"
            ) from exc
        return ctx

    async def start(self) -> None:
        """Listen; a missing client or cluster config fails here, with the fix, not at the first pod."""
        await self.reviewer.connect()
        ctx = self.ssl_context()
        s = self.settings
        try:
            self._server = await asyncio.get_running_loop().create_server(
                self._gate, s.host, s.port, ssl=ctx, ssl_handshake_timeout=HELLO_SECONDS
            )
        except OSError as exc:
            raise UserError(
                f"--broker-listen {s.host}:{s.port}: cannot listen ({exc.strerror or exc})"
            ) from exc
        log.info(
            "TLS broker: listening on %s:%d for namespace %s (CA %s)",
            s.host,
            self.port,
            s.namespace,
            self.cert.ca if self.cert else "?",
        )

    def _gate(self) -> AuthGate:
        gate = AuthGate(self)
        self.gates.add(gate)
        return gate

    def connection(self, caller_fn: Callable[[], Caller], role: Role) -> Connection:
        conn = TlsConnection(self.core, caller_fn, role)
        self.conns.add(conn)
        conn.closed.add_done_callback(lambda _f: self.conns.discard(conn))
        return conn

    def drop_stale(self) -> None:
        """Close the connections of agents that left desired state or changed role, as their unix
        sockets are closed (``SocketSet.sync_agents`` calls this after each sync)."""
        for conn in list(self.conns):
            try:
                conn.caller_fn()
            except HiveError as exc:
                log.info("TLS broker: closing a connection: %s", exc)
                conn.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for gate in list(self.gates):
            if gate._transport is not None:
                gate._transport.close()
        conns = list(self.conns)
        for conn in conns:
            conn.abort()
        if conns:
            await asyncio.wait([c.closed for c in conns], timeout=2)
        await self.reviewer.close()
