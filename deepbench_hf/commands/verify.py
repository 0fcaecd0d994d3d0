"""``deepbench verify DIR [--regenerate [N]] [--config NAME ...]``."""

from __future__ import annotations

import argparse
import sys

from . import positive

DEFAULT_REGENERATE = 16  # as deepbench_hf.verify.DEFAULT_REGENERATE (imported lazily)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="check shards against their SHA-256 and regenerate rows from seeds",
        description="Recompute the SHA-256 of every shard of DIR and compare it with the build "
        "records (<config>/deepbench.json) and the card (README.md). With --regenerate, also "
        "reload each config from its recorded resolved config (same hash required) and rebuild "
        "N rows per config from their seeds, which must be bit-identical to the stored rows. "
        "Prints one line per problem and exits 1 if there is any.",
    )
    parser.add_argument("dir", metavar="DIR", help="dataset folder")
    parser.add_argument(
        "--regenerate",
        nargs="?",
        type=positive,
        const=DEFAULT_REGENERATE,
        default=0,
        metavar="N",
        help=f"also rebuild N rows per config from their seeds (default N: {DEFAULT_REGENERATE})",
    )
    parser.add_argument(
        "--config",
        dest="configs",
        action="append",
        metavar="NAME",
        help="verify only this config (repeat --config for several)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``verify``; 0 when everything matches, 1 otherwise."""
    from ..verify import verify

    report = verify(args.dir, regenerate=args.regenerate, configs=args.configs)
    if report.problems:
        for problem in report.problems:
            print(f"deepbench verify: {problem}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
