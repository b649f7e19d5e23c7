"""Where and how to run: the device, its precision, the CPU threads, and quick mode.

* :func:`pick_device`: cuda, then mps, then cpu; :func:`model_device`: where a model's weights are;
  :func:`eval_mode`: eval mode + inference mode for a block, the previous mode restored in ``finally``.
* :func:`resolve_amp` / :func:`autocast`: mixed precision chosen by what the hardware does natively
  (the one place the series decides it; the training loop and the benchmarks call it):

  ========================  =================  ==================================================
  device                    ``amp="auto"``     why
  ========================  =================  ==================================================
  CUDA, compute >= 8.0      bf16 autocast      Ampere and newer have native bf16 tensor cores
  CUDA, compute < 8.0       fp16 + GradScaler  T4/V100 (Colab's free GPU) have no native bf16
  CPU with AMX tiles        bf16 (images)      oneDNN runs bf16 convolutions natively: the U-Net
                                               step is faster; the 2-D MLP's is not, so it stays off
  CPU without AMX           off                bf16 is emulated there: slower than float32
  MPS (Apple)               off                unless asked for explicitly
  ========================  =================  ==================================================

  Whatever the model runs in, the schedule gather, ``q_sample`` and the loss stay float32. The CPU rows'
  speeds are measured in benchmarks/README.md, section 1 (``train_throughput.py``).
* :func:`configure_threads`: the CPU thread count, ``$DDPM_THREADS`` or an argument when given, else
  the CPUs this process may use (:func:`~ddpm_helpers.core.cpus.cpu_budget`: the affinity mask and the
  container's cgroup CPU quota, not the host's core count that torch starts with);
  :func:`small_model_threads`: one thread while a small model (the 2-D MLP) trains or samples on the CPU,
  where a second thread costs more in waiting than it adds (benchmarks/README.md, "Threads and CPU quotas").
* :func:`hardware_summary`: the hardware a model card or a benchmark records.
* Quick mode (``DDPM_QUICK=1``, set by CI and by ``make test``) shrinks every training and
  sampling budget through :func:`budget`, so the series runs on a 2-core CPU in minutes.
  It shrinks work; it never skips a cell or a check.
"""
from __future__ import annotations

import contextlib
import os
import platform
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import nn

from .cpus import thread_choice

__all__ = ["pick_device", "model_device", "eval_mode", "cpu_has_amx", "cuda_has_native_bf16", "resolve_amp", "autocast",
           "AMP_DTYPES", "AutocastModel", "is_quick", "budget", "seed_everything", "configure_threads",
           "setup_notebook", "small_model_threads", "SMALL_MODEL_PARAMETERS", "hardware_summary"]

Amp = Literal["auto", "bf16", "fp16", "off"]
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
Value = TypeVar("Value")


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """cuda, then mps, then cpu, unless ``prefer`` names one ("cuda", "mps", "cpu", "cuda:1", ...)."""
    if prefer is not None:
        try:
            return torch.device(prefer)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be None or a torch device name such as 'cpu', 'cuda', 'cuda:1' "
                             f"or 'mps', got {prefer!r}") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module, inference: bool = True) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (and ``torch.inference_mode`` unless ``inference=False``) for the
    block; its previous train/eval mode is restored in ``finally``, even after an error or Ctrl-C."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode() if inference else contextlib.nullcontext():
            yield model
    finally:
        model.train(was_training)


def cpu_has_amx() -> bool:
    """True when this CPU has Intel AMX tiles (``amx_tile``/``amx_bf16`` in ``lscpu``), where
    oneDNN runs bf16 convolutions natively."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # an old torch or an unusual build: assume no AMX
        return False


def cuda_has_native_bf16(device: torch.device | str = "cuda") -> bool:
    """True on CUDA GPUs of compute capability 8.0 or newer (Ampere, Hopper, ...)."""
    return torch.cuda.get_device_capability(torch.device(device))[0] >= 8


def resolve_amp(amp: Amp, device: torch.device | str, images: bool = True) -> Literal["bf16", "fp16", "off"]:
    """The precision to train in: ``amp`` itself unless it is "auto"; see the module's table.

    ``images``: whether the model is a convolutional image model (the CPU bf16 speed-up was
    measured for the U-Net; the small 2-D MLP is slower in bf16).
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {amp!r}")
    if amp != "auto":
        return amp
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if cuda_has_native_bf16(device) else "fp16"
    if device.type == "cpu":
        return "bf16" if (images and cpu_has_amx()) else "off"
    return "off"  # mps and anything else: full precision unless asked


def autocast(device: torch.device | str,
             amp: Literal["bf16", "fp16", "off"]) -> contextlib.AbstractContextManager:
    """The context the model's forward pass runs in: ``torch.autocast`` for bf16/fp16, a no-op
    ``contextlib.nullcontext()`` when off."""
    if amp == "off":
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be 'bf16', 'fp16' or 'off' here (resolve 'auto' first), got {amp!r}")
    return torch.autocast(torch.device(device).type, dtype=AMP_DTYPES[amp])


class AutocastModel(nn.Module):
    """``model`` run under :func:`autocast` in ``precision``, returning float32: a sampler's model in bf16.

    The samplers themselves stay float32 (the update arithmetic, the noise, x_t). Used by the benchmarks'
    cheap quality curve on AMX CPUs (benchmarks/time_to_quality.py; its speed and its FID against float32
    sampling are in benchmarks/README.md, section 2), never for the shipped weights' metrics.
    Shapes: those of ``model``.
    """

    def __init__(self, model: nn.Module, precision: Literal["bf16", "fp16", "off"]):
        super().__init__()
        self.model, self.precision = model, precision

    def forward(self, *args, **kwargs) -> torch.Tensor:
        device = model_device(self.model)
        with autocast(device, self.precision):
            return self.model(*args, **kwargs).float()


def is_quick() -> bool:
    """True when the environment variable ``DDPM_QUICK`` is set to 1/true/yes/on."""
    return os.environ.get("DDPM_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def budget(full: Value, quick: Value) -> Value:
    """``quick`` in quick mode, else ``full``: the one place where budgets shrink."""
    return quick if is_quick() else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed torch, numpy and random; return a CPU ``torch.Generator`` seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count and return it: ``threads`` or ``$DDPM_THREADS`` when given, otherwise
    the CPUs this process may use (:func:`~ddpm_helpers.core.cpus.thread_choice`, which says why).

    torch's own default is one thread per core of the host, whatever the container's quota: under a
    1-CPU quota on a 2-core host it runs two threads that throttle each other (benchmarks/README.md,
    "Threads and CPU quotas"). The test suite sets ``DDPM_THREADS`` to share the cores between its workers.
    """
    choice = thread_choice(threads)
    torch.set_num_threads(choice.threads)
    _limit_blas_threads(choice.threads)
    return choice.threads


def _limit_blas_threads(n: int) -> None:
    """The same cap for numpy's and scipy's BLAS (OpenBLAS keeps its own pool, one thread per core, whatever
    torch is told): FID's matrix square root and KID's kernels run there. threadpoolctl comes with
    scikit-learn; without it the BLAS keeps its default."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    import scipy.linalg  # noqa: F401 (loaded now, so that its own OpenBLAS is limited too; numpy's already is)

    threadpool_limits(limits=n, user_api="blas")


# Models with fewer parameters than this train and sample on one CPU thread (small_model_threads): the
# moons TimeMLP (120k) is as fast on one thread as on two on an idle CPU and many times faster on a busy
# one or under a quota; the FashionMNIST U-Net (1.06M) gains from a second thread on an idle CPU.
SMALL_MODEL_PARAMETERS = 500_000


@contextlib.contextmanager
def small_model_threads(model: nn.Module, device: torch.device | str | None = None) -> Iterator[int]:
    """One CPU thread for the block when ``model`` is small (< ``SMALL_MODEL_PARAMETERS``) and runs on
    the CPU; the previous count is restored in ``finally``. Yields the count in use.

    A small model's matrix products take microseconds, so a second thread adds little, and the threads
    meet at the end of every op: OpenMP's waiting thread spins there, and when another job or a CPU
    quota takes the second core away the spinning burns the time the other thread needs
    (benchmarks/README.md, "Threads and CPU quotas"). ``$DDPM_THREADS``, when
    set, wins: the count it asked for stays. ``device``: where the model runs (default: its weights').
    """
    device = torch.device(device) if device is not None else model_device(model)
    before = torch.get_num_threads()
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
    if device.type != "cpu" or not small or before == 1 or os.environ.get("DDPM_THREADS", "").strip():
        yield before
        return
    torch.set_num_threads(1)
    try:
        yield 1
    finally:
        torch.set_num_threads(before)


def setup_notebook(seed: int = 0, threads: int | None = None) -> torch.Generator:
    """The first call of every notebook: seed everything, set the CPU threads, say where we run.

    Prints the device, the precision training will use there, the CPU threads and why that number
    (the argument, ``DDPM_THREADS``, or the affinity mask and CPU quota :func:`configure_threads` found).
    Returns a CPU ``torch.Generator`` seeded with ``seed``.
    """
    gen = seed_everything(seed)
    choice = thread_choice(threads)
    n = configure_threads(choice.threads)
    device = pick_device()
    amp = resolve_amp("auto", device)
    small = f"; small models: 1 (below {SMALL_MODEL_PARAMETERS:,} parameters)" if n > 1 and not (
        choice.reason == "DDPM_THREADS") else ""
    print(f"device: {device}; image-model precision: {amp if amp != 'off' else 'float32'}; "
          f"CPU threads: {n} ({choice.reason}{small}); quick mode: {'on' if is_quick() else 'off'} (DDPM_QUICK); "
          f"seed {seed}")
    return gen


def hardware_summary(device: torch.device) -> str:
    """What a model card or a benchmark's JSON records as the hardware: the GPU's name and CUDA version, or the
    CPU's model name (``/proc/cpuinfo``) and torch's thread count."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{cpu}, {n} torch thread{'s' if n != 1 else ''}"
