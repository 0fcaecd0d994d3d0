"""Portable numerics: dataset rows whose bits do not depend on the CPU that computed them.

Three libraries choose their code for the CPU they run on, when they are loaded:

* numpy's ufuncs (SIMD dispatch, e.g. AVX2 or AVX-512 on x86-64): the transcendental functions
  of those paths (``exp``, ``log``, ``power``, ``expm1``, ``log1p``, ``tan``, ``arctan2``, ...)
  round differently from the baseline path by about an ulp;
* OpenBLAS's kernels (the matrix products of pixel integration, the separable PSF convolution
  and the lensing refinement): each CPU family's kernel sums in its own order;
* glibc's libm (called by numpy's baseline code and Python's ``math``): its FMA variants of
  ``exp``, ``log``, ``pow``, ``sin``, ... differ from the SSE2 ones in ~0.1 % of the values.

Measured on an AVX-512 machine: the same config and seed gave sky and lensing images differing
in a third to three quarters of their pixels (at float32 rounding, ~1e-7 relative) and N-body
orbits differing at 1e-11 and growing, depending only on numpy's SIMD paths; and, with numpy's
paths fixed, sky and lensing images differing in ~3 % of their pixels between OpenBLAS's
SkylakeX and Haswell kernels; and, with both fixed, float64 truth (S/N, flux in frame, lensed
source) differing at 1e-16 between libm's variants.

So every row that is stored is computed with all three pinned (:func:`portable_variables`):
numpy runs its **baseline** code (the instruction set its wheel requires of every CPU,
``X86_V2`` on x86-64: ``NPY_DISABLE_CPU_FEATURES`` names every dispatched target); on x86-64,
OpenBLAS its ``Nehalem`` kernels (``OPENBLAS_CORETYPE``; MKL, where numpy uses it, its
``MKL_CBWR=COMPATIBLE`` mode) and glibc's libm its SSE2 variants (:data:`GLIBC_HWCAPS`); with
one BLAS thread (:func:`single_threaded_blas`: threaded kernels split their sums by the thread
count). Builds run their shards, and ``deepbench verify --regenerate`` its rows, in processes
started that way, unless the current process already is one (:func:`is_portable`). The cost is
~15-30 % of a row's time, most of it numpy's.

Still machine-dependent, and recorded in every build record (:func:`numeric_platform`): the CPU
architecture (aarch64 runs other code than x86-64, and its OpenBLAS kernels and libm are not
pinned), the C library and its version, and the numpy, scipy and OpenBLAS versions.

In-process calls (:func:`deepbench_hf.generate.generate_rows`, ``regenerate_row``,
``render_clean_from_row``) use the process's libraries as they are: bit-identical to built data
when :func:`is_portable` is true (e.g. with :func:`portable_variables` exported before Python
starts), equal to round-off otherwise.
"""

from __future__ import annotations

import functools
import os
import pickle
import platform
import signal
import struct
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np

from .errors import BuildError

__all__ = [
    "DISABLE_VARIABLE",
    "GLIBC_HWCAPS",
    "OPENBLAS_CORES",
    "UNSET_VARIABLES",
    "PortableWorker",
    "dispatched_targets",
    "enabled_targets",
    "is_portable",
    "numeric_platform",
    "pinning_problems",
    "portable_caller",
    "portable_environ",
    "portable_environment",
    "portable_variables",
    "run_portable",
    "serve",
    "single_threaded_blas",
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


OPENBLAS_CORES = {"x86_64": "Nehalem", "AMD64": "Nehalem"}
"""OpenBLAS kernel family pinned per architecture (``platform.machine()``): one every CPU of it
that runs numpy's baseline can run."""


GLIBC_HWCAPS = (
    "glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-FMA4,-AVX_Usable,-AVX2_Usable,-FMA_Usable,-FMA4_Usable"
)
"""The glibc tunable (in ``GLIBC_TUNABLES``, read when a process starts) that makes glibc's libm
resolve ``exp``, ``log``, ``pow``, ``sin``, ``atan2``, ... to their SSE2 variants on x86-64 rather
than the FMA / AVX ones a CPU supports (the ``_Usable`` names are those of glibc < 2.33)."""


def _libc() -> str | None:
    """``"glibc 2.36"`` or the like, ``None`` where not known (not Linux, or not glibc)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None


def _pins_libm() -> bool:
    libc = _libc()
    return platform.machine() == "x86_64" and libc is not None and libc.startswith("glibc")


UNSET_VARIABLES = ("NPY_ENABLE_CPU_FEATURES",)
"""Variables a pinned process must not inherit (numpy refuses to import with both lists set)."""

_serving = False  # set in a PortableWorker process: it computes its calls itself


def portable_variables() -> dict[str, str]:
    """The environment variables that pin numpy's, the BLAS's and (glibc on x86-64) the C math
    library's code paths in a new process, with one BLAS / OpenMP thread (each process is one
    core's worker). Unset :data:`UNSET_VARIABLES` as well."""
    variables = {
        DISABLE_VARIABLE: " ".join(dispatched_targets()),
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    core = OPENBLAS_CORES.get(platform.machine())
    if core is not None:
        variables["OPENBLAS_CORETYPE"] = core
    if _pins_libm():
        # Ours first: glibc leaves only the first tunable in the process's initial environment,
        # where _started_with_libm_pinned looks for it. The user's other tunables follow.
        tunables = os.environ.get("GLIBC_TUNABLES", "").split(":")
        others = [t for t in tunables if t and not t.startswith("glibc.cpu.hwcaps=")]
        variables["GLIBC_TUNABLES"] = ":".join([GLIBC_HWCAPS, *others])
    return variables


@functools.cache
def _started_with_libm_pinned() -> bool:
    """Whether this process started with :data:`GLIBC_HWCAPS` (its initial environment: setting
    ``os.environ`` later changes nothing in a running process's libm)."""
    try:
        initial = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    for entry in initial:
        if entry.startswith(b"GLIBC_TUNABLES="):  # glibc cuts it after the first tunable
            return entry.decode(errors="replace").split("=", 1)[1].split(":")[0] == GLIBC_HWCAPS
    return False


def _openblas() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    return [info for info in threadpool_info() if info.get("internal_api") == "openblas"]


def pinning_problems() -> list[str]:
    """What in this process is not pinned (empty when numpy runs its baseline code only, OpenBLAS
    its pinned kernels and, glibc on x86-64, libm its SSE2 variants)."""
    problems = []
    targets = enabled_targets()
    if targets:
        problems.append(f"numpy dispatches to {targets}")
    core = OPENBLAS_CORES.get(platform.machine())
    if core is not None:
        kernels = sorted({str(info.get("architecture")) for info in _openblas()} - {core})
        if kernels:
            problems.append(f"OpenBLAS runs its {kernels} kernels, not {core}")
    if _pins_libm() and not _started_with_libm_pinned():
        problems.append("glibc's libm runs the CPU's FMA/AVX variants")
    return problems


def is_portable() -> bool:
    """Whether this process computes rows itself: when nothing is left unpinned
    (:func:`pinning_problems`), or when it is a :class:`PortableWorker` whose OpenBLAS ignores
    ``OPENBLAS_CORETYPE`` (one built for a single CPU: a warning says so, once, and build records
    list it as ``unpinned``). numpy's dispatch and libm are always pinnable where pinned at all:
    a worker with either unpinned refuses its calls."""
    problems = pinning_problems()
    if not problems:
        return True
    if _serving and all(p.startswith("OpenBLAS") for p in problems):
        _warn_unpinned(tuple(problems))
        return True
    return False


@functools.cache
def _warn_unpinned(problems: tuple[str, ...]) -> None:
    warnings.warn(
        "deepbench-hf could not pin every code path in this process ("
        + "; ".join(problems)
        + "): its rows may differ from another CPU's at round-off",
        RuntimeWarning,
        stacklevel=3,
    )


def _numpy_blas() -> str | None:
    """The BLAS numpy was built with, e.g. ``"scipy-openblas 0.3.31.188.0"``."""
    config = getattr(getattr(np, "__config__", None), "CONFIG", {})
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return f"{blas['name']} {blas.get('version', '')}".strip() if blas.get("name") else None


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # the BLAS libraries loaded at the first call


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Within the block (or the decorated function), BLAS runs one thread: OpenBLAS's threaded
    kernels split their sums by the number of threads, so a row's bits would depend on it.

    A safeguard for a pinned process started with more BLAS threads: :func:`portable_variables`
    already start one with ``OPENBLAS_NUM_THREADS=1``, which is what holds in threads other than
    the main one (OpenBLAS 0.3.31 ignores a limit set from them)."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def portable_environ() -> dict[str, str]:
    """This process's environment with :func:`portable_variables` and without
    :data:`UNSET_VARIABLES`, for a new Python process that then computes portable rows."""
    env = {**os.environ, **portable_variables()}
    for name in UNSET_VARIABLES:
        env.pop(name, None)
    return env


@contextmanager
def portable_environment() -> Iterator[None]:
    """Within the block, processes started by ``multiprocessing`` (spawn) inherit
    :func:`portable_variables`; this process's libraries are unchanged. Not thread-safe: it
    sets ``os.environ``."""
    variables = portable_variables()
    previous = {name: os.environ.get(name) for name in (*variables, *UNSET_VARIABLES)}
    os.environ.update(variables)
    for name in UNSET_VARIABLES:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def numeric_platform() -> dict[str, Any]:
    """What the bits of a portable row depend on, as recorded in every build record: the CPU
    architecture, numpy's baseline there, numpy's BLAS and its version, the pinned OpenBLAS
    kernels and libm variants (``None`` where not pinned), the C library, and the numpy and
    scipy versions."""
    import scipy

    return {
        "machine": platform.machine(),
        "numpy": np.__version__,
        "numpy_baseline": list(_umath().__cpu_baseline__),
        "numpy_blas": _numpy_blas(),
        "openblas_kernels": (
            OPENBLAS_CORES.get(platform.machine()) if "openblas" in str(_numpy_blas()) else None
        ),
        "libc": _libc(),
        "libm_variants": "SSE2" if _pins_libm() else None,
        "scipy": scipy.__version__,
    }


class PortableWorker:
    """A Python process with the code paths pinned (:func:`portable_variables`), serving calls
    one at a time.

    ``with PortableWorker() as worker: worker.call(function, *args)``: the function, its
    arguments and its result must pickle; an exception raised by the call is raised here again.
    Starting it costs about a second (the imports); calls then cost only their pickling. It is a
    plain subprocess talking over pipes, so, unlike ``multiprocessing``, it does not re-import
    the caller's ``__main__`` and works from daemonic processes such as Dask workers.
    """

    def __init__(self) -> None:
        # The parent's sys.path, set before anything else is imported (as multiprocessing's
        # spawn does): the worker imports the same deepbench_hf, not one in its working folder.
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, *(p for p in sys.path if isinstance(p, str))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=portable_environ(),
        )

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` computed in the worker."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        try:
            _send(stdin, pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL))
            reply = _receive(stdout)
        except BrokenPipeError:
            reply = None
        if reply is None:
            code = self._process.wait()
            raise BuildError(f"portable worker process exited with code {code} (see its stderr)")
        try:
            ok, value = pickle.loads(reply)
        except Exception as exc:  # e.g. a returned object whose class cannot be rebuilt
            raise BuildError(
                f"cannot read the worker's reply: {type(exc).__name__}: {exc}"
            ) from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """End the worker (it exits when its input closes; killed if it does not within 10 s)."""
        if self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except BrokenPipeError:  # the worker is gone already
                pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> PortableWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._process.poll() is None:
            self._process.kill()  # interrupted or failed mid-call: do not wait for the call
        self.close()


def run_portable(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` computed with the code paths pinned: here if this process is portable,
    else in a :class:`PortableWorker` started for this call."""
    with portable_caller() as call:
        return call(function, *args)


@contextmanager
def portable_caller() -> Iterator[Callable[..., Any]]:
    """A ``call(function, *args)`` computed with the code paths pinned: directly if this process
    is portable, else by one :class:`PortableWorker` kept for the block."""
    if is_portable():
        yield lambda function, *args: function(*args)
        return
    with PortableWorker() as worker:
        yield worker.call


_BOOTSTRAP = (  # sys is built in: nothing is imported from the working folder before the swap
    "import sys; sys.path[:] = sys.argv[1:]; from deepbench_hf.numerics import serve; serve()"
)

_LENGTH = struct.Struct("<Q")


def _send(stream: BinaryIO, data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> bytes | None:
    """One message, ``None`` at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    size = _LENGTH.unpack(head)[0]
    data = stream.read(size)
    return data if len(data) == size else None


def _pickled(outcome: tuple[bool, Any]) -> bytes:
    """``outcome`` pickled, or, if it (or an exception in it) does not survive the round trip, a
    :class:`BuildError` naming what happened."""
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if not outcome[0]:
            pickle.loads(data)  # an exception whose class cannot be rebuilt from its pickle
        return data
    except Exception as exc:
        what = outcome[1] if not outcome[0] else exc
        try:
            text = f"{type(what).__name__}: {what}"
        except Exception:  # a __str__ that fails too
            text = type(what).__name__
        error = BuildError(text)
        error.__dict__.update({k: v for k, v in what.__dict__.items() if k == "__notes__"})
        return pickle.dumps((False, error))


def serve() -> None:
    """Worker side of :class:`PortableWorker`: answer pickled calls until the input closes.
    Anything the calls print goes to stderr; stdout carries the replies only. Ctrl-C reaches
    the whole process group: the caller handles it (and ends this process)."""
    global _serving
    _serving = True
    pinned = is_portable()  # warns, once, of OpenBLAS kernels this machine does not let us pin
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while (request := _receive(requests)) is not None:
        try:
            if not pinned:
                raise BuildError(f"could not pin the code paths ({'; '.join(pinning_problems())})")
            function, args = pickle.loads(request)
            outcome: tuple[bool, Any] = (True, function(*args))
        except Exception as exc:  # handed back to the caller, which raises it
            if hasattr(exc, "add_note"):  # Python >= 3.11: where it happened, for tracebacks
                exc.add_note("in deepbench-hf's pinned worker process:\n" + traceback.format_exc())
            outcome = (False, exc)
        _send(replies, _pickled(outcome))
