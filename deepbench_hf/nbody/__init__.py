"""Batched, vectorised Newtonian N-body simulations from first principles.

Modules (import them directly; nothing heavy is imported here):

- :mod:`deepbench_hf.nbody.gravity` -- pairwise softened accelerations (the hot kernel).
- :mod:`deepbench_hf.nbody.integrators` -- symplectic integrators and :func:`simulate`.
- :mod:`deepbench_hf.nbody.timestep` -- the default time-step rule.
- :mod:`deepbench_hf.nbody.initial_conditions` -- random-virial, Plummer, Kepler and famous
  few-body initial conditions.
- :mod:`deepbench_hf.nbody.energy` -- kinetic/potential energy, momenta, angular momentum.
- :mod:`deepbench_hf.nbody.render` -- images of a system: its bodies at the last output time, or
  a time exposure of their tracks.
- :mod:`deepbench_hf.nbody.kind` -- the ``nbody`` dataset kind: config schema, sampling of a
  system, columns.

Units are N-body units: the gravitational constant ``G`` is a parameter (default 1) and lengths,
masses and times are in arbitrary but mutually consistent units, so that an acceleration is
``G * mass / length**2`` and a velocity is ``length / time``. Every array is ``float64``. Arrays of
many systems are shaped ``(B, N, D)``: ``B`` systems (the batch) of ``N`` bodies in ``D`` spatial
dimensions (2 or 3); masses are ``(B, N)``.
"""
