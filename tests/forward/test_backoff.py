"""Full-jitter exponential backoff with Retry-After as a floor."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from seawall.forward.backoff import Backoff


@given(
    attempts=st.integers(min_value=-5, max_value=10_000),
    retry_after=st.none() | st.floats(min_value=-10, max_value=10_000),
    seed=st.integers(),
)
def test_delay_is_bounded_and_honours_retry_after(
    attempts: int, retry_after: float | None, seed: int
) -> None:
    backoff = Backoff(base=0.5, cap=30.0, max_retry_after=600.0, rng=random.Random(seed))
    delay = backoff.delay(attempts, retry_after)
    assert 0.0 <= delay <= max(30.0, min(retry_after or 0.0, 600.0))
    if retry_after is not None and retry_after > 0:
        assert delay >= min(retry_after, 600.0)


def test_ceiling_doubles_until_the_cap() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    backoff = Backoff(base=1.0, cap=10.0, rng=Top())
    assert [backoff.delay(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_spreads_the_retries() -> None:
    backoff = Backoff(base=1.0, cap=100.0, rng=random.Random(1))
    delays = {round(backoff.delay(5), 3) for _ in range(50)}
    assert len(delays) > 40
