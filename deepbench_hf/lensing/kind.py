r"""The ``lensing`` dataset kind: strong gravitational lenses (and non-lenses) with full truth.

Model (every length in pixels, x = column, y = row, pixel centres at integers, angles in radians
from +x towards +y; fluxes are total counts, ADU):

* **lens mass**: singular isothermal ellipsoid (``theta_e``, centre, ``q``, ``angle``) plus
  external shear (``gamma1``, ``gamma2``, centred on the lens) in lenstronomy's ``SIE`` + ``SHEAR``
  conventions (:mod:`deepbench_hf.lensing.mass`); ``e1, e2 = phi_q2_ellipticity(angle, q)``;
* **source**: a Sérsic galaxy (:func:`deepbench_hf.sky.profiles.sersic`) at absolute source-plane
  position ``(source_x, source_y)`` of the same pixel frame (``offset`` px from the lens centre);
* **point source** (optional): a quasar at the source centre (plus ``dx``, ``dy``), its images
  and signed magnifications solved with
  :func:`~deepbench_hf.lensing.point_source.solve_lens_equation`, each image of flux
  ``ps_flux * |mu|`` drawn as the PSF integrated over the pixels at its sub-pixel position (all in
  its pixel without a PSF);
* **lens light** (optional): a Sérsic galaxy at the lens centre, its major axis at the mass
  angle + ``angle_offset``; **field stars** (optional): Moffat profiles.

Pipeline per example:

1. **scene** (scene stream, fixed draw order): a uniform deciding lens / non-lens (unless the
   balanced label fixes it), lens (``theta_e``, ``x_frac``, ``y_frac``, ``q``, ``angle``,
   ``gamma``, ``gamma_angle``), source (``flux``, ``r_eff``, ``n``, ``q``, ``angle``, ``offset``,
   ``offset_angle``), point source (a uniform against ``fraction``, ``flux``, ``dx``, ``dy``), lens
   light (``flux``, ``r_eff``, ``n``, ``q``, ``angle_offset``), stars (count, then per star
   ``x_frac``, ``y_frac``, ``flux``, ``fwhm``, ``beta``), PSF (``fwhm``, ``beta``). Everything is
   drawn whatever the outcome of the earlier uniforms, so lens and non-lens versions of a seed
   share the same scene;
2. **render** (:func:`render_components`): on the frame grown by the PSF kernel radius, the
   source is ray-shot through the lens (:func:`~deepbench_hf.lensing.mass.ray_shoot`) and
   integrated over each pixel adaptively (:func:`~deepbench_hf.lensing.adaptive.integrate_pixels`:
   pixel-centre rays and the cell-average rule where the image is smooth at the pixel scale,
   ``oversample`` x ``oversample`` sub-pixel rays on arcs, images of the source's core and within
   1.5 px of the lens centre, and finer cells on the steep centre of the source, its cusp) -- and
   drawn unlensed the same way, the image of a non-lens and the
   reference of the ``magnification``; lens light and stars (pixel-integrated,
   :func:`~deepbench_hf.sky.stamps.draw_elliptical` / ``draw_star``) are added; their sum is
   convolved with the PSF and cropped to the frame (and, for ``lensed_source``, the lensed
   source alone); around each core sharper than a pixel (the source's images, the lens light,
   a star) the supersampled correction of :mod:`deepbench_hf.lensing.sharp` is added (to
   ``lensed_source`` too for the source's) and the result clipped at 0; the point-source
   images are added as pixel-integrated PSFs; all in float64;
3. **noise** (noise stream, seeded by the stored ``noise_seed``): none, Gaussian or CCD
   (:mod:`deepbench_hf.sky.noise`; the CCD image is sky-subtracted).

**Non-lenses** are the same scene with the source *not lensed*: no mass (``theta_e = 0``, no
shear; ``lens_q``, ``lens_angle``, ``e1``, ``e2`` are NaN), the source (and quasar) drawn where they
are, next to the lens galaxy; ``magnification = 1``, one point-source image of magnification 1,
and an empty ``arc_mask``.

Every truth parameter is stored in float64 as used, so :func:`render_clean_from_row` re-renders
``image_clean`` bit for bit from a row alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
from scipy import special

from ..config import BuildConfig
from ..distributions import Constant, Domain
from ..errors import ConfigError
from ..kinds import SEED_FEATURES, image_size, seed_columns
from ..numerics import single_threaded_blas
from ..schema import OneOf, Param, Section, Setting, size_field
from ..seeding import Example
from ..sky.imaging import (
    IMAGING_FEATURES,
    NOISE_SCHEMA,
    apply_noise,
    check_minor_axis,
    check_psf_reach,
    psf_columns,
    psf_from_params,
    psf_schema,
)
from ..sky.integrate import _SersicRadial
from ..sky.kind import STAR_FWHM
from ..sky.profiles import FWHM_TO_SIGMA, sersic_amplitude, sersic_bn
from ..sky.psf import PSF, convolve
from ..sky.render import Elliptical, Star, clip_stamp, draw_object
from ..sky.stamps import Stamp, draw_star, frame_bounds
from .adaptive import integrate_pixels, near
from .mass import phi_q2_ellipticity, ray_shoot, shear_polar2cartesian
from .point_source import solve_lens_equation
from .raytrace import arc_mask
from .sharp import light_corrections, source_correction

__all__ = [
    "CLASS_NAMES",
    "KIND",
    "LensScene",
    "LensingKind",
    "Rendered",
    "render_clean_from_row",
    "render_components",
    "sample_scene",
    "scene_from_row",
    "sersic_source",
    "sersic_surface",
]

TWO_PI = 2.0 * math.pi
CLASS_NAMES = ["non-lens", "lens"]
# Floating type of the ray-shooting and source evaluation on the sub-sampled grid: float32 is
# about twice as fast, with ray positions accurate to ~1e-4 px; everything after is float64.
_DTYPE = np.float32
# px: always sub-sampled around the lens centre (SIE singularity) and the source core
_REFINE_RADIUS = 1.5

_PX = Domain("float", low=0.0, low_open=True, high=1e5)
_OFFSET = Domain("float", low=0.0, high=1e5)
_SHIFT = Domain("float", low=-1e5, high=1e5)
_FRACTION = Domain("float", low=0.0, high=1.0)
# Axis ratios of the mass, the source and the lens light: below 0.05 the pixel integration loses
# the flux (a source of q = 1e-4 vanished from non-lens images) and an SIE of q ~ 2e-4 gave NaN.
_RATIO = Domain("float", low=0.05, high=1.0)
_FLUX = Domain("float", low=0.0, high=1e15)
_SERSIC_N = Domain("float", low=0.5, high=6.0)
_BETA = Domain("float", low=1.0, low_open=True, high=100.0)
_ANGLE = Domain("float")
_ANGLE_DEFAULT = {"uniform": [0.0, TWO_PI]}


_SOURCE_R_EFF = Domain("float", low=0.5, high=1e5)


def _px(default: Any, doc: str) -> Param:
    return Param(_PX, default, "px", doc)


def _angle(default: Any, doc: str) -> Param:
    return Param(_ANGLE, default, "rad", doc)


SCHEMA: dict[str, Any] = {
    "image_size": size_field(64, "image size in pixels"),
    "label": Setting(
        Domain("str", values=("none", "lens")),
        "lens",
        doc="classification label: lens / non-lens (ClassLabel ['non-lens', 'lens']), or none",
    ),
    "lens_fraction": Setting(
        _FRACTION,
        0.5,
        doc="fraction of examples that are lenses (exactly half, in blocks of 2, when balanced)",
    ),
    "oversample": Setting(
        Domain("int", low=1, high=16),
        8,
        doc="sub-pixels per pixel side where the lensed source is not smooth at the pixel scale "
        "(lenstronomy's supersampling_factor, applied adaptively)",
    ),
    "lens": Section(
        {
            "theta_e": _px({"uniform": [6.0, 12.0]}, "Einstein radius (lenstronomy theta_E)"),
            "x_frac": Param(
                _FRACTION, {"uniform": [0.47, 0.53]}, "frame", "centre x as a fraction of width - 1"
            ),
            "y_frac": Param(
                _FRACTION,
                {"uniform": [0.47, 0.53]},
                "frame",
                "centre y as a fraction of height - 1",
            ),
            "q": Param(_RATIO, {"uniform": [0.5, 1.0]}, "", "mass axis ratio (minor/major)"),
            "angle": _angle(_ANGLE_DEFAULT, "mass major-axis position angle"),
            "gamma": Param(Domain("float", low=0.0, high=0.5), 0.0, "", "external shear strength"),
            "gamma_angle": _angle(_ANGLE_DEFAULT, "external shear angle"),
        },
        doc="SIE + external shear (lenstronomy SIE, SHEAR)",
    ),
    "source": Section(
        {
            "flux": Param(_FLUX, {"loguniform": [3000.0, 30000.0]}, "ADU", "unlensed total flux"),
            "r_eff": Param(
                _SOURCE_R_EFF,
                {"uniform": [1.0, 3.0]},
                "px",
                "half-light radius (major axis), >= 0.5 px: the ray-shooting samples sources of "
                "about a pixel and more",
            ),
            "n": Param(_SERSIC_N, {"uniform": [0.5, 4.0]}, "", "Sérsic index"),
            "q": Param(_RATIO, {"uniform": [0.4, 1.0]}, "", "axis ratio b/a"),
            "angle": _angle(_ANGLE_DEFAULT, "major-axis position angle"),
            "offset": Param(
                _OFFSET,
                {"uniform": [0.0, 3.0]},
                "px",
                "source-plane distance of the source centre from the lens centre",
            ),
            "offset_angle": _angle(_ANGLE_DEFAULT, "direction of the offset"),
        },
        doc="Sérsic source galaxy",
    ),
    "point_source": OneOf(
        {
            "quasar": Section(
                {
                    "fraction": Setting(_FRACTION, 1.0, doc="fraction of images with a quasar"),
                    "flux": Param(_FLUX, {"loguniform": [1000.0, 10000.0]}, "ADU", "unlensed"),
                    "dx": Param(_SHIFT, 0.0, "px", "x offset from the source centre"),
                    "dy": Param(_SHIFT, 0.0, "px", "y offset from the source centre"),
                }
            )
        },
        default="none",
        doc="point source (quasar) in the source plane",
    ),
    "lens_light": OneOf(
        {
            "sersic": Section(
                {
                    "flux": Param(_FLUX, {"loguniform": [1e4, 1e5]}, "ADU", "total flux"),
                    "r_eff": _px({"uniform": [2.0, 5.0]}, "half-light radius (major axis)"),
                    "n": Param(_SERSIC_N, {"uniform": [2.0, 5.0]}, "", "Sérsic index"),
                    "q": Param(_RATIO, {"uniform": [0.5, 1.0]}, "", "axis ratio b/a"),
                    "angle_offset": _angle(0.0, "light angle minus the mass angle"),
                }
            )
        },
        default="none",
        doc="light of the lens galaxy (centred on the lens)",
    ),
    "stars": Section(
        {
            "count": Param(Domain("int", low=0, high=1000), 0, "", "field stars per image"),
            "x_frac": Param(_FRACTION, {"uniform": [0.0, 1.0]}, "frame", "x / (width - 1)"),
            "y_frac": Param(_FRACTION, {"uniform": [0.0, 1.0]}, "frame", "y / (height - 1)"),
            "flux": Param(_FLUX, {"loguniform": [1e3, 3e4]}, "ADU", "total flux"),
            "fwhm": Param(
                STAR_FWHM, 1.0, "px", "intrinsic Moffat FWHM (before the PSF), >= 0.5 px"
            ),
            "beta": Param(_BETA, 4.765, "", "Moffat power index"),
        },
        doc="field stars (Moffat)",
    ),
    "psf": psf_schema(2.0),
    "noise": NOISE_SCHEMA,
    "arc_fraction": Setting(
        _FRACTION,
        0.1,
        doc="arc_mask: pixels of a lens where the PSF-convolved lensed source exceeds this "
        "fraction of its peak",
    ),
}


# -------------------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class LensScene:
    """The truth of one example (what the row stores), in float64 pixels / radians / counts.

    For a non-lens ``theta_e = gamma1 = gamma2 = 0`` and ``q``, ``angle`` are NaN; ``lens_light``
    is ``None`` or ``(flux, r_eff, n, q, angle)``; ``ps_flux`` is NaN without a point source;
    ``stars`` holds ``(x, y, flux, fwhm, beta)`` tuples; ``psf`` is ``None`` or a :class:`PSF`.
    """

    is_lens: bool
    theta_e: float
    lens_x: float
    lens_y: float
    q: float
    angle: float
    gamma1: float
    gamma2: float
    source_flux: float
    source_x: float
    source_y: float
    source_r_eff: float
    source_n: float
    source_q: float
    source_angle: float
    ps_flux: float = math.nan
    ps_x: float = math.nan
    ps_y: float = math.nan
    lens_light: tuple[float, float, float, float, float] | None = None
    stars: tuple[tuple[float, float, float, float, float], ...] = ()
    psf: PSF | None = field(default=None)

    @property
    def has_ps(self) -> bool:
        return not math.isnan(self.ps_flux)

    def lens_kwargs(self) -> dict[str, float]:
        """Lens parameters as keyword arguments of :mod:`deepbench_hf.lensing` functions."""
        return {
            "theta_e": self.theta_e,
            "x0": self.lens_x,
            "y0": self.lens_y,
            "q": self.q,
            "angle": self.angle,
            "gamma1": self.gamma1,
            "gamma2": self.gamma2,
        }


def _half_turn(value: float) -> float:
    """An ellipse's position angle reduced to ``[0, pi)`` (angle and angle + pi are the same)."""
    return float(np.mod(value, math.pi))


def sample_scene(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    lens_hint: bool | None = None,
) -> LensScene:
    """Draw one scene from ``rng`` (the example's scene stream) in the fixed order of the module
    docstring; ``lens_hint`` (balanced labels) decides lens / non-lens instead of the first draw."""
    u_lens = rng.random()
    is_lens = (u_lens < params["lens_fraction"]) if lens_hint is None else bool(lens_hint)

    lens = params["lens"]
    theta_e = float(lens["theta_e"].sample(rng))
    lens_x = float(lens["x_frac"].sample(rng)) * (width - 1)
    lens_y = float(lens["y_frac"].sample(rng)) * (height - 1)
    q = float(lens["q"].sample(rng))
    angle = _half_turn(lens["angle"].sample(rng))
    gamma = float(lens["gamma"].sample(rng))
    gamma_angle = float(lens["gamma_angle"].sample(rng))
    g1, g2 = (float(v) for v in shear_polar2cartesian(gamma=gamma, angle=gamma_angle))

    src = params["source"]
    s_flux = float(src["flux"].sample(rng))
    s_r_eff = float(src["r_eff"].sample(rng))
    s_n = float(src["n"].sample(rng))
    s_q = float(src["q"].sample(rng))
    s_angle = _half_turn(src["angle"].sample(rng))
    offset = float(src["offset"].sample(rng))
    offset_angle = float(src["offset_angle"].sample(rng))
    source_x = lens_x + offset * math.cos(offset_angle)
    source_y = lens_y + offset * math.sin(offset_angle)

    ps_flux = ps_x = ps_y = math.nan
    point = params["point_source"]
    if point is not None:
        p = point[1]
        has_ps = rng.random() < p["fraction"]
        flux = float(p["flux"].sample(rng))
        dx, dy = float(p["dx"].sample(rng)), float(p["dy"].sample(rng))
        if has_ps:
            ps_flux, ps_x, ps_y = flux, source_x + dx, source_y + dy

    lens_light = None
    if params["lens_light"] is not None:
        ll = params["lens_light"][1]
        ll_flux = float(ll["flux"].sample(rng))
        ll_r_eff = float(ll["r_eff"].sample(rng))
        ll_n = float(ll["n"].sample(rng))
        ll_q = float(ll["q"].sample(rng))
        ll_angle = _half_turn(angle + ll["angle_offset"].sample(rng))
        lens_light = (ll_flux, ll_r_eff, ll_n, ll_q, ll_angle)

    st = params["stars"]
    stars = []
    for _ in range(int(st["count"].sample(rng))):
        x = float(st["x_frac"].sample(rng)) * (width - 1)
        y = float(st["y_frac"].sample(rng)) * (height - 1)
        flux = float(st["flux"].sample(rng))
        fwhm = float(st["fwhm"].sample(rng))
        beta = float(st["beta"].sample(rng))
        stars.append((x, y, flux, fwhm, beta))

    psf = None
    if params["psf"] is not None:
        kind, pp = params["psf"]
        fwhm = float(pp["fwhm"].sample(rng))
        beta = float(pp["beta"].sample(rng)) if kind == "moffat" else math.nan
        psf = psf_from_params(kind, fwhm, beta)

    if not is_lens:
        theta_e, q, angle, g1, g2 = 0.0, math.nan, math.nan, 0.0, 0.0
    return LensScene(
        is_lens=is_lens,
        theta_e=theta_e,
        lens_x=lens_x,
        lens_y=lens_y,
        q=q,
        angle=angle,
        gamma1=g1,
        gamma2=g2,
        source_flux=s_flux,
        source_x=source_x,
        source_y=source_y,
        source_r_eff=s_r_eff,
        source_n=s_n,
        source_q=s_q,
        source_angle=s_angle,
        ps_flux=ps_flux,
        ps_x=ps_x,
        ps_y=ps_y,
        lens_light=lens_light,
        stars=tuple(stars),
        psf=psf,
    )


# ------------------------------------------------------------------------------------- render


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
class PointImages:
    """Images of the point source: positions (px), signed magnifications (empty: none)."""

    x: np.ndarray
    y: np.ndarray
    magnification: np.ndarray


def solve_point_source(scene: LensScene) -> PointImages:
    """The point-source images of a scene (one image of magnification 1 for a non-lens)."""
    if not scene.has_ps:
        empty = np.zeros(0)
        return PointImages(empty, empty, empty)
    if not scene.is_lens:
        return PointImages(np.array([scene.ps_x]), np.array([scene.ps_y]), np.array([1.0]))
    images = solve_lens_equation(beta_x=scene.ps_x, beta_y=scene.ps_y, **scene.lens_kwargs())
    return PointImages(
        np.asarray(images.x, dtype=np.float64),
        np.asarray(images.y, dtype=np.float64),
        np.asarray(images.magnification, dtype=np.float64),
    )


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


def _source_profile(scene: LensScene) -> _SersicRadial:
    """The source's Sérsic profile (its sharpness is that of its lensed images)."""
    return _SersicRadial(
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


# ------------------------------------------------------------------------------------ re-render


def _f(value: Any) -> float:
    return float(np.asarray(value))


def _records(value: Any) -> list[Mapping[str, Any]]:
    """A list-of-structs column as a list of mappings (accepts a dict of lists too)."""
    if isinstance(value, Mapping):
        keys = list(value)
        n = len(value[keys[0]]) if keys else 0
        return [{k: value[k][i] for k in keys} for i in range(n)]
    return list(value)


def scene_from_row(row: Mapping[str, Any]) -> LensScene:
    """The :class:`LensScene` of a row (from :func:`regenerate_row` or ``load_dataset``)."""
    lens_light = None
    if not math.isnan(_f(row["lens_light_flux"])):
        lens_light = tuple(_f(row[f"lens_light_{k}"]) for k in ("flux", "r_eff", "n", "q", "angle"))
    stars = tuple(
        tuple(_f(s[k]) for k in ("x", "y", "flux", "fwhm", "beta")) for s in _records(row["stars"])
    )
    return LensScene(
        is_lens=bool(np.asarray(row["is_lens"])),
        theta_e=_f(row["theta_e"]),
        lens_x=_f(row["lens_x"]),
        lens_y=_f(row["lens_y"]),
        q=_f(row["lens_q"]),
        angle=_f(row["lens_angle"]),
        gamma1=_f(row["gamma1"]),
        gamma2=_f(row["gamma2"]),
        source_flux=_f(row["source_flux"]),
        source_x=_f(row["source_x"]),
        source_y=_f(row["source_y"]),
        source_r_eff=_f(row["source_r_eff"]),
        source_n=_f(row["source_n"]),
        source_q=_f(row["source_q"]),
        source_angle=_f(row["source_angle"]),
        ps_flux=_f(row["ps_flux"]),
        ps_x=_f(row["ps_x"]),
        ps_y=_f(row["ps_y"]),
        lens_light=lens_light,  # type: ignore[arg-type]
        stars=stars,  # type: ignore[arg-type]
        psf=psf_from_params(str(row["psf_kind"]), _f(row["psf_fwhm"]), _f(row["psf_beta"])),
    )


@single_threaded_blas()
def render_clean_from_row(row: Mapping[str, Any], config: BuildConfig | None = None) -> np.ndarray:
    """Re-render a row's ``image_clean`` exactly (float32, bit for bit) from its truth columns.

    Uses the lens, source, lens-light, point-source (``ps_flux``, ``ps_x``, ``ps_y``; its images
    are solved again), star and PSF columns, ``oversample``, and the image size (from ``config``,
    else the shape of the row's ``image``). ``row`` may come from
    :func:`deepbench_hf.regenerate_row` or ``datasets.load_dataset`` (python or numpy format:
    only float64 scalar columns are read, which both formats keep exact).
    """
    shape = image_size(config) if config is not None else tuple(np.shape(row["image"]))
    rendered = render_components(
        scene_from_row(row),
        shape=shape,  # type: ignore[arg-type]
        oversample=int(np.asarray(row["oversample"])),
        truth=False,
    )
    return rendered.image_clean


# ----------------------------------------------------------------------------------------- kind

_FLOAT_COLUMNS = (
    "theta_e",
    "lens_x",
    "lens_y",
    "lens_q",
    "lens_angle",
    "e1",
    "e2",
    "gamma1",
    "gamma2",
    "source_flux",
    "source_x",
    "source_y",
    "source_r_eff",
    "source_n",
    "source_q",
    "source_angle",
    "magnification",
    "source_snr",
    "lens_light_flux",
    "lens_light_r_eff",
    "lens_light_n",
    "lens_light_q",
    "lens_light_angle",
    "ps_flux",
    "ps_x",
    "ps_y",
)
_STAR_FIELDS = ("x", "y", "flux", "fwhm", "beta")


class LensingKind:
    """Strong-lensing images (see the module docstring and :mod:`deepbench_hf.lensing`)."""

    name = "lensing"
    schema = SCHEMA

    def check(self, config: BuildConfig) -> None:
        p = config.params
        if p["lens_light"] is not None:
            light = p["lens_light"][1]
            check_minor_axis(
                light["q"], light["r_eff"], source=config.source, q_path="lens_light.sersic.q"
            )
        if p["psf"] is not None:
            kind, psf = p["psf"]
            check_psf_reach(kind, psf, image_size(config), source=config.source, path=f"psf.{kind}")
        if config.balanced:
            if p["label"] == "none":
                raise ConfigError(
                    config.source,
                    "balanced",
                    "balanced: true needs label: lens",
                    related=("label",),
                )
            if p["lens_fraction"] != 0.5:
                raise ConfigError(
                    config.source,
                    "lens_fraction",
                    "balanced: true makes exactly half the examples lenses; set lens_fraction "
                    "to 0.5 or balanced to false",
                    related=("balanced",),
                )
        point = p["point_source"]
        if point is not None:
            zero = Constant(0.0)
            lens, q_support = p["lens"], p["lens"]["q"].support()
            if (
                p["source"]["offset"] == zero
                and point[1]["dx"] == zero
                and point[1]["dy"] == zero
                and lens["gamma"] == zero
                and (q_support is None or 1.0 in q_support)
            ):
                raise ConfigError(
                    config.source,
                    "source.offset",
                    "a quasar exactly behind a round lens without shear is an Einstein ring, "
                    "not point images; give source.offset or point_source.quasar.dx a range",
                )

    def class_names(self, config: BuildConfig) -> list[str] | None:
        return list(CLASS_NAMES) if config.params["label"] == "lens" else None

    def features(self, config: BuildConfig) -> datasets.Features:
        h, w = image_size(config)
        columns: dict[str, Any] = {
            "image": datasets.Array2D((h, w), "float32"),
            "image_clean": datasets.Array2D((h, w), "float32"),
            "variance": datasets.Array2D((h, w), "float32"),
            "lensed_source": datasets.Array2D((h, w), "float32"),
            "arc_mask": datasets.Array2D((h, w), "uint8"),
            "is_lens": datasets.Value("bool"),
        }
        if self.class_names(config) is not None:
            columns["label"] = datasets.ClassLabel(names=list(CLASS_NAMES))
        columns.update({name: datasets.Value("float64") for name in _FLOAT_COLUMNS})
        columns.update(
            ps_image_x=datasets.List(datasets.Value("float64")),
            ps_image_y=datasets.List(datasets.Value("float64")),
            ps_image_magnification=datasets.List(datasets.Value("float64")),
            n_ps_images=datasets.Value("int32"),
            stars=datasets.List({k: datasets.Value("float64") for k in _STAR_FIELDS}),
            n_stars=datasets.Value("int32"),
            **{name: datasets.Value(dtype) for name, dtype in IMAGING_FEATURES.items()},
            oversample=datasets.Value("int32"),
            **{name: datasets.Value(dtype) for name, dtype in SEED_FEATURES.items()},
        )
        return datasets.Features(columns)

    def generate(self, config: BuildConfig, example: Example) -> dict[str, Any]:
        h, w = image_size(config)
        p = config.params
        hint = None if example.label_hint is None else CLASS_NAMES[example.label_hint] == "lens"
        scene = sample_scene(p, example.scene_rng(), h, w, lens_hint=hint)
        images = solve_point_source(scene)
        rendered = render_components(
            scene, shape=(h, w), oversample=p["oversample"], point_images=images
        )
        clean = rendered.image_clean

        noisy = apply_noise(p["noise"], clean, example.noise_rng())
        image, variance = noisy.image, noisy.variance

        lensed = rendered.lensed_source
        assert lensed is not None  # rendered with truth
        if np.any(variance > 0):
            snr = math.sqrt(float(np.sum(lensed * lensed / variance.astype(np.float64))))
        else:
            snr = math.inf
        if scene.is_lens:
            mask = arc_mask(lensed, fraction=p["arc_fraction"]).astype(np.uint8)
        else:
            mask = np.zeros((h, w), dtype=np.uint8)
        e1, e2 = (math.nan, math.nan)
        if scene.is_lens:
            e1, e2 = (float(v) for v in phi_q2_ellipticity(angle=scene.angle, q=scene.q))
        ll = scene.lens_light or (math.nan,) * 5
        psf = scene.psf

        row: dict[str, Any] = {
            "image": image,
            "image_clean": clean,
            "variance": variance,
            "lensed_source": lensed.astype(np.float32),
            "arc_mask": mask,
            "is_lens": scene.is_lens,
        }
        if self.class_names(config) is not None:
            row["label"] = int(scene.is_lens)
        row.update(
            theta_e=scene.theta_e,
            lens_x=scene.lens_x,
            lens_y=scene.lens_y,
            lens_q=scene.q,
            lens_angle=scene.angle,
            e1=e1,
            e2=e2,
            gamma1=scene.gamma1,
            gamma2=scene.gamma2,
            source_flux=scene.source_flux,
            source_x=scene.source_x,
            source_y=scene.source_y,
            source_r_eff=scene.source_r_eff,
            source_n=scene.source_n,
            source_q=scene.source_q,
            source_angle=scene.source_angle,
            magnification=rendered.magnification,
            source_snr=snr,
            lens_light_flux=ll[0],
            lens_light_r_eff=ll[1],
            lens_light_n=ll[2],
            lens_light_q=ll[3],
            lens_light_angle=ll[4],
            ps_flux=scene.ps_flux,
            ps_x=scene.ps_x,
            ps_y=scene.ps_y,
            **psf_columns(psf),
            **noisy.columns,
            ps_image_x=images.x.tolist(),
            ps_image_y=images.y.tolist(),
            ps_image_magnification=images.magnification.tolist(),
            n_ps_images=len(images.x),
            stars=[dict(zip(_STAR_FIELDS, s, strict=True)) for s in scene.stars],
            n_stars=len(scene.stars),
            oversample=p["oversample"],
            **seed_columns(example),
        )
        return row


KIND = LensingKind()
