"""Where the time of a dataset row goes: rows per second and a breakdown by stage, one core.

Run ``python bench/profile_rows.py [CONFIG ...] [--rows N]`` (default: the sky and lensing
configs). For each named config it generates ``N`` rows of its train split with
:func:`deepbench_hf.generate.generate_rows` (no Parquet writing) and prints:

* rows per CPU second, timed without the profiler;
* the share of each stage in the CPU time of ``N`` further rows under ``cProfile`` (the
  cumulative time of the functions that make the stage; the profiler inflates Python-call-heavy
  stages, so read the shares as a ranking, not as exact fractions).

Like the other benchmarks it pins itself to CPU 0 with single-threaded BLAS/OpenMP. Like a build,
it pins numpy's, OpenBLAS's and libm's code paths (:mod:`deepbench_hf.numerics`; it restarts
itself with them): rows computed in a process without the pins are ~15-30 % faster and not
portable.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {0})
from _pinned import restart_pinned  # noqa: E402

restart_pinned()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _machine import cpu_model, load_average  # noqa: E402

from deepbench_hf.config import BuildConfig, load_config  # noqa: E402
from deepbench_hf.generate import generate_rows  # noqa: E402
from deepbench_hf.numerics import pinning_problems  # noqa: E402

DEFAULT_CONFIGS = ("sky-easy", "sky-medium", "sky-hard", "lensing-easy", "lensing", "lensing-hard")

# stage -> functions (module path suffix, function name[, only the calls from this caller])
# whose cumulative times add up to it
STAGES: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "sky": {
        "scene sampling": [("sky/kind.py", "sample_objects"), ("sky/imaging.py", "sample_psf")],
        "object stamps (profiles, pixel integration)": [("sky/render.py", "draw_object")],
        "PSF convolution": [("sky/psf.py", "convolve")],
        "PSF correction of sharp light (supersampled)": [("sky/sharp.py", "sharp_corrections")],
        "noise": [("sky/imaging.py", "apply_noise")],
        "truth (segmentation, boxes, S/N)": [("sky/render.py", "truth_catalog")],
    },
    "lensing": {
        "scene sampling": [("lensing/scene.py", "sample_scene")],
        "point-source images": [("lensing/scene.py", "solve_point_source")],
        "lensed + unlensed source (ray-tracing, adaptive integration)": [
            ("lensing/adaptive.py", "integrate_pixels", "render_components")
        ],
        "lens light + field stars": [
            ("sky/stamps.py", "draw_elliptical"),
            ("sky/stamps.py", "draw_star"),
        ],
        "PSF convolution": [("sky/psf.py", "convolve")],
        "PSF correction of sharp light (supersampled)": [
            ("lensing/sharp.py", "light_corrections"),
            ("lensing/sharp.py", "source_correction"),
        ],
        "noise": [("sky/imaging.py", "apply_noise")],
        "arc mask": [("lensing/raytrace.py", "arc_mask")],
    },
}


def rows_per_second(config: BuildConfig, rows: int) -> float:
    """Rows per CPU second of ``rows`` train rows (after a short warm-up)."""
    for _ in generate_rows(config, "train", 0, 5):
        pass
    start = time.process_time()
    for _ in generate_rows(config, "train", 0, rows):
        pass
    return rows / (time.process_time() - start)


def stage_shares(config: BuildConfig, rows: int) -> tuple[float, dict[str, float]]:
    """Total profiled CPU seconds of ``rows`` rows and each stage's share of it."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in generate_rows(config, "train", rows, 2 * rows):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative: dict[tuple[str, ...], float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, callers) in stats.items():
        key = (Path(filename).parent.name + "/" + Path(filename).name, name)
        cumulative[key] = cumulative.get(key, 0.0) + ct
        for (_file, _l, caller), (*_, caller_ct) in callers.items():
            by_caller = (*key, caller)
            cumulative[by_caller] = cumulative.get(by_caller, 0.0) + caller_ct
    total = cumulative.get(("deepbench_hf/generate.py", "generate_rows"), 0.0)
    shares = {}
    for stage, functions in STAGES[config.kind].items():
        shares[stage] = sum(cumulative.get(f, 0.0) for f in functions) / total
    shares["row assembly and the rest"] = 1.0 - sum(shares.values())
    return total, shares


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--rows", type=int, default=200, help="rows timed (and as many profiled)")
    args = parser.parse_args(argv)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    print(f"# deepbench-hf rows profile  ({now})")
    print(f"# command: python bench/profile_rows.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# cpu: {cpu_model()} | pinned to CPU 0 | load average at start: {load_average()}")
    print(f"# numerics: {'; '.join(pinning_problems()) or 'all code paths pinned'}")
    for name in args.configs:
        config = load_config(name)
        if config.kind not in STAGES:
            raise SystemExit(f"no stage breakdown for kind {config.kind!r} (config {name})")
        rate = rows_per_second(config, args.rows)
        _, shares = stage_shares(config, args.rows)
        print(f"\n{name} ({config.kind}): {rate:.0f} rows per CPU second ({1e3 / rate:.2f} ms/row)")
        for stage, share in sorted(shares.items(), key=lambda item: -item[1]):
            print(f"  {share:6.1%}  {stage}")


if __name__ == "__main__":
    main()
