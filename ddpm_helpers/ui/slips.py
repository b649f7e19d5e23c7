r"""The slips of the series' formulas that the exercises of more than one notebook name, written once.

* :data:`SHIFT_BACK`, :data:`SHIFT_ON`: the index slips of 0-indexed t (``[t-1]`` or ``[t+1]`` where ``[t]``
  belongs), named by the checks of notebooks 01-03.
* :func:`mean_terms`, :data:`MEAN_NAMED`: the posterior mean of one reverse step (Ho et al. 2020, eq. 11) as
  terms with their slips, for :func:`~ddpm_helpers.ui.checking.term_slips` (notebooks 03 and 05).

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    beta_t, alpha_t       betas[t], alphas[t]
    \bar\alpha_t          alpha_bars[t]
    \hat\epsilon          eps_hat                      the model's noise estimate
"""
from __future__ import annotations

import math
from collections.abc import Callable

from .checking import HALF_POWER, Term

__all__ = ["SHIFT_BACK", "SHIFT_ON", "MEAN_NAMED", "mean_terms"]

r = math.sqrt

SHIFT_BACK = ("Index t-1 where t belongs: with 0-indexed t, alpha_bars[t] already includes step t, and at t = 0, "
              "[t-1] wraps around to [-1], the LAST step.")
SHIFT_ON = "Index t+1 where t belongs: alpha_bars[t] already includes step t, and at t = T-1, [t+1] is out of range."

_ALL_STEPS = ("1/√ᾱ_t where 1/√α_t belongs: one reverse step undoes ONE forward step (α_t), not all of them (ᾱ_t).")
_ALL_NOISE = "√(1-ᾱ_t)·ε̂ is what x̂_0 removes (all the noise); one reverse step removes β_t/√(1-ᾱ_t)·ε̂."
MEAN_NAMED = {f"{_ALL_STEPS} {_ALL_NOISE}":
              "You returned x̂_0 = (x_t - √(1-ᾱ_t)·ε̂)/√ᾱ_t: the whole predicted noise subtracted in one step. One "
              "reverse step removes only β_t/√(1-ᾱ_t)·ε̂ and rescales by 1/√α_t."}
"""Two slips of :func:`mean_terms` that together make a known formula, named as one."""


def mean_terms(sym: Callable) -> dict[str, Term]:
    r"""The posterior mean 1/\sqrt{alpha_t} (x_t - beta_t/\sqrt{1 - \bar\alpha_t} \hat\epsilon) (Ho et al. 2020,
    eq. 11) as two terms with their slips: ``scale`` (1/\sqrt{alpha_t}) and ``eps`` (beta_t/\sqrt{1 - \bar\alpha_t});
    ``sym(*case)`` gives the case's (beta_t, alpha_t, alpha_bar_t) as floats. Notebooks 03 and 05 check it."""
    def on(f):
        return lambda *case: f(*sym(*case))
    scale = Term(on(lambda b, a, ab: 1 / r(a)), [
        (on(lambda b, a, ab: 1.0), "Missing the 1/√α_t rescaling: the forward step shrank x by √α_t, so the reverse "
                                   "step must divide by it."),
        (on(lambda b, a, ab: 1 / r(ab)), _ALL_STEPS),
        (on(lambda b, a, ab: 1 / a), "Missing square root: divide by √α_t, not by α_t."),
        (on(lambda b, a, ab: r(a)), "Divide by √α_t, do not multiply: the forward step shrank x by √α_t."),
        (on(lambda b, a, ab: 1 / (2 * a)), HALF_POWER)])  # x / a ** 1/2 is x / a / 2
    eps = Term(on(lambda b, a, ab: b / r(1 - ab)), [
        (on(lambda b, a, ab: 1.0), "You subtracted the whole predicted noise ε̂. One step removes only the fraction "
                                   "β_t/√(1-ᾱ_t) of it; ε̂ is the noise accumulated over ALL steps up to t."),
        (on(lambda b, a, ab: b / (1 - ab)), "Missing square root: the noise coefficient is β_t/√(1-ᾱ_t), not "
                                            "β_t/(1-ᾱ_t)."),
        (on(lambda b, a, ab: r(1 - ab)), _ALL_NOISE),
        (on(lambda b, a, ab: b / r(1 - a)), "β_t/√(1-α_t) (= √β_t) where β_t/√(1-ᾱ_t) belongs: the noise in x_t has "
                                            "variance 1-ᾱ_t (all steps up to t), not 1-α_t (one step)."),
        (on(lambda b, a, ab: -b / r(1 - ab)), "Wrong sign of the noise term: SUBTRACT the scaled noise estimate, "
                                              "x_t - β_t/√(1-ᾱ_t)·ε̂ (adding it pushes x further into the noise)."),
        (on(lambda b, a, ab: b / r(ab)), "The noise coefficient is β_t/√(1-ᾱ_t), not β_t/√ᾱ_t."),
        (on(lambda b, a, ab: r(b) / r(1 - ab)), "β_t, not √β_t, over √(1-ᾱ_t) in the noise coefficient."),
        (on(lambda b, a, ab: a / r(1 - ab)), "β_t, not α_t, over √(1-ᾱ_t) in the noise coefficient."),
        (on(lambda b, a, ab: b / (2 * (1 - ab))), HALF_POWER)])  # b / (1 - ab) ** 1/2 is b / (1 - ab) / 2
    return {"scale": scale, "eps": eps}
