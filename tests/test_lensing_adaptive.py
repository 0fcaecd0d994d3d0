"""Adaptive pixel integration of lensed images: as accurate as uniform sub-sampling, cheaper."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import special

from deepbench_hf.lensing import adaptive
from deepbench_hf.lensing.adaptive import integrate_pixels, near
from deepbench_hf.lensing.mass import ray_shoot
from deepbench_hf.lensing.raytrace import lensed_image
from deepbench_hf.lensing.render import sersic_source

SHAPE = (64, 64)


def _scene(rng: np.random.Generator) -> tuple[dict[str, float], dict[str, float]]:
    """Lens and source parameters drawn from the ranges of the ``lensing`` config."""
    cx, cy = 31.5 + rng.uniform(-1.0, 1.0, 2)
    gamma, gamma_angle = rng.uniform(0.0, 0.05), rng.uniform(0.0, 2.0 * math.pi)
    lens = dict(
        theta_e=rng.uniform(6.0, 12.0),
        x0=cx,
        y0=cy,
        q=rng.uniform(0.5, 1.0),
        angle=rng.uniform(0.0, 2.0 * math.pi),
        gamma1=gamma * math.cos(2.0 * gamma_angle),
        gamma2=gamma * math.sin(2.0 * gamma_angle),
    )
    offset, offset_angle = rng.uniform(0.0, 3.0), rng.uniform(0.0, 2.0 * math.pi)
    source = dict(
        flux=float(np.exp(rng.uniform(np.log(1500.0), np.log(15000.0)))),
        x0=cx + offset * math.cos(offset_angle),
        y0=cy + offset * math.sin(offset_angle),
        r_eff=rng.uniform(1.0, 3.0),
        n=rng.uniform(0.5, 4.0),
        q=rng.uniform(0.4, 1.0),
        angle=rng.uniform(0.0, 2.0 * math.pi),
    )
    return lens, source


def _adaptive(
    lens: dict, source: dict, k: int = 4, *, cusps: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The adaptive image; without the cusp step by default, to compare with uniform sampling."""
    src = functools.partial(sersic_source, **source)
    return integrate_pixels(
        lambda x, y: src(*ray_shoot(x, y, **lens)),
        shape=SHAPE,
        oversample=k,
        refine=near(SHAPE, lens["x0"], lens["y0"], 1.5),
        cusps=cusps,
    )


def _brute(surface, row: int, col: int, k: int = 512) -> float:
    """Mean of ``k x k`` float64 samples over pixel ``(row, col)``."""
    offsets = (np.arange(k) + 0.5) / k - 0.5
    return float(np.mean(surface(col + offsets[None, :], row + offsets[:, None])))


@pytest.mark.parametrize("lensed", [False, True], ids=["unlensed", "lensed"])
def test_cusps_are_integrated_to_half_a_percent(lensed: bool) -> None:
    """A steep Sérsic centre (n = 3.9, compact, flattened): the 4 brightest pixels agree with
    512 x 512 sub-sampling to < 0.6 % (without the cusp step one of them errs by > 1 %), and the
    unlensed frame total agrees with a brute-force reference to < 1e-3 (without it, it does not)."""
    lens = dict(theta_e=9.0, x0=31.7, y0=32.2, q=0.7, angle=0.4, gamma1=0.02, gamma2=-0.01)
    source = dict(flux=5000.0, x0=32.57, y0=31.61, r_eff=1.34, n=3.9, q=0.43, angle=1.1)
    src = functools.partial(sersic_source, **source)
    surface = (lambda x, y: src(*ray_shoot(x, y, **lens))) if lensed else src
    centre = (lens["x0"], lens["y0"]) if lensed else (source["x0"], source["y0"])
    kwargs = dict(shape=SHAPE, oversample=8, refine=near(SHAPE, *centre, 1.5))
    new, _ = integrate_pixels(surface, **kwargs)
    old, _ = integrate_pixels(surface, **kwargs, cusps=False)
    top = np.argsort(new.ravel())[-4:]
    errors_new, errors_old = [], []
    for i in top:
        row, col = divmod(int(i), SHAPE[1])
        exact = _brute(lambda x, y: np.asarray(surface(x, y), dtype=np.float64), row, col)
        errors_new.append(abs(new[row, col] / exact - 1.0))
        errors_old.append(abs(old[row, col] / exact - 1.0))
    assert max(errors_new) < 6e-3 and max(errors_old) > 1e-2
    if not lensed:  # frame total: 16 x 16 samples per pixel, 512 x 512 in the 5 x 5 at the core
        offsets = (np.arange(16) + 0.5) / 16 - 0.5
        xs = (np.arange(SHAPE[1])[:, None] + offsets).ravel()
        ys = (np.arange(SHAPE[0])[:, None] + offsets).ravel()
        exact = src(xs[None, :], ys[:, None]).reshape(SHAPE[0], 16, SHAPE[1], 16).mean(axis=(1, 3))
        r0, c0 = round(source["y0"]), round(source["x0"])
        for row in range(r0 - 2, r0 + 3):
            for col in range(c0 - 2, c0 + 3):
                exact[row, col] = _brute(src, row, col)
        total = exact.sum()
        assert abs(new.sum() / total - 1.0) < 1e-3 < abs(old.sum() / total - 1.0)


def _uniform(lens: dict, source: dict, k: int, dtype=np.float32) -> np.ndarray:
    src = functools.partial(sersic_source, **source)
    return lensed_image(src, shape=SHAPE, oversample=k, dtype=dtype, **lens)


@pytest.mark.parametrize("seed", range(8))
def test_as_accurate_as_uniform_subsampling(seed: int) -> None:
    """Against 16 x 16 sub-sampling, the adaptive image errs no more than uniform 4 x 4
    sub-sampling (plus 1e-3 of the peak), conserves the flux as well, and rays far fewer pixels."""
    lens, source = _scene(np.random.default_rng(seed))
    ref = _uniform(lens, source, 16, np.float64)
    uniform = _uniform(lens, source, 4)
    adaptive, refined = _adaptive(lens, source)
    peak = ref.max()
    err_uniform = np.abs(uniform - ref).max() / peak
    assert np.abs(adaptive - ref).max() / peak <= err_uniform + 1e-3
    flux_uniform = abs(uniform.sum() / ref.sum() - 1.0)
    assert abs(adaptive.sum() / ref.sum() - 1.0) <= flux_uniform + 2e-4
    assert refined.mean() < 0.5


@pytest.mark.parametrize("seed", [2, 6, 7])  # compact sources (r_eff 1.2-2.3 px)
def test_faint_wings_are_left_to_the_rule_within_the_absolute_tolerance(seed, monkeypatch):
    """Pixels whose estimated error is below ATOL of the peak are not refined: for compact
    sources a quarter or more of the refined pixels, which then err by < 1e-4 of the peak against
    32 x 32 sub-sampling, about as much as the uniform 8 x 8 values they replace (and ~20x less
    than the frame's largest error, at the source's core)."""
    lens, source = _scene(np.random.default_rng(100 + seed))
    kwargs = dict(k=8, cusps=True)
    image, refined = _adaptive(lens, source, **kwargs)
    monkeypatch.setattr(adaptive, "ATOL", 0.0)
    every, every_refined = _adaptive(lens, source, **kwargs)
    assert refined.sum() < 0.8 * every_refined.sum() and not (refined & ~every_refined).any()
    ref = _uniform(lens, source, 32, np.float64)
    changed = image != every
    peak = ref.max()
    assert np.abs(image - ref)[changed].max() < 1e-4 * peak
    assert np.abs(image - every).max() < 1e-4 * peak


def test_refined_pixels_are_the_uniform_subsampled_values() -> None:
    lens, source = _scene(np.random.default_rng(42))
    adaptive, refined = _adaptive(lens, source)
    uniform = _uniform(lens, source, 4)
    assert refined.any() and not refined.all()
    np.testing.assert_allclose(adaptive[refined], uniform[refined], rtol=2e-5, atol=1e-6)


def test_ridge_of_a_ring_with_a_conical_source_peak_is_refined() -> None:
    """An n = 1 source aligned with a round lens makes an Einstein ring whose ridge is a kink
    (the image of the source's conical peak): the centre samples hardly change across it, but
    the fourth differences flag it, so it is integrated as finely as by uniform sub-sampling."""
    lens = dict(theta_e=10.7, x0=30.8, y0=31.75, q=0.95, angle=4.77, gamma1=0.005, gamma2=-0.005)
    source = dict(flux=2183.0, x0=30.73, y0=31.83, r_eff=3.0, n=1.0, q=0.55, angle=2.24)
    ref = _uniform(lens, source, 16, np.float64)
    uniform = _uniform(lens, source, 4)
    adaptive, _ = _adaptive(lens, source)
    peak = ref.max()
    assert np.abs(adaptive - ref).max() / peak <= np.abs(uniform - ref).max() / peak + 1e-4


def test_smooth_surface_needs_no_refinement() -> None:
    """A broad Gaussian (sigma = 6 px) is integrated by the cell-average rule (its far wings,
    where the fourth differences exceed the tolerance, at most a handful of pixels, are
    sub-sampled), to the accuracy of the exact pixel integrals (products of erf differences)."""
    sigma, x0, y0 = 6.0, 30.3, 33.8

    def gaussian(x, y):
        return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)

    image, refined = integrate_pixels(gaussian, shape=SHAPE, oversample=4)
    assert refined.mean() < 0.01

    def edges(count: int, c: float) -> np.ndarray:
        return np.diff(special.erf((np.arange(count + 1) - 0.5 - c) / (math.sqrt(2) * sigma))) / 2

    exact = np.outer(edges(SHAPE[0], y0), edges(SHAPE[1], x0))
    np.testing.assert_allclose(image, exact, rtol=2e-4, atol=1e-9)


def test_oversample_1_is_the_cell_average_rule() -> None:
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=3)

    def cubic(x, y):
        return (1.0 + a * x + b * y * y + c * x**3 / 100.0 + 0 * y).astype(np.float32)

    image, refined = integrate_pixels(cubic, shape=(5, 7), oversample=1)
    assert not refined.any()
    cols, rows = np.arange(7.0), np.arange(5.0)
    # exact integrals of a cubic over unit pixels: x -> x, x^2 -> x^2 + 1/12, x^3 -> x^3 + x/4
    exact = (
        1.0
        + a * cols[None, :]
        + b * (rows[:, None] ** 2 + 1.0 / 12.0)
        + c * (cols[None, :] ** 3 + cols[None, :] / 4.0) / 100.0
    )
    np.testing.assert_allclose(image, exact, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{"shape": (0, 4), "oversample": 2}, {"shape": (4, 4), "oversample": 0}]
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="positive shape"):
        integrate_pixels(lambda x, y: x + y, **kwargs)
