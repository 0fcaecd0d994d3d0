"""Rows from a config: the only place that turns (config, split, index) into an example.

Both the ``datasets`` builder and the Parquet writer call :func:`generate_rows`, so they produce the
same rows, and :func:`regenerate_row` rebuilds any single row from its coordinates. Both take a
:class:`~deepbench_hf.config.BuildConfig` or a config name / YAML path, loaded as the CLI loads it
(:func:`~deepbench_hf.config.load_config`, no overrides).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .config import BuildConfig, load_config
from .kinds import get_kind
from .numerics import single_threaded_blas
from .seeding import Example, balanced_label, example_seed


def make_example(config: BuildConfig, split: str, index: int) -> Example:
    """The :class:`~deepbench_hf.seeding.Example` at ``index`` of ``split``."""
    seed = example_seed(config.seed, config.name, split, index)
    hint = None
    if config.balanced:
        n_classes = len(get_kind(config.kind).class_names(config) or ())
        block_seed = _block_seed(config.seed, config.name, split, index // n_classes)
        hint = balanced_label(block_seed, n_classes, index)
    return Example(split=split, index=index, seed=seed, label_hint=hint)


@functools.lru_cache(maxsize=256)
def _block_seed(master_seed: int, config_name: str, split: str, block: int) -> int:
    return example_seed(master_seed, config_name, f"{split}/balance", block)


BATCH_SIZE = 256

ConfigRef = BuildConfig | str | os.PathLike[str]


def as_build_config(config: ConfigRef, caller: str = "regenerate_row") -> BuildConfig:
    """``config`` itself, or the config a name / YAML path names (as ``deepbench build`` loads it).

    Raises :class:`TypeError` for anything else and
    :class:`~deepbench_hf.errors.ConfigError` for an unknown name or a bad file.
    """
    if isinstance(config, BuildConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        return load_config(os.fspath(config))
    raise TypeError(
        f"{caller}: config must be a BuildConfig or a config name or YAML path (str or "
        f"os.PathLike), got {type(config).__name__}"
    )


def generate_rows(
    config: ConfigRef, split: str, start: int, stop: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index, row)`` for examples ``start <= index < stop`` of ``split``.

    Kinds with a ``generate_batch(config, examples)`` method (e.g. N-body, which advances many
    systems together) get up to :data:`BATCH_SIZE` examples at a time; such kinds guarantee that a
    row does not depend on the batch it was generated in. ``config`` may also be a config name or
    YAML path (see :func:`as_build_config`). Rows are computed with one BLAS thread
    (:func:`~deepbench_hf.numerics.single_threaded_blas`).
    """
    config = as_build_config(config, "generate_rows")
    kind = get_kind(config.kind)
    batch = getattr(kind, "generate_batch", None)
    if batch is None:
        for index in range(start, stop):
            with single_threaded_blas():
                row = kind.generate(config, make_example(config, split, index))
            yield index, row
        return
    for first in range(start, stop, BATCH_SIZE):
        indices = range(first, min(first + BATCH_SIZE, stop))
        with single_threaded_blas():
            rows = batch(config, [make_example(config, split, i) for i in indices])
        yield from zip(indices, rows, strict=True)


def regenerate_row(config: ConfigRef, split: str, index: int) -> dict[str, Any]:
    """Rebuild one row exactly, without generating any other.

    ``config`` is a :class:`~deepbench_hf.config.BuildConfig` or a builtin config name
    (``"lensing"``) or YAML path, loaded with :func:`~deepbench_hf.config.load_config` as
    ``deepbench build`` loads it (so the name gives the rows of ``deepbench build NAME``). Its
    bits equal the built row's when this process's code paths are pinned as a build's
    (:func:`deepbench_hf.numerics.is_portable`), else to round-off;
    ``run_portable(regenerate_row, config, split, index)`` computes it in a pinned process.
    """
    config = as_build_config(config, "regenerate_row")
    if split not in config.splits:
        raise ValueError(f"split must be one of {', '.join(config.splits)}, got {split!r}")
    # rows depend on (seed, name, split, index) alone: any index >= 0 is a row of a large enough
    # build (--split-sizes), whatever the config's own split sizes
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise IndexError(f"index must be an integer >= 0, got {index!r}")
    return next(generate_rows(config, split, index, index + 1))[1]
