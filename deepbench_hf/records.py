"""Build records (``<config>/deepbench.json``): parsed with a one-line error when damaged.

Every command that reads a dataset folder (build, when it rewrites the card; verify, query,
export, push) reads its records through :func:`parse_record`, so a truncated or hand-edited
record is reported by path and field instead of surfacing as a ``KeyError`` deep inside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DeepBenchError

__all__ = ["INFO_FILE", "RecordError", "parse_record", "read_record"]

INFO_FILE = "deepbench.json"

_FIELDS = {
    "name": str,
    "kind": str,
    "version": str,
    "seed": int,
    "summary": str,
    "description": str,
    "config_hash": str,
    "features": dict,
    "resolved_config": dict,
    "splits": dict,
}
_SPLIT_FIELDS = {"num_examples": int, "num_bytes": int, "shards": list}
_SHARD_FIELDS = {"filename": str, "num_rows": int, "file_bytes": int, "sha256": str}


class RecordError(DeepBenchError):
    """A build record is not JSON or lacks a field the commands need."""


def parse_record(data: str | bytes, where: str) -> dict[str, Any]:
    """The build record in ``data`` (read from ``where``), checked for the fields commands use."""
    try:
        record = json.loads(data)
    except ValueError as exc:
        raise _damaged(where, f"not JSON: {exc}") from None
    problem = _problem(record)
    if problem:
        raise _damaged(where, problem)
    return record


def read_record(path: Path) -> dict[str, Any]:
    """:func:`parse_record` of the file ``path``."""
    return parse_record(path.read_bytes(), str(path))


def _damaged(where: str, problem: str) -> RecordError:
    return RecordError(
        f"{where}: damaged build record ({problem}); rebuild that config or remove its folder"
    )


def _missing(data: Any, fields: dict[str, type], prefix: str) -> str | None:
    if not isinstance(data, dict):
        return f"{prefix or 'the record'} is not a JSON object"
    for key, kind in fields.items():
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{prefix}{key}: missing or not a {kind.__name__}"
    return None


def _problem(record: Any) -> str | None:
    problem = _missing(record, _FIELDS, "")
    if problem:
        return problem
    for split, info in record["splits"].items():
        problem = _missing(info, _SPLIT_FIELDS, f"splits.{split}.")
        if problem:
            return problem
        for i, shard in enumerate(info["shards"]):
            problem = _missing(shard, _SHARD_FIELDS, f"splits.{split}.shards.{i}.")
            if problem:
                return problem
    return None
