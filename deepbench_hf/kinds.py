"""The seam between the generic machinery (config, seeding, builder, writer) and each dataset kind.

A kind (shapes, sky, lensing, nbody) is an object with:

* ``schema`` -- its config fields (a mapping of :mod:`deepbench_hf.schema` fields);
* ``check(config)`` -- cross-field validation that the schema cannot express;
* ``features(config)`` -- the exact ``datasets.Features`` of a row;
* ``class_names(config)`` -- label names for a classification task, or ``None``;
* ``generate(config, example)`` -- one row (a dict matching ``features``) from an
  :class:`~deepbench_hf.seeding.Example`, a pure function of the config and the example's seeds;
* optionally ``generate_batch(config, examples)`` -- the rows of several examples at once, each
  bit-identical to what ``generate`` gives for that example alone (used for vectorised kinds).

Kinds are imported lazily so that loading a shapes config does not import the lensing code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import datasets

    from .config import BuildConfig
    from .seeding import Example

_KIND_MODULES = {
    "shapes": "deepbench_hf.shapes.kind",
    "sky": "deepbench_hf.sky.kind",
    "lensing": "deepbench_hf.lensing.kind",
    "nbody": "deepbench_hf.nbody.kind",
}
KIND_NAMES = tuple(_KIND_MODULES)


class Kind(Protocol):
    """What a dataset kind provides (see the module docstring)."""

    name: str
    schema: dict[str, Any]

    def check(self, config: BuildConfig) -> None: ...

    def features(self, config: BuildConfig) -> datasets.Features: ...

    def class_names(self, config: BuildConfig) -> list[str] | None: ...

    def generate(self, config: BuildConfig, example: Example) -> dict[str, Any]: ...


def get_kind(name: str) -> Kind:
    """The kind registered under ``name`` (one of :data:`KIND_NAMES`)."""
    module = importlib.import_module(_KIND_MODULES[name])
    return module.KIND


SEED_FEATURES = {"index": "int64", "seed": "int64", "noise_seed": "int64"}


def seed_columns(example: Example) -> dict[str, int]:
    """The columns that let a row be regenerated alone: ``index``, ``seed``, ``noise_seed``."""
    return {"index": example.index, "seed": example.seed, "noise_seed": example.noise_seed}


def image_size(config: BuildConfig) -> tuple[int, int]:
    """``(height, width)`` in pixels from a config's ``image_size`` section."""
    size = config.params["image_size"]
    return size["height"], size["width"]


def _sorted_feature(feature: Any) -> Any:
    import datasets

    if isinstance(feature, dict):
        return {key: _sorted_feature(feature[key]) for key in sorted(feature)}
    if isinstance(feature, datasets.List):
        return datasets.List(_sorted_feature(feature.feature), length=feature.length)
    return feature


def features_for(config: BuildConfig) -> datasets.Features:
    """The exact features of a config's rows, with columns and struct fields sorted by name.

    The Hub card's ``dataset_info`` lists features sorted by name, so declaring them sorted makes
    ``load_dataset`` return features equal to these *including their order*.
    """
    import datasets

    return datasets.Features(_sorted_feature(dict(get_kind(config.kind).features(config))))
