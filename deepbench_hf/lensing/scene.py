"""The truth of one lensing example: a :class:`LensScene`, drawn from a config's parameters in the
fixed order of :mod:`deepbench_hf.lensing.kind`, or read back from a row; and its point-source
images, solved from the lens equation.

Every length is in pixels (x = column, y = row, pixel centres at integers), angles in radians from
+x towards +y, fluxes in total counts (ADU).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..sky.imaging import psf_from_params
from ..sky.psf import PSF
from .mass import shear_polar2cartesian
from .point_source import solve_lens_equation

__all__ = ["LensScene", "PointImages", "sample_scene", "scene_from_row", "solve_point_source"]


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
