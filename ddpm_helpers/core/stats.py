r"""Small statistics shared by the lessons: the interval every share in the series is reported with.

:func:`wilson_interval`: Wilson's (1927) score interval for a share k / n (the moons' mass split, the
classes of FashionMNIST samples, guidance's accuracy).
"""
from __future__ import annotations

import math

from scipy.stats import norm

from .checks import check_int, check_number

__all__ = ["wilson_interval"]


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    r"""Wilson's (1927) score interval for a share k / n:

        (p + z^2 / 2n \pm z \sqrt{p (1 - p) / n + z^2 / 4n^2}) / (1 + z^2 / n),   z = \Phi^{-1}((1 + level) / 2),

    which stays inside [0, 1] and is not empty at k = 0 or k = n (unlike p \pm z \sqrt{p (1 - p) / n})."""
    check_int("n", n, lo=1, what="trials")
    check_int("k", k, 0, n, hi_name="n")
    check_number("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    z = float(norm.ppf((1 + level) / 2))
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)
