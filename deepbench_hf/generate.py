"""Rows from a config: the only place that turns (config, split, index) into an example.

Both the ``datasets`` builder and the Parquet writer call :func:`generate_rows`, so they produce the
same rows, and :func:`regenerate_row` rebuilds any single row from its coordinates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from .config import BuildConfig
from .kinds import get_kind
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


def generate_rows(
    config: BuildConfig, split: str, start: int, stop: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(index, row)`` for examples ``start <= index < stop`` of ``split``.

    Kinds with a ``generate_batch(config, examples)`` method (e.g. N-body, which advances many
    systems together) get up to :data:`BATCH_SIZE` examples at a time; such kinds guarantee that a
    row does not depend on the batch it was generated in.
    """
    kind = get_kind(config.kind)
    batch = getattr(kind, "generate_batch", None)
    if batch is None:
        for index in range(start, stop):
            yield index, kind.generate(config, make_example(config, split, index))
        return
    for first in range(start, stop, BATCH_SIZE):
        indices = range(first, min(first + BATCH_SIZE, stop))
        rows = batch(config, [make_example(config, split, i) for i in indices])
        yield from zip(indices, rows, strict=True)


def regenerate_row(config: BuildConfig, split: str, index: int) -> dict[str, Any]:
    """Rebuild one row exactly, without generating any other."""
    return next(generate_rows(config, split, index, index + 1))[1]
