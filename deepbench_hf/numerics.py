"""Portable numerics: dataset rows whose bits do not depend on the CPU that computed them.

numpy chooses, when it is imported, the fastest code path of each ufunc for the CPU it runs on
(SIMD dispatch, e.g. AVX2 or AVX-512 on x86-64), and the transcendental functions of those paths
(``exp``, ``log``, ``power``, ``expm1``, ``log1p``, ``tan``, ``arctan2``, ...) round differently
from the baseline path by about an ulp. Measured on an AVX-512 machine: the same config and seed
gave sky and lensing images differing in a third to three quarters of their pixels (at float32
rounding, ~1e-7 relative) and N-body trajectories differing at 1e-11 and growing, depending only
on whether numpy's AVX-512 and AVX2 paths were enabled.

So every row that is stored is computed by numpy's **baseline** code (the instruction set the
numpy wheel requires of every CPU, e.g. ``X86_V2`` on x86-64): builds run their shards, and
``deepbench verify --regenerate`` its rows, in processes started with
``NPY_DISABLE_CPU_FEATURES`` naming every dispatched target (:func:`portable_environ`), unless the
current process already is one (:func:`is_portable`). The cost is ~10-20 % of a row's time.

Still machine-dependent, and recorded in every build record (:func:`numeric_platform`): the CPU
architecture and numpy's baseline there (aarch64 runs other code than x86-64), the numpy and
scipy versions, and the C library's math functions (glibc picks FMA variants of ``exp``,
``log``, ``pow`` per CPU; they are correctly rounded in all but rare cases).

In-process calls (:func:`deepbench_hf.generate.generate_rows`, ``regenerate_row``,
``render_clean_from_row``) use the process's numpy as it is: bit-identical to built data when
:func:`is_portable` is true (e.g. with :func:`portable_environ`'s variable exported before Python
starts), equal to round-off otherwise.
"""

from __future__ import annotations

import os
import pickle
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .errors import BuildError

__all__ = [
    "DISABLE_VARIABLE",
    "dispatched_targets",
    "enabled_targets",
    "is_portable",
    "numeric_platform",
    "portable_environ",
    "portable_environment",
    "run_portable",
]

DISABLE_VARIABLE = "NPY_DISABLE_CPU_FEATURES"
"""The environment variable numpy reads at import: the dispatched targets it must not use."""

T = TypeVar("T")


def _umath() -> Any:
    try:
        from numpy._core import _multiarray_umath  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.26
        from numpy.core import _multiarray_umath  # type: ignore[no-redef]
    return _multiarray_umath


def dispatched_targets() -> list[str]:
    """The SIMD targets this numpy build can dispatch to above its baseline (whether or not this
    CPU has them), e.g. ``['X86_V3', 'X86_V4', 'AVX512_ICL', 'AVX512_SPR']``."""
    return list(_umath().__cpu_dispatch__)


def enabled_targets() -> list[str]:
    """The dispatched targets this process's numpy uses (empty when it runs its baseline only)."""
    features = _umath().__cpu_features__
    return [target for target in dispatched_targets() if features.get(target)]


def is_portable() -> bool:
    """Whether this process's numpy runs its baseline code only (its rows are portable)."""
    return not enabled_targets()


def portable_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with numpy's dispatched targets disabled, for a new
    Python process whose numpy then runs its baseline code only."""
    env = dict(os.environ if environ is None else environ)
    env[DISABLE_VARIABLE] = " ".join(dispatched_targets())
    return env


@contextmanager
def portable_environment() -> Iterator[None]:
    """Within the block, processes started by ``multiprocessing`` (spawn) inherit
    :func:`portable_environ`; this process's numpy is unchanged. Not thread-safe: it sets
    ``os.environ``."""
    previous = os.environ.get(DISABLE_VARIABLE)
    os.environ[DISABLE_VARIABLE] = portable_environ()[DISABLE_VARIABLE]
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(DISABLE_VARIABLE, None)
        else:
            os.environ[DISABLE_VARIABLE] = previous


def numeric_platform() -> dict[str, Any]:
    """What the bits of a portable row depend on, as recorded in every build record: the CPU
    architecture, numpy's baseline there, and the numpy and scipy versions."""
    import scipy

    return {
        "machine": platform.machine(),
        "numpy": np.__version__,
        "numpy_baseline": list(_umath().__cpu_baseline__),
        "scipy": scipy.__version__,
    }


def run_portable(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, computed by numpy's baseline code: here if this process is portable,
    else in a new Python process started with :func:`portable_environ` (``function``, its
    arguments and its result must pickle). An exception in the child is raised here again."""
    if is_portable():
        return function(*args)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = portable_environ()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="deepbench-portable-") as folder:
        task, result = Path(folder, "task.pickle"), Path(folder, "result.pickle")
        task.write_bytes(pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL))
        completed = subprocess.run(
            [sys.executable, "-m", __name__, str(task), str(result)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if not result.exists():
            tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise BuildError(
                f"portable worker process failed (exit {completed.returncode}): "
                f"{tail[0] if tail else 'no output'}"
            )
        ok, value = pickle.loads(result.read_bytes())
    if not ok:
        raise value
    return value


def _main(task: str, result: str) -> None:
    """Child side of :func:`run_portable`: run the pickled call, pickle its outcome."""
    function, args = pickle.loads(Path(task).read_bytes())
    try:
        if not is_portable():
            raise BuildError(f"{DISABLE_VARIABLE} did not disable numpy's {enabled_targets()}")
        outcome: tuple[bool, Any] = (True, function(*args))
    except Exception as exc:  # handed back to the parent, which raises it
        outcome = (False, exc)
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception that does not pickle
        data = pickle.dumps((False, BuildError(f"{type(exc).__name__}: {exc}")))
    Path(result).write_bytes(data)


if __name__ == "__main__":
    _main(*sys.argv[1:3])
