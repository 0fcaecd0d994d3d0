"""Strong gravitational lensing from first principles (numpy and scipy).

* :mod:`deepbench_hf.lensing.mass` -- singular isothermal ellipsoid (SIE) plus external shear:
  deflection, potential, convergence, Hessian, Jacobian, magnification, ray-shooting; helpers
  converting ``(q, angle)`` <-> lenstronomy's ``(e1, e2)``.
* :mod:`deepbench_hf.lensing.raytrace` -- lensed images of an extended source by uniform
  sub-sampled ray-shooting (the reference the adaptive integration is tested against), source
  magnification, and the arc masks of the rows.
* :mod:`deepbench_hf.lensing.point_source` -- image positions, signed magnifications and parities
  of a point source (solution of the lens equation).
* :mod:`deepbench_hf.lensing.adaptive` -- pixel integration of a lensed surface: pixel-centre
  rays where the image is smooth, sub-pixel rays where it is not.
* :mod:`deepbench_hf.lensing.sharp` -- the supersampled PSF correction around sharp lensed cores,
  lens light and field stars.
* :mod:`deepbench_hf.lensing.scene` -- one example's truth (:class:`LensScene`): drawn from a
  config, or read back from a row.
* :mod:`deepbench_hf.lensing.render` -- a scene's noiseless image, lensed source and
  magnification; ``image_clean`` re-rendered from a row.
* :mod:`deepbench_hf.lensing.kind` -- the ``lensing`` dataset kind: its config schema, columns
  and the pipeline of one example.

Conventions: images are ``image[row, col]``, **x = column, y = row**, 0-based, pixel centres at
integer coordinates; every length (positions, ``theta_e``) is in **pixels**; angles in radians
from +x towards +y. The parameters are those of lenstronomy's ``SIE`` and ``SHEAR`` profiles with a
pixel scale of 1 and an identity pixel-to-angle matrix (see :mod:`deepbench_hf.lensing.mass`).
"""
