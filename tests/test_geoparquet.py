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
