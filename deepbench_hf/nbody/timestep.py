r"""The default fixed time step: a fraction of the shortest pair dynamical time.

For each pair ``(i, j)`` of a system, at the initial positions,

.. math::

    t_{ij} = \sqrt{\frac{(r_{ij}^2 + \epsilon^2)^{3/2}}{G (m_i + m_j)}},
    \qquad \Delta t = \eta \min_{i<j} t_{ij},

i.e. :math:`1/2\pi` of the period of a circular orbit of the pair at its current (softened)
separation. :data:`DEFAULT_ETA` :math:`= 2\pi/5000` gives **5000 steps per period of a circular
two-body orbit**; for a Kepler orbit started at pericentre (eccentricity ``e``, period ``P``) the
step is

.. math::

    \Delta t = \frac{\eta}{2\pi} P (1-e)^{3/2} = \frac{P (1-e)^{3/2}}{5000}

(:func:`kepler_timestep`; ``P / 14142`` at ``e = 0.5``). With the default kick-drift-kick
leapfrog the relative energy error of a Kepler orbit then stays near
:math:`0.075\,\eta^2 (1+e)^2/(1-e)` (about 5e-7 at ``e = 0.5``, 5e-6 at ``e = 0.9``) and the
period and semi-major axis are right to about 1e-6 (``tests/test_nbody_physics.py``). The error
scales as :math:`\eta^2` (:math:`\eta^4` with ``"yoshida4"``), so ``eta`` is the accuracy knob.

The rule looks at the initial state only: a Kepler orbit started away from pericentre gets a
larger step (use :func:`kepler_timestep`, which is phase independent), and bodies that later
come closer than they start (close encounters in clusters) are resolved only down to the
softening length.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_ETA", "default_timestep", "kepler_timestep"]

#: Default accuracy parameter :math:`\eta` (5000 steps per circular two-body orbit).
DEFAULT_ETA = 2.0 * np.pi / 5000.0


def default_timestep(
    masses: ArrayLike,
    positions: ArrayLike,
    *,
    G: float = 1.0,
    softening: float = 0.0,
    eta: float = DEFAULT_ETA,
) -> NDArray[np.float64]:
    r"""Default fixed step of each system, :math:`\eta\min_{i<j}\sqrt{\rho_{ij}^3/(G(m_i+m_j))}`.

    Parameters
    ----------
    masses
        ``(B, N)``, mass units.
    positions
        ``(B, N, D)``, length units (the initial state).
    G
        Gravitational constant.
    softening
        Plummer softening length :math:`\epsilon`; :math:`\rho^2 = r^2 + \epsilon^2`.
    eta
        Dimensionless accuracy parameter.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` steps in time units; use ``.min()`` for a batch that shares one step (as
        :func:`~deepbench_hf.nbody.integrators.simulate` does when ``dt`` is None).

    Raises
    ------
    ValueError
        If a system has no pair with positive mass, or two unsoftened bodies coincide.
    """
    m = np.asarray(masses, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    if x.ndim != 3 or m.shape != x.shape[:2]:
        raise ValueError(f"need masses (B, N) and positions (B, N, D); got {m.shape}, {x.shape}")
    if not (np.isfinite(eta) and eta > 0):
        raise ValueError(f"eta must be positive and finite, got {eta}")
    iu, ju = np.triu_indices(x.shape[1], 1)
    dx = x[:, ju] - x[:, iu]
    rho2 = np.einsum("bpd,bpd->bp", dx, dx) + float(softening) ** 2
    mu = G * (m[:, iu] + m[:, ju])
    with np.errstate(divide="ignore"):
        t_pair = np.where(mu > 0, np.sqrt(rho2**1.5 / np.where(mu > 0, mu, 1.0)), np.inf)
    t_min = t_pair.min(axis=1, initial=np.inf)
    if not np.all(np.isfinite(t_min)) or np.any(t_min <= 0):
        raise ValueError(
            "cannot infer a time step: a system has no pair with positive mass, or two bodies "
            "coincide without softening; pass dt explicitly"
        )
    return eta * t_min


def kepler_timestep(
    period: ArrayLike, eccentricity: ArrayLike = 0.0, *, eta: float = DEFAULT_ETA
) -> NDArray[np.float64]:
    r"""Default step of a two-body Kepler orbit, :math:`\eta P (1-e)^{3/2} / (2\pi)`.

    Equal to :func:`default_timestep` for the orbit started at pericentre, for any start phase.

    Parameters
    ----------
    period
        Orbital period ``P``, time units.
    eccentricity
        Eccentricity ``0 <= e < 1``.
    eta
        Dimensionless accuracy parameter.

    Returns
    -------
    numpy.ndarray
        Step(s) in time units, broadcast shape of ``period`` and ``eccentricity``.
    """
    p = np.asarray(period, dtype=np.float64)
    e = np.asarray(eccentricity, dtype=np.float64)
    return eta * p * (1.0 - e) ** 1.5 / (2.0 * np.pi)
