"""A per-address limit on failed TLS broker hellos, so one peer cannot spend the daemon's TokenReviews.

Every hello the TLS broker (``hive_core.tls_broker``) cannot answer from its
cache costs a TokenReview and a pod read at the API server, four in flight at
most: a peer sending garbage tokens as fast as TLS lets it would keep those
four busy and slow every honest pod's reconnect behind it. So an address
(the peer's IP, not IP:port: a new connection gets a new port) whose hellos
failed ``MAX_FAILURES`` times within ``WINDOW_SECONDS`` is refused at once,
without a review, for ``COOLDOWN_SECONDS``. An IPv6 peer is counted by its /64
(``peer_key``): one host commonly holds a whole /64.

Why 10 failures per 60 s, then 60 s: a healthy harness fails no hello, and a
misconfigured one (a token for the wrong audience, a pod not yet labelled) is
refused a few times a minute by its reconnect backoff; ten is well above that,
and well below what a flood does (hundreds a second). A cool-down of one
window bounds a flooding address to ten reviews a minute, and a fixed pod
waits at most a minute. Only the peer's own failures count (a bad hello, a
refused token); the daemon's (the API server unreachable, missing RBAC) do
not, nor do successes.

Pods behind one SNAT address share a count: an agent flooding from its node
could cool down its neighbours. A token the broker reviewed successfully in
the last ``tokenreview.CACHE_SECONDS`` costs no review, so it is let through
during a cool-down; the rest wait for it to end. The table holds at most
``MAX_PEERS`` addresses, dropping the least recently failed: memory is bounded
whatever addresses a flood comes from.

Pure: the clock is injected and nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
COOLDOWN_SECONDS = 60.0
MAX_PEERS = 4096


def peer_key(address: str) -> str:
    """What failures are counted under: an IPv4 address (an IPv4-mapped IPv6 one too), or an IPv6
    address's /64, since one host commonly holds a whole /64 and could otherwise rotate through it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class _Peer:
    failures: deque[float] = field(default_factory=deque)
    until: float = 0.0  # refused without review until then


@dataclass(frozen=True)
class Cooldown:
    """What a refused peer is told: how many failures, and how long until it may try again."""

    peer: str
    failures: int
    window: float
    retry_in: float

    def message(self) -> str:
        return (
            f"too many failed broker hellos from {self.peer} ({self.failures} in {self.window:.0f} s); "
            f"refused without review; retry in {max(1, round(self.retry_in))} s with a valid token"
        )


class HelloLimiter:
    """Failed hellos per peer address; ``check`` before a review, ``failed`` after a refusal."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        cooldown: float = COOLDOWN_SECONDS,
        max_peers: int = MAX_PEERS,
    ) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.cooldown = cooldown
        self.max_peers = max_peers
        self._peers: OrderedDict[str, _Peer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def check(self, peer: str) -> Cooldown | None:
        """The cool-down ``peer`` is in now, if any (it is then refused without a review)."""
        state = self._peers.get(peer)
        if state is None:
            return None
        left = state.until - self.clock()
        if left <= 0:
            return None
        return Cooldown(peer, self.max_failures, self.window, left)

    def failed(self, peer: str) -> Cooldown | None:
        """Count one failed hello; the cool-down it starts, if this failure starts one (else None).

        Only the failure that starts a cool-down returns it, so the caller warns once per cool-down."""
        now = self.clock()
        state = self._peers.pop(peer, None) or _Peer()
        self._peers[peer] = state  # most recently failed last: the oldest is dropped first
        while len(self._peers) > self.max_peers:
            self._peers.popitem(last=False)
        if state.until > now:
            return None  # refused during a cool-down: already counted as one
        while state.failures and state.failures[0] <= now - self.window:
            state.failures.popleft()
        state.failures.append(now)
        if len(state.failures) < self.max_failures:
            return None
        state.failures.clear()
        state.until = now + self.cooldown
        return Cooldown(peer, self.max_failures, self.window, self.cooldown)
