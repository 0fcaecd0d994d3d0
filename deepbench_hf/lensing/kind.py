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
2. **render** (:func:`~deepbench_hf.lensing.render.render_components`): on the frame grown by
   the PSF kernel radius, the source is ray-shot through the lens
   (:func:`~deepbench_hf.lensing.mass.ray_shoot`) and integrated over each pixel adaptively
   (:func:`~deepbench_hf.lensing.adaptive.integrate_pixels`: pixel-centre rays and the
   cell-average rule where the image is smooth at the pixel scale, ``oversample`` x
   ``oversample`` sub-pixel rays on arcs, images of the source's core and within 1.5 px of the
   lens centre, and finer cells on the steep centre of the source, its cusp) -- and drawn
   unlensed the same way, the image of a non-lens and the reference of the ``magnification``;
   lens light and stars (pixel-integrated, :func:`~deepbench_hf.sky.render.draw_object`) are
   added; their sum is convolved with the PSF and cropped to the frame (and,
   for ``lensed_source``, the lensed source alone); around each core sharper than a pixel (the
   source's images, the lens light, a star) the supersampled correction of
   :mod:`deepbench_hf.lensing.sharp` is added (to ``lensed_source`` too for the source's) and
   the result clipped at 0; the point-source images are added as pixel-integrated PSFs; all in
   float64;
3. **noise** (noise stream, seeded by the stored ``noise_seed``): none, Gaussian or CCD
   (:mod:`deepbench_hf.sky.noise`; the CCD image is sky-subtracted).

**Non-lenses** are the same scene with the source *not lensed*: no mass (``theta_e = 0``, no
shear; ``lens_q``, ``lens_angle``, ``e1``, ``e2`` are NaN), the source (and quasar) drawn where they
are, next to the lens galaxy; ``magnification = 1``, one point-source image of magnification 1,
and an empty ``arc_mask``.

Every truth parameter is stored in float64 as used, so
:func:`~deepbench_hf.lensing.render.render_clean_from_row` re-renders
``image_clean`` bit for bit from a row alone.
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import numpy as np

from ..config import BuildConfig
from ..distributions import Constant, Domain
from ..errors import ConfigError
from ..kinds import SEED_FEATURES, image_size, seed_columns
from ..schema import OneOf, Param, Section, Setting, size_field
from ..seeding import Example
from ..sky.imaging import (
    IMAGING_FEATURES,
    NOISE_SCHEMA,
    apply_noise,
    check_minor_axis,
    check_psf_reach,
    psf_columns,
    psf_schema,
)
from ..sky.kind import STAR_FWHM
from .mass import phi_q2_ellipticity
from .raytrace import arc_mask
from .render import render_clean_from_row, render_components
from .scene import sample_scene, solve_point_source

__all__ = ["CLASS_NAMES", "KIND", "SCHEMA", "LensingKind", "render_clean_from_row"]

TWO_PI = 2.0 * math.pi
CLASS_NAMES = ["non-lens", "lens"]

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
