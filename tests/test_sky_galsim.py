"""Sky rendering and noise against GalSim, an independent code with the same conventions.

GalSim draws a profile integrated over square pixels (real-space integration, or the exact
convolution with the PSF and the pixel in Fourier space); its image coordinates, like ours, put
pixel centres at integers with x the column and y the row, and its ``shear(q, beta)`` keeps the
area (semi-major axis ``r / sqrt(q)``), so our ``r_eff`` along the major axis is GalSim's
``half_light_radius / sqrt(q)``. Its ``CCDNoise`` is the model our CCD noise follows.
"""

from __future__ import annotations

import math

import galsim
import numpy as np
import pytest

from deepbench_hf.sky import noise as N
from deepbench_hf.sky.psf import PSF
from deepbench_hf.sky.render import Elliptical, Spiral, Star, render_scene

SIZE = 48
FFT = galsim.GSParams(folding_threshold=1e-4, maxk_threshold=1e-4, kvalue_accuracy=1e-6)
REAL = galsim.GSParams(realspace_relerr=1e-6, realspace_abserr=1e-9)


def _galsim(profile: galsim.GSObject, x: float, y: float, method: str = "auto") -> np.ndarray:
    image = galsim.ImageD(SIZE, SIZE, xmin=0, ymin=0, scale=1.0)
    profile.drawImage(image=image, center=galsim.PositionD(x, y), method=method)
    return image.array


def _sersic(n: float, r_eff: float, q: float, angle: float, flux: float) -> galsim.GSObject:
    gsparams = REAL if n > 0.5 else FFT
    profile = galsim.Sersic(
        n=n, half_light_radius=r_eff * math.sqrt(q), flux=flux, gsparams=gsparams
    )
    return profile.shear(q=q, beta=angle * galsim.radians)


def _psf(psf: PSF) -> galsim.GSObject:
    if psf.kind == "gaussian":
        return galsim.Gaussian(fwhm=psf.fwhm)
    return galsim.Moffat(beta=psf.beta, fwhm=psf.fwhm)


def _ours(obj, psf: PSF | None = None) -> np.ndarray:
    return render_scene(shape=(SIZE, SIZE), objects=[obj], psf=psf).image.astype(np.float64)


def _worst(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest pixel difference in units of the reference's peak pixel."""
    return float(np.abs(ours - ref).max() / ref.max())


@pytest.mark.parametrize("fwhm, beta", [(3.0, 4.765), (2.0, 2.5), (1.2, 3.0)])
def test_pixel_integrated_star_matches_galsim(fwhm: float, beta: float) -> None:
    star = Star(x=23.3, y=24.6, flux=1e4, fwhm=fwhm, beta=beta)
    ref = _galsim(galsim.Moffat(beta=beta, fwhm=fwhm, flux=1e4, gsparams=FFT), star.x, star.y)
    ours = _ours(star)
    assert _worst(ours, ref) < 5e-4
    inside = ours > 0  # the stamp: the 99.9 % ellipse's box
    assert ours.sum() == pytest.approx(ref[inside].sum(), rel=2e-4)


@pytest.mark.parametrize("n", [0.5, 1.0, 2.5, 4.0, 6.0])
@pytest.mark.parametrize("r_eff, q, angle", [(4.0, 1.0, 0.0), (3.0, 0.5, 0.7), (1.5, 0.7, 2.0)])
def test_pixel_integrated_sersic_matches_galsim(n: float, r_eff: float, q: float, angle: float):
    galaxy = Elliptical(x=23.3, y=24.6, flux=1e4, r_eff=r_eff, n=n, q=q, angle=angle)
    ref = _galsim(
        _sersic(n, r_eff, q, angle, 1e4), galaxy.x, galaxy.y, "real_space" if n > 0.5 else "auto"
    )
    ours = _ours(galaxy)
    # Every pixel within 2.5e-3 of the peak (cusps of n = 6 included); the bright ones within
    # 2.5e-3 of their own value.
    assert _worst(ours, ref) < 2.5e-3
    bright = ref > 0.01 * ref.max()
    assert np.abs(ours[bright] / ref[bright] - 1).max() < 2.5e-3


# Cases the plain lattice convolution got wrong by 0.7-7 % of the peak pixel: narrow stars and
# compact Sérsic cusps and cones, and smooth light under a narrow PSF.
PSF_CASES = [
    (Star(x=23.4, y=24.7, flux=1e4, fwhm=1.18, beta=4.765), PSF(1.57, "moffat", 4.15)),
    (Star(x=23.9, y=24.1, flux=1e4, fwhm=0.83, beta=4.765), PSF(2.03, "moffat", 3.72)),
    (
        Elliptical(x=23.2, y=24.5, flux=1e4, r_eff=1.69, n=4.25, q=0.85, angle=0.3),
        PSF(2.28, "moffat", 4.52),
    ),
    (
        Elliptical(x=23.7, y=24.2, flux=1e4, r_eff=1.67, n=3.44, q=0.49, angle=2.1),
        PSF(2.33, "moffat", 4.38),
    ),
    (
        Elliptical(x=23.5, y=24.5, flux=1e4, r_eff=3.0, n=4.0, q=0.6, angle=0.5),
        PSF(2.0, "gaussian"),
    ),
    (
        Elliptical(x=23.1, y=24.8, flux=1e4, r_eff=1.98, n=0.91, q=0.71, angle=1.0),
        PSF(1.6, "gaussian"),
    ),
    # Smooth light under a narrow PSF, whose samples alias (1 % and 0.7 % of the peak)
    (Star(x=23.37, y=24.71, flux=1e4, fwhm=3.0, beta=2.5), PSF(1.5, "moffat", 3.0)),
    (
        Elliptical(x=23.37, y=24.71, flux=1e4, r_eff=5.0, n=1.0, q=1.0, angle=0.4),
        PSF(1.5, "moffat", 3.0),
    ),
]


@pytest.mark.parametrize("obj, psf", PSF_CASES, ids=lambda v: getattr(v, "kind", "psf"))
def test_psf_convolved_objects_match_galsim(obj, psf: PSF) -> None:
    if obj.kind == "star":
        profile = galsim.Moffat(beta=obj.beta, fwhm=obj.fwhm, flux=obj.flux)
    else:
        profile = _sersic(obj.n, obj.r_eff, obj.q, obj.angle, obj.flux)
    ref = _galsim(galsim.Convolve(profile, _psf(psf), gsparams=FFT), obj.x, obj.y)
    ours = _ours(obj, psf)
    assert _worst(ours, ref) < 3e-3
    assert ours.sum() == pytest.approx(ref.sum(), rel=5e-4)


@pytest.mark.parametrize(
    "bulge_n, bulge_r_eff, disc_scale, psf",
    [(1.05, 2.4, 5.0, PSF(1.53, "moffat", 3.62)), (3.2, 0.8, 2.4, PSF(1.67, "gaussian"))],
)
def test_psf_convolved_bulge_and_disc_match_galsim(bulge_n, bulge_r_eff, disc_scale, psf) -> None:
    """A spiral without arms is a Sérsic bulge plus an exponential disc (GalSim's Exponential
    of scale length h, sheared by the disc's axis ratio)."""
    angle, q, bulge_q, bulge_fraction = 1.3, 0.72, 0.8, 0.4
    spiral = Spiral(
        x=23.6, y=24.3, flux=1e4, disc_scale=disc_scale, q=q, angle=angle,
        bulge_fraction=bulge_fraction, bulge_r_eff=bulge_r_eff, bulge_n=bulge_n,
        bulge_q=bulge_q, arm_fraction=0.0,
    )  # fmt: skip
    bulge = galsim.Sersic(
        n=bulge_n, half_light_radius=bulge_r_eff * math.sqrt(bulge_q), flux=1e4 * bulge_fraction
    ).shear(q=bulge_q, beta=angle * galsim.radians)
    disc = galsim.Exponential(
        scale_radius=disc_scale * math.sqrt(q), flux=1e4 * (1 - bulge_fraction)
    ).shear(q=q, beta=angle * galsim.radians)
    ref = _galsim(galsim.Convolve(bulge + disc, _psf(psf), gsparams=FFT), spiral.x, spiral.y)
    assert _worst(_ours(spiral, psf), ref) < 3.5e-3


def test_ccd_noise_matches_galsim_ccdnoise() -> None:
    """Same clean image, many draws from each code: per pixel the same mean, variance and third
    central moment (the Poisson skewness), within their sampling errors. Each pixel is tiled
    20 x 20 times and its samples pooled (120,000 per pixel and code: variances to ~0.6 %)."""
    clean = np.array([[0.0, 3.0, 30.0], [300.0, 3000.0, 0.5]])
    sky, gain, read_noise, frames, tiles = 40.0, 2.5, 4.0, 300, (20, 20)
    frame = np.tile(clean, tiles)
    rng = np.random.default_rng(3)
    settings = {"sky_level": sky, "gain": gain, "read_noise": read_noise}
    ours = [N.ccd_noise(frame.astype(np.float32), rng=rng, **settings)[0] for _ in range(frames)]
    deviate = galsim.BaseDeviate(7)
    theirs = []
    for _ in range(frames):
        image = galsim.ImageD(frame.copy())
        image.addNoise(galsim.CCDNoise(deviate, sky_level=sky, gain=gain, read_noise=read_noise))
        theirs.append(image.array.copy())

    def pooled(images: list) -> np.ndarray:
        (h, w), (ty, tx) = clean.shape, tiles
        stack = np.array(images, dtype=np.float64).reshape(frames, ty, h, tx, w)
        return stack.transpose(0, 1, 3, 2, 4).reshape(-1, h, w)

    ours, theirs = pooled(ours), pooled(theirs)
    draws = ours.shape[0]
    variance = (clean + sky) / gain + (read_noise / gain) ** 2
    sd_mean = np.sqrt(2 * variance / draws)
    sd_var = variance * np.sqrt(2 * 2 / (draws - 1))
    sd_third = np.sqrt(2 * 6 * variance**3 / draws)
    for name, stat, sd in [
        ("mean", lambda a: a.mean(axis=0), sd_mean),
        ("variance", lambda a: a.var(axis=0, ddof=1), sd_var),
        ("third moment", lambda a: ((a - a.mean(axis=0)) ** 3).mean(axis=0), sd_third),
    ]:
        diff = stat(ours) - stat(theirs)
        assert np.all(np.abs(diff) < 5 * sd), (name, diff, sd)
    assert np.all(np.abs(ours.var(axis=0, ddof=1) - variance) < 5 * sd_var / np.sqrt(2))
    assert galsim.CCDNoise(
        galsim.BaseDeviate(1), sky_level=sky, gain=gain, read_noise=read_noise
    ).getVariance() == pytest.approx(
        N.background_sigma(sky_level=sky, gain=gain, read_noise=read_noise) ** 2
    )
