"""The ``sky`` dataset kind: stars, elliptical and spiral galaxies, PSF, CCD noise, full truth.

Pipeline per example:

1. **scene** (from the example's scene stream, :func:`sample_objects` then :func:`sample_psf`):
   the object count, then per object its kind, position (``x_frac``/``y_frac``), flux and the
   kind's profile parameters; then the PSF FWHM (and Moffat beta) of the image;
2. **render** (:func:`~deepbench_hf.sky.render.render_scene`): every object pixel-integrated in its
   stamp, convolved with the PSF, summed in float64 and stored as float32 ``image_clean``;
3. **noise** (from the noise stream, seeded by the stored ``noise_seed``): the noise parameters,
   then the noise field (:mod:`deepbench_hf.sky.noise`); the CCD model follows GalSim's
   ``CCDNoise`` and the stored ``image`` is **sky-subtracted**;
4. **truth** (:func:`~deepbench_hf.sky.render.truth_catalog`): segmentation map, COCO boxes,
   optimal S/N and in-frame flux per object.

Every truth parameter is stored in float64 exactly as it was used, so
:func:`render_clean_from_row` re-renders ``image_clean`` bit for bit from a row alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np

from ..config import BuildConfig
from ..distributions import Constant, Domain, cumulative_probabilities, pick, value_bounds
from ..errors import ConfigError
from ..kinds import SEED_FEATURES, image_size, seed_columns
from ..numerics import single_threaded_blas
from ..schema import Param, Section, Setting, Weights, size_field
from ..seeding import Example
from .imaging import (
    IMAGING_FEATURES,
    NOISE_SCHEMA,
    apply_noise,
    check_ccd_counts,
    check_minor_axis,
    check_psf_reach,
    psf_columns,
    psf_from_params,
    psf_schema,
    sample_psf,
)
from .psf import PSF
from .render import (
    KINDS,
    Elliptical,
    SkyObject,
    Spiral,
    Star,
    render_image,
    render_scene,
    truth_catalog,
)

__all__ = [
    "KIND",
    "OBJECT_FLOAT_FIELDS",
    "OBJECT_INT_FIELDS",
    "SKY_KINDS",
    "SkyKind",
    "objects_from_row",
    "psf_from_row",
    "render_clean_from_row",
    "sample_objects",
    "sample_psf",
]

TWO_PI = 2.0 * math.pi
SKY_KINDS = ("star", "elliptical", "spiral")

# Per-object struct fields: every parameter of every kind (NaN / 0 where not applicable).
OBJECT_FLOAT_FIELDS = (
    "x",
    "y",
    "flux",
    "fwhm",
    "beta",
    "r_eff",
    "n",
    "q",
    "angle",
    "disc_scale",
    "bulge_fraction",
    "bulge_r_eff",
    "bulge_n",
    "bulge_q",
    "arm_fraction",
    "winding",
    "pitch",
    "arm_scale",
    "arm_width",
    "arm_phase",
)
OBJECT_INT_FIELDS = ("arm_count", "chirality")
_RECORD_FIELDS = {
    kind: tuple(f.name for f in dataclasses.fields(cls)) for kind, cls in KINDS.items()
}

_PX = Domain("float", low=0.0, low_open=True, high=1e5)
_FRACTION = Domain("float", low=0.0, high=1.0)
_UNIT = Domain("float", low=0.0, high=1.0)
# Axis ratios. Below these the pixel integration no longer holds the flux (a Sérsic profile of
# q = 1e-4 came out thousands of times too bright) and a disc's arms are unresolved (NaN pixels
# from q ~ 1e-3; a thin disc of q < 0.1 is also not a physical one).
_RATIO = Domain("float", low=0.05, high=1.0)
_DISC_RATIO = Domain("float", low=0.1, high=1.0)
_POSITIVE = Domain("float", low=0.0, low_open=True, high=1e3)
_BETA = Domain("float", low=1.0, low_open=True, high=100.0)
_SERSIC_N = Domain("float", low=0.5, high=6.0)
# the pixel integration of a Moffat star is accurate (flux to < 1e-3) for FWHM >= ~0.5 px
STAR_FWHM = Domain("float", low=0.5, high=1e5)
_ANGLE = Domain("float")
_ANGLE_DEFAULT = {"uniform": [0.0, TWO_PI]}
# Ringermacher-Mead arm shape: the documented ranges (README, deepbench_hf.sky.profiles.spiral)
_WINDING = Domain("float", low=2.0, high=10.0)
_PITCH = Domain("float", low=0.5, high=3.0)
_ARM_SCALE_RATIO = Domain("float", low=1.0, high=4.0)
# arms narrower than 1.5 px FWHM are undersampled by the rendering
_ARM_WIDTH = Domain("float", low=1.5, high=1e5)


def _px(default: Any, doc: str) -> Param:
    return Param(_PX, default, "px", doc)


SCHEMA: dict[str, Any] = {
    "image_size": size_field(64, "image size in pixels"),
    "label": Setting(
        Domain("str", values=("none", "kind")),
        "none",
        doc="classification label: the single object's kind (star/elliptical/spiral), or none",
    ),
    "objects": Section(
        {
            "count": Param(Domain("int", low=0, high=10_000), 1, "", "objects per image"),
            "kinds": Weights(SKY_KINDS, doc="relative frequency of each kind", what="kind"),
            "x_frac": Param(
                _FRACTION, {"uniform": [0.3, 0.7]}, "frame", "centre x as a fraction of width - 1"
            ),
            "y_frac": Param(
                _FRACTION, {"uniform": [0.3, 0.7]}, "frame", "centre y as a fraction of height - 1"
            ),
            "flux": Param(
                Domain("float", low=0.0, low_open=True, high=1e15),
                {"loguniform": [1e3, 1e5]},
                "ADU",
                "total flux of the object over the whole plane (counts)",
            ),
            "star": Section(
                {
                    "fwhm": Param(
                        STAR_FWHM,
                        {"uniform": [1.5, 3.0]},
                        "px",
                        "Moffat FWHM (before any PSF); >= 0.5 px, below which the pixel "
                        "integration loses accuracy (a point-like star under a PSF: use 0.5)",
                    ),
                    "beta": Param(_BETA, 4.765, "", "Moffat power index (> 1)"),
                },
                doc="Moffat profile",
            ),
            "elliptical": Section(
                {
                    "r_eff": _px({"loguniform": [1.5, 6.0]}, "half-light radius (major axis)"),
                    "n": Param(_SERSIC_N, {"uniform": [0.5, 5.0]}, "", "Sérsic index (0.5-6)"),
                    "q": Param(_RATIO, {"uniform": [0.3, 1.0]}, "", "axis ratio b/a"),
                    "angle": Param(_ANGLE, _ANGLE_DEFAULT, "rad", "major-axis position angle"),
                },
                doc="Sérsic profile",
            ),
            "spiral": Section(
                {
                    "disc_scale": _px({"uniform": [3.0, 6.0]}, "exponential disc scale length h"),
                    "q": Param(_DISC_RATIO, {"uniform": [0.4, 1.0]}, "", "disc axis ratio (cos i)"),
                    "angle": Param(_ANGLE, _ANGLE_DEFAULT, "rad", "disc major-axis angle"),
                    "bulge_fraction": Param(
                        _UNIT, {"uniform": [0.1, 0.4]}, "", "fraction of the flux in the bulge"
                    ),
                    "bulge_r_eff_ratio": Param(
                        _POSITIVE,
                        {"uniform": [0.3, 0.5]},
                        "",
                        "bulge half-light radius / disc_scale",
                    ),
                    "bulge_n": Param(_SERSIC_N, {"uniform": [1.0, 4.0]}, "", "bulge Sérsic index"),
                    "bulge_q": Param(_RATIO, {"uniform": [0.6, 1.0]}, "", "bulge axis ratio"),
                    "arm_fraction": Param(
                        _UNIT, {"uniform": [0.3, 0.7]}, "", "fraction of the disc light in arms"
                    ),
                    "arm_count": Param(
                        Domain("int", low=2, high=16),
                        {"choice": {"values": [2, 3, 4], "weights": [6, 2, 1]}},
                        "",
                        "number of arms",
                    ),
                    "winding": Param(
                        _WINDING, {"uniform": [2.0, 6.0]}, "", "Ringermacher-Mead N (2-10)"
                    ),
                    "pitch": Param(
                        _PITCH, {"uniform": [0.5, 2.0]}, "", "Ringermacher-Mead B (0.5-3)"
                    ),
                    "arm_scale_ratio": Param(
                        _ARM_SCALE_RATIO,
                        {"uniform": [1.5, 3.0]},
                        "",
                        "Ringermacher-Mead A / disc_scale (1-4)",
                    ),
                    "arm_width": Param(
                        _ARM_WIDTH,
                        {"uniform": [1.5, 3.0]},
                        "px",
                        "arm FWHM across the arm (>= 1.5)",
                    ),
                    "arm_phase": Param(_ANGLE, _ANGLE_DEFAULT, "rad", "rotation of the arms"),
                    "chirality": Param(
                        Domain("int", low=-1, high=1),
                        {"choice": [-1, 1]},
                        "",
                        "handedness of the arms: +1 or -1",
                    ),
                },
                doc="bulge + exponential disc + Ringermacher-Mead logarithmic arms",
            ),
        },
        doc="how objects are drawn",
    ),
    "psf": psf_schema(2.5),
    "noise": NOISE_SCHEMA,
    "segmentation_threshold": Setting(
        Domain("float", low=0.0, high=1e12),
        1.0,
        "sigma",
        doc="a pixel is segmented when its dominant object's noiseless counts exceed this many "
        "background sigmas (this many ADU when the image has no noise)",
    ),
}


# ----------------------------------------------------------------------------------- sampling


def _angle(dist: Any, rng: np.random.Generator) -> float:
    return float(np.mod(dist.sample(rng), TWO_PI))


def sample_objects(
    objects: Mapping[str, Any],
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    kind_hint: str | None = None,
) -> list[SkyObject]:
    """Draw the objects of one scene from ``rng`` (the example's scene stream).

    Draw order: the count, then per object: kind (unless ``kind_hint``), ``x_frac``, ``y_frac``,
    ``flux``, then that kind's parameters in schema order. Angles are reduced to ``[0, 2 pi)``.
    """
    weights = objects["kinds"]
    names = [k for k in SKY_KINDS if weights.get(k, 0.0) > 0]
    cumulative = cumulative_probabilities([weights[k] for k in names])
    n = objects["count"].sample(rng)
    out: list[SkyObject] = []
    for _ in range(n):
        kind = names[pick(cumulative, rng)] if kind_hint is None else kind_hint
        x = float(objects["x_frac"].sample(rng)) * (width - 1)
        y = float(objects["y_frac"].sample(rng)) * (height - 1)
        flux = float(objects["flux"].sample(rng))
        p = objects[kind]
        if kind == "star":
            out.append(
                Star(x=x, y=y, flux=flux, fwhm=p["fwhm"].sample(rng), beta=p["beta"].sample(rng))
            )
        elif kind == "elliptical":
            out.append(
                Elliptical(
                    x=x,
                    y=y,
                    flux=flux,
                    r_eff=p["r_eff"].sample(rng),
                    n=p["n"].sample(rng),
                    q=p["q"].sample(rng),
                    angle=_angle(p["angle"], rng),
                )
            )
        else:
            disc_scale = float(p["disc_scale"].sample(rng))
            q = p["q"].sample(rng)
            angle = _angle(p["angle"], rng)
            bulge_fraction = p["bulge_fraction"].sample(rng)
            bulge_r_eff = float(p["bulge_r_eff_ratio"].sample(rng)) * disc_scale
            bulge_n = p["bulge_n"].sample(rng)
            bulge_q = p["bulge_q"].sample(rng)
            arm_fraction = p["arm_fraction"].sample(rng)
            arm_count = int(p["arm_count"].sample(rng))
            winding = p["winding"].sample(rng)
            pitch = p["pitch"].sample(rng)
            arm_scale = float(p["arm_scale_ratio"].sample(rng)) * disc_scale
            arm_width = p["arm_width"].sample(rng)
            arm_phase = _angle(p["arm_phase"], rng)
            chirality = int(p["chirality"].sample(rng))
            out.append(
                Spiral(
                    x=x,
                    y=y,
                    flux=flux,
                    disc_scale=disc_scale,
                    q=q,
                    angle=angle,
                    bulge_fraction=bulge_fraction,
                    bulge_r_eff=bulge_r_eff,
                    bulge_n=bulge_n,
                    bulge_q=bulge_q,
                    arm_fraction=arm_fraction,
                    arm_count=arm_count,
                    winding=winding,
                    pitch=pitch,
                    arm_scale=arm_scale,
                    arm_width=arm_width,
                    arm_phase=arm_phase,
                    chirality=chirality,
                )
            )
    return out


def _as_records(objects: Any) -> list[Mapping[str, Any]]:
    """A row's ``objects`` as a list of mappings (accepts a list of dicts or a dict of lists)."""
    if isinstance(objects, Mapping):
        keys = list(objects)
        n = len(objects[keys[0]]) if keys else 0
        return [{k: objects[k][i] for k in keys} for i in range(n)]
    return list(objects)


def objects_from_row(row: Mapping[str, Any]) -> list[SkyObject]:
    """The object records (:class:`Star`, :class:`Elliptical`, :class:`Spiral`) of a row."""
    out = []
    for record in _as_records(row["objects"]):
        kind = str(record["kind"])
        cls = KINDS[kind]
        params = {}
        for name in _RECORD_FIELDS[kind]:
            value = record[name]
            params[name] = int(value) if name in OBJECT_INT_FIELDS else float(value)
        out.append(cls(**params))
    return out


def psf_from_row(row: Mapping[str, Any]) -> PSF | None:
    """The row's PSF from its ``psf_kind``, ``psf_fwhm`` and ``psf_beta`` columns."""
    return psf_from_params(str(row["psf_kind"]), float(row["psf_fwhm"]), float(row["psf_beta"]))


@single_threaded_blas()
def render_clean_from_row(row: Mapping[str, Any], config: BuildConfig | None = None) -> np.ndarray:
    """Re-render a row's ``image_clean`` exactly (float32, bit for bit) from its truth columns.

    Uses only ``objects`` (kind and profile parameters), ``psf_kind``, ``psf_fwhm``, ``psf_beta``
    and the image size (from ``config``, else from the shape of the row's ``image``). ``row`` may
    come from :func:`deepbench_hf.regenerate_row` or from ``datasets.load_dataset`` (python or
    numpy format). Bit for bit against built rows in a process whose code paths are pinned as a
    build's (:func:`deepbench_hf.numerics.is_portable`), to round-off otherwise.
    """
    if config is not None:
        shape = image_size(config)
    else:
        shape = np.shape(row["image"])
    return render_image(shape=shape, objects=objects_from_row(row), psf=psf_from_row(row))


# ----------------------------------------------------------------------------------------- kind


def _object_row(obj: SkyObject, truth: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": obj.kind}
    out.update(dict.fromkeys(OBJECT_FLOAT_FIELDS, math.nan))
    out.update(dict.fromkeys(OBJECT_INT_FIELDS, 0))
    for name in _RECORD_FIELDS[obj.kind]:
        value = getattr(obj, name)
        out[name] = int(value) if name in OBJECT_INT_FIELDS else float(value)
    bbox = truth["bbox"]
    out["bbox"] = [math.nan] * 4 if bbox is None else [float(v) for v in bbox]
    out["area_px"] = truth["area"]
    out["snr"] = truth["snr"]
    out["flux_in_frame"] = truth["flux_in_frame"]
    return out


class SkyKind:
    """Simulated sky images (see the module docstring and :mod:`deepbench_hf.sky`)."""

    name = "sky"
    schema = SCHEMA

    def check(self, config: BuildConfig) -> None:
        objects = config.params["objects"]
        label = config.params["label"]
        chirality = objects["spiral"]["chirality"]
        if 0 in (chirality.support() or ()):
            raise ConfigError(
                config.source,
                "objects.spiral.chirality",
                "must be +1 or -1 (0 is not allowed)",
                related=(),
            )
        if config.params["psf"] is not None:
            kind, psf = config.params["psf"]
            check_psf_reach(kind, psf, image_size(config), source=config.source, path=f"psf.{kind}")
        weights, src = objects["kinds"], config.source
        if weights.get("elliptical", 0) > 0:
            e = objects["elliptical"]
            check_minor_axis(e["q"], e["r_eff"], source=src, q_path="objects.elliptical.q")
        if weights.get("spiral", 0) > 0:
            sp = objects["spiral"]
            bulge = value_bounds(sp["bulge_r_eff_ratio"])[0] * value_bounds(sp["disc_scale"])[0]
            check_minor_axis(
                sp["bulge_q"], bulge, source=src, q_path="objects.spiral.bulge_q",
                r_eff_name="bulge r_eff (bulge_r_eff_ratio x disc_scale)",
            )  # fmt: skip
        max_signal = value_bounds(objects["count"])[1] * value_bounds(objects["flux"])[1]
        check_ccd_counts(config.params["noise"], max_signal, source=config.source)
        if label == "kind" and objects["count"] != Constant(1):
            raise ConfigError(
                config.source,
                "objects.count",
                "must be 1 when label is kind (one object per image)",
                related=("label",),
            )
        if config.balanced:
            if label == "none":
                raise ConfigError(
                    config.source, "balanced", "balanced: true needs a label", related=("label",)
                )
            weights = [w for w in objects["kinds"].values() if w > 0]
            if len(set(weights)) != 1:
                raise ConfigError(
                    config.source,
                    "objects.kinds",
                    "balanced: true needs equal weights for the drawn kinds",
                    related=("balanced",),
                )

    def class_names(self, config: BuildConfig) -> list[str] | None:
        if config.params["label"] == "kind":
            weights = config.params["objects"]["kinds"]
            return [k for k in SKY_KINDS if weights.get(k, 0.0) > 0]
        return None

    def features(self, config: BuildConfig) -> datasets.Features:
        h, w = image_size(config)
        obj: dict[str, Any] = {"kind": datasets.Value("string")}
        for name in OBJECT_FLOAT_FIELDS:
            obj[name] = datasets.Value("float64")
        for name in OBJECT_INT_FIELDS:
            obj[name] = datasets.Value("int32")
        obj["bbox"] = datasets.List(datasets.Value("float32"), length=4)
        obj["area_px"] = datasets.Value("int32")
        obj["snr"] = datasets.Value("float64")
        obj["flux_in_frame"] = datasets.Value("float64")
        columns: dict[str, Any] = {
            "image": datasets.Array2D((h, w), "float32"),
            "image_clean": datasets.Array2D((h, w), "float32"),
            "variance": datasets.Array2D((h, w), "float32"),
            "segmentation": datasets.Array2D((h, w), "uint16"),
            "objects": datasets.List(obj),
            "n_objects": datasets.Value("int32"),
            **{f"n_{k}": datasets.Value("int32") for k in SKY_KINDS},
        }
        names = self.class_names(config)
        if names is not None:
            columns["label"] = datasets.ClassLabel(names=names)
        columns.update(
            **{name: datasets.Value(dtype) for name, dtype in IMAGING_FEATURES.items()},
            segmentation_threshold=datasets.Value("float64"),
            **{name: datasets.Value(dtype) for name, dtype in SEED_FEATURES.items()},
        )
        return datasets.Features(columns)

    def generate(self, config: BuildConfig, example: Example) -> dict[str, Any]:
        h, w = image_size(config)
        names = self.class_names(config)
        hint = None if example.label_hint is None else names[example.label_hint]
        scene_rng = example.scene_rng()
        objs = sample_objects(config.params["objects"], scene_rng, h, w, kind_hint=hint)
        psf = sample_psf(config.params["psf"], scene_rng)
        scene = render_scene(shape=(h, w), objects=objs, psf=psf)

        noisy = apply_noise(config.params["noise"], scene.image, example.noise_rng())
        image, variance, bg_sigma = noisy.image, noisy.variance, noisy.background_sigma
        nsigma = config.params["segmentation_threshold"]
        threshold = nsigma * bg_sigma if bg_sigma > 0 else nsigma
        seg, truth = truth_catalog(scene, variance=variance, threshold=threshold)

        row: dict[str, Any] = {
            "image": image,
            "image_clean": scene.image,
            "variance": variance,
            "segmentation": seg.astype(np.uint16),
            "objects": [_object_row(o, t) for o, t in zip(objs, truth, strict=True)],
            "n_objects": len(objs),
            **{f"n_{k}": sum(o.kind == k for o in objs) for k in SKY_KINDS},
        }
        if names is not None:
            row["label"] = names.index(objs[0].kind)
        row.update(
            **psf_columns(psf),
            **noisy.columns,
            segmentation_threshold=float(threshold),
            **seed_columns(example),
        )
        return row


KIND = SkyKind()
