"""Exceptions raised by deepbench-hf.

Every user-facing error is a :class:`DeepBenchError`; the CLI prints its message on one line and
exits non-zero. Messages name the file, the field path and what is allowed.
"""

from __future__ import annotations


class DeepBenchError(Exception):
    """Base class of every error deepbench-hf reports to a user."""


class ConfigError(DeepBenchError, ValueError):
    """A builder config (YAML file, ``extends`` chain or ``--set`` override) is invalid.

    Parameters
    ----------
    source
        Where the config came from (a file path, a config name or ``--set``).
    path
        Dotted field path inside the config, e.g. ``objects.rectangle.width``; empty for the root.
    message
        What is wrong and what is allowed.
    """

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


class BuildError(DeepBenchError):
    """A build could not run or complete (unwritable output, conflicting folder, ...)."""
