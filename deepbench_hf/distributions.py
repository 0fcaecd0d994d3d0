"""Parameter distributions that configs use for every sampled quantity.

A config value is either a constant or a one-key mapping naming a distribution::

    3.5                                   # constant
    {uniform: [low, high]}                # or {uniform: {low: .., high: ..}}
    {normal: {mean: m, std: s, low: a, high: b}}   # low/high optional: truncated normal
    {loguniform: [low, high]}             # log(value) uniform; low > 0
    {randint: [low, high]}                # integers, BOTH ends inclusive
    {choice: [a, b, c]}                   # or {choice: {values: [..], weights: [..]}}

Each field declares a :class:`Domain` (type and bounds); a distribution is accepted only if every
value it can produce lies in the domain, so no sampled value can be invalid. Sampling takes an
explicit ``numpy.random.Generator``: there is no global random state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri, ndtri_exp

from .errors import ConfigError

DISTRIBUTION_NAMES = ("uniform", "normal", "loguniform", "randint", "choice")


@dataclass(frozen=True)
class Domain:
    """The set of values a field accepts.

    Parameters
    ----------
    kind
        ``"float"``, ``"int"``, ``"bool"`` or ``"str"``.
    low, high
        Inclusive bounds for numbers unless ``low_open``/``high_open`` is set (``None``: unbounded).
    values
        The allowed strings for ``kind="str"`` (``None``: any string).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    values: tuple[str, ...] | None = None

    def contains(self, value: Any) -> bool:
        """Whether a single value belongs to the domain."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str) and (self.values is None or value in self.values)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (
            self.high is not None and (value > self.high or (self.high_open and value == self.high))
        )

    def _bound(self, value: float) -> str:
        """``1e+09`` for round bounds, every digit where ``:g`` would round an integer's."""
        text = f"{value:g}"
        if self.kind == "int" and int(float(text)) != int(value):
            return str(int(value))
        return text

    def describe(self) -> str:
        """Human description used in error messages, e.g. ``a number in (0, inf)``."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return "one of " + ", ".join(self.values) if self.values else "a string"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.low is None and self.high is None:
            return noun
        lo = "-inf" if self.low is None else self._bound(self.low)
        hi = "inf" if self.high is None else self._bound(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{noun} in {left}{lo}, {hi}{right}"


class Distribution:
    """Base class: a frozen description of how to draw one value."""

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value."""
        raise NotImplementedError

    def support(self) -> tuple[Any, ...] | None:
        """All possible values for discrete distributions, ``None`` for continuous ones."""
        return None

    def to_config(self) -> Any:
        """The canonical YAML form (what the dataset card's resolved config shows)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def support(self) -> tuple[Any, ...]:
        return (self.value,)

    def to_config(self) -> Any:
        return self.value


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        # Same value as rng.uniform(low, high), without its per-call overhead.
        return self.low + (self.high - self.low) * rng.random()

    def to_config(self) -> Any:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class LogUniform(Distribution):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        # exp(log(x)) can miss x by an ulp (exp(log(3)) = 3.0000000000000004): stay in range
        return float(min(max(value, self.low), self.high))

    def to_config(self) -> Any:
        return {"loguniform": [self.low, self.high]}


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal distribution, truncated to ``[low, high]`` by inverse-CDF sampling (one draw each).

    An interval wholly on one side of the mean is sampled from the logarithm of the tail
    probability (``log_ndtr``, ``ndtri_exp``; above the mean as the mirror image of the interval
    below it): the CDF itself rounds to 1 a few sigma above the mean and underflows to 0 ~38
    sigma below it, while its logarithm stays exact hundreds of sigma out. Beyond ~1e154 sigma,
    where the logarithm overflows too, the draw is the bound nearest the mean, within
    ``std / 1e154`` of which all the truncated distribution's mass lies.
    """

    mean: float
    std: float
    low: float | None = None
    high: float | None = None

    def sample(self, rng: np.random.Generator) -> float:
        if self.low is None and self.high is None:
            return float(rng.normal(self.mean, self.std))
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        if hi < self.mean:
            value = self.mean + self.std * _lower_tail(
                (lo - self.mean) / self.std, (hi - self.mean) / self.std, rng.random()
            )
        elif lo > self.mean:  # mirrored, with 1 - u: the draws keep the direction of the CDF's
            value = self.mean - self.std * _lower_tail(
                (self.mean - hi) / self.std, (self.mean - lo) / self.std, 1.0 - rng.random()
            )
        else:
            a = 0.0 if self.low is None else float(ndtr((self.low - self.mean) / self.std))
            b = 1.0 if self.high is None else float(ndtr((self.high - self.mean) / self.std))
            value = self.mean + self.std * float(ndtri(rng.uniform(a, b)))
        if math.isnan(value):  # beyond the log-tail's range (see the class docstring)
            value = hi if hi < self.mean else lo
        return float(min(max(value, lo), hi))

    def to_config(self) -> Any:
        spec: dict[str, float] = {"mean": self.mean, "std": self.std}
        if self.low is not None:
            spec["low"] = self.low
        if self.high is not None:
            spec["high"] = self.high
        return {"normal": spec}


def _lower_tail(a: float, b: float, u: float) -> float:
    """The standard normal truncated to ``[a, b]``, ``b < 0`` (``a`` may be ``-inf``), at the
    uniform ``u`` in [0, 1]: its CDF inverted in log space, ``P(a) + u (P(b) - P(a)) = P(b) (r +
    u (1 - r))`` with ``r = P(a) / P(b)`` (the same draw as the CDF's inverse, to round-off)."""
    log_b = float(log_ndtr(b))
    ratio = math.exp(float(log_ndtr(a)) - log_b)
    return float(ndtri_exp(log_b + math.log(ratio + u * (1.0 - ratio))))


@dataclass(frozen=True)
class RandInt(Distribution):
    """Integers from ``low`` to ``high``, both inclusive."""

    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def support(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))

    def to_config(self) -> Any:
        return {"randint": [self.low, self.high]}


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]
    weights: tuple[float, ...] | None = None
    _cumulative: tuple[float, ...] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.weights is not None:
            object.__setattr__(self, "_cumulative", cumulative_probabilities(self.weights))

    def sample(self, rng: np.random.Generator) -> Any:
        if self._cumulative is None:
            return self.values[int(rng.integers(len(self.values)))]
        return self.values[pick(self._cumulative, rng)]

    def support(self) -> tuple[Any, ...]:
        return self.values

    def to_config(self) -> Any:
        if self.weights is None:
            return {"choice": list(self.values)}
        return {"choice": {"values": list(self.values), "weights": list(self.weights)}}


def cumulative_probabilities(weights: Sequence[float]) -> tuple[float, ...]:
    """Normalised cumulative sums of non-negative weights (last entry exactly 1)."""
    total = float(sum(weights))
    running, out = 0.0, []
    for w in weights:
        running += w
        out.append(running / total)
    out[-1] = 1.0
    return tuple(out)


def pick(cumulative: Sequence[float], rng: np.random.Generator) -> int:
    """Index drawn with the probabilities given by ``cumulative`` (one uniform draw)."""
    u = rng.random()
    for index, edge in enumerate(cumulative):
        if u < edge:
            return index
    return len(cumulative) - 1


def is_distribution_spec(raw: Any) -> bool:
    """Whether ``raw`` is a one-key mapping naming a distribution (used when merging configs)."""
    return isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in DISTRIBUTION_NAMES


def _pair(raw: Any, names: tuple[str, str], err: _Err) -> tuple[Any, Any]:
    if isinstance(raw, (list, tuple)) and len(raw) == 2:
        return raw[0], raw[1]
    if isinstance(raw, dict) and set(raw) == set(names):
        return raw[names[0]], raw[names[1]]
    err(f"expected [{names[0]}, {names[1]}] or {{{names[0]}: .., {names[1]}: ..}}, got {raw!r}")
    raise AssertionError  # unreachable: err raises


def _number(value: Any, err: _Err, what: str) -> float:
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):  # e.g. a YAML integer beyond float range
        number = math.nan
    if not isinstance(value, (int, float)) or not math.isfinite(number):
        err(f"{what} must be a finite number, got {value!r}")
    return number


class _Err:
    def __init__(self, source: str, path: str) -> None:
        self.source, self.path = source, path

    def __call__(self, message: str) -> None:
        raise ConfigError(self.source, self.path, message)


def parse_distribution(raw: Any, domain: Domain, *, source: str, path: str) -> Distribution:
    """Parse a config value into a :class:`Distribution` whose every value lies in ``domain``.

    Raises
    ------
    ConfigError
        With ``source`` and ``path`` in the message, if the value is malformed, names an unknown
        distribution, has ``low > high``, or can produce values outside ``domain``.
    """
    err = _Err(source, path)
    allowed = domain.describe()
    if not isinstance(raw, dict):
        if isinstance(raw, (list, tuple)):
            err(f"a list is not a value; use {{choice: {list(raw)!r}}} or a constant ({allowed})")
        if not domain.contains(raw):
            err(f"expected {allowed} or a distribution, got {raw!r}")
        if domain.kind == "float":
            return Constant(float(raw))
        if domain.kind == "int":
            return Constant(int(raw))
        return Constant(raw)
    if len(raw) > 1 and all(key in DISTRIBUTION_NAMES for key in raw):
        names = [str(key) for key in raw]
        err(f"give one distribution, got {', '.join(names[:-1])} and {names[-1]}")
    if len(raw) != 1 or next(iter(raw)) not in DISTRIBUTION_NAMES:
        err(
            f"unknown distribution {raw!r}; allowed: a constant or one of "
            + ", ".join(DISTRIBUTION_NAMES)
        )
    name, spec = next(iter(raw.items()))
    err = _Err(source, f"{path}.{name}")
    numeric = domain.kind in ("float", "int")
    if name in ("uniform", "loguniform", "normal") and domain.kind != "float":
        err(f"{name} draws real numbers but this field takes {allowed}; use randint or choice")
    if name == "randint" and not numeric:
        err(f"randint draws integers but this field takes {allowed}; use choice")

    if name in ("uniform", "loguniform", "randint"):
        low, high = (
            _number(v, err, k)
            for v, k in zip(_pair(spec, ("low", "high"), err), ("low", "high"), strict=True)
        )
        if low > high:
            err(f"low ({low:g}) > high ({high:g})")
        if name == "loguniform" and low <= 0:
            err(f"loguniform needs low > 0, got {low:g}")
        if name == "randint":
            if not (low.is_integer() and high.is_integer()):
                err(f"randint bounds must be integers, got [{low:g}, {high:g}]")
            dist: Distribution = RandInt(int(low), int(high))
        else:
            dist = (Uniform if name == "uniform" else LogUniform)(low, high)
        _check_range(low, high, domain, err)
        return dist

    if name == "normal":
        if isinstance(spec, (list, tuple)):
            if len(spec) != 2:
                err(f"expected [mean, std] or a mapping, got {spec!r}")
            spec = {"mean": spec[0], "std": spec[1]}
        if not isinstance(spec, dict):
            err(f"expected {{mean: .., std: .., low: .., high: ..}}, got {spec!r}")
        unknown = set(spec) - {"mean", "std", "low", "high"}
        if unknown:
            err(f"unknown key {sorted(unknown)[0]!r}; allowed: mean, std, low, high")
        if "mean" not in spec or "std" not in spec:
            err("normal needs both mean and std")
        mean = _number(spec["mean"], err, "mean")
        std = _number(spec["std"], err, "std")
        if std <= 0:
            err(f"std must be > 0, got {std:g}")
        low = None if spec.get("low") is None else _number(spec["low"], err, "low")
        high = None if spec.get("high") is None else _number(spec["high"], err, "high")
        if low is not None and high is not None and low > high:
            err(f"low ({low:g}) > high ({high:g})")
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high
        for bound, value, side in (("low", low, lo), ("high", high, hi)):
            if (domain.low is not None and side < domain.low) or (
                domain.high is not None and side > domain.high
            ):
                if value is None:
                    err(f"a normal without {bound} can leave the allowed range ({allowed}); set it")
                err(f"{bound} ({value:g}) must lie in the allowed range ({allowed})")
        _check_range(lo, hi, domain, err)
        return Normal(mean, std, low, high)

    # choice
    weights = None
    values = spec
    if isinstance(spec, dict):
        unknown = set(spec) - {"values", "weights"}
        if unknown or "values" not in spec:
            err("expected a list of values or {values: [..], weights: [..]}")
        values, weights = spec["values"], spec.get("weights")
    if not isinstance(values, (list, tuple)) or not values:
        err(f"choice needs a non-empty list of values, got {values!r}")
    for value in values:
        if not domain.contains(value):
            err(f"value {value!r} is not allowed; expected {allowed}")
    if weights is not None:
        if not isinstance(weights, (list, tuple)) or len(weights) != len(values):
            err(f"weights must be a list of {len(values)} numbers, got {weights!r}")
        weights = tuple(_number(w, err, "weight") for w in weights)
        if any(w < 0 for w in weights) or not 0 < sum(weights) < math.inf:
            err("weights must be >= 0, not all zero, and of a finite sum")
    cast = {"float": float, "int": int}.get(domain.kind, lambda v: v)
    return Choice(tuple(cast(v) for v in values), weights)


def _check_range(low: float, high: float, domain: Domain, err: _Err) -> None:
    for value in (low, high):
        if math.isinf(value):
            continue
        if not domain.contains(int(value) if domain.kind == "int" else value):
            lo, hi = (f"{v:g}" if math.isinf(v) else domain._bound(v) for v in (low, high))
            err(f"range [{lo}, {hi}] leaves the allowed values ({domain.describe()})")
    if domain.kind == "float" and low == high and not domain.contains(low):
        err(f"value {low:g} is not allowed ({domain.describe()})")


def value_bounds(dist: Distribution | float) -> tuple[float, float]:
    """Smallest and largest value a numeric distribution (or a plain number: itself) can draw
    (``-inf`` / ``inf`` where a normal has no bound)."""
    if isinstance(dist, (int, float)):
        return float(dist), float(dist)
    if isinstance(dist, Constant):
        return dist.value, dist.value
    if isinstance(dist, (Uniform, LogUniform, RandInt)):
        return dist.low, dist.high
    if isinstance(dist, Choice):
        return min(dist.values), max(dist.values)
    if isinstance(dist, Normal):
        return (
            -math.inf if dist.low is None else dist.low,
            math.inf if dist.high is None else dist.high,
        )
    return -math.inf, math.inf


def discrete_support(dist: Distribution, *, source: str, path: str) -> Sequence[Any]:
    """The finite set of values of a discrete distribution, or a ConfigError naming ``path``."""
    support = dist.support()
    if support is None:
        raise ConfigError(source, path, "must be discrete here (a constant, randint or choice)")
    return support
