"""Argument checks shared by the whole package: one way to say "this must be an integer in lo..hi".

Every check raises ``ValueError`` naming the argument, the value given and what is allowed, so a
student can act on the message (never ``assert``: it disappears under ``python -O``).
"""
from __future__ import annotations

import math
from dataclasses import fields, replace

import torch

__all__ = ["check_int", "check_number", "check_timesteps", "check_timestep", "check_step", "check_x_T",
           "check_point_sets", "merge_config"]


def check_int(name: str, value, lo: int | None = None, hi: int | None = None, what: str = "",
              hi_name: str = "", allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an int (not a bool) with ``lo <= value <= hi``; else raise ValueError.

    ``lo``/``hi`` of None leave that side open. ``what`` is an optional gloss and ``hi_name`` names
    the upper bound: ``check_int("steps", 0, 1, 10, hi_name="T")`` says
    ``steps must be an integer in 1..T=10, got 0``. With ``allow_none`` None passes too (and the
    message says ``must be None or an integer ...``).
    """
    if allow_none and value is None:
        return None
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        ok = False
    if not ok:
        hi_text = f"{hi_name}={hi}" if hi_name else f"{hi}"
        if lo is not None and hi is not None:
            allowed = f"an integer in {lo}..{hi_text}"
        elif lo is not None:
            allowed = f"an integer >= {lo}"
        elif hi is not None:
            allowed = f"an integer <= {hi_text}"
        else:
            allowed = "an integer"
        gloss = f" ({what})" if what else ""
        raise ValueError(f"{name} must be {'None or ' if allow_none else ''}{allowed}{gloss}, got {value!r}")
    return value


def check_number(name: str, value, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, what: str = "", hi_open: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool) in ``[lo, hi]``
    (``(lo, ...`` with ``lo_open``, ``..., hi)`` with ``hi_open``); else raise ValueError naming
    ``name`` and the value: ``check_number("ema_decay", 1.0, 0, 1, hi_open=True)`` says
    ``ema_decay must be a finite number in [0, 1), got 1.0``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None and (value <= lo if lo_open else value < lo):
        ok = False
    if ok and hi is not None and (value >= hi if hi_open else value > hi):
        ok = False
    if not ok:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        rng = (f" in {left}{lo:g}, {hi:g}{right}" if lo is not None and hi is not None
               else f" {'>' if lo_open else '>='} {lo:g}" if lo is not None
               else f" {'<' if hi_open else '<='} {hi:g}" if hi is not None else "")
        gloss = f" ({what})" if what else ""
        raise ValueError(f"{name} must be a finite number{rng}{gloss}, got {value!r}")
    return float(value)


def check_timesteps(t: int | torch.Tensor, T: int, batch: int | None = None, name: str = "t") -> torch.Tensor:
    """Validate ``t`` and return it as a long tensor: 0-d for an int, ``(B,)`` for a batch.

    ``t`` may be a Python int, a 0-d integer tensor, or a 1-D integer tensor with one entry per
    item of the batch (``batch`` entries, when given). Every value must lie in ``0 .. T-1``.
    The range check reads the values, which for a tensor on a GPU waits for it (a host sync):
    hot loops validate once, up front (``train`` draws t from 0..T-1 itself and passes
    ``check=False`` to :func:`q_sample`).
    """
    if isinstance(t, bool):
        raise ValueError(f"{name} must be an integer timestep in 0..{T - 1}, got the bool {t!r}")
    if isinstance(t, int):
        if not 0 <= t <= T - 1:
            raise ValueError(f"{name} must lie in 0..{T - 1} (0-indexed, T={T}), got {t}")
        return torch.tensor(t, device="cpu")  # explicit: a default device set by the user must not move it
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be an int or an integer tensor, got {type(t).__name__} {t!r}")
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers (torch.long), got dtype {t.dtype}; "
                         f"use t.long() or torch.randint")
    if t.ndim > 1:
        raise ValueError(f"{name} must be an int or a 1-D tensor of shape (B,), got shape {tuple(t.shape)}")
    tt = t.long()
    if tt.ndim == 1 and batch is not None and tt.shape[0] != batch:
        raise ValueError(f"{name} has {tt.shape[0]} entries but the batch has {batch} items; "
                         f"give one timestep per item (shape ({batch},)) or a single int")
    if tt.numel():
        lo, hi = int(tt.min()), int(tt.max())
        if lo < 0 or hi > T - 1:
            raise ValueError(f"{name} must lie in 0..{T - 1} (0-indexed, T={T}), got {lo if lo < 0 else hi}")
    return tt

def check_timestep(t, T: int, name: str = "t") -> int:
    """Return one timestep ``t`` (an int or a 0-d integer tensor) in 0..T-1 as an int; else raise ValueError."""
    tt = check_timesteps(t, T, name=name)
    if tt.ndim != 0:
        raise ValueError(f"{name} must be a single int for one step, got a tensor of shape {tuple(tt.shape)}")
    return int(tt)


def check_step(t, t_prev, T: int, names: tuple[str, str] = ("t", "t_prev")) -> tuple[int, int]:
    """Return ``(t, t_prev)`` as ints for one step between two timesteps: ``t`` in 0..T-1 (an int or a 0-d integer
    tensor) and ``t_prev`` in -1..t-1 (-1: the step ends at x_0); else raise ValueError naming the one at fault
    (``names``: the arguments' names in the caller)."""
    t = check_timestep(t, T, names[0])
    if isinstance(t_prev, torch.Tensor) and t_prev.ndim == 0 and not t_prev.dtype.is_floating_point:
        t_prev = int(t_prev)
    return t, check_int(names[1], t_prev, -1, t - 1, what=f"below {names[0]}={t}; -1 is x_0")


def check_x_T(x_T) -> torch.Tensor:
    """Return ``x_T`` if it is a floating-point tensor with a batch dimension (B, ...); else raise ValueError."""
    if not isinstance(x_T, torch.Tensor) or x_T.ndim < 2 or not x_T.dtype.is_floating_point:
        raise ValueError(f"x_T must be a floating-point tensor of shape (B, ...) (e.g. start_noise(model, n)), got "
                         f"{type(x_T).__name__} of shape {tuple(getattr(x_T, 'shape', ()))}")
    return x_T


def merge_config(cls, config=None, overrides: dict | None = None):
    """A new ``cls`` config: ``config`` (default ``cls()``) with ``overrides`` applied on top.

    The caller's config is never modified (``UNet(cfg, base_channels=64)`` builds from a copy of
    ``cfg`` with 64 channels). Unknown fields raise a ValueError listing the allowed ones.
    """
    if config is None:
        config = cls()
    if not isinstance(config, cls):
        raise ValueError(f"config must be a {cls.__name__} (or None), got {type(config).__name__}")
    overrides = dict(overrides or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; allowed: {sorted(allowed)}")
    return replace(config, **overrides)  # always a copy


def check_point_sets(a, b, names: tuple[str, str] = ("a", "b"), min_points: int = 2) -> None:
    """Raise ValueError unless ``a`` and ``b`` are (N, D) tensors of at least ``min_points`` points each, with one D.

    ``names`` are the argument names the message uses. Shapes: a (N, D), b (M, D).
    """
    for name, x in zip(names, (a, b)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] < min_points:
            raise ValueError(f"{name} must be a (N, D) tensor with N >= {min_points}, "
                             f"got {tuple(getattr(x, 'shape', ()))}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension D, got {a.shape[1]} and {b.shape[1]}")
