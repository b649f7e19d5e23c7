r"""Self-checks for the notebooks' exercises.

Each ``check_*`` takes the student's function (or value), runs it on random inputs, compares it
with ``ddpm_helpers`` and, when it differs, with the typical mistaken versions, and prints in
words what is wrong. It returns True or False and never raises on a wrong answer. An exercise
not yet solved (the student edition's stub raises ``NotImplementedError``, or a value is still
``None``) is reported as "not solved yet".

Notation as in ``schedules``: 0-indexed t, alpha_bars[t] = prod_{s<=t} (1 - betas[s]).
"""
from __future__ import annotations

import math

import torch

from .core.forward import forward_step, q_sample
from .core.reverse import ddpm_step, predict_x0
from .core.schedules import NoiseSchedule

__all__ = ["check_forward_step", "check_signal_left", "check_q_sample", "check_two_steps",
           "check_reverse_step", "check_predict_x0"]

_NOT_SOLVED = "Not solved yet: write your answer in the solution cell above, run it, then run this check again."


def _say(ok: bool, msg: str) -> bool:
    print(("✅ Correct. " if ok else "❌ ") + msg)
    return ok


def _run(fn, args):
    """Call the student's function: ("ok", value) or ("error", exception)."""
    try:
        out = fn(*args)
    except NotImplementedError as e:
        return "todo", e
    except Exception as e:  # a student's bug is reported, not raised
        return "error", e
    if isinstance(out, tuple) and len(out) >= 1 and isinstance(out[0], torch.Tensor):
        out = out[0]  # q_sample-style (x_t, noise)
    return "ok", out


def _close(a, b, rtol=1e-4, atol=1e-5) -> bool:
    try:
        a = torch.as_tensor(a, dtype=torch.float64, device="cpu")
        b = torch.as_tensor(b, dtype=torch.float64, device="cpu")
    except Exception:
        return False
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def _same(student_results, variant, cases) -> bool:
    """Does a mistaken ``variant`` reproduce the student on every case (raising where they raise)?"""
    for (status, out), args in zip(student_results, cases):
        try:
            v = variant(*args)
        except Exception:
            if status != "error":
                return False
            continue
        if status != "ok" or not _close(out, v):
            return False
    return True


def _check_function(fn, name: str, cases, reference, mistakes, hint_on_error: str = "",
                    accepted=()) -> bool:
    """The shared engine: run ``fn`` on ``cases``; compare with ``reference``; else name the mistake.

    ``mistakes`` and ``accepted`` are lists of ``(variant_fn, message)``; an accepted variant is a
    different but valid answer (reported, returns True).
    """
    if not callable(fn):
        if fn is None:
            return _say(False, _NOT_SOLVED)
        return _say(False, f"{name} must be a function, got {type(fn).__name__}.")
    results = [_run(fn, args) for args in cases]
    if any(s == "todo" for s, _ in results):
        return _say(False, _NOT_SOLVED)
    if all(s == "ok" for s, _ in results) and all(
            _close(out, reference(*args)) for (_, out), args in zip(results, cases)):
        return _say(True, f"{name} matches ddpm_helpers on {len(cases)} random test cases.")
    for variant, msg in accepted:
        if _same(results, variant, cases):
            return _say(True, msg)
    for variant, msg in mistakes:
        if _same(results, variant, cases):
            return _say(False, msg)
    errors = [(e, args) for (s, e), args in zip(results, cases) if s == "error"]
    if errors:
        e, _ = errors[0]
        return _say(False, f"{name} raised {type(e).__name__}: {e}. {hint_on_error}".strip())
    for (s, out), args in zip(results, cases):
        ref = reference(*args)
        out_t = torch.as_tensor(out) if not isinstance(out, torch.Tensor) else out
        if tuple(out_t.shape) != tuple(ref.shape):
            return _say(False, f"{name} returned shape {tuple(out_t.shape)}, expected {tuple(ref.shape)} "
                               f"(the input's shape). {hint_on_error}".strip())
        if not _close(out, ref):
            diff = (out_t.double() - ref.double()).abs().max().item()
            return _say(False, f"{name} does not match ddpm_helpers (largest difference {diff:.3g}) and none "
                               f"of the usual mistakes explains it. Compare term by term with the equation above.")
    return _say(False, f"{name} does not match ddpm_helpers.")


# --- notebooks 01-03 ---
def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def check_forward_step(fn) -> bool:
    r"""Notebook 01. ``fn(x_prev, beta_t, noise) -> x_t`` must implement Ho et al. 2020, eq. 2:
    x_t = \sqrt{1 - beta_t} x_{t-1} + \sqrt{beta_t} \epsilon, with ``beta_t`` a float."""
    g = _gen(1)
    cases = [(torch.randn(4, 1, 6, 6, generator=g), b, torch.randn(4, 1, 6, 6, generator=g)) for b in (0.3, 0.05)]
    cases.append((torch.randn(5, 2, generator=g), 0.6, torch.randn(5, 2, generator=g)))

    def reference(x, b, n):
        return forward_step(x, 0, NoiseSchedule.from_betas([b]), noise=n)

    r = math.sqrt
    mistakes = [
        (lambda x, b, n: r(1 - b) * x + b * n,
         "The noise is scaled by β_t, but β_t is its VARIANCE: scale ε by √β_t (missing square root on β_t)."),
        (lambda x, b, n: x + r(b) * n,
         "x_{t-1} is not shrunk: multiply it by √(1-β_t). Without the shrink the variance grows by β_t "
         "every step and never settles at 1 (see the exploding-variance plot)."),
        (lambda x, b, n: (1 - b) * x + r(b) * n,
         "The shrink is (1-β_t) but must be √(1-β_t) (missing square root): the variance then drifts "
         "below 1 instead of settling at 1."),
        (lambda x, b, n: r(1 - b) * x + n,
         "The noise is not scaled: ε must be multiplied by √β_t (wrong noise scale)."),
        (lambda x, b, n: r(b) * x + r(1 - b) * n,
         "The two coefficients are swapped: x_{t-1} gets √(1-β_t) and the noise gets √β_t."),
        (lambda x, b, n: r(1 - b) * x - r(b) * n,
         "You subtracted the noise. In distribution that is the same (ε and -ε are both N(0, I)), but "
         "with the given noise the formula is x_t = √(1-β_t) x_{t-1} + √β_t ε."),
    ]
    return _check_function(fn, "your forward step", cases, reference, mistakes)


def check_signal_left(fn) -> bool:
    r"""Notebook 01. ``fn(T, beta_start, beta_end) -> float``: the fraction of x_0 left at the last
    step of a linear schedule, \sqrt{\bar\alpha_{T-1}} (0-indexed; the paper's \sqrt{\bar\alpha_T})."""
    cases = [(300, 1e-4, 0.02), (10, 0.1, 0.3), (5, 0.2, 0.4)]

    def ab(T, b0, b1):
        return torch.cumprod(1 - torch.linspace(b0, b1, T, dtype=torch.float64), 0)

    def reference(T, b0, b1):
        return NoiseSchedule.linear(T, b0, b1).alpha_bars.double()[-1].sqrt()

    mistakes = [
        (lambda T, b0, b1: ab(T, b0, b1)[-1],
         "You returned ᾱ_T itself; the fraction of the image left (the coefficient of x_0) is √ᾱ_T."),
        (lambda T, b0, b1: (1 - ab(T, b0, b1)[-1]).sqrt(),
         "You returned √(1-ᾱ_T), the NOISE coefficient; the signal left is √ᾱ_T."),
        (lambda T, b0, b1: torch.tensor(1 - b1, dtype=torch.float64).sqrt(),
         "You used the last α_T = 1-β_T alone; the signal left is the square root of the PRODUCT of all "
         "α_s, s = 1..T (ᾱ_T)."),
        (lambda T, b0, b1: ab(T, b0, b1)[-2].sqrt() if T > 1 else torch.tensor(1.0, dtype=torch.float64),
         "Off by one: your product stops one step early (T-1 factors). ᾱ_T multiplies all T of the α_s."),
        (lambda T, b0, b1: (1 - torch.linspace(b0, b1, T, dtype=torch.float64).sum()).clamp(min=0).sqrt(),
         "You subtracted the summed betas; ᾱ_T is a product ∏(1-β_s), not 1 - Σβ_s."),
    ]
    return _check_function(fn, "your signal fraction", cases, reference, mistakes)


def check_q_sample(fn) -> bool:
    r"""Notebook 02. ``fn(x0, t, sched, noise) -> x_t`` must implement Ho et al. 2020, eq. 4:
    x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon, with ``t`` a (B,) long tensor
    (one timestep per item) broadcast over any trailing shape."""
    g = _gen(2)
    lin, cos = NoiseSchedule.linear(300), NoiseSchedule.cosine(200)
    cases = [
        (torch.randn(4, 1, 5, 4, generator=g), torch.tensor([3, 40, 170, 299]), lin, torch.randn(4, 1, 5, 4, generator=g)),
        (torch.randn(6, 2, generator=g), torch.tensor([0, 10, 50, 100, 200, 299]), lin, torch.randn(6, 2, generator=g)),
        (torch.randn(3, 1, 4, 4, generator=g), torch.tensor([5, 99, 190]), cos, torch.randn(3, 1, 4, 4, generator=g)),
    ]

    def reference(x0, t, s, n):
        return q_sample(x0, t, s, noise=n)[0]

    def col(v, x):  # (B,) -> (B, 1, ..., 1)
        return v.reshape(-1, *([1] * (x.ndim - 1)))

    mistakes = [
        (lambda x0, t, s, n: s.alpha_bars[t] ** 0.5 * x0 + (1 - s.alpha_bars[t]) ** 0.5 * n,
         "t is broadcast over the wrong axis: alpha_bars[t] has shape (B,), and multiplying it with a "
         "(B, 1, H, W) tensor lines it up with the LAST axis (width), not the batch. Reshape it to "
         "(B, 1, 1, 1) first, e.g. a = sched.alpha_bars[t].reshape(-1, *[1] * (x0.ndim - 1))."),
        (lambda x0, t, s, n: col(s.alpha_bars[t], x0) * x0 + col(1 - s.alpha_bars[t], x0) * n,
         "Missing square roots: the coefficients are √ᾱ_t and √(1-ᾱ_t) (ᾱ_t and 1-ᾱ_t are variances)."),
        (lambda x0, t, s, n: col(s.alpha_bars[t], x0) * x0 + col(1 - s.alpha_bars[t], x0).sqrt() * n,
         "Missing square root on ᾱ_t in front of x_0: the coefficient is √ᾱ_t."),
        (lambda x0, t, s, n: col(s.alpha_bars[t], x0).sqrt() * x0 + col(1 - s.alpha_bars[t], x0) * n,
         "Missing square root on the noise coefficient: it is √(1-ᾱ_t)."),
        (lambda x0, t, s, n: col(s.alphas[t], x0).sqrt() * x0 + col(1 - s.alphas[t], x0).sqrt() * n,
         "You used α_t (one step) instead of ᾱ_t (the product over all steps up to t): that is a single "
         "forward step, not the jump from x_0."),
        (lambda x0, t, s, n: col(s.alpha_bars_prev[t], x0).sqrt() * x0 + col(1 - s.alpha_bars_prev[t], x0).sqrt() * n,
         "Off by one: you used ᾱ_{t-1} (alpha_bars_prev). With 0-indexed t, alpha_bars[t] already "
         "includes step t."),
        (lambda x0, t, s, n: col(s.alpha_bars[t], x0).sqrt() * x0 + col(s.alpha_bars[t], x0).sqrt() * n,
         "The noise coefficient is √(1-ᾱ_t), not √ᾱ_t."),
    ]
    hint = ("If it is a shape error: alpha_bars[t] has shape (B,); reshape it to (B, 1, ..., 1) so it "
            "broadcasts over the batch axis, e.g. .reshape(-1, *[1] * (x0.ndim - 1)).")
    return _check_function(fn, "your q_sample", cases, reference, mistakes, hint_on_error=hint)


def check_two_steps(fn) -> bool:
    r"""Notebook 02. ``fn(beta_1, beta_2) -> (mean_coef, std)`` such that two forward steps give
    x_2 = mean_coef x_0 + std \epsilon in distribution:
    mean_coef = \sqrt{alpha_1 alpha_2}, std = \sqrt{1 - alpha_1 alpha_2}."""
    if fn is None:
        return _say(False, _NOT_SOLVED)
    pairs = [(0.1, 0.3), (0.02, 0.5), (0.4, 0.2)]
    ans = []
    for b1, b2 in pairs:
        status, out = _run(fn, (b1, b2))
        if status == "todo":
            return _say(False, _NOT_SOLVED)
        if status == "error":
            return _say(False, f"your function raised {type(out).__name__}: {out}")
        try:
            m, s = (float(v) for v in out)
        except Exception:
            return _say(False, f"return a pair (mean_coef, std) of numbers, got {out!r}")
        ans.append((m, s))
    r = math.sqrt
    mean_ok = all(math.isclose(m, r((1 - b1) * (1 - b2)), rel_tol=1e-4) for (m, _), (b1, b2) in zip(ans, pairs))
    std_ok = all(math.isclose(s, r(1 - (1 - b1) * (1 - b2)), rel_tol=1e-4) for (_, s), (b1, b2) in zip(ans, pairs))
    if mean_ok and std_ok:
        return _say(True, "two steps are one Gaussian jump with mean √(α₁α₂) x₀ and variance 1 - α₁α₂.")
    msgs = []
    if not mean_ok:
        if all(math.isclose(m, (1 - b1) * (1 - b2), rel_tol=1e-4) for (m, _), (b1, b2) in zip(ans, pairs)):
            msgs.append("mean_coef: missing square root, it is √α₁·√α₂ = √(α₁α₂).")
        elif all(math.isclose(m, r(1 - b2), rel_tol=1e-4) for (m, _), (b1, b2) in zip(ans, pairs)):
            msgs.append("mean_coef: both steps shrink x₀, so it is √α₂·√α₁, not √α₂ alone.")
        else:
            msgs.append("mean_coef is wrong: x₀ is shrunk by √α₁ in step 1 and by √α₂ in step 2.")
    if not std_ok:
        checks = [
            (lambda b1, b2: r(b2) + r(1 - b2) * r(b1),
             "std: you added the standard deviations; for independent Gaussians the VARIANCES add: "
             "α₂β₁ + β₂ = 1 - α₁α₂, then take the square root."),
            (lambda b1, b2: r(b1 + b2),
             "std: the first step's noise is shrunk by √α₂ in step 2, so its variance is α₂β₁, not β₁."),
            (lambda b1, b2: 1 - (1 - b1) * (1 - b2),
             "std: you returned the variance 1 - α₁α₂; the standard deviation is its square root."),
        ]
        for f, msg in checks:
            if all(math.isclose(s, f(b1, b2), rel_tol=1e-4) for (_, s), (b1, b2) in zip(ans, pairs)):
                msgs.append(msg)
                break
        else:
            msgs.append("std is wrong: add the variances α₂β₁ (step 1's noise, shrunk) and β₂, then take √.")
    return _say(False, " ".join(msgs))


def check_reverse_step(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched, z) -> x_{t-1}``: Ho et al. 2020, Algorithm 2, line 4,
    x_{t-1} = 1/\sqrt{alpha_t} (x_t - beta_t/\sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z with
    \sigma_t^2 = \tilde\beta_t (posterior variance), and no noise at t = 0. ``t`` is an int.

    The cases include the boundary timesteps t = 0, 1 and T-1 (not only random ones), so the seed blog's
    slip of the paper's 1-indexed ``if t > 1`` applied to 0-indexed t (no noise at t = 1) is caught."""
    g = _gen(3)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g), t, s, torch.randn(8, 2, generator=g))
             for t in (60, 3, 0, 1, s.T - 1)]

    def reference(x, e, t, s, z):
        return ddpm_step(x, e, t, s, noise=z)

    def parts(t, s):
        b, a, ab = s.betas[t].item(), s.alphas[t].item(), s.alpha_bars[t].item()
        return b, a, ab, math.sqrt(s.posterior_variance[t].item())

    def make(mean_fn, sigma_fn=lambda t, s: parts(t, s)[3], noise_at_0=False, last_noisy=1):
        def step(x, e, t, s, z):
            b, a, ab, _ = parts(t, s)
            out = mean_fn(x, e, b, a, ab)
            if t >= last_noisy or noise_at_0:
                out = out + sigma_fn(t, s) * z
            return out
        return step

    good_mean = lambda x, e, b, a, ab: (x - b / math.sqrt(1 - ab) * e) / math.sqrt(a)  # noqa: E731
    sqrt_beta = lambda t, s: math.sqrt(s.betas[t].item())  # noqa: E731
    accepted = [(make(good_mean, sqrt_beta),
                 "You used σ_t² = β_t (Ho et al.'s other choice, 'fixed_large'). That is also valid; this "
                 "series uses the posterior variance β̃_t, so your samples will be slightly noisier.")]
    mistakes = [
        (make(lambda x, e, b, a, ab: (x + b / math.sqrt(1 - ab) * e) / math.sqrt(a)),
         "Wrong sign of the noise term: SUBTRACT the scaled noise estimate, x_t - β_t/√(1-ᾱ_t)·ε̂ "
         "(you added it, which pushes x further into the noise)."),
        (make(lambda x, e, b, a, ab: (x - e) / math.sqrt(a)),
         "You subtracted the whole predicted noise ε̂. One step removes only the fraction "
         "β_t/√(1-ᾱ_t) of it; ε̂ is the noise accumulated over ALL steps up to t."),
        (make(lambda x, e, b, a, ab: x - e),
         "You subtracted the whole predicted noise ε̂ and did not rescale by 1/√α_t. One step removes "
         "only β_t/√(1-ᾱ_t)·ε̂, then divides by √α_t."),
        (make(lambda x, e, b, a, ab: x - b / math.sqrt(1 - ab) * e),
         "Missing the 1/√α_t rescaling: the forward step shrank x by √α_t, so the reverse step must "
         "divide by it."),
        (make(good_mean, sqrt_beta, noise_at_0=True),
         "Noise added at t = 0: the last step must return the mean alone (Algorithm 2: z = 0 when t = 1 "
         "in the paper's numbering, t = 0 here), or the final samples keep a layer of noise."),
        (make(good_mean, last_noisy=2),
         "No noise added at t = 1: the noise is skipped only on the very last step, t = 0 here (0-indexed). "
         "`if t > 1` is the paper's 1-indexed rule (Algorithm 2: z = 0 when t = 1) applied to 0-indexed t, "
         "an off-by-one that drops one step of noise. Use `if t > 0`."),
        (make(good_mean, sqrt_beta, last_noisy=2),
         "No noise added at t = 1: the noise is skipped only on the very last step, t = 0 here (0-indexed). "
         "`if t > 1` is the paper's 1-indexed rule (Algorithm 2: z = 0 when t = 1) applied to 0-indexed t, "
         "an off-by-one that drops one step of noise. Use `if t > 0`."),
        (make(good_mean, lambda t, s: s.posterior_variance[t].item()),
         "σ_t is the standard DEVIATION: use √β̃_t (sqrt of posterior_variance[t]), not β̃_t."),
        (make(good_mean, lambda t, s: 0.0),
         "No noise added: for t > 0 add σ_t z with σ_t = √β̃_t. Without it, sampling collapses toward "
         "the mean (too little spread)."),
    ]
    return _check_function(fn, "your reverse step", cases, reference, mistakes, accepted=accepted)


def check_predict_x0(fn) -> bool:
    r"""Notebook 03. ``fn(x_t, eps_hat, t, sched) -> x0_hat``: the closed form solved for x_0,
    \hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t}, ``t`` an int."""
    g = _gen(4)
    s = NoiseSchedule.linear(100)
    cases = [(torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g), t, s)
             for t in (70, 20, 1, 0, s.T - 1)]  # the boundary timesteps 0, 1, T-1 included

    def reference(x, e, t, s):
        return predict_x0(x, e, t, s)

    def ab(t, s):
        return s.alpha_bars[t].item()

    mistakes = [
        (lambda x, e, t, s: x - e,
         "x₀ = x_t - ε̂ is the classic blunder: x_t is √ᾱ_t x₀ + √(1-ᾱ_t) ε, so remove √(1-ᾱ_t)·ε̂ "
         "and then divide by √ᾱ_t."),
        (lambda x, e, t, s: (x - e) / math.sqrt(ab(t, s)),
         "The noise enters x_t scaled by √(1-ᾱ_t): subtract √(1-ᾱ_t)·ε̂, not ε̂."),
        (lambda x, e, t, s: x - math.sqrt(1 - ab(t, s)) * e,
         "Missing the division by √ᾱ_t: x₀ was shrunk by √ᾱ_t on the way in."),
        (lambda x, e, t, s: (x - math.sqrt(1 - s.alphas[t].item()) * e) / math.sqrt(s.alphas[t].item()),
         "You used α_t (one step) instead of ᾱ_t (all steps up to t)."),
        (lambda x, e, t, s: (x + math.sqrt(1 - ab(t, s)) * e) / math.sqrt(ab(t, s)),
         "Wrong sign: SUBTRACT the noise √(1-ᾱ_t)·ε̂ from x_t."),
        (lambda x, e, t, s: (x - (1 - ab(t, s)) * e) / ab(t, s),
         "Missing square roots: the coefficients are √ᾱ_t and √(1-ᾱ_t)."),
    ]
    return _check_function(fn, "your predict_x0", cases, reference, mistakes)


# --- notebooks 05-06 ---
# 05: the Gaussian KL, the posterior mean through the noise, the ELBO weight w_t.
# 06: DDIM's sigma_t, the DDIM update, slerp.
__all__ += ["check_gaussian_kl", "check_posterior_mean_eps", "check_elbo_weight", "check_ddim_sigma",
            "check_ddim_update", "check_slerp"]


def _f64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _kl_ref(m1, v1, m2, v2):
    m1, v1, m2, v2 = (_f64(a) for a in (m1, v1, m2, v2))
    return 0.5 * (torch.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1)


def check_gaussian_kl(fn) -> bool:
    r"""Notebook 05. ``fn(mean1, var1, mean2, var2)`` must return D_KL(N(mean1, var1) || N(mean2, var2))
    = 1/2 [log(var2/var1) + (var1 + (mean1 - mean2)^2)/var2 - 1] (floats or tensors, elementwise)."""
    cases = [(0.3, 0.5, -0.2, 1.3), (0.0, 1.0, 0.0, 2.0), (2.0, 0.1, -1.0, 4.0), (1.0, 2.0, 1.5, 0.7),
             (torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.25]), torch.tensor([0.5, 1.0]), torch.tensor([2.0, 0.25]))]
    mistakes = [
        (lambda m1, v1, m2, v2: _kl_ref(m2, v2, m1, v1),
         "You computed D_KL(N2 || N1): the arguments are swapped. The KL is not symmetric; the expectation is "
         "under the FIRST Gaussian, so var1 sits in the numerator of the trace term and of the log's denominator."),
        (lambda m1, v1, m2, v2: _kl_ref(m1, v1, m2, v2) + 0.5,
         "The -1 inside the bracket is missing: the KL of a Gaussian with itself must be 0."),
        (lambda m1, v1, m2, v2: 2 * _kl_ref(m1, v1, m2, v2),
         "Twice too large: the whole bracket is multiplied by 1/2."),
        (lambda m1, v1, m2, v2: _kl_ref(m1, v1, m2, v2) - 0.25 * torch.log(_f64(v2) / _f64(v1)),
         "The log term is halved twice: 1/2 log(var2/var1) = log(sigma2/sigma1); use one form, not both."),
        (lambda m1, v1, m2, v2: 0.5 * (torch.log(_f64(v2) / _f64(v1)) + (_f64(v1).sqrt() + (_f64(m1) - m2) ** 2) / v2 - 1),
         "The trace term needs the variance var1, not the standard deviation sqrt(var1) (missing square)."),
    ]
    return _check_function(fn, "your Gaussian KL", cases, _kl_ref, mistakes)


def _mu_ref(x_t, eps, beta, alpha, alpha_bar):
    return (x_t.double() - beta / math.sqrt(1 - alpha_bar) * eps.double()) / math.sqrt(alpha)


def check_posterior_mean_eps(fn) -> bool:
    r"""Notebook 05. ``fn(x_t, eps, beta_t, alpha_t, alpha_bar_t)`` must return Ho et al. 2020, eq. 11:
    1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) (tensors x_t, eps; floats for the rest)."""
    g = _gen(51)
    cases = [(torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g), b, 1 - b, ab)
             for b, ab in ((0.02, 0.3), (0.004, 0.8), (0.015, 0.05))]
    r = math.sqrt
    mistakes = [
        (lambda x, e, b, a, ab: (x + b / r(1 - ab) * e) / r(a),
         "Wrong sign on the noise term: the mean SUBTRACTS beta_t / sqrt(1 - alpha_bar_t) * eps."),
        (lambda x, e, b, a, ab: (x - b / (1 - ab) * e) / r(a),
         "Missing square root: the noise coefficient is beta_t / sqrt(1 - alpha_bar_t), not beta_t / (1 - alpha_bar_t)."),
        (lambda x, e, b, a, ab: (x - b / r(1 - ab) * e) / a,
         "Missing square root: divide by sqrt(alpha_t), not by alpha_t."),
        (lambda x, e, b, a, ab: (x - b / r(1 - ab) * e) / r(ab),
         "You divided by sqrt(alpha_bar_t); one reverse step undoes ONE forward step, so it is 1/sqrt(alpha_t)."),
        (lambda x, e, b, a, ab: (x - r(1 - ab) * e) / r(ab),
         "You returned x0_hat: the whole predicted noise subtracted in one step. The posterior mean removes only "
         "beta_t / sqrt(1 - alpha_bar_t) of the noise and rescales by 1/sqrt(alpha_t)."),
        (lambda x, e, b, a, ab: x - b / r(1 - ab) * e,
         "The rescaling by 1/sqrt(alpha_t) is missing."),
    ]
    return _check_function(fn, "your posterior mean", cases, _mu_ref, mistakes)


def _w_ref(beta, alpha, alpha_bar, sigma2):
    return _f64(beta**2 / (2 * sigma2 * alpha * (1 - alpha_bar)))


def check_elbo_weight(fn) -> bool:
    r"""Notebook 05. ``fn(beta_t, alpha_t, alpha_bar_t, sigma2_t)`` must return Ho et al. 2020, eq. 12:
    w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)) (floats)."""
    cases = [(0.02, 0.98, 0.3, 0.015), (1e-3, 0.999, 0.9, 5e-4), (0.01, 0.99, 0.05, 0.01), (0.3, 0.7, 0.01, 0.2)]
    mistakes = [
        (lambda b, a, ab, s2: _f64(b**2 / (s2 * a * (1 - ab))),
         "Twice too large: the Gaussian KL contributes 1 / (2 sigma_t^2), with the 2."),
        (lambda b, a, ab, s2: _f64(b / (2 * s2 * a * (1 - ab))),
         "beta_t must be squared: the noise coefficient beta_t / sqrt(alpha_t (1 - alpha_bar_t)) of the mean enters squared."),
        (lambda b, a, ab, s2: _f64(b**2 / (2 * s2 * ab * (1 - ab))),
         "alpha_bar_t where alpha_t belongs: the 1/sqrt(alpha_t) of the mean, squared, gives 1/alpha_t."),
        (lambda b, a, ab, s2: _f64(b**2 / (2 * s2 * a * math.sqrt(1 - ab))),
         "(1 - alpha_bar_t) must not be square-rooted: it is the square of the mean's 1/sqrt(1 - alpha_bar_t)."),
        (lambda b, a, ab, s2: _f64(b**2 / (2 * math.sqrt(s2) * a * (1 - ab))),
         "Divide by the variance sigma_t^2, not by the standard deviation sigma_t."),
        (lambda b, a, ab, s2: _f64(2 * s2 * a * (1 - ab) / b**2),
         "Upside down: w_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))."),
    ]
    return _check_function(fn, "your w_t", cases, _w_ref, mistakes)


def _sigma_ref(ab, ab_prev, eta):
    return _f64(eta * math.sqrt((1 - ab_prev) / (1 - ab)) * math.sqrt(1 - ab / ab_prev))


def check_ddim_sigma(fn) -> bool:
    r"""Notebook 06. ``fn(alpha_bar_t, alpha_bar_prev, eta)`` must return Song et al. 2021, eq. 16:
    sigma_t = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev) (floats)."""
    cases = [(0.3, 0.5, 1.0), (0.05, 0.3, 0.5), (0.9, 0.95, 1.0), (0.2, 0.6, 0.0), (0.01, 0.02, 0.5), (0.5, 1.0, 0.5)]
    r = math.sqrt
    mistakes = [
        (lambda ab, abp, eta: _sigma_ref(ab, abp, 1.0),
         "eta is ignored: sigma_t must scale with eta, and be 0 at eta = 0 (deterministic DDIM)."),
        (lambda ab, abp, eta: _sigma_ref(ab, abp, eta) ** 2,
         "That is sigma_t^2, the variance; return the standard deviation sigma_t (missing square root)."),
        (lambda ab, abp, eta: eta * _sigma_ref(ab, abp, eta),
         "eta enters once, linearly: it scales sigma_t, not sigma_t^2."),
        (lambda ab, abp, eta: _f64(eta * r((1 - ab) / (1 - abp)) * r(1 - ab / abp)),
         "The first ratio is upside down: sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)), which is below 1."),
        (lambda ab, abp, eta: _f64(eta * r((1 - abp) / (1 - ab))),
         "The second factor sqrt(1 - alpha_bar_t / alpha_bar_prev) is missing."),
    ]
    return _check_function(fn, "your sigma_t", cases, _sigma_ref, mistakes,
                           hint_on_error="A math domain error means a square root of a negative number: inside "
                                         "the second root it is 1 - alpha_bar_t / alpha_bar_prev (>= 0, since "
                                         "alpha_bar decreases with t), not 1 - alpha_bar_prev / alpha_bar_t.")


def _ddim_ref(x_t, eps, ab, ab_prev, sigma, z):
    x0 = (x_t.double() - math.sqrt(1 - ab) * eps.double()) / math.sqrt(ab)
    return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sigma**2) * eps.double() + sigma * z.double()


def check_ddim_update(fn) -> bool:
    r"""Notebook 06. ``fn(x_t, eps, alpha_bar_t, alpha_bar_prev, sigma_t, z)`` must return Song et al. 2021,
    eq. 12: sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z, with
    x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    g = _gen(61)
    cases = []
    for ab, abp, eta in ((0.3, 0.5, 1.0), (0.05, 0.4, 0.5), (0.7, 0.9, 0.3)):
        s = float(_sigma_ref(ab, abp, eta))
        cases.append((torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g), ab, abp, s,
                      torch.randn(2, 1, 3, 3, generator=g)))
    r = math.sqrt

    def x0(x, e, ab):
        return (x - r(1 - ab) * e) / r(ab)

    mistakes = [
        (lambda x, e, ab, abp, s, z: r(abp) * x0(x, e, ab) + r(1 - abp) * e + s * z,
         "The direction term must be sqrt(1 - alpha_bar_prev - sigma_t^2) * eps: the fresh noise sigma_t z takes "
         "its share of the variance, otherwise the result is too noisy."),
        (lambda x, e, ab, abp, s, z: r(abp) * (x + r(1 - ab) * e) / r(ab) + r(1 - abp - s**2) * e + s * z,
         "Wrong sign of the noise in x0_hat: x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."),
        (lambda x, e, ab, abp, s, z: r(abp) * x + r(1 - abp - s**2) * e + s * z,
         "You scaled x_t itself; the first term is sqrt(alpha_bar_prev) times the PREDICTED x0_hat."),
        (lambda x, e, ab, abp, s, z: abp * x0(x, e, ab) + r(1 - abp - s**2) * e + s * z,
         "Missing square root: the first term is sqrt(alpha_bar_prev) * x0_hat."),
        (lambda x, e, ab, abp, s, z: r(abp) * x0(x, e, ab) + r(1 - abp - s**2) * e,
         "The fresh noise sigma_t * z is missing (it vanishes only at eta = 0)."),
        (lambda x, e, ab, abp, s, z: x0(x, e, ab),
         "You returned x0_hat: the whole predicted noise subtracted in one step. DDIM moves to the noise level "
         "alpha_bar_prev: it re-adds the direction sqrt(1 - alpha_bar_prev - sigma_t^2) eps (and sigma_t z)."),
    ]
    return _check_function(fn, "your DDIM update", cases, _ddim_ref, mistakes)


def _omega(z0, z1):
    return torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))


def _slerp_ref(z0, z1, alpha):
    om = _omega(z0.double(), z1.double())
    return (torch.sin((1 - alpha) * om) * z0.double() + torch.sin(alpha * om) * z1.double()) / torch.sin(om)


def check_slerp(fn) -> bool:
    r"""Notebook 06. ``fn(z0, z1, alpha)`` for two 1-D vectors must return
    sin((1 - alpha) Omega) / sin(Omega) z0 + sin(alpha Omega) / sin(Omega) z1, cos(Omega) = z0.z1 / (|z0| |z1|)."""
    g = _gen(62)
    cases = [(torch.randn(16, generator=g, dtype=torch.float64), torch.randn(16, generator=g, dtype=torch.float64), a)
             for a in (0.25, 0.5, 0.9)]
    mistakes = [
        (lambda z0, z1, a: (1 - a) * z0 + a * z1,
         "That is the straight line (lerp): between two Gaussian noises its midpoint is about 1/sqrt(2) too "
         "short, a noise level the model never saw. Follow the arc instead."),
        (lambda z0, z1, a: _slerp_ref(z1, z0, a), "The weights are swapped: alpha = 0 must give z0 and alpha = 1 z1."),
        (lambda z0, z1, a: _slerp_ref(z0, z1, a) * torch.sin(_omega(z0, z1)),
         "Divide both sine weights by sin(Omega)."),
        (lambda z0, z1, a: (torch.sin((1 - a) * torch.arccos((z0 @ z1).clamp(-1, 1))) * z0
                            + torch.sin(a * torch.arccos((z0 @ z1).clamp(-1, 1))) * z1)
         / torch.sin(torch.arccos((z0 @ z1).clamp(-1, 1))),
         "The angle needs the normalised dot product: cos(Omega) = z0.z1 / (|z0| |z1|)."),
    ]
    return _check_function(fn, "your slerp", cases, _slerp_ref, mistakes)


# --- notebook 04 ---
def check_sinusoidal_embedding(fn) -> bool:
    r"""Notebook 04, exercise 1: ``fn(t, dim)`` must return the sinusoidal embedding (B, dim):

        emb[:, i] = sin(t f_i),  emb[:, dim/2 + i] = cos(t f_i),  f_i = 10000^{-i / (dim/2)},  i = 0..dim/2-1.

    Compares with :func:`ddpm_helpers.core.models.sinusoidal_embedding` and names the usual mistakes.
    """
    import math

    from .core.models import sinusoidal_embedding

    t, dim = torch.tensor([0, 1, 7, 250, 999]), 16
    half = dim // 2
    try:
        out = fn(t, dim)
    except NotImplementedError:
        return _say(False, _NOT_SOLVED)
    except Exception as e:  # the student's code: report, never raise
        return _say(False, f"your function raised {type(e).__name__}: {e}")
    out = torch.as_tensor(out).float()
    ref = sinusoidal_embedding(t, dim)
    if tuple(out.shape) == (dim, t.shape[0]) and torch.allclose(out.T, ref, atol=1e-4):
        return _say(False, f"the result is transposed: return shape (B, dim) = {tuple(ref.shape)}, "
                                f"one row per timestep, not {tuple(out.shape)}.")
    if tuple(out.shape) != tuple(ref.shape):
        return _say(False, f"the result must have shape (B, dim) = {tuple(ref.shape)}, got {tuple(out.shape)}.")
    if torch.allclose(out, ref, atol=1e-4):
        return _say(True, "sin in the first half, cos in the second, frequencies 10000^(-i/(dim/2)).")
    i = torch.arange(half, dtype=torch.float32)
    args = lambda f: t.float()[:, None] * f[None]  # noqa: E731
    f_ok = torch.exp(-math.log(10000.0) * i / half)
    mistakes = [
        (torch.cat([torch.cos(args(f_ok)), torch.sin(args(f_ok))], -1), "sin and cos are swapped: sin goes first."),
        (torch.stack([torch.sin(args(f_ok)), torch.cos(args(f_ok))], -1).reshape(t.shape[0], dim),
         "sin and cos are interleaved (sin, cos, sin, cos, ...); this convention puts all sines first, then all cosines."),
        (torch.cat([torch.sin(args(torch.exp(-math.log(10000.0) * i / dim))),
                    torch.cos(args(torch.exp(-math.log(10000.0) * i / dim)))], -1),
         "the frequency exponent divides by dim; it must divide by dim/2 (the number of frequencies)."),
        (torch.cat([torch.sin(args(torch.exp(math.log(10000.0) * i / half))),
                    torch.cos(args(torch.exp(math.log(10000.0) * i / half)))], -1),
         "the frequencies grow with i; they must shrink: f_i = 10000^(-i/(dim/2)) (note the minus sign)."),
        (torch.cat([torch.sin(args(torch.exp(-i / half))), torch.cos(args(torch.exp(-i / half)))], -1),
         "the base 10000 is missing: f_i = 10000^(-i/(dim/2)) = exp(-ln(10000) i / (dim/2))."),
    ]
    for wrong, msg in mistakes:
        if torch.allclose(out, wrong, atol=1e-4):
            return _say(False, msg)
    if torch.allclose(out[0], ref[0], atol=1e-4):
        return _say(False, "t = 0 is right but other timesteps differ: check the frequencies f_i.")
    return _say(False, "the values differ from the sinusoidal embedding; compare emb[:, i] = sin(t f_i) "
                            "and emb[:, dim/2 + i] = cos(t f_i).")


def check_time_injection(fn) -> bool:
    """Notebook 04, exercise 2: ``fn(h, temb)`` adds a per-channel time vector to a feature map.

    h is (B, C, H, W), temb is the projected time embedding (B, C); the answer is
    ``h + temb[:, :, None, None]``: one number per image and channel, the same at every pixel.
    The check uses B = 2, C = 3, H = W = 3, where two classic mistakes broadcast silently.
    """
    g = torch.Generator().manual_seed(0)
    h = torch.randn(2, 3, 3, 3, generator=g)
    temb = torch.randn(2, 3, generator=g)
    ref = h + temb[:, :, None, None]
    try:
        out = fn(h.clone(), temb.clone())
    except NotImplementedError:
        return _say(False, _NOT_SOLVED)
    except RuntimeError as e:
        return _say(False, f"PyTorch could not broadcast ({str(e).splitlines()[0]}). A (B, C) tensor lines "
                                "up with the LAST axes of (B, C, H, W); reshape it to (B, C, 1, 1) first.")
    except Exception as e:
        return _say(False, f"your function raised {type(e).__name__}: {e}")
    out = torch.as_tensor(out)
    if tuple(out.shape) != tuple(ref.shape):
        return _say(False, f"the result must keep h's shape {tuple(h.shape)}, got {tuple(out.shape)}.")
    if torch.allclose(out, ref, atol=1e-6):
        return _say(True, "temb[:, :, None, None] is (B, C, 1, 1): one shift per image and channel, "
                               "the same at every pixel.")
    if torch.allclose(out, h + temb[:, None, None, :], atol=1e-6):
        return _say(False, "the time vector was broadcast over the width axis (shape (B, 1, 1, C)): each "
                                "column gets a different channel's value. Use temb[:, :, None, None].")
    if torch.allclose(out, h + temb[:, None, :, None], atol=1e-6):
        return _say(False, "the time vector was broadcast over the height axis (shape (B, 1, C, 1)). "
                                "Use temb[:, :, None, None].")
    if torch.allclose(out, h * temb[:, :, None, None], atol=1e-6):
        return _say(False, "the time embedding is multiplied in; in this ResBlock it is ADDED.")
    if torch.allclose(out, h + temb.T[:, :, None, None].reshape(2, 3, 1, 1), atol=1e-6):
        return _say(False, "batch and channel axes are mixed up (temb.T?); temb is (B, C).")
    return _say(False, "the result differs from h + temb[:, :, None, None].")


def check_nearest_distance(fn) -> bool:
    """Notebook 04, exercise 3: ``fn(sample, train)`` returns the Euclidean (L2) distance from one
    image (1, H, W) to its nearest image in ``train`` (M, 1, H, W), as a float."""
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 6, 6, generator=g) * 2 - 1
    sample = torch.rand(1, 6, 6, generator=g) * 2 - 1
    d = (train - sample).flatten(1).norm(dim=1)  # (M,)
    try:
        out = fn(sample.clone(), train.clone())
    except NotImplementedError:
        return _say(False, _NOT_SOLVED)
    except Exception as e:
        return _say(False, f"your function raised {type(e).__name__}: {e}")
    try:
        v = float(torch.as_tensor(out).reshape(()))
    except (RuntimeError, ValueError, TypeError):
        return _say(False, f"return one number (the smallest distance), got {type(out).__name__} "
                                f"of shape {tuple(getattr(out, 'shape', ()))}.")
    close = lambda a: abs(v - float(a)) < 1e-4 * max(1.0, abs(float(a)))  # noqa: E731
    if close(d.min()):
        return _say(True, f"the nearest training image is {d.min():.3f} away (L2 over all pixels).")
    if close(d.min() ** 2):
        return _say(False, "that is the squared distance: take the square root (the L2 norm).")
    if close(d.argmin()):
        return _say(False, "that is the index of the nearest image; return its distance.")
    if close(d.max()):
        return _say(False, "that is the FARTHEST training image: use the minimum.")
    if close(((train - sample).flatten(1).pow(2).mean(1)).sqrt().min()):
        return _say(False, "that is the RMS difference per pixel (mean, not sum, under the root); "
                                "use the L2 norm: sqrt of the SUM of squared differences.")
    if close((train - sample).flatten(1).abs().sum(1).min()):
        return _say(False, "that is the L1 (sum of absolute differences) distance; use L2.")
    if close(d.mean()):
        return _say(False, "that is the mean distance to all training images; take the minimum.")
    return _say(False, f"expected {d.min():.4f}, got {v:.4f}.")


__all__ += ["check_sinusoidal_embedding", "check_time_injection", "check_nearest_distance"]


# --- derivation exercises (notebooks 05 and 06) ---
# Each answer is a formula in a few scalars, derived on paper; the check compares it with the closed
# form at several points (boundary values included) and names the usual slip of the derivation.
__all__ += ["check_posterior_variance", "check_eps_form_coefs", "check_w_snr_form", "check_sigma_eta1",
            "check_respaced_betas"]


def _floats(fn, n_out: int, name: str):
    """Wrap a student's function returning ``n_out`` numbers as one float64 tensor (so the shared
    engine compares every component, never only the first)."""
    if not callable(fn):
        return fn

    def wrapped(*args):
        out = fn(*args)
        if n_out == 1:
            return _f64(float(out))
        vals = [float(v) for v in out]
        if len(vals) != n_out:
            raise ValueError(f"{name} must return {n_out} numbers, got {len(vals)}")
        return _f64(vals)

    return wrapped


def _tilde_beta_ref(beta, ab_prev):
    return _f64((1 - ab_prev) / (1 - (1 - beta) * ab_prev) * beta)


def check_posterior_variance(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(beta_t, alpha_bar_prev) -> tilde beta_t`` (floats), found by completing
    the square in x_{t-1} (Ho et al. 2020, eq. 7): the precisions of the two Gaussian factors add,

        q(x_t | x_{t-1}) as a function of x_{t-1}: N(x_t / \sqrt{alpha_t}, beta_t / alpha_t),  precision alpha_t / beta_t,
        q(x_{t-1} | x_0):                          variance 1 - \bar\alpha_{t-1},              precision 1 / (1 - \bar\alpha_{t-1}),
        1 / \tilde\beta_t = alpha_t / beta_t + 1 / (1 - \bar\alpha_{t-1})
        =>  \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) beta_t,  \bar\alpha_t = alpha_t \bar\alpha_{t-1}.
    """
    cases = [(0.02, 0.5), (1e-4, 0.9999), (0.3, 0.2), (0.05, 0.01), (0.6, 0.7)]
    mistakes = [
        (lambda b, abp: _f64(1 / (1 / b + 1 / (1 - abp))),
         "You added the precision 1/beta_t for the forward factor. Read as a function of x_{t-1}, "
         "q(x_t | x_{t-1}) = N(x_t; sqrt(alpha_t) x_{t-1}, beta_t) is N(x_{t-1}; x_t / sqrt(alpha_t), beta_t / alpha_t): "
         "its precision is alpha_t / beta_t (the 1/sqrt(alpha_t) rescaling squares into the variance)."),
        (lambda b, abp: _f64(b / (1 - b) + (1 - abp)),
         "You added the VARIANCES beta_t/alpha_t and 1 - alpha_bar_{t-1}. A product of two Gaussian densities in "
         "the same variable adds the PRECISIONS: 1/tilde beta = alpha_t/beta_t + 1/(1 - alpha_bar_{t-1})."),
        (lambda b, abp: _f64(b + (1 - abp)),
         "You added the variances beta_t and 1 - alpha_bar_{t-1}. A product of Gaussian densities in x_{t-1} "
         "adds precisions (1/variances), and the forward factor's variance in x_{t-1} is beta_t/alpha_t."),
        (lambda b, abp: _f64((1 - b) / b + 1 / (1 - abp)),
         "That is the PRECISION 1/tilde beta_t; the variance is its reciprocal."),
        (lambda b, abp: _f64(b),
         "That is beta_t, the forward step's variance (Ho et al.'s other fixed choice sigma_t^2 = beta_t), not "
         "the posterior variance: conditioning on x_0 shrinks it by (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)."),
        (lambda b, abp: _f64((1 - (1 - b) * abp) / (1 - abp) * b),
         "The ratio is upside down: tilde beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t, which is "
         "below beta_t (knowing x_0 can only reduce the uncertainty)."),
        (lambda b, abp: _tilde_beta_ref(b, abp).sqrt(),
         "That is the standard deviation sqrt(tilde beta_t); return the variance."),
    ]
    return _check_function(_floats(fn, 1, "tilde beta"), "your tilde beta_t", cases, _tilde_beta_ref, mistakes,
                           hint_on_error="A ZeroDivisionError: alpha_t = 1 - beta_t and alpha_bar_t = alpha_t * "
                                         "alpha_bar_{t-1}; none of the denominators is 0 for these inputs.")


def _eps_coefs_ref(beta, ab_prev):
    a = 1 - beta
    ab = a * ab_prev
    return _f64([1 / math.sqrt(a), -beta / (math.sqrt(a) * math.sqrt(1 - ab))])


def check_eps_form_coefs(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(beta_t, alpha_bar_prev) -> (c_x, c_eps)``: substitute
    x_0 = (x_t - \sqrt{1 - \bar\alpha_t} \epsilon) / \sqrt{\bar\alpha_t} into the posterior mean (Ho et al. 2020, eq. 7)

        \tilde\mu_t = \sqrt{\bar\alpha_{t-1}} beta_t / (1 - \bar\alpha_t) x_0 + \sqrt{alpha_t} (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) x_t

    and collect terms: \tilde\mu_t = c_x x_t + c_eps \epsilon with c_x = 1 / \sqrt{alpha_t} and
    c_eps = -beta_t / (\sqrt{alpha_t} \sqrt{1 - \bar\alpha_t}) (eq. 11). The x_t coefficient is
    [beta_t + alpha_t (1 - \bar\alpha_{t-1})] / (\sqrt{alpha_t} (1 - \bar\alpha_t)) = (1 - \bar\alpha_t) / (\sqrt{alpha_t} (1 - \bar\alpha_t)).
    """
    cases = [(0.02, 0.5), (1e-3, 0.95), (0.3, 0.2), (0.05, 0.01)]
    r = math.sqrt

    def parts(b, abp):
        a = 1 - b
        ab = a * abp
        return a, ab, r(abp) * b / (1 - ab), r(a) * (1 - abp) / (1 - ab)  # alpha, alpha_bar, c0, ct

    def variant(cx, ce):
        return lambda b, abp: _f64([cx(b, abp, *parts(b, abp)), ce(b, abp, *parts(b, abp))])

    good_e = lambda b, abp, a, ab, c0, ct: -b / (r(a) * r(1 - ab))  # noqa: E731
    good_x = lambda b, abp, a, ab, c0, ct: 1 / r(a)  # noqa: E731
    mistakes = [
        (variant(lambda b, abp, a, ab, c0, ct: ct, good_e),
         "c_x is only the x_t coefficient of the posterior mean; the substituted x_0 also contains x_t "
         "(x_0 = x_t / sqrt(alpha_bar_t) - ...). Add c0 / sqrt(alpha_bar_t): the sum simplifies to 1 / sqrt(alpha_t)."),
        (variant(lambda b, abp, a, ab, c0, ct: c0 + ct, good_e),
         "The x_t inside x_0 carries 1 / sqrt(alpha_bar_t): c_x = c0 / sqrt(alpha_bar_t) + ct, not c0 + ct."),
        (variant(lambda b, abp, a, ab, c0, ct: 1 / a, good_e),
         "Missing square root: c_x = 1 / sqrt(alpha_t). (Check: the numerator beta_t + alpha_t (1 - alpha_bar_{t-1}) "
         "equals 1 - alpha_bar_t, which cancels.)"),
        (variant(lambda b, abp, a, ab, c0, ct: 1 / r(ab), good_e),
         "1 / sqrt(alpha_bar_t) is the coefficient of x_0-hat; one reverse step undoes ONE forward step: 1 / sqrt(alpha_t)."),
        (variant(good_x, lambda b, abp, a, ab, c0, ct: b / (r(a) * r(1 - ab))),
         "Wrong sign of c_eps: x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) SUBTRACTS the noise."),
        (variant(good_x, lambda b, abp, a, ab, c0, ct: -b / r(1 - ab)),
         "c_eps misses the 1 / sqrt(alpha_t): the mean is (1/sqrt(alpha_t)) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps), "
         "so both terms carry it."),
        (variant(good_x, lambda b, abp, a, ab, c0, ct: -b / (r(a) * (1 - ab))),
         "c_eps: c0 sqrt(1 - alpha_bar_t) / sqrt(alpha_bar_t) leaves sqrt(1 - alpha_bar_t) in the denominator, not (1 - alpha_bar_t)."),
    ]
    return _check_function(_floats(fn, 2, "(c_x, c_eps)"), "your (c_x, c_eps)", cases, _eps_coefs_ref, mistakes,
                           hint_on_error="Return a pair of numbers (c_x, c_eps).")


def _snr(ab):
    return ab / (1 - ab)


def _w_snr_ref(ab, ab_prev):
    return _f64(0.5 * (_snr(ab_prev) / _snr(ab) - 1))


def check_w_snr_form(fn) -> bool:
    r"""Notebook 05, derivation. ``fn(alpha_bar_t, alpha_bar_prev) -> w_t`` (floats): the ELBO weight of the
    eps-loss, w_t = beta_t^2 / (2 \sigma_t^2 alpha_t (1 - \bar\alpha_t)) (Ho et al. 2020, eq. 12) with
    \sigma_t^2 = \tilde\beta_t, written through notebook 01's SNR(t) = \bar\alpha_t / (1 - \bar\alpha_t):

        w_t = beta_t / (2 alpha_t (1 - \bar\alpha_{t-1})) = 1/2 (SNR(t-1) / SNR(t) - 1)   (Kingma et al. 2021, eq. 13 in eps form).
    """
    cases = [(0.3, 0.5), (0.9, 0.95), (0.05, 0.4), (0.98, 0.9999), (0.001, 0.002)]
    mistakes = [
        (lambda ab, abp: 2 * _w_snr_ref(ab, abp),
         "Twice too large: the Gaussian KL carries 1 / (2 sigma_t^2), so w_t = 1/2 (SNR(t-1)/SNR(t) - 1)."),
        (lambda ab, abp: _f64(0.5 * (_snr(ab) / _snr(abp) - 1)),
         "The SNR ratio is upside down (your w_t is negative): SNR falls with t, so SNR(t-1) / SNR(t) > 1."),
        (lambda ab, abp: _f64(0.5 * _snr(abp) / _snr(ab)),
         "The -1 is missing: beta_t / (alpha_t (1 - alpha_bar_{t-1})) = SNR(t-1)/SNR(t) - 1 (write "
         "SNR(t-1)/SNR(t) = (1 - alpha_bar_t) / (alpha_t (1 - alpha_bar_{t-1})) and subtract 1)."),
        (lambda ab, abp: _f64(0.5 * (_snr(abp) - _snr(ab))),
         "That is 1/2 (SNR(t-1) - SNR(t)), Kingma et al.'s weight for the x_0-prediction loss. The eps-loss is "
         "||x_0 - x0_hat||^2 SNR(t), so its weight is divided by SNR(t): 1/2 (SNR(t-1)/SNR(t) - 1)."),
        (lambda ab, abp: _f64(0.5 * math.log(_snr(abp) / _snr(ab))),
         "That is half the log-SNR difference, not the SNR ratio minus 1 (they agree only for tiny steps)."),
    ]
    return _check_function(_floats(fn, 1, "w_t"), "your w_t", cases, _w_snr_ref, mistakes)


def _sigma2_eta1_ref(ab, ab_prev):
    return _f64((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))


def check_sigma_eta1(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bar_t, alpha_bar_prev, beta_t) -> sigma_t^2`` at eta = 1 (floats),
    for a DDIM step from t to an earlier t_prev (any jump), simplified:

        \sigma_t^2(eta=1) = (1 - \bar\alpha_{prev}) / (1 - \bar\alpha_t) (1 - \bar\alpha_t / \bar\alpha_{prev})
                          = \tilde\beta' (Song et al. 2021, eq. 16),

    the posterior variance of the respaced step whose beta is beta' = 1 - \bar\alpha_t / \bar\alpha_{prev};
    for t_prev = t - 1, beta' = beta_t and it is \tilde\beta_t. ``beta_t`` is the ONE-step beta at t (a trap
    when the step jumps: it is not the step's beta then).
    """
    # (alpha_bar_t, alpha_bar_prev, beta_t of the single step at t): one-step pairs and jumps
    cases = [(0.49, 0.5, 0.02), (0.3, 0.9, 0.02), (0.05, 0.4, 0.01), (0.9, 0.95, 1 - 0.9 / 0.95), (0.2, 1.0, 0.05)]
    mistakes = [
        (lambda ab, abp, b: _f64((1 - abp) / (1 - ab) * b),
         "You used beta_t, the ONE-step beta at t. For a step that jumps from t to t_prev the step's beta is "
         "beta' = 1 - alpha_bar_t / alpha_bar_prev (equal to beta_t only when t_prev = t - 1)."),
        (lambda ab, abp, b: _f64((1 - ab) / (1 - abp) * (1 - ab / abp)),
         "The first ratio is upside down: (1 - alpha_bar_prev) / (1 - alpha_bar_t) <= 1."),
        (lambda ab, abp, b: _f64(1 - ab / abp),
         "The factor (1 - alpha_bar_prev) / (1 - alpha_bar_t) is missing: that leaves beta', the forward "
         "variance of the (respaced) step, not the posterior variance tilde beta'."),
        (lambda ab, abp, b: _sigma2_eta1_ref(ab, abp).sqrt(),
         "That is sigma_t; return its square, the variance sigma_t^2."),
        (lambda ab, abp, b: _f64(b),
         "That is beta_t, Ho et al.'s upper choice of variance; eta = 1 gives the posterior variance tilde beta'."),
    ]
    return _check_function(_floats(fn, 1, "sigma_t^2"), "your sigma_t^2", cases,
                           lambda ab, abp, b: _sigma2_eta1_ref(ab, abp), mistakes)


def _respaced_ref(alpha_bars, timesteps):
    ab = torch.as_tensor(alpha_bars, dtype=torch.float64)[list(timesteps)]
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    return 1 - ab / ab_prev


def check_respaced_betas(fn) -> bool:
    r"""Notebook 06, derivation. ``fn(alpha_bars, timesteps) -> betas'``: the betas of the respaced schedule
    that keeps the increasing ``timesteps`` \tau_0 < ... < \tau_{K-1} (Nichol & Dhariwal 2021, sec. 4):

        beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}},  \bar\alpha_{\tau_{-1}} = 1  (so beta'_0 = 1 - \bar\alpha_{\tau_0}),

    so that the product of (1 - beta'_j), j <= k, is \bar\alpha_{\tau_k}: the kept noise levels are unchanged.
    ``alpha_bars`` is a (T,) float64 tensor, ``timesteps`` a list of ints; return a (K,) tensor.
    """
    lin, cos = NoiseSchedule.linear(1000), NoiseSchedule.cosine(100)
    cases = [(lin.alpha_bars.double(), [249, 499, 749, 999]),
             (lin.alpha_bars.double(), [0, 9, 99, 999]),
             (cos.alpha_bars.double(), list(range(4, 100, 5)))]
    def one_step_betas(ab):
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
        return 1 - ab / ab_prev

    mistakes = [
        (lambda ab, ts: one_step_betas(ab)[list(ts)],
         "You kept the one-step betas beta_{tau_k}: each removes one step's worth of noise, so the respaced "
         "chain stops far above the data (naive skipping). beta'_k must cover the whole jump: "
         "1 - alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: torch.stack([one_step_betas(ab)[(ts[k - 1] + 1 if k else 0):ts[k] + 1].sum()
                                     for k in range(len(ts))]),
         "You summed the skipped betas. Noise levels multiply, they do not add: 1 - beta'_k must be the "
         "PRODUCT of the skipped alphas, alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: _respaced_ref(ab, ts)[1:],
         "The first kept step is missing: with alpha_bar_{tau_{-1}} = 1, beta'_0 = 1 - alpha_bar_{tau_0}, "
         "and the result has one beta per kept timestep."),
        (lambda ab, ts: torch.cat([ab[[ts[0]]], _respaced_ref(ab, ts)[1:]]),
         "beta'_0 must be 1 - alpha_bar_{tau_0} (alpha_bar before the first step is 1), not alpha_bar_{tau_0}."),
        (lambda ab, ts: 1 - torch.as_tensor(ab)[list(ts)],
         "That is 1 - alpha_bar_{tau_k}, the total variance at tau_k; beta'_k is the variance added by the k-th "
         "step alone: 1 - alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}}."),
        (lambda ab, ts: 1 - 1 / (1 - _respaced_ref(ab, ts)),
         "The ratio is upside down (your betas are negative): alpha_bar falls with t, so "
         "1 - beta'_k = alpha_bar_{tau_k} / alpha_bar_{tau_{k-1}} < 1."),
    ]
    return _check_function(fn, "your respaced betas", cases, _respaced_ref, mistakes,
                           hint_on_error="Index alpha_bars with the kept timesteps (a list of ints) and compare "
                                         "each with the one kept before it.")
