r"""Singular isothermal ellipsoid (SIE) plus external shear: the lens mass model.

Conventions
-----------
* Coordinates are **pixels**: ``x`` = column, ``y`` = row, 0-based, pixel centres at integer
  coordinates (the project-wide convention). Every length (``theta_e``, centres, deflections) is in
  pixels; angles are in radians, measured from +x towards +y.
* Parameters follow lenstronomy's ``SIE`` and ``SHEAR`` profiles exactly, with a pixel scale of 1
  and the identity pixel-to-angle matrix (``ImageData(..., ra_at_xy_0=0, dec_at_xy_0=0,
  transform_pix2angle=np.eye(2))``): lenstronomy's first angular coordinate (``x``/"ra") is our
  ``x`` (column) and its second (``y``/"dec") is our ``y`` (row), **with no sign flip**.
  lenstronomy measures its position angle ``phi = arctan2(e2, e1) / 2`` from its +x axis towards
  its +y axis (``Util.util.rotate``), i.e. from our +x towards our +y, the same as our ``angle``.
  (Real lenstronomy data often use ``transform_pix2angle = diag(-s, s)``, where ra grows to the
  *left*; that is a different mapping and is not used here.)

  ============================  ==============================================================
  ours                          lenstronomy
  ============================  ==============================================================
  ``theta_e``                   ``SIE`` ``theta_E``
  ``x0``, ``y0``                ``SIE`` ``center_x``, ``center_y``
  ``q``, ``angle``              ``SIE`` ``e1, e2 = param_util.phi_q2_ellipticity(angle, q)``
  ``gamma1``, ``gamma2``        ``SHEAR`` ``gamma1``, ``gamma2``
  ``shear_x0``, ``shear_y0``    ``SHEAR`` ``ra_0``, ``dec_0`` (our default: the lens centre;
                                lenstronomy's default is ``0, 0``)
  ============================  ==============================================================

The SIE
-------
With ``(x', y')`` the offsets from the centre rotated into the frame of the major axis
(``x' = cos(angle) dx + sin(angle) dy``, ``y' = -sin(angle) dx + cos(angle) dy``), the
convergence is (lenstronomy's "product-averaged" Einstein radius)

.. math:: \kappa = \frac{\theta_E}{2\sqrt{q x'^2 + y'^2/q}} = \frac{b}{2\psi},
   \qquad b = \theta_E\sqrt{q}, \quad \psi = \sqrt{q^2 x'^2 + y'^2},

and the deflection is the closed form of Kormann, Schneider & Bartelmann (1994, A&A 284, 285) in
the notation of Keeton & Kochanek (1998, ApJ 495, 157) and Keeton (2001, astro-ph/0102341), with
``e = sqrt(1 - q^2)``:

.. math:: \alpha_{x'} = \frac{b}{e}\arctan\frac{e\,x'}{\psi}, \qquad
   \alpha_{y'} = \frac{b}{e}\,\mathrm{artanh}\frac{e\,y'}{\psi},

rotated back by ``+angle``. As ``q -> 1`` this tends to the singular isothermal sphere (SIS),
``alpha = theta_e * (dx, dy) / r``; ``e`` is floored at ``1e-8`` so that ``q = 1`` is exact to
machine precision. The potential is ``psi_SIE = dx alpha_x + dy alpha_y`` (isothermal: degree-1
homogeneous). The deflection is homogeneous of degree 0, so the Hessian has the radial
direction as a null vector and equals ``2 kappa t t^T`` with ``t = (-dy, dx) / r``:

.. math:: f_{xx} = 2\kappa\,\frac{dy^2}{r^2}, \quad f_{yy} = 2\kappa\,\frac{dx^2}{r^2}, \quad
   f_{xy} = -2\kappa\,\frac{dx\,dy}{r^2}.

At the centre itself the deflection is set to 0 and the convergence is infinite.

The external shear
------------------
Potential ``(gamma1 (dx^2 - dy^2) + 2 gamma2 dx dy) / 2`` about ``(shear_x0, shear_y0)``, i.e.
``alpha = (gamma1 dx + gamma2 dy, gamma2 dx - gamma1 dy)``, Hessian ``f_xx = gamma1 = -f_yy``,
``f_xy = gamma2``. The shear centre only adds a constant deflection (a shift of the source plane).

Vectorisation
-------------
Every function broadcasts its coordinates against its parameters with numpy rules. Evaluating
a grid from *sparse* coordinates (``x`` of shape ``(1, W)``, ``y`` of shape ``(H, 1)``) is
cheaper than from dense ones; parameters of shape ``(B, 1, 1)`` give ``B`` lenses at once. The
computation is done in the floating dtype of the coordinates (``float32`` coordinates give a
``float32`` result, integers give ``float64``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "centred_sie_deflection",
    "convergence",
    "deflection",
    "ellipticity2phi_q",
    "fermat_potential",
    "hessian",
    "jacobian",
    "magnification",
    "phi_q2_ellipticity",
    "potential",
    "ray_shoot",
    "shear_cartesian2polar",
    "shear_deflection",
    "shear_hessian",
    "shear_polar2cartesian",
    "shear_potential",
    "sie_convergence",
    "sie_deflection",
    "sie_hessian",
    "sie_potential",
]

FloatArray = npt.NDArray[np.floating]

#: Floor of ``e = sqrt(1 - q^2)``: below it ``arctan(e u) / e`` equals ``u`` to machine precision.
_E_MIN = 1e-8


# --------------------------------------------------------------------------------------------
# parameter conversions (identical to lenstronomy.Util.param_util)
# --------------------------------------------------------------------------------------------
def phi_q2_ellipticity(*, angle: npt.ArrayLike, q: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert a position angle and axis ratio into lenstronomy's ellipticity ``(e1, e2)``.

    Identical to ``lenstronomy.Util.param_util.phi_q2_ellipticity(phi=angle, q=q)``.

    Parameters
    ----------
    angle
        Position angle of the major axis in radians, from +x towards +y.
    q
        Axis ratio minor/major, ``0 < q <= 1``.

    Returns
    -------
    e1, e2
        ``e1 = (1 - q) / (1 + q) cos(2 angle)``, ``e2 = (1 - q) / (1 + q) sin(2 angle)``.
    """
    angle = np.asarray(angle, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    ell = (1.0 - q) / (1.0 + q)
    return ell * np.cos(2.0 * angle), ell * np.sin(2.0 * angle)


def ellipticity2phi_q(*, e1: npt.ArrayLike, e2: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert lenstronomy's ellipticity ``(e1, e2)`` into ``(angle, q)``.

    Identical to ``lenstronomy.Util.param_util.ellipticity2phi_q`` (including its clipping of
    ``|e|`` at 0.9999, i.e. ``q >= 5.0e-5``).

    Parameters
    ----------
    e1, e2
        Ellipticity components (dimensionless).

    Returns
    -------
    angle
        ``arctan2(e2, e1) / 2`` in radians, in ``(-pi/2, pi/2]``, from +x towards +y.
    q
        ``(1 - |e|) / (1 + |e|)`` with ``|e| = min(hypot(e1, e2), 0.9999)``.
    """
    e1 = np.asarray(e1, dtype=np.float64)
    e2 = np.asarray(e2, dtype=np.float64)
    angle = np.arctan2(e2, e1) / 2.0
    c = np.minimum(np.sqrt(e1**2 + e2**2), 0.9999)
    return angle, (1.0 - c) / (1.0 + c)


def shear_polar2cartesian(
    *, gamma: npt.ArrayLike, angle: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Convert shear strength and angle into ``(gamma1, gamma2)``.

    Identical to ``lenstronomy.Util.param_util.shear_polar2cartesian(phi=angle, gamma=gamma)``:
    ``gamma1 = gamma cos(2 angle)``, ``gamma2 = gamma sin(2 angle)`` (``angle`` in radians from
    +x towards +y).
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    return gamma * np.cos(2.0 * angle), gamma * np.sin(2.0 * angle)


def shear_cartesian2polar(
    *, gamma1: npt.ArrayLike, gamma2: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Convert ``(gamma1, gamma2)`` into ``(angle, gamma)``.

    Identical to ``lenstronomy.Util.param_util.shear_cartesian2polar``:
    ``angle = arctan2(gamma2, gamma1) / 2`` (radians), ``gamma = hypot(gamma1, gamma2)``.
    """
    gamma1 = np.asarray(gamma1, dtype=np.float64)
    gamma2 = np.asarray(gamma2, dtype=np.float64)
    return np.arctan2(gamma2, gamma1) / 2.0, np.sqrt(gamma1**2 + gamma2**2)


# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------
def _coords(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    x = np.asarray(x)
    y = np.asarray(y)
    dtype = np.result_type(x.dtype, y.dtype, np.float32)
    return x.astype(dtype, copy=False), y.astype(dtype, copy=False), dtype


_F = TypeVar("_F", bound=Callable)


def _scalar_safe(func: _F) -> _F:
    """Evaluate with 1-element arrays when ``x`` and ``y`` are both scalars (the fast paths use
    in-place ``out=`` arguments, which numpy scalars do not support) and reshape back."""

    @functools.wraps(func)
    def wrapper(x, y, **kwargs):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim or y.ndim:
            return func(x, y, **kwargs)
        shape = np.broadcast_shapes(*(np.shape(v) for v in kwargs.values() if v is not None))
        out = func(x.reshape(1), y.reshape(1), **kwargs)
        if isinstance(out, tuple):
            return tuple(np.reshape(o, shape) for o in out)
        return np.reshape(out, shape)

    return wrapper  # type: ignore[return-value]


def _check_sie(theta_e: np.ndarray, q: np.ndarray) -> None:
    if not np.all((q > 0.0) & (q <= 1.0)):
        raise ValueError(f"SIE axis ratio q must satisfy 0 < q <= 1, got {q}")
    if not np.all(theta_e >= 0.0):
        raise ValueError(f"SIE Einstein radius theta_e must be >= 0 px, got {theta_e}")


class _SIECoef:
    """Parameter-only coefficients of the SIE (computed once, in float64, then cast)."""

    __slots__ = ("ac", "as_", "b", "c", "e", "pc", "ps", "q_e", "s")

    def __init__(
        self, theta_e: npt.ArrayLike, q: npt.ArrayLike, angle: npt.ArrayLike, dtype: np.dtype
    ) -> None:
        if np.ndim(theta_e) == 0 and np.ndim(q) == 0 and np.ndim(angle) == 0:
            self._scalar(float(theta_e), float(q), float(angle), np.dtype(dtype).type)
            return
        theta_e = np.asarray(theta_e, dtype=np.float64)
        q = np.asarray(q, dtype=np.float64)
        angle = np.asarray(angle, dtype=np.float64)
        _check_sie(theta_e, q)
        c, s = np.cos(angle), np.sin(angle)
        e = np.maximum(np.sqrt(np.maximum(1.0 - q * q, 0.0)), _E_MIN)
        b = theta_e * np.sqrt(q)
        cast = lambda v: np.asarray(v, dtype=dtype)  # noqa: E731
        self.b = cast(b)
        self.c, self.s, self.e, self.q_e = cast(c), cast(s), cast(e), cast(q / e)
        self.pc, self.ps = cast(q * c), cast(q * s)  # q x' = pc dx + ps dy
        # rotation back with the b / e prefactor folded in
        self.ac, self.as_ = cast(b / e * c), cast(b / e * s)

    def _scalar(self, theta_e: float, q: float, angle: float, cast: type) -> None:
        """The same coefficients for one lens, with ``math`` (numpy calls on 0-d arrays cost
        ~1 us each, which dominates a per-image call on a small grid)."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"SIE axis ratio q must satisfy 0 < q <= 1, got {q}")
        if not theta_e >= 0.0:
            raise ValueError(f"SIE Einstein radius theta_e must be >= 0 px, got {theta_e}")
        c, s = math.cos(angle), math.sin(angle)
        e = max(math.sqrt(max(1.0 - q * q, 0.0)), _E_MIN)
        b = theta_e * math.sqrt(q)
        self.b, self.c, self.s, self.e, self.q_e = cast(b), cast(c), cast(s), cast(e), cast(q / e)
        self.pc, self.ps = cast(q * c), cast(q * s)
        self.ac, self.as_ = cast(b / e * c), cast(b / e * s)


def _psi(dx: np.ndarray, dy: np.ndarray, k: _SIECoef) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P, Y, psi)`` with ``P = q x'``, ``Y = y'`` (major-axis frame) and
    ``psi = sqrt(P^2 + Y^2) = sqrt(q^2 x'^2 + y'^2)``; cheap for sparse grids."""
    p_ = k.pc * dx + k.ps * dy
    y_ = k.c * dy - k.s * dx
    psi = p_ * p_
    tmp = y_ * y_
    psi = np.add(psi, tmp, out=psi if psi.shape == tmp.shape else None)
    return p_, y_, np.sqrt(psi, out=psi)


def _sie_angles(dx: np.ndarray, dy: np.ndarray, k: _SIECoef) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(arctan(e x'/psi), artanh(e y'/psi))``, the deflection in the major-axis frame
    divided by ``b / e`` (0 at the centre), computed in place where possible:
    ``arctan(e x'/psi) = arctan2(P, psi q / e)``."""
    p_, y_, psi = _psi(dx, dy, k)
    np.maximum(psi, np.finfo(psi.dtype).tiny, out=psi)
    t1 = np.arctan2(p_, psi * k.q_e, out=p_ if p_.shape == psi.shape else None)
    t2 = np.divide(y_, psi, out=y_ if y_.shape == psi.shape else None)
    t2 *= k.e
    return t1, np.arctanh(t2, out=t2)


def _shear_centre(
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    shear_x0: npt.ArrayLike | None,
    shear_y0: npt.ArrayLike | None,
) -> tuple[npt.ArrayLike, npt.ArrayLike]:
    return (x0 if shear_x0 is None else shear_x0), (y0 if shear_y0 is None else shear_y0)


# --------------------------------------------------------------------------------------------
# SIE alone
# --------------------------------------------------------------------------------------------
@_scalar_safe
def sie_deflection(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray]:
    r"""Deflection of a singular isothermal ellipsoid (Kormann et al. 1994; Keeton 2001).

    .. math:: \alpha_{x'} = \frac{b}{e}\arctan\frac{e x'}{\psi},\quad
       \alpha_{y'} = \frac{b}{e}\mathrm{artanh}\frac{e y'}{\psi},\quad
       b = \theta_E\sqrt{q},\ e = \sqrt{1-q^2},\ \psi = \sqrt{q^2x'^2 + y'^2},

    in the frame of the major axis, rotated back to the pixel frame. Same as lenstronomy's
    ``SIE`` ``derivatives`` with ``e1, e2 = phi_q2_ellipticity(angle=angle, q=q)``.

    Parameters
    ----------
    x, y
        Image-plane positions in pixels (x = column, y = row); any broadcastable shapes.
    theta_e
        Einstein radius in pixels (lenstronomy's product-averaged ``theta_E``), ``>= 0``.
    x0, y0
        Lens centre in pixels.
    q
        Axis ratio of the iso-convergence contours, minor/major, ``0 < q <= 1``.
    angle
        Position angle of the major axis in radians, from +x towards +y.

    Returns
    -------
    alpha_x, alpha_y
        Deflection in pixels, of the broadcast shape of all inputs; 0 at the centre.
    """
    x, y, dtype = _coords(x, y)
    k = _SIECoef(theta_e, q, angle, dtype)
    dx = x - np.asarray(x0, dtype=dtype)
    dy = y - np.asarray(y0, dtype=dtype)
    return _sie_deflect(dx, dy, k)


def _sie_deflect(dx: np.ndarray, dy: np.ndarray, k: _SIECoef) -> tuple[FloatArray, FloatArray]:
    """SIE deflection (px) at offsets ``(dx, dy)`` from the lens centre, rotated to the pixel
    frame."""
    t1, t2 = _sie_angles(dx, dy, k)
    return k.ac * t1 - k.as_ * t2, k.as_ * t1 + k.ac * t2


def centred_sie_deflection(
    *, theta_e: float, q: float = 1.0, angle: float = 0.0
) -> Callable[[np.ndarray, np.ndarray], tuple[FloatArray, FloatArray]]:
    """:func:`sie_deflection` of a lens at the origin as a function of float64 offsets
    ``(dx, dy)`` (arrays of at least one dimension), with the per-lens coefficients computed once:
    for the many small evaluations of a root search (same values, bit for bit)."""
    k = _SIECoef(float(theta_e), float(q), float(angle), np.dtype(np.float64))
    return functools.partial(_sie_deflect, k=k)


@_scalar_safe
def sie_convergence(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
) -> FloatArray:
    r"""Convergence of the SIE, :math:`\kappa = \theta_E / (2\sqrt{q x'^2 + y'^2/q})`.

    Dimensionless (surface density over the critical density); infinite at the centre.
    Parameters as in :func:`sie_deflection`.
    """
    x, y, dtype = _coords(x, y)
    k = _SIECoef(theta_e, q, angle, dtype)
    psi = _psi(x - np.asarray(x0, dtype=dtype), y - np.asarray(y0, dtype=dtype), k)[2]
    with np.errstate(divide="ignore"):
        return 0.5 * k.b / psi


def sie_potential(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
) -> FloatArray:
    r"""Lensing potential of the SIE, :math:`\psi = dx\,\alpha_x + dy\,\alpha_y` (pixels²).

    Equals lenstronomy's ``SIE`` ``function`` (whose tiny core, 1e-10, is neglected here).
    Parameters as in :func:`sie_deflection`.
    """
    x, y, dtype = _coords(x, y)
    ax, ay = sie_deflection(x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle)
    return (x - np.asarray(x0, dtype=dtype)) * ax + (y - np.asarray(y0, dtype=dtype)) * ay


@_scalar_safe
def sie_hessian(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Hessian of the SIE potential (analytic).

    .. math:: f_{xx} = 2\kappa\frac{dy^2}{r^2},\quad f_{yy} = 2\kappa\frac{dx^2}{r^2},\quad
       f_{xy} = -2\kappa\frac{dx\,dy}{r^2}

    (the deflection is homogeneous of degree 0, so the radial direction is a null vector).
    lenstronomy's ``SIE`` computes the same quantity by finite differences (step 1e-10).
    Parameters as in :func:`sie_deflection`.

    Returns
    -------
    f_xx, f_xy, f_yy
        Second derivatives of the potential (dimensionless); NaN at the centre.
    """
    x, y, dtype = _coords(x, y)
    k = _SIECoef(theta_e, q, angle, dtype)
    dx = x - np.asarray(x0, dtype=dtype)
    dy = y - np.asarray(y0, dtype=dtype)
    psi = _psi(dx, dy, k)[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = k.b / (psi * (dx * dx + dy * dy))
        return f * (dy * dy), -f * (dx * dy), f * (dx * dx)


# --------------------------------------------------------------------------------------------
# external shear alone
# --------------------------------------------------------------------------------------------
def shear_deflection(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    gamma1: npt.ArrayLike,
    gamma2: npt.ArrayLike,
    x0: npt.ArrayLike = 0.0,
    y0: npt.ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Deflection of an external shear, lenstronomy ``SHEAR`` (``ra_0 = x0``, ``dec_0 = y0``).

    ``alpha_x = gamma1 dx + gamma2 dy``, ``alpha_y = gamma2 dx - gamma1 dy`` with
    ``(dx, dy) = (x - x0, y - y0)`` in pixels (x = column, y = row).

    Returns
    -------
    alpha_x, alpha_y
        Deflection in pixels.
    """
    x, y, dtype = _coords(x, y)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    dx = x - np.asarray(x0, dtype=dtype)
    dy = y - np.asarray(y0, dtype=dtype)
    return g1 * dx + g2 * dy, g2 * dx - g1 * dy


def shear_potential(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    gamma1: npt.ArrayLike,
    gamma2: npt.ArrayLike,
    x0: npt.ArrayLike = 0.0,
    y0: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Potential of an external shear, ``(gamma1 (dx^2 - dy^2) + 2 gamma2 dx dy) / 2`` (px²)."""
    x, y, dtype = _coords(x, y)
    dx = x - np.asarray(x0, dtype=dtype)
    dy = y - np.asarray(y0, dtype=dtype)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    return 0.5 * (g1 * (dx * dx - dy * dy) + 2.0 * g2 * dx * dy)


def shear_hessian(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    gamma1: npt.ArrayLike,
    gamma2: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Hessian of an external shear: ``f_xx = gamma1``, ``f_xy = gamma2``, ``f_yy = -gamma1``,
    broadcast to the shape of ``x``, ``y`` and the parameters."""
    x, y, dtype = _coords(x, y)
    zero = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=dtype)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    return zero + g1, zero + g2, zero - g1


# --------------------------------------------------------------------------------------------
# SIE + external shear
# --------------------------------------------------------------------------------------------
def deflection(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Deflection of an SIE plus external shear (lenstronomy ``['SIE', 'SHEAR']``), in pixels.

    Parameters
    ----------
    x, y
        Image-plane positions in pixels (x = column, y = row); any broadcastable shapes.
    theta_e, x0, y0, q, angle
        SIE parameters, see :func:`sie_deflection`.
    gamma1, gamma2
        External shear components (lenstronomy ``SHEAR``).
    shear_x0, shear_y0
        Point of zero shear deflection (lenstronomy ``ra_0``, ``dec_0``); default: the lens
        centre ``(x0, y0)``.

    Returns
    -------
    alpha_x, alpha_y
        Total deflection in pixels.
    """
    ax, ay = sie_deflection(x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle)
    sx0, sy0 = _shear_centre(x0, y0, shear_x0, shear_y0)
    gx, gy = shear_deflection(x, y, gamma1=gamma1, gamma2=gamma2, x0=sx0, y0=sy0)
    return ax + gx, ay + gy


@_scalar_safe
def ray_shoot(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    r"""Map image-plane positions to the source plane: :math:`\beta = \theta - \alpha(\theta)`.

    Same as lenstronomy's ``LensModel(['SIE', 'SHEAR']).ray_shooting``. Written for speed
    (in-place operations, parameter-only factors folded into per-lens coefficients; a round lens,
    ``q = 1``, by the SIS formula, its limit); sparse grids (``x`` of shape ``(1, W)``, ``y`` of
    shape ``(H, 1)``) and batched parameters (shape ``(B, 1, 1)``) are the intended use.
    Parameters as in :func:`deflection`.

    Returns
    -------
    beta_x, beta_y
        Source-plane positions in pixels.
    """
    x, y, dtype = _coords(x, y)
    dx = x - np.asarray(x0, dtype=dtype)
    dy = y - np.asarray(y0, dtype=dtype)
    sx0, sy0 = _shear_centre(x0, y0, shear_x0, shear_y0)
    scalars = (theta_e, q, angle, gamma1, gamma2, sx0, sy0)
    if all(np.ndim(v) == 0 for v in scalars) and float(q) == 1.0:
        return _ray_shoot_sis(x, y, dx, dy, float(theta_e), sx0, sy0, gamma1, gamma2, dtype)
    k = _SIECoef(theta_e, q, angle, dtype)
    t1, t2 = _sie_angles(dx, dy, k)
    # beta = theta - shear - rotate(b / e * (t1, t2), +angle)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    sdx = x - np.asarray(sx0, dtype=dtype)
    sdy = y - np.asarray(sy0, dtype=dtype)
    # beta_x = (x - g1 sdx) - g2 sdy - ac t1 + as t2
    # beta_y = (y + g1 sdy) - g2 sdx - as t1 - ac t2
    # the shear/grid terms are small arrays for sparse grids: add them to the dense ones last
    xs, ys = x - g1 * sdx, y + g1 * sdy
    gx, gy = g2 * sdy, g2 * sdx
    shape = np.broadcast_shapes(
        t1.shape, xs.shape, ys.shape, gx.shape, gy.shape, np.shape(k.ac), np.shape(k.as_)
    )
    bx = np.multiply(k.ac, t1, out=np.empty(shape, dtype=dtype))
    np.subtract(xs, bx, out=bx)
    tmp = np.multiply(k.as_, t2)
    bx += tmp
    bx -= gx
    by = np.multiply(k.as_, t1, out=np.empty(shape, dtype=dtype))
    np.subtract(ys, by, out=by)
    np.multiply(k.ac, t2, out=tmp)
    by -= tmp
    by -= gy
    return bx, by


def _ray_shoot_sis(
    x: np.ndarray,
    y: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    theta_e: float,
    sx0: npt.ArrayLike,
    sy0: npt.ArrayLike,
    gamma1: npt.ArrayLike,
    gamma2: npt.ArrayLike,
    dtype: np.dtype,
) -> tuple[FloatArray, FloatArray]:
    """:func:`ray_shoot` of one round lens (``q = 1``, the singular isothermal sphere; scalar
    lens and shear parameters, the centre may be batched), whose deflection
    ``theta_e (dx, dy) / r`` is the ``q -> 1`` limit of the SIE's: a third of the array
    operations of the general formula (0 at the centre)."""
    if not theta_e >= 0.0:
        raise ValueError(f"SIE Einstein radius theta_e must be >= 0 px, got {theta_e}")
    r = np.add(dx * dx, dy * dy)
    np.sqrt(r, out=r)
    # r = 0 only at the centre (dx = dy = 0): any floor keeping theta_e / r finite gives 0 there
    np.maximum(r, math.sqrt(np.finfo(dtype).tiny), out=r)
    scale = np.divide(dtype.type(theta_e), r, out=r)  # alpha / (dx, dy)
    bx = np.multiply(scale, dx)
    np.subtract(x, bx, out=bx)
    by = np.multiply(scale, dy, out=scale)
    np.subtract(y, by, out=by)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    if np.any(g1) or np.any(g2):
        sdx = x - np.asarray(sx0, dtype=dtype)
        sdy = y - np.asarray(sy0, dtype=dtype)
        bx -= g1 * sdx + g2 * sdy
        by -= g2 * sdx - g1 * sdy
    return bx, by


def potential(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
) -> FloatArray:
    """Lensing potential of SIE plus external shear (pixels²); parameters as in
    :func:`deflection`. Same as lenstronomy's ``LensModel(['SIE', 'SHEAR']).potential``."""
    sx0, sy0 = _shear_centre(x0, y0, shear_x0, shear_y0)
    return sie_potential(x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle) + shear_potential(
        x, y, gamma1=gamma1, gamma2=gamma2, x0=sx0, y0=sy0
    )


def fermat_potential(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    beta_x: npt.ArrayLike,
    beta_y: npt.ArrayLike,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
) -> FloatArray:
    r"""Fermat potential :math:`\tau = |\theta - \beta|^2 / 2 - \psi(\theta)` (pixels²).

    Proportional to the light travel time of an image at ``(x, y)`` of a source at
    ``(beta_x, beta_y)``; images are stationary points. Other parameters as in
    :func:`deflection`.
    """
    x, y, dtype = _coords(x, y)
    psi = potential(
        x,
        y,
        theta_e=theta_e,
        x0=x0,
        y0=y0,
        q=q,
        angle=angle,
        gamma1=gamma1,
        gamma2=gamma2,
        shear_x0=shear_x0,
        shear_y0=shear_y0,
    )
    ddx = x - np.asarray(beta_x, dtype=dtype)
    ddy = y - np.asarray(beta_y, dtype=dtype)
    return 0.5 * (ddx * ddx + ddy * ddy) - psi


def convergence(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
) -> FloatArray:
    """Convergence of SIE plus shear (the shear adds none); see :func:`sie_convergence`."""
    return sie_convergence(x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle)


def hessian(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Hessian ``(f_xx, f_xy, f_yy)`` of the SIE-plus-shear potential (dimensionless).

    Same as lenstronomy's ``LensModel(['SIE', 'SHEAR']).hessian`` (``f_yx = f_xy``); the shear
    centre does not enter. Parameters as in :func:`deflection`.
    """
    x, y, dtype = _coords(x, y)
    fxx, fxy, fyy = sie_hessian(x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle)
    g1 = np.asarray(gamma1, dtype=dtype)
    g2 = np.asarray(gamma2, dtype=dtype)
    return fxx + g1, fxy + g2, fyy - g1


def jacobian(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
) -> FloatArray:
    r"""Jacobian of the lens mapping, :math:`A_{ij} = \partial\beta_i/\partial\theta_j`.

    .. math:: A = \begin{pmatrix} 1 - f_{xx} & -f_{xy} \\ -f_{xy} & 1 - f_{yy}\end{pmatrix}

    Parameters as in :func:`deflection`.

    Returns
    -------
    numpy.ndarray
        Shape ``broadcast_shape + (2, 2)``; index ``[..., i, j]`` with 0 = x, 1 = y.
    """
    fxx, fxy, fyy = hessian(
        x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle, gamma1=gamma1, gamma2=gamma2
    )
    out = np.empty((*fxx.shape, 2, 2), dtype=fxx.dtype)
    out[..., 0, 0] = 1.0 - fxx
    out[..., 0, 1] = -fxy
    out[..., 1, 0] = -fxy
    out[..., 1, 1] = 1.0 - fyy
    return out


def magnification(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
) -> FloatArray:
    r"""Signed magnification :math:`\mu = 1/\det A = 1/[(1-f_{xx})(1-f_{yy}) - f_{xy}^2]`.

    Negative for saddle-point (negative-parity) images, ``inf`` on critical curves. Same as
    lenstronomy's ``LensModel(['SIE', 'SHEAR']).magnification``. Parameters as in
    :func:`deflection`.
    """
    fxx, fxy, fyy = hessian(
        x, y, theta_e=theta_e, x0=x0, y0=y0, q=q, angle=angle, gamma1=gamma1, gamma2=gamma2
    )
    det = (1.0 - fxx) * (1.0 - fyy) - fxy * fxy
    with np.errstate(divide="ignore"):
        return 1.0 / det
