"""Speed of the batched N-body leapfrog against REBOUND, one core, side by side.

Run ``python bench/bench_nbody.py``. The process pins itself to CPU 0 and limits BLAS/OpenMP to
one thread *before* importing numpy. Two workloads, each integrated for ``--steps`` steps of the
same ``dt`` with the same softening:

- a batch of 1,000 systems of N = 3 bodies,
- a batch of 100 systems of N = 32 bodies,

random bodies in virial equilibrium (:func:`deepbench_hf.nbody.initial_conditions.random_virial`).
deepbench-hf advances the whole batch at once (kick-drift-kick leapfrog); REBOUND integrates one
system at a time in a Python loop with its ``"leapfrog"`` integrator (drift-kick-drift, also
second order, one force evaluation per step). Two output modes are timed for both:

- ``final``: keep only the start and the end state (``save_every = steps``; REBOUND
  ``sim.steps(steps)``) -- REBOUND's best case;
- ``every 10``: keep a snapshot every 10 steps (``save_every = 10``; REBOUND ``sim.steps(10)`` then
  ``serialize_particle_data`` into a preallocated array).

The time includes building the systems (REBOUND: creating the simulation and adding particles).
Reported: simulations per second (best of ``--repeats``) and the ratio ours / REBOUND.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {0})

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from deepbench_hf.nbody.initial_conditions import random_virial  # noqa: E402
from deepbench_hf.nbody.integrators import simulate  # noqa: E402

DT = 1e-3
SOFTENING = 0.01
G = 1.0


def _best(fn: Callable[..., object], args: tuple, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _ours(m: np.ndarray, x: np.ndarray, v: np.ndarray, steps: int, save_every: int) -> None:
    simulate(m, x, v, G=G, dt=DT, n_steps=steps, softening=SOFTENING, save_every=save_every)


def _rebound(m: np.ndarray, x: np.ndarray, v: np.ndarray, steps: int, save_every: int) -> None:
    import rebound

    b, n, _ = x.shape
    snaps = np.empty((steps // save_every + 1, n, 3))
    for k in range(b):
        sim = rebound.Simulation()
        sim.G = G
        sim.integrator = "leapfrog"
        sim.dt = DT
        sim.softening = SOFTENING
        for i in range(n):
            sim.add(
                m=m[k, i],
                x=x[k, i, 0],
                y=x[k, i, 1],
                z=x[k, i, 2],
                vx=v[k, i, 0],
                vy=v[k, i, 1],
                vz=v[k, i, 2],
            )
        sim.serialize_particle_data(xyz=snaps[0])
        for t in range(1, steps // save_every + 1):
            sim.steps(save_every)
            sim.serialize_particle_data(xyz=snaps[t])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import rebound
    except ImportError:  # pragma: no cover - optional dependency
        rebound = None

    steps = args.steps
    print(f"1 core, dt={DT}, softening={SOFTENING}, {steps} steps, best of {args.repeats}")
    if rebound is not None:
        print(f"numpy {np.__version__}, rebound {rebound.__version__}")
    header = f"{'workload':<16}{'output':<10}{'ours sims/s':>14}{'REBOUND sims/s':>16}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(12345)
    for b, n in ((1000, 3), (100, 32)):
        m, x, v = random_virial(rng, n_systems=b, n_bodies=n, softening=SOFTENING)
        for label, save_every in (("final", steps), ("every 10", 10)):
            t_ours = _best(_ours, (m, x, v, steps, save_every), args.repeats)
            ours = b / t_ours
            if rebound is None:
                print(f"{f'B={b} N={n}':<16}{label:<10}{ours:>14.1f}{'n/a':>16}{'':>8}")
                continue
            t_rb = _best(_rebound, (m, x, v, steps, save_every), args.repeats)
            theirs = b / t_rb
            print(
                f"{f'B={b} N={n}':<16}{label:<10}{ours:>14.1f}{theirs:>16.1f}{ours / theirs:>8.2f}"
            )


if __name__ == "__main__":
    main()
