r"""Point-spread functions: kernels and convolution.

A PSF is circular, Gaussian or Moffat, of FWHM ``fwhm`` (px):

* Gaussian: :math:`K(r) \propto \exp(-r^2 / 2\sigma^2)`, :math:`\sigma = \mathrm{FWHM} / 2.3548`;
* Moffat: :math:`K(r) \propto (1 + r^2/\gamma^2)^{-\beta}`,
  :math:`\gamma = \mathrm{FWHM} / (2\sqrt{2^{1/\beta} - 1})` (default :math:`\beta = 4.765`, the
  Kolmogorov-turbulence value of Trujillo et al. 2001).

The kernel is the PSF **sampled at integer pixel offsets** (not pixel-integrated), on an odd
``(2k + 1) x (2k + 1)`` grid centred on ``kernel[k, k]`` with ``k = ceil(r_999)``, the radius
enclosing 99.9 % of the PSF's light, and normalised to sum to 1 (so convolution conserves flux).
Sampling (not integrating) is right because it is applied to images that are already
pixel-integrated: ``pixel(I * PSF) = (pixel(I)) * PSF`` sampled at the pixel centres, a lattice sum
that is accurate only when the light or the PSF is smooth on the pixel scale. Light sharper
than a pixel (a narrow star, a Sérsic cusp or cone) aliases under it, by up to ~7 % of the peak
pixel, and so does any light under a PSF narrower than ~2.5 px (~1 %); sky and lensing images
add the supersampled correction of :mod:`deepbench_hf.sky.sharp` around such light.

:func:`convolve` uses two 1-D convolutions for a Gaussian (separable), each one matrix product with
a cached banded (Toeplitz) matrix (``rows @ image @ cols.T``, float64; far cheaper than
``scipy.ndimage`` for stamp-sized images), and one real FFT for a Moffat (``scipy.fft``, with the
kernel's transform cached per padded shape); the result is clipped at 0 (FFT round-off). A
``window`` computes only part of the output (the rows of the banded matrices; for the FFT, the
shortest transform whose wrap-around misses the window).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import fft as sp_fft

from deepbench_hf.sky.fft import irfft2, rfft2
from deepbench_hf.sky.profiles import FWHM_TO_SIGMA, moffat_gamma, moffat_radius

__all__ = ["PSF", "PSF_KINDS", "convolve", "make_psf", "psf_kernel", "psf_reach"]

PSF_KINDS = ("gaussian", "moffat")
FLUX_FRACTION = 0.999


@dataclass(frozen=True)
class PSF:
    """A circular PSF.

    Attributes
    ----------
    fwhm
        Full width at half maximum (px), > 0.
    kind
        ``"gaussian"`` or ``"moffat"``.
    beta
        Moffat power index (> 1); ignored for a Gaussian.
    """

    fwhm: float
    kind: Literal["gaussian", "moffat"] = "moffat"
    beta: float = 4.765

    def __post_init__(self) -> None:
        if self.kind not in PSF_KINDS:
            raise ValueError(f"PSF kind must be one of {PSF_KINDS}, got {self.kind!r}")
        if not self.fwhm > 0:
            raise ValueError(f"PSF fwhm must be > 0, got {self.fwhm}")
        if self.kind == "moffat" and not self.beta > 1:
            raise ValueError(f"Moffat PSF beta must be > 1, got {self.beta}")

    @property
    def radius(self) -> int:
        """Kernel half-size k (px): ``ceil`` of the radius enclosing 99.9 % of the light."""
        return _radius(self.kind, float(self.fwhm), float(self.beta))

    def kernel(self) -> np.ndarray:
        """The normalised ``(2k+1) x (2k+1)`` kernel (read-only), see :func:`psf_kernel`."""
        return _kernel(self.kind, float(self.fwhm), float(self.beta), 2 * self.radius + 1)

    def profile(self, r2: np.ndarray) -> np.ndarray:
        """The PSF at squared distances ``r2`` (px²) from its centre, 1 there (not normalised):
        ``exp(-r2 / 2 sigma^2)`` or ``(1 + r2 / gamma^2)^-beta``."""
        if self.kind == "gaussian":
            return np.exp(-0.5 * r2 / (self.fwhm * FWHM_TO_SIGMA) ** 2)
        return (1.0 + r2 / float(moffat_gamma(self.fwhm, self.beta)) ** 2) ** (-self.beta)


def make_psf(spec: PSF | dict | None) -> PSF | None:
    """A :class:`PSF` from a mapping ``{"kind", "fwhm", "beta"}`` (or a PSF, or ``None``).

    A mapping with ``fwhm`` ``None`` or 0 means no PSF.
    """
    if spec is None or isinstance(spec, PSF):
        return spec
    spec = dict(spec)
    fwhm = spec.pop("fwhm", None)
    if not fwhm:
        return None
    return PSF(fwhm=float(fwhm), **spec)


def psf_reach(kind: str, fwhm: float, beta: float = 4.765) -> float:
    """Radius (px) enclosing :data:`FLUX_FRACTION` (99.9 %) of a PSF's light, before rounding
    up to the kernel's half-size; ``inf`` beyond the float range (a Moffat of ``beta`` just above
    1)."""
    if kind == "gaussian":
        return fwhm * FWHM_TO_SIGMA * math.sqrt(-2.0 * math.log(1.0 - FLUX_FRACTION))
    return moffat_radius(fwhm=fwhm, beta=beta, fraction=FLUX_FRACTION)


@functools.lru_cache(maxsize=256)
def _radius(kind: str, fwhm: float, beta: float) -> int:
    return max(1, math.ceil(psf_reach(kind, fwhm, beta)))


def psf_kernel(
    *,
    fwhm: float,
    kind: Literal["gaussian", "moffat"] = "moffat",
    beta: float = 4.765,
    size: int | None = None,
) -> np.ndarray:
    """PSF kernel: the PSF sampled at integer offsets, normalised to sum 1, odd size, centred.

    Parameters
    ----------
    fwhm
        FWHM (px).
    kind
        ``"gaussian"`` or ``"moffat"``.
    beta
        Moffat power index (> 1).
    size
        Odd side length; default ``2 k + 1`` with ``k`` = ceil(radius enclosing 99.9 %).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float64 array (read-only); ``kernel[size // 2, size // 2]`` is the peak.
    """
    psf = PSF(fwhm=fwhm, kind=kind, beta=beta)
    if size is None:
        size = 2 * psf.radius + 1
    if size < 1 or size % 2 != 1:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    return _kernel(psf.kind, float(fwhm), float(beta), int(size))


@functools.lru_cache(maxsize=64)
def _profile_1d(kind: str, fwhm: float, beta: float, size: int) -> np.ndarray:
    """Squared offsets scaled: r^2 / sigma^2 (gaussian) or r^2 / gamma^2 (moffat) on one axis."""
    k = size // 2
    d = np.arange(-k, k + 1, dtype=float)
    if kind == "gaussian":
        return d * d / (fwhm * FWHM_TO_SIGMA) ** 2
    return d * d / float(moffat_gamma(fwhm, beta)) ** 2


@functools.lru_cache(maxsize=64)
def _gaussian_1d(fwhm: float, size: int) -> np.ndarray:
    g = np.exp(-0.5 * _profile_1d("gaussian", fwhm, 0.0, size))
    g /= g.sum()
    g.setflags(write=False)
    return g


@functools.lru_cache(maxsize=64)
def _kernel(kind: str, fwhm: float, beta: float, size: int) -> np.ndarray:
    if kind == "gaussian":
        g = _gaussian_1d(fwhm, size)
        ker = np.outer(g, g)
    else:
        d2 = _profile_1d(kind, fwhm, beta, size)
        ker = (1.0 + d2[:, None] + d2[None, :]) ** (-beta)
    ker = ker / ker.sum()
    ker.setflags(write=False)
    return ker


def convolve(
    image: np.ndarray,
    psf: PSF,
    *,
    mode: Literal["full", "same"] = "full",
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Convolve ``image`` with the PSF kernel (flux conserving, zero outside ``image``).

    Parameters
    ----------
    image
        Array of shape ``(..., H, W)`` (counts per pixel): a stack of images is convolved in
        one batched transform.
    psf
        The PSF.
    mode
        ``"full"``: the output is larger by ``k`` pixels on each side (all the light);
        ``"same"``: the output has the shape of ``image`` (centred; light scattered outside is
        lost).
    window
        Optional ``(row_lo, row_hi, col_lo, col_hi)`` (integers, ``lo <= hi``, ``hi``
        exclusive) within the ``mode``'s output: only that part is computed and returned, with
        shorter transforms (e.g. the part of a stamp inside the frame). ``None``: the whole
        output, computed as without a window.

    Returns
    -------
    numpy.ndarray
        float64, clipped at 0, of shape ``(..., row_hi - row_lo, col_hi - col_lo)`` (the
        ``mode``'s output shape without a window).
    """
    k = psf.radius
    size = 2 * k + 1
    img = np.asarray(image, dtype=np.float64)
    if img.ndim < 2:
        raise ValueError(f"image must be at least 2-D, got shape {img.shape}")
    h, w = img.shape[-2:]
    offset = k if mode == "same" else 0  # of the mode's output within the full output
    out_h, out_w = h + 2 * (k - offset), w + 2 * (k - offset)
    if window is None:
        r0, r1, c0, c1 = offset, offset + out_h, offset, offset + out_w
        lengths = (h + 2 * k, w + 2 * k)
    else:
        _check_window(window, out_h, out_w, mode)
        r0, r1, c0, c1 = (int(v) + offset for v in window)
        lengths = (_circular_length(h, k, r0, r1), _circular_length(w, k, c0, c1))
    if psf.kind == "gaussian":
        rows = _band(float(psf.fwhm), size, h)[r0:r1]
        cols = _band(float(psf.fwhm), size, w)[c0:c1]
        out = rows @ img @ cols.T
    else:
        shape = tuple(sp_fft.next_fast_len(n, True) for n in lengths)
        spec = rfft2(img, shape)
        spec *= _kernel_rfft(float(psf.fwhm), float(psf.beta), size, shape)
        out = irfft2(spec, shape)[..., r0:r1, c0:c1]
    return np.maximum(out, 0.0, out=out)


def _check_window(window: tuple[int, ...], out_h: int, out_w: int, mode: str) -> None:
    if len(window) != 4 or not all(isinstance(v, int | np.integer) for v in window):
        raise ValueError(
            f"window must be 4 integers (row_lo, row_hi, col_lo, col_hi), got {window}"
        )
    r0, r1, c0, c1 = window
    if not (r0 <= r1 and c0 <= c1):
        raise ValueError(f"window {window} must have row_lo <= row_hi and col_lo <= col_hi")
    if not (0 <= r0 and r1 <= out_h and 0 <= c0 and c1 <= out_w):
        raise ValueError(f"window {window} is outside the {mode!r} output of {out_h} x {out_w}")


def _circular_length(m: int, k: int, lo: int, hi: int) -> int:
    """Shortest circular-convolution length giving the full linear convolution of ``m`` samples
    with ``2k + 1`` taps on the outputs ``[lo, hi)`` (of ``[0, m + 2k)``).

    Output ``o`` of a circular convolution of length ``n`` is the sum of the linear outputs
    ``o + j n``; none but ``j = 0`` lies in ``[0, m + 2k)`` for every ``o`` in ``[lo, hi)`` if
    ``n >= hi`` and ``n >= m + 2k - lo``. If ``n`` is shorter than the image or the kernel, the
    transform crops them to ``n`` samples; what it drops only reaches outputs ``>= n >= hi``,
    and what it keeps spans fewer outputs, so the bound still holds.
    """
    return max(hi, m + 2 * k - lo, 1)


@functools.lru_cache(maxsize=512)
def _band(fwhm: float, size: int, n: int) -> np.ndarray:
    """``(n + size - 1, n)`` matrix of the full 1-D convolution with the Gaussian taps (read-only):
    ``(_band @ x)[i] = sum_j g[i - j] x[j]``."""
    g = _gaussian_1d(fwhm, size)
    band = np.zeros((n + size - 1, n))
    for j in range(n):
        band[j : j + size, j] = g
    band.setflags(write=False)
    return band


@functools.lru_cache(maxsize=128)
def _kernel_rfft(fwhm: float, beta: float, size: int, shape: tuple[int, int]) -> np.ndarray:
    """``rfft2`` of the Moffat kernel zero-padded to ``shape`` (read-only)."""
    spec = rfft2(_kernel("moffat", fwhm, beta, size), shape)
    spec.setflags(write=False)
    return spec
