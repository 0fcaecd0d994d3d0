"""The ``lensing`` kind: Hub round trip, exact re-rendering, lens equation, non-lenses, labels,
determinism, config errors."""

from __future__ import annotations

import math
from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import SMALL, digests, read_split, same_rows, small_config

from deepbench_hf import ConfigError, load_config, regenerate_row
from deepbench_hf.kinds import features_for
from deepbench_hf.lensing import mass
from deepbench_hf.lensing.kind import render_clean_from_row
from deepbench_hf.lensing.scene import scene_from_row
from deepbench_hf.writer import build_config

NAMES = ("lensing-easy", "lensing", "lensing-hard")
IMAGES = ("image", "image_clean", "variance", "lensed_source", "arc_mask")


@pytest.fixture(scope="module")
def lensing_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small builds of the three lensing configs in one dataset folder (num_proc=1)."""
    out = tmp_path_factory.mktemp("lensing") / "deepbench"
    for name in NAMES:
        build_config(small_config(name), out, num_proc=1, progress=False)
    return out


@pytest.fixture(scope="module")
def loaded(lensing_dir: Path) -> dict[str, datasets.DatasetDict]:
    cache = str(lensing_dir.parent / "cache")
    return {name: datasets.load_dataset(str(lensing_dir), name, cache_dir=cache) for name in NAMES}


def lens_kwargs(row) -> dict[str, float]:
    return {
        "theta_e": float(row["theta_e"]),
        "x0": float(row["lens_x"]),
        "y0": float(row["lens_y"]),
        "q": float(row["lens_q"]),
        "angle": float(row["lens_angle"]),
        "gamma1": float(row["gamma1"]),
        "gamma2": float(row["gamma2"]),
    }


@pytest.mark.parametrize("name", NAMES)
def test_load_dataset_round_trip_with_exact_features(loaded, lensing_dir, name):
    config = small_config(name)
    ds = loaded[name]
    expected = features_for(config)
    assert set(ds) == set(SMALL)
    for split, n in SMALL.items():
        assert ds[split].features == expected
        assert list(ds[split].features) == list(expected)
        assert ds[split].num_rows == n
        # every row and column, as the shards hold them
        assert same_rows(ds[split].data.table, read_split(lensing_dir / name, split))
    for column in IMAGES:
        assert isinstance(expected[column], datasets.Array2D)
        assert expected[column].shape == (64, 64)
    assert expected["arc_mask"].dtype == "uint8" and expected["lensed_source"].dtype == "float32"
    assert expected["label"].names == ["non-lens", "lens"]
    assert expected["ps_image_x"] == datasets.List(datasets.Value("float64"))
    schema = ds["validation"].data.table.schema
    for column in IMAGES:
        assert schema.field(column).type.value_type == expected[column].dtype
    rows = ds["validation"].with_format("numpy")
    for index in (0, 5, 11):
        fresh = regenerate_row(config, "validation", index)
        stored = rows[index]
        as_python = ds["validation"][index]  # numpy format makes float lists float32
        for column in IMAGES:
            np.testing.assert_array_equal(stored[column], fresh[column])
        for column, value in fresh.items():
            if column not in IMAGES:
                assert as_python[column] == value or (
                    np.isnan(value) and np.isnan(as_python[column])
                ), column


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["python", "numpy"])
def test_clean_image_rerenders_exactly_from_the_truth_columns(loaded, name, fmt):
    config = small_config(name)
    split = loaded[name]["test"]
    rows = split.with_format("numpy") if fmt == "numpy" else split
    for row in rows:
        stored = np.asarray(row["image_clean"], dtype=np.float32)
        again = render_clean_from_row(row, config)
        assert again.dtype == np.float32 and again.shape == stored.shape
        assert again.tobytes() == stored.tobytes()
    row = rows[0]
    clean = np.asarray(row["image_clean"], dtype=np.float32)
    assert render_clean_from_row(row).tobytes() == clean.tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_image_alone_is_the_same_image(name):
    """``render_components(truth=False)`` (no unlensed render, no separate lensed_source
    convolution) makes the same image_clean bit for bit, and no truth products."""
    from deepbench_hf.generate import make_example
    from deepbench_hf.lensing.render import render_components
    from deepbench_hf.lensing.scene import sample_scene

    config = load_config(name)
    for i in range(6):
        scene = sample_scene(config.params, make_example(config, "train", i).scene_rng(), 64, 64)
        full = render_components(scene, shape=(64, 64), oversample=8)
        alone = render_components(scene, shape=(64, 64), oversample=8, truth=False)
        assert alone.image_clean.tobytes() == full.image_clean.tobytes()
        assert alone.lensed_source is None and alone.other is None
        assert math.isnan(alone.magnification) if scene.is_lens else alone.magnification == 1.0
        np.testing.assert_allclose(
            full.lensed_source + full.other, full.image_clean, rtol=1e-6, atol=1e-6
        )


def test_point_source_images_satisfy_the_lens_equation():
    config = small_config("lensing-hard", "point_source.quasar.fraction=1.0")
    counts = set()
    for index in range(24):
        row = regenerate_row(config, "train", index)
        n = row["n_ps_images"]
        counts.add(n)
        assert n == len(row["ps_image_x"]) == len(row["ps_image_magnification"]) >= 1
        x, y = np.array(row["ps_image_x"]), np.array(row["ps_image_y"])
        mu = np.array(row["ps_image_magnification"])
        if not row["is_lens"]:
            assert (x.tolist(), y.tolist(), mu.tolist()) == ([row["ps_x"]], [row["ps_y"]], [1.0])
            continue
        bx, by = mass.ray_shoot(x, y, **lens_kwargs(row))
        assert np.all(np.hypot(bx - row["ps_x"], by - row["ps_y"]) < 1e-6)
        np.testing.assert_allclose(mu, mass.magnification(x, y, **lens_kwargs(row)), rtol=1e-9)
        # The quasar sits at the source centre (dx = dy = 0 in lensing-hard).
        assert (row["ps_x"], row["ps_y"]) == (row["source_x"], row["source_y"])
    assert {1, 2} & counts and max(counts) >= 2


def test_hard_rows_have_point_sources_sometimes(lensing_dir):
    rows = read_split(lensing_dir / "lensing-hard", "train").to_pylist()
    with_ps = [r for r in rows if r["n_ps_images"] > 0]
    assert 0 < len(with_ps) < len(rows)
    for row in rows:
        if row["n_ps_images"] == 0:
            assert math.isnan(row["ps_flux"]) and row["ps_image_x"] == []
        assert row["n_stars"] == len(row["stars"]) <= 3
        assert row["psf_kind"] == "moffat" and row["lens_light_flux"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_non_lenses_have_magnification_one_and_no_arcs(lensing_dir, name):
    rows = read_split(lensing_dir / name, "train").to_pylist()
    for row in rows:
        mask = np.array(row["arc_mask"])
        if row["is_lens"]:
            assert row["theta_e"] > 0 and row["magnification"] > 1.0
            assert mask.any() and set(np.unique(mask)) <= {0, 1}
            e1, e2 = mass.phi_q2_ellipticity(angle=row["lens_angle"], q=row["lens_q"])
            assert (row["e1"], row["e2"]) == (float(e1), float(e2))
        else:
            assert row["magnification"] == 1.0 and not mask.any()
            assert row["theta_e"] == row["gamma1"] == row["gamma2"] == 0.0
            assert all(math.isnan(row[k]) for k in ("lens_q", "lens_angle", "e1", "e2"))


def test_a_non_lens_is_the_same_scene_without_lensing():
    base = ["balanced=false", "noise=none"]
    lens = load_config("lensing", [*base, "lens_fraction=1.0"])
    free = load_config("lensing", [*base, "lens_fraction=0.0"])
    for index in range(4):
        a, b = regenerate_row(lens, "train", index), regenerate_row(free, "train", index)
        assert a["is_lens"] and not b["is_lens"]
        for key in ("lens_x", "lens_y", "source_x", "source_flux", "lens_light_flux", "psf_fwhm"):
            assert a[key] == b[key]
        # The lensed source holds magnification x the flux of the same source unlensed.
        assert a["lensed_source"].sum() == pytest.approx(
            a["magnification"] * b["lensed_source"].sum(), rel=1e-3
        )
        # Noise settings never change the scene.
        noisy = regenerate_row(
            load_config("lensing", ["balanced=false", "lens_fraction=1.0"]), "train", index
        )
        assert noisy["image_clean"].tobytes() == a["image_clean"].tobytes()


def test_magnification_is_nan_without_unlensed_light_on_the_grid():
    import warnings

    config = load_config("lensing-easy", ["source.flux=0", "lens_fraction=1.0", "balanced=false"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = regenerate_row(config, "train", 0)
    assert row["is_lens"] and math.isnan(row["magnification"])


def test_unlensed_source_flux_without_psf_or_noise():
    config = load_config(
        "lensing-easy", ["noise=none", "source.n={uniform: [0.5, 1.5]}", "source.r_eff=1.5"]
    )
    for index in range(6):
        row = regenerate_row(config, "train", index)
        np.testing.assert_array_equal(row["image"], row["image_clean"])
        assert np.isinf(row["source_snr"]) and row["noise_model"] == "none"
        total = row["lensed_source"].sum(dtype=np.float64)
        assert total == pytest.approx(row["magnification"] * row["source_flux"], rel=2e-2)


def test_magnification_agrees_with_lenstronomy_and_astropy():
    """A row's ``magnification`` against an independent one: lenstronomy's SIE + SHEAR
    ray-shooting of astropy's ``Sersic2D`` (exact b_n; lenstronomy's own Sérsic approximates it)
    over 16 x 16 rays per pixel of the same grid, lensed / unlensed sum."""
    from astropy.modeling.functional_models import Sersic2D
    from lenstronomy.LensModel.lens_model import LensModel

    from deepbench_hf.lensing import mass

    config = load_config("lensing-easy", ["noise=none", "source.n={uniform: [0.5, 2.0]}"])
    lens_model = LensModel(["SIE", "SHEAR"])
    s, (h, w) = 16, (64, 64)
    sub = (np.arange(s) + 0.5) / s - 0.5
    x, y = np.meshgrid((np.arange(w)[:, None] + sub).ravel(), (np.arange(h)[:, None] + sub).ravel())
    x, y = x.ravel(), y.ravel()
    lenses = 0
    for index in range(8):
        row = regenerate_row(config, "train", index)
        if not row["is_lens"]:
            continue
        lenses += 1
        e1, e2 = mass.phi_q2_ellipticity(angle=row["lens_angle"], q=row["lens_q"])
        centre = {"center_x": row["lens_x"], "center_y": row["lens_y"]}
        kwargs = [
            {"theta_E": row["theta_e"], "e1": float(e1), "e2": float(e2), **centre},
            {"gamma1": row["gamma1"], "gamma2": row["gamma2"], "ra_0": centre["center_x"],
             "dec_0": centre["center_y"]},
        ]  # fmt: skip
        source = Sersic2D(
            amplitude=1.0, r_eff=row["source_r_eff"], n=row["source_n"], x_0=row["source_x"],
            y_0=row["source_y"], ellip=1.0 - row["source_q"], theta=row["source_angle"],
        )  # fmt: skip
        bx, by = lens_model.ray_shooting(x, y, kwargs)
        reference = source(bx, by).sum() / source(x, y).sum()
        assert row["magnification"] == pytest.approx(reference, rel=2e-3), index
    assert lenses >= 3


@pytest.mark.parametrize("name", NAMES)
def test_labels_are_balanced_and_match_is_lens(lensing_dir, name):
    table = read_split(lensing_dir / name, "train")
    labels = np.array(table["label"])
    assert labels.tolist() == [int(v) for v in table["is_lens"].to_pylist()]
    for block in range(len(labels) // 2):
        assert sorted(labels[2 * block : 2 * block + 2]) == [0, 1]


def test_scene_from_row_round_trip():
    row = regenerate_row(small_config("lensing-hard"), "validation", 3)
    scene = scene_from_row(row)
    assert scene.theta_e == row["theta_e"] and len(scene.stars) == row["n_stars"]
    assert scene.psf is not None and scene.psf.fwhm == row["psf_fwhm"]


def test_num_proc_1_and_2_are_bit_identical(tmp_path, lensing_dir):
    config = small_config("lensing-hard")
    two = tmp_path / "two" / "ds"
    build_config(config, two, num_proc=2, progress=False)
    reference = {k: v for k, v in digests(lensing_dir).items() if k.startswith("lensing-hard/")}
    assert digests(two) == reference and len(reference) == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lens.theta_e=0", r"^--set: lens\.theta_e: expected a number in \(0"),
        ("lens.q=1.5", r"^--set: lens\.q: expected a number in \[0.05, 1\]"),
        ("lens.gamma={uniform: [0, 2]}", r"^--set: lens\.gamma\.uniform: range"),
        ("source.n=9", r"^--set: source\.n: expected a number in \[0\.5, 6\]"),
        ("lens.mass=1", r"^--set: lens\.mass: unknown key; allowed: theta_e"),
        ("point_source={nfw: {}}", r"^--set: point_source\.nfw: unknown option; allowed: quasar"),
        ("label=kind", r"^--set: label: expected one of none, lens"),
        ("lens_fraction=0.7", r"^--set: lens_fraction: balanced: true makes exactly half"),
        ("oversample=0", r"^--set: oversample: expected an integer in \[1, 16\]"),
        ("noise.ccd.gain=0", r"^--set: noise\.ccd\.gain: expected a number in \[0\.001, "),
    ],
)
def test_bad_fields_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config("lensing", [override])
    assert "\n" not in str(info.value)


def test_einstein_ring_and_balance_without_label_are_config_errors():
    ring = [
        "point_source={quasar: {flux: 1000.0}}",
        "source.offset=0",
    ]
    with pytest.raises(ConfigError, match=r"source\.offset: a quasar exactly behind"):
        load_config("lensing-easy", ring)
    with pytest.raises(ConfigError, match=r"balanced: balanced: true needs label"):
        load_config("lensing", ["label=none"])


@pytest.mark.parametrize("kind", ["moffat", "gaussian"])
def test_quasar_images_are_the_psf_integrated_over_pixels(kind):
    """Each point-source image is the continuous PSF integrated over the pixels at its sub-pixel
    position (not a bilinear deposit convolved with the sampled kernel), with its whole flux."""
    from deepbench_hf.lensing.render import render_components
    from deepbench_hf.lensing.scene import LensScene, solve_point_source
    from deepbench_hf.sky.profiles import FWHM_TO_SIGMA, moffat
    from deepbench_hf.sky.psf import PSF

    psf = PSF(fwhm=1.5, kind=kind, beta=3.0)
    scene = LensScene(
        is_lens=True, theta_e=10.0, lens_x=31.6, lens_y=32.2, q=0.7, angle=0.4, gamma1=0.02,
        gamma2=0.01, source_flux=1.0, source_x=32.3, source_y=32.0, source_r_eff=1.0,
        source_n=1.0, source_q=1.0, source_angle=0.0, ps_flux=1000.0, ps_x=32.3, ps_y=32.0,
        psf=psf,
    )  # fmt: skip
    images = solve_point_source(scene)
    other = render_components(scene, shape=(64, 64), oversample=8, point_images=images).other
    fluxes = 1000.0 * np.abs(images.magnification)
    assert other.sum() == pytest.approx(fluxes.sum(), rel=1e-12)
    k = 32  # brute force: k x k samples per pixel of the continuous PSF
    sub = (np.arange(64 * k) + 0.5) / k - 0.5
    expected = np.zeros((64, 64))
    for x, y, flux in zip(images.x, images.y, fluxes, strict=True):
        if kind == "moffat":
            f = moffat(sub[None, :], sub[:, None], flux=1.0, x0=x, y0=y, fwhm=1.5, beta=3.0)
        else:
            s = 1.5 * FWHM_TO_SIGMA
            f = np.exp(-0.5 * (((sub[None, :] - x) / s) ** 2 + ((sub[:, None] - y) / s) ** 2))
        pixels = f.reshape(64, k, 64, k).mean(axis=(1, 3))
        expected += flux * pixels / pixels.sum()
    assert np.abs(other - expected).max() < 2e-3 * expected.max()


@pytest.mark.parametrize("name", NAMES)
def test_arc_mask_is_the_lensed_source_above_its_fraction_of_the_peak(lensing_dir, name):
    """arc_mask = lensed_source > arc_fraction x its peak (lenses; empty for non-lenses); the
    stored lensed_source is float32, so pixels within its rounding of the threshold may go
    either way."""
    fraction = small_config(name).params["arc_fraction"]
    table = read_split(lensing_dir / name, "train")
    lensed_rows = 0
    for row in table.to_pylist():
        mask = np.asarray(row["arc_mask"], dtype=bool)
        if not row["is_lens"]:
            assert not mask.any()
            continue
        lensed_rows += 1
        source = np.asarray(row["lensed_source"], dtype=np.float64)
        threshold = fraction * source.max()
        expected = source > threshold
        unsure = np.abs(source - threshold) <= 1e-6 * source.max()
        assert np.array_equal(mask[~unsure], expected[~unsure])
        assert expected.sum() > 0
    assert lensed_rows > 0


def test_quasar_images_without_a_psf_fill_the_pixel_holding_them():
    """Without a PSF each image's whole flux lands in the pixel containing it: row round(y),
    column round(x) (x = column), nothing elsewhere."""
    from deepbench_hf.lensing.render import render_components
    from deepbench_hf.lensing.scene import LensScene, solve_point_source

    scene = LensScene(
        is_lens=True, theta_e=10.0, lens_x=31.6, lens_y=30.2, q=0.7, angle=0.4, gamma1=0.02,
        gamma2=0.01, source_flux=1.0, source_x=32.3, source_y=29.4, source_r_eff=1.0,
        source_n=1.0, source_q=1.0, source_angle=0.0, ps_flux=1000.0, ps_x=32.3, ps_y=29.4,
    )  # fmt: skip
    images = solve_point_source(scene)
    assert len(images.x) >= 2
    other = render_components(scene, shape=(64, 64), oversample=8, point_images=images).other
    expected = np.zeros((64, 64))
    for x, y, mu in zip(images.x, images.y, images.magnification, strict=True):
        expected[math.floor(y + 0.5), math.floor(x + 0.5)] += 1000.0 * abs(mu)
    np.testing.assert_allclose(other, expected, rtol=1e-12, atol=1e-9)


def test_source_snr_is_the_optimal_snr_of_the_lensed_source():
    """source_snr = sqrt(sum(lensed_source^2 / variance)): with Gaussian noise of one sigma,
    sqrt(sum(lensed_source^2)) / sigma."""
    config = load_config("lensing-easy", ["noise={gaussian: {sigma: 3.0}}"])
    for index in range(3):
        row = regenerate_row(config, "train", index)
        lensed = row["lensed_source"].astype(np.float64)
        expected = math.sqrt(float((lensed * lensed).sum())) / 3.0
        assert row["source_snr"] == pytest.approx(expected, rel=1e-6)
