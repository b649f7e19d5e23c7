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

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
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

__all__ = ["TrainConfig", "TrainResult", "train", "EMA", "ema_decay_at", "min_snr_weights", "lr_factor", "UNET_RECIPE",
           "GRAD_CLIP", "BUCKETS"]


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
    ema_decay: float = 0.999          # EMA decay (warmed up as min(decay, (1+n)/(10+n)))
    ema_warmup: bool = True           # False: the EMA uses ema_decay from its second update on
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: by capability, see runtime.resolve_amp
    compile: bool = False             # torch.compile the model (CUDA only; slow first step)
    channels_last: bool | None = None  # channels_last for 4-D (image) data; None: on CUDA, and on the CPU in
                                       # float32 but not in bf16, where each layout measured faster
                                       # (benchmarks/README.md, section 1)
    device: str | None = None         # None: cuda, then mps, then cpu
    seed: int = 0                     # seeds t, noise, batch and label-dropout draws
    log_every: int = 50               # steps between progress-bar updates, bucket records and callbacks
    time_limit: float | None = None   # stop (cleanly, like an interrupt) after this many seconds
    progress: bool = True             # show a tqdm bar
    label_dropout: float = 0.1        # with ``labels``: the share of examples trained with the null label
                                      # (classifier-free guidance, Ho & Salimans 2022: p_uncond = 0.1)


# Fixed parts of the recipe, not options: no caller ever changed them. Ho et al. 2020's code clips the
# global gradient norm at 1 and uses Adam without weight decay (scripts/run_cifar.py: grad_clip=1.,
# optimizer='adam'); the per-timestep loss history has ten buckets.
GRAD_CLIP = 1.0
BUCKETS = 10


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
    bucket_losses: np.ndarray         # (records, BUCKETS) mean loss per timestep bucket per record (weighted)
    bucket_edges: np.ndarray          # (BUCKETS + 1,) timestep edges of the buckets
    steps_done: int
    seconds: float
    interrupted: bool = False
    device: str = "cpu"
    config: TrainConfig = field(default_factory=TrainConfig)
    precision: str = "off"            # what amp="auto" resolved to: "bf16", "fp16" or "off" (float32)
    bucket_mse: np.ndarray | None = None  # (records, BUCKETS) like bucket_losses, without the loss weights:
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
    ab = sched.host64.alpha_bars  # the schedule's float64 tables (on the host): 1 - alpha_bar_0 = beta_0 exactly
    snr = ab / (1 - ab)
    return (snr.clamp(max=gamma) / snr).to(sched.device, torch.float32)


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
    for name in ("steps", "batch_size", "log_every"):
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

    The parts, each on one screen: :func:`_place` (everything on the device, optimizer, EMA, precision),
    :func:`_step` (one step of Algorithm 1), :class:`_Buckets` (the per-timestep loss history),
    :func:`_loop` (the steps, the time limit, the callback's pauses, the stop button), :func:`_result`.
    """
    if overrides or config is None:  # a new config; the caller's is never modified
        config = merge_config(TrainConfig, config, overrides)
    _check_train_inputs(data, sched, config, loss_weights)
    _check_labels(model, data, labels, config)
    device = pick_device(config.device)
    with small_model_threads(model, device):  # one CPU thread for the 2-D MLP (runtime.SMALL_MODEL_PARAMETERS)
        run = _place(model, data, sched, config, loss_weights, labels, device)
        return _result(run, config, *_loop(run, config, callback))


@dataclass
class _Run:
    """What one training run works on, placed on its device by :func:`_place`."""
    model: nn.Module                  # the live weights (channels_last for images where that is faster)
    forward: Callable                 # the model, or its torch.compile'd forward
    data: torch.Tensor                # (N, ...) float32, resident on the device
    labels: torch.Tensor | None       # (N,) long, or None for an unconditional model
    null: int                         # the null label's index (the model's num_classes; unused without labels)
    sched: NoiseSchedule
    weights: torch.Tensor | None      # (T,) float32 loss weights w_t, or None (L_simple)
    gen: torch.Generator              # on the device: batch, t, noise and label-dropout draws
    opt: torch.optim.Optimizer
    ema: EMA
    scaler: torch.amp.GradScaler      # enabled for fp16 only
    precision: str                    # "bf16", "fp16" or "off"
    channels_last: bool
    device: torch.device


def _place(model: nn.Module, data: torch.Tensor, sched: NoiseSchedule, config: TrainConfig,
           loss_weights: torch.Tensor | None, labels: torch.Tensor | None, device: torch.device) -> _Run:
    """Everything resident on the device (model, data, labels, schedule, loss weights); the optimizer (fused
    on CUDA), the EMA and the mixed precision, chosen in one place (``runtime.resolve_amp``)."""
    cuda = device.type == "cuda"
    model = model.to(device)
    precision = resolve_amp(config.amp, device, images=data.ndim == 4)
    channels_last = data.ndim == 4 and (config.channels_last if config.channels_last is not None
                                        else not (device.type == "cpu" and precision == "bf16"))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    sched = sched.to(device)
    if config.min_snr_gamma is not None:
        loss_weights = min_snr_weights(sched, config.min_snr_gamma)
    return _Run(model=model, forward=torch.compile(model) if (config.compile and cuda) else model,
                data=data.to(device, torch.float32), labels=None if labels is None else labels.to(device, torch.long),
                null=getattr(getattr(model, "config", None), "num_classes", 0), sched=sched,
                weights=None if loss_weights is None else loss_weights.to(device, torch.float32),
                gen=torch.Generator(device=device).manual_seed(config.seed),
                opt=torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, fused=True if cuda else None),
                ema=EMA(model, config.ema_decay, config.ema_warmup),
                scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
                precision=precision, channels_last=channels_last, device=device)


def _step(run: _Run, config: TrainConfig, lr: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of Algorithm 1 at learning rate ``lr`` (the module docstring's steps 1-5). No host sync.

    Returns, detached: t (B,), the weighted loss per example (B,), the plain MSE per example (B,), the loss ().
    """
    B, device, gen = config.batch_size, run.device, run.gen
    # 1. a batch x_0 from the resident data
    idx = torch.randint(0, run.data.shape[0], (B,), device=device, generator=gen)
    x0 = run.data[idx]
    if run.channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    # 2.-3. t ~ U{0..T-1}, eps ~ N(0, I), x_t in float32 (t is in 0..T-1 by construction: not re-checked)
    t = torch.randint(0, run.sched.T, (B,), device=device, generator=gen)
    noise = torch.randn(x0.shape, device=device, generator=gen)
    x_t, _ = q_sample(x0, t, run.sched, noise=noise, check=False)
    cond = ()
    if run.labels is not None:  # the labels, each dropped to the null label with p = label_dropout
        drop = torch.rand(B, device=device, generator=gen) < config.label_dropout
        cond = (torch.where(drop, run.null, run.labels[idx]),)
    # 4. the model in its precision, the loss in float32
    with autocast(device, run.precision):
        eps_hat = run.forward(x_t, t, *cond)
    mse = (eps_hat.float() - noise).pow(2).flatten(1).mean(1)  # (B, ...) -> (B,)
    per_example = mse if run.weights is None else mse * run.weights[t]
    loss = per_example.mean()
    # 5. AdamW with gradient clipping, then the EMA
    for group in run.opt.param_groups:
        group["lr"] = lr
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.unscale_(run.opt)
    nn.utils.clip_grad_norm_(run.model.parameters(), GRAD_CLIP)
    run.scaler.step(run.opt)
    run.scaler.update()
    run.ema.update(run.model)
    return t, per_example.detach(), mse.detach(), loss.detach()


class _Buckets:
    """The loss per timestep bucket (``BUCKETS`` equal ranges of t), summed on the device at every step and
    turned into one record, a (BUCKETS,) mean per bucket, at each log step (the only host sync)."""

    def __init__(self, T: int, device: torch.device):
        self.edges = np.linspace(0, T, BUCKETS + 1).round().astype(int)
        self.inner = torch.as_tensor(self.edges[1:-1], device=device)  # copied to the device once
        self.loss_sum, self.mse_sum, self.count = (torch.zeros(BUCKETS, device=device) for _ in range(3))
        self.losses: list[np.ndarray] = []  # the records: weighted loss
        self.mse: list[np.ndarray] = []     # the records: plain MSE

    def add(self, t: torch.Tensor, per_example: torch.Tensor, mse: torch.Tensor) -> None:
        b = torch.bucketize(t, self.inner, right=True)  # (B,) bucket of each example
        self.loss_sum.index_add_(0, b, per_example)
        self.count.index_add_(0, b, torch.ones_like(per_example))
        self.mse_sum.index_add_(0, b, mse)

    def record(self) -> None:
        n = self.count.clamp(min=1)
        self.losses.append((self.loss_sum / n).cpu().numpy())
        self.mse.append((self.mse_sum / n).cpu().numpy())
        for total in (self.loss_sum, self.mse_sum, self.count):
            total.zero_()


class _Clock:
    """Training time: wall time since the start, less the time spent in callbacks."""

    def __init__(self):
        self.start, self.paused = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - begin


def _learning_rate(config: TrainConfig, step: int, seconds: float) -> float:
    """The lr at ``step``: :func:`lr_factor` with the run's progress, steps or time, whichever is further."""
    progress = step / config.steps
    if config.time_limit:
        progress = max(progress, seconds / config.time_limit)
    return config.lr * lr_factor(step, config.warmup, config.lr_decay, progress)


def _loop(run: _Run, config: TrainConfig, callback) -> tuple[torch.Tensor, _Buckets, int, float, bool]:
    """The steps; every ``log_every`` a bucket record, the time limit and the callback (its time not counted).
    A KeyboardInterrupt (the stop button) ends the loop with the steps done so far.

    Returns (losses of the steps done, the buckets, steps done, training seconds, interrupted)."""
    losses = torch.zeros(config.steps, device=run.device)
    buckets = _Buckets(run.sched.T, run.device)
    run.model.train()
    clock, step, interrupted = _Clock(), 0, False
    bar = tqdm(total=config.steps, desc="training", disable=not config.progress)
    try:
        for step in range(config.steps):
            t, per_example, mse, losses[step] = _step(run, config, _learning_rate(config, step, clock.seconds()))
            buckets.add(t, per_example, mse)
            bar.update(1)
            if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
                buckets.record()
                bar.set_postfix(loss=f"{losses[max(0, step + 1 - config.log_every):step + 1].mean().item():.4f}")
                seconds = clock.seconds()
                stop = config.time_limit is not None and seconds > config.time_limit
                if callback is not None:
                    with clock.pause():
                        stop = bool(callback(step + 1, run.model, run.ema.module, seconds)) or stop
                        run.model.train()
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
    return losses[:step], buckets, step, clock.seconds(), interrupted


def _result(run: _Run, config: TrainConfig, losses: torch.Tensor, buckets: _Buckets, steps: int, seconds: float,
            interrupted: bool) -> TrainResult:
    """The trained weights back in the contiguous layout and eval mode, with the run's history."""
    if run.channels_last:
        run.model.to(memory_format=torch.contiguous_format)
        run.ema.module.to(memory_format=torch.contiguous_format)
    run.model.eval()
    run.ema.module.eval()
    return TrainResult(model=run.model, ema=run.ema.module, losses=losses.cpu().numpy(),
                       bucket_losses=np.array(buckets.losses).reshape(-1, BUCKETS), bucket_edges=buckets.edges,
                       steps_done=steps, seconds=seconds, interrupted=interrupted, device=str(run.device),
                       config=config, precision=run.precision,
                       bucket_mse=np.array(buckets.mse).reshape(-1, BUCKETS))
