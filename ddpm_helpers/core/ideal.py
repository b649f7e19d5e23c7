r"""The ideal denoiser of a finite (optionally labelled) data set, in closed form.

Trained on a finite set {x_0^i}, a noise predictor can at best learn the optimal denoiser of that set;
notebook 03 puts it beside a trained MLP, notebook 07 guides it (the exact guided score in 2-D).
tests/test_theory.py checks it against brute-force Bayes and autograd, tests/test_guidance_2d.py the
labelled version. 0-indexed t as in ``core.schedules``:
x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon.

Notation (symbol -> name):

    q_t(x_t) = 1/N \sum_i N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I)   log_q_t(x_t, t, data, sched)
    E[x_0 | x_t]  (the posterior mean)           optimal_x0(x_t, t, data, sched)
    E[\epsilon | x_t]                            optimal_eps(x_t, t, data, sched)
    \nabla \log q_t(x_t) = -E[\epsilon|x_t] / \sqrt{1 - \bar\alpha_t}   score_from_eps(eps, t, sched) (Tweedie)
    q_t(c | x_t) = \sum_{i: y_i = c} w_i(x_t)    class_posterior(x_t, t, data, labels, num_classes, sched)
    \epsilon(x_t, t, c), \epsilon(x_t, t, null)  IdealDenoiser(data, sched, labels)(x_t, t, y)

* E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i with w_i \propto N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I)
  (a softmax over the points), and the MSE-optimal noise prediction is
  E[\epsilon | x_t] = (x_t - \sqrt{\bar\alpha_t} E[x_0 | x_t]) / \sqrt{1 - \bar\alpha_t}.
* With labels y_i, the class-conditional ideal denoiser is the same formula over the points of class c
  (q_t(x_t | c) is the mixture over them), and the null label's is the one over all points: exactly what a
  class-conditional network trained with label dropout estimates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_int, check_point_sets, check_timesteps
from .schedules import NoiseSchedule

__all__ = ["optimal_x0", "optimal_eps", "score_from_eps", "log_q_t", "class_posterior", "IdealConfig",
           "IdealDenoiser"]


def _posterior_weights(x_t: torch.Tensor, ab: torch.Tensor, data: torch.Tensor, log: bool = False) -> torch.Tensor:
    r"""w_i(x_t) \propto N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I), one \bar\alpha per row
    (their logarithms with ``log=True``).

    ||x - s y||^2 = ||x||^2 - 2 s x.y + s^2 ||y||^2 with s = \sqrt{\bar\alpha_t}, so rows at different t share
    one matrix product. Shapes: x_t (M, D), ab (M, 1), data (N, D) -> (M, N).
    """
    d2 = (x_t.pow(2).sum(1, keepdim=True) - 2 * ab.sqrt() * (x_t @ data.T)
          + ab * data.pow(2).sum(1)[None, :]).clamp(min=0)  # (M, N) squared distances
    logits = -d2 / (2 * (1 - ab))
    return torch.log_softmax(logits, dim=1) if log else torch.softmax(logits, dim=1)


def _alpha_bar_rows(t, sched: NoiseSchedule, m: int) -> torch.Tensor:
    r"""\bar\alpha_t as an (m, 1) float64 column, for an int t or an (m,) tensor of timesteps."""
    abars = sched.alpha_bars.detach().to("cpu", torch.float64)
    if isinstance(t, int) and not isinstance(t, bool):
        return abars[_int_t(t, sched)].expand(m).reshape(m, 1)
    tt = check_timesteps(t, sched.T, m)
    return abars[tt.cpu()].expand(m).reshape(m, 1)


def _int_t(t, sched: NoiseSchedule) -> int:
    """A validated int timestep (validated by ``check_timesteps``, but read from the Python int)."""
    check_timesteps(t, sched.T)
    return int(t) if isinstance(t, int) else int(t.item())


def optimal_x0(x_t: torch.Tensor, t, data: torch.Tensor, sched: NoiseSchedule, chunk: int = 1024,
               return_trace: bool = False):
    r"""The posterior mean of the empirical data set: E[x_0 | x_t] = \sum_i w_i(x_t) x_0^i (module docstring),
    the MSE-optimal denoiser.

    With ``return_trace=True`` also returns tr Cov(x_0 | x_t) = \sum_i w_i ||x_0^i - E[x_0|x_t]||^2.
    Computed in float64, ``chunk`` rows of x_t at a time.

    Shapes: x_t (M, D); t int or (M,); data (N, D) -> (M, D) float64 [, (M,) float64].
    """
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    X, Y = x_t.detach().to("cpu", torch.float64), data.detach().to("cpu", torch.float64)
    ab = _alpha_bar_rows(t, sched, X.shape[0])  # (M, 1)
    means, traces = [], []
    for lo in range(0, X.shape[0], chunk):
        w = _posterior_weights(X[lo:lo + chunk], ab[lo:lo + chunk], Y)  # (m, N)
        m = w @ Y  # (m, N) @ (N, D) -> (m, D)
        means.append(m)
        if return_trace:
            traces.append((w * torch.cdist(m, Y).pow(2)).sum(1))  # (m,)
    mean = torch.cat(means)
    return (mean, torch.cat(traces)) if return_trace else mean


def optimal_eps(x_t: torch.Tensor, t, data: torch.Tensor, sched: NoiseSchedule) -> torch.Tensor:
    r"""E[\epsilon | x_t] = (x_t - \sqrt{\bar\alpha_t} E[x_0 | x_t]) / \sqrt{1 - \bar\alpha_t}: the noise
    prediction that minimises L_simple at step t on this data set. Shapes: x_t (M, D); t int or (M,) -> (M, D) float64.
    """
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    ab = _alpha_bar_rows(t, sched, x_t.shape[0])  # (M, 1)
    x0 = optimal_x0(x_t, t, data, sched)
    return (x_t.detach().to("cpu", torch.float64) - ab.sqrt() * x0) / (1 - ab).sqrt()


def score_from_eps(eps: torch.Tensor, t: int, sched: NoiseSchedule) -> torch.Tensor:
    r"""The score of the noisy marginal q_t, \nabla_{x_t} \log q_t(x_t) = -E[\epsilon | x_t] / \sqrt{1 - \bar\alpha_t}.

    Tweedie's formula (Efron 2011), E[x_0|x_t] = (x_t + (1 - \bar\alpha_t) \nabla \log q_t(x_t)) / \sqrt{\bar\alpha_t},
    with E[x_0 | x_t] = (x_t - \sqrt{1 - \bar\alpha_t} E[\epsilon | x_t]) / \sqrt{\bar\alpha_t} (linearity of the
    expectation) gives it (the link to denoising: Vincent 2011). Shapes: like eps."""
    ab = float(sched.alpha_bars[_int_t(t, sched)])
    return -eps / math.sqrt(1 - ab)


def log_q_t(x_t: torch.Tensor, t: int, data: torch.Tensor, sched: NoiseSchedule) -> torch.Tensor:
    r"""\log q_t(x_t), the log-density of the data set pushed through q(x_t | x_0):
    \log \frac1N \sum_i N(x_t; \sqrt{\bar\alpha_t} x_0^i, (1 - \bar\alpha_t) I), in float64 (a log-sum-exp).
    Shapes: x_t (M, D), data (N, D) -> (M,) float64."""
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    X, Y = x_t.detach().to("cpu", torch.float64), data.detach().to("cpu", torch.float64)
    ab = float(sched.alpha_bars.detach().to("cpu", torch.float64)[_int_t(t, sched)])
    d2 = torch.cdist(X, math.sqrt(ab) * Y).pow(2)  # (M, N) squared distances to the scaled points
    D, var = X.shape[1], 1 - ab
    return (torch.logsumexp(-d2 / (2 * var), dim=1) - math.log(Y.shape[0])
            - D / 2 * math.log(2 * math.pi * var))


def _check_labels(labels: torch.Tensor, data: torch.Tensor, num_classes: int) -> torch.Tensor:
    if (not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.ndim != 1
            or labels.shape[0] != data.shape[0]):
        raise ValueError(f"labels must be an integer tensor of shape ({data.shape[0]},), one per point of data, "
                         f"got {type(labels).__name__} {tuple(getattr(labels, 'shape', ()))}")
    lab = labels.detach().to("cpu", torch.long)
    if not (0 <= int(lab.min()) and int(lab.max()) < num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (num_classes = {num_classes}), "
                         f"got {int(lab.min())}..{int(lab.max())}")
    return lab


def class_posterior(x_t: torch.Tensor, t, data: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    sched: NoiseSchedule) -> torch.Tensor:
    r"""q_t(c | x_t) = \sum_{i: y_i = c} w_i(x_t): the noise-aware classifier of the labelled data set
    (Bayes' rule on the mixture; the classes' priors are their shares of the points).
    Shapes: x_t (M, D); t int or (M,); data (N, D); labels (N,) -> (M, num_classes) float64, rows summing to 1."""
    check_int("num_classes", num_classes, 1)
    check_point_sets(x_t, data, ("x_t", "data"), min_points=1)
    lab = _check_labels(labels, data, num_classes)
    X, Y = x_t.detach().to("cpu", torch.float64), data.detach().to("cpu", torch.float64)
    w = _posterior_weights(X, _alpha_bar_rows(t, sched, X.shape[0]), Y)  # (M, N)
    onehot = torch.nn.functional.one_hot(lab, num_classes).to(torch.float64)  # (N,) -> (N, K)
    return w @ onehot


@dataclass
class IdealConfig:
    num_classes: int = 0    # > 0: labelled (labels 0..K-1 in forward; K or None = the null label, all points)


class IdealDenoiser(nn.Module):
    r"""The ideal noise predictor of a data set as a model: ``IdealDenoiser(data, sched)(x_t, t)`` is
    E[\epsilon | x_t] (:func:`optimal_eps`), so every sampler of ``core.sampling`` can run it.

    With ``labels`` (one class in 0..K-1 per point, K = ``num_classes``, default ``labels.max() + 1``) it
    is class-conditional like a TimeMLP with ``num_classes=K``: ``model(x_t, t, y)`` uses only the points
    of class y_b for row b, and y_b = K (the null label) or ``y=None`` uses all of them; so
    ``core.guidance.Guided(IdealDenoiser(data, sched, labels), c, s)`` is the exact guided noise prediction.
    Computed in float64, returned as float32. Shapes: x_t (B, D), t (B,), y (B,) or None -> (B, D).
    """

    def __init__(self, data: torch.Tensor, sched: NoiseSchedule, labels: torch.Tensor | None = None,
                 num_classes: int | None = None):
        super().__init__()
        check_point_sets(data, data, ("data", "data"), min_points=1)
        if labels is None:
            if num_classes not in (None, 0):
                raise ValueError(f"num_classes must be None or 0 without labels, got {num_classes!r}")
            k = 0
        else:
            k = int(labels.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, 1)
            labels = _check_labels(labels, data, k)
        self.config = IdealConfig(num_classes=k)
        self.data = data.detach().to("cpu", torch.float64)
        self.labels = labels
        self.sched = sched

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        k = self.config.num_classes
        if y is not None and not k:
            raise ValueError("y must be None for an IdealDenoiser without labels")
        tt = check_timesteps(t, self.sched.T, x.shape[0]).cpu().expand(x.shape[0])  # () or (B,) -> (B,)
        yy = (torch.full((x.shape[0],), k, dtype=torch.long, device="cpu") if y is None
              else y.detach().to("cpu", torch.long).expand(x.shape[0]))
        out = torch.empty(x.shape, dtype=torch.float64, device="cpu")
        for c in yy.unique().tolist():  # one closed form per class (c = k: all points)
            rows = yy == c
            pts = self.data if c == k else self.data[self.labels == c]
            if not 0 <= c <= k or pts.shape[0] == 0:
                raise ValueError(f"y must hold classes in 0..{k} ({k}: the null label) with points, got {c}")
            out[rows] = optimal_eps(x[rows], tt[rows], pts, self.sched)
        return out.float().to(x.device)
