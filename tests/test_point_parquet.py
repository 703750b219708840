"""Address points read from GeoParquet as coordinates (coverage.io._read_point_parquet).

The coordinate reader must give exactly what reading the points with geopandas and taking
their coordinates gives (rows, columns, values, problems, file information), and must leave
every file it does not fully understand to the general reader.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from coverage._points import XY_COLUMNS, without_points
from coverage.cli import DEFAULT_ADDRESSES
from coverage.io import ReadResult, _read_point_parquet, _wkb_points, read_addresses

X0, Y0 = 515_000.0, 6_665_000.0


def _addresses(n: int = 4, crs: str = "EPSG:3006") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "Adress_ID": [f"A{i}" for i in range(n)],
            "hushall": [i % 3 for i in range(n)],
            "workplaces": [1] * n,
            "kommun_code": ["2061"] * n,
            "extra": ["x"] * n,
        },
        geometry=[shapely.Point(X0 + 10.25 * i, Y0 - 3.5 * i) for i in range(n)],
        crs=crs,
    )


def _both(path: Path) -> tuple[ReadResult, ReadResult]:
    return read_addresses(path, coordinates=True), read_addresses(path)


def _assert_same(path: Path) -> None:
    """Coordinates read directly equal the coordinates of the points read by geopandas."""
    fast, slow = _both(path)
    assert_frame_equal(fast.frame, without_points(slow.frame))
    assert fast.rejected == slow.rejected
    assert fast.info == slow.info


def test_wkb_points_by_hand() -> None:
    le = struct.pack("<BIdd", 1, 1, 1.5, -2.0)
    assert _wkb_points(pa.array([le, le], pa.binary())).tolist() == [[1.5, -2.0], [1.5, -2.0]]
    assert _wkb_points(pa.array([le], pa.large_binary())).tolist() == [[1.5, -2.0]]
    assert _wkb_points(pa.chunked_array([[le], [le]], pa.binary())).shape == (2, 2)
    assert _wkb_points(pa.array([], pa.binary())).shape == (0, 2)
    big_endian = struct.pack(">BIdd", 0, 1, 1.5, -2.0)
    point_z = shapely.to_wkb(shapely.Point(1, 2, 3))
    empty = shapely.to_wkb(shapely.Point())  # NaN, NaN: 21 bytes like any point
    line = shapely.to_wkb(shapely.LineString([(0, 0), (1, 1)]))
    infinite = struct.pack("<BIdd", 1, 1, np.inf, 0.0)
    for odd in (big_endian, point_z, empty, line, infinite):
        assert _wkb_points(pa.array([le, odd], pa.binary())) is None
    assert _wkb_points(pa.array([le, None], pa.binary())) is None
    assert _wkb_points(pa.array([1, 2])) is None  # not binary at all


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 3),
)
def test_wkb_points_are_what_geos_parses(coords: list[tuple[float, float]], cut: int) -> None:
    """Bit for bit (signed zeros, subnormals, extremes), from a chunked column and a slice."""
    wkb = shapely.to_wkb(shapely.points(np.array(coords)))
    expected = shapely.get_coordinates(shapely.from_wkb(wkb)).view(np.int64)
    chunks = [pa.array(wkb[:cut], pa.binary()), pa.array(wkb[cut:], pa.binary())]
    whole = _wkb_points(pa.chunked_array(chunks))
    assert whole is not None and whole.view(np.int64).tolist() == expected.tolist()
    sliced = _wkb_points(pa.array(wkb, pa.binary()).slice(1))
    assert sliced is not None and sliced.view(np.int64).tolist() == expected[1:].tolist()


def test_coordinates_read_as_geopandas_reads_points(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    _addresses().to_parquet(path)
    frame = _read_point_parquet(path)
    assert frame is not None  # the coordinate reader took the file
    assert frame[list(XY_COLUMNS)].to_numpy().tolist() == [
        [X0 + 10.25 * i, Y0 - 3.5 * i] for i in range(4)
    ]
    _assert_same(path)
    result = read_addresses(path, coordinates=True)
    assert "geometry" not in result.frame.columns
    assert result.frame["households"].tolist() == [0, 1, 2, 0]
    assert result.info["warnings"][0] == "columns not used: ['extra']"


def test_reprojected_with_a_covering_column(tmp_path: Path) -> None:
    """Lon/lat (GeoParquet 1.1 with a bbox covering column, which is not a data column) are
    reprojected exactly as geopandas' ``to_crs`` does."""
    path = tmp_path / "a.parquet"
    _addresses(5).to_crs(4326).to_parquet(path, write_covering_bbox=True)
    assert "bbox" in pq.read_schema(path).names
    assert _read_point_parquet(path) is not None
    _assert_same(path)


def test_row_problems_are_the_same(tmp_path: Path) -> None:
    """Bad values, a repeated id and a point outside the working CRS's area of use."""
    frame = _addresses(6)
    frame.loc[1, "hushall"] = -4
    frame.loc[3, "Adress_ID"] = "A2"
    frame.loc[4, "geometry"] = shapely.Point(60.1, 15.4)  # lon/lat swapped, as metres
    path = tmp_path / "a.parquet"
    frame.to_parquet(path)
    assert _read_point_parquet(path) is not None
    fast, _ = _both(path)
    assert [(p.row, p.column) for p in fast.rejected] == [
        (3, "address_id"),
        (4, "address_id"),
        (2, "households"),
        (5, "geometry"),
    ]
    _assert_same(path)


@pytest.mark.parametrize(
    "odd",
    [
        (None, [3]),
        (shapely.Point(), [3]),
        (shapely.box(X0, Y0, X0 + 1, Y0 + 1), [3]),
        (shapely.Point(X0, Y0, 3.0), []),  # a usable point, its height dropped
    ],
    ids=["null", "empty", "polygon", "3d"],
)
def test_other_geometries_are_left_to_geopandas(
    tmp_path: Path, odd: tuple[object, list[int]]
) -> None:
    geometry, rejected_rows = odd
    frame = _addresses()
    frame.loc[2, "geometry"] = geometry
    path = tmp_path / "a.parquet"
    frame.to_parquet(path)
    assert _read_point_parquet(path) is None
    fast, _ = _both(path)
    assert [p.row for p in fast.rejected] == rejected_rows
    _assert_same(path)


def test_files_the_coordinate_reader_leaves_alone(tmp_path: Path) -> None:
    """A null CRS (--crs decides), a column named like ours, two geometry columns, no
    GeoParquet metadata: each is read by the general reader, with the same result."""
    base = _addresses()
    null_crs = tmp_path / "null_crs.parquet"
    table = pq.read_table(_write(base, tmp_path / "b.parquet"))
    geo = json.loads(table.schema.metadata[b"geo"])
    geo["columns"]["geometry"]["crs"] = None
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), null_crs)
    assert _read_point_parquet(null_crs) is None
    fast = read_addresses(null_crs, coordinates=True, crs="EPSG:3006")
    slow = read_addresses(null_crs, crs="EPSG:3006")
    assert_frame_equal(fast.frame, without_points(slow.frame))
    ours = _write(base.assign(_x=1.0), tmp_path / "ours.parquet")
    two = _write(base.assign(centre=base.geometry), tmp_path / "two.parquet")
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"address_id": ["P1"], "households": [1], "x": [X0], "y": [Y0]}).to_parquet(plain)
    for path in (ours, two, plain):
        assert _read_point_parquet(path) is None
    for path in (ours, two):
        _assert_same(path)


def test_the_default_addresses(tmp_path: Path) -> None:
    path = _write(gpd.read_file(DEFAULT_ADDRESSES), tmp_path / "default.parquet")
    assert _read_point_parquet(path) is not None
    _assert_same(path)


def _write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_parquet(path)
    return path
