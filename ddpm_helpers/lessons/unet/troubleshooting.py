r""""The loss is low but the samples are noise" (notebook 04): the classic sampler bugs, each as a function.

Every function here draws ``n`` samples from the same trained noise predictor with the same
seed (so the same x_T and the same per-step noise z), and differs from :func:`sample_correct`
by exactly one bug. Put side by side (``troubleshooting_gallery``), they teach what each bug
looks like; :func:`image_statistics` puts numbers on what the eye sees (brightness, contrast,
the brightest pixel, the black background, saturation, speckle). All of them are ancestral (DDPM)
samplers on a *respaced* schedule (below), so they run in ``steps`` model calls; with
``steps = T`` they are Ho et al.'s Algorithm 2 exactly.

The correct step (Ho et al. 2020, Algorithm 2, 0-indexed t):

    x_{t-1} = 1/\sqrt{alpha_t} (x_t - beta_t / \sqrt{1 - \bar\alpha_t} \hat\epsilon) + \sigma_t z,
    \sigma_t^2 = \tilde\beta_t.

Notation (symbol -> name):

    \tau_k                       timesteps[k]   the kept timesteps, increasing
    \bar\alpha_{\tau_k}          sub.alpha_bars[k]  (the respaced schedule keeps these)
    beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}}   sub.betas[k]
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from ...core.checks import check_int
from ...core.respace import Respaced, respace
from ...core.reverse import ddpm_step
from ...core.sampling import Sample, ddim_timesteps, reverse_loop, sample_shape, timestep_pairs
from ...core.schedules import NoiseSchedule
from ...ui.tables import markdown_table

__all__ = ["sample_correct", "sample_unscaled_pixels", "sample_noise_sign_flipped",
           "sample_schedule_wrong_axis", "sample_full_noise_subtracted", "sample_live_weights",
           "sample_uniform_noise", "BUGS", "troubleshooting_gallery", "gallery_markdown",
           "wrong_axis_noise_factor", "STATISTICS", "SYMPTOMS", "image_statistics",
           "gallery_statistics_markdown"]


def _ancestral(model, sched, n, steps, seed, step_fn, uniform: str = "none", return_trajectory: bool = False) -> Sample:
    """Run ``x <- step_fn(x, eps, k, sub, z)`` from k = steps-1 down to 0 through the one reverse loop, on the
    respaced schedule ``sub`` (:func:`~ddpm_helpers.core.respace.respace`; the model is called at the kept \tau_k).

    The starting noise and every step's z come from one CPU generator seeded with ``seed``, standard
    normal (``torch.randn``); ``uniform`` draws x_T ("x_T") or x_T and every z ("all") uniform on [0, 1)
    (``torch.rand``) instead ("none": neither). Every variant sees the same stream of random numbers.
    Shapes: -> Sample with x0 (n, C, H, W) (the model's sample shape) on the CPU; with ``return_trajectory`` also
    the (steps + 1, n, C, H, W) trajectory, x_T first.
    """
    check_int("n", n, 1, what="number of samples")
    if uniform not in ("none", "x_T", "all"):
        raise ValueError(f"uniform must be 'none', 'x_T' or 'all' (which noise torch.rand draws), got {uniform!r}")
    sub, ts = respace(sched, steps)
    gen = torch.Generator().manual_seed(seed)
    shape = (n, *sample_shape(model))
    x = (torch.randn if uniform == "none" else torch.rand)(shape, generator=gen, device="cpu")
    zs = (torch.rand if uniform == "all" else torch.randn)((len(ts), *shape), generator=gen,
                                                            device="cpu")  # (K, n, ...): the same z for every variant
    return reverse_loop(Respaced(model, ts), x, timestep_pairs(range(len(ts) - 1, -1, -1)),  # k = K-1 .. 0
                        lambda x, eps, k, k_prev, z: step_fn(x, eps, k, sub, z), noise=iter(zs.flip(0)),
                        desc="troubleshooting", return_trajectory=return_trajectory)


def _step_correct(x, eps, k, sub, z):
    return ddpm_step(x, eps, k, sub, noise=z)


def sample_correct(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000, seed: int = 0) -> Sample:
    r"""The reference: Algorithm 2 on the respaced schedule, with :func:`ddpm_helpers.ddpm_step`.

    Shapes: -> Sample, x0 (n, C, H, W) in about [-1, 1].
    """
    return _ancestral(model, sched, n, steps, seed, _step_correct)


def sample_unscaled_pixels(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000, seed: int = 0) -> Sample:
    r"""Bug: the data were never scaled to [-1, 1] (pixels left in [0, 1], e.g. torchvision's ``ToTensor()``).

    A model trained on [0, 1] pixels samples [0, 1] images, and the display code, written for
    [-1, 1], maps them through (x + 1) / 2 to [0.5, 1]. What you see: the right garments, washed
    out, on a mid-grey background instead of a black one (no pixel darker than about mid-grey). We
    *simulate* that model by mapping the correct samples to [0, 1] (what a perfectly trained [0, 1]
    model would produce); a real [0, 1] model is also worse, because its data carry half the signal
    against the same unit noise, so the forward process reaches pure noise earlier and fewer
    timesteps carry information.

    Shapes: -> Sample, x0 (n, C, H, W) in [0, 1] (which displays as [0.5, 1]).
    """
    s = sample_correct(model, sched, n, steps, seed)
    return replace(s, x0=(s.x0 + 1) / 2)


def _step_noise_sign_flipped(x, eps, k, sub, z):
    beta, ab = float(sub.betas[k]), float(sub.alpha_bars[k])
    # 1. the bug: + instead of -
    mean = (x + beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    # 2. sigma_t z as usual
    return mean if k == 0 else mean + math.sqrt(float(sub.posterior_variance[k])) * z


def sample_noise_sign_flipped(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                              seed: int = 0) -> Sample:
    r"""Bug: ``x_t + beta_t / sqrt(1 - abar_t) * eps`` — the predicted noise is *added* instead of removed.

    Every step pushes x further along the noise the model found, so the noise grows instead of
    shrinking. What you see: pure black-and-white noise, every pixel saturated (the values end
    far outside [-1, 1]), no trace of a garment.
    """
    return _ancestral(model, sched, n, steps, seed, _step_noise_sign_flipped)


def _wrong_axis_alpha_bars(sub: NoiseSchedule) -> torch.Tensor:
    betas_col = sub.betas[:, None]                          # (K,) -> (K, 1)
    return torch.cumprod(1 - betas_col, dim=-1)[:, 0]       # the bug: over the length-1 axis -> alpha_k


def _step_schedule_wrong_axis(x, eps, k, sub, z):
    wrong_ab = _wrong_axis_alpha_bars(sub)
    beta, ab = float(sub.betas[k]), float(wrong_ab[k])
    ab_prev = 1.0 if k == 0 else float(wrong_ab[k - 1])
    # 1. the usual mean, with the wrong \bar\alpha: the noise coefficient becomes beta / sqrt(beta) = sqrt(beta)
    mean = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
    # 2. the posterior variance, also from the wrong \bar\alpha
    var = (1 - ab_prev) / (1 - ab) * beta
    return mean if k == 0 else mean + math.sqrt(var) * z


def sample_schedule_wrong_axis(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                               seed: int = 0) -> Sample:
    r"""Bug: the schedule is reduced over the wrong axis, so alpha_bar_t = alpha_t.

    The betas were stored as a (T, 1) column (to broadcast against a batch) and the cumulative
    product was taken with ``dim=-1`` — over the axis of length 1, which changes nothing — instead
    of ``dim=0`` over time. Every alpha_bar_t is then alpha_t = 1 - beta_t, so the step's noise
    coefficient beta_t / sqrt(1 - alpha_bar_t) becomes beta_t / sqrt(beta_t) = sqrt(beta_t): several
    times too large (:func:`wrong_axis_noise_factor`; the gallery prints the factor). Every step removes
    several times the noise it should, so x loses its noise long before the schedule says it may; the
    model, shown inputs less noisy than their t, reads the missing noise as missing signal and predicts
    a dim x_0. What you see: faint, dark garments, none with a pixel near white.
    """
    return _ancestral(model, sched, n, steps, seed, _step_schedule_wrong_axis)


def wrong_axis_noise_factor(sched: NoiseSchedule, steps: int) -> tuple[list[int], torch.Tensor]:
    r"""How many times too much noise the wrong-axis bug removes per step, at every kept timestep:

        (beta'_k / \sqrt{beta'_k}) / (beta'_k / \sqrt{1 - \bar\alpha_{\tau_k}})
            = \sqrt{1 - \bar\alpha_{\tau_k}} / \sqrt{beta'_k}

    (the buggy noise coefficient over the correct one; beta'_k = beta_t with all T steps).
    Computed from the schedule's float64 tables (1 - \bar\alpha in float32 would lose digits at small t).
    Returns ``(timesteps, factors)``, timesteps increasing. Shapes: factors (steps,) float64.
    """
    ts = sorted(ddim_timesteps(sched.T, steps, "trailing"))  # the kept timesteps of :func:`respace`
    ab = sched.host64.alpha_bars[ts]  # (steps,) float64
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return ts, (1 - ab).sqrt() / (1 - ab / ab_prev).sqrt()


def _step_full_noise_subtracted(x, eps, k, sub, z):
    beta = float(sub.betas[k])
    # 1. the bug: the whole eps, not beta_t / sqrt(1 - abar_t) * eps
    mean = (x - eps) / math.sqrt(1 - beta)
    return mean if k == 0 else mean + math.sqrt(float(sub.posterior_variance[k])) * z


def sample_full_noise_subtracted(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                                 seed: int = 0) -> Sample:
    r"""Bug: ``x_{t-1} = (x_t - eps) / sqrt(alpha_t) + sigma_t z`` — the whole predicted noise at every step.

    The prediction eps estimates *all* the noise in x_t; one step should remove only the fraction
    beta_t / sqrt(1 - alpha_bar_t) of it. The first step removes (nearly) all of x_T's noise at once,
    and x keeps only the step's fresh noise sigma_t z, less than its t stands for; every later step
    subtracts another whole, unit-size noise estimate. In the last steps, where a correct step removes
    almost nothing, each one stamps the negative of the model's estimate into the image. What you
    see: no garment, but high-contrast, pixel-sized speckle (a checkerboard), a large share of the
    pixels saturated outside [-1, 1].
    """
    return _ancestral(model, sched, n, steps, seed, _step_full_noise_subtracted)


def sample_live_weights(live_model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                        seed: int = 0) -> Sample:
    r"""Bug: sampling with the live (last-step) weights instead of their EMA (``result.model`` vs ``result.ema``).

    The sampler is correct; the weights are not the ones to sample with. The live weights sit at
    one noisy point of the optimizer's path; the exponential moving average smooths that path and
    gives cleaner samples with better FID (Ho et al. 2020, appendix B, decay 0.9999). Early in
    training the gap is large. What you see after a short run: no garments, but saturated blobs or
    nearly black images, most pixels far outside [-1, 1].
    """
    return _ancestral(live_model, sched, n, steps, seed, _step_correct)


def sample_uniform_noise(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000, seed: int = 0) -> Sample:
    r"""Bug: the sampler's noise drawn with ``torch.rand`` (uniform on [0, 1)) instead of ``torch.randn``,
    for x_T and for every step's z (one noise helper, used everywhere).

    Uniform noise has mean 0.5 and standard deviation 0.29, not 0 and 1. Every step adds
    sigma_t * 0.5 to every pixel; the model, trained on zero-mean noise, reads that offset as
    image rather than noise and keeps it, and each step's 1 / sqrt(alpha_t) scales the image part
    up, so the offsets pile up. What you see: every pixel saturated white, far above 1.
    Drawing only x_T with ``torch.rand`` is much harder to spot with this ancestral sampler: the
    fresh noise of the later steps washes most of the error out, and the samples are still garments,
    only brighter ones (x_T's mean of 0.5 survives as a bias); a deterministic sampler (DDIM with
    eta = 0, notebook 06) has no fresh noise and decodes that x_T to a white image.
    """
    return _ancestral(model, sched, n, steps, seed, _step_correct, uniform="all")


BUGS = {
    "correct": ("correct sampler (EMA weights)", sample_correct),
    "unscaled_pixels": ("pixels left in [0, 1]", sample_unscaled_pixels),
    "noise_sign_flipped": ("sign of the noise term flipped", sample_noise_sign_flipped),
    "schedule_wrong_axis": ("schedule over the wrong axis", sample_schedule_wrong_axis),
    "full_noise_subtracted": ("whole predicted noise subtracted", sample_full_noise_subtracted),
    "live_weights": ("live weights, not the EMA", sample_live_weights),
    "uniform_noise": ("torch.rand, not randn (x_T and every z)", sample_uniform_noise),
}


def _explanation(fn) -> str:
    """A function's docstring as one Markdown paragraph: no Shapes line, ``code`` -> `code`."""
    paras = [p for p in (fn.__doc__ or "").strip().split("\n\n") if not p.strip().startswith("Shapes")]
    text = " ".join(" ".join(paras).split()).replace("``", "`")
    for role in (":func:`ddpm_helpers.ddpm_step`", ":func:`wrong_axis_noise_factor`"):
        text = text.replace(role, "`" + role.split("`")[1].split(".")[-1] + "`")
    return text


def troubleshooting_gallery(model, sched: NoiseSchedule, n: int = 4, steps: int = 1000, seed: int = 0,
                            live_model=None) -> dict:
    """Run every variant in :data:`BUGS` with the same seed. ``live_model`` feeds "live_weights"
    (skipped when None); "unscaled_pixels" maps the correct row's samples instead of sampling again.
    Returns ``{key: (title, samples, explanation)}`` in the order of BUGS; the wrong-axis explanation
    ends with its noise factor (:func:`wrong_axis_noise_factor`) at these ``steps`` and at all T steps.

    Shapes: each samples (n, C, H, W), the model's sample shape.
    """
    out = {}
    for key, (title, fn) in BUGS.items():
        text = _explanation(fn)
        if key == "live_weights":
            if live_model is None:
                continue
            x = fn(live_model, sched, n, steps, seed).x0
        elif key == "unscaled_pixels":
            x = (out["correct"][1] + 1) / 2  # what sample_unscaled_pixels returns, without sampling again
        else:
            x = fn(model, sched, n, steps, seed).x0
        if key == "schedule_wrong_axis":
            text += " " + _wrong_axis_sentence(sched, steps)
        out[key] = (title, x, text)
    return out


def _wrong_axis_sentence(sched: NoiseSchedule, steps: int) -> str:
    """The wrong-axis noise factor over the kept t >= T/10 (t >= 100 for T = 1000), at ``steps`` and at all T."""
    lo_t = sched.T // 10

    def span(k):
        ts, f = wrong_axis_noise_factor(sched, k)
        kept = [v for t, v in zip(ts, f.tolist()) if t >= lo_t]
        return f"{min(kept):.1f}–{max(kept):.1f}x"
    return (f"The factor, computed here for every kept t ≥ {lo_t}: {span(steps)} with this gallery's {steps} "
            f"steps, {span(sched.T)} with all {sched.T}.")


def gallery_markdown(gallery: dict) -> str:
    """The gallery's explanations as a Markdown list, one bullet per variant, in the plotted order."""
    return "\n".join(f"- **{title}.** {text}" for title, _, text in gallery.values())


# ----------------------------------------------------------------------------- what the eye sees, in numbers
STATISTICS = {
    "brightness": "mean pixel",
    "contrast": "pixel standard deviation of each image",
    "peak": "brightest pixel of each image",
    "background": "share of pixels darker than -0.9 (the black background)",
    "saturated": "share of pixels outside [-1.1, 1.1] (they display as pure black or white)",
    "speckle": "mean |difference| between neighbouring pixels",
}


# the statistic each bug's "What you see" names, and which way it moves from the correct row's
SYMPTOMS = {
    "unscaled_pixels": ("background", "low"),      # a mid-grey background instead of a black one
    "noise_sign_flipped": ("saturated", "high"),   # every pixel saturated
    "schedule_wrong_axis": ("peak", "low"),        # faint garments, no pixel near white
    "full_noise_subtracted": ("speckle", "high"),  # pixel-sized speckle
    "live_weights": ("saturated", "high"),         # saturated blobs or black (a short run's live weights)
    "uniform_noise": ("brightness", "high"),       # saturated white
}


def image_statistics(x: torch.Tensor) -> dict:
    r"""Per-image numbers for what the eye sees in a sample (:data:`STATISTICS`): brightness, contrast, the
    brightest pixel, the share of black background, the share of saturated pixels, and speckle
    (mean |x_{i,j+1} - x_{i,j}| over horizontal and vertical neighbours). Unclipped values, [-1, 1] scale.

    Shapes: x (N, 1, H, W) -> {name: (N,) float32 tensor}.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be an (N, C, H, W) tensor, got {type(x).__name__} of shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    x = x.detach().float().cpu()
    flat = x.flatten(1)  # (N, C, H, W) -> (N, D)
    rough = (x.diff(dim=-1).abs().flatten(1).mean(1) + x.diff(dim=-2).abs().flatten(1).mean(1)) / 2
    return {"brightness": flat.mean(1), "contrast": flat.std(1), "peak": flat.max(1).values,
            "background": (flat < -0.9).float().mean(1), "saturated": (flat.abs() > 1.1).float().mean(1),
            "speckle": rough}


def gallery_statistics_markdown(gallery: dict, real: torch.Tensor | None = None) -> str:
    """A Markdown table: one line per gallery row with the mean over its images of every :data:`STATISTICS`
    entry, the statistic its explanation names (:data:`SYMPTOMS`) in bold, and a last line for ``real``
    images (e.g. test images) when given, for scale."""
    rows = [(key, title, x) for key, (title, x, _) in gallery.items()]
    if real is not None:
        rows.append(("real", f"real test images (n = {len(real)})", real))
    body = []
    for key, title, x in rows:
        s = image_statistics(x)
        cells = [f"{s[k].mean().item():+.2f}" if k in ("brightness", "peak") else f"{s[k].mean().item():.2f}"
                 for k in STATISTICS]
        body.append([title] + [f"**{c}**" if SYMPTOMS.get(key, ("",))[0] == k else c
                               for k, c in zip(STATISTICS, cells)])
    return markdown_table(["row"] + list(STATISTICS), body, align="l" + "r" * len(STATISTICS))
