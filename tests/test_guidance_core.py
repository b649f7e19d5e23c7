"""Class conditioning and classifier-free guidance in the core (models, training, core.guidance)."""
from __future__ import annotations

import pytest
import torch

from ddpm_helpers import NoiseSchedule, TimeMLP, UNet, train
from ddpm_helpers.core.guidance import Guided, conditional_from_unconditional, guided_eps


def _mlp(k=3, seed=0):
    torch.manual_seed(seed)
    return TimeMLP(hidden=32, blocks=1, num_classes=k)


def test_a_conditional_copy_predicts_what_the_unconditional_model_predicts():
    torch.manual_seed(0)
    base = UNet(base_channels=16, channel_mults=(1, 2), attention=False)
    cond = conditional_from_unconditional(base, 10)
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([0, 10, 500, 999])
    # the same weights and a zero label vector: the same float32 operations, so equal to rounding
    torch.testing.assert_close(cond(x, t, torch.tensor([0, 3, 9, 10])), base(x, t), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="unconditional"):
        conditional_from_unconditional(cond)


def test_guided_is_the_classifier_free_combination():
    m = _mlp()
    with torch.no_grad():
        m.label.table.weight.normal_()  # labels that change the prediction
    x, t = torch.randn(6, 2), torch.full((6,), 300)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        ec, eu = m(x, t, y), m(x, t, None)
        for s in (0.0, 1.0, 2.5):
            want = eu + s * (ec - eu)
            # one call on a doubled batch vs two calls: same maths, different batch shape (atol: float32 rounding)
            torch.testing.assert_close(Guided(m, y, s)(x, t), want, rtol=1e-5, atol=1e-5)
        ones = torch.ones(6, dtype=torch.long)
        torch.testing.assert_close(Guided(m, 1, 3.0)(x, t), guided_eps(m(x, t, ones), eu, 3.0), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ec, eu)  # the check above is not vacuous


@pytest.mark.parametrize("bad", [dict(labels=3), dict(labels=-1), dict(labels=1.5), dict(scale=-1.0)])
def test_guided_refuses_bad_labels_and_scales(bad):
    kw = dict(labels=0, scale=1.0) | bad
    with pytest.raises(ValueError, match="labels|scale"):
        Guided(_mlp(), **kw)
    with pytest.raises(ValueError, match="num_classes"):
        Guided(TimeMLP(hidden=8, blocks=1), 0, 1.0)


def test_an_unconditional_model_refuses_labels_and_a_conditional_one_refuses_bad_shapes():
    with pytest.raises(ValueError, match="unconditional"):
        zeros = torch.zeros(2, dtype=torch.long)
        TimeMLP(hidden=8, blocks=1)(torch.zeros(2, 2), zeros, zeros)
    with pytest.raises(ValueError, match="y must"):
        _mlp()(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("p, trained_rows, still_rows", [(1.0, [3], [0, 1, 2]), (0.0, [0, 1, 2], [3])])
def test_label_dropout_decides_which_label_vectors_learn(p, trained_rows, still_rows):
    """p = 1: only the null label (row 3) is ever seen; p = 0: the null label is never trained (its row keeps
    its zeros): the null label does not leak into the class vectors, nor they into it."""
    m = _mlp()
    x = torch.randn(64, 2)
    y = torch.arange(64) % 3
    r = train(m, x, NoiseSchedule.linear(100), labels=y, steps=20, batch_size=32, warmup=1, lr=1e-2,
              label_dropout=p, progress=False, ema_decay=0.5)
    w = r.model.label.table.weight
    assert all(w[i].abs().max() > 0 for i in trained_rows)
    assert all(w[i].abs().max() == 0 for i in still_rows)


def test_train_refuses_labels_that_do_not_fit_the_model():
    x = torch.randn(10, 2)
    with pytest.raises(ValueError, match="unconditional"):
        train(TimeMLP(hidden=8, blocks=1), x, NoiseSchedule.linear(10), labels=torch.zeros(10, dtype=torch.long),
              steps=1, progress=False)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        train(_mlp(), x, NoiseSchedule.linear(10), labels=torch.full((10,), 3), steps=1, progress=False)
    with pytest.raises(ValueError, match="shape"):
        train(_mlp(), x, NoiseSchedule.linear(10), labels=torch.zeros(9, dtype=torch.long), steps=1, progress=False)
    with pytest.raises(ValueError, match="label_dropout"):
        train(_mlp(), x, NoiseSchedule.linear(10), labels=torch.zeros(10, dtype=torch.long), steps=1,
              progress=False, label_dropout=1.5)
