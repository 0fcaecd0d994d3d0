"""Export a config's rows to plain files: images plus a catalogue of the truth.

``deepbench export DIR CONFIG --format F --out OUT [--split S]`` writes, for each split,
``OUT/<split>/``:

========  ===================================================================================
format    arrays
========  ===================================================================================
npy       ``<column>.npy``: one ``(N, *shape)`` array per array column
npz       ``<config>.npz``: the same arrays, one key per column
h5        ``<config>.h5``: one dataset per column (attributes: unit, meaning, provenance)
fits      ``<config>.fits``: one image HDU per array column (``EXTNAME`` = column, a cube of N
          planes), then binary tables ``IMAGES`` and ``OBJECTS`` (the catalogue, with units)
png/jpeg  ``<column>/<index>.png|jpg``: one file per image of every 2-D image column (the
          ``Array2D`` features: ``image``, ``image_clean``, ``variance``, masks);
          label maps such as ``segmentation`` always as lossless PNG. The config's other
          non-scalar columns (``positions``, ``times``, ``initial`` ... of N-body rows) go to
          the ``images`` catalogue, one value per row (nested lists and structs in Parquet,
          JSON text in CSV); ``manifest.json`` lists them under ``columns_in_catalogue``
========  ===================================================================================

plus, except for FITS, the catalogue beside them: ``images.parquet`` (one row per image: the
position ``row`` along the arrays' first axis, ``index``, every scalar column, ``label_name``)
and ``objects.parquet`` (one row per object: ``row``, ``index``, ``object`` = position in the
row's ``objects`` list, then each field; ``bbox`` becomes ``bbox_x_min``, ``bbox_y_min``,
``bbox_width``, ``bbox_height``), or ``.csv`` with ``--catalogue csv``. ``OUT/manifest.json``
records the config, its hash and master seed, the versions that built it, the files, the units
and the PNG/JPEG scaling.

Scaling for PNG/JPEG (stored per column in ``manifest.json`` and, for PNG, in ``tEXt`` chunks
``deepbench:lo``/``deepbench:hi``/``deepbench:bits``)::

    pixel = round((value - lo) / (hi - lo) * (2**bits - 1))
    value = lo + pixel * (hi - lo) / (2**bits - 1)

with one ``lo``, ``hi`` per column over every exported image (min and max), so relative
brightness is kept across images. PNG uses 16 bits for float columns and 8 bits for ``uint8``
columns, so binary images (``image_clean``, noise-free ``image``) and integer columns
round-trip exactly; label maps are stored unscaled (``lo = 0``, ``hi = 2**bits - 1``). JPEG is
8-bit and lossy. Image files keep the array orientation: file row 0 is ``y = 0`` (the top of
the file; matplotlib's default ``origin="upper"`` shows it the same way). FITS keeps its own
convention: FITS pixel ``(i, j)`` (1-based) is ``x = i - 1``, ``y = j - 1``.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .columns import columns_for, fits_unit
from .errors import DeepBenchError, first_line
from .records import INFO_FILE, read_record
from .signals import deferred_interrupts

FORMATS = ("npy", "npz", "h5", "fits", "png", "jpeg")
CATALOGUE_FORMATS = ("parquet", "csv")
BBOX_NAMES = ("x_min", "y_min", "width", "height")


class ExportError(DeepBenchError):
    """An export could not run (unknown config, no 2-D images for an image format, ...)."""


# ----------------------------------------------------------------------------- reading shards


def load_record(folder: Path, config: str) -> dict[str, Any]:
    """The build record ``<folder>/<config>/deepbench.json`` (one-line error when missing)."""
    info = folder / config / INFO_FILE
    if not info.is_file():
        built = sorted(p.parent.name for p in folder.glob(f"*/{INFO_FILE}"))
        listing = ", ".join(built) if built else "none"
        raise ExportError(f"{folder}: no config {config!r} built there (configs: {listing})")
    return read_record(info)


def record_features(record: dict[str, Any]) -> Any:
    """The ``datasets.Features`` of a build record."""
    import datasets

    return datasets.Features.from_dict(record["features"])


def _is_array(feature: Any) -> bool:
    """Whether ``feature`` is a fixed-shape ``datasets`` array (``Array2D`` ... ``Array5D``)."""
    import datasets

    arrays = (datasets.Array2D, datasets.Array3D, datasets.Array4D, datasets.Array5D)
    return isinstance(feature, arrays)


def array_columns(features: Any) -> dict[str, Any]:
    """The array columns of ``features`` (``image*`` columns first, then the others)."""
    arrays = {name: f for name, f in features.items() if _is_array(f)}
    return dict(sorted(arrays.items(), key=lambda item: (not item[0].startswith("image"), item[0])))


def image_columns(features: Any) -> list[str]:
    """Names of the image columns: array columns whose name starts with ``image``."""
    return [name for name in array_columns(features) if name.startswith("image")]


def plane_columns(features: Any) -> dict[str, Any]:
    """The 2-D image columns (``Array2D``) PNG/JPEG export writes as files (``image*`` first)."""
    import datasets

    planes = {name: f for name, f in features.items() if isinstance(f, datasets.Array2D)}
    return dict(sorted(planes.items(), key=lambda item: (not item[0].startswith("image"), item[0])))


def _in_catalogue(feature: Any) -> bool:
    """Whether every format's catalogue holds the column (scalars and lists of objects)."""
    import datasets

    if isinstance(feature, (datasets.ClassLabel, datasets.Value)):
        return True
    return isinstance(feature, datasets.List) and isinstance(feature.feature, dict)


def to_numpy(column: pa.ChunkedArray | pa.Array, feature: Any) -> np.ndarray:
    """An array column (extension or plain nested lists) as an ``(n, *shape)`` numpy array."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    n = len(array)
    for _ in feature.shape:
        array = array.flatten()
    values = array.to_numpy(zero_copy_only=False)
    return values.reshape((n, *feature.shape)).astype(feature.dtype, copy=False)


def _split_shards(folder: Path, record: dict[str, Any], split: str) -> list[Path]:
    """The shard files of ``split`` in order, as the build record lists them."""
    name = record["name"]
    return [folder / name / s["filename"] for s in record["splits"][split]["shards"]]


def iter_tables(
    folder: Path, record: dict[str, Any], split: str, columns: Sequence[str] | None = None
) -> Iterator[pa.Table]:
    """The shards of ``split`` as tables, in order (only ``columns`` when given)."""
    for path in _split_shards(folder, record, split):
        try:
            # use_threads=False: a process that exits just after a threaded read can abort in
            # Arrow's thread teardown ("terminate called without an active exception",
            # apache/arrow#34314), e.g. after an --out error; one shard at a time is enough here
            with deferred_interrupts():  # a Ctrl-C inside Arrow's callbacks crashed the process
                table = pq.read_table(
                    path, columns=list(columns) if columns is not None else None, use_threads=False
                )
        except (OSError, pa.ArrowException) as exc:  # missing, truncated or not Parquet
            reason = "missing" if isinstance(exc, FileNotFoundError) else first_line(exc)
            raise ExportError(
                f"{path}: cannot read this shard ({reason}); run 'deepbench verify {folder}'"
            ) from None
        yield table


# ----------------------------------------------------------------------------- catalogue


def _catalogue_tables(
    table: pa.Table, features: Any, split: str, first_row: int, carry: Sequence[str] = ()
) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Per-image scalars and per-object rows (one table per list-of-structs column).

    The ``carry`` columns (arrays, lists, structs) are added to the per-image table as they are.
    """
    import datasets

    n = table.num_rows
    rows = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    images: dict[str, pa.Array] = {"split": pa.array([split] * n), "row": rows}
    objects: dict[str, pa.Table] = {}
    for name, feature in features.items():
        column = table.column(name)
        if isinstance(feature, datasets.ClassLabel):
            images[name] = column.cast(pa.int64())
            values = column.to_numpy(zero_copy_only=False)
            images[f"{name}_name"] = pa.array(
                [feature.names[int(v)] if v >= 0 else None for v in values], pa.string()
            )
        elif isinstance(feature, datasets.Value):
            images[name] = column
        elif isinstance(feature, datasets.List) and isinstance(feature.feature, dict):
            objects[name] = _object_rows(table, name, feature.feature, split, rows)
        elif name in carry:
            values = column.combine_chunks()
            if isinstance(values, pa.ExtensionArray):
                values = values.storage
            images[name] = values
    return pa.table(images), objects


def _object_rows(
    table: pa.Table, name: str, fields: dict[str, Any], split: str, rows: pa.Array
) -> pa.Table:
    import datasets

    lists = table.column(name).combine_chunks()
    counts = pa.compute.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    parent = np.repeat(np.arange(len(lists)), counts)
    structs = lists.flatten()
    out: dict[str, pa.Array] = {
        "split": pa.array([split] * len(structs)),
        "row": pa.array(rows.to_numpy()[parent]),
    }
    if "index" in table.column_names:
        out["index"] = pa.array(table.column("index").to_numpy()[parent])
    position = np.arange(len(structs)) - np.repeat(np.cumsum(counts) - counts, counts)
    out["object"] = pa.array(position.astype(np.int32))
    for key, feature in fields.items():
        values = structs.field(key)
        if isinstance(feature, datasets.List) and feature.length not in (None, -1):
            names = BBOX_NAMES if key == "bbox" and feature.length == 4 else range(feature.length)
            flat = values.flatten().to_numpy(zero_copy_only=False).reshape(-1, feature.length)
            for i, suffix in enumerate(names):
                out[f"{key}_{suffix}"] = pa.array(flat[:, i])
        elif isinstance(feature, datasets.List):
            continue  # variable-length list fields stay in the Parquet shards
        else:
            out[key] = values
    return pa.table(out)


def _write_catalogue(table: pa.Table, path: Path, fmt: str) -> Path:
    path = path.with_suffix(f".{fmt}")
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(_json_nested(table), path)
    else:
        pq.write_table(table, path, compression="zstd")
    return path


def _json_nested(table: pa.Table) -> pa.Table:
    """``table`` with its list and struct columns as JSON text (CSV holds no nested values).

    Floats are written with ``repr`` (shortest round trip), so float64 and float32 values are
    read back exactly; NaN is written as ``NaN`` (Python's ``json`` reads it).
    """
    for i, column in enumerate(table.columns):
        if pa.types.is_nested(column.type):
            text = [None if v is None else json.dumps(v) for v in column.to_pylist()]
            table = table.set_column(i, table.field(i).name, pa.array(text, pa.string()))
    return table


# ----------------------------------------------------------------------------- scaling


@dataclass(frozen=True)
class Scaling:
    """Linear map between values and ``bits``-bit pixels (see the module docstring)."""

    lo: float
    hi: float
    bits: int

    @property
    def top(self) -> int:
        return 2**self.bits - 1

    def encode(self, values: np.ndarray) -> np.ndarray:
        span = self.hi - self.lo
        scaled = (values.astype(np.float64) - self.lo) * (self.top / span)
        scaled = np.nan_to_num(np.rint(scaled), nan=0.0)
        dtype = np.uint8 if self.bits == 8 else np.uint16
        return np.clip(scaled, 0, self.top).astype(dtype)

    def decode(self, pixels: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        values = self.lo + pixels.astype(np.float64) * (self.hi - self.lo) / self.top
        if np.issubdtype(np.dtype(dtype), np.integer):
            values = np.rint(values)
        return values.astype(dtype)


def is_label_map(name: str, dtype: Any) -> bool:
    """Integer planes that are not images (``segmentation``, ``arc_mask``): stored unscaled.

    Float planes (``variance``, ``lensed_source``) are scaled like images.
    """
    return not name.startswith("image") and np.dtype(dtype).kind in "iub"


def decode_image(path: str | Path, scaling: dict[str, Any], dtype: Any = np.float32) -> np.ndarray:
    """Read one exported PNG/JPEG back to values with the scaling stored in ``manifest.json``."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image)
    return Scaling(scaling["lo"], scaling["hi"], scaling["bits"]).decode(pixels, dtype)


def _scalings(
    folder: Path, record: dict[str, Any], features: Any, splits: list[str], fmt: str
) -> dict[str, Scaling]:
    """Scaling of each 2-D image column."""
    arrays = plane_columns(features)
    scalings: dict[str, Scaling] = {}
    for name, feature in arrays.items():
        dtype = np.dtype(feature.dtype)
        label_map = is_label_map(name, dtype)
        if label_map or (fmt == "png" and dtype.kind in "iu" and dtype.itemsize >= 2):
            bits = 8 if dtype.itemsize == 1 else 16
            scalings[name] = Scaling(0.0, float(2**bits - 1), bits)
            continue
        lo, hi = np.inf, -np.inf
        for split in splits:
            for table in iter_tables(folder, record, split, [name]):
                values = to_numpy(table.column(name), feature)
                if values.size and np.isfinite(values).any():
                    lo = min(lo, float(np.nanmin(values)))
                    hi = max(hi, float(np.nanmax(values)))
        if not np.isfinite(lo):
            lo, hi = 0.0, 1.0
        if hi <= lo:
            hi = lo + 1.0
        bits = 16 if fmt == "png" and dtype.kind == "f" else 8
        scalings[name] = Scaling(lo, hi, bits)
    return scalings


# ----------------------------------------------------------------------------- writers


@dataclass
class _Split:
    """One split being exported: where it goes and what was written."""

    name: str
    count: int
    folder: Path
    files: list[Path] = field(default_factory=list)


def _provenance(record: dict[str, Any]) -> dict[str, Any]:
    software = record.get("software", {})
    return {
        "config": record["name"],
        "kind": record["kind"],
        "version": record["version"],
        "seed": record["seed"],
        "config_hash": record["config_hash"],
        "deepbench_hf": software.get("deepbench-hf"),
        "git_commit": software.get("git_commit"),
    }


def _fits_header_cards(record: dict[str, Any], split: str) -> list[tuple[str, Any, str]]:
    prov = _provenance(record)
    return [
        ("CONFIG", prov["config"], "deepbench-hf config name"),
        ("KIND", prov["kind"], "dataset kind"),
        ("SPLIT", split, "split"),
        ("CFGVERS", prov["version"], "config data version (semver)"),
        ("SEED", prov["seed"], "master seed of the config"),
        ("CFGHASH", prov["config_hash"], ""),  # 64 characters: no room for a comment
        ("DBVERS", prov["deepbench_hf"] or "unknown", "deepbench-hf version that built it"),
        ("GITSHA", prov["git_commit"] or "unknown", "deepbench-hf git commit"),
    ]


def _fits_table(table: pa.Table, name: str, docs: dict[str, Any], prefix: str) -> Any:
    from astropy.io import fits
    from astropy.table import Table

    astropy_table = Table()
    for column in table.column_names:
        values = table.column(column).to_numpy(zero_copy_only=False)
        if values.dtype == object:
            values = np.array(["" if v is None else str(v) for v in values], dtype=str)
        astropy_table[column] = values
    hdu = fits.BinTableHDU(astropy_table, name=name)
    for i, column in enumerate(table.column_names, start=1):
        doc = docs.get(f"{prefix}{column}") or docs.get(column)
        if doc is None and column.startswith("bbox_"):
            doc = docs.get(f"{prefix}bbox")
        unit = fits_unit(doc.unit) if doc is not None else None
        if unit:
            hdu.header[f"TUNIT{i}"] = unit
    return hdu


def export(
    folder: str | Path,
    config: str,
    fmt: str,
    out: str | Path,
    *,
    splits: Sequence[str] | None = None,
    catalogue: str = "parquet",
    jpeg_quality: int = 95,
) -> dict[str, Any]:
    """Export one config of a dataset folder; returns the manifest (also written to ``OUT``).

    Parameters
    ----------
    folder
        The dataset folder (``deepbench build ... --out DIR``).
    config
        The config to export.
    fmt
        One of :data:`FORMATS`.
    out
        Output folder: new, empty, or an earlier export, which is replaced whole once this one
        is complete (it is written beside ``out`` first).
    splits
        Splits to export (default: every split of the config).
    catalogue
        ``parquet`` or ``csv`` for the catalogue tables (FITS always uses FITS tables).
    jpeg_quality
        JPEG quality (1-95).
    """
    folder, out = Path(folder), Path(out)
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: unknown; allowed: {', '.join(FORMATS)}")
    if catalogue not in CATALOGUE_FORMATS:
        raise ExportError(f"--catalogue {catalogue}: unknown; allowed: parquet, csv")
    record = load_record(folder, config)
    features = record_features(record)
    chosen = list(splits) if splits else list(record["splits"])
    unknown = [s for s in chosen if s not in record["splits"]]
    if unknown:
        raise ExportError(
            f"--split {unknown[0]}: config {config} has no such split "
            f"(splits: {', '.join(record['splits'])})"
        )
    arrays = array_columns(features)
    images = fmt in ("png", "jpeg")
    planes = plane_columns(features) if images else {}
    if images and not planes:
        shapes = ", ".join(f"{n} {tuple(f.shape)}" for n, f in arrays.items()) or "none"
        raise ExportError(
            f"config {config} (kind {record['kind']}) has no 2-D image columns (Array2D "
            f"features), so there is nothing to write as {fmt}; its array columns: {shapes}; use "
            "--format npz or h5 for arrays, or read the Parquet shards for the rest"
        )
    # PNG/JPEG only: the other formats write every array column as an array
    carried = [n for n, f in features.items() if n not in planes and not _in_catalogue(f)]
    carried = carried if images else []
    if not arrays and not planes:
        raise ExportError(
            f"config {config} (kind {record['kind']}) has no image or array columns; "
            "its truth is all in the Parquet shards (see 'deepbench query')"
        )
    _check_export_output(out)
    final = out.resolve()
    if final == Path.cwd().resolve() or final in Path.cwd().resolve().parents:
        raise ExportError(f"--out {out}: is the current folder or holds it; choose another folder")
    if fmt in ("npy", "npz", "fits"):  # uncompressed; h5 is gzip-compressed, png/jpeg too
        _check_free_space(final, record, arrays, chosen)
    docs = columns_for(record["kind"])
    scalings = _scalings(folder, record, features, chosen, fmt) if images else {}
    manifest: dict[str, Any] = {
        "format": fmt,
        "catalogue": "fits" if fmt == "fits" else catalogue,
        "provenance": _provenance(record),
        "software": record.get("software", {}),
        "arrays": {
            name: {
                "dtype": f.dtype,
                "shape": list(f.shape),
                "unit": docs[name].unit if name in docs else "",
                "meaning": docs[name].meaning if name in docs else "",
            }
            for name, f in arrays.items()
        },
        "scaling": {name: {"lo": s.lo, "hi": s.hi, "bits": s.bits} for name, s in scalings.items()},
        "orientation": "array row 0 = y = 0; image files: row 0 at the top; FITS: x = i - 1, "
        "y = j - 1 for 1-based FITS pixel (i, j)",
        "splits": {},
    }
    if images:
        manifest["images"] = list(planes)
        manifest["columns_in_catalogue"] = carried
    out = final.parent / f".{final.name}.deepbench-export"
    shutil.rmtree(out, ignore_errors=True)  # left over from an interrupted export
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        raise ExportError(f"--out {final}: cannot write there ({exc.strerror or exc})") from None
    try:
        for split in chosen:
            target = out / split
            target.mkdir()
            state = _Split(split, record["splits"][split]["num_examples"], target)
            _export_split(
                folder, record, features, state, fmt, catalogue, scalings, jpeg_quality, carried
            )
            manifest["splits"][split] = {
                "num_examples": state.count,
                "files": sorted(str(p.relative_to(out)) for p in state.files)
                if not images
                else sorted({str(p.relative_to(out).parent) + "/" for p in state.files}),
            }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        earlier = final.parent / f".{final.name}.deepbench-export-old"
        shutil.rmtree(earlier, ignore_errors=True)
        if final.exists():
            final.rename(earlier)  # kept until the new export is in place
        out.rename(final)
        shutil.rmtree(earlier, ignore_errors=True)
    except OSError as exc:  # e.g. a full disk: one line naming where
        where = f" ({exc.filename})" if exc.filename else ""
        raise ExportError(
            f"--out {final}: writing the export failed: {exc.strerror or exc}{where}"
        ) from None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return manifest


def _check_free_space(
    final: Path, record: dict[str, Any], arrays: dict[str, Any], splits: Sequence[str]
) -> None:
    """Refuse an uncompressed array export (npy, npz, fits) that the disk holding ``final`` has
    no room for (the arrays alone), before anything is written."""
    rows = sum(record["splits"][s]["num_examples"] for s in splits)
    per_row = sum(np.dtype(f.dtype).itemsize * math.prod(f.shape) for f in arrays.values())
    needed = rows * per_row
    existing = next((p for p in (final, *final.parents) if p.exists()), final.anchor)
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise ExportError(
            f"--out {final}: the arrays need {needed / 1e6:.1f} MB and its disk has "
            f"{free / 1e6:.1f} MB free; free some space or choose another folder"
        )


def _check_export_output(out: Path) -> None:
    """``out`` must be new, empty, or an earlier export (which this one replaces whole)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ExportError(
            f"--out {out}: folder is not empty and is not an earlier export (no manifest.json); "
            "choose an empty or new folder"
        )


def _export_split(
    folder: Path,
    record: dict[str, Any],
    features: Any,
    state: _Split,
    fmt: str,
    catalogue: str,
    scalings: dict[str, Scaling],
    jpeg_quality: int,
    carry: Sequence[str] = (),
) -> None:
    images = fmt in ("png", "jpeg")
    arrays = plane_columns(features) if images else array_columns(features)
    n = state.count
    with contextlib.ExitStack() as stack:  # closes the .npy streams or the HDF5 file
        buffers: dict[str, np.ndarray] = {}
        streams: dict[str, BinaryIO] = {}
        h5file = None
        if fmt == "npy":
            for name, f in arrays.items():
                path = state.folder / f"{name}.npy"
                streams[name] = stack.enter_context(
                    _open_npy(path, np.dtype(f.dtype), (n, *f.shape))
                )
                state.files.append(path)
        elif fmt in ("npz", "fits"):
            buffers = {
                name: np.empty((n, *f.shape), np.dtype(f.dtype)) for name, f in arrays.items()
            }
        elif fmt == "h5":
            h5file = stack.enter_context(_open_h5(state, record, arrays, n))
        image_tables: list[pa.Table] = []
        object_tables: dict[str, list[pa.Table]] = {}
        start = 0
        for table in iter_tables(folder, record, state.name):
            stop = start + table.num_rows
            per_image, per_object = _catalogue_tables(table, features, state.name, start, carry)
            for name, f in arrays.items():
                values = to_numpy(table.column(name), f)
                if images:
                    files = _write_images(
                        state, name, values, table, scalings[name], fmt, jpeg_quality
                    )
                    per_image = per_image.append_column(f"file_{name}", pa.array(files))
                    continue
                if h5file is not None:
                    h5file[name][start:stop] = values
                elif name in streams:
                    streams[name].write(np.ascontiguousarray(values, dtype=np.dtype(f.dtype)).data)
                else:
                    buffers[name][start:stop] = values
            image_tables.append(per_image)
            for name, objects in per_object.items():
                object_tables.setdefault(name, []).append(objects)
            start = stop
        if start != n:
            raise ExportError(
                f"{folder}: split {state.name} of {record['name']} has {start} rows in its "
                f"shards but {n} in its build record; run 'deepbench verify {folder}'"
            )
        images = pa.concat_tables(image_tables) if image_tables else pa.table({})
        objects = {name: pa.concat_tables(parts) for name, parts in object_tables.items()}
        if fmt == "npz":
            path = state.folder / f"{record['name']}.npz"
            np.savez(path, **buffers)
            state.files.append(path)
        if fmt == "fits":
            _write_fits(state, record, arrays, buffers, images, objects)
            return
        state.files.append(_write_catalogue(images, state.folder / "images", catalogue))
        for name, table in objects.items():
            stem = "objects" if name == "objects" else name
            state.files.append(_write_catalogue(table, state.folder / stem, catalogue))


def _open_npy(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> BinaryIO:
    """A new ``.npy`` file of ``dtype`` and ``shape`` with its header written, open for the rows
    to be appended in order. Streamed, not memory-mapped: on a full disk a write then fails with
    ``ENOSPC`` rather than the process dying of SIGBUS when it touches a page of the map."""
    stream = open(path, "wb")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    try:
        np.lib.format.write_array_header_1_0(stream, {**header, "shape": shape})
    except BaseException:
        stream.close()
        raise
    return stream


def _open_h5(state: _Split, record: dict[str, Any], arrays: dict[str, Any], n: int) -> Any:
    try:
        import h5py
    except ImportError:
        raise ExportError("--format h5 needs h5py: pip install h5py") from None
    path = state.folder / f"{record['name']}.h5"
    handle = h5py.File(path, "w")
    docs = columns_for(record["kind"])
    for key, value in _provenance(record).items():
        handle.attrs[key] = "" if value is None else value
    handle.attrs["split"] = state.name
    for name, f in arrays.items():
        dataset = handle.create_dataset(
            name,
            shape=(n, *f.shape),
            dtype=np.dtype(f.dtype),
            chunks=(1, *f.shape) if n else None,
            compression="gzip" if n else None,
            compression_opts=4 if n else None,
        )
        doc = docs.get(name)
        dataset.attrs["unit"] = doc.unit if doc else ""
        dataset.attrs["meaning"] = doc.meaning if doc else ""
        dataset.attrs["axes"] = "(row, y, x)" if len(f.shape) == 2 else "(row, ...)"
    state.files.append(path)
    return handle


def _write_images(
    state: _Split,
    name: str,
    values: np.ndarray,
    table: pa.Table,
    scaling: Scaling,
    fmt: str,
    quality: int,
) -> list[str]:
    from PIL import Image, PngImagePlugin

    lossless = fmt == "png" or is_label_map(name, values.dtype)
    suffix = ".png" if lossless else ".jpg"
    target = state.folder / name
    target.mkdir(exist_ok=True)
    indices = table.column("index").to_numpy() if "index" in table.column_names else None
    names = []
    for k, plane in enumerate(values):
        if plane.ndim != 2:
            raise ExportError(
                f"column {name}: {fmt} export needs 2-D images, got shape {plane.shape}; "
                "use --format npz, h5 or fits"
            )
        number = int(indices[k]) if indices is not None else k
        path = target / f"{number:06d}{suffix}"
        pixels = scaling.encode(plane)
        image = Image.fromarray(pixels)
        if lossless:
            info = PngImagePlugin.PngInfo()
            info.add_text("deepbench:lo", repr(scaling.lo))
            info.add_text("deepbench:hi", repr(scaling.hi))
            info.add_text("deepbench:bits", str(scaling.bits))
            image.save(path, pnginfo=info, optimize=False)
        else:
            image.save(path, quality=quality)
        state.files.append(path)
        names.append(f"{name}/{path.name}")
    return names


def _write_fits(
    state: _Split,
    record: dict[str, Any],
    arrays: dict[str, Any],
    buffers: dict[str, np.ndarray],
    images: pa.Table,
    objects: dict[str, pa.Table],
) -> None:
    from astropy.io import fits

    docs = columns_for(record["kind"])
    cards = _fits_header_cards(record, state.name)
    primary = fits.PrimaryHDU()
    for key, value, comment in cards:
        primary.header[key] = (value, comment)
    primary.header["COMMENT"] = "deepbench-hf export: one image HDU per array column"
    primary.header["COMMENT"] = "(EXTNAME = column; plane k = catalogue row k), then the"
    primary.header["COMMENT"] = "IMAGES and OBJECTS tables. FITS pixel (i, j), 1-based, is"
    primary.header["COMMENT"] = "x = i - 1, y = j - 1 in deepbench coordinates (x = column)."
    hdus = [primary]
    for name in arrays:
        hdu = fits.ImageHDU(buffers[name], name=name.upper())
        for key, value, comment in cards:
            hdu.header[key] = (value, comment)
        hdu.header["COLUMN"] = (name, "deepbench-hf column")
        doc = docs.get(name)
        unit = fits_unit(doc.unit) if doc else None
        if unit:
            hdu.header["BUNIT"] = unit
        hdus.append(hdu)
    hdus.append(_fits_table(images, "IMAGES", docs, ""))
    for name, table in objects.items():
        hdus.append(_fits_table(table, name.upper(), docs, f"{name}."))
    for hdu in hdus[-1 - len(objects) :]:
        for key, value, comment in cards:
            hdu.header[key] = (value, comment)
    path = state.folder / f"{record['name']}.fits"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    state.files.append(path)


__all__ = [
    "CATALOGUE_FORMATS",
    "FORMATS",
    "ExportError",
    "Scaling",
    "array_columns",
    "decode_image",
    "export",
    "image_columns",
    "is_label_map",
    "iter_tables",
    "load_record",
    "plane_columns",
    "record_features",
    "to_numpy",
]
