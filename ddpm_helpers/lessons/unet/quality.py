"""Image quality in words and tables (notebooks 04 and 06): FID and KID read against the floor.

* :func:`card_quality_markdown`: the shipped U-Net's model-card metrics, one table per n
  (:func:`ddpm_helpers.ui.tables.quality_ci_markdown`: FID/KID with error bars beside the floor).
* :func:`class_shares`, :func:`coverage_test`, :func:`class_histogram_reading`: mode coverage with its uncertainty,
  a 95 % interval per class and one test of the whole histogram against the reference shares.

The numbers come from :mod:`ddpm_helpers.core.metrics` (``image_quality``, ``image_quality_ci``,
``real_floor_spread``); the tables and the one-sentence reading of a FID against its floor are in
:mod:`ddpm_helpers.ui.tables`.
"""
from __future__ import annotations

import numpy as np

from ...core.checks import check_int, check_number
from ...core.data import FASHION_CLASSES
from ...core.stats import wilson_interval
from ...ui.tables import quality_ci_markdown

__all__ = ["card_quality_markdown", "class_shares", "coverage_test", "class_histogram_reading"]


def card_quality_markdown(card: dict) -> str:
    """The shipped U-Net's model-card metrics (``load_card_metrics``) as one :func:`quality_ci_markdown` table per n,
    largest n first: every sampler row measured at that n (and the DDIM rows cut to DDPM's n) beside the floor
    the card measured at the same n. Spreads as the card recorded them (bootstrap for samples, draws for floors)."""
    by_n: dict[int, dict] = {}
    for key, r in card["samplers"].items():
        by_n.setdefault(r["n"], {})[f"card: {key}"] = r
        if "at_n_ddpm" in r:
            a = r["at_n_ddpm"]
            by_n.setdefault(a["n"], {})[f"card: {key}, first {a['n']}"] = a
    return "\n\n".join(quality_ci_markdown(rows, card["floors"][str(n)])
                        for n, rows in sorted(by_n.items(), reverse=True))



# ----------------------------------------------------------------------------- mode coverage with its uncertainty
def _counts(counts, name: str = "counts") -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 1 or c.size < 2 or (c < 0).any() or not np.all(c == np.round(c)) or c.sum() < 1:
        raise ValueError(f"{name} must be a 1-D array of non-negative whole counts with a positive sum, got {c!r}")
    return c.astype(np.int64)


def class_shares(counts, level: float = 0.95) -> dict:
    r"""Each class's share of ``n`` samples with its Wilson score interval (Wilson 1927) at ``level``:

        (p + z^2 / 2n \pm z \sqrt{p (1 - p) / n + z^2 / 4n^2}) / (1 + z^2 / n),   z = \Phi^{-1}((1 + level) / 2),

    which, unlike p \pm z \sqrt{p (1 - p) / n}, stays inside [0, 1] and is not empty at a count of 0.
    Returns a dict with ``n``, ``share``, ``lo``, ``hi`` (arrays, one entry per class).
    """
    c = _counts(counts)
    check_number("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    n = int(c.sum())
    lo, hi = np.array([wilson_interval(int(k), n, level) for k in c]).reshape(-1, 2).T
    return {"n": n, "share": c / n, "lo": lo, "hi": hi}


def coverage_test(counts, reference, draws: int = 20_000, seed: int = 0) -> tuple[float, float]:
    r"""Pearson's \chi^2 = \sum_k (c_k - n q_k)^2 / (n q_k) of the class ``counts`` against the ``reference`` shares
    q (any non-negative counts or weights, normalised here), and its p-value: the fraction of ``draws`` histograms
    of n samples drawn from q (multinomial, seeded) whose \chi^2 is at least as large. Simulated rather than
    read from the \chi^2 table, which needs about 5 expected samples per class (n = 32 gives 3.2).
    Returns ``(chi2, p_value)``.
    """
    c = _counts(counts)
    q = np.asarray(reference, dtype=float)
    if q.shape != c.shape or not np.isfinite(q).all() or (q <= 0).any():
        raise ValueError(f"reference must give a positive share to each of the {c.size} classes, got {reference!r}")
    check_int("draws", draws, lo=100)
    q = q / q.sum()
    n = int(c.sum())

    def chi2(x):
        return ((x - n * q) ** 2 / (n * q)).sum(-1)
    sims = np.random.default_rng(seed).multinomial(n, q, size=draws)  # (draws, classes)
    stat = float(chi2(c))
    return stat, float((chi2(sims) >= stat - 1e-9).mean())


def class_histogram_reading(counts, reference, label: str = "samples", level: float = 0.95) -> str:
    r"""One paragraph that reads a class histogram with its uncertainty: n, the width of a 10 % class's interval at
    this n, the \chi^2 test against ``reference`` (:func:`coverage_test`), and what may be concluded from it:
    consistent with the reference at this n, or which classes lie furthest from their reference share."""
    c = _counts(counts)
    sh = class_shares(c, level)
    chi2, p = coverage_test(c, reference)
    q = np.asarray(reference, dtype=float)
    q = q / q.sum()
    n = sh["n"]
    typical = class_shares(np.array([round(0.1 * n), n - round(0.1 * n)]), level)
    width = 100 * (typical["hi"][0] - typical["lo"][0]) / 2
    names = FASHION_CLASSES if c.size == len(FASHION_CLASSES) else [str(k) for k in range(c.size)]

    def cls(k):
        return (f"{names[k]} {100 * sh['share'][k]:.0f} % (interval {100 * sh['lo'][k]:.0f}–{100 * sh['hi'][k]:.0f} %, "
                f"reference {100 * q[k]:.0f} %)")
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    head = (f"{label}, n = {n}: each bar's {100 * level:.0f} % interval (Wilson) spans about "
            f"±{width:.{0 if width >= 3 else 1}f} percentage points around a 10 % share at this n. Against the "
            f"reference shares: χ² = {chi2:.1f}, {p_text} (the chance that {n} samples drawn from the reference "
            f"scatter at least this much).")
    z = (sh["share"] - q) / np.sqrt(q * (1 - q) / n)  # how far each class lies, in standard errors
    far = [int(k) for k in np.argsort(-np.abs(z))[:2]]
    if p >= 0.05:
        return (f"{head} At this n the histogram is **consistent with the reference**: even the classes furthest from "
                f"their share, {cls(far[0])} and {cls(far[1])}, lie within what {n} samples scatter. No class can be "
                f"called missing or over-produced from these {n} samples.")
    return (f"{head} The histogram **differs from the reference** by more than {n} samples explain; furthest from "
            f"their share: {cls(far[0])} and {cls(far[1])}.")
