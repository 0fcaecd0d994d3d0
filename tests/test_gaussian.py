"""The float32 noise field: standard-normal moments, independence, determinism."""

from __future__ import annotations

import numpy as np
from scipy import stats

from deepbench_hf.gaussian import standard_normal_f32


def test_moments_and_normality():
    rng = np.random.default_rng(11)
    z = np.concatenate([standard_normal_f32(rng, (500, 401)).ravel() for _ in range(8)])
    z = z.astype(np.float64)
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 4 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24 / n)
    # numpy's float32 ziggurat itself (exact tails; Box-Muller of float32 uniforms cut them)
    np.testing.assert_array_equal(
        standard_normal_f32(np.random.default_rng(11), (500, 401)),
        np.random.default_rng(11).standard_normal((500, 401), dtype=np.float32),
    )
    assert stats.kstest(z[:200_000], "norm").pvalue > 1e-3


def test_neighbours_are_uncorrelated_and_draws_repeat():
    a = standard_normal_f32(np.random.default_rng(3), (256, 257))
    assert a.dtype == np.float32 and a.shape == (256, 257)
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 0.01
    assert np.array_equal(a, standard_normal_f32(np.random.default_rng(3), (256, 257)))
