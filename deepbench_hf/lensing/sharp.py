r"""Supersampled PSF convolution of the sharp cores of a lensing image.

A lensing image is convolved with the PSF as one lattice sum (:func:`deepbench_hf.sky.psf.convolve`
of the pixel-integrated frame), which aliases light sharper than a pixel: against GalSim and
brute-force 4x4 sub-pixel convolution, pixels near the peak of a compact lens galaxy (Sérsic
n = 2-5) or an unlensed compact source came out up to ~6-10 % of the peak off, near the images
of a lensed source's cusp up to ~6 % (``tests/test_lensing_psf.py``); with this correction,
below 2e-3. This module adds the correction of :mod:`deepbench_hf.sky.sharp` around each sharp
core:

* the lens light and each field star, exactly as for sky objects
  (:func:`~deepbench_hf.sky.sharp.sharp_corrections` of an ``Elliptical`` / ``Star`` record);
* the extended source, if its Sérsic profile is sharp or the PSF narrower than
  :data:`~deepbench_hf.sky.sharp.NARROW_PSF_FWHM`: its core window is that of its
  pixel-integrated (lensed, or unlensed for a non-lens) image, and its fine cells are integrated
  by the same adaptive ray-shooting (:func:`~deepbench_hf.lensing.adaptive.integrate_pixels`)
  on the grid ``s`` times finer (``s = 4`` for a sharp source, 2 for a smooth one under a
  narrow PSF), ``max(4, ceil(oversample / s))`` sub-cells a side where refined,
  the lens centre (or the source centre) always refined.

Corrections are :class:`~deepbench_hf.sky.stamps.Stamp` s in frame pixels (not clipped to the
frame); each moves light within a few PSF FWHM of its core and carries no net flux beyond the
~1e-4 difference between the fine and the pixel integrals.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deepbench_hf.sky.integrate import Bounds, SersicRadial
from deepbench_hf.sky.psf import PSF
from deepbench_hf.sky.render import Elliptical, Star
from deepbench_hf.sky.sharp import core_correction, core_window, sharp_corrections, supersampling
from deepbench_hf.sky.stamps import Stamp

from .adaptive import integrate_pixels, near

__all__ = ["SUPERSAMPLING", "light_corrections", "source_correction"]

SUPERSAMPLING = 4
"""Cells per pixel side of the source's fine integration (at most; see the module)."""

Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]


def light_corrections(
    lens_light: tuple[Elliptical, Stamp] | None,
    stars: list[tuple[Star, Stamp]],
    psf: PSF,
    bounds: Bounds,
) -> list[Stamp]:
    """Corrections for the lens light and the field stars, each given as its record and its
    pixel-integrated stamp drawn within ``bounds`` (frame pixels)."""
    out: list[Stamp] = []
    for obj, stamp in ([lens_light] if lens_light is not None else []) + stars:
        if not stamp.empty:
            out.extend(sharp_corrections(obj, stamp, psf, bounds))
    return out


def source_correction(
    profile: SersicRadial,
    surface: Surface,
    pixels: Stamp,
    centre: tuple[float, float],
    *,
    psf: PSF,
    bounds: Bounds,
    oversample: int,
    refine_radius: float,
) -> Stamp | None:
    """The correction for the extended source, ``None`` if its profile is smooth on the pixel
    scale.

    ``profile`` is the source's Sérsic profile (its sharpness decides), ``surface(x, y)`` the
    surface brightness (counts/px²) of its image at frame positions (px) -- lensed, or not
    for a non-lens -- and ``pixels`` that image integrated over the frame's pixels as the
    lattice convolution saw it; ``centre`` ``(x, y)`` (frame px) is refined within
    ``refine_radius`` px, as in the pixel integration.
    """
    cells = supersampling(profile, psf)
    if cells is None:
        return None
    window = core_window(pixels, bounds)
    if window is None:
        return None
    s = min(cells, SUPERSAMPLING)
    r0, r1, c0, c1 = window
    area = 1.0 / (s * s)

    def fine_surface(xf: np.ndarray, yf: np.ndarray) -> np.ndarray:
        # cell (i, j) of the fine window is the 1/s px cell of frame position below
        x = (np.add(xf, c0 * s) + 0.5) / s - 0.5
        y = (np.add(yf, r0 * s) + 0.5) / s - 0.5
        return surface(x, y) * area

    shape = ((r1 - r0) * s, (c1 - c0) * s)
    x0, y0 = centre
    refine = near(shape, (x0 - c0 + 0.5) * s - 0.5, (y0 - r0 + 0.5) * s - 0.5, refine_radius * s)
    fine, _ = integrate_pixels(
        fine_surface,
        shape=shape,
        oversample=max(4, math.ceil(oversample / s)),
        refine=refine,
        dtype=np.float32,
    )
    return core_correction(pixels, Stamp(fine, r0 * s, c0 * s), window, psf, s)
