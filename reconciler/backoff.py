"""Per-agent exponential backoff with jitter, on an injected clock (tests use a fake one).

1 s, 2 s, 4 s … capped at 5 min, each ±20 % jitter so a swarm that failed
together does not retry together (controller-runtime's per-item limiter).
A permanent error, or ``stall_after`` failures in a row, makes the agent
``Stalled``: a permanent one waits for desired state to change (or an
explicit "reconcile now"); a persistent temporary one keeps retrying at the
capped interval. A change to the agent's desired spec is tried at once,
whatever the backoff, and so is a change of the runtime's own inputs that
the failed action was rebuilding onto (``Action.rebuild``: new host pins).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Policy:
    base: float = 1.0
    cap: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    stall_after: int = 5

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        return raw * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True)
class Retry:
    """One agent's failure streak."""

    failures: int = 0
    next_at: float = 0.0  # monotonic clock; 0 = may run now
    permanent: bool = False
    error: str = ""
    fingerprint: str = ""  # desired fingerprint when it failed; a change lifts a permanent stall
    stall_after: int = 5
    rebuild: str = ""  # the runtime's inputs it was rebuilding onto (Action.rebuild); likewise

    @property
    def stalled(self) -> bool:
        return self.permanent or self.failures >= self.stall_after

    def ready(self, now: float, fingerprint: str, rebuild: str = "") -> bool:
        """Due, or the agent's desired spec (or the runtime's inputs it is rebuilt onto) changed
        since it failed: a fix is tried at once."""
        if fingerprint != self.fingerprint or rebuild != self.rebuild:
            return True
        return not self.permanent and now >= self.next_at


def failed(
    retry: Retry,
    now: float,
    error: str,
    *,
    permanent: bool,
    fingerprint: str,
    rng: random.Random,
    policy: Policy | None = None,
    rebuild: str = "",
) -> Retry:
    policy = policy or Policy()
    failures = retry.failures + 1
    next_at = now + policy.delay(failures, rng)
    return Retry(failures, next_at, permanent, error, fingerprint, policy.stall_after, rebuild)


def forgive(retry: Retry) -> Retry:
    """'Reconcile now': retry at once, keeping the count so backoff still grows."""
    return replace(retry, next_at=0.0, permanent=False)
