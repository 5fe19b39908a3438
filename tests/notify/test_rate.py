"""The shared rate limit of a run's workers, on a simulated clock."""

from __future__ import annotations

import pytest

from seawall.notify.smtp import RateLimiter


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _starts(limiter: RateLimiter, clock: _Clock, n: int) -> list[float]:
    starts = []
    for _ in range(n):
        limiter.acquire()
        starts.append(clock.now)
    return starts


def test_without_a_burst_acquisitions_are_spaced_evenly() -> None:
    clock = _Clock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    starts = _starts(limiter, clock, 5)
    assert starts == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])


def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    clock = _Clock()
    limiter = RateLimiter(10, burst=4, clock=clock, sleep=clock.sleep)
    starts = _starts(limiter, clock, 8)
    assert starts[:4] == [100.0] * 4, "a burst of 4 does not wait"
    assert starts[4:] == pytest.approx([100.1, 100.2, 100.3, 100.4])
    window = [t for t in starts if t < starts[0] + 1.0]
    assert len(window) <= 10 + 4 - 1, "never more than rate + burst - 1 in a second"


def test_the_burst_comes_back_only_after_a_pause() -> None:
    clock = _Clock()
    limiter = RateLimiter(10, burst=3, clock=clock, sleep=clock.sleep)
    _starts(limiter, clock, 6)  # the burst is spent
    clock.now += 10.0  # idle
    again = _starts(limiter, clock, 4)
    assert again[:3] == [again[0]] * 3
    assert again[3] == pytest.approx(again[0] + 0.1)


def test_no_rate_means_no_wait() -> None:
    clock = _Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    _starts(limiter, clock, 100)
    assert clock.slept == []
