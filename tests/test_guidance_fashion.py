"""Notebook 07's FashionMNIST half: the shipped class-conditional U-Net, guidance's trade-off (core.tradeoff,
``cli.conditional evaluate``) and the lesson's figures and panel (lessons.guidance.fashion).

The shipped model's guided samples are re-measured at a small n; the JSON, the card and benchmarks/README.md must
say the same; every piece of the evaluation also runs on tiny inputs.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_helpers import NoiseSchedule, UNet
from ddpm_helpers.cli.conditional import main as conditional_main
from ddpm_helpers.cli.conditional import tradeoff_card_section, tradeoff_markdown
from ddpm_helpers.core.checkpoints import load_pretrained, save_checkpoint
from ddpm_helpers.core.guidance import CONDITIONAL_RECIPE, conditional_from_unconditional, train_conditional
from ddpm_helpers.core.paths import WEIGHTS_DIR
from ddpm_helpers.core.tradeoff import (
    class_floor,
    class_reference,
    guided_samples,
    recommend_scale,
    score_classes,
    score_tradeoff,
    wilson_interval,
)
from ddpm_helpers.lessons.guidance.fashion import (
    _tiles,
    class_grid_figure,
    classified_as,
    fashion_guidance_panel,
    load_tradeoff,
    tradeoff_figure,
    tradeoff_reading,
)

README = Path(__file__).resolve().parents[1] / "benchmarks" / "README.md"


def _tiny_cond_unet(seed: int = 0) -> UNet:
    """A small class-conditional U-Net whose labels matter (a random label table instead of zeros)."""
    torch.manual_seed(seed)
    m = UNet(base_channels=8, channel_mults=(1, 2), attention=False, num_classes=10)
    with torch.no_grad():
        m.label.table.weight.normal_()
    return m.eval()


# ----------------------------------------------------------------------------- the shipped model
@pytest.fixture(scope="module")
def shipped():
    return load_tradeoff()


def test_guided_samples_at_the_recommended_scale_are_their_class(shipped):
    """The issue's "done when": at the recommended scale the shipped classifier finds the samples in their own
    class far more often than at s = 0, both with their interval (n = 3 per class, 30 per scale, same x_T).

    Tolerance: the shipped evaluation (n = 80 per class) puts s = 0 at the 10 % of chance and the recommended
    scale near 80 %; at n = 30 their 95 % Wilson intervals are about +-15 points wide, so intervals that do not
    overlap are what "well above" can mean at this n, with room to spare."""
    model, sched, _ = load_pretrained("fashion_cond_unet")
    s_rec = shipped["recommended"]["scale"]
    rows = {r["scale"]: r for r in shipped["rows"]}
    hits = {}
    for s in (0.0, s_rec):
        x, y = guided_samples(model, sched, s, 3, seed=7)
        hits[s] = int((classified_as(x) == y).sum())
    lo_rec, _ = wilson_interval(hits[s_rec], 30)
    _, hi_0 = wilson_interval(hits[0.0], 30)
    assert lo_rec > hi_0, (hits, shipped["recommended"])
    # and the small re-measure agrees with the shipped one: each shipped accuracy (n = 800, its own interval about
    # a fifth as wide) inside this run's 99 % interval (two checks at 99 %: a false alarm in under 2 % of seeds)
    for s in (0.0, s_rec):
        lo, hi = wilson_interval(hits[s], 30, level=0.99)
        assert lo <= rows[s]["accuracy"] <= hi, (s, hits[s], rows[s]["accuracy"])


def test_json_card_and_readme_agree(shipped):
    _, _, meta = load_pretrained("fashion_cond_unet")
    assert shipped["weights_steps"] == meta["steps"], ("fashion_cond_unet.pt was retrained after its trade-off was "
                                                       "measured: run python -m ddpm_helpers.cli.conditional evaluate")
    card = (WEIGHTS_DIR / "fashion_cond_unet.md").read_text()
    assert tradeoff_card_section(shipped) in card, "the card's metrics section is not the one written from the JSON"
    assert tradeoff_markdown(shipped) in README.read_text(), "benchmarks/README.md's trade-off table is not the JSON's"
    # the JSON is consistent with itself: intervals, means and the recommendation follow from its raw numbers
    for r in shipped["rows"]:
        assert r["n"] == 10 * shipped["n_per_class"] == sum(pc["n"] for pc in r["per_class"])
        assert r["correct"] == sum(pc["correct"] for pc in r["per_class"])
        assert r["accuracy"] == pytest.approx(r["correct"] / r["n"], abs=1e-12)
        assert (r["acc_lo"], r["acc_hi"]) == pytest.approx(wilson_interval(r["correct"], r["n"]), abs=1e-12)
        assert r["kid_mean"] == pytest.approx(np.mean([pc["kid"] for pc in r["per_class"]]), abs=1e-12)
    assert recommend_scale(shipped["rows"]) == shipped["recommended"]
    for key in ("command", "hardware", "threads", "omp_wait_policy", "date", "total_seconds"):
        assert key in shipped
    assert shipped["floor"]["draws"] >= 2 and shipped["floor"]["n_per_class"] == shipped["n_per_class"]


def test_the_card_records_how_the_weights_were_trained():
    _, _, meta = load_pretrained("fashion_cond_unet")
    card = (WEIGHTS_DIR / "fashion_cond_unet.md").read_text()
    assert "python -m ddpm_helpers.cli.conditional train" in meta["command"] and meta["command"] in card
    facts = dict(re.findall(r"^- \*\*([\w ]+)\*\*: (.+)$", card, re.MULTILINE))
    assert facts["hardware"].startswith("AMD EPYC") and facts["hardware"] == meta["hardware"]
    assert facts["omp_wait_policy"] == "PASSIVE" and facts["train_seconds"] == str(meta["train_seconds"])
    assert float(facts["minutes"]) == pytest.approx(meta["train_seconds"] / 60, abs=0.05)  # rounded to 0.1 min
    assert meta["label_dropout"] == CONDITIONAL_RECIPE["label_dropout"] and meta["lr"] == CONDITIONAL_RECIPE["lr"]


# ----------------------------------------------------------------------------- the pieces, on tiny inputs
def test_wilson_interval_matches_the_textbook_formula():
    # 30 of 100 (e.g. Newcombe 1998's worked examples give the same construction): [0.2189, 0.3958]
    lo, hi = wilson_interval(30, 100)
    assert (lo, hi) == pytest.approx((0.2189, 0.3958), abs=1e-4)
    lo0, hi0 = wilson_interval(0, 30)
    assert lo0 == 0.0 and 0.10 < hi0 < 0.12  # not empty at k = 0: z^2 / (n + z^2) = 0.1135
    assert wilson_interval(30, 30)[1] == pytest.approx(1.0) and wilson_interval(30, 30)[0] < 1
    with pytest.raises(ValueError, match="k must be an integer in 0..n=10, got 11"):
        wilson_interval(11, 10)


def _row(s, kid, sd, correct, n=100):
    lo, hi = wilson_interval(correct, n)
    return {"scale": s, "kid_mean": kid, "kid_mean_std": sd, "accuracy": correct / n, "acc_lo": lo, "acc_hi": hi}


def test_recommend_scale_takes_the_least_guidance_that_is_as_accurate_without_hurting_fidelity():
    rows = [_row(0, 1.00, 0.02, 10), _row(1, 0.10, 0.02, 80), _row(2, 0.12, 0.02, 93), _row(3, 0.13, 0.02, 96),
            _row(5, 0.40, 0.02, 99)]
    rec = recommend_scale(rows)
    # s = 5 is the most accurate but its KID is 15 spreads above the lowest; among the rest s = 3 is best (96 %),
    # and s = 2's interval (86.2-96.6 %) reaches it while s = 1's (71.1-86.7 %) does not
    assert rec["scale"] == 2 and rec["kid_ok"] == [1, 2, 3]
    assert rec["best_accuracy"] == pytest.approx(0.96)
    # a wider KID band lets s = 5 in, and then its 99 % is the one to reach: s = 3's interval ends at 98.8 %
    assert recommend_scale(rows, kid_sds=20)["scale"] == 5 and wilson_interval(96, 100)[1] < 0.99
    with pytest.raises(ValueError, match="kid_mean_std"):
        recommend_scale([{"scale": 0, "kid_mean": 0.1, "accuracy": 0.5}])


def test_guided_samples_start_every_scale_from_the_same_noise():
    """With a zero label embedding the conditional and unconditional predictions are equal, so every scale
    gives the same samples (to float32 rounding of s * (eps_c - eps_u) with eps_c - eps_u = 0 exactly, and of a
    doubled batch); with labels that matter they differ."""
    sched = NoiseSchedule.linear(1000)
    torch.manual_seed(0)
    flat = conditional_from_unconditional(UNet(base_channels=8, channel_mults=(1, 2), attention=False)).eval()
    x0, y = guided_samples(flat, sched, 0.0, 2, classes=[1, 7], steps=4)
    x3, y3 = guided_samples(flat, sched, 3.0, 2, classes=[1, 7], steps=4)
    assert y.tolist() == [1, 1, 7, 7] and torch.equal(y, y3) and x0.shape == (4, 1, 28, 28)
    torch.testing.assert_close(x3, x0, rtol=0, atol=1e-5)
    x3b, _ = guided_samples(_tiny_cond_unet(), sched, 3.0, 2, classes=[1, 7], steps=4)
    assert (x3b - x0).abs().max() > 1e-2
    assert x0.abs().max() <= 1 + 1e-6  # x0 clipped at every step, so the last x0-hat is in [-1, 1]
    with pytest.raises(ValueError, match="classes"):
        guided_samples(flat, sched, 1.0, 2, classes=[10])


@pytest.fixture(scope="module")
def reference(fashion_dir):
    return class_reference("test")


def test_score_classes_reads_real_images_and_tells_wrong_labels_apart(reference):
    from ddpm_helpers.core.data import load_fashion_mnist

    f_ref, y_ref = reference
    x_train, y_train = load_fashion_mnist("train")
    idx = torch.cat([torch.nonzero(y_train == c).squeeze(1)[:8] for c in range(10)])
    x, y = x_train[idx], y_train[idx]
    right = score_classes(x, y, f_ref, y_ref, n_boot=5)
    pred = classified_as(x)
    assert right["correct"] == int((pred == y).sum()) and right["n"] == 80 and right["n_per_class"] == 8
    assert right["kid_mean"] == pytest.approx(np.mean([pc["kid"] for pc in right["per_class"]]))
    assert right["kid_mean_std"] == pytest.approx(math.sqrt(sum(pc["kid_std"] ** 2 for pc in right["per_class"])) / 10)
    wrong = score_classes(x, (y + 1) % 10, f_ref, y_ref, n_boot=0)  # each class scored against the next one's images
    assert "kid_mean_std" not in wrong and wrong["correct"] <= 80 - right["correct"]
    # real images of the right class sit near KID 0; against another class's images KID is far larger
    assert wrong["kid_mean"] > 10 * abs(right["kid_mean"]) + 10 * right["kid_mean_std"]
    floor = class_floor(8, f_ref, y_ref, classes=[0, 9], draws=2)
    assert [pc["class"] for pc in floor["per_class"]] == [0, 9] and len(floor["kid_mean_values"]) == 2
    assert 0.5 < floor["accuracy"] <= 1
    with pytest.raises(ValueError, match="at least two"):
        score_tradeoff({0.0: x}, y)


def test_train_conditional_fine_tunes_an_unconditional_unet():
    torch.manual_seed(0)
    base = UNet(base_channels=8, channel_mults=(1, 2), attention=False)
    x, y = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10
    result = train_conditional(base, x, y, NoiseSchedule.linear(1000), steps=3, batch_size=8, progress=False,
                               device="cpu")
    assert result.steps_done == 3 and result.config.label_dropout == CONDITIONAL_RECIPE["label_dropout"]
    assert result.config.lr == CONDITIONAL_RECIPE["lr"] and result.model.config.num_classes == 10
    assert result.model.label.table.weight.abs().max() > 0  # the label embedding trained away from its zeros


def test_the_evaluate_command_writes_the_json_and_the_card(tmp_path, fashion_dir):
    sched = NoiseSchedule.linear(1000)
    weights = tmp_path / "tiny.pt"
    save_checkpoint(weights, _tiny_cond_unet(), sched, {"steps": 5})
    card = tmp_path / "tiny.md"
    card.write_text("# tiny\n\n## Training\n\n- **steps**: 5\n\n## Metrics\n\nold\n")
    out = tmp_path / "tiny.tradeoff.json"
    conditional_main(["evaluate", "--scales", "0", "2", "--n-per-class", "2", "--steps", "2", "--n-boot", "2",
                      "--floor-draws", "2", "--weights", str(weights), "--out", str(out), "--card", str(card)])
    m = json.loads(out.read_text())
    assert [r["scale"] for r in m["rows"]] == [0.0, 2.0] and m["n_per_class"] == 2 and m["weights_steps"] == 5
    assert all(r["seconds"] >= 0 for r in m["rows"]) and m["floor"]["draws"] == 2
    text = card.read_text()
    assert "old" not in text and "- **steps**: 5" in text and tradeoff_card_section(m) in text
    assert text.count("## Metrics") == 1
    # the lesson's reading and figure take the same dict
    assert "n = 2 per class, 20 per scale" in tradeoff_reading(m)
    fig = tradeoff_figure(m, m)
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel().startswith("mean per-class KID")


# ----------------------------------------------------------------------------- the lesson's pictures
def test_tiles_frame_each_image_by_what_the_classifier_says():
    x = torch.zeros(4, 1, 28, 28)
    y = torch.tensor([3, 3, 5, 5])
    pred = torch.tensor([3, 1, 5, 5])
    img = _tiles(x, y, pred, n=2)
    assert img.shape == (2 * 32, 2 * 32, 3)
    green, red = [0.1, 0.7, 0.2], [0.9, 0.1, 0.1]
    assert img[0, 0].tolist() == green and img[0, 32].tolist() == red and img[32, 32].tolist() == green
    assert img[16, 16].tolist() == [0.5, 0.5, 0.5]  # the image itself: 0 in [-1, 1] is mid-grey


def test_grid_and_panel_draw_what_they_say():
    sched = NoiseSchedule.linear(1000)
    model = _tiny_cond_unet()
    x, y = guided_samples(model, sched, 2.0, 2, classes=[0, 1], steps=2)
    fig = class_grid_figure({0.0: x, 2.0: x}, y)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["T-shirt/top", "Trouser"]
    hits = int((classified_as(x) == y).sum())
    assert fig.axes[1].get_title().startswith(f"s = 2: {hits} of 4 classified")
    panel = fashion_guidance_panel(model, sched, c=9, s=2.0, n=2)

    def grids():  # the pixels of the s = 0 grid and of the guided one
        return [np.asarray(ax.images[0].get_array()).copy() for ax in panel.figure.axes[:2]]
    s0_before, guided_before = grids()
    panel.controls["c"].value = 1
    s0_after, guided_after = grids()
    assert panel.figure.get_suptitle().startswith("Trouser")
    assert not np.array_equal(guided_before[4:-4, 4:-4], guided_after[4:-4, 4:-4])  # another class is drawn
    # s = 0 ignores the label: the same images (only the frames, the classifier's verdict on the new row, may change)
    assert np.array_equal(s0_before[2:30, 2:30], s0_after[2:30, 2:30])
    with pytest.raises(ValueError, match="s must be one of"):
        fashion_guidance_panel(model, sched, s=2.5)


# ----------------------------------------------------------------------------- the notebook's prose
def test_the_notebooks_fashion_prose_says_what_the_shipped_numbers_say(shipped):
    """Every number section 3's markdown states is the shipped JSON's or card's (or the code's beside it)."""
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "07_guidance.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("section") == "fashion"]
    prose = " ".join(" ".join(c.source for c in cells if c.cell_type == "markdown").split())
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    rows = {r["scale"]: r for r in shipped["rows"]}
    names = [pc["name"] for pc in shipped["floor"]["per_class"]]

    def acc(name, s):  # a class's accuracy at scale s, in whole percent
        pc = rows[s]["per_class"][names.index(name)]
        return round(100 * pc["correct"] / pc["n"])

    def best_scale(name):  # the scale where the class's KID is lowest
        return min(rows, key=lambda s: rows[s]["per_class"][names.index(name)]["kid"])
    assert f"{100 * rows[0.0]['accuracy']:.1f} % of {rows[0.0]['n']} samples" in prose
    assert f"n = {shipped['n_per_class']} per class" in prose and shipped["recommended"]["scale"] == 2.0
    assert f"Shirt reaches {acc('Shirt', 2.0)} % at $s = 2$" in prose
    assert all(45 <= acc(n, 2.0) <= 55 for n in ("T-shirt/top", "Coat")) and "T-shirt/top and Coat about half" in prose
    easy = [acc(n, 2.0) for n in ("Trouser", "Sandal", "Sneaker", "Bag")]
    assert f"Trouser, Sandal, Sneaker and Bag are at {min(easy)}–{max(easy)} %" in prose
    shirt = {s: acc("Shirt", s) for s in rows}
    assert f"at most {max(shirt.values())} %, at $s = {max(shirt, key=shirt.get):g}$" in prose
    assert best_scale("Trouser") == best_scale("Bag") == 1.0
    assert "Trouser and Bag are closest to their test images at $s = 1$" in prose
    assert all(best_scale(n) in (3.0, 5.0) for n in ("T-shirt/top", "Coat", "Shirt"))
    assert "Shirt only at $s = 3$–5" in prose
    _, _, meta = load_pretrained("fashion_cond_unet")
    assert f"{meta['steps']} fine-tuning steps" in prose and "time_limit=20 * 60" in code and "20 minutes" in prose
    assert "budget(8, 3)" in code and "3 per class" in prose and "guided_samples(cond, sched_img, s, 50" in code
    assert "50 per class at four scales" in prose and "sorted({0.0, 1.0, s_rec, 5.0})" in code
    assert f"{100 * CONDITIONAL_RECIPE['label_dropout']:.0f} % of the examples" in prose
