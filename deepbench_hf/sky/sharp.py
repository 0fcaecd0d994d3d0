r"""PSF convolution of sub-pixel structure: a supersampled correction around sharp cores.

:func:`deepbench_hf.sky.psf.convolve` convolves an object's pixel-integrated stamp :math:`B` with
the PSF sampled at pixel centres, a lattice sum. That is exact only if the light or the PSF is
band-limited at the pixel scale: light sharper than a pixel aliases (the pixel sums cannot say
where inside a pixel the light sits), and so does any light under a PSF narrower than ~2.5 px
(its samples miss its own sub-pixel shape). For an intrinsic star of FWHM ~1 px or a compact
Sérsic cusp under a 1.5-3.5 px PSF, the peak pixel came out up to 7-8 % of its value off the
exact result (GalSim's convolution in Fourier space, ``tests/test_sky_galsim.py``); a smooth
star of FWHM 3 px under a 1.5 px Moffat PSF, 1 %.

Around each such core this module adds the difference between a supersampled and the lattice
convolution of that component's light:

.. math::
    O = P \circledast_1 B
        + \sum_c \left[\mathrm{bin}_s\!\left(P_T \circledast_{1/s} F_c\right)
        - P_T \circledast_1 B_{c,W}\right],

where, for each sharp component :math:`c` (a star; an elliptical galaxy; a spiral's bulge, its
disc, and under a narrow PSF its arm term, corrected on the disc's window), :math:`F_c` is its
light integrated over cells of :math:`1/s` px inside its core window :math:`W` (the component
drawn :math:`s` times larger by the same integrator), bin\ :sub:`s` sums the :math:`s \times s`
cells of each pixel, :math:`B_{c,W}` is its pixel-integrated stamp inside :math:`W`, and
:math:`P_T` is the PSF times a cosine taper from 1 at ``TAPER_FWHM[0]`` to 0 at
``TAPER_FWHM[1]`` FWHM from its centre. The taper keeps the correction compact: beyond it the two
lattices agree on the smooth wings. Both :math:`P_T` are normalised like the PSF kernel (by the
PSF's sum over its 99.9 % grid at their sampling), so a correction carries no net flux beyond
the ~1e-4 integration difference of :math:`F_c` and :math:`B_{c,W}`. The sum is clipped at 0.

A component is corrected if the PSF is narrower than ``NARROW_PSF_FWHM``, or if it is sharp:
steeper than :data:`~deepbench_hf.sky.integrate.MAX_LOG_SLOPE` per pixel where it holds at least
``CORE_MIN_FLUX`` of its light (a cusp, a narrow star or Gaussian), or a Sérsic profile with
``n > 0.5`` (a cone or a cusp at its centre) whose log-slope at ``r_eff`` along the minor axis
exceeds ``KINK_SLOPE`` per pixel. Its window :math:`W` is the bounding box of its stamp's pixels
at or above ``CORE_LEVEL`` of its peak pixel, grown by 1 px. The supersampling is ``s = 4``
for a sharp Sérsic component, and 2 for a sharp star (smooth at its centre), for spiral arms
(at least 1.5 px wide) and for components corrected only for the narrow PSF (cells of 1/2 px
resolve the PSF). A steep cusp (Sérsic ``n > 2``) gets a second correction of the same form
between cells of 1/8 and 1/4 px, :math:`\mathrm{bin}_8(P_{T'} \circledast_{1/8} F_c) -
\mathrm{bin}_4(P_{T'} \circledast_{1/4} F_c)`, over its pixels at or above ``CUSP_LEVEL`` of the
peak and with the narrower taper ``CUSP_TAPER_FWHM`` (two sub-pixel lattices differ only near
the light), which costs a fraction of one 8x8 correction over the whole window.

Accuracy (against GalSim; ``tests/test_sky_galsim.py`` holds fixed cases): over stars of FWHM
0.8-4 px and Sérsic profiles of n = 0.6-6, r_eff = 1-8 px, q = 0.5-1 under Gaussian and Moffat
PSFs of 1.5-3.5 px, and random stars, ellipticals and bulge + disc spirals in the
sky-medium/sky-hard ranges, the largest pixel error is ~2.5e-3 of the peak pixel (the lattice
alone: 8e-2), at the floor of the pixel integration itself for compact n > 3 profiles. Spirals
with arms 1.5-3 px wide agree with brute-force 4x4 sub-pixel convolution of the same renderer to
~3e-3 (``tests/test_sky_sharp.py``; the lattice alone: 8e-3 under a 1.5 px PSF). It is about
half the time of a sky-medium or sky-hard row (``bench/profile_rows.py``): the fine stamps and
the FFTs of their convolutions.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy import fft as sp_fft

from deepbench_hf.sky.fft import irfft2, rfft2
from deepbench_hf.sky.integrate import (
    MAX_LOG_SLOPE,
    Bounds,
    MoffatRadial,
    Radial,
    SersicRadial,
    cell_average,
)
from deepbench_hf.sky.profiles import STAMP_FRACTION, sersic_bn
from deepbench_hf.sky.psf import PSF
from deepbench_hf.sky.stamps import Stamp, arm_subcells, arm_term, draw_radial

__all__ = [
    "ARM_SUPERSAMPLING",
    "CORE_LEVEL",
    "CORE_MIN_FLUX",
    "CUSP_LEVEL",
    "CUSP_TAPER_FWHM",
    "KINK_SLOPE",
    "NARROW_PSF_FWHM",
    "TAPER_FWHM",
    "core_correction",
    "core_window",
    "sharp_corrections",
    "supersampling",
    "tapered_kernel",
]

CORE_LEVEL = 0.03
"""The window covers the stamp's pixels at or above this fraction of its peak pixel."""

CORE_MIN_FLUX = 1e-3
"""A component is sharp if its steep region holds at least this fraction of its flux."""

KINK_SLOPE = 0.5
"""A Sérsic peak (n > 0.5) is sharp if its log-slope per pixel at ``r_eff`` (minor axis)
exceeds this."""

ARM_SUPERSAMPLING = 2
"""Cells per pixel side of a spiral's arm term in its correction (arms are >= 1.5 px wide)."""

NARROW_PSF_FWHM = 2.5
"""Under a PSF narrower than this (px), every component is corrected: the PSF sampled at pixel
centres then aliases even light that is smooth on the pixel scale."""

CUSP_LEVEL = 0.3
"""The window of a cusp's second, finer correction: pixels at or above this fraction of the
peak."""

CUSP_TAPER_FWHM = (0.75, 1.5)
"""Taper radii (PSF FWHM) of the cusp's second correction: two sub-pixel lattices differ only
close to the light."""

TAPER_FWHM = (1.0, 3.0)
"""Radii (in PSF FWHM) where the taper of the correction kernel starts and reaches 0."""


def _components(obj: Any) -> list[Radial]:
    """The radial components of a sky record (``kind`` ``star``, ``elliptical`` or ``spiral``):
    the star, the elliptical, or a spiral's bulge and disc (its arms are smooth on the pixel
    scale: ``arm_width`` >= 1.5 px)."""
    if obj.kind == "star":
        return [MoffatRadial(obj.flux, obj.x, obj.y, obj.fwhm, obj.beta)]
    if obj.kind == "elliptical":
        return [SersicRadial(obj.flux, obj.x, obj.y, obj.r_eff, float(obj.n), obj.q, obj.angle)]
    bulge_flux = obj.flux * obj.bulge_fraction
    disc_flux = obj.flux - bulge_flux
    disc_a = sersic_bn(1.0) * obj.disc_scale
    return [
        SersicRadial(
            bulge_flux, obj.x, obj.y, obj.bulge_r_eff, float(obj.bulge_n), obj.bulge_q, obj.angle
        ),
        SersicRadial(disc_flux, obj.x, obj.y, disc_a, 1.0, obj.q, obj.angle),
    ]


def _scaled(p: Radial, s: int) -> Radial:
    """``p`` on a pixel grid ``s`` times finer (cell ``(i, j)`` of that grid is a ``1/s`` px
    cell of pixel ``(i // s, j // s)``): centre ``(x + 0.5) s - 0.5``, lengths x s, same flux."""
    x0, y0 = (p.x0 + 0.5) * s - 0.5, (p.y0 + 0.5) * s - 0.5
    if isinstance(p, MoffatRadial):
        return MoffatRadial(p.flux, x0, y0, p.fwhm * s, p.beta)
    return SersicRadial(p.flux, x0, y0, p.a * s, p.n, p.q, p.angle)


def _is_sharp(p: Radial) -> bool:
    """Whether a component has structure finer than the pixel lattice resolves: steeper than
    MAX_LOG_SLOPE per pixel where it holds at least CORE_MIN_FLUX of its light (a cusp, a
    narrow profile), or a Sérsic peak (n > 0.5: a cone or a cusp) whose log-slope at ``r_eff``
    along the minor axis exceeds KINK_SLOPE per pixel."""
    if isinstance(p, SersicRadial):
        if p.n > 0.5 and p.slope(1.0) / (p.q * p.a) > KINK_SLOPE:
            return True
        if p.n <= 1.0:  # the log-slope grows outwards: its largest over 99 % of the light
            return p.max_slope(p.quantile(0.99)) > MAX_LOG_SLOPE
    rho = min(p.steep(MAX_LOG_SLOPE), p.quantile(STAMP_FRACTION))
    return rho > 0 and p.cdf(rho) >= CORE_MIN_FLUX


def core_window(stamp: Stamp, bounds: Bounds, level: float = CORE_LEVEL) -> Bounds | None:
    """The core window ``(row_lo, row_hi, col_lo, col_hi)`` of a component drawn as ``stamp``:
    the bounding box of its pixels at or above ``level`` of its peak, grown by 1 px and clipped
    to ``bounds`` (``None`` for an empty or dark stamp)."""
    if stamp.empty:
        return None
    data = stamp.data
    peak = float(data.max())
    if not peak > 0:
        return None
    bright = data >= level * peak
    rows = np.flatnonzero(bright.any(axis=1))
    cols = np.flatnonzero(bright.any(axis=0))
    top, left = stamp.row0, stamp.col0
    return (
        int(max(bounds[0], top + rows[0] - 1)),
        int(min(bounds[1], top + rows[-1] + 2)),
        int(max(bounds[2], left + cols[0] - 1)),
        int(min(bounds[3], left + cols[-1] + 2)),
    )


def supersampling(p: Radial, psf: PSF) -> int | None:
    """Cells per pixel side of a component's correction, ``None`` if it needs none: for a sharp
    component 8 (a Sérsic cusp, n > 2), 4 (another Sérsic profile: a cone or a gentler cusp at
    its centre) or 2 (a Moffat star, smooth at its centre); for any other component under a PSF
    narrower than NARROW_PSF_FWHM, 2 (which resolves the PSF; the light is smooth)."""
    if not p.flux > 0:
        return None
    if _is_sharp(p):
        if isinstance(p, SersicRadial):
            return 8 if p.n > 2.0 else 4
        return 2
    return 2 if psf.fwhm < NARROW_PSF_FWHM else None


def sharp_corrections(obj: Any, stamp: Stamp, psf: PSF, bounds: Bounds) -> list[Stamp]:
    """The corrections (see the module) to add to the lattice convolution of ``obj``'s stamp, one
    per sharp component, in frame pixels (not clipped to the frame).

    ``stamp`` is the object's pixel-integrated stamp drawn within ``bounds``; for a star or an
    elliptical it is also its one component's, a spiral's bulge and disc are drawn again alone.
    """
    parts = _components(obj)
    out = []
    window = None
    for p in parts:
        s = supersampling(p, psf)
        own = None if s is None else stamp if len(parts) == 1 else draw_radial(p, bounds)
        window = None if own is None else core_window(own, bounds)
        if window is None:
            continue
        base = min(s, 4)
        fine = draw_radial(_scaled(p, base), tuple(v * base for v in window))
        out.append(core_correction(own, fine, window, psf, base))
        if s > base:  # the cusp again, on cells of 1/s px, against those of 1/base px
            cusp = core_window(own, bounds, CUSP_LEVEL)
            finer = draw_radial(_scaled(p, s), tuple(v * s for v in cusp))
            out.append(
                core_correction(fine, finer, cusp, psf, s, coarse_scale=base, taper=CUSP_TAPER_FWHM)
            )
    # window is now the disc's (the last component), None if it was not corrected or is dark
    if obj.kind == "spiral" and obj.arm_fraction > 0 and psf.fwhm < NARROW_PSF_FWHM and window:
        out.append(_arm_correction(obj, window, psf))
    return out


def _arm_correction(obj: Any, window: Bounds, psf: PSF) -> Stamp:
    """The correction for a spiral's arm term inside ``window`` (its disc's core window), on
    cells of ``1 / ARM_SUPERSAMPLING`` px, each integrated by the cell-average rule as the
    stamp's arm term is (:func:`~deepbench_hf.sky.stamps.draw_spiral`)."""
    disc_flux = obj.flux * (1.0 - obj.bulge_fraction)
    arms = arm_term(
        x0=obj.x, y0=obj.y, disc_flux=disc_flux, disc_scale=obj.disc_scale, q=obj.q,
        angle=obj.angle, arm_fraction=obj.arm_fraction, arm_count=int(obj.arm_count),
        winding=obj.winding, pitch=obj.pitch, arm_scale=obj.arm_scale, arm_width=obj.arm_width,
        arm_phase=obj.arm_phase, chirality=obj.chirality,
    )  # fmt: skip
    m = arm_subcells(obj.arm_width)
    coarse = Stamp(cell_average(arms, window, m), window[0], window[2])
    s = ARM_SUPERSAMPLING
    area = 1.0 / (s * s)

    def cells(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return arms((xs + 0.5) / s - 0.5, (ys + 0.5) / s - 0.5) * area

    box = tuple(v * s for v in window)
    fine = Stamp(cell_average(cells, box, max(1, -(-m // s))), box[0], box[2])
    return core_correction(coarse, fine, window, psf, s)


def tapered_kernel(psf: PSF, s: int, taper: tuple[float, float] = TAPER_FWHM) -> np.ndarray:
    """The PSF sampled every ``1/s`` px times a cosine taper from 1 at ``taper[0]`` to 0 at
    ``taper[1]`` FWHM, normalised by the PSF's sum over its ``(2 k s + 1)^2`` grid (``k`` its
    kernel radius) times the taper's share at ``s = 1``; odd-sized, centred, read-only."""
    return _tapered_kernel(*_key(psf), int(s), taper)


def _key(psf: PSF) -> tuple[str, float, float, int]:
    return psf.kind, float(psf.fwhm), float(psf.beta), psf.radius


def _taper(r: np.ndarray, fwhm: float, taper: tuple[float, float]) -> np.ndarray:
    r_in, r_out = taper[0] * fwhm, taper[1] * fwhm
    ramp = np.clip((r_out - r) / (r_out - r_in), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * ramp)


@functools.lru_cache(maxsize=256)
def _tapered_kernel(
    kind: str, fwhm: float, beta: float, radius: int, s: int, taper: tuple[float, float]
) -> np.ndarray:
    n = radius * s
    m = min(n, math.ceil(taper[1] * fwhm * s))
    d = np.arange(-m, m + 1) / s
    d2 = d[:, None] ** 2 + d[None, :] ** 2
    kernel = PSF(fwhm, kind, beta).profile(d2) * _taper(np.sqrt(d2), fwhm, taper)
    # The tapered PSF's share of the light, as the unit lattice sees it: the same for every s,
    # so that a correction moves light without adding any.
    kernel *= _tapered_share(kind, fwhm, beta, radius, taper) / kernel.sum()
    kernel.setflags(write=False)
    return kernel


@functools.lru_cache(maxsize=256)
def _tapered_share(
    kind: str, fwhm: float, beta: float, radius: int, taper: tuple[float, float]
) -> float:
    """Sum of the s = 1 tapered kernel normalised by the PSF kernel's sum (its 99.9 % grid)."""
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    r = np.hypot(d[:, None], d[None, :])
    return float((PSF(fwhm, kind, beta).kernel() * _taper(r, fwhm, taper)).sum())


@functools.lru_cache(maxsize=256)
def _kernel_spectrum(
    key: tuple[str, float, float, int],
    s: int,
    taper: tuple[float, float],
    shape: tuple[int, int],
) -> np.ndarray:
    spectrum = rfft2(_tapered_kernel(*key, s, taper), shape)
    spectrum.setflags(write=False)
    return spectrum


@functools.lru_cache(maxsize=1024)
def _fft_length(n: int) -> int:
    """A fast transform length >= n, rounded up to a multiple of 8 first so that windows of
    similar sizes share their kernel's cached spectrum."""
    return sp_fft.next_fast_len(-(-n // 8) * 8, True)


def _convolve_full(
    source: Stamp, box: Bounds, scale: int, psf: PSF, taper: tuple[float, float]
) -> np.ndarray:
    """Full linear convolution of ``_cut(source, box, scale)`` with :func:`tapered_kernel`
    ``(psf, scale, taper)``; the cut is written straight into the zero-padded transform input."""
    size = tapered_kernel(psf, scale, taper).shape[0]
    r0, r1, c0, c1 = box
    h, w = (r1 - r0) * scale + size - 1, (c1 - c0) * scale + size - 1
    shape = (_fft_length(h), _fft_length(w))
    spectrum = rfft2(_cut(source, box, scale, shape), shape)
    spectrum *= _kernel_spectrum(_key(psf), int(scale), taper, shape)
    return irfft2(spectrum, shape)[:h, :w]


def _cut(stamp: Stamp, box: Bounds, scale: int, shape: tuple[int, int]) -> np.ndarray:
    """``stamp``'s data on the pixels of ``box`` scaled by ``scale`` (zero where it has none),
    in the top-left corner of a zero array of ``shape`` (at least the scaled box's)."""
    r0, r1, c0, c1 = (v * scale for v in box)
    out = np.zeros(shape)
    if stamp.empty:
        return out
    h, w = stamp.data.shape
    a0, a1 = max(r0, stamp.row0), min(r1, stamp.row0 + h)
    b0, b1 = max(c0, stamp.col0), min(c1, stamp.col0 + w)
    if a0 < a1 and b0 < b1:
        out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = stamp.data[
            a0 - stamp.row0 : a1 - stamp.row0, b0 - stamp.col0 : b1 - stamp.col0
        ]
    return out


def core_correction(
    stamp: Stamp,
    fine: Stamp,
    window: Bounds,
    psf: PSF,
    s: int,
    *,
    coarse_scale: int = 1,
    taper: tuple[float, float] = TAPER_FWHM,
) -> Stamp:
    r"""The correction :math:`\mathrm{bin}_s(P_T \circledast F) - P_T \circledast B_W` (see the
    module), in frame pixels around ``window``.

    ``stamp`` is the object's pixel-integrated stamp :math:`B` (or, with ``coarse_scale`` c > 1,
    the object drawn on cells of ``1/c`` px: the difference is then between two sub-pixel
    lattices), ``fine`` the object drawn on cells of ``1/s`` px (the pixel grid scaled by ``s``:
    cell ``(i, j)`` lies in pixel ``(i // s, j // s)``), both over at least ``window`` scaled.
    """
    r0, r1, c0, c1 = window
    halves = {scale: tapered_kernel(psf, scale, taper).shape[0] // 2 for scale in (coarse_scale, s)}
    pad = max(math.ceil(m / scale) for scale, m in halves.items())  # pixels the kernels reach
    h, w = r1 - r0 + 2 * pad, c1 - c0 + 2 * pad
    out = np.zeros((h, w))
    for source, scale, sign in ((fine, s, 1.0), (stamp, coarse_scale, -1.0)):
        spread = _convolve_full(source, window, scale, psf, taper)
        o = pad * scale - halves[scale]
        if scale == 1:
            out[o : o + spread.shape[0], o : o + spread.shape[1]] += sign * spread
            continue
        cells = np.zeros((h * scale, w * scale))
        cells[o : o + spread.shape[0], o : o + spread.shape[1]] = spread
        out += sign * cells.reshape(h, scale, w, scale).sum(axis=(1, 3))
    return Stamp(out, r0 - pad, c0 - pad)
