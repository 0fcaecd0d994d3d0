"""Rows to Arrow tables with the exact ``datasets`` feature types (no per-pixel Python work)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

_ARRAY_FEATURES = (datasets.Array2D, datasets.Array3D, datasets.Array4D, datasets.Array5D)


def _nested_storage(values: np.ndarray, storage_type: pa.DataType) -> pa.Array:
    """Build ``list<list<...>>`` storage for an ``(n, *shape)`` array without Python loops."""
    flat = pa.array(values.reshape(-1))
    shape = values.shape
    arrays = flat
    # Innermost list level groups the last axis, the next groups the one before, and so on.
    for depth in range(len(shape) - 1, 0, -1):
        length = shape[depth]
        count = int(np.prod(shape[:depth]))
        offsets = pa.array(np.arange(count + 1, dtype=np.int32) * length)
        arrays = pa.ListArray.from_arrays(offsets, arrays)
    if arrays.type != storage_type:
        arrays = arrays.cast(storage_type)
    return arrays


def rows_to_table(rows: Sequence[dict[str, Any]], features: datasets.Features) -> pa.Table:
    """Convert generated rows to a table whose schema is ``features.arrow_schema``."""
    schema = features.arrow_schema
    columns = []
    for name, feature in features.items():
        field_type = schema.field(name).type
        values = [row[name] for row in rows]
        if isinstance(feature, _ARRAY_FEATURES):
            stacked = np.stack(values).astype(feature.dtype, copy=False)
            storage = _nested_storage(stacked, field_type.storage_type)
            columns.append(pa.ExtensionArray.from_storage(field_type, storage))
        else:
            columns.append(pa.array(values, type=field_type))
    return pa.Table.from_arrays(columns, schema=schema)


def table_num_bytes(table: pa.Table) -> int:
    """The Arrow size of ``table``'s data (``num_bytes`` of the dataset card), the same for a
    table :func:`rows_to_table` builds and for that table read back from Parquet (a test checks
    every shipped config).

    ``Table.nbytes`` counts validity bitmaps, which Parquet readers allocate for every nullable
    column and memory builders only where there are nulls; those of arrays without nulls are
    left out here. Not meant for sliced tables, maps, or structs with null rows, which the
    writer does not produce.
    """

    def unneeded(array: pa.Array) -> int:
        if isinstance(array.type, pa.ExtensionType):
            array = array.storage
        validity = array.buffers()[0]
        own = validity.size if validity is not None and array.null_count == 0 else 0
        kind = array.type
        if pa.types.is_struct(kind):
            return own + sum(unneeded(array.field(i)) for i in range(kind.num_fields))
        if (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            return own + unneeded(array.values)
        return own

    return table.nbytes - sum(
        unneeded(chunk) for column in table.columns for chunk in column.chunks
    )
