"""Conserved quantities of N-body systems: energies, momentum, angular momentum, virial ratio.

Every function takes masses shaped ``(*batch, N)`` and positions/velocities shaped
``(*batch, *extra, N, D)``: the leading axes of the masses line up with the leading axes of the
state and any extra axes (typically the output-time axis ``T`` of :func:`simulate`) are broadcast.
So ``masses (B, N)`` works with a state ``(B, N, D)`` (result ``(B,)``) and with a trajectory
``(B, T, N, D)`` (result ``(B, T)``).

Units: N-body units with ``G`` as given; an energy is ``mass * length**2 / time**2``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "angular_momentum",
    "centre_of_mass",
    "kinetic_energy",
    "potential_energy",
    "total_energy",
    "total_momentum",
    "virial_ratio",
]

_CHUNK_BYTES = 32 * 2**20


def _state(masses: ArrayLike, state: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(m, x)`` with ``m`` reshaped to broadcast against ``x[..., 0]``."""
    x = np.asarray(state, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)
    if x.ndim < 2 or m.ndim < 1 or x.shape[-2] != m.shape[-1] or m.ndim > x.ndim - 1:
        raise ValueError(
            f"masses (*batch, N) do not match a state (*batch, *extra, N, D): {m.shape}, {x.shape}"
        )
    extra = x.ndim - 1 - m.ndim
    m = m.reshape(m.shape[:-1] + (1,) * extra + m.shape[-1:])
    return m, x


def kinetic_energy(masses: ArrayLike, velocities: ArrayLike) -> NDArray[np.float64]:
    r"""Kinetic energy :math:`K = \tfrac12 \sum_i m_i |\mathbf v_i|^2`.

    Parameters
    ----------
    masses
        ``(*batch, N)``, mass units.
    velocities
        ``(*batch, *extra, N, D)``, length/time.

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra)``, energy units.
    """
    m, v = _state(masses, velocities)
    return 0.5 * np.sum(m * np.einsum("...nd,...nd->...n", v, v), axis=-1)


def potential_energy(
    masses: ArrayLike,
    positions: ArrayLike,
    *,
    G: float = 1.0,
    softening: float = 0.0,
) -> NDArray[np.float64]:
    r"""Plummer-softened potential energy, :math:`W=-G\sum_{i<j}m_im_j/\sqrt{r_{ij}^2+\epsilon^2}`.

    Parameters
    ----------
    masses
        ``(*batch, N)``, mass units.
    positions
        ``(*batch, *extra, N, D)``, length units.
    G
        Gravitational constant.
    softening
        Plummer softening length :math:`\epsilon`, length units (the same as the simulation's).

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra)``, energy units. All pairs are evaluated with broadcasting (half the
        sum over ``i != j``), chunked over the leading axes to bound memory.
    """
    m, x = _state(masses, positions)
    lead = x.shape[:-2]
    n, d = x.shape[-2:]
    m = np.broadcast_to(m, (*lead, n)).reshape(-1, n)
    x = x.reshape(-1, n, d)
    out = np.zeros(x.shape[0])
    if n < 2:
        return out.reshape(lead)
    step = max(1, _CHUNK_BYTES // (n * n * 8))
    eps2 = float(softening) ** 2
    diag = np.arange(n)
    for c0 in range(0, x.shape[0], step):
        xc = x[c0 : c0 + step]
        r2 = np.full((xc.shape[0], n, n), eps2)
        for k in range(d):  # loop over the D coordinates, not over bodies
            r2 += np.square(xc[:, :, None, k] - xc[:, None, :, k])
        r2[:, diag, diag] = np.inf  # no self-energy
        inv_r = 1.0 / np.sqrt(r2)
        mc = m[c0 : c0 + step]
        out[c0 : c0 + step] = -0.5 * G * np.einsum("bi,bij,bj->b", mc, inv_r, mc)
    return out.reshape(lead)


def total_energy(
    masses: ArrayLike,
    positions: ArrayLike,
    velocities: ArrayLike,
    *,
    G: float = 1.0,
    softening: float = 0.0,
) -> NDArray[np.float64]:
    """Total energy :math:`E = K + W` (see :func:`kinetic_energy`, :func:`potential_energy`)."""
    return kinetic_energy(masses, velocities) + potential_energy(
        masses, positions, G=G, softening=softening
    )


def total_momentum(masses: ArrayLike, velocities: ArrayLike) -> NDArray[np.float64]:
    r"""Total linear momentum :math:`\mathbf P = \sum_i m_i \mathbf v_i`.

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra, D)``, ``mass * length / time``.
    """
    m, v = _state(masses, velocities)
    return np.sum(m[..., None] * v, axis=-2)


def centre_of_mass(masses: ArrayLike, positions: ArrayLike) -> NDArray[np.float64]:
    r"""Centre of mass :math:`\sum_i m_i \mathbf x_i / \sum_i m_i`.

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra, D)``, length units.
    """
    m, x = _state(masses, positions)
    return np.sum(m[..., None] * x, axis=-2) / np.sum(m, axis=-1)[..., None]


def angular_momentum(
    masses: ArrayLike, positions: ArrayLike, velocities: ArrayLike
) -> NDArray[np.float64]:
    r"""Angular momentum about the origin, :math:`\mathbf L=\sum_i m_i\mathbf x_i\times\mathbf v_i`.

    Parameters
    ----------
    masses
        ``(*batch, N)``, mass units.
    positions, velocities
        ``(*batch, *extra, N, D)`` with ``D`` = 2 or 3.

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra, 3)`` for ``D = 3``; for ``D = 2`` the only non-zero component
        :math:`L_z = \sum_i m_i (x_i v_{y,i} - y_i v_{x,i})`, shape ``(*batch, *extra)``.
        Units ``mass * length**2 / time``.
    """
    m, x = _state(masses, positions)
    v = np.asarray(velocities, dtype=np.float64)
    if v.shape != x.shape:
        raise ValueError(f"positions and velocities differ in shape: {x.shape}, {v.shape}")
    if x.shape[-1] == 3:
        return np.sum(m[..., None] * np.cross(x, v), axis=-2)
    if x.shape[-1] == 2:
        return np.sum(m * (x[..., 0] * v[..., 1] - x[..., 1] * v[..., 0]), axis=-1)
    raise ValueError(f"angular momentum needs D = 2 or 3, got D = {x.shape[-1]}")


def virial_ratio(
    masses: ArrayLike,
    positions: ArrayLike,
    velocities: ArrayLike,
    *,
    G: float = 1.0,
    softening: float = 0.0,
) -> NDArray[np.float64]:
    """Virial ratio :math:`2K/|W|` (1 in virial equilibrium), softening-aware.

    Returns
    -------
    numpy.ndarray
        ``(*batch, *extra)``, dimensionless.
    """
    w = potential_energy(masses, positions, G=G, softening=softening)
    return 2.0 * kinetic_energy(masses, velocities) / np.abs(w)
