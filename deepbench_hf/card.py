"""Dataset cards: the build record of each config and the folder's ``README.md``.

The card is generated only from what the builder wrote (``<config>/deepbench.json`` in the folder),
so building a second config into the same folder adds it to the card.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import datasets
from datasets.info import DatasetInfo, DatasetInfosDict
from datasets.splits import SplitDict, SplitInfo
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from .config import BuildConfig
from .kinds import features_for, get_kind

KIND_TASKS = {
    "shapes": ["image-classification", "object-detection", "image-segmentation"],
    "sky": ["image-classification", "object-detection", "image-segmentation"],
    "lensing": ["image-classification"],
    "nbody": ["time-series-forecasting"],
}
_SIZE_BUCKETS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` examples."""
    for limit, name in _SIZE_BUCKETS:
        if n < limit:
            return name
    return "n>1T"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def software_versions() -> dict[str, str | None]:
    """Versions recorded in every card (provenance)."""
    return {
        "deepbench-hf": _version("deepbench-hf"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        **{name: _version(name) for name in ("numpy", "scipy", "astropy", "datasets", "pyarrow")},
    }


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
        "config_hash": config.config_hash,
        "resolved_config": config.resolved,
        "features": features_for(config).to_dict(),
        "class_names": kind.class_names(config),
        "splits": splits,
        "software": software_versions(),
        "command": command or f"deepbench build {config.name} --out DIR",
    }


def templates_dir() -> Path:
    """Folder of the Jinja card templates (inside the wheel or ``dataset_cards/`` in a checkout)."""
    packaged = resources.files("deepbench_hf") / "_data" / "dataset_cards"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "dataset_cards"


def card_data(records: dict[str, dict[str, Any]]) -> DatasetCardData:
    """The card's YAML metadata: license, tasks, tags, size, ``configs`` and ``dataset_info``."""
    tasks = sorted({t for r in records.values() for t in KIND_TASKS.get(r["kind"], [])})
    total = sum(s["num_examples"] for r in records.values() for s in r["splits"].values())
    data = DatasetCardData(
        license="mit",
        pretty_name="DeepBench-HF simulated benchmarks",
        task_categories=tasks,
        tags=[
            "simulation",
            "benchmark",
            "synthetic",
            "deepbench",
            *sorted({r["kind"] for r in records.values()}),
        ],
        size_categories=[size_category(total)],
    )
    configs = {}
    infos = {}
    for name, record in records.items():
        configs[name] = {
            "data_files": [
                {"split": split, "path": f"{name}/{split}-*.parquet"} for split in record["splits"]
            ]
        }
        if len(records) == 1:
            configs[name]["default"] = True
        split_dict = SplitDict(dataset_name=name)
        for split, info in record["splits"].items():
            split_dict.add(
                SplitInfo(
                    name=split, num_bytes=info["num_bytes"], num_examples=info["num_examples"]
                )
            )
        infos[name] = DatasetInfo(
            features=datasets.Features.from_dict(record["features"]),
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


def render_card(records: dict[str, dict[str, Any]], folder_name: str) -> str:
    """The full ``README.md`` text for a dataset folder holding ``records``."""
    template = (templates_dir() / "README.md.jinja").read_text()
    card = DatasetCard.from_template(
        card_data(records), template_str=template, records=records, folder=folder_name
    )
    return str(card)


def write_card(out_dir: Path, card_path: Path, *, staged: dict[str, Path]) -> None:
    """Write the card for ``out_dir`` as it will be once the ``staged`` configs are swapped in."""
    from .writer import INFO_FILE, read_records

    records = dict(read_records(out_dir))
    for name, folder in staged.items():
        records[name] = json.loads((folder / INFO_FILE).read_text())
    card_path.write_text(render_card(dict(sorted(records.items())), out_dir.name))
