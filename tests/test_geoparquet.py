"""The run writer's GeoParquet files are byte for byte what geopandas writes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage._points import without_points
from coverage.runs import _point_wkb, write_geoparquet, write_point_table


def _frame(geoms: list[object], crs: str | None = "EPSG:3006") -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame(
        {
            "address_id": [f"A{i}" for i in range(n)],
            "households": np.arange(n, dtype=np.int64),
            "reason": pd.Series(["too_far", ""] * (n // 2) + ["x"] * (n % 2), dtype=str),
            "pass_year": pd.array([2027, None] * (n // 2) + [None] * (n % 2), dtype="Int64"),
        },
        geometry=geoms,
        crs=crs,
    )


def _same_file(frame: gpd.GeoDataFrame, tmp_path: Path) -> None:
    frame.to_parquet(tmp_path / "geopandas.parquet", index=False)
    write_geoparquet(frame, tmp_path / "bbplan.parquet")
    assert (tmp_path / "bbplan.parquet").read_bytes() == (
        tmp_path / "geopandas.parquet"
    ).read_bytes()


def _same_file_from_coordinates(frame: gpd.GeoDataFrame, tmp_path: Path) -> None:
    """The pipeline's form (coordinates, no points) is written as the frame of points."""
    frame.to_parquet(tmp_path / "geopandas.parquet", index=False)
    write_point_table(without_points(frame), frame.crs, tmp_path / "table.parquet")
    assert (tmp_path / "table.parquet").read_bytes() == (
        tmp_path / "geopandas.parquet"
    ).read_bytes()


def test_points_by_hand(tmp_path: Path) -> None:
    pts = [shapely.Point(500_000.25, 6_700_000.5), shapely.Point(-1.5, 2e-300)]
    _same_file(_frame(pts), tmp_path)
    _same_file(_frame(pts, crs=None), tmp_path)
    _same_file_from_coordinates(_frame(pts), tmp_path)
    _same_file_from_coordinates(_frame(pts, crs="EPSG:4326"), tmp_path)
    _same_file_from_coordinates(_frame([]), tmp_path)
    with_attrs = _frame(pts)
    with_attrs.attrs["note"] = "kept"
    _same_file(with_attrs, tmp_path)
    assert gpd.read_parquet(tmp_path / "bbplan.parquet").geometry.equals(with_attrs.geometry)


@pytest.mark.parametrize(
    "geoms",
    [
        [shapely.LineString([(0, 0), (1, 1)]), shapely.Point(1, 2)],  # not all points
        [shapely.Point(1, 2), shapely.Point()],  # an empty point
        [shapely.Point(1, 2, 3), shapely.Point(1, 2, 4)],  # 3D
        [shapely.Point(1, 2), None],  # a missing geometry
        [],
    ],
)
def test_other_geometries_are_left_to_geopandas(geoms: list[object], tmp_path: Path) -> None:
    _same_file(_frame(geoms), tmp_path)


def test_a_geometry_column_not_last_is_left_to_geopandas(tmp_path: Path) -> None:
    frame = _frame([shapely.Point(1, 2), shapely.Point(3, 4)])
    _same_file(frame[["geometry", "address_id", "households"]], tmp_path)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False, width=64),
            st.floats(allow_nan=False, allow_infinity=False, width=64),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_point_wkb_equals_geos(xy: list[tuple[float, float]]) -> None:
    geoms = shapely.points(np.asarray(xy))
    got = _point_wkb(np.asarray(xy, dtype=float))
    assert got.to_pylist() == list(shapely.to_wkb(geoms, flavor="iso"))


def test_lines_and_polygons_by_hand(tmp_path: Path) -> None:
    """Points, line strings and polygons without holes get their WKB from coverage._wkb;
    the file is geopandas' to the byte, with or without a CRS, geometry column anywhere."""
    from coverage._wkb import simple_wkb

    geoms = [
        shapely.LineString([(0, 0), (1.5, 2.25), (3, -1)]),
        shapely.box(500_000, 6_700_000, 500_250, 6_700_250),
        shapely.Point(-1.5, 2e-300),
        shapely.Polygon([(0, 0), (4, 0), (0, 3)]),
    ]
    assert simple_wkb(np.array(geoms, dtype=object)) is not None
    _same_file(_frame(geoms), tmp_path)
    _same_file(_frame(geoms, crs=None), tmp_path)
    _same_file(_frame(geoms)[["geometry", "address_id", "reason"]], tmp_path)
    # 13 bytes of header and 4 points of 16 bytes for the triangle, by hand
    wkb = simple_wkb(np.array(geoms[3:], dtype=object)).to_pylist()[0]
    assert wkb[:13] == bytes([1, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0]) and len(wkb) == 13 + 64


@pytest.mark.parametrize(
    "geoms",
    [
        [shapely.box(0, 0, 4, 4).difference(shapely.box(1, 1, 2, 2)), shapely.Point(1, 2)],
        [shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])],
        [shapely.LineString([(0, 0, 1), (1, 1, 2)])],
        [shapely.box(0, 0, 1, 1), shapely.Polygon()],
    ],
    ids=["hole", "multipolygon", "3d line", "empty polygon"],
)
def test_other_shapes_are_left_to_geos(geoms: list[object], tmp_path: Path) -> None:
    from coverage._wkb import simple_wkb

    assert simple_wkb(np.array(geoms, dtype=object)) is None
    _same_file(_frame(geoms), tmp_path)


_coordinate = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["point", "line", "polygon"]),
            st.lists(st.tuples(_coordinate, _coordinate), min_size=3, max_size=8),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_simple_wkb_equals_geos(shapes: list[tuple[str, list[tuple[float, float]]]]) -> None:
    from coverage._wkb import simple_wkb

    geoms = []
    for kind, xy in shapes:
        if kind == "point":
            geoms.append(shapely.Point(xy[0]))
        elif kind == "line":
            geoms.append(shapely.LineString(xy))
        else:
            geoms.append(shapely.Polygon(xy))  # closed by shapely; validity does not matter
    arr = np.array(geoms, dtype=object)
    assert simple_wkb(arr).to_pylist() == list(shapely.to_wkb(arr, flavor="iso"))
