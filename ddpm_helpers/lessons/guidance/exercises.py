r"""Notebook 07's exercise self-checks: classifier guidance in the noise form, the classifier-free combination,
label dropout in training, and the null label's place in the embedding table.

Each exercise declares its cases, its reference and its catalogue of typical mistakes (the guidance combination
with its sign, its scale or its convention wrong; the label dropped at sampling instead of in training, every label
dropped, p read as the keep probability; the null label on a class's index or outside the table);
``check_<name>(my_<name>)`` hands it to :func:`ddpm_helpers.ui.checking.check_answer`, which prints the verdict
and returns True/False.

Notation (symbol -> name):

    \epsilon(x_t, t, c)            eps_cond       the conditional noise prediction
    \epsilon(x_t, t, \varnothing)  eps_uncond     the unconditional one (the null label)
    s                              scale          guidance scale: 0 unconditional, 1 conditional, > 1 guided
    w                              (Ho & Salimans' weight)  w = s - 1
    \nabla_x \log p_t(c | x_t)     grad_log_p     a noise-aware classifier's gradient
    \bar\alpha_t                   alpha_bar_t
    K                              num_classes    classes 0..K-1; the null label is K, the table's extra row
    p                              p              label dropout: the probability of DROPPING a label (training only)
    u                              u              one uniform number in [0, 1) per label: drop where u < p
"""
from __future__ import annotations

import math

import torch

from ...core.guidance import guided_eps
from ...ui.checking import Exercise, Term, numbers, term_slips

__all__ = ["check_classifier_guided_eps", "check_guided_eps", "check_drop_labels", "check_null_label"]

r = math.sqrt


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, device="cpu")


# ----------------------------------------------------------------------------- classifier guidance, eps form
def _classifier_ref(eps, grad, ab, s):
    return eps.double() - s * r(1 - ab) * grad.double()


def _classifier_guided_eps() -> Exercise:
    g = torch.Generator().manual_seed(70)
    # alpha_bar_t far from 0.5 (where sqrt(alpha_bar) and sqrt(1 - alpha_bar) meet); s = 1 (plain Bayes) among them
    cases = [(_randn(g, 2, 1, 3, 3), _randn(g, 2, 1, 3, 3), ab, s) for ab, s in ((0.9, 1.0), (0.3, 2.0), (0.05, 5.0))]
    terms = {  # eps - s * sqrt(1 - alpha_bar_t) * grad: sign, scale, noise level
        "sign": Term(lambda *c: -1.0, [
            (lambda *c: 1.0, "Wrong sign: eps points towards the noise, away from the data (score = -eps / "
                             "sqrt(1 - alpha_bar_t)), so adding the score's push towards the class means SUBTRACTING "
                             "sqrt(1 - alpha_bar_t) s grad log p(c|x_t) from eps. Your answer steers away from the "
                             "class.")]),
        "scale": Term(lambda e, gr, ab, s: s, [
            (lambda *c: 1.0, "The scale s is missing: the classifier's gradient is multiplied by s (s = 1 is plain "
                             "Bayes, s > 1 guides harder)."),
            (lambda e, gr, ab, s: s - 1, "That is s - 1 (Ho & Salimans' w): in classifier guidance the whole "
                                         "gradient term is scaled by s, so s = 1 gives p(x|c) itself.")]),
        "noise": Term(lambda e, gr, ab, s: r(1 - ab), [
            (lambda e, gr, ab, s: 1 / r(1 - ab), "The conversion is inverted: score = -eps / sqrt(1 - alpha_bar_t), "
                                                 "so a change of score d becomes a change of eps of -sqrt(1 - "
                                                 "alpha_bar_t) d (multiply, do not divide)."),
            (lambda e, gr, ab, s: 1 - ab, "Missing square root: eps and the score differ by the factor "
                                          "sqrt(1 - alpha_bar_t), the noise's standard deviation."),
            (lambda e, gr, ab, s: r(ab), "sqrt(alpha_bar_t) where sqrt(1 - alpha_bar_t) belongs: the score is "
                                         "-eps / sqrt(1 - alpha_bar_t), the noise's standard deviation."),
            (lambda *c: 1.0, "The factor sqrt(1 - alpha_bar_t) is missing: the gradient is a score, eps is the score "
                             "times -sqrt(1 - alpha_bar_t), so convert before adding.")]),
    }

    def assemble(v, e, gr, ab, s):
        return e.double() + v["sign"] * v["scale"] * v["noise"] * gr.double()
    mistakes, _ = term_slips(assemble, terms)
    mistakes.append((lambda e, gr, ab, s: -s * r(1 - ab) * gr.double(),
                     "eps itself is missing: the guided prediction is the model's eps MINUS the classifier's term, "
                     "eps - sqrt(1 - alpha_bar_t) s grad log p(c|x_t)."))
    return Exercise("your classifier-guided eps", cases, _classifier_ref, mistakes)


# ----------------------------------------------------------------------------- classifier-free guidance
def _cfg_ref(eps_c, eps_u, s):
    return guided_eps(eps_c.double(), eps_u.double(), s)


def _mix(a, b):
    """The answer a(s) eps_cond + b(s) eps_uncond: every slip of this exercise is a linear combination."""
    return lambda ec, eu, s: a(s) * ec.double() + b(s) * eu.double()


def _guided_eps() -> Exercise:
    g = torch.Generator().manual_seed(71)
    # s = 0 (unconditional) and 1 (conditional), the boundaries, then two guided scales
    cases = [(_randn(g, 2, 1, 3, 3), _randn(g, 2, 1, 3, 3), s) for s in (0.0, 1.0, 3.0, 7.5)]
    mistakes = [
        (_mix(lambda s: -s, lambda s: 1 + s),
         "Wrong sign: the difference is eps_cond - eps_uncond (from the unconditional prediction towards the "
         "conditional one); yours points the other way, so s > 1 steers AWAY from the class."),
        (_mix(lambda s: 1 - s, lambda s: s),
         "The scale is on the wrong term: s multiplies eps_cond and 1 - s eps_uncond, i.e. eps_uncond + "
         "s (eps_cond - eps_uncond); s = 0 must give the unconditional prediction and s = 1 the conditional one."),
        (_mix(lambda s: 1 + s, lambda s: -s),
         "That is Ho & Salimans' form (1 + w) eps_cond - w eps_uncond with w = s: the two conventions are mixed. "
         "Here s = 1 + w, so the formula is eps_uncond + s (eps_cond - eps_uncond); yours is one unit of guidance "
         "too strong (at s = 0 it is the conditional model, not the unconditional one)."),
        (_mix(lambda s: s - 1, lambda s: 2 - s),
         "You used s - 1 (Ho & Salimans' w) as the scale: in this notebook's convention the scale s itself "
         "multiplies the difference, eps_uncond + s (eps_cond - eps_uncond); s = 1 must give the conditional model."),
        (_mix(lambda s: s, lambda s: -s),
         "The unconditional term in front is missing: s (eps_cond - eps_uncond) is only the guidance direction; add "
         "it to eps_uncond."),
        (_mix(lambda s: s, lambda s: 1.0),
         "The unconditional prediction is missing from the difference: eps_uncond + s (eps_cond - eps_uncond), "
         "not eps_uncond + s eps_cond."),
        (_mix(lambda s: s, lambda s: 0.0),
         "Only s eps_cond is left: the parentheses around (eps_cond - eps_uncond) are missing (eps_uncond + "
         "s * eps_cond - eps_uncond), or the unconditional prediction was dropped altogether."),
        (_mix(lambda s: s, lambda s: 1 + s),
         "The difference is eps_cond MINUS eps_uncond: you added them."),
        (_mix(lambda s: s / (1 + s), lambda s: 1 / (1 + s)),
         "That is a weighted average of the two predictions, which always lies between them: guidance with s > 1 "
         "extrapolates beyond eps_cond, eps_uncond + s (eps_cond - eps_uncond), with no normalisation."),
        (_mix(lambda s: 1.0, lambda s: 0.0),
         "That is eps_cond alone, the conditional model (s = 1) whatever s is: combine it with eps_uncond."),
        (_mix(lambda s: 0.0, lambda s: 1.0),
         "That is eps_uncond alone, the unconditional model (s = 0) whatever s is: add s (eps_cond - eps_uncond)."),
    ]
    return Exercise("your guided eps", cases, _cfg_ref, mistakes,
                    praise="eps_uncond + s (eps_cond - eps_uncond): s = 0 unconditional, s = 1 conditional, s > 1 "
                           "guided.")


# ----------------------------------------------------------------------------- label dropout
def _drop(labels, mask, fill, when):
    """``labels`` with the entries where ``mask`` is True replaced by ``fill`` when ``when`` (else unchanged)."""
    return torch.where(mask, fill, labels) if when else labels.clone()


def _drop_ref(labels, p, num_classes, u, training):
    return _drop(labels, u < p, num_classes, training)


def _labels_case(g, n, k, p, training, low_u):
    """A case whose draws u include values below p, above 1 - p and in between (so every slip shows)."""
    u = torch.rand(n, generator=g, device="cpu")
    u[:3] = torch.tensor([low_u, 0.97, 0.55], device="cpu")
    return torch.randint(0, k, (n,), generator=g, device="cpu"), p, k, u, training


def _drop_labels() -> Exercise:
    g = torch.Generator().manual_seed(72)
    cases = [_labels_case(g, 12, 10, 0.1, True, 0.04),     # training, FashionMNIST's K = 10 and p = 0.1
             _labels_case(g, 12, 10, 0.5, True, 0.2),
             _labels_case(g, 12, 10, 0.3, False, 0.1),     # sampling: nothing may change
             _labels_case(g, 12, 3, 0.25, True, 0.01),     # K = 3
             _labels_case(g, 12, 10, 0.0, True, 0.02)]     # p = 0: nothing dropped
    fill_msg = ("{which}: the null label is num_classes = K (the table's extra row). {why} Write "
                "torch.where(u < p, num_classes, labels).")
    mistakes = [
        (lambda y, p, k, u, tr: _drop(y, u >= p, k, tr),
         "You drop a label where u >= p, i.e. with probability 1 - p: p is the probability of DROPPING it (p = 0.1: "
         "one label in ten becomes the null label), not of keeping it. Drop where u < p."),
        (lambda y, p, k, u, tr: _drop(y, u < 1 - p, k, tr),
         "You drop a label where u < 1 - p, i.e. with probability 1 - p: p is the probability of DROPPING it, not "
         "of keeping it. Drop where u < p."),
        (lambda y, p, k, u, tr: _drop(y, u < 2, k, tr),
         "You replace EVERY label by the null label: the model then never sees a class and learns only the "
         "unconditional eps. Drop each label with probability p: where u < p."),
        (lambda y, p, k, u, tr: _drop(y, u < p, k, True),
         "You also drop labels at sampling (training = False). Label dropout is a training-time device, like "
         "nn.Dropout: at sampling the labels must reach the model unchanged; the sampler gets the unconditional "
         "prediction by passing the null label itself (classifier-free guidance), not by dropping at random."),
        (lambda y, p, k, u, tr: _drop(y, u < p, k, not tr),
         "The flag is inverted: you drop labels at sampling and never in training. Training is where the null "
         "label must appear (so the model learns eps(x, null)); at sampling the labels stay as they are."),
        (lambda y, p, k, u, tr: y.clone(),
         "Nothing is dropped: the model would never see the null label in training, so eps(x, null) stays "
         "untrained and guidance has nothing to subtract. In training, replace each label by num_classes where "
         "u < p."),
        (lambda y, p, k, u, tr: _drop(y, u < p, 0, tr),
         fill_msg.format(which="You replace dropped labels by 0", why="0 is class 0 (a T-shirt/top in "
                         "FashionMNIST): the dropped examples would teach class 0's embedding the unconditional "
                         "prediction.")),
        (lambda y, p, k, u, tr: _drop(y, u < p, k - 1, tr),
         fill_msg.format(which="You replace dropped labels by num_classes - 1",
                         why="K - 1 is the last class (an ankle boot in FashionMNIST): the dropped examples would "
                             "teach that class's embedding the unconditional prediction.")),
        (lambda y, p, k, u, tr: _drop(y, u < p, k + 1, tr),
         fill_msg.format(which="You replace dropped labels by num_classes + 1",
                         why="The table has K + 1 rows, 0..K: index K + 1 is out of range.")),
        (lambda y, p, k, u, tr: (u < p).long() if tr else torch.zeros_like(y),
         "You returned the mask (1 where a label is dropped), not the labels: return the labels with the dropped "
         "ones replaced by num_classes."),
    ]
    return Exercise("your label dropout", cases, _drop_ref, mistakes, noise="u",
                    hint_on_error="labels is a (B,) integer tensor and u a (B,) float tensor: "
                                  "torch.where(u < p, num_classes, labels) works on both at once.")


# ----------------------------------------------------------------------------- the null label
def _null_ref(k):
    return torch.tensor([k + 1.0, k], dtype=torch.float64, device="cpu")


def _pair(rows, null):
    return lambda k: torch.tensor([float(rows(k)), float(null(k))], dtype=torch.float64, device="cpu")


def _null_label() -> Exercise:
    cases = [(10,), (3,), (1,), (100,)]  # FashionMNIST, a small K, a single class, many classes
    leak = ("{idx} is the index of class {cls}: 'no class' and that class would share one row of the table, so label "
            "dropout trains the class's vector on images of every class, eps(x, null) equals that class's prediction, "
            "and guidance towards it does nothing (eps_cond - eps_uncond = 0). ")
    mistakes = [
        (_pair(lambda k: k + 1, lambda k: 0), leak.format(idx="0", cls="0 (a T-shirt/top in FashionMNIST)")
         + "Give the null label the extra row: index K."),
        (_pair(lambda k: k + 1, lambda k: k - 1), leak.format(idx="K - 1", cls="K - 1 (an ankle boot in "
                                                                               "FashionMNIST)")
         + "Give the null label the extra row: index K."),
        (_pair(lambda k: k, lambda k: k - 1), "A table of K rows has no row to spare: " + leak.format(
            idx="K - 1", cls="K - 1, the last class") + "The table needs K + 1 rows, the null label index K."),
        (_pair(lambda k: k, lambda k: 0), "A table of K rows has no row to spare: " + leak.format(
            idx="0", cls="0, the first class") + "The table needs K + 1 rows, the null label index K."),
        (_pair(lambda k: k, lambda k: k),
         "The null index K is right, but a table of K rows has indices 0..K-1 only: nn.Embedding(K, dim) raises "
         "IndexError for K. The table needs K + 1 rows."),
        (_pair(lambda k: k + 1, lambda k: -1),
         "nn.Embedding does not take negative indices (-1 raises IndexError: index out of range): write the null "
         "label as K, the last of the K + 1 rows."),
        (_pair(lambda k: k + 1, lambda k: k + 1),
         "A table of K + 1 rows has indices 0..K: K + 1 is out of range (IndexError). The null label is K."),
        (_pair(lambda k: k + 2, lambda k: k + 1),
         "One extra row is enough: K + 1 rows, classes 0..K-1 and the null label K (your row K would never be "
         "used)."),
    ]
    return Exercise("your (rows, null label)", cases, _null_ref, mistakes,
                    read=numbers(2, "a pair of numbers (rows of the table, index of the null label)"),
                    parts=("rows", "null label"))


EXERCISES = {"classifier_guided_eps": _classifier_guided_eps, "guided_eps": _guided_eps,
             "drop_labels": _drop_labels, "null_label": _null_label}


def check_classifier_guided_eps(fn) -> bool:
    r"""Notebook 07, derivation. ``fn(eps, grad_log_p, alpha_bar_t, s)`` must return the noise prediction of
    classifier guidance (Dhariwal & Nichol 2021, sec. 4.2, with a scale s): from score = -eps / \sqrt{1 - \bar\alpha_t}
    and \nabla \log p(x|c)^{(s)} = \nabla \log p(x) + s \nabla \log p(c|x),

        \hat\epsilon = \epsilon - s \sqrt{1 - \bar\alpha_t} \nabla_x \log p_t(c | x_t)

    (tensors eps, grad_log_p of one shape; floats alpha_bar_t, s)."""
    return _classifier_guided_eps().check(fn)


def check_guided_eps(fn) -> bool:
    r"""Notebook 07. ``fn(eps_cond, eps_uncond, s)`` must return classifier-free guidance (Ho & Salimans 2022, with
    s = 1 + w): \tilde\epsilon = \epsilon(x, \varnothing) + s (\epsilon(x, c) - \epsilon(x, \varnothing))."""
    return _guided_eps().check(fn)


def check_drop_labels(fn) -> bool:
    """Notebook 07. ``fn(labels, p, num_classes, u, training)`` must return ``labels`` with each entry replaced by
    the null label ``num_classes`` where ``u < p`` (``u``: one uniform number per label), in training only: with
    ``training=False`` (sampling) the labels come back unchanged, like ``torch.nn.functional.dropout``."""
    return _drop_labels().check(fn)


def check_null_label(fn) -> bool:
    """Notebook 07. ``fn(num_classes)`` must return ``(rows, null)``: the number of rows of the label embedding
    table and the index of the null label, such that no class shares its row with "no class"."""
    return _null_label().check(fn)
