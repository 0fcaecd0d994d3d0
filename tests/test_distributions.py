"""Distributions: parsing, validation against a domain, and sampling within it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepbench_hf.distributions import (
    Choice,
    Constant,
    Domain,
    LogUniform,
    Normal,
    RandInt,
    Uniform,
    parse_distribution,
)
from deepbench_hf.errors import ConfigError

POSITIVE = Domain("float", low=0.0, low_open=True)
UNIT = Domain("float", low=0.0, high=1.0)
INT3 = Domain("int", low=3, high=64)


def parse(raw, domain=POSITIVE):
    return parse_distribution(raw, domain, source="f.yaml", path="a.b")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (2, Constant(2.0)),
        ({"uniform": [1, 2]}, Uniform(1.0, 2.0)),
        ({"uniform": {"low": 1, "high": 2}}, Uniform(1.0, 2.0)),
        ({"loguniform": [0.1, 10]}, LogUniform(0.1, 10.0)),
        ({"normal": {"mean": 5, "std": 1, "low": 1}}, Normal(5.0, 1.0, 1.0, None)),
        ({"randint": [1, 4]}, RandInt(1, 4)),
        ({"choice": [1, 2.5]}, Choice((1.0, 2.5))),
    ],
)
def test_parse_forms(raw, expected):
    assert parse(raw) == expected


def test_choice_with_weights_round_trips():
    dist = parse({"choice": {"values": [1, 2], "weights": [3, 1]}})
    assert dist.to_config() == {"choice": {"values": [1.0, 2.0], "weights": [3.0, 1.0]}}
    draws = [dist.sample(np.random.default_rng(i)) for i in range(4000)]
    assert abs(draws.count(1.0) / 4000 - 0.75) < 0.03


@pytest.mark.parametrize(
    ("raw", "domain", "message"),
    [
        ({"uniform": [3, 1]}, POSITIVE, r"a\.b\.uniform: low \(3\) > high \(1\)"),
        ({"uniform": [-1, 1]}, POSITIVE, r"leaves the allowed values \(a number in \(0, inf\)\)"),
        ({"gauss": [0, 1]}, POSITIVE, "unknown distribution"),
        ("abc", POSITIVE, "expected a number in \\(0, inf\\) or a distribution, got 'abc'"),
        ({"normal": [0, 1]}, POSITIVE, "a normal without low can leave the allowed range"),
        (
            {"normal": {"mean": 3, "std": 10, "low": -1, "high": 5}},
            POSITIVE,
            r"low \(-1\) must lie in the allowed range",
        ),
        ({"normal": {"mean": 0, "std": -1, "low": 1}}, POSITIVE, "std must be > 0"),
        ({"loguniform": [0, 1]}, UNIT, "loguniform needs low > 0"),
        ({"uniform": [3, 5]}, INT3, "uniform draws real numbers"),
        ({"randint": [1, 5]}, INT3, r"leaves the allowed values \(an integer in \[3, 64\]\)"),
        ({"choice": [4, 2]}, INT3, "value 2 is not allowed"),
        ({"choice": {"values": [4, 5], "weights": [1]}}, INT3, "weights must be a list of 2"),
        ([1, 2], POSITIVE, "a list is not a value"),
        (True, POSITIVE, "got True"),
        (math.inf, POSITIVE, "got inf"),
        ({"randint": [4, 5.5]}, INT3, "randint bounds must be integers"),
        ({"normal": {"mean": 5, "std": 0, "low": 1}}, POSITIVE, "std must be > 0"),
        ({"normal": {"mean": 5, "std": 1, "low": 3, "high": 2}}, POSITIVE, r"low \(3\) > high"),
        ({"normal": {"mean": 0.5, "std": 1, "low": 0}}, UNIT, "a normal without high can leave"),
        ({"choice": {"values": [4, 5], "weights": [0, 0]}}, INT3, "weights must"),
        ({"uniform": [True, 5]}, POSITIVE, "got True"),
    ],
)
def test_bad_values_name_the_path(raw, domain, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse(raw, domain)
    assert str(info.value).startswith("f.yaml: a.b")
    assert "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(
    low=st.floats(-1e6, 1e6, allow_nan=False),
    width=st.floats(0, 1e6, allow_nan=False),
    seed=st.integers(0, 2**32 - 1),
)
def test_uniform_samples_stay_in_range(low, width, seed):
    high = low + width
    dist = parse({"uniform": [low, high]}, Domain("float"))
    value = dist.sample(np.random.default_rng(seed))
    assert low <= value <= high


@settings(max_examples=200, deadline=None)
@given(
    mean=st.floats(-100, 100),
    std=st.floats(0.01, 100),
    low=st.floats(-50, 50),
    width=st.floats(0.0, 100),
    seed=st.integers(0, 2**32 - 1),
)
def test_truncated_normal_stays_in_bounds(mean, std, low, width, seed):
    spec = {"normal": {"mean": mean, "std": std, "low": low, "high": low + width}}
    dist = parse(spec, Domain("float"))
    value = dist.sample(np.random.default_rng(seed))
    assert low <= value <= low + width


@settings(max_examples=200, deadline=None)
@given(low=st.integers(-1000, 1000), width=st.integers(0, 50), seed=st.integers(0, 2**32 - 1))
def test_randint_is_inclusive_and_in_range(low, width, seed):
    dist = parse({"randint": [low, low + width]}, Domain("int"))
    rng = np.random.default_rng(seed)
    values = {dist.sample(rng) for _ in range(20 * (width + 1))}
    assert values <= set(range(low, low + width + 1))
    if width <= 3:
        assert values == set(range(low, low + width + 1))


def test_truncated_normal_matches_scipy_moments():
    from scipy.stats import truncnorm

    dist = Normal(1.0, 2.0, 0.0, 3.0)
    rng = np.random.default_rng(7)
    draws = np.array([dist.sample(rng) for _ in range(20000)])
    ref = truncnorm((0 - 1) / 2, (3 - 1) / 2, loc=1, scale=2)
    assert abs(draws.mean() - ref.mean()) < 4 * ref.std() / math.sqrt(draws.size)
    assert abs(draws.std() - ref.std()) < 0.02 * ref.std()


@pytest.mark.parametrize(
    ("mean", "std", "low", "high"),
    # wholly above or below the mean, up to hundreds of sigma out (the CDF rounds to 0 or 1)
    [(0.0, 0.1, 1.0, 2.0), (100.0, 1.0, 1.0, 2.0), (0.0, 1.0, 9.0, 10.0), (0.0, 1.0, 2.0, None),
     (0.0, 1.0, None, -3.0), (0.0, 1.0, -40.0, -39.0), (5.0, 2.0, None, 4.0)],
)  # fmt: skip
def test_truncated_normal_far_in_a_tail_follows_scipy(mean, std, low, high):
    from scipy.stats import kstest, truncnorm

    rng = np.random.default_rng(11)
    draws = np.array([Normal(mean, std, low, high).sample(rng) for _ in range(4000)])
    a = -math.inf if low is None else (low - mean) / std
    b = math.inf if high is None else (high - mean) / std
    assert kstest(draws, truncnorm(a, b, loc=mean, scale=std).cdf).pvalue > 1e-3
    assert (low is None or draws.min() >= low) and (high is None or draws.max() <= high)


def test_truncated_normal_draws_are_pinned():
    # an interval around the mean: the plain inverse CDF, bits fixed since 1.0.0
    rng = np.random.default_rng(0)
    assert [Normal(1.0, 2.0, 0.0, 3.0).sample(rng) for _ in range(3)] == [
        1.7593966412212199,
        0.7602033428504356,
        0.1222084415077761,
    ]
    # wholly below the mean: the log-space tail, equal to the inverse CDF to round-off
    rng = np.random.default_rng(0)
    draws = [Normal(0.0, 1.0, None, -0.5).sample(rng) for _ in range(2)]
    assert draws == pytest.approx([-0.854093504690924, -1.3836075433665618], abs=1e-14)
    # wholly above the mean: mirrored with 1 - u, so a larger u still draws a larger value,
    # as scipy's truncnorm.ppf(u, 0.5, inf) does
    rng = np.random.default_rng(0)
    draws = [Normal(0.0, 1.0, 0.5, None).sample(rng) for _ in range(2)]
    assert draws == pytest.approx([1.2159029481217467, 0.7544210758785053], abs=1e-14)


def test_loguniform_is_uniform_in_log():
    dist = LogUniform(0.01, 100.0)
    rng = np.random.default_rng(3)
    logs = np.log10([dist.sample(rng) for _ in range(20000)])
    assert abs(logs.mean()) < 0.05
    assert abs(np.mean(logs < 0) - 0.5) < 0.02


@pytest.mark.parametrize(
    ("mean", "std", "low", "high", "bound"),
    # so far out that even the tail's logarithm overflows: all the mass is at the near bound
    [(0.0, 1e-300, 0.1, 1.0, 0.1), (1e300, 1.0, 0.0, 1.0, 1.0), (0.0, 1.0, -1e200, -1e199, -1e199),
     (0.0, 1.0, 1e160, 1e161, 1e160)],
)  # fmt: skip
def test_truncated_normal_beyond_float_tails_draws_the_nearest_bound(mean, std, low, high, bound):
    rng = np.random.default_rng(3)
    assert [Normal(mean, std, low, high).sample(rng) for _ in range(3)] == [bound] * 3


def test_an_untruncated_normal_has_its_mean_and_std():
    dist = parse({"normal": {"mean": 3.0, "std": 2.0}}, Domain("float"))
    rng = np.random.default_rng(5)
    draws = np.array([dist.sample(rng) for _ in range(20000)])
    assert abs(draws.mean() - 3.0) < 5 * 2.0 / math.sqrt(draws.size)
    assert abs(draws.std() - 2.0) < 0.05


def test_supports_bounds_and_casts():
    from deepbench_hf.distributions import value_bounds

    assert RandInt(2, 6).support() == (2, 3, 4, 5, 6)
    assert value_bounds(Choice((3, 1, 2))) == (1, 3)
    assert parse({"choice": [4.0, 5.0]}, INT3) == Choice((4, 5))
    assert all(type(v) is int for v in parse({"choice": [4.0, 5.0]}, INT3).values)
    assert parse(10.0, INT3) == Constant(10) and type(parse(1e1, INT3).value) is int
    assert type(parse(2, POSITIVE).value) is float


def test_choices_draw_every_value_with_their_weights():
    from deepbench_hf.distributions import cumulative_probabilities

    assert cumulative_probabilities([1, 1, 2]) == (0.25, 0.5, 1.0)
    rng = np.random.default_rng(8)
    plain = [Choice(("a", "b", "c")).sample(rng) for _ in range(3000)]
    assert {v: plain.count(v) for v in "abc"} == pytest.approx(
        {v: 1000 for v in "abc"}, abs=5 * math.sqrt(1000)
    )
    weighted = [Choice(("a", "b", "c"), (1, 1, 2)).sample(rng) for _ in range(4000)]
    assert {v: weighted.count(v) for v in "abc"} == pytest.approx(
        {"a": 1000, "b": 1000, "c": 2000}, abs=5 * math.sqrt(1000)
    )


def test_domains_describe_open_bounds_and_exact_integers():
    assert "[0, 1)" in Domain("float", low=0.0, high=1.0, high_open=True).describe()
    assert "9223372036854775807" in Domain("int", low=0, high=2**63 - 1).describe()
