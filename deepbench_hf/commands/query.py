"""``deepbench query DIR "SQL" [--max-rows N] [--csv]``."""

from __future__ import annotations

import argparse
import sys

from . import non_empty, non_negative


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``query``."""
    parser = subparsers.add_parser(
        "query",
        help="run DuckDB SQL over a dataset folder (one view per config)",
        description="Run SQL with DuckDB over the Parquet shards of DIR and print the result. "
        "Each config is a view named after it with '-' (and any other character that is not a "
        "letter, digit or '_') replaced by '_', e.g. shapes_hard; it has the config's columns "
        "plus 'split'. Example: deepbench query deepbench \"SELECT split, count(*) FROM "
        'shapes_hard WHERE n_objects > 3 GROUP BY split"',
    )
    parser.add_argument("dir", metavar="DIR", type=non_empty, help="dataset folder")
    parser.add_argument("sql", metavar="SQL", type=non_empty, help="the query")
    parser.add_argument(
        "--max-rows",
        type=non_negative,
        default=100,
        metavar="N",
        help="rows to print (default 100)",
    )
    parser.add_argument("--csv", action="store_true", help="print all rows as CSV")


def run(args: argparse.Namespace) -> int:
    """Run ``query``."""
    from ..query import format_csv, format_table, run_query

    columns, rows = run_query(args.dir, args.sql)
    if args.csv:
        sys.stdout.write(format_csv(columns, rows))
    else:
        print(format_table(columns, rows, max_rows=args.max_rows))
    return 0
