"""Argument checks shared by the whole package: one way to say "this must be an integer in lo..hi".

Every check raises ``ValueError`` naming the argument, the value given and what is allowed, so a
student can act on the message (never ``assert``: it disappears under ``python -O``).
"""
from __future__ import annotations

import math
from dataclasses import fields, replace

import torch

__all__ = ["check_int", "check_number", "check_point_sets", "merge_config"]


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
