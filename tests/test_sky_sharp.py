"""The supersampled PSF correction of :mod:`deepbench_hf.sky.sharp` against brute force: the
same renderer drawing the object 4x larger, convolved with the PSF sampled every 1/4 px and
binned, for what GalSim cannot draw (spiral arms); and the corrections' flux bookkeeping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import fftconvolve

from deepbench_hf.sky.profiles import moffat_gamma
from deepbench_hf.sky.psf import PSF
from deepbench_hf.sky.render import Elliptical, Spiral, Star, draw_object, make_object, render_scene
from deepbench_hf.sky.sharp import sharp_corrections
from deepbench_hf.sky.stamps import frame_bounds

SIZE = 64


def _brute(spiral: Spiral, psf: PSF, s: int = 4) -> np.ndarray:
    params = dataclasses.asdict(spiral)
    params["x"], params["y"] = (spiral.x + 0.5) * s - 0.5, (spiral.y + 0.5) * s - 0.5
    for key in ("disc_scale", "bulge_r_eff", "arm_scale", "arm_width"):
        params[key] *= s
    stamp = draw_object(Spiral(**params), bounds=(0, SIZE * s, 0, SIZE * s))
    cells = np.zeros((SIZE * s, SIZE * s))
    h, w = stamp.data.shape
    cells[stamp.row0 : stamp.row0 + h, stamp.col0 : stamp.col0 + w] = stamp.data
    d = np.arange(-psf.radius * s, psf.radius * s + 1) / s
    d2 = d[:, None] ** 2 + d[None, :] ** 2
    kernel = (1.0 + d2 / float(moffat_gamma(psf.fwhm, psf.beta)) ** 2) ** (-psf.beta)
    spread = fftconvolve(cells, kernel / kernel.sum(), mode="same")
    return spread.reshape(SIZE, s, SIZE, s).sum(axis=(1, 3))


@pytest.mark.parametrize(("disc_scale", "q", "arm_width"), [(4.15, 0.7, 1.57), (5.4, 0.76, 1.93)])
def test_spiral_with_arms_under_a_narrow_psf_matches_brute_force(disc_scale, q, arm_width):
    """Arms 1.5-2 px wide under a 1.5 px Moffat PSF: within 2.5e-3 of the peak (the lattice
    alone: 5-8e-3)."""
    spiral = make_object(
        Spiral(x=31.6, y=32.6, flux=3e4, disc_scale=disc_scale, q=q, angle=1.0,
               bulge_fraction=0.2, bulge_n=2.0, arm_fraction=0.6, arm_width=arm_width)
    )  # fmt: skip
    psf = PSF(1.5, "moffat", 3.0)
    ours = render_scene(shape=(SIZE, SIZE), objects=[spiral], psf=psf).image
    ref = _brute(spiral, psf)
    assert np.abs(ours - ref).max() < 2.5e-3 * ref.max()


@pytest.mark.parametrize(
    "obj",
    [
        Star(x=30.2, y=31.7, flux=1e4, fwhm=1.0, beta=3.0),
        Elliptical(x=30.2, y=31.7, flux=1e4, r_eff=2.0, n=4.0, q=0.6, angle=0.3),
        Spiral(x=30.2, y=31.7, flux=1e4, disc_scale=4.0, q=0.8, arm_width=2.0),
    ],
    ids=lambda o: o.kind,
)
def test_corrections_move_light_without_adding_any(obj) -> None:
    """Each correction sums to ~0 (it only moves light within a few PSF FWHM of the core)."""
    psf = PSF(1.8, "moffat", 3.5)
    bounds = frame_bounds((SIZE, SIZE), psf.radius)
    obj = make_object(obj)
    corrections = sharp_corrections(obj, draw_object(obj, bounds=bounds), psf, bounds)
    assert corrections
    for c in corrections:
        assert abs(c.data.sum()) < 2e-4 * obj.flux
    assert max(np.abs(c.data).max() for c in corrections) > 1e-4 * obj.flux  # it moves light
