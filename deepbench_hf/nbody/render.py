r"""Images of N-body systems (the ``render`` option of the ``nbody`` kind): pure numpy functions of
masses and positions.

Projection onto the x-y plane (``z`` is dropped in 3-D): **x → column, y → row**, the centre of
mass (the origin) at the frame centre, and ``extent`` length units from the centre to the nearest
frame edge::

    col = (W - 1) / 2 + x * s,   row = (H - 1) / 2 + y * s,   s = min(H, W) / (2 * extent) px

Each body is a circular Moffat star (FWHM ``fwhm`` px, index ``beta``) of flux
``m_i / sum(m)``, so a frame holding every body sums to 1 (light falling outside is lost).

* ``final``: the bodies at the last output time, each drawn pixel-integrated with
  :func:`deepbench_hf.sky.stamps.draw_star`.
* ``tracks``: a time exposure from the first to the last output time: each body's path,
  linearly interpolated between output times at most 0.25 px apart (at most 64 points per
  interval), is deposited cloud-in-cell with equal weight per unit time (trapezoid rule) and
  convolved with the same Moffat profile sampled as a kernel
  (:func:`deepbench_hf.sky.psf.convolve`); brightness along a track is proportional to the
  body's mass and to the time it spends there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sky.psf import PSF, convolve
from ..sky.stamps import draw_star, frame_bounds

__all__ = ["TRACK_MAX_POINTS", "TRACK_SPACING", "project", "render_final", "render_tracks"]

TRACK_SPACING = 0.25
"""Largest spacing (px) of the interpolated points of a track."""
TRACK_MAX_POINTS = 64
"""Most interpolated points per output interval of a track."""


def project(positions: np.ndarray, height: int, width: int, extent: float) -> np.ndarray:
    """Pixel coordinates ``(..., 2)`` = (col, row) of positions ``(..., D)`` (module docstring)."""
    s = min(height, width) / (2.0 * extent)
    col = (width - 1) / 2.0 + positions[..., 0] * s
    row = (height - 1) / 2.0 + positions[..., 1] * s
    return np.stack([col, row], axis=-1)


def render_final(
    masses: np.ndarray, positions: np.ndarray, height: int, width: int, opts: dict[str, Any]
) -> np.ndarray:
    """The bodies at ``positions`` ``(N, D)`` as Moffat stars, float32 ``(H, W)``."""
    px = project(positions, height, width, opts["extent"])
    flux = masses / masses.sum()
    image = np.zeros((height, width))
    bounds = frame_bounds((height, width))
    for (col, row), f in zip(px, flux, strict=True):
        if not (math.isfinite(col) and math.isfinite(row)):
            continue
        stamp = draw_star(
            flux=float(f),
            x0=float(col),
            y0=float(row),
            fwhm=opts["fwhm"],
            beta=opts["beta"],
            bounds=bounds,
        )
        if not stamp.empty:
            image[stamp.slices] += stamp.data
    return image.astype(np.float32)


def render_tracks(
    masses: np.ndarray, positions: np.ndarray, height: int, width: int, opts: dict[str, Any]
) -> np.ndarray:
    """Time exposure of the tracks ``positions`` ``(T, N, D)``, float32 ``(H, W)``."""
    psf = PSF(fwhm=opts["fwhm"], kind="moffat", beta=opts["beta"])
    k = psf.radius
    px = project(positions, height, width, opts["extent"]) + k  # padded-canvas coordinates
    t, n = px.shape[:2]
    if t > 1:
        seg = px[1:] - px[:-1]  # (T-1, N, 2)
        longest = float(np.nanmax(np.hypot(seg[..., 0], seg[..., 1]), initial=0.0))
        s = int(min(max(math.ceil(longest / TRACK_SPACING), 1), TRACK_MAX_POINTS))
        frac = np.arange(s) / s
        pts = px[:-1, None] + seg[:, None] * frac[None, :, None, None]  # (T-1, S, N, 2)
        pts = np.concatenate([pts.reshape(-1, n, 2), px[-1:]], axis=0)  # (P, N, 2)
        w = np.ones(pts.shape[0])
        w[0] = w[-1] = 0.5
    else:
        pts, w = px, np.ones(1)
    weights = (w / w.sum())[:, None] * (masses / masses.sum())[None, :]
    hp, wp = height + 2 * k, width + 2 * k
    canvas = _cloud_in_cell(pts.reshape(-1, 2), weights.reshape(-1), hp, wp)
    image = convolve(canvas, psf, mode="same")[k : k + height, k : k + width]
    return image.astype(np.float32)


def _cloud_in_cell(pts: np.ndarray, weights: np.ndarray, height: int, width: int) -> np.ndarray:
    """Deposit weighted points (col, row) bilinearly onto the pixel centres of a frame."""
    # only points that reach a pixel (NaN compares false); far ones would overflow int64
    col, row = pts[:, 0], pts[:, 1]
    ok = (col > -1.0) & (col < width) & (row > -1.0) & (row < height)
    pts, weights = pts[ok], weights[ok]
    c0 = np.floor(pts[:, 0])
    r0 = np.floor(pts[:, 1])
    fc = pts[:, 0] - c0
    fr = pts[:, 1] - r0
    c0 = c0.astype(np.int64)
    r0 = r0.astype(np.int64)
    idx, wts = [], []
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            idx.append((r * width + c)[inside])
            wts.append((weights * wr * wc)[inside])
    flat = np.bincount(np.concatenate(idx), np.concatenate(wts), minlength=height * width)
    return flat.reshape(height, width)
