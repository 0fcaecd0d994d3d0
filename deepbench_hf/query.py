"""SQL over a dataset folder with DuckDB: one view per config.

:func:`connect` opens an in-memory DuckDB database in which every config of the folder is a view
over its Parquet shards. The view is named after the config with every character other than a
letter, digit or ``_`` replaced by ``_`` (``shapes-hard`` -> ``shapes_hard``) and ``_`` put
before a leading digit (``1abc`` -> ``_1abc``); it has the config's
columns plus ``split`` (``train``, ``validation`` or ``test``, from the shard's file name).

DuckDB reads ``Array2D`` columns as nested lists (``FLOAT[][]``, indexed from 1) and ``objects`` as
a list of structs: ``unnest(objects)`` gives one row per object, ``o.kind`` / ``o.area_px`` its
fields. ``deepbench query DIR "SQL"`` prints the result as a table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from .errors import DeepBenchError, first_line
from .records import INFO_FILE, read_record

MAX_CELL = 48


class QueryError(DeepBenchError):
    """A query could not run (no configs in the folder, SQL error, ...)."""


def view_name(config: str) -> str:
    """The DuckDB view of a config: non-identifier characters become ``_``."""
    name = re.sub(r"\W", "_", config, flags=re.ASCII)
    return f"_{name}" if name[:1].isdigit() else name


def folder_configs(folder: Path) -> list[str]:
    """Configs of a dataset folder: subfolders with a build record or Parquet shards."""
    names = {p.parent.name for p in folder.glob(f"*/{INFO_FILE}")}
    names |= {
        p.parent.name for p in folder.glob("*/*.parquet") if not p.parent.name.startswith(".")
    }
    return sorted(names)


def view_clash(configs: list[str], new: Collection[str] | None = None) -> tuple[str, str] | None:
    """Two configs whose views would have the same name, if any (with ``new``, only a pair of
    which at least one is in ``new``)."""
    seen: dict[str, str] = {}
    for name in configs:
        view = view_name(name).lower()  # DuckDB identifiers ignore case
        if view in seen and (new is None or name in new or seen[view] in new):
            return seen[view], name
        seen.setdefault(view, name)
    return None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb() -> Any:
    """The duckdb module, or a one-line error saying how to install it (the ``query`` extra)."""
    try:
        import duckdb
    except ImportError:
        raise QueryError("query needs DuckDB: pip install 'deepbench-hf[query]'") from None
    return duckdb


def connect(folder: str | Path) -> Any:
    """An in-memory DuckDB connection with one view per config of ``folder``."""
    duckdb = _duckdb()

    folder = Path(folder)
    configs = folder_configs(folder) if folder.is_dir() else []
    if not configs:
        raise QueryError(f"{folder}: no config folders with Parquet shards here")
    clash = view_clash(configs)
    if clash:
        a, b = clash
        raise QueryError(
            f"{folder}: configs {a!r} and {b!r} would share the view {view_name(a)}; rename one "
            "(name: in its config) or query its Parquet files with read_parquet"
        )
    con = duckdb.connect()
    try:
        for name in configs:
            record_file = folder / name / INFO_FILE
            if record_file.is_file():
                record = read_record(record_file)
                files = [
                    str(folder / name / s["filename"])
                    for split in record["splits"].values()
                    for s in split["shards"]
                ]
            else:
                files = sorted(str(p) for p in (folder / name).glob("*.parquet"))
            if not files:
                continue
            missing = [f for f in files if not Path(f).is_file()]
            if missing:
                raise QueryError(
                    f"{missing[0]}: missing ({len(missing)} shard(s) of {name}); "
                    f"run 'deepbench verify {folder}' and rebuild {name}"
                )
            listing = "[" + ", ".join(_quote(f) for f in files) + "]"
            try:
                con.execute(
                    f'CREATE VIEW "{view_name(name)}" AS SELECT * EXCLUDE (filename), '
                    r"regexp_extract(filename, '([A-Za-z]+)-\d+-of-\d+\.parquet$', 1) AS split "
                    f"FROM read_parquet({listing}, filename = true)"
                )
            except duckdb.Error as exc:
                raise QueryError(
                    f"{folder / name}: cannot read its shards ({first_line(exc)}); "
                    f"run 'deepbench verify {folder}'"
                ) from None
    except BaseException:
        con.close()
        raise
    return con


def run_query(folder: str | Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` over ``folder``'s views; returns column names and rows."""
    duckdb = _duckdb()

    con = connect(folder)
    try:
        result = con.sql(sql)
        if result is None:
            return [], []
        return list(result.columns), result.fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {first_line(exc)}") from None
    finally:
        con.close()


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.6g}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    max_rows: int = 100,
    max_width: int = MAX_CELL,
) -> str:
    """A plain-text table: header, rule, rows (cells cut at ``max_width``), and a row count."""
    shown = [[_cell(v, max_width) for v in row] for row in rows[:max_rows]]
    header = [_cell(c, max_width) for c in columns]
    widths = [max([len(h), *(len(r[i]) for r in shown)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in shown]
    more = len(rows) - len(shown)
    out.append(
        f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
        + (f", {more} not shown)" if more else ")")
    )
    return "\n".join(out)


def format_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The result as CSV text (full values)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


__all__ = [
    "QueryError",
    "connect",
    "folder_configs",
    "format_csv",
    "format_table",
    "run_query",
    "view_clash",
    "view_name",
]
