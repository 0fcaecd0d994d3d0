"""Sky sampler shared by both sides of the sky benchmark, and DeepBench's sky timing worker.

Imported by ``bench_sky.py`` (for :func:`sample_items`, so both codes render objects drawn by
the same function with the same seeds) and run as a script **inside the DeepBench venv**
(``_deepbench_venv.run_in_deepbench_venv``), where it times the original DeepBench 0.2.3 and
prints one JSON object. It never imports ``deepbench_hf``; ``deepbench`` is imported only when
run as a script. The timing loop (``time_case``) is the one of the shapes benchmark.

Parameters are drawn in DeepBench's terms (``x`` = column, ``y`` = row, as its astro objects);
``bench_sky.py`` maps them to our records (mapping documented there and in ``bench/README.md``).
``s = size / 64``: galaxy sizes scale with the frame, star sizes (seeing-like) do not.

Cases, as the reference bench (``/work/shared/reference/deepbench-0.2.3-bench.txt``) describes
them (one new DeepBench object per image, parameters sampled outside the timed region):

* ``a``: ``StarObject((n, n), noise_level=0.1, radius=gamma, amplitude=A, seed=k)
  .create_object(cx, cy, alpha=alpha)``: Moffat + Poisson(0.1) + sigma=0.7 PSF blur;
  gamma ~ U(1, 3) px, alpha ~ U(2.5, 5), A ~ U(50, 500);
* ``b``: ``GalaxyObject((n, n), amplitude=A, radius=r_eff, n=n_s, noise_level=0.2,
  ellipse=e, theta=t, seed=k).create_object(cx, cy)``: Sersic2D + Poisson(2.0) + PSF;
  r_eff ~ U(2, 6)*s, n ~ U(0.5, 4), ellip ~ U(0.1, 0.7), theta ~ U(-1.5, 1.5), A ~ U(1, 20);
* ``c``: ``SpiralGalaxyObject((n, n), amplitude=A, radius=R, arm_thickness=w, noise_level=0.2,
  winding_number=m, spiral_pitch=p, seed=k).create_object(cx, cy)``: R ~ U(8, 16)*s,
  w ~ U(1, 2.5) px, m (number of arms) in {2, 3}, p ~ U(0.2, 0.5) rad, A ~ U(1, 20);
* ``e``: ``SkyImage((n, n), object_noise_level=0.05, object_noise_type="gaussian")
  .combine_objects(["star"] * 5 + ["galaxy"] * 3, instance_params, object_params, seed=k)``:
  the stars of ``a`` (``noise_level`` 0.1) and the Sersic galaxies of ``b`` (``noise_level``
  0.2), each with its own seed, placed at U(0.1, 0.9)*(n - 1); image-level Gaussian noise.

Single objects are centred at U(0.35, 0.65)*(n - 1) (DeepBench's spiral ignores its centre).

Usage (inside the venv): ``python _deepbench_sky_worker.py --cases a b c e --sizes 64 128
--reps 5 --min-time 0.6 --seed 12345 [--cpu 0]``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    if hasattr(os, "sched_setaffinity"):
        _cpu = int(sys.argv[sys.argv.index("--cpu") + 1]) if "--cpu" in sys.argv else 0
        os.sched_setaffinity(0, {_cpu})

import argparse
import json
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _deepbench_shapes_worker import _versions, time_case

CASES = ("a", "b", "c", "e")
CASE_LABELS = {
    "a": "star (Moffat+Poisson+PSF)",
    "b": "sersic galaxy",
    "c": "spiral galaxy",
    "e": "sky: 5 stars+3 gal+G+P noise",
}
STAR_NOISE, GALAXY_NOISE, IMAGE_NOISE = 0.1, 0.2, 0.05
N_STARS, N_GALAXIES = 5, 3

Item = dict[str, Any]


# --------------------------------------------------------------------------------------------
# parameter sampling (shared with bench_sky.py)
# --------------------------------------------------------------------------------------------
def _centre(rng: np.random.Generator, size: int, low: float, high: float) -> tuple[float, float]:
    x, y = rng.uniform(low, high, size=2) * (size - 1)
    return float(x), float(y)


def _star(rng: np.random.Generator, size: int, centre: tuple[float, float]) -> Item:
    x, y = _centre(rng, size, *centre)
    return {
        "kind": "star",
        "x": x,
        "y": y,
        "radius": float(rng.uniform(1.0, 3.0)),  # Moffat gamma (px)
        "alpha": float(rng.uniform(2.5, 5.0)),
        "amplitude": float(rng.uniform(50.0, 500.0)),
    }


def _galaxy(rng: np.random.Generator, size: int, centre: tuple[float, float]) -> Item:
    s = size / 64.0
    x, y = _centre(rng, size, *centre)
    return {
        "kind": "galaxy",
        "x": x,
        "y": y,
        "radius": float(rng.uniform(2.0, 6.0) * s),  # Sersic r_eff (px)
        "n": float(rng.uniform(0.5, 4.0)),
        "ellipse": float(rng.uniform(0.1, 0.7)),
        "theta": float(rng.uniform(-1.5, 1.5)),
        "amplitude": float(rng.uniform(1.0, 20.0)),  # surface brightness at r_eff
    }


def _spiral(rng: np.random.Generator, size: int) -> Item:
    s = size / 64.0
    x, y = _centre(rng, size, 0.35, 0.65)
    return {
        "kind": "spiral",
        "x": x,
        "y": y,
        "radius": float(rng.uniform(8.0, 16.0) * s),
        "arm_thickness": float(rng.uniform(1.0, 2.5)),
        "winding_number": int(rng.integers(2, 4)),  # number of arms
        "spiral_pitch": float(rng.uniform(0.2, 0.5)),  # rad
        "amplitude": float(rng.uniform(1.0, 20.0)),
    }


def sample_item(case: str, size: int, rng: np.random.Generator) -> list[Item]:
    """The objects of one image of ``case`` (a list of parameter dicts, DeepBench's terms)."""
    single = (0.35, 0.65)
    if case == "a":
        return [_star(rng, size, single)]
    if case == "b":
        return [_galaxy(rng, size, single)]
    if case == "c":
        return [_spiral(rng, size)]
    if case == "e":
        wide = (0.1, 0.9)
        stars = [_star(rng, size, wide) for _ in range(N_STARS)]
        return stars + [_galaxy(rng, size, wide) for _ in range(N_GALAXIES)]
    raise ValueError(f"unknown case {case!r}; allowed: {', '.join(CASES)}")


def sample_items(case: str, size: int, count: int, seed: int) -> list[list[Item]]:
    """``count`` images of ``case``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [sample_item(case, size, rng) for _ in range(count)]


def deepbench_spiral_sum(obj: Item, size: int) -> float:
    """Total of DeepBench's noiseless spiral in a ``size`` x ``size`` frame (its formula, numpy)."""
    grid = np.linspace(-size / 2, size / 2, size)
    xx, yy = np.meshgrid(grid, grid)
    r = np.hypot(xx, yy)
    theta = np.arctan2(yy, xx) + np.pi
    m = obj["winding_number"]
    image = np.zeros_like(r)
    for k in range(m):
        phase = (theta - 2 * np.pi * k / m) / np.tan(obj["spiral_pitch"])
        rk = obj["radius"] / np.pi * np.exp(phase)
        image += np.exp(-((r - rk) ** 2) / (2 * obj["arm_thickness"] ** 2))
    return float(obj["amplitude"] * image.sum())


# --------------------------------------------------------------------------------------------
# DeepBench side (only used when run as a script inside the venv)
# --------------------------------------------------------------------------------------------
def _instance(obj: Item, size: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """DeepBench constructor kwargs and ``create_object`` kwargs of one object."""
    kind = obj["kind"]
    if kind == "star":
        inst = {"radius": obj["radius"], "amplitude": obj["amplitude"], "noise_level": STAR_NOISE}
        create = {"center_x": obj["x"], "center_y": obj["y"], "alpha": obj["alpha"]}
    elif kind == "galaxy":
        inst = {key: obj[key] for key in ("radius", "amplitude", "n", "ellipse", "theta")} | {
            "noise_level": GALAXY_NOISE
        }
        create = {"center_x": obj["x"], "center_y": obj["y"]}
    else:
        inst = {
            key: obj[key]
            for key in ("radius", "amplitude", "arm_thickness", "winding_number", "spiral_pitch")
        } | {"noise_level": GALAXY_NOISE}
        create = {"center_x": obj["x"], "center_y": obj["y"]}
    inst["seed"] = seed
    return inst, create


def _prepare(case: str, size: int, count: int, seed: int) -> list[Any]:
    """Per-image call arguments (built outside the timed region)."""
    items = []
    for i, objects in enumerate(sample_items(case, size, count, seed)):
        image_seed = seed * 1_000_003 + i
        pairs = [_instance(obj, size, image_seed * 16 + j) for j, obj in enumerate(objects)]
        if case == "e":
            kinds = [obj["kind"] for obj in objects]
            items.append((kinds, [p[0] for p in pairs], [p[1] for p in pairs], image_seed))
        else:
            items.append(pairs[0])
    return items


def _renderer(case: str, size: int) -> Callable[[list[Any]], None]:
    """The timed loop of ``case``: construct + render every prepared item."""
    from deepbench.astro_object import GalaxyObject, SpiralGalaxyObject, StarObject
    from deepbench.image import SkyImage

    shape = (size, size)
    if case == "e":

        def run_e(items: list[Any]) -> None:
            for kinds, instance, create, image_seed in items:
                sky = SkyImage(shape, object_noise_level=IMAGE_NOISE, object_noise_type="gaussian")
                sky.combine_objects(kinds, instance, create, seed=image_seed)

        return run_e
    cls = {"a": StarObject, "b": GalaxyObject, "c": SpiralGalaxyObject}[case]

    def run(items: list[Any]) -> None:
        for inst, create in items:
            cls(shape, **inst).create_object(**create)

    return run


def main(argv: list[str] | None = None) -> None:
    """Time the requested DeepBench cases and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to (read at start-up)")
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
            results["cases"][f"{case}@{size}"] = timing
            print(f"deepbench {case}@{size}: {timing['median']:.1f} img/s", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
