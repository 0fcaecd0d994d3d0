"""Simulated sky images: stars, elliptical and spiral galaxies, PSF and CCD noise.

Modules (import them directly; this package imports nothing heavy):

* :mod:`deepbench_hf.sky.profiles` -- Moffat, Sérsic and spiral surface-brightness profiles
  (point evaluation) and their analytic helpers (normalisation, enclosed flux, radii).
* :mod:`deepbench_hf.sky.stamps` -- pixel-integrated stamps of stars and galaxies (``draw_*``),
  frame bounds and stamp sums.
* :mod:`deepbench_hf.sky.integrate` -- pixel integration of the profiles (cell-average rule,
  adaptive sub-sampling; its accuracy is documented there), used by the stamps.
* :mod:`deepbench_hf.sky.cusp` -- deterministic photon shooting of Sérsic cusps, used by the
  stamps.
* :mod:`deepbench_hf.sky.psf` -- PSF kernels (Gaussian, Moffat) and convolution.
* :mod:`deepbench_hf.sky.fft` -- real 2-D FFTs without ``scipy.fft``'s per-call overhead (the
  same numbers), used by the convolutions.
* :mod:`deepbench_hf.sky.sharp` -- the supersampled PSF convolution of cores sharper than a
  pixel (a correction to the lattice convolution of :mod:`~deepbench_hf.sky.psf`).
* :mod:`deepbench_hf.sky.noise` -- CCD (Poisson + read noise, GalSim ``CCDNoise`` convention),
  Gaussian and no noise, each returning the noisy image and its variance map.
* :mod:`deepbench_hf.sky.poisson` -- exact Poisson draws of one mean by table inversion (the
  shot noise of dark sky pixels), used by the noise.
* :mod:`deepbench_hf.sky.render` -- object records, scene rendering, re-rendering and truth
  (segmentation map, COCO boxes, optimal S/N).
* :mod:`deepbench_hf.sky.imaging` -- the ``psf`` and ``noise`` config sections and their columns,
  shared by every kind that makes CCD-like images (sky, lensing).
* :mod:`deepbench_hf.sky.kind` -- the ``sky`` dataset kind: config schema, scene sampling,
  columns.

Conventions: ``image[row, col]``, x = column, y = row, pixel centres at integer coordinates;
angles in radians from +x towards +y; fluxes are total counts (ADU).
"""
