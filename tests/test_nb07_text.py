"""Notebook 07's prose, held by numbers (issue 23): the conventions it teaches hold in the package (s = 0
unconditional, s = 1 conditional, Ho & Salimans' w = s - 1; the label dropped to the null label K in training only,
10 % of the time; a table of K + 1 rows), its exercises' references are the package's, and every number its
markdown states is computed by the cell beside it or names where it comes from."""
from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, train
from ddpm_helpers.core.classifier import ClassifierConfig
from ddpm_helpers.core.guidance import Guided, guided_eps
from ddpm_helpers.core.models import LabelEmbedding
from ddpm_helpers.core.training import TrainConfig
from ddpm_helpers.lessons.guidance import exercises as ex

ROOT = Path(__file__).resolve().parents[1]
NB = nbformat.read(ROOT / "notebooks" / "07_guidance.ipynb", as_version=4)
PROSE = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")


def flat(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- the guidance convention
def test_the_convention_the_notebook_states_is_the_packages():
    """The notebook's s = 0 / s = 1 and "their w is our s - 1", on a small conditional MLP with random weights
    (its label table filled, so the classes really differ)."""
    torch.manual_seed(0)
    m = TimeMLP(num_classes=3)
    torch.nn.init.normal_(m.label.table.weight)
    x, t = torch.randn(5, 2), torch.full((5,), 400)
    y, null = torch.full((5,), 2), torch.full((5,), 3)
    eps_c, eps_u = m(x, t, y), m(x, t, null)
    assert (eps_c - eps_u).abs().max() > 0.1  # the two predictions differ: the checks below can fail
    assert torch.equal(Guided(m, 2, 0.0)(x, t), m(x, t, None)) and torch.equal(m(x, t, None), eps_u)
    assert torch.equal(Guided(m, 2, 1.0)(x, t), eps_c)
    for s in (0.5, 3.0, 7.5):
        w = s - 1
        # one model call on a doubled batch against two calls: float32 rounding of a few units in the last place
        assert torch.allclose(Guided(m, 2, s)(x, t), (1 + w) * eps_c - w * eps_u, rtol=1e-5, atol=1e-5)
        assert torch.allclose(guided_eps(eps_c, eps_u, s), ex._cfg_ref(eps_c, eps_u, s).float(), atol=1e-6)
    assert "$s = 0$ is the unconditional model, $s = 1$ the conditional one" in flat(PROSE)
    assert "so their $w$ is our $s - 1$" in flat(PROSE)


# ----------------------------------------------------------------------------- label dropout, the null label
class _Recorder(TimeMLP):
    """A conditional TimeMLP that records every label batch it is called with."""

    def __init__(self, seen: list, **kw):
        super().__init__(**kw)
        self._seen = seen

    def forward(self, x, t, y=None):
        self._seen.append(y.detach().clone())
        return super().forward(x, t, y)


def test_training_drops_the_label_to_the_null_label_10_percent_of_the_time():
    """The intro's "the label dropped 10 % of the time": train()'s default, measured over 40 000 labels."""
    assert TrainConfig().label_dropout == 0.1
    assert "trained with the label dropped 10 % of the time" in flat(PROSE)
    seen: list = []
    data = torch.randn(512, 2)
    labels = torch.arange(512) % 2
    train(_Recorder(seen, num_classes=2), data, NoiseSchedule.linear(100), labels=labels, steps=160, batch_size=256,
          seed=0, progress=False)
    assert len(seen) == 160  # one call per step (the EMA copy records into its own copy of the list)
    y = torch.cat(seen)
    n = y.numel()
    share = (y == 2).float().mean().item()
    # binomial standard error sqrt(0.1 * 0.9 / 40 960) = 0.0015: four of them
    assert abs(share - 0.1) < 4 * math.sqrt(0.09 / n), share
    assert set(y.unique().tolist()) == {0, 1, 2}  # classes 0..K-1 and the null label K, nothing else


def test_sampling_never_drops_a_label():
    """Guided passes the labels it is given (and the null label for the unconditional half), nothing at random."""
    seen: list = []
    m = _Recorder(seen, num_classes=4)
    x, t = torch.randn(6, 2), torch.full((6,), 10)
    for _ in range(20):
        Guided(m, 3, 2.0)(x, t)
    y = torch.stack(seen)  # (20, 12): the labels then the null label, every call
    assert torch.equal(y, torch.tensor([3] * 6 + [4] * 6).expand(20, 12))


def test_the_null_label_exercise_is_the_models_table():
    for k in (1, 3, 10):
        emb = LabelEmbedding(k, 4)
        rows, null = ex._null_ref(k).tolist()
        assert emb.table.num_embeddings == rows
        torch.nn.init.normal_(emb.table.weight)
        assert torch.equal(emb(None, 2, torch.device("cpu")), emb.table.weight[int(null)].expand(2, 4))
        # no class shares the null label's row
        assert all(not torch.equal(emb.table.weight[c], emb.table.weight[int(null)]) for c in range(k))


def test_the_drop_labels_exercise_is_trains_rule():
    """train() drops where rand < label_dropout (core/training.py, step 3): the exercise's reference, with u given."""
    src = (ROOT / "ddpm_helpers" / "core" / "training.py").read_text()
    assert re.search(r"torch\.rand\(B, device=device, generator=gen\) < config\.label_dropout", src)
    assert re.search(r"torch\.where\(drop, run\.null, run\.labels\[idx\]\)", src)
    u = torch.tensor([0.05, 0.5, 0.09, 0.95])
    y = torch.tensor([0, 1, 2, 1])
    assert ex._drop_ref(y, 0.1, 3, u, True).tolist() == [3, 1, 3, 1]
    assert ex._drop_ref(y, 0.1, 3, u, False).tolist() == [0, 1, 2, 1]


@pytest.mark.parametrize("exercise", sorted(ex.EXERCISES))
def test_every_exercise_has_its_cells(exercise):
    """Each exercise of lessons/guidance/exercises.py is asked in the notebook (solution cell and check)."""
    code = "\n".join(c.source for c in NB.cells if c.cell_type == "code")
    assert f"def my_{exercise}(" in code and f"check_{exercise}(my_{exercise})" in code


# ----------------------------------------------------------------------------- every number in the prose
# Numbers that name things, not quantities: headings, notebooks, sections, exercises, classes and labels, papers'
# years and sections, "2-D", the ends of a probability's range.
NAMING = re.compile(r"^#+ \d+\.\d+|^#+ \d+\.|notebooks? \d\d(?:[–-]\d\d)?(?:,? (?:and )?\d\d)*"
                    r"|\d\d \((?:the|DDIM)[^)]*\)"
                    r"|[Ss]ections? \d(?:[–-]\d)?(?:, \d)*(?:,? and \d)?|[Ee]xercises? \d(?:[–-]\d)?|class \d\b"
                    r"|label \d\b|Algorithm \d|sec\. \d(?:\.\d)?|(?:et al\.|& \w+) \d{4}|\d-D|between 0 and 1"
                    r"|is 1 on moon and 0 off|# 07|chosen in 3\.4|the trade-off 3\.4 measures",
                    re.MULTILINE)


def _code_has(pattern: str):
    code = "\n".join(c.source for c in NB.cells if c.cell_type == "code")
    return lambda: re.search(pattern, code) is not None


def _defaults(fn, **expected):
    import inspect

    params = inspect.signature(fn).parameters
    return lambda: all(params[k].default == v for k, v in expected.items())


def _numbers_held():
    """Each number-bearing phrase of the prose -> a check that the number is what the code computes with (or the
    file it cites says). The run-time line is checked apart (it names where and when it was measured)."""
    from ddpm_helpers.core.data import make_moons_data
    from ddpm_helpers.core.moons import off_moons_fraction
    from ddpm_helpers.core.stats import wilson_interval

    test_2d = (ROOT / "tests" / "test_guidance_2d.py").read_text()
    return {
        "label dropped 10 % of the time": lambda: TrainConfig().label_dropout == 0.1,
        "dropping the label 10 % of the time": lambda: TrainConfig().label_dropout == 0.1,
        "dropping labels 10 % of the time": lambda: TrainConfig().label_dropout == 0.1,
        "only 10 % of the examples": _code_has(r"label_dropout=0\.1"),
        "trained on 1000 points": _code_has(r"make_moons_data\(1000, seed=0, return_labels=True\)"),
        "exact prediction of 1000 points": _code_has(r"make_moons_data\(1000, seed=0, return_labels=True\)"),
        "asserts below 10 % at this budget": lambda: bool(re.search(r"steps=1500", test_2d))
        and _code_has(r"steps=budget\(4000, 1500\)")() and "< 0.1" in test_2d,
        "95 % Wilson interval": _defaults(wilson_interval, level=0.95),
        "with a 95 % interval": lambda: "0.98 sqrt(n)" in (ROOT / "ddpm_helpers" / "lessons" / "guidance"
                                                          / "theory.py").read_text(),
        "farther than 0.2 from both arcs: four standard deviations": lambda: (
            _defaults(off_moons_fraction, max_distance=0.2)() and _defaults(make_moons_data, noise=0.05)()),
        # section 3: the shipped conditional U-Net's card and its measured trade-off
        "null label (index 10)": lambda: _card()["config"].endswith("num_classes=10)"),
        "for 10 % of the examples": lambda: float(_card()["label_dropout"]) == 0.1,
        "for 20 minutes of training": _code_has(r"train_conditional\(.*time_limit=20 \* 60\)"),
        "(the shipped evaluation: 9.8 % of 800 samples)": lambda: (
            _pct(_row(0.0)["accuracy"], 1) == "9.8" and _row(0.0)["n"] == 800),
        "(n = 80 per class,": lambda: _tradeoff()["n_per_class"] == 80,
        "Shirt reaches 28 % at": lambda: _pct(_class_share(2.0, "Shirt"), 0) == "28",
        "Trouser, Sandal, Sneaker and Bag are at 96–100 %": lambda: {
            _pct(_class_share(2.0, c), 0) for c in ("Trouser", "Sandal", "Sneaker", "Bag")} <= {"96", "97", "98",
                                                                                                 "99", "100"},
        "(in the shipped evaluation at most 45 %, at": lambda: (
            max(_class_share(r["scale"], "Shirt") for r in _tradeoff()["rows"]) == _class_share(5.0, "Shirt")
            and _pct(_class_share(5.0, "Shirt"), 0) == "45"),
        "covariance of 128 features": lambda: ClassifierConfig().embed_dim == 128,
        "3 per class, so its error bars are wide), in full mode 50 per class at four scales": lambda: (
            _code_has(r"n_grid = budget\(8, 3\)")() and _code_has(r"guided_samples\(cond, sched_img, s, 50, seed=2\)")()
            and _code_has(r"sorted\(\{0\.0, 1\.0, s_rec, 5\.0\}\)")()),
        "1800 fine-tuning steps": lambda: int(_card()["steps"]) == 1800 == _tradeoff()["weights_steps"],
        "in quick mode, 3 per class,": _code_has(r"n_grid = budget\(8, 3\)"),
        # "Trouser and Bag are closest to their test images at $s = 1$, T-shirt/top, Coat and Shirt only at $s = 3$–5"
        "T-shirt/top, Coat and Shirt only at –5)": lambda: (
            all(_closest_scale(c) == 1.0 for c in ("Trouser", "Bag"))
            and all(_closest_scale(c) in (3.0, 5.0) for c in ("T-shirt/top", "Coat", "Shirt"))),
        # the left panel's mean per-class KID against the floor's band (mean + 2 spreads)
        "Every scale's mean per-class KID is far above the floor (the shaded band near 0)": lambda: (
            _tradeoff()["floor"]["kid_mean"] + 2 * _tradeoff()["floor"]["kid_mean_std"] < 0.02
            < 0.1 * min(r["kid_mean"] for r in _tradeoff()["rows"]) and _sandal_at_its_floor()),
    }


def _sandal_at_its_floor() -> bool:
    """"a single class can come within its floor's spread (Sandal at the recommended scale)": Sandal's KID at the
    recommended scale lies within two combined spreads of Sandal's floor."""
    t = _tradeoff()
    c = next(c for c in _row(t["recommended"]["scale"])["per_class"] if c["name"] == "Sandal")
    f = next(f for f in t["floor"]["per_class"] if f["name"] == "Sandal")
    return abs(c["kid"] - f["kid"]) < 2 * (c["kid_std"] ** 2 + f["kid_std"] ** 2) ** 0.5


def _card() -> dict[str, str]:
    text = (ROOT / "ddpm_helpers" / "weights" / "fashion_cond_unet.md").read_text()
    return dict(re.findall(r"^- \*\*([\w ]+)\*\*: (.+)$", text, re.MULTILINE))


def _tradeoff() -> dict:
    import json

    return json.loads((ROOT / "ddpm_helpers" / "weights" / "fashion_cond_unet.tradeoff.json").read_text())


def _row(scale: float) -> dict:
    return next(r for r in _tradeoff()["rows"] if r["scale"] == scale)


def _class_share(scale: float, name: str) -> float:
    c = next(c for c in _row(scale)["per_class"] if c["name"] == name)
    return c["correct"] / c["n"]


def _closest_scale(name: str) -> float:
    """The scale at which class ``name``'s samples have their lowest KID against its test images."""
    return min(_tradeoff()["rows"], key=lambda r: next(c["kid"] for c in r["per_class"] if c["name"] == name))["scale"]


def _pct(share: float, decimals: int) -> str:
    """A share as the prose prints it: per cent, rounded half up."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(str(100 * share)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def _prose_without_maths(cell_source: str) -> str:
    src = re.sub(r"\$\$.*?\$\$", " ", cell_source, flags=re.DOTALL)
    src = re.sub(r"\$[^$]*\$", " ", src)
    return re.sub(r"`[^`]*`", " ", src)


def test_every_number_in_the_prose_is_held_or_names_its_measurement():
    held = _numbers_held()
    loose = []
    for i, cell in enumerate(NB.cells):
        if cell.cell_type != "markdown" or i == 0 and "**Run time**" in cell.source:
            text = flat(_prose_without_maths(cell.source.split("**Run time**")[0])) if i == 0 else ""
        else:
            text = flat(_prose_without_maths(cell.source))
        for phrase in held:
            text = text.replace(phrase, " ")
        text = NAMING.sub(" ", text)
        loose += [f"cell {i}: ...{text[max(0, m.start() - 40):m.end() + 20]}..."
                  for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?", text)]
    assert not loose, ("numbers in notebook 07's prose that no cell computes and no test holds (add the phrase and "
                       "its check to _numbers_held, or print the number from the cell beside it):\n" + "\n".join(loose))
    said = flat(" ".join(_prose_without_maths(c.source) for c in NB.cells if c.cell_type == "markdown"))
    unused = [p for p in held if p not in said]
    assert not unused, f"phrases held here that the notebook no longer says: {unused}"
    wrong = [p for p, check in held.items() if not check()]
    assert not wrong, f"the prose says these, the code or the file they cite does not: {wrong}"


def test_the_run_time_line_names_where_and_when_it_was_measured():
    line = flat(NB.cells[0].source.split("**Run time**", 1)[1])
    assert re.search(r"2026-\d\d-\d\d", line) and "AMD EPYC" in line and "DDPM_THREADS=1" in line
    assert re.search(r"quick mode.*\d+ s", line) and re.search(r"full mode.*\d+ s", line)
