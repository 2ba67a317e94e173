"""The per-address limit on failed TLS broker hellos (``hive_core.hello_limit``), pure, on a fake clock.

Against the real apiserver (TokenReviews counted, a good agent on another address let in):
``test_broker.py::test_an_address_whose_hellos_keep_failing_is_refused_without_a_review``.
"""

from __future__ import annotations

from hive_core.hello_limit import COOLDOWN_SECONDS, MAX_FAILURES, WINDOW_SECONDS, HelloLimiter, peer_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_tenth_failure_in_a_window_starts_one_cooldown_for_that_address_only() -> None:
    clock = Clock()
    limit = HelloLimiter(clock=clock)
    started = [limit.failed("10.0.0.9") for _ in range(MAX_FAILURES)]
    assert started[:-1] == [None] * (MAX_FAILURES - 1)  # one cool-down, told once
    assert started[-1] is not None and started[-1].retry_in == COOLDOWN_SECONDS
    cooling = limit.check("10.0.0.9")
    assert cooling is not None
    assert "10 in 60 s" in cooling.message() and "retry in 60 s" in cooling.message()
    assert limit.check("10.0.0.10") is None  # another address is not touched
    clock.now += 45
    cooling = limit.check("10.0.0.9")
    assert cooling is not None and "retry in 15 s" in cooling.message()
    assert limit.failed("10.0.0.9") is None  # a failure inside the cool-down neither warns nor extends it
    clock.now += 15
    assert limit.check("10.0.0.9") is None  # over: reviewed again, counted from zero
    assert [limit.failed("10.0.0.9") for _ in range(MAX_FAILURES - 1)] == [None] * (MAX_FAILURES - 1)
    assert limit.check("10.0.0.9") is None


def test_failures_spread_wider_than_the_window_never_start_a_cooldown() -> None:
    clock = Clock()
    limit = HelloLimiter(clock=clock)
    for _ in range(5 * MAX_FAILURES):  # a misconfigured pod retrying every 7 s: 8 or 9 per window
        assert limit.failed("10.0.0.9") is None
        clock.now += WINDOW_SECONDS / (MAX_FAILURES - 1) + 0.5
    assert limit.check("10.0.0.9") is None


def test_the_table_is_capped_dropping_the_least_recently_failed() -> None:
    clock = Clock()
    limit = HelloLimiter(clock=clock, max_failures=2, max_peers=3)
    for peer in ("a", "b", "a", "c"):  # a cools down; least recently failed first: b, a, c
        limit.failed(peer)
    assert limit.check("a") is not None
    limit.failed("d")  # a new address: b goes
    assert len(limit) == 3
    assert limit.check("a") is not None  # still held
    limit.failed("e")  # now a is the least recently failed: dropped, not leaked
    assert len(limit) == 3 and limit.check("a") is None


def test_an_ipv6_peer_is_counted_by_its_64_and_a_mapped_ipv4_one_as_ipv4() -> None:
    assert peer_key("10.0.0.9") == "10.0.0.9"
    assert peer_key("::ffff:10.0.0.9") == "10.0.0.9"  # a dual-stack listener's view of an IPv4 peer
    assert peer_key("2001:db8:1:2::a") == peer_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert peer_key("2001:db8:1:3::a") != peer_key("2001:db8:1:2::a")
