"""Deterministic photon shooting of the cusp of a radial profile (Sérsic n > 1).

Inside an elliptical radius ``rho_c`` (<= 1 px, chosen by the refinement levels of
:mod:`deepbench_hf.sky.integrate`) a profile I is split as I = S + C, with S the paraboloid cap
tangent to I at ``rho_c`` (:func:`tangent_cap`): S is sub-sampled by the cell-average rule, and
the cusp C, whose enclosed flux is analytic, is distributed over the pixels by
:func:`shoot_core`; a cusp that fits inside one pixel (most do: its radius is where the profile's
slope exceeds 6 per pixel) is added to that pixel whole, which is exact and costs a few scalar
operations. The method and its
accuracy are described in :mod:`deepbench_hf.sky.integrate`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from deepbench_hf.sky.integrate import Bounds, Radial, ellipse_half_extents

__all__ = ["shoot_core", "tangent_cap"]

_SHOOT_CELL = 0.05  # largest cell (px) of the polar shooting grid
_SHOOT_RMIN = 1e-3  # px; light inside goes to the centre point


@functools.lru_cache(maxsize=64)
def _shoot_pattern(r_c: float) -> tuple[np.ndarray, ...]:
    """Polar cells of the shot core of major-axis radius ``r_c`` (px), in units of ``r_c``.

    Shell boundaries step inwards by min(0.05 px, 20 %) down to 1e-3 px; each shell has a
    multiple of 4 cells of <= 0.05 px (alternate shells rotated by half a cell). Returns the
    boundaries ``t`` (descending, t[0] = 1), the cell count of each shell, per cell its shell
    index, its centre ``(pu, pv)`` and its radial and tangential edge vectors ``(ru, rv)``,
    ``(tu, tv)`` (``u`` along the major axis, ``v`` before the scaling by q).
    """
    radii = [r_c]
    while radii[-1] > _SHOOT_RMIN:
        radii.append(radii[-1] - min(_SHOOT_CELL, 0.2 * radii[-1]))
    r = np.array(radii)
    counts = np.maximum(8, 4 * np.ceil(2.0 * np.pi * r[:-1] / (4.0 * _SHOOT_CELL))).astype(int)
    t = r / r_c
    t_mid = np.sqrt(0.5 * (t[:-1] ** 2 + t[1:] ** 2))
    shell = np.repeat(np.arange(len(counts)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(shell.size) - first + 0.5 + 0.5 * (shell % 2)
    phi = 2.0 * np.pi * k / counts[shell]
    cos, sin = np.cos(phi), np.sin(phi)
    radial = (t[:-1] - t[1:])[shell]
    tangential = (2.0 * np.pi * t_mid / counts)[shell]
    rm = t_mid[shell]
    out = (
        t,
        counts.astype(float),
        shell,
        np.stack((rm * cos, rm * sin)),
        np.stack((radial * cos, radial * sin)),
        np.stack((-tangential * sin, tangential * cos)),
    )
    for a in out:
        a.setflags(write=False)
    return out


def tangent_cap(p: Radial, rho_c: float) -> tuple[float, float]:
    """``(alpha, beta)`` of the cap ``alpha + beta rho^2`` tangent to I(rho) at ``rho_c``.

    I is convex in rho^2 (Sérsic, Moffat), so the cap lies below I inside ``rho_c``.
    """
    level = float(p.sb(np.float64(rho_c * rho_c)))
    beta = -level * p.slope(rho_c) / (2.0 * rho_c)
    return level - beta * rho_c * rho_c, beta


def _cloud_in_cell(x: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pixel index, overlap fraction with the neighbour and the neighbour's index of boxes of
    centre ``x`` and ``width`` (< 1 px) along one axis (element-wise)."""
    idx = np.floor(x + 0.5)
    half = 0.5 * width
    right = x + half - (idx + 0.5)
    left = (idx - 0.5) - (x - half)
    frac = (np.maximum(right, 0.0) + np.maximum(left, 0.0)) / width
    other = idx + np.where(right > 0.0, 1.0, -1.0)
    return idx.astype(np.intp), frac, other.astype(np.intp)


def shoot_core(p: Radial, rho_c: float, block: Bounds, out: np.ndarray) -> None:
    """Add the flux of ``I - cap`` inside ``rho_c`` (see :func:`tangent_cap`) to ``out`` (pixels of
    ``block``) by deterministic photon shooting of the :func:`_shoot_pattern` cells.

    Each cell is deposited as a box of its flux with the second moments of the cell
    (cloud in cell), which makes the pixel fluxes second-order accurate in the cell size.
    """
    r_c = rho_c * p.a
    if _deposit_whole(p, rho_c, block, out):
        return
    t, counts, shell, centre, radial, tangential = _shoot_pattern(r_c)
    enclosed = _cusp_enclosed(p, t * rho_c, rho_c)
    w = ((enclosed[:-1] - enclosed[1:]) / counts)[shell]
    c, s = math.cos(p.angle), math.sin(p.angle)
    to_image = np.array([[c, -p.q * s], [s, p.q * c]]) * r_c  # (u, v/q) -> (x, y)
    r0, r1, c0, c1 = block
    nr, nc = r1 - r0, c1 - c0
    pos = to_image @ centre
    pos += np.array([[p.x0 - c0], [p.y0 - r0]])
    width = np.sqrt(np.square(to_image @ radial) + np.square(to_image @ tangential))
    idx, frac, other = _cloud_in_cell(pos, width)
    # Rows x columns of the (up to) 2 x 2 pixels each box overlaps, and their weights.
    cols = np.stack((idx[0], other[0]))[None, :, :]
    rows = np.stack((idx[1], other[1]))[:, None, :]
    wx = np.stack((1.0 - frac[0], frac[0]))[None, :, :]
    wy = np.stack((1.0 - frac[1], frac[1]))[:, None, :]
    flat = (rows * nc + cols).ravel()
    wts = (wy * (wx * w)).ravel()
    if not (
        p.x0 - r_c > c0 + 0.5
        and p.x0 + r_c < c1 - 1.5
        and p.y0 - r_c > r0 + 0.5
        and p.y0 + r_c < r1 - 1.5
    ):  # the core is clipped by the allowed region
        rr, cc = np.broadcast_arrays(rows, cols)
        ok = ((cc >= 0) & (cc < nc) & (rr >= 0) & (rr < nr)).ravel()
        flat, wts = flat[ok], wts[ok]
    out += np.bincount(flat, weights=wts, minlength=nr * nc).reshape(nr, nc)
    col, row = math.floor(p.x0 + 0.5) - c0, math.floor(p.y0 + 0.5) - r0
    if 0 <= col < nc and 0 <= row < nr:  # light inside the innermost shell, at the centre
        out[row, col] += enclosed[-1]


def _deposit_whole(p: Radial, rho_c: float, block: Bounds, out: np.ndarray) -> bool:
    """If the ellipse of radius ``rho_c`` lies inside one pixel of ``block``, add the cusp's
    whole (analytic) flux to that pixel -- exact, and most cusps are far smaller than a pixel --
    and return True; otherwise leave ``out`` alone and return False (shoot the cells)."""
    hx, hy = ellipse_half_extents(rho_c * p.a, p.q, p.angle)
    col = math.floor(p.x0 + 0.5)
    row = math.floor(p.y0 + 0.5)
    if math.floor(p.x0 - hx + 0.5) != col or math.floor(p.x0 + hx + 0.5) != col:
        return False
    if math.floor(p.y0 - hy + 0.5) != row or math.floor(p.y0 + hy + 0.5) != row:
        return False
    r0, r1, c0, c1 = block
    if r0 <= row < r1 and c0 <= col < c1:
        out[row - r0, col - c0] += float(_cusp_enclosed(p, rho_c, rho_c))
    return True


def _cusp_enclosed(p: Radial, rho: np.ndarray | float, rho_c: float) -> np.ndarray | float:
    """Flux of the cusp ``I - cap`` (cap tangent at ``rho_c``, :func:`tangent_cap`) inside the
    elliptical radii ``rho <= rho_c``: ``F P(rho) - pi q a^2 rho^2 (alpha + beta rho^2 / 2)``."""
    alpha, beta = tangent_cap(p, rho_c)
    rho2 = np.square(rho)
    cap = math.pi * p.q * p.a * p.a * rho2 * (alpha + 0.5 * beta * rho2)
    return p.flux * p.cdf(rho) - cap
