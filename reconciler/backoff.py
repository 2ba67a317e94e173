"""Per-agent exponential backoff with jitter, on an injected clock (tests use a fake one).

1 s, 2 s, 4 s … capped at 5 min, each ±20 % jitter so a swarm that failed
together does not retry together (controller-runtime's per-item limiter).
A permanent error, or ``stall_after`` failures in a row, makes the agent
``Stalled``: a permanent one waits for desired state to change (or an
explicit "reconcile now"); a persistent temporary one keeps retrying at the
capped interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

BASE, CAP, FACTOR, JITTER = 1.0, 300.0, 2.0, 0.2
STALL_AFTER = 5


@dataclass(frozen=True)
class Retry:
    """One agent's failure streak."""

    failures: int = 0
    next_at: float = 0.0  # monotonic clock; 0 = may run now
    permanent: bool = False
    error: str = ""
    fingerprint: str = ""  # desired fingerprint when it failed; a change resets a permanent stall

    @property
    def stalled(self) -> bool:
        return self.permanent or self.failures >= STALL_AFTER

    def ready(self, now: float, fingerprint: str) -> bool:
        if self.permanent:
            return fingerprint != self.fingerprint
        return now >= self.next_at


def delay_for(failures: int, rng: random.Random) -> float:
    raw = min(CAP, BASE * FACTOR ** max(0, failures - 1))
    return raw * (1 + rng.uniform(-JITTER, JITTER))


def failed(
    retry: Retry, now: float, error: str, *, permanent: bool, fingerprint: str, rng: random.Random
) -> Retry:
    failures = retry.failures + 1
    return Retry(failures, now + delay_for(failures, rng), permanent, error, fingerprint)


def forgive(retry: Retry) -> Retry:
    """'Reconcile now': retry at once, keeping the count so backoff still grows."""
    return replace(retry, next_at=0.0, permanent=False)
