"""The ``shapes`` dataset kind: binary images of geometric shapes with full per-object truth.

Pipeline per example: sample a scene from the scene stream (:func:`sample_shapes`), rasterise it
(:func:`~deepbench_hf.shapes.render.render_scene`), add Gaussian noise from the noise stream, and
assemble the row (:meth:`ShapesKind.generate`).
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import numpy as np

from ..config import BuildConfig
from ..distributions import Choice, Constant, Domain, RandInt, cumulative_probabilities, pick
from ..errors import ConfigError
from ..gaussian import standard_normal_f32
from ..kinds import SEED_FEATURES, image_size, seed_columns
from ..schema import OneOf, Param, Section, Setting, Weights, size_field
from ..seeding import Example
from .render import SHAPE_FIELDS, SHAPE_KINDS, STROKE_KINDS, Shape, render_scene

TWO_PI = 2.0 * math.pi
# Sizes of 0.01-1e5 px: a smaller shape covers no measurable part of a pixel, and an ellipse of
# 1e-300 px overflowed its quadratic form.
_PX = Domain("float", low=0.01, high=1e5)
_FRACTION = Domain("float", low=0.0, high=1.0)


def _px(default: Any, doc: str) -> Param:
    return Param(_PX, default, "px", doc)


SCHEMA: dict[str, Any] = {
    "image_size": size_field(64, "image size in pixels"),
    "label": Setting(
        Domain("str", values=("none", "kind", "count")),
        "none",
        doc="classification label: the single object's kind, the object count, or none",
    ),
    "objects": Section(
        {
            "count": Param(Domain("int", low=0, high=10_000), 1, "", "objects per image"),
            "kinds": Weights(SHAPE_KINDS, doc="relative frequency of each kind", what="kind"),
            "x_frac": Param(
                _FRACTION, {"uniform": [0.3, 0.7]}, "frame", "centre x as a fraction of width - 1"
            ),
            "y_frac": Param(
                _FRACTION, {"uniform": [0.3, 0.7]}, "frame", "centre y as a fraction of height - 1"
            ),
            "angle": Param(Domain("float"), {"uniform": [0.0, TWO_PI]}, "rad", "rotation"),
            "filled": Param(Domain("bool"), True, "", "filled (true) or outline (false)"),
            "line_width": _px(2.0, "outline and stroke width"),
            "rectangle": Section(
                {
                    "width": _px({"uniform": [12, 28]}, "side along the rotated x axis"),
                    "height": _px({"uniform": [12, 28]}, "side along the rotated y axis"),
                }
            ),
            "polygon": Section(
                {
                    "n_vertices": Param(
                        Domain("int", low=3, high=64), {"randint": [3, 8]}, "", "number of vertices"
                    ),
                    "radius": _px({"uniform": [8, 16]}, "circumradius"),
                }
            ),
            "arc": Section(
                {
                    "radius": _px({"uniform": [8, 16]}, "radius of the stroke's centre line"),
                    "span": Param(
                        Domain("float", low=0.0, low_open=True, high=TWO_PI),
                        {"uniform": [1.5, 5.0]},
                        "rad",
                        "angular extent",
                    ),
                }
            ),
            "line": Section({"length": _px({"uniform": [16, 40]}, "length")}),
            "ellipse": Section(
                {
                    "semi_major": _px({"uniform": [8, 16]}, "semi-major axis"),
                    "axis_ratio": Param(
                        Domain("float", low=0.001, high=1.0),
                        {"uniform": [0.3, 0.8]},
                        "",
                        "semi_minor / semi_major",
                    ),
                }
            ),
            "circle": Section({"radius": _px({"uniform": [6, 14]}, "radius")}),
        },
        doc="how objects are drawn",
    ),
    "noise": OneOf(
        {
            "gaussian": Section(
                {
                    "sigma": Param(
                        Domain("float", low=0.0, high=1e12),  # float32 images hold its noise
                        0.1,
                        "",
                        "standard deviation added to the 0/1 image",
                    )
                }
            )
        },
        default="none",
        doc="noise model",
    ),
}


def sample_shapes(
    objects: dict[str, Any],
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    kind_hint: str | None = None,
    count_hint: int | None = None,
) -> list[Shape]:
    """Draw the shapes of one scene from ``rng`` (the example's scene stream).

    The draw order is fixed (count, then per object: kind, position, angle, fill, line width,
    kind-specific sizes), so a scene depends only on the config and the stream.
    """
    weights = objects["kinds"]
    names = [k for k in SHAPE_KINDS if weights.get(k, 0.0) > 0]
    cumulative = cumulative_probabilities([weights[k] for k in names])
    n = objects["count"].sample(rng) if count_hint is None else count_hint
    shapes = []
    for _ in range(n):
        kind = names[pick(cumulative, rng)] if kind_hint is None else kind_hint
        x = objects["x_frac"].sample(rng) * (width - 1)
        y = objects["y_frac"].sample(rng) * (height - 1)
        angle = objects["angle"].sample(rng)
        filled = bool(objects["filled"].sample(rng)) and kind not in STROKE_KINDS
        line_width = objects["line_width"].sample(rng)
        size = {key: dist.sample(rng) for key, dist in objects[kind].items()}
        if kind == "ellipse":
            size = {
                "semi_major": size["semi_major"],
                "semi_minor": size["semi_major"] * size["axis_ratio"],
            }
        shapes.append(
            Shape(
                kind=kind,
                x=x,
                y=y,
                angle=0.0 if kind == "circle" else float(np.mod(angle, TWO_PI)),
                filled=filled,
                line_width=math.nan if filled else line_width,
                **size,
            )
        )
    return shapes


class ShapesKind:
    """Binary geometric-shape images (see :mod:`deepbench_hf.shapes.render` for conventions)."""

    name = "shapes"
    schema = SCHEMA

    def check(self, config: BuildConfig) -> None:
        objects = config.params["objects"]
        label = config.params["label"]
        if label == "kind" and objects["count"] != Constant(1):
            raise ConfigError(
                config.source,
                "objects.count",
                "must be 1 when label is kind (one object per image)",
                related=("label",),
            )
        if label == "count":
            _count_support(config)
        if config.balanced:
            if label == "none":
                raise ConfigError(
                    config.source, "balanced", "balanced: true needs a label", related=("label",)
                )
            weights = [w for w in objects["kinds"].values() if w > 0]
            if label == "kind" and len(set(weights)) != 1:
                raise ConfigError(
                    config.source,
                    "objects.kinds",
                    "balanced: true needs equal weights for the drawn kinds",
                    related=("balanced",),
                )
            count = objects["count"]
            if label == "count" and isinstance(count, Choice) and count.weights is not None:
                raise ConfigError(
                    config.source,
                    "objects.count",
                    "balanced: true cannot honour choice weights",
                    related=("balanced",),
                )

    def class_names(self, config: BuildConfig) -> list[str] | None:
        label = config.params["label"]
        if label == "kind":
            weights = config.params["objects"]["kinds"]
            return [k for k in SHAPE_KINDS if weights.get(k, 0.0) > 0]
        if label == "count":
            return [str(n) for n in _count_support(config)]
        return None

    def features(self, config: BuildConfig) -> datasets.Features:
        h, w = image_size(config)
        obj = {"kind": datasets.Value("string")}
        for name in SHAPE_FIELDS[1:]:
            dtype = {"filled": "bool", "n_vertices": "int32"}.get(name, "float64")
            obj[name] = datasets.Value(dtype)
        obj["bbox"] = datasets.List(datasets.Value("float32"), length=4)
        obj["area_px"] = datasets.Value("int32")
        obj["visible_px"] = datasets.Value("int32")
        columns: dict[str, Any] = {
            "image": datasets.Array2D((h, w), "float32"),
            "image_clean": datasets.Array2D((h, w), "uint8"),
            "segmentation": datasets.Array2D((h, w), "uint16"),
            "objects": datasets.List(obj),
            "n_objects": datasets.Value("int32"),
            **{f"n_{k}": datasets.Value("int32") for k in SHAPE_KINDS},
        }
        names = self.class_names(config)
        if names is not None:
            columns["label"] = datasets.ClassLabel(names=names)
        columns.update(
            noise_sigma=datasets.Value("float32"),
            **{name: datasets.Value(dtype) for name, dtype in SEED_FEATURES.items()},
        )
        return datasets.Features(columns)

    def generate(self, config: BuildConfig, example: Example) -> dict[str, Any]:
        h, w = image_size(config)
        names = self.class_names(config)
        label = config.params["label"]
        hint = None if example.label_hint is None else names[example.label_hint]
        shapes = sample_shapes(
            config.params["objects"],
            example.scene_rng(),
            h,
            w,
            kind_hint=hint if label == "kind" else None,
            count_hint=int(hint) if label == "count" and hint is not None else None,
        )
        scene = render_scene(shapes, h, w)
        sigma = 0.0
        image = scene.image.astype(np.float32)
        noise = config.params["noise"]
        if noise is not None:
            noise_rng = example.noise_rng()
            sigma = float(noise[1]["sigma"].sample(noise_rng))
            if sigma > 0:
                image += np.float32(sigma) * standard_normal_f32(noise_rng, (h, w))
        objects = [
            {
                **{name: getattr(s, name) for name in SHAPE_FIELDS},
                "bbox": bbox,
                "area_px": area,
                "visible_px": vis,
            }
            for s, bbox, area, vis in zip(
                shapes, scene.bboxes, scene.areas, scene.visible, strict=True
            )
        ]
        row: dict[str, Any] = {
            "image": image,
            "image_clean": scene.image,
            "segmentation": scene.segmentation,
            "objects": objects,
            "n_objects": len(shapes),
            **{f"n_{k}": sum(s.kind == k for s in shapes) for k in SHAPE_KINDS},
        }
        if names is not None:
            value = shapes[0].kind if label == "kind" else str(len(shapes))
            row["label"] = names.index(value)
        row.update(noise_sigma=sigma, **seed_columns(example))
        return row


def _count_support(config: BuildConfig) -> tuple[int, ...]:
    count = config.params["objects"]["count"]
    if not isinstance(count, (Constant, RandInt, Choice)):
        raise ConfigError(
            config.source,
            "objects.count",
            "label: count needs a discrete count",
            related=("label",),
        )
    return tuple(sorted(set(count.support())))  # a repeated choice value is one class


KIND = ShapesKind()
