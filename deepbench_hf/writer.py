"""Write a config's Parquet shards into the Hub layout, atomically and in parallel.

Layout of an output folder ``DIR``::

    DIR/README.md                                  # dataset card: YAML configs + dataset_info
    DIR/<config>/<split>-NNNNN-of-MMMMM.parquet    # shards
    DIR/<config>/deepbench.json                    # what the builder wrote (the card reads it)

A shard is a pure function of (config, split, shard index): shard ``i`` holds examples
``[i * shard_size, min((i + 1) * shard_size, n))``. Shards are therefore bit-identical whatever
the number of processes that write them.

Atomicity: shards are written into a hidden staging folder beside ``DIR``
(``.<DIR name>.deepbench-staging/<config>``). Only when every shard is complete is the config folder
moved into ``DIR`` and the card replaced. A failed build removes its staging folder; a killed build
leaves it, and the next build of the same resolved config reuses the complete shards in it.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .arrow import rows_to_table
from .config import SPLIT_NAMES, BuildConfig
from .errors import BuildError
from .generate import generate_rows
from .kinds import features_for

META_KEY = b"deepbench"
INFO_FILE = "deepbench.json"


@dataclass(frozen=True)
class ShardSpec:
    """One shard to write: examples ``start <= index < stop`` of ``split``."""

    split: str
    index: int
    count: int
    start: int
    stop: int

    @property
    def filename(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"


@dataclass(frozen=True)
class ShardResult:
    """What was written: file name, rows, Arrow bytes (uncompressed), file bytes, SHA-256."""

    split: str
    filename: str
    num_rows: int
    num_bytes: int
    file_bytes: int
    sha256: str


def plan_shards(config: BuildConfig) -> list[ShardSpec]:
    """Every shard of every non-empty split, in a fixed order."""
    shards = []
    for split in SPLIT_NAMES:
        n = config.splits.get(split, 0)
        count = math.ceil(n / config.shard_size)
        for i in range(count):
            start = i * config.shard_size
            shards.append(ShardSpec(split, i, count, start, min(start + config.shard_size, n)))
    return shards


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shard_meta(config: BuildConfig, shard: ShardSpec) -> dict[str, Any]:
    return {
        "config": config.name,
        "config_hash": config.config_hash,
        "split": shard.split,
        "start": shard.start,
        "stop": shard.stop,
    }


def write_shard(config: BuildConfig, shard: ShardSpec, folder: Path) -> ShardResult:
    """Generate and write one shard (reusing an identical complete one already in ``folder``)."""
    path = folder / shard.filename
    meta = _shard_meta(config, shard)
    reused = _reuse(path, meta)
    if reused is not None:
        return reused
    features = features_for(config)
    rows = [row for _, row in generate_rows(config, shard.split, shard.start, shard.stop)]
    table = rows_to_table(rows, features)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_KEY] = json.dumps(meta, sort_keys=True).encode()
    table = table.replace_schema_metadata(schema_meta)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(
        table,
        partial,
        row_group_size=config.row_group_size,
        compression="zstd",
        write_page_index=True,
    )
    os.replace(partial, path)
    return ShardResult(
        shard.split,
        shard.filename,
        table.num_rows,
        table.nbytes,
        path.stat().st_size,
        file_sha256(path),
    )


def _reuse(path: Path, meta: dict[str, Any]) -> ShardResult | None:
    if not path.is_file():
        return None
    try:
        parquet = pq.ParquetFile(path)
        stored = json.loads(parquet.schema_arrow.metadata[META_KEY])
        if stored != meta or parquet.metadata.num_rows != meta["stop"] - meta["start"]:
            return None
        num_bytes = parquet.read().nbytes
    except Exception:  # an unreadable leftover is simply rewritten
        return None
    return ShardResult(
        meta["split"],
        path.name,
        parquet.metadata.num_rows,
        num_bytes,
        path.stat().st_size,
        file_sha256(path),
    )


def _write_shard_task(args: tuple[BuildConfig, ShardSpec, str]) -> ShardResult:
    config, shard, folder = args
    return write_shard(config, shard, Path(folder))


def _run_shards(
    config: BuildConfig,
    shards: list[ShardSpec],
    folder: Path,
    num_proc: int,
    on_done: Callable[[ShardSpec], None],
) -> list[ShardResult]:
    results: dict[ShardSpec, ShardResult] = {}
    if num_proc <= 1 or len(shards) <= 1:
        for shard in shards:
            results[shard] = write_shard(config, shard, folder)
            on_done(shard)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=num_proc, mp_context=context) as pool:
            futures = {pool.submit(_write_shard_task, (config, s, str(folder))): s for s in shards}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                on_done(futures[future])
    return [results[s] for s in shards]


def staging_root(out_dir: Path) -> Path:
    """The hidden folder beside ``out_dir`` where builds are staged."""
    return out_dir.parent / f".{out_dir.name}.deepbench-staging"


def _check_writable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise BuildError(f"--out {out_dir}: exists and is not a folder")
    parent = out_dir if out_dir.exists() else out_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError(f"--out {out_dir}: cannot write to {parent} (permission denied)")
    readme = out_dir / "README.md"
    if out_dir.is_dir() and any(out_dir.iterdir()) and not readme.is_file():
        raise BuildError(
            f"--out {out_dir}: folder is not empty and has no README.md; "
            "choose an empty folder or one written by deepbench build"
        )


def build_config(
    config: BuildConfig,
    out_dir: str | os.PathLike[str],
    *,
    num_proc: int = 1,
    progress: bool | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Build one config into ``out_dir`` (Hub layout) and update its dataset card.

    Parameters
    ----------
    config
        The resolved config (:func:`deepbench_hf.config.load_config`).
    out_dir
        The dataset folder; created if missing. Other configs already in it are kept.
    num_proc
        Worker processes; the output is bit-identical for any value.
    progress
        Show a progress bar (default: when stderr is a terminal).
    command
        The command line recorded in the card as "how to regenerate".

    Returns
    -------
    dict
        The build record written to ``<config>/deepbench.json``.
    """
    from .card import build_record, write_card  # the card module needs jinja2/hub: import late

    out = Path(out_dir)
    if num_proc < 1:
        raise BuildError(f"--num-proc: must be >= 1, got {num_proc}")
    _check_writable(out)
    stage = staging_root(out) / config.name
    shards = plan_shards(config)
    total = sum(s.stop - s.start for s in shards)
    try:
        stage.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(
            f"--out {out}: cannot write to {out.parent} ({exc.strerror or exc})"
        ) from None
    try:
        for leftover in stage.iterdir():
            if leftover.name not in {s.filename for s in shards}:
                _remove(leftover)
        with _progress_bar(total, config.name, progress) as advance:
            results = _run_shards(
                config, shards, stage, num_proc, lambda s: advance(s.stop - s.start)
            )
        record = build_record(config, [asdict(r) for r in results], command=command)
        (stage / INFO_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        card = staging_root(out) / "README.md"
        write_card(out, card, staged={config.name: stage})
        _swap_in(stage, out / config.name)
        os.replace(card, out / "README.md")
    except BaseException:
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            _remove(stage)
        raise
    finally:
        root = staging_root(out)
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
    return record


def _swap_in(stage: Path, target: Path) -> None:
    old = stage.with_name(stage.name + ".old")
    if target.exists():
        _remove(old)
        os.replace(target, old)
    os.replace(stage, target)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


class _progress_bar:
    """A tqdm bar on a terminal (or when forced), a no-op otherwise."""

    def __init__(self, total: int, name: str, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total, self.name = total, name
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.total, desc=f"build {self.name}", unit="ex", dynamic_ncols=True
            )
            return self.bar.update
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def read_records(out_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(config name, build record)`` for each config folder in ``out_dir``."""
    for info in sorted(out_dir.glob(f"*/{INFO_FILE}")):
        yield info.parent.name, json.loads(info.read_text())


__all__ = ["ShardResult", "ShardSpec", "build_config", "pa", "plan_shards", "write_shard"]
