"""deepbench export: every format round-trips the arrays and the truth catalogue."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import read_split

from deepbench_hf.cli import main
from deepbench_hf.commands import export as export_command
from deepbench_hf.export import (
    CATALOGUE_FORMATS,
    FORMATS,
    ExportError,
    decode_image,
    export,
    record_features,
    to_numpy,
)

SPLIT = "validation"
ARRAYS = ("image", "image_clean", "segmentation")


def stored(built_dir, config, split=SPLIT):
    """The stored rows of a split: arrays as numpy plus the table."""
    import json as _json

    record = _json.loads((built_dir / config / "deepbench.json").read_text())
    features = record_features(record)
    table = read_split(built_dir / config, split)
    arrays = {name: to_numpy(table.column(name), features[name]) for name in ARRAYS}
    return record, table, arrays


def check_catalogue(images, objects, table, split=SPLIT):
    n = table.num_rows
    assert images["row"].to_pylist() == list(range(n))
    assert images["index"].to_pylist() == table["index"].to_pylist()
    assert images["split"].to_pylist() == [split] * n
    assert images["seed"].to_pylist() == table["seed"].to_pylist()
    assert images["n_objects"].to_pylist() == table["n_objects"].to_pylist()
    assert images["label"].to_pylist() == table["label"].to_pylist()
    flat = [(i, k, o) for i, objs in enumerate(table["objects"].to_pylist()) for k, o in
            enumerate(objs)]  # fmt: skip
    assert objects.num_rows == len(flat) == sum(table["n_objects"].to_pylist())
    assert objects["row"].to_pylist() == [i for i, _, _ in flat]
    assert objects["object"].to_pylist() == [k for _, k, _ in flat]
    assert objects["kind"].to_pylist() == [o["kind"] for _, _, o in flat]
    np.testing.assert_array_equal(objects["x"].to_numpy(), [o["x"] for _, _, o in flat])
    np.testing.assert_array_equal(objects["radius"].to_numpy(), [o["radius"] for _, _, o in flat])
    for k, name in enumerate(("x_min", "y_min", "width", "height")):
        np.testing.assert_array_equal(
            objects[f"bbox_{name}"].to_numpy(), [o["bbox"][k] for _, _, o in flat]
        )
    assert objects["area_px"].to_pylist() == [o["area_px"] for _, _, o in flat]


def read_catalogue(folder, stem, fmt):
    if fmt == "csv":
        return pacsv.read_csv(folder / f"{stem}.csv")
    return pq.read_table(folder / f"{stem}.parquet")


@pytest.mark.parametrize(
    ("fmt", "catalogue"), [("npy", "parquet"), ("npz", "csv"), ("h5", "parquet")]
)
@pytest.mark.parametrize("split", [SPLIT, "train"])  # train: several shards
def test_array_formats_round_trip_exactly(built_dir, tmp_path, fmt, catalogue, split):
    import datasets

    from deepbench_hf.columns import columns_for

    record, table, arrays = stored(built_dir, "shapes-hard", split)
    assert len(record["splits"][split]["shards"]) == (1 if split == SPLIT else 3)
    out = tmp_path / "out"
    manifest = export(built_dir, "shapes-hard", fmt, out, splits=[split], catalogue=catalogue)
    folder = out / split
    if fmt == "npy":
        loaded = {name: np.load(folder / f"{name}.npy") for name in ARRAYS}
    elif fmt == "npz":
        with np.load(folder / "shapes-hard.npz") as npz:
            loaded = {name: npz[name] for name in npz.files}
    else:
        h5py = pytest.importorskip("h5py")
        with h5py.File(folder / "shapes-hard.h5", "r") as handle:
            loaded = {name: handle[name][()] for name in ARRAYS}
            assert handle.attrs["config_hash"] == record["config_hash"]
            assert int(handle.attrs["seed"]) == record["seed"]
            assert handle["image"].attrs["axes"] == "(row, y, x)"
            docs = columns_for("shapes")
            for name in ARRAYS:
                assert handle[name].attrs["unit"] == docs[name].unit
    assert set(loaded) == set(ARRAYS)
    for name in ARRAYS:
        assert loaded[name].dtype == arrays[name].dtype
        np.testing.assert_array_equal(loaded[name], arrays[name])
    images = read_catalogue(folder, "images", catalogue)
    check_catalogue(images, read_catalogue(folder, "objects", catalogue), table, split)
    scalars = [n for n, f in record_features(record).items() if isinstance(f, datasets.Value)]
    assert set(scalars) <= set(images.column_names)  # every scalar column is catalogued
    saved = json.loads((out / "manifest.json").read_text())
    assert saved == manifest
    assert saved["provenance"]["config_hash"] == record["config_hash"]
    assert saved["splits"][split]["num_examples"] == table.num_rows


def test_fits_has_cubes_tables_units_and_provenance(built_dir, tmp_path):
    from astropy.io import fits
    from astropy.table import Table

    record, table, arrays = stored(built_dir, "shapes-hard")
    export(built_dir, "shapes-hard", "fits", tmp_path / "out", splits=[SPLIT])
    path = tmp_path / "out" / SPLIT / "shapes-hard.fits"
    with fits.open(path) as hdus:
        names = [hdu.name for hdu in hdus]
        assert names == ["PRIMARY", "IMAGE", "IMAGE_CLEAN", "SEGMENTATION", "IMAGES", "OBJECTS"]
        for hdu in hdus:
            assert hdu.header["CONFIG"] == "shapes-hard"
            assert hdu.header["CFGHASH"] == record["config_hash"]
            assert hdu.header["SEED"] == record["seed"]
            assert hdu.header["DBVERS"] == record["software"]["deepbench-hf"]
            assert hdu.header["SPLIT"] == SPLIT
        for name in ARRAYS:
            np.testing.assert_array_equal(hdus[name.upper()].data, arrays[name])
            assert "BUNIT" not in hdus[name.upper()].header  # dimensionless
        objects = Table(hdus["OBJECTS"].data)
        units = {hdus["OBJECTS"].header[f"TTYPE{i}"]: hdus["OBJECTS"].header.get(f"TUNIT{i}")
                 for i in range(1, hdus["OBJECTS"].header["TFIELDS"] + 1)}  # fmt: skip
        assert units["x"] == "pix" and units["angle"] == "rad" and units["area_px"] == "pix2"
        assert units["bbox_width"] == "pix" and units["kind"] is None
        images = Table(hdus["IMAGES"].data)
    assert list(images["index"]) == table["index"].to_pylist()
    assert list(images["label_name"]) == [
        record["class_names"][v] for v in table["label"].to_pylist()
    ]
    assert len(objects) == sum(table["n_objects"].to_pylist())
    np.testing.assert_array_equal(
        np.asarray(objects["y"]), [o["y"] for objs in table["objects"].to_pylist() for o in objs]
    )


def test_png_is_exact_for_binary_and_integer_images(built_dir, tmp_path):
    manifest = export(built_dir, "shapes-easy", "png", tmp_path / "easy", splits=[SPLIT])
    _, _, arrays = stored(built_dir, "shapes-easy")
    images = pq.read_table(tmp_path / "easy" / SPLIT / "images.parquet")
    assert manifest["scaling"]["image"] == {"lo": 0.0, "hi": 1.0, "bits": 16}
    for name in ARRAYS:
        scaling = manifest["scaling"][name]
        files = images[f"file_{name}"].to_pylist()
        back = np.stack(
            [
                decode_image(tmp_path / "easy" / SPLIT / f, scaling, arrays[name].dtype)
                for f in files
            ]
        )
        np.testing.assert_array_equal(back, arrays[name])  # binary float image: exact too


def test_png_and_jpeg_of_noisy_images_follow_the_stored_scaling(built_dir, tmp_path):
    from PIL import Image

    _, table, arrays = stored(built_dir, "shapes-hard")
    for fmt, tolerance in (("png", 0.5 / 65535), ("jpeg", None)):
        out = tmp_path / fmt
        manifest = export(built_dir, "shapes-hard", fmt, out, splits=[SPLIT])
        scaling = manifest["scaling"]["image"]
        lo, hi = scaling["lo"], scaling["hi"]
        assert lo == float(arrays["image"].min()) and hi == float(arrays["image"].max())
        suffix = ".png" if fmt == "png" else ".jpg"
        files = sorted((out / SPLIT / "image").iterdir())
        assert [f.suffix for f in files] == [suffix] * table.num_rows
        back = np.stack([decode_image(f, scaling) for f in files])
        error = np.abs(back.astype(np.float64) - arrays["image"])
        if tolerance is not None:
            # half a 16-bit step, plus float32 rounding of the decoded values
            rounding = 4 * np.finfo(np.float32).eps * max(abs(lo), abs(hi))
            assert error.max() <= tolerance * (hi - lo) + rounding
            with Image.open(files[0]) as image:
                assert image.mode == "I;16" and image.info["deepbench:lo"] == repr(lo)
        else:  # 8-bit, lossy: close on average
            assert error.mean() < 0.03 * (hi - lo)
        # Label maps are always lossless PNG, unscaled.
        seg = [decode_image(f, manifest["scaling"]["segmentation"], np.uint16)
               for f in sorted((out / SPLIT / "segmentation").iterdir())]  # fmt: skip
        np.testing.assert_array_equal(np.stack(seg), arrays["segmentation"])
        assert manifest["scaling"]["segmentation"] == {"lo": 0.0, "hi": 65535.0, "bits": 16}


def test_image_scaling_spans_every_split_exported(built_dir, tmp_path):
    manifest = export(built_dir, "shapes-hard", "png", tmp_path / "png")
    values = np.concatenate(
        [
            stored(built_dir, "shapes-hard", split)[2]["image"].ravel()
            for split in manifest["splits"]
        ]
    )
    scaling = manifest["scaling"]["image"]
    assert (scaling["lo"], scaling["hi"]) == (float(values.min()), float(values.max()))


def test_export_all_splits_from_the_cli(built_dir, tmp_path, capsys):
    out = tmp_path / "all"
    code = main(["export", str(built_dir), "shapes-easy", "--format", "npz", "--out", str(out)])
    assert code == 0
    assert "exported shapes-easy as npz" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test", "train", "validation"]
    with np.load(out / "train" / "shapes-easy.npz") as npz:
        assert npz["image"].shape == (40, 64, 64)


def test_an_export_replaces_an_earlier_one_whole_and_spares_foreign_folders(
    built_dir, tmp_path, monkeypatch
):
    out = tmp_path / "exo"
    export(built_dir, "shapes-easy", "npy", out)
    export(built_dir, "shapes-hard", "npz", out, splits=[SPLIT])
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", SPLIT]
    assert sorted(p.name for p in (out / SPLIT).iterdir())[0] == "images.parquet"
    assert (out / SPLIT / "shapes-hard.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exo"]  # no staging left behind
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(
        ExportError, match=r"--out .*mine: folder is not empty and is not an earlier"
    ):
        export(built_dir, "shapes-easy", "npy", mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    # ... said before any shard is read (png reads them all first, for its scaling)
    monkeypatch.setattr("deepbench_hf.export.iter_tables", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(ExportError, match=r"--out .*mine: folder is not empty"):
        export(built_dir, "shapes-hard", "png", mine)
    monkeypatch.undo()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with pytest.raises(ExportError, match="is the current folder or holds it"):
        export(built_dir, "shapes-easy", "npy", ".")


def test_export_errors_are_one_line(built_dir, tmp_path, capsys):
    assert main(["export", str(built_dir), "shapes-nope", "--format", "npy", "--out",
                 str(tmp_path / "x")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no config 'shapes-nope' built there" in err[0]
    with pytest.raises(ExportError, match="--split dev: config shapes-easy has no such split"):
        export(built_dir, "shapes-easy", "npy", tmp_path / "y", splits=["dev"])


def test_rows_without_images_say_so(built_dir, tmp_path, capsys):
    """An nbody-like config without a 2-D image column cannot be exported as png; with no arrays
    at all, export explains that the truth is in the shards."""
    folder = tmp_path / "ds"
    (folder / "orbits").mkdir(parents=True)
    record = json.loads((built_dir / "shapes-easy" / "deepbench.json").read_text())
    record.update(name="orbits", kind="nbody")
    record["features"] = {
        "positions": {"_type": "Array3D", "dtype": "float64", "shape": [4, 3, 2]},
        "energy": {"_type": "Value", "dtype": "float64"},
    }
    (folder / "orbits" / "deepbench.json").write_text(json.dumps(record))
    with pytest.raises(
        ExportError,
        match=r"orbits \(kind nbody\) has no 2-D image columns .*positions \(4, 3, 2\)",
    ):
        export(folder, "orbits", "png", tmp_path / "out")
    assert main(["export", str(folder), "orbits", "--format", "jpeg", "--out",
                 str(tmp_path / "out")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no 2-D image columns (Array2D features)" in err[0]
    record["features"].pop("positions")
    (folder / "orbits" / "deepbench.json").write_text(json.dumps(record))
    with pytest.raises(ExportError, match="has no image or array columns"):
        export(folder, "orbits", "npz", tmp_path / "out")


def test_cli_choices_match_the_module():
    assert export_command.FORMATS == FORMATS
    assert export_command.CATALOGUE_FORMATS == CATALOGUE_FORMATS


def test_float_planes_that_are_not_images_are_scaled_not_rounded(tmp_path):
    from conftest import small_config

    from deepbench_hf.export import is_label_map
    from deepbench_hf.writer import build_config

    assert is_label_map("segmentation", np.uint16) and is_label_map("arc_mask", np.uint8)
    assert not is_label_map("variance", np.float32) and not is_label_map("image_clean", np.uint8)
    folder = tmp_path / "ds"
    build_config(small_config("sky-medium"), folder, progress=False)
    manifest = export(folder, "sky-medium", "png", tmp_path / "png", splits=["test"])
    scaling = manifest["scaling"]["variance"]
    assert scaling["bits"] == 16 and scaling["hi"] > scaling["lo"] > 0
    stored = pq.read_table(sorted((folder / "sky-medium").glob("test-*.parquet"))[0])
    variance = np.stack([np.asarray(v, dtype=np.float64) for v in stored["variance"].to_pylist()])
    files = sorted((tmp_path / "png" / "test" / "variance").iterdir())
    back = np.stack([decode_image(f, scaling) for f in files]).astype(np.float64)
    step = (scaling["hi"] - scaling["lo"]) / 65535
    assert np.abs(back - variance).max() <= 0.5 * step + 1e-6 * scaling["hi"]


def test_fits_units_are_fits_standard():
    from astropy import units as u

    from deepbench_hf.columns import FITS_UNITS, fits_unit

    assert fits_unit("ADU") == "adu" and fits_unit("ADU²") == "adu2"
    for spelling in FITS_UNITS.values():
        u.Unit(spelling, format="fits")  # raises if not FITS-standard


def test_png_of_nbody_writes_the_image_and_carries_the_orbits_in_the_catalogue(tmp_path):
    """nbody-easy renders an ``image`` (Array2D): PNG writes it; ``positions`` (Array3D), the
    time series and ``initial`` go to the images catalogue, exactly (Parquet, and JSON in CSV)."""
    from deepbench_hf import load_config
    from deepbench_hf.writer import build_config

    folder = tmp_path / "ds"
    config = load_config("nbody-easy", ["shard_size=2"], splits={"train": 2, "validation": 3})
    build_config(config, folder, progress=False)
    record = json.loads((folder / "nbody-easy" / "deepbench.json").read_text())
    features = record_features(record)
    table = read_split(folder / "nbody-easy", SPLIT)
    image = to_numpy(table.column("image"), features["image"])
    carried = ["initial", "kinetic_energy", "masses", "positions", "potential_energy", "times",
               "velocities"]  # fmt: skip
    for catalogue in CATALOGUE_FORMATS:
        out = tmp_path / catalogue
        code = main(["export", str(folder), "nbody-easy", "--format", "png", "--out", str(out),
                     "--split", SPLIT, "--catalogue", catalogue])  # fmt: skip
        assert code == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["images"] == ["image"] and list(manifest["scaling"]) == ["image"]
        assert manifest["columns_in_catalogue"] == carried
        assert sorted(p.name for p in (out / SPLIT).iterdir()) == ["image", f"images.{catalogue}"]
        images = read_catalogue(out / SPLIT, "images", catalogue)
        assert images["index"].to_pylist() == table["index"].to_pylist()
        assert images["energy_error"].to_pylist() == table["energy_error"].to_pylist()
        for name in carried:
            values = images[name].to_pylist()
            if catalogue == "csv":
                values = [json.loads(v) for v in values]
            # repr of every float (NaN included): equal text means the same float64 values
            assert json.dumps(values) == json.dumps(table[name].to_pylist()), name
        positions = np.array(images["positions"].to_pylist() if catalogue == "parquet" else
                             [json.loads(v) for v in images["positions"].to_pylist()])  # fmt: skip
        np.testing.assert_array_equal(positions, to_numpy(table.column("positions"),
                                                          features["positions"]))  # fmt: skip
        scaling = manifest["scaling"]["image"]
        back = np.stack([decode_image(out / SPLIT / f, scaling)
                         for f in images["file_image"].to_pylist()])  # fmt: skip
        step = (scaling["hi"] - scaling["lo"]) / 65535
        assert np.abs(back.astype(np.float64) - image).max() <= 0.5 * step + 1e-6 * scaling["hi"]
    # The array formats keep writing positions as arrays, not in the catalogue.
    manifest = export(folder, "nbody-easy", "npz", tmp_path / "npz", splits=[SPLIT])
    assert "columns_in_catalogue" not in manifest
    catalogue = pq.read_table(tmp_path / "npz" / SPLIT / "images.parquet")
    assert "positions" not in catalogue.column_names
    with np.load(tmp_path / "npz" / SPLIT / "nbody-easy.npz") as npz:
        assert sorted(npz.files) == ["image", "positions", "velocities"]


@pytest.mark.parametrize(("fmt", "limit"), [("npy", 30000), ("npz", 30000), ("fits", 30000),
                                            ("png", 2000)])  # fmt: skip
def test_a_write_that_fails_is_one_line_and_leaves_nothing(built_dir, tmp_path, fmt, limit):
    """A file size limit (as a full disk) fails the export with one line naming --out, exit 2,
    and no staging folder. (A size limit fails a memory map when it is created; on a full disk
    it died of SIGBUS instead, which is why .npy files are streamed: that is checked by hand.
    HDF5 cannot close a file whose write failed and crashes at exit, so it is not run here.)"""
    import subprocess
    import sys

    out = tmp_path / "out"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit: EFBIG
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from deepbench_hf.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["export", str(built_dir), "shapes-easy", "--format", fmt, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"--out {out}: writing the export failed: " in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["npy", "npz", "fits"])
def test_an_array_export_the_disk_has_no_room_for_is_refused_first(
    built_dir, tmp_path, monkeypatch, fmt
):
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    record = json.loads((built_dir / "shapes-easy" / "deepbench.json").read_text())
    rows = sum(split["num_examples"] for split in record["splits"].values())
    arrays = [f for f in record_features(record).values() if hasattr(f, "shape")]
    needed = rows * sum(np.dtype(f.dtype).itemsize * np.prod(f.shape) for f in arrays)
    out = tmp_path / "out"
    with pytest.raises(
        ExportError,
        match=rf"--out {out}: the arrays need {needed / 1e6:.1f} MB and its disk has 0\.0 MB free",
    ):
        export(built_dir, "shapes-easy", fmt, out)
    assert list(tmp_path.iterdir()) == []


def test_h5_and_fits_carry_the_units_of_sky_images(tmp_path):
    h5py = pytest.importorskip("h5py")
    from astropy.io import fits
    from conftest import small_config

    from deepbench_hf.writer import build_config

    folder = tmp_path / "ds"
    splits = "splits={train: 2, validation: 0, test: 0}"
    build_config(small_config("sky-easy", splits), folder, progress=False)
    export(folder, "sky-easy", "h5", tmp_path / "h5")
    with h5py.File(tmp_path / "h5" / "train" / "sky-easy.h5", "r") as handle:
        units = {name: handle[name].attrs["unit"] for name in ("image", "image_clean", "variance")}
    assert units == {"image": "ADU", "image_clean": "ADU", "variance": "ADU²"}
    export(folder, "sky-easy", "fits", tmp_path / "fits")
    with fits.open(tmp_path / "fits" / "train" / "sky-easy.fits") as hdus:
        assert hdus["IMAGE"].header["BUNIT"] == "adu"
        assert hdus["VARIANCE"].header["BUNIT"] == "adu2"
