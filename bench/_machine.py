"""Machine facts printed at the top of every benchmark result."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    """The first three fields of /proc/loadavg (``n/a`` elsewhere)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# glibc hands large freed blocks back to the OS, so every big numpy temporary page-faults again on
# the next call; these settings keep them (for both pipelines of a comparison alike).
MALLOC_SETTINGS = {"MALLOC_TRIM_THRESHOLD_": "1000000000", "MALLOC_MMAP_THRESHOLD_": "1000000000"}
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def keep_freed_memory() -> None:
    """Re-execute the running script once with :data:`MALLOC_SETTINGS` in its environment
    (nothing to do if they are set, or with ``--system-malloc`` on the command line)."""
    if "--system-malloc" in sys.argv or all(
        os.environ.get(k) == v for k, v in MALLOC_SETTINGS.items()
    ):
        return
    os.environ.update(MALLOC_SETTINGS)
    os.execv(sys.executable, [sys.executable, *sys.argv])


def pin_to_one_core() -> None:
    """One BLAS/OpenMP thread and CPU 0 only; call before importing numpy."""
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
