"""Declarative config schema: each field is declared once (type, default, unit, description).

The schema validates a raw YAML mapping, fills defaults, and returns two trees:

* ``parsed``: the values code uses (``Distribution`` objects for sampled parameters, plain values
  for settings);
* ``resolved``: the canonical YAML form of the same values, which the dataset card records and
  hashes.

Field kinds:

* :class:`Param` -- a sampled quantity; accepts a constant or a distribution (see
  :mod:`deepbench_hf.distributions`).
* :class:`Setting` -- a fixed value (not sampled), e.g. an image size or a label task.
* :class:`Section` -- a nested mapping of fields.
* :class:`OneOf` -- a mapping with exactly one key naming an option (``noise: {gaussian: {...}}``),
  or ``none``.
* :class:`Weights` -- a mapping from allowed names to non-negative weights (e.g. object kinds).
* :class:`SemVer` -- a ``MAJOR.MINOR.PATCH`` version string.
* :class:`ReleaseNotes` -- a mapping from ``MAJOR.MINOR.PATCH`` versions to one-paragraph notes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .distributions import Distribution, Domain, parse_distribution
from .errors import ConfigError


@dataclass(frozen=True)
class Param:
    """A sampled parameter: a constant or a distribution whose values lie in ``domain``."""

    domain: Domain
    default: Any
    unit: str = ""
    doc: str = ""

    def parse(self, raw: Any, source: str, path: str) -> tuple[Distribution, Any]:
        dist = parse_distribution(raw, self.domain, source=source, path=path)
        return dist, dist.to_config()


@dataclass(frozen=True)
class Setting:
    """A fixed value (not sampled) in ``domain``; ``nullable`` also accepts ``null``."""

    domain: Domain
    default: Any
    unit: str = ""
    doc: str = ""
    nullable: bool = False

    def parse(self, raw: Any, source: str, path: str) -> tuple[Any, Any]:
        if raw is None and self.nullable:
            return None, None
        if self.domain.kind == "float" and isinstance(raw, int) and not isinstance(raw, bool):
            raw = float(raw)
        if not self.domain.contains(raw):
            raise ConfigError(source, path, f"expected {self.domain.describe()}, got {raw!r}")
        if self.domain.kind == "int":
            raw = int(raw)  # 1e1 or 10.0 (YAML floats) are the integer 10, with its config hash
        return raw, raw


@dataclass(frozen=True)
class Section:
    """A mapping of named fields; unknown keys are errors."""

    fields: dict[str, Any]
    doc: str = ""

    @property
    def default(self) -> dict[str, Any]:
        return {}

    def parse(self, raw: Any, source: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                source, path, f"expected a mapping with keys {self._keys()}, got {raw!r}"
            )
        for key in raw:
            if key not in self.fields:
                raise ConfigError(
                    source, _join(path, str(key)), f"unknown key; allowed: {self._keys()}"
                )
        parsed: dict[str, Any] = {}
        resolved: dict[str, Any] = {}
        for key, spec in self.fields.items():
            value = raw[key] if key in raw else spec.default
            parsed[key], resolved[key] = spec.parse(value, source, _join(path, key))
        return parsed, resolved

    def _keys(self) -> str:
        return ", ".join(self.fields)


@dataclass(frozen=True)
class OneOf:
    """Exactly one of several named option sections, or ``none`` when ``allow_none``."""

    options: dict[str, Section]
    default: Any = None
    doc: str = ""
    allow_none: bool = True

    def parse(self, raw: Any, source: str, path: str) -> tuple[Any, Any]:
        allowed = ", ".join([*self.options, *(["none"] if self.allow_none else [])])
        if raw is None or raw == "none":
            if not self.allow_none:
                raise ConfigError(source, path, f"required; allowed: {allowed}")
            return None, "none"
        if isinstance(raw, str) and raw in self.options:
            raw = {raw: {}}
        if not isinstance(raw, dict) or len(raw) != 1:
            raise ConfigError(source, path, f"expected exactly one of {allowed}, got {raw!r}")
        name, body = next(iter(raw.items()))
        if name not in self.options:
            raise ConfigError(source, _join(path, str(name)), f"unknown option; allowed: {allowed}")
        parsed, resolved = self.options[name].parse(body, source, _join(path, name))
        return (name, parsed), {name: resolved}


@dataclass(frozen=True)
class Weights:
    """Non-negative weights for a subset of ``names``; names left out get weight 0."""

    names: tuple[str, ...]
    default: Any = field(default=None)
    doc: str = ""
    what: str = "name"

    def parse(self, raw: Any, source: str, path: str) -> tuple[dict[str, float], dict[str, float]]:
        if raw is None:
            raw = dict.fromkeys(self.names, 1.0)
        if isinstance(raw, list):
            raw = dict.fromkeys(raw, 1.0)
        if not isinstance(raw, dict) or not raw:
            raise ConfigError(
                source, path, f"expected a mapping {self.what} -> weight or a list of {self.what}s"
            )
        weights: dict[str, float] = {}
        for name, weight in raw.items():
            key_path = _join(path, str(name))
            if name not in self.names:
                raise ConfigError(
                    source, key_path, f"unknown {self.what}; allowed: {', '.join(self.names)}"
                )
            try:
                value = math.nan if isinstance(weight, bool) else float(weight)
            except (TypeError, ValueError, OverflowError):
                value = math.nan
            if not isinstance(weight, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(
                    source, key_path, f"weight must be a finite number >= 0, got {weight!r}"
                )
            weights[name] = value
        total = sum(weights.values())
        if not 0 < total < math.inf:
            raise ConfigError(source, path, "at least one weight must be > 0, and their sum finite")
        return weights, dict(weights)


_SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
SEMVER_FORMAT = 'a version MAJOR.MINOR.PATCH (e.g. "1.0.0")'


def semver_key(version: Any) -> tuple[int, int, int] | None:
    """``(MAJOR, MINOR, PATCH)`` of a semver string, for numeric comparison; ``None`` if not one.

    Only plain ``MAJOR.MINOR.PATCH`` is accepted: non-negative integers without leading zeros, no
    pre-release or build suffix.
    """
    match = _SEMVER.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class SemVer:
    """A version string ``MAJOR.MINOR.PATCH`` (see :func:`semver_key`)."""

    default: str
    doc: str = ""

    def parse(self, raw: Any, source: str, path: str) -> tuple[str, str]:
        if semver_key(raw) is None:
            raise ConfigError(source, path, f"expected {SEMVER_FORMAT}, got {raw!r}")
        return raw, raw


@dataclass(frozen=True)
class ReleaseNotes:
    """A mapping from semver versions to one-paragraph notes (TFDS ``RELEASE_NOTES``).

    Both trees hold the notes newest first. Keys that YAML reads as numbers (``1.0: ...``) are
    rejected rather than converted, so a version is never silently rewritten.
    """

    default: Any = None
    doc: str = ""

    def parse(self, raw: Any, source: str, path: str) -> tuple[dict[str, str], dict[str, str]]:
        if raw is None:
            return {}, {}
        if not isinstance(raw, dict):
            raise ConfigError(
                source,
                path,
                f'expected a mapping version -> note, e.g. {{"1.0.0": "..."}}, got {raw!r}',
            )
        for version, note in raw.items():
            self._check_note(version, note, source, _join(path, str(version)))
        notes = dict(sorted(raw.items(), key=lambda item: semver_key(item[0]), reverse=True))
        return notes, dict(notes)

    @staticmethod
    def _check_note(version: Any, note: Any, source: str, path: str) -> None:
        if semver_key(version) is None:
            raise ConfigError(
                source, path, f"expected {SEMVER_FORMAT} as key (quoted in YAML), got {version!r}"
            )
        if not isinstance(note, str) or not note.strip():
            raise ConfigError(source, path, f"expected a non-empty note (a string), got {note!r}")
        if re.search(r"\n\s*\n", note.strip()):
            raise ConfigError(source, path, "expected one paragraph, got a note with blank lines")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def size_field(default: int, doc: str) -> Section:
    """An image size: ``{height: H, width: W}`` (pixels); a bare integer means a square."""
    positive = Domain("int", low=1, high=8192)
    return _SizeSection(
        {
            "height": Setting(positive, default, "px", "image height (rows)"),
            "width": Setting(positive, default, "px", "image width (columns)"),
        },
        doc=doc,
    )


class _SizeSection(Section):
    def parse(self, raw: Any, source: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = {"height": raw, "width": raw}
        elif raw is not None and not isinstance(raw, dict):
            raise ConfigError(
                source, path, f"expected an integer (a square) or height, width; got {raw!r}"
            )
        return super().parse(raw, source, path)
