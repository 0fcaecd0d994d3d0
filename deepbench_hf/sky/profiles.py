r"""Surface-brightness profiles of stars and galaxies: point evaluation and analytic helpers.

Conventions
-----------
* ``image[row, col]``; **x = column, y = row**, 0-based, pixel centres at integer coordinates
  (pixel ``(r, c)`` covers ``x`` in ``[c - 0.5, c + 0.5]`` and ``y`` in ``[r - 0.5, r + 0.5]``).
* Angles in radians, from +x towards +y.
* ``flux`` is the total number of counts (ADU) of the object over the whole plane. The point
  functions (:func:`moffat`, :func:`sersic`, :func:`spiral`) return surface brightness in
  counts/px² at arbitrary points; the ``draw_*`` functions (:mod:`deepbench_hf.sky.stamps`) return
  :class:`~deepbench_hf.sky.stamps.Stamp` s holding counts per pixel, i.e. the profile integrated
  over each pixel (:mod:`deepbench_hf.sky.integrate`).

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
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = [
    "FWHM_TO_SIGMA",
    "STAMP_FRACTION",
    "moffat",
    "moffat_enclosed",
    "moffat_gamma",
    "moffat_quantile",
    "moffat_radius",
    "sersic",
    "sersic_amplitude",
    "sersic_bn",
    "sersic_enclosed",
    "sersic_radius",
    "spiral",
    "spiral_arm_angle",
    "spiral_arm_term",
]

STAMP_FRACTION = 0.999
"""Fraction of an object's light enclosed by its stamp (the flux lost outside is < 0.1 %)."""

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


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
    :func:`moffat_enclosed`): :math:`\gamma\sqrt{(1-f)^{1/(1-\beta)} - 1}`; ``inf`` beyond the
    float range (``beta`` just above 1)."""
    return float(moffat_gamma(fwhm, beta) * moffat_quantile(beta, fraction))


def moffat_quantile(beta: float, fraction: float) -> float:
    r"""Radius enclosing ``fraction`` of a Moffat profile's flux in units of its :math:`\gamma`,
    :math:`\sqrt{(1-f)^{1/(1-\beta)} - 1}`; ``inf`` where that exceeds the float range."""
    try:
        return math.sqrt((1.0 - fraction) ** (1.0 / (1.0 - beta)) - 1.0)
    except OverflowError:  # (1 - f)^(-1/(beta - 1)) for beta just above 1
        return math.inf


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


def spiral_arm_term(
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
    arms = spiral_arm_term(
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
