"""map.html's layers: the GeoJSON given to folium is what folium makes of a GeoDataFrame."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from coverage.sharemap import feature_collection


def _folium_way(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """What folium's ``GeoJson.process_data`` does with a GeoDataFrame."""
    made: dict[str, Any] = json.loads(json.dumps(frame.to_crs("EPSG:4326").__geo_interface__))
    return made


def test_every_kind_of_geometry_and_value_as_folium_makes_it() -> None:
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    holed = Polygon([(0, 0), (9, 0), (9, 9), (0, 9)], [[(3, 3), (6, 3), (6, 6), (3, 6)]])
    shapes = [
        square,
        MultiPolygon([square, shapely.affinity.translate(holed, 20, 20)]),
        LineString([(0, 0), (5, 5), (7, 1)]),
        Point(3, 4),
        None,
        Polygon(),
    ]
    # In SWEREF 99 TM: reprojected to EPSG:4326 as folium does.
    geoms = [None if g is None else shapely.affinity.translate(g, 5e5, 6.5e6) for g in shapes]
    frame = gpd.GeoDataFrame(
        {
            "name": ["a", None, "c", "d", "e", "f"],
            "share": [0.25, np.nan, 1.0, None, 1 / 3, 0.5],
            "households": [1, 2, 3, 4, 5, 6],
            "in_service": [True, False, True, True, False, True],
            "year": pd.array([2026, None, 2027, 2028, None, 2030], dtype="Int64"),
        },
        geometry=geoms,
        crs="EPSG:3006",
        index=[10, 3, 7, 0, 1, 2],
    )
    got = feature_collection(frame)
    assert got == _folium_way(frame)
    # Hand-checked parts: ids from the index, nulls for missing values and geometries.
    assert [f["id"] for f in got["features"]] == ["10", "3", "7", "0", "1", "2"]
    assert got["features"][1]["properties"] == {
        "name": None,
        "share": None,
        "households": 2,
        "in_service": False,
        "year": None,
    }
    assert got["features"][4]["geometry"] is None and got["features"][5]["geometry"] is None
    assert got["features"][4]["bbox"] is None
    assert got["features"][3]["geometry"]["type"] == "Point"


coordinate = st.floats(-1e7, 1e7, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=6), st.booleans()
        ),
        min_size=1,
        max_size=8,
    )
)
def test_random_coordinates_keep_every_digit(
    shapes: list[tuple[list[tuple[float, float]], bool]],
) -> None:
    """GEOS writes coordinates with the shortest digits that read back exactly, as Python."""
    geoms = [LineString(points) if line else Point(points[0]) for points, line in shapes]
    frame = gpd.GeoDataFrame({"k": range(len(geoms))}, geometry=geoms, crs="EPSG:4326")
    assert feature_collection(frame) == _folium_way(frame)
