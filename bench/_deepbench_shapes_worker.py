"""Scene sampler shared by both sides of the shapes benchmark, and DeepBench's timing worker.

Imported by ``bench_shapes.py`` (for :func:`sample_scenes`, so both codes render scenes drawn
by the same function with the same seeds) and run as a script **inside the DeepBench venv**
(``_deepbench_venv.run_in_deepbench_venv``), where it times the original DeepBench 0.2.3 and
prints one JSON object. It never imports ``deepbench_hf``; ``deepbench`` is imported only when
run as a script.

Scene specification (neutral, in deepbench-hf's convention: ``x`` = column, ``y`` = row, angles
in radians): a list of dicts with ``kind`` in ``polygon | circle | rectangle | ellipse``, ``x``,
``y``, ``angle``, ``filled``, ``line_width`` and the kind's sizes (``n_vertices``/``radius``,
``radius``, ``width``/``height``, ``semi_major``/``semi_minor``). Sizes scale with the frame
(``s = size / 64``), so the shapes cover the same fraction of a 64x64 and a 128x128 frame.

Cases (one scene per image):

* ``d1``: one filled regular polygon, 3-8 vertices, circumradius U(10, 18)*s;
* ``d2``: one circle outline, radius U(8, 16)*s, line width 1 px (DeepBench's default);
* ``f``: rectangle (sides U(8, 24)*s) + polygon (3-8 vertices, radius U(6, 14)*s) + ellipse
  (semi-major U(7, 16)*s, axis ratio U(0.35, 0.75)); each filled or outline with probability
  1/2, outline width U(1, 3) px, random rotation; then Gaussian noise sigma = 0.1.

Centres are U(0.35, 0.65)*(size - 1) for d1/d2 and U(0.2, 0.8)*(size - 1) for f.

DeepBench calls (its shapes use ``center = (row, col)`` and ``width`` = extent along rows, so
``x``/``y`` and width/height are swapped; rectangle/ellipse angles are degrees, the polygon's
``angle`` is radians as it reaches matplotlib's ``orientation`` unconverted):

* d1: ``ShapeGenerator((n, n)).create_regular_polygon(center, angle, vertices, radius,
  fill=True)``
* d2: ``ShapeGenerator((n, n)).create_ellipse(center, width=2r, height=2r, line_width=1,
  fill=False)``
* f: ``ShapeImage((n, n), object_noise_type="gaussian", object_noise_level=0.1)
  .combine_objects(["rectangle", "polygon", "ellipse"], [kwargs...], seed=per-image seed)``

Timing (:func:`time_case`, used for both codes): per repetition, ``count`` fresh scenes are
sampled and converted to call arguments (outside the timed region); the timed region constructs
the DeepBench object(s) and renders every scene. ``count`` is calibrated so that a repetition
uses at least ``min_time`` seconds of CPU time; rates are reported per CPU second (primary) and
per wall second.

Usage (inside the venv): ``python _deepbench_shapes_worker.py --cases d1 d2 f --sizes 64 128
--reps 5 --min-time 0.6 --seed 12345``.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CASES = ("d1", "d2", "f")
CASE_LABELS = {
    "d1": "polygon, filled",
    "d2": "circle, outline",
    "f": "shape image: 3 shapes+G noise",
}
NOISE_SIGMA = 0.1
TWO_PI = 2.0 * math.pi

Scene = list[dict[str, Any]]


# --------------------------------------------------------------------------------------------
# scene sampling (shared with bench_shapes.py)
# --------------------------------------------------------------------------------------------
def _centre(rng: np.random.Generator, size: int, low: float, high: float) -> tuple[float, float]:
    x, y = rng.uniform(low, high, size=2) * (size - 1)
    return float(x), float(y)


def _polygon(
    rng: np.random.Generator,
    size: int,
    s: float,
    *,
    centre: tuple[float, float],
    radius: tuple[float, float],
    filled: bool | None,
) -> dict:
    """A regular polygon; ``filled=None`` draws filled/outline with probability 1/2."""
    x, y = _centre(rng, size, *centre)
    fill = bool(rng.random() < 0.5) if filled is None else filled
    return {
        "kind": "polygon",
        "x": x,
        "y": y,
        "angle": float(rng.uniform(0.0, TWO_PI)),
        "filled": fill,
        "line_width": float(rng.uniform(1.0, 3.0)),
        "n_vertices": int(rng.integers(3, 9)),
        "radius": float(rng.uniform(*radius) * s),
    }


def _circle(rng: np.random.Generator, size: int, s: float) -> dict:
    x, y = _centre(rng, size, 0.35, 0.65)
    return {
        "kind": "circle",
        "x": x,
        "y": y,
        "angle": 0.0,
        "filled": False,
        "line_width": 1.0,
        "radius": float(rng.uniform(8.0, 16.0) * s),
    }


def _rectangle(rng: np.random.Generator, size: int, s: float) -> dict:
    x, y = _centre(rng, size, 0.2, 0.8)
    return {
        "kind": "rectangle",
        "x": x,
        "y": y,
        "angle": float(rng.uniform(0.0, TWO_PI)),
        "filled": bool(rng.random() < 0.5),
        "line_width": float(rng.uniform(1.0, 3.0)),
        "width": float(rng.uniform(8.0, 24.0) * s),
        "height": float(rng.uniform(8.0, 24.0) * s),
    }


def _ellipse(rng: np.random.Generator, size: int, s: float) -> dict:
    x, y = _centre(rng, size, 0.2, 0.8)
    semi_major = float(rng.uniform(7.0, 16.0) * s)
    return {
        "kind": "ellipse",
        "x": x,
        "y": y,
        "angle": float(rng.uniform(0.0, TWO_PI)),
        "filled": bool(rng.random() < 0.5),
        "line_width": float(rng.uniform(1.0, 3.0)),
        "semi_major": semi_major,
        "semi_minor": semi_major * float(rng.uniform(0.35, 0.75)),
    }


def sample_scene(case: str, size: int, rng: np.random.Generator) -> Scene:
    """Draw one scene of ``case`` for a ``size`` x ``size`` frame (see the module docstring)."""
    s = size / 64.0
    if case == "d1":
        return [_polygon(rng, size, s, centre=(0.35, 0.65), radius=(10.0, 18.0), filled=True)]
    if case == "d2":
        return [_circle(rng, size, s)]
    if case == "f":
        polygon = _polygon(rng, size, s, centre=(0.2, 0.8), radius=(6.0, 14.0), filled=None)
        return [_rectangle(rng, size, s), polygon, _ellipse(rng, size, s)]
    raise ValueError(f"unknown case {case!r}; allowed: {', '.join(CASES)}")


def sample_scenes(case: str, size: int, count: int, seed: int) -> list[Scene]:
    """``count`` scenes of ``case``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [sample_scene(case, size, rng) for _ in range(count)]


# --------------------------------------------------------------------------------------------
# DeepBench side (only used when run as a script inside the venv)
# --------------------------------------------------------------------------------------------
def deepbench_kwargs(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """DeepBench's ``ShapeImage`` key and ``create_*`` kwargs for one neutral shape spec.

    DeepBench's centre is (row, col) and its ``width`` the extent along rows, so ``x``/``y`` and
    the side lengths are swapped; the angle sense is mirrored (it rotates from rows towards
    columns), hence the sign flips. Sizes are therefore comparable, not pixel-identical.
    """
    kind = spec["kind"]
    center = (spec["y"], spec["x"])
    if kind == "polygon":
        return "polygon", {
            "center": center,
            "angle": -spec["angle"],  # radians: passed to matplotlib's orientation as is
            "vertices": spec["n_vertices"],
            "radius": spec["radius"],
            "line_width": spec["line_width"],
            "fill": spec["filled"],
        }
    if kind == "circle":
        diameter = 2.0 * spec["radius"]
        return "ellipse", {
            "center": center,
            "width": diameter,
            "height": diameter,
            "line_width": 1,
            "fill": False,
        }
    if kind == "rectangle":
        return "rectangle", {
            "center": center,
            "width": spec["height"],
            "height": spec["width"],
            "angle": -math.degrees(spec["angle"]),
            "line_width": spec["line_width"],
            "fill": spec["filled"],
        }
    if kind == "ellipse":
        return "ellipse", {
            "center": center,
            "width": 2.0 * spec["semi_minor"],
            "height": 2.0 * spec["semi_major"],
            "angle": -math.degrees(spec["angle"]),
            "line_width": spec["line_width"],
            "fill": spec["filled"],
        }
    raise ValueError(f"unknown kind {kind!r}")


def _prepare(case: str, size: int, count: int, seed: int) -> list[Any]:
    """Per-image call arguments (built outside the timed region)."""
    scenes = sample_scenes(case, size, count, seed)
    if case in ("d1", "d2"):
        return [deepbench_kwargs(scene[0])[1] for scene in scenes]
    items = []
    for i, scene in enumerate(scenes):
        keys, params = zip(*(deepbench_kwargs(spec) for spec in scene), strict=True)
        items.append((list(keys), list(params), seed * 1_000_003 + i))
    return items


def _renderer(case: str, size: int) -> Callable[[list[Any]], None]:
    """The timed loop of ``case``: construct + render every prepared item."""
    from deepbench.image import ShapeImage
    from deepbench.shapes.shape_generator import ShapeGenerator

    shape = (size, size)
    if case == "d1":

        def run(items: list[Any]) -> None:
            for kwargs in items:
                ShapeGenerator(image_shape=shape).create_regular_polygon(**kwargs)

    elif case == "d2":

        def run(items: list[Any]) -> None:
            for kwargs in items:
                ShapeGenerator(image_shape=shape).create_ellipse(**kwargs)

    else:

        def run(items: list[Any]) -> None:
            for keys, params, noise_seed in items:
                image = ShapeImage(
                    shape, object_noise_type="gaussian", object_noise_level=NOISE_SIGMA
                )
                image.combine_objects(keys, params, seed=noise_seed)

    return run


def drawn_pixels(case: str, size: int, count: int, seed: int) -> float:
    """Mean drawn pixels per image (sum over shapes, before noise) of ``count`` scenes."""
    from deepbench.shapes.shape_generator import ShapeGenerator

    total = 0.0
    for scene in sample_scenes(case, size, count, seed):
        for spec in scene:
            key, kwargs = deepbench_kwargs(spec)
            method = getattr(ShapeGenerator(image_shape=(size, size)), _METHOD[key])
            total += float(np.count_nonzero(method(**kwargs)))
    return total / count


_METHOD = {
    "polygon": "create_regular_polygon",
    "ellipse": "create_ellipse",
    "rectangle": "create_rectangle",
}


def _timed(run: Callable[[list[Any]], None], items: list[Any]) -> tuple[float, float]:
    """``(cpu seconds, wall seconds)`` of ``run(items)``."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run(items)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def time_case(
    prepare: Callable[[int, int], list[Any]],
    run: Callable[[list[Any]], None],
    reps: int,
    min_time: float,
    seed: int,
) -> dict[str, Any]:
    """Median-of-``reps`` throughput; each repetition renders ``count`` fresh items.

    ``prepare(count, seed)`` builds the items (untimed), ``run(items)`` is timed with both the
    process CPU clock (``time.process_time``: the primary figure, insensitive to other processes
    sharing the core) and the wall clock. ``count`` is calibrated from a short warm-up and
    raised whenever a repetition used less than ``min_time`` CPU seconds (that repetition is
    then run again with fresh items). Used by both sides of the shapes benchmark.
    """
    count = 4
    while True:  # warm-up + calibration
        cpu, _ = _timed(run, prepare(count, seed))
        if cpu >= 0.1:
            break
        count *= 4
    count = max(1, math.ceil(1.15 * min_time * count / cpu))
    rates, wall_rates, cpu_times = [], [], []
    rep = 0
    while rep < reps:
        items = prepare(count, seed + 1 + rep)
        cpu, wall = _timed(run, items)
        if cpu < min_time:
            count = math.ceil(count * 1.15 * min_time / max(cpu, 1e-9))
            continue
        rates.append(count / cpu)
        wall_rates.append(count / wall)
        cpu_times.append(cpu)
        rep += 1
    return {
        "rates": rates,
        "wall_rates": wall_rates,
        "count": count,
        "cpu_seconds": cpu_times,
        "median": float(np.median(rates)),
        "min": float(np.min(rates)),
        "max": float(np.max(rates)),
        "wall_median": float(np.median(wall_rates)),
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as metadata

    out = {"python": platform.python_version()}
    for name in ("deepbench", "numpy", "scipy", "matplotlib", "astropy", "scikit-image"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def main(argv: list[str] | None = None) -> None:
    """Time the requested DeepBench cases and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--check-count", type=int, default=50, help="scenes for the pixel check")
    args = parser.parse_args(argv)

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    results: dict[str, Any] = {
        "versions": _versions(),
        "affinity": affinity,
        "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "cases": {},
    }
    for size in args.sizes:
        for case in args.cases:

            def prepare(count: int, seed: int, case: str = case, size: int = size) -> list[Any]:
                return _prepare(case, size, count, seed)

            timing = time_case(prepare, _renderer(case, size), args.reps, args.min_time, args.seed)
            timing["drawn_px"] = drawn_pixels(case, size, args.check_count, args.seed)
            results["cases"][f"{case}@{size}"] = timing
            print(f"deepbench {case}@{size}: {timing['median']:.1f} img/s", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
