"""Dataset cards: the build record of each config and the folder's ``README.md``.

The card is generated only from what the builder wrote (``<config>/deepbench.json`` in the folder),
so building a second config into the same folder adds it to the card. It holds:

* YAML metadata the Hub validates: ``license``, ``task_categories`` and ``task_ids`` (from the
  Hub's own lists, :data:`HUB_TASK_CATEGORIES` / :data:`HUB_TASK_IDS`), ``size_categories`` (the
  Hub's buckets), ``tags``, ``annotations_creators``, ``source_datasets``, and the ``configs`` and
  ``dataset_info`` blocks that ``load_dataset`` reads (features, splits, bytes);
* a Markdown body rendered from ``dataset_cards/README.md.jinja``: what the data are, the configs
  with their difficulty knobs, tasks and sizes and how each differs from the previous rung, every
  column with its unit (:mod:`deepbench_hf.columns`), a preview figure per config
  (:mod:`deepbench_hf.preview`), how to load and query it, how to regenerate it exactly, the
  provenance (versions, git commit, master seeds, resolved configs and their hashes, the SHA-256
  of every shard) and BibTeX.
"""

from __future__ import annotations

import itertools
import platform
import shlex
import subprocess
from collections.abc import Container
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import datasets
import yaml
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from .columns import ColumnDoc, columns_for, feature_at, feature_columns, feature_type
from .config import BuildConfig
from .distributions import is_distribution_spec
from .kinds import features_for, get_kind
from .numerics import numeric_platform
from .schema import semver_key

# The subset of the Hub's task categories and task ids (huggingface.js ``PIPELINE_DATA``) that
# cards may declare. Anything else is never written.
HUB_TASK_CATEGORIES = frozenset(
    {
        "image-classification",
        "object-detection",
        "image-segmentation",
        "image-to-image",
        "image-feature-extraction",
        "tabular-regression",
        "tabular-classification",
        "time-series-forecasting",
        "other",
    }
)
HUB_TASK_IDS = frozenset(
    {
        "multi-class-image-classification",
        "instance-segmentation",
        "semantic-segmentation",
        "multivariate-time-series-forecasting",
        "tabular-single-column-regression",
    }
)
# The Hub's size buckets (number of rows), in order.
HUB_SIZE_CATEGORIES = (
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "1B<n<10B",
    "10B<n<100B",
    "100B<n<1T",
    "n>1T",
)
HUB_ANNOTATIONS_CREATORS = frozenset(
    {"found", "crowdsourced", "expert-generated", "machine-generated", "no-annotation", "other"}
)
LICENSE = "mit"

# Task categories of kinds whose rows have no image (or when nothing is derived from features).
KIND_TASKS = {
    "shapes": ["image-classification"],
    "sky": ["image-classification"],
    "lensing": ["image-classification"],
    "nbody": ["time-series-forecasting"],
}
# Resolved-config paths shown as a kind's "difficulty knobs" in the configs table (a kind may
# also give its KIND object a ``difficulty_knobs`` attribute). Without either, the fields that
# differ between the folder's configs of that kind are shown.
DIFFICULTY_KNOBS = {
    "shapes": ["label", "objects.count", "objects.x_frac", "objects.filled", "noise"],
}
# Fields that are not part of a config's difficulty (sizes, names, bookkeeping).
_NOT_KNOBS = {
    "name",
    "description",
    "splits",
    "shard_size",
    "row_group_size",
    "version",
    "release_notes",
    "seed",
}
_LADDER = {"tiny": 0, "easy": 1, "medium": 2, "hard": 3, "expert": 4}
README_TEMPLATE = "README.md.jinja"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` examples."""
    limit = 1_000
    for name in HUB_SIZE_CATEGORIES[:-1]:
        if n < limit:
            return name
        limit *= 10
    return HUB_SIZE_CATEGORIES[-1]


# ----------------------------------------------------------------------------- build record


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def software_versions() -> dict[str, Any]:
    """Versions recorded in every card (provenance).

    ``git_commit`` is the commit of the deepbench-hf checkout when running from one (else
    ``None``); ``git_dirty`` says whether tracked files differed from that commit.
    """
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "deepbench-hf": _version("deepbench-hf"),
        "git_commit": commit.strip() or None if commit else None,
        "git_dirty": bool(status.strip()) if status is not None else None,
        "python": platform.python_version(),
        **{
            name: _version(name)
            for name in (
                "numpy",
                "scipy",
                "astropy",
                "datasets",
                "pyarrow",
                "huggingface_hub",
                "matplotlib",
            )
        },
    }


_DROPPED_OPTIONS = ("--scheduler",)  # where it ran, not what it made (may carry credentials)


def _portable_command(command: str) -> str:
    """The command line without local paths or addresses: every path or URL (a config file,
    ``--out``, a path in a ``--set`` value) reduced to its last component, URL credentials
    dropped, and ``--scheduler`` (output is bit-identical on any cluster) left out."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in _DROPPED_OPTIONS:
            skip = True
            continue
        if word.startswith(tuple(f"{option}=" for option in _DROPPED_OPTIONS)):
            continue
        if word.startswith("--") and "=" in word:
            option, value = word.split("=", 1)
            out.append(f"{option}={_portable_value(value)}")
        else:
            out.append(_portable_value(word))
    return shlex.join(out)


def _portable_value(word: str) -> str:
    """``word`` (or the value of a ``key=value`` word) reduced to its last path component if it
    is a path or a URL."""
    key, sep, value = word.partition("=")
    if sep and "/" not in key and "://" not in key:
        return f"{key}={_portable_value(value)}"
    if "://" in word:
        word = word.split("://", 1)[1].rsplit("@", 1)[-1]  # no scheme, no user:password@
    if "/" in word or word.startswith("~"):
        return Path(word.rstrip("/")).name or word
    return word


def build_record(
    config: BuildConfig, shards: list[dict[str, Any]], *, command: str | None
) -> dict[str, Any]:
    """What a build wrote, as stored in ``<config>/deepbench.json``."""
    kind = get_kind(config.kind)
    splits: dict[str, dict[str, Any]] = {}
    for shard in shards:
        split = splits.setdefault(shard["split"], {"num_examples": 0, "num_bytes": 0, "shards": []})
        split["num_examples"] += shard["num_rows"]
        split["num_bytes"] += shard["num_bytes"]
        split["shards"].append(
            {k: shard[k] for k in ("filename", "num_rows", "file_bytes", "sha256")}
        )
    return {
        "name": config.name,
        "kind": config.kind,
        "summary": config.summary,
        "description": config.description,
        "version": config.version,
        "seed": config.seed,
        "shard_size": config.shard_size,
        "config_hash": config.config_hash,
        "resolved_config": config.resolved,
        "features": features_for(config).to_dict(),
        "class_names": kind.class_names(config),
        "splits": splits,
        "software": software_versions(),
        "numerics": {
            **numeric_platform(),
            "unpinned": sorted({p for shard in shards for p in shard.get("unpinned", ())}),
        },
        "command": _portable_command(command or f"deepbench build {config.name} --out DIR"),
    }


# ----------------------------------------------------------------------------- card contents


@dataclass(frozen=True)
class Task:
    """A task a config supports: Hub category (or ``None``), Hub task id, and a description."""

    category: str | None
    task_id: str | None
    text: str


def ordered_splits(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A record's splits as ``(name, info)``: train, validation, test, then any others."""
    rank = {name: i for i, name in enumerate(("train", "validation", "test"))}
    return sorted(record["splits"].items(), key=lambda item: (rank.get(item[0], 3), item[0]))


def _features(record: dict[str, Any]) -> datasets.Features:
    return datasets.Features.from_dict(record["features"])


def _image_columns(features: datasets.Features) -> list[str]:
    arrays = (datasets.Array2D, datasets.Array3D, datasets.Array4D, datasets.Array5D)
    return [n for n, f in features.items() if isinstance(f, arrays) and n.startswith("image")]


def config_tasks(record: dict[str, Any]) -> list[Task]:
    """The tasks a config's columns support, derived from its features."""
    features = _features(record)
    images = _image_columns(features)
    tasks: list[Task] = []
    label = features.get("label")
    if isinstance(label, datasets.ClassLabel):
        names = ", ".join(label.names[:8]) + (", …" if label.num_classes > 8 else "")
        what = "counting" if all(n.isdigit() for n in label.names) else "classification"
        text = f"{what} (`label`: {names})"
        if images:
            tasks.append(Task("image-classification", "multi-class-image-classification", text))
        else:
            tasks.append(Task("tabular-classification", None, text))
    objects = features.get("objects")
    fields = objects.feature if isinstance(objects, datasets.List) else None
    if images and isinstance(fields, dict) and "bbox" in fields:
        tasks.append(Task("object-detection", None, "detection (`objects.bbox`, `objects.kind`)"))
    if images and "segmentation" in features:
        tasks.append(Task("image-segmentation", "instance-segmentation", "instance segmentation"))
    noise = record.get("resolved_config", {}).get("noise", "none")
    if images and "image_clean" in features and noise not in (None, "none"):
        tasks.append(Task("image-to-image", None, "denoising (`image` → `image_clean`)"))
    if isinstance(fields, dict):
        tasks.append(Task(None, None, "regression of per-object truth (`objects`)"))
    if not any(t.category for t in tasks):
        for category in KIND_TASKS.get(record["kind"], ["other"]):
            tasks.append(Task(category, None, category.replace("-", " ")))
    return tasks


def _rung(name: str, names: Container[str]) -> int:
    """A name's rung: its suffix's (``-easy`` ...); a bare name that others extend with a rung
    suffix (``lensing`` beside ``lensing-easy``) is the middle rung; anything else comes last."""
    base, _, suffix = name.rpartition("-")
    if base and suffix in _LADDER:
        return _LADDER[suffix]
    if any(f"{name}-{rung}" in names for rung in _LADDER):
        return _LADDER["medium"]
    return len(_LADDER)


def ladder(records: dict[str, dict[str, Any]]) -> list[str]:
    """Config names ordered by kind, then by rung (tiny, easy, medium, hard, expert; a bare
    ``lensing`` beside ``lensing-easy`` is medium), then name."""
    return sorted(records, key=lambda n: (records[n]["kind"], _rung(n, records), n))


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def compact(value: Any) -> str:
    """A short one-line form of a resolved config value (distributions as ``U(a, b)`` ...)."""
    if value is _MISSING:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _num(value)
    if isinstance(value, list):
        return "[" + ", ".join(compact(v) for v in value) + "]"
    if not isinstance(value, dict):
        return str(value)
    if is_distribution_spec(value):
        ((name, spec),) = value.items()
        if name == "uniform":
            return f"U({_num(spec[0])}, {_num(spec[1])})"
        if name == "loguniform":
            return f"logU({_num(spec[0])}, {_num(spec[1])})"
        if name == "randint":
            return f"{spec[0]}–{spec[1]} (int)"
        if name == "normal":
            text = f"N({_num(spec['mean'])}, {_num(spec['std'])})"
            if "low" in spec or "high" in spec:
                low, high = _num(spec.get("low", "-inf")), _num(spec.get("high", "inf"))
                text += f" in [{low}, {high}]"
            return text
        if name == "choice":
            values = spec["values"] if isinstance(spec, dict) else spec
            text = "one of " + ", ".join(compact(v) for v in values)
            weights = spec.get("weights") if isinstance(spec, dict) else None
            if weights:
                text += " (weights " + ", ".join(_num(w) for w in weights) + ")"
            return text
    if set(value) == {"height", "width"}:
        return f"{value['height']}×{value['width']}"
    if len(value) == 1:
        ((key, inner),) = value.items()
        if isinstance(inner, dict) and not is_distribution_spec(inner):
            return f"{key}(" + ", ".join(f"{k}={_nested(inner[k])}" for k in sorted(inner)) + ")"
        return f"{key}: {compact(inner)}"
    # sorted: configs merged from different files list the same keys in different orders
    return ", ".join(f"{k}={_nested(value[k])}" for k in sorted(value))


def _nested(value: Any) -> str:
    """:func:`compact` of a value inside a mapping, bracketed if it is a mapping of its own."""
    text = compact(value)
    plain = not isinstance(value, dict) or is_distribution_spec(value) or len(value) == 1
    return text if plain or set(value) == {"height", "width"} else f"({text})"


class _Missing:
    def __repr__(self) -> str:
        return "—"


_MISSING = _Missing()


def _is_section(value: Any) -> bool:
    return isinstance(value, dict) and not is_distribution_spec(value)


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple]:
    """``(path, old value, new value)`` for every difficulty field that differs."""
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        if not prefix and key in _NOT_KNOBS:
            continue
        path = f"{prefix}{key}"
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        if _is_section(a) and _is_section(b):
            changes.extend(config_diff(a, b, path + "."))
        elif a != b:
            changes.append((path, a, b))
    return changes


def _get(resolved: dict[str, Any], path: str) -> Any:
    value: Any = resolved
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _knob_paths(kind: str, names: list[str], records: dict[str, dict[str, Any]]) -> list[str]:
    own = getattr(_kind_or_none(kind), "difficulty_knobs", None)
    if own:
        return list(own)
    if kind in DIFFICULTY_KNOBS:
        return DIFFICULTY_KNOBS[kind]
    paths: list[str] = []
    for a, b in itertools.pairwise(names):
        for path, _, _ in config_diff(records[a]["resolved_config"], records[b]["resolved_config"]):
            if path not in paths:
                paths.append(path)
    return paths[:5]


def release_notes(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A record's release notes as ``(version, note)``, newest first, each note on one line.

    Read from the resolved config (records written before release notes existed have none).
    """
    notes = record.get("resolved_config", {}).get("release_notes") or {}
    newest_first = sorted(
        notes.items(), key=lambda item: semver_key(item[0]) or (-1,), reverse=True
    )
    return [(version, " ".join(str(note).split())) for version, note in newest_first]


def _kind_or_none(kind: str) -> Any:
    try:
        return get_kind(kind)
    except (ImportError, KeyError):
        return None


def _column_rows(kind: str, records: list[dict[str, Any]]) -> list[dict[str, str]]:
    docs = columns_for(kind)
    present: list[str] = []
    types: dict[str, set[str]] = {}
    for record in records:
        features = _features(record)
        for column in feature_columns(features):
            if column not in present:
                present.append(column)
            types.setdefault(column, set()).add(feature_type(feature_at(features, column)))
    order = {name: i for i, name in enumerate(docs)}
    seen = {name: i for i, name in enumerate(present)}
    present.sort(key=lambda c: ("." in c, order.get(c, len(order)), seen[c]))
    rows = []
    for column in present:
        doc = docs.get(column, ColumnDoc("", "", "(undocumented)"))
        kinds = types[column]
        rows.append(
            {
                "column": column,
                "type": next(iter(kinds)) if len(kinds) == 1 else doc.type,
                "unit": doc.unit,
                "meaning": doc.meaning,
            }
        )
    return rows


def card_context(
    records: dict[str, dict[str, Any]], folder_name: str, previews: set[str] | None = None
) -> dict[str, Any]:
    """Everything the Jinja template shows, computed from the build records."""
    order = ladder(records)
    kinds: dict[str, list[str]] = {}
    for name in order:
        kinds.setdefault(records[name]["kind"], []).append(name)
    configs = []
    for kind, names in kinds.items():
        knobs = _knob_paths(kind, names, records)
        for i, name in enumerate(names):
            record = records[name]
            resolved = record["resolved_config"]
            previous = names[i - 1] if i else None
            diff = config_diff(records[previous]["resolved_config"], resolved) if previous else []
            configs.append(
                {
                    "name": name,
                    "kind": kind,
                    "summary": record["summary"],
                    "description": " ".join(record["description"].split()),
                    "class_names": record.get("class_names"),
                    "tasks": [t.text for t in config_tasks(record)],
                    "knobs": [
                        (path.rsplit(".", 1)[-1], compact(_get(resolved, path)))
                        for path in knobs
                        if _get(resolved, path) is not _MISSING
                    ],
                    "splits": {s: v["num_examples"] for s, v in ordered_splits(record)},
                    "previous": previous,
                    "diff": [(p, compact(a), compact(b)) for p, a, b in diff],
                    "preview": f"{name}/preview.png"
                    if (previews is None or name in previews)
                    else None,
                    "record": record,
                    "release_notes": release_notes(record),
                    "resolved_yaml": yaml.safe_dump(resolved, sort_keys=False).rstrip(),
                    "shards": [
                        shard for _, split in ordered_splits(record) for shard in split["shards"]
                    ],
                }
            )
    split_names = [
        s for s in ("train", "validation", "test") if any(s in c["splits"] for c in configs)
    ]
    first = configs[0]["name"] if configs else "CONFIG"
    first_features = _features(records[first]) if configs else {}
    return {
        "folder": folder_name,
        "configs": configs,
        "split_names": split_names,
        "columns": {
            kind: _column_rows(kind, [records[n] for n in names]) for kind, names in kinds.items()
        },
        "first": first,
        "first_view": first.replace("-", "_").replace(".", "_"),
        "first_objects": "objects" in first_features and "n_objects" in first_features,
        "first_images": bool(_image_columns(first_features)) if configs else False,
        "any_images": any(_image_columns(_features(r)) for r in records.values()),
        "any_objects": any("objects" in _features(r) for r in records.values()),
        "any_noise_seed": any("noise_seed" in _features(r) for r in records.values()),
        "total": sum(sum(c["splits"].values()) for c in configs),
        "row_groups": " or ".join(
            str(n)
            for n in sorted(
                {r["resolved_config"].get("row_group_size", 100) for r in records.values()}
            )
        ),
        "version": next(
            (r["software"].get("deepbench-hf") for r in records.values() if r.get("software")),
            None,
        ),
    }


def _templates_dir() -> Path:
    """Folder of the Jinja card templates (inside the wheel or ``dataset_cards/`` in a checkout)."""
    packaged = resources.files("deepbench_hf") / "_data" / "dataset_cards"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "dataset_cards"


def card_data(records: dict[str, dict[str, Any]]) -> DatasetCardData:
    """The card's YAML metadata: license, tasks, tags, size, ``configs`` and ``dataset_info``."""
    tasks = [t for r in records.values() for t in config_tasks(r)]
    categories = sorted({t.category for t in tasks if t.category in HUB_TASK_CATEGORIES})
    task_ids = sorted({t.task_id for t in tasks if t.task_id in HUB_TASK_IDS})
    total = sum(s["num_examples"] for r in records.values() for s in r["splits"].values())
    kinds = sorted({r["kind"] for r in records.values()})
    science = ["astronomy", "physics"] if set(kinds) & {"sky", "lensing", "nbody"} else []
    data = DatasetCardData(
        license=LICENSE,
        pretty_name="DeepBench-HF simulated benchmarks",
        task_categories=categories,
        task_ids=task_ids or None,
        annotations_creators=["machine-generated"],
        source_datasets=["original"],
        tags=["simulation", "benchmark", "synthetic", "deepbench", *science, *kinds],
        size_categories=[size_category(total)],
    )
    configs = {}
    infos = {}
    for name, record in records.items():
        configs[name] = {
            "data_files": [
                {"split": split, "path": f"{name}/{split}-*.parquet"}
                for split, _ in ordered_splits(record)
            ]
        }
        if len(records) == 1:
            configs[name]["default"] = True
        split_dict = SplitDict(dataset_name=name)
        for split, info in ordered_splits(record):
            split_dict.add(
                SplitInfo(
                    name=split, num_bytes=info["num_bytes"], num_examples=info["num_examples"]
                )
            )
        infos[name] = DatasetInfo(
            features=_features(record),
            splits=split_dict,
            dataset_size=sum(s["num_bytes"] for s in record["splits"].values()),
            download_size=sum(
                sh["file_bytes"] for s in record["splits"].values() for sh in s["shards"]
            ),
            config_name=name,
        )
    MetadataConfigs(configs).to_dataset_card_data(data)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


def render_card(
    records: dict[str, dict[str, Any]], folder_name: str, *, previews: set[str] | None = None
) -> str:
    """The full ``README.md`` text for a dataset folder holding ``records``.

    ``previews`` names the configs that have a ``<config>/preview.png`` (default: every config
    with an image column).
    """
    if previews is None:
        from .preview import preview_column

        previews = {name for name, r in records.items() if preview_column(r) is not None}
    template = (_templates_dir() / README_TEMPLATE).read_text()
    card = DatasetCard.from_template(
        card_data(records),
        template_str=template,
        **card_context(records, folder_name, previews),
    )
    return str(card)


def write_card(out_dir: Path, card_path: Path, *, staged: dict[str, Path]) -> None:
    """Write the card for ``out_dir`` as it will be once the ``staged`` configs are swapped in.

    Also draws ``preview.png`` into each staged config folder (so it moves in with the shards).
    """
    from .preview import PREVIEW_FILE, write_preview
    from .records import INFO_FILE, read_record
    from .writer import read_records

    records = dict(read_records(out_dir))
    previews = {name for name in records if (out_dir / name / PREVIEW_FILE).is_file()}
    for name, folder in staged.items():
        records[name] = read_record(folder / INFO_FILE)
        previews.discard(name)
        if write_preview(folder, records[name]) is not None:
            previews.add(name)
    card_path.write_text(
        render_card(dict(sorted(records.items())), out_dir.name, previews=previews)
    )


__all__ = [
    "HUB_ANNOTATIONS_CREATORS",
    "HUB_SIZE_CATEGORIES",
    "HUB_TASK_CATEGORIES",
    "HUB_TASK_IDS",
    "Task",
    "build_record",
    "card_context",
    "card_data",
    "compact",
    "config_diff",
    "config_tasks",
    "ladder",
    "ordered_splits",
    "release_notes",
    "render_card",
    "size_category",
    "software_versions",
    "write_card",
]
