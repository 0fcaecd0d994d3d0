"""Exact binary rasterisation of geometric shapes (pure numpy, no Python loop over pixels).

Conventions
-----------
* ``image[row, col]``; **x = column, y = row**, 0-based, pixel centres at integer coordinates
  (pixel ``(r, c)`` covers ``x`` in ``[c - 0.5, c + 0.5]``).
* ``angle`` in radians, from +x towards +y (counter-clockwise when shown with ``origin="lower"``).
* A pixel is drawn (value 1) when its **centre** lies inside the shape (boundary included). So the
  expected number of drawn pixels over random sub-pixel placements equals the shape's area exactly.
* **Outline** of a closed shape = the shape minus the same shape shrunk inwards by ``line_width``:
  rectangle ``(w - 2t) x (h - 2t)``, regular polygon with apothem ``a - t``, ellipse with semi-axes
  ``(a - t, b - t)``, circle with radius ``r - t``. Areas are therefore analytic (:func:`area`).
* **Strokes** (``line``, ``arc``) have width ``line_width`` centred on the curve, butt ends; they
  are   never filled.

Each shape is evaluated only in a window around it (its bounding circle), clipped to the frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

SHAPE_KINDS = ("rectangle", "polygon", "arc", "line", "ellipse", "circle")
STROKE_KINDS = frozenset({"arc", "line"})
NAN = math.nan


@dataclass(frozen=True)
class Shape:
    """Geometric parameters of one shape (lengths in px, angles in radians).

    Attributes
    ----------
    kind
        One of :data:`SHAPE_KINDS`.
    x, y
        Reference centre (px): the centre of the rectangle, polygon, ellipse and circle; the
        midpoint of the line; the centre of the circle the arc lies on.
    angle
        Rotation (rad, from +x towards +y): of the rectangle's ``width`` axis, of the polygon's
        first vertex, of the ellipse's major axis, of the line's direction, and the arc's start
        angle (the arc runs from ``angle`` to ``angle + span``). Ignored by circles.
    filled
        Whether a closed shape is filled (``False``: outline of width ``line_width``). Always
        ``False`` for strokes.
    line_width
        Outline or stroke width (px); ``nan`` for filled shapes.
    width, height
        Rectangle side lengths (px) along its rotated x and y axes.
    radius
        Circle radius, polygon circumradius, or arc radius (px, to the stroke's centre line).
    n_vertices
        Number of polygon vertices (>= 3); 0 for other kinds.
    span
        Arc angular extent (rad, in (0, 2*pi]).
    semi_major, semi_minor
        Ellipse semi-axes (px), ``semi_minor <= semi_major``.
    length
        Line length (px).
    """

    kind: str
    x: float
    y: float
    angle: float = 0.0
    filled: bool = True
    line_width: float = NAN
    width: float = NAN
    height: float = NAN
    radius: float = NAN
    n_vertices: int = 0
    span: float = NAN
    semi_major: float = NAN
    semi_minor: float = NAN
    length: float = NAN


SHAPE_FIELDS = tuple(f.name for f in fields(Shape))
_INDICES = np.arange(8192, dtype=np.float64)  # pixel indices; sliced instead of re-created


def extent_radius(shape: Shape) -> float:
    """Radius (px) of a circle around ``(x, y)`` containing the whole shape."""
    k = shape.kind
    if k == "rectangle":
        return 0.5 * math.hypot(shape.width, shape.height)
    if k in ("polygon", "circle"):
        return shape.radius
    if k == "arc":
        return shape.radius + 0.5 * shape.line_width
    if k == "line":
        return 0.5 * math.hypot(shape.length, shape.line_width)
    if k == "ellipse":
        return shape.semi_major
    raise ValueError(f"unknown shape kind {k!r}; allowed: {', '.join(SHAPE_KINDS)}")


def rasterize(shape: Shape, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Rasterise one shape into a boolean window.

    Returns
    -------
    mask, row0, col0
        ``mask[i, j]`` is pixel ``(row0 + i, col0 + j)`` of the frame. The window may be empty
        (shape outside the frame).
    """
    reach = extent_radius(shape)
    c0 = max(math.floor(shape.x - reach), 0)
    c1 = min(math.ceil(shape.x + reach), width - 1)
    r0 = max(math.floor(shape.y - reach), 0)
    r1 = min(math.ceil(shape.y + reach), height - 1)
    if c1 < c0 or r1 < r0:
        return np.zeros((0, 0), dtype=bool), max(r0, 0), max(c0, 0)
    u = (_INDICES[c0 : c1 + 1] - shape.x)[None, :]
    v = (_INDICES[r0 : r1 + 1] - shape.y)[:, None]
    return _INSIDE[shape.kind](shape, u, v), r0, c0


def _rotate(u: np.ndarray, v: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle), math.sin(angle)
    return u * c + v * s, v * c - u * s


def _rectangle(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    lu, lv = _rotate(u, v, shape.angle)
    au, av = np.abs(lu), np.abs(lv)
    hw, hh = 0.5 * shape.width, 0.5 * shape.height
    inside = (au <= hw) & (av <= hh)
    if shape.filled:
        return inside
    t = shape.line_width
    return inside & ~((au <= hw - t) & (av <= hh - t))


def _polygon(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    n = shape.n_vertices
    # Edge k's outward normal points at angle + pi/n + 2*pi*k/n; the apothem is R*cos(pi/n).
    phis = shape.angle + math.pi / n + 2.0 * math.pi * np.arange(n) / n
    cos_phi = np.cos(phis)[:, None, None]
    sin_phi = np.sin(phis)[:, None, None]
    support = (u[None] * cos_phi + v[None] * sin_phi).max(axis=0)
    apothem = shape.radius * math.cos(math.pi / n)
    inside = support <= apothem
    if shape.filled:
        return inside
    return inside & ~(support <= apothem - shape.line_width)


def _ellipse(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    inside = _ellipse_form(u, v, shape.angle, shape.semi_major, shape.semi_minor) <= 1.0
    if shape.filled:
        return inside
    ai, bi = shape.semi_major - shape.line_width, shape.semi_minor - shape.line_width
    if ai <= 0 or bi <= 0:
        return inside
    return inside & ~(_ellipse_form(u, v, shape.angle, ai, bi) <= 1.0)


def _ellipse_form(u: np.ndarray, v: np.ndarray, angle: float, a: float, b: float) -> np.ndarray:
    """(lu/a)^2 + (lv/b)^2 as the quadratic form A u^2 + B u v + C v^2 (fewer full-size passes)."""
    c, s = math.cos(angle), math.sin(angle)
    ia2, ib2 = 1.0 / (a * a), 1.0 / (b * b)
    quad_u = (c * c * ia2 + s * s * ib2) * (u * u)
    quad_v = (s * s * ia2 + c * c * ib2) * (v * v)
    cross = (2.0 * c * s * (ia2 - ib2)) * v
    return cross * u + quad_u + quad_v


def _circle(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    inside = r2 <= shape.radius**2
    if shape.filled:
        return inside
    inner = shape.radius - shape.line_width
    if inner <= 0:
        return inside
    return inside & ~(r2 <= inner * inner)


def _arc(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    lu, lv = _rotate(u, v, shape.angle)
    r2 = lu * lu + lv * lv
    half = 0.5 * shape.line_width
    r_in, r_out = max(shape.radius - half, 0.0), shape.radius + half
    in_ring = (r2 >= r_in * r_in) & (r2 <= r_out * r_out)
    phi = np.mod(np.arctan2(lv, lu), 2.0 * math.pi)
    return in_ring & (phi <= shape.span)


def _line(shape: Shape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    lu, lv = _rotate(u, v, shape.angle)
    return (np.abs(lu) <= 0.5 * shape.length) & (np.abs(lv) <= 0.5 * shape.line_width)


_INSIDE = {
    "rectangle": _rectangle,
    "polygon": _polygon,
    "arc": _arc,
    "line": _line,
    "ellipse": _ellipse,
    "circle": _circle,
}


def area(shape: Shape) -> float:
    """Analytic area (px^2) of the drawn region, following the outline convention above."""
    k, t = shape.kind, shape.line_width
    if k == "rectangle":
        full = shape.width * shape.height
        return (
            full
            if shape.filled
            else full - max(shape.width - 2 * t, 0) * max(shape.height - 2 * t, 0)
        )
    if k == "polygon":
        n = shape.n_vertices

        def poly(radius: float) -> float:
            return 0.5 * n * radius * radius * math.sin(2 * math.pi / n)

        full = poly(shape.radius)
        if shape.filled:
            return full
        inner_apothem = shape.radius * math.cos(math.pi / n) - t
        return full - (poly(inner_apothem / math.cos(math.pi / n)) if inner_apothem > 0 else 0.0)
    if k == "ellipse":
        full = math.pi * shape.semi_major * shape.semi_minor
        if shape.filled:
            return full
        ai, bi = shape.semi_major - t, shape.semi_minor - t
        return full - (math.pi * ai * bi if ai > 0 and bi > 0 else 0.0)
    if k == "circle":
        full = math.pi * shape.radius**2
        inner = shape.radius - t
        return full if shape.filled else full - (math.pi * inner * inner if inner > 0 else 0.0)
    if k == "arc":
        r_in, r_out = max(shape.radius - 0.5 * t, 0.0), shape.radius + 0.5 * t
        return 0.5 * shape.span * (r_out**2 - r_in**2)
    if k == "line":
        return shape.length * t
    raise ValueError(f"unknown shape kind {k!r}")


@dataclass(frozen=True)
class RenderedScene:
    """A rendered shapes scene.

    Attributes
    ----------
    image
        ``uint8`` array ``(height, width)``: 1 where any shape is drawn, else 0.
    segmentation
        ``uint16`` array: 0 = background, ``k`` = the k-th object (1-based). Later objects are drawn
        on top of earlier ones.
    bboxes
        Per object, COCO ``[x_min, y_min, width, height]`` of its own drawn pixels (before
        occlusion), in pixel-edge coordinates: ``x_min`` is the first drawn column index;
        ``[0, 0, 0, 0]`` if nothing is drawn.
    areas
        Per object, its number of drawn pixels (before occlusion).
    visible
        Per object, its number of pixels in ``segmentation`` (after occlusion).
    """

    image: np.ndarray
    segmentation: np.ndarray
    bboxes: list[list[float]]
    areas: list[int]
    visible: list[int]


def render_scene(shapes: Sequence[Shape], height: int, width: int) -> RenderedScene:
    """Rasterise shapes in order into a binary image and an instance segmentation map."""
    segmentation = np.zeros((height, width), dtype=np.uint16)
    windows = []
    bboxes: list[list[float]] = []
    areas: list[int] = []
    for k, shape in enumerate(shapes, start=1):
        mask, r0, c0 = rasterize(shape, height, width)
        window = segmentation[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]]
        window[mask] = k
        windows.append(window)
        areas.append(int(np.count_nonzero(mask)))
        bboxes.append(_bbox(mask, r0, c0) if areas[-1] else [0.0, 0.0, 0.0, 0.0])
    visible = [int(np.count_nonzero(w == k)) for k, w in enumerate(windows, start=1)]
    image = (segmentation > 0).view(np.uint8)
    return RenderedScene(image, segmentation, bboxes, areas, visible)


def _bbox(mask: np.ndarray, r0: int, c0: int) -> list[float]:
    rows = mask.any(axis=1).tobytes()
    cols = mask.any(axis=0).tobytes()
    first_row, last_row = rows.find(1), rows.rfind(1)
    first_col, last_col = cols.find(1), cols.rfind(1)
    return [
        float(c0 + first_col),
        float(r0 + first_row),
        float(last_col - first_col + 1),
        float(last_row - first_row + 1),
    ]
