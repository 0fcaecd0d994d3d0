"""Pixel-integrated stamps of stars and galaxies (``draw_*``) and stamp bookkeeping.

Each object is drawn in a **stamp**: the bounding box of the ellipse enclosing
:data:`~deepbench_hf.sky.profiles.STAMP_FRACTION` of its light, clipped to the allowed region
(:data:`~deepbench_hf.sky.integrate.Bounds`, see :func:`frame_bounds`), holding counts per pixel.
The profiles are those of :mod:`deepbench_hf.sky.profiles` (conventions there); the pixel
integration and its accuracy are described in :mod:`deepbench_hf.sky.integrate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepbench_hf.sky.cusp import shoot_core, tangent_cap
from deepbench_hf.sky.integrate import (
    Bounds,
    MoffatRadial,
    Radial,
    SersicRadial,
    cell_average,
    ellipse_half_extents,
    refinement_levels,
)
from deepbench_hf.sky.profiles import STAMP_FRACTION, sersic_bn, spiral_arm_term

__all__ = [
    "Stamp",
    "arm_subcells",
    "arm_term",
    "draw_elliptical",
    "draw_radial",
    "draw_spiral",
    "draw_star",
    "frame_bounds",
    "sum_stamps",
]


# --------------------------------------------------------------------------------------------
# Stamps
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """A rectangular cut-out of an image.

    Attributes
    ----------
    data
        Counts per pixel, ``data[i, j]`` is the pixel ``(row0 + i, col0 + j)`` of the frame.
    row0, col0
        Frame row and column of ``data[0, 0]``.
    """

    data: np.ndarray
    row0: int
    col0: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices selecting the stamp's pixels in the frame."""
        h, w = self.data.shape
        return slice(self.row0, self.row0 + h), slice(self.col0, self.col0 + w)

    @property
    def empty(self) -> bool:
        """Whether the stamp has no pixel (object entirely outside the allowed region)."""
        return self.data.size == 0


def frame_bounds(shape: tuple[int, int], pad: int = 0) -> Bounds:
    """Pixel bounds ``(row_lo, row_hi, col_lo, col_hi)`` (``hi`` exclusive) of a frame.

    ``pad`` extends the frame by that many pixels on each side (e.g. the PSF kernel radius, so
    that light from just outside the frame can be scattered into it).
    """
    return -pad, shape[0] + pad, -pad, shape[1] + pad


def sum_stamps(stamps: list[Stamp]) -> Stamp:
    """Sum stamps into one stamp covering the union of their (non-empty) boxes."""
    full = [s for s in stamps if not s.empty]
    if not full:
        return stamps[0] if stamps else Stamp(np.zeros((0, 0)), 0, 0)
    if len(full) == 1:
        return full[0]
    r0 = min(s.row0 for s in full)
    c0 = min(s.col0 for s in full)
    r1 = max(s.row0 + s.data.shape[0] for s in full)
    c1 = max(s.col0 + s.data.shape[1] for s in full)
    out = np.zeros((r1 - r0, c1 - c0))
    for s in full:
        h, w = s.data.shape
        out[s.row0 - r0 : s.row0 - r0 + h, s.col0 - c0 : s.col0 - c0 + w] += s.data
    return Stamp(out, r0, c0)


_FAR = 1e12  # px: farther than any frame


def _ellipse_box(
    x0: float, y0: float, radius: float, q: float, angle: float, bounds: Bounds, pad: float = 0.0
) -> Bounds | None:
    """Pixels overlapping the bounding box of an ellipse (semi-axes radius, q*radius), clipped."""
    hx, hy = ellipse_half_extents(radius, q, angle)
    # min: an unbounded profile (a Moffat of beta just above 1, radius inf) fills ``bounds``
    hx = min(hx + pad, _FAR)
    hy = min(hy + pad, _FAR)
    r_lo = max(bounds[0], math.floor(y0 - hy + 0.5))
    r_hi = min(bounds[1], math.floor(y0 + hy + 0.5) + 1)
    c_lo = max(bounds[2], math.floor(x0 - hx + 0.5))
    c_hi = min(bounds[3], math.floor(x0 + hx + 0.5) + 1)
    if r_lo >= r_hi or c_lo >= c_hi:
        return None
    return r_lo, r_hi, c_lo, c_hi


def _empty_stamp(x0: float, y0: float, bounds: Bounds) -> Stamp:
    row = min(max(round(y0), bounds[0]), bounds[1])
    col = min(max(round(x0), bounds[2]), bounds[3])
    return Stamp(np.zeros((0, 0)), int(row), int(col))


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def draw_radial(p: Radial, bounds: Bounds) -> Stamp:
    """Pixel-integrated stamp of a radial profile (see :mod:`deepbench_hf.sky.integrate`)."""
    rho_max = p.quantile(STAMP_FRACTION)
    box = _ellipse_box(p.x0, p.y0, rho_max * p.a, p.q, p.angle, bounds)
    if box is None:
        return _empty_stamp(p.x0, p.y0, bounds)

    levels, rho_c = refinement_levels(p)
    todo = [(1, box)]
    for m, rho in levels:
        block = _ellipse_box(p.x0, p.y0, rho * p.a, p.q, p.angle, box, pad=1.0)
        if block is None:  # the steep part lies outside the allowed region
            rho_c = 0.0
            break
        if block == todo[-1][1]:  # same pixels as the coarser level: skip that one
            todo[-1] = (m, block)
        else:
            todo.append((m, block))
    data = np.empty((box[1] - box[0], box[3] - box[2]), dtype=np.float32)
    for i, (m, block) in enumerate(todo):
        if rho_c > 0.0 and i == len(todo) - 1:
            alpha, beta = tangent_cap(p, rho_c)
            u_c = rho_c * rho_c

            def capped(xs, ys, alpha=alpha, beta=beta, u_c=u_c):
                u = p.rho2(xs, ys)
                # For n just above 1, rho_c can be ~1e-60 px: u_c is 0 in float32, the cap is
                # never selected, and its float32 coefficients overflow harmlessly.
                with np.errstate(over="ignore", invalid="ignore"):
                    return np.where(u < u_c, alpha + beta * u, p.sb(u))

            sub = cell_average(capped, block, m)
            shoot_core(p, rho_c, block, sub)
        else:
            sub = cell_average(p.grid, block, m)
        data[block[0] - box[0] : block[1] - box[0], block[2] - box[2] : block[3] - box[2]] = sub
    return Stamp(data, box[0], box[2])


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def draw_star(
    *, flux: float, x0: float, y0: float, fwhm: float, beta: float, bounds: Bounds
) -> Stamp:
    """Pixel-integrated Moffat star (see :func:`~deepbench_hf.sky.profiles.moffat`) in its stamp,
    clipped to ``bounds``.

    Parameters
    ----------
    flux
        Total flux (counts), >= 0.
    x0, y0
        Centre (px, sub-pixel).
    fwhm
        FWHM (px) > 0; accurate for fwhm >= ~0.5 px.
    beta
        Moffat power index > 1.
    bounds
        Allowed pixel region ``(row_lo, row_hi, col_lo, col_hi)``, see :func:`frame_bounds`.
    """
    _check(flux >= 0 and fwhm > 0 and beta > 1, f"bad star: flux={flux} fwhm={fwhm} beta={beta}")
    return draw_radial(MoffatRadial(flux, x0, y0, fwhm, beta), bounds)


def draw_elliptical(
    *,
    flux: float,
    x0: float,
    y0: float,
    r_eff: float,
    n: float,
    q: float,
    angle: float,
    bounds: Bounds,
) -> Stamp:
    """Pixel-integrated Sérsic galaxy (see :func:`~deepbench_hf.sky.profiles.sersic`) in its
    stamp, clipped to ``bounds``.

    Accurate (total flux to ~1e-4, each pixel to < 1 %) for n in [0.5, 6] and
    ``q * r_eff >= ~0.3`` px; ``n`` is accepted in [0.2, 10].
    """
    _check(flux >= 0 and r_eff > 0, f"bad elliptical: flux={flux} r_eff={r_eff}")
    _check(0.2 <= n <= 10, f"Sérsic n must be in [0.2, 10], got {n}")
    _check(0 < q <= 1, f"axis ratio q must be in (0, 1], got {q}")
    return draw_radial(SersicRadial(flux, x0, y0, r_eff, float(n), q, angle), bounds)


def arm_term(
    *, x0: float, y0: float, **params: Any
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The zero-flux arm term of a spiral centred at ``(x0, y0)`` as a grid function
    ``f(xs, ys)`` (1-D columns and rows, px) -> counts/px² of shape ``(len(ys), len(xs))``;
    ``params`` are the keyword arguments of :func:`~deepbench_hf.sky.profiles.spiral_arm_term`."""

    def arms(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        # float32 offsets: the whole arm term then runs in float32 (float64 cos and arctan2
        # cost ~5x more); its phase error stays < 1e-5 rad.
        dx = (xs - x0).astype(np.float32)
        dy = (ys - y0).astype(np.float32)[:, None]
        return spiral_arm_term(dx, dy, **params)

    return arms


def arm_subcells(arm_width: float) -> int:
    """Sub-cells per pixel side of the arm term's cell-average rule: 1 for arms at least 3 px
    wide, 2 for at least 1.5 px, else 3."""
    return 1 if arm_width >= 3.0 else 2 if arm_width >= 1.5 else 3


def draw_spiral(
    *,
    flux: float,
    x0: float,
    y0: float,
    disc_scale: float,
    q: float = 1.0,
    angle: float = 0.0,
    bulge_fraction: float = 0.2,
    bulge_r_eff: float | None = None,
    bulge_n: float = 2.0,
    bulge_q: float = 1.0,
    arm_fraction: float = 0.5,
    arm_count: int = 2,
    winding: float = 3.0,
    pitch: float = 1.0,
    arm_scale: float | None = None,
    arm_width: float = 3.0,
    arm_phase: float = 0.0,
    chirality: int = 1,
    bounds: Bounds,
) -> Stamp:
    """Pixel-integrated spiral galaxy (see :func:`~deepbench_hf.sky.profiles.spiral` for the
    parameters) in its stamp.

    The bulge and the disc are drawn like :func:`draw_elliptical` (the disc as a Sérsic n = 1
    profile with ``r_eff = b_1 h``), the zero-flux arm term on the disc's stamp with the
    cell-average rule on ``m x m`` sub-pixels, m = 1 for ``arm_width >= 3`` px, 2 for >= 1.5 px,
    else 3.
    """
    bulge_r_eff = 0.4 * disc_scale if bulge_r_eff is None else bulge_r_eff
    arm_scale = 2.0 * disc_scale if arm_scale is None else arm_scale
    _check(flux >= 0 and disc_scale > 0 and 0 < q <= 1, "bad spiral flux, disc_scale or q")
    _check(0 <= bulge_fraction <= 1 and 0 <= arm_fraction <= 1, "fractions must be in [0, 1]")
    _check(int(arm_count) == arm_count and arm_count >= 2, "arm_count must be an integer >= 2")
    _check(min(winding, pitch, arm_scale, arm_width, bulge_r_eff) > 0, "spiral scales must be > 0")
    _check(chirality in (1, -1), "chirality must be +1 or -1")
    parts = []
    if bulge_fraction > 0:
        bulge = SersicRadial(
            flux * bulge_fraction, x0, y0, bulge_r_eff, float(bulge_n), bulge_q, angle
        )
        parts.append(draw_radial(bulge, bounds))
    disc_flux = flux * (1.0 - bulge_fraction)
    if disc_flux > 0:
        disc = SersicRadial(disc_flux, x0, y0, sersic_bn(1.0) * disc_scale, 1.0, q, angle)
        disc_stamp = draw_radial(disc, bounds)
        parts.append(disc_stamp)
        if arm_fraction > 0 and not disc_stamp.empty:
            h, w = disc_stamp.data.shape
            box = (disc_stamp.row0, disc_stamp.row0 + h, disc_stamp.col0, disc_stamp.col0 + w)
            arms = arm_term(
                x0=x0,
                y0=y0,
                disc_flux=disc_flux,
                disc_scale=disc_scale,
                q=q,
                angle=angle,
                arm_fraction=arm_fraction,
                arm_count=int(arm_count),
                winding=winding,
                pitch=pitch,
                arm_scale=arm_scale,
                arm_width=arm_width,
                arm_phase=arm_phase,
                chirality=chirality,
            )
            m = arm_subcells(arm_width)
            parts.append(Stamp(cell_average(arms, box, m), box[0], box[2]))
    if not parts:
        return _empty_stamp(x0, y0, bounds)
    return sum_stamps(parts)
