r"""Notebook 04's exercise self-checks: the sinusoidal time embedding, adding it to a feature map, and
the distance from a sample to its nearest training image (the memorization test).

Each exercise declares its cases, its reference and its catalogue of typical mistakes (for the
embedding: each slip of the frequencies combined with each slip of the layout);
``check_<name>(my_<name>)`` hands it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints
the verdict and returns True/False.

Notation (symbol -> name):

    f_i                   10000^{-i / (dim/2)}, i = 0..dim/2-1     the embedding's frequencies
    emb(t)                sinusoidal_embedding(t, dim)             (B, dim): [sin(t f_i) | cos(t f_i)]
    h, temb               feature map (B, C, H, W), projected time embedding (B, C)
"""
from __future__ import annotations

import math

import torch

from ...core.models import sinusoidal_embedding
from ...ui.checking import Exercise, Term, numbers, term_slips

__all__ = ["check_sinusoidal_embedding", "check_time_injection", "check_nearest_distance"]


def _frequencies(half: int, sign: float = -1.0, log_base: float = math.log(10000.0), denominator: int | None = None):
    """f_i = exp(sign * log_base * i / denominator), i = 0..half-1 (the right one: sign -1, base 10000, half)."""
    i = torch.arange(half, dtype=torch.float32, device="cpu")
    return torch.exp(sign * log_base * i / (denominator or half))


def _sin_cos(t: torch.Tensor, freqs: torch.Tensor, order: str = "halves") -> torch.Tensor:
    """(B,) timesteps -> (B, dim): sines then cosines (``halves``), cosines first (``swapped``) or
    alternating sin, cos (``interleaved``)."""
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    if order == "halves":
        return torch.cat([torch.sin(args), torch.cos(args)], -1)
    if order == "swapped":
        return torch.cat([torch.cos(args), torch.sin(args)], -1)
    if order == "interleaved":
        return torch.stack([torch.sin(args), torch.cos(args)], -1).reshape(t.shape[0], -1)
    raise ValueError(f"order must be 'halves', 'swapped' or 'interleaved', got {order!r}")


def _sinusoidal_embedding() -> Exercise:
    dim = 16
    half = dim // 2
    # t = 0 alone first
    cases = [(torch.tensor([0], device="cpu"), dim), (torch.tensor([0, 1, 7, 250, 999], device="cpu"), dim)]
    terms = {
        "freqs": Term(lambda t, d: _frequencies(half), [
            (lambda t, d: _frequencies(half, denominator=dim),
             "the frequency exponent divides by dim; it must divide by dim/2 (the number of frequencies)."),
            (lambda t, d: _frequencies(half, denominator=half - 1),
             "the frequency exponent divides by dim/2 - 1 (as with torch.linspace(0, 1, dim/2)); it must divide by "
             "dim/2: i/(dim/2) for i = 0..dim/2-1."),
            (lambda t, d: _frequencies(half, sign=1.0),
             "the frequencies grow with i; they must shrink: f_i = 10000^(-i/(dim/2)) (note the minus sign)."),
            (lambda t, d: _frequencies(half, log_base=1.0),
             "the base 10000 is missing: f_i = 10000^(-i/(dim/2)) = exp(-ln(10000) i / (dim/2))."),
            (lambda t, d: _frequencies(half, log_base=math.log10(10000.0)),
             "log10(10000) = 4 where the natural log ln(10000) belongs: f_i = exp(-ln(10000) i / (dim/2))."),
            (lambda t, d: 2 * math.pi * _frequencies(half),
             "the angle is t f_i, without a factor 2π: f_i = 10000^(-i/(dim/2)) is already in radians per step.")]),
        "layout": Term(lambda t, d: "halves", [
            (lambda t, d: "swapped", "sin and cos are swapped: sin goes first."),
            (lambda t, d: "interleaved", "sin and cos are interleaved (sin, cos, sin, cos, ...); this convention puts "
                                         "all sines first, then all cosines.")]),
    }
    mistakes, _ = term_slips(lambda v, t, d: _sin_cos(t, v["freqs"], v["layout"]), terms)
    mistakes.insert(0, (lambda t, d: sinusoidal_embedding(t, d).T,
                        "the result is transposed: return shape (B, dim), one row per timestep, not (dim, B)."))
    return Exercise(
        "your embedding", cases, sinusoidal_embedding, mistakes, atol=1e-4,  # float32 sin of t f_i, t up to 999
        praise="sin in the first half, cos in the second, frequencies 10000^(-i/(dim/2)).",
        hint_on_error="The result is (B, dim): one row per timestep, sines in the first half, cosines in the second.",
        partly_right="t = 0 is right but other timesteps differ: check the frequencies f_i.",
        unexplained="Compare emb[:, i] = sin(t f_i) and emb[:, dim/2 + i] = cos(t f_i).")


def _time_injection() -> Exercise:
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randn(2, 3, 3, 3, generator=g, device="cpu"), torch.randn(2, 3, generator=g, device="cpu"))]

    def reference(h, temb):
        return h + temb[:, :, None, None]  # (B, C) -> (B, C, 1, 1)

    mistakes = [
        (lambda h, temb: h + temb[:, None, None, :],
         "the time vector was broadcast over the width axis (shape (B, 1, 1, C)): each column gets a "
         "different channel's value. Use temb[:, :, None, None]."),
        (lambda h, temb: h + temb[:, None, :, None],
         "the time vector was broadcast over the height axis (shape (B, 1, C, 1)). Use temb[:, :, None, None]."),
        (lambda h, temb: h * temb[:, :, None, None],
         "the time embedding is multiplied in; in this ResBlock it is ADDED."),
        (lambda h, temb: h * (1 + temb[:, :, None, None]),
         "that is a FiLM-style scale h (1 + temb); in this ResBlock the time embedding is simply ADDED."),
        (lambda h, temb: h - temb[:, :, None, None], "the time embedding is subtracted; it is ADDED: h + temb."),
        (lambda h, temb: temb[:, :, None, None].expand_as(h),
         "you returned the time embedding alone: add it to the feature map h."),
        (lambda h, temb: h + temb.T.reshape(h.shape[0], h.shape[1], 1, 1),
         "batch and channel axes are mixed up (temb.T?); temb is (B, C)."),
    ]
    return Exercise(
        "your time injection", cases, reference, mistakes, atol=1e-6,
        praise="temb[:, :, None, None] is (B, C, 1, 1): one shift per image and channel, the same at every pixel.",
        hint_on_error="temb must broadcast over the pixels: a (B, C) tensor lines up with the LAST axes of "
                      "(B, C, H, W); reshape it to (B, C, 1, 1) first (the result keeps h's shape).",
        unexplained="The answer is h + temb[:, :, None, None].")


def _distances(sample: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    return (train - sample).flatten(1).norm(dim=1)  # (M, 1, H, W) -> (M,)


def _nearest_distance() -> Exercise:
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 6, 6, generator=g, device="cpu") * 2 - 1
    small = torch.rand(30, 1, 4, 4, generator=g, device="cpu") * 2 - 1
    cases = [(torch.rand(1, 6, 6, generator=g, device="cpu") * 2 - 1, train),
             (train[7].clone(), train),  # a memorised copy: 0 away
             (torch.rand(1, 4, 4, generator=g, device="cpu") * 2 - 1, small)]
    mistakes = [
        (lambda s, tr: _distances(s, tr).min() ** 2,
         "that is the squared distance: take the square root (the L2 norm)."),
        (lambda s, tr: _distances(s, tr).argmin(), "that is the index of the nearest image; return its distance."),
        (lambda s, tr: _distances(s, tr).max(), "that is the FARTHEST training image: use the minimum."),
        (lambda s, tr: (tr - s).flatten(1).pow(2).mean(1).sqrt().min(),
         "that is the RMS difference per pixel (mean, not sum, under the root); use the L2 norm: sqrt of "
         "the SUM of squared differences."),
        (lambda s, tr: (tr - s).flatten(1).pow(2).mean(1).min(),
         "that is the mean squared error per pixel; use the L2 norm: sqrt of the SUM of squared differences."),
        (lambda s, tr: (tr - s).flatten(1).abs().sum(1).min(),
         "that is the L1 (sum of absolute differences) distance; use L2."),
        (lambda s, tr: _distances(s, tr).mean(), "that is the mean distance to all training images; take the minimum."),
    ]
    return Exercise(
        "your nearest distance", cases, lambda s, tr: _distances(s, tr).min(), mistakes,
        # atol: torch.cdist's matrix-product path (|a|^2 + |b|^2 - 2 a.b in float32) puts a copy about 1e-3 away
        # instead of 0 at 36 pixels; 5e-3 accepts it, and each catalogued mistake is more than 10x that away
        read=numbers(1, "one number (the smallest distance)"), atol=5e-3,
        praise=f"the nearest training image is {_distances(*cases[0]).min():.3f} away (L2 over all pixels).",
        unexplained="The answer is the smallest L2 distance over the training images.")


EXERCISES = {"sinusoidal_embedding": _sinusoidal_embedding, "time_injection": _time_injection,
             "nearest_distance": _nearest_distance}


def check_sinusoidal_embedding(fn) -> bool:
    r"""Notebook 04, exercise 1: ``fn(t, dim)`` must return the sinusoidal embedding (B, dim):

        emb[:, i] = sin(t f_i),  emb[:, dim/2 + i] = cos(t f_i),  f_i = 10000^{-i / (dim/2)},  i = 0..dim/2-1.

    Compares with :func:`ddpm_helpers.core.models.sinusoidal_embedding` and names the usual mistakes.
    """
    return _sinusoidal_embedding().check(fn)


def check_time_injection(fn) -> bool:
    """Notebook 04, exercise 2: ``fn(h, temb)`` adds a per-channel time vector to a feature map.

    h is (B, C, H, W), temb is the projected time embedding (B, C); the answer is
    ``h + temb[:, :, None, None]``: one number per image and channel, the same at every pixel.
    The check uses B = 2, C = 3, H = W = 3, where two classic mistakes broadcast silently.
    """
    return _time_injection().check(fn)


def check_nearest_distance(fn) -> bool:
    """Notebook 04, exercise 3: ``fn(sample, train)`` returns the Euclidean (L2) distance from one
    image (1, H, W) to its nearest image in ``train`` (M, 1, H, W), as a float."""
    return _nearest_distance().check(fn)
