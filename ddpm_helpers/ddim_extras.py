r"""What deterministic DDIM buys (notebook 06): interpolation, inversion, and a speed-quality table.

At eta = 0 the DDIM sampler (Song et al. 2021, eq. 12) is a deterministic map x_T -> x_0, so

* two starting noises can be interpolated and every point in between decodes to an image
  (:func:`slerp`, :func:`slerp_path`; Song et al. 2021, sec. 5.3, interpolate with slerp);
* the map can be run backwards, from a real image to "its" x_T and back (:func:`ddim_invert`,
  :func:`ddim_reconstruct`; Song et al. 2021, sec. 4.3 / eq. 14: DDIM as an ODE);
* fewer steps trade quality for time, measured by :func:`speed_quality_table`.

Notation (symbol -> name), 0-indexed t as in ``schedules``:

    z_0, z_1, alpha           z0, z1, alpha     two noises and the interpolation weight
    \Omega                    the angle between z_0 and z_1
    \bar\alpha_s, \bar\alpha_t alpha_bars[s], alpha_bars[t]  (s < t in an inversion step; s = -1: 1.0)
    \hat\epsilon              eps               the model's noise prediction
"""
from __future__ import annotations

import math
import time

import torch

from .core.forward import check_timesteps
from .core.reverse import predict_x0
from .core.sampling import ddim_sample, ddim_timesteps, ddpm_sample, reverse_loop
from .core.schedules import NoiseSchedule

__all__ = ["slerp", "slerp_path", "ddim_invert_step", "ddim_invert", "ddim_reconstruct",
           "speed_quality_table", "format_table"]


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
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (the two ends included), got {n!r}")
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
    t = int(check_timesteps(t, sched.T, name="t"))
    if isinstance(s, bool) or not isinstance(s, int) or not -1 <= s < t:
        raise ValueError(f"s must be an int in -1..{t - 1} (below t={t}; -1 is x_0), got {s!r}")
    if eps.shape != x_s.shape:
        raise ValueError(f"eps must have x_s's shape {tuple(x_s.shape)}, got {tuple(eps.shape)}")
    # 1. the x_0 the current point and noise estimate imply
    x0 = x_s if s < 0 else predict_x0(x_s, eps, s, sched)
    # 2. re-noise it to level t along the same noise direction
    ab_t = float(sched.alpha_bars[t])
    return math.sqrt(ab_t) * x0 + math.sqrt(1 - ab_t) * eps


def ddim_invert(model, sched: NoiseSchedule, x0: torch.Tensor, steps: int = 50, spacing: str = "trailing",
                return_trajectory: bool = False, progress: bool = False):
    r"""DDIM inversion: map a real image x_0 to the x_T that deterministic DDIM (eta = 0, the same
    ``steps`` and ``spacing``) decodes back to (about) x_0.

    Walks the sampler's timesteps in reverse, s -> t = -1 -> t_1 -> ... -> T-1, with
    \hat\epsilon = model(x_s, t) evaluated at the *target* level t (as in diffusers'
    ``DDIMInverseScheduler`` and null-text inversion), then :func:`ddim_invert_step`.

    Returns x_T, or ``(x_T, trajectory)``, on the CPU (through the one reverse loop).
    Shapes: x0 (B, ...) -> x_T (B, ...); trajectory (steps + 1, B, ...), x_0 first.
    """
    ts = ddim_timesteps(sched.T, steps, spacing)[::-1]  # ascending: e.g. 19, 39, ..., 999
    prev = [-1] + ts[:-1]
    host = sched.to("cpu")
    return reverse_loop(model, x0, ts, lambda x, eps, i, z: ddim_invert_step(x, eps, prev[i], ts[i], host),
                        return_trajectory=return_trajectory, progress=progress, desc="DDIM inversion")


def ddim_reconstruct(model, sched: NoiseSchedule, x0: torch.Tensor, steps: int = 50, spacing: str = "trailing"):
    """Invert ``x0`` to x_T, decode it again with deterministic DDIM; return a dict with ``x_T``,
    ``x0_rec``, and the per-image reconstruction error ``rmse`` (B,) and ``max_abs`` (B,) in
    pixel units of [-1, 1]. Shapes: x0 (B, ...)."""
    x_T = ddim_invert(model, sched, x0, steps=steps, spacing=spacing)
    rec = ddim_sample(model, sched, tuple(x0.shape), steps=steps, eta=0.0, x_T=x_T, spacing=spacing,
                      progress=False)
    diff = (rec.cpu() - x0.cpu()).flatten(1)  # (B, ...) -> (B, D)
    return {"x_T": x_T.cpu(), "x0_rec": rec.cpu(), "rmse": diff.pow(2).mean(1).sqrt(),
            "max_abs": diff.abs().max(1).values}


# ----------------------------------------------------------------------------- speed vs quality
def _seed_of(generator) -> int:
    if generator is None:
        return 0
    if isinstance(generator, torch.Generator):
        return generator.initial_seed()
    if isinstance(generator, int) and not isinstance(generator, bool):
        return generator
    raise ValueError(f"generator must be None, an int seed or a torch.Generator, got {generator!r}")


def speed_quality_table(model, sched: NoiseSchedule, n: int, steps_list=(10, 20, 50, 100, 250),
                        etas=(0.0, 0.5, 1.0), include_ddpm: bool = True, generator=None,
                        batch_size: int = 256, reference: str = "test", classifier=None,
                        metrics: bool = True, shape=None, progress: bool = False,
                        return_samples: bool = False) -> list[dict]:
    r"""Time each sampler on ``n`` images and score them with FID/KID.

    Rows: DDPM with all T steps (when ``include_ddpm``), then DDIM for every ``steps`` in
    ``steps_list`` and every ``eta`` in ``etas``. Every row starts from the same x_T, drawn from
    the seed of ``generator`` (an int or a ``torch.Generator``; None means 0), and draws its
    per-step noise from streams seeded with seed + 1 + batch index, so rows differ only by the sampler.
    ``shape`` is one image's (C, H, W) (read from ``model.config`` of a U-Net when None). ``seconds`` is the wall time of sampling
    alone; ``fid``/``kid``/``kid_std`` come from ``ddpm_helpers.core.metrics.image_quality``
    (skipped when ``metrics=False``).

    Returns a list of dicts with keys sampler, steps, eta, n, seconds, images_per_second,
    model_calls, and fid, kid, kid_std; with ``return_samples`` also ``samples``, the row's (n, C, H, W)
    images (row i's image j and row k's image j share x_T: :func:`ddpm_helpers.core.metrics.paired_fid_bootstrap`
    uses that to tell rows apart). Shapes: samples are (n, 1, 28, 28) for FashionMNIST.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (images per row), got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    for k in steps_list:
        ddim_timesteps(sched.T, k)  # validates every entry (1..T)
    for e in etas:
        if not (isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e) and e >= 0):
            raise ValueError(f"every eta must be a finite number >= 0, got {e!r}")
    seed = _seed_of(generator)
    if shape is None:
        cfg = getattr(model, "config", None)
        if cfg is None or not hasattr(cfg, "image_size"):
            raise ValueError("shape must be given (C, H, W) for a model without a UNetConfig in model.config")
        shape = (cfg.in_channels, cfg.image_size, cfg.image_size)
    shape = tuple(shape)
    runs = [("DDPM", sched.T, 1.0)] if include_ddpm else []
    runs += [("DDIM", k, float(e)) for k in steps_list for e in etas]
    quality = None
    if metrics:
        from .core.metrics import image_quality  # notebook 04's FID/KID (imported late: heavy)
        quality = image_quality
    rows = []
    for sampler, k, eta in runs:
        # 1. the same starting noise for every row; the per-step noise from a second stream
        x_T = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed), device="cpu")  # (n, C, H, W)
        chunks = []
        t0 = time.perf_counter()
        for i, start in enumerate(range(0, n, batch_size)):
            xb = x_T[start:start + batch_size]
            g = torch.Generator().manual_seed(seed + 1 + i)  # one noise stream per batch
            # 2. sample (timed)
            if sampler == "DDPM":
                x = ddpm_sample(model, sched, tuple(xb.shape), x_T=xb, generator=g, progress=progress)
            else:
                x = ddim_sample(model, sched, tuple(xb.shape), steps=k, eta=eta, x_T=xb, generator=g,
                                progress=progress)
            chunks.append(x.cpu())
        seconds = time.perf_counter() - t0
        samples = torch.cat(chunks)
        row = {"sampler": sampler, "steps": k, "eta": eta, "n": n, "seconds": seconds,
               "images_per_second": n / max(seconds, 1e-9), "model_calls": k}
        if quality is not None:
            q = quality(samples, reference=reference, classifier=classifier)
            row.update(fid=float(q["fid"]), kid=float(q["kid"]), kid_std=float(q["kid_std"]))
        if return_samples:
            row["samples"] = samples
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`speed_quality_table` as a Markdown table (speed-up against the DDPM row)."""
    ddpm = next((r for r in rows if r["sampler"] == "DDPM"), None)
    has_q = any("fid" in r for r in rows)
    head = "| sampler | steps | eta | n | seconds | speed-up |" + (" FID | KID (x1000) |" if has_q else "")
    sep = "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if has_q else "")
    lines = [head, sep]
    for r in rows:
        up = f"{ddpm['seconds'] / r['seconds']:.1f}x" if ddpm else "-"
        line = f"| {r['sampler']} | {r['steps']} | {r['eta']:g} | {r['n']} | {r['seconds']:.1f} | {up} |"
        if has_q:
            line += (f" {r['fid']:.1f} | {1000 * r['kid']:.1f} ± {1000 * r['kid_std']:.1f} |"
                     if "fid" in r else " - | - |")
        lines.append(line)
    return "\n".join(lines)
