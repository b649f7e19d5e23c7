r"""Notebook 06: what deterministic DDIM buys for editing: interpolation between noises and inversion.

At eta = 0 the DDIM sampler (Song et al. 2021, eq. 12) is a deterministic map x_T -> x_0, so

* two starting noises can be interpolated and every point in between decodes to an image
  (:func:`slerp`, :func:`slerp_path`; Song et al. 2021, sec. 5.3, interpolate with slerp);
* the map can be run backwards, from a real image to "its" x_T and back (:func:`ddim_invert`,
  :func:`ddim_reconstruct`; Song et al. 2021, sec. 4.3 / eq. 14: DDIM as an ODE).

Fewer steps trade quality for time: that table is ``lessons.ddim.speed``.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    z_0, z_1, alpha           z0, z1, alpha     two noises and the interpolation weight
    \Omega                    the angle between z_0 and z_1
    \bar\alpha_s, \bar\alpha_t alpha_bars[s], alpha_bars[t]  (s < t in an inversion step; s = -1: 1.0)
    \hat\epsilon              eps               the model's noise prediction
"""
from __future__ import annotations

import torch

from ...core.checks import check_int, check_step, check_x_T
from ...core.reverse import ddim_terms, predict_x0
from ...core.sampling import Sample, ddim_sample, ddim_timesteps, reverse_loop
from ...core.schedules import NoiseSchedule

__all__ = ["slerp", "slerp_path", "ddim_invert_step", "ddim_invert", "ddim_reconstruct", "latent_spread"]


# ----------------------------------------------------------------------------- interpolation
def slerp(z0: torch.Tensor, z1: torch.Tensor, alpha) -> torch.Tensor:
    r"""Spherical linear interpolation (Shoemake 1985), per item of the batch:

        slerp(z_0, z_1; alpha) = sin((1 - alpha) \Omega) / sin \Omega z_0 + sin(alpha \Omega) / sin \Omega z_1,
        \cos\Omega = <z_0, z_1> / (|z_0| |z_1|).

    Why not a straight line: two independent Gaussian noises in D dimensions are nearly
    orthogonal with norm about sqrt(D); their average has norm about sqrt(D / 2), a noise level
    the model never saw, so the decoded image washes out. Slerp keeps the norm about sqrt(D).
    Falls back to the straight line when z_0 and z_1 are (nearly) parallel.

    Shapes: z0, z1 (B, ...); alpha a float or a (B,) tensor in [0, 1] -> (B, ...).
    """
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if z0.ndim < 1:
        raise ValueError("z0 and z1 must have a batch dimension (B, ...)")
    a = torch.as_tensor(alpha, dtype=torch.float64, device=z0.device)
    if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != z0.shape[0]):
        raise ValueError(f"alpha must be a float or a ({z0.shape[0]},) tensor, got shape {tuple(a.shape)}")
    if not torch.all((a >= 0) & (a <= 1)):
        raise ValueError(f"alpha must lie in [0, 1], got {a.flatten()[:4].tolist()}")
    a0, a1 = z0.flatten(1).double(), z1.flatten(1).double()  # (B, ...) -> (B, D)
    # 1. the angle between the two noises
    cos = (a0 * a1).sum(1) / (a0.norm(dim=1) * a1.norm(dim=1))
    omega = torch.arccos(cos.clamp(-1, 1))  # (B,)
    a = a.expand(z0.shape[0])  # () or (B,) -> (B,)
    # 2. the two sine weights (straight-line weights where sin(omega) is ~0)
    so = torch.sin(omega)
    par = so.abs() < 1e-6
    w0 = torch.where(par, 1 - a, torch.sin((1 - a) * omega) / torch.where(par, 1.0, so))
    w1 = torch.where(par, a, torch.sin(a * omega) / torch.where(par, 1.0, so))
    out = w0[:, None] * a0 + w1[:, None] * a1  # (B, D)
    return out.to(z0.dtype).reshape(z0.shape)


def slerp_path(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced points (alpha = 0 .. 1) on the slerp path between two single noises.

    Shapes: z0, z1 (1, ...) or (...) -> (n, ...) with the leading 1 dropped.
    """
    check_int("n", n, 2, what="the two ends included")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    single = z0[0] if (z0.ndim >= 2 and z0.shape[0] == 1) else z0
    other = z1[0] if (z1.ndim >= 2 and z1.shape[0] == 1) else z1
    zs0 = single.unsqueeze(0).expand(n, *single.shape)  # (...) -> (n, ...)
    zs1 = other.unsqueeze(0).expand(n, *other.shape)
    return slerp(zs0, zs1, torch.linspace(0, 1, n, device="cpu"))


# ----------------------------------------------------------------------------- inversion
def ddim_invert_step(x_s: torch.Tensor, eps: torch.Tensor, s: int, t: int, sched: NoiseSchedule) -> torch.Tensor:
    r"""One deterministic DDIM step run *forward* in time, from s up to t > s (eta = 0):

        \hat x_0 = (x_s - \sqrt{1 - \bar\alpha_s} \hat\epsilon) / \sqrt{\bar\alpha_s},
        x_t = \sqrt{\bar\alpha_t} \hat x_0 + \sqrt{1 - \bar\alpha_t} \hat\epsilon.

    This is eq. 12 with eta = 0 solved the other way round (``s = -1`` means x_s = x_0,
    \bar\alpha = 1). Exact if \hat\epsilon were the same at both ends; in practice the model
    is evaluated once per step, which is why inversion is only approximately reversible.

    Shapes: x_s, eps (B, ...); s, t ints -> x_t like x_s.
    """
    t, s = check_step(t, s, sched.T, names=("t", "s"))  # s below t, as t_prev below t in a sampler step
    if eps.shape != x_s.shape:
        raise ValueError(f"eps must have x_s's shape {tuple(x_s.shape)}, got {tuple(eps.shape)}")
    return _invert_step(x_s, eps, s, t, sched)


def _invert_step(x_s: torch.Tensor, eps: torch.Tensor, s: int, t: int, sched: NoiseSchedule) -> torch.Tensor:
    # 1. the x_0 the current point and noise estimate imply
    x0 = x_s if s < 0 else predict_x0(x_s, eps, s, sched)
    # 2. re-noise it to level t along the same noise direction: eq. 12's two terms with t as the end, sigma = 0
    x0_term, direction = ddim_terms(x0, eps, float(sched.host64.alpha_bars[t]), 0.0)
    return x0_term + direction


def ddim_invert(model, sched: NoiseSchedule, x0: torch.Tensor, steps: int = 50, spacing: str = "trailing",
                return_trajectory: bool = False, progress: bool = False) -> Sample:
    r"""DDIM inversion: map a real image x_0 to the x_T that deterministic DDIM (eta = 0, the same
    ``steps`` and ``spacing``) decodes back to (about) x_0.

    Walks the sampler's timesteps in reverse, s -> t = -1 -> t_1 -> ... -> T-1, with
    \hat\epsilon = model(x_s, t) evaluated at the *target* level t (as in diffusers'
    ``DDIMInverseScheduler`` and null-text inversion), then :func:`ddim_invert_step`: the loop's
    pairs are (t, s), the model called at t, x going from level s up to level t.

    Returns a Sample whose ``x0`` is x_T (the loop's end point), on the CPU.
    Shapes: x0 (B, ...) -> Sample: x0 = x_T (B, ...); trajectory (steps + 1, B, ...), x_0 first.
    """
    ts = ddim_timesteps(sched.T, steps, spacing)[::-1]  # ascending: e.g. 19, 39, ..., 999
    host = sched.to("cpu")
    return reverse_loop(model, check_x_T(x0), list(zip(ts, [-1] + ts[:-1])),
                        lambda x, eps, t, s, z: _invert_step(x, eps, s, t, host),
                        return_trajectory=return_trajectory, progress=progress, desc="DDIM inversion")


def ddim_reconstruct(model, sched: NoiseSchedule, x0: torch.Tensor, steps: int = 50,
                     spacing: str = "trailing") -> dict:
    """Invert ``x0`` to x_T, decode it again with deterministic DDIM; return a dict with ``x_T``,
    ``x0_rec``, and the per-image reconstruction error ``rmse`` (B,) and ``max_abs`` (B,) in
    pixel units of [-1, 1] (a round-trip report, not a sampler result). Shapes: x0 (B, ...)."""
    x_T = ddim_invert(model, sched, x0, steps=steps, spacing=spacing).x0
    rec = ddim_sample(model, sched, x_T, steps=steps, eta=0.0, spacing=spacing).x0
    diff = (rec - x0.cpu()).flatten(1)  # (B, ...) -> (B, D)
    return {"x_T": x_T, "x0_rec": rec, "rmse": diff.pow(2).mean(1).sqrt(), "max_abs": diff.abs().max(1).values}


def latent_spread(x_T: torch.Tensor, x0: torch.Tensor, background: float = -0.9) -> dict:
    """How an inverted latent differs from a Gaussian draw: the standard deviation of ``x_T`` over all pixels, over
    the pixels that are background in ``x0`` (below ``background``: FashionMNIST's black is exactly -1) and over
    the rest (the garment). A standard normal x_T has 1 everywhere. Returns ``{"std", "std_background",
    "std_garment", "background_share"}`` (floats). Shapes: x_T, x0 (B, ...) alike."""
    if x_T.shape != x0.shape:
        raise ValueError(f"x_T and x0 must have the same shape, got {tuple(x_T.shape)} and {tuple(x0.shape)}")
    x_T, bg = x_T.detach().float().cpu(), x0.detach().cpu() < background
    if not bg.any() or bg.all():
        raise ValueError(f"x0 must hold both background pixels (below {background}) and others, got "
                         f"{int(bg.sum())} background pixels of {bg.numel()}")
    return {"std": x_T.std().item(), "std_background": x_T[bg].std().item(), "std_garment": x_T[~bg].std().item(),
            "background_share": bg.float().mean().item()}
