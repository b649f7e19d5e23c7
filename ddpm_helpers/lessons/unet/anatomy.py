r"""Notebook 04's look inside a trained noise predictor: tensor shapes, loss per timestep, x_0 predictions.

Notation (symbol -> name), 0-indexed t as in ``core.schedules``:

    \epsilon_\theta(x_t, t)   model(x_t, t)      the noise prediction
    L_t                      loss_per_timestep  E ||\epsilon - \epsilon_\theta(x_t, t)||^2 at one t
    \hat x_0                 x0_predictions     (x_t - \sqrt{1 - \bar\alpha_t} \hat\epsilon) / \sqrt{\bar\alpha_t}
"""
from __future__ import annotations

import torch
from torch import nn

from ...core.checks import check_int
from ...core.forward import q_sample
from ...core.reverse import predict_x0
from ...core.runtime import eval_mode, model_device
from ...core.schedules import NoiseSchedule

__all__ = ["trace_shapes", "format_shape_table", "loss_per_timestep", "loss_by_region", "x0_predictions",
           "filmstrip_frames"]


def _shape(v):
    if isinstance(v, torch.Tensor):
        return tuple(v.shape)
    if isinstance(v, (tuple, list)) and v:
        return _shape(v[0])
    return None


def trace_shapes(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> list[tuple[str, tuple, tuple]]:
    """Run ``model(x, t)`` once with forward hooks on its top-level layers and record their shapes.

    For the U-Net the layers are ``time``, ``stem``, ``down.0``, ..., ``mid1``, ``mid_attn``, ``mid2``,
    ``up.0``, ..., ``out``, in the order they run. Returns ``[(name, input_shape, output_shape), ...]``
    (the first input of each layer: an up-path ResBlock's input shows the skip already concatenated).
    """
    records, handles = [], []
    leaves = []
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList):
            leaves += [(f"{name}.{i}", m) for i, m in enumerate(child)]
        else:
            leaves.append((name, child))
    for name, module in leaves:
        def hook(mod, inputs, output, name=name):
            records.append((name, _shape(inputs), _shape(output)))
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            device = model_device(model)
            model(x.to(device), t.to(device))
    finally:
        for h in handles:
            h.remove()
    return records


def format_shape_table(records) -> str:
    """The records of :func:`trace_shapes` as an aligned text table."""
    w = max(len(r[0]) for r in records)
    lines = [f"{'layer':<{w}}  {'input':<20}  output", "-" * (w + 40)]
    lines += [f"{n:<{w}}  {str(i):<20}  {o}" for n, i, o in records]
    return "\n".join(lines)


def _timestep_list(timesteps, sched: NoiseSchedule) -> list[int]:
    """``timesteps`` as a non-empty list of ints in 0..T-1, else a ValueError."""
    timesteps = [int(t) for t in timesteps]
    if not timesteps or min(timesteps) < 0 or max(timesteps) > sched.T - 1:
        raise ValueError(f"timesteps must be a non-empty list of ints in 0..{sched.T - 1}, got {timesteps}")
    return timesteps


def loss_per_timestep(model: nn.Module, sched: NoiseSchedule, x0: torch.Tensor, timesteps,
                      seed: int = 0) -> torch.Tensor:
    r"""L_t = mean over x0 and pixels of
    ||\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t} x_0 + \sqrt{1-\bar\alpha_t}\epsilon, t)||^2.

    The same noise is used at every t (a seeded generator), so the curve's shape is the model's.
    Shapes: x0 (B, ...); timesteps a sequence of K ints -> (K,) float.
    """
    timesteps = _timestep_list(timesteps, sched)
    device = model_device(model)
    x0 = x0.to(device)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu").to(device)
    out = []
    with eval_mode(model):
        for t in timesteps:
            x_t, _ = q_sample(x0, t, sched, noise=noise)
            tb = torch.full((x0.shape[0],), t, device=device, dtype=torch.long)  # () -> (B,)
            out.append((model(x_t, tb).float() - noise).pow(2).mean())
    return torch.stack(out).cpu()  # (K,): one copy to the host at the end


def loss_by_region(model: nn.Module, sched: NoiseSchedule, x0: torch.Tensor, timesteps, seed: int = 0) -> dict:
    r"""L_t of :func:`loss_per_timestep` (the same noise), split by where the pixel lies in x_0: on the flat black
    background (x_0 exactly -1) or on the garment (every other pixel).

    On a background pixel x_t = -\sqrt{\bar\alpha_t} + \sqrt{1 - \bar\alpha_t} \epsilon, so a model that knows the
    pixel is background could read \epsilon off exactly: a high loss there is not a hard task but an untrained one.
    Returns a dict with ``background`` and ``garment`` ((K,) float tensors, mean squared error per pixel) and
    ``background_share`` (the fraction of pixels that are background).
    Shapes: x0 (B, 1, H, W) in [-1, 1]; timesteps a sequence of K ints.
    """
    timesteps = _timestep_list(timesteps, sched)
    device = model_device(model)
    x0 = x0.to(device)
    background = x0 == -1  # (B, 1, H, W) bool: FashionMNIST's black pixels map to exactly -1
    if not background.any() or background.all():
        raise ValueError("x0 must hold both background pixels (exactly -1) and garment pixels, got "
                         f"{int(background.sum())} background pixels of {background.numel()}")
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), device="cpu").to(device)
    bg, gm = [], []
    with eval_mode(model):
        for t in timesteps:
            x_t, _ = q_sample(x0, t, sched, noise=noise)
            tb = torch.full((x0.shape[0],), t, device=device, dtype=torch.long)  # () -> (B,)
            err = (model(x_t, tb).float() - noise).pow(2)                       # (B, 1, H, W)
            bg.append(err[background].mean())
            gm.append(err[~background].mean())
    return {"background": torch.stack(bg).cpu(), "garment": torch.stack(gm).cpu(),
            "background_share": background.float().mean().item()}


def x0_predictions(model: nn.Module, sched: NoiseSchedule, x0: torch.Tensor, timesteps, seed: int = 0):
    r"""Noise one image to each t, and ask the model for \hat x_0.

    Returns ``(x_t, x0_hat)``, each (K, C, H, W) for the K timesteps.
    Shapes: x0 (C, H, W) or (1, C, H, W).
    """
    if x0.ndim == 3:
        x0 = x0[None]  # (C, H, W) -> (1, C, H, W)
    timesteps = _timestep_list(timesteps, sched)
    device = model_device(model)
    k = len(timesteps)
    x0 = x0.to(device).expand(k, *x0.shape[1:])                                  # (1, ...) -> (K, ...)
    noise = torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(seed), device="cpu").to(device)
    noise = noise.expand_as(x0)                                                  # one noise for every t
    t = torch.tensor(timesteps, device=device)
    with eval_mode(model):
        x_t, _ = q_sample(x0, t, sched, noise=noise)
        x0_hat = predict_x0(x_t, model(x_t, t).float(), t, sched)
    return x_t.cpu(), x0_hat.cpu()


def filmstrip_frames(model: nn.Module, sched: NoiseSchedule, trajectory: torch.Tensor, timesteps, frames: int = 8):
    r"""Pick ``frames`` evenly spaced states of one sampler run and the model's \hat x_0 at each.

    ``trajectory`` is a sampler's ``(K + 1, B, ...)`` output (x_T first, x_0 last) and ``timesteps``
    the K timesteps it stepped from (T-1 first). Returns ``(x_t frames, x0_hat frames, labels)`` for
    the first item of the batch; the last frame is the final sample, labelled "x_0".
    Shapes: -> (frames, C, H, W), (frames, C, H, W), list of str.
    """
    timesteps = [int(t) for t in timesteps]
    if trajectory.shape[0] != len(timesteps) + 1:
        raise ValueError(f"trajectory must hold len(timesteps) + 1 = {len(timesteps) + 1} states, "
                         f"got {trajectory.shape[0]}")
    check_int("frames", frames, 2, len(timesteps) + 1)
    # the states before a step, evenly spaced
    picks = torch.linspace(0, len(timesteps) - 1, frames - 1, device="cpu").round().long().tolist()
    device = model_device(model)
    xs, x0s, labels = [], [], []
    host = sched.to("cpu")
    with eval_mode(model):
        for k in picks:
            x, t = trajectory[k, :1].to(device), timesteps[k]
            eps = model(x, torch.full((1,), t, dtype=torch.long, device=device)).float()
            xs.append(x[0].cpu())
            x0s.append(predict_x0(x, eps, t, host)[0].cpu())
            labels.append(f"t = {t}")
    xs.append(trajectory[-1, 0])
    x0s.append(trajectory[-1, 0])
    labels.append("x_0")
    return torch.stack(xs), torch.stack(x0s), labels
