r"""Images of a point source (e.g. a quasar) behind an SIE plus external shear.

Solves the lens equation :math:`\theta - \alpha(\theta) = \beta` for all image positions
:math:`\theta` of a source at :math:`\beta` (pixels; x = column, y = row; lens parameters as in
:mod:`deepbench_hf.lensing.mass`).

Method
------
The SIE deflection depends only on the direction from the lens centre ``c``, not on the distance
(it is homogeneous of degree 0). Writing :math:`\theta = c + r\,n(\phi)` with
:math:`n = (\cos\phi, \sin\phi)` and :math:`\Gamma = ((\gamma_1, \gamma_2), (\gamma_2, -\gamma_1))`
the shear matrix about the shear centre ``s``, the lens equation becomes

.. math:: r\,(I - \Gamma)\,n(\phi) = g(\phi) \equiv (\beta - c) + \Gamma(c - s)
   + \alpha_{\rm SIE}(\phi),

a one-dimensional problem (as in Keeton 2001, astro-ph/0102341, and Kormann et al. 1994):
images are the roots of :math:`f(\phi) = w \times g` with :math:`w = (I-\Gamma)n` and
:math:`r = w\cdot g / |w|^2 > 0`. The solver

1. samples ``f`` on ``n_angles`` equally spaced angles (vectorised);
2. brackets every sign change, and splits near-tangent pairs of roots (a source close to a
   caustic) by locating the extremum of ``f`` between samples where ``|f|`` has a local
   minimum without a sign change (golden-section search, vectorised);
3. bisects all brackets at once down to ~1e-13 rad;
4. polishes the 2-D positions with Newton iterations using the analytic Jacobian (vectorised
   over candidates), keeps those satisfying the lens equation to ``tol`` px and with ``r > 0``,
   and removes duplicates (closer than ``1e-7`` px).

An SIE + shear gives 1, 2, 3 (naked cusp) or 4 images (more are possible only for extreme
shears); the singular core produces no central image. A source exactly behind a circular lens
without shear (the Einstein-ring case) is degenerate and raises :class:`ValueError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepbench_hf.lensing import mass

__all__ = ["PointSourceImages", "solve_lens_equation"]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class PointSourceImages:
    """Images of a point source, sorted by arrival time (increasing Fermat potential).

    Attributes
    ----------
    x, y
        Image positions in pixels (x = column, y = row), shape ``(n,)``.
    magnification
        Signed magnification ``1 / det A`` (negative for saddle-point images).
    parity
        ``+1`` (minimum or maximum of the arrival time, ``det A > 0``) or ``-1`` (saddle), int8.
    fermat_potential
        ``|theta - beta|^2 / 2 - psi(theta)`` in px² (proportional to the arrival time).
    residual
        ``|theta - alpha(theta) - beta|`` in px.
    """

    x: np.ndarray
    y: np.ndarray
    magnification: np.ndarray
    parity: np.ndarray
    fermat_potential: np.ndarray
    residual: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def solve_lens_equation(
    *,
    beta_x: float,
    beta_y: float,
    theta_e: float,
    x0: float,
    y0: float,
    q: float = 1.0,
    angle: float = 0.0,
    gamma1: float = 0.0,
    gamma2: float = 0.0,
    shear_x0: float | None = None,
    shear_y0: float | None = None,
    n_angles: int = 4096,
    tol: float = 1e-9,
    max_iter: int = 20,
) -> PointSourceImages:
    """Find all images of a point source at ``(beta_x, beta_y)``.

    Parameters
    ----------
    beta_x, beta_y
        Source-plane position in pixels.
    theta_e, x0, y0, q, angle, gamma1, gamma2, shear_x0, shear_y0
        Scalar lens parameters (pixels, radians), see
        :func:`deepbench_hf.lensing.mass.deflection`. The shear strength must be < 1.
    n_angles
        Number of angular samples of the 1-D root search (default 4096).
    tol
        Maximum lens-equation residual in px of an accepted image (default 1e-9; Newton
        normally reaches ~1e-13).
    max_iter
        Maximum number of Newton polishing iterations.

    Returns
    -------
    PointSourceImages
        Positions, signed magnifications, parities, Fermat potentials and residuals, sorted by
        arrival time.

    Raises
    ------
    ValueError
        For a shear strength >= 1, invalid SIE parameters, or the degenerate Einstein-ring
        configuration (circular lens, no shear, source exactly behind the centre).
    """
    lens = dict(theta_e=float(theta_e), x0=float(x0), y0=float(y0), q=float(q), angle=float(angle))
    g1, g2 = float(gamma1), float(gamma2)
    sx0 = float(x0) if shear_x0 is None else float(shear_x0)
    sy0 = float(y0) if shear_y0 is None else float(shear_y0)
    if np.hypot(g1, g2) >= 1.0:
        raise ValueError(f"shear strength must be < 1, got {np.hypot(g1, g2)}")
    n_angles = int(n_angles)
    if n_angles < 16:
        raise ValueError(f"n_angles must be >= 16, got {n_angles}")
    full = dict(lens, gamma1=g1, gamma2=g2, shear_x0=sx0, shear_y0=sy0)
    bx, by = float(beta_x), float(beta_y)

    # constant part of g: (beta - c) + Gamma (c - s)
    cdx, cdy = lens["x0"] - sx0, lens["y0"] - sy0
    d0x = bx - lens["x0"] + g1 * cdx + g2 * cdy
    d0y = by - lens["y0"] + g2 * cdx - g1 * cdy
    deflect = mass.centred_sie_deflection(theta_e=lens["theta_e"], q=lens["q"], angle=lens["angle"])

    def w_and_g(phi: np.ndarray) -> tuple[np.ndarray, ...]:
        cx, cy = np.cos(phi), np.sin(phi)
        ax, ay = deflect(cx, cy)
        wx, wy = (1.0 - g1) * cx - g2 * cy, -g2 * cx + (1.0 + g1) * cy
        return wx, wy, d0x + ax, d0y + ay

    def f_of(phi: np.ndarray) -> np.ndarray:  # f alone, for the searches
        wx, wy, gx, gy = w_and_g(phi)
        return wx * gy - wy * gx

    def f_and_r(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wx, wy, gx, gy = w_and_g(phi)
        return wx * gy - wy * gx, (wx * gx + wy * gy) / (wx * wx + wy * wy)

    phi = np.linspace(0.0, 2.0 * np.pi, n_angles, endpoint=False)
    f, _ = f_and_r(phi)
    scale = lens["theta_e"] + np.hypot(d0x, d0y) + np.finfo(float).tiny
    if np.max(np.abs(f)) <= 1e-12 * scale:
        raise ValueError(
            "degenerate configuration: the source lies exactly behind a circular lens without "
            "shear, its image is an Einstein ring, not discrete points"
        )
    dphi = 2.0 * np.pi / n_angles
    f_next = np.roll(f, -1)
    # 1. brackets of sign changes [phi_k, phi_k + dphi]
    k = np.nonzero(np.signbit(f) != np.signbit(f_next))[0]
    lo, hi = phi[k], phi[k] + dphi
    # 2. near-tangent pairs: local minima of |f| without sign change
    af = np.abs(f)
    f_prev = np.roll(f, 1)
    same = (np.signbit(f_prev) == np.signbit(f)) & (np.signbit(f) == np.signbit(f_next))
    kmin = np.nonzero(same & (af <= np.roll(af, 1)) & (af <= np.roll(af, -1)))[0]
    if kmin.size:
        sgn = np.where(f[kmin] < 0.0, -1.0, 1.0)
        a, b = phi[kmin] - dphi, phi[kmin] + dphi
        # golden-section search for the minimum of sgn * f on [a, b]
        c1, c2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        v1, v2 = sgn * f_of(c1), sgn * f_of(c2)
        for _ in range(60):
            left = v1 < v2
            b = np.where(left, c2, b)
            a = np.where(left, a, c1)
            c2n = np.where(left, c1, a + _GOLDEN * (b - a))
            c1n = np.where(left, b - _GOLDEN * (b - a), c2)
            newv = sgn * f_of(np.where(left, c1n, c2n))
            v1, v2 = np.where(left, newv, v2), np.where(left, v1, newv)
            c1, c2 = c1n, c2n
        pm = 0.5 * (a + b)
        crossed = sgn * f_of(pm) < 0.0
        if np.any(crossed):
            pm, kc = pm[crossed], kmin[crossed]
            lo = np.concatenate([lo, phi[kc] - dphi, pm])
            hi = np.concatenate([hi, pm, phi[kc] + dphi])
    if lo.size == 0:  # pragma: no cover - an SIE + shear always has at least one image
        return _empty()

    # 3. vectorised bisection on f
    f_lo = f_of(lo)
    for _ in range(int(np.ceil(np.log2(dphi / 1e-13))) + 1):
        mid = 0.5 * (lo + hi)
        f_mid = f_of(mid)
        left = np.signbit(f_mid) == np.signbit(f_lo)
        lo = np.where(left, mid, lo)
        f_lo = np.where(left, f_mid, f_lo)
        hi = np.where(left, hi, mid)
    phi_root = 0.5 * (lo + hi)
    _, r = f_and_r(phi_root)
    keep = r > 0.0
    tx = lens["x0"] + r[keep] * np.cos(phi_root[keep])
    ty = lens["y0"] + r[keep] * np.sin(phi_root[keep])

    # 4. Newton polish in 2-D (vectorised), acceptance, de-duplication
    tx, ty, res = _newton(tx, ty, bx, by, full, max_iter=max_iter)
    ok = np.isfinite(res) & (res <= tol)
    tx, ty, res = tx[ok], ty[ok], res[ok]
    tx, ty, res = _dedupe(tx, ty, res, min_distance=1e-7)
    if tx.size == 0:  # pragma: no cover
        return _empty()

    mag_kw = {k_: full[k_] for k_ in ("theta_e", "x0", "y0", "q", "angle", "gamma1", "gamma2")}
    mu = mass.magnification(tx, ty, **mag_kw)
    tau = mass.fermat_potential(tx, ty, beta_x=bx, beta_y=by, **full)
    order = np.argsort(tau, kind="stable")
    parity = np.where(mu > 0.0, 1, -1).astype(np.int8)
    return PointSourceImages(
        x=tx[order],
        y=ty[order],
        magnification=mu[order],
        parity=parity[order],
        fermat_potential=tau[order],
        residual=res[order],
    )


def _residual(
    tx: np.ndarray, ty: np.ndarray, bx: float, by: float, full: dict
) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = mass.ray_shoot(tx, ty, **full)
    return sx - bx, sy - by


def _newton(
    tx: np.ndarray, ty: np.ndarray, bx: float, by: float, full: dict, *, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Newton iterations on ``theta - alpha(theta) - beta = 0``, vectorised."""
    hess_kw = {k: full[k] for k in ("theta_e", "x0", "y0", "q", "angle", "gamma1", "gamma2")}
    rx, ry = _residual(tx, ty, bx, by, full)
    res = np.hypot(rx, ry)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(max_iter):
            if np.all(res <= 1e-13 * (1.0 + np.hypot(tx - full["x0"], ty - full["y0"]))):
                break
            fxx, fxy, fyy = mass.hessian(tx, ty, **hess_kw)
            a11, a12, a22 = 1.0 - fxx, -fxy, 1.0 - fyy
            det = a11 * a22 - a12 * a12
            stepx = (a22 * rx - a12 * ry) / det
            stepy = (a11 * ry - a12 * rx) / det
            # backtracking: halve the step while the residual grows (at most 10 times)
            lam = np.ones_like(tx)
            best_x, best_y, best_rx, best_ry, best_res = tx, ty, rx, ry, res
            pending = np.ones(tx.shape, dtype=bool)
            for _ in range(10):
                nx, ny = tx - lam * stepx, ty - lam * stepy
                nrx, nry = _residual(nx, ny, bx, by, full)
                nres = np.hypot(nrx, nry)
                better = pending & np.isfinite(nres) & (nres < best_res)
                best_x = np.where(better, nx, best_x)
                best_y = np.where(better, ny, best_y)
                best_rx = np.where(better, nrx, best_rx)
                best_ry = np.where(better, nry, best_ry)
                best_res = np.where(better, nres, best_res)
                pending &= ~better
                if not pending.any():
                    break
                lam = np.where(pending, 0.5 * lam, lam)
            if np.array_equal(best_res, res):
                break
            tx, ty, rx, ry, res = best_x, best_y, best_rx, best_ry, best_res
    return tx, ty, res


def _dedupe(
    tx: np.ndarray, ty: np.ndarray, res: np.ndarray, *, min_distance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep one image (the smallest residual) of every group closer than ``min_distance``."""
    order = np.argsort(res, kind="stable")
    kept: list[int] = []
    for i in order:
        if all(np.hypot(tx[i] - tx[j], ty[i] - ty[j]) >= min_distance for j in kept):
            kept.append(int(i))
    idx = np.array(sorted(kept), dtype=np.intp)
    return tx[idx], ty[idx], res[idx]


def _empty() -> PointSourceImages:  # pragma: no cover - defensive
    e = np.zeros(0)
    return PointSourceImages(
        x=e,
        y=e,
        magnification=e,
        parity=np.zeros(0, dtype=np.int8),
        fermat_potential=e,
        residual=e,
    )
