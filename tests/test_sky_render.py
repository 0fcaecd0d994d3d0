"""Scene rendering: flux, centroids, PSF, bit-identical re-rendering and truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepbench_hf.sky import render as R
from deepbench_hf.sky.noise import background_sigma, ccd_noise, gaussian_noise
from deepbench_hf.sky.psf import PSF, convolve, make_psf, psf_kernel

GAUSS = PSF(fwhm=2.5, kind="gaussian")
MOFFAT = PSF(fwhm=3.0, kind="moffat", beta=3.5)


def _centroid(image: np.ndarray) -> tuple[float, float]:
    img = image.astype(np.float64)
    rows, cols = np.indices(img.shape)
    total = img.sum()
    return float((img * cols).sum() / total), float((img * rows).sum() / total)


OBJECTS = [
    R.Star(x=60.37, y=63.81, flux=5e3, fwhm=3.0, beta=3.5),
    R.Star(x=64.5, y=64.5, flux=5e3, fwhm=1.6, beta=4.765),
    R.Elliptical(x=63.21, y=64.66, flux=5e3, r_eff=3.0, n=1.0, q=0.5, angle=0.4),
    R.Elliptical(x=64.74, y=63.13, flux=5e3, r_eff=3.0, n=2.5, q=0.7, angle=2.0),
    R.Elliptical(x=62.9, y=64.35, flux=5e3, r_eff=5.0, n=4.0, q=0.6, angle=-0.6),
    R.Spiral(x=63.62, y=64.27, flux=5e3, disc_scale=4.0, q=0.6, angle=0.8),
    R.Spiral(x=64.1, y=63.4, flux=5e3, disc_scale=3.0, arm_count=3, winding=5, pitch=0.7),
]
SHAPE = (128, 128)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o.kind}")
@pytest.mark.parametrize("psf", [None, GAUSS, MOFFAT], ids=["nopsf", "gauss", "moffat"])
def test_isolated_object_flux_and_centroid(obj, psf) -> None:
    shape = SHAPE
    if isinstance(obj, R.Elliptical) and obj.n >= 4:  # 99.9 % radius: 35 r_eff
        shape = (400, 400)
        obj = dataclasses.replace(obj, x=obj.x + 136, y=obj.y + 136)
    image = R.render_image(shape=shape, objects=[obj], psf=psf)
    assert image.dtype == np.float32 and image.shape == shape
    # Integrates to the flux (the stamp holds >= 99.9 %; the PSF conserves flux).
    assert image.sum(dtype=np.float64) == pytest.approx(obj.flux, rel=2e-3)
    cx, cy = _centroid(image)
    assert abs(cx - obj.x) < 0.02 and abs(cy - obj.y) < 0.02


def test_rerender_is_bit_identical() -> None:
    objs = [R.object_to_dict(o) for o in OBJECTS]
    for psf in (None, GAUSS, {"kind": "moffat", "fwhm": 2.0, "beta": 2.5}):
        scene = R.render_scene(shape=(96, 80), objects=objs, psf=psf)
        again = R.render_image(shape=(96, 80), objects=objs, psf=psf)
        assert scene.image.tobytes() == again.tobytes()
        twice = R.render_scene(shape=(96, 80), objects=scene.objects, psf=scene.psf)
        assert twice.image.tobytes() == scene.image.tobytes()
        for a, b in zip(scene.stamps, twice.stamps, strict=True):
            assert (a.row0, a.col0) == (b.row0, b.col0)
            assert a.data.tobytes() == b.data.tobytes()


def test_scene_is_sum_of_stamps_and_stamps_clip_to_frame() -> None:
    objs = [
        R.Star(x=-0.5, y=10.0, flux=1e3, fwhm=3.0),  # centre on the frame's edge
        R.Elliptical(x=30.0, y=47.0, flux=1e3, r_eff=4.0, n=2.0),  # touches the top edge
        R.Star(x=500.0, y=10.0, flux=1e3),  # far outside: empty stamp
    ]
    scene = R.render_scene(shape=(48, 40), objects=objs, psf=GAUSS)
    total = np.zeros((48, 40))
    for st in scene.stamps:
        if not st.empty:
            assert st.row0 >= 0 and st.col0 >= 0
            assert st.row0 + st.data.shape[0] <= 48 and st.col0 + st.data.shape[1] <= 40
            total[st.slices] += st.data
    np.testing.assert_allclose(scene.image, total, rtol=1e-6)
    assert scene.stamps[2].empty
    assert scene.stamps[0].data.sum() / 1e3 == pytest.approx(0.5, abs=2e-3)  # half in the frame


def test_psf_kernel_properties() -> None:
    for kind, beta in (("gaussian", 0.0), ("moffat", 2.5), ("moffat", 4.765)):
        ker = psf_kernel(fwhm=3.0, kind=kind, beta=beta if beta else 4.765)
        k = ker.shape[0] // 2
        assert ker.shape[0] == ker.shape[1] and ker.shape[0] % 2 == 1
        assert ker.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.unravel_index(ker.argmax(), ker.shape) == (k, k)
        np.testing.assert_allclose(ker, ker[::-1, ::-1], atol=1e-15)
        np.testing.assert_allclose(ker, ker.T, atol=1e-15)
        # The profile of FWHM 3 px sampled at the pixel centres, from its textbook form.
        r2 = np.arange(-k, k + 1)[:, None] ** 2 + np.arange(-k, k + 1)[None, :] ** 2
        if kind == "gaussian":
            sigma = 3.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
            shape = np.exp(-r2 / (2.0 * sigma**2))
        else:
            gamma = 3.0 / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
            shape = (1.0 + r2 / gamma**2) ** -beta
        np.testing.assert_allclose(ker / ker[k, k], shape, rtol=1e-12)
    assert psf_kernel(fwhm=2.0, kind="gaussian", size=7).shape == (7, 7)
    with pytest.raises(ValueError):
        psf_kernel(fwhm=2.0, size=8)
    assert make_psf({"fwhm": 0}) is None and make_psf(None) is None


def test_separable_gaussian_convolution_matches_fft() -> None:
    from scipy.signal import fftconvolve

    img = np.random.default_rng(0).random((20, 30))
    full = convolve(img, GAUSS, mode="full")
    ref = fftconvolve(img, GAUSS.kernel(), mode="full")
    np.testing.assert_allclose(full, ref, atol=1e-12)
    np.testing.assert_allclose(
        convolve(img, GAUSS, mode="same"),
        ref[GAUSS.radius : -GAUSS.radius, GAUSS.radius : -GAUSS.radius],
        atol=1e-12,
    )


@pytest.mark.parametrize("shape", [(20, 30), (7, 41), (1, 1)])
def test_moffat_fft_convolution_matches_direct(shape) -> None:
    from scipy.signal import convolve as direct

    img = np.random.default_rng(1).random(shape)
    k = MOFFAT.radius
    ref = direct(img, MOFFAT.kernel(), mode="full", method="direct")
    np.testing.assert_allclose(convolve(img, MOFFAT, mode="full"), ref, atol=1e-12)
    same = convolve(img.astype(np.float32), MOFFAT, mode="same")
    assert same.dtype == np.float64 and same.shape == shape
    np.testing.assert_allclose(same, ref[k : k + shape[0], k : k + shape[1]], atol=1e-6)


@pytest.mark.parametrize("psf", [GAUSS, MOFFAT], ids=["gaussian", "moffat"])
@pytest.mark.parametrize("mode", ["full", "same"])
def test_a_stack_convolves_like_its_images_one_by_one(psf, mode) -> None:
    stack = np.random.default_rng(2).random((3, 17, 23))
    together = convolve(stack, psf, mode=mode)
    for image, out in zip(stack, together, strict=True):
        np.testing.assert_allclose(out, convolve(image, psf, mode=mode), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="at least 2-D"):
        convolve(np.ones(5), psf)


@pytest.mark.parametrize("psf", [GAUSS, MOFFAT], ids=["gaussian", "moffat"])
@pytest.mark.parametrize("mode", ["full", "same"])
def test_a_window_of_the_convolution_is_that_part_of_the_whole(psf, mode) -> None:
    from scipy.signal import convolve as direct

    image = np.random.default_rng(3).random((2, 19, 26))
    k = psf.radius
    ref = np.stack([direct(im, psf.kernel(), mode="full", method="direct") for im in image])
    if mode == "same":
        ref = ref[:, k:-k, k:-k]
    h, w = ref.shape[1:]
    # whole, interior, touching each edge, one pixel, and a window only as wide as the image
    windows = [(0, h, 0, w), (3, h - 4, 5, w - 2), (0, 4, w - 6, w), (h - 1, h, 0, 1)]
    windows.append((k, k + 19, k, k + 26) if mode == "full" else (2, 9, 0, w))
    for r0, r1, c0, c1 in windows:
        got = convolve(image, psf, mode=mode, window=(r0, r1, c0, c1))
        np.testing.assert_allclose(got, ref[:, r0:r1, c0:c1], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="outside"):
        convolve(image, psf, mode=mode, window=(0, h + 1, 0, w))
    with pytest.raises(ValueError, match="row_lo <= row_hi"):
        convolve(image, psf, mode=mode, window=(2, 1, 0, w))
    with pytest.raises(ValueError, match="4 integers"):
        convolve(image, psf, mode=mode, window=(0.0, 1.0, 0, w))


@pytest.mark.parametrize("psf", [GAUSS, MOFFAT], ids=["gaussian", "moffat"])
@pytest.mark.parametrize(
    ("shape", "window"),
    [  # windows in the full output, of (H + 2k) x (W + 2k); negative: counted from its end
        ((3, 3), (-1, None, -1, None)),  # image smaller than the kernel, far corner
        ((3, 3), (1, 2, 0, None)),
        ((3, 3), (5, 6, 5, 6)),  # Moffat: transform (24) shorter than the kernel (27)
        ((1, 60), (0, None, 30, 33)),  # transform shorter than the image
        ((40, 2), (25, 27, 0, 1)),
    ],
)
def test_windows_shorter_than_the_image_or_the_kernel(psf, shape, window) -> None:
    from scipy.signal import convolve as direct

    image = np.random.default_rng(4).random(shape)
    full = direct(image, psf.kernel(), mode="full", method="direct")
    rows = range(full.shape[0])[slice(*window[:2])]
    cols = range(full.shape[1])[slice(*window[2:])]
    box = (rows.start, rows.stop, cols.start, cols.stop)
    got = convolve(image, psf, mode="full", window=box)
    np.testing.assert_allclose(
        got, full[rows.start : rows.stop, cols.start : cols.stop], atol=1e-12
    )


def test_segmentation_bbox_and_snr() -> None:
    objs = [
        R.Star(x=12.3, y=15.2, flux=4e3, fwhm=2.5),
        R.Elliptical(x=22.0, y=16.0, flux=8e3, r_eff=3.0, n=1.0, q=0.5, angle=0.2),
        R.Star(x=35.0, y=35.0, flux=1.0, fwhm=2.0),  # too faint to have a segment
    ]
    scene = R.render_scene(shape=(40, 48), objects=objs, psf=GAUSS)
    noise = {"sky_level": 100.0, "gain": 2.0, "read_noise": 5.0}
    _, var = ccd_noise(scene.image, rng=np.random.default_rng(1), **noise)
    thr = 1.0 * background_sigma(**noise)
    seg, records = R.truth_catalog(scene, variance=var, threshold=thr)
    assert seg.dtype == np.int32 and set(np.unique(seg)) == {0, 1, 2}
    # Each labelled pixel is the brightest contributor there and above the threshold.
    best = np.zeros(seg.shape)
    which = np.zeros(seg.shape, dtype=int)
    for i, st in enumerate(scene.stamps):
        region = best[st.slices]
        win = st.data > region
        best[st.slices] = np.where(win, st.data, region)
        which[st.slices] = np.where(win, i + 1, which[st.slices])
    np.testing.assert_array_equal(seg, np.where(best > thr, which, 0))
    for rec in records:
        mask = seg == rec["label"]
        if rec["bbox"] is None:
            assert rec["area"] == 0 and rec["label"] == 3
            continue
        x, y, w, h = rec["bbox"]
        rows, cols = np.nonzero(mask)
        assert (x, y, w, h) == (cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1)
        assert rec["area"] == mask.sum()
    # The star is inside its box, the ellipse is wider than tall (q = 0.5 at 0.2 rad).
    x, y, w, h = records[0]["bbox"]
    assert x <= 12.3 <= x + w - 1 and y <= 15.2 <= y + h - 1
    assert records[1]["bbox"][2] > records[1]["bbox"][3]
    # S/N: matched filter sqrt(sum s^2 / var); brighter object, higher S/N.
    st = scene.stamps[1]
    assert records[1]["snr"] == pytest.approx(np.sqrt((st.data**2 / var[st.slices]).sum()))
    assert records[1]["snr"] > records[0]["snr"] > 50 > records[2]["snr"]
    assert records[0]["flux_in_frame"] == pytest.approx(4e3, rel=2e-3)


def test_snr_matches_its_definition_for_white_noise() -> None:
    scene = R.render_scene(shape=(32, 32), objects=[R.Star(x=16, y=16, flux=1e3, fwhm=3.0)])
    _, var = gaussian_noise(scene.image, rng=np.random.default_rng(0), sigma=2.0)
    snr = R.optimal_snr(scene.stamps[0], var)
    assert snr == pytest.approx(np.sqrt((scene.image.astype(np.float64) ** 2).sum()) / 2.0, 1e-5)
    assert R.optimal_snr(scene.stamps[0], np.zeros((32, 32))) == np.inf


def test_object_records() -> None:
    sp = R.make_object({"kind": "spiral", "x": 1.0, "y": 2.0, "flux": 3.0, "disc_scale": 5.0})
    assert sp.bulge_r_eff == 2.0 and sp.arm_scale == 10.0  # explicit after construction
    assert R.make_object(R.object_to_dict(sp)) == sp
    with pytest.raises(ValueError, match="kind"):
        R.make_object({"kind": "comet", "x": 0, "y": 0, "flux": 1})
    with pytest.raises(ValueError, match="unknown"):
        R.make_object({"kind": "star", "x": 0, "y": 0, "flux": 1, "colour": "red"})
    with pytest.raises(ValueError):
        R.Elliptical(x=0, y=0, flux=1, q=1.5)
    with pytest.raises(ValueError):
        R.Spiral(x=0, y=0, flux=1, arm_count=1)
    with pytest.raises(ValueError):
        R.Star(x=0, y=0, flux=1, beta=1.0)


@pytest.mark.parametrize(
    ("n", "q", "r_eff"), [(1.0001, 1.0, 1.5), (1.001, 0.3, 2.0), (1.001, 0.3, 6.0)]
)
def test_sersic_index_just_above_one_renders(n, q, r_eff):
    # (k / s) ** (n / (n - 1)) used to overflow for n -> 1+.
    import warnings

    from deepbench_hf.sky.render import Elliptical, render_image

    obj = Elliptical(x=30.2, y=31.7, flux=1e4, r_eff=r_eff, n=n, q=q, angle=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = render_image(shape=(64, 64), objects=[obj])
    assert np.isfinite(image).all()
    # the stamp holds 99.9 % of the light; the integration is good to ~1e-4
    assert 0.998 < image.sum() / 1e4 < 1.0005


@pytest.mark.parametrize("beta", [1.001, 1.2, 1.5])
def test_moffat_star_with_beta_just_above_one_renders_its_share_of_the_frame(beta):
    """Wings too wide for a float radius fill the frame; the frame holds what the profile puts
    there (between the light inside its inscribed and its circumscribed circle)."""
    import warnings

    from deepbench_hf.sky.profiles import moffat_enclosed
    from deepbench_hf.sky.render import Star, render_image

    star = Star(x=32.0, y=32.0, flux=1e4, fwhm=2.0, beta=beta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = render_image(shape=(65, 65), objects=[star])
    inside = image.sum() / 1e4
    inner, outer = (moffat_enclosed(r, fwhm=2.0, beta=beta) for r in (32.5, 32.5 * np.sqrt(2)))
    assert inner * 0.999 < inside < outer * 1.001


def test_a_star_too_faint_for_float32_renders_as_zeros_without_warnings():
    """A Moffat star whose peak is below float32's range (flux 1e-300) renders as an empty
    stamp; its fast path's constant would overflow float32 (a RuntimeWarning in builds)."""
    import warnings

    from deepbench_hf.sky.stamps import draw_star, frame_bounds

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stamp = draw_star(
            flux=1e-300, x0=10.3, y0=9.8, fwhm=2.0, beta=3.0, bounds=frame_bounds((24, 24))
        )
    assert np.isfinite(stamp.data).all() and not stamp.data.any()
