"""Exceptions raised by deepbench-hf.

Every user-facing error is a :class:`DeepBenchError`; the CLI prints its message on one line and
exits non-zero. Messages name the file, the field path and what is allowed.
"""

from __future__ import annotations

from typing import Any


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
    related
        For a rule across fields (``objects.count`` must be 1 when ``label`` is ``kind``), the
        other field paths it involves; ``()`` marks an error about ``path`` alone. ``None`` (the
        default) leaves it to :func:`deepbench_hf.config.validate`, which reads schema errors as
        about ``path`` alone and errors from a kind's ``check`` as cross-field rules. The loader
        uses it to name the right file: the layer that set ``path`` for an error about one
        field, the latest of the user's file and the layers that set the fields involved for a
        cross-field rule.
    """

    def __init__(
        self, source: str, path: str, message: str, *, related: tuple[str, ...] | None = None
    ) -> None:
        self.source = source
        self.path = path
        self.message = _shorten(message)
        self.related = related
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {self.message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickles (e.g. back from a worker process) with its keyword-only field and notes
        return (_config_error, (self.source, self.path, self.message, self.related), self.__dict__)


MAX_MESSAGE = 1000
"""Characters of a message kept whole; a longer one (the repr of a huge value) keeps its start
and its end (what is allowed)."""


def _shorten(message: str) -> str:
    """``message``, or its start and end around the count of what was left out (at most
    :data:`MAX_MESSAGE` characters, so shortening again changes nothing)."""
    if len(message) <= MAX_MESSAGE:
        return message
    half = (MAX_MESSAGE - 40) // 2
    return f"{message[:half]} ... ({len(message) - 2 * half:,} characters) ... {message[-half:]}"


def _config_error(
    source: str, path: str, message: str, related: tuple[str, ...] | None
) -> ConfigError:
    return ConfigError(source, path, message, related=related)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line
    errors that wrap a library's."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BuildError(DeepBenchError):
    """A build could not run or complete (unwritable output, conflicting folder, ...)."""
