r"""The one training loop for every model in the series (checkpoints: :mod:`ddpm_helpers.core.checkpoints`).

Each step (Ho et al. 2020, Algorithm 1):
  1. draw a batch x_0 from the dataset (resident on the device, picked by indexing),
  2. draw t ~ Uniform{0..T-1} and \epsilon ~ N(0, I),
  3. x_t = q_sample(x_0, t, eps)                      (float32),
  4. loss = w_t * || eps - model(x_t, t) ||^2          (model under autocast where the hardware
                                                      runs it natively, see ``runtime.resolve_amp``;
                                                      the schedule gather and the loss in float32),
  5. AdamW step with gradient clipping, then an EMA update of the weights.

No host-device sync inside a step, except at logging steps (every ``log_every``) and, with fp16,
the GradScaler's inf check: timesteps are validated once (they are drawn from 0..T-1), the EMA
counts its updates on the host, and the per-bucket losses accumulate on the device.

``w_t = 1`` is L_simple; notebook 05 passes the ELBO weights through ``loss_weights``;
``min_snr_gamma`` uses :func:`min_snr_weights`. The learning rate warms up linearly over ``warmup``
steps, then stays (``lr_decay="none"``) or follows a half cosine to 0 at the run's end (``"cosine"``).
With ``labels`` (a class-conditional model, notebook 07) each example's label is passed as
``model(x_t, t, y)``, replaced by the null label with probability ``label_dropout`` so that one
network learns both eps(x_t, t, c) and eps(x_t, t, null).
A KeyboardInterrupt (the notebook's stop button) ends training cleanly: :func:`train`
returns everything trained so far, with ``result.interrupted = True``.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_int, check_number, merge_config
from .forward import q_sample
from .runtime import autocast, pick_device, resolve_amp, small_model_threads
from .schedules import NoiseSchedule

__all__ = ["TrainConfig", "TrainResult", "train", "EMA", "ema_decay_at", "min_snr_weights", "lr_factor", "UNET_RECIPE"]


@dataclass
class TrainConfig:
    steps: int = 2000                 # optimizer steps
    batch_size: int = 128             # examples per step
    lr: float = 2e-4                  # AdamW learning rate (after warm-up)
    warmup: int = 100                 # linear learning-rate warm-up steps
    lr_decay: Literal["none", "cosine"] = "none"  # cosine: lr falls to 0 by the end of the run, where the
                                      # end is ``steps`` or ``time_limit``, whichever comes first
                                      # (progress = max(step / steps, seconds / time_limit))
    min_snr_gamma: float | None = None  # min-SNR-gamma loss weights (Hang et al. 2023): w_t = min(SNR_t, g) / SNR_t
    weight_decay: float = 0.0         # AdamW weight decay
    grad_clip: float = 1.0            # max global gradient norm (0 disables)
    ema_decay: float = 0.999          # EMA decay (warmed up as min(decay, (1+n)/(10+n)))
    ema_warmup: bool = True           # False: the EMA uses ema_decay from its second update on
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: by capability, see runtime.resolve_amp
    compile: bool = False             # torch.compile the model (CUDA only; slow first step)
    channels_last: bool | None = None  # channels_last for 4-D (image) data; None: on CUDA, and on the CPU
                                       # in float32 (1.18x) but not in bf16 (0.82x: contiguous is faster there)
    fused_adamw: bool = True          # fused AdamW kernel on CUDA
    device: str | None = None         # None: cuda, then mps, then cpu
    seed: int = 0                     # seeds t, noise and batch draws
    buckets: int = 10                 # timestep buckets for the per-t loss history
    log_every: int = 50               # steps between progress-bar updates and bucket records
    time_limit: float | None = None   # stop (cleanly, like an interrupt) after this many seconds
    progress: bool = True             # show a tqdm bar
    label_dropout: float = 0.1        # with ``labels``: the share of examples trained with the null label
                                      # (classifier-free guidance, Ho & Salimans 2022: p_uncond = 0.1)


# The series' recipe for the FashionMNIST U-Net (train-unet, notebook 04, benchmarks/time_to_quality.py):
# the TrainConfig fields that differ from the generic defaults. Chosen by the equal-wall-clock ablation
# in benchmarks/README.md ("Training recipe").
UNET_RECIPE = dict(amp="auto", lr=2e-3, warmup=200, lr_decay="none", batch_size=64, ema_decay=0.999,
                   min_snr_gamma=5.0)


@dataclass
class TrainResult:
    model: nn.Module                  # the live weights after the last step
    ema: nn.Module                    # the EMA weights: sample with these
    losses: np.ndarray                # (steps_done,) loss of every step
    bucket_losses: np.ndarray         # (records, buckets) mean loss per timestep bucket per record (weighted)
    bucket_edges: np.ndarray          # (buckets + 1,) timestep edges of the buckets
    steps_done: int
    seconds: float
    interrupted: bool = False
    device: str = "cpu"
    config: TrainConfig = field(default_factory=TrainConfig)
    precision: str = "off"            # what amp="auto" resolved to: "bf16", "fp16" or "off" (float32)
    bucket_mse: np.ndarray | None = None  # (records, buckets) like bucket_losses, without the loss weights:
                                          # the plain ||eps - eps_hat||^2 per pixel (equal when unweighted)

    @property
    def examples_per_second(self) -> float:
        return self.steps_done * self.config.batch_size / max(self.seconds, 1e-9)


def ema_decay_at(decay: float, n: int, warmup: bool = True) -> float:
    """The EMA decay for the update after ``n`` earlier ones: ``min(decay, (1 + n) / (10 + n))``.

    The warm-up keeps the early EMA from being dominated by the random initial weights: with a fixed
    decay of 0.999 the copy made at the first update still holds a share of ``0.999 ** n`` of the
    average after ``n`` updates (37 % after 1000). ``warmup=False`` returns ``decay``."""
    return min(decay, (1 + n) / (10 + n)) if warmup else decay


def min_snr_weights(sched: NoiseSchedule, gamma: float) -> torch.Tensor:
    r"""Min-SNR-:math:`\gamma` loss weights for epsilon prediction (Hang et al. 2023): ``min(SNR_t, gamma) / SNR_t``.

    SNR_t = alpha_bar_t / (1 - alpha_bar_t). Timesteps with SNR above gamma (the nearly clean ones, whose
    noise is easy to see and whose gradients fight the others') get less weight; the rest keep weight 1.
    Shape: (T,), float32 on the schedule's device.
    """
    check_number("gamma", gamma, lo=0, lo_open=True)
    ab = torch.cumprod(1 - sched.betas.double(), 0)  # in float64 from the betas: 1 - alpha_bar_0 = beta_0 exactly
    snr = ab / (1 - ab)
    return (snr.clamp(max=gamma) / snr).float()


def lr_factor(step: int, warmup: int, decay: str, progress: float) -> float:
    """The learning-rate multiplier at ``step``: linear warm-up over ``warmup`` steps, times 1 (``decay="none"``)
    or a half cosine of ``progress`` in [0, 1] (``"cosine"``: 1 at the start, 0 at the end of the run)."""
    warm = min(1.0, (step + 1) / max(warmup, 1))
    if decay == "none":
        return warm
    return warm * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


class EMA:
    r"""An exponential moving average of a model's weights: ema <- ema + (1 - d)(w - ema), d = :func:`ema_decay_at`.

    The first update copies the weights. Updates are counted on the host (``self.updates``), so an
    update costs no device sync (``torch.optim.swa_utils.AveragedModel`` keeps its count in a
    tensor and compares it on every update). Buffers are copied, not averaged. ``self.module`` is
    the averaged model (eval mode, no gradients): sample with it.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup = decay, warmup
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_p, p = list(self.module.parameters()), [q.detach() for q in model.parameters()]
        if self.updates == 0:
            torch._foreach_copy_(ema_p, p)
        else:
            torch._foreach_lerp_(ema_p, p, 1 - ema_decay_at(self.decay, self.updates, self.warmup))
        for eb, b in zip(self.module.buffers(), model.buffers()):
            eb.copy_(b)
        self.updates += 1


def _check_labels(model: nn.Module, data: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig) -> None:
    k = getattr(getattr(model, "config", None), "num_classes", 0)
    if labels is None:
        return
    if not k:
        raise ValueError("labels were given, but the model is unconditional (config.num_classes = 0); "
                         "build it with num_classes > 0")
    if (not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point
            or tuple(labels.shape) != (data.shape[0],)):
        raise ValueError(f"labels must be an integer tensor of shape ({data.shape[0]},), one per example, got "
                         f"{type(labels).__name__} {tuple(getattr(labels, 'shape', ()))}")
    if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < k):
        raise ValueError(f"labels must lie in 0..{k - 1} (the model's num_classes = {k}; {k} is the null label, "
                         f"which training draws itself), got {int(labels.min())}..{int(labels.max())}")
    check_number("config.label_dropout", config.label_dropout, lo=0, hi=1)


def _check_train_inputs(data: torch.Tensor, sched: NoiseSchedule, config: TrainConfig,
                        loss_weights: torch.Tensor | None) -> None:
    if not isinstance(data, torch.Tensor) or data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data must be a tensor (N, ...) of training examples, got "
                         f"{type(data).__name__} {tuple(getattr(data, 'shape', ()))}")
    for name in ("steps", "batch_size", "buckets", "log_every"):
        check_int(f"config.{name}", getattr(config, name), lo=1)
    check_int("config.warmup", config.warmup, lo=0)
    check_number("config.lr", config.lr, lo=0, lo_open=True)
    check_number("config.ema_decay", config.ema_decay, lo=0, hi=1, hi_open=True)
    if not isinstance(config.ema_warmup, bool):
        raise ValueError(f"config.ema_warmup must be True or False, got {config.ema_warmup!r}")
    if config.lr_decay not in ("none", "cosine"):
        raise ValueError(f"config.lr_decay must be 'none' or 'cosine', got {config.lr_decay!r}")
    if config.min_snr_gamma is not None:
        check_number("config.min_snr_gamma", config.min_snr_gamma, lo=0, lo_open=True)
        if loss_weights is not None:
            raise ValueError("pass either loss_weights or config.min_snr_gamma, not both")
    if config.amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"config.amp must be 'auto', 'bf16', 'fp16' or 'off', got {config.amp!r}")
    if loss_weights is not None and tuple(loss_weights.shape) != (sched.T,):
        raise ValueError(f"loss_weights must have shape (T,) = ({sched.T},), got {tuple(loss_weights.shape)}")


def train(model: nn.Module, data: torch.Tensor, sched: NoiseSchedule, config: TrainConfig | None = None,
          loss_weights: torch.Tensor | None = None,
          callback: Callable[[int, nn.Module, nn.Module, float], bool | None] | None = None,
          labels: torch.Tensor | None = None, **overrides) -> TrainResult:
    """Train ``model`` to predict the noise in ``q_sample(data, t)``; see the module docstring.

    ``overrides`` set single fields of ``config`` (``train(m, x, sched, steps=500)``).
    ``callback(step, model, ema, seconds)`` runs every ``log_every`` steps (``seconds``: training time so
    far, excluding earlier callbacks); returning True stops training. Time spent inside it is not counted.
    ``labels``: one class per example for a class-conditional model (see the module docstring).
    Shapes: data (N, ...) with the model's input shape per example; labels (N,) or None; loss_weights (T,) or None.
    """
    if overrides or config is None:  # a new config; the caller's is never modified
        config = merge_config(TrainConfig, config, overrides)
    _check_train_inputs(data, sched, config, loss_weights)
    _check_labels(model, data, labels, config)
    device = pick_device(config.device)
    with small_model_threads(model, device):  # one CPU thread for the 2-D MLP (runtime.SMALL_MODEL_PARAMETERS)
        return _train(model, data, sched, config, loss_weights, callback, device, labels)


def _train(model: nn.Module, data: torch.Tensor, sched: NoiseSchedule, config: TrainConfig,
           loss_weights: torch.Tensor | None, callback, device: torch.device,
           labels: torch.Tensor | None = None) -> TrainResult:
    """:func:`train`'s loop, on checked inputs."""
    cuda = device.type == "cuda"

    # 1. everything resident on the device: model, data, schedule
    model = model.to(device)
    precision = resolve_amp(config.amp, device, images=data.ndim == 4)
    channels_last = data.ndim == 4 and (config.channels_last if config.channels_last is not None
                                        else not (device.type == "cpu" and precision == "bf16"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = data.to(device, torch.float32)
    if labels is not None:
        labels = labels.to(device, torch.long)
        null = model.config.num_classes  # the null label's index
    sched = sched.to(device)
    if config.min_snr_gamma is not None:
        loss_weights = min_snr_weights(sched, config.min_snr_gamma)
    weights = None if loss_weights is None else loss_weights.to(device, torch.float32)
    gen = torch.Generator(device=device).manual_seed(config.seed)

    # 2. optimizer (fused on CUDA), EMA, mixed precision chosen in one place (runtime.resolve_amp)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                            fused=True if (cuda and config.fused_adamw) else None)

    def set_lr(step: int, seconds: float) -> None:
        progress = step / config.steps
        if config.time_limit:
            progress = max(progress, seconds / config.time_limit)
        for group in opt.param_groups:
            group["lr"] = config.lr * lr_factor(step, config.warmup, config.lr_decay, progress)
    ema = EMA(model, config.ema_decay, config.ema_warmup)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    forward = torch.compile(model) if (config.compile and cuda) else model

    losses = torch.zeros(config.steps, device=device)
    nb = config.buckets
    edges = np.linspace(0, sched.T, nb + 1).round().astype(int)
    inner_edges = torch.as_tensor(edges[1:-1], device=device)  # copied to the device once
    bucket_sum = torch.zeros(nb, device=device)
    bucket_cnt = torch.zeros(nb, device=device)
    mse_sum = torch.zeros(nb, device=device)
    bucket_records, mse_records = [], []
    model.train()
    step, interrupted = 0, False
    t0 = time.perf_counter()
    paused = 0.0  # seconds spent in callbacks, not counted as training time
    bar = tqdm(total=config.steps, desc="training", disable=not config.progress)
    try:
        for step in range(config.steps):
            # 3. batch, timesteps and noise; q_sample in float32 (t is in 0..T-1 by construction)
            idx = torch.randint(0, data.shape[0], (config.batch_size,), device=device, generator=gen)
            x0 = data[idx]
            if channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            t = torch.randint(0, sched.T, (config.batch_size,), device=device, generator=gen)
            noise = torch.randn(x0.shape, device=device, generator=gen)
            x_t, _ = q_sample(x0, t, sched, noise=noise, check=False)
            cond = ()
            if labels is not None:  # the labels, each dropped to the null label with p = label_dropout
                drop = torch.rand(config.batch_size, device=device, generator=gen) < config.label_dropout
                cond = (torch.where(drop, null, labels[idx]),)
            # 4. the model in its precision, the loss in float32
            with autocast(device, precision):
                eps_hat = forward(x_t, t, *cond)
            mse = (eps_hat.float() - noise).pow(2).flatten(1).mean(1)  # (B, ...) -> (B,)
            per_example = mse if weights is None else mse * weights[t]
            loss = per_example.mean()
            # 5. optimizer step with clipping, then EMA
            set_lr(step, time.perf_counter() - t0 - paused)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip > 0:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(opt)
            scaler.update()
            ema.update(model)
            # 6. bookkeeping on the device (no host sync except at log steps)
            losses[step] = loss.detach()
            b = torch.bucketize(t, inner_edges, right=True)
            bucket_sum.index_add_(0, b, per_example.detach())
            bucket_cnt.index_add_(0, b, torch.ones_like(per_example))
            mse_sum.index_add_(0, b, mse.detach())
            bar.update(1)
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                bucket_records.append((bucket_sum / bucket_cnt.clamp(min=1)).cpu().numpy())
                mse_records.append((mse_sum / bucket_cnt.clamp(min=1)).cpu().numpy())
                bucket_sum.zero_()
                bucket_cnt.zero_()
                mse_sum.zero_()
                bar.set_postfix(loss=f"{losses[max(0, step + 1 - config.log_every):step + 1].mean().item():.4f}")
                stop = config.time_limit is not None and time.perf_counter() - t0 - paused > config.time_limit
                if callback is not None:
                    c0 = time.perf_counter()
                    stop = bool(callback(step + 1, model, ema.module, c0 - t0 - paused)) or stop
                    model.train()
                    paused += time.perf_counter() - c0
                if stop:
                    step += 1
                    break
        else:
            step = config.steps
    except KeyboardInterrupt:
        interrupted = True
        print(f"Training interrupted after {step} of {config.steps} steps; returning what was trained so far.")
    finally:
        bar.close()
    seconds = time.perf_counter() - t0 - paused
    if channels_last:
        model = model.to(memory_format=torch.contiguous_format)
        ema.module.to(memory_format=torch.contiguous_format)
    model.eval()
    ema.module.eval()
    return TrainResult(model=model, ema=ema.module, losses=losses[:step].cpu().numpy(),
                       bucket_losses=np.array(bucket_records).reshape(-1, nb), bucket_edges=edges,
                       steps_done=step, seconds=seconds, interrupted=interrupted, device=str(device),
                       config=config, precision=precision,
                       bucket_mse=np.array(mse_records).reshape(-1, nb))
