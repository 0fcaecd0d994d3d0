"""Real 2-D FFTs of small images without ``scipy.fft``'s per-call overhead, bit for bit the same.

``scipy.fft.rfft2`` and ``irfft2`` spend 5-20 µs per call checking and normalising their
arguments before they call pocketfft; the supersampled PSF correction makes ~90 such calls per
sky-hard row, on images of 24-96 px a side, where that is a third to half of each call. These
functions make the same pocketfft call on the same input (cropped or zero-padded as scipy's
``_fix_shape`` does, over the last two axes, unnormalised forward, ``1/n`` inverse, one thread),
so their results are identical.

The binding (``scipy.fft._pocketfft.pypocketfft``) is private to scipy. It is used only if, when
this module is imported, it gives exactly ``scipy.fft``'s results on a probe; otherwise (another
scipy), these functions call ``scipy.fft`` itself: slower, the same numbers. Like the calls they
replace, they use one thread, and they ignore ``scipy.fft.set_backend`` and ``set_workers``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import fft as sp_fft

__all__ = ["irfft2", "rfft2"]


# pocketfft's positional arguments after the array and its axes: r2c(forward, norm, out,
# threads), c2r(last axis length, forward, norm, out, threads). norm: 0 none, 2 divide by n.
_FORWARD = (True, 0, None, 1)
_INVERSE = (False, 2, None, 1)


def _binding() -> Any:
    """scipy's pocketfft binding, if it reproduces ``scipy.fft.rfft2``/``irfft2`` on probes: a
    plane of odd width and a batch of planes."""
    try:
        from scipy.fft._pocketfft import pypocketfft

        for probe in (
            np.sin(np.arange(35.0)).reshape(5, 7),
            np.cos(np.arange(48.0)).reshape(2, 4, 6),
        ):
            axes, shape = (probe.ndim - 2, probe.ndim - 1), probe.shape[-2:]
            spectrum = pypocketfft.r2c(probe, axes, *_FORWARD)
            back = pypocketfft.c2r(spectrum, axes, shape[1], *_INVERSE)
            if not (
                np.array_equal(spectrum, sp_fft.rfft2(probe))
                and np.array_equal(back, sp_fft.irfft2(spectrum, shape))
            ):
                return None
        return pypocketfft
    except Exception:  # any change of the private API: use the public one
        return None


_POCKETFFT = _binding()


def rfft2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``scipy.fft.rfft2(x, shape)``: the FFT of a real array over its last two axes, cropped or
    zero-padded (at the end of each axis) to ``shape`` (arrays other than float64 go to
    ``scipy.fft``)."""
    if _POCKETFFT is None or x.dtype != np.float64 or min(shape) < 1:
        return sp_fft.rfft2(x, shape)
    h, w = x.shape[-2:]
    n0, n1 = shape
    if h < n0 or w < n1:
        padded = np.zeros((*x.shape[:-2], n0, n1), dtype=x.dtype)
        padded[..., : min(h, n0), : min(w, n1)] = x[..., :n0, :n1]
        x = padded
    elif h > n0 or w > n1:
        x = x[..., :n0, :n1]
    return _POCKETFFT.r2c(x, (x.ndim - 2, x.ndim - 1), *_FORWARD)


def irfft2(spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``scipy.fft.irfft2(spectrum, shape)`` of a complex128 :func:`rfft2` of ``shape`` (its last
    two axes ``(shape[0], shape[1] // 2 + 1)``; any other input goes to ``scipy.fft``)."""
    half = (shape[0], shape[1] // 2 + 1)
    direct = _POCKETFFT is not None and min(shape) >= 1 and spectrum.dtype == np.complex128
    if not direct or spectrum.shape[-2:] != half:
        return sp_fft.irfft2(spectrum, shape)
    axes = (spectrum.ndim - 2, spectrum.ndim - 1)
    return _POCKETFFT.c2r(spectrum, axes, shape[1], *_INVERSE)
