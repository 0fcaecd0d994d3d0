"""Noiseless rendering of a :class:`~deepbench_hf.lensing.scene.LensScene` (numpy and scipy, no
random numbers): the lensed source by adaptive ray-shooting, lens light and field stars, the PSF
with its supersampled correction around sharp cores, and the point-source images (see the
pipeline in :mod:`deepbench_hf.lensing.kind`).

Every length is in pixels (x = column, y = row, pixel centres at integers); images are float64
counts (ADU) per pixel until ``image_clean`` is cast to float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ..config import BuildConfig
from ..kinds import image_size
from ..numerics import single_threaded_blas
from ..sky.integrate import SersicRadial
from ..sky.profiles import FWHM_TO_SIGMA, sersic_amplitude, sersic_bn
from ..sky.psf import PSF, convolve
from ..sky.render import Elliptical, Star, clip_stamp, draw_object
from ..sky.stamps import Stamp, draw_star, frame_bounds
from .adaptive import integrate_pixels, near
from .mass import ray_shoot
from .scene import LensScene, PointImages, scene_from_row, solve_point_source
from .sharp import light_corrections, source_correction

__all__ = [
    "Rendered",
    "render_clean_from_row",
    "render_components",
    "sersic_source",
    "sersic_surface",
]

# Floating type of the ray-shooting and source evaluation on the sub-sampled grid: float32 is
# about twice as fast, with ray positions accurate to ~1e-4 px; everything after is float64.
_DTYPE = np.float32
# px: always sub-sampled around the lens centre (SIE singularity) and the source core
_REFINE_RADIUS = 1.5


def sersic_surface(
    *, flux: float, x0: float, y0: float, r_eff: float, n: float, q: float, angle: float
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """:func:`sersic_source` with these parameters as a function of ``(x, y)``, its constants
    (``b_n``, ``I_e``, the rotation) computed once for the several calls of an integration."""
    b = float(sersic_bn(n))
    i_e = float(sersic_amplitude(flux=flux, r_eff=r_eff, n=n, q=q))
    c, s = math.cos(angle), math.sin(angle)
    cu, su = c / r_eff, s / r_eff
    cv, sv = c / (q * r_eff), s / (q * r_eff)
    power = 0.5 / n

    def surface(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx = np.subtract(x, x0)
        dy = np.subtract(y, y0)
        u = dx * cu + dy * su
        v = dy * cv - dx * sv
        u *= u  # u and v have the broadcast shape of x and y
        v *= v
        rho2 = np.add(u, v, out=u)
        np.power(rho2, power, out=rho2)
        rho2 -= 1.0
        rho2 *= -b
        np.exp(rho2, out=rho2)
        rho2 *= i_e
        return rho2

    return surface


def sersic_source(
    x: np.ndarray,
    y: np.ndarray,
    *,
    flux: float,
    x0: float,
    y0: float,
    r_eff: float,
    n: float,
    q: float,
    angle: float,
) -> np.ndarray:
    """Sérsic surface brightness (counts/px²) at ``(x, y)``: the same profile as
    :func:`deepbench_hf.sky.profiles.sersic` (astropy ``Sersic2D``), evaluated for speed with
    ``rho ** (1 / n) = (rho²) ** (1 / 2n)`` and in-place operations (no ``hypot``)."""
    return sersic_surface(flux=flux, x0=x0, y0=y0, r_eff=r_eff, n=n, q=q, angle=angle)(x, y)


@dataclass(frozen=True)
class Rendered:
    """Noiseless components of an image, float64 on the ``(H, W)`` frame.

    ``image_clean`` (float32) is the PSF convolution of the lensed extended source + lens light
    + stars, plus the point-source images (pixel-integrated PSFs); ``lensed_source`` is the
    (PSF-convolved) lensed extended source alone and ``other`` the rest of the image
    (``image_clean`` in float64 minus ``lensed_source``, which round-off can leave ~1e-17 below
    zero); ``magnification`` is the extended
    source's lensed / unlensed flux on the rendering grid (exactly 1 for a non-lens). Rendered
    with ``truth=False``, ``lensed_source`` and ``other`` are ``None`` and the ``magnification``
    of a lens is NaN.
    """

    image_clean: np.ndarray
    lensed_source: np.ndarray | None
    other: np.ndarray | None
    magnification: float


def _add_stamp(canvas: np.ndarray, stamp: Any, pad: int) -> None:
    if stamp.empty:
        return
    h, w = stamp.data.shape
    r0, c0 = stamp.row0 + pad, stamp.col0 + pad
    canvas[r0 : r0 + h, c0 : c0 + w] += stamp.data


def _add_point(canvas: np.ndarray, psf: PSF | None, x: float, y: float, flux: float) -> None:
    """Add a point source of ``flux`` at ``(x, y)`` (frame pixels) to ``canvas`` (the frame).

    With a PSF: the PSF integrated over each pixel at the source's sub-pixel position, within the
    PSF's 99.9 % radius and normalised to ``flux`` (as the convolution kernel is normalised to 1);
    parts outside the frame are lost. Without a PSF: all the flux in the pixel containing
    ``(x, y)``, the exact pixel integral of a point.
    """
    h, w = canvas.shape
    if psf is None:
        r, c = math.floor(y + 0.5), math.floor(x + 0.5)
        if 0 <= r < h and 0 <= c < w:
            canvas[r, c] += flux
        return
    k = psf.radius
    if psf.kind == "moffat":
        stamp = draw_star(
            flux=flux, x0=x, y0=y, fwhm=psf.fwhm, beta=psf.beta, bounds=(-k, h + k, -k, w + k)
        )
        data, r0, c0 = stamp.data.astype(np.float64), stamp.row0, stamp.col0
    else:  # Gaussian: a product of erf differences over the pixel edges
        sigma = psf.fwhm * FWHM_TO_SIGMA
        r0, c0 = math.floor(y + 0.5) - k, math.floor(x + 0.5) - k
        gy = np.diff(special.ndtr((np.arange(r0, r0 + 2 * k + 2) - 0.5 - y) / sigma))
        gx = np.diff(special.ndtr((np.arange(c0, c0 + 2 * k + 2) - 0.5 - x) / sigma))
        data = np.outer(gy, gx)
    total = data.sum()
    if total <= 0.0:
        return
    data *= flux / total
    rows = slice(max(r0, 0), min(r0 + data.shape[0], h))
    cols = slice(max(c0, 0), min(c0 + data.shape[1], w))
    if rows.start < rows.stop and cols.start < cols.stop:
        canvas[rows, cols] += data[
            rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0
        ]


def _add_clipped(canvas: np.ndarray, stamp: Stamp) -> None:
    """Add the part of ``stamp`` (frame pixels) inside the frame ``canvas``."""
    clipped = clip_stamp(stamp, canvas.shape)
    if not clipped.empty:
        h, w = clipped.data.shape
        canvas[clipped.row0 : clipped.row0 + h, clipped.col0 : clipped.col0 + w] += clipped.data


def _source_profile(scene: LensScene) -> SersicRadial:
    """The source's Sérsic profile (its sharpness is that of its lensed images)."""
    return SersicRadial(
        scene.source_flux,
        scene.source_x,
        scene.source_y,
        scene.source_r_eff,
        float(scene.source_n),
        scene.source_q,
        scene.source_angle,
    )


def render_components(
    scene: LensScene,
    *,
    shape: tuple[int, int],
    oversample: int,
    point_images: PointImages | None = None,
    truth: bool = True,
) -> Rendered:
    """Render a scene (deterministic: no random numbers), see the module docstring.

    ``point_images`` defaults to :func:`solve_point_source` of the scene. ``truth=False``
    renders only ``image_clean``, bit for bit the same: without the unlensed render of a lens's
    source, which only the ``magnification`` serves, nor the separate convolution of the
    lensed source (e.g. to re-render ``image_clean``).
    """
    h, w = shape
    psf = scene.psf
    pad = psf.radius if psf is not None else 0
    grid = (h + 2 * pad, w + 2 * pad)
    source = sersic_surface(
        flux=scene.source_flux,
        x0=scene.source_x + pad,
        y0=scene.source_y + pad,
        r_eff=scene.source_r_eff,
        n=scene.source_n,
        q=scene.source_q,
        angle=scene.source_angle,
    )
    image_surface = source
    if scene.is_lens:
        kw = scene.lens_kwargs()
        kw["x0"] += pad
        kw["y0"] += pad

        def image_surface(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return source(*ray_shoot(x, y, **kw))

        lensed, _ = integrate_pixels(
            image_surface,
            shape=grid,
            oversample=oversample,
            refine=near(grid, kw["x0"], kw["y0"], _REFINE_RADIUS),
            dtype=_DTYPE,
        )
    source_mu = 1.0 if not scene.is_lens else math.nan
    if truth or not scene.is_lens:
        unlensed, _ = integrate_pixels(
            source,
            shape=grid,
            oversample=oversample,
            refine=near(grid, scene.source_x + pad, scene.source_y + pad, _REFINE_RADIUS),
            dtype=_DTYPE,
        )
        if scene.is_lens:
            # on the rendering grid; NaN where the unlensed source puts no light there
            total = float(unlensed.sum())
            source_mu = float(lensed.sum()) / total if total > 0 else math.nan
        else:
            lensed = unlensed

    other = np.zeros(grid, dtype=np.float64)
    bounds = frame_bounds(shape, pad)
    light = None
    if scene.lens_light is not None:
        flux, r_eff, n, q, angle = scene.lens_light
        record = Elliptical(
            x=scene.lens_x, y=scene.lens_y, flux=flux, r_eff=r_eff, n=n, q=q, angle=angle
        )
        light = (record, draw_object(record, bounds=bounds))
        _add_stamp(other, light[1], pad)
    stars = []
    for x, y, flux, fwhm, beta in scene.stars:
        record = Star(x=x, y=y, flux=flux, fwhm=fwhm, beta=beta)
        stars.append((record, draw_object(record, bounds=bounds)))
        _add_stamp(other, stars[-1][1], pad)

    # The image is the convolution of the sum, made by the same single-plane call in both modes
    # (a batched transform could round differently from the plane alone)
    pixels = Stamp(lensed, -pad, -pad)
    other += lensed
    if psf is not None:
        window = (pad, pad + h, pad, pad + w)
        image = convolve(other, psf, mode="same", window=window)
        lensed = convolve(lensed, psf, mode="same", window=window) if truth else None
        centre = (scene.lens_x, scene.lens_y) if scene.is_lens else (scene.source_x, scene.source_y)
        fix = source_correction(
            _source_profile(scene),
            lambda x, y: image_surface(np.add(x, pad), np.add(y, pad)),
            pixels,
            centre,
            psf=psf,
            bounds=bounds,
            oversample=oversample,
            refine_radius=_REFINE_RADIUS,
        )
        if fix is not None:
            _add_clipped(image, fix)
            if lensed is not None:
                _add_clipped(lensed, fix)
                np.maximum(lensed, 0.0, out=lensed)
        for c in light_corrections(light, stars, psf, bounds):
            _add_clipped(image, c)
        np.maximum(image, 0.0, out=image)
    else:
        image = other
    if point_images is None:
        point_images = solve_point_source(scene)
    for x, y, mu in zip(point_images.x, point_images.y, point_images.magnification, strict=True):
        _add_point(image, psf, float(x), float(y), scene.ps_flux * abs(float(mu)))
    clean = image.astype(np.float32)
    if not truth:
        return Rendered(image_clean=clean, lensed_source=None, other=None, magnification=source_mu)
    return Rendered(
        image_clean=clean, lensed_source=lensed, other=image - lensed, magnification=source_mu
    )


@single_threaded_blas()
def render_clean_from_row(row: Mapping[str, Any], config: BuildConfig | None = None) -> np.ndarray:
    """Re-render a row's ``image_clean`` exactly (float32, bit for bit) from its truth columns.

    Uses the lens, source, lens-light, point-source (``ps_flux``, ``ps_x``, ``ps_y``; its images
    are solved again), star and PSF columns, ``oversample``, and the image size (from ``config``,
    else the shape of the row's ``image``). ``row`` may come from
    :func:`deepbench_hf.regenerate_row` or ``datasets.load_dataset`` (python or numpy format:
    it reads the float64 truth columns, ``is_lens``, ``psf_kind``, ``oversample`` and ``stars``,
    which both formats keep exact).
    """
    shape = image_size(config) if config is not None else tuple(np.shape(row["image"]))
    rendered = render_components(
        scene_from_row(row),
        shape=shape,  # type: ignore[arg-type]
        oversample=int(np.asarray(row["oversample"])),
        truth=False,
    )
    return rendered.image_clean
