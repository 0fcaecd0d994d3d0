"""Column documentation: for each dataset kind, column -> (type, unit, meaning).

The dataset card renders one table per kind from these entries, the FITS export writes the units
into its headers, and a test fails when a config's features hold a column documented nowhere.

Keys are column names; a field of a list-of-structs column is documented as ``"<column>.<field>"``
(e.g. ``"objects.bbox"``). Units are short strings: ``px`` (pixels), ``px²`` (pixel area),
``rad``, ``ADU``, ``ADU²``, ``e-``, ``e-/ADU``, the N-body units ``length``, ``mass``, ``time``,
``energy`` (and their combinations), or ``""`` for dimensionless values, counts, flags and
identifiers.

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
        "ClassLabel",
        "",
        "the classification target, if any: the index of its class in the feature's names "
        "(for a count, the count minus the smallest count; the names are the counts)",
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

_SKY_KINDS = ("star", "elliptical", "spiral")

SKY: dict[str, ColumnDoc] = {
    "image": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU",
        "`image_clean` + noise, counts per pixel; with CCD noise the sky background is "
        "subtracted (so the background averages 0 and its pixels can be negative)",
    ),
    "image_clean": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU",
        "noiseless image: every object pixel-integrated and PSF-convolved, summed in float64; "
        "re-rendered bit for bit by `deepbench_hf.sky.kind.render_clean_from_row`",
    ),
    "variance": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU²",
        "per-pixel noise variance of `image` under the noise model: ccd "
        "(max(image_clean, 0) + sky_level) / gain + (read_noise / gain)²; gaussian "
        "noise_sigma²; none 0",
    ),
    "segmentation": ColumnDoc(
        "Array2D uint16 (H, W)",
        "",
        "0 = background, k = objects[k-1]: the object whose noiseless stamp puts the most counts "
        "in the pixel, if those exceed `segmentation_threshold` (ties: the earlier object)",
    ),
    "objects": ColumnDoc("list of structs", "", "per object, in drawing order (fields below)"),
    "n_objects": ColumnDoc("int32", "", "number of objects in the image"),
    **{f"n_{kind}": ColumnDoc("int32", "", f"number of `{kind}` objects") for kind in _SKY_KINDS},
    "psf_kind": ColumnDoc("string", "", "PSF profile: `moffat`, `gaussian` or `none`"),
    "psf_fwhm": ColumnDoc("float64", "px", "PSF full width at half maximum; NaN when none"),
    "psf_beta": ColumnDoc("float64", "", "Moffat PSF power index; NaN unless psf_kind = moffat"),
    "noise_model": ColumnDoc("string", "", "`ccd` (GalSim CCDNoise), `gaussian` or `none`"),
    "noise_sigma": ColumnDoc(
        "float64", "ADU", "std of the additive Gaussian noise; NaN unless noise_model = gaussian"
    ),
    "sky_level": ColumnDoc(
        "float64",
        "ADU",
        "sky background per pixel: adds Poisson noise, then subtracted from `image`; NaN "
        "unless noise_model = ccd",
    ),
    "gain": ColumnDoc("float64", "e-/ADU", "CCD gain; NaN unless noise_model = ccd"),
    "read_noise": ColumnDoc(
        "float64", "e-", "CCD read-noise std in electrons; NaN unless noise_model = ccd"
    ),
    "background_sigma": ColumnDoc(
        "float64",
        "ADU",
        "noise std of an empty pixel: sqrt(sky_level / gain + (read_noise / gain)²) for ccd, "
        "noise_sigma for gaussian, 0 for none",
    ),
    "segmentation_threshold": ColumnDoc(
        "float64",
        "ADU",
        "threshold used for `segmentation`, in counts: the config's segmentation_threshold "
        "times background_sigma (the config's value itself when background_sigma = 0)",
    ),
    "objects.kind": ColumnDoc("string", "", "star (Moffat), elliptical (Sérsic) or spiral"),
    "objects.x": ColumnDoc("float64", "px", "centre x (= column), sub-pixel"),
    "objects.y": ColumnDoc("float64", "px", "centre y (= row), sub-pixel"),
    "objects.flux": ColumnDoc(
        "float64", "ADU", "total flux over the whole plane, before clipping to the frame"
    ),
    "objects.fwhm": ColumnDoc("float64", "px", "star: Moffat FWHM before the PSF; else NaN"),
    "objects.beta": ColumnDoc("float64", "", "star: Moffat power index; else NaN"),
    "objects.r_eff": ColumnDoc(
        "float64", "px", "elliptical: Sérsic half-light radius along the major axis; else NaN"
    ),
    "objects.n": ColumnDoc("float64", "", "elliptical: Sérsic index; else NaN"),
    "objects.q": ColumnDoc(
        "float64", "", "elliptical: axis ratio b/a; spiral: disc axis ratio (cos i); star: NaN"
    ),
    "objects.angle": ColumnDoc(
        "float64",
        "rad",
        "elliptical, spiral: major-axis position angle in [0, 2π), from +x towards +y; star: NaN",
    ),
    "objects.disc_scale": ColumnDoc(
        "float64", "px", "spiral: exponential disc scale length h; else NaN"
    ),
    "objects.bulge_fraction": ColumnDoc(
        "float64", "", "spiral: fraction of the flux in the Sérsic bulge; else NaN"
    ),
    "objects.bulge_r_eff": ColumnDoc("float64", "px", "spiral: bulge half-light radius; else NaN"),
    "objects.bulge_n": ColumnDoc("float64", "", "spiral: bulge Sérsic index; else NaN"),
    "objects.bulge_q": ColumnDoc("float64", "", "spiral: bulge axis ratio; else NaN"),
    "objects.arm_fraction": ColumnDoc(
        "float64", "", "spiral: fraction of the disc light in the arms; else NaN"
    ),
    "objects.arm_count": ColumnDoc("int32", "", "spiral: number of arms m; 0 for other kinds"),
    "objects.winding": ColumnDoc(
        "float64", "", "spiral: Ringermacher-Mead N (arm r = A / ln[B tan(φ / 2N)]); else NaN"
    ),
    "objects.pitch": ColumnDoc("float64", "", "spiral: Ringermacher-Mead B; else NaN"),
    "objects.arm_scale": ColumnDoc("float64", "px", "spiral: Ringermacher-Mead A; else NaN"),
    "objects.arm_width": ColumnDoc("float64", "px", "spiral: arm FWHM across the arm; else NaN"),
    "objects.arm_phase": ColumnDoc(
        "float64", "rad", "spiral: rotation of the arm pattern in the disc plane; else NaN"
    ),
    "objects.chirality": ColumnDoc(
        "int32", "", "spiral: +1 or -1, handedness of the arms; 0 for other kinds"
    ),
    "objects.bbox": ColumnDoc(
        "float32[4]",
        "px",
        "COCO [x_min, y_min, width, height] of the object's segment in `segmentation` "
        "(x_min = first column, width = number of columns); NaN x 4 when the segment is empty",
    ),
    "objects.area_px": ColumnDoc("int32", "px²", "pixels of the object's segment"),
    "objects.snr": ColumnDoc(
        "float64",
        "",
        "optimal (matched-filter) S/N: sqrt(Σ s² / variance) over the object's noiseless "
        "stamp s; inf without noise",
    ),
    "objects.flux_in_frame": ColumnDoc(
        "float64", "ADU", "counts of the object's noiseless stamp inside the frame"
    ),
}

LENSING: dict[str, ColumnDoc] = {
    "image": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU",
        "`image_clean` + noise, counts per pixel; with CCD noise the sky background is "
        "subtracted (the background averages 0 and pixels can be negative)",
    ),
    "image_clean": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU",
        "noiseless image: the PSF convolution of lensed source + lens light + stars (summed "
        "in float64), plus the point-source images; re-rendered bit for bit by "
        "`deepbench_hf.lensing.kind.render_clean_from_row`",
    ),
    "variance": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU²",
        "per-pixel noise variance of `image`: ccd (max(image_clean, 0) + sky_level) / gain + "
        "(read_noise / gain)²; gaussian noise_sigma²; none 0",
    ),
    "lensed_source": ColumnDoc(
        "Array2D float32 (H, W)",
        "ADU",
        "noiseless, PSF-convolved image of the extended source alone: lensed for a lens, "
        "unlensed for a non-lens (no quasar, lens light or stars)",
    ),
    "arc_mask": ColumnDoc(
        "Array2D uint8 (H, W)",
        "",
        "1 where `lensed_source` exceeds `arc_fraction` (config) times its peak, for lenses; "
        "all 0 for non-lenses",
    ),
    "is_lens": ColumnDoc(
        "bool", "", "true: the source is lensed; false: the same scene without lensing"
    ),
    "theta_e": ColumnDoc(
        "float64", "px", "Einstein radius (lenstronomy SIE theta_E); 0 for non-lenses"
    ),
    "lens_x": ColumnDoc(
        "float64", "px", "lens centre x (= column): SIE, shear and lens-light centre"
    ),
    "lens_y": ColumnDoc("float64", "px", "lens centre y (= row)"),
    "lens_q": ColumnDoc(
        "float64", "", "SIE axis ratio (minor/major) of the convergence; NaN for non-lenses"
    ),
    "lens_angle": ColumnDoc(
        "float64",
        "rad",
        "SIE major-axis angle in [0, π), from +x towards +y; NaN for non-lenses",
    ),
    "e1": ColumnDoc(
        "float64",
        "",
        "lenstronomy SIE e1 = (1 - q)/(1 + q) cos 2·lens_angle; NaN for non-lenses",
    ),
    "e2": ColumnDoc(
        "float64",
        "",
        "lenstronomy SIE e2 = (1 - q)/(1 + q) sin 2·lens_angle; NaN for non-lenses",
    ),
    "gamma1": ColumnDoc(
        "float64",
        "",
        "external shear (lenstronomy SHEAR gamma1, centred on the lens); 0 for non-lenses",
    ),
    "gamma2": ColumnDoc("float64", "", "external shear gamma2; 0 for non-lenses"),
    "source_flux": ColumnDoc("float64", "ADU", "unlensed total flux of the Sérsic source"),
    "source_x": ColumnDoc(
        "float64", "px", "source centre x in the source plane (absolute, same pixel frame)"
    ),
    "source_y": ColumnDoc("float64", "px", "source centre y in the source plane"),
    "source_r_eff": ColumnDoc("float64", "px", "source half-light radius along the major axis"),
    "source_n": ColumnDoc("float64", "", "source Sérsic index"),
    "source_q": ColumnDoc("float64", "", "source axis ratio b/a"),
    "source_angle": ColumnDoc(
        "float64", "rad", "source major-axis angle in [0, π), from +x towards +y"
    ),
    "magnification": ColumnDoc(
        "float64",
        "",
        "extended-source magnification: lensed / unlensed source flux on the rendering grid "
        "(the frame grown by the PSF radius, before the PSF): the total magnification while "
        "both lie within it; where the grid cuts either, the ratio of what is left, too low or "
        "(a source mostly off the grid) far too high; NaN if the unlensed source puts no light "
        "on the grid; exactly 1 for non-lenses",
    ),
    "source_snr": ColumnDoc(
        "float64",
        "",
        "optimal S/N of the source image: sqrt(Σ lensed_source² / variance); inf without noise",
    ),
    "lens_light_flux": ColumnDoc(
        "float64", "ADU", "lens-galaxy Sérsic total flux; NaN without lens light"
    ),
    "lens_light_r_eff": ColumnDoc(
        "float64", "px", "lens-light half-light radius (major axis); NaN without lens light"
    ),
    "lens_light_n": ColumnDoc("float64", "", "lens-light Sérsic index; NaN without lens light"),
    "lens_light_q": ColumnDoc("float64", "", "lens-light axis ratio b/a; NaN without lens light"),
    "lens_light_angle": ColumnDoc(
        "float64", "rad", "lens-light major-axis angle in [0, π); NaN without lens light"
    ),
    "ps_flux": ColumnDoc(
        "float64", "ADU", "unlensed flux of the point source (quasar); NaN without one"
    ),
    "ps_x": ColumnDoc("float64", "px", "point-source x in the source plane; NaN without one"),
    "ps_y": ColumnDoc("float64", "px", "point-source y in the source plane; NaN without one"),
    "ps_image_x": ColumnDoc(
        "float64[]",
        "px",
        "x of each point-source image (solutions of the lens equation), by arrival time; "
        "non-lens: [ps_x]; empty without a point source",
    ),
    "ps_image_y": ColumnDoc("float64[]", "px", "y of each point-source image"),
    "ps_image_magnification": ColumnDoc(
        "float64[]",
        "",
        "signed magnification 1/det A of each image (negative: saddle point); its flux is "
        "ps_flux·|μ|; non-lens: [1]",
    ),
    "n_ps_images": ColumnDoc("int32", "", "number of point-source images (0 without one)"),
    "stars": ColumnDoc("list of structs", "", "field stars (Moffat), fields below"),
    "stars.x": ColumnDoc("float64", "px", "star centre x (= column)"),
    "stars.y": ColumnDoc("float64", "px", "star centre y (= row)"),
    "stars.flux": ColumnDoc("float64", "ADU", "star total flux"),
    "stars.fwhm": ColumnDoc("float64", "px", "intrinsic Moffat FWHM (before the PSF)"),
    "stars.beta": ColumnDoc("float64", "", "Moffat power index"),
    "n_stars": ColumnDoc("int32", "", "number of field stars"),
    "psf_kind": ColumnDoc("string", "", "PSF profile: `moffat`, `gaussian` or `none`"),
    "psf_fwhm": ColumnDoc("float64", "px", "PSF FWHM; NaN when none"),
    "psf_beta": ColumnDoc("float64", "", "Moffat PSF power index; NaN unless psf_kind = moffat"),
    "noise_model": ColumnDoc("string", "", "`ccd` (GalSim CCDNoise), `gaussian` or `none`"),
    "noise_sigma": ColumnDoc(
        "float64", "ADU", "std of the Gaussian noise; NaN unless noise_model = gaussian"
    ),
    "sky_level": ColumnDoc(
        "float64",
        "ADU",
        "sky per pixel: adds Poisson noise, then subtracted; NaN unless noise_model = ccd",
    ),
    "gain": ColumnDoc("float64", "e-/ADU", "CCD gain; NaN unless noise_model = ccd"),
    "read_noise": ColumnDoc(
        "float64", "e-", "CCD read-noise std in electrons; NaN unless noise_model = ccd"
    ),
    "background_sigma": ColumnDoc(
        "float64",
        "ADU",
        "noise std of an empty pixel: sqrt(sky_level / gain + (read_noise / gain)²) for ccd, "
        "noise_sigma for gaussian, 0 for none",
    ),
    "oversample": ColumnDoc("int32", "", "sub-pixels per pixel side used to ray-shoot the source"),
}

KIND_COLUMNS: dict[str, dict[str, ColumnDoc]] = {"shapes": SHAPES, "sky": SKY, "lensing": LENSING}

# Units as FITS writes them (TUNITn / BUNIT); units missing here are not written.
FITS_UNITS = {
    "px": "pix",
    "px²": "pix2",
    "rad": "rad",
    "deg": "deg",
    "arcsec": "arcsec",
    "ADU": "adu",
    "ADU²": "adu2",
}
"""FITS-standard spellings of the documented units; electrons and N-body's natural units have
none (their columns carry no TUNIT / BUNIT)."""


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
    "LENSING",
    "SHAPES",
    "ColumnDoc",
    "columns_for",
    "feature_at",
    "feature_columns",
    "feature_type",
    "fits_unit",
    "undocumented",
]
