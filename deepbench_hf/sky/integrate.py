r"""Pixel integration of radial surface-brightness profiles (the machinery of ``draw_*``).

The profiles are defined in :mod:`deepbench_hf.sky.profiles`; the ``draw_*`` functions and their
stamps are in :mod:`deepbench_hf.sky.stamps`, the shooting of Sérsic cusps in
:mod:`deepbench_hf.sky.cusp`.

Pixel integration (``draw_*``)
------------------------------
Each object is drawn in a **stamp**: the bounding box of the ellipse enclosing
:data:`~deepbench_hf.sky.profiles.STAMP_FRACTION` (99.9 %) of its light (analytic: Moffat
enclosed flux, Sérsic via ``gammainc``), clipped to the allowed region. Inside it a profile
:math:`I` is integrated per pixel by the fourth-order cell-average rule

.. math:: \bar I \approx I_0 + \tfrac{1}{24}(I_N + I_S + I_E + I_W - 4 I_0)

(centre value plus the five-point Laplacian; exact for cubics, error ~3e-3 k^4 for a profile of
logarithmic slope k per sample). Where the logarithmic slope of the profile exceeds
:data:`MAX_LOG_SLOPE` per pixel (in the steepest, minor-axis direction), pixels are split into
``4 x 4`` sub-pixels and the same rule is applied on the sub-grid (summed over a pixel's
sub-cells the Laplacian terms telescope to differences across the pixel's boundary); where it
exceeds ``4 * MAX_LOG_SLOPE``, into ``8 x 8`` (up to 32 x 32 for profiles much smaller than a
pixel; a profile whose slope grows outwards, Sérsic n < 1, is refined only if it gets that steep
inside its stamp). Where it still exceeds ``8 * MAX_LOG_SLOPE`` (the core of a Sérsic profile,
whose slope diverges at the centre for n > 1), nested ``16 x 16`` and ``32 x 32`` blocks cover
what lies beyond 1 px, and the profile is split at an elliptical radius
:math:`\rho_c` (<= 1 px) as
:math:`I = S + C` with :math:`S = \alpha + \beta\rho^2` inside :math:`\rho_c` (the paraboloid
tangent to I there, so S is smooth; I is convex in :math:`\rho^2`, so :math:`C \ge 0`) and
:math:`S = I` outside: S is sub-sampled, the cusp C, whose enclosed flux is analytic
(:math:`F\,P(\rho) - \pi q a^2\rho^2(\alpha + \beta\rho^2/2)`), is distributed by deterministic
"photon shooting" of a polar grid of cells of <= 0.05 px with exact cell fluxes, each cell
spread over the pixels it overlaps as a box of the same second moments (a cusp that fits inside
one pixel is added to it whole). Totals are
accurate to ~1e-4 and pixels to < 1 % (checked against Monte-Carlo photon shooting) for Sérsic
n = 0.5-6; there is no randomness, so a stamp depends only on its parameters. The conical peak of
a Sérsic profile with 0.5 < n <= 1 (a kink, where a rule exact for cubics errs by a few % in the
central pixel whatever the slope) is sub-sampled ``4 x 4`` within 1.5 px (minor axis) of the
centre.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy import special

from deepbench_hf.sky.profiles import moffat_quantile, sersic_bn, sersic_radius

__all__ = [
    "MAX_LOG_SLOPE",
    "Bounds",
    "GridFn",
    "MoffatRadial",
    "Radial",
    "SersicRadial",
    "cell_average",
    "ellipse_half_extents",
    "refinement_levels",
]

MAX_LOG_SLOPE = 0.75
"""Largest logarithmic slope (per sample spacing) integrated by the cell-average rule."""

_SUB_LEVELS = (4, 8)  # sub-sampling of the successive refinement blocks
_SUB_MAX = 32  # largest sub-sampling (profiles much smaller than a pixel)
_LEVEL_FRACTION = 0.999  # refinement blocks extend at most to the radius enclosing this
_SHOOT_RMAX = 1.0  # px; largest radius of the shot core
_KINK_PX = 1.5  # px along the minor axis: the block sub-sampled around a conical peak
_KINK_SLOPE = 0.1  # log-slope per px above which a conical peak gets that block
_KINK_SUB = 4  # its sub-sampling

Bounds = tuple[int, int, int, int]
"""Pixel region ``(row_lo, row_hi, col_lo, col_hi)`` (``hi`` exclusive)."""

GridFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------------
# Cell-average rule
# --------------------------------------------------------------------------------------------


def cell_average(func: GridFn, box: Bounds, m: int) -> np.ndarray:
    """Integral of ``func`` over each pixel of ``box`` with ``m x m`` sub-cells per pixel.

    ``func(xs, ys)`` evaluates the surface brightness on the grid ``xs`` (1-D, columns) x ``ys``
    (1-D, rows) and returns an array of shape ``(len(ys), len(xs))``. Each sub-cell of side
    ``h = 1/m`` integrates to ``h^2 (P + L / 24)`` with ``P`` its centre value and ``L`` the
    five-point Laplacian (sum of the 4 neighbours - 4 P). Summed over the sub-cells of a pixel the
    ``L`` terms telescope to the differences across the pixel's boundary (outside - inside
    neighbours), which is what is computed (one extra sample around the box).
    """
    r0, r1, c0, c1 = box
    nr, nc = r1 - r0, c1 - c0
    if m == 1:  # pixel centres: integers
        xs = np.arange(c0 - 1, c1 + 1, dtype=np.float64)
        ys = np.arange(r0 - 1, r1 + 1, dtype=np.float64)
    else:
        h = 1.0 / m
        xs = np.arange(-1, nc * m + 1) * h + ((c0 - 0.5) + 0.5 * h)
        ys = np.arange(-1, nr * m + 1) * h + ((r0 - 0.5) + 0.5 * h)
    p = func(xs, ys)
    if m == 1:
        out = p[:-2, 1:-1] + p[2:, 1:-1]
        out += p[1:-1, :-2]
        out += p[1:-1, 2:]
        out += p[1:-1, 1:-1] * 20.0
        out *= 1.0 / 24.0
        return out
    # total = h^2 [S p S'^T + (D p S'^T + S p D'^T) / 24] with S summing a pixel's m inside
    # sub-samples and D its boundary differences (see _rule_matrices): three small matmuls.
    left = _rule_matrices(nr, m)[0]
    right, inside = _rule_matrices(nc, m)[1:]
    lp = left @ p
    out = lp[:nr] @ right
    out += lp[nr:] @ inside
    return out


@functools.lru_cache(maxsize=1024)
def _rule_matrices(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrices of the cell-average rule on one axis of ``n`` pixels of ``m`` sub-samples
    (``n m + 2`` samples: one outside each end), float32, read-only.

    With ``S`` (``n x (n m + 2)``) summing each pixel's m inside samples and ``D`` its boundary
    differences (+1 outside before, -1 first inside, -1 last inside, +1 outside after), returns
    ``h^2 [S; D / 24]`` (the row side), ``(S + D / 24)^T`` and ``S^T`` (the column side), so that
    ``total = L[:n] @ R + L[n:] @ S^T`` with ``L = left @ p``.
    """
    size = n * m + 2
    inside = np.zeros((n, size))
    diff = np.zeros((n, size))
    for i in range(n):
        inside[i, 1 + i * m : 1 + (i + 1) * m] = 1.0
        diff[i, i * m] += 1.0
        diff[i, 1 + i * m] -= 1.0
        diff[i, (i + 1) * m] -= 1.0
        diff[i, (i + 1) * m + 1] += 1.0
    h2 = 1.0 / (m * m)
    out = (
        (np.vstack((inside, diff / 24.0)) * h2).astype(np.float32),
        np.ascontiguousarray((inside + diff / 24.0).T, dtype=np.float32),
        np.ascontiguousarray(inside.T, dtype=np.float32),
    )
    for a in out:
        a.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# Radial profiles
# --------------------------------------------------------------------------------------------


class Radial:
    """A profile I(rho) of the elliptical radius rho = sqrt((u/a)^2 + (v/(q a))^2)."""

    def __init__(self, flux: float, x0: float, y0: float, a: float, q: float, angle: float):
        self.flux, self.x0, self.y0, self.a, self.q, self.angle = flux, x0, y0, a, q, angle
        c, s = math.cos(angle), math.sin(angle)
        ia2, ib2 = 1.0 / (a * a), 1.0 / (q * a) ** 2
        self._cxx = c * c * ia2 + s * s * ib2
        self._cyy = s * s * ia2 + c * c * ib2
        self._cxy = 2.0 * c * s * (ia2 - ib2)

    def rho2(self, xs: np.ndarray, ys: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``scale * rho^2`` on the grid xs (columns) x ys (rows), float32.

        Circular profiles (no cross term) take one outer sum of 1-D terms.
        """
        dx = (xs - self.x0).astype(np.float32)
        dy = (ys - self.y0).astype(np.float32)
        col = (scale * self._cxx) * dx * dx
        row = (scale * self._cyy) * dy * dy
        if self._cxy == 0.0:
            return np.add.outer(row, col)
        out = np.multiply.outer(dy, (scale * self._cxy) * dx)
        out += row[:, None]
        out += col
        return out

    def grid(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Surface brightness (counts/px², float32) on the grid xs (columns) x ys (rows)."""
        return self.sb(self.rho2(xs, ys))

    # The subclasses define: sb(rho2); slope(rho) = -dlnI/drho; steep(s): the largest rho where
    # slope / (q a) > s (inf if it stays above s outwards, 0 if nowhere); max_slope(rho): the
    # largest slope / (q a) within rho; cdf(rho); quantile(fraction).
    def sb(self, rho2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def slope(self, rho: float) -> float:
        raise NotImplementedError

    def steep(self, s: float) -> float:
        raise NotImplementedError

    def max_slope(self, rho: float) -> float:
        raise NotImplementedError

    def cdf(self, rho: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def quantile(self, fraction: float) -> float:
        raise NotImplementedError


class SersicRadial(Radial):
    """A Sérsic profile of total ``flux`` (counts) centred at ``(x0, y0)`` (px), half-light radius
    ``r_eff`` (px, major axis: ``a``), index ``n``, axis ratio ``q`` and major-axis ``angle``
    (rad from +x towards +y), as :func:`deepbench_hf.sky.profiles.sersic`."""

    def __init__(self, flux, x0, y0, r_eff, n, q, angle):
        super().__init__(flux, x0, y0, r_eff, q, angle)
        self.n, self.b = n, sersic_bn(n)
        self.cuspy = n > 1.0
        self.kinked = 0.5 < n <= 1.0
        log_norm = math.log(2.0 * math.pi * n * q * r_eff * r_eff) - 2.0 * n * math.log(self.b)
        self.peak = flux * math.exp(-log_norm - math.lgamma(2.0 * n))  # I_e e^b
        self._log_peak = math.log(self.peak) if self.peak > 0 else -math.inf

    def sb(self, rho2):
        if rho2.dtype == np.float32:
            out = np.power(rho2, np.float32(0.5 / self.n))
            out *= -self.b
            out += self._log_peak
            return np.exp(out, out=out)
        return self.peak * np.exp(-self.b * rho2 ** (0.5 / self.n))

    def grid(self, xs, ys):
        # exp(log_peak - (b^(2n) rho^2)^(1/2n)): the factor b folded into the quadratic form.
        if not self.peak > 0:
            return super().grid(xs, ys)
        out = self.rho2(xs, ys, scale=self.b ** (2.0 * self.n))
        np.power(out, np.float32(0.5 / self.n), out=out)
        np.subtract(np.float32(self._log_peak), out, out=out)
        return np.exp(out, out=out)

    def slope(self, rho):
        return (self.b / self.n) * rho ** (1.0 / self.n - 1.0)

    def steep(self, s):
        k, n = self.b / (self.n * self.q * self.a), self.n  # slope per px = k rho^(1/n - 1)
        if n > 1.0:
            exponent = n / (n - 1.0)  # huge for n just above 1: work in logs to avoid overflow
            log_radius = exponent * math.log(k / s)
            return math.inf if log_radius > 700.0 else math.exp(log_radius)
        if n == 1.0:
            return math.inf if k > s else 0.0
        return math.inf  # increasing slope: steep outwards of (s / k)^(n / (1 - n))

    def max_slope(self, rho):
        return self.slope(rho) / (self.q * self.a) if self.n <= 1.0 else math.inf

    def cdf(self, rho):
        return special.gammainc(2.0 * self.n, self.b * rho ** (1.0 / self.n))

    def quantile(self, fraction):
        return sersic_radius(r_eff=1.0, n=self.n, fraction=fraction)


class MoffatRadial(Radial):
    """A circular Moffat profile of total ``flux`` (counts) centred at ``(x0, y0)`` (px), FWHM
    ``fwhm`` (px) and index ``beta`` (``a`` is its core radius gamma), as
    :func:`deepbench_hf.sky.profiles.moffat`."""

    def __init__(self, flux, x0, y0, fwhm, beta):
        gamma = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))  # moffat_gamma, in math
        super().__init__(flux, x0, y0, gamma, 1.0, 0.0)
        self.fwhm, self.beta = fwhm, beta
        self.cuspy = self.kinked = False
        self.peak = flux * (beta - 1.0) / (math.pi * gamma * gamma)

    def sb(self, rho2):
        out = rho2 + 1.0
        np.power(out, -self.beta, out=out)
        out *= self.peak
        return out

    def grid(self, xs, ys):
        # (c + c rho^2)^(-beta) with c = peak^(-1/beta): one outer sum and one power.
        if not self.peak > 0:
            return super().grid(xs, ys)
        c = self.peak ** (-1.0 / self.beta)
        dx = (xs - self.x0).astype(np.float32)
        dy = (ys - self.y0).astype(np.float32)
        # A star too faint for float32 (c beyond its range) overflows to inf, and inf^-beta is
        # the 0 its light rounds to: no warning.
        with np.errstate(over="ignore"):
            out = np.add.outer((c * self._cyy) * dy * dy + c, (c * self._cxx) * dx * dx)
        return np.power(out, np.float32(-self.beta), out=out)

    def slope(self, rho):
        return 2.0 * self.beta * rho / (1.0 + rho * rho)

    def steep(self, s):
        c = 2.0 * self.beta / (s * self.a)  # slope per px > s  <=>  rho^2 - c rho + 1 < 0
        return 0.5 * (c + math.sqrt(c * c - 4.0)) if c > 2.0 else 0.0

    def max_slope(self, rho):
        return self.slope(min(rho, 1.0)) / self.a

    def cdf(self, rho):
        return 1.0 - (1.0 + rho * rho) ** (1.0 - self.beta)

    def quantile(self, fraction):
        return moffat_quantile(self.beta, fraction)


# --------------------------------------------------------------------------------------------
# Refinement levels
# --------------------------------------------------------------------------------------------


def ellipse_half_extents(radius: float, q: float, angle: float) -> tuple[float, float]:
    """Half-widths along x and y (px) of the ellipse of semi-axes ``radius`` and ``q * radius``
    whose major axis is at ``angle`` (rad, from +x towards +y)."""
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    return radius * math.hypot(c, q * s), radius * math.hypot(s, q * c)


def _quantise_up(r: float) -> float:
    """Round ``r`` up to a power of 2**(1/8) (so that shooting patterns are reused)."""
    return 2.0 ** (math.ceil(8.0 * math.log2(r) - 1e-9) / 8.0)


def refinement_levels(p: Radial) -> tuple[list[tuple[int, float]], float]:
    """Refinement levels ``[(m, rho), ...]`` and the radius ``rho_c`` of the shot cusp (or 0).

    Level ``m`` covers the ellipse where the log-slope per pixel exceeds ``MAX_LOG_SLOPE`` times
    the previous level's sub-sampling (1, then 4) and that holds > 1e-5 of the flux, out to at
    most the stamp radius (a profile whose slope grows outwards is refined only if it gets that
    steep inside the stamp). The cusp of a profile whose slope diverges at the centre (Sérsic
    n > 1) is shot where the slope exceeds ``MAX_LOG_SLOPE * m`` per pixel (at most 1 px), with
    nested 16 x 16 and 32 x 32 blocks between 1 px and where ``m = 8`` stops sufficing; a
    kinked profile gets its central block (:func:`_with_kink_block`).
    """
    rho_cap = p.quantile(_LEVEL_FRACTION)
    levels: list[tuple[int, float]] = []
    prev = 1
    for m in _SUB_LEVELS:
        rho = min(p.steep(MAX_LOG_SLOPE * prev), rho_cap)
        # (a profile whose slope grows outwards, Sérsic n < 1, is steep on an annulus out to
        # rho_cap: refine only if it gets that steep inside the stamp at all)
        if rho <= 0.0 or p.cdf(rho) < 1e-5 or p.max_slope(rho) <= MAX_LOG_SLOPE * prev:
            break
        prev = m
        levels.append((m, rho))
    rho_c = 0.0
    if not levels:
        return _with_kink_block(p, levels, rho_cap), rho_c
    m, rho = levels[-1]
    if p.cuspy and len(levels) == len(_SUB_LEVELS):
        # Nested blocks of 16, 32 sub-samples where even m is too coarse but the shot cusp
        # (<= 1 px) does not reach: far cheaper than sampling the whole m = 8 block finer.
        while m < _SUB_MAX:
            rho_next = min(p.steep(MAX_LOG_SLOPE * m), rho_cap)
            if rho_next * p.a <= _SHOOT_RMAX:
                break
            m *= 2
            levels.append((m, rho_next))
            rho = rho_next
        rho_c = min(p.steep(MAX_LOG_SLOPE * m), rho_cap)
        rho_c = min(_quantise_up(rho_c * p.a), _SHOOT_RMAX) / p.a
        need = math.ceil(p.slope(rho_c) / (p.q * p.a * MAX_LOG_SLOPE))
        levels[-1] = (int(min(_SUB_MAX, max(m, need))), max(rho, rho_c))
    elif not p.cuspy:  # tiny smooth profiles: finer sampling where they are steep
        need = math.ceil(p.max_slope(rho) / MAX_LOG_SLOPE)
        levels[-1] = (int(min(_SUB_MAX, max(m, need))), rho)
    return _with_kink_block(p, levels, rho_cap), rho_c


def _with_kink_block(
    p: Radial, levels: list[tuple[int, float]], rho_cap: float
) -> list[tuple[int, float]]:
    """Add a ``4 x 4`` block (:data:`_KINK_SUB`) within 1.5 px (:data:`_KINK_PX`, minor axis)
    of the centre of a profile with a kink there (Sérsic 0.5 < n <= 1: a conical peak, where the
    cell-average rule, exact for cubics, is off by up to a few % in the central pixel even though
    the slope is small), unless a block at least as fine already covers it."""
    if not p.kinked:
        return levels
    rho_k = min(_KINK_PX / (p.q * p.a), rho_cap)
    if p.slope(rho_k) / (p.q * p.a) <= _KINK_SLOPE:
        return levels
    if any(m >= _KINK_SUB and rho >= rho_k for m, rho in levels):
        return levels
    return sorted([*levels, (_KINK_SUB, rho_k)], key=lambda level: (level[0], -level[1]))
