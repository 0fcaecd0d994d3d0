"""Timing of the sky renderer: images per second, single core.

Run ``python bench/sky_profile_timing.py [--profile]``. Each case renders a clean image (stamps,
pixel integration, optional PSF) and adds CCD noise (exact Poisson unless stated), as the original
DeepBench figures (~2500 stars/s, ~1600 Sérsic/s, ~2500 spirals/s at 64x64; ~265 scenes/s of
5 stars + 3 galaxies) did. Parameters are drawn once per case from a fixed seed and cycled, so
the timing covers a spread of sizes, indices and positions.

As the other benchmarks, it runs on one core: ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` is set before
numpy is imported (the renderer's small matrix products must not spawn BLAS threads) and the
process is pinned to CPU 0.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {0})

import argparse  # noqa: E402
import cProfile  # noqa: E402
import dataclasses  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from deepbench_hf.sky.noise import ccd_noise  # noqa: E402
from deepbench_hf.sky.psf import PSF  # noqa: E402
from deepbench_hf.sky.render import (  # noqa: E402
    Elliptical,
    Spiral,
    Star,
    render_image,
    render_scene,
)

NOISE = {"sky_level": 100.0, "gain": 2.0, "read_noise": 5.0}


def _star(rng: np.random.Generator, size: int) -> Star:
    c = size / 2
    return Star(
        x=c + rng.uniform(-3, 3),
        y=c + rng.uniform(-3, 3),
        flux=rng.uniform(1e3, 1e5),
        fwhm=rng.uniform(1.5, 4.0),
        beta=rng.uniform(2.5, 5.0),
    )


def _elliptical(rng: np.random.Generator, size: int) -> Elliptical:
    c = size / 2
    return Elliptical(
        x=c + rng.uniform(-3, 3),
        y=c + rng.uniform(-3, 3),
        flux=rng.uniform(1e3, 1e5),
        r_eff=rng.uniform(1.5, size / 10),
        n=rng.uniform(0.5, 6.0),
        q=rng.uniform(0.3, 1.0),
        angle=rng.uniform(0, np.pi),
    )


def _spiral(rng: np.random.Generator, size: int) -> Spiral:
    c = size / 2
    return Spiral(
        x=c + rng.uniform(-3, 3),
        y=c + rng.uniform(-3, 3),
        flux=rng.uniform(1e3, 1e5),
        disc_scale=rng.uniform(size / 20, size / 10),
        q=rng.uniform(0.3, 1.0),
        angle=rng.uniform(0, np.pi),
        winding=rng.uniform(2, 6),
        pitch=rng.uniform(0.6, 1.5),
        arm_count=int(rng.integers(2, 4)),
    )


def _scene(rng: np.random.Generator, size: int) -> list:
    def place(obj):
        return dataclasses.replace(obj, x=rng.uniform(4, size - 5), y=rng.uniform(4, size - 5))

    objs = [place(_star(rng, size)) for _ in range(5)]
    objs += [place(_elliptical(rng, size)) for _ in range(2)]
    return [*objs, place(_spiral(rng, size))]


def _rate(make, size: int, *, psf: PSF | None, noise: bool, method: str, seconds: float) -> float:
    rng = np.random.default_rng(1)
    cases = [make(rng, size) for _ in range(50)]
    cases = [c if isinstance(c, list) else [c] for c in cases]
    shape = (size, size)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        img = render_image(shape=shape, objects=cases[count % len(cases)], psf=psf)
        if noise:
            ccd_noise(img, rng=rng, method=method, **NOISE)
        count += 1
    return count / (time.perf_counter() - t0)


def _noise_cost(size: int) -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((size, size), dtype=np.float32)
    for method in ("poisson", "normal"):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.5:
            ccd_noise(img, rng=rng, method=method, **NOISE)
            n += 1
        dt = (time.perf_counter() - t0) / n
        print(
            f"  ccd_noise {method:8s} {size}x{size}: {dt * 1e6:7.1f} us/image "
            f"({dt / size**2 * 1e9:5.1f} ns/pixel)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case")
    parser.add_argument("--profile", action="store_true", help="cProfile the 64x64 scene")
    args = parser.parse_args()
    psf = PSF(fwhm=2.0, kind="gaussian")
    print("noise alone:")
    for size in (64, 128):
        _noise_cost(size)
    print("images/s (single core), CCD noise:")
    for name, make in (("star", _star), ("sersic", _elliptical), ("spiral", _spiral)):
        for size in (64, 128):
            row = []
            for label, p, method in (
                ("poisson", None, "poisson"),
                ("poisson+psf", psf, "poisson"),
                ("normal", None, "normal"),
            ):
                rate = _rate(make, size, psf=p, noise=True, method=method, seconds=args.seconds)
                row.append(f"{label} {rate:7.0f}")
            print(f"  {name:7s} {size:3d}x{size:<3d}  " + "  ".join(row))
    for label, p, method in (
        ("poisson", None, "poisson"),
        ("poisson+psf", psf, "poisson"),
        ("normal", None, "normal"),
        ("clean only", None, None),
    ):
        rate = _rate(
            _scene, 64, psf=p, noise=method is not None, method=method or "", seconds=args.seconds
        )
        print(f"  scene 5 stars + 3 galaxies 64x64 {label:12s} {rate:7.0f}")
    if args.profile:
        rng = np.random.default_rng(2)
        scenes = [_scene(rng, 64) for _ in range(50)]
        prof = cProfile.Profile()
        prof.enable()
        for i in range(1000):
            scene = render_scene(shape=(64, 64), objects=scenes[i % 50], psf=psf)
            ccd_noise(scene.image, rng=rng, **NOISE)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
