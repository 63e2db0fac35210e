"""How sure can we be of a measured accuracy? Small evaluation sets make wide intervals.

:func:`wilson_interval` is the Wilson score interval for a proportion (Wilson, 1927): for
``k`` successes out of ``n`` and ``z`` the normal quantile (1.96 for 95 %),

    centre = (p + z²/2n) / (1 + z²/n),   half-width = z √(p(1-p)/n + z²/4n²) / (1 + z²/n),

with ``p = k / n``. Unlike the textbook ``p ± z √(p(1-p)/n)`` it stays inside [0, 1] and does not
shrink to a single point when ``p`` is 0 or 1.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson interval ``(low, high)`` for ``successes`` out of ``n`` trials."""
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
