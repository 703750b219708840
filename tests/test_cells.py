"""Unions of grid cells traced on the grid equal GEOS's coverage union of the cells as boxes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coverage._cells import cell_outlines, distinct_cells


def outline(cells: list[tuple[int, int]], size: float = 1.0) -> shapely.Geometry:
    x, y = np.array(cells, dtype=np.int64).T
    return cell_outlines(x, y, np.array([0, len(x)]), size)[0]


def geos_union(cx: np.ndarray, cy: np.ndarray, size: float = 1.0) -> shapely.Geometry:
    return shapely.coverage_union_all(
        shapely.box(cx * size, cy * size, (cx + 1) * size, (cy + 1) * size)
    )


def rings(geom: shapely.Geometry) -> list[list[tuple[float, float]]]:
    out = []
    for poly in shapely.get_parts(geom):
        out.append(list(poly.exterior.coords))
        out += [list(r.coords) for r in poly.interiors]
    return out


def test_one_cell_is_its_square() -> None:
    got = outline([(2, 3)], size=10.0)
    assert got.geom_type == "MultiPolygon"
    assert rings(got) == [[(20, 30), (30, 30), (30, 40), (20, 40), (20, 30)]]


def test_a_row_of_cells_has_vertices_only_at_its_corners() -> None:
    got = outline([(0, 0), (1, 0), (2, 0)])
    assert rings(got) == [[(0, 0), (3, 0), (3, 1), (0, 1), (0, 0)]]


def test_cells_touching_at_a_corner_are_two_polygons() -> None:
    got = outline([(0, 0), (1, 1)])
    assert len(shapely.get_parts(got)) == 2
    assert shapely.is_valid(got) and got.area == 2


def test_a_ring_of_cells_has_a_hole() -> None:
    ring = [(x, y) for x in range(3) for y in range(3) if (x, y) != (1, 1)]
    (poly,) = shapely.get_parts(outline(ring))
    assert poly.exterior.is_ccw and len(poly.interiors) == 1
    assert shapely.Polygon(poly.interiors[0]).equals(shapely.box(1, 1, 2, 2))


def test_a_hole_touching_the_outer_ring_at_a_corner_is_a_hole() -> None:
    # 3x3 cells without the centre (1, 1) and the corner (2, 2): the centre is closed in by
    # its four side neighbours and meets the outside only at the grid vertex (2, 2), where
    # the walk round the outside passes too. Valid polygons want two rings touching there,
    # not one ring touching itself.
    cells = [(x, y) for x in range(3) for y in range(3) if (x, y) not in {(1, 1), (2, 2)}]
    got = outline(cells)
    assert shapely.is_valid(got), shapely.is_valid_reason(got)
    (poly,) = shapely.get_parts(got)
    assert len(poly.interiors) == 1
    assert shapely.Polygon(poly.interiors[0]).equals(shapely.box(1, 1, 2, 2))
    assert len(set(poly.exterior.coords[:-1])) == len(poly.exterior.coords) - 1
    assert got.equals(geos_union(*np.array(cells).T))


def test_groups_are_separate_and_may_be_empty() -> None:
    x = np.array([0, 5, 6])
    y = np.array([0, 5, 5])
    got = cell_outlines(x, y, np.array([0, 1, 1, 3]), 1.0)
    assert len(got) == 3
    assert got[0].equals(shapely.box(0, 0, 1, 1))
    assert got[1].is_empty
    assert got[2].equals(shapely.box(5, 5, 7, 6))


def _no_straight_vertices(geom: shapely.Geometry) -> bool:
    for ring in rings(geom):
        xy = np.array(ring[:-1])
        before, after = np.roll(xy, 1, axis=0), np.roll(xy, -1, axis=0)
        cross = (xy - before)[:, 0] * (after - xy)[:, 1] - (xy - before)[:, 1] * (after - xy)[:, 0]
        if (cross == 0).any():
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        arrays(np.bool_, st.tuples(st.integers(1, 9), st.integers(1, 9))), min_size=1, max_size=4
    ),
    st.integers(-3, 3),
)
def test_outlines_equal_the_geos_coverage_union(grids: list[np.ndarray], shift: int) -> None:
    xs, ys, starts = [], [], [0]
    for k, grid in enumerate(grids):
        y, x = np.nonzero(grid)
        xs.append(x + shift * k)
        ys.append(y - shift)
        starts.append(starts[-1] + len(x))
    got = cell_outlines(np.concatenate(xs), np.concatenate(ys), np.array(starts), 2.5)
    for g, x, y in zip(got, xs, ys, strict=True):
        if len(x) == 0:
            assert g.is_empty
            continue
        assert shapely.is_valid(g), shapely.is_valid_reason(g)
        assert g.equals(geos_union(x, y, 2.5))
        assert _no_straight_vertices(g)
        # One polygon per set of cells joined by sides (a corner does not join them).
        assert len(shapely.get_parts(g)) == _side_components(x, y)


def _side_components(x: np.ndarray, y: np.ndarray) -> int:
    cells = set(zip(x.tolist(), y.tolist(), strict=True))
    seen: set[tuple[int, int]] = set()
    count = 0
    for c in cells:
        if c in seen:
            continue
        count += 1
        stack = [c]
        seen.add(c)
        while stack:
            cx, cy = stack.pop()
            for n in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                if n in cells and n not in seen:
                    seen.add(n)
                    stack.append(n)
    return count


@pytest.mark.parametrize("offset", [0, 2**40])  # the second cannot be packed in one key
@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5), st.integers(-5, 5)), max_size=40))
def test_distinct_cells_are_sorted_and_distinct(
    offset: int, cells: list[tuple[int, int, int]]
) -> None:
    g = np.array([c[0] for c in cells], dtype=np.int64)
    x = np.array([c[1] for c in cells], dtype=np.int64) * (offset or 1)
    y = np.array([c[2] for c in cells], dtype=np.int64) + offset
    got = distinct_cells(g, x, y)
    want = sorted(set(zip(g.tolist(), y.tolist(), x.tolist(), strict=True)))
    assert list(zip(got[0].tolist(), got[2].tolist(), got[1].tolist(), strict=True)) == want
