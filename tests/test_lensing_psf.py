"""PSF convolution of lensing images: sharp cores (compact lens light, compact sources, narrow
field stars) against GalSim's exact convolution, and the lensed source against brute-force
sub-pixel convolution. The lattice convolution alone was off by up to ~6-9 % of the peak."""

from __future__ import annotations

import math

import galsim
import numpy as np
import pytest
from scipy.signal import fftconvolve

from deepbench_hf.lensing.adaptive import integrate_pixels
from deepbench_hf.lensing.mass import ray_shoot
from deepbench_hf.lensing.render import render_components, sersic_surface
from deepbench_hf.lensing.scene import LensScene
from deepbench_hf.sky.profiles import FWHM_TO_SIGMA, moffat_gamma
from deepbench_hf.sky.psf import PSF

SIZE = 48
FFT = galsim.GSParams(folding_threshold=1e-4, maxk_threshold=1e-4, kvalue_accuracy=1e-6)


def _sersic(flux: float, r_eff: float, n: float, q: float, angle: float) -> galsim.GSObject:
    """Our Sérsic (``r_eff`` along the major axis) as GalSim's area-preserving shear."""
    profile = galsim.Sersic(n=n, half_light_radius=r_eff * math.sqrt(q), flux=flux, gsparams=FFT)
    return profile.shear(q=q, beta=angle * galsim.radians)


def _galsim_psf(psf: PSF) -> galsim.GSObject:
    if psf.kind == "gaussian":
        return galsim.Gaussian(fwhm=psf.fwhm, gsparams=FFT)
    return galsim.Moffat(beta=psf.beta, fwhm=psf.fwhm, gsparams=FFT)


def _non_lens(psf: PSF, source_n: float, source_r_eff: float) -> LensScene:
    return LensScene(
        is_lens=False, theta_e=0.0, lens_x=23.3, lens_y=24.1, q=math.nan, angle=math.nan,
        gamma1=0.0, gamma2=0.0, source_flux=4000.0, source_x=26.2, source_y=22.7,
        source_r_eff=source_r_eff, source_n=source_n, source_q=0.7, source_angle=0.6,
        lens_light=(2e4, 2.5, 4.0, 0.8, 1.1), stars=((12.4, 35.7, 3000.0, 1.0, 3.0),), psf=psf,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("psf", "source_n", "source_r_eff"),
    [
        (PSF(fwhm=2.0, kind="moffat", beta=3.0), 3.5, 1.2),
        (PSF(fwhm=1.6, kind="moffat", beta=4.765), 1.0, 1.5),
        (PSF(fwhm=2.5, kind="gaussian"), 2.0, 1.0),
    ],
)
def test_non_lens_scene_matches_galsim(psf: PSF, source_n: float, source_r_eff: float) -> None:
    """A non-lens is the source, the lens light and a star, each convolved with the PSF and
    integrated over the pixels: every pixel within 3e-3 of the peak of GalSim's image."""
    scene = _non_lens(psf, source_n, source_r_eff)
    ours = render_components(scene, shape=(SIZE, SIZE), oversample=8).image_clean
    light = _sersic(*scene.lens_light).shift(scene.lens_x, scene.lens_y)
    source = _sersic(
        scene.source_flux, source_r_eff, source_n, scene.source_q, scene.source_angle
    ).shift(scene.source_x, scene.source_y)
    x, y, flux, fwhm, beta = scene.stars[0]
    star = galsim.Moffat(beta=beta, fwhm=fwhm, flux=flux, gsparams=FFT).shift(x, y)
    profile = galsim.Convolve(light + source + star, _galsim_psf(psf), gsparams=FFT)
    image = galsim.ImageD(SIZE, SIZE, xmin=0, ymin=0, scale=1.0)
    ref = profile.drawImage(image=image, center=galsim.PositionD(0.0, 0.0)).array
    assert np.abs(ours - ref).max() < 3e-3 * ref.max()


def _fine_kernel(psf: PSF, s: int) -> np.ndarray:
    d = np.arange(-psf.radius * s, psf.radius * s + 1) / s
    d2 = d[:, None] ** 2 + d[None, :] ** 2
    if psf.kind == "gaussian":
        kernel = np.exp(-0.5 * d2 / (psf.fwhm * FWHM_TO_SIGMA) ** 2)
    else:
        kernel = (1.0 + d2 / float(moffat_gamma(psf.fwhm, psf.beta)) ** 2) ** (-psf.beta)
    return kernel / kernel.sum()


def test_lensed_source_matches_brute_force_subpixel_convolution() -> None:
    """The lensed image of a compact cuspy source, convolved on 4 x 4 sub-pixel cells over the
    whole frame and binned: every pixel within 2e-3 of its peak."""
    psf = PSF(fwhm=2.0, kind="moffat", beta=3.0)
    scene = LensScene(
        is_lens=True, theta_e=8.0, lens_x=23.4, lens_y=24.2, q=0.75, angle=0.5, gamma1=0.02,
        gamma2=-0.01, source_flux=5000.0, source_x=24.6, source_y=23.5, source_r_eff=1.2,
        source_n=3.5, source_q=0.7, source_angle=0.3, psf=psf,
    )  # fmt: skip
    ours = render_components(scene, shape=(SIZE, SIZE), oversample=8).lensed_source

    s, pad = 4, psf.radius
    source = sersic_surface(
        flux=scene.source_flux, x0=scene.source_x, y0=scene.source_y, r_eff=1.2, n=3.5,
        q=scene.source_q, angle=scene.source_angle,
    )  # fmt: skip
    lens = scene.lens_kwargs()

    def cells(xf: np.ndarray, yf: np.ndarray) -> np.ndarray:
        x = (np.asarray(xf) + 0.5) / s - 0.5 - pad
        y = (np.asarray(yf) + 0.5) / s - 0.5 - pad
        return source(*ray_shoot(x, y, **lens)) / s**2

    grid = SIZE + 2 * pad
    fine, _ = integrate_pixels(cells, shape=(grid * s, grid * s), oversample=4, dtype=np.float64)
    spread = fftconvolve(fine, _fine_kernel(psf, s), mode="same")
    ref = spread.reshape(grid, s, grid, s).sum(axis=(1, 3))[pad:-pad, pad:-pad]
    assert np.abs(ours - ref).max() < 2e-3 * ref.max()


def test_source_surface_is_astropys_sersic():
    """The ray-shot source profile is astropy's ``Sersic2D`` (r_eff on the major axis, angle
    from +x towards +y) up to its normalisation, at random points around it."""
    from astropy.modeling.functional_models import Sersic2D

    rng = np.random.default_rng(4)
    x, y = rng.uniform(-8.0, 8.0, (2, 500)) + np.array([[20.3], [17.6]])
    for n, q, angle in ((2.5, 0.6, 0.7), (1.0, 0.35, 2.4), (4.0, 0.8, -1.1)):
        ours = sersic_surface(flux=1e4, x0=20.3, y0=17.6, r_eff=3.0, n=n, q=q, angle=angle)(x, y)
        ref = Sersic2D(1.0, r_eff=3.0, n=n, x_0=20.3, y_0=17.6, ellip=1 - q, theta=angle)(x, y)
        ratio = ours / ref
        assert ratio.std() < 1e-12 * ratio.mean(), (n, q, angle)
