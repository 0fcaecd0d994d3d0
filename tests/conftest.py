"""Shared fixtures: small builds reused across test modules (built once per session).

The test process pins numpy's, OpenBLAS's and libm's code paths as builds do
(:mod:`deepbench_hf.numerics`), so that rows generated here are bit-identical to built ones on any
CPU; ``tests/test_numerics.py`` starts processes without the pins to test that builds from such
processes are unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _missing_pins() -> dict[str, str]:
    """The pinning variables (numpy's, OpenBLAS's and glibc libm's code paths) this process
    did not start with."""
    variables = json.loads(
        subprocess.run(
            [sys.executable, "-m", "deepbench_hf.portable", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return {k: v for k, v in variables.items() if os.environ.get(k) != v}


os.environ.pop("NPY_ENABLE_CPU_FEATURES", None)  # numerics.UNSET_VARIABLES
_MISSING_PINS = _missing_pins()
_RESTARTED = "DEEPBENCH_TEST_RESTARTED"


def pytest_configure(config: pytest.Config) -> None:
    """Restart this very command (``sys.orig_argv``: pytest, ``python -m pytest``, coverage, a
    script calling ``pytest.main``) once with the pins: glibc reads its tunables, numpy and
    OpenBLAS their variables, only when the process or the library starts."""
    if not _MISSING_PINS:
        return
    if os.environ.get(_RESTARTED):
        pytest.exit(
            f"could not start the tests with {sorted(_MISSING_PINS)} set; run them after "
            'eval "$(python -m deepbench_hf.portable --shell)"',
            returncode=4,
        )
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)  # give the new process the real stdout/stderr
    env = {**os.environ, **_MISSING_PINS, _RESTARTED: "1"}
    if os.name == "nt":  # no exec on Windows: run the command and pass its exit code on
        sys.stdout.flush()
        os._exit(subprocess.call([sys.executable, *sys.orig_argv[1:]], env=env))
    os.execve(sys.executable, sys.orig_argv, env)


from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from deepbench_hf import load_config  # noqa: E402
from deepbench_hf.writer import build_config  # noqa: E402

SMALL = {"train": 40, "validation": 12, "test": 12}


def small_config(name: str, *overrides: str, shard_size: int = 16):
    """A builtin config with tiny splits and small shards (several shards per split)."""
    return load_config(name, [f"shard_size={shard_size}", *overrides], splits=SMALL)


@pytest.fixture(scope="session")
def built_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset folder holding small shapes-easy and shapes-hard builds (num_proc=1)."""
    root = tmp_path_factory.mktemp("built")
    out = root / "deepbench"
    for name in ("shapes-easy", "shapes-hard"):
        build_config(small_config(name), out, num_proc=1, progress=False)
    return out


def read_split(folder: Path, split: str):
    """The rows of one split's shards, in shard order, as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob(f"{split}-*.parquet"))])


def same_rows(a, b) -> bool:
    """Exact equality of two tables' rows, NaN == NaN (compares the Arrow IPC bytes)."""
    import pyarrow as pa

    def blob(table) -> bytes:
        table = table.replace_schema_metadata(None).combine_chunks()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    # Parquet names list children "element" where Arrow says "item": align the schemas first.
    return blob(a) == blob(b.cast(a.schema.remove_metadata()))


def digests(folder: Path, pattern: str = "*.parquet") -> dict[str, str]:
    """SHA-256 of every file matching ``pattern`` below ``folder``, by relative path."""
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob(pattern))
        if p.is_file()
    }
