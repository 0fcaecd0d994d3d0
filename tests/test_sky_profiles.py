"""Sky profiles: agreement with astropy, normalisation, pixel integration, spiral geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.convolution import discretize_model
from astropy.modeling.functional_models import Moffat2D, Sersic2D
from scipy import integrate, special

from deepbench_hf.sky import profiles as P
from deepbench_hf.sky import stamps as S

BIG = (-(10**6), 10**6, -(10**6), 10**6)  # bounds that never clip


def _points(rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(-30, 30, n), rng.uniform(-30, 30, n)


@pytest.mark.parametrize("fwhm, beta", [(1.0, 1.5), (3.0, 2.5), (4.2, 4.765), (7.0, 10.0)])
def test_moffat_matches_astropy(fwhm: float, beta: float) -> None:
    x, y = _points(np.random.default_rng(1))
    gamma = float(P.moffat_gamma(fwhm, beta))
    amplitude = 250.0 * (beta - 1) / (np.pi * gamma**2)
    ref = Moffat2D(amplitude=amplitude, x_0=1.3, y_0=-2.2, gamma=gamma, alpha=beta)(x, y)
    mine = P.moffat(x, y, flux=250.0, x0=1.3, y0=-2.2, fwhm=fwhm, beta=beta)
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=0)
    # FWHM is the FWHM: half the peak at r = fwhm / 2.
    half = P.moffat(fwhm / 2, 0.0, flux=1.0, x0=0.0, y0=0.0, fwhm=fwhm, beta=beta)
    peak = P.moffat(0.0, 0.0, flux=1.0, x0=0.0, y0=0.0, fwhm=fwhm, beta=beta)
    assert half / peak == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("n", [0.5, 1.0, 2.5, 4.0, 6.0])
@pytest.mark.parametrize("q, angle", [(1.0, 0.0), (0.6, 0.4), (0.25, -2.0)])
def test_sersic_matches_astropy(n: float, q: float, angle: float) -> None:
    x, y = _points(np.random.default_rng(2))
    i_e = float(P.sersic_amplitude(flux=1e4, r_eff=5.0, n=n, q=q))
    model = Sersic2D(amplitude=i_e, r_eff=5.0, n=n, x_0=0.7, y_0=-1.1, ellip=1 - q, theta=angle)
    mine = P.sersic(x, y, flux=1e4, x0=0.7, y0=-1.1, r_eff=5.0, n=n, q=q, angle=angle)
    np.testing.assert_allclose(mine, model(x, y), rtol=1e-10, atol=0)


def test_point_functions_broadcast_array_parameters() -> None:
    """The lensing module passes per-lens parameters of shape S + (1, 1)."""
    x = np.linspace(-5, 5, 7)[None, None, :]
    y = np.linspace(-4, 4, 6)[None, :, None]
    n = np.array([1.0, 4.0])[:, None, None]
    out = P.sersic(x, y, flux=10.0, x0=0.0, y0=0.0, r_eff=2.0, n=n, q=0.5, angle=0.3)
    assert out.shape == (2, 6, 7)
    one = P.sersic(x[0], y[0], flux=10.0, x0=0.0, y0=0.0, r_eff=2.0, n=4.0, q=0.5, angle=0.3)
    np.testing.assert_allclose(out[1], one, rtol=1e-12)
    sp = P.spiral(x, y, flux=10.0, x0=0.0, y0=0.0, disc_scale=np.array([2.0, 3.0])[:, None, None])
    assert sp.shape == (2, 6, 7) and np.all(np.isfinite(sp))


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0, 4.0, 6.0])
def test_sersic_normalisation_and_radii(n: float) -> None:
    q, r_eff = 0.6, 3.0
    i_e = float(P.sersic_amplitude(flux=1.0, r_eff=r_eff, n=n, q=q))
    b = P.sersic_bn(n)

    def ring(rho: float) -> float:  # flux per unit elliptical radius
        return 2 * np.pi * q * r_eff**2 * rho * i_e * np.exp(-b * (rho ** (1 / n) - 1))

    total = integrate.quad(ring, 0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, rel=1e-8)
    half = integrate.quad(ring, 0, 1.0, limit=200)[0]
    assert half == pytest.approx(0.5, rel=1e-8)
    r999 = P.sersic_radius(r_eff=r_eff, n=n, fraction=0.999)
    assert P.sersic_enclosed(r999 / r_eff, n=n) == pytest.approx(0.999, rel=1e-10)


def test_moffat_radius_inverts_enclosed() -> None:
    for fwhm, beta in [(2.0, 1.5), (3.0, 4.765)]:
        r = P.moffat_radius(fwhm=fwhm, beta=beta, fraction=0.999)
        assert P.moffat_enclosed(r, fwhm=fwhm, beta=beta) == pytest.approx(0.999, rel=1e-12)
        total = integrate.quad(
            lambda rr, f=fwhm, b=beta: (
                2 * np.pi * rr * P.moffat(rr, 0, flux=1, x0=0, y0=0, fwhm=f, beta=b)
            ),
            0,
            np.inf,
        )[0]
        assert total == pytest.approx(1.0, rel=1e-8)


def _sum(stamp: S.Stamp) -> float:
    return float(stamp.data.sum(dtype=np.float64))


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0, 4.0, 6.0])
@pytest.mark.parametrize("q", [1.0, 0.5, 0.25])
def test_sersic_stamp_flux(n: float, q: float) -> None:
    r_eff = 1.5 if n >= 4 else 3.0
    st = S.draw_elliptical(
        flux=1000.0, x0=0.37, y0=-0.21, r_eff=r_eff, n=n, q=q, angle=0.7, bounds=BIG
    )
    # The stamp holds >= 99.9 % of the light; integration errors are ~1e-4.
    assert 0.9985 < _sum(st) / 1000.0 < 1.0005


@pytest.mark.parametrize("r_eff", [0.3, 0.7, 8.0])
def test_sersic_stamp_flux_extreme_sizes(r_eff: float) -> None:
    for n in (0.5, 4.0):
        st = S.draw_elliptical(
            flux=50.0, x0=3.5, y0=2.25, r_eff=r_eff, n=n, q=0.4, angle=1.0, bounds=BIG
        )
        assert 0.9985 < _sum(st) / 50.0 < 1.0005


@pytest.mark.filterwarnings("error")
def test_sersic_just_above_n_1_draws_quietly_and_keeps_its_flux() -> None:
    """n = 1.005 (sky-hard train row 4598): the radius where the slope exceeds the rule's limit
    is ~1e-62 px, whose cusp coefficients overflow float32 (silently unused)."""
    st = S.draw_elliptical(
        flux=825.5,
        x0=0.3,
        y0=0.2,
        r_eff=1.7726,
        n=1.0049934445341344,
        q=0.321,
        angle=0.4,
        bounds=BIG,
    )
    assert np.all(np.isfinite(st.data))
    assert 0.9985 < _sum(st) / 825.5 < 1.0005


@pytest.mark.parametrize("fwhm, beta", [(0.8, 4.765), (2.0, 2.0), (3.5, 3.0)])
def test_moffat_stamp_flux(fwhm: float, beta: float) -> None:
    st = S.draw_star(flux=1000.0, x0=10.4, y0=-3.7, fwhm=fwhm, beta=beta, bounds=BIG)
    assert 0.9985 < _sum(st) / 1000.0 < 1.0005


def test_gaussian_sersic_pixels_match_erf() -> None:
    """n = 0.5 is a Gaussian: its pixel integrals are products of erf differences."""
    for r_eff, q in [(0.5, 1.0), (1.0, 0.5), (3.0, 0.3)]:
        st = S.draw_elliptical(
            flux=1.0, x0=0.37, y0=-0.21, r_eff=r_eff, n=0.5, q=q, angle=0.0, bounds=BIG
        )
        sx = r_eff / math.sqrt(2 * P.sersic_bn(0.5))
        sy = q * sx

        def edges(lo: int, count: int, c0: float, s: float) -> np.ndarray:
            e = (np.arange(lo, lo + count + 1) - 0.5 - c0) / (math.sqrt(2) * s)
            return np.diff(special.erf(e)) / 2

        h, w = st.data.shape
        exact = np.outer(edges(st.row0, h, -0.21, sy), edges(st.col0, w, 0.37, sx))
        big = exact > 1e-3 * exact.max()
        np.testing.assert_allclose(st.data[big], exact[big], rtol=3e-3)


def _brute_pixel(row: int, col: int, m: int = 512, **params: float) -> float:
    """Mean of the Sérsic surface brightness over pixel (row, col) on m x m sub-samples."""
    sub = (np.arange(m) + 0.5) / m - 0.5
    return float(P.sersic((col + sub)[None, :], (row + sub)[:, None], **params).mean())


@pytest.mark.parametrize("n", [0.6, 0.8, 0.986, 1.0])
def test_conical_peak_pixels_are_integrated(n: float) -> None:
    """Sérsic 0.5 < n <= 1 has a kink at the centre (exp(-b rho) for n = 1): its central pixels
    are sub-sampled even where the slope is small (the plain cell-average rule is off by ~3 %
    there), and agree with a 512 x 512 sub-sampled mean to 0.1 %."""
    params = dict(flux=1742.5, x0=38.81, y0=31.50, r_eff=5.84, n=n, q=0.43, angle=-0.08)
    st = S.draw_elliptical(bounds=BIG, **params)
    for row in (30, 31, 32, 33):
        for col in (38, 39, 40):
            ref = _brute_pixel(row, col, **params)
            assert st.data[row - st.row0, col - st.col0] == pytest.approx(ref, rel=1e-3)


def test_cusp_inside_one_pixel_is_deposited_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Sérsic cusp (n > 1) that fits inside one pixel gets its analytic flux in that pixel,
    which agrees with the photon-shot cells (the general path) to their discretisation error."""
    from deepbench_hf.sky import cusp, integrate

    params = dict(flux=1000.0, x0=10.05, y0=9.95, r_eff=3.0, n=4.0, q=0.7, angle=0.4)
    p = integrate.SersicRadial(1000.0, 10.05, 9.95, 3.0, 4.0, 0.7, 0.4)
    cusp_radius = integrate.refinement_levels(p)[1] * p.a  # px
    assert 0.0 < cusp_radius < 0.4  # inside the pixel
    calls = []
    deposit = cusp._deposit_whole
    monkeypatch.setattr(cusp, "_deposit_whole", lambda *a: calls.append(deposit(*a)) or calls[-1])
    whole = S.draw_elliptical(bounds=BIG, **params)
    assert calls == [True]
    monkeypatch.setattr(cusp, "_deposit_whole", lambda *args: False)
    shot = S.draw_elliptical(bounds=BIG, **params)
    assert whole.data.shape == shot.data.shape
    np.testing.assert_allclose(whole.data, shot.data, rtol=1e-3, atol=1e-6)
    assert _sum(whole) == pytest.approx(_sum(shot), rel=1e-6)


def test_stamps_agree_with_astropy_discretized() -> None:
    """Pixel integrals agree with astropy's oversampled discretisation where it converges."""
    x0, y0 = 20.3, 19.6
    star = S.draw_star(flux=500.0, x0=x0, y0=y0, fwhm=4.0, beta=3.0, bounds=(0, 40, 0, 40))
    gamma = float(P.moffat_gamma(4.0, 3.0))
    model = Moffat2D(500.0 * 2 / (np.pi * gamma**2), x0, y0, gamma, 3.0)
    ref = discretize_model(model, (0, 40), (0, 40), mode="oversample", factor=20)
    full = np.zeros((40, 40))
    full[star.slices] = star.data
    np.testing.assert_allclose(full, ref, rtol=2e-3, atol=1e-6 * ref.max())

    gal = S.draw_elliptical(
        flux=500.0, x0=x0, y0=y0, r_eff=4.0, n=4.0, q=0.7, angle=0.5, bounds=(0, 40, 0, 40)
    )
    i_e = float(P.sersic_amplitude(flux=500.0, r_eff=4.0, n=4.0, q=0.7))
    ref = discretize_model(
        Sersic2D(i_e, 4.0, 4.0, x0, y0, 0.3, 0.5), (0, 40), (0, 40), mode="oversample", factor=20
    )
    full[:] = 0
    full[gal.slices] = gal.data
    yy, xx = np.mgrid[0:40, 0:40]
    away = np.hypot(xx - x0, yy - y0) > 3  # astropy's oversampling is inexact at the cusp
    np.testing.assert_allclose(full[away], ref[away], rtol=2e-3)


def test_stamp_clipping_and_empty() -> None:
    st = S.draw_elliptical(
        flux=100.0, x0=-2.0, y0=5.0, r_eff=3.0, n=1.0, q=1.0, angle=0.0, bounds=(0, 20, 0, 20)
    )
    assert st.col0 == 0 and st.row0 >= 0
    # the light on the 20 x 20 frame's pixels: astropy's profile (exact b_1) integrated there
    b = special.gammaincinv(2.0, 0.5)
    amplitude = 100.0 / (2.0 * math.pi * 9.0 * math.exp(b) / b**2)  # I_e of flux 100, n = 1
    model = Sersic2D(amplitude=amplitude, r_eff=3.0, n=1.0, x_0=-2.0, y_0=5.0)
    inside, _ = integrate.dblquad(lambda y, x: model(x, y), -0.5, 19.5, -0.5, 19.5)
    assert _sum(st) == pytest.approx(inside, rel=1.5e-3)
    out = S.draw_star(flux=1.0, x0=-500.0, y0=5.0, fwhm=2.0, beta=3.0, bounds=(0, 20, 0, 20))
    assert out.empty


SPIRAL = dict(
    flux=1.0e4,
    x0=0.0,
    y0=0.0,
    disc_scale=6.0,
    q=1.0,
    angle=0.3,
    arm_count=2,
    winding=4.0,
    pitch=0.8,
    arm_width=2.5,
    arm_fraction=0.7,
)


def test_spiral_arms_have_no_seam() -> None:
    """Along circles the arm intensity is smooth, including across the atan2 branch cut."""
    theta = np.linspace(-np.pi, np.pi, 7201)
    for r in (2.0, 5.0, 12.0, 25.0):
        for extra in ({}, {"q": 0.5, "angle": 1.1}, {"chirality": -1, "arm_count": 3}):
            kw = {**SPIRAL, **extra}
            f = P.spiral(r * np.cos(theta), r * np.sin(theta), **kw)
            jumps = np.abs(np.diff(f))
            # A smooth curve sampled at 0.05 deg: adjacent jumps are tiny compared with its range
            assert jumps.max() < 0.01 * (f.max() - f.min() + 1e-300)
            assert f[0] == pytest.approx(f[-1], rel=1e-9)  # theta = -pi and +pi


def test_spiral_m_fold_symmetry() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-20, 20, 300), rng.uniform(-20, 20, 300)
    for m in (2, 3, 4):
        kw = {**SPIRAL, "arm_count": m}
        a = 2 * np.pi / m
        xr, yr = x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)
        np.testing.assert_allclose(P.spiral(xr, yr, **kw), P.spiral(x, y, **kw), rtol=1e-9)
    # With inclination, point symmetry for an even number of arms.
    kw = {**SPIRAL, "q": 0.4, "angle": 0.9}
    np.testing.assert_allclose(P.spiral(-x, -y, **kw), P.spiral(x, y, **kw), rtol=1e-9)


def test_spiral_arms_carry_zero_net_flux() -> None:
    """The arm term redistributes disc light: its integral over the plane vanishes."""
    r = np.linspace(0, 80, 4001)[1:]
    th = np.linspace(0, 2 * np.pi, 721)[:-1]
    rr, tt = np.meshgrid(r, th)
    mod = P.spiral_arm_term(
        rr * np.cos(tt),
        rr * np.sin(tt),
        disc_flux=1.0,
        disc_scale=6.0,
        q=1.0,
        angle=0.0,
        arm_fraction=0.7,
        arm_count=2,
        winding=4.0,
        pitch=0.8,
        arm_scale=12.0,
        arm_width=2.5,
        arm_phase=0.0,
        chirality=1,
    )
    ring = mod.mean(axis=0) * 2 * np.pi * r  # azimuthal integral at each radius
    assert np.abs(ring).max() < 1e-6
    assert np.abs(mod).max() > 1e-3  # ... while the arms are there


def test_spiral_stamp_flux_and_pixel_integrals() -> None:
    kw = {**SPIRAL, "q": 0.6, "x0": 0.3, "y0": -0.4, "disc_scale": 4.0}
    st = S.draw_spiral(bounds=BIG, **kw)
    assert 0.9985 < _sum(st) / SPIRAL["flux"] < 1.0005
    # Pixel integrals agree with a brute-force 8 x 8 sub-sampling of the point function
    # (away from the bulge's cusp, where brute force is the inaccurate one).
    h, w = st.data.shape
    yy, xx = np.mgrid[st.row0 : st.row0 + h, st.col0 : st.col0 + w]
    offsets = (np.arange(8) + 0.5) / 8 - 0.5
    ref = sum(P.spiral(xx + a, yy + b, **kw) for a in offsets for b in offsets) / 64
    keep = (np.hypot(xx - 0.3, yy + 0.4) > 3) & (ref > 1e-3 * ref.max())
    np.testing.assert_allclose(st.data[keep], ref[keep], rtol=5e-3)


@pytest.mark.parametrize("m", [1, 2, 4, 8])
def test_cell_average_rule_matches_stencil(m: int) -> None:
    """The matrix form of the cell-average rule equals the explicit per-sub-cell sum of
    h^2 (P + L / 24) with the five-point Laplacian L."""
    from deepbench_hf.sky.integrate import cell_average

    box = (3, 8, -2, 4)  # 5 rows x 6 columns

    def func(xs, ys):
        return (
            np.exp(-0.3 * ((xs - 1.2) ** 2)[None, :] - 0.2 * ((ys - 5.1) ** 2)[:, None])
            + 0.1 * np.sin(xs)[None, :] * ys[:, None]
        ).astype(np.float32)

    got = cell_average(func, box, m)
    h = 1.0 / m
    xs = np.arange(-1, 6 * m + 1) * h + (box[2] - 0.5 + 0.5 * h)
    ys = np.arange(-1, 5 * m + 1) * h + (box[0] - 0.5 + 0.5 * h)
    p = func(xs, ys).astype(np.float64)
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    cell = h * h * (p[1:-1, 1:-1] + lap / 24.0)
    ref = cell.reshape(5, m, 6, m).sum(axis=(1, 3))
    assert got.shape == (5, 6)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    ("m", "winding", "pitch", "arm_scale", "phase", "chirality", "q", "angle"),
    [
        (2, 3.0, 1.0, 10.0, 0.0, 1, 1.0, 0.0),
        (2, 5.0, 0.6, 8.0, 0.7, -1, 1.0, 0.0),
        (3, 2.5, 2.0, 12.0, -1.1, 1, 0.6, 0.4),
        (4, 8.0, 1.4, 6.0, 2.0, -1, 0.35, 2.2),
    ],
)
def test_spiral_arm_ridges_follow_ringermacher_mead(
    m: int, winding: float, pitch: float, arm_scale: float, phase: float, chirality: int,
    q: float, angle: float,
) -> None:  # fmt: skip
    """On each circle of the de-projected disc (radius r along the major axis), the arm term
    peaks at the azimuths where Ringermacher & Mead's r(phi) = A / ln[B tan(phi / 2N)] puts an
    arm: theta = chirality (arm_phase + phi + 2 pi k / m), phi = 2N arctan(exp(A / r) / B),
    measured from the major axis towards +v (the minor axis at angle + pi/2, shrunk by q)."""
    h = 5.0
    theta = np.linspace(0.0, 2.0 * np.pi, 36000, endpoint=False)
    for r in (0.5 * h, 1.0 * h, 2.0 * h, 3.0 * h):
        u, v = r * np.cos(theta), q * r * np.sin(theta)  # on the sky, before the rotation
        dx = u * math.cos(angle) - v * math.sin(angle)
        dy = u * math.sin(angle) + v * math.cos(angle)
        arms = P.spiral_arm_term(
            dx, dy, disc_flux=1.0, disc_scale=h, q=q, angle=angle, arm_fraction=0.5,
            arm_count=m, winding=winding, pitch=pitch, arm_scale=arm_scale, arm_width=1.5,
            arm_phase=phase, chirality=chirality,
        )  # fmt: skip
        peak = theta[np.argmax(arms)]
        # the ridge from the paper's r(phi), solved for phi and checked against it
        phi = 2.0 * winding * math.atan(math.exp(arm_scale / r) / pitch)
        assert arm_scale / math.log(pitch * math.tan(phi / (2.0 * winding))) == pytest.approx(r)
        expected = chirality * (phase + phi)
        period = 2.0 * np.pi / m
        miss = (peak - expected + period / 2) % period - period / 2
        assert abs(miss) < 1e-3, (r, peak, expected)
