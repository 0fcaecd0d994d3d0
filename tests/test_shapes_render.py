"""Shapes rasteriser against analytic geometry: areas, centroids, boxes, and matplotlib's paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepbench_hf.shapes.render import SHAPE_KINDS, Shape, area, rasterize, render_scene

SIZE = 96
CASES = [
    Shape("rectangle", 0, 0, 0, True, width=30.0, height=14.0),
    Shape("rectangle", 0, 0, 0, False, 3.0, width=30.0, height=14.0),
    Shape("polygon", 0, 0, 0, True, n_vertices=3, radius=18.0),
    Shape("polygon", 0, 0, 0, True, n_vertices=7, radius=14.0),
    Shape("polygon", 0, 0, 0, False, 2.5, n_vertices=5, radius=16.0),
    Shape("ellipse", 0, 0, 0, True, semi_major=20.0, semi_minor=9.0),
    Shape("ellipse", 0, 0, 0, False, 2.0, semi_major=20.0, semi_minor=9.0),
    Shape("circle", 0, 0, 0, True, radius=12.5),
    Shape("circle", 0, 0, 0, False, 3.0, radius=12.5),
    Shape("arc", 0, 0, 0, False, 3.0, radius=16.0, span=2.5),
    Shape("arc", 0, 0, 0, False, 2.0, radius=12.0, span=2 * math.pi),
    Shape("line", 0, 0, 0, False, 2.0, length=40.0),
]
IDS = [f"{s.kind}-{'filled' if s.filled else 'outline'}-{i}" for i, s in enumerate(CASES)]


def placed(shape: Shape, rng: np.random.Generator) -> Shape:
    """The shape at a random sub-pixel position near the centre, with a random angle."""
    x, y = rng.uniform(40, 56, size=2)
    fields = {**shape.__dict__, "x": float(x), "y": float(y), "angle": float(rng.uniform(0, 7))}
    return Shape(**fields)


def full_mask(shape: Shape) -> np.ndarray:
    mask, r0, c0 = rasterize(shape, SIZE, SIZE)
    out = np.zeros((SIZE, SIZE), dtype=bool)
    out[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]] = mask
    return out


def perimeter(shape: Shape) -> float:
    """A generous perimeter estimate (outer plus inner boundary) for tolerances."""
    a = area(shape)
    return 4 * math.sqrt(math.pi * a) + (40 if not shape.filled else 0)


def expected_centroid(shape: Shape) -> tuple[float, float]:
    """Analytic centroid: the reference centre for symmetric shapes; the annular sector for arcs."""
    if shape.kind != "arc":
        return shape.x, shape.y
    r1 = shape.radius - shape.line_width / 2
    r2 = shape.radius + shape.line_width / 2
    s = shape.span
    dist = (2 / 3) * (r2**3 - r1**3) / (r2**2 - r1**2) * math.sin(s / 2) / (s / 2)
    bisector = shape.angle + s / 2
    return shape.x + dist * math.cos(bisector), shape.y + dist * math.sin(bisector)


def analytic_extent(shape: Shape) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) of the continuous shape."""
    c, s = math.cos(shape.angle), math.sin(shape.angle)
    if shape.kind in ("rectangle", "line"):
        hw = (shape.width if shape.kind == "rectangle" else shape.length) / 2
        hh = (shape.height if shape.kind == "rectangle" else shape.line_width) / 2
        corners = [(u * c - v * s, u * s + v * c) for u in (-hw, hw) for v in (-hh, hh)]
    elif shape.kind == "polygon":
        phis = shape.angle + 2 * math.pi * np.arange(shape.n_vertices) / shape.n_vertices
        corners = list(zip(shape.radius * np.cos(phis), shape.radius * np.sin(phis), strict=True))
    elif shape.kind == "ellipse":
        a, b = shape.semi_major, shape.semi_minor
        hx, hy = math.hypot(a * c, b * s), math.hypot(a * s, b * c)
        corners = [(-hx, -hy), (hx, hy)]
    elif shape.kind == "circle":
        corners = [(-shape.radius, -shape.radius), (shape.radius, shape.radius)]
    else:  # arc: dense samples of its outer and inner edges
        phis = shape.angle + np.linspace(0, shape.span, 20001)
        radii = (shape.radius - shape.line_width / 2, shape.radius + shape.line_width / 2)
        corners = [(r * math.cos(p), r * math.sin(p)) for r in radii for p in phis[::1]]
    xs = [shape.x + p[0] for p in corners]
    ys = [shape.y + p[1] for p in corners]
    return min(xs), max(xs), min(ys), max(ys)


@pytest.mark.parametrize("shape", CASES, ids=IDS)
def test_mean_pixel_count_equals_analytic_area(shape):
    rng = np.random.default_rng(1)
    counts = np.array([full_mask(placed(shape, rng)).sum() for _ in range(300)])
    expected = area(shape)
    # Centre sampling is unbiased over random placements: the mean converges to the area.
    stderr = counts.std(ddof=1) / math.sqrt(counts.size)
    assert abs(counts.mean() - expected) < 4 * stderr + 1e-3 * expected
    # Each single placement is within a boundary-sized error.
    assert np.all(np.abs(counts - expected) < 1.5 * math.sqrt(perimeter(shape)) + 3)


@pytest.mark.parametrize("shape", CASES, ids=IDS)
def test_centroid_matches_geometry(shape):
    rng = np.random.default_rng(2)
    offsets = []
    for _ in range(200):
        s = placed(shape, rng)
        rows, cols = np.nonzero(full_mask(s))
        ex, ey = expected_centroid(s)
        offsets.append((cols.mean() - ex, rows.mean() - ey))
    offsets = np.array(offsets)
    # Single placements wander by lattice noise (thin lines most); the mean is unbiased.
    limit = 0.5 if shape.filled else (1.5 if shape.kind == "line" else 1.0)
    assert np.all(np.abs(offsets) < limit)
    assert np.all(np.abs(offsets.mean(axis=0)) < 0.05)


@pytest.mark.parametrize("shape", CASES, ids=IDS)
def test_bbox_lies_within_the_analytic_extent(shape):
    rng = np.random.default_rng(3)
    for _ in range(50):
        s = placed(shape, rng)
        scene = render_scene([s], SIZE, SIZE)
        x0, y0, w, h = scene.bboxes[0]
        x_min, x_max, y_min, y_max = analytic_extent(s)
        # Drawn pixel centres lie inside the shape; sharp tips may leave up to two columns empty.
        assert math.ceil(x_min - 1e-9) <= x0 <= math.ceil(x_min) + 2
        assert math.floor(x_max) - 2 <= x0 + w - 1 <= math.floor(x_max + 1e-9)
        assert math.ceil(y_min - 1e-9) <= y0 <= math.ceil(y_min) + 2
        assert math.floor(y_max) - 2 <= y0 + h - 1 <= math.floor(y_max + 1e-9)
        rows, cols = np.nonzero(scene.segmentation)
        assert (
            cols.min(),
            rows.min(),
            cols.max() - cols.min() + 1,
            rows.max() - rows.min() + 1,
        ) == (
            x0,
            y0,
            w,
            h,
        )


@pytest.mark.parametrize("kind", ["rectangle", "polygon"])
def test_filled_polygons_agree_with_matplotlib_paths(kind):
    from matplotlib.path import Path

    rng = np.random.default_rng(4)
    for _ in range(30):
        base = CASES[0] if kind == "rectangle" else CASES[3]
        s = placed(base, rng)
        if kind == "rectangle":
            c, sn = math.cos(s.angle), math.sin(s.angle)
            local = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
            verts = [
                (
                    s.x + u * s.width / 2 * c - v * s.height / 2 * sn,
                    s.y + u * s.width / 2 * sn + v * s.height / 2 * c,
                )
                for u, v in local
            ]
        else:
            phis = s.angle + 2 * np.pi * np.arange(s.n_vertices) / s.n_vertices
            verts = list(
                zip(s.x + s.radius * np.cos(phis), s.y + s.radius * np.sin(phis), strict=True)
            )
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        inside = Path(verts).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
        ours = full_mask(s).ravel()
        # Only pixel centres within a hair of an edge may be classified differently.
        assert np.count_nonzero(inside != ours) <= 2


def test_overlaps_stay_binary_and_segmentation_is_painter_ordered():
    shapes = [
        Shape("circle", 40, 40, 0, True, radius=15),
        Shape("rectangle", 48, 40, 0.3, True, width=20, height=12),
        Shape("line", 40, 40, 1.0, False, 2.0, length=50),
    ]
    scene = render_scene(shapes, 80, 80)
    assert set(np.unique(scene.image)) == {0, 1}
    assert scene.image.dtype == np.uint8
    assert np.array_equal(scene.image, (scene.segmentation > 0).astype(np.uint8))
    assert scene.areas[0] > scene.visible[0] > 0  # the circle is partly covered
    assert scene.visible[2] == scene.areas[2]  # the line is on top
    assert sum(scene.visible) == np.count_nonzero(scene.segmentation)
    third = full_mask(Shape(**{**shapes[2].__dict__}))[:80, :80]
    assert np.all(scene.segmentation[third[:80, :80]] == 3)


def test_shapes_outside_the_frame_draw_nothing_and_clip():
    scene = render_scene(
        [Shape("circle", -30, -30, 0, True, radius=5), Shape("circle", 0, 0, 0, True, radius=5.0)],
        32,
        32,
    )
    assert scene.areas[0] == 0 and scene.bboxes[0] == [0.0, 0.0, 0.0, 0.0]
    assert scene.bboxes[1] == [0.0, 0.0, 6.0, 6.0]
    assert scene.areas[1] == np.count_nonzero(
        np.add.outer(np.arange(32) ** 2, np.arange(32) ** 2) <= 25
    )


def test_every_kind_is_covered():
    assert {s.kind for s in CASES} == set(SHAPE_KINDS)


@pytest.mark.parametrize(
    "shape",
    [
        Shape("ellipse", 48.3, 47.6, 0, True, semi_major=20.0, semi_minor=9.0),
        Shape("ellipse", 48.3, 47.6, 0, False, 2.0, semi_major=20.0, semi_minor=9.0),
        Shape("line", 48.3, 47.6, 0, False, 2.0, length=40.0),
        Shape("rectangle", 48.3, 47.6, 0, True, width=30.0, height=12.0),
    ],
    ids=["ellipse", "ellipse-outline", "line", "rectangle"],
)
def test_orientation_is_the_angle_from_x_towards_y(shape: Shape) -> None:
    """The mask's principal axis (second moments, x = column, y = row) lies at ``angle`` from +x
    towards +y, modulo pi: centroids and areas cannot see a flipped rotation sign."""
    for angle in (0.3, 1.1, 2.0, 2.9):
        mask = full_mask(Shape(**{**shape.__dict__, "angle": angle}))
        rows, cols = np.nonzero(mask)
        dx, dy = cols - cols.mean(), rows - rows.mean()
        measured = 0.5 * math.atan2(2 * (dx * dy).mean(), (dx * dx).mean() - (dy * dy).mean())
        miss = (measured - angle + math.pi / 2) % math.pi - math.pi / 2
        assert abs(miss) < 0.025, (angle, measured)  # pixelisation: <= ~0.015 rad


@pytest.mark.parametrize(("length", "line_width"), [(40.0, 2.0), (4.0, 9.0), (1.5, 20.0)])
def test_a_line_is_the_rectangle_of_its_length_and_width(length: float, line_width: float):
    """A stroke of ``length`` and ``line_width`` covers exactly the pixels of the rectangle of
    those sides at the same centre and angle, also when it is thicker than it is long."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        x, y, angle = *rng.uniform(40, 56, 2), rng.uniform(0, 7)
        line = Shape("line", x, y, angle, False, line_width, length=length)
        rect = Shape("rectangle", x, y, angle, True, width=length, height=line_width)
        assert np.array_equal(full_mask(line), full_mask(rect))
