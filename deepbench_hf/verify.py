"""Check a dataset folder against its card and build records, and regenerate rows from seeds.

``deepbench verify DIR [--regenerate [N]] [--config NAME]...``:

1. every config declared in ``DIR/README.md`` has a ``<config>/deepbench.json`` build record and
   vice versa, and the card's split sizes match the records, as does all the card metadata
   ``load_dataset`` reads: each config's ``data_files`` (which files make each split) and
   ``dataset_info`` (features, splits, sizes);
2. every shard listed in a record exists, has the recorded size, and its SHA-256 recomputed from
   the bytes equals the record's and the card's; no unlisted file sits in a config folder that
   matches one of the config's ``data_files`` patterns in the card (``load_dataset`` would read
   it), nor any other unlisted ``.parquet`` file (``load_dataset`` ignores it, but it is not part
   of the build and ``deepbench push`` would upload it with the config folder);
3. the config is reloaded from the resolved config stored in the record (written to a temporary
   YAML file and read by :func:`~deepbench_hf.config.load_config`), and its hash must equal the
   recorded ``config_hash``;
4. with ``--regenerate N``: ``N`` rows per config, drawn deterministically from all its splits,
   are rebuilt with :func:`~deepbench_hf.generate.regenerate_row` and compared
   with the stored rows, bit for bit (Arrow IPC bytes of every column).

Each problem is one line naming the file and what is wrong; :func:`verify` returns them all.
There is one severity: any problem fails ``deepbench verify`` (exit 1) and ``deepbench push``.
"""

from __future__ import annotations

import fnmatch
import random
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from .errors import first_line
from .records import INFO_FILE, RecordError, read_record
from .signals import deferred_interrupts

DEFAULT_REGENERATE = 16
_CARD_SHARD = re.compile(
    r"^\| `(?P<path>[^`]+\.parquet)` \| (?P<rows>\d+) \| (?P<bytes>\d+) "
    r"\| `(?P<sha>[0-9a-f]{64})` \|$"
)


@dataclass
class Report:
    """What :func:`verify` checked and the problems it found (one line each)."""

    folder: Path
    configs: list[str] = field(default_factory=list)
    shards: int = 0
    rows_regenerated: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: what was verified."""
        text = (
            f"ok: {self.folder}: {len(self.configs)} config(s), {self.shards} shard(s) match "
            "their SHA-256"
        )
        if self.rows_regenerated:
            text += f"; {self.rows_regenerated} row(s) regenerated bit-identically from their seeds"
        return text


def read_card_yaml(readme: Path) -> dict[str, Any]:
    """The YAML metadata block at the top of a ``README.md`` (empty if none)."""
    text = readme.read_text()
    if not text.startswith("---"):
        return {}
    _, block, _ = text.split("---", 2) if text.count("---") >= 2 else ("", "", "")
    data = yaml.safe_load(block)
    return data if isinstance(data, dict) else {}


def card_checksums(readme: Path) -> dict[str, str]:
    """``{"<config>/<file>": sha256}`` from the card's provenance tables."""
    sums = {}
    for line in readme.read_text().splitlines():
        match = _CARD_SHARD.match(line.strip())
        if match:
            sums[match["path"]] = match["sha"]
    return sums


def _entries(metadata: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The ``configs`` or ``dataset_info`` entries of card metadata, by config name."""
    value = metadata.get(key) or []
    if isinstance(value, dict):  # the Hub's form for a single config
        value = [value]
    return {e.get("config_name", "default"): e for e in value if isinstance(e, dict)}


def _metadata_problems(
    readme: Path, card: dict[str, Any], expected: dict[str, Any], name: str
) -> list[str]:
    """Where the card's ``data_files`` or ``dataset_info`` of config ``name`` differ from
    ``expected``, the metadata its build record gives (what ``load_dataset`` reads: the files of
    each split, the features, the split sizes)."""
    problems = []
    want = _entries(expected, "configs")[name].get("data_files")
    have = _entries(card, "configs").get(name, {}).get("data_files")
    if have != want:
        problems.append(
            f"{readme}: the data_files of {name} differ from its {INFO_FILE} "
            f"(expected {yaml.safe_dump(want, default_flow_style=True, width=10**9).strip()})"
        )
    want_info = _entries(expected, "dataset_info")[name]
    have_info = _entries(card, "dataset_info").get(name)
    if have_info is None:
        problems.append(f"{readme}: has no dataset_info for {name}")
    else:
        keys = sorted(
            k for k in set(want_info) | set(have_info) if want_info.get(k) != have_info.get(k)
        )
        if "splits" in keys:  # split sizes by name; "splits" stays listed for any other change
            want, have = _splits(want_info), _splits(have_info)
            for split, n in want.items():
                if have.get(split, n) != n:
                    problems.append(
                        f"{readme}: {name}/{split} has {have[split]} examples in the card, "
                        f"{n} in {INFO_FILE}"
                    )
            if _splits(want_info, sized=False) == _splits(have_info, sized=False):
                keys.remove("splits")
        if keys:
            problems.append(
                f"{readme}: the dataset_info of {name} differs from its {INFO_FILE} in "
                f"{', '.join(keys)}"
            )
    return problems


def _splits(info: dict[str, Any], *, sized: bool = True) -> dict[str, Any]:
    """A ``dataset_info`` entry's splits by name: their ``num_examples``, or (``sized=False``)
    the rest of each split's fields."""
    splits = {s.get("name"): s for s in info.get("splits") or [] if isinstance(s, dict)}
    if sized:
        return {k: v.get("num_examples") for k, v in splits.items()}
    return {k: {f: x for f, x in v.items() if f != "num_examples"} for k, v in splits.items()}


def data_file_patterns(card: dict[str, Any], name: str, record: dict[str, Any]) -> list[str]:
    """The ``data_files`` patterns of config ``name``, relative to the folder.

    From the card's ``configs`` entry (a string, a list of strings, a ``{split: pattern}``
    mapping or a list of ``{split, path}`` entries); the patterns a build writes
    (``<config>/<split>-*.parquet``) when the card has none for it.
    """
    patterns: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str):
            patterns.append(value)
        elif isinstance(value, dict):
            add(value["path"] if "path" in value else list(value.values()))
        elif isinstance(value, list):
            for item in value:
                add(item)

    for entry in card.get("configs") or []:
        if isinstance(entry, dict) and entry.get("config_name") == name:
            add(entry.get("data_files"))
    if not patterns:
        patterns = [f"{name}/{split}-*.parquet" for split in record["splits"]]
    return patterns


def _stray_files(
    folder: Path, name: str, listed: set[str], patterns: list[str]
) -> list[tuple[Path, str | None]]:
    """Unlisted files of the config folder that match a pattern (with it) or are ``.parquet``.

    Hidden files are left out: neither ``load_dataset`` nor ``deepbench push`` reads them.
    """
    strays = []
    config_folder = folder / name
    if not config_folder.is_dir():
        return strays
    for path in sorted(config_folder.iterdir()):
        if not path.is_file() or path.name in listed or path.name.startswith("."):
            continue
        rel = f"{name}/{path.name}"
        match = next((p for p in patterns if fnmatch.fnmatchcase(rel, p.removeprefix("./"))), None)
        if match is not None or path.suffix == ".parquet":
            strays.append((path, match))
    return strays


def verify(
    folder: str | Path,
    *,
    regenerate: int = 0,
    configs: Sequence[str] | None = None,
) -> Report:
    """Verify a dataset folder; see the module docstring. Never raises for data problems."""
    from .card import card_data
    from .writer import file_sha256

    folder = Path(folder)
    report = Report(folder)
    problems = report.problems
    if not folder.is_dir():
        problems.append(f"{folder}: not a folder")
        return report
    readme = folder / "README.md"
    records: dict[str, dict[str, Any]] = {}
    damaged: dict[str, str] = {}  # config -> the problem with its record
    for info in sorted(folder.glob(f"*/{INFO_FILE}")):
        try:
            records[info.parent.name] = read_record(info)
        except OSError as exc:
            damaged[info.parent.name] = f"{info}: unreadable build record ({exc})"
        except RecordError as exc:
            damaged[info.parent.name] = str(exc)
    card: dict[str, Any] = {}
    sums: dict[str, str] = {}
    if not readme.is_file():
        problems.append(f"{readme}: missing (the dataset card declares the configs)")
    else:
        try:
            card = read_card_yaml(readme)
        except yaml.YAMLError as exc:
            problems.append(f"{readme}: invalid YAML metadata ({str(exc).splitlines()[0]})")
        sums = card_checksums(readme)
    declared = [c.get("config_name") for c in card.get("configs") or []]
    wanted = list(configs) if configs else sorted(set(records) | set(damaged) | set(declared))
    for name in wanted:
        if name in damaged:
            problems.append(damaged[name])
            continue
        if name not in records:
            where = "declared in README.md but " if name in declared else ""
            problems.append(f"{folder / name}: {where}no build record ({INFO_FILE})")
            continue
        if card and name not in declared:
            problems.append(f"{readme}: does not declare config {name} (rebuild to update it)")
        report.configs.append(name)
        record = records[name]
        if card and name in declared:
            try:  # this config's entries depend on its record alone
                expected = card_data({name: record}).to_dict()
            except Exception as exc:  # e.g. features datasets cannot read
                reason = first_line(exc)
                problems.append(f"{folder / name / INFO_FILE}: no card metadata follows ({reason})")
            else:
                problems.extend(_metadata_problems(readme, card, expected, name))
        listed = set()
        for split in record["splits"].values():
            for shard in split["shards"]:
                rel = f"{name}/{shard['filename']}"
                listed.add(shard["filename"])
                path = folder / rel
                report.shards += 1
                if not path.is_file():
                    problems.append(f"{path}: missing")
                    continue
                size = path.stat().st_size
                if size != shard["file_bytes"]:
                    problems.append(f"{path}: {size} bytes, {shard['file_bytes']} in {INFO_FILE}")
                digest = file_sha256(path)
                if digest != shard["sha256"]:
                    problems.append(
                        f"{path}: SHA-256 mismatch (recorded {shard['sha256'][:12]}…, "
                        f"file {digest[:12]}…)"
                    )
                if sums and sums.get(rel) not in (None, shard["sha256"]):
                    problems.append(f"{readme}: lists another SHA-256 for {rel} than {INFO_FILE}")
                elif sums and rel not in sums:
                    problems.append(f"{readme}: does not list the SHA-256 of {rel}")
        patterns = data_file_patterns(card, name, record)
        for extra, match in _stray_files(folder, name, listed, patterns):
            if match is not None:
                problems.append(
                    f"{extra}: not in {INFO_FILE} (load_dataset would read it: it matches "
                    f"the data_files pattern {match})"
                )
            else:
                problems.append(
                    f"{extra}: stray file, not in {INFO_FILE}; load_dataset ignores it (it "
                    f"matches none of {', '.join(patterns)}) but deepbench push would upload "
                    "it: remove it"
                )
        config = _reload(folder, record, problems)
        if regenerate > 0 and config is not None:
            report.rows_regenerated += _regenerate(folder, record, config, regenerate, problems)
    return report


def reload_config(record: dict[str, Any]) -> Any:
    """The :class:`~deepbench_hf.config.BuildConfig` of a build record's resolved config."""
    from .config import load_config

    with tempfile.TemporaryDirectory(prefix="deepbench-verify-") as tmp:
        path = Path(tmp) / f"{record['name']}.yaml"
        path.write_text(yaml.safe_dump(record["resolved_config"], sort_keys=False))
        return load_config(str(path))


def sample_rows(record: dict[str, Any], n: int) -> list[tuple[str, int]]:
    """``n`` ``(split, index)`` pairs over all splits, chosen from the config hash (repeatable)."""
    population = [
        (split, i) for split, s in record["splits"].items() for i in range(s["num_examples"])
    ]
    if n >= len(population):
        return population
    rng = random.Random(int(record["config_hash"][:16], 16))
    return sorted(rng.sample(population, n), key=population.index)


def _ipc(array: pa.ChunkedArray | pa.Array) -> bytes:
    table = pa.table({"c": array})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _reload(folder: Path, record: dict[str, Any], problems: list[str]) -> Any:
    """The record's resolved config, reloaded, if it hashes to the recorded ``config_hash``
    (else ``None``, and the problem is added)."""
    from .errors import DeepBenchError

    where = folder / record["name"] / INFO_FILE
    try:
        config = reload_config(record)
    except (DeepBenchError, ImportError, KeyError) as exc:
        problems.append(f"{where}: cannot reload the resolved config ({exc})")
        return None
    if config.config_hash != record["config_hash"]:
        problems.append(
            f"{where}: the resolved config hashes to {config.config_hash[:12]}…, recorded "
            f"{record['config_hash'][:12]}… (the record was edited, or this deepbench-hf "
            "reads the config differently)"
        )
        return None
    return config


def _regenerate(
    folder: Path, record: dict[str, Any], config: Any, n: int, problems: list[str]
) -> int:
    from .arrow import rows_to_table
    from .kinds import features_for
    from .numerics import run_portable

    name = record["name"]
    features = features_for(config)
    tables: dict[str, pa.Table | None] = {}
    checked = 0
    picks = sample_rows(record, n)
    # computed as a build computes them: code paths pinned (deepbench_hf.numerics)
    regenerated = run_portable(regenerate_rows, config, picks)
    for (split, index), row in zip(picks, regenerated, strict=True):
        shards = record["splits"][split]["shards"]
        start = 0
        for shard in shards:
            if index < start + shard["num_rows"]:
                break
            start += shard["num_rows"]
        path = folder / name / shard["filename"]
        if shard["filename"] not in tables:
            try:
                with deferred_interrupts():  # see deepbench_hf.signals
                    tables[shard["filename"]] = pq.read_table(path)
            except (OSError, pa.ArrowException) as exc:
                tables[shard["filename"]] = None
                problems.append(f"{path}: unreadable ({str(exc).splitlines()[0]})")
        stored_table = tables[shard["filename"]]
        if stored_table is None:
            continue
        fresh = rows_to_table([row], features)
        fresh = fresh.replace_schema_metadata(None)
        try:
            stored = stored_table.take([index - start]).replace_schema_metadata(None)
            stored = stored.select(fresh.column_names).cast(fresh.schema)
        except (KeyError, pa.ArrowException) as exc:
            problems.append(f"{path}: row {split}[{index}] has other columns or types ({exc})")
            continue
        differ = [c for c in fresh.column_names if _ipc(fresh.column(c)) != _ipc(stored.column(c))]
        checked += 1
        if differ:
            shown = ", ".join(differ[:6]) + (", …" if len(differ) > 6 else "")
            problems.append(
                f"{path}: row {split}[{index}] differs from its regeneration in {shown}"
            )
    return checked


def regenerate_rows(config: Any, picks: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """The rows ``(split, index)`` of ``config``, regenerated from their seeds."""
    from .generate import regenerate_row

    return [regenerate_row(config, split, index) for split, index in picks]


__all__ = [
    "DEFAULT_REGENERATE",
    "Report",
    "card_checksums",
    "data_file_patterns",
    "read_card_yaml",
    "regenerate_rows",
    "reload_config",
    "sample_rows",
    "verify",
]
