"""Run a worker script inside a private virtual environment holding the original DeepBench.

The original DeepBench (PyPI ``deepbench==0.2.3``) pins old dependencies (``numpy<2``,
``astropy<6``, ...), so it cannot share our environment. This helper creates (once) and reuses a
venv at ``bench/.venv-deepbench/`` (gitignored) and installs into it, in two pip calls:

1. ``deepbench==0.2.3`` itself with ``--ignore-requires-python --no-deps``;
2. its dependencies at the versions of the reference environment
   (``/work/shared/reference/deepbench-0.2.3-bench.txt``: numpy 2.4.6, scipy 1.17.1, astropy
   8.0.2, matplotlib 3.11.2, scikit-image 0.23.2, which are also the versions of our own
   environment except scikit-image), resolved normally.

A single ``pip install --ignore-requires-python deepbench==0.2.3`` does not work on Python 3.11:
the flag also applies to the transitive dependencies, and pip then picks source releases that
need Python >= 3.12 (e.g. contourpy 1.4.0) and fail to build. Step 2 also keeps the numerical
libraries identical on both sides of a comparison.

It then runs a given worker script with that venv's interpreter. The worker must print **one
JSON object** as the last line of its stdout; that object is returned.

Used by every benchmark that compares against DeepBench (shapes, sky images, ...)::

    from _deepbench_venv import run_in_deepbench_venv
    result = run_in_deepbench_venv(Path(__file__).with_name("_my_worker.py"), ["--size", "64"])

The worker is started with ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS``
set to 1 (callers may override with ``env``); pinning to a core is the worker's job
(``os.sched_setaffinity``), since affinity is not reliably inherited across ``exec`` in every
container runtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepbench_hf.numerics import portable_variables

DEEPBENCH_REQUIREMENT = "deepbench==0.2.3"
#: DeepBench's runtime dependencies, at the reference benchmark's versions (see module docstring).
DEPENDENCIES = (
    "numpy==2.4.6",
    "scipy==1.17.1",
    "astropy==8.0.2",
    "matplotlib==3.11.2",
    "scikit-image==0.23.2",
    "h5py",
    "autograd",
    "pyyaml",
)
VENV_DIR = Path(__file__).resolve().parent / ".venv-deepbench"
_MARKER = ".deepbench-installed"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def venv_python(venv_dir: Path = VENV_DIR) -> Path:
    """Path of the interpreter inside ``venv_dir``."""
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _pip(python: Path, args: Sequence[str], *, quiet: bool) -> None:
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    if quiet:
        command.append("--quiet")
    done = subprocess.run(command, capture_output=quiet, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or "")[-4000:] if quiet else ""
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{detail}")


def ensure_deepbench_venv(
    venv_dir: Path = VENV_DIR,
    requirement: str = DEEPBENCH_REQUIREMENT,
    dependencies: Sequence[str] = DEPENDENCIES,
    *,
    quiet: bool = True,
) -> Path:
    """Create ``venv_dir`` with ``requirement`` + ``dependencies`` if needed; return its Python.

    An existing venv is reused when its marker file records the same requirement set and it
    can import ``deepbench``; otherwise it is (re)installed into. Raises ``RuntimeError`` if pip
    fails.
    """
    python = venv_python(venv_dir)
    marker = venv_dir / _MARKER
    wanted = "\n".join([requirement, *dependencies])
    if python.is_file() and marker.is_file() and marker.read_text().strip() == wanted:
        probe = subprocess.run(
            [str(python), "-c", "import deepbench"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return python
    if not python.is_file():
        print(f"[deepbench venv] creating {venv_dir}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    print(f"[deepbench venv] installing {requirement} (may take a minute)", file=sys.stderr)
    _pip(python, ["--ignore-requires-python", "--no-deps", requirement], quiet=quiet)
    _pip(python, list(dependencies), quiet=quiet)
    marker.write_text(wanted + "\n")
    return python


def deepbench_versions(venv_dir: Path = VENV_DIR) -> dict[str, str]:
    """Versions of deepbench and its main dependencies installed in the venv (from metadata)."""
    python = ensure_deepbench_venv(venv_dir)
    code = (
        "import json, sys, importlib.metadata as m\n"
        "names = ['deepbench', 'numpy', 'scipy', 'matplotlib', 'astropy', 'scikit-image']\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for n in names:\n"
        "    try:\n"
        "        out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[n] = 'missing'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_in_deepbench_venv(
    script_path: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    venv_dir: Path = VENV_DIR,
) -> dict[str, Any]:
    """Run ``script_path args...`` with the DeepBench venv's Python; return its JSON output.

    Parameters
    ----------
    script_path
        Worker script. It runs with the venv's interpreter (so it can ``import deepbench`` but
        not ``deepbench_hf``) and must print one JSON object as its last stdout line.
    args
        Command-line arguments for the worker.
    env
        Extra environment variables (applied on top of ours and the single-thread settings).
    timeout
        Seconds before the worker is killed (``None``: no limit).
    venv_dir
        Venv location (default ``bench/.venv-deepbench``).

    Raises
    ------
    RuntimeError
        If the worker exits non-zero or its last stdout line is not a JSON object.
    """
    python = ensure_deepbench_venv(venv_dir)
    child_env = dict(os.environ)
    child_env.update({name: "1" for name in THREAD_VARS})
    child_env.pop("PYTHONPATH", None)  # keep our sources off the worker's path
    # DeepBench runs as its users run it: without the code-path pins our benchmarks restart with
    for name in set(portable_variables()) - set(THREAD_VARS) - {"GLIBC_TUNABLES"}:
        child_env.pop(name, None)
    tunables = [t for t in child_env.pop("GLIBC_TUNABLES", "").split(":") if t]
    tunables = [t for t in tunables if not t.startswith("glibc.cpu.hwcaps=")]
    if tunables:
        child_env["GLIBC_TUNABLES"] = ":".join(tunables)
    child_env["MPLBACKEND"] = "Agg"
    if env:
        child_env.update(env)
    command = [str(python), str(Path(script_path).resolve()), *map(str, args)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"worker {script_path} exited with {done.returncode}:\n{done.stderr[-4000:]}"
        )
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as error:
        raise RuntimeError(
            f"worker {script_path} printed no JSON object on its last line:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        ) from error
    if not isinstance(result, dict):
        raise RuntimeError(f"worker {script_path} printed {type(result).__name__}, not an object")
    return result


if __name__ == "__main__":
    print(json.dumps(deepbench_versions(), indent=2))
