"""Write a config's Parquet shards into the Hub layout: atomic, resumable, parallel or distributed.

Layout of an output folder ``DIR`` (a local path or any fsspec URL, e.g. ``s3://bucket/deepbench``)::

    DIR/README.md                                  # dataset card: YAML configs + dataset_info
    DIR/<config>/<split>-NNNNN-of-MMMMM.parquet    # shards
    DIR/<config>/deepbench.json                    # the build record (the card reads it)

A shard is a pure function of (config, split, shard index): shard ``i`` holds examples
``[i * shard_size, min((i + 1) * shard_size, n))``. Shards are therefore bit-identical whatever
runs them: one process, ``num_proc`` local processes, or the workers of a Dask cluster. Their rows
are computed with the code paths of numpy, OpenBLAS and libm pinned, whatever the CPU
(:mod:`deepbench_hf.numerics`): local builds run shards in worker processes started that way
(one, for ``num_proc=1``, when the building process is not), and a Dask task on an unpinned
worker hands its shard to such a process.

Atomicity: shards are written into a hidden staging folder beside ``DIR``
(``.<DIR name>.deepbench-staging/<config>``). Only when every shard is complete is the config folder
moved into ``DIR`` and the card replaced (on object stores a "move" is a copy, so atomicity there is
per file). A failed build removes its staging folder; a killed build leaves it, and the next build
of the same resolved config reuses the complete shards in it (each shard records its config hash and
example range in its Parquet metadata; anything else is rewritten).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from .arrow import rows_to_table, table_num_bytes
from .config import SPLIT_NAMES, BuildConfig
from .errors import BuildError
from .generate import generate_rows
from .kinds import features_for
from .numerics import (
    is_portable,
    pinning_problems,
    portable_caller,
    portable_environment,
    run_portable,
)
from .records import INFO_FILE, parse_record
from .signals import deferred_interrupts

META_KEY = b"deepbench"
STAGING_SUFFIX = ".deepbench-staging"


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
    unpinned: tuple[str, ...] = ()
    """What the process that computed the rows could not pin (:mod:`deepbench_hf.numerics`)."""


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


def _shard_meta(config: BuildConfig, shard: ShardSpec) -> dict[str, Any]:
    return {
        "config": config.name,
        "config_hash": config.config_hash,
        "split": shard.split,
        "start": shard.start,
        "stop": shard.stop,
    }


def shard_bytes(config: BuildConfig, shard: ShardSpec) -> tuple[bytes, int]:
    """Generate one shard; returns the Parquet file's bytes and the table's Arrow size
    (:func:`~deepbench_hf.arrow.table_num_bytes`, as a reused shard reads it back)."""
    rows = [row for _, row in generate_rows(config, shard.split, shard.start, shard.stop)]
    table = rows_to_table(rows, features_for(config))
    metadata = dict(table.schema.metadata or {})
    metadata[META_KEY] = json.dumps(_shard_meta(config, shard), sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    strings, floats = _leaf_columns(table.schema)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        row_group_size=config.row_group_size,
        compression="zstd",
        # Dictionaries pay off only for strings; pixels and truth values compress better (and
        # faster) as plain zstd, floats with their bytes split by significance.
        use_dictionary=strings,
        use_byte_stream_split=floats,
        write_page_index=True,
    )
    return sink.getvalue().to_pybytes(), table_num_bytes(table)


def _leaf_columns(schema: pa.Schema) -> tuple[list[str], list[str]]:
    """Parquet paths of the string leaves and of the floating-point leaves of ``schema``."""
    strings: list[str] = []
    floats: list[str] = []

    def walk(path: str, kind: pa.DataType) -> None:
        if isinstance(kind, pa.ExtensionType):
            kind = kind.storage_type
        if (
            pa.types.is_list(kind)
            or pa.types.is_large_list(kind)
            or pa.types.is_fixed_size_list(kind)
        ):
            walk(f"{path}.list.element", kind.value_type)
        elif pa.types.is_struct(kind):
            for i in range(kind.num_fields):
                walk(f"{path}.{kind.field(i).name}", kind.field(i).type)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            strings.append(path)
        elif pa.types.is_floating(kind):
            floats.append(path)

    for field in schema:
        walk(field.name, field.type)
    return strings, floats


def write_shard(config: BuildConfig, shard: ShardSpec, stage_url: str) -> ShardResult:
    """Generate and write one shard into ``stage_url`` (reusing an identical complete one there).

    Runs anywhere: in this process, a local worker process, or a Dask worker that can reach
    ``stage_url``. A process whose code paths are not pinned generates the shard in a pinned
    child process (:func:`~deepbench_hf.numerics.run_portable`).
    """
    if not is_portable():
        return run_portable(write_shard, config, shard, stage_url)
    fs, stage = fsspec.core.url_to_fs(stage_url)
    path = f"{stage}/{shard.filename}"
    reused = _reuse(fs, path, _shard_meta(config, shard))
    if reused is not None:
        return reused
    data, num_bytes = shard_bytes(config, shard)  # one BLAS thread per row (generate_rows)
    partial = f"{path}.partial"
    fs.pipe_file(partial, data)
    fs.mv(partial, path)
    return ShardResult(
        shard.split,
        shard.filename,
        shard.stop - shard.start,
        num_bytes,
        len(data),
        hashlib.sha256(data).hexdigest(),
        tuple(pinning_problems()),
    )


def _reuse(fs: fsspec.AbstractFileSystem, path: str, meta: dict[str, Any]) -> ShardResult | None:
    if not fs.exists(path):
        return None
    try:
        data = fs.cat_file(path)
        parquet = pq.ParquetFile(pa.BufferReader(data))
        stored = json.loads(parquet.schema_arrow.metadata[META_KEY])
        if stored != meta or parquet.metadata.num_rows != meta["stop"] - meta["start"]:
            return None
        with deferred_interrupts():  # see deepbench_hf.signals
            num_bytes = table_num_bytes(parquet.read())
    except Exception:  # an unreadable leftover is simply rewritten
        return None
    return ShardResult(
        meta["split"],
        path.rsplit("/", 1)[-1],
        parquet.metadata.num_rows,
        num_bytes,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


def _run_local(
    config: BuildConfig,
    shards: list[ShardSpec],
    stage_url: str,
    num_proc: int,
    on_done: Callable[[ShardSpec, ShardResult], None],
) -> None:
    if num_proc <= 1 or len(shards) <= 1:
        with portable_caller() as call:  # here, or in one portable worker process
            for shard in shards:
                on_done(shard, call(write_shard, config, shard, stage_url))
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(num_proc, len(shards)),
        mp_context=context,
        initializer=_worker_started,
        initargs=(os.getpid(),),
    )
    try:
        # Workers start with the code paths pinned (as shards are submitted), so that their rows
        # do not depend on the CPU.
        with portable_environment():
            futures = {pool.submit(write_shard, config, s, stage_url): s for s in shards}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    except BaseException:
        # Ctrl-C or a failed shard: stop now rather than after the shards under way. A killed
        # worker leaves at most a .partial file, which a resumed build rewrites.
        workers = list(getattr(pool, "_processes", {}).values())  # no public API before 3.14
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()
        raise
    pool.shutdown(wait=True)


def _worker_started(parent: int) -> None:
    """Worker initializer. Ctrl-C reaches the whole process group; the parent alone handles it
    (and stops the workers), so the workers ignore it and print no tracebacks. A parent that is
    killed outright (SIGKILL) cannot stop them, and they would wait for work forever (each
    holds the task queue open): on Linux they ask to be sent SIGTERM when it dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def _run_dask(
    config: BuildConfig,
    shards: list[ShardSpec],
    stage_url: str,
    client: Any,
    on_done: Callable[[ShardSpec, ShardResult], None],
) -> None:
    from distributed import as_completed as dask_completed

    futures = {
        client.submit(write_shard, config, s, stage_url, pure=False, key=f"deepbench-{i}-{s}"): s
        for i, s in enumerate(shards)
    }
    for future in dask_completed(list(futures)):
        on_done(futures[future], future.result())


def _is_url(out: str) -> bool:
    protocol = fsspec.core.split_protocol(out)[0]
    return protocol not in (None, "file", "local")


def staging_root(out_dir: str | Path) -> str | Path:
    """The hidden folder beside ``out_dir`` where builds are staged (same type as ``out_dir``)."""
    if isinstance(out_dir, Path):
        return out_dir.parent / f".{out_dir.name}{STAGING_SUFFIX}"
    parent, _, name = str(out_dir).rstrip("/").rpartition("/")
    return f"{parent}/.{name}{STAGING_SUFFIX}"


def _check_local_output(out: Path, name: str) -> None:
    """Refuse, before building, a local ``out`` that is not a folder, holds foreign files, or
    where the staging folder beside it, the folder itself or its config ``name`` cannot be
    written (moving a folder to another parent needs write access to the folder itself)."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: exists and is not a folder")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        where = "the staging folder beside it" if parent == out.parent else "it"
        raise BuildError(f"--out {out}: cannot create {where} ({parent}: {_unwritable(parent)})")
    for folder in (out, out / name):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise BuildError(f"--out {out}: cannot write {folder} ({_unwritable(folder)})")
    written_by_us = (out / "README.md").is_file() and any(out.glob("*/deepbench.json"))
    if out.is_dir() and any(out.iterdir()) and not written_by_us:
        raise BuildError(
            f"--out {out}: folder is not empty and was not written by deepbench build (no "
            "README.md with <config>/deepbench.json beside it); choose an empty or new folder"
        )


def _unwritable(folder: Path) -> str:
    """Why ``folder`` cannot be written: its file system is read-only, or permission denied."""
    read_only = getattr(os, "ST_RDONLY", 0)
    if read_only and hasattr(os, "statvfs") and os.statvfs(folder).f_flag & read_only:
        return "read-only file system"
    return "permission denied"


def build_config(
    config: BuildConfig,
    out_dir: str | Path,
    *,
    num_proc: int = 1,
    client: Any = None,
    progress: bool | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Build one config into ``out_dir`` (Hub layout) and update its dataset card.

    Parameters
    ----------
    config
        The resolved config (:func:`deepbench_hf.config.load_config`).
    out_dir
        The dataset folder: a local path or an fsspec URL; created if missing. Other configs
        already in it are kept.
    num_proc
        Local worker processes (ignored with ``client``). The output is bit-identical for any value.
    client
        A ``dask.distributed.Client``: shards become Dask tasks on its cluster, and the workers
        write them to ``out_dir`` directly (so it must be reachable from them). Bit-identical to a
        local build.
    progress
        Show a progress bar (default: when stderr is a terminal).
    command
        The command line recorded in the card as "how to regenerate".

    Returns
    -------
    dict
        The build record written to ``<config>/deepbench.json``.
    """
    if num_proc < 1:
        raise BuildError(f"--num-proc: must be >= 1, got {num_proc}")
    out_text = str(out_dir).rstrip("/") or "/"
    if not _is_url(out_text):
        shown = os.path.abspath(fsspec.core.strip_protocol(out_text))  # also folds "a/.."
        out_text = _staging_side(shown)
        _check_local_output(Path(out_text), config.name)
        card_name = os.path.basename(shown)
    try:
        fs, out = fsspec.core.url_to_fs(out_text)
    except (ImportError, ValueError) as exc:  # e.g. s3:// without s3fs, an unknown protocol
        raise BuildError(f"--out {out_dir}: {_reason(exc)}") from None
    if _is_url(out_text):
        card_name = out.rstrip("/").rsplit("/", 1)[-1]
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    elsewhere = client is not None or num_proc > 1 or not is_portable()
    if "memory" in protocols and elsewhere:
        raise BuildError(
            f"--out {out_dir}: shards would be written by other processes (worker processes, "
            "Dask workers, or the pinned child process of a process without the pins of "
            "'python -m deepbench_hf.portable --shell'), which cannot write into this process's "
            "memory; write to a folder or URL instead"
        )
    for _ in _read_records(fs, out, skip=config.name):  # the card needs them: fail now
        pass
    root = str(staging_root(out))
    stage = f"{root}/{config.name}"
    stage_url = fs.unstrip_protocol(stage) if _is_url(out_text) else stage
    shards = plan_shards(config)
    try:
        fs.makedirs(stage, exist_ok=True)
    except Exception as exc:
        raise BuildError(f"--out {out_dir}: cannot write there ({_reason(exc)})") from None
    # One build per config and folder at a time: a second would share, and delete, its stage.
    try:
        lock = _lock(stage, wait=False) if not _is_url(out_text) else None
    except _Locked:
        raise BuildError(
            f"--out {out_dir}: another build of {config.name} is writing there (its staging "
            f"folder {stage} is locked); wait for it to finish, or build into another folder"
        ) from None
    try:
        wanted = {s.filename for s in shards}
        for leftover in fs.ls(stage, detail=False):
            if leftover.rstrip("/").rsplit("/", 1)[-1] not in wanted:
                fs.rm(leftover, recursive=True)
        results: dict[ShardSpec, ShardResult] = {}
        with _progress_bar(sum(s.stop - s.start for s in shards), config.name, progress) as bar:

            def done(shard: ShardSpec, result: ShardResult) -> None:
                results[shard] = result
                bar(shard.stop - shard.start)

            if client is not None:
                _run_dask(config, shards, stage_url, client, done)
            else:
                _run_local(config, shards, stage_url, num_proc, done)
        record = _finish(fs, out, stage, config, [results[s] for s in shards], command, card_name)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt) and fs.exists(stage):
            fs.rm(stage, recursive=True)
        if isinstance(exc, OSError):  # e.g. a full disk: say what was being built, and where
            raise BuildError(f"{config.name}: writing {out_dir} failed: {_reason(exc)}") from None
        raise
    finally:
        if lock is not None:
            os.close(lock)
        try:  # another config's build may be staging there now
            if fs.exists(root) and not fs.ls(root, detail=False):
                fs.rmdir(root)
        except OSError:
            pass
    return record


def _staging_side(path: str) -> str:
    """Where to stage a build into the local folder ``path``: beside its real folder when
    ``path`` is a symlink (moving the built config in is then a rename, also when the link
    points to another file system) and that folder's parent can be written; else beside
    ``path`` itself (moving in may then be a copy)."""
    real = os.path.realpath(path)
    parent = os.path.dirname(real)
    if real != path and os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
        return real
    return path


class _Locked(Exception):
    """Another process holds the lock."""


def _lock(folder: str, *, wait: bool) -> int | None:
    """An exclusive ``flock`` on a local ``folder``: its descriptor (closing it releases the
    lock), or ``None`` where the file system has no locks (Windows, some NFS, FUSE or CIFS
    mounts: builds there are not guarded). Without ``wait``, raises :class:`_Locked` if another
    process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise _Locked(folder) from None
    except OSError:  # ENOLCK, EOPNOTSUPP, ...: no locking here
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def _folder_locked(fs: fsspec.AbstractFileSystem, folder: str) -> Iterator[None]:
    """Wait for and hold an exclusive lock on a local ``folder`` (a no-op elsewhere): builds of
    different configs into one folder then rewrite its card one after another, each from all
    the records there."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    fd = _lock(folder, wait=True) if "file" in protocols else None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _finish(
    fs: fsspec.AbstractFileSystem,
    out: str,
    stage: str,
    config: BuildConfig,
    results: list[ShardResult],
    command: str | None,
    card_name: str,
) -> dict[str, Any]:
    """Write the record and card (titled ``card_name``, the folder's name as given), then move
    the staged config folder into place."""
    from .card import build_record  # jinja2 + hub: import only when finishing
    from .preview import write_preview

    record = build_record(config, [asdict(r) for r in results], command=command)
    fs.pipe_file(f"{stage}/{INFO_FILE}", _json_bytes(record))
    write_preview(stage, record, fs=fs)  # <config>/preview.png, linked from the card
    fs.makedirs(out, exist_ok=True)
    with _folder_locked(fs, out):
        _move_in(fs, out, stage, config, record, card_name)
    return record


def _move_in(
    fs: fsspec.AbstractFileSystem,
    out: str,
    stage: str,
    config: BuildConfig,
    record: dict[str, Any],
    card_name: str,
) -> None:
    """Render the card from every record in ``out``, then move the staged config and the card
    into place (restoring the previous config folder if a move fails)."""
    from .card import render_card

    records = dict(_read_records(fs, out, skip=config.name))
    records[config.name] = record
    card = render_card(dict(sorted(records.items())), card_name)
    # The card is written beside its final name first; only renames remain after that, and if
    # one fails, the config folder that was there before is put back.
    card_partial = f"{out}/.README.md.partial"
    try:
        fs.pipe_file(card_partial, card.encode())
    except BaseException:  # e.g. a full disk: no partial card left in the folder
        if fs.exists(card_partial):
            fs.rm(card_partial)
        raise
    target = f"{out}/{config.name}"
    old = f"{stage}.old"
    if fs.exists(old):
        fs.rm(old, recursive=True)
    replaced = fs.exists(target)
    moving_in = False
    try:
        if replaced:
            fs.mv(target, old, recursive=True)
        moving_in = True
        fs.mv(stage, target, recursive=True)
        fs.mv(card_partial, f"{out}/README.md")
    except BaseException:
        if fs.exists(card_partial):
            fs.rm(card_partial)
        if moving_in and fs.exists(target):  # the new folder, perhaps moved in part
            fs.rm(target, recursive=True)
        if replaced and fs.exists(old) and not fs.exists(target):
            fs.mv(old, target, recursive=True)
        raise
    if replaced:
        fs.rm(old, recursive=True)


def _json_bytes(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and not exc.strerror:  # fsspec: the path alone
        return f"no such file or folder: {exc}"
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        failures = exc.args[0]  # a folder copied across filesystems: (src, dst, why) per file
        if failures and len(failures[0]) == 3:
            more = f" and {len(failures) - 1} more files" if len(failures) > 1 else ""
            return f"{failures[0][2]} (copying {failures[0][0]}{more})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _read_records(
    fs: fsspec.AbstractFileSystem, out: str, skip: str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The folder's records, but ``skip``'s (the config being rebuilt, whose record may be the
    damaged one)."""
    if not fs.exists(out):
        return
    for info in sorted(fs.glob(f"{out}/*/{INFO_FILE}")):
        name = info.rstrip("/").rsplit("/", 2)[-2]
        if name != skip:
            yield name, parse_record(fs.cat_file(info), info)


def read_records(out_dir: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(config name, build record)`` for each config in a dataset folder (path or fsspec URL)."""
    fs, out = fsspec.core.url_to_fs(str(out_dir))
    yield from _read_records(fs, out)


def build_many(configs: Iterable[BuildConfig], out_dir: str | Path, **kwargs: Any) -> list[dict]:
    """Build several configs into one folder (a collection), one after the other."""
    return [build_config(config, out_dir, **kwargs) for config in configs]


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


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (local path or fsspec URL)."""
    digest = hashlib.sha256()
    with fsspec.open(str(path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = [
    "ShardResult",
    "ShardSpec",
    "build_config",
    "build_many",
    "file_sha256",
    "plan_shards",
    "read_records",
    "shard_bytes",
    "staging_root",
    "write_shard",
]
