"""Error bars for FID/KID (ddpm_helpers.core.metrics): the eigenvalue FID equals the sqrtm one, bootstrap
spreads shrink like 1/sqrt(n), and the floor's spread over independent draws of real images."""
import numpy as np
import pytest

from ddpm_helpers.core.metrics import (classifier_features, fid_from_features, frechet_distance, frechet_distance_eig,
                                       image_quality_ci, kid_from_features, quality_bootstrap, real_floor_spread)


def _gauss(n, f=8, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((f, f)) / np.sqrt(f)
    return rng.standard_normal((n, f)) @ a + shift


@pytest.mark.parametrize("n", [50, 400])
def test_eigenvalue_fid_equals_sqrtm_fid(n):
    x, y = _gauss(n, seed=1), _gauss(600, shift=0.3, seed=2)
    args = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert frechet_distance_eig(*args) == pytest.approx(frechet_distance(*args), rel=1e-8, abs=1e-10)
    # pinned closed form: two Gaussians with equal covariance differ by the squared mean shift only
    c = np.cov(y, rowvar=False)
    assert frechet_distance_eig(np.zeros(8), c, np.full(8, 0.5), c) == pytest.approx(8 * 0.25, abs=1e-8)
    with pytest.raises(ValueError, match="covariances"):
        frechet_distance_eig(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))


def test_bootstrap_spread_shrinks_with_n():
    ref = _gauss(1500, seed=3)
    small = quality_bootstrap(_gauss(25, shift=0.2, seed=4), ref, n_boot=30, seed=0)
    large = quality_bootstrap(_gauss(400, shift=0.2, seed=5), ref, n_boot=30, seed=0)
    assert small["n_boot"] == 30
    # sqrt(400 / 25) = 4: allow a factor 2 of bootstrap noise
    assert small["fid_std"] > 2 * large["fid_std"], (small, large)
    assert small["kid_std"] > 2 * large["kid_std"], (small, large)
    with pytest.raises(ValueError, match="n_boot"):
        quality_bootstrap(ref[:10], ref, n_boot=1)


def test_bootstrap_spread_matches_the_spread_over_fresh_draws():
    # what the bootstrap estimates from one set: how much FID and KID move when the generated set is drawn
    # again from its distribution. Here the distribution is known, so draw it again 40 times and compare.
    mix = np.random.default_rng(100).standard_normal((8, 8)) / np.sqrt(8)

    def draw(n, seed, shift=0.0):
        return np.random.default_rng(seed).standard_normal((n, 8)) @ mix + shift

    ref = draw(1500, seed=3)
    boot = quality_bootstrap(draw(200, seed=4, shift=0.5), ref, n_boot=100, seed=0)
    fresh = [draw(200, seed=1000 + s, shift=0.5) for s in range(40)]
    fid_spread = np.std([fid_from_features(x, ref) for x in fresh], ddof=1)
    # the bootstrap scores KID over 3 reference subsets per resample (kid_subsets=3): so do the fresh draws
    kid_spread = np.std([kid_from_features(x, ref, subsets=3, seed=s)[0] for s, x in enumerate(fresh)], ddof=1)
    assert boot["fid_std"] == pytest.approx(fid_spread, rel=0.3), (boot, fid_spread)
    assert boot["kid_std"] == pytest.approx(kid_spread, rel=0.4), (boot, kid_spread)


@pytest.fixture(scope="module")
def fashion():
    from ddpm_helpers.core.data import load_fashion_mnist

    x, _ = load_fashion_mnist("test")
    return x


def test_floor_spread_and_ci_on_fashion_mnist(fashion):
    ref = fashion[:400]
    floor = real_floor_spread(64, seeds=3, reference=ref)
    assert floor["n"] == 64 and floor["seeds"] == 3 and len(floor["fid_values"]) == 3
    assert floor["fid"] == pytest.approx(np.mean(floor["fid_values"]))
    assert floor["fid_std"] == pytest.approx(np.std(floor["fid_values"], ddof=1))
    assert floor["kid_std"] == pytest.approx(np.std(floor["kid_values"], ddof=1))
    assert len(set(floor["fid_values"])) == 3, "the draws must differ"
    q = image_quality_ci(fashion[1000:1064], reference=ref, n_boot=10)
    assert q["n"] == 64 and q["n_boot"] == 10
    f_gen, f_ref = classifier_features(fashion[1000:1064]), classifier_features(ref)
    assert q["fid"] == pytest.approx(fid_from_features(f_gen, f_ref))
    # the error bars are the bootstrap's over the samples' features against the reference's
    boot = quality_bootstrap(f_gen, f_ref, n_boot=10, seed=0)
    assert (q["fid_std"], q["kid_std"]) == pytest.approx((boot["fid_std"], boot["kid_std"]), rel=1e-9)
    # real test images against real test images: within a few spreads of the floor
    assert abs(q["fid"] - floor["fid"]) < 4 * np.hypot(q["fid_std"], floor["fid_std"])
    with pytest.raises(ValueError, match="seeds"):
        real_floor_spread(64, seeds=1, reference=ref)


def test_quality_reading_explains_below_floor_and_negative_kid():
    from ddpm_helpers.ui.tables import quality_ci_markdown, quality_reading

    floor = {"n": 128, "fid": 5.0, "fid_std": 0.5, "kid": 0.001, "kid_std": 0.01, "seeds": 5}
    below = {"n": 128, "fid": 4.6, "fid_std": 0.4, "kid": -0.002, "kid_std": 0.01}
    far = {"n": 128, "fid": 10.0, "fid_std": 0.5, "kid": 0.05, "kid_std": 0.01}
    text = quality_reading(below, floor)
    assert "below the floor" in text and "indistinguishable" in text and "negative" in text
    text = quality_reading(far, floor)
    assert "2.0x the floor" in text and "7.1 error bars above" in text and "negative" not in text
    md = quality_ci_markdown({"DDIM": below, "DDPM": far}, floor)
    assert "| DDIM | 128 | 4.60 ± 0.40 | 0.92 | -2.0 ± 10.0 |" in md and "5 draws" in md
    with pytest.raises(ValueError, match="equal n"):
        quality_reading({**far, "n": 64}, floor)
    with pytest.raises(ValueError, match="equal n"):
        quality_ci_markdown({"x": {**far, "n": 64}}, floor)
