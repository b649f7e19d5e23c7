"""Argument checks shared by the whole package: one way to say "this must be an integer in lo..hi".

Every check raises ``ValueError`` naming the argument, the value given and what is allowed, so a
student can act on the message (never ``assert``: it disappears under ``python -O``).
"""
from __future__ import annotations

import math
from dataclasses import fields, replace

__all__ = ["check_int", "check_number", "merge_config"]


def check_int(name: str, value, lo: int | None = None, hi: int | None = None, what: str = "",
              hi_name: str = "") -> int:
    """Return ``value`` if it is an int (not a bool) with ``lo <= value <= hi``; else raise ValueError.

    ``lo``/``hi`` of None leave that side open. ``what`` is an optional gloss and ``hi_name`` names
    the upper bound: ``check_int("steps", 0, 1, 10, hi_name="T")`` says
    ``steps must be an integer in 1..T=10, got 0``.
    """
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
        raise ValueError(f"{name} must be {allowed}{gloss}, got {value!r}")
    return value


def check_number(name: str, value, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, what: str = "") -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool) in ``[lo, hi]``
    (``(lo, hi]`` with ``lo_open``); else raise ValueError naming ``name`` and the value."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None and (value <= lo if lo_open else value < lo):
        ok = False
    if ok and hi is not None and value > hi:
        ok = False
    if not ok:
        left = "(" if lo_open else "["
        rng = (f" in {left}{lo:g}, {hi:g}]" if lo is not None and hi is not None
               else f" {'>' if lo_open else '>='} {lo:g}" if lo is not None
               else f" <= {hi:g}" if hi is not None else "")
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
