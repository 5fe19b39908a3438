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


def _starts(limiter: RateLimiter, clock: _Clock, n: int, gap: float = 0.0) -> list[float]:
    starts = []
    for _ in range(n):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += gap
    return starts


def test_never_more_than_the_rate_in_any_second() -> None:
    clock = _Clock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    starts = _starts(limiter, clock, 35, gap=0.01)
    assert starts[:10] == pytest.approx([100.0 + i * 0.01 for i in range(10)]), "no wait"
    assert starts[10] == pytest.approx(101.0), "the 11th waits for the first to be 1 s old"
    for i in range(len(starts) - 10):
        assert starts[i + 10] - starts[i] >= 1.0 - 1e-9
    assert starts[-1] - starts[0] < 3.5, "and no slower than that"


def test_a_pause_gives_the_whole_second_back() -> None:
    clock = _Clock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    _starts(limiter, clock, 12)  # 5 now, 5 a second later, 2 two seconds later
    clock.now += 10.0
    again = _starts(limiter, clock, 5)
    assert again == [again[0]] * 5


def test_a_rate_below_one_spaces_messages_out() -> None:
    clock = _Clock()
    limiter = RateLimiter(0.5, clock=clock, sleep=clock.sleep)
    assert _starts(limiter, clock, 3) == pytest.approx([100.0, 102.0, 104.0])


def test_no_rate_means_no_wait() -> None:
    clock = _Clock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    _starts(limiter, clock, 100)
    assert clock.slept == []
