r"""Adaptive pixel integration of an image-plane surface brightness (lensed or not).

Uniform ``k x k`` sub-sampling (lenstronomy's ``supersampling_factor``) spends ``k^2`` rays on
every pixel, although a lensed image is smooth at the pixel scale almost everywhere: only the
arcs and images of a compact source, the source's core and the lens centre (where the SIE
deflection turns discontinuously) vary within a pixel. :func:`integrate_pixels` therefore

1. samples the surface brightness ``f`` at the pixel centres of the frame grown by two pixels;
2. integrates every pixel by the fourth-order cell-average rule
   :math:`\bar f \approx f_0 + \tfrac{1}{24}(f_N + f_S + f_E + f_W - 4 f_0)` (exact for cubics;
   the rule of :mod:`deepbench_hf.sky.integrate`, whose error at a logarithmic slope of 0.75 per
   pixel, ~1e-3, is that of uniform ``4 x 4`` midpoint sampling);
3. replaces, by the mean of ``k x k`` sub-pixel samples (exactly what uniform sub-sampling gives
   there), every pixel where the rule is not trusted, and its 4 neighbours: where the rule's
   error estimated from the fourth differences of the samples exceeds :data:`RTOL` of the value
   (this also flags kinks and ridges, e.g. the ring imaging a conical source peak, which change
   little between samples), where the samples change by more than a factor :data:`MAX_STEP`
   (``e^0.75``) between the pixel and a neighbour, and every pixel of ``refine`` (e.g. around
   the lens centre) -- unless all five samples of the pixel's stencil are fainter than
   :data:`FLOOR` times the brightest sample of the frame. The first two criteria also need the
   estimated error to exceed :data:`ATOL` times that brightest sample: the faint, steep wings
   of a compact source (~27 % of the pixels refined otherwise over the lensing configs' lenses,
   up to half for compact sources) then err by < ~1e-4 of it, about what ``k x k`` midpoint
   sampling errs there itself. (A sample that falls within ~0.1 px of a steep Sérsic centre
   can exceed the brightest *pixel* ~10²-fold; relative to that pixel, such a frame's faint
   wings err by up to ~1.5e-4, still ~15x below the error at its core.)

4. integrates the **cusps** further (``k >= 4``): in a refined pixel whose brightest sample
   exceeds :data:`CUSP_RATIO` times the pixel's mean (the steep centre of a Sérsic n >~ 2 source,
   or its lensed image, a ridge stretched across the pixel), if the pixel is brighter than
   :data:`CUSP_FLOOR` times the brightest refined pixel, the ``k x k`` samples become cell
   averages by the same fourth-order correction (second differences / 24), and the cells whose
   curvature exceeds :data:`CUSP_CURVATURE` times the pixel's mean are sampled again on ``3 x 3``
   rays, twice over. Point samples, uniform ones included, miss most of such a cusp: its
   brightest pixel errs by up to ~15 % at ``k = 8``; this brings it to ~1 % of the pixel at worst
   (tested against ``512 x 512`` sub-sampling).

The refined pixels other than cusps equal the uniform ``k x k`` result; the others agree with
it to its own integration error (tested against ``16 x 16`` sub-sampling). Faint pixels below
the floor carry absolute errors below ~``1e-4`` of the peak surface brightness. A feature
narrower than a pixel that no pixel centre sees is missed, as by any sampling at the pixel
scale: lensed arcs keep the source's radial size (isothermal lenses have radial magnification
~1), so sources with a minor axis of >~ 0.5 px are always sampled.

Conventions as in :mod:`deepbench_hf.lensing.raytrace`: ``image[row, col]``, x = column,
y = row, pixel centres at integer coordinates, sub-pixel centres ``c - 0.5 + (a + 0.5) / k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "ATOL",
    "CUSP_CURVATURE",
    "CUSP_FLOOR",
    "CUSP_RATIO",
    "FLOOR",
    "MAX_STEP",
    "RTOL",
    "integrate_pixels",
    "near",
]

MAX_STEP = math.exp(0.75)
"""Largest ratio of neighbouring centre samples integrated by the cell-average rule."""

FLOOR = 1e-4
"""Stencils whose samples are all below this fraction of the frame's brightest are not refined."""

RTOL = 1e-3
"""Largest estimated relative error of the cell-average rule accepted for a pixel."""

ATOL = 1e-5
"""Estimated errors below this fraction of the frame's brightest sample are accepted (unless the
pixel is in ``refine``), whatever their relative size."""

_D4_ERROR = 1.0 / 288.0 - 1.0 / 1920.0  # the rule's error per unit fourth derivative, per axis

CUSP_RATIO = 2.0
"""A refined pixel whose brightest sub-pixel sample exceeds this multiple of its mean is a cusp."""

CUSP_FLOOR = 0.1
"""Cusps dimmer than this fraction of the brightest refined pixel are left at ``k x k``."""

CUSP_CURVATURE = 0.5
"""Cells of a cusp whose ``|d2x| + |d2y|`` exceeds this fraction of the pixel's mean are sampled
again (``3 x 3`` rays, two levels); at the last level, only cells below it get the correction."""

_CUSP_RAYS = 3  # odd: a finer sample falls on the coarse cell's centre, wherever the cusp is
_CUSP_LEVELS = 2

SurfaceFn = Callable[[np.ndarray, np.ndarray], npt.ArrayLike]


def integrate_pixels(
    surface: SurfaceFn,
    *,
    shape: tuple[int, int],
    oversample: int,
    refine: np.ndarray | None = None,
    dtype: npt.DTypeLike = np.float32,
    cusps: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per pixel of the surface brightness ``surface`` over a frame of ``shape``.

    Parameters
    ----------
    surface
        ``surface(x, y)`` -> surface brightness (counts/px²) at image-plane positions (px); it
        must broadcast its arguments (it receives sparse ``(1, W)`` / ``(H, 1)`` grids and
        ``(n, 1, k)`` / ``(n, k, 1)`` sub-pixel blocks).
    shape
        ``(H, W)`` pixels.
    oversample
        Sub-pixels per side ``k >= 1`` where a pixel is refined (``k = 1``: centres only, no
        refinement).
    refine
        Optional boolean ``(H, W)`` mask of pixels always refined (if not below the floor).
    dtype
        Floating dtype of the coordinates (``float32`` is about twice as fast).
    cusps
        Integrate cusps further (step 4 of the module docstring; ``oversample >= 4`` only: with
        3 samples a side, the curvature of the edge cells is that of the middle one).
        ``False`` leaves every refined pixel at its uniform ``k x k`` value.

    Returns
    -------
    image, refined
        The pixel integrals, float64 ``(H, W)`` (counts per pixel, pixel area 1 px²), and the
        boolean mask of the refined pixels.
    """
    h, w = (int(v) for v in shape)
    k = int(oversample)
    if h < 1 or w < 1 or k < 1 or k != oversample:
        raise ValueError(f"need a positive shape and integer oversample, got {shape}, {oversample}")
    xs = np.arange(-2, w + 2, dtype=dtype)[None, :]
    ys = np.arange(-2, h + 2, dtype=dtype)[:, None]
    f = np.asarray(surface(xs, ys))
    if f.shape != (h + 4, w + 4):
        f = np.broadcast_to(f, (h + 4, w + 4))
    centre = f[2:-2, 2:-2]
    image = f[1:-3, 2:-2] + f[3:-1, 2:-2]
    image += f[2:-2, 1:-3]
    image += f[2:-2, 3:-1]
    image += 20.0 * centre
    image *= 1.0 / 24.0
    if k == 1:
        return image.astype(np.float64), np.zeros((h, w), dtype=bool)
    refined = _dilate(_rough(f, refine))
    idx = np.flatnonzero(refined)
    if idx.size:
        rows, cols = np.divmod(idx, w)
        offsets = ((np.arange(k) + 0.5) / k - 0.5).astype(dtype)
        sx = cols.astype(dtype)[:, None, None] + offsets[None, None, :]
        sy = rows.astype(dtype)[:, None, None] + offsets[None, :, None]
        sub = np.asarray(surface(sx, sy)).reshape(idx.size, k * k)
        mean = sub.mean(axis=1)
        image.flat[idx] = mean
        if cusps and k >= 4:
            bright = np.flatnonzero(mean > CUSP_FLOOR * mean.max())
            cusp = bright[sub[bright].max(axis=1) > CUSP_RATIO * mean[bright]]
            if cusp.size:
                cells = _cusp_cells(
                    surface,
                    sub[cusp].reshape(-1, k, k),
                    cols[cusp] - 0.5,
                    rows[cusp] - 0.5,
                    1.0 / k,
                    mean[cusp, None, None],
                    _CUSP_LEVELS,
                    dtype,
                )
                image.flat[idx[cusp]] = cells.reshape(cusp.size, -1).mean(axis=1)
    return image.astype(np.float64), refined


def _cusp_cells(
    surface: SurfaceFn,
    samples: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    side: float,
    scale: np.ndarray,
    levels: int,
    dtype: npt.DTypeLike,
) -> np.ndarray:
    """Cell averages of ``(n, m, m)`` grids of square cells of ``side`` px, from the samples at
    their centres; grid ``p`` has its lower-left corner at ``(x0[p], y0[p])`` and ``scale[p]``
    is its pixel's mean surface brightness. See step 4 of the module docstring."""
    across_x, across_y = _second_differences(samples.shape[-1], samples.dtype)
    d2x = samples @ across_x
    d2y = across_y @ samples
    correction = (d2x + d2y) * (1.0 / 24.0)
    curvature = np.abs(d2x) + np.abs(d2y)
    rough = curvature > CUSP_CURVATURE * scale
    if levels == 0:
        correction[rough] = 0.0
        return samples + correction
    cells = samples + correction
    p, i, j = np.nonzero(rough)
    if p.size:
        fine = side / _CUSP_RAYS
        offsets = (np.arange(_CUSP_RAYS) + 0.5) * fine
        cx, cy = x0[p] + j * side, y0[p] + i * side
        again = np.asarray(
            surface(
                (cx[:, None, None] + offsets).astype(dtype),
                (cy[:, None, None] + offsets[:, None]).astype(dtype),
            )
        )
        again = _cusp_cells(surface, again, cx, cy, fine, scale[p], levels - 1, dtype)
        cells[p, i, j] = again.reshape(p.size, -1).mean(axis=1)
    return cells


_SECOND_DIFFERENCES: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}


def _second_differences(m: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)`` with ``s @ A`` the second differences of ``s`` along its last axis and ``B @ s``
    along the one before (centred inside, one-sided 4-point rules at the edges, ``m >= 3``)."""
    key = (m, np.dtype(dtype).str)
    if key not in _SECOND_DIFFERENCES:
        d = np.zeros((m, m))
        for i in range(1, m - 1):
            d[i, i - 1 : i + 2] = (1.0, -2.0, 1.0)
        if m >= 4:
            d[0, :4] = (2.0, -5.0, 4.0, -1.0)
            d[-1, -4:] = (-1.0, 4.0, -5.0, 2.0)
        else:
            d[0, :3] = d[-1, -3:] = (1.0, -2.0, 1.0)
        _SECOND_DIFFERENCES[key] = (np.ascontiguousarray(d.T, dtype=dtype), d.astype(dtype))
    return _SECOND_DIFFERENCES[key]


def _rough(f: np.ndarray, refine: np.ndarray | None) -> np.ndarray:
    """Pixels (of the frame inside the 2-pixel border of the samples ``f``) where the
    cell-average rule is not trusted, unless their stencil is below the floor.

    The rule's error per axis is ~``(1/288 - 1/1920)`` times the fourth derivative, estimated
    by the fourth difference ``d4`` of the samples (for a profile of log-slope k per pixel,
    ``0.003 k^4``: 1e-3 at k = 0.75); a kink or a ridge narrower than a pixel, where the Taylor
    estimate fails, makes ``d4`` large as well. A pixel is rough where that estimate exceeds
    :data:`RTOL` of its value, or where neighbouring samples differ by more than
    :data:`MAX_STEP`, if the estimate also exceeds :data:`ATOL` of the brightest sample; or
    where ``refine`` says so; and only if a sample of its stencil exceeds :data:`FLOOR` of the
    brightest.
    """
    c = f[2:-2, 2:-2]
    d4x = f[2:-2, :-4] + f[2:-2, 4:]
    d4x -= 4.0 * (f[2:-2, 1:-3] + f[2:-2, 3:-1])
    d4x += 6.0 * c
    d4y = f[:-4, 2:-2] + f[4:, 2:-2]
    d4y -= 4.0 * (f[1:-3, 2:-2] + f[3:-1, 2:-2])
    d4y += 6.0 * c
    np.abs(d4x, out=d4x)
    d4x += np.abs(d4y, out=d4y)
    error = np.multiply(d4x, _D4_ERROR, out=d4x)
    peak = f.max()
    rough = error > RTOL * np.abs(c)
    sides = (f[1:-3, 2:-2], f[3:-1, 2:-2], f[2:-2, 1:-3], f[2:-2, 3:-1])
    hi = np.maximum(np.maximum(sides[0], sides[1]), np.maximum(sides[2], sides[3]))
    lo = np.minimum(np.minimum(sides[0], sides[1]), np.minimum(sides[2], sides[3]))
    rough |= (hi > MAX_STEP * c) | (c > MAX_STEP * lo)
    rough &= error > ATOL * peak
    if refine is not None:
        rough |= refine
    rough &= np.maximum(hi, c) > FLOOR * peak
    return rough


def near(shape: tuple[int, int], x0: float, y0: float, radius: float) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the pixels whose centre is within ``radius`` px of (x0, y0)."""
    h, w = shape
    dy2 = (np.arange(h) - y0) ** 2
    dx2 = (np.arange(w) - x0) ** 2
    return dy2[:, None] + dx2[None, :] <= radius * radius


def _dilate(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel along rows and columns (the 4-neighbourhood)."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out
