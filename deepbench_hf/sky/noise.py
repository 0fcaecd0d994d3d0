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
Poisson electron counts as the sum of two independent parts, :math:`\mathrm{Poisson}(g\,
\mathrm{sky}) + \mathrm{Poisson}(g\,s)`: the sky's, of one mean for every pixel, by inverting
its tabulated distribution (:mod:`~deepbench_hf.sky.poisson`, ~6 ns per pixel), then the
signal's with numpy's ``Generator.poisson`` only where :math:`s > 0` (~30-40 ns per pixel). Read
noise, the ``gaussian`` model and ``method="normal"`` use numpy's float32 ziggurat
(:mod:`deepbench_hf.gaussian`, ~8.5 ns per value). ``method="normal"`` replaces shot + read noise
by one Gaussian draw of the same mean and variance (the Poisson skewness
:math:`1/\sqrt{g(s + \mathrm{sky})}` is dropped, negligible for >~ 100 e-).

Draw order (from ``rng``): the sky's uniforms, the signal's Poisson counts, then the read noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ..gaussian import standard_normal_f32
from .poisson import MAX_TABLE_MEAN, poisson_table

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
    signal = np.maximum(image, np.float32(0.0), dtype=np.float32)
    var = signal + np.float32(sky_level)
    var *= np.float32(1.0 / gain)
    var += np.float32((read_noise / gain) ** 2)
    if method == "poisson":
        noisy = _shot_noise(signal, sky_level * gain, gain, rng).astype(np.float32)
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


def _shot_noise(
    signal: np.ndarray, sky_electrons: float, gain: float, rng: np.random.Generator
) -> np.ndarray:
    """Exact Poisson electron counts (int64) of the means ``gain * signal + sky_electrons``.

    Drawn as the sum of two independent parts: the sky's, of one mean for every pixel, by table
    inversion (:mod:`~deepbench_hf.sky.poisson`), then the signal's, with ``rng.poisson`` only
    where ``signal > 0``.
    """
    if 0.0 < sky_electrons <= MAX_TABLE_MEAN:
        counts = poisson_table(sky_electrons).sample(rng, signal.shape)
    elif sky_electrons > 0.0:
        counts = rng.poisson(sky_electrons, signal.shape)
    else:
        counts = np.zeros(signal.shape, dtype=np.int64)
    live = np.flatnonzero(signal)
    if live.size:
        lam = signal.reshape(-1)[live].astype(np.float64)
        lam *= gain
        counts.reshape(-1)[live] += rng.poisson(lam)
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
