r"""Lensed images of an extended source by sub-sampled ray-shooting.

Each pixel is split into ``k x k`` sub-pixels (``k = oversample``); every sub-pixel centre
:math:`\theta` is mapped to the source plane, :math:`\beta = \theta - \alpha(\theta)`
(:func:`deepbench_hf.lensing.mass.ray_shoot`, SIE + external shear), the source surface
brightness is evaluated there, and the ``k^2`` values are averaged. Lensing conserves surface
brightness, so the result is the mean surface brightness over the pixel in counts/px², i.e. counts
per pixel (the pixel area is 1 px²). This is what lenstronomy's ``ImageModel`` does with
``kwargs_numerics={'supersampling_factor': k}`` (before PSF convolution).

Conventions: ``image[row, col]``, x = column, y = row, 0-based, pixel centres at integer
coordinates; pixel ``(r, c)`` covers ``x`` in ``[c - 0.5, c + 0.5]``; sub-pixel centres along x
are ``c - 0.5 + (a + 0.5) / k`` for ``a = 0..k-1`` (same along y). All lengths in pixels.

The source is any callable ``source(x, y) -> surface brightness`` (counts/px²) evaluated at
source-plane positions in pixels, e.g. ``functools.partial(deepbench_hf.sky.profiles.sersic,
flux=..., x0=..., y0=..., r_eff=..., n=..., q=..., angle=...)``. It must accept arrays of any
shape and broadcast (numpy rules).

Batches: every lens parameter may be an array; all of them broadcast to a *batch shape* ``S`` and
the images have shape ``S + shape``. The source then receives arrays of shape
``S + (H k, W k)``, so per-lens source parameters should have shape ``S + (1, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deepbench_hf.lensing.mass import ray_shoot

__all__ = [
    "LensedSource",
    "arc_mask",
    "downsample",
    "lens_source",
    "lensed_image",
    "pixel_grid",
    "source_magnification",
    "unlensed_image",
]

SourceFn = Callable[[np.ndarray, np.ndarray], npt.ArrayLike]


def pixel_grid(
    *,
    shape: tuple[int, int],
    oversample: int = 1,
    dtype: npt.DTypeLike = np.float64,
    sparse: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel centre coordinates of an image of ``shape = (H, W)`` pixels.

    Parameters
    ----------
    shape
        ``(H, W)``: number of rows and columns.
    oversample
        Sub-pixels per pixel side, ``k >= 1``.
    dtype
        Floating dtype of the coordinates.
    sparse
        If True return ``x`` of shape ``(1, W k)`` and ``y`` of shape ``(H k, 1)`` (they
        broadcast to the grid, which is cheaper downstream); otherwise dense ``(H k, W k)``.

    Returns
    -------
    x, y
        Sub-pixel centres in pixels: ``x = (j + 0.5) / k - 0.5`` for column ``j`` of the
        oversampled grid (``x = j`` when ``k = 1``), likewise ``y`` for rows.
    """
    h, w = _shape(shape)
    k = _oversample(oversample)
    xs = ((np.arange(w * k, dtype=np.float64) + 0.5) / k - 0.5).astype(dtype)
    ys = ((np.arange(h * k, dtype=np.float64) + 0.5) / k - 0.5).astype(dtype)
    x, y = xs[None, :], ys[:, None]
    if not sparse:
        x, y = np.broadcast_arrays(x, y)
        x, y = x.copy(), y.copy()
    return x, y


def downsample(image: npt.ArrayLike, *, oversample: int) -> np.ndarray:
    """Average ``k x k`` blocks of the last two axes (``k = oversample``).

    Parameters
    ----------
    image
        Array of shape ``S + (H k, W k)`` (a sub-sampled surface brightness, counts/px²).
    oversample
        ``k >= 1``.

    Returns
    -------
    numpy.ndarray
        Shape ``S + (H, W)``: the block means (counts per pixel for a pixel area of 1 px²).
    """
    image = np.asarray(image)
    k = _oversample(oversample)
    if k == 1:
        return image
    hk, wk = image.shape[-2:]
    if hk % k or wk % k:
        raise ValueError(f"image shape {image.shape[-2:]} is not a multiple of oversample={k}")
    # strided additions are much faster than reductions over short axes
    cols = image[..., 0::k] + image[..., 1::k]
    for a in range(2, k):
        cols += image[..., a::k]
    out = cols[..., 0::k, :] + cols[..., 1::k, :]
    for a in range(2, k):
        out += cols[..., a::k, :]
    out *= np.asarray(1.0 / (k * k), dtype=out.dtype)
    return out


def lensed_image(
    source: SourceFn,
    *,
    shape: tuple[int, int],
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
    oversample: int = 1,
    dtype: npt.DTypeLike = np.float64,
) -> np.ndarray:
    r"""Image of ``source`` lensed by an SIE plus external shear, by ray-shooting.

    ``image[r, c] = mean over the k x k sub-pixels theta of source(theta - alpha(theta))``.

    Parameters
    ----------
    source
        ``source(x, y)`` -> surface brightness in counts/px² at source-plane positions (px).
    shape
        ``(H, W)`` of the image in pixels.
    theta_e, x0, y0, q, angle, gamma1, gamma2, shear_x0, shear_y0
        Lens parameters in pixels / radians, see :func:`deepbench_hf.lensing.mass.deflection`.
        Scalars or arrays broadcasting to a batch shape ``S``.
    oversample
        Sub-pixels per pixel side ``k`` (lenstronomy's ``supersampling_factor``).
    dtype
        Floating dtype of the computation; ``np.float32`` is about twice as fast and accurate
        to ~1e-4 px in the ray positions.

    Returns
    -------
    numpy.ndarray
        Lensed image in counts per pixel, shape ``S + (H, W)``.
    """
    x, y = pixel_grid(shape=shape, oversample=oversample, dtype=dtype, sparse=True)
    p = _batch_params(
        theta_e=theta_e,
        x0=x0,
        y0=y0,
        q=q,
        angle=angle,
        gamma1=gamma1,
        gamma2=gamma2,
        shear_x0=shear_x0,
        shear_y0=shear_y0,
    )
    bx, by = ray_shoot(x, y, **p)
    sb = np.asarray(source(bx, by))
    sb = np.broadcast_to(sb, bx.shape) if sb.shape != bx.shape else sb
    return downsample(sb, oversample=oversample)


def unlensed_image(
    source: SourceFn,
    *,
    shape: tuple[int, int],
    oversample: int = 1,
    dtype: npt.DTypeLike = np.float64,
) -> np.ndarray:
    """The source without lens on the same pixel grid and with the same sub-sampling.

    Parameters
    ----------
    source
        ``source(x, y)`` -> surface brightness in counts/px² (positions in px). It receives
        dense ``(H k, W k)`` coordinate arrays.
    shape, oversample, dtype
        As in :func:`lensed_image`.

    Returns
    -------
    numpy.ndarray
        Counts per pixel, shape ``(H, W)`` (or the source's own batch shape + ``(H, W)``).
    """
    x, y = pixel_grid(shape=shape, oversample=oversample, dtype=dtype, sparse=False)
    sb = np.asarray(source(x, y))
    sb = np.broadcast_to(sb, np.broadcast_shapes(sb.shape, x.shape))
    return downsample(sb, oversample=oversample)


def source_magnification(*, lensed: npt.ArrayLike, unlensed: npt.ArrayLike) -> np.ndarray:
    """Total magnification of an extended source: lensed flux / unlensed flux.

    Both images must be on the same grid (same shape and sub-sampling), e.g. from
    :func:`lensed_image` and :func:`unlensed_image`. The ratio is the true magnification only if
    the unlensed source and its images lie inside the frame.

    Parameters
    ----------
    lensed, unlensed
        Images in counts per pixel, shapes ``S + (H, W)`` (broadcastable).

    Returns
    -------
    numpy.ndarray
        ``sum(lensed) / sum(unlensed)`` over the last two axes, shape ``S``.
    """
    lensed = np.asarray(lensed)
    unlensed = np.asarray(unlensed)
    with np.errstate(divide="ignore", invalid="ignore"):
        return lensed.sum(axis=(-2, -1)) / unlensed.sum(axis=(-2, -1))


def arc_mask(
    image: npt.ArrayLike,
    *,
    fraction: float = 0.1,
    noise_sigma: npt.ArrayLike | None = None,
    nsigma: float = 3.0,
) -> np.ndarray:
    """Mask of the lensed arcs: pixels where the lensed source is above a threshold.

    ``threshold = max(fraction * peak, nsigma * noise_sigma)`` where ``peak`` is the maximum of
    each image (over the last two axes); the noise term is used only if ``noise_sigma`` is
    given. Use ``fraction = 0`` for a purely noise-tied mask (pixels where the arc would be
    detected at ``nsigma`` in a single pixel of noise ``noise_sigma``).

    Parameters
    ----------
    image
        *Noiseless* image of the lensed source alone (no lens light, not convolved or convolved
        as the user prefers), counts per pixel, shape ``S + (H, W)``.
    fraction
        Fraction of the peak pixel value, ``0 <= fraction <= 1``.
    noise_sigma
        Per-pixel noise standard deviation in counts (scalar, or broadcastable to
        ``S + (1, 1)`` / the image).
    nsigma
        Detection threshold in units of ``noise_sigma``.

    Returns
    -------
    numpy.ndarray
        Boolean mask, ``True`` on the arcs (strictly above the threshold), shape of ``image``.
    """
    image = np.asarray(image)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    threshold = fraction * image.max(axis=(-2, -1), keepdims=True)
    if noise_sigma is not None:
        threshold = np.maximum(threshold, nsigma * np.asarray(noise_sigma))
    return image > threshold


@dataclass(frozen=True)
class LensedSource:
    """Result of :func:`lens_source` (all images in counts per pixel).

    Attributes
    ----------
    lensed
        Lensed image, shape ``S + (H, W)``.
    unlensed
        The source without lens on the same grid, shape ``(H, W)`` (or ``S + (H, W)`` if the
        source itself is batched).
    magnification
        ``sum(lensed) / sum(unlensed)``, shape ``S``.
    """

    lensed: np.ndarray
    unlensed: np.ndarray
    magnification: np.ndarray


def lens_source(
    source: SourceFn,
    *,
    shape: tuple[int, int],
    theta_e: npt.ArrayLike,
    x0: npt.ArrayLike,
    y0: npt.ArrayLike,
    q: npt.ArrayLike = 1.0,
    angle: npt.ArrayLike = 0.0,
    gamma1: npt.ArrayLike = 0.0,
    gamma2: npt.ArrayLike = 0.0,
    shear_x0: npt.ArrayLike | None = None,
    shear_y0: npt.ArrayLike | None = None,
    oversample: int = 1,
    dtype: npt.DTypeLike = np.float64,
) -> LensedSource:
    """Lensed image, unlensed image and source magnification in one call.

    Parameters as in :func:`lensed_image`. The unlensed image is evaluated once on a dense grid
    and must broadcast against the lensed batch.
    """
    lensed = lensed_image(
        source,
        shape=shape,
        theta_e=theta_e,
        x0=x0,
        y0=y0,
        q=q,
        angle=angle,
        gamma1=gamma1,
        gamma2=gamma2,
        shear_x0=shear_x0,
        shear_y0=shear_y0,
        oversample=oversample,
        dtype=dtype,
    )
    unlensed = unlensed_image(source, shape=shape, oversample=oversample, dtype=dtype)
    return LensedSource(
        lensed=lensed,
        unlensed=unlensed,
        magnification=source_magnification(lensed=lensed, unlensed=unlensed),
    )


# --------------------------------------------------------------------------------------------
def _shape(shape: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be two positive integers, got {shape}")
    return h, w


def _oversample(oversample: int) -> int:
    k = int(oversample)
    if k < 1 or k != oversample:
        raise ValueError(f"oversample must be a positive integer, got {oversample}")
    return k


def _batch_params(**params: npt.ArrayLike | None) -> dict[str, np.ndarray | None]:
    """Append two unit axes to each parameter so that a batch shape ``S`` broadcasts against
    the ``(H k, W k)`` grid."""
    out: dict[str, np.ndarray | None] = {}
    for name, value in params.items():
        if value is None:
            out[name] = None
        else:
            v = np.asarray(value, dtype=np.float64)
            out[name] = v.reshape(*v.shape, 1, 1) if v.ndim else v
    return out
