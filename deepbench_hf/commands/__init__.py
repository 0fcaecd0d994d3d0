"""``deepbench`` subcommands that live in their own modules.

Each module defines ``add_parser(subparsers) -> None`` and ``run(args) -> int`` and is registered in
:data:`deepbench_hf.cli.COMMAND_MODULES`. Errors are :class:`~deepbench_hf.errors.DeepBenchError`
(the CLI prints them on one line and exits non-zero).
"""

from __future__ import annotations

import argparse


def non_empty(text: str) -> str:
    """An argparse type: any non-blank string (an empty ``--out`` would silently mean "here")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _at_least(text, 0)


def positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _at_least(text, 1)


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value
