"""Preview figures for dataset cards: a grid of example images per config.

``write_preview(config_folder, record)`` writes ``<config>/preview.png``: the first
:data:`GRID` x :data:`GRID` examples of the first non-empty split (``train`` when present), image
column ``image`` (else the first ``image*`` array column), one shared linear grey scale between
the 0.5 and 99.5 percentiles of the shown pixels (so relative brightness is kept), displayed with
``origin="lower"`` (y up, angles counter-clockwise) and each object's ``bbox`` drawn in orange.
The title of each panel is its label (or its object count). The figure is deterministic: Agg
backend, fixed size and DPI, no timestamp or version in the PNG metadata.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from .export import image_columns, record_features, to_numpy
from .signals import deferred_interrupts

GRID = 4
PREVIEW_FILE = "preview.png"
_GAP = 0.12  # gap between panels, as a fraction of the panel size
_BOX_COLOUR = "#ff9f1c"


def _first_split(record: dict[str, Any]) -> str | None:
    splits = record["splits"]
    order = ["train", *[s for s in splits if s != "train"]]
    for split in order:
        if split in splits and splits[split]["num_examples"] > 0:
            return split
    return None


def preview_column(record: dict[str, Any]) -> str | None:
    """The column a preview shows: ``image``, else the first ``image*`` array column."""
    images = image_columns(record_features(record))
    if not images:
        return None
    return "image" if "image" in images else images[0]


def _titles(table: Any, features: Any) -> list[str]:
    import datasets

    n = table.num_rows
    label = features.get("label")
    if isinstance(label, datasets.ClassLabel) and "label" in table.column_names:
        return [label.names[int(v)] for v in table.column("label").to_numpy()]
    if "n_objects" in table.column_names:
        return [f"n = {int(v)}" for v in table.column("n_objects").to_numpy()]
    if "index" in table.column_names:
        return [f"#{int(v)}" for v in table.column("index").to_numpy()]
    return [""] * n


def write_preview(
    config_folder: str | Path, record: dict[str, Any], *, fs: Any = None
) -> str | None:
    """Write ``<config_folder>/preview.png`` from the config's shards.

    ``fs`` is an fsspec filesystem holding ``config_folder`` (default: the local disk). Returns
    the path written, or ``None`` when the config has no image column (nothing is written).
    """
    column = preview_column(record)
    split = _first_split(record)
    if column is None or split is None:
        return None
    folder = str(config_folder).rstrip("/")
    features = record_features(record)
    shard = f"{folder}/{record['splits'][split]['shards'][0]['filename']}"
    wanted = [c for c in (column, "label", "n_objects", "index", "objects") if c in features]
    with deferred_interrupts():  # see deepbench_hf.signals
        if fs is None:
            table = pq.read_table(shard, columns=wanted)
        else:
            with fs.open(shard, "rb") as handle:
                table = pq.read_table(handle, columns=wanted)
    table = table.slice(0, GRID * GRID)
    images = to_numpy(table.column(column), features[column]).astype(np.float64)
    if images.ndim == 4:  # (n, planes, H, W): show the first plane
        images = images[:, 0]
    boxes: list[list[list[float]]] = [[] for _ in range(table.num_rows)]
    if "objects" in table.column_names:
        for k, objects in enumerate(table.column("objects").to_pylist()):
            boxes[k] = [
                o["bbox"]
                for o in objects or []
                if isinstance(o, dict) and isinstance(o.get("bbox"), list) and len(o["bbox"]) == 4
            ]
    png = _draw(images, _titles(table, features), boxes, f"{record['name']}: {column}, {split}")
    path = f"{folder}/{PREVIEW_FILE}"
    if fs is None:
        Path(path).write_bytes(png)
    else:
        fs.pipe_file(path, png)
    return path


def _draw(
    images: np.ndarray,
    titles: list[str],
    boxes: list[list[list[float]]],
    caption: str,
) -> bytes:
    """The PNG bytes of the preview grid."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n, height, width = images.shape
    cols = min(GRID, n)
    rows = -(-n // cols)
    gap_x, gap_y = _GAP * width, _GAP * height * 2.2  # room for each panel's title
    finite = images[np.isfinite(images)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    mosaic_w = cols * width + (cols - 1) * gap_x
    mosaic_h = rows * height + rows * gap_y
    x_range = (-0.5 - gap_x / 2, mosaic_w - 0.5 + gap_x / 2)
    y_range = (-0.5 - gap_x, mosaic_h - 0.5)
    aspect = (y_range[1] - y_range[0]) / (x_range[1] - x_range[0])
    figure = Figure(figsize=(1.25 * cols, 1.25 * cols * aspect), dpi=100)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(*x_range)
    axes.set_ylim(*y_range)
    axes.set_facecolor("white")
    axes.axis("off")
    for k in range(n):
        r, c = divmod(k, cols)
        x0 = c * (width + gap_x)
        y0 = (rows - 1 - r) * (height + gap_y)
        axes.imshow(
            images[k],
            cmap="gray",
            vmin=lo,
            vmax=hi,
            origin="lower",
            interpolation="nearest",
            extent=(x0 - 0.5, x0 + width - 0.5, y0 - 0.5, y0 + height - 0.5),
        )
        for x_min, y_min, w, h in boxes[k] if k < len(boxes) else []:
            axes.add_patch(
                Rectangle(
                    (x0 + x_min - 0.5, y0 + y_min - 0.5),
                    w,
                    h,
                    fill=False,
                    edgecolor=_BOX_COLOUR,
                    linewidth=0.8,
                )
            )
        axes.text(
            x0 + width / 2 - 0.5,
            y0 + height + gap_y * 0.15,
            titles[k] if k < len(titles) else "",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    axes.set_aspect("equal")
    figure.text(0.5, 0.0, caption, ha="center", va="bottom", fontsize=6, color="0.4")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None}, facecolor="white")
    return buffer.getvalue()


__all__ = ["GRID", "PREVIEW_FILE", "preview_column", "write_preview"]
