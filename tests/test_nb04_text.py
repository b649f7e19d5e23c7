"""Notebook 04's prose, held by numbers: the residual block's formula (section 2), why the loss is highest at t = 0
(section 6), what x0-hat looks like at t = 999 (the slider's text), and the class histogram's uncertainty
(section 8)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from ddpm_helpers import load_fashion_mnist, load_pretrained
from ddpm_helpers.core.models import ResBlock, TimeEmbedding, sinusoidal_embedding
from ddpm_helpers.core.training import min_snr_weights
from ddpm_helpers.lessons.unet import (class_histogram_reading, class_shares, coverage_test, loss_by_region,
                                       x0_predictions)


# ----------------------------------------------------------------------------- section 2: the formula
def test_resblock_is_the_formula_of_section_2():
    torch.manual_seed(0)
    block, emb = ResBlock(c_in=8, c_out=16, time_dim=12, groups=4).eval(), TimeEmbedding(sin_dim=10, out_dim=12)
    x, t = torch.randn(3, 8, 5, 5), torch.tensor([0, 17, 999])
    e_t = emb(t)
    # e_t = MLP(emb(t)): Linear, SiLU, Linear on the sinusoidal vector
    lin1, lin2 = emb.mlp[0], emb.mlp[2]
    torch.testing.assert_close(e_t, lin2(F.silu(lin1(sinusoidal_embedding(t, 10)))))
    # h = conv1(SiLU(GN1(x))) + W SiLU(e_t) + b;  out = conv2(SiLU(GN2(h))) + skip(x)
    h = block.conv1(F.silu(block.norm1(x))) + (F.silu(e_t) @ block.time.weight.T + block.time.bias)[:, :, None, None]
    want = block.conv2(F.silu(block.norm2(h))) + block.skip(x)
    # the same operations in the same order on both sides; only the matmul route of the time projection differs
    torch.testing.assert_close(block(x, e_t), want, rtol=1e-5, atol=1e-6)
    # W and b are one layer for every t: the time enters only through e_t
    assert block.time.weight.shape == (16, 12)


# ----------------------------------------------------------------------------- section 6: the loss at small t
@pytest.fixture(scope="module")
def shipped():
    model, sched, _ = load_pretrained("fashion_unet")
    return model, sched


@pytest.fixture(scope="module")
def test_images(fashion_dir):
    return load_fashion_mnist("test")[0]


def test_the_loss_at_t0_comes_from_the_training_weights(shipped, test_images):
    model, sched = shipped
    split = loss_by_region(model, sched, test_images[:32], [0, 20])  # the notebook's quick batch
    bg, gm = split["background"], split["garment"]
    # measured (2-core AMD EPYC, shipped weights, 32 test images): background 0.63 at t = 0, 0.027 at t = 20;
    # garment 0.58 at t = 20
    assert bg[0] > 10 * bg[1]              # background: "many times larger at t = 0 than at t = 20"
    assert gm[1] > 10 * bg[1]              # texture: same t, same weight, the garment's error far above
    assert 0.4 < split["background_share"] < 0.6  # "about half" of the pixels
    w = min_snr_weights(sched, 5.0)
    assert w[0].item() == pytest.approx(0.0005, abs=5e-5)  # "w_0 = 0.0005"
    ab0 = sched.alpha_bars[0].item()
    assert math.sqrt((1 - ab0) / ab0) == pytest.approx(0.01, rel=1e-3)  # "0.01 at t = 0"


def test_loss_by_region_needs_both_regions(tiny_model, linear1000):
    with pytest.raises(ValueError, match="background pixels"):
        loss_by_region(tiny_model, linear1000, torch.zeros(2, 1, 28, 28), [0])


# ----------------------------------------------------------------------------- the slider's text: t = 999
def test_x0_hat_at_t999_is_a_bright_speckled_blob(shipped, test_images):
    model, sched = shipped
    _, x0_hat = x0_predictions(model, sched, test_images[0], [500, 999])
    ab = sched.alpha_bars[999].item()
    assert math.sqrt(ab) == pytest.approx(0.0064, abs=5e-5)  # "about 0.006"
    # measured: [-4.0, 3.2], 37 % of the pixels outside [-1, 1], mean +0.52 (a test image's mean is about -0.4)
    assert (x0_hat[1].abs() > 1).float().mean() > 0.2 and x0_hat[1].mean() > 0
    assert (x0_hat[0].abs() > 1.1).float().mean() < 0.02  # at t = 500 the prediction stays in the pixel range


# ----------------------------------------------------------------------------- section 8: the class histogram
def test_wilson_interval_matches_the_textbook_formula():
    c = np.array([7, 9, 3, 2, 2, 1, 0, 2, 2, 4])  # the notebook's quick run (n = 32)
    sh = class_shares(c)
    z, n = 1.959963984540054, 32
    assert sh["n"] == n
    # 0 of n: the interval is [0, z^2 / (n + z^2)]
    assert sh["lo"][6] == 0.0 and sh["hi"][6] == pytest.approx(z**2 / (n + z**2), rel=1e-12)
    # 9 of n, written out
    p = 9 / n
    centre, half = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert sh["lo"][1] == pytest.approx((centre - half) / (1 + z**2 / n), rel=1e-12)
    assert sh["hi"][1] == pytest.approx((centre + half) / (1 + z**2 / n), rel=1e-12)
    assert (sh["lo"] <= sh["share"]).all() and (sh["share"] <= sh["hi"]).all()


def test_coverage_test_agrees_with_the_chi2_table_where_the_table_holds():
    # n = 2000: 200 expected per class, where Pearson's chi^2 table is accurate; the simulated p-value (20 000
    # draws) has a standard error of at most 0.0035, so 0.02 is over five of them
    c = np.array([210, 190, 205, 185, 220, 200, 195, 180, 215, 200])
    stat, p = coverage_test(c, np.ones(10))
    ref = chisquare(c)
    assert stat == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=0.02)
    with pytest.raises(ValueError, match="reference must give a positive share"):
        coverage_test(c, np.r_[np.ones(9), 0.0])
    with pytest.raises(ValueError, match="counts must be a 1-D array"):
        class_shares([3, -1, 2])


def test_the_reading_says_what_n_allows():
    uniform = np.full(10, 3)
    text = class_histogram_reading(uniform, np.ones(10))
    assert "consistent with the reference" in text and "n = 30" in text
    card = [232, 181, 251, 211, 224, 175, 145, 216, 171, 242]  # the model card's DDIM-50 histogram, n = 2048
    text = class_histogram_reading(card, np.ones(10))
    assert "differs from the reference" in text and "Shirt 7 %" in text and "p < 0.001" in text
