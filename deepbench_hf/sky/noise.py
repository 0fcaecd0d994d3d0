r"""Image noise: CCD (GalSim ``CCDNoise`` convention), Gaussian, or none.

Every noise function takes the clean image (counts per pixel, ADU) and an explicit
``rng: numpy.random.Generator`` and returns ``(noisy, variance)``, two float32 arrays of the
image's shape: the noisy image and the per-pixel variance of its noise (ADU²) under the model.

CCD model (as GalSim's ``CCDNoise``)
-----------------------------------
``sky_level`` (ADU/pixel) is a background that contributes shot noise but is **subtracted** from
the returned image (the stored image is sky-subtracted). With ``gain`` g (e-/ADU) and
``read_noise`` :math:`\sigma_r` (e-):

.. math::
    \mathrm{noisy} = \frac{\mathrm{Poisson}(g\,(s + \mathrm{sky}))}{g} - \mathrm{sky}
                     + \frac{\sigma_r}{g}\,\mathcal{N}(0, 1),\qquad
    \mathrm{Var} = \frac{s + \mathrm{sky}}{g} + \left(\frac{\sigma_r}{g}\right)^2,

where :math:`s = \max(\mathrm{clean}, 0)`. ``method="poisson"`` (default) draws the exact
Poisson electron counts with numpy's ``Generator.poisson`` (PTRS for means >= 10, ~45-50 ns per
pixel). In a frame with enough dark pixels (no signal at all) to pay for building a table (~40 %
of a 64 x 64 frame, ~23 % of a 128 x 128 one, for a sky of ~1000 e-; :func:`_uses_table`) the
dark pixels' counts come instead from the sky's tabulated distribution, the same for every dark
pixel (:mod:`~deepbench_hf.sky.poisson`, ~7 ns per pixel): every pixel gets such a draw, and each
pixel with signal is then redrawn with ``Generator.poisson`` of its own mean. That halves the
noise of sparse frames (one star in 128 x 128: ~0.72 -> ~0.34 ms); crowded frames, where the
table would cost more than it saves, draw every pixel with ``Generator.poisson``, as data
versions before this scheme did. Read
noise, the ``gaussian`` model and ``method="normal"`` use numpy's float32 ziggurat
(:mod:`deepbench_hf.gaussian`, ~8.5 ns per value). ``method="normal"`` replaces shot + read noise
by one Gaussian draw of the same mean and variance (the Poisson skewness
:math:`1/\sqrt{g(s + \mathrm{sky})}` is dropped, negligible for >~ 100 e-).

Draw order (from ``rng``): the sky's uniforms (every pixel) when the table is used, the Poisson
counts (in pixel order), then the read noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ..errors import BuildError
from ..gaussian import standard_normal_f32
from .poisson import MAX_TABLE_MEAN, poisson_table

MAX_POISSON_MEAN = 1e18
"""Largest mean count (e-) of a pixel: numpy's Poisson sampler takes means up to ~9.2e18."""

__all__ = [
    "NOISE_MODELS",
    "add_noise",
    "background_sigma",
    "ccd_noise",
    "ccd_variance",
    "gaussian_noise",
    "no_noise",
]


def _check_ccd(sky_level: float, gain: float, read_noise: float) -> None:
    if not (sky_level >= 0 and gain > 0 and read_noise >= 0):
        raise ValueError(
            f"CCD noise needs sky_level >= 0, gain > 0, read_noise >= 0; got {sky_level}, "
            f"{gain}, {read_noise}"
        )


def ccd_variance(
    image: np.ndarray, *, sky_level: float, gain: float, read_noise: float
) -> np.ndarray:
    """Per-pixel CCD noise variance (ADU²): ``(max(image, 0) + sky_level) / gain +
    (read_noise / gain) ** 2``, float32."""
    _check_ccd(sky_level, gain, read_noise)
    var = np.maximum(image, 0.0, dtype=np.float64)
    var += sky_level
    var *= 1.0 / gain
    var += (read_noise / gain) ** 2
    return var.astype(np.float32)


def background_sigma(*, sky_level: float, gain: float, read_noise: float) -> float:
    """Noise standard deviation (ADU) of an empty (sky-only) pixel of the CCD model."""
    _check_ccd(sky_level, gain, read_noise)
    return math.sqrt(sky_level / gain + (read_noise / gain) ** 2)


def ccd_noise(
    image: np.ndarray,
    *,
    rng: np.random.Generator,
    sky_level: float,
    gain: float = 1.0,
    read_noise: float = 0.0,
    method: Literal["poisson", "normal"] = "poisson",
) -> tuple[np.ndarray, np.ndarray]:
    """CCD noise: Poisson shot noise on signal + sky (in electrons) and Gaussian read noise.

    Parameters
    ----------
    image
        Clean image (ADU per pixel); negative values are treated as 0 for the shot noise.
    rng
        Random generator (the only source of randomness).
    sky_level
        Sky background (ADU/pixel) added before the shot noise and subtracted afterwards.
    gain
        Electrons per ADU, > 0.
    read_noise
        Read-noise standard deviation (electrons), >= 0.
    method
        ``"poisson"`` (exact) or ``"normal"`` (Gaussian of the same variance, faster).

    Returns
    -------
    noisy, variance
        float32 arrays: the sky-subtracted noisy image (ADU) and the model variance (ADU²).
    """
    _check_ccd(sky_level, gain, read_noise)
    if not np.isfinite(image).all():
        raise ValueError("CCD noise needs a finite clean image (NaN or inf found)")
    signal = np.maximum(image, np.float32(0.0), dtype=np.float32)
    var = signal + np.float32(sky_level)
    var *= np.float32(1.0 / gain)
    var += np.float32((read_noise / gain) ** 2)
    if method == "poisson":
        peak = (float(signal.max(initial=0.0)) + sky_level) * gain
        if peak >= MAX_POISSON_MEAN:  # e.g. a strongly magnified bright source
            raise BuildError(
                f"CCD noise: a pixel's mean count, {peak:.3g} e-, is beyond the Poisson "
                f"sampler's range ({MAX_POISSON_MEAN:g}): lower the fluxes or noise.ccd.gain"
            )
        noisy = _shot_noise(signal, sky_level, gain, rng).astype(np.float32)
        noisy *= np.float32(1.0 / gain)
        noisy -= np.float32(sky_level)
        if read_noise > 0:
            read = standard_normal_f32(rng, noisy.shape)
            read *= np.float32(read_noise / gain)
            noisy += read
    elif method == "normal":
        noisy = standard_normal_f32(rng, signal.shape)
        noisy *= np.sqrt(var)
        noisy += signal
    else:
        raise ValueError(f"method must be 'poisson' or 'normal', got {method!r}")
    return noisy, var


def _uses_table(n_dark: int, n_pixels: int, mean: float) -> bool:
    """Whether drawing the sky's counts (``mean`` e-) from its table pays for a frame of
    ``n_pixels`` with ``n_dark`` pixels without signal, by the costs measured on the benchmark
    machine: each dark pixel saves ~40 ns (a ~45-50 ns ``Generator.poisson`` draw against a
    ~7 ns table draw), every pixel pays ~7 ns for its table draw, and building the table costs
    ~20 µs plus ~24 ns per entry (~20 sqrt(mean) + 80 entries and 8 guide bins each)."""
    if not 0.0 < mean <= MAX_TABLE_MEAN:
        return False
    build_ns = 20_000.0 + 24.0 * (20.0 * math.sqrt(mean) + 80.0)
    return 40.0 * n_dark >= 7.0 * n_pixels + build_ns


def _shot_noise(
    signal: np.ndarray, sky_level: float, gain: float, rng: np.random.Generator
) -> np.ndarray:
    """Exact Poisson electron counts (int64) of the means ``(signal + sky_level) * gain``
    (``signal`` >= 0, float32; float64 means).

    With a sky and enough dark pixels to pay for it (:func:`_uses_table`), every pixel gets the
    sky's count from its table (:mod:`~deepbench_hf.sky.poisson`), then each pixel with signal is
    redrawn with ``rng.poisson`` of its mean. Otherwise ``rng.poisson`` draws every pixel
    (without a sky, only those with signal).
    """
    lam = signal.astype(np.float64)
    if sky_level > 0.0:
        sky_electrons = sky_level * gain  # the mean of a dark pixel
        n_dark = signal.size - int(np.count_nonzero(signal))
        if _uses_table(n_dark, signal.size, sky_electrons):
            counts = poisson_table(sky_electrons).sample(rng, signal.shape)
            live = np.flatnonzero(signal)
            means = lam.reshape(-1)[live]
            means += sky_level
            means *= gain
            counts.reshape(-1)[live] = rng.poisson(means)
            return counts
        lam += sky_level
        lam *= gain
        return rng.poisson(lam)
    counts = np.zeros(signal.shape, dtype=np.int64)
    live = np.flatnonzero(signal)
    means = lam.reshape(-1)[live]
    means *= gain
    counts.reshape(-1)[live] = rng.poisson(means)
    return counts


def gaussian_noise(
    image: np.ndarray, *, rng: np.random.Generator, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Additive white Gaussian noise of standard deviation ``sigma`` (ADU).

    Returns ``(image + sigma * N(0, 1), sigma**2)`` as float32 arrays.
    """
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noisy = standard_normal_f32(rng, image.shape)
    noisy *= np.float32(sigma)
    noisy += image
    return noisy, np.full(image.shape, sigma * sigma, dtype=np.float32)


def no_noise(
    image: np.ndarray, *, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """No noise: returns a float32 copy of ``image`` and a zero variance map (``rng`` unused)."""
    return np.array(image, dtype=np.float32), np.zeros(image.shape, dtype=np.float32)


NOISE_MODELS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "ccd": ccd_noise,
    "gaussian": gaussian_noise,
    "none": no_noise,
}
"""Noise functions by name (``add_noise(model=...)``)."""


def add_noise(
    image: np.ndarray, *, rng: np.random.Generator, model: str = "ccd", **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the noise model ``model`` (a key of :data:`NOISE_MODELS`) with its ``params``."""
    try:
        func = NOISE_MODELS[model]
    except KeyError:
        allowed = sorted(NOISE_MODELS)
        raise ValueError(f"noise model must be one of {allowed}, got {model!r}") from None
    return func(image, rng=rng, **params)
