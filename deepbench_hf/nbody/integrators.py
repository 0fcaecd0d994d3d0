r"""Symplectic fixed-step integrators for batches of N-body systems, and :func:`simulate`.

Schemes (``h`` is the step ``dt``; ``K(c)`` is the kick :math:`\mathbf v \mathrel{+}= c\,h\,
\mathbf a(\mathbf x)`, ``D(c)`` the drift :math:`\mathbf x \mathrel{+}= c\,h\,\mathbf v`):

``"leapfrog"`` (default)
    Kick-drift-kick leapfrog, i.e. velocity Verlet: ``K(1/2) D(1) K(1/2)``. Second order,
    symplectic, time-reversible; one force evaluation per step (the force at the end of a step is
    reused at the start of the next).
``"leapfrog_dkd"``
    Drift-kick-drift leapfrog (position Verlet): ``D(1/2) K(1) D(1/2)``. Second order; this is
    REBOUND's ``"leapfrog"`` integrator, useful for cross-checks.
``"yoshida4"``
    Yoshida (1990) fourth-order triple jump: three kick-drift-kick leapfrog sub-steps of lengths
    :math:`w_1 h, w_0 h, w_1 h` with :math:`w_1 = 1/(2-2^{1/3})`, :math:`w_0 = -2^{1/3}w_1`.
    Three force evaluations per step.

Adjacent kicks (or drifts) of consecutive steps are merged when no output falls between them, so
velocities are only synchronised with positions at output times. All systems of a batch advance
together; the only Python loop is over time steps.

Units: N-body units -- ``G`` as given; lengths, masses and times in arbitrary consistent units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from deepbench_hf.nbody.gravity import PairwiseGravity
from deepbench_hf.nbody.timestep import default_timestep

__all__ = ["INTEGRATORS", "IntegratorName", "resolve_timestep", "simulate"]

IntegratorName = Literal["leapfrog", "leapfrog_dkd", "yoshida4"]

_W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
_W0 = -(2.0 ** (1.0 / 3.0)) * _W1


@dataclass(frozen=True)
class _Scheme:
    """A symmetric splitting ``O(a0) I(c0) O(a1) I(c1) ... I(c_{s-1}) O(a_s)``.

    ``O`` is a kick and ``I`` a drift if ``kick_first``, otherwise the reverse.
    """

    kick_first: bool
    outer: tuple[float, ...]
    inner: tuple[float, ...]
    order: int
    forces_per_step: int


INTEGRATORS: dict[str, _Scheme] = {
    "leapfrog": _Scheme(True, (0.5, 0.5), (1.0,), 2, 1),
    "leapfrog_dkd": _Scheme(False, (0.5, 0.5), (1.0,), 2, 1),
    "yoshida4": _Scheme(
        True, (0.5 * _W1, 0.5 * (_W1 + _W0), 0.5 * (_W0 + _W1), 0.5 * _W1), (_W1, _W0, _W1), 4, 3
    ),
}


def _as_batch(
    masses: ArrayLike, positions: ArrayLike, velocities: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    m = np.asarray(masses, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64)
    if x.ndim == 2:  # a single system
        m, x, v = m[None], x[None], v[None]
    if x.ndim != 3 or v.shape != x.shape or m.shape != x.shape[:2]:
        raise ValueError(
            "need masses (B, N) and positions, velocities (B, N, D) (or one system without the "
            f"batch axis); got {np.shape(masses)}, {np.shape(positions)}, {np.shape(velocities)}"
        )
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"need at least one body and one dimension, got {x.shape}")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(x)) and np.all(np.isfinite(v))):
        raise ValueError("masses, positions and velocities must be finite")
    if np.any(m < 0):
        raise ValueError("masses must be non-negative")
    return m, x, v


def resolve_timestep(
    masses: ArrayLike,
    positions: ArrayLike,
    velocities: ArrayLike,
    *,
    dt: float | ArrayLike | None,
    G: float = 1.0,
    softening: float = 0.0,
) -> float | NDArray[np.float64]:
    """Return ``dt`` if given (a number, or one step per system ``(B,)``), else the default rule.

    The default is ``default_timestep(...).min()`` (see :mod:`deepbench_hf.nbody.timestep`):
    :data:`~deepbench_hf.nbody.timestep.DEFAULT_ETA` times the shortest pair dynamical time
    of any pair of any system of the batch. A per-system ``dt`` is returned as a ``(B,)``
    float64 array.
    """
    if dt is None:
        m, x, _ = _as_batch(masses, positions, velocities)
        return float(default_timestep(m, x, G=G, softening=softening).min())
    if np.ndim(dt) == 0:
        dt = float(dt)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt}")
        return dt
    steps = np.array(dt, dtype=np.float64)
    n_systems = np.shape(positions)[0] if np.ndim(positions) == 3 else 1
    if steps.shape != (n_systems,):
        raise ValueError(f"a per-system dt must have shape ({n_systems},), got {steps.shape}")
    if not (np.all(np.isfinite(steps)) and np.all(steps > 0)):
        raise ValueError("dt must be positive and finite for every system")
    return steps


def simulate(
    masses: ArrayLike,
    positions: ArrayLike,
    velocities: ArrayLike,
    *,
    n_steps: int,
    dt: float | ArrayLike | None = None,
    G: float = 1.0,
    softening: float = 0.0,
    integrator: IntegratorName = "leapfrog",
    save_every: int = 1,
) -> dict[str, NDArray[np.float64]]:
    r"""Integrate a batch of gravitating N-body systems with a fixed-step symplectic scheme.

    Equations of motion (Plummer softening :math:`\epsilon`):

    .. math::

        \ddot{\mathbf x}_i = G\sum_{j\ne i} m_j\,
            \frac{\mathbf x_j-\mathbf x_i}{(|\mathbf x_j-\mathbf x_i|^2+\epsilon^2)^{3/2}}.

    Parameters
    ----------
    masses
        ``(B, N)`` masses (mass units, ``>= 0``); ``(N,)`` for one system.
    positions, velocities
        ``(B, N, D)`` initial state (length and length/time units), ``D`` usually 2 or 3;
        ``(N, D)`` for one system (the outputs keep a batch axis of length 1).
    n_steps
        Number of steps; the run covers ``t = 0 .. n_steps * dt``.
    dt
        Step in time units: one number for the whole batch, or a ``(B,)`` array with one step per
        system (each system then runs exactly as it would alone with its own step). ``None`` uses
        the default rule (:func:`~deepbench_hf.nbody.timestep.default_timestep`, minimum over
        the batch).
    G
        Gravitational constant, ``length**3 / (mass * time**2)``.
    softening
        Plummer softening length :math:`\epsilon \ge 0`, length units.
    integrator
        ``"leapfrog"`` (kick-drift-kick, default), ``"leapfrog_dkd"`` or ``"yoshida4"``.
    save_every
        Output cadence ``k``: the state is stored at steps ``0, k, 2k, ..., n_steps``;
        ``n_steps`` must be a multiple of ``k``.

    Returns
    -------
    dict of numpy.ndarray
        All ``float64``, with ``T = n_steps // save_every + 1`` output times:

        ``"times"`` ``(T,)``
            Output times ``k * dt * arange(T)``, time units; ``(B, T)`` for a per-system ``dt``.
        ``"positions"``, ``"velocities"`` ``(B, T, N, D)``
            Synchronised state at the output times.
        ``"kinetic"`` ``(B, T)``
            :math:`K = \frac12\sum_i m_i v_i^2`, energy units.
        ``"potential"`` ``(B, T)``
            :math:`W = -G\sum_{i<j} m_i m_j/\sqrt{r_{ij}^2+\epsilon^2}`, energy units.

    Warns
    -----
    RuntimeWarning
        If some system's state became non-finite (an unsoftened collision); its rows are NaN/inf.

    Notes
    -----
    Systems are independent: a batch gives the same trajectories as running each system alone
    (to rounding; bit-identical unless the force kernel tiles the pairs differently, which only
    happens for large ``N * B``). The Python loop is over time steps only; each step costs one
    (leapfrog, leapfrog_dkd) or three (yoshida4) vectorised evaluations of all
    ``B * N * (N - 1) / 2`` pair forces (see :mod:`deepbench_hf.nbody.gravity`).
    """
    m, x, v = _as_batch(masses, positions, velocities)
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {sorted(INTEGRATORS)}, got {integrator!r}")
    n_steps = _non_negative_int("n_steps", n_steps)
    save_every = _non_negative_int("save_every", save_every)
    if save_every < 1 or n_steps % save_every:
        raise ValueError(
            f"save_every must be >= 1 and divide n_steps; got save_every={save_every}, "
            f"n_steps={n_steps}"
        )
    if not (np.isfinite(G) and G >= 0):
        raise ValueError(f"G must be finite and >= 0, got {G}")
    if not (np.isfinite(softening) and softening >= 0):
        raise ValueError(f"softening must be finite and >= 0, got {softening}")
    dt = resolve_timestep(m, x, v, dt=dt, G=G, softening=softening)

    b, n, d = x.shape
    n_out = n_steps // save_every + 1
    out = {
        "times": np.multiply.outer(dt * save_every, np.arange(n_out, dtype=np.float64)),
        "positions": np.empty((b, n_out, n, d)),
        "velocities": np.empty((b, n_out, n, d)),
        "kinetic": np.empty((b, n_out)),
        "potential": np.empty((b, n_out)),
    }
    _run(
        out,
        m,
        x,
        v,
        INTEGRATORS[integrator],
        dt=dt,
        n_steps=n_steps,
        save_every=save_every,
        G=float(G),
        softening=float(softening),
    )
    bad = ~np.all(np.isfinite(out["positions"]), axis=(1, 2, 3))
    if np.any(bad):
        warnings.warn(
            f"{int(bad.sum())} of {b} systems became non-finite (close encounter without "
            "softening?); use softening > 0 or a smaller dt",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


def _non_negative_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _run(
    out: dict[str, NDArray[np.float64]],
    m: NDArray[np.float64],
    x: NDArray[np.float64],
    v: NDArray[np.float64],
    scheme: _Scheme,
    *,
    dt: float | NDArray[np.float64],
    n_steps: int,
    save_every: int,
    G: float,
    softening: float,
) -> None:
    """The time loop, on the batch-last layout ``(D, N, B)`` with preallocated buffers.

    The state is ``q`` (positions) and ``u = v * dt`` (velocity times step), so that a drift by
    a full step is one addition ``q += u`` and the kernel returns the kick ``du = c dt**2 a``
    directly (the coefficient is folded into the masses). A per-system ``dt`` ``(B,)`` broadcasts
    along the last (batch) axis of every buffer and of the kernel's scale.
    """
    d = x.shape[2]
    mb = np.ascontiguousarray(m.T)  # (N, B)
    q = np.ascontiguousarray(x.transpose(2, 1, 0))  # (D, N, B)
    u = np.ascontiguousarray(v.transpose(2, 1, 0)) * dt
    du = np.empty_like(q)
    tmp = np.empty_like(q)
    pot = np.empty(q.shape[2])
    kernel = PairwiseGravity(mb, n_dims=d, G=G, softening=softening)
    force = kernel.accelerations
    pos_out, vel_out = out["positions"], out["velocities"]
    kin_out, pot_out = out["kinetic"], out["potential"]
    h2 = dt * dt

    def drift(c: float) -> None:
        if c == 1.0:
            np.add(q, u, out=q)
        else:
            np.multiply(u, c, out=tmp)
            np.add(q, tmp, out=q)

    def save(k: int) -> None:
        # `pot` must hold the potential of the current positions
        np.divide(u, dt, out=tmp)
        pos_out[:, k] = q.transpose(2, 1, 0)
        vel_out[:, k] = tmp.transpose(2, 1, 0)
        kin_out[:, k] = 0.5 * np.einsum("nb,dnb,dnb->b", mb, tmp, tmp)
        pot_out[:, k] = pot

    outer, inner = scheme.outer, scheme.inner
    s = len(inner)
    if scheme.kick_first:
        # O = kick, I = drift; the force at the end of a step serves the next step's first kick
        force(q, du, scale=outer[0] * h2, potential=pot)
        save(0)
        merged = outer[s] + outer[0]
        for step in range(1, n_steps + 1):
            np.add(u, du, out=u)  # pending kick
            for i in range(s - 1):
                drift(inner[i])
                force(q, du, scale=outer[i + 1] * h2)
                np.add(u, du, out=u)
            drift(inner[s - 1])
            if step % save_every:
                force(q, du, scale=merged * h2)
            else:
                force(q, du, scale=outer[s] * h2, potential=pot)
                np.add(u, du, out=u)
                save(step // save_every)
                if outer[0] != outer[s]:
                    np.multiply(du, outer[0] / outer[s], out=du)
    else:
        # O = drift, I = kick; adjacent drifts of consecutive steps are merged
        force(q, du, potential=pot)
        save(0)
        pending = outer[0]
        for step in range(1, n_steps + 1):
            drift(pending)
            for i in range(s):
                force(q, du, scale=inner[i] * h2)
                np.add(u, du, out=u)
                if i < s - 1:
                    drift(outer[i + 1])
            if step % save_every:
                pending = outer[s] + outer[0]
            else:
                drift(outer[s])
                force(q, du, potential=pot)
                save(step // save_every)
                pending = outer[0]
