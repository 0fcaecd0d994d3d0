"""``deepbench export DIR CONFIG --format F --out OUT [--split S] [--catalogue csv|parquet]``."""

from __future__ import annotations

import argparse

from . import non_empty

# The same tuples as deepbench_hf.export (imported lazily: it loads numpy and pyarrow).
FORMATS = ("npy", "npz", "h5", "fits", "png", "jpeg")
CATALOGUE_FORMATS = ("parquet", "csv")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export``."""
    parser = subparsers.add_parser(
        "export",
        help="write a config's images and truth catalogue as npy, npz, h5, fits, png or jpeg",
        description="Export the rows of CONFIG in DIR to OUT/<split>/: the array columns as "
        "npy/npz/h5/fits, or each 2-D image column as one png/jpeg per example (float images "
        "scaled linearly with one range per column, stored in OUT/manifest.json), plus a "
        "catalogue of the truth: images.parquet (one row per image) and objects.parquet (one "
        "row per object, with its image's row and index), or FITS tables for FITS. FITS "
        "headers carry units and provenance (config, seed, version, config hash).",
    )
    parser.add_argument("dir", metavar="DIR", help="dataset folder")
    parser.add_argument("config", metavar="CONFIG", help="config to export")
    parser.add_argument("--format", dest="fmt", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, type=non_empty, metavar="OUT", help="output folder")
    parser.add_argument(
        "--split",
        dest="splits",
        action="append",
        metavar="S",
        help="export only this split (repeatable; default all)",
    )
    parser.add_argument(
        "--catalogue",
        choices=CATALOGUE_FORMATS,
        default="parquet",
        help="catalogue file format (default parquet; FITS exports use FITS tables)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``export``."""
    from ..export import export

    manifest = export(
        args.dir, args.config, args.fmt, args.out, splits=args.splits, catalogue=args.catalogue
    )
    sizes = ", ".join(f"{s} {v['num_examples']}" for s, v in manifest["splits"].items())
    print(f"exported {args.config} as {args.fmt} into {args.out} ({sizes})")
    return 0
