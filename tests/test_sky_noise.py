"""Noise models: per-pixel mean and variance over many draws match the model.

Pixels are independent, so each value of ``CLEAN`` is tiled over 8 x 8 copies of the image and
its samples pooled: 128,000 per value, which resolves its variance to ~0.4 % (a 5-sigma band of
~2 %, where 2,000 draws of one pixel would allow 16 %).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepbench_hf.sky import noise as N

DRAWS = 2000
TILES = (8, 8)
# A small image spanning faint to bright pixels (ADU), including 0 and a negative value.
CLEAN = np.array(
    [[0.0, 0.3, 1.0, 3.0], [10.0, 30.0, 100.0, 300.0], [1000.0, 3000.0, -0.5, 5.0]],
    dtype=np.float32,
)


def _draws(func, **params) -> tuple[np.ndarray, np.ndarray]:
    """``DRAWS`` noisy images of ``CLEAN`` tiled ``TILES`` times, pooled per ``CLEAN`` pixel:
    samples of shape ``(DRAWS * tiles, *CLEAN.shape)``, and the model variance of ``CLEAN``."""
    rng = np.random.default_rng(12345)
    frame = np.tile(CLEAN, TILES)
    samples, variances = [], []
    for _ in range(DRAWS):
        noisy, var = func(frame, rng=rng, **params)
        assert noisy.dtype == np.float32 and var.dtype == np.float32
        assert noisy.shape == frame.shape == var.shape
        samples.append(noisy)
        variances.append(var)
    var = variances[0]
    assert all(np.array_equal(v, var) for v in variances)  # the model variance is fixed
    np.testing.assert_array_equal(var, np.tile(var[: CLEAN.shape[0], : CLEAN.shape[1]], TILES))
    (h, w), (ty, tx) = CLEAN.shape, TILES
    pooled = np.array(samples, dtype=np.float64).reshape(DRAWS, ty, h, tx, w)
    pooled = pooled.transpose(0, 1, 3, 2, 4).reshape(DRAWS * ty * tx, h, w)
    return pooled, var[:h, :w].astype(np.float64)


def _check_moments(samples: np.ndarray, mean: np.ndarray, var: np.ndarray, kurt: np.ndarray):
    """Sample mean and variance within 5 sigma of their sampling errors, per pixel.

    sd(mean) = sqrt(var / N); sd(sample variance) = var * sqrt(2 / (N - 1) + kurt / N) with
    ``kurt`` the excess kurtosis of the distribution.
    """
    n = samples.shape[0]
    m = samples.mean(axis=0)
    v = samples.var(axis=0, ddof=1)
    assert np.all(np.abs(m - mean) <= 5 * np.sqrt(var / n)), (m, mean)
    sd_var = var * np.sqrt(2 / (n - 1) + kurt / n)
    assert np.all(np.abs(v - var) <= 5 * sd_var), (v, var)


@pytest.mark.parametrize(
    "sky, gain, read_noise",
    # a small frame draws every pixel with Generator.poisson (the sparse-frame test below covers
    # the sky's table): with a sky, without one, and with a sky too bright for a table
    # (no sky with a gain other than 1, and a read noise below 1 e-, as an sCMOS has)
    [
        (20.0, 2.5, 3.0),
        (0.8, 1.0, 0.0),
        (200.0, 0.5, 8.0),
        (0.0, 1.0, 0.0),
        (3e6, 4.0, 5.0),
        (0.0, 2.5, 0.0),
        (5.0, 1.5, 0.5),
    ],
)
def test_ccd_noise_poisson_moments(sky: float, gain: float, read_noise: float) -> None:
    samples, var = _draws(N.ccd_noise, sky_level=sky, gain=gain, read_noise=read_noise)
    signal = np.maximum(CLEAN, 0).astype(np.float64)
    model = (signal + sky) / gain + (read_noise / gain) ** 2
    np.testing.assert_allclose(var, model, rtol=1e-6)
    np.testing.assert_allclose(
        N.ccd_variance(CLEAN, sky_level=sky, gain=gain, read_noise=read_noise), model, rtol=1e-6
    )
    # Poisson part in electrons: lambda = gain (s + sky), excess kurtosis 1 / lambda; its share
    # of the variance scales the kurtosis (the Gaussian read noise has none).
    lam = gain * (signal + sky)
    share = np.divide(lam / gain**2, model, out=np.zeros_like(model), where=model > 0)
    kurt = np.where(lam > 0, share**2 / np.maximum(lam, 1e-300), 0.0)
    # The stored image is sky-subtracted: its mean is the clean signal.
    _check_moments(samples, signal, var, kurt)


def test_ccd_noise_normal_method_moments() -> None:
    samples, var = _draws(N.ccd_noise, sky_level=50.0, gain=2.0, read_noise=4.0, method="normal")
    signal = np.maximum(CLEAN, 0).astype(np.float64)
    np.testing.assert_allclose(var, (signal + 50.0) / 2.0 + 4.0, rtol=1e-6)
    _check_moments(samples, signal, var, np.zeros_like(var))


def test_ccd_poisson_counts_are_integers_in_electrons() -> None:
    rng = np.random.default_rng(0)
    noisy, _ = N.ccd_noise(CLEAN, rng=rng, sky_level=7.0, gain=4.0, read_noise=0.0)
    electrons = (noisy.astype(np.float64) + 7.0) * 4.0
    np.testing.assert_allclose(electrons, np.round(electrons), atol=1e-3)


def test_gaussian_noise_moments() -> None:
    samples, var = _draws(N.gaussian_noise, sigma=2.5)
    np.testing.assert_array_equal(var, np.full(CLEAN.shape, 6.25))
    _check_moments(samples, CLEAN.astype(np.float64), var, np.zeros_like(var))


def test_no_noise_and_dispatch() -> None:
    rng = np.random.default_rng(0)
    noisy, var = N.no_noise(CLEAN, rng=rng)
    np.testing.assert_array_equal(noisy, CLEAN)
    assert not var.any() and noisy is not CLEAN
    a = N.add_noise(CLEAN, rng=np.random.default_rng(5), model="ccd", sky_level=3.0, gain=1.5)
    b = N.ccd_noise(CLEAN, rng=np.random.default_rng(5), sky_level=3.0, gain=1.5)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="noise model"):
        N.add_noise(CLEAN, rng=rng, model="salt")
    with pytest.raises(ValueError, match="gain"):
        N.ccd_noise(CLEAN, rng=rng, sky_level=1.0, gain=0.0)
    with pytest.raises(ValueError, match="method"):
        N.ccd_noise(CLEAN, rng=rng, sky_level=1.0, method="exactish")


def test_ccd_noise_draws_in_its_documented_order() -> None:
    """Shot noise first (Generator.poisson of every pixel, in pixel order, for a frame without
    dark pixels), then the read noise (float32 ziggurat): changing the order changes every noisy
    image of a seed, which needs a version bump."""
    from deepbench_hf.gaussian import standard_normal_f32

    clean = np.abs(CLEAN) + 1.0  # no dark pixel: no sky table
    noisy, _ = N.ccd_noise(
        clean, rng=np.random.default_rng(3), sky_level=10.0, gain=2.0, read_noise=4.0
    )
    rng = np.random.default_rng(3)
    counts = rng.poisson((clean.astype(np.float64) + 10.0) * 2.0).astype(np.float32)
    expected = counts * np.float32(0.5) - np.float32(10.0)
    expected += standard_normal_f32(rng, clean.shape) * np.float32(2.0)
    np.testing.assert_array_equal(noisy, expected)


def test_noise_depends_only_on_the_generator() -> None:
    one = N.ccd_noise(CLEAN, rng=np.random.default_rng(9), sky_level=10.0, read_noise=2.0)
    two = N.ccd_noise(CLEAN, rng=np.random.default_rng(9), sky_level=10.0, read_noise=2.0)
    np.testing.assert_array_equal(one[0], two[0])
    assert N.background_sigma(sky_level=10.0, gain=2.0, read_noise=4.0) == pytest.approx(
        np.sqrt(10.0 / 2.0 + 4.0)
    )


def test_ccd_noise_of_a_sparse_frame_uses_the_sky_table_and_keeps_the_moments() -> None:
    frame = np.zeros((40, 40), dtype=np.float32)
    frame[:3, :4] = CLEAN  # faint to bright pixels in one corner, the rest dark
    sky, gain, read_noise = 30.0, 2.0, 3.0
    assert N._uses_table(frame.size - np.count_nonzero(frame), frame.size, sky * gain)
    again = [
        N.ccd_noise(frame, rng=np.random.default_rng(5), sky_level=sky, gain=gain)[0]
        for _ in range(2)
    ]
    np.testing.assert_array_equal(*again)  # the table path depends only on the generator
    rng = np.random.default_rng(2024)
    samples = np.array(
        [
            N.ccd_noise(frame, rng=rng, sky_level=sky, gain=gain, read_noise=read_noise)[0]
            for _ in range(DRAWS)
        ],
        dtype=np.float64,
    )
    signal = np.maximum(frame, 0).astype(np.float64)
    var = (signal + sky) / gain + (read_noise / gain) ** 2
    lam = gain * (signal + sky)
    kurt = ((lam / gain**2) / var) ** 2 / lam
    corner = (slice(None), slice(0, 6), slice(0, 6))  # the signal and dark pixels around it
    _check_moments(samples[corner], signal[corner[1:]], var[corner[1:]], kurt[corner[1:]])
    dark = samples[:, 6:, 6:]  # pooled: every dark pixel has the same mean and variance
    assert abs(dark.mean()) < 5 * np.sqrt(var[-1, -1] / dark.size)
    assert abs(dark.var() / var[-1, -1] - 1) < 5 * np.sqrt(2 / dark.size + kurt[-1, -1] / dark.size)
    # Dark pixels: the pooled counts (electrons, read noise off) follow Poisson(gain * sky).
    dark = N.ccd_noise(frame, rng=rng, sky_level=sky, gain=gain, read_noise=0.0)[0][5:, 5:]
    electrons = np.round((dark.astype(np.float64) + sky) * gain).astype(np.int64).ravel()
    values, counts = np.unique(electrons, return_counts=True)
    expected = stats.poisson.pmf(values, gain * sky) * electrons.size
    keep = expected >= 5
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4


def test_tiny_skies_and_non_finite_images() -> None:
    frame = np.zeros((40, 40), dtype=np.float32)
    for sky, gain in [(1e-300, 1e-30), (5e-324, 0.5)]:  # sky * gain underflows to 0
        noisy, _ = N.ccd_noise(frame, rng=np.random.default_rng(1), sky_level=sky, gain=gain)
        assert not noisy.any()
    frame[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        N.ccd_noise(frame, rng=np.random.default_rng(1), sky_level=10.0)


def test_counts_beyond_the_poisson_sampler_are_a_one_line_build_error():
    """A magnified source can exceed what no config check can bound: said in one line."""
    from deepbench_hf.errors import BuildError

    image = np.full((4, 4), 1e15, dtype=np.float32)
    with pytest.raises(BuildError, match=r"^CCD noise: a pixel's mean count, 1e\+20 e-, is "):
        N.ccd_noise(image, rng=np.random.default_rng(0), sky_level=10, gain=1e5, read_noise=1)
    faint = np.zeros((4, 4), dtype=np.float32)  # a sky alone that bright
    with pytest.raises(BuildError, match=r"^CCD noise: a pixel's mean count, 1e\+20 e-, is "):
        N.ccd_noise(faint, rng=np.random.default_rng(0), sky_level=1e15, gain=1e5)
