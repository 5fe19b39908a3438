"""When to try a vendor again: full-jitter exponential backoff that honours Retry-After.

Full jitter (a uniform draw in ``[0, min(cap, base * 2**attempt)]``) spreads the
retries of many workers so a recovering vendor is not hit in lockstep. A vendor's
``Retry-After`` is a floor: the delay is the larger of the two. The floor is
itself bounded (``max_retry_after``) so a wrong header cannot park a backlog for
days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay policy; tests pass small ``base`` and ``cap`` to stay fast."""

    base: float = 1.0
    cap: float = 300.0
    max_retry_after: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th consecutive failure (0-based)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(max(attempts, 0), 62))
        jittered = self.rng.uniform(0.0, ceiling)
        if retry_after is None or retry_after <= 0:
            return jittered
        return max(jittered, min(retry_after, self.max_retry_after))
