"""Reaching the broker over TLS from a pod: where it is, the CA to trust, and the token to show.

A harness on another machine has no unix socket to the host, so its identity
cannot be the socket. Instead it connects to the daemon's TLS listener
(``hive serve --broker-listen``), checks the daemon's certificate against the
CA the operator gave the pod, and sends one line before anything else::

    {"token": "<the pod's projected ServiceAccount token>"}

The daemon answers ``{"ok": true, "agent": "alice", "role": "agent"}`` and
from then on the connection speaks the same JSON lines as ``hive.sock``, as
that agent; or it answers an error line and closes. The token is read from
its file on every new connection, because the kubelet rewrites it before it
expires (a projected token lives ``expirationSeconds``, an hour here).

Settings come from the environment (the pod template sets them):
``HIVE_BROKER_URL`` (``tls://host:port``), ``HIVE_BROKER_TOKEN_FILE``,
``HIVE_BROKER_CA_FILE``. Standard library only (``ssl``): the kit stays free
of host-only dependencies.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hive_kit.errors import HiveError, PermanentError, UnavailableError, error_from_wire

ENV_BROKER_URL = "HIVE_BROKER_URL"
ENV_BROKER_TOKEN_FILE = "HIVE_BROKER_TOKEN_FILE"  # noqa: S105 (a variable's name)
ENV_BROKER_CA_FILE = "HIVE_BROKER_CA_FILE"
DEFAULT_TOKEN_FILE = "/var/run/secrets/hyperhive/token"  # noqa: S105 (a path)
AUDIENCE = "hyperhive-broker"
"""The audience of the projected token; the daemon's TokenReview asks for exactly this one."""
MAX_HELLO_BYTES = 16 * 1024
"""The first line's limit: a ServiceAccount token is 1-2 KiB; anything longer is refused unread."""
BROKER_ENV = (ENV_BROKER_URL, ENV_BROKER_TOKEN_FILE, ENV_BROKER_CA_FILE)


@dataclass(frozen=True)
class BrokerEndpoint:
    """A TLS broker: ``host:port``, the CA file that signs its certificate, the token file."""

    host: str
    port: int
    ca_file: Path | None
    token_file: Path

    @property
    def where(self) -> str:
        return f"tls://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BrokerEndpoint | None:
        """The endpoint ``HIVE_BROKER_URL`` names, or None (then the unix socket is the way)."""
        url = env.get(ENV_BROKER_URL, "").strip()
        if not url:
            return None
        host, port = parse_url(url)
        ca = env.get(ENV_BROKER_CA_FILE, "").strip()
        token = env.get(ENV_BROKER_TOKEN_FILE, "").strip() or DEFAULT_TOKEN_FILE
        return cls(host, port, Path(ca) if ca else None, Path(token))

    def ssl_context(self) -> ssl.SSLContext:
        """Verify the daemon's certificate (and its name) against the CA file, else the system's CAs."""
        try:
            return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise PermanentError(
                f"cannot load the broker's CA from {self.ca_file} ({exc}); set {ENV_BROKER_CA_FILE} "
                "to the PEM file of the CA that signed the daemon's broker certificate"
            ) from exc

    def token(self) -> str:
        try:
            text = self.token_file.read_text().strip()
        except OSError as exc:
            raise PermanentError(
                f"cannot read the broker token from {self.token_file} ({exc.strerror or exc}); "
                f"mount a projected ServiceAccount token (audience {AUDIENCE}) there or set "
                f"{ENV_BROKER_TOKEN_FILE}"
            ) from exc
        if not text:
            raise PermanentError(f"the broker token file {self.token_file} is empty")
        return text


def parse_url(url: str, setting: str = ENV_BROKER_URL) -> tuple[str, int]:
    """``tls://host:port`` (an IPv6 host in brackets) as (host, port); a clear error otherwise."""
    how = f"{setting}={url!r} is not tls://HOST:PORT; e.g. tls://hive.example:7443"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "tls":
        raise PermanentError(how)
    host, colon, port = rest.rstrip("/").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PermanentError(how)
    return host, int(port)


def hello_line(token: str) -> bytes:
    return json.dumps({"token": token}).encode() + b"\n"


async def open_broker(
    endpoint: BrokerEndpoint, *, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS connection to the broker, authenticated: after this it speaks the socket's protocol."""
    token = endpoint.token()
    try:
        reader, writer = await asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=endpoint.ssl_context(), limit=limit, ssl_handshake_timeout=15
        )
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(
            f"the broker at {endpoint.where} showed a certificate we do not trust ({exc.verify_message}); "
            f"check {ENV_BROKER_CA_FILE} and that the daemon's --broker-san names {endpoint.host}"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise UnavailableError(
            f"cannot reach the hive broker at {endpoint.where} ({exc}); "
            "is `hive serve --broker-listen` running there?",
            delay=1.0,
        ) from exc
    try:
        writer.write(hello_line(token))
        await writer.drain()
        async with asyncio.timeout(30):  # not wait_for: a cancel can be swallowed (gh-86296)
            answer = await reader.readline()
        _check_hello(endpoint, answer)
    except BaseException as exc:
        writer.close()
        if isinstance(exc, OSError | TimeoutError):
            where = endpoint.where
            raise UnavailableError(f"the broker at {where} dropped the connection: {exc}", delay=1.0) from exc
        raise
    return reader, writer


def _check_hello(endpoint: BrokerEndpoint, line: bytes) -> None:
    if not line:
        raise UnavailableError(f"the broker at {endpoint.where} closed before answering our hello", delay=1.0)
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise HiveError(
            f"the broker at {endpoint.where} answered our hello with non-JSON: {line[:200]!r}"
        ) from exc
    if not isinstance(data, dict) or data.get("ok") is not True:
        error = (data.get("error") if isinstance(data, dict) else None) or {}
        raise error_from_wire(str(error.get("code", "internal")), str(error.get("message", data)))
