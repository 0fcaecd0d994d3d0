"""Image formation shared by every kind that makes CCD-like images (sky, lensing): PSF and noise.

One place declares the ``psf`` and ``noise`` config sections, builds a row's PSF from its columns,
and applies the noise model from the example's noise stream, so that the sky and lensing kinds
describe, draw and record them identically.

Columns written (see :data:`IMAGING_FEATURES`): ``psf_kind`` (``moffat``/``gaussian``/``none``),
``psf_fwhm`` (px) and ``psf_beta`` (NaN where not applicable); ``noise_model``
(``ccd``/``gaussian``/``none``), ``noise_sigma`` (ADU), ``sky_level`` (ADU), ``gain`` (e-/ADU),
``read_noise`` (e-) — NaN where not applicable — and ``background_sigma`` (ADU, the noise standard
deviation of an empty pixel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..distributions import Domain, value_bounds
from ..errors import ConfigError
from ..schema import OneOf, Param, Section
from .noise import MAX_POISSON_MEAN, background_sigma, ccd_noise, gaussian_noise, no_noise
from .psf import PSF, psf_reach

# Narrower PSFs are undersampled by the 1/2 px cells of the supersampled correction
# (deepbench_hf.sky.sharp): at 1 px a pixel is off by up to ~1 % of the peak against GalSim
# (<= 3e-3 from 1.5 px); at 0.3-0.5 px, 2-6 %, and a FWHM of 1e-300 px gave NaN images.
_PSF_FWHM = Domain("float", low=1.0, high=1e5)
_BETA = Domain("float", low=1.0, low_open=True, high=100.0)

NOISE_SCHEMA = OneOf(
    {
        "gaussian": Section(
            {"sigma": Param(Domain("float", low=0.0, high=1e12), 1.0, "ADU", "noise std")}
        ),
        "ccd": Section(
            {
                "sky_level": Param(
                    Domain("float", low=0.0, high=1e12),
                    100.0,
                    "ADU",
                    "sky background per pixel (adds shot noise; subtracted from the image)",
                ),
                "gain": Param(
                    # below 1e-3 e-/ADU the variance in ADU^2 leaves float32 range
                    Domain("float", low=1e-3, high=1e6),
                    2.0,
                    "e-/ADU",
                    "e- per ADU",
                ),
                "read_noise": Param(
                    Domain("float", low=0.0, high=1e6), 5.0, "e-", "read-noise std (electrons)"
                ),
            }
        ),
    },
    default="none",
    doc="noise model (GalSim CCDNoise convention for ccd)",
)


def psf_schema(default_fwhm: float) -> OneOf:
    """The ``psf`` section: ``none``, ``{moffat: {fwhm, beta}}`` or ``{gaussian: {fwhm}}``."""
    fwhm = Param(_PSF_FWHM, default_fwhm, "px", "PSF FWHM, >= 1 px (the pixel scale)")
    return OneOf(
        {
            "moffat": Section({"fwhm": fwhm, "beta": Param(_BETA, 4.765, "", "Moffat index")}),
            "gaussian": Section({"fwhm": fwhm}),
        },
        default="none",
        doc="point-spread function (one per image)",
    )


MAX_PSF_REACH = 2.0
"""The widest PSF a config may draw spreads 99.9 % of its light within this many times the
image's larger side, or :data:`MIN_PSF_REACH_LIMIT` px if that is more (its kernel, and each
convolution's padding, grow with that radius)."""

MIN_PSF_REACH_LIMIT = 2048
"""px: the PSF radius always allowed (for a PSF no wider than the frame: a 64x64 frame padded by
it takes ~0.3 GB per transform)."""

MIN_MINOR_AXIS = 0.3
"""px: the smallest ``q * r_eff`` of a Sérsic profile whose pixel integration holds its flux
(:func:`~deepbench_hf.sky.stamps.draw_elliptical`)."""


def check_minor_axis(
    q: Any, r_eff: Any, *, source: str, q_path: str, r_eff_name: str = "r_eff"
) -> None:
    """Refuse Sérsic parameters whose smallest minor axis, ``min(q) * min(r_eff)``, is below
    :data:`MIN_MINOR_AXIS` (``q`` and ``r_eff`` distributions, or ``r_eff`` a number); the error
    names ``q_path``."""
    low_q, low_r = value_bounds(q)[0], value_bounds(r_eff)[0]
    if low_q * low_r >= MIN_MINOR_AXIS:
        return
    q_name = q_path.rsplit(".", 1)[-1]
    raise ConfigError(
        source,
        q_path,
        f"{q_name} x {r_eff_name} can be {low_q * low_r:.3g} px ({q_name} {low_q:.10g}, "
        f"{r_eff_name} {low_r:.10g} px); allowed: at least {MIN_MINOR_AXIS:g} px, below which the "
        "pixel integration does not hold the flux",
        related=(q_path.rsplit(".", 1)[0],),
    )


def check_psf_reach(
    kind: str, params: Mapping[str, Any], shape: tuple[int, int], *, source: str, path: str
) -> None:
    """Refuse a PSF section whose widest PSF (largest ``fwhm``, smallest Moffat ``beta``) is wider
    (FWHM) than the image's larger side, or reaches farther than :data:`MAX_PSF_REACH` times that
    side and farther than :data:`MIN_PSF_REACH_LIMIT` px (a Moffat of ``beta`` near 1, whose
    kernel would not fit in memory).

    ``params`` maps ``fwhm`` (and ``beta`` for a Moffat) to distributions or numbers; ``path``
    is the section's config path (e.g. ``psf.moffat``). Raises a one-line ConfigError naming
    ``beta`` for a Moffat PSF, else ``fwhm``.
    """
    fwhm = value_bounds(params["fwhm"])[1]
    if fwhm > max(shape):  # the supersampled correction's kernel grows with the FWHM
        raise ConfigError(
            source,
            f"{path}.fwhm",
            f"the widest PSF allowed has a FWHM of {fwhm:.10g} px; allowed: at most the image's "
            f"larger side ({max(shape)} px)",
            related=(path, "image_size"),
        )
    beta = value_bounds(params["beta"])[0] if kind == "moffat" else math.nan
    reach = psf_reach(kind, fwhm, beta)
    limit = max(MAX_PSF_REACH * max(shape), MIN_PSF_REACH_LIMIT)
    if reach <= limit:
        return
    # .10g: a beta of 1.0000001 must not print as the forbidden 1
    widest = (
        f"fwhm {fwhm:.10g} px, beta {beta:.10g}" if kind == "moffat" else f"fwhm {fwhm:.10g} px"
    )
    remedy = "raise beta or lower fwhm" if kind == "moffat" else "lower fwhm"
    raise ConfigError(
        source,
        f"{path}.{'beta' if kind == 'moffat' else 'fwhm'}",
        f"the widest PSF allowed ({widest}) spreads 99.9 % of its light over a radius of "
        f"{reach:.3g} px; allowed: at most {limit:g} px (the larger of {MAX_PSF_REACH:g}x the "
        f"image's larger side and {MIN_PSF_REACH_LIMIT} px): {remedy}",
        related=(path, "image_size"),
    )


def check_ccd_counts(
    spec: tuple[str, dict[str, Any]] | None, max_signal: float, *, source: str
) -> None:
    """Refuse CCD noise whose largest possible pixel, ``max_signal`` ADU plus the sky, holds
    :data:`MAX_POISSON_MEAN` or more at the largest gain (a conservative bound: all of the
    objects' light in one pixel)."""
    if spec is None or spec[0] != "ccd":
        return
    params = spec[1]
    gain = value_bounds(params["gain"])[1]
    electrons = (max_signal + value_bounds(params["sky_level"])[1]) * gain
    if electrons < MAX_POISSON_MEAN:
        return
    raise ConfigError(
        source,
        "noise.ccd.gain",
        f"up to {electrons:.3g} e- could fall in one pixel (objects.count x objects.flux + "
        f"sky_level, times gain); allowed: below {MAX_POISSON_MEAN:g}, the range of the "
        "Poisson sampler: lower the fluxes or the gain",
        related=("objects", "noise"),
    )


IMAGING_FEATURES = {
    "psf_kind": "string",
    "psf_fwhm": "float64",
    "psf_beta": "float64",
    "noise_model": "string",
    "noise_sigma": "float64",
    "sky_level": "float64",
    "gain": "float64",
    "read_noise": "float64",
    "background_sigma": "float64",
}


def psf_from_params(kind: str, fwhm: float, beta: float) -> PSF | None:
    """The PSF a row describes (the one place generation and re-rendering build it)."""
    if kind == "none":
        return None
    if kind == "gaussian":
        return PSF(fwhm=float(fwhm), kind="gaussian")
    return PSF(fwhm=float(fwhm), kind="moffat", beta=float(beta))


def sample_psf(spec: tuple[str, dict[str, Any]] | None, rng: np.random.Generator) -> PSF | None:
    """Draw an image's PSF from the scene stream (FWHM, then beta for Moffat)."""
    if spec is None:
        return None
    kind, params = spec
    fwhm = float(params["fwhm"].sample(rng))
    beta = float(params["beta"].sample(rng)) if kind == "moffat" else math.nan
    return psf_from_params(kind, fwhm, beta)


def psf_columns(psf: PSF | None) -> dict[str, Any]:
    """``psf_kind``, ``psf_fwhm``, ``psf_beta`` of a row."""
    return {
        "psf_kind": "none" if psf is None else psf.kind,
        "psf_fwhm": math.nan if psf is None else float(psf.fwhm),
        "psf_beta": float(psf.beta) if psf is not None and psf.kind == "moffat" else math.nan,
    }


@dataclass(frozen=True)
class Noisy:
    """A noisy image, its per-pixel variance (ADU²) and the noise columns of its row."""

    image: np.ndarray
    variance: np.ndarray
    columns: dict[str, Any]

    @property
    def background_sigma(self) -> float:
        return float(self.columns["background_sigma"])


def apply_noise(
    spec: tuple[str, dict[str, Any]] | None, clean: np.ndarray, rng: np.random.Generator
) -> Noisy:
    """Draw the noise parameters, then the noise field, from ``rng`` (the noise stream)."""
    columns: dict[str, Any] = dict.fromkeys(
        ("noise_sigma", "sky_level", "gain", "read_noise"), math.nan
    )
    if spec is None:
        image, variance = no_noise(clean)
        return Noisy(image, variance, {**columns, "noise_model": "none", "background_sigma": 0.0})
    model, dists = spec
    drawn = {key: float(dist.sample(rng)) for key, dist in dists.items()}
    if model == "gaussian":
        columns["noise_sigma"] = drawn["sigma"]
        image, variance = gaussian_noise(clean, rng=rng, sigma=drawn["sigma"])
        sigma = drawn["sigma"]
    else:
        columns.update(drawn)
        image, variance = ccd_noise(clean, rng=rng, **drawn)
        sigma = background_sigma(**drawn)
    return Noisy(image, variance, {**columns, "noise_model": model, "background_sigma": sigma})
