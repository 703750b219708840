"""Compiled round buffers of convex hulls against GEOS (coverage._buffer)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage._buffer import QUAD_SEGS, _curves, hull_buffers


def _coords(geoms: np.ndarray) -> list[list[list[float]]]:
    return [shapely.get_coordinates(g).tolist() for g in geoms]


def test_square_buffer_by_hand() -> None:
    """A 10 m square grown by 2 m: each corner a quarter circle of 8 steps (π/16 each), so
    4 × (offset end + 7 arc points + offset start) + the closing point = 37 vertices, the
    first the end of the last side's offset at (0, 0); every vertex 2 m from the square."""
    square = shapely.Polygon([(0, 0), (0, 10), (10, 10), (10, 0)])  # clockwise, as GEOS's hulls
    got = hull_buffers(np.array([square]), 2.0)[0]
    xy = shapely.get_coordinates(got)
    assert len(xy) == 37
    assert xy[0].tolist() == [0.0, -2.0]
    a = 3 * math.pi / 2 - math.pi / 16  # first arc point, going clockwise round (0, 0)
    assert np.allclose(xy[1], [2 * math.cos(a), 2 * math.sin(a)], rtol=0, atol=1e-12)
    assert xy[8].tolist() == [-2.0, 0.0] and xy[9].tolist() == [-2.0, 10.0]
    distances = shapely.distance(shapely.points(xy), square)
    assert np.allclose(distances, 2.0, rtol=0, atol=1e-9)
    # The square, four 10 × 2 sides, and a regular 32-gon of radius 2 at the corners.
    want_area = 100 + 4 * 20 + 16 * 4 * math.sin(2 * math.pi / 32)
    assert got.area == pytest.approx(want_area, rel=1e-12)
    assert shapely.equals_exact(got, shapely.buffer(square, 2.0), tolerance=0)


def test_segment_buffer_by_hand() -> None:
    """A 10 m segment grown by 1 m: two half circles of 16 steps joined by the sides."""
    segment = shapely.LineString([(0, 0), (10, 0)])
    got = hull_buffers(np.array([segment]), 1.0)[0]
    xy = shapely.get_coordinates(got)
    assert xy[0].tolist() == [10.0, 1.0]  # the left side's end
    assert len(xy) == 2 * (1 + 15 + 1) + 1
    assert shapely.equals_exact(got, shapely.buffer(segment, 1.0), tolerance=0)


def test_other_shapes_go_to_geos() -> None:
    """Points, counter-clockwise rings, rings with holes, longer lines and missing values:
    GEOS's buffer (the compiled curve is only for hulls as GEOS makes them)."""
    shapes = np.array(
        [
            shapely.Point(1, 2),
            shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]),  # counter-clockwise
            shapely.Polygon(
                [(0, 0), (0, 10), (10, 10), (10, 0)], [[(2, 2), (4, 2), (4, 4), (2, 4)]]
            ),
            shapely.LineString([(0, 0), (5, 1), (10, 0)]),
            None,
        ],
        dtype=object,
    )
    got = hull_buffers(shapes, 3.0)
    want = shapely.buffer(shapes, 3.0)
    assert got[-1] is None
    assert _coords(got[:-1]) == _coords(want[:-1])


def test_close_vertices_left_to_geos() -> None:
    """A segment of 0.1 mm grown by 25 m: its two offset points 0.1 mm apart, which GEOS
    merges; the curve marks it, and GEOS's outline is used."""
    segment = shapely.LineString([(500_000.0, 6_500_000.0), (500_000.0001, 6_500_000.0)])
    coords = shapely.get_coordinates(segment)
    _, _, apart = _curves(coords, np.array([0, 2]), 25.0, QUAD_SEGS)
    assert not apart[0]
    got = hull_buffers(np.array([segment]), 25.0)
    assert _coords(got) == _coords(shapely.buffer(np.array([segment]), 25.0))


@pytest.mark.parametrize("ulps", [1.5, 2.0, 2.5, 3.0, 1e4])
def test_margins_within_rounding_of_the_coordinates(ulps: float) -> None:
    """A margin of a few ulps of the coordinates: the offsets round to almost nothing and
    the fillets' angles to anything, so whole circles appear at vertices (the review found
    a 34-gon writing past the curve's room). Such margins are GEOS's, and the compiled curve
    refuses a ring whose fillets turn more than once round."""
    c = 8_105_115.0
    r = ulps * float(np.spacing(c))
    for n in (34, 44, 63):
        a = np.arange(n) * 2 * np.pi / n
        pts = np.array([c, c]) + 10.0 * np.c_[np.cos(a), np.sin(a)]
        hull = shapely.convex_hull(shapely.multipoints(pts))
        got = hull_buffers(np.array([hull]), r)
        assert _coords(got) == _coords(shapely.buffer(np.array([hull]), r))
        ring = shapely.get_coordinates(shapely.get_exterior_ring(hull))
        xy, at, apart = _curves(ring, np.array([0, len(ring)]), r, QUAD_SEGS)
        assert len(xy) == at[-1] <= 3 * len(ring) + 4 * QUAD_SEGS + 5
        if not apart[0]:
            assert at[-1] == 0  # refused: no rows, GEOS makes it


def test_edges_of_subnormal_length_left_to_geos() -> None:
    """An edge whose length squares to zero (hypothesis found a hull with a vertex at
    x = 3.11e-221 beside one at x = 0): no offset can be made of it, so GEOS buffers it."""
    shapes = np.array(
        [
            shapely.convex_hull(
                shapely.MultiPoint([(0, 6_000_000), (0, 6_000_001), (3.11e-221, 6_000_000)])
            ),
            shapely.LineString([(0, 6_000_000), (3.11e-221, 6_000_000)]),
        ],
        dtype=object,
    )
    assert shapely.get_type_id(shapes).tolist() == [3, 1]
    got = hull_buffers(shapes, 25.0)
    assert _coords(got) == _coords(shapely.buffer(shapes, 25.0))


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.tuples(st.floats(-300, 300), st.floats(-300, 300)),
                # Lattice points: axis-parallel edges, arc points on the axes (snapped).
                st.tuples(st.integers(-3, 3).map(float), st.integers(-3, 3).map(float)),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([0.01, 1.0, 25.0, 250.0]),
    st.sampled_from([1.0, 1e-3, 1e-5]),
)
def test_hull_buffers_equal_geos(
    groups: list[list[tuple[float, float]]], distance_m: float, scale: float
) -> None:
    """Hulls of random point groups (national coordinates; points, segments and polygons,
    tiny ones included) buffered by the compiled curve equal GEOS's to the last bit."""
    offset = np.array([612_345.678, 6_812_345.678])
    hulls = np.array(
        [shapely.convex_hull(shapely.MultiPoint(np.array(g) * scale + offset)) for g in groups],
        dtype=object,
    )
    got = hull_buffers(hulls, distance_m)
    want = shapely.buffer(hulls, distance_m)
    assert all(shapely.equals_exact(got, want, tolerance=0))
    assert _coords(got) == _coords(want)
