"""The ``sky`` kind: Hub round trip, exact re-rendering, flux, variance, determinism, errors."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import SMALL, digests, read_split, same_rows, small_config

from deepbench_hf import ConfigError, load_config, regenerate_row
from deepbench_hf.kinds import features_for
from deepbench_hf.sky.kind import objects_from_row, render_clean_from_row
from deepbench_hf.writer import build_config

NAMES = ("sky-easy", "sky-medium", "sky-hard")


@pytest.fixture(scope="module")
def sky_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small builds of the three sky configs in one dataset folder (num_proc=1)."""
    out = tmp_path_factory.mktemp("sky") / "deepbench"
    for name in NAMES:
        build_config(small_config(name), out, num_proc=1, progress=False)
    return out


@pytest.fixture(scope="module")
def loaded(sky_dir: Path) -> dict[str, datasets.DatasetDict]:
    """``load_dataset(folder, name)`` of each config."""
    cache = str(sky_dir.parent / "cache")
    return {name: datasets.load_dataset(str(sky_dir), name, cache_dir=cache) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_load_dataset_round_trip_with_exact_features(loaded, sky_dir, name):
    config = small_config(name)
    ds = loaded[name]
    expected = features_for(config)
    assert set(ds) == set(SMALL)
    for split, n in SMALL.items():
        assert ds[split].features == expected
        assert list(ds[split].features) == list(expected)
        assert ds[split].num_rows == n
        # every row and column, as the shards hold them
        assert same_rows(ds[split].data.table, read_split(sky_dir / name, split))
    for column in ("image", "image_clean", "variance", "segmentation"):
        assert isinstance(expected[column], datasets.Array2D)
        assert expected[column].shape == (64, 64)
    assert expected["segmentation"].dtype == "uint16"
    assert ("label" in expected) == (name != "sky-hard")
    if name != "sky-hard":
        assert expected["label"].names == ["star", "elliptical", "spiral"]
    rows = ds["validation"].with_format("numpy")
    for index in (0, 7, 11):
        fresh = regenerate_row(config, "validation", index)
        stored = rows[index]
        for column in ("image", "image_clean", "variance", "segmentation"):
            np.testing.assert_array_equal(stored[column], fresh[column])
        for column in ("seed", "noise_seed", "n_objects", "psf_fwhm", "sky_level", "gain"):
            np.testing.assert_array_equal(stored[column], fresh[column])
        assert len(stored["objects"]) == fresh["n_objects"]
        for got, want in zip(stored["objects"], fresh["objects"], strict=True):
            for key, value in want.items():
                np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(value))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["python", "numpy"])
def test_rerender_from_loaded_rows_is_bit_identical(loaded, name, fmt):
    config = small_config(name)
    split = loaded[name]["validation"]
    rows = split.with_format("numpy") if fmt == "numpy" else split
    for row in rows:
        stored = np.asarray(row["image_clean"], dtype=np.float32)
        again = render_clean_from_row(row, config)
        assert again.dtype == np.float32 and again.shape == stored.shape
        assert again.tobytes() == stored.tobytes()
    # The image size can also come from the row itself.
    assert (
        render_clean_from_row(rows[0]).tobytes()
        == np.asarray(rows[0]["image_clean"], dtype=np.float32).tobytes()
    )


def test_balanced_labels_match_the_single_object(sky_dir):
    table = read_split(sky_dir / "sky-easy", "train")
    labels = np.array(table["label"])
    kinds = [objs[0]["kind"] for objs in table["objects"].to_pylist()]
    names = ["star", "elliptical", "spiral"]
    assert [names[i] for i in labels] == kinds
    for block in range(len(labels) // 3):
        assert sorted(labels[3 * block : 3 * block + 3]) == [0, 1, 2]
    assert set(np.array(table["n_objects"])) == {1}


def test_flux_equals_clean_stamp_sum_for_isolated_objects():
    config = load_config(
        "sky-easy",
        [
            "psf=none",
            "objects.x_frac={uniform: [0.45, 0.55]}",
            "objects.y_frac={uniform: [0.45, 0.55]}",
            "objects.elliptical={r_eff: {uniform: [1.5, 2.5]}, n: {uniform: [0.5, 2.0]}}",
            "objects.spiral={disc_scale: {uniform: [2.0, 2.5]}, bulge_n: {uniform: [1.0, 2.0]}}",
        ],
    )
    seen = set()
    for index in range(30):
        row = regenerate_row(config, "train", index)
        (obj,) = row["objects"]
        seen.add(obj["kind"])
        total = row["image_clean"].sum(dtype=np.float64)
        assert total == pytest.approx(obj["flux"], rel=5e-3), obj["kind"]
        assert obj["flux_in_frame"] == pytest.approx(obj["flux"], rel=5e-3)
        assert obj["area_px"] > 0 and obj["snr"] > 0
    assert seen == {"star", "elliptical", "spiral"}


@pytest.mark.parametrize("name", NAMES)
def test_variance_is_the_noise_model_formula(loaded, name):
    z, bright = [], []
    for row in loaded[name]["train"].with_format("numpy"):
        clean = row["image_clean"].astype(np.float64)
        image = row["image"].astype(np.float64)
        var = row["variance"]
        assert row["noise_model"] == "ccd" and np.isnan(row["noise_sigma"])
        sky, gain, rn = row["sky_level"], row["gain"], row["read_noise"]
        want = (np.maximum(clean, 0) + sky) / gain + (rn / gain) ** 2
        np.testing.assert_allclose(var, want, rtol=2e-6)
        assert row["background_sigma"] == pytest.approx(np.sqrt(sky / gain + (rn / gain) ** 2))
        scores = (image - clean) / np.sqrt(var)
        z.append(scores.ravel())
        bright.append(scores[clean > 5 * row["background_sigma"]])
    # The stored image is sky-subtracted and its noise has exactly this variance: z-scores of
    # mean 0 and standard deviation 1 within 5 sigma of their sampling errors (1/sqrt(n) and
    # 1/sqrt(2n)), over all pixels (mostly sky) and over the pixels with signal alone.
    for scores in (np.concatenate(z), np.concatenate(bright)):
        n = scores.size
        assert n > 2000
        assert abs(scores.mean()) < 5 / np.sqrt(n), (n, scores.mean())
        assert abs(scores.std() - 1.0) < 5 / np.sqrt(2 * n), (n, scores.std())


def test_gaussian_and_no_noise_variance_and_thresholds():
    # (``noise=none`` first: a mapping override merges into the config's ``noise: {ccd: ..}``.)
    overrides = [
        "noise=none",
        "noise={gaussian: {sigma: {uniform: [1.0, 4.0]}}}",
        "segmentation_threshold=2.5",
    ]
    gauss = load_config("sky-medium", overrides)
    clean = load_config("sky-medium", ["noise=none", "segmentation_threshold=5.0"])
    base = load_config("sky-medium")
    for index in range(4):
        g = regenerate_row(gauss, "train", index)
        n = regenerate_row(clean, "train", index)
        b = regenerate_row(base, "train", index)
        # Noise settings never change the scene.
        same = {r["image_clean"].tobytes() for r in (g, n, b)}
        assert len(same) == 1
        assert g["noise_model"] == "gaussian" and np.isnan(g["sky_level"])
        np.testing.assert_array_equal(g["variance"], np.float32(g["noise_sigma"] ** 2))
        assert g["background_sigma"] == g["noise_sigma"]
        assert g["segmentation_threshold"] == pytest.approx(2.5 * g["noise_sigma"])
        assert n["noise_model"] == "none" and n["background_sigma"] == 0
        np.testing.assert_array_equal(n["image"], n["image_clean"])
        assert not n["variance"].any() and n["segmentation_threshold"] == 5.0
        assert all(np.isinf(o["snr"]) for o in n["objects"])


def test_segmentation_boxes_and_areas_agree(sky_dir):
    table = read_split(sky_dir / "sky-hard", "train").to_pylist()
    for row in table:
        seg = np.array(row["segmentation"])
        assert row["n_objects"] == len(row["objects"]) >= 3
        assert seg.max() <= row["n_objects"]
        counts = {k: sum(o["kind"] == k for o in row["objects"]) for k in ("star", "spiral")}
        assert row["n_star"] == counts["star"] and row["n_spiral"] == counts["spiral"]
        for k, obj in enumerate(row["objects"], start=1):
            mask = seg == k
            assert obj["area_px"] == int(mask.sum())
            if not mask.any():
                assert all(np.isnan(obj["bbox"]))
                continue
            rows, cols = np.nonzero(mask)
            x0, y0 = cols.min(), rows.min()
            assert obj["bbox"] == [x0, y0, cols.max() - x0 + 1, rows.max() - y0 + 1]
        # Not-applicable parameters are NaN (floats) or 0 (ints).
        for obj in row["objects"]:
            if obj["kind"] == "star":
                assert np.isnan(obj["r_eff"]) and np.isnan(obj["q"]) and obj["arm_count"] == 0
            if obj["kind"] == "spiral":
                assert np.isnan(obj["fwhm"]) and obj["chirality"] in (-1, 1)
        assert row["psf_kind"] == "moffat" and 1.5 <= row["psf_fwhm"] <= 3.5


def test_objects_from_row_round_trip():
    row = regenerate_row(small_config("sky-hard"), "test", 2)
    objs = objects_from_row(row)
    assert [o.kind for o in objs] == [o["kind"] for o in row["objects"]]
    columnar = {k: [o[k] for o in row["objects"]] for k in row["objects"][0]}
    assert objects_from_row({"objects": columnar}) == objs


def test_num_proc_1_and_2_are_bit_identical(tmp_path, sky_dir):
    config = small_config("sky-hard")
    two = tmp_path / "two" / "ds"
    build_config(config, two, num_proc=2, progress=False)
    reference = {k: v for k, v in digests(sky_dir).items() if k.startswith("sky-hard/")}
    assert digests(two) == reference and len(reference) == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objects.flux={uniform: [-10, 100]}", r"^--set: objects\.flux\.uniform: range"),
        ("objects.elliptical.q=1.5", r"^--set: objects\.elliptical\.q: expected a number in"),
        (
            "objects.kinds={star: 1, quasar: 1}",
            r"^--set: objects\.kinds\.quasar: unknown kind; allowed: star, elliptical, spiral",
        ),
        ("objects.elliptical.n=8", r"^--set: objects\.elliptical\.n: expected a number in"),
        ("objects.spiral.chirality=0", r"^--set: objects\.spiral\.chirality: must be \+1 or -1"),
        ("objects.count=3", r"^--set: objects\.count: must be 1 when label is kind"),
        ("noise={ccd: {gain: 1, dark: 3}}", r"^--set: noise\.ccd\.dark: unknown key; allowed: sky"),
        ("noise.ccd.gain=0", r"^--set: noise\.ccd\.gain: expected a number in \[0\.001, "),
        ("noise.ccd.gain=1e-300", r"^--set: noise\.ccd\.gain: expected a number in \[0\.001, "),
        ("psf.moffat.fwhm=0.5", r"^--set: psf\.moffat\.fwhm: expected a number in \[1, "),
        (
            "psf={gaussian: {fwhm: 1e-300}}",
            r"^--set: psf\.gaussian\.fwhm: expected a number in \[1",
        ),
        ("objects.star.beta=1", r"^--set: objects\.star\.beta: expected a number in \(1"),
        ("objects.spiral.colour=red", r"^--set: objects\.spiral\.colour: unknown key"),
    ],
)
def test_bad_fields_are_one_line_config_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config("sky-medium", [override])
    assert "\n" not in str(info.value)


def test_unknown_psf_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"^--set: psf\.airy: unknown option; allowed: moffat, gaussian, none$"
    ):
        load_config("sky-easy", ["psf={airy: {fwhm: 2}}"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("winding=20", r"winding: expected a number in \[2, 10\]"),
        ("winding=0.5", r"winding: expected a number in \[2, 10\]"),
        ("winding={uniform: [2, 11]}", r"winding\.uniform: range \[2, 11\] leaves .*\[2, 10\]"),
        ("pitch=0.05", r"pitch: expected a number in \[0\.5, 3\]"),
        ("pitch={choice: [1, 4]}", r"pitch\.choice: value 4 is not allowed; .*\[0\.5, 3\]"),
        ("arm_scale_ratio=0.01", r"arm_scale_ratio: expected a number in \[1, 4\]"),
        ("arm_scale_ratio={loguniform: [0.5, 2]}", r"arm_scale_ratio\.loguniform: .*\[1, 4\]"),
        ("arm_width=0.5", r"arm_width: expected a number in \[1\.5, 100000\]"),
        ("arm_width={normal: {mean: 2, std: 1}}", r"arm_width\.normal: a normal without low"),
    ],
)
def test_spiral_arm_parameters_outside_the_documented_ranges_are_refused(override, message):
    """winding N 2-10, pitch B 0.5-3, arm_scale_ratio A/h 1-4, arm_width >= 1.5 px (README and
    column docs), over every value a distribution can draw; one line naming the field."""
    with pytest.raises(ConfigError, match=rf"^--set: objects\.spiral\.{message}") as info:
        load_config("sky-easy", [f"objects.spiral.{override}"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ("winding=2", "pitch=0.5", "arm_scale_ratio=1", "arm_width=1.5"),
        ("winding=10", "pitch=3", "arm_scale_ratio=4", "arm_width=1.5"),
        (
            "winding={uniform: [2, 10]}",
            "pitch={normal: {mean: 1, std: 1, low: 0.5, high: 3}}",
            "arm_scale_ratio={loguniform: [1, 4]}",
            "arm_width={uniform: [1.5, 8]}",
        ),
    ],
)
def test_spirals_at_the_edges_of_the_ranges_load_and_render(overrides):
    config = load_config(
        "sky-easy", [f"objects.spiral.{o}" for o in overrides] + ["objects.kinds=[spiral]"]
    )
    row = regenerate_row(config, "train", 0)
    (spiral,) = row["objects"]
    assert spiral["kind"] == "spiral"
    assert 2 <= spiral["winding"] <= 10 and 0.5 <= spiral["pitch"] <= 3
    assert 1 <= spiral["arm_scale"] / spiral["disc_scale"] <= 4 and spiral["arm_width"] >= 1.5
    assert np.isfinite(row["image_clean"]).all() and row["image_clean"].sum() > 0


@pytest.mark.parametrize(
    ("name", "overrides", "positions"),
    [
        ("sky-easy", ["objects.x_frac=0.5", "objects.y_frac=0.25"], lambda r: r["objects"]),
        ("shapes-easy", ["objects.x_frac=0.5", "objects.y_frac=0.25"], lambda r: r["objects"]),
        (
            "lensing-hard",
            ["lens.x_frac=0.5", "lens.y_frac=0.25", "stars.x_frac=0.5", "stars.y_frac=0.25"],
            lambda r: [{"x": r["lens_x"], "y": r["lens_y"]}, *r["stars"]],
        ),
    ],
)
def test_positions_are_fractions_of_the_frame_size_minus_one(name, overrides, positions):
    """x = x_frac (W - 1), y = y_frac (H - 1) px: on a 48 x 64 frame (H x W), x_frac = 0.5 is
    the middle column, 31.5, and y_frac = 0.25 the row 11.75 (pixel centres at integers)."""
    config = load_config(name, [*overrides, "image_size={height: 48, width: 64}"])
    for index in range(3):
        row = regenerate_row(config, "train", index)
        assert np.shape(row["image"]) == (48, 64)
        points = positions(row)
        assert points
        for point in points:
            assert (point["x"], point["y"]) == (31.5, 11.75)
