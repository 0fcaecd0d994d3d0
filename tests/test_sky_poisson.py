"""The sky's Poisson table: its distribution against scipy's, its inversion against a binary
search, and its draws against the Poisson law."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepbench_hf.sky.poisson import MAX_TABLE_MEAN, poisson_table

MEANS = [1e-9, 1e-3, 0.3, 1.0, 7.5, 200.0, 1234.5, 1e5]  # 1e5 = MAX_TABLE_MEAN


class _Uniforms:
    """Stands in for a Generator: ``random`` returns the given uniforms."""

    def __init__(self, u: np.ndarray) -> None:
        self.u = u

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        return self.u.reshape(size)


@pytest.mark.parametrize("mean", MEANS)
def test_table_is_the_poisson_distribution(mean: float) -> None:
    table = poisson_table(mean)
    counts = np.arange(table.offset, table.offset + table.cdf.size)
    np.testing.assert_allclose(table.cdf, stats.poisson.cdf(counts, mean), rtol=0, atol=2e-14)
    assert table.cdf[-1] == 1.0 and np.all(np.diff(table.cdf) >= 0)
    left_out = stats.poisson.cdf(table.offset - 1, mean) + stats.poisson.sf(counts[-1], mean)
    assert left_out < 1e-18  # far below the 2**-53 resolution of the uniforms


@pytest.mark.parametrize("mean", [0.3, 200.0, 1234.5])
def test_draws_invert_the_cdf_exactly(mean: float) -> None:
    table = poisson_table(mean)
    bins = 1 << table.bits
    edges = np.arange(bins) / bins
    u = np.concatenate(
        [
            np.random.default_rng(5).random(100_000),
            edges,  # every bin's first uniform
            np.nextafter(edges[1:], 0.0),  # and last
            table.cdf[:-1],  # every step of the cdf
            np.nextafter(table.cdf[:-1], 0.0),
        ]
    )
    u = u[(u >= 0) & (u < 1)]
    expected = np.searchsorted(table.cdf, u, side="right") + table.offset
    np.testing.assert_array_equal(table.sample(_Uniforms(u), u.size), expected)


@pytest.mark.parametrize("mean", MEANS[1:])
def test_draws_follow_the_poisson_law(mean: float) -> None:
    draws = poisson_table(mean).sample(np.random.default_rng(int(mean * 1000) + 1), (400, 500))
    assert draws.dtype == np.int64 and draws.shape == (400, 500)
    values, counts = np.unique(draws, return_counts=True)
    expected = stats.poisson.pmf(values, mean) * draws.size
    keep = expected >= 5
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    if keep.sum() > 1:
        assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4
    assert abs(draws.mean() - mean) < 5 * np.sqrt(mean / draws.size)


def test_bad_means_are_refused() -> None:
    for mean in (0.0, -1.0, float("nan"), 2 * MAX_TABLE_MEAN):
        with pytest.raises(ValueError, match="mean must be in"):
            poisson_table(mean)
