r"""The ``nbody`` dataset kind: Newtonian gravitational N-body trajectories with full truth.

Pipeline per example: draw the initial-condition parameters and the initial state from the
example's scene stream (:func:`sample_system`), choose its time step, integrate it together with
the other systems of its batch that have the same number of bodies
(:func:`~deepbench_hf.nbody.integrators.simulate`), recompute its energies from the stored
trajectory, optionally render an image (:mod:`deepbench_hf.nbody.render`), and assemble the row.

Units are N-body units: ``G`` is a config value (default 1) and lengths, masses and times are in
arbitrary consistent units (velocity = length/time, energy = mass length²/time²).

Time step
---------
``dt: <number>`` is the same fixed step for every system (so every row has the same ``times``).
``dt: auto`` is the documented per-system default rule of
:mod:`deepbench_hf.nbody.timestep`: ``eta`` times the shortest pair dynamical time
:math:`\min_{i<j}\sqrt{(r_{ij}^2+\epsilon^2)^{3/2}/(G(m_i+m_j))}` of the initial state, and for a
Kepler orbit the phase-independent :math:`\eta P (1-e)^{3/2}/2\pi` (the same rule as if the orbit
started at pericentre). With ``auto`` each row has its own ``dt`` and ``times``.

Batch independence
------------------
A row is bit-identical whatever batch it is generated in: each system's initial state, step and
energies are computed from that system alone; systems with equal ``N`` advance together with one
step per system (a ``(B,)`` ``dt``), in sub-batches small enough that the force kernel never tiles
its pair buffer (:func:`lanes`), so every system sees the same sequence of floating-point
operations as when it runs alone.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import Any

import datasets
import numpy as np

from ..columns import ColumnDoc
from ..config import BuildConfig
from ..distributions import Domain, value_bounds
from ..errors import BuildError, ConfigError
from ..schema import OneOf, Param, Section, Setting, size_field
from ..seeding import Example
from . import energy, initial_conditions
from .gravity import DEFAULT_MAX_PAIR_BYTES
from .integrators import INTEGRATORS, simulate
from .render import render_final, render_tracks
from .timestep import DEFAULT_ETA, default_timestep, kepler_timestep

TWO_PI = 2.0 * math.pi
# Positive N-body quantities span 24 orders of magnitude: beyond them, squares and cubes of
# lengths, masses and times (semi-major axes, accelerations, dt^2) leave float range.
_POSITIVE = Domain("float", low=1e-12, high=1e12)
_N_BODIES = Domain("int", low=2, high=2000)

FAMILIES = ("kepler", "random_virial", "plummer", "figure_eight", "lagrange", "pythagorean")
_FIXED_N = {"kepler": 2, "figure_eight": 3, "lagrange": 3, "pythagorean": 3}
_PYTHAGOREAN_MASSES = (3.0, 4.0, 5.0)

# Fields of the `initial` struct column, in order (all float64 except family and n_bodies).
INITIAL_FIELDS = (
    "family",
    "n_bodies",
    "total_mass",
    "mass1",
    "mass2",
    "mass3",
    "eccentricity",
    "semi_major_axis",
    "period",
    "true_anomaly",
    "side",
    "radius",
    "mass_range_low",
    "mass_range_high",
    "virial_ratio",
    "virial_radius",
    "max_radius",
)


class _TimeStep(Setting):
    """``auto`` or a number in the range of the other positive quantities (the fixed step, time
    units)."""

    def parse(self, raw: Any, source: str, path: str) -> tuple[Any, Any]:
        if raw == "auto":
            return "auto", "auto"
        number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        if not (number and _POSITIVE.low <= raw <= _POSITIVE.high):
            raise ConfigError(
                source,
                path,
                f"expected auto or a number in [{_POSITIVE.low:g}, {_POSITIVE.high:g}], "
                f"got {raw!r}",
            )
        return float(raw), float(raw)


def _p(domain: Domain, default: Any, unit: str, doc: str) -> Param:
    return Param(domain, default, unit, doc)


def _mass(default: Any, doc: str) -> Param:
    return _p(_POSITIVE, default, "mass", doc)


_RENDER = Section(
    {
        "image_size": size_field(64, "image size in pixels"),
        "extent": Setting(
            _POSITIVE, 2.0, "length", "distance from the frame centre to its nearest edge"
        ),
        "fwhm": Setting(
            Domain("float", low=0.5, high=100.0), 2.0, "px", "FWHM of a body's Moffat profile"
        ),
        "beta": Setting(
            Domain("float", low=1.0, low_open=True, high=100.0), 4.765, "", "Moffat index"
        ),
    },
    doc="image settings",
)

SCHEMA: dict[str, Any] = {
    "n_dims": Setting(Domain("int", low=2, high=3), 3, "", "spatial dimensions (2 or 3)"),
    "initial": OneOf(
        {
            "kepler": Section(
                {
                    "mass1": _mass(1.0, "mass of body 1"),
                    "mass2": _mass(1.0, "mass of body 2"),
                    "eccentricity": _p(
                        Domain("float", low=0.0, high=1.0, high_open=True),
                        0.0,
                        "",
                        "orbital eccentricity (bound: 0 <= e < 1)",
                    ),
                    "period": _p(_POSITIVE, TWO_PI, "time", "orbital period"),
                    "true_anomaly": _p(
                        Domain("float"), 0.0, "rad", "starting phase (0 = pericentre)"
                    ),
                },
                doc="a bound two-body orbit in the x-y plane (pericentre along +x)",
            ),
            "random_virial": Section(
                {
                    "n_bodies": _p(_N_BODIES, 5, "", "number of bodies"),
                    "radius": _p(_POSITIVE, 1.0, "length", "radius of the ball (3-D) / disc"),
                    "total_mass": _mass(1.0, "total mass"),
                    "mass_range": Section(
                        {
                            "low": _p(_POSITIVE, 0.5, "", "smallest relative mass weight"),
                            "high": _p(_POSITIVE, 1.5, "", "largest relative mass weight"),
                        },
                        doc="masses uniform in [low, high], then scaled to total_mass",
                    ),
                    "virial_ratio": _p(
                        Domain("float", low=0.0, high=100.0), 1.0, "", "2K/|W| (1 = virialised)"
                    ),
                },
                doc="bodies uniform in a ball/disc, isotropic velocities scaled to a virial ratio",
            ),
            "plummer": Section(
                {
                    "n_bodies": _p(_N_BODIES, 16, "", "number of bodies"),
                    "total_mass": _mass(1.0, "total mass (equal masses)"),
                    "virial_radius": _p(_POSITIVE, 1.0, "length", "virial radius"),
                    "max_radius": Setting(
                        Domain("float", low=1.0, high=1e12),
                        10.0,
                        "scale lengths",
                        "truncation radius in scale lengths, >= 1 (radii beyond it are drawn "
                        "again: inside 1 scale length only 35 % of the light is left)",
                    ),
                },
                doc="equal-mass Plummer sphere (Aarseth, Henon & Wielen 1974); 3-D only",
            ),
            "figure_eight": Section(
                {"mass": _mass(1.0, "mass of each body")},
                doc="the figure-eight choreography of three equal masses",
            ),
            "lagrange": Section(
                {
                    "mass1": _mass(1.0, "mass of body 1"),
                    "mass2": _mass(1.0, "mass of body 2"),
                    "mass3": _mass(1.0, "mass of body 3"),
                    "side": _p(_POSITIVE, 1.0, "length", "side of the equilateral triangle"),
                },
                doc="Lagrange's rigidly rotating equilateral triangle",
            ),
            "pythagorean": Section({}, doc="Burrau's problem: masses 3, 4, 5 at rest"),
        },
        default="random_virial",
        doc="initial-condition family and its parameters",
        allow_none=False,
    ),
    "G": Setting(_POSITIVE, 1.0, "length³/(mass time²)", "gravitational constant"),
    "softening": Setting(
        Domain("float", low=0.0, high=1e12), 0.0, "length", "Plummer softening length"
    ),
    "integrator": Setting(
        Domain("str", values=tuple(INTEGRATORS)), "leapfrog", "", "symplectic integrator"
    ),
    "dt": _TimeStep(Domain("float"), "auto", "time", "time step: a number, or auto"),
    "eta": Setting(
        Domain("float", low=0.0, low_open=True, high=10.0),
        DEFAULT_ETA,
        "",
        "accuracy parameter of dt: auto (steps per circular orbit = 2 pi / eta)",
    ),
    "n_steps": Setting(Domain("int", low=1, high=10**7), 1000, "", "number of time steps"),
    "save_every": Setting(
        Domain("int", low=1, high=10**7), 10, "", "output cadence: store every k-th step"
    ),
    "render": OneOf(
        {"final": _RENDER, "tracks": _RENDER},
        default="none",
        doc="optional image: bodies at the final time, or their tracks",
    ),
}


COLUMN_DOCS: dict[str, ColumnDoc] = {
    "times": ColumnDoc("float64[T]", "time", "output times, save_every * dt * k, k = 0 .. T-1"),
    "masses": ColumnDoc("float64[N]", "mass", "body masses"),
    "positions": ColumnDoc(
        "float64 (T, N, D)",
        "length",
        "body positions at the output times, centre-of-mass frame of the initial state",
    ),
    "velocities": ColumnDoc(
        "float64 (T, N, D)", "length/time", "body velocities at the output times"
    ),
    "kinetic_energy": ColumnDoc(
        "float64[T]", "energy", "K = 1/2 sum_i m_i |v_i|^2, from the stored velocities"
    ),
    "potential_energy": ColumnDoc(
        "float64[T]",
        "energy",
        "W = -G sum_{i<j} m_i m_j / sqrt(r_ij^2 + softening^2), from the stored positions",
    ),
    "energy_error": ColumnDoc(
        "float64",
        "",
        "max over t of |E(t) - E(0)| / |E(0)|, E = K + W (integration accuracy; NaN if E(0) = 0, "
        "and no measure of accuracy when E(0) is near 0, e.g. virial_ratio near 2)",
    ),
    "energy_error_final": ColumnDoc(
        "float64", "", "|E(T-1) - E(0)| / |E(0)| at the last time (NaN if E(0) = 0)"
    ),
    "n_bodies": ColumnDoc("int32", "", "number of bodies N"),
    "G": ColumnDoc("float64", "length³/(mass time²)", "gravitational constant"),
    "softening": ColumnDoc("float64", "length", "Plummer softening length"),
    "dt": ColumnDoc("float64", "time", "integration time step of this system"),
    "integrator": ColumnDoc("string", "", "leapfrog, leapfrog_dkd or yoshida4"),
    "initial": ColumnDoc(
        "struct",
        "",
        "initial-condition family and parameters (NaN where not applicable): family, n_bodies, "
        "total_mass, mass1-3, eccentricity, semi_major_axis, period, true_anomaly, side, radius, "
        "mass_range_low/high, virial_ratio, virial_radius, max_radius",
    ),
    "image": ColumnDoc(
        "Array2D float32 (H, W)",
        "",
        "only when render is not none: the rendered bodies (render: final) or their "
        "time-exposed tracks (render: tracks); flux m_i / sum(m) per body",
    ),
    "initial.family": ColumnDoc(
        "string", "", "kepler, random_virial, plummer, figure_eight, lagrange or pythagorean"
    ),
    "initial.n_bodies": ColumnDoc("int32", "", "number of bodies"),
    "initial.total_mass": ColumnDoc("float64", "mass", "sum of the masses"),
    "initial.mass1": ColumnDoc("float64", "mass", "body 1 (Kepler, 3-body families); else NaN"),
    "initial.mass2": ColumnDoc("float64", "mass", "body 2 (Kepler, 3-body families); else NaN"),
    "initial.mass3": ColumnDoc("float64", "mass", "body 3 (3-body families); else NaN"),
    "initial.eccentricity": ColumnDoc("float64", "", "Kepler eccentricity; else NaN"),
    "initial.semi_major_axis": ColumnDoc(
        "float64",
        "length",
        "Kepler relative-orbit semi-major axis (G M P^2/4 pi^2)^(1/3); else NaN",
    ),
    "initial.period": ColumnDoc(
        "float64", "time", "period of Kepler, figure-eight and Lagrange orbits; else NaN"
    ),
    "initial.true_anomaly": ColumnDoc("float64", "rad", "Kepler starting phase; else NaN"),
    "initial.side": ColumnDoc("float64", "length", "Lagrange triangle side; else NaN"),
    "initial.radius": ColumnDoc("float64", "length", "random_virial ball radius; else NaN"),
    "initial.mass_range_low": ColumnDoc("float64", "", "random_virial mass weight low; else NaN"),
    "initial.mass_range_high": ColumnDoc("float64", "", "random_virial mass weight high; else NaN"),
    "initial.virial_ratio": ColumnDoc("float64", "", "random_virial target 2K/|W|; else NaN"),
    "initial.virial_radius": ColumnDoc("float64", "length", "Plummer virial radius; else NaN"),
    "initial.max_radius": ColumnDoc(
        "float64", "", "Plummer truncation radius (scale lengths); else NaN"
    ),
}


# --------------------------------------------------------------------------------------------
# Initial conditions
# --------------------------------------------------------------------------------------------


def _blank_initial(family: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(INITIAL_FIELDS, math.nan)
    row["family"] = family
    return row


def sample_system(
    config: BuildConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Draw one system from ``rng`` (the example's scene stream).

    Returns ``(masses (N,), positions (N, D), velocities (N, D), initial)`` in the centre-of-mass
    frame, ``initial`` being the row's ``initial`` struct. The draw order is fixed: the family's
    parameters in schema order, then the random initial state.
    """
    family, p = config.params["initial"]
    d = config.params["n_dims"]
    g = config.params["G"]
    init = _blank_initial(family)
    if family == "kepler":
        keys = ("mass1", "mass2", "eccentricity", "period", "true_anomaly")
        m1, m2, e, period, f = (p[k].sample(rng) for k in keys)
        ic = initial_conditions.kepler_orbit(
            mass1=m1, mass2=m2, eccentricity=e, period=period, true_anomaly=f, G=g, n_dims=d
        )
        a = float(initial_conditions.kepler_semi_major_axis(period, total_mass=m1 + m2, G=g))
        init.update(
            mass1=m1, mass2=m2, eccentricity=e, period=period, true_anomaly=f, semi_major_axis=a
        )
    elif family == "random_virial":
        n = p["n_bodies"].sample(rng)
        radius = p["radius"].sample(rng)
        total = p["total_mass"].sample(rng)
        low = p["mass_range"]["low"].sample(rng)
        high = p["mass_range"]["high"].sample(rng)
        q = p["virial_ratio"].sample(rng)
        ic = initial_conditions.random_virial(
            rng,
            n_bodies=n,
            n_dims=d,
            radius=radius,
            total_mass=total,
            mass_range=(low, high),
            G=g,
            softening=config.params["softening"],
            virial_ratio=q,
        )
        init.update(radius=radius, mass_range_low=low, mass_range_high=high, virial_ratio=q)
    elif family == "plummer":
        n = p["n_bodies"].sample(rng)
        total = p["total_mass"].sample(rng)
        r_v = p["virial_radius"].sample(rng)
        ic = initial_conditions.plummer_sphere(
            rng,
            n_bodies=n,
            total_mass=total,
            virial_radius=r_v,
            G=g,
            max_radius=p["max_radius"],
        )
        init.update(virial_radius=r_v, max_radius=p["max_radius"])
    elif family == "figure_eight":
        mass = p["mass"].sample(rng)
        ic = initial_conditions.figure_eight(mass=mass, G=g, n_dims=d)
        period = initial_conditions.FIGURE_EIGHT_PERIOD / math.sqrt(g * mass)
        init.update(mass1=mass, mass2=mass, mass3=mass, period=period)
    elif family == "lagrange":
        m1, m2, m3, side = (p[k].sample(rng) for k in ("mass1", "mass2", "mass3", "side"))
        ic = initial_conditions.lagrange_triangle(masses=(m1, m2, m3), side=side, G=g, n_dims=d)
        period = TWO_PI / math.sqrt(g * (m1 + m2 + m3) / side**3)
        init.update(mass1=m1, mass2=m2, mass3=m3, side=side, period=period)
    else:  # pythagorean
        ic = initial_conditions.pythagorean(n_dims=d)
        init.update(zip(("mass1", "mass2", "mass3"), _PYTHAGOREAN_MASSES, strict=True))
    m, x, v = (np.ascontiguousarray(a[0]) for a in ic)
    init = {key: float(val) if isinstance(val, float) else val for key, val in init.items()}
    init["n_bodies"] = int(m.shape[0])
    init["total_mass"] = float(m.sum())
    return m, x, v, init


def time_step(
    config: BuildConfig, masses: np.ndarray, positions: np.ndarray, initial: dict
) -> float:
    """The step of one system: the config's ``dt``, or the ``auto`` rule (module docstring)."""
    dt = config.params["dt"]
    if dt != "auto":
        return float(dt)
    eta = config.params["eta"]
    if initial["family"] == "kepler":
        return float(kepler_timestep(initial["period"], initial["eccentricity"], eta=eta))
    return float(
        default_timestep(
            masses[None],
            positions[None],
            G=config.params["G"],
            softening=config.params["softening"],
            eta=eta,
        )[0]
    )


def lanes(n_bodies: int, n_dims: int) -> int:
    """Most systems of ``n_bodies`` simulated together: the force kernel then uses one tile.

    The kernel (:class:`~deepbench_hf.nbody.gravity.PairwiseGravity`) splits its pair offsets
    into tiles when ``D * N * B * 8 * floor(N/2)`` bytes exceed
    :data:`~deepbench_hf.nbody.gravity.DEFAULT_MAX_PAIR_BYTES`; tiling changes the order of the
    force sums, so a batch is capped below that (1 when even one system needs tiles: every
    system then runs alone, tiled the same way).
    """
    k = n_bodies // 2
    if k == 0:
        return 256
    return max(1, DEFAULT_MAX_PAIR_BYTES // (n_dims * n_bodies * 8 * k))


# --------------------------------------------------------------------------------------------
# The kind
# --------------------------------------------------------------------------------------------


def n_bodies(config: BuildConfig) -> int | None:
    """The number of bodies if every row has the same, else ``None``."""
    family, p = config.params["initial"]
    if family in _FIXED_N:
        return _FIXED_N[family]
    lo, hi = value_bounds(p["n_bodies"])
    return int(lo) if lo == hi else None


def n_outputs(config: BuildConfig) -> int:
    """Output times per row, ``T = n_steps / save_every + 1``."""
    return config.params["n_steps"] // config.params["save_every"] + 1


class NBodyKind:
    """Gravitational N-body trajectories (see the module docstring for conventions)."""

    name = "nbody"
    schema = SCHEMA
    column_docs = COLUMN_DOCS

    def check(self, config: BuildConfig) -> None:
        params = config.params
        src = config.source
        family, p = params["initial"]
        if params["n_steps"] % params["save_every"]:
            raise ConfigError(
                src,
                "save_every",
                f"must divide n_steps ({params['n_steps']}); got {params['save_every']}",
                related=("n_steps",),
            )
        if family == "plummer" and params["n_dims"] != 3:
            raise ConfigError(
                src,
                "initial.plummer",
                f"the Plummer sphere is 3-D only; needs n_dims: 3 (got {params['n_dims']})",
                related=("n_dims",),
            )
        if family == "random_virial":
            low = value_bounds(p["mass_range"]["low"])[1]
            high = value_bounds(p["mass_range"]["high"])[0]
            if low > high:
                raise ConfigError(
                    src,
                    "initial.random_virial.mass_range",
                    f"low can exceed high ({low:g} > {high:g}); every low must be <= every high",
                    related=(),
                )
        render = params["render"]
        if render is not None and render[0] == "tracks":  # the one mode convolving with a kernel
            from ..sky.imaging import check_psf_reach

            opts = render[1]
            shape = (opts["image_size"]["height"], opts["image_size"]["width"])
            check_psf_reach("moffat", opts, shape, source=src, path="render.tracks")
        if config.balanced:
            raise ConfigError(src, "balanced", "nbody configs have no label to balance", related=())

    def class_names(self, config: BuildConfig) -> list[str] | None:
        return None

    def features(self, config: BuildConfig) -> datasets.Features:
        t = n_outputs(config)
        n = n_bodies(config)
        d = config.params["n_dims"]
        f64 = datasets.Value("float64")
        if n is None:
            masses: Any = datasets.List(f64)
            state: Any = datasets.List(datasets.List(datasets.List(f64, length=d)), length=t)
        else:
            masses = datasets.List(f64, length=n)
            state = datasets.Array3D((t, n, d), "float64")
        initial = {
            name: datasets.Value({"family": "string", "n_bodies": "int32"}.get(name, "float64"))
            for name in INITIAL_FIELDS
        }
        columns: dict[str, Any] = {
            "times": datasets.List(f64, length=t),
            "masses": masses,
            "positions": state,
            "velocities": state,
            "kinetic_energy": datasets.List(f64, length=t),
            "potential_energy": datasets.List(f64, length=t),
            "energy_error": f64,
            "energy_error_final": f64,
            "n_bodies": datasets.Value("int32"),
            "G": f64,
            "softening": f64,
            "dt": f64,
            "integrator": datasets.Value("string"),
            "initial": initial,
        }
        render = config.params["render"]
        if render is not None:
            size = render[1]["image_size"]
            columns["image"] = datasets.Array2D((size["height"], size["width"]), "float32")
        columns["index"] = datasets.Value("int64")
        columns["seed"] = datasets.Value("int64")
        return datasets.Features(columns)

    def generate(self, config: BuildConfig, example: Example) -> dict[str, Any]:
        return self.generate_batch(config, [example])[0]

    def generate_batch(self, config: BuildConfig, examples: list[Example]) -> list[dict[str, Any]]:
        """Rows of ``examples``, each bit-identical to generating it alone (module docstring)."""
        params = config.params
        systems = []
        for example in examples:
            m, x, v, init = sample_system(config, example.scene_rng())
            systems.append((m, x, v, init, time_step(config, m, x, init)))
        groups: dict[int, list[int]] = defaultdict(list)
        for i, system in enumerate(systems):
            groups[system[0].shape[0]].append(i)
        runs: list[Any] = [None] * len(systems)
        for n, members in groups.items():
            size = lanes(n, params["n_dims"])
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                with warnings.catch_warnings():  # a non-finite system is an error (_row)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    out = simulate(
                        np.stack([systems[i][0] for i in chunk]),
                        np.stack([systems[i][1] for i in chunk]),
                        np.stack([systems[i][2] for i in chunk]),
                        n_steps=params["n_steps"],
                        dt=np.array([systems[i][4] for i in chunk]),
                        G=params["G"],
                        softening=params["softening"],
                        integrator=params["integrator"],
                        save_every=params["save_every"],
                    )
                for b, i in enumerate(chunk):
                    runs[i] = (
                        out["times"][b],
                        out["positions"][b],
                        out["velocities"][b],
                    )
        return [
            self._row(config, example, system, run)
            for example, system, run in zip(examples, systems, runs, strict=True)
        ]

    def _row(
        self, config: BuildConfig, example: Example, system: tuple, run: tuple
    ) -> dict[str, Any]:
        params = config.params
        m, _, _, init, dt = system
        times, pos, vel = run
        g, eps = params["G"], params["softening"]
        with np.errstate(all="ignore"):  # a non-finite state or energy is the error below
            kin = energy.kinetic_energy(m, vel)
            pot = energy.potential_energy(m, pos, G=g, softening=eps)
        _check_finite(
            example, dt, eps, positions=pos, velocities=vel, kinetic_energy=kin,
            potential_energy=pot,
        )  # fmt: skip
        total = kin + pot
        # relative to |E(0)|: undefined (NaN throughout) for E(0) = 0
        rel = np.abs(total - total[0]) / abs(total[0]) if total[0] else np.full_like(total, np.nan)
        fixed = n_bodies(config) is not None
        row: dict[str, Any] = {
            "times": times,
            "masses": m,
            "positions": pos if fixed else [list(p) for p in pos],
            "velocities": vel if fixed else [list(p) for p in vel],
            "kinetic_energy": kin,
            "potential_energy": pot,
            "energy_error": float(np.max(rel)),
            "energy_error_final": float(rel[-1]),
            "n_bodies": int(m.shape[0]),
            "G": float(g),
            "softening": float(eps),
            "dt": float(dt),
            "integrator": params["integrator"],
            "initial": init,
        }
        render = params["render"]
        if render is not None:
            mode, opts = render
            h, w = opts["image_size"]["height"], opts["image_size"]["width"]
            if mode == "final":
                row["image"] = render_final(m, pos[-1], h, w, opts)
            else:
                row["image"] = render_tracks(m, pos, h, w, opts)
        row["index"] = example.index
        row["seed"] = example.seed
        return row


def _check_finite(example: Example, dt: float, softening: float, **series: np.ndarray) -> None:
    """Stop the build with one line if a system's stored state or energies (``series``, arrays
    over the output times first) are not all finite: its row would hold NaN or inf (a close
    encounter with too little softening, or too long a step)."""
    bad = [
        (int(np.argmin(np.isfinite(v).reshape(len(v), -1).all(axis=1))), name)
        for name, v in series.items()
        if not np.isfinite(v).all()
    ]
    if not bad:
        return
    first, name = min(bad)
    raise BuildError(
        f"nbody {example.split} example {example.index} (seed {example.seed}): {name} left "
        f"float range at output {first} (dt {dt:g}, softening {softening:g}); increase the "
        "softening or reduce dt"
    )


KIND = NBodyKind()
