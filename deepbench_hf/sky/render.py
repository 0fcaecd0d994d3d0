r"""Sky scenes: object records, rendering, exact re-rendering and truth.

Rendering is deterministic and depends only on the parameters (no random numbers): each object
is drawn pixel-integrated in its own stamp (:mod:`deepbench_hf.sky.stamps`), optionally
convolved with the PSF (:mod:`deepbench_hf.sky.psf`), and the stamps are summed in float64 in the
order of the object list; the clean image is that sum as float32. :func:`render_image` therefore
re-renders ``image_clean`` bit for bit from the truth parameters alone.

With a PSF of kernel half-size ``k``, objects are drawn in the frame grown by ``k`` pixels on each
side (light from just outside can be scattered in), and each stamp's full convolution (``k`` more
pixels around it) is computed only where it falls inside the frame. Around a core sharper than a
pixel (a narrow star, a Sérsic cusp or cone) the supersampled correction of
:mod:`deepbench_hf.sky.sharp` is added to that lattice convolution, and the sum clipped at 0.

Truth (definitions)
-------------------
* **Segmentation** (:func:`segmentation_map`): a pixel belongs to the object whose noiseless
  (PSF-convolved) stamp puts the most counts in it, if those counts exceed ``threshold``
  (a scalar or a per-pixel array, e.g. ``nsigma * background_sigma``); ties go to the earlier
  object; 0 is background and object ``i`` (0-based in the list) has label ``i + 1``.
* **Bounding box** (:func:`mask_bbox`): COCO ``[x_min, y_min, width, height]`` in pixel-index
  units of the object's segment: columns ``x_min .. x_min + width - 1`` and rows
  ``y_min .. y_min + height - 1`` (as pycocotools' ``toBbox`` of the mask; in the
  pixel-centre convention the box spans ``x_min - 0.5 .. x_min + width - 0.5``).
* **S/N** (:func:`optimal_snr`): matched-filter (optimal) signal-to-noise ratio of the object,
  :math:`\sqrt{\sum_i s_i^2 / \sigma_i^2}` over the pixels of its noiseless stamp ``s``, with the
  variance map of the noise model (sky + all sources + read noise); infinite without noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from deepbench_hf.sky.integrate import Bounds
from deepbench_hf.sky.psf import PSF, convolve, make_psf
from deepbench_hf.sky.sharp import sharp_corrections
from deepbench_hf.sky.stamps import (
    Stamp,
    draw_elliptical,
    draw_spiral,
    draw_star,
    frame_bounds,
    sum_stamps,
)

__all__ = [
    "KINDS",
    "Elliptical",
    "Scene",
    "Spiral",
    "Star",
    "clip_stamp",
    "draw_object",
    "make_object",
    "mask_bbox",
    "object_to_dict",
    "optimal_snr",
    "render_image",
    "render_scene",
    "render_stamps",
    "segmentation_map",
    "truth_catalog",
]


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True)
class Star:
    """A star: Moffat profile (:func:`~deepbench_hf.sky.profiles.moffat`).

    ``x, y`` centre (px), ``flux`` total counts, ``fwhm`` (px), ``beta`` power index (> 1).
    """

    x: float
    y: float
    flux: float
    fwhm: float = 3.0
    beta: float = 4.765
    kind: ClassVar[str] = "star"

    def __post_init__(self) -> None:
        _require(self.flux >= 0, f"star flux must be >= 0, got {self.flux}")
        _require(self.fwhm > 0, f"star fwhm must be > 0, got {self.fwhm}")
        _require(self.beta > 1, f"star beta must be > 1, got {self.beta}")


@dataclass(frozen=True)
class Elliptical:
    """An elliptical galaxy: Sérsic profile (:func:`~deepbench_hf.sky.profiles.sersic`).

    ``x, y`` centre (px), ``flux`` total counts, ``r_eff`` half-light radius along the major axis
    (px), ``n`` Sérsic index (0.2-10; tested 0.5-6), ``q`` axis ratio b/a in (0, 1] (astropy's
    ``ellip = 1 - q``), ``angle`` of the major axis (rad, from +x towards +y).
    """

    x: float
    y: float
    flux: float
    r_eff: float = 4.0
    n: float = 4.0
    q: float = 1.0
    angle: float = 0.0
    kind: ClassVar[str] = "elliptical"

    def __post_init__(self) -> None:
        _require(self.flux >= 0, f"elliptical flux must be >= 0, got {self.flux}")
        _require(self.r_eff > 0, f"elliptical r_eff must be > 0, got {self.r_eff}")
        _require(0.2 <= self.n <= 10, f"elliptical n must be in [0.2, 10], got {self.n}")
        _require(0 < self.q <= 1, f"elliptical q must be in (0, 1], got {self.q}")


@dataclass(frozen=True)
class Spiral:
    """A spiral galaxy (:func:`~deepbench_hf.sky.profiles.spiral`, where parameters and sane
    ranges are documented).

    ``bulge_r_eff`` ``None`` becomes ``0.4 * disc_scale`` and ``arm_scale`` ``None`` becomes
    ``2 * disc_scale`` at construction, so that records always hold explicit values.
    """

    x: float
    y: float
    flux: float
    disc_scale: float = 5.0
    q: float = 1.0
    angle: float = 0.0
    bulge_fraction: float = 0.2
    bulge_r_eff: float | None = None
    bulge_n: float = 2.0
    bulge_q: float = 1.0
    arm_fraction: float = 0.5
    arm_count: int = 2
    winding: float = 3.0
    pitch: float = 1.0
    arm_scale: float | None = None
    arm_width: float = 3.0
    arm_phase: float = 0.0
    chirality: int = 1
    kind: ClassVar[str] = "spiral"

    def __post_init__(self) -> None:
        if self.bulge_r_eff is None:
            object.__setattr__(self, "bulge_r_eff", 0.4 * self.disc_scale)
        if self.arm_scale is None:
            object.__setattr__(self, "arm_scale", 2.0 * self.disc_scale)
        _require(self.flux >= 0, f"spiral flux must be >= 0, got {self.flux}")
        _require(self.disc_scale > 0, f"spiral disc_scale must be > 0, got {self.disc_scale}")
        _require(0 < self.q <= 1 and 0 < self.bulge_q <= 1, "spiral q, bulge_q must be in (0, 1]")
        _require(0 <= self.bulge_fraction <= 1, "spiral bulge_fraction must be in [0, 1]")
        _require(0 <= self.arm_fraction <= 1, "spiral arm_fraction must be in [0, 1]")
        _require(0.2 <= self.bulge_n <= 10, "spiral bulge_n must be in [0.2, 10]")
        _require(
            int(self.arm_count) == self.arm_count and self.arm_count >= 2,
            f"spiral arm_count must be an integer >= 2, got {self.arm_count}",
        )
        _require(
            min(self.winding, self.pitch, self.arm_scale, self.arm_width, self.bulge_r_eff) > 0,
            "spiral winding, pitch, arm_scale, arm_width and bulge_r_eff must be > 0",
        )
        _require(self.chirality in (1, -1), f"spiral chirality must be +1/-1, got {self.chirality}")


SkyObject = Star | Elliptical | Spiral
KINDS: dict[str, type] = {"star": Star, "elliptical": Elliptical, "spiral": Spiral}
"""Object classes by ``kind``."""


def make_object(spec: SkyObject | Mapping[str, Any]) -> SkyObject:
    """An object record from a mapping with ``kind`` and the class's fields (or a record)."""
    if isinstance(spec, (Star, Elliptical, Spiral)):
        return spec
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"object kind must be one of {sorted(KINDS)}, got {kind!r}")
    cls = KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(spec) - names)
    if unknown:
        raise ValueError(f"unknown {kind} parameters {unknown}; allowed: {sorted(names)}")
    return cls(**spec)


def _fields(obj: SkyObject) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def object_to_dict(obj: SkyObject) -> dict[str, Any]:
    """``{"kind": ..., **fields}`` of a record (inverse of :func:`make_object`)."""
    return {"kind": obj.kind, **_fields(obj)}


def draw_object(obj: SkyObject | Mapping[str, Any], *, bounds: Bounds) -> Stamp:
    """The object's intrinsic (no PSF) pixel-integrated stamp, clipped to ``bounds``."""
    obj = make_object(obj)
    if isinstance(obj, Star):
        return draw_star(
            flux=obj.flux, x0=obj.x, y0=obj.y, fwhm=obj.fwhm, beta=obj.beta, bounds=bounds
        )
    if isinstance(obj, Elliptical):
        return draw_elliptical(
            flux=obj.flux,
            x0=obj.x,
            y0=obj.y,
            r_eff=obj.r_eff,
            n=obj.n,
            q=obj.q,
            angle=obj.angle,
            bounds=bounds,
        )
    params = _fields(obj)
    x0, y0 = params.pop("x"), params.pop("y")
    return draw_spiral(x0=x0, y0=y0, bounds=bounds, **params)


def clip_stamp(stamp: Stamp, shape: tuple[int, int]) -> Stamp:
    """The part of ``stamp`` inside a frame of ``shape`` (possibly empty)."""
    h, w = stamp.data.shape
    r0, c0 = max(stamp.row0, 0), max(stamp.col0, 0)
    r1, c1 = min(stamp.row0 + h, shape[0]), min(stamp.col0 + w, shape[1])
    if (r0, c0, r1, c1) == (stamp.row0, stamp.col0, stamp.row0 + h, stamp.col0 + w):
        return stamp
    r1, c1 = max(r1, r0), max(c1, c0)
    data = stamp.data[r0 - stamp.row0 : r1 - stamp.row0, c0 - stamp.col0 : c1 - stamp.col0]
    return Stamp(data, min(r0, shape[0]), min(c0, shape[1]))


def render_stamps(
    *,
    shape: tuple[int, int],
    objects: Iterable[SkyObject | Mapping[str, Any]],
    psf: PSF | Mapping[str, Any] | None = None,
) -> list[Stamp]:
    """Noiseless stamp of each object as it appears in the frame (PSF-convolved, clipped).

    Parameters
    ----------
    shape
        Frame ``(height, width)`` in pixels.
    objects
        Records (:class:`Star`, :class:`Elliptical`, :class:`Spiral`) or mappings with ``kind``.
    psf
        Optional :class:`~deepbench_hf.sky.psf.PSF` (or mapping, see
        :func:`~deepbench_hf.sky.psf.make_psf`).

    Returns
    -------
    list of Stamp
        One per object, in order, counts per pixel (float32 or float64); empty for objects
        outside the frame.
    """
    psf = make_psf(psf)
    k = psf.radius if psf is not None else 0
    bounds = frame_bounds(shape, pad=k)
    stamps = []
    for obj in objects:
        obj = make_object(obj)
        stamp = draw_object(obj, bounds=bounds)
        if psf is not None and not stamp.empty:
            stamp = _convolve_object(obj, stamp, psf, shape, bounds)
        stamps.append(clip_stamp(stamp, shape))
    return stamps


def _convolve_object(
    obj: SkyObject, stamp: Stamp, psf: PSF, shape: tuple[int, int], bounds: Bounds
) -> Stamp:
    """The object's PSF-convolved stamp inside the frame: the lattice convolution of its stamp,
    plus the supersampled correction around each core sharper than a pixel
    (:mod:`deepbench_hf.sky.sharp`), clipped at 0."""
    out = _convolve_in_frame(stamp, psf, shape)
    corrections = sharp_corrections(obj, stamp, psf, bounds)
    if not corrections:
        return out
    total = sum_stamps([out, *(clip_stamp(c, shape) for c in corrections)])
    np.maximum(total.data, 0.0, out=total.data)
    return total


def _convolve_in_frame(stamp: Stamp, psf: PSF, shape: tuple[int, int]) -> Stamp:
    """The part inside a frame of ``shape`` of the stamp's full PSF convolution (the stamp grown
    by the kernel radius k on each side), in frame coordinates, computed only there."""
    k = psf.radius
    h, w = stamp.data.shape
    top, left = stamp.row0 - k, stamp.col0 - k  # of the full convolution
    r0, c0 = max(0, -top), max(0, -left)
    r1, c1 = min(h + 2 * k, shape[0] - top), min(w + 2 * k, shape[1] - left)
    if r1 <= r0 or c1 <= c0:  # only for stamps beyond the frame grown by k
        return clip_stamp(Stamp(np.zeros((0, 0)), top, left), shape)
    data = convolve(stamp.data, psf, mode="full", window=(r0, r1, c0, c1))
    return Stamp(data, top + r0, left + c0)


def _sum_stamps(stamps: Sequence[Stamp], shape: tuple[int, int]) -> np.ndarray:
    frame = np.zeros(shape)
    for stamp in stamps:
        if not stamp.empty:
            frame[stamp.slices] += stamp.data
    return frame.astype(np.float32)


def render_image(
    *,
    shape: tuple[int, int],
    objects: Iterable[SkyObject | Mapping[str, Any]],
    psf: PSF | Mapping[str, Any] | None = None,
) -> np.ndarray:
    """The clean image (float32, counts per pixel) of ``objects``: bit-identical re-rendering.

    Same arguments as :func:`render_stamps`; equal to ``render_scene(...).image``.
    """
    return _sum_stamps(render_stamps(shape=shape, objects=objects, psf=psf), shape)


@dataclass(frozen=True)
class Scene:
    """A rendered scene.

    Attributes
    ----------
    image
        Clean image, float32 ``(height, width)``, counts per pixel.
    stamps
        Noiseless (PSF-convolved) stamp of each object, clipped to the frame.
    objects
        The object records, in order.
    psf
        The PSF or ``None``.
    """

    image: np.ndarray
    stamps: tuple[Stamp, ...]
    objects: tuple[SkyObject, ...]
    psf: PSF | None


def render_scene(
    *,
    shape: tuple[int, int],
    objects: Iterable[SkyObject | Mapping[str, Any]],
    psf: PSF | Mapping[str, Any] | None = None,
) -> Scene:
    """Render a scene: the clean image plus each object's noiseless stamp (for truth).

    See :func:`render_stamps` for the arguments.
    """
    objs = tuple(make_object(o) for o in objects)
    psf = make_psf(psf)
    stamps = render_stamps(shape=shape, objects=objs, psf=psf)
    return Scene(_sum_stamps(stamps, shape), tuple(stamps), objs, psf)


def segmentation_map(
    stamps: Sequence[Stamp], *, shape: tuple[int, int], threshold: float | np.ndarray
) -> np.ndarray:
    """Instance segmentation (int32): label ``i + 1`` where object ``i`` contributes the most
    counts and more than ``threshold`` (scalar or array of ``shape``), else 0."""
    best = np.zeros(shape)
    labels = np.zeros(shape, dtype=np.int32)
    for i, stamp in enumerate(stamps):
        if stamp.empty:
            continue
        sl = stamp.slices
        win = stamp.data > best[sl]
        best[sl] = np.where(win, stamp.data, best[sl])
        labels[sl] = np.where(win, i + 1, labels[sl])
    labels[best <= threshold] = 0
    return labels


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    """COCO box ``[x_min, y_min, width, height]`` (ints) of the True pixels, ``None`` if none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def optimal_snr(stamp: Stamp, variance: np.ndarray) -> float:
    """Matched-filter S/N ``sqrt(sum(s**2 / var))`` of a noiseless stamp ``s`` given the noise
    variance map of the frame; ``inf`` where the variance is 0 and the signal is not."""
    if stamp.empty:
        return 0.0
    s = stamp.data
    var = np.asarray(variance, dtype=np.float64)[stamp.slices]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(s != 0, s * s / var, 0.0)
    return float(np.sqrt(terms.sum()))


def truth_catalog(
    scene: Scene, *, variance: np.ndarray, threshold: float | np.ndarray
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Segmentation map and one truth record per object.

    Each record holds the object's parameters (:func:`object_to_dict`) plus ``label`` (its value
    in the map), ``bbox`` (COCO box of its segment, ``None`` if it has no pixel), ``area``
    (pixels in its segment), ``snr`` (:func:`optimal_snr`) and ``flux_in_frame`` (sum of its
    noiseless stamp, counts).
    """
    shape = scene.image.shape
    seg = segmentation_map(scene.stamps, shape=shape, threshold=threshold)
    records = []
    for i, (obj, stamp) in enumerate(zip(scene.objects, scene.stamps, strict=True)):
        # an object's segment lies inside its stamp: look there only
        mask = seg[stamp.slices] == i + 1
        bbox = mask_bbox(mask)
        if bbox is not None:
            bbox[0] += stamp.col0
            bbox[1] += stamp.row0
        records.append(
            {
                **object_to_dict(obj),
                "label": i + 1,
                "bbox": bbox,
                "area": int(mask.sum()),
                "snr": optimal_snr(stamp, variance),
                "flux_in_frame": float(stamp.data.sum()),
            }
        )
    return seg, records
