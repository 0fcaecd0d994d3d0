"""Column documentation: for each dataset kind, column -> (type, unit, meaning).

The dataset card renders one table per kind from these entries, the FITS export writes the units
into its headers, and a test fails when a config's features hold a column documented nowhere.

Keys are column names; a field of a list-of-structs column is documented as ``"<column>.<field>"``
(e.g. ``"objects.bbox"``). Units are short strings: ``px`` (pixels), ``px²`` (pixel area),
``rad``, or ``""`` for dimensionless values, counts, flags and identifiers.

A kind may also document its own columns: give its ``KIND`` object a ``column_docs`` attribute
(a mapping like the ones below); its entries are added to (and override) the entries here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ColumnDoc:
    """How one column is documented: its type (in words), unit and meaning."""

    type: str
    unit: str
    meaning: str


# Columns every kind shares (same name, same meaning).
COMMON: dict[str, ColumnDoc] = {
    "label": ColumnDoc(
        "ClassLabel", "", "the classification target (see the config's label classes), if any"
    ),
    "index": ColumnDoc("int64", "", "example index in its split (0-based)"),
    "seed": ColumnDoc(
        "int64",
        "",
        "the example's 63-bit seed, from SeedSequence(master seed, config, split, index); "
        "regenerates the row alone",
    ),
    "noise_seed": ColumnDoc("int64", "", "seed of the example's noise stream"),
}

_SHAPE_KINDS = ("rectangle", "polygon", "arc", "line", "ellipse", "circle")

SHAPES: dict[str, ColumnDoc] = {
    "image": ColumnDoc(
        "Array2D float32 (H, W)",
        "",
        "`image_clean` + Gaussian noise of std `noise_sigma` (0 = background, 1 = shape)",
    ),
    "image_clean": ColumnDoc("Array2D uint8 (H, W)", "", "the noiseless binary image (0/1)"),
    "segmentation": ColumnDoc(
        "Array2D uint16 (H, W)",
        "",
        "0 = background, k = the k-th object of `objects` (later objects on top)",
    ),
    "objects": ColumnDoc("list of structs", "", "per object, in drawing order (fields below)"),
    "n_objects": ColumnDoc("int32", "", "number of objects in the image"),
    **{f"n_{kind}": ColumnDoc("int32", "", f"number of `{kind}` objects") for kind in _SHAPE_KINDS},
    "noise_sigma": ColumnDoc(
        "float32", "", "noise standard deviation, in image units (0 = noise-free)"
    ),
    "objects.kind": ColumnDoc(
        "string", "", "rectangle, polygon (regular n-gon), arc, line, ellipse or circle"
    ),
    "objects.x": ColumnDoc(
        "float64",
        "px",
        "centre x (= column) of a rectangle, polygon, ellipse or circle; midpoint of a line; "
        "centre of an arc's circle",
    ),
    "objects.y": ColumnDoc("float64", "px", "centre y (= row), as for `x`"),
    "objects.angle": ColumnDoc(
        "float64",
        "rad",
        "from +x towards +y: the rectangle's width axis, the polygon's first vertex, the "
        "ellipse's major axis, the line's direction, the arc's start (it runs to angle + span); "
        "0 for circles",
    ),
    "objects.filled": ColumnDoc("bool", "", "filled (true) or outline (false); lines, arcs: false"),
    "objects.line_width": ColumnDoc("float64", "px", "outline or stroke width; NaN when filled"),
    "objects.width": ColumnDoc("float64", "px", "rectangle side along its angle; else NaN"),
    "objects.height": ColumnDoc("float64", "px", "rectangle side across its angle; else NaN"),
    "objects.radius": ColumnDoc(
        "float64",
        "px",
        "circle radius, polygon circumradius, arc centre-line radius; else NaN",
    ),
    "objects.n_vertices": ColumnDoc("int32", "", "polygon vertex count; 0 for other kinds"),
    "objects.span": ColumnDoc("float64", "rad", "arc angular extent; else NaN"),
    "objects.semi_major": ColumnDoc("float64", "px", "ellipse semi-major axis; else NaN"),
    "objects.semi_minor": ColumnDoc("float64", "px", "ellipse semi-minor axis; else NaN"),
    "objects.length": ColumnDoc("float64", "px", "line length; else NaN"),
    "objects.bbox": ColumnDoc(
        "float32[4]",
        "px",
        "COCO [x_min, y_min, width, height] of the object's own drawn pixels, pixel-edge "
        "coordinates (x_min = first drawn column, width = number of drawn columns)",
    ),
    "objects.area_px": ColumnDoc("int32", "px²", "number of pixels the object draws"),
    "objects.visible_px": ColumnDoc(
        "int32", "px²", "its pixels left in `segmentation` after occlusion by later objects"
    ),
}

KIND_COLUMNS: dict[str, dict[str, ColumnDoc]] = {"shapes": SHAPES}

# Units as FITS writes them (TUNITn / BUNIT); units missing here are not written.
FITS_UNITS = {"px": "pix", "px²": "pix2", "rad": "rad", "deg": "deg", "arcsec": "arcsec"}


def columns_for(kind: str) -> dict[str, ColumnDoc]:
    """Every documented column of ``kind`` (common columns, this module's, the kind's own)."""
    docs = dict(KIND_COLUMNS.get(kind, {}))
    for name, doc in COMMON.items():
        docs.setdefault(name, doc)
    try:
        from .kinds import get_kind

        own = getattr(get_kind(kind), "column_docs", None)
    except (ImportError, KeyError):  # a kind still being written: document what we know
        own = None
    if own:
        docs.update(own)
    return docs


def feature_columns(features: Mapping[str, Any]) -> list[str]:
    """The column names of ``features`` as documented: top-level names and ``col.field``."""
    import datasets

    names = []
    for name, feature in features.items():
        names.append(name)
        inner = feature.feature if isinstance(feature, datasets.List) else None
        if isinstance(inner, dict):
            names.extend(f"{name}.{field}" for field in inner)
    return names


def undocumented(kind: str, features: Mapping[str, Any]) -> list[str]:
    """Columns of ``features`` that :func:`columns_for` does not document."""
    docs = columns_for(kind)
    return [name for name in feature_columns(features) if name not in docs]


def feature_type(feature: Any) -> str:
    """A short human-readable type of a ``datasets`` feature, e.g. ``Array2D float32 (64, 64)``."""
    import datasets

    if isinstance(feature, (datasets.Array2D, datasets.Array3D, datasets.Array4D)):
        shape = ", ".join(str(n) for n in feature.shape)
        return f"{type(feature).__name__} {feature.dtype} ({shape})"
    if isinstance(feature, datasets.ClassLabel):
        return f"ClassLabel ({feature.num_classes} classes)"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.List):
        if isinstance(feature.feature, dict):
            return "list of structs"
        inner = feature_type(feature.feature)
        return f"{inner}[{feature.length}]" if feature.length not in (None, -1) else f"{inner}[]"
    if isinstance(feature, dict):
        return "struct"
    return type(feature).__name__


def feature_at(features: Mapping[str, Any], column: str) -> Any:
    """The feature of ``column`` (``name`` or ``name.field``), or ``None``."""
    import datasets

    name, _, field = column.partition(".")
    feature = features.get(name)
    if not field:
        return feature
    if isinstance(feature, datasets.List) and isinstance(feature.feature, dict):
        return feature.feature.get(field)
    return None


def fits_unit(unit: str) -> str | None:
    """The FITS spelling of a documented unit, or ``None`` when it has none (dimensionless)."""
    return FITS_UNITS.get(unit)


__all__ = [
    "COMMON",
    "FITS_UNITS",
    "KIND_COLUMNS",
    "SHAPES",
    "ColumnDoc",
    "columns_for",
    "feature_at",
    "feature_columns",
    "feature_type",
    "fits_unit",
    "undocumented",
]
