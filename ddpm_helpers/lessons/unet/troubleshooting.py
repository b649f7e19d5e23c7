r""""The loss is low but the samples are noise" (notebook 04): the classic sampler bugs, each as a function.

Every function here draws ``n`` samples from the same trained noise predictor with the same
seed (so the same x_T and the same per-step noise z), and differs from :func:`sample_correct`
by exactly one bug. Put side by side (``troubleshooting_gallery``), they teach what each bug
looks like. All of them are ancestral (DDPM) samplers on a *respaced* schedule (below), so
they run in ``steps`` model calls; with ``steps = T`` they are Ho et al.'s Algorithm 2 exactly.

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

import torch

from ...core.checks import check_int
from ...core.reverse import ddpm_step
from ...core.sampling import ddim_timesteps, reverse_loop
from ...core.schedules import NoiseSchedule

__all__ = ["respace", "sample_correct", "sample_unscaled_pixels", "sample_noise_sign_flipped",
           "sample_schedule_wrong_axis", "sample_full_noise_subtracted", "sample_live_weights",
           "sample_wrong_terminal_noise", "BUGS", "troubleshooting_gallery", "gallery_markdown"]


def respace(sched: NoiseSchedule, steps: int) -> tuple[NoiseSchedule, list[int]]:
    r"""Keep ``steps`` of the T timesteps (Nichol & Dhariwal 2021, sec. 4, "respacing").

    The new schedule has the same \bar\alpha at the kept timesteps \tau_k, so a model trained on the
    full schedule still sees the noise levels it knows; its betas are
    beta'_k = 1 - \bar\alpha_{\tau_k} / \bar\alpha_{\tau_{k-1}}. The model is still called with the
    original timestep \tau_k. ``steps = T`` returns the schedule unchanged (up to float rounding).

    Returns ``(sub_schedule, timesteps)``; timesteps increasing, e.g. T=1000, steps=4 -> [249, 499, 749, 999].
    """
    ts = sorted(ddim_timesteps(sched.T, steps, "trailing"))  # increasing, last = T - 1
    ab = torch.cumprod(1 - sched.betas.cpu().double(), 0)[ts]      # (steps,), re-derived in float64
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64, device="cpu"), ab[:-1]])
    return NoiseSchedule.from_betas(1 - ab / ab_prev, kind=sched.kind), ts


def _ancestral(model, sched, n, steps, seed, step_fn, x_T=None):
    """Run ``x <- step_fn(x, eps, k, sub, z)`` from k = steps-1 down to 0 through the one reverse loop.

    The starting noise and every step's z come from one CPU generator seeded with ``seed`` (z is
    drawn even when ``x_T`` is given), so every variant sees exactly the same randomness.
    Shapes: -> (n, 1, 28, 28) on the CPU.
    """
    check_int("n", n, 1, what="number of samples")
    sub, ts = respace(sched, steps)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, 1, 28, 28), generator=gen, device="cpu")  # drawn even when x_T is given, so z stays the same
    if x_T is not None:
        x = x_T
    zs = torch.randn((len(ts), n, 1, 28, 28), generator=gen, device="cpu")  # (K, n, ...): the same z for every variant
    order = list(range(len(ts) - 1, -1, -1))                  # k = K-1 .. 0, the noisiest first
    return reverse_loop(model, x, [ts[k] for k in order],
                        lambda x, eps, i, z: step_fn(x, eps, order[i], sub, z),
                        noises=zs[order], desc="troubleshooting")


def _correct_step(x, eps, k, sub, z):
    return ddpm_step(x, eps, k, sub, noise=z)


def sample_correct(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000, seed: int = 0) -> torch.Tensor:
    r"""The reference: Algorithm 2 on the respaced schedule, with :func:`ddpm_helpers.ddpm_step`.

    Shapes: -> (n, 1, 28, 28) in about [-1, 1].
    """
    return _ancestral(model, sched, n, steps, seed, _correct_step)


def sample_unscaled_pixels(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000, seed: int = 0) -> torch.Tensor:
    r"""Bug: the data were never scaled to [-1, 1] (pixels left in [0, 1], e.g. torchvision's ``ToTensor()``).

    A model trained on [0, 1] pixels samples [0, 1] images, and the display code, written for
    [-1, 1], maps them through (x + 1) / 2 to [0.5, 1]: every sample comes out washed-out grey,
    with a grey background instead of black. We *simulate* that model by mapping the correct
    samples to [0, 1] (what a perfectly trained [0, 1] model would produce); a real [0, 1] model
    is also worse, because its data carry half the signal against the same unit noise, so the
    forward process reaches pure noise earlier and fewer timesteps carry information.

    Shapes: -> (n, 1, 28, 28) in [0, 1] (which displays as [0.5, 1]).
    """
    return (sample_correct(model, sched, n, steps, seed) + 1) / 2


def sample_noise_sign_flipped(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                              seed: int = 0) -> torch.Tensor:
    r"""Bug: ``x_t + beta_t / sqrt(1 - abar_t) * eps`` — the predicted noise is *added* instead of removed.

    Every step pushes x further along the noise the model found, so the noise grows instead of
    shrinking: samples blow up to saturated speckle far outside [-1, 1].
    """
    def step(x, eps, k, sub, z):
        beta, ab = float(sub.betas[k]), float(sub.alpha_bars[k])
        # 1. the bug: + instead of -
        mean = (x + beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
        # 2. sigma_t z as usual
        return mean if k == 0 else mean + math.sqrt(float(sub.posterior_variance[k])) * z
    return _ancestral(model, sched, n, steps, seed, step)


def sample_schedule_wrong_axis(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                               seed: int = 0) -> torch.Tensor:
    r"""Bug: the schedule is reduced over the wrong axis, so alpha_bar_t = alpha_t.

    The betas were stored as a (T, 1) column (to broadcast against a batch) and the cumulative
    product was taken with ``dim=-1`` — over the axis of length 1, which changes nothing — instead
    of ``dim=0`` over time. Every alpha_bar_t is then alpha_t, close to 1: the sampler believes the
    noise level is tiny at every step, removes only a sliver of the predicted noise, and the
    result stays noise (the model, trained on the right schedule, keeps seeing inputs that do
    not match its t).
    """
    def step(x, eps, k, sub, z):
        betas_col = sub.betas[:, None]                         # (K,) -> (K, 1)
        wrong_ab = torch.cumprod(1 - betas_col, dim=-1)[:, 0]  # the bug: over the length-1 axis
        beta, ab = float(sub.betas[k]), float(wrong_ab[k])
        ab_prev = 1.0 if k == 0 else float(wrong_ab[k - 1])
        # 1. the usual mean, with the wrong \bar\alpha
        mean = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
        # 2. the posterior variance, also from the wrong \bar\alpha
        var = (1 - ab_prev) / (1 - ab) * beta
        return mean if k == 0 else mean + math.sqrt(var) * z
    return _ancestral(model, sched, n, steps, seed, step)


def sample_full_noise_subtracted(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                                 seed: int = 0) -> torch.Tensor:
    r"""Bug: ``x_{t-1} = (x_t - eps) / sqrt(alpha_t) + sigma_t z`` — the whole predicted noise at every step.

    The prediction eps estimates *all* the noise in x_t; one step should remove only the fraction
    beta_t / sqrt(1 - alpha_bar_t) of it. Subtracting all of it at every step removes it many
    times over: the images overshoot into flat, saturated blobs.
    """
    def step(x, eps, k, sub, z):
        beta = float(sub.betas[k])
        # 1. the bug: the whole eps, not beta_t / sqrt(1 - abar_t) * eps
        mean = (x - eps) / math.sqrt(1 - beta)
        return mean if k == 0 else mean + math.sqrt(float(sub.posterior_variance[k])) * z
    return _ancestral(model, sched, n, steps, seed, step)


def sample_live_weights(live_model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                        seed: int = 0) -> torch.Tensor:
    r"""Bug: sampling with the live (last-step) weights instead of their EMA (``result.model`` vs ``result.ema``).

    The sampler is correct; the weights are not the ones to sample with. The live weights sit at
    one noisy point of the optimizer's path; the exponential moving average smooths that path and
    gives cleaner samples with better FID (Ho et al. 2020, appendix B, decay 0.9999). Early in
    training, and with a large learning rate, the gap is large: blotchy, noisy samples.
    """
    return _ancestral(live_model, sched, n, steps, seed, _correct_step)


def sample_wrong_terminal_noise(model, sched: NoiseSchedule, n: int = 8, steps: int = 1000,
                                seed: int = 0) -> torch.Tensor:
    r"""Bug: x_T drawn with ``torch.rand`` (uniform on [0, 1]) instead of ``torch.randn``.

    At t = T-1 the training schedule has alpha_bar = 4e-5: x_T must be standard normal. Uniform
    noise has mean 0.5 and standard deviation 0.29, a noise level the model never saw at t = T-1,
    so the first steps mis-predict and the error carries through: low-contrast, mostly blank
    images with a grey cast. (Starting a sampler at a t whose noise level does not match x_T,
    or sampling with another schedule than the one trained on, fails the same way.)
    """
    x_T = torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), device="cpu")  # the bug
    return _ancestral(model, sched, n, steps, seed, _correct_step, x_T=x_T)


BUGS = {
    "correct": ("correct sampler (EMA weights)", sample_correct),
    "unscaled_pixels": ("pixels left in [0, 1]", sample_unscaled_pixels),
    "noise_sign_flipped": ("sign of the noise term flipped", sample_noise_sign_flipped),
    "schedule_wrong_axis": ("schedule over the wrong axis", sample_schedule_wrong_axis),
    "full_noise_subtracted": ("whole predicted noise subtracted", sample_full_noise_subtracted),
    "live_weights": ("live weights, not the EMA", sample_live_weights),
    "wrong_terminal_noise": ("x_T = torch.rand, not randn", sample_wrong_terminal_noise),
}


def _explanation(fn) -> str:
    """A function's docstring as one Markdown paragraph: no Shapes line, ``code`` -> `code`."""
    paras = [p for p in (fn.__doc__ or "").strip().split("\n\n") if not p.strip().startswith("Shapes")]
    text = " ".join(" ".join(paras).split()).replace("``", "`")
    return text.replace(":func:`ddpm_helpers.ddpm_step`", "`ddpm_step`")


def troubleshooting_gallery(model, sched: NoiseSchedule, n: int = 4, steps: int = 1000, seed: int = 0,
                            live_model=None) -> dict:
    """Run every variant in :data:`BUGS` with the same seed. ``live_model`` feeds "live_weights"
    (skipped when None). Returns ``{key: (title, samples, explanation)}`` in the order of BUGS.

    Shapes: each samples (n, 1, 28, 28).
    """
    out = {}
    for key, (title, fn) in BUGS.items():
        if key == "live_weights":
            if live_model is None:
                continue
            x = fn(live_model, sched, n, steps, seed)
        else:
            x = fn(model, sched, n, steps, seed)
        out[key] = (title, x, _explanation(fn))
    return out


def gallery_markdown(gallery: dict) -> str:
    """The gallery's explanations as a Markdown list, one bullet per variant, in the plotted order."""
    return "\n".join(f"- **{title}.** {text}" for title, _, text in gallery.values())
