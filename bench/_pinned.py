"""Restart a benchmark with numpy's, OpenBLAS's and libm's code paths pinned, as builds pin them.

Rows are computed with the pins (:mod:`deepbench_hf.numerics`), so timings of our code are taken
with them too (unpinned, rows are ~15-30 % faster and not portable). glibc reads its tunables
only when a process starts, hence the restart. Call :func:`restart_pinned` before importing
numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PIN_MARKER = "NPY_DISABLE_CPU_FEATURES"


def restart_pinned() -> None:
    """Re-execute this script with the pins in its environment (no-op once they are set)."""
    if PIN_MARKER in os.environ:
        return
    command = [sys.executable, "-m", "deepbench_hf.portable", "--json"]
    pins = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
    os.environ.update(pins)
    os.environ.pop("NPY_ENABLE_CPU_FEATURES", None)  # numpy refuses both (numerics.UNSET_VARIABLES)
    os.execv(sys.executable, list(sys.orig_argv))  # keeps interpreter options such as -X


def pin_status_line() -> str:
    """A header line saying which code paths this process runs (imports numpy)."""
    from deepbench_hf.numerics import pinning_problems

    problems = "; ".join(pinning_problems()) or "all pinned"
    return (
        "# ours with numpy's, OpenBLAS's and libm's code paths pinned as in a build"
        f" ({problems}); DeepBench without the pins"
    )
