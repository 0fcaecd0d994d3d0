"""Simulated sky images: stars, elliptical and spiral galaxies, PSF and CCD noise.

Modules (import them directly; this package imports nothing heavy):

* :mod:`deepbench_hf.sky.profiles` -- Moffat, Sérsic and spiral surface-brightness profiles
  (point evaluation) and their pixel-integrated stamps.
* :mod:`deepbench_hf.sky.psf` -- PSF kernels (Gaussian, Moffat) and convolution.
* :mod:`deepbench_hf.sky.noise` -- CCD (Poisson + read noise, GalSim ``CCDNoise`` convention),
  Gaussian and no noise, each returning the noisy image and its variance map.
* :mod:`deepbench_hf.sky.render` -- object records, scene rendering, re-rendering and truth
  (segmentation map, COCO boxes, optimal S/N).

Conventions: ``image[row, col]``, x = column, y = row, pixel centres at integer coordinates;
angles in radians from +x towards +y; fluxes are total counts (ADU).
"""
