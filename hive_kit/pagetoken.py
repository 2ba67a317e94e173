"""The agent page over TCP (a pod's): its port, its header, and the token that opens it.

A harness on this host serves its page API on a unix socket only the daemon reaches. A harness
in a pod cannot: the dashboard reaches it through the API server's pod proxy, on a TCP port that
anything able to route to the pod can also dial. So on TCP every request must carry the agent's
page token in ``X-Hive-Page-Token`` (not ``Authorization``: the API server takes that header as
the proxy request's own credentials and does not pass it on).

The pod never holds the token. The host makes it (``new_token``) and keeps it in its state dir;
the pod gets only its SHA-256 (``digest``), in the agent's ConfigMap. The agent shares the
harness's uid and can read whatever the harness reads, and a digest does not open the page:
``matches`` hashes what a request presents and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ENV_PAGE_LISTEN = "HIVE_PAGE_LISTEN"
"""``HOST:PORT``: serve the page API on TCP too, requiring the token (pods: ``0.0.0.0:7700``)."""
ENV_PAGE_TOKEN_DIGEST_FILE = "HIVE_PAGE_TOKEN_SHA256_FILE"  # noqa: S105 (a variable name)
"""A file holding the hex SHA-256 of the page token; required with ``HIVE_PAGE_LISTEN``."""
HEADER = "X-Hive-Page-Token"
PAGE_PORT = 7700
PORT_NAME = "page"
DIGEST_KEY = "page-token.sha256"
"""The digest's key in the agent's ConfigMap, so ``/etc/hyperhive/page-token.sha256`` in the pod."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(presented: str | None, expected_digest: str) -> bool:
    """Whether ``presented`` is the token whose SHA-256 is ``expected_digest`` (constant time)."""
    if not presented or not expected_digest:
        return False
    return hmac.compare_digest(digest(presented), expected_digest.strip().lower())


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::]:PORT`` for IPv6) as (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{ENV_PAGE_LISTEN}={text!r} is not HOST:PORT; e.g. 0.0.0.0:{PAGE_PORT}")
    return host, int(port)
