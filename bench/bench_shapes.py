"""Shapes benchmark: deepbench-hf vs the original DeepBench 0.2.3, side by side, on one core.

What it measures (details in ``bench/README.md``):

1. **Scenes** (method of the reference ``deepbench-0.2.3-bench.txt``): d1 = 1 filled regular
   polygon, d2 = 1 circle outline, f = rectangle + polygon + ellipse + Gaussian noise
   (sigma 0.1), at 64x64 and 128x128. Both codes render scenes drawn by the same sampler
   (``_deepbench_shapes_worker.sample_scenes``) with the same seeds; parameters are sampled
   outside the timed region, the timed region constructs and renders every image. Ours:
   ``Shape(...)`` + ``render_scene`` (+ for f, exactly the image step of ``ShapesKind.generate``:
   a fresh noise ``Generator`` per image, ``astype(float32)`` and
   ``sigma * standard_normal_f32(rng, ...)``). DeepBench runs in its own venv
   (``_deepbench_venv``), pinned to the same core. Median of ``--reps`` repetitions, each
   using >= ``--min-time`` CPU seconds.
2. **Full builds** of ``shapes-easy`` and ``shapes-hard`` (``--build-examples`` train examples,
   ``num_proc=1``): sampling + render + noise + Arrow + Parquet + card, images/s.
3. A **cProfile** of the ``shapes-hard`` build (top 15 by cumulative time, and by own time).
4. A **breakdown** of case f at 64x64 with ``timeit`` (per-call microseconds of every step), and
   micro-benchmarks of candidate optimisations (alternative code for the expensive steps).

Our code runs with numpy's, OpenBLAS's and libm's code paths pinned as in a build (the script
restarts itself with them, ``_pinned.py``); DeepBench without them, as its users run it.
Rates are per CPU second of the (pinned) process (``time.process_time``), so other processes
on the machine do not inflate them; wall-clock rates are printed alongside. Note that on a
machine with SMT, load on the sibling hardware thread still slows the pinned core down.

Usage: ``python bench/bench_shapes.py [--reps 5] [--min-time 0.6] [--out FILE]`` (default
``bench/results/shapes.txt``; ``--help`` lists the other options).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    from _pinned import restart_pinned

    restart_pinned()

import argparse
import cProfile
import datetime
import io
import math
import platform
import pstats
import shlex
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _deepbench_shapes_worker import (  # noqa: E402
    CASE_LABELS,
    CASES,
    NOISE_SIGMA,
    sample_scenes,
    time_case,
)
from _deepbench_venv import run_in_deepbench_venv  # noqa: E402
from _machine import cpu_model, load_average  # noqa: E402
from _pinned import pin_status_line  # noqa: E402

from deepbench_hf.gaussian import standard_normal_f32  # noqa: E402
from deepbench_hf.shapes import render  # noqa: E402
from deepbench_hf.shapes.render import Shape, rasterize, render_scene  # noqa: E402

WORKER = BENCH_DIR / "_deepbench_shapes_worker.py"
TARGET_RATIO = 50.0
BUILD_CONFIGS = ("shapes-easy", "shapes-hard")


# --------------------------------------------------------------------------------------------
# machine facts
# --------------------------------------------------------------------------------------------
def header(argv: Sequence[str]) -> list[str]:
    """Machine facts, versions, timestamp and command."""
    import datasets
    import pyarrow

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    return [
        f"# deepbench-hf shapes benchmark  ({now})",
        f"# command: python {shlex.join(['bench/bench_shapes.py', *argv])}",
        f"# cpu: {cpu_model()} | os.cpu_count()={os.cpu_count()} | pinned to CPU {affinity}"
        f" | OMP/OPENBLAS/MKL threads={os.environ.get('OMP_NUM_THREADS')}",
        f"# python {platform.python_version()} | numpy {np.__version__}"
        f" | pyarrow {pyarrow.__version__} | datasets {datasets.__version__}",
        pin_status_line(),
        f"# load average at start: {load_average()}",
    ]


# --------------------------------------------------------------------------------------------
# deepbench-hf side of the scene cases
# --------------------------------------------------------------------------------------------
def shape_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """``Shape`` keyword arguments of a neutral spec (filled shapes carry ``line_width=nan``,
    as in ``sample_shapes``)."""
    kwargs = dict(spec)
    if kwargs["filled"]:
        kwargs["line_width"] = math.nan
    return kwargs


def prepare_ours(case: str, size: int) -> Callable[[int, int], list[Any]]:
    """Untimed preparation: ``count`` scenes as lists of ``Shape`` kwargs (+ noise seed for f)."""

    def prepare(count: int, seed: int) -> list[Any]:
        scenes = sample_scenes(case, size, count, seed)
        kwargs = [[shape_kwargs(spec) for spec in scene] for scene in scenes]
        if case != "f":
            return kwargs
        return [(kw, seed * 1_000_003 + i) for i, kw in enumerate(kwargs)]

    return prepare


def run_ours(case: str, size: int) -> Callable[[list[Any]], None]:
    """The timed loop: construct the ``Shape``s and render (+ noise for f) every item."""
    if case != "f":

        def run(items: list[Any]) -> None:
            for kwargs in items:
                render_scene([Shape(**kw) for kw in kwargs], size, size)

        return run

    sigma = np.float32(NOISE_SIGMA)

    def run_f(items: list[Any]) -> None:
        for kwargs, noise_seed in items:
            scene = render_scene([Shape(**kw) for kw in kwargs], size, size)
            noise_rng = np.random.default_rng(noise_seed)
            image = scene.image.astype(np.float32)
            image += sigma * standard_normal_f32(noise_rng, (size, size))

    return run_f


def drawn_pixels_ours(case: str, size: int, count: int, seed: int) -> float:
    """Mean drawn pixels per image (sum over shapes, before occlusion) of ``count`` scenes."""
    total = 0
    for scene in sample_scenes(case, size, count, seed):
        total += sum(render_scene([Shape(**shape_kwargs(s)) for s in scene], size, size).areas)
    return total / count


def time_ours(
    cases: Sequence[str], sizes: Sequence[int], reps: int, min_time: float, seed: int, check: int
) -> dict[str, dict[str, Any]]:
    """Timings of our renderer for every (case, size)."""
    results = {}
    for size in sizes:
        for case in cases:
            timing = time_case(prepare_ours(case, size), run_ours(case, size), reps, min_time, seed)
            timing["drawn_px"] = drawn_pixels_ours(case, size, check, seed)
            results[f"{case}@{size}"] = timing
            print(f"deepbench-hf {case}@{size}: {timing['median']:.0f} img/s", file=sys.stderr)
    return results


def scene_table(
    ours: dict[str, dict[str, Any]], theirs: dict[str, dict[str, Any]], sizes: Sequence[int]
) -> list[str]:
    """The side-by-side table (images per CPU second, median/min/max over repetitions)."""
    head = (
        f"{'case':4} {'description':29} {'size':>7} | {'ours img/s':>10} {'min':>8} {'max':>8}"
        f" {'us/img':>7} | {'DeepBench':>9} {'min':>7} {'max':>7} {'ms/img':>7} |"
        f" {'ratio':>6} | {'wall: ours':>10} {'theirs':>7} {'ratio':>6} | {'px ours/theirs':>14}"
    )
    lines = [head, "-" * len(head)]
    for size in sizes:
        for case in CASES:
            key = f"{case}@{size}"
            if key not in ours or key not in theirs:
                continue
            a, b = ours[key], theirs[key]
            lines.append(
                f"{case:4} {CASE_LABELS[case]:29} {f'{size}x{size}':>7} |"
                f" {a['median']:10.0f} {a['min']:8.0f} {a['max']:8.0f} {1e6 / a['median']:7.1f} |"
                f" {b['median']:9.1f} {b['min']:7.1f} {b['max']:7.1f} {1e3 / b['median']:7.2f} |"
                f" {a['median'] / b['median']:5.1f}x |"
                f" {a['wall_median']:10.0f} {b['wall_median']:7.1f}"
                f" {a['wall_median'] / b['wall_median']:5.1f}x |"
                f" {a['drawn_px']:6.0f}/{b['drawn_px']:<7.0f}"
            )
        lines.append("")
    lines.append(
        "imgs/rep: "
        + ", ".join(f"{k} ours {ours[k]['count']} / DeepBench {theirs[k]['count']}" for k in ours)
    )
    return lines


# --------------------------------------------------------------------------------------------
# full builds and profile
# --------------------------------------------------------------------------------------------
def _load(name: str, examples: int) -> Any:
    from deepbench_hf.config import load_config

    return load_config(name, splits={"train": examples, "validation": 0, "test": 0})


def _build(name: str, examples: int, folder: Path) -> None:
    from deepbench_hf.writer import build_config

    build_config(_load(name, examples), folder / "out", num_proc=1, progress=False)


def time_build(name: str, examples: int, reps: int) -> dict[str, Any]:
    """Median images/s (CPU and wall) of ``reps`` full builds, each into a fresh temp folder."""
    cpu_rates, wall_rates, sizes = [], [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
            folder = Path(tmp)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            _build(name, examples, folder)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            sizes.append(sum(p.stat().st_size for p in folder.rglob("*.parquet")))
        cpu_rates.append(examples / cpu)
        wall_rates.append(examples / wall)
    return {
        "median": float(np.median(cpu_rates)),
        "min": float(np.min(cpu_rates)),
        "max": float(np.max(cpu_rates)),
        "wall_median": float(np.median(wall_rates)),
        "parquet_bytes": int(np.median(sizes)),
    }


def build_section(examples: int, reps: int) -> list[str]:
    """Full-build throughput of each shapes config."""
    lines = [
        f"full build: deepbench_hf.writer.build_config(load_config(NAME, splits={{train: "
        f"{examples}}}), tmp, num_proc=1), median of {reps} (after one 200-example warm-up)",
        f"{'config':12} {'img/s (CPU)':>11} {'min':>7} {'max':>7} {'us/img':>7}"
        f" {'img/s (wall)':>12} {'parquet MB':>10}",
    ]
    for name in BUILD_CONFIGS:
        try:
            with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
                _build(name, 200, Path(tmp))  # warm-up: imports, feature objects
            r = time_build(name, examples, reps)
        except Exception as error:  # a broken build is reported, not fatal to the benchmark
            lines.append(f"{name:12} FAILED: {type(error).__name__}: {error}")
            continue
        lines.append(
            f"{name:12} {r['median']:11.0f} {r['min']:7.0f} {r['max']:7.0f}"
            f" {1e6 / r['median']:7.1f} {r['wall_median']:12.0f} {r['parquet_bytes'] / 1e6:10.2f}"
        )
        print(f"build {name}: {r['median']:.0f} img/s", file=sys.stderr)
    return lines


def profile_section(name: str, examples: int, top: int = 15) -> list[str]:
    """cProfile of one full build: top ``top`` functions by cumulative and by own time."""
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
        _build(name, 200, Path(tmp))  # warm-up outside the profile
    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp:
        try:
            profiler.runcall(_build, name, examples, Path(tmp))
        except Exception as error:
            return [f"profile of {name}: build FAILED: {type(error).__name__}: {error}"]
    lines = [
        f"cProfile of the {name} build ({examples} examples, num_proc=1; profiler overhead "
        "inflates Python-call-heavy code)"
    ]
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key)
        stats.print_stats(top)
        text = out.getvalue()
        body = text[text.index("ncalls") :] if "ncalls" in text else text
        total = text.split("function calls", 1)[0].strip().splitlines()[-1] if text else ""
        lines += ["", f"top {top} by {key} time ({total.strip()} function calls):", body.rstrip()]
    return lines


# --------------------------------------------------------------------------------------------
# breakdown of case f at 64x64 (the candidates it once compared are now in deepbench_hf)
# --------------------------------------------------------------------------------------------
def per_call_us(fn: Callable[[], Any], calls_per_fn: int = 1, budget: float = 0.5) -> float:
    """Best-of-5 CPU microseconds per call of ``fn`` (``fn`` makes ``calls_per_fn`` calls)."""
    timer = timeit.Timer(fn, timer=time.process_time)
    number, elapsed = 1, 0.0
    while elapsed < budget / 5:
        number *= 4
        elapsed = timer.timeit(number)
    return min(timer.repeat(5, number)) / number / calls_per_fn * 1e6


def _window_uv(shape: Shape, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (u, v) offset vectors ``rasterize`` evaluates the kind's inside test on."""
    mask, r0, c0 = rasterize(shape, size, size)
    u = (np.arange(c0, c0 + mask.shape[1], dtype=np.float64) - shape.x)[None, :]
    v = (np.arange(r0, r0 + mask.shape[0], dtype=np.float64) - shape.y)[:, None]
    return u, v


def breakdown_section(size: int = 64, count: int = 300, seed: int = 777) -> tuple[list[str], dict]:
    """Per-step microseconds of case f at ``size`` (means over ``count`` sampled scenes)."""
    specs = sample_scenes("f", size, count, seed)
    kwargs = [[shape_kwargs(s) for s in scene] for scene in specs]
    scenes = [[Shape(**kw) for kw in scene] for scene in kwargs]
    shapes = [s for scene in scenes for s in scene]
    masks = [[rasterize(s, size, size) for s in scene] for scene in scenes]
    flat_masks = [m for scene in masks for m in scene]
    n_shapes = len(shapes)
    rows: list[tuple[str, float, float]] = []  # (label, us per call, calls per image)

    def add(label: str, us: float, per_image: float) -> None:
        rows.append((label, us, per_image))

    add(
        "Shape(**kwargs) (frozen dataclass)",
        per_call_us(lambda: [Shape(**kw) for sc in kwargs for kw in sc], n_shapes),
        3,
    )
    for kind in ("rectangle", "polygon", "ellipse"):
        for filled in (True, False):
            group = [s for s in shapes if s.kind == kind and s.filled == filled]
            if not group:
                continue
            uv = [_window_uv(s, size) for s in group]
            inside = render._INSIDE[kind]
            px = np.mean([u.size * v.size for u, v in uv])
            style = "filled" if filled else "outline"
            add(
                f"rasterize {kind} {style} (window ~{px:.0f} px)",
                per_call_us(lambda g=group: [rasterize(s, size, size) for s in g], len(group)),
                len(group) / count,
            )
            add(
                f"  of which the inside test {render._INSIDE[kind].__name__}",
                per_call_us(
                    lambda g=group, uv=uv, f=inside: [
                        f(s, u, v) for s, (u, v) in zip(g, uv, strict=True)
                    ],
                    len(group),
                ),
                0.0,
            )
    segmentation = np.zeros((size, size), dtype=np.uint16)

    def assign() -> None:
        for scene in masks:
            for k, (mask, r0, c0) in enumerate(scene, start=1):
                window = segmentation[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]]
                window[mask] = k

    windows = [segmentation[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]] for m, r0, c0 in flat_masks]
    add("window slice + window[mask] = k", per_call_us(assign, n_shapes), 3)
    add(
        "areas: np.count_nonzero(mask)",
        per_call_us(lambda: [np.count_nonzero(m) for m, _, _ in flat_masks], n_shapes),
        3,
    )
    add(
        "bbox: _bbox(mask, r0, c0)",
        per_call_us(lambda: [render._bbox(m, r0, c0) for m, r0, c0 in flat_masks], n_shapes),
        3,
    )
    add(
        "visible: np.count_nonzero(window == k)",
        per_call_us(lambda: [np.count_nonzero(w == 1) for w in windows], n_shapes),
        3,
    )
    add("np.zeros segmentation", per_call_us(lambda: np.zeros((size, size), np.uint16)), 1)
    add(
        "image = (segmentation > 0).view(uint8)",
        per_call_us(lambda: (segmentation > 0).view(np.uint8)),
        1,
    )
    rng = np.random.default_rng(seed)
    noise_seed = 0x5DEECE66D_1234567
    add(
        "noise: np.random.default_rng(seed)",
        per_call_us(lambda: np.random.default_rng(noise_seed)),
        1,
    )
    add(
        "noise: standard_normal_f32(rng, (64,64)) (ziggurat)",
        per_call_us(lambda: standard_normal_f32(rng, (size, size))),
        1,
    )
    clean = (segmentation > 0).view(np.uint8)
    noise = standard_normal_f32(rng, (size, size))
    sigma = np.float32(NOISE_SIGMA)

    def finish() -> None:
        image = clean.astype(np.float32)
        image += sigma * noise

    add("image.astype(float32) += sigma * noise", per_call_us(finish), 1)
    render_us = per_call_us(lambda: [render_scene(sc, size, size) for sc in scenes], count)
    run = run_ours("f", size)
    items = prepare_ours("f", size)(count, seed)
    total_us = per_call_us(lambda: run(items), count)

    lines = [
        f"breakdown of case f at {size}x{size} (timeit, best of 5, CPU us per call; means over "
        f"{count} sampled scenes)",
        f"{'step':58} {'us/call':>8} {'calls/img':>9} {'us/img':>8}",
    ]
    accounted = 0.0
    for label, us, per_image in rows:
        contrib = us * per_image
        accounted += contrib
        calls = f"{per_image:9.2f}" if per_image else f"{'':9}"
        share = f"{contrib:8.1f}" if per_image else f"{'':8}"
        lines.append(f"{label:58} {us:8.2f} {calls} {share}")
    lines += [
        f"{'sum of the steps above':58} {'':8} {'':9} {accounted:8.1f}",
        f"{'render_scene(3 shapes) as a whole':58} {render_us:8.1f}",
        f"{'whole case-f image (timed loop body)':58} {total_us:8.1f}",
        f"{'  -> images/s at this rate':58} {1e6 / total_us:8.0f}",
    ]
    return lines, {"total_us": total_us, "render_us": render_us}


# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run every section and write the report."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--check-count", type=int, default=50, help="scenes for the px check")
    parser.add_argument("--build-examples", type=int, default=2000)
    parser.add_argument("--build-reps", type=int, default=3)
    parser.add_argument("--skip-deepbench", action="store_true", help="only time deepbench-hf")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "shapes.txt")
    args = parser.parse_args(argv)

    lines = header(argv)
    common = ["--reps", str(args.reps), "--min-time", str(args.min_time), "--seed", str(args.seed)]
    if args.skip_deepbench:
        theirs: dict[str, Any] = {"cases": {}, "versions": {}, "affinity": None}
    else:
        theirs = run_in_deepbench_venv(
            WORKER,
            [
                "--cases",
                *CASES,
                "--sizes",
                *map(str, args.sizes),
                *common,
                "--check-count",
                str(args.check_count),
            ],
        )
    versions = theirs["versions"]
    lines.append(
        "# DeepBench venv: "
        + " | ".join(f"{k} {v}" for k, v in versions.items())
        + f" | pinned to CPU {theirs['affinity']}"
    )
    ours = time_ours(CASES, args.sizes, args.reps, args.min_time, args.seed, args.check_count)
    lines.append(f"# load average after the scene cases: {load_average()}")
    lines += [
        "",
        f"shapes scenes, single core: images per CPU second, median of {args.reps} reps "
        f"(each >= {args.min_time} CPU s), seed={args.seed}",
        "",
    ]
    if theirs["cases"]:
        lines += scene_table(ours, theirs["cases"], args.sizes)
    else:
        lines += [f"{k}: {v['median']:.0f} img/s" for k, v in ours.items()]
    f64 = ours.get("f@64"), theirs["cases"].get("f@64")
    missed = True
    if all(f64):
        ratio = f64[0]["median"] / f64[1]["median"]
        missed = ratio < TARGET_RATIO
        need = TARGET_RATIO * f64[1]["median"]
        lines += [
            "",
            f"target (case f, per core): >= {TARGET_RATIO:.0f}x DeepBench -> measured {ratio:.1f}x "
            f"at 64x64: {'MET' if not missed else 'MISSED'} (needs >= {need:.0f} img/s = "
            f"{1e6 / need:.0f} us/img; we take {1e6 / f64[0]['median']:.0f} us/img)",
        ]
    lines += ["", *build_section(args.build_examples, args.build_reps)]
    lines += ["", *profile_section("shapes-hard", args.build_examples)]
    breakdown, _ = breakdown_section()
    lines += ["", *breakdown]
    lines += ["", f"# load average at end: {load_average()}"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, args.out)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
