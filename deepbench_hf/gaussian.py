"""Standard-normal fields for pixel noise: numpy's float32 ziggurat.

Every Gaussian noise field of a row (read noise, the ``gaussian`` noise model, the shapes'
pixel noise) comes from :func:`standard_normal_f32`, ``Generator.standard_normal`` with
``dtype=float32``: the ziggurat method, exact in its tails, one 32-bit draw per value in ~99 %
of cases. Rows are computed with numpy's SIMD dispatch off (:mod:`deepbench_hf.numerics`), and
there it costs ~8.5 ns per value on the benchmark machine, half the ~16 ns of a float32
Box–Muller transform (whose ``log``, ``cos`` and ``sin`` are no longer vectorised). Earlier data
versions (sky and lensing configs up to 3.x/4.x, shapes-medium and shapes-hard up to 2.x) used
Box–Muller, which is faster where numpy's SIMD is on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["standard_normal_f32"]


def standard_normal_f32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 array of ``shape`` of independent N(0, 1) values drawn from ``rng``."""
    return rng.standard_normal(shape, dtype=np.float32)
