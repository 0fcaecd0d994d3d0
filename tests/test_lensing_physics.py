"""Physics and cross-code tests of deepbench_hf.lensing (SIE + external shear).

Coordinates in pixels (x = column, y = row); lenstronomy is used with a pixel scale of 1 and an
identity pixel-to-angle matrix, so its (x, y) are our (x, y) with no flip.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepbench_hf.lensing import mass
from deepbench_hf.lensing.point_source import solve_lens_equation
from deepbench_hf.lensing.raytrace import (
    arc_mask,
    downsample,
    lens_source,
    lensed_image,
    pixel_grid,
    source_magnification,
    unlensed_image,
)

# a spread of lens configurations: (theta_e, x0, y0, q, angle, gamma1, gamma2)
CONFIGS = [
    (10.0, 31.5, 32.0, 1.0, 0.0, 0.0, 0.0),
    (7.3, 30.2, 33.7, 0.8, 0.4, 0.0, 0.0),
    (12.0, 32.0, 32.0, 0.5, -1.1, 0.05, -0.03),
    (4.1, 28.6, 35.2, 0.25, 2.9, -0.08, 0.06),
    (15.5, 33.25, 29.5, 0.95, 1.57, 0.12, 0.0),
    (9.0, 31.0, 31.0, 0.65, 3.0, 0.0, 0.1),
    (20.0, 35.0, 27.0, 1.0, 0.7, 0.07, 0.07),
]


def _kw(cfg):
    te, x0, y0, q, angle, g1, g2 = cfg
    return dict(theta_e=te, x0=x0, y0=y0, q=q, angle=angle, gamma1=g1, gamma2=g2)


def _lenstronomy_kwargs(cfg, *, epl=False):
    te, x0, y0, q, angle, g1, g2 = cfg
    e1, e2 = mass.phi_q2_ellipticity(angle=angle, q=q)
    main = dict(theta_E=te, e1=float(e1), e2=float(e2), center_x=x0, center_y=y0)
    if epl:
        main["gamma"] = 2.0
    return [main, dict(gamma1=g1, gamma2=g2, ra_0=x0, dec_0=y0)]


def _grid(n=64):
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    return x, y


def _rel_vec(ax, ay, bx, by):
    """|a - b| / |b| per point (0 where both vanish, e.g. at the lens centre)."""
    diff, norm = np.hypot(ax - bx, ay - by), np.hypot(bx, by)
    return np.divide(diff, norm, out=np.where(diff == 0, 0.0, np.inf), where=norm > 0)


# --------------------------------------------------------------------------------------------
# parameter conventions
# --------------------------------------------------------------------------------------------
def test_ellipticity_conversions_match_lenstronomy():
    pytest.importorskip("lenstronomy")
    from lenstronomy.Util import param_util

    rng = np.random.default_rng(1)
    for _ in range(50):
        q, angle = rng.uniform(0.05, 1.0), rng.uniform(-np.pi, np.pi)
        e1, e2 = mass.phi_q2_ellipticity(angle=angle, q=q)
        le1, le2 = param_util.phi_q2_ellipticity(angle, q)
        np.testing.assert_allclose([e1, e2], [le1, le2], rtol=1e-14, atol=1e-15)
        a, qq = mass.ellipticity2phi_q(e1=e1, e2=e2)
        la, lq = param_util.ellipticity2phi_q(le1, le2)
        np.testing.assert_allclose([a, qq], [la, lq], rtol=1e-13, atol=1e-14)
        # round trip (angle defined modulo pi)
        np.testing.assert_allclose(qq, q, rtol=1e-12)
        if q < 0.999:
            assert abs(np.angle(np.exp(2j * (a - angle)))) < 1e-10
        g1, g2 = mass.shear_polar2cartesian(gamma=q / 5, angle=angle)
        np.testing.assert_allclose(
            [g1, g2], param_util.shear_polar2cartesian(angle, q / 5), rtol=1e-14, atol=1e-16
        )
        np.testing.assert_allclose(
            mass.shear_cartesian2polar(gamma1=g1, gamma2=g2),
            param_util.shear_cartesian2polar(g1, g2),
            rtol=1e-12,
            atol=1e-14,
        )


# --------------------------------------------------------------------------------------------
# deflection, potential, Hessian vs lenstronomy
# --------------------------------------------------------------------------------------------
MAX_REL = {}


@pytest.mark.parametrize("cfg", CONFIGS)
def test_deflection_matches_lenstronomy(cfg):
    pytest.importorskip("lenstronomy")
    from lenstronomy.LensModel.lens_model import LensModel

    x, y = _grid()
    kw = _kw(cfg)
    lkw = _lenstronomy_kwargs(cfg)
    # SIE + SHEAR
    ax, ay = LensModel(["SIE", "SHEAR"]).alpha(x, y, lkw)
    bx, by = mass.deflection(x, y, **kw)
    rel = _rel_vec(bx, by, ax, ay)
    MAX_REL[cfg] = rel.max()
    assert rel.max() < 1e-6
    # each alone
    sx, sy = LensModel(["SIE"]).alpha(x, y, lkw[:1])
    ox, oy = mass.sie_deflection(x, y, **{k: kw[k] for k in ("theta_e", "x0", "y0", "q", "angle")})
    assert _rel_vec(ox, oy, sx, sy).max() < 1e-6
    if kw["gamma1"] or kw["gamma2"]:
        hx, hy = LensModel(["SHEAR"]).alpha(x, y, lkw[1:])
        gx, gy = mass.shear_deflection(
            x, y, gamma1=kw["gamma1"], gamma2=kw["gamma2"], x0=kw["x0"], y0=kw["y0"]
        )
        np.testing.assert_allclose(gx, hx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gy, hy, rtol=1e-12, atol=1e-12)
    # ray shooting on a sparse grid, and a shear centre away from the lens
    lkw[1]["ra_0"], lkw[1]["dec_0"] = 3.0, 60.0
    rx, ry = LensModel(["SIE", "SHEAR"]).ray_shooting(x, y, lkw)
    px, py = mass.ray_shoot(x[:1], y[:, :1], **kw, shear_x0=3.0, shear_y0=60.0)
    assert np.max(np.hypot(px - rx, py - ry)) < 1e-6 * kw["theta_e"]
    # potential
    lpot = LensModel(["SIE", "SHEAR"]).potential(x, y, lkw)
    pot = mass.potential(x, y, **kw, shear_x0=3.0, shear_y0=60.0)
    np.testing.assert_allclose(pot, lpot, rtol=1e-6, atol=1e-6 * kw["theta_e"])


def test_max_relative_deflection_error_reported():
    """Summary of the previous test (printed with ``pytest -s``)."""
    if not MAX_REL:
        pytest.skip("lenstronomy comparison did not run")
    worst = max(MAX_REL.values())
    print(f"\nmax relative deflection error vs lenstronomy SIE+SHEAR: {worst:.2e}")
    assert worst < 1e-6


@pytest.mark.parametrize("cfg", CONFIGS)
def test_hessian_and_magnification_match_lenstronomy(cfg):
    pytest.importorskip("lenstronomy")
    from lenstronomy.LensModel.lens_model import LensModel

    x, y = _grid()
    x = x + 0.37  # avoid the singular centre on integer/half-integer centres
    y = y - 0.21
    kw = _kw(cfg)
    fxx, fxy, fyy = mass.hessian(x, y, **kw)
    norm = np.sqrt(fxx**2 + fyy**2 + 2 * fxy**2)
    # lenstronomy's analytic elliptical power law with gamma = 2 is the SIE: 1e-6 relative
    lxx, lxy, lyx, lyy = LensModel(["EPL", "SHEAR"]).hessian(
        x, y, _lenstronomy_kwargs(cfg, epl=True)
    )
    err = np.sqrt((fxx - lxx) ** 2 + (fyy - lyy) ** 2 + 2 * (fxy - lxy) ** 2) / norm
    assert err.max() < 1e-6
    np.testing.assert_allclose(lyx, lxy, rtol=1e-12, atol=1e-15)
    mu = mass.magnification(x, y, **kw)
    lmu = LensModel(["EPL", "SHEAR"]).magnification(x, y, _lenstronomy_kwargs(cfg, epl=True))
    np.testing.assert_allclose(1.0 / mu, 1.0 / lmu, rtol=1e-6, atol=1e-6)
    # lenstronomy's 'SIE' Hessian is a finite difference with step 1e-10: only ~1e-3 accurate
    sxx, sxy, syx, syy = LensModel(["SIE", "SHEAR"]).hessian(x, y, _lenstronomy_kwargs(cfg))
    err = np.sqrt((fxx - sxx) ** 2 + (fyy - syy) ** 2 + 2 * (fxy - 0.5 * (sxy + syx)) ** 2) / norm
    assert err.max() < 1e-2
    # convergence = half the trace; Jacobian layout
    np.testing.assert_allclose(
        mass.convergence(x, y, **{k: kw[k] for k in ("theta_e", "x0", "y0", "q", "angle")}),
        0.5 * (fxx + fyy),
        rtol=1e-12,
    )
    jac = mass.jacobian(x, y, **kw)
    np.testing.assert_allclose(1.0 / np.linalg.det(jac), mu, rtol=1e-9)


@pytest.mark.parametrize("cfg", CONFIGS[1:4])
def test_hessian_is_derivative_of_deflection(cfg):
    """Analytic Hessian vs central finite differences of the analytic deflection."""
    kw = _kw(cfg)
    rng = np.random.default_rng(5)
    x = kw["x0"] + rng.uniform(-30, 30, 500)
    y = kw["y0"] + rng.uniform(-30, 30, 500)
    h = 1e-5
    axp, ayp = mass.deflection(x + h, y, **kw)
    axm, aym = mass.deflection(x - h, y, **kw)
    bxp, byp = mass.deflection(x, y + h, **kw)
    bxm, bym = mass.deflection(x, y - h, **kw)
    fxx, fxy, fyy = mass.hessian(x, y, **kw)
    norm = np.sqrt(fxx**2 + fyy**2 + 2 * fxy**2)
    np.testing.assert_array_less(np.abs((axp - axm) / (2 * h) - fxx) / norm, 1e-6)
    np.testing.assert_array_less(np.abs((ayp - aym) / (2 * h) - fxy) / norm, 1e-6)
    np.testing.assert_array_less(np.abs((bxp - bxm) / (2 * h) - fxy) / norm, 1e-6)
    np.testing.assert_array_less(np.abs((byp - bym) / (2 * h) - fyy) / norm, 1e-6)
    # and the deflection is the gradient of the potential
    px = (mass.potential(x + h, y, **kw) - mass.potential(x - h, y, **kw)) / (2 * h)
    py = (mass.potential(x, y + h, **kw) - mass.potential(x, y - h, **kw)) / (2 * h)
    ax, ay = mass.deflection(x, y, **kw)
    assert np.max(np.hypot(px - ax, py - ay) / np.hypot(ax, ay)) < 1e-6


def test_broadcasting_over_lenses_and_scalars():
    x, y = pixel_grid(shape=(20, 24))
    te = np.array([3.0, 6.0, 9.0])[:, None, None]
    q = np.array([1.0, 0.7, 0.4])[:, None, None]
    bx, by = mass.deflection(x, y, theta_e=te, x0=11.2, y0=9.7, q=q, angle=0.3, gamma1=0.02)
    assert bx.shape == (3, 20, 24)
    for i in range(3):
        cx, cy = mass.deflection(
            *np.broadcast_arrays(x, y),
            theta_e=te[i, 0, 0],
            x0=11.2,
            y0=9.7,
            q=q[i, 0, 0],
            angle=0.3,
            gamma1=0.02,
        )
        np.testing.assert_allclose(bx[i], cx, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(by[i], cy, rtol=1e-13, atol=1e-13)
    sx, sy = mass.ray_shoot(14.0, 9.7, theta_e=4.0, x0=11.2, y0=9.7)
    assert np.shape(sx) == () and abs(float(sx) - (14.0 - 4.0)) < 1e-12 and float(sy) == 9.7
    with pytest.raises(ValueError):
        mass.deflection(x, y, theta_e=3.0, x0=0.0, y0=0.0, q=1.2)
    with pytest.raises(ValueError):
        mass.deflection(x, y, theta_e=3.0, x0=0.0, y0=0.0, q=0.0)


def test_centred_sie_deflection_is_sie_deflection_bit_for_bit():
    rng = np.random.default_rng(11)
    phi = rng.uniform(0.0, 2.0 * np.pi, 257)
    dx, dy = np.cos(phi) * rng.uniform(0.0, 3.0, 257), np.sin(phi) * rng.uniform(0.0, 3.0, 257)
    dx[0] = dy[0] = 0.0  # the centre
    for theta_e, q, angle in [(7.5, 0.6, 0.4), (3.0, 1.0, 0.0), (12.0, 0.35, -2.0)]:
        got = mass.centred_sie_deflection(theta_e=theta_e, q=q, angle=angle)(dx, dy)
        ref = mass.sie_deflection(dx, dy, theta_e=theta_e, x0=0.0, y0=0.0, q=q, angle=angle)
        for a, b in zip(got, ref, strict=True):
            assert np.array_equal(a, b)


def test_float32_path_is_close_to_float64():
    x, y = pixel_grid(shape=(64, 64), oversample=2)
    kw = _kw(CONFIGS[3])
    b64 = mass.ray_shoot(x, y, **kw)
    b32 = mass.ray_shoot(x.astype(np.float32), y.astype(np.float32), **kw)
    assert b32[0].dtype == np.float32
    assert max(np.abs(b32[0] - b64[0]).max(), np.abs(b32[1] - b64[1]).max()) < 1e-3


# --------------------------------------------------------------------------------------------
# SIS limit and Einstein ring
# --------------------------------------------------------------------------------------------
def test_sis_deflection_is_theta_e_everywhere():
    x, y = _grid(80)
    x0, y0, te = 40.3, 38.8, 13.7
    ax, ay = mass.deflection(x, y, theta_e=te, x0=x0, y0=y0)
    r = np.hypot(x - x0, y - y0)
    np.testing.assert_allclose(np.hypot(ax, ay), te, rtol=1e-12)
    np.testing.assert_allclose(ax, te * (x - x0) / r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ay, te * (y - y0) / r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        mass.convergence(x, y, theta_e=te, x0=x0, y0=y0), te / (2 * r), rtol=1e-12
    )
    # magnification of the SIS: mu = r / (r - theta_e)
    np.testing.assert_allclose(
        mass.magnification(x, y, theta_e=te, x0=x0, y0=y0), r / (r - te), rtol=1e-9
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_lens_ray_shooting_is_the_sie_limit(dtype):
    """``ray_shoot`` of a round lens (q = 1, the SIS fast path) equals the general SIE formula
    at q -> 1 and beta = theta - deflection - shear, the centre ray undeflected."""
    x, y = (v.astype(dtype) for v in _grid(64))
    x[0, 0], y[0, 0] = 31.5, 30.25  # a ray through the lens centre
    kw = dict(theta_e=9.3, x0=31.5, y0=30.25, angle=0.7, gamma1=0.03, gamma2=-0.02)
    bx, by = mass.ray_shoot(x, y, q=1.0, **kw)
    assert bx.dtype == by.dtype == dtype
    near_x, near_y = mass.ray_shoot(x, y, q=1.0 - 1e-12, **kw)
    tol = 1e-9 if dtype == np.float64 else 2e-5  # px; float32 positions are ~4e-6 px apart
    np.testing.assert_allclose(bx, near_x, rtol=0, atol=tol)
    np.testing.assert_allclose(by, near_y, rtol=0, atol=tol)
    ax, ay = mass.deflection(
        x.astype(np.float64), y.astype(np.float64), q=1.0, **kw
    )  # float64 reference
    np.testing.assert_allclose(bx, x - ax, rtol=0, atol=tol)
    np.testing.assert_allclose(by, y - ay, rtol=0, atol=tol)
    assert (bx[0, 0], by[0, 0]) == (x[0, 0], y[0, 0])


@pytest.mark.parametrize(
    "batched",
    [
        {"gamma1": np.array([0.0, 0.05])},
        {"angle": np.array([0.1, 0.5]), "q": np.array([1.0, 0.8])},
        {"shear_x0": np.array([20.0, 40.0])},
        {"x0": np.array([30.0, 33.0])},
        {"theta_e": np.array([5.0, 9.0])},
    ],
    ids=["shear", "angle-q", "shear-centre", "centre", "theta_e"],
)
def test_ray_shooting_broadcasts_batched_parameters(batched):
    """Any parameter given per lens (shape (2, 1, 1)), the others scalar and q = 1 by default:
    the result has the batch axis and each slice is the single-lens result."""
    x, y = _grid(32)
    params = dict(theta_e=7.0, x0=15.5, y0=16.2, angle=0.3, gamma1=0.02, gamma2=-0.01)
    params.update({key: value.reshape(2, 1, 1) for key, value in batched.items()})
    bx, by = mass.ray_shoot(x, y, **params)
    assert bx.shape == by.shape == (2, 32, 32)
    for i in range(2):
        one = {key: (value[i, 0, 0] if np.ndim(value) else value) for key, value in params.items()}
        ex, ey = mass.ray_shoot(x, y, **one)
        np.testing.assert_allclose(bx[i], ex, rtol=0, atol=1e-12)
        np.testing.assert_allclose(by[i], ey, rtol=0, atol=1e-12)


def test_einstein_ring_radius():
    """A small Gaussian source behind an SIS makes a ring of radius theta_e.

    For a source of width sigma, the image is I(r) = S(|r - theta_e|), so the flux-weighted mean
    radius is theta_e + sigma^2 / theta_e and the (1/r)-weighted mean radius is theta_e.
    """
    te, x0, y0, sigma = 15.0, 40.3, 39.6, 0.7

    def source(x, y):
        return 100.0 * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))

    img = lensed_image(source, shape=(80, 80), theta_e=te, x0=x0, y0=y0, oversample=4)
    y, x = np.mgrid[0:80, 0:80]
    r = np.hypot(x - x0, y - y0)
    mean_r = (img * r).sum() / img.sum()
    assert abs(mean_r - (te + sigma**2 / te)) < 0.01
    assert abs(img.sum() / (img / r).sum() - te) < 0.01
    # the ring is round: mean radius in 8 sectors
    phi = np.arctan2(y - y0, x - x0)
    for s in range(8):
        m = (phi >= -np.pi + s * np.pi / 4) & (phi < -np.pi + (s + 1) * np.pi / 4)
        assert abs((img[m] * r[m]).sum() / img[m].sum() - mean_r) < 0.05


def test_disc_magnification_sis():
    """A uniform disc of radius R centred behind an SIS becomes an annulus of area 4 pi theta_e R:
    magnification 4 theta_e / R."""
    te, x0, y0, rad = 15.0, 40.3, 39.6, 3.0

    def disc(x, y):
        return np.where((x - x0) ** 2 + (y - y0) ** 2 <= rad**2, 2.5, 0.0)

    res = lens_source(disc, shape=(80, 80), theta_e=te, x0=x0, y0=y0, oversample=8)
    assert abs(res.magnification / (4 * te / rad) - 1) < 0.005
    assert abs(res.unlensed.sum() / (2.5 * np.pi * rad**2) - 1) < 0.01


# --------------------------------------------------------------------------------------------
# surface brightness conservation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS[1:5])
def test_lensing_conserves_surface_brightness(cfg):
    kw = _kw(cfg)
    k, shape, s0 = 3, (64, 64), 7.25
    bxc, byc = mass.ray_shoot(kw["x0"] + 2.0, kw["y0"] - 1.0, **kw)  # a source near the centre
    rad = 0.6 * kw["theta_e"]

    def disc(x, y):
        return np.where((x - bxc) ** 2 + (y - byc) ** 2 <= rad**2, s0, 0.0)

    img = lensed_image(disc, shape=shape, oversample=k, **kw)
    x, y = pixel_grid(shape=shape, oversample=k, sparse=False)
    bx, by = mass.ray_shoot(x, y, **kw)
    inside = ((bx - bxc) ** 2 + (by - byc) ** 2 <= rad**2).reshape(64, k, 64, k)
    all_in = inside.all(axis=(1, 3))
    all_out = (~inside).all(axis=(1, 3))
    assert all_in.sum() > 20
    np.testing.assert_allclose(img[all_in], s0, rtol=1e-13)
    assert np.all(img[all_out] == 0.0)
    assert np.all((img >= 0) & (img <= s0 * (1 + 1e-13)))


# --------------------------------------------------------------------------------------------
# ray-tracing utilities
# --------------------------------------------------------------------------------------------
def test_pixel_grid_and_downsample():
    for k in (1, 2, 3, 4):
        x, y = pixel_grid(shape=(5, 7), oversample=k, sparse=False)
        assert x.shape == (5 * k, 7 * k)
        np.testing.assert_allclose(
            downsample(x, oversample=k), np.broadcast_to(np.arange(7), (5, 7))
        )
        np.testing.assert_allclose(
            downsample(y, oversample=k), np.broadcast_to(np.arange(5)[:, None], (5, 7))
        )
        assert np.all(np.diff(x[0]) > 0) and abs(x[0, 0] - (-0.5 + 0.5 / k)) < 1e-15
    with pytest.raises(ValueError):
        pixel_grid(shape=(4, 4), oversample=0)


def test_batched_lensed_image_equals_loop():
    kws = [_kw(c) for c in CONFIGS[:4]]
    batch = {k: np.array([kw[k] for kw in kws]) for k in kws[0]}

    def source(x, y):
        return 50.0 * np.exp(-((x - 31.0) ** 2 + 0.5 * (y - 33.0) ** 2) / 4.0)

    imgs = lensed_image(source, shape=(48, 40), oversample=2, **batch)
    assert imgs.shape == (4, 48, 40)
    for i, kw in enumerate(kws):
        np.testing.assert_allclose(
            imgs[i],
            lensed_image(source, shape=(48, 40), oversample=2, **kw),
            rtol=1e-12,
            atol=1e-14,
        )
    mu = source_magnification(
        lensed=imgs, unlensed=unlensed_image(source, shape=(48, 40), oversample=2)
    )
    assert mu.shape == (4,) and np.all(mu > 1)
    f32 = lensed_image(source, shape=(48, 40), oversample=2, dtype=np.float32, **batch)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, imgs, rtol=0, atol=1e-3 * imgs.max())


def test_arc_mask():
    img = np.zeros((2, 10, 10))
    img[0, 2, 3], img[0, 5, 5], img[0, 7, 7] = 100.0, 9.0, 11.0
    img[1, 1, 1], img[1, 2, 2] = 1.0, 0.2
    m = arc_mask(img, fraction=0.1)
    assert m[0].sum() == 2 and m[0, 2, 3] and m[0, 7, 7] and not m[0, 5, 5]
    assert m[1].sum() == 2
    m = arc_mask(img, fraction=0.0, noise_sigma=1.0, nsigma=3.0)
    assert m[0].sum() == 3 and m[1].sum() == 0
    m = arc_mask(img, fraction=0.5, noise_sigma=np.array([1.0, 0.01])[:, None, None])
    assert m[0].sum() == 1 and m[1].sum() == 1
    with pytest.raises(ValueError):
        arc_mask(img, fraction=1.5)


# --------------------------------------------------------------------------------------------
# point sources
# --------------------------------------------------------------------------------------------
def _residual(res, bx, by, kw):
    sx, sy = mass.ray_shoot(res.x, res.y, **kw)
    return np.hypot(sx - bx, sy - by)


@pytest.mark.parametrize(("bx", "by"), [(33.0, 31.5), (31.0, 28.0), (35.7, 36.1), (32.001, 32.0)])
def test_point_source_sis_analytic(bx, by):
    te, x0, y0 = 10.0, 32.0, 32.0
    res = solve_lens_equation(beta_x=bx, beta_y=by, theta_e=te, x0=x0, y0=y0)
    beta = np.hypot(bx - x0, by - y0)
    assert 0 < beta < te  # doubly imaged
    assert len(res) == 2
    assert np.all(_residual(res, bx, by, dict(theta_e=te, x0=x0, y0=y0)) < 1e-6)
    u = np.array([bx - x0, by - y0]) / beta
    order = np.argsort(-res.magnification)  # + image first
    exp_pos = np.array([[x0, y0] + (beta + te) * u, [x0, y0] - (te - beta) * u])
    np.testing.assert_allclose(np.c_[res.x, res.y][order], exp_pos, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        res.magnification[order], [1 + te / beta, 1 - te / beta], rtol=1e-6, atol=0
    )
    assert list(res.parity[order]) == [1, -1]
    # the positive-parity image (minimum) arrives first
    assert res.parity[0] == 1 and res.fermat_potential[0] < res.fermat_potential[1]


def test_point_source_outside_sis_einstein_radius_is_single():
    res = solve_lens_equation(beta_x=50.0, beta_y=32.0, theta_e=10.0, x0=32.0, y0=32.0)
    assert len(res) == 1
    np.testing.assert_allclose([res.x[0], res.y[0]], [60.0, 32.0], atol=1e-9)
    np.testing.assert_allclose(res.magnification, 1 + 10.0 / 18.0, rtol=1e-9)


def test_point_source_degenerate_and_invalid():
    with pytest.raises(ValueError, match="Einstein ring"):
        solve_lens_equation(beta_x=32.0, beta_y=32.0, theta_e=10.0, x0=32.0, y0=32.0)
    with pytest.raises(ValueError, match="shear"):
        solve_lens_equation(beta_x=30.0, beta_y=32.0, theta_e=10.0, x0=32.0, y0=32.0, gamma1=1.0)


@pytest.mark.parametrize("seed", range(6))
def test_point_source_sie_shear_vs_lenstronomy(seed):
    pytest.importorskip("lenstronomy")
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver

    rng = np.random.default_rng(100 + seed)
    te, q, angle = rng.uniform(5, 15), rng.uniform(0.4, 1.0), rng.uniform(-np.pi, np.pi)
    g1, g2 = rng.uniform(-0.08, 0.08, 2)
    x0, y0 = 32.0 + rng.normal(0, 1, 2)
    bx, by = x0 + rng.normal(0, 0.15 * te), y0 + rng.normal(0, 0.15 * te)
    cfg = (te, x0, y0, q, angle, g1, g2)
    kw = _kw(cfg)
    res = solve_lens_equation(beta_x=bx, beta_y=by, **kw)
    assert len(res) in (2, 3, 4)
    assert np.all(res.residual < 1e-6) and np.all(_residual(res, bx, by, kw) < 1e-6)
    # independent check of the lens equation with lenstronomy's ray shooting
    lm = LensModel(["SIE", "SHEAR"])
    lx, ly = lm.ray_shooting(res.x, res.y, _lenstronomy_kwargs(cfg))
    assert np.all(np.hypot(lx - bx, ly - by) < 1e-6)
    # same images as lenstronomy's solver (which also sorts by arrival time)
    solver = LensEquationSolver(lm)
    xs, ys = solver.image_position_from_source(
        bx,
        by,
        _lenstronomy_kwargs(cfg),
        search_window=5 * te,
        min_distance=te / 100,
        precision_limit=1e-12,
        num_iter_max=200,
        x_center=x0,
        y_center=y0,
    )
    assert len(xs) == len(res)
    np.testing.assert_allclose(xs, res.x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ys, res.y, rtol=0, atol=1e-6)
    lmu = LensModel(["EPL", "SHEAR"]).magnification(xs, ys, _lenstronomy_kwargs(cfg, epl=True))
    np.testing.assert_allclose(res.magnification, lmu, rtol=1e-6)
    np.testing.assert_array_equal(res.parity, np.sign(lmu).astype(np.int8))


def test_point_source_near_fold_caustic():
    """A source 1e-7 theta_e from a fold: the two nearly merged images are still found."""
    te, q, x0, y0 = 10.0, 0.7, 0.0, 0.0
    b = te * np.sqrt(q)
    kw = dict(theta_e=te, x0=x0, y0=y0, q=q, angle=0.0)
    # tangential critical curve of an SIE: q^2 x^2 + y^2 = b^2 (2 kappa = 1)
    t = np.array([np.pi / 4 - 1e-4, np.pi / 4, np.pi / 4 + 1e-4])
    cx, cy = mass.ray_shoot(b / q * np.cos(t), b * np.sin(t), **kw)
    tx, ty = cx[2] - cx[0], cy[2] - cy[0]
    nx, ny = -ty / np.hypot(tx, ty), tx / np.hypot(tx, ty)
    counts = []
    for sgn in (1, -1):
        bx, by = cx[1] + sgn * 1e-7 * te * nx, cy[1] + sgn * 1e-7 * te * ny
        res = solve_lens_equation(beta_x=bx, beta_y=by, **kw)
        assert np.all(_residual(res, bx, by, kw) < 1e-6)
        counts.append(len(res))
        if len(res) == 4:
            # the merging pair: close together, opposite parities, highly magnified
            big = np.argsort(-np.abs(res.magnification))[:2]
            assert np.hypot(*np.diff(np.c_[res.x[big], res.y[big]], axis=0)[0]) < 0.05
            assert res.parity[big].sum() == 0 and np.all(np.abs(res.magnification[big]) > 100)
    assert sorted(counts) == [2, 4]


def test_point_magnification_matches_small_extended_source():
    """sum |mu_i| of a point source = lensed/unlensed flux of a tiny source there."""
    cfg = CONFIGS[2]
    kw = _kw(cfg)
    bx, by = kw["x0"] + 1.3, kw["y0"] - 0.9
    res = solve_lens_equation(beta_x=bx, beta_y=by, **kw)
    assert len(res) == 4

    def source(x, y):
        return np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * 0.05**2))

    out = lens_source(source, shape=(64, 64), oversample=16, **kw)
    assert abs(out.magnification / np.abs(res.magnification).sum() - 1) < 0.02
