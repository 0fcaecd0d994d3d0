"""Builder configs: load a named config or a YAML file, apply ``extends`` and overrides, validate.

A config file is a YAML mapping. The keys every kind shares::

    description: what the config is for (one line first, more lines allowed)
    kind: shapes            # shapes | sky | lensing | nbody
    version: 1.0.0          # semver; bumped (MAJOR) whenever the data for a given seed change
    release_notes: {"1.0.0": Initial release.}   # optional: this config's own history
    extends: shapes-easy    # optional: a named config or a path relative to this file
    seed: 20261127          # master seed (integer >= 0)
    splits: {train: 8000, validation: 1000, test: 1000}
    shard_size: 1000        # examples per Parquet shard
    row_group_size: 100     # rows per Parquet row group (the Hub viewer likes ~100 for images)

Everything else is declared by the kind's schema. ``extends`` deep-merges this file over its parent;
a distribution mapping (``{uniform: [..]}``) replaces rather than merges. Overrides
(``--set objects.count=3``) are applied last and parsed as YAML values.

``release_notes`` (TFDS ``RELEASE_NOTES``) maps semver versions to one-paragraph notes. They are a
config's own history, so ``extends`` does not inherit them; a config that declares any must have a
note for its ``version`` and none for a later one. They document the data without changing it:
:attr:`BuildConfig.config_hash` leaves them out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .distributions import Domain, is_distribution_spec
from .errors import ConfigError
from .kinds import KIND_NAMES, get_kind
from .schema import OneOf, ReleaseNotes, Section, SemVer, Setting, semver_key

SPLIT_NAMES = ("train", "validation", "test")
# Top-level keys that document a config without affecting its data: not part of the config hash.
UNHASHED_KEYS = frozenset({"release_notes"})
# Top-level keys describing one named config only: a file that ``extends`` it starts without them.
NOT_INHERITED_KEYS = ("release_notes",)

COMMON_SCHEMA = {
    "name": Setting(Domain("str"), None, doc="config name (defaults to the file name)"),
    "description": Setting(Domain("str"), "", doc="what the config is for"),
    "kind": Setting(Domain("str", values=KIND_NAMES), None, doc="dataset kind"),
    "version": SemVer("1.0.0", doc="data version (semver MAJOR.MINOR.PATCH)"),
    "release_notes": ReleaseNotes(doc="version -> one-paragraph note; not inherited by extends"),
    "seed": Setting(Domain("int", low=0, high=2**63 - 1), 0, doc="master seed"),
    "splits": Section(
        {s: Setting(Domain("int", low=0, high=10**9), 0, doc=f"{s} examples") for s in SPLIT_NAMES},
        doc="number of examples per split",
    ),
    "shard_size": Setting(Domain("int", low=1, high=10**7), 1000, doc="examples per Parquet shard"),
    "row_group_size": Setting(Domain("int", low=1, high=10**6), 100, doc="rows per row group"),
    "balanced": Setting(
        Domain("bool"),
        False,
        doc="exactly balanced classes: each block of K examples has each once",
    ),
}


def builtin_config_dir() -> Path:
    """Folder of the named configs: inside the wheel, or ``builder_configs/`` in a checkout."""
    packaged = resources.files("deepbench_hf") / "_data" / "builder_configs"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "builder_configs"


def builtin_config_names() -> list[str]:
    """Names of the shipped configs, sorted."""
    return sorted(p.stem for p in builtin_config_dir().glob("*.yaml"))


def builtin_suites() -> dict[str, dict[str, Any]]:
    """Named collections of configs (``builder_configs/suites/*.yaml``): description + configs."""
    suites = {}
    for path in sorted((builtin_config_dir() / "suites").glob("*.yaml")):
        raw = _read_yaml(path, f"suite {path.name}")
        suites[path.stem] = {"description": raw.get("description", ""), "configs": raw["configs"]}
    return suites


@dataclass(frozen=True)
class BuildConfig:
    """A fully resolved and validated config: everything a build needs, nothing else.

    Attributes
    ----------
    name, description, kind, version, seed, splits, shard_size, row_group_size
        The common fields (see the module docstring).
    params
        The kind's parsed fields (distributions and settings), as the kind's schema returns them.
    resolved
        The canonical YAML-able form of the whole config after ``extends`` and overrides; the
        dataset card records it and :attr:`config_hash` hashes it (all but :data:`UNHASHED_KEYS`).
    release_notes
        The config's own release notes, version -> note, newest first (empty when it declares
        none; never inherited through ``extends``).
    source
        Where the config came from (a builtin name or a file path), for messages.
    """

    name: str
    description: str
    kind: str
    version: str
    seed: int
    splits: dict[str, int]
    shard_size: int
    row_group_size: int
    balanced: bool
    params: dict[str, Any] = field(repr=False)
    resolved: dict[str, Any] = field(repr=False)
    release_notes: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = ""

    @property
    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of :attr:`resolved` (identifies the data exactly).

        Keys in :data:`UNHASHED_KEYS` (documentation such as ``release_notes``) are left out, so
        editing them changes neither the hash nor any shard.
        """
        hashed = {k: v for k, v in self.resolved.items() if k not in UNHASHED_KEYS}
        text = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def summary(self) -> str:
        """The first sentence of the description (one line, for listings and tables)."""
        text = " ".join(self.description.split())
        head, sep, _ = text.partition(". ")
        return head + "." if sep else text

    def to_yaml(self) -> str:
        """The resolved config as YAML text (what ``deepbench show`` prints)."""
        return yaml.safe_dump(self.resolved, sort_keys=False)


class _Layers:
    """Raw config mapping built layer by layer, remembering every layer and who set what.

    Layers are numbered from 1, oldest first: the files of the ``extends`` chain (the furthest
    base first, the root file -- the one the user named -- last), then the ``--set`` overrides and
    the ``--seed`` / ``--split-sizes`` shortcuts.
    """

    def __init__(self) -> None:
        self.raw: dict[str, Any] = {}
        self.origins: dict[str, str] = {}  # dotted path -> source of the layer that last set it
        self.stack: list[tuple[str, dict[str, Any]]] = []  # (source, raw mapping) of each layer
        self.number: dict[str, int] = {}  # source -> number of its latest layer
        self.root = 0  # number of the root file's layer
        self.chosen: dict[str, str] = {}  # OneOf path -> the option named by the latest layer

    @property
    def layers(self) -> int:
        return len(self.stack)

    def merge(self, raw: Mapping[str, Any], source: str) -> None:
        self.stack.append((source, copy.deepcopy(dict(raw))))
        self.number[source] = len(self.stack)
        _deep_merge(self.raw, raw, "", source, self.origins)

    def check_one_ofs(self, schema: Section) -> None:
        """Each layer names at most one option of a ``OneOf``, and a known one.

        Checked layer by layer, so that ``noise: {gaussian: .., ccd: ..}`` in one file is an error
        naming that file, while a later layer naming another option than an earlier one switches
        (see :meth:`resolve_one_ofs`).
        """
        for number, (source, raw) in enumerate(self.stack, 1):
            for path, spec, value in _one_of_blocks(schema, raw, ""):
                problem = _one_of_problem(spec, value)
                if problem is not None:
                    exc = ConfigError(source, path + problem[0], problem[1], related=())
                    raise self.blame(exc, cross=False, field_layer=number)
                if isinstance(value, str):
                    self.chosen[path] = value
                elif isinstance(value, dict) and value:
                    self.chosen[path] = next(iter(value))

    def resolve_one_ofs(self, schema: Section, raw: dict[str, Any], prefix: str = "") -> None:
        """Where layers chose different options of a ``OneOf``, keep the latest layer's option.

        ``extends: nbody`` plus ``initial: {kepler: {...}}`` switches the family instead of
        merging into ``{random_virial: ..., kepler: ...}``. Needs :meth:`check_one_ofs` first.
        """
        for key, spec in schema.fields.items():
            value = raw.get(key)
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(spec, OneOf) and isinstance(value, dict):
                latest = self.chosen.get(path)
                if len(value) > 1 and latest in value:
                    value = raw[key] = {latest: value[latest]}
                if len(value) == 1:
                    name, body = next(iter(value.items()))
                    if name in spec.options and isinstance(body, dict):
                        self.resolve_one_ofs(spec.options[name], body, f"{path}.{name}")
            elif isinstance(spec, Section) and isinstance(value, dict):
                self.resolve_one_ofs(spec, value, path)

    def forget(self, key: str) -> None:
        """Drop a top-level key set by the layers so far, with the origins of its paths."""
        self.raw.pop(key, None)
        for path in [p for p in self.origins if p == key or p.startswith(key + ".")]:
            del self.origins[path]
        for _, raw in self.stack:
            raw.pop(key, None)

    def origin(self, path: str) -> str | None:
        while path:
            if path in self.origins:
                return self.origins[path]
            path = path.rpartition(".")[0]
        return None

    def layer(self, path: str) -> int:
        """Number of the layer that last set ``path`` (or a mapping holding it); 0 if none did."""
        source = self.origin(path)
        return 0 if source is None else self.number.get(source, 0)

    def source(self, number: int) -> str:
        return self.stack[number - 1][0]

    def kind_after(self, number: int) -> Any:
        """The ``kind`` in force once layers 1..``number`` are merged (``None`` if none set it)."""
        kind = None
        for _, raw in self.stack[:number]:
            kind = raw.get("kind", kind)
        return kind

    def blame(
        self,
        exc: ConfigError,
        *,
        cross: bool,
        field_layer: int,
    ) -> ConfigError:
        """``exc`` re-attributed to the layer (file) responsible for it, still on one line.

        * About one field: the layer that last set it (``field_layer``), unless a later layer
          switched ``kind`` and the field is not a common one (a field of the new kind, or one
          the new kind does not have): the value was written for another kind, so the switching
          layer is named.
        * A cross-field rule: the latest of the root file and the layers that set the fields it
          involves (``exc.path`` and ``exc.related``).

        When the layer named did not set ``exc.path`` itself, the message says which one did.
        """
        setter = self.source(field_layer) if field_layer else None
        number, note = field_layer, ""
        if cross:
            involved = [self.layer(p) for p in exc.related or ()]
            number = max(self.root, field_layer, *involved)
        elif field_layer and exc.path.partition(".")[0] not in COMMON_SCHEMA:  # a kind's field
            old, final = self.kind_after(field_layer), self.raw.get("kind")
            if old is not None and old != final:
                # the first layer from which the kind stays the final one
                number = self.layers
                while number - 1 > field_layer and self.kind_after(number - 1) == final:
                    number -= 1
                note = f", for kind {old}"
        source = self.source(number) if number else exc.source
        message = exc.message
        if setter is not None and setter != source:
            message += f"; {exc.path} is set in {setter}{note}"
        if source == exc.source and message == exc.message:
            return exc
        return ConfigError(source, exc.path, message, related=exc.related)


def _one_of_blocks(
    section: Section, raw: Mapping[str, Any], prefix: str
) -> Iterator[tuple[str, OneOf, Any]]:
    """``(path, spec, value)`` of every ``OneOf`` that ``raw`` (one layer) gives a value."""
    for key, spec in section.fields.items():
        if key not in raw:
            continue
        value = raw[key]
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, OneOf):
            yield path, spec, value
            if isinstance(value, dict) and len(value) == 1:
                name, body = next(iter(value.items()))
                if name in spec.options and isinstance(body, dict):
                    yield from _one_of_blocks(spec.options[name], body, f"{path}.{name}")
        elif isinstance(spec, Section) and isinstance(value, dict):
            yield from _one_of_blocks(spec, value, path)


def _one_of_problem(spec: OneOf, value: Any) -> tuple[str, str] | None:
    """What is wrong with one layer's value for a ``OneOf`` (sub-path, message), or ``None``.

    Only mappings are checked here; a bare name (``noise: gaussian``) is checked by
    :meth:`OneOf.parse` after merging, as a later layer replaces it whole.
    """
    if not isinstance(value, dict):
        return None
    names = [str(name) for name in value]
    if len(names) > 1:
        return "", f"give one option, got {', '.join(names[:-1])} and {names[-1]}"
    if names and names[0] not in spec.options:
        allowed = ", ".join([*spec.options, *(["none"] if spec.allow_none else [])])
        return f".{names[0]}", f"unknown option; allowed: {allowed}"
    return None


def _deep_merge(
    base: dict[str, Any], top: Mapping[str, Any], prefix: str, source: str, origins: dict[str, str]
) -> None:
    for key, value in top.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        old = base.get(key)
        mergeable = (
            isinstance(value, dict)
            and isinstance(old, dict)
            and not is_distribution_spec(value)
            and not is_distribution_spec(old)
        )
        if mergeable:
            _deep_merge(old, value, path, source, origins)
        else:
            base[key] = copy.deepcopy(value)
            for stale in [p for p in origins if p.startswith(path + ".")]:
                del origins[stale]
        origins[path] = source


class _YamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads YAML 1.2 floats such as ``5e4`` or ``1e-3`` (YAML 1.1,
    PyYAML's default, reads them as strings and wants ``5.0e+4``), and refuses a key repeated in
    a mapping (an error in YAML; PyYAML keeps the last silently)."""

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        # As written, before merge keys (<<) add theirs (which the mapping's own keys override);
        # keys compared as read, so 1 and 1.0, or true and True, are the same key.
        node = super().compose_mapping_node(anchor)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return node


_MERGE_TAG = "tag:yaml.org,2002:merge"


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


MAX_YAML_VALUES = 100_000
"""Most values (scalars, lists and mappings) a config file or ``--set`` may hold once its aliases
(``*name``) are expanded: a few aliases nested ten deep stand for billions ("billion laughs")."""


class _TooLarge(yaml.YAMLError):
    """YAML that holds more than :data:`MAX_YAML_VALUES` values, or nests too deep to read."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(problem)


def _load_yaml(text: str) -> Any:
    try:
        value = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader: no arbitrary objects
        count = _expanded_size(value, {})
    except RecursionError:
        raise _TooLarge("it nests lists or mappings too deep to read") from None
    if count > MAX_YAML_VALUES:
        raise _TooLarge(
            f"it holds {count:,} values, each alias (*name) counted at every use; at most "
            f"{MAX_YAML_VALUES:,} are allowed"
        )
    return value


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """Values in ``value`` with every shared (aliased) list or mapping counted at each use;
    each object is visited once (``sizes`` by ``id``)."""
    if not isinstance(value, (list, dict)):
        return 1
    if id(value) not in sizes:
        sizes[id(value)] = 0  # a recursive alias (&a [*a]) adds nothing where it recurs
        items = value.values() if isinstance(value, dict) else value
        sizes[id(value)] = 1 + sum(_expanded_size(item, sizes) for item in items)
    return sizes[id(value)]


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read config file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            source, "", f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from exc
    try:
        raw = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            source, "", f"invalid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            source, "", f"a config file must be a YAML mapping, got {type(raw).__name__}"
        )
    return raw


def _locate(ref: str, relative_to: Path | None, referrer: str | None) -> tuple[Path, str]:
    """Find a config by name or path; returns the file and a display name for messages.

    ``referrer`` is the source of the file whose ``extends`` names ``ref`` (``None`` for the
    config the user asked for): errors about ``ref`` then name that file and its ``extends``.
    """
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        path = Path(ref)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path  # named as found: beside the file that extends it
        return path, str(path)
    path = builtin_config_dir() / f"{ref}.yaml"
    if not path.is_file():
        known = f"{', '.join(builtin_config_names())}, or a .yaml path"
        if referrer is not None:
            raise ConfigError(referrer, "extends", f"unknown config {ref!r}; known: {known}")
        raise ConfigError(ref, "", f"unknown config; available: {known}")
    return path, f"{ref} ({path.name})"


def _load_layers(
    ref: str,
    relative_to: Path | None,
    layers: _Layers,
    seen: tuple[str, ...],
    referrer: str | None = None,
) -> str:
    path, source = _locate(ref, relative_to, referrer)
    if not path.is_file():
        if referrer is not None:
            raise ConfigError(referrer, "extends", f"config file not found: {path}")
        raise ConfigError(source, "", "config file not found")
    key = str(path.resolve())
    if key in seen:
        start = Path(key).parent  # the loop's files, relative to the first one's folder
        chain = " -> ".join(os.path.relpath(k, start) for k in (*seen[seen.index(key) :], key))
        raise ConfigError(referrer or source, "extends", f"circular extends chain: {chain}")
    raw = _read_yaml(path, source)
    parent = raw.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(source, "extends", f"expected a config name or path, got {parent!r}")
        _load_layers(parent, path.parent, layers, (*seen, key), source)
        for own in ("name", *NOT_INHERITED_KEYS):
            layers.forget(own)
    layers.merge(raw, source)
    if "name" not in raw:
        layers.raw["name"] = path.stem
    return source


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``a.b.c=value`` (value as YAML) into a path and a value."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", text, "expected KEY.PATH=VALUE, e.g. noise.gaussian.sigma=0")
    try:
        return key, _load_yaml(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError("--set", key, f"value is not valid YAML: {value!r}") from exc


def load_config(
    ref: str,
    overrides: Iterable[str] = (),
    *,
    seed: int | None = None,
    splits: Mapping[str, int] | None = None,
) -> BuildConfig:
    """Load, merge and validate a config.

    Parameters
    ----------
    ref
        A builtin config name (``deepbench list``) or a path to a YAML file.
    overrides
        ``KEY.PATH=VALUE`` strings applied after ``extends`` (values parsed as YAML).
    seed, splits
        Shortcuts for the ``seed`` and ``splits.*`` overrides.

    Raises
    ------
    ConfigError
        One line naming the file (or ``--set``), the field path and what is allowed.
    """
    layers = _Layers()
    root_source = _load_layers(ref, None, layers, ())
    layers.root = layers.layers
    for text in overrides:
        path, value = parse_override(text)
        nested: Any = value
        for part in reversed(path.split(".")):
            nested = {part: nested}
        layers.merge(nested, "--set")
    if seed is not None:
        layers.merge({"seed": seed}, "--seed")
    if splits is not None:
        layers.merge({"splits": dict(splits)}, "--split-sizes")
    return validate(layers, root_source)


def validate(layers: _Layers, root_source: str) -> BuildConfig:
    """Validate merged layers; errors name the layer (file) responsible for them.

    An error about one field names the layer that last set it (or, when a later layer switched
    ``kind``, that layer); a cross-field rule -- a kind's ``check``, or any error with
    ``related`` fields -- names the latest of the root file and the layers that set the fields
    involved; anything no layer set is blamed on the root file.
    """
    raw = layers.raw
    kind_name = raw.get("kind")
    if kind_name is None:
        raise ConfigError(root_source, "kind", f"required; allowed: {', '.join(KIND_NAMES)}")
    try:
        COMMON_SCHEMA["kind"].parse(kind_name, root_source, "kind")
    except ConfigError as exc:
        raise layers.blame(exc, cross=False, field_layer=layers.layer("kind")) from None
    kind = get_kind(kind_name)
    schema = Section({**COMMON_SCHEMA, **kind.schema})
    layers.check_one_ofs(schema)  # its errors name the layer at fault
    layers.resolve_one_ofs(schema, raw)
    from_check = False
    try:
        parsed, resolved = schema.parse(raw, root_source, "")
        check_release_notes(parsed["version"], parsed["release_notes"], root_source)
        config = BuildConfig(
            name=parsed["name"],
            description=parsed["description"],
            kind=kind_name,
            version=parsed["version"],
            seed=parsed["seed"],
            splits=dict(parsed["splits"]),
            shard_size=parsed["shard_size"],
            row_group_size=parsed["row_group_size"],
            balanced=parsed["balanced"],
            params={k: parsed[k] for k in kind.schema},
            resolved=resolved,
            release_notes=dict(parsed["release_notes"]),
            source=root_source,
        )
        if not any(config.splits.values()):
            raise ConfigError(
                root_source, "splits", "at least one split needs examples, got 0 in all"
            )
        from_check = True
        kind.check(config)
    except ConfigError as exc:
        cross = bool(exc.related) or (exc.related is None and from_check)
        field_layer = layers.layer(exc.path)
        raise layers.blame(exc, cross=cross, field_layer=field_layer) from None
    if not _valid_name(config.name):
        raise ConfigError(
            layers.origin("name") or root_source,
            "name",
            f"{config.name!r} is not a valid config name (letters, digits, '-', '_', '.', "
            "starting with a letter or digit; not README.md, the dataset card)",
        )
    return config


def check_release_notes(version: str, notes: Mapping[str, str], source: str) -> None:
    """Release notes (if any) must include ``version`` and nothing newer (semver, numerically).

    Raises
    ------
    ConfigError
        Naming ``release_notes`` (or the note newer than ``version``), related to ``version``:
        :func:`validate` names the latest layer that set either (so ``--set version=...`` is
        blamed, not the file holding the notes).
    """
    if not notes:
        return
    current = semver_key(version)
    for noted in notes:
        if semver_key(noted) > current:
            raise ConfigError(
                source,
                f"release_notes.{noted}",
                f"newer than the config's version {version}; allowed: versions <= {version}",
                related=("version", "release_notes"),
            )
    if version not in notes:
        raise ConfigError(
            source,
            "release_notes",
            f"no note for the config's version {version}; each version needs one (notes given for "
            f"{', '.join(notes)}; a YAML file that extends this config starts its own notes)",
            related=("version", "release_notes"),
        )


def _valid_name(name: str) -> bool:
    return (
        bool(name)
        and all(c.isalnum() or c in "-_." for c in name)
        and name[0].isalnum()
        and name.lower() != "readme.md"  # a config's folder sits beside the card
    )
