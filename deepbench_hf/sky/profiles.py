r"""Surface-brightness profiles of stars and galaxies, and their pixel-integrated stamps.

Conventions
-----------
* ``image[row, col]``; **x = column, y = row**, 0-based, pixel centres at integer coordinates
  (pixel ``(r, c)`` covers ``x`` in ``[c - 0.5, c + 0.5]`` and ``y`` in ``[r - 0.5, r + 0.5]``).
* Angles in radians, from +x towards +y.
* ``flux`` is the total number of counts (ADU) of the object over the whole plane. The point
  functions (:func:`moffat`, :func:`sersic`, :func:`spiral`) return surface brightness in
  counts/px² at arbitrary points; the ``draw_*`` functions return :class:`Stamp` s holding counts
  per pixel, i.e. the profile integrated over each pixel.

Profiles
--------
* Star: Moffat, :math:`I(r) = \frac{F(\beta - 1)}{\pi\gamma^2}(1 + r^2/\gamma^2)^{-\beta}`,
  :math:`\gamma = \mathrm{FWHM} / (2\sqrt{2^{1/\beta} - 1})` (astropy ``Moffat2D`` with
  ``alpha = beta`` and ``amplitude = F(beta - 1)/(pi gamma^2)``).
* Elliptical galaxy: Sérsic, :math:`I = I_e \exp(-b_n[(\rho)^{1/n} - 1])` with the elliptical
  radius :math:`\rho^2 = (u/r_e)^2 + (v/(q r_e))^2` (``u`` along the major axis at ``angle``,
  ``v`` along the minor axis), :math:`b_n` = ``gammaincinv(2n, 1/2)`` and
  :math:`F = 2\pi n q r_e^2 I_e e^{b_n} b_n^{-2n}\Gamma(2n)` (astropy ``Sersic2D`` with
  ``ellip = 1 - q``, ``theta = angle``, ``amplitude = I_e``).
* Spiral galaxy: Sérsic bulge + exponential disc + logarithmic spiral arms of Ringermacher &
  Mead (2009), see :func:`spiral`.

Pixel integration (``draw_*``)
------------------------------
Each object is drawn in a **stamp**: the bounding box of the ellipse enclosing
:data:`STAMP_FRACTION` (99.9 %) of its light (analytic: Moffat enclosed flux, Sérsic via
``gammainc``), clipped to the allowed region. Inside it a profile :math:`I` is integrated per pixel
by the fourth-order cell-average rule

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
spread over the pixels it overlaps as a box of the same second moments. Totals are
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
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = [
    "MAX_LOG_SLOPE",
    "STAMP_FRACTION",
    "Stamp",
    "draw_elliptical",
    "draw_spiral",
    "draw_star",
    "frame_bounds",
    "moffat",
    "moffat_enclosed",
    "moffat_gamma",
    "moffat_radius",
    "sersic",
    "sersic_amplitude",
    "sersic_bn",
    "sersic_enclosed",
    "sersic_radius",
    "spiral",
    "spiral_arm_angle",
    "sum_stamps",
]

STAMP_FRACTION = 0.999
"""Fraction of an object's light enclosed by its stamp (the flux lost outside is < 0.1 %)."""

MAX_LOG_SLOPE = 0.75
"""Largest logarithmic slope (per sample spacing) integrated by the cell-average rule."""

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

_SUB_LEVELS = (4, 8)  # sub-sampling of the successive refinement blocks
_SUB_MAX = 32  # largest sub-sampling (profiles much smaller than a pixel)
_LEVEL_FRACTION = 0.999  # refinement blocks extend at most to the radius enclosing this
_SHOOT_CELL = 0.05  # largest cell (px) of the polar shooting grid
_SHOOT_RMIN = 1e-3  # px; light inside goes to the centre point
_SHOOT_RMAX = 1.0  # px; largest radius of the shot core
_KINK_PX = 1.5  # px along the minor axis: the block sub-sampled around a conical peak
_KINK_SLOPE = 0.1  # log-slope per px above which a conical peak gets that block
_KINK_SUB = 4  # its sub-sampling

Bounds = tuple[int, int, int, int]


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


def _ellipse_box(
    x0: float, y0: float, radius: float, q: float, angle: float, bounds: Bounds, pad: float = 0.0
) -> Bounds | None:
    """Pixels overlapping the bounding box of an ellipse (semi-axes radius, q*radius), clipped."""
    c, s = abs(math.cos(angle)), abs(math.sin(angle))
    hx = radius * math.hypot(c, q * s) + pad
    hy = radius * math.hypot(s, q * c) + pad
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
# Moffat
# --------------------------------------------------------------------------------------------


def moffat_gamma(fwhm: ArrayLike, beta: ArrayLike) -> np.ndarray | float:
    r"""Moffat core width :math:`\gamma = \mathrm{FWHM} / (2\sqrt{2^{1/\beta} - 1})` (px)."""
    return np.asarray(fwhm) / (2.0 * np.sqrt(np.exp2(1.0 / np.asarray(beta)) - 1.0))


def moffat(
    x: ArrayLike,
    y: ArrayLike,
    *,
    flux: ArrayLike,
    x0: ArrayLike,
    y0: ArrayLike,
    fwhm: ArrayLike,
    beta: ArrayLike,
) -> np.ndarray:
    r"""Surface brightness of a circular Moffat profile (a star), counts/px².

    .. math::
        I(x, y) = \frac{F(\beta - 1)}{\pi\gamma^2}
        \left(1 + \frac{(x - x_0)^2 + (y - y_0)^2}{\gamma^2}\right)^{-\beta},
        \qquad \gamma = \frac{\mathrm{FWHM}}{2\sqrt{2^{1/\beta} - 1}}

    Equal to astropy's ``Moffat2D(amplitude=F(beta-1)/(pi gamma^2), x_0, y_0, gamma,
    alpha=beta)``. All arguments broadcast (numpy rules).

    Parameters
    ----------
    x, y
        Positions (px; x = column, y = row).
    flux
        Total flux F (counts) integrated over the plane.
    x0, y0
        Centre (px).
    fwhm
        Full width at half maximum (px), > 0.
    beta
        Power index, > 1 (the total flux diverges for beta <= 1).
    """
    beta = np.asarray(beta, dtype=float)
    if np.any(beta <= 1.0):
        raise ValueError(f"Moffat beta must be > 1, got {beta}")
    gamma = moffat_gamma(fwhm, beta)
    rr = ((np.asarray(x) - x0) ** 2 + (np.asarray(y) - y0) ** 2) / gamma**2
    return np.asarray(flux) * (beta - 1.0) / (np.pi * gamma**2) * (1.0 + rr) ** (-beta)


def moffat_enclosed(radius: ArrayLike, *, fwhm: float, beta: float) -> np.ndarray | float:
    r"""Fraction of a Moffat profile's flux within ``radius`` (px):
    :math:`1 - (1 + r^2/\gamma^2)^{1-\beta}`."""
    gamma = moffat_gamma(fwhm, beta)
    return 1.0 - (1.0 + (np.asarray(radius) / gamma) ** 2) ** (1.0 - beta)


def moffat_radius(*, fwhm: float, beta: float, fraction: float = STAMP_FRACTION) -> float:
    r"""Radius (px) enclosing ``fraction`` of a Moffat profile's flux (inverse of
    :func:`moffat_enclosed`): :math:`\gamma\sqrt{(1-f)^{1/(1-\beta)} - 1}`."""
    return float(moffat_gamma(fwhm, beta) * math.sqrt((1.0 - fraction) ** (1.0 / (1.0 - beta)) - 1))


# --------------------------------------------------------------------------------------------
# Sérsic
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _bn_scalar(n: float) -> float:
    return float(special.gammaincinv(2.0 * n, 0.5))


def sersic_bn(n: ArrayLike) -> np.ndarray | float:
    r""":math:`b_n` = ``gammaincinv(2n, 1/2)``: the radius ``r_eff`` encloses half the light.

    Scalars are cached on their exact value.
    """
    if np.ndim(n) == 0:
        return _bn_scalar(float(n))
    return special.gammaincinv(2.0 * np.asarray(n, dtype=float), 0.5)


def sersic_amplitude(
    *, flux: ArrayLike, r_eff: ArrayLike, n: ArrayLike, q: ArrayLike
) -> np.ndarray | float:
    r"""Surface brightness :math:`I_e` (counts/px²) at ``r_eff`` of a Sérsic profile of total
    ``flux``: :math:`I_e = F / (2\pi n q r_e^2 e^{b_n} b_n^{-2n} \Gamma(2n))`."""
    n = np.asarray(n, dtype=float)
    b = sersic_bn(n)
    log_norm = np.log(2.0 * np.pi * n * np.asarray(q) * np.asarray(r_eff) ** 2)
    log_norm = log_norm + b - 2.0 * n * np.log(b) + special.gammaln(2.0 * n)
    return np.asarray(flux) * np.exp(-log_norm)


def sersic(
    x: ArrayLike,
    y: ArrayLike,
    *,
    flux: ArrayLike,
    x0: ArrayLike,
    y0: ArrayLike,
    r_eff: ArrayLike,
    n: ArrayLike,
    q: ArrayLike,
    angle: ArrayLike,
) -> np.ndarray:
    r"""Surface brightness of an elliptical Sérsic profile, counts/px².

    .. math::
        I = I_e \exp\left(-b_n\left[\rho^{1/n} - 1\right]\right), \quad
        \rho^2 = \left(\frac{u}{r_e}\right)^2 + \left(\frac{v}{q r_e}\right)^2,

    with :math:`u = \Delta x\cos\theta + \Delta y\sin\theta`,
    :math:`v = -\Delta x\sin\theta + \Delta y\cos\theta`, :math:`b_n` = ``gammaincinv(2n, 1/2)``
    and :math:`I_e` from :func:`sersic_amplitude`, so that the total flux is ``flux``.
    Equal to astropy's ``Sersic2D(amplitude=I_e, r_eff, n, x_0, y_0, ellip=1 - q,
    theta=angle)``. All arguments broadcast (numpy rules).

    Parameters
    ----------
    x, y
        Positions (px; x = column, y = row).
    flux
        Total flux (counts).
    x0, y0
        Centre (px).
    r_eff
        Half-light radius along the major axis (px), > 0.
    n
        Sérsic index (0.5 Gaussian, 1 exponential, 4 de Vaucouleurs); tested for 0.5-6.
    q
        Axis ratio b/a in (0, 1] (astropy's ``ellip = 1 - q``).
    angle
        Position angle of the major axis (rad, from +x towards +y).
    """
    b = sersic_bn(n)
    i_e = sersic_amplitude(flux=flux, r_eff=r_eff, n=n, q=q)
    dx = np.asarray(x) - x0
    dy = np.asarray(y) - y0
    c, s = np.cos(angle), np.sin(angle)
    u = (dx * c + dy * s) / r_eff
    v = (dy * c - dx * s) / (np.asarray(q) * r_eff)
    rho = np.hypot(u, v)
    return i_e * np.exp(-b * (rho ** (1.0 / np.asarray(n, dtype=float)) - 1.0))


def sersic_enclosed(rho: ArrayLike, *, n: float) -> np.ndarray | float:
    r"""Fraction of a Sérsic profile's flux inside the ellipse of elliptical radius ``rho``
    (in units of ``r_eff`` along the major axis): :math:`P(2n, b_n\rho^{1/n})`."""
    return special.gammainc(2.0 * n, sersic_bn(n) * np.asarray(rho) ** (1.0 / n))


@functools.lru_cache(maxsize=4096)
def _sersic_rho(n: float, fraction: float) -> float:
    return (float(special.gammaincinv(2.0 * n, fraction)) / _bn_scalar(n)) ** n


def sersic_radius(*, r_eff: float, n: float, fraction: float = STAMP_FRACTION) -> float:
    r"""Major-axis radius (px) of the ellipse enclosing ``fraction`` of a Sérsic profile's flux:
    :math:`r_e\,[P^{-1}(2n, f) / b_n]^n`."""
    return r_eff * _sersic_rho(float(n), float(fraction))


# --------------------------------------------------------------------------------------------
# Spiral
# --------------------------------------------------------------------------------------------


def spiral_arm_angle(
    r: ArrayLike, *, winding: ArrayLike, pitch: ArrayLike, arm_scale: ArrayLike
) -> np.ndarray:
    r"""Azimuth :math:`\phi(r)` (rad) of a Ringermacher & Mead (2009) arm at disc radius ``r``.

    Inverse of :math:`r(\phi) = A / \ln[B\tan(\phi / 2N)]`:
    :math:`\phi(r) = 2N\arctan(e^{A/r} / B)`, decreasing from :math:`N\pi` at the centre to
    :math:`2N\arctan(1/B)` at infinity (a total winding of :math:`2N\arctan B`).
    ``winding`` = N, ``pitch`` = B, ``arm_scale`` = A (px).
    """
    with np.errstate(divide="ignore"):
        z = np.minimum(np.asarray(arm_scale) / np.asarray(r, dtype=float), 300.0)
    return 2.0 * np.asarray(winding) * np.arctan(np.exp(z) / pitch)


_LORENTZ2_FWHM = 2.0 * math.sqrt(math.sqrt(2.0) - 1.0)  # FWHM / HWHM of a squared Lorentzian


def _arm_modulation(
    dx: np.ndarray,
    dy: np.ndarray,
    *,
    disc_flux: ArrayLike,
    disc_scale: ArrayLike,
    q: ArrayLike,
    angle: ArrayLike,
    arm_fraction: ArrayLike,
    arm_count: ArrayLike,
    winding: ArrayLike,
    pitch: ArrayLike,
    arm_scale: ArrayLike,
    arm_width: ArrayLike,
    arm_phase: ArrayLike,
    chirality: ArrayLike,
) -> np.ndarray:
    """Arm term ``f D (A - 1)`` of :func:`spiral` at offsets (dx, dy) (counts/px²).

    Computed in the floating type of ``dx`` and ``dy`` (float32 when rendering): scalar
    parameters are used as Python floats, which do not promote arrays.
    """
    f, h, q, angle, m = (_weak(v) for v in (arm_fraction, disc_scale, q, angle, arm_count))
    n, b, a, w = (_weak(v) for v in (winding, pitch, arm_scale, arm_width))
    c, s = _weak(np.cos(angle)), _weak(np.sin(angle))
    u = dx * c + dy * s
    v = (dy * c - dx * s) * (_weak(chirality) / q)
    r = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    with np.errstate(divide="ignore", over="ignore"):
        t = np.exp(np.minimum(a / r, 80.0)) / b
        phi = np.arctan(t) * (2.0 * n)
        tan_psi = r * (t + 1.0 / t) / (2.0 * a * n)
        width = r / np.sqrt(1.0 + 1.0 / (tan_psi * tan_psi))  # r sin(psi)
        g = (0.5 * m * w / _LORENTZ2_FWHM) / width  # half the HWHM of P, in units of m*dphi
        rho = 1.0 / (np.sqrt(g * g + 1.0) + g)
    rho *= rho  # the Poisson-kernel parameter
    rho2 = rho * rho
    denom = 1.0 + rho2 - 2.0 * rho * np.cos(m * (theta - _weak(arm_phase) - phi))
    one = 1.0 - rho2
    pattern = one * one * one / ((1.0 + rho2) * denom * denom)
    disc = (_weak(disc_flux) / (2.0 * np.pi * q * h * h)) * np.exp(r * (-1.0 / h))
    return (f * disc) * (pattern - 1.0)


def _weak(value: ArrayLike) -> float | np.ndarray:
    """A 0-d value as a Python float (no dtype promotion), anything else as an array."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def spiral(
    x: ArrayLike,
    y: ArrayLike,
    *,
    flux: ArrayLike,
    x0: ArrayLike,
    y0: ArrayLike,
    disc_scale: ArrayLike,
    q: ArrayLike = 1.0,
    angle: ArrayLike = 0.0,
    bulge_fraction: ArrayLike = 0.2,
    bulge_r_eff: ArrayLike | None = None,
    bulge_n: ArrayLike = 2.0,
    bulge_q: ArrayLike = 1.0,
    arm_fraction: ArrayLike = 0.5,
    arm_count: ArrayLike = 2,
    winding: ArrayLike = 3.0,
    pitch: ArrayLike = 1.0,
    arm_scale: ArrayLike | None = None,
    arm_width: ArrayLike = 3.0,
    arm_phase: ArrayLike = 0.0,
    chirality: ArrayLike = 1,
) -> np.ndarray:
    r"""Surface brightness of a spiral galaxy, counts/px².

    Three components around a common centre and position angle:

    * **bulge**: Sérsic (:func:`sersic`) of flux :math:`f_b F`, ``bulge_r_eff``, ``bulge_n``,
      ``bulge_q``;
    * **disc**: thin exponential disc of flux :math:`(1 - f_b)F`, scale length
      :math:`h` = ``disc_scale``, seen with axis ratio ``q`` (:math:`q = \cos i` for an
      inclination :math:`i`): :math:`D = \frac{(1-f_b)F}{2\pi q h^2} e^{-r/h}` with the disc-plane
      radius :math:`r = \sqrt{u^2 + (v/q)^2}`;
    * **arms**: a fraction :math:`f_a` = ``arm_fraction`` of the disc light at every radius is
      redistributed in azimuth onto :math:`m` = ``arm_count`` arms,

      .. math::
          I_{\rm disc+arms} = D\,[1 + f_a(\mathcal{A} - 1)],\quad
          \mathcal{A} = \frac{1 - \varrho^2}{1 + \varrho^2}\,P^2,\quad
          P = \frac{1 - \varrho^2}{1 - 2\varrho\cos\Delta + \varrho^2},\quad
          \Delta = m[\chi\vartheta - \phi_0 - \phi(r)],

      where :math:`\vartheta` is the disc-plane azimuth, :math:`\chi` = ``chirality`` (+1 or -1,
      mirrors the arms), :math:`\phi_0` = ``arm_phase`` and :math:`\phi(r)` the Ringermacher &
      Mead (2009) arm (:func:`spiral_arm_angle`: :math:`r = A / \ln[B\tan(\phi/2N)]` with
      N = ``winding``, B = ``pitch``, A = ``arm_scale``). :math:`P` is the Poisson kernel (a
      wrapped Lorentzian), and :math:`\mathcal{A}` has azimuthal mean exactly 1
      (:math:`\langle P^2\rangle = (1 + \varrho^2)/(1 - \varrho^2)`), so the arms carry exactly
      :math:`f_a(1 - f_b)F` and the disc between them :math:`(1 - f_a)(1 - f_b)F`.
      :math:`\mathcal{A}` is a smooth periodic function of the azimuth (no seam) with m-fold
      symmetry, so the light centroid stays at ``(x0, y0)`` for ``arm_count >= 2``. The arm's
      cross-section is a squared Lorentzian of FWHM ``arm_width`` measured perpendicular to the
      arm: :math:`\varrho(r)` solves :math:`(1 - \varrho)/\sqrt{\varrho} = \gamma` with
      :math:`1.2872\,\gamma = m\,w / (r\sin\psi)` and the pitch angle
      :math:`\tan\psi = r(t + 1/t)/(2AN)`, :math:`t = e^{A/r}/B`. Near the centre
      (:math:`r \lesssim` ``arm_width``) :math:`\varrho \to 0` and the arms merge into the disc.

    Parameters
    ----------
    x, y
        Positions (px).
    flux
        Total flux (counts) of bulge + disc + arms.
    x0, y0
        Centre (px).
    disc_scale
        Exponential scale length h of the disc (px), > 0.
    q
        Disc axis ratio in (0, 1] (cosine of the inclination).
    angle
        Position angle of the disc's major axis (rad, from +x towards +y).
    bulge_fraction
        Fraction of the flux in the bulge, in [0, 1].
    bulge_r_eff
        Bulge half-light radius (px); ``None`` means ``0.4 * disc_scale``.
    bulge_n, bulge_q
        Bulge Sérsic index and axis ratio (the bulge shares ``angle``).
    arm_fraction
        Fraction of the disc light in the arms, in [0, 1] (sane: 0.2-0.8).
    arm_count
        Number of arms m, an integer >= 2.
    winding
        R&M winding number N > 0 (sane: 2-10; larger winds tighter).
    pitch
        R&M B > 0 (sane: 0.5-3): with N sets the pitch and the bar/bulge-to-arm size.
    arm_scale
        R&M A (px), > 0: the radius scale of the arms; ``None`` means ``2 * disc_scale``
        (sane: 1-4 disc scales).
    arm_width
        Arm FWHM across the arm (px), > 0 (sane: 1.5 px to ~disc_scale; narrower arms are
        undersampled by the rendering).
    arm_phase
        Rotation of the arm pattern in the disc plane (rad).
    chirality
        +1 or -1: handedness of the arms.
    """
    h = np.asarray(disc_scale, dtype=float)
    bulge_r_eff = 0.4 * h if bulge_r_eff is None else bulge_r_eff
    arm_scale = 2.0 * h if arm_scale is None else arm_scale
    bf = np.asarray(bulge_fraction, dtype=float)
    out = sersic(
        x, y, flux=bf * flux, x0=x0, y0=y0, r_eff=bulge_r_eff, n=bulge_n, q=bulge_q, angle=angle
    )
    disc_flux = (1.0 - bf) * flux
    b1 = _bn_scalar(1.0)
    out = out + sersic(x, y, flux=disc_flux, x0=x0, y0=y0, r_eff=b1 * h, n=1.0, q=q, angle=angle)
    arms = _arm_modulation(
        np.asarray(x) - x0,
        np.asarray(y) - y0,
        disc_flux=disc_flux,
        disc_scale=h,
        q=q,
        angle=angle,
        arm_fraction=arm_fraction,
        arm_count=arm_count,
        winding=winding,
        pitch=pitch,
        arm_scale=arm_scale,
        arm_width=arm_width,
        arm_phase=arm_phase,
        chirality=chirality,
    )
    return out + arms


# --------------------------------------------------------------------------------------------
# Pixel integration
# --------------------------------------------------------------------------------------------

GridFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _cell_average(func: GridFn, box: Bounds, m: int) -> np.ndarray:
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


class _Radial:
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


class _SersicRadial(_Radial):
    def __init__(self, flux, x0, y0, r_eff, n, q, angle):
        super().__init__(flux, x0, y0, r_eff, q, angle)
        self.n, self.b = n, _bn_scalar(n)
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
        return _sersic_rho(self.n, fraction)


class _MoffatRadial(_Radial):
    def __init__(self, flux, x0, y0, fwhm, beta):
        gamma = float(moffat_gamma(fwhm, beta))
        super().__init__(flux, x0, y0, gamma, 1.0, 0.0)
        self.beta = beta
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
        return math.sqrt((1.0 - fraction) ** (1.0 / (1.0 - self.beta)) - 1.0)


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


def _cap(p: _Radial, rho_c: float) -> tuple[float, float]:
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


def _shoot_core(p: _Radial, rho_c: float, block: Bounds, out: np.ndarray) -> None:
    """Add the flux of ``I - cap`` inside ``rho_c`` (see :func:`_cap`) to ``out`` (pixels of
    ``block``) by deterministic photon shooting of the :func:`_shoot_pattern` cells.

    Each cell is deposited as a box of its flux with the second moments of the cell
    (cloud in cell), which makes the pixel fluxes second-order accurate in the cell size.
    """
    r_c = rho_c * p.a
    t, counts, shell, centre, radial, tangential = _shoot_pattern(r_c)
    rho = t * rho_c
    alpha, beta = _cap(p, rho_c)
    rho2 = rho * rho
    enclosed = p.flux * p.cdf(rho) - math.pi * p.q * p.a * p.a * rho2 * (alpha + 0.5 * beta * rho2)
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


def _quantise_up(r: float) -> float:
    """Round ``r`` up to a power of 2**(1/8) (so that shooting patterns are reused)."""
    return 2.0 ** (math.ceil(8.0 * math.log2(r) - 1e-9) / 8.0)


def _levels(p: _Radial) -> tuple[list[tuple[int, float]], float]:
    """Refinement levels ``[(m, rho), ...]`` and the radius ``rho_c`` of the shot cusp (or 0).

    Level ``m`` covers the ellipse where the log-slope per pixel exceeds ``MAX_LOG_SLOPE`` times
    the previous level's sub-sampling (1, then 4) and that holds > 1e-5 of the flux, out to at
    most the stamp radius. The cusp of a profile whose slope diverges at the centre (Sérsic
    n > 1) is shot where the slope exceeds ``MAX_LOG_SLOPE * 8`` per pixel (at most 1 px).
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
    p: _Radial, levels: list[tuple[int, float]], rho_cap: float
) -> list[tuple[int, float]]:
    """Add an ``8 x 8`` block around the centre of a profile with a kink there (Sérsic
    0.5 < n <= 1: a conical peak, where the cell-average rule, exact for cubics, is off by up to
    a few % in the central pixel even though the slope is small), unless one covers it."""
    if not p.kinked:
        return levels
    rho_k = min(_KINK_PX / (p.q * p.a), rho_cap)
    if p.slope(rho_k) / (p.q * p.a) <= _KINK_SLOPE:
        return levels
    if any(m >= _KINK_SUB and rho >= rho_k for m, rho in levels):
        return levels
    return sorted([*levels, (_KINK_SUB, rho_k)], key=lambda level: (level[0], -level[1]))


def _draw_radial(p: _Radial, bounds: Bounds) -> Stamp:
    """Pixel-integrated stamp of a radial profile (see the module docstring)."""
    rho_max = p.quantile(STAMP_FRACTION)
    box = _ellipse_box(p.x0, p.y0, rho_max * p.a, p.q, p.angle, bounds)
    if box is None:
        return _empty_stamp(p.x0, p.y0, bounds)

    levels, rho_c = _levels(p)
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
            alpha, beta = _cap(p, rho_c)
            u_c = rho_c * rho_c

            def capped(xs, ys, alpha=alpha, beta=beta, u_c=u_c):
                u = p.rho2(xs, ys)
                return np.where(u < u_c, alpha + beta * u, p.sb(u))

            sub = _cell_average(capped, block, m)
            _shoot_core(p, rho_c, block, sub)
        else:
            sub = _cell_average(p.grid, block, m)
        data[block[0] - box[0] : block[1] - box[0], block[2] - box[2] : block[3] - box[2]] = sub
    return Stamp(data, box[0], box[2])


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def draw_star(
    *, flux: float, x0: float, y0: float, fwhm: float, beta: float, bounds: Bounds
) -> Stamp:
    """Pixel-integrated Moffat star (see :func:`moffat`) in its stamp, clipped to ``bounds``.

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
    return _draw_radial(_MoffatRadial(flux, x0, y0, fwhm, beta), bounds)


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
    """Pixel-integrated Sérsic galaxy (see :func:`sersic`) in its stamp, clipped to ``bounds``.

    Accurate (total flux to ~1e-4, each pixel to < 1 %) for n in [0.5, 6] and
    ``q * r_eff >= ~0.3`` px; ``n`` is accepted in [0.2, 10].
    """
    _check(flux >= 0 and r_eff > 0, f"bad elliptical: flux={flux} r_eff={r_eff}")
    _check(0.2 <= n <= 10, f"Sérsic n must be in [0.2, 10], got {n}")
    _check(0 < q <= 1, f"axis ratio q must be in (0, 1], got {q}")
    return _draw_radial(_SersicRadial(flux, x0, y0, r_eff, float(n), q, angle), bounds)


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
    """Pixel-integrated spiral galaxy (see :func:`spiral` for the parameters) in its stamp.

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
        bulge = _SersicRadial(
            flux * bulge_fraction, x0, y0, bulge_r_eff, float(bulge_n), bulge_q, angle
        )
        parts.append(_draw_radial(bulge, bounds))
    disc_flux = flux * (1.0 - bulge_fraction)
    if disc_flux > 0:
        disc = _SersicRadial(disc_flux, x0, y0, _bn_scalar(1.0) * disc_scale, 1.0, q, angle)
        disc_stamp = _draw_radial(disc, bounds)
        parts.append(disc_stamp)
        if arm_fraction > 0 and not disc_stamp.empty:
            h, w = disc_stamp.data.shape
            box = (disc_stamp.row0, disc_stamp.row0 + h, disc_stamp.col0, disc_stamp.col0 + w)
            params = dict(
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

            def arms(xs, ys):
                # float32 offsets: the whole arm term then runs in float32 (float64 cos and
                # arctan2 cost ~5x more); its phase error stays < 1e-5 rad.
                dx = (xs - x0).astype(np.float32)
                dy = (ys - y0).astype(np.float32)[:, None]
                return _arm_modulation(dx, dy, **params)

            m = 1 if arm_width >= 3.0 else 2 if arm_width >= 1.5 else 3
            parts.append(Stamp(_cell_average(arms, box, m), box[0], box[2]))
    if not parts:
        return _empty_stamp(x0, y0, bounds)
    return sum_stamps(parts)
