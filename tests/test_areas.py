"""Area assignment: SCB grid ids, kommun from boundaries, tätort from polygons or points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import make_addresses
from geopandas.testing import assert_geodataframe_equal
from hypothesis import assume, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage._points import point_xy
from coverage._text import TEXT_DTYPE
from coverage.areas import (
    AreaLayer,
    assign_kommun,
    assign_tatort,
    custom_membership,
    grid_id,
    grid_squares,
    in_bounding_boxes,
    point_distance,
    read_kommuner,
    read_tatorter,
)
from coverage.io import ReadResult
from coverage.schema import OUTSIDE_TATORT_ID


def test_grid_ids_follow_scb_rutid_format():
    pts = gpd.GeoSeries(shapely.points([(352499.999, 6860500.0), (515250.0, 6665999.9)]), crs=3006)
    assert grid_id(pts, 1000).tolist() == ["3520006860000", "5150006665000"]
    assert grid_id(pts, 250).tolist() == ["3522506860500", "5152506665750"]
    sq = grid_squares(grid_id(pts, 1000), 1000)
    assert sq.geometry.iloc[0].bounds == (352000.0, 6860000.0, 353000.0, 6861000.0)


def test_grid_ids_match_the_shipped_scb_population_squares():
    # SCB's own rutid of the real 1 km squares, from their centre coordinates.
    scb = gpd.read_file("gis_data/scb_dalarna/befolkning_1km_2025_dalarna.geojson", rows=200)
    centres = gpd.GeoSeries(shapely.points(scb["e"], scb["n"]), crs=3006)
    assert grid_id(centres, 1000).tolist() == scb["rutid"].tolist()


def test_kommun_from_shipped_boundaries_when_missing():
    kommuner = read_kommuner()
    addr = make_addresses([(0, 0), (0, 0)], kommun_code=["", "1290"])
    codes = assign_kommun(addr.geometry, addr["kommun_code"], kommuner)
    assert codes.tolist() == ["2061", "1290"]  # given codes are kept
    assert codes.dtype == TEXT_DTYPE and codes.index.equals(addr.index)
    given = assign_kommun(addr.geometry, pd.Series(["0180", "1290"], index=addr.index), kommuner)
    assert given.tolist() == ["0180", "1290"] and given.dtype == TEXT_DTYPE
    far = gpd.GeoSeries([shapely.Point(0, 0)], crs=3006)  # far outside Sweden
    assert assign_kommun(far, pd.Series([""]), kommuner).tolist() == [""]


def test_tatort_from_points_uses_equal_area_circles():
    tat = read_tatorter()
    smedj = tat.areas.set_index("area_id")
    # Smedjebacken tätort (2020): the circle's area equals the published area in hectares.
    row = smedj.loc[smedj["name"] == "Smedjebacken"].iloc[0]
    assert (
        row.geometry.area / 10_000 == np.float64(row["area"]).round(0)
        or abs(row.geometry.area / 10_000 - row["area"]) < 0.01 * row["area"]
    )
    centre = row["centre"] if "centre" in smedj.columns else row.geometry.centroid
    pts = gpd.GeoSeries([centre, shapely.Point(centre.x + 50_000, centre.y)], crs=3006)
    out = assign_tatort(pts, tat)
    assert out.tolist() == [row.name, OUTSIDE_TATORT_ID]


def test_tatort_polygons_overlap_goes_to_nearest_centre():
    polys = gpd.GeoDataFrame(
        {"area_id": ["A", "B"], "name": ["A", "B"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(50, 0, 200, 100)],
        crs=3006,
    )
    pts = gpd.GeoSeries(shapely.points([(60, 50), (90, 50), (500, 500)]), crs=3006)
    out = assign_tatort(pts, AreaLayer("tatort", polys, "test"))
    assert out.tolist() == ["A", "B", OUTSIDE_TATORT_ID]


def test_tatort_from_points_extends_along_contiguous_settlement():
    # A tätort point of 1 ha (radius 56 m) at the origin; a chain of addresses 150 m apart
    # runs east from it (contiguous, gaps <= 200 m), a group 400 m beyond the chain does not.
    pts = gpd.GeoDataFrame(
        {"area_id": ["T1"], "name": ["Byn"], "area": [1.0]},
        geometry=[shapely.Point(0, 0)],
        crs=3006,
    )
    from coverage.areas import _circles_from_points

    layer = AreaLayer(
        "tatort", _circles_from_points(pts, np.array([True]), "test"), "test", from_points=True
    )
    chain = [(150.0 * i, 0.0) for i in range(0, 6)]  # 0..750 m
    far = [(1150.0, 0.0), (1250.0, 0.0)]  # 400 m gap after the chain
    addr = gpd.GeoSeries(shapely.points(chain + far), crs=3006)
    without = assign_tatort(addr, layer)
    assert without.tolist() == ["T1"] + [OUTSIDE_TATORT_ID] * 7
    with_gap = assign_tatort(addr, layer, gap_m=200.0)
    assert with_gap.tolist() == ["T1"] * 6 + [OUTSIDE_TATORT_ID] * 2


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.integers(1, 60)),
        min_size=1,
        max_size=5,
    ),
    st.lists(
        st.tuples(st.integers(-500, 3500), st.integers(-500, 3500), st.booleans()), max_size=60
    ),
)
def test_tatort_rows_found_before_dropping_points(centres, points):  # type: ignore[no-untyped-def]
    """The pipeline finds each address's tätort polygon for every address while the kommuner
    are assigned, and drops the addresses outside every kommun after: a point's polygon
    depends on that point alone, so the kept points get what they get found alone (the
    settlement extension, which does depend on the other points, runs on the kept ones)."""
    from coverage.areas import _circles_from_points, tatort_rows

    pts = gpd.GeoDataFrame(
        {"area_id": [f"T{i}" for i in range(len(centres))], "name": "x", "area": 1.0},
        geometry=[shapely.Point(x, y) for x, y, _ in centres],
        crs=3006,
    )
    pts["area"] = [float(ha) for _, _, ha in centres]
    layer = AreaLayer(
        "tatort", _circles_from_points(pts, np.ones(len(pts), bool), "t"), "t", from_points=True
    )
    xy = np.array([(x, y) for x, y, _ in points], dtype=float).reshape(-1, 2)
    kept = np.array([k for _, _, k in points], dtype=bool)
    every = tatort_rows(xy, layer)
    assert every[kept].tolist() == tatort_rows(xy[kept], layer).tolist()
    for gap in (None, 200.0):
        alone = assign_tatort(xy[kept], layer, gap_m=gap)
        given_rows = assign_tatort(xy[kept], layer, gap_m=gap, rows=every[kept])
        assert given_rows.tolist() == alone.tolist()
    with pytest.raises(ValueError, match="a tätort row per point"):
        assign_tatort(xy, layer, rows=every[:-1] if len(every) else np.zeros(1, np.int64))


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-5_000, 1_200_000), st.integers(-5_000, 10_500_000)),
        min_size=1,
        max_size=30,
    )
)
def test_square_ids_format_and_parse_like_python(xy):  # type: ignore[no-untyped-def]
    """The arithmetic id formatting equals Python's ``f"{x:06d}{y:07d}"`` (negative and
    oversized coordinates included, which take the exact slow path) and parsing inverts it."""
    from coverage.areas import _square_corners, _square_ids

    x = np.array([a for a, _ in xy], dtype=np.int64)
    y = np.array([b for _, b in xy], dtype=np.int64)
    ids = _square_ids(x, y)
    assert ids.tolist() == [f"{a:06d}{b:07d}" for a, b in xy]
    ok = (x >= 0) & (x <= 999_999) & (y >= 0) & (y <= 9_999_999)
    if ok.all():
        cx, cy = _square_corners(ids)
        assert cx.tolist() == x.astype(float).tolist() and cy.tolist() == y.astype(float).tolist()


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-3_000, 1_003_000), st.just(500_000)),
            st.one_of(st.integers(-3_000, 10_003_000), st.just(6_500_000)),
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([1, 250, 1000]),
    st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_grid_cells_equal_ids_formatted_and_factorised_point_by_point(xy, size, keep):  # type: ignore[no-untyped-def]
    """:func:`grid_cells` (squares found by number, each id formatted once) gives every point
    the id Python formats for it, and the kept points' ids factorised and their squares as
    ``pd.Categorical`` and :func:`grid_squares` make them from the text (off-grid corners,
    whose ids may coincide, included)."""
    from coverage.areas import grid_cells

    pts = np.array(xy, dtype=float) + 0.5
    cells = grid_cells(pts, size)
    corner = np.floor(pts / size).astype(np.int64) * size
    expected = [f"{a:06d}{b:07d}" for a, b in corner.tolist()]
    assert pd.Series(cells.text()).tolist() == expected
    mask = np.array(keep[: len(xy)])
    if not mask.any():
        return
    kept = cells.subset(mask)
    text = pd.Series(kept.text())
    assert text.tolist() == [e for e, k in zip(expected, mask, strict=True) if k]
    old = pd.Categorical(text.astype(TEXT_DTYPE))
    new = kept.categorical()
    assert new.codes.tolist() == old.codes.tolist()
    assert new.categories.equals(old.categories) and new.categories.dtype == old.categories.dtype
    on_grid = (corner[mask] >= 0).all() and (corner[mask, 0] <= 999_999).all()
    if on_grid and (corner[mask, 1] <= 9_999_999).all():  # the text parses back to corners
        assert_geodataframe_equal(kept.squares(), grid_squares(text, size))


def _polygon_code(xy, polys, snap_m):  # type: ignore[no-untyped-def]
    """The kommun id per point by :func:`coverage.areas._polygon_rows` ('' for none)."""
    from coverage.areas import _polygon_rows

    rows = _polygon_rows(xy, polys, snap_m)
    ids = np.append(polys["area_id"].to_numpy(dtype=object), "")
    return ids[rows]  # row -1 is the appended ''


def _polygon_code_reference(points, polys, snap_m):  # type: ignore[no-untyped-def]
    """Every point tested against every polygon (GEOS within, then nearest within snap_m,
    lowest id on ties): what the square-first shortcut must reproduce. Ties are distances
    equal to the nanometre, the engines' order: GEOS measures one distance two ways one ulp
    apart (119 m from a 3 km edge, 119 m exactly from a 1 km edge on the same line)."""
    pts, geoms = points.to_numpy(), polys.geometry.to_numpy()
    ids = polys["area_id"].to_numpy(dtype=object)
    out = []
    for p in pts:
        inside = sorted(i for i, g in zip(ids, geoms, strict=True) if shapely.within(p, g))
        if inside:
            out.append(inside[0])
            continue
        near = sorted(
            (round(float(shapely.distance(p, g)), 9), i)
            for i, g in zip(ids, geoms, strict=True)
            if shapely.distance(p, g) <= snap_m
        )
        out.append(near[0][1] if near else "")
    return np.array(out, dtype=object)


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 4), st.integers(1, 4)),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.tuples(st.integers(-400, 6400), st.integers(-400, 6400)), max_size=60),
)
@example(rects=[(0, 0, 3, 1), (0, 0, 1, 1)], xy=[(1, -119)])  # a tie GEOS breaks by an ulp
def test_polygon_code_equals_testing_every_point(rects, xy):  # type: ignore[no-untyped-def]
    """Kommun-like polygons on a 1 km lattice (shared borders, overlaps, gaps) and points on
    and off the borders and square edges: the square-first assignment equals brute force."""

    polys = gpd.GeoDataFrame(
        {"area_id": [f"{i:04d}" for i in range(len(rects))]},
        geometry=[
            shapely.box(x * 1000, y * 1000, (x + w) * 1000, (y + h) * 1000) for x, y, w, h in rects
        ],
        crs="EPSG:3006",
    )
    # Points snapped to 500 m now and then, so borders and square edges are hit exactly.
    pts = gpd.GeoSeries(
        shapely.points([(x - x % 500 if x % 7 == 0 else x, y) for x, y in xy] or np.empty((0, 2))),
        crs="EPSG:3006",
    )
    got = _polygon_code(point_xy(pts), polys, 300.0)
    assert got.tolist() == _polygon_code_reference(pts, polys, 300.0).tolist()


def test_polygon_code_snaps_a_tie_to_the_lowest_id() -> None:
    """119 m below two boxes sharing their bottom edge's start: equally near to the
    nanometre (GEOS gives 119.00000000000001 m for the 3 km edge), so the lowest id wins,
    whichever box is listed first."""

    pts = gpd.GeoSeries([shapely.Point(1, -119), shapely.Point(1, -301)], crs="EPSG:3006")
    for ids in (["0000", "0001"], ["0001", "0000"]):
        polys = gpd.GeoDataFrame(
            {"area_id": ids},
            geometry=[shapely.box(0, 0, 3000, 1000), shapely.box(0, 0, 1000, 1000)],
            crs="EPSG:3006",
        )
        assert _polygon_code(point_xy(pts), polys, 300.0).tolist() == ["0000", ""]


@hsettings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(-5, 5), max_size=40),  # negative: numpy's argsort
        st.lists(st.integers(0, 40), max_size=300),  # one radix pass, many repeats
        st.lists(st.integers(0, 2**63 - 1), max_size=60),  # up to five passes
        st.lists(st.sampled_from([0, 1, 2**14 - 1, 2**14, 2**28, 2**62]), max_size=60),
    ),
    st.booleans(),
)
def test_unique_keys_equal_numpy(values: list[int], inverse: bool) -> None:
    from coverage._cells import unique_keys

    keys = np.array(values, dtype=np.int64)
    got_keys, got_inverse = unique_keys(keys, inverse=inverse)
    want_keys, want_inverse = np.unique(keys, return_inverse=True)
    assert got_keys.tolist() == want_keys.tolist()
    want = np.asarray(want_inverse).ravel().tolist() if inverse else []
    assert got_inverse.tolist() == want
    assert keys.tolist() == values  # the caller's keys are left as they were
    # Consumed: the same answer from the caller's own buffer (a read-only one is copied).
    frozen = np.array(values, dtype=np.int64)
    frozen.flags.writeable = False
    for given_keys in (np.array(values, dtype=np.int64), frozen):
        got_keys, got_inverse = unique_keys(given_keys, inverse=inverse, consume=True)
        assert got_keys.tolist() == want_keys.tolist()
        assert got_inverse.tolist() == want
    assert frozen.tolist() == values


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-3e3, 3e3), st.floats(-3e3, 3e3)),
        max_size=60,
    ),
    st.sampled_from([1.0, 7.5, 100.0, 1000.0]),
    st.sampled_from([0.0, 6.5e6]),
)
def test_grid_keys_equal_the_numpy_expression(
    points: list[tuple[float, float]], size: float, north: float
) -> None:
    """Cell keys by the compiled passes equal numpy's floor, offset and combination, and
    the distinct cells (as ``_distinct_cells`` gives them) ``np.unique``'s, points on cell
    borders (multiples of the size) included."""
    from coverage._cells import grid_keys
    from coverage.areas import _distinct_cells

    xy = np.array(points, dtype=np.float64).reshape(-1, 2) + np.array([0.0, north])
    keys, x0, y0, span = grid_keys(xy[:, 0], xy[:, 1], size)
    if len(xy) == 0:
        assert len(keys) == 0
        return
    cx, cy = (np.floor(xy[:, k] / size).astype(np.int64) for k in (0, 1))
    assert (x0, y0, span) == (cx.min(), cy.min(), cy.max() - cy.min() + 1)
    assert keys.tolist() == ((cx - x0) * span + (cy - y0)).tolist()
    cells, inverse = _distinct_cells(xy[:, 0], xy[:, 1], size)
    want, want_inverse = np.unique(np.column_stack([cx, cy]), axis=0, return_inverse=True)
    assert cells.tolist() == want.tolist()
    assert inverse.tolist() == np.asarray(want_inverse).ravel().tolist()


def test_grid_keys_by_hand() -> None:
    """Points on 10 m cells: (-0.5, 0) in column -1, (10, 19.99) in column 1, row 1 (a
    border belongs to the cell above and to the right), (25, -10) in column 2, row -1."""
    from coverage._cells import grid_keys

    x, y = np.array([[-0.5, 0.0], [10.0, 19.99], [25.0, -10.0]]).T
    keys, x0, y0, span = grid_keys(x, y, 10.0)
    assert (x0, y0, span) == (-1, -1, 3)
    assert keys.tolist() == [0 * 3 + 1, 2 * 3 + 2, 3 * 3 + 0]


@hsettings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(-5, 5), max_size=40),  # negative: numpy
        st.lists(st.integers(0, 6), max_size=300),  # one pass, long runs of ties
        st.lists(st.integers(0, 2**63 - 1), max_size=60),
        st.lists(st.floats(0, 1e9).map(lambda f: int(np.float64(f).view(np.int64))), max_size=60),
    )
)
def test_stable_order_is_numpys_stable_argsort(values: list[int]) -> None:
    from coverage._cells import stable_order

    keys = np.array(values, dtype=np.int64)
    assert stable_order(keys).tolist() == np.argsort(keys, kind="stable").tolist()
    assert keys.tolist() == values


def test_bounding_box_pairs_by_hand() -> None:
    """Two boxes' bounding boxes: a point inside one, one on the shared corner of both (borders
    count), one in a square the first box touches but outside its box, one far away."""
    boxes = np.array([shapely.box(0, 0, 1500, 800), shapely.box(1500, 800, 1700, 2500)])
    xy = np.array([[100.0, 100.0], [1500.0, 800.0], [1400.0, 900.0], [9000.0, 9000.0]])
    pi, ai = in_bounding_boxes(xy, boxes)
    assert list(zip(pi.tolist(), ai.tolist(), strict=True)) == [(0, 0), (1, 0), (1, 1)]


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-3000, 3000),
            st.integers(-3000, 3000),
            st.integers(0, 2500),
            st.integers(0, 2500),
        ),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.tuples(st.integers(-4000, 4000), st.integers(-4000, 4000)), max_size=80),
)
def test_bounding_box_pairs_equal_the_tree_query(rects, xy):  # type: ignore[no-untyped-def]
    """The pairs found square by square equal shapely's ``STRtree.query`` of the points, in
    the order (point, polygon); points on box edges and on the 1 km squares' edges included
    (coordinates snapped to 500 m now and then)."""
    geoms = np.array([shapely.box(x, y, x + w, y + h) for x, y, w, h in rects])
    pts = np.array([(x - x % 500 if x % 3 == 0 else x, y) for x, y in xy] or np.empty((0, 2)))
    pts = pts.astype(float)
    qi, qa = shapely.STRtree(geoms).query(shapely.points(pts))
    order = np.lexsort((qa, qi))
    pi, ai = in_bounding_boxes(pts, geoms)
    assert pi.tolist() == qi[order].tolist() and ai.tolist() == qa[order].tolist()


@hsettings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(2e5, 9e5), st.floats(6.1e6, 7.7e6), st.floats(-500, 500), st.floats(-500, 500)
        ),
        min_size=1,
        max_size=50,
    )
)
def test_point_distance_equals_geos(rows):  # type: ignore[no-untyped-def]
    """Distances between points equal GEOS's to the last bit (ties between tätort centres are
    decided on them)."""
    a = np.array([(x, y) for x, y, _, _ in rows])
    b = a + np.array([(dx, dy) for _, _, dx, dy in rows])
    want = shapely.distance(shapely.points(a), shapely.points(b))
    assert point_distance(a, b).tolist() == want.tolist()


def test_points_and_their_coordinates_give_the_same_areas() -> None:
    """Every area function answers alike for a GeoSeries of points and for its coordinates
    (the pipeline's form); the GeoSeries keeps its index."""
    kommuner = read_kommuner()
    tat = read_tatorter()
    addr = make_addresses([(480000 + 900 * i, 6700000 + 1100 * i) for i in range(40)])
    pts = addr.geometry.set_axis(range(100, 140))
    xy = point_xy(pts)
    given = pd.Series([""] * 40, index=pts.index)
    by_points = assign_kommun(pts, given, kommuner)
    assert by_points.index.tolist() == list(range(100, 140))
    assert by_points.tolist() == assign_kommun(xy, given, kommuner).tolist()
    for gap in (None, 200.0):
        with_index = assign_tatort(pts, tat, gap_m=gap)
        assert with_index.index.tolist() == list(range(100, 140))
        assert with_index.tolist() == assign_tatort(xy, tat, gap_m=gap).tolist()
    assert grid_id(pts, 250).tolist() == grid_id(xy, 250).tolist()
    layer = ReadResult(frame=kommuner.areas, rejected=[], info={})
    pd.testing.assert_frame_equal(
        custom_membership(pts, layer, "k:"), custom_membership(xy, layer, "k:")
    )


def test_geos_douglas_peucker_returns_valid_polygons() -> None:
    """tatort_extent simplifies with GEOS's Douglas-Peucker and checks nothing after it:
    GEOS repairs a polygon its DP makes self-intersecting. Plain DP of this ring at 3.9
    keeps vertices 0, 1, 5, 6, 7, 8 and 9 (by hand), a ring crossing itself; GEOS's result
    is valid."""
    ring = [(2.4, 1.5), (4.1, 8.5), (-1.5, 1.1), (-0.9, 0.5), (-1.4, -3.6)]
    ring += [(-0.1, -9.9), (0.2, -3.4), (3.7, -7.6), (1.3, -2.2), (5.4, -3.3)]
    assert not shapely.Polygon([ring[i] for i in (0, 1, 5, 6, 7, 8, 9)]).is_valid
    simplified = shapely.simplify(shapely.Polygon(ring), 3.9, preserve_topology=False)
    assert simplified.is_valid and not simplified.is_empty


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 6.28), st.floats(1, 10)), min_size=4, max_size=40),
    st.floats(0.1, 5),
)
def test_geos_douglas_peucker_is_valid_on_random_rings(polar, tolerance):  # type: ignore[no-untyped-def]
    ring = [(r * np.cos(a), r * np.sin(a)) for a, r in sorted(polar)]
    polygon = shapely.Polygon(ring)
    assume(polygon.is_valid and polygon.area > 0)
    assert shapely.simplify(polygon, tolerance, preserve_topology=False).is_valid


def test_united_by_hand() -> None:
    """A circle round (0, 0) of radius 1.5 and three 1 m cells: (1, 0) meets it, (5, 5) and
    (6, 6) (touching each other at a corner) do not. Only the first goes through the
    overlay; the others are added as they are."""
    from coverage._cells import cell_outlines
    from coverage.areas import united

    cells = cell_outlines(np.array([1, 5, 6]), np.array([0, 5, 6]), np.array([0, 3]), 1.0)[0]
    circle = shapely.Point(0, 0).buffer(1.5)
    got = united(circle, cells)
    assert got.is_valid and shapely.equals(got, shapely.union(circle, cells))
    parts = shapely.get_parts(got)
    assert len(parts) == 3
    boxes = [shapely.box(5, 5, 6, 6), shapely.box(6, 6, 7, 7)]
    assert sum(any(shapely.equals(p, b) for p in parts) for b in boxes) == 2
    # every cell meeting the area: GEOS's union itself
    near = cell_outlines(np.array([0, 1]), np.array([0, 0]), np.array([0, 2]), 1.0)[0]
    assert shapely.equals_exact(united(circle, near), shapely.union(circle, near), 0)


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=1, max_size=30),
    st.floats(-4, 4),
    st.floats(-4, 4),
    st.floats(0.5, 4),
)
def test_united_is_geos_union(
    cells: list[tuple[int, int]], cx: float, cy: float, radius: float
) -> None:
    """Random cells (polygons meeting at corners, holes) and a circle: the same point set as
    GEOS's union, valid. Douglas-Peucker keeps each ring's first vertex, and a ring may start
    elsewhere than in GEOS's overlay: after it, both outlines are valid and within the
    tolerance of the union (all 2,009 national tätorter came out the same point set)."""
    from coverage._cells import cell_outlines
    from coverage.areas import united

    x, y = np.array(sorted(set(cells)), dtype=np.int64).T.reshape(2, -1)
    union_of_cells = cell_outlines(x, y, np.array([0, len(x)]), 1.0)[0]
    circle = shapely.Point(cx, cy).buffer(radius)
    got, want = united(circle, union_of_cells), shapely.union(circle, union_of_cells)
    assert got.is_valid and shapely.equals(got, want)
    for outline in (got, want):
        simplified = shapely.simplify(outline, 0.25, preserve_topology=False)
        off = shapely.area(shapely.symmetric_difference(simplified, want))
        assert simplified.is_valid and off <= 0.25 * shapely.length(want) + 1e-9
