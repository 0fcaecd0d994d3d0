r"""Pairwise Newtonian accelerations with Plummer softening, vectorised over bodies and systems.

For every system ``b`` of a batch and every body ``i`` the acceleration is

.. math::

    \mathbf a_i = G \sum_{j \ne i} m_j
        \frac{\mathbf x_j - \mathbf x_i}{(|\mathbf x_j - \mathbf x_i|^2 + \epsilon^2)^{3/2}},

the gradient of the Plummer-softened pair potential
:math:`\phi_{ij} = -G m_i m_j / \sqrt{r_{ij}^2 + \epsilon^2}`. All pairs of all systems are
evaluated at once with broadcasting; there is no Python loop over bodies or systems.

How the hot kernel, :class:`PairwiseGravity`, works
---------------------------------------------------
*Batch-last layout.* Positions are stored ``(D, N, B)`` so every elementwise operation runs along
long contiguous rows (the batch axis) even when ``N`` is small.

*Each pair once (cyclic offsets).* Pair ``{i, j}`` is visited once as ``(i, i + k mod N)`` with
offset ``k = 1 .. floor(N/2)`` (for even ``N`` the offset ``N/2`` visits each pair twice and gets
weight 1/2). Partner positions for all offsets are a strided *view* of the positions extended by
their first ``floor(N/2)`` rows, so ``dx[d, k, i, b] = x[d, i+k, b] - x[d, i, b]`` is one
broadcast subtraction over ``(D, K, N, B)``, about half the size of the full ``N x N`` matrix and
with no self-pairs. Each pair force is applied to both bodies (Newton's third law): body ``i``
receives :math:`+G m_j\,\mathbf{dx}/r^3` by a sum over ``k``; body ``j = i + k`` receives
:math:`-G m_i\,\mathbf{dx}/r^3` through a second strided view that shifts row ``k`` by ``k``
before the sum over ``k``. Momentum is therefore conserved to rounding error.

*No temporaries.* All buffers are preallocated; every operation writes with ``out=``. Very large
problems are cut into tiles of offsets so that a pair buffer stays under ``max_pair_bytes``
(a cache/memory bound, not a loop over bodies; typical batches need one or two tiles).

Units: N-body units, ``G`` as given; lengths, masses and times in arbitrary consistent units.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_MAX_PAIR_BYTES", "PairwiseGravity", "accelerations"]

#: Target size in bytes of one ``(D, offsets, N, B)`` pair buffer; offsets are tiled above it.
#: About 1 MiB keeps the working set in a typical L2 cache (measured fastest on the bench).
DEFAULT_MAX_PAIR_BYTES = 2**20


class _Tile:
    """Buffers and strided views for the offsets ``k0+1 .. k0+kt`` (0-based ``k0``)."""

    def __init__(
        self, ext: NDArray, m_partner: NDArray, m_self: NDArray, k0: int, kt: int, n_dims: int
    ) -> None:
        _, n, b = m_self.shape
        self.k0, self.kt = k0, kt
        self.first = k0 + 1  # smallest offset of the tile
        self.last = k0 + kt  # largest offset of the tile
        base = ext[:, self.first :]
        # partner[d, kk, i, b] = ext[d, i + first + kk, b] = x[d, (i + k) mod N, b]
        self.partner = as_strided(
            base,
            shape=(n_dims, kt, n, b),
            strides=(base.strides[0], base.strides[1], base.strides[1], base.strides[2]),
            writeable=False,
        )
        self.m_partner = m_partner[k0 : k0 + kt]  # (kt, N, B): m_j, weight 1/2 at k = N/2
        self.m_self = m_self[k0 : k0 + kt]  # (kt, N, B): m_i, weight 1/2 at k = N/2
        self.dx = np.empty((n_dims, kt, n, b))
        self.r2 = np.empty((kt, n, b))
        self.s = np.empty((kt, n, b))
        self.w = np.empty((kt, n, b))
        # reaction[d, kk, p, b] collects -G m_i dx / r^3 at p = i + kk, i.e. body i + k;
        # cells never written stay zero
        self.length = n + kt - 1
        self.reaction = np.zeros((n_dims, kt, self.length, b))
        y = self.reaction
        self.reaction_view = as_strided(
            y,
            shape=(n_dims, kt, n, b),
            strides=(y.strides[0], y.strides[1] + y.strides[2], y.strides[2], y.strides[3]),
        )
        self.reaction_sum = y[:, 0] if kt == 1 else np.empty((n_dims, self.length, b))
        self.action_sum = np.empty((n_dims, n, b))


class PairwiseGravity:
    r"""Preallocated softened-gravity kernel for a fixed batch in the batch-last layout.

    Parameters
    ----------
    masses
        Masses, shape ``(N, B)`` (batch-last), in mass units. Zero masses are allowed (test
        particles feel gravity but exert none).
    n_dims
        Number of spatial dimensions ``D``.
    G
        Gravitational constant, in ``length**3 / (mass * time**2)``.
    softening
        Plummer softening length :math:`\epsilon \ge 0`, in length units.
    max_pair_bytes
        Target size of one pair buffer; offsets are tiled above it.
    """

    def __init__(
        self,
        masses: NDArray[np.float64],
        *,
        n_dims: int,
        G: float = 1.0,
        softening: float = 0.0,
        max_pair_bytes: int = DEFAULT_MAX_PAIR_BYTES,
    ) -> None:
        m = np.ascontiguousarray(masses, dtype=np.float64)
        if m.ndim != 2:
            raise ValueError(f"masses must be (N, B) in the batch-last layout, got {m.shape}")
        n, b = m.shape
        d = int(n_dims)
        self.n_bodies, self.n_systems, self.n_dims = n, b, d
        self.G = float(G)
        self.eps2 = float(softening) ** 2
        k = n // 2
        self.n_offsets = k
        offsets = np.arange(1, k + 1)
        weight = np.where(2 * offsets == n, 0.5, 1.0)[:, None, None]
        partner = (np.arange(n)[None, :] + offsets[:, None]) % n  # (K, N)
        m_partner = weight * m[partner]  # (K, N, B)
        m_self = weight * np.broadcast_to(m, (k, n, b))
        # positions extended by their first K rows, so that partner rows are a strided view
        self._ext = np.empty((d, n + k, b))
        self._tiles: list[_Tile] = []
        if k:
            kt = int(max(1, min(k, max_pair_bytes // (d * n * b * 8))))
            kt = -(-k // -(-k // kt))  # balance the tiles
            for k0 in range(0, k, kt):
                self._tiles.append(_Tile(self._ext, m_partner, m_self, k0, min(kt, k - k0), d))

    def accelerations(
        self,
        positions: NDArray[np.float64],
        out: NDArray[np.float64],
        *,
        scale: float = 1.0,
        potential: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        r"""Write ``scale`` times the accelerations at ``positions`` ``(D, N, B)`` into ``out``.

        Parameters
        ----------
        positions
            Positions, shape ``(D, N, B)``, length units.
        out
            Output, shape ``(D, N, B)``, overwritten with ``scale`` times the accelerations
            (``length / time**2``). Integrators pass ``scale = c * dt**2`` to get the change of
            ``velocity * dt`` of a kick directly.
        scale
            Factor folded into ``G`` (no extra pass over the data).
        potential
            If given, shape ``(B,)``: overwritten with the total softened potential energy
            :math:`W = -G \sum_{i<j} m_i m_j / \sqrt{r_{ij}^2 + \epsilon^2}` of each system,
            computed from the same distances (not scaled).

        Returns
        -------
        numpy.ndarray
            ``out``.
        """
        q = positions
        n = self.n_bodies
        if potential is not None:
            potential[...] = 0.0
        if not self._tiles:  # a single body: no pairs
            out[...] = 0.0
            return out
        ext = self._ext
        ext[:, :n] = q
        ext[:, n:] = q[:, : self.n_offsets]
        gs = self.G * scale
        qi = q[:, None, :, :]
        for idx, t in enumerate(self._tiles):
            dx, r2, s, w = t.dx, t.r2, t.s, t.w
            np.subtract(t.partner, qi, out=dx)  # x_{i+k} - x_i
            np.multiply(dx[0], dx[0], out=r2)
            for d in range(1, self.n_dims):
                np.multiply(dx[d], dx[d], out=s)
                np.add(r2, s, out=r2)
            if self.eps2:
                np.add(r2, self.eps2, out=r2)
            np.sqrt(r2, out=s)
            if potential is not None:
                np.divide(t.m_partner, s, out=w)
                np.multiply(w, t.m_self, out=w)  # m_i m_j / r (pairs at k = N/2 halved twice)
                if 2 * t.last == n:  # undo one of the two halvings of the last offset
                    np.multiply(w[-1], 2.0, out=w[-1])
                potential -= self.G * w.reshape(-1, w.shape[-1]).sum(axis=0)
            np.multiply(s, r2, out=s)  # r^3
            np.divide(gs, s, out=s)  # scale G / r^3
            np.multiply(s, t.m_self, out=w)  # scale G m_i / r^3 (reaction on body i + k)
            np.multiply(dx, w, out=t.reaction_view)
            np.multiply(s, t.m_partner, out=w)  # scale G m_{i+k} / r^3 (action on body i)
            action = out if idx == 0 else t.action_sum
            if t.kt == 1:
                np.multiply(dx[:, 0], w[0], out=action)
            else:
                np.multiply(dx, w, out=dx)
                np.add.reduce(dx, axis=1, out=action)
                np.add.reduce(t.reaction, axis=1, out=t.reaction_sum)
            if idx:
                np.add(out, action, out=out)
            # body j = p + first (mod N) receives reaction_sum[p]
            c = t.first
            y = t.reaction_sum
            np.subtract(out[:, c:], y[:, : n - c], out=out[:, c:])
            np.subtract(out[:, : t.last], y[:, n - c :], out=out[:, : t.last])
        return out


def accelerations(
    masses: ArrayLike,
    positions: ArrayLike,
    *,
    G: float = 1.0,
    softening: float = 0.0,
) -> NDArray[np.float64]:
    r"""Softened Newtonian accelerations of every body of a batch of systems.

    Parameters
    ----------
    masses
        Masses, shape ``(B, N)``, mass units.
    positions
        Positions, shape ``(B, N, D)``, length units.
    G
        Gravitational constant.
    softening
        Plummer softening length :math:`\epsilon`, length units.

    Returns
    -------
    numpy.ndarray
        Accelerations :math:`\mathbf a_i = G\sum_j m_j (\mathbf x_j-\mathbf x_i)
        /(r_{ij}^2+\epsilon^2)^{3/2}`, shape ``(B, N, D)``, ``length / time**2``.
    """
    m = np.asarray(masses, dtype=np.float64)
    x = np.asarray(positions, dtype=np.float64)
    if x.ndim != 3 or m.shape != x.shape[:2]:
        raise ValueError(f"need masses (B, N) and positions (B, N, D); got {m.shape}, {x.shape}")
    kernel = PairwiseGravity(m.T, n_dims=x.shape[2], G=G, softening=softening)
    q = np.ascontiguousarray(x.transpose(2, 1, 0))
    acc = np.empty_like(q)
    kernel.accelerations(q, acc)
    return np.ascontiguousarray(acc.transpose(2, 1, 0))
