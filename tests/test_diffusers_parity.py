"""Parity with a trusted implementation: diffusers' DDPMScheduler and DDIMScheduler.

diffusers derives its schedule in float32 (linspace and cumprod); ours is derived in float64 and
stored as float32. The two alpha_bars therefore differ by float32 round-off accumulated over the
cumprod (measured: < 2e-6 relative up to t = 999), which sets the tolerances below.
"""
from __future__ import annotations

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

from ddpm_helpers.core.forward import q_sample  # noqa: E402
from ddpm_helpers.core.reverse import ddim_step, ddpm_step  # noqa: E402
from ddpm_helpers.core.sampling import ddim_sample, ddim_timesteps  # noqa: E402
from ddpm_helpers.core.schedules import NoiseSchedule  # noqa: E402

KINDS = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
EPS32 = float(torch.finfo(torch.float32).eps)


def _tol(sched: NoiseSchedule, t: int) -> float:
    """Both implementations divide by 1 - alpha_bar_t formed in float32 (relative round-off
    eps32 / (1 - alpha_bar_t), 3e-3 at cosine t = 0), on top of a 2e-4 float32 floor."""
    return 2e-4 + 4 * EPS32 / (1 - sched.alpha_bars[t].double().item())


def _ours(kind: str, T: int = 1000) -> NoiseSchedule:
    return NoiseSchedule.linear(T) if kind == "linear" else NoiseSchedule.cosine(T)


def _ddpm(kind: str, clip: bool = False, T: int = 1000) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], beta_start=1e-4, beta_end=0.02,
                         variance_type="fixed_small", clip_sample=clip, prediction_type="epsilon")


def _ddim(kind: str, spacing: str = "trailing", clip: bool = False, T: int = 1000) -> DDIMScheduler:
    return DDIMScheduler(num_train_timesteps=T, beta_schedule=KINDS[kind], beta_start=1e-4, beta_end=0.02,
                         clip_sample=clip, set_alpha_to_one=True, steps_offset=0, timestep_spacing=spacing,
                         prediction_type="epsilon")


def _xe(seed: int, shape=(3, 1, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_betas_and_alpha_bars_match(kind):
    ours, theirs = _ours(kind), _ddpm(kind)
    torch.testing.assert_close(ours.betas, theirs.betas.float(), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ours.alpha_bars, theirs.alphas_cumprod.float(), rtol=1e-5, atol=1e-9)
    # posterior variance against diffusers' own variance function (t > 0; it clamps t = 0 to 1e-20)
    var = torch.stack([theirs._get_variance(t) for t in range(1, 1000)]).double()
    # diffusers forms 1 - alpha_bar_{t-1} and beta_t = 1 - alpha_bar_t / alpha_bar_{t-1} in float32:
    # relative errors up to eps32 / (1 - alpha_bar_{t-1}) and 2 eps32 / beta_t; allow four times those
    tol = 4 * EPS32 * (1 / (1 - ours.alpha_bars_prev[1:].double()) + 2 / ours.betas[1:].double()) + 1e-5
    rel = (ours.posterior_variance[1:].double() / var - 1).abs()
    assert (rel < tol).all(), f"worst t = {int((rel / tol).argmax()) + 1}"


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_q_sample_matches_add_noise(kind):
    ours, theirs = _ours(kind), _ddpm(kind)
    x0, noise = _xe(0, (6, 1, 4, 4))
    t = torch.tensor([0, 1, 250, 500, 900, 999])
    mine, _ = q_sample(x0, t, ours, noise=noise)
    torch.testing.assert_close(mine, theirs.add_noise(x0, noise, t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("t", [0, 1, 10, 300, 999])
def test_ddpm_step_matches_scheduler_step(kind, clip, t):
    ours, theirs = _ours(kind), _ddpm(kind, clip=clip)
    x, eps = _xe(t)
    if clip:
        x = 3 * x  # push x0_hat well outside [-1, 1] so clipping matters
    # diffusers draws its noise as randn(shape, generator); replay the same draw for ours
    out = theirs.step(eps, t, x, generator=torch.Generator().manual_seed(42)).prev_sample
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(42))
    mine = ddpm_step(x, eps, t, ours, noise=z, clip_x0=clip)
    torch.testing.assert_close(mine, out, rtol=_tol(ours, t), atol=_tol(ours, t))
    if clip:  # and clipping really changed the answer
        assert (mine - ddpm_step(x, eps, t, ours, noise=z)).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("spacing", ["trailing", "leading"])
@pytest.mark.parametrize("steps", [10, 50, 1000])
def test_ddim_timesteps_match(kind, spacing, steps):
    sch = _ddim(kind, spacing)
    sch.set_timesteps(steps)
    assert ddim_timesteps(1000, steps, spacing) == sch.timesteps.tolist()


def test_ddim_timesteps_match_uneven_counts():
    for steps in (3, 7, 30, 999):
        for spacing in ("trailing", "leading"):
            sch = _ddim("linear", spacing)
            sch.set_timesteps(steps)
            assert ddim_timesteps(1000, steps, spacing) == sch.timesteps.tolist(), (steps, spacing)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("spacing", ["trailing", "leading"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_matches_scheduler_step(kind, spacing, eta):
    steps = 20  # 1000 / 20 is whole, so diffusers' prev = t - T // steps is the next listed timestep
    ours, sch = _ours(kind), _ddim(kind, spacing)
    sch.set_timesteps(steps)
    ts = ddim_timesteps(1000, steps, spacing)
    x, eps = _xe(7)
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    for t, t_prev in zip(ts, ts[1:] + [-1]):
        out = sch.step(eps, t, x, eta=eta, variance_noise=z if eta > 0 else None).prev_sample
        mine = ddim_step(x, eps, t, t_prev, ours, eta=eta, noise=z)
        torch.testing.assert_close(mine, out, rtol=2e-4, atol=2e-4, msg=f"t={t}, t_prev={t_prev}")


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_clip_matches_scheduler(eta):
    ours, sch = _ours("linear"), _ddim("linear", clip=True)
    sch.set_timesteps(50)
    x, eps = _xe(9)
    x = 3 * x
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(10))
    for t, t_prev in ((999, 979), (519, 499), (19, -1)):
        out = sch.step(eps, t, x, eta=eta, use_clipped_model_output=True,
                       variance_noise=z if eta > 0 else None).prev_sample
        mine = ddim_step(x, eps, t, t_prev, ours, eta=eta, noise=z, clip_x0=True)
        torch.testing.assert_close(mine, out, rtol=2e-4, atol=2e-4, msg=f"t={t}")


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("spacing", ["trailing", "leading"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_sample_matches_scheduler_loop(tiny_model, kind, spacing, eta):
    """A whole DDIM run with a fixed model: ours against a loop over DDIMScheduler."""
    ours, sch = _ours(kind), _ddim(kind, spacing)
    steps, shape = 25, (3, 1, 4, 4)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(11))
    mine = ddim_sample(tiny_model, ours, x_T, steps=steps, eta=eta, spacing=spacing,
                       generator=torch.Generator().manual_seed(12)).x0
    # the reference loop: the same per-step noise as ddim_sample draws (one randn per step when eta > 0)
    g = torch.Generator().manual_seed(12)
    sch.set_timesteps(steps)
    x = x_T.clone()
    with torch.no_grad():
        for t in sch.timesteps:
            eps = tiny_model(x, torch.full((shape[0],), int(t)))
            z = torch.randn(shape, generator=g) if eta > 0 else None
            x = sch.step(eps, t, x, eta=eta, variance_noise=z).prev_sample
    torch.testing.assert_close(mine, x, rtol=1e-3, atol=1e-3)
    assert (mine - x_T).abs().max() > 0.1, "the run must actually move the sample"
