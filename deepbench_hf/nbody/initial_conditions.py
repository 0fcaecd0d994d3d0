"""Initial conditions for N-body simulations, as batches in the centre-of-mass frame.

Every generator returns :class:`InitialConditions` ``(masses, positions, velocities)`` shaped
``(B, N)``, ``(B, N, D)``, ``(B, N, D)``, ``float64``, with the centre of mass at the origin and
zero total momentum. Random generators take an explicit ``rng: numpy.random.Generator`` (no
global random state) and are deterministic given its seed.

Units: N-body units -- ``G`` as given; lengths, masses and times in arbitrary consistent units.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from deepbench_hf.nbody.energy import kinetic_energy, potential_energy

__all__ = [
    "FIGURE_EIGHT_PERIOD",
    "InitialConditions",
    "centre_of_mass_frame",
    "figure_eight",
    "kepler_orbit",
    "kepler_period",
    "kepler_semi_major_axis",
    "lagrange_triangle",
    "plummer_sphere",
    "pythagorean",
    "random_virial",
]

#: Period of the figure-eight orbit for ``G = m = 1`` (Chenciner & Montgomery 2000; Simó 2002).
FIGURE_EIGHT_PERIOD = 6.32591398


class InitialConditions(NamedTuple):
    """A batch of initial states; unpack as ``masses, positions, velocities``."""

    masses: NDArray[np.float64]
    """``(B, N)`` masses."""
    positions: NDArray[np.float64]
    """``(B, N, D)`` positions."""
    velocities: NDArray[np.float64]
    """``(B, N, D)`` velocities."""


def centre_of_mass_frame(
    masses: ArrayLike, positions: ArrayLike, velocities: ArrayLike
) -> InitialConditions:
    r"""Shift a batch to its centre-of-mass frame.

    Parameters
    ----------
    masses
        ``(B, N)``, positive total mass per system.
    positions, velocities
        ``(B, N, D)``.

    Returns
    -------
    InitialConditions
        Copies with :math:`\sum_i m_i\mathbf x_i = 0` and :math:`\sum_i m_i\mathbf v_i = 0`.
    """
    m = np.asarray(masses, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64)
    total = m.sum(axis=1)[:, None, None]
    x = x - np.sum(m[..., None] * x, axis=1, keepdims=True) / total
    v = v - np.sum(m[..., None] * v, axis=1, keepdims=True) / total
    return InitialConditions(m.copy(), x, v)


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _unit_vectors(rng: np.random.Generator, shape: tuple[int, ...], n_dims: int) -> NDArray:
    """Isotropic unit vectors, ``shape + (n_dims,)`` (normalised Gaussian draws)."""
    g = rng.standard_normal((*shape, n_dims))
    norm = np.linalg.norm(g, axis=-1, keepdims=True)
    while np.any(norm == 0):  # probability zero; keeps the function total
        bad = norm[..., 0] == 0
        g[bad] = rng.standard_normal((int(bad.sum()), n_dims))
        norm = np.linalg.norm(g, axis=-1, keepdims=True)
    return g / norm


def random_virial(
    rng: np.random.Generator,
    *,
    n_systems: int = 1,
    n_bodies: int,
    n_dims: int = 3,
    radius: float = 1.0,
    total_mass: float = 1.0,
    mass_range: tuple[float, float] = (0.5, 1.5),
    G: float = 1.0,
    softening: float = 0.0,
    virial_ratio: float = 1.0,
) -> InitialConditions:
    r"""Random bodies uniform in a ball (3-D) or disc (2-D), scaled to virial equilibrium.

    Masses are drawn uniform in ``mass_range`` and normalised to ``total_mass``; positions are
    uniform in a ball/disc of ``radius``; velocities are isotropic Gaussian. After moving to the
    centre-of-mass frame the velocities are scaled by one factor per system so that

    .. math:: 2K / |W| = \texttt{virial\_ratio}

    (1 is virial equilibrium, :math:`2K + W = 0`), with the softened potential energy ``W``.
    The centre-of-mass shift means a body can lie slightly outside ``radius``.

    Parameters
    ----------
    rng
        Source of randomness.
    n_systems, n_bodies
        Batch size ``B`` and bodies per system ``N >= 2``.
    n_dims
        2 or 3.
    radius
        Radius of the ball/disc, length units.
    total_mass
        Mass of each system, mass units.
    mass_range
        ``(low, high)`` relative mass weights, ``0 < low <= high``.
    G
        Gravitational constant.
    softening
        Plummer softening used for ``W`` (use the simulation's).
    virial_ratio
        Target :math:`2K/|W|`.

    Returns
    -------
    InitialConditions
        ``(B, N)``, ``(B, N, D)``, ``(B, N, D)`` in the centre-of-mass frame.
    """
    b = _check_count("n_systems", n_systems, 1)
    n = _check_count("n_bodies", n_bodies, 2)
    if n_dims not in (2, 3):
        raise ValueError(f"n_dims must be 2 or 3, got {n_dims}")
    lo, hi = (float(v) for v in mass_range)
    if not 0 < lo <= hi:
        raise ValueError(f"mass_range must satisfy 0 < low <= high, got {mass_range}")
    x = _unit_vectors(rng, (b, n), n_dims)
    x *= radius * rng.random((b, n, 1)) ** (1.0 / n_dims)
    m = rng.uniform(lo, hi, (b, n))
    m *= total_mass / m.sum(axis=1, keepdims=True)
    v = rng.standard_normal((b, n, n_dims))
    m, x, v = centre_of_mass_frame(m, x, v)
    k = kinetic_energy(m, v)
    w = potential_energy(m, x, G=G, softening=softening)
    v *= np.sqrt(virial_ratio * np.abs(w) / (2.0 * k))[:, None, None]
    return InitialConditions(m, x, v)


def plummer_sphere(
    rng: np.random.Generator,
    *,
    n_systems: int = 1,
    n_bodies: int,
    total_mass: float = 1.0,
    virial_radius: float = 1.0,
    G: float = 1.0,
    max_radius: float | None = 10.0,
) -> InitialConditions:
    r"""Equal-mass Plummer sphere sampled as in Aarseth, Hénon & Wielen (1974). 3-D only.

    Density :math:`\rho(r) = \frac{3M}{4\pi a^3}(1 + r^2/a^2)^{-5/2}` with scale length
    :math:`a = \frac{3\pi}{16} r_V` (``r_V`` the virial radius, so ``G = M = r_V = 1`` gives
    Hénon's standard units with :math:`E = -1/4`). In units ``a = G = M = 1``:

    - radius from the cumulative mass :math:`X_1 = r^3/(1+r^2)^{3/2}`:
      :math:`r = (X_1^{-2/3} - 1)^{-1/2}`, redrawn while ``r > max_radius``;
    - isotropic direction;
    - speed :math:`v = q\,v_{esc}`, :math:`v_{esc} = \sqrt2(1+r^2)^{-1/4}`, with ``q`` from
      :math:`g(q) = q^2(1-q^2)^{7/2}` by von Neumann rejection (accept ``X4`` if
      :math:`0.1 X_5 < g(X_4)`), isotropic direction.

    Positions are then scaled by ``a`` and velocities by :math:`\sqrt{GM/a}`, and each system is
    moved to its centre-of-mass frame. No rescaling is applied: for ``N`` bodies the virial ratio
    :math:`2K/|W|` is 1 up to sampling noise of order :math:`N^{-1/2}` (and the small truncation
    effect). A 2-D version is not provided: the Plummer model is a 3-D equilibrium and its
    projection onto a plane is not an equilibrium of planar dynamics.

    Parameters
    ----------
    rng
        Source of randomness.
    n_systems, n_bodies
        Batch size ``B`` and bodies per system ``N >= 2``.
    total_mass
        Mass ``M`` of each system (each body has ``M / N``), mass units.
    virial_radius
        Virial radius :math:`r_V = GM^2/(2|W|)`, length units.
    G
        Gravitational constant.
    max_radius
        Truncation radius in units of the scale length ``a`` (default 10, which removes about
        1.5% of the mass); ``None`` for no truncation.

    Returns
    -------
    InitialConditions
        ``(B, N)``, ``(B, N, 3)``, ``(B, N, 3)`` in the centre-of-mass frame.
    """
    b = _check_count("n_systems", n_systems, 1)
    n = _check_count("n_bodies", n_bodies, 2)
    r_cut = np.inf if max_radius is None else float(max_radius)
    if not r_cut > 0:
        raise ValueError(f"max_radius must be positive or None, got {max_radius}")

    def radius(u: NDArray) -> NDArray:
        with np.errstate(divide="ignore"):
            return 1.0 / np.sqrt(u ** (-2.0 / 3.0) - 1.0)

    r = radius(rng.random((b, n)))
    bad = ~(r <= r_cut)  # also catches u == 0 (r = 0 is fine; nan/inf are redrawn)
    while np.any(bad):
        r[bad] = radius(rng.random(int(bad.sum())))
        bad = ~(r <= r_cut)
    # AHW eq. for the direction: z = (1 - 2 X2) r, azimuth 2 pi X3
    z = (1.0 - 2.0 * rng.random((b, n))) * r
    phi = 2.0 * np.pi * rng.random((b, n))
    rho = np.sqrt(np.maximum(r * r - z * z, 0.0))
    x = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=-1)

    q = np.empty((b, n))
    todo = np.ones((b, n), dtype=bool)
    while np.any(todo):  # von Neumann rejection, all pending bodies at once
        idx = np.flatnonzero(todo)
        x4 = rng.random(idx.size)
        x5 = rng.random(idx.size)
        ok = 0.1 * x5 < x4 * x4 * (1.0 - x4 * x4) ** 3.5
        q.flat[idx[ok]] = x4[ok]
        todo.flat[idx[ok]] = False
    speed = q * np.sqrt(2.0) * (1.0 + r * r) ** -0.25
    w = (1.0 - 2.0 * rng.random((b, n))) * speed
    psi = 2.0 * np.pi * rng.random((b, n))
    vt = np.sqrt(np.maximum(speed * speed - w * w, 0.0))
    v = np.stack([vt * np.cos(psi), vt * np.sin(psi), w], axis=-1)

    a = 3.0 * np.pi / 16.0 * virial_radius
    x *= a
    v *= np.sqrt(G * total_mass / a)
    m = np.full((b, n), total_mass / n)
    return centre_of_mass_frame(m, x, v)


def kepler_period(semi_major_axis: ArrayLike, *, total_mass: ArrayLike, G: float = 1.0) -> NDArray:
    r"""Kepler's third law :math:`P = 2\pi\sqrt{a^3/(GM)}` (time units)."""
    a = np.asarray(semi_major_axis, dtype=np.float64)
    return 2.0 * np.pi * np.sqrt(a**3 / (G * np.asarray(total_mass, dtype=np.float64)))


def kepler_semi_major_axis(period: ArrayLike, *, total_mass: ArrayLike, G: float = 1.0) -> NDArray:
    r"""Inverse of :func:`kepler_period`: :math:`a = (GM P^2/4\pi^2)^{1/3}` (length units)."""
    p = np.asarray(period, dtype=np.float64)
    return np.cbrt(G * np.asarray(total_mass, dtype=np.float64) * (p / (2.0 * np.pi)) ** 2)


def kepler_orbit(
    *,
    mass1: ArrayLike = 1.0,
    mass2: ArrayLike = 1.0,
    eccentricity: ArrayLike = 0.0,
    semi_major_axis: ArrayLike | None = None,
    period: ArrayLike | None = None,
    true_anomaly: ArrayLike = 0.0,
    G: float = 1.0,
    n_dims: int = 3,
    n_systems: int | None = None,
) -> InitialConditions:
    r"""A bound two-body Kepler orbit in the x-y plane, in the centre-of-mass frame.

    Give exactly one of ``semi_major_axis`` and ``period`` (:math:`P = 2\pi\sqrt{a^3/(GM)}`,
    :math:`M = m_1 + m_2`). With :math:`p = a(1-e^2)` and true anomaly ``f`` (0 = pericentre,
    pericentre along +x, motion counter-clockwise), the relative orbit
    :math:`\mathbf r = \mathbf x_2 - \mathbf x_1` is

    .. math::

        \mathbf r = \frac{p}{1+e\cos f}(\cos f, \sin f),\qquad
        \dot{\mathbf r} = \sqrt{GM/p}\,(-\sin f, e + \cos f),

    and :math:`\mathbf x_1 = -\frac{m_2}{M}\mathbf r`, :math:`\mathbf x_2 = \frac{m_1}{M}\mathbf r`.

    Parameters
    ----------
    mass1, mass2
        Masses (mass units).
    eccentricity
        ``0 <= e < 1``.
    semi_major_axis
        ``a`` (length units).
    period
        ``P`` (time units).
    true_anomaly
        Starting phase ``f`` in radians.
    G
        Gravitational constant.
    n_dims
        2 or 3 (3-D puts the orbit in the z = 0 plane).
    n_systems
        Batch size; by default the broadcast size of the array-valued parameters (1 if all are
        scalars). Every parameter may be an array broadcastable to ``(B,)``.

    Returns
    -------
    InitialConditions
        ``(B, 2)``, ``(B, 2, D)``, ``(B, 2, D)``.
    """
    if (semi_major_axis is None) == (period is None):
        raise ValueError("give exactly one of semi_major_axis and period")
    if n_dims not in (2, 3):
        raise ValueError(f"n_dims must be 2 or 3, got {n_dims}")
    size = period if semi_major_axis is None else semi_major_axis
    params = [
        np.asarray(p, dtype=np.float64) for p in (mass1, mass2, eccentricity, size, true_anomaly)
    ]
    shape = np.broadcast_shapes(
        *(p.shape for p in params),
        () if n_systems is None else (_check_count("n_systems", n_systems, 1),),
    )
    if len(shape) > 1:
        raise ValueError(f"Kepler parameters must be scalars or 1-D, got shape {shape}")
    b = shape[0] if shape else 1
    m1, m2, e, size, f = (np.broadcast_to(p, (b,)).astype(np.float64) for p in params)
    if np.any(m1 <= 0) or np.any(m2 <= 0):
        raise ValueError("masses must be positive")
    if np.any(e < 0) or np.any(e >= 1):
        raise ValueError("eccentricity must satisfy 0 <= e < 1 (bound orbit)")
    if np.any(size <= 0):
        raise ValueError("semi_major_axis / period must be positive")
    mt = m1 + m2
    a = size if period is None else kepler_semi_major_axis(size, total_mass=mt, G=G)
    p = a * (1.0 - e * e)
    r = p / (1.0 + e * np.cos(f))
    rel = np.zeros((b, n_dims))
    rel_v = np.zeros((b, n_dims))
    rel[:, 0], rel[:, 1] = r * np.cos(f), r * np.sin(f)
    speed = np.sqrt(G * mt / p)
    rel_v[:, 0], rel_v[:, 1] = -speed * np.sin(f), speed * (e + np.cos(f))
    w1, w2 = (m2 / mt)[:, None], (m1 / mt)[:, None]
    x = np.stack([-w1 * rel, w2 * rel], axis=1)
    v = np.stack([-w1 * rel_v, w2 * rel_v], axis=1)
    return InitialConditions(np.stack([m1, m2], axis=1), x, v)


def _replicate(
    m: list[float], x: list[list[float]], v: list[list[float]], *, n_dims: int, n_systems: int
) -> InitialConditions:
    if n_dims not in (2, 3):
        raise ValueError(f"n_dims must be 2 or 3, got {n_dims}")
    b = _check_count("n_systems", n_systems, 1)
    n = len(m)
    xs = np.zeros((b, n, n_dims))
    vs = np.zeros((b, n, n_dims))
    xs[:, :, :2] = np.asarray(x, dtype=np.float64)
    vs[:, :, :2] = np.asarray(v, dtype=np.float64)
    ms = np.broadcast_to(np.asarray(m, dtype=np.float64), (b, n)).copy()
    return centre_of_mass_frame(ms, xs, vs)


def figure_eight(
    *, mass: float = 1.0, G: float = 1.0, n_dims: int = 2, n_systems: int = 1
) -> InitialConditions:
    r"""The figure-eight choreography of three equal masses (Chenciner & Montgomery 2000).

    Initial conditions of Simó / Moore for ``G = m = 1``:
    :math:`\mathbf x_1 = -\mathbf x_2 = (0.97000436, -0.24308753)`, :math:`\mathbf x_3 = 0`,
    :math:`\mathbf v_3 = (-0.93240737, -0.86473146)`, :math:`\mathbf v_1 = \mathbf v_2 =
    -\mathbf v_3/2`; period :data:`FIGURE_EIGHT_PERIOD` ≈ 6.32591398. For other ``G m`` the
    lengths are kept and velocities scale by :math:`\sqrt{Gm}` (period by :math:`1/\sqrt{Gm}`).

    Returns
    -------
    InitialConditions
        ``(B, 3)``, ``(B, 3, D)``, ``(B, 3, D)``; ``D = 3`` puts the orbit in the z = 0 plane.
    """
    x1 = [0.97000436, -0.24308753]
    v3 = [-0.93240737, -0.86473146]
    s = float(np.sqrt(G * mass))
    v = [[-0.5 * s * v3[0], -0.5 * s * v3[1]]] * 2 + [[s * v3[0], s * v3[1]]]
    x = [x1, [-x1[0], -x1[1]], [0.0, 0.0]]
    return _replicate([mass] * 3, x, v, n_dims=n_dims, n_systems=n_systems)


def lagrange_triangle(
    *,
    masses: tuple[float, float, float] = (1.0, 1.0, 1.0),
    side: float = 1.0,
    G: float = 1.0,
    n_dims: int = 2,
    n_systems: int = 1,
) -> InitialConditions:
    r"""Lagrange's equilateral-triangle solution, rigidly rotating on circular orbits.

    The bodies sit at the vertices of an equilateral triangle of side ``s`` (any masses) and the
    configuration rotates about the centre of mass with angular velocity
    :math:`\omega = \sqrt{GM/s^3}` (period :math:`2\pi/\omega`), :math:`\mathbf v_i =
    \omega\,\hat{\mathbf z}\times\mathbf x_i`. It is linearly stable only if
    :math:`27(m_1m_2+m_2m_3+m_3m_1) < M^2` (Routh), so the equal-mass case eventually breaks up.

    Returns
    -------
    InitialConditions
        ``(B, 3)``, ``(B, 3, D)``, ``(B, 3, D)`` in the centre-of-mass frame.
    """
    m = [float(v) for v in masses]
    if len(m) != 3 or min(m) <= 0:
        raise ValueError(f"need three positive masses, got {masses}")
    ang = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
    pts = side / np.sqrt(3.0) * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    com = np.asarray(m) @ pts / sum(m)
    pts = pts - com
    omega = np.sqrt(G * sum(m) / side**3)
    vel = omega * np.stack([-pts[:, 1], pts[:, 0]], axis=1)
    return _replicate(m, pts.tolist(), vel.tolist(), n_dims=n_dims, n_systems=n_systems)


def pythagorean(*, n_dims: int = 2, n_systems: int = 1) -> InitialConditions:
    """Burrau's Pythagorean three-body problem (masses 3, 4, 5 at rest).

    The masses sit at the vertices of a 3-4-5 right triangle, each opposite the side of its own
    length: ``m = 3`` at ``(1, 3)``, ``m = 4`` at ``(-2, -1)``, ``m = 5`` at ``(1, -1)``; the
    centre of mass is the origin. The motion (Szebehely & Peters 1967) has very close encounters
    and ends with an escape near ``t ≈ 60`` (``G = 1``): a fixed-step integrator needs a very
    small ``dt`` or softening to follow it.

    Returns
    -------
    InitialConditions
        ``(B, 3)``, ``(B, 3, D)``, ``(B, 3, D)``.
    """
    x = [[1.0, 3.0], [-2.0, -1.0], [1.0, -1.0]]
    return _replicate([3.0, 4.0, 5.0], x, [[0.0, 0.0]] * 3, n_dims=n_dims, n_systems=n_systems)
