r"""Guidance's trade-off, measured: how well guided samples match their class, and how often they ARE it.

For a class-conditional model sampled with classifier-free guidance at scale s (:mod:`.guidance`), for
each class c of FashionMNIST:

* **fidelity to the class's distribution**: KID (:func:`.metrics.kid_from_features`) of the class's
  samples against that class's test images, in the shipped classifier's feature space; its spread over
  bootstrap resamples of the samples (:func:`.metrics.quality_bootstrap`);
* **the real-data floor**: the same KID of n real *training* images of the class, over several draws
  (what n real images score with nothing wrong at all);
* **accuracy**: the share of the samples the shipped classifier puts in class c, with its Wilson
  interval (:func:`wilson_interval`).

Per-class FID is not measured: at n below the 128 features the samples' covariance is singular and FID
is dominated by its small-n bias. The pooled FID of all classes' samples (10 n images) against all test
images is, with its floor at the same n.

Notation (symbol -> name):

    s                    scale            guidance scale (0: unconditional, 1: conditional)
    KID_c(s)             kid[c]           class c's samples against class c's test images
    \overline{KID}(s)    kid_mean         the mean of KID_c over the classes
    acc(s)               accuracy         share of all samples classified as their label
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .checks import check_int, check_number
from .data import FASHION_CLASSES, load_fashion_mnist
from .guidance import Guided
from .metrics import _reference_features, classifier_features, fid_from_features, kid_from_features, quality_bootstrap
from .sampling import ddim_sample, start_noise
from .schedules import NoiseSchedule
from .stats import wilson_interval

__all__ = ["TRADEOFF_SCALES", "wilson_interval", "guided_samples", "class_reference", "kid_spread", "score_classes",
           "class_floor", "recommend_scale", "score_tradeoff", "measure_tradeoff"]

# The scales measured by ``cli.conditional evaluate``: 0 (unconditional) and 1 (conditional) as the two ends the
# model was trained for, 1.5-3 where Ho & Salimans 2022 (fig. 4) find the trade-off turning (their w = s - 1 of
# 0.5-2), and 5 beyond it, where samples go on getting "more of the class" and less diverse.
TRADEOFF_SCALES = (0.0, 1.0, 1.5, 2.0, 3.0, 5.0)


def _classes(classes: Sequence[int] | None) -> list[int]:
    classes = list(range(len(FASHION_CLASSES))) if classes is None else list(classes)
    if not classes or any(isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(FASHION_CLASSES)
                          for c in classes):
        raise ValueError(f"classes must be a non-empty list of FashionMNIST classes in 0..9, got {classes!r}")
    return classes


def guided_samples(model: nn.Module, sched: NoiseSchedule, scale: float, n_per_class: int,
                   classes: Sequence[int] | None = None, steps: int = 20, seed: int = 0,
                   batch_size: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` guided samples of each class: DDIM, ``steps`` steps (trailing spacing), eta 0, x0 clipped
    to [-1, 1] at every step, as the shipped U-Net's card measures it.

    x_T comes from one CPU generator seeded with ``seed``, so every scale starts from the same noise (sample j of
    class c starts from the same x_T at s = 0 and at s = 3: differences between scales are the scale's).
    Returns ``(x, y)``, class by class. Shapes: -> x (C * n_per_class, 1, 28, 28), y (C * n_per_class,).
    """
    classes = _classes(classes)
    check_int("n_per_class", n_per_class, lo=1)
    check_int("batch_size", batch_size, lo=1)
    y = torch.tensor(classes, dtype=torch.long, device="cpu").repeat_interleave(n_per_class)  # (C * n,)
    x_T = start_noise(model, len(y), torch.Generator(device="cpu").manual_seed(seed))
    out = [ddim_sample(Guided(model, y[i:i + batch_size], scale), sched, x_T[i:i + batch_size], steps=steps,
                       clip_x0=True).x0 for i in range(0, len(y), batch_size)]
    return torch.cat(out), y


def class_reference(split: str = "test", classifier: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier features and labels of a whole FashionMNIST split (the test split's features are cached
    on disk, see :mod:`.metrics`). Shapes: -> (N, F) float64, (N,) long."""
    _, y = load_fashion_mnist(split)
    return _reference_features(split, classifier), y


def kid_spread(f_gen: torch.Tensor, f_ref: torch.Tensor, n_boot: int = 50, seed: int = 0, subsets: int = 3) -> float:
    """KID's spread over ``n_boot`` bootstrap resamples of the generated features (with replacement, same n),
    each scored against ``f_ref`` on ``subsets`` reference subsets: :func:`.metrics.quality_bootstrap`'s KID
    half, without the FIDs it computes beside (a tenth of the time at 128 features and n = 100).
    Shapes: f_gen (N, F), f_ref (M, F) -> float."""
    check_int("n_boot", n_boot, lo=2, what="bootstrap resamples")
    rng = np.random.default_rng(seed)
    f_gen = np.asarray(f_gen, dtype=np.float64)
    kids = [kid_from_features(f_gen[rng.integers(0, len(f_gen), len(f_gen))], f_ref, subsets=subsets,
                              seed=seed + 1 + b)[0] for b in range(n_boot)]
    return float(np.std(kids, ddof=1))


def score_classes(x: torch.Tensor, y: torch.Tensor, f_ref: torch.Tensor, y_ref: torch.Tensor,
                  classifier: nn.Module | None = None, n_boot: int = 50, seed: int = 0) -> dict:
    """Score images ``x`` meant to be of classes ``y`` against the reference features ``f_ref`` (labels ``y_ref``):

    per class (``per_class``, a list in class order): ``kid`` (against that class's reference images; 100
    reference subsets), ``kid_std`` (:func:`kid_spread` over ``n_boot`` bootstrap resamples of the class's
    images; absent when ``n_boot = 0``), ``correct`` (classified as c) and ``n``; pooled: ``kid_mean`` (mean over
    the classes) and its ``kid_mean_std`` (the classes' spreads combined), ``correct``, ``n``, ``accuracy`` with its
    95 % Wilson interval ``acc_lo``..``acc_hi``, and ``fid`` of all images against all reference images (with
    ``fid_std`` over bootstrap resamples). Shapes: x (N, 1, 28, 28), y (N,), f_ref (M, F), y_ref (M,).
    """
    if x.shape[0] != y.shape[0] or f_ref.shape[0] != y_ref.shape[0]:
        raise ValueError(f"x and y, f_ref and y_ref must have matching lengths, got {x.shape[0]} and {y.shape[0]}, "
                         f"{f_ref.shape[0]} and {y_ref.shape[0]}")
    check_int("n_boot", n_boot, lo=0)
    f, logits = classifier_features(x, classifier, return_logits=True)  # (N, F), (N, 10)
    pred = logits.argmax(1)
    per_class = []
    for c in sorted(set(y.tolist())):
        fc, fr = f[y == c], f_ref[y_ref == c]
        row = {"class": c, "name": FASHION_CLASSES[c], "n": int(fc.shape[0]),
               "correct": int((pred[y == c] == c).sum()), "kid": kid_from_features(fc, fr, seed=seed)[0]}
        if n_boot:
            row["kid_std"] = kid_spread(fc, fr, n_boot=n_boot, seed=seed)
        per_class.append(row)
    correct, n = sum(r["correct"] for r in per_class), sum(r["n"] for r in per_class)
    lo, hi = wilson_interval(correct, n)
    out = {"n": n, "n_per_class": per_class[0]["n"], "correct": correct, "accuracy": correct / n, "acc_lo": lo,
           "acc_hi": hi, "kid_mean": float(np.mean([r["kid"] for r in per_class])),
           "fid": fid_from_features(f, f_ref), "per_class": per_class}
    if n_boot:  # the mean of independent per-class estimates: variances add, divided by C^2
        out["kid_mean_std"] = math.sqrt(sum(r["kid_std"] ** 2 for r in per_class)) / len(per_class)
        out["fid_std"] = quality_bootstrap(f, f_ref, n_boot=n_boot, seed=seed, kid_subsets=1)["fid_std"]
    return out


def class_floor(n_per_class: int, f_ref: torch.Tensor, y_ref: torch.Tensor, classes: Sequence[int] | None = None,
                classifier: nn.Module | None = None, draws: int = 5, seed: int = 0) -> dict:
    """The real-data floor at ``n_per_class``: :func:`score_classes` of ``n_per_class`` random *training* images
    of each class (drawn without replacement), ``draws`` times. Returns the mean over draws of ``kid_mean``,
    ``fid`` and ``accuracy`` (the classifier's accuracy on real images), their spreads over the draws
    (``*_std``), each class's mean KID and its spread (``per_class``), and the per-draw values."""
    classes = _classes(classes)
    check_int("draws", draws, lo=2, what="independent draws of real images")
    x_train, y_train = load_fashion_mnist("train")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    runs = []
    for d in range(draws):
        idx = torch.cat([torch.nonzero(y_train == c).squeeze(1)[torch.randperm(int((y_train == c).sum()),
                                                                                 generator=gen, device="cpu")]
                         [:n_per_class] for c in classes])
        runs.append(score_classes(x_train[idx], y_train[idx], f_ref, y_ref, classifier, n_boot=0, seed=seed + d))
    kids = np.array([[r["kid"] for r in run["per_class"]] for run in runs])  # (draws, C)
    out = {"n_per_class": n_per_class, "draws": draws}
    for key in ("kid_mean", "fid", "accuracy"):
        v = np.array([run[key] for run in runs])
        out.update({key: float(v.mean()), f"{key}_std": float(v.std(ddof=1)), f"{key}_values": v.tolist()})
    out["per_class"] = [{"class": c, "name": FASHION_CLASSES[c], "kid": float(kids[:, i].mean()),
                         "kid_std": float(kids[:, i].std(ddof=1))} for i, c in enumerate(classes)]
    return out


def recommend_scale(rows: Sequence[dict], kid_sds: float = 2.0) -> dict:
    r"""The recommended guidance scale from measured rows (:func:`score_classes` dicts with ``scale``):

    1. keep the scales whose mean per-class KID lies within ``kid_sds`` combined spreads of the lowest one,
       \overline{KID}(s) - \overline{KID}_{min} \le kid\_sds \sqrt{sd(s)^2 + sd_{min}^2} (not distinguishable
       from the best fidelity at about 95 % for 2);
    2. among those, take the best accuracy, and return the smallest scale whose Wilson interval reaches it.

    So: the least guidance that is as accurate as guidance gets without measurably hurting fidelity.
    Returns ``{"scale", "kid_ok", "best_accuracy", "rule"}``.
    """
    rows = sorted(rows, key=lambda r: r["scale"])
    if not rows or any("kid_mean_std" not in r for r in rows):
        raise ValueError("rows must be a non-empty list of score_classes dicts measured with n_boot > 0 "
                         "(each needs scale, kid_mean, kid_mean_std, accuracy, acc_hi)")
    check_number("kid_sds", kid_sds, lo=0)
    best = min(rows, key=lambda r: r["kid_mean"])
    ok = [r for r in rows
          if r["kid_mean"] - best["kid_mean"] <= kid_sds * math.hypot(r["kid_mean_std"], best["kid_mean_std"])]
    top = max(r["accuracy"] for r in ok)
    pick = next(r for r in ok if r["acc_hi"] >= top)
    rule = (f"the smallest s whose accuracy's 95 % interval reaches the best accuracy ({100 * top:.1f} %) among the "
            f"scales whose mean per-class KID is within {kid_sds:g} combined spreads of the lowest "
            f"(s = {best['scale']:g}: {1e3 * best['kid_mean']:.1f}e-3)")
    return {"scale": pick["scale"], "kid_ok": [r["scale"] for r in ok], "best_accuracy": top, "rule": rule}


def score_tradeoff(samples: dict, y: torch.Tensor, n_boot: int = 50, floor_draws: int = 5, seed: int = 0,
                   classifier: nn.Module | None = None, seconds: dict | None = None) -> dict:
    """Score guided samples drawn at several scales: ``samples`` maps each scale s to the images of
    :func:`guided_samples` (all with the same labels ``y``). Each scale gets a :func:`score_classes` row (with its
    sampling ``seconds[s]`` when given) against the test split, the floor (:func:`class_floor`) is measured at
    the same n per class, and :func:`recommend_scale` reads the rows.
    Returns ``{"rows", "floor", "recommended", "n_per_class", "n_reference"}``.
    Shapes: samples {s: (N, 1, 28, 28)}, y (N,)."""
    if len(samples) < 2:
        raise ValueError(f"samples must hold at least two guidance scales, got {sorted(samples)!r}")
    check_int("n_boot", n_boot, lo=2, what="bootstrap resamples: the recommendation needs each KID's spread")
    counts = torch.bincount(y, minlength=len(FASHION_CLASSES))
    n_per_class = int(counts.max())
    if any(x.shape[0] != y.shape[0] for x in samples.values()) or int(counts[counts > 0].min()) != n_per_class:
        raise ValueError(f"every scale's samples must have the {y.shape[0]} labels of y, the same number per class; "
                         f"got {[x.shape[0] for x in samples.values()]} samples and per-class counts {counts.tolist()}")
    f_ref, y_ref = class_reference("test", classifier)
    rows = [{"scale": float(s), **({"seconds": round(seconds[s], 1)} if seconds and s in seconds else {}),
             **score_classes(x, y, f_ref, y_ref, classifier, n_boot=n_boot, seed=seed)}
            for s, x in sorted(samples.items())]
    floor = class_floor(n_per_class, f_ref, y_ref, classes=[c for c in range(len(counts)) if counts[c]],
                        classifier=classifier, draws=floor_draws, seed=seed)
    return {"rows": rows, "floor": floor, "recommended": recommend_scale(rows), "n_per_class": n_per_class,
            "n_reference": int(f_ref.shape[0])}


def measure_tradeoff(model: nn.Module, sched: NoiseSchedule, scales: Sequence[float] = TRADEOFF_SCALES,
                     n_per_class: int = 100, steps: int = 20, seed: int = 0, n_boot: int = 50, floor_draws: int = 5,
                     classifier: nn.Module | None = None,
                     report: Callable[[str], None] | None = None) -> dict:
    """The whole trade-off: :func:`guided_samples` at each scale (every scale from the same x_T), timed, then
    :func:`score_tradeoff`. ``report`` gets one line per scale as it is drawn (e.g. ``print``).
    Returns :func:`score_tradeoff`'s dict with ``steps``, ``seed`` and the total ``seconds``."""
    scales = [check_number("scales", s, lo=0) for s in scales]
    if len(set(scales)) < 2:
        raise ValueError(f"scales must list at least two different guidance scales, got {scales!r}")
    start = time.perf_counter()
    samples, seconds = {}, {}
    for s in scales:
        t0 = time.perf_counter()
        samples[s], y = guided_samples(model, sched, s, n_per_class, steps=steps, seed=seed)
        seconds[s] = time.perf_counter() - t0
        if report is not None:
            report(f"s = {s:g}: {y.shape[0]} samples in {seconds[s]:.0f} s")
    out = score_tradeoff(samples, y, n_boot=n_boot, floor_draws=floor_draws, seed=seed, classifier=classifier,
                         seconds=seconds)
    if report is not None:
        for r in out["rows"]:
            report(f"s = {r['scale']:g}: accuracy {100 * r['accuracy']:.1f} % [{100 * r['acc_lo']:.1f}, "
                   f"{100 * r['acc_hi']:.1f}], mean per-class KID {1e3 * r['kid_mean']:.1f}e-3 "
                   f"+- {1e3 * r['kid_mean_std']:.1f}, pooled FID {r['fid']:.2f}")
    return {**out, "steps": steps, "seed": seed, "seconds": round(time.perf_counter() - start, 1)}
