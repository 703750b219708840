"""Tests of the input readers (coverage.io, SPEC §2) on real files written in ``tmp_path``.

Every file is written for the test (GeoPackage, GeoParquet, GeoJSON, Shapefile, CSV, Parquet) in
EPSG:3006 around Smedjebacken (x=515000, y=6665000), or in EPSG:4326 where reprojection is tested.
Assertions name exact rows, ids, columns, values and reason fragments.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from coverage._errors import CRSMissingError, InputFileError, InputNotFoundError
from coverage._validate import Problem
from coverage.io import (
    ADDRESS_COLUMNS,
    AREA_COLUMNS,
    MAX_UNITS_PER_ADDRESS,
    NETWORK_COLUMNS,
    ReadResult,
    read_addresses,
    read_areas,
    read_network,
)

X0, Y0 = 515_000.0, 6_665_000.0
SWEREF = "EPSG:3006"
OFDS_SPANS = Path(__file__).parent / "data" / "ofds" / "spans.geojson"
TO_SWEREF = Transformer.from_crs("EPSG:4326", SWEREF, always_xy=True)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def addresses_gdf(crs: str = SWEREF) -> gpd.GeoDataFrame:
    """Three addresses with every canonical column, in EPSG:3006."""
    frame = gpd.GeoDataFrame(
        {
            "address_id": ["A1", "A2", "A3"],
            "households": [2, 0, 12],
            "workplaces": [0, 3, 1],
            "holiday_homes": [0, 1, 0],
            "public_site": ["", "skola", ""],
            "connected": [True, False, False],
            "address": ["Storgatan 1", "Skolvägen 2", "Torget 3"],
            "postcode": ["777 30", "777 31", "777 30"],
            "kommun_code": ["2061", "2061", "2061"],
        },
        geometry=[Point(X0, Y0), Point(X0 + 100, Y0 + 50), Point(X0 - 250.5, Y0 + 1000.25)],
        crs=SWEREF,
    )
    return frame.to_crs(crs)


EXPECTED_RECORDS = [
    {
        "address_id": "A1",
        "households": 2,
        "workplaces": 0,
        "holiday_homes": 0,
        "public_site": "",
        "connected": True,
        "address": "Storgatan 1",
        "postcode": "777 30",
        "kommun_code": "2061",
    },
    {
        "address_id": "A2",
        "households": 0,
        "workplaces": 3,
        "holiday_homes": 1,
        "public_site": "skola",
        "connected": False,
        "address": "Skolvägen 2",
        "postcode": "777 31",
        "kommun_code": "2061",
    },
    {
        "address_id": "A3",
        "households": 12,
        "workplaces": 1,
        "holiday_homes": 0,
        "public_site": "",
        "connected": False,
        "address": "Torget 3",
        "postcode": "777 30",
        "kommun_code": "2061",
    },
]
EXPECTED_XY = [(X0, Y0), (X0 + 100, Y0 + 50), (X0 - 250.5, Y0 + 1000.25)]

#: CSV text of the same three addresses (x/y in EPSG:3006).
CSV_XY = (
    "address_id,households,workplaces,holiday_homes,public_site,connected,address,postcode,"
    "kommun_code,x,y\n"
    "A1,2,0,0,,true,Storgatan 1,777 30,2061,515000,6665000\n"
    "A2,0,3,1,skola,false,Skolvägen 2,777 31,2061,515100,6665050\n"
    "A3,12,1,0,,0,Torget 3,777 30,2061,514749.5,6666000.25\n"
)


def records(result: ReadResult) -> list[dict[str, Any]]:
    # ``_row`` (the source row) is checked where row numbers matter; here the values are.
    return result.frame.drop(columns=["geometry", "_row"]).to_dict("records")


def xy(result: ReadResult) -> list[tuple[float, float]]:
    return [(g.x, g.y) for g in result.frame.geometry]


def assert_xy(result: ReadResult, expected: list[tuple[float, float]], tol: float = 1e-6) -> None:
    got = xy(result)
    assert len(got) == len(expected)
    for (gx, gy), (ex, ey) in zip(got, expected, strict=True):
        assert gx == pytest.approx(ex, abs=tol)
        assert gy == pytest.approx(ey, abs=tol)


def where(result: ReadResult) -> list[tuple[int | None, str | None, str | None, Any]]:
    """(row, id, column, value) of every rejected problem, in report order."""
    return [(p.row, p.row_id, p.column, p.value) for p in result.rejected]


def assert_standard_addresses(result: ReadResult, fmt: str, source_crs: str = SWEREF) -> None:
    assert list(result.frame.columns) == [*ADDRESS_COLUMNS, "_row"]
    assert result.frame["_row"].tolist() == [1, 2, 3]
    assert records(result) == EXPECTED_RECORDS
    assert result.frame.crs.to_epsg() == 3006
    assert result.rejected == []
    assert result.info["rows_read"] == 3
    assert result.info["rows_used"] == 3
    assert result.info["rows_rejected"] == 0
    assert result.info["format"] == fmt
    assert result.info["source_crs"] == source_crs
    assert result.frame["households"].dtype == np.int64


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------


def test_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "adresser.gpkg"
    addresses_gdf().to_file(path, layer="adresser", driver="GPKG")
    result = read_addresses(path)
    assert_standard_addresses(result, "gpkg")
    assert_xy(result, EXPECTED_XY)


def test_geopackage_integer_kommun_code_is_padded(tmp_path: Path) -> None:
    frame = addresses_gdf()
    frame["kommun_code"] = [180, 2061, 180]
    path = tmp_path / "a.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_addresses(path)
    assert result.frame["kommun_code"].tolist() == ["0180", "2061", "0180"]


def test_geoparquet(tmp_path: Path) -> None:
    path = tmp_path / "adresser.parquet"
    addresses_gdf().to_parquet(path)
    result = read_addresses(path)
    assert_standard_addresses(result, "parquet")
    assert_xy(result, EXPECTED_XY)


def test_geojson_in_wgs84_is_reprojected(tmp_path: Path) -> None:
    lonlat = [(15.4123456, 60.1234567), (15.42, 60.13), (15.3999, 60.1101)]
    features = [
        {
            "type": "Feature",
            "properties": {"address_id": f"G{i}", "households": i + 1},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for i, (lon, lat) in enumerate(lonlat)
    ]
    path = write(
        tmp_path / "a.geojson", json.dumps({"type": "FeatureCollection", "features": features})
    )
    result = read_addresses(path)  # no --crs: GeoJSON is EPSG:4326
    assert result.rejected == []
    assert result.frame["address_id"].tolist() == ["G0", "G1", "G2"]
    assert result.frame["households"].tolist() == [1, 2, 3]
    assert result.frame.crs.to_epsg() == 3006
    assert result.info["source_crs"] == "EPSG:4326"
    expected = [TO_SWEREF.transform(lon, lat) for lon, lat in lonlat]
    assert_xy(result, expected, tol=1e-3)
    # sanity: the points are around Smedjebacken, in metres
    assert all(500_000 < x < 530_000 and 6_660_000 < y < 6_680_000 for x, y in xy(result))


def test_shapefile(tmp_path: Path) -> None:
    # Shapefile field names are cut to 10 characters: use the columns that fit.
    frame = addresses_gdf()[
        ["address_id", "households", "workplaces", "connected", "address", "postcode", "geometry"]
    ]
    path = tmp_path / "adresser.shp"
    frame.to_file(path)
    result = read_addresses(path)
    assert result.rejected == []
    assert result.info["source_crs"] == SWEREF
    got = result.frame[["address_id", "households", "workplaces", "connected", "postcode"]]
    assert got.to_dict("records") == [
        {k: r[k] for k in ("address_id", "households", "workplaces", "connected", "postcode")}
        for r in EXPECTED_RECORDS
    ]
    assert result.frame["holiday_homes"].tolist() == [0, 0, 0]
    assert "no 'holiday_homes' column: counted as 0" in result.info["warnings"]
    assert_xy(result, EXPECTED_XY)


def test_shapefile_without_prj_needs_crs(tmp_path: Path) -> None:
    path = tmp_path / "adresser.shp"
    addresses_gdf()[["address_id", "households", "geometry"]].to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSMissingError, match="--crs"):
        read_addresses(path)
    result = read_addresses(path, crs=SWEREF)
    assert result.frame["address_id"].tolist() == ["A1", "A2", "A3"]
    assert result.info["source_crs"] == SWEREF
    assert_xy(result, EXPECTED_XY)


def test_geopackage_layers(tmp_path: Path) -> None:
    path = tmp_path / "projekt.gpkg"
    addresses_gdf().to_file(path, layer="adresser", driver="GPKG")
    addresses_gdf().iloc[:1].to_file(path, layer="annat", driver="GPKG")
    assert read_addresses(path).info["rows_read"] == 3  # the preferred layer name is picked
    assert read_addresses(path, layer="annat").frame["address_id"].tolist() == ["A1"]
    other = tmp_path / "two.gpkg"
    addresses_gdf().to_file(other, layer="lager1", driver="GPKG")
    addresses_gdf().to_file(other, layer="lager2", driver="GPKG")
    with pytest.raises(InputFileError) as info:
        read_addresses(other)
    (problem,) = info.value.problems
    assert problem.expected == (
        "one layer or a layer name given with --layer; the file has ['lager1', 'lager2']"
    )


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_shapefile_truncated_canonical_names_are_recognised(tmp_path: Path) -> None:
    path = tmp_path / "adresser.shp"
    addresses_gdf().to_file(path)
    result = read_addresses(path)
    assert result.frame["holiday_homes"].tolist() == [0, 1, 0]
    assert result.frame["public_site"].tolist() == ["", "skola", ""]
    assert result.frame["kommun_code"].tolist() == ["2061", "2061", "2061"]


def test_csv_xy_with_crs(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", CSV_XY)
    result = read_addresses(path, crs=SWEREF)
    assert_standard_addresses(result, "csv")
    assert_xy(result, EXPECTED_XY)


def test_csv_xy_in_other_crs_is_reprojected(tmp_path: Path) -> None:
    # SWEREF 99 15 00 (EPSG:3011) coordinates of the same places
    to_3011 = Transformer.from_crs(SWEREF, "EPSG:3011", always_xy=True)
    pts = [to_3011.transform(x, y) for x, y in EXPECTED_XY]
    lines = [f"A{i + 1},1,{x!r},{y!r}" for i, (x, y) in enumerate(pts)]
    path = write(tmp_path / "a.csv", "address_id,households,x,y\n" + "\n".join(lines) + "\n")
    result = read_addresses(path, crs="EPSG:3011")
    assert result.info["source_crs"] == "EPSG:3011"
    assert_xy(result, EXPECTED_XY, tol=1e-3)


def test_csv_lon_lat(tmp_path: Path) -> None:
    lonlat = [(15.41, 60.12), (15.43, 60.14)]
    path = write(
        tmp_path / "a.csv",
        "address_id,households,lon,lat\nL1,1,15.41,60.12\nL2,4,15.43,60.14\n",
    )
    result = read_addresses(path)  # lon/lat implies EPSG:4326
    assert result.rejected == []
    assert result.frame["address_id"].tolist() == ["L1", "L2"]
    assert result.frame["households"].tolist() == [1, 4]
    assert result.info["source_crs"] == "EPSG:4326"
    assert_xy(result, [TO_SWEREF.transform(lon, lat) for lon, lat in lonlat], tol=1e-3)


def test_csv_wkt_with_crs(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        'address_id,households,wkt\nW1,3,"POINT (515000 6665000)"\nW2,0,POINT (515100.5 6665050)\n',
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    assert result.frame["address_id"].tolist() == ["W1", "W2"]
    assert result.frame["households"].tolist() == [3, 0]
    assert_xy(result, [(X0, Y0), (X0 + 100.5, Y0 + 50)])


def test_csv_semicolon_with_decimal_commas(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id;households;workplaces;x;y\nS1;2;0;515000,5;6665000,25\nS2;1;7;515100;6665050\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    assert result.frame[["address_id", "households", "workplaces"]].to_dict("records") == [
        {"address_id": "S1", "households": 2, "workplaces": 0},
        {"address_id": "S2", "households": 1, "workplaces": 7},
    ]
    assert_xy(result, [(X0 + 0.5, Y0 + 0.25), (X0 + 100, Y0 + 50)])


def test_plain_parquet_with_xy_columns(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "address_id": ["P1", "P2"],
            "households": [5, 0],
            "workplaces": [0, 2],
            "x": [515000.0, 515100.0],
            "y": [6665000.0, 6665050.0],
        }
    )
    path = tmp_path / "plain.parquet"
    table.to_parquet(path)
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    assert result.frame[["address_id", "households", "workplaces"]].to_dict("records") == [
        {"address_id": "P1", "households": 5, "workplaces": 0},
        {"address_id": "P2", "households": 0, "workplaces": 2},
    ]
    assert_xy(result, [(X0, Y0), (X0 + 100, Y0 + 50)])


def test_plain_parquet_without_crs_needs_crs(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"address_id": ["P1"], "households": [1], "x": [X0], "y": [Y0]}).to_parquet(path)
    with pytest.raises(CRSMissingError, match="--crs"):
        read_addresses(path)


# --------------------------------------------------------------------------------------------
# column names
# --------------------------------------------------------------------------------------------


def test_case_insensitive_swedish_aliases(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "ID;Hushall;ARBETSSTALLEN;Fritidshus;Offentlig_Verksamhet;Ansluten;Adress;Postnr;"
        "kommunkod;X;Y\n"
        "k1;3;1;2;Skola;ja;Storgatan 1;77730;180;515000;6665000\n"
        "k2;0;0;1;;nej;Byn 2;77790;2061;515100;6665050\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    assert records(result) == [
        {
            "address_id": "k1",
            "households": 3,
            "workplaces": 1,
            "holiday_homes": 2,
            "public_site": "skola",
            "connected": True,
            "address": "Storgatan 1",
            "postcode": "77730",
            "kommun_code": "0180",
        },
        {
            "address_id": "k2",
            "households": 0,
            "workplaces": 0,
            "holiday_homes": 1,
            "public_site": "",
            "connected": False,
            "address": "Byn 2",
            "postcode": "77790",
            "kommun_code": "2061",
        },
    ]


def test_unicode_swedish_aliases_and_spaces_in_header(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        " Adress_ID ,Hushåll,Arbetsställen,KOMMUN,x,y\nu1,1,2,0180,515000,6665000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    rec = records(result)[0]
    assert (rec["address_id"], rec["households"], rec["workplaces"], rec["kommun_code"]) == (
        "u1",
        1,
        2,
        "0180",
    )


def test_id_alias_and_address_column_together(tmp_path: Path) -> None:
    # ``address`` is an alias of address_id, but a real ``address`` column keeps its meaning.
    path = write(tmp_path / "a.csv", "Address,Id,households,x,y\nStorgatan 1,i1,1,515000,6665000\n")
    result = read_addresses(path, crs=SWEREF)
    rec = records(result)[0]
    assert (rec["address_id"], rec["address"]) == ("i1", "Storgatan 1")


# --------------------------------------------------------------------------------------------
# CRS
# --------------------------------------------------------------------------------------------


def test_csv_xy_without_crs_raises_crs_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", CSV_XY)
    with pytest.raises(CRSMissingError) as info:
        read_addresses(path)
    assert isinstance(info.value, InputFileError)
    assert "--crs" in str(info.value)
    assert len(info.value.problems) == 1
    assert "'x'/'y'" in info.value.problems[0].expected


def test_csv_wkt_without_crs_raises_crs_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'address_id,households,wkt\nW1,1,"POINT (515000 6665000)"\n')
    with pytest.raises(CRSMissingError, match="--crs"):
        read_addresses(path)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_file_with_crs_needs_no_crs_option(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    addresses_gdf().to_file(path)
    result = read_addresses(path, crs=None)
    assert result.info["source_crs"] == SWEREF
    assert result.frame["address_id"].tolist() == ["A1", "A2", "A3"]
    assert_xy(result, EXPECTED_XY, tol=1e-6)


@pytest.mark.parametrize("bad_crs", ["EPSG:999999", "not-a-crs"])
def test_unknown_crs_option(tmp_path: Path, bad_crs: str) -> None:
    path = write(tmp_path / "a.csv", CSV_XY)
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=bad_crs)
    assert not isinstance(info.value, CRSMissingError)
    (problem,) = info.value.problems
    assert problem.value == bad_crs
    assert "a known CRS for --crs" in problem.expected


def test_crs_missing_reported_with_other_file_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "foo,x,y\n1,515000,6665000\n")
    with pytest.raises(InputFileError) as info:
        read_addresses(path)
    assert len(info.value.problems) == 3


# --------------------------------------------------------------------------------------------
# whole-file problems
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such file") as info:
        read_addresses(tmp_path / "nope.gpkg")
    assert isinstance(info.value, FileNotFoundError)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "adresser"
    folder.mkdir()
    with pytest.raises(InputNotFoundError, match="is a directory"):
        read_addresses(folder)


@pytest.mark.parametrize("suffix", [".csv", ".gpkg", ".geojson", ".parquet", ".shp"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert problem.expected == "a non-empty file (the file has 0 bytes)"


def test_header_only_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "address_id,households,x,y\n")
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert "at least one data row" in problem.expected


def test_blank_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "\n\n")
    with pytest.raises(InputFileError, match="a readable CSV file"):
        read_addresses(path, crs=SWEREF)


@pytest.mark.parametrize("suffix", [".xlsx", ""])
def test_unsupported_suffix(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"adresser{suffix}", CSV_XY)
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert problem.value == (suffix or "(no suffix)")
    assert "GeoPackage, GeoParquet, GeoJSON, Shapefile" in problem.expected


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_corrupt_geopackage(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "a.gpkg"
    if damage == "random":
        path.write_bytes(np.random.default_rng(7).bytes(20_000))
    else:
        addresses_gdf().to_file(path, driver="GPKG")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as info:
        read_addresses(path)
    assert type(info.value) is InputFileError
    (problem,) = info.value.problems
    assert problem.expected.startswith("a readable .gpkg file (")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    addresses_gdf().to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as info:
        read_addresses(path)
    assert type(info.value) is InputFileError
    assert info.value.problems[0].expected.startswith("a readable Parquet file (")


def test_corrupt_geojson(tmp_path: Path) -> None:
    path = write(tmp_path / "a.geojson", '{"type": "FeatureCollection", "features": [{"type"')
    with pytest.raises(InputFileError, match=r"a readable \.geojson file"):
        read_addresses(path)


def test_non_utf8_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,hushåll,x,y\nå1,1,515000,6665000\n",
        encoding="latin-1",
    )
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert "UTF-8" in problem.expected
    assert "byte 15" in problem.expected  # the first byte of the latin-1 "å" of "hushåll"


def test_utf8_csv_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "address_id,hushåll,x,y\nå1,1,515000,6665000\n".encode())
    result = read_addresses(path, crs=SWEREF)
    assert result.frame["address_id"].tolist() == ["å1"]
    assert result.frame["households"].tolist() == [1]


def test_utf8_csv_with_multibyte_character_at_64k_boundary(tmp_path: Path) -> None:
    text = "address_id,households,address,x,y\n"
    i = 0
    while len(text.encode()) < 65_500:
        text += f"id{i},1,Gatan {i},515000,{6665000 + i}\n"
        i += 1
    prefix = f"id{i},1,"
    pad = 65_535 - len(text.encode()) - len(prefix)
    text += prefix + "x" * pad + "å,515000,6664000\n"
    data = text.encode("utf-8")
    assert data[65_535:65_537] == "å".encode()  # 'å' straddles byte 65536
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    result = read_addresses(path, crs=SWEREF)
    assert result.info["rows_used"] == i + 1


def test_missing_address_id(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "nummer,households,x,y\n1,1,515000,6665000\n")
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert problem.expected.startswith("a column 'address_id' (or one of its aliases")
    assert problem.value == ["nummer", "households"]
    assert "address_id" in str(info.value)


def test_all_address_file_problems_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "nummer,kommentar,x,y\n1,hej,515000,6665000\n")
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    expected = [p.expected for p in info.value.problems]
    assert len(expected) == 2
    assert expected[0].startswith("a column 'address_id'")
    assert expected[1].startswith("at least one unit column")
    assert "2 problem(s)" in str(info.value)


def test_all_network_file_problems_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.csv",
        'namn,status,wkt\nx,existing,"LINESTRING (515000 6665000, 515100 6665000)"\n',
    )
    with pytest.raises(InputFileError) as info:
        read_network(path, crs=SWEREF)
    expected = [p.expected for p in info.value.problems]
    assert len(expected) == 2
    assert expected[0].startswith("a column 'segment_id'")
    assert expected[1].startswith("a column 'technology'")


def test_missing_geometry_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "address_id,households,ost,nord\na,1,515000,6665000\n")
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert "x and y (with --crs), lon and lat, or wkt" in problem.expected


def test_all_rows_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,households,x,y\na,-1,515000,6665000\na,2,515000,6665000\n",
    )
    with pytest.raises(InputFileError) as info:
        read_addresses(path, crs=SWEREF)
    (problem,) = info.value.problems
    assert problem.expected.startswith("at least one usable row (all 2 rows were rejected")


# --------------------------------------------------------------------------------------------
# address row problems
# --------------------------------------------------------------------------------------------

ROW_HEADER = "address_id,households,workplaces,connected,kommun_code,x,y\n"
GOOD_ROW = "ok1,1,0,true,2061,515000,6665000\n"


@pytest.mark.parametrize(
    ("bad_row", "problem", "fragment"),
    [
        pytest.param(
            ",1,0,,,515010,6665000",
            (2, "", "address_id", ""),
            "a non-empty unique id",
            id="empty-id",
        ),
        pytest.param(
            "b2,-1,0,,,515010,6665000",
            (2, "b2", "households", "-1"),
            f"a whole number from 0 to {MAX_UNITS_PER_ADDRESS}",
            id="negative-count",
        ),
        pytest.param(
            "b2,1.5,0,,,515010,6665000",
            (2, "b2", "households", "1.5"),
            f"a whole number from 0 to {MAX_UNITS_PER_ADDRESS}",
            id="fractional-count",
        ),
        pytest.param(
            "b2,1,x,,,515010,6665000",
            (2, "b2", "workplaces", "x"),
            "a whole number",
            id="non-numeric-count",
        ),
        pytest.param(
            f"b2,{MAX_UNITS_PER_ADDRESS + 1},0,,,515010,6665000",
            (2, "b2", "households", str(MAX_UNITS_PER_ADDRESS + 1)),
            "a whole number",
            id="count-above-maximum",
        ),
        pytest.param(
            "b2,1,0,kanske,,515010,6665000",
            (2, "b2", "connected", "kanske"),
            "a boolean (true/false, 1/0, ja/nej) or empty",
            id="bad-boolean",
        ),
        pytest.param(
            "b2,1,0,,12345,515010,6665000",
            (2, "b2", "kommun_code", "12345"),
            "a four-digit kommun code",
            id="kommun-code-five-digits",
        ),
        pytest.param(
            "b2,1,0,,20A1,515010,6665000",
            (2, "b2", "kommun_code", "20A1"),
            "a four-digit kommun code",
            id="kommun-code-letters",
        ),
        pytest.param(
            "b2,1,0,,,,",
            (2, "b2", "x", ""),
            "a finite number",
            id="empty-coordinates",
        ),
        pytest.param(
            "b2,1,0,,,NaN,6665000",
            (2, "b2", "x", "NaN"),
            "a finite number",
            id="nan-coordinate",
        ),
        pytest.param(
            "b2,1,0,,,6665000,515000",
            (2, "b2", "geometry", "x=6.665e+06, y=515000"),
            "a location inside the area of use of EPSG:3006",
            id="x-y-swapped",
        ),
    ],
)
def test_address_row_problem(
    tmp_path: Path, bad_row: str, problem: tuple[Any, ...], fragment: str
) -> None:
    path = write(tmp_path / "a.csv", ROW_HEADER + GOOD_ROW + bad_row + "\n")
    result = read_addresses(path, crs=SWEREF)
    assert where(result) == [problem]
    assert fragment in result.rejected[0].expected
    assert result.frame["address_id"].tolist() == ["ok1"]
    assert (result.info["rows_read"], result.info["rows_used"], result.info["rows_rejected"]) == (
        2,
        1,
        1,
    )
    record = result.rejected_frame("addresses").iloc[0]
    assert record["row"] == 2
    assert record["column"] == problem[2]
    assert record["reason"].startswith("expected ")


def test_unparseable_coordinate_names_the_cell(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", ROW_HEADER + GOOD_ROW + "b2,1,0,,,abc,6665000\n")
    result = read_addresses(path, crs=SWEREF)
    assert where(result) == [(2, "b2", "x", "abc")]


def test_count_at_maximum_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv", ROW_HEADER + f"big,{MAX_UNITS_PER_ADDRESS},0,,,515000,6665000\n"
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.frame["households"].tolist() == [MAX_UNITS_PER_ADDRESS]


def test_duplicated_ids_reject_both_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        ROW_HEADER
        + "d1,1,0,,,515000,6665000\n"
        + "u1,1,0,,,515010,6665000\n"
        + "d1,2,0,,,515020,6665000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert where(result) == [(1, "d1", "address_id", "d1"), (3, "d1", "address_id", "d1")]
    assert all("occurs on several rows" in p.expected for p in result.rejected)
    assert result.frame["address_id"].tolist() == ["u1"]
    assert result.info["rows_rejected"] == 2


def test_ids_differing_only_by_spaces_are_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        ROW_HEADER + "a1,1,0,,,515000,6665000\n a1 ,2,0,,,515010,6665000\nb,1,0,,,515020,6665000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.frame["address_id"].tolist() == ["b"]
    assert [p.row for p in result.rejected] == [1, 2]


def test_null_and_empty_geometry_rejected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"address_id": ["g1", "g2", "g3"], "households": [1, 1, 1]},
        geometry=[Point(X0, Y0), None, Point()],
        crs=SWEREF,
    )
    path = tmp_path / "a.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_addresses(path)
    assert where(result) == [(2, "g2", "geometry", "<empty>"), (3, "g3", "geometry", "<empty>")]
    assert all(p.expected == "a Point geometry" for p in result.rejected)
    assert result.frame["address_id"].tolist() == ["g1"]


def test_linestring_in_addresses_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,households,wkt\n"
        "p1,1,POINT (515000 6665000)\n"
        '"l1",1,"LINESTRING (515000 6665000, 515100 6665000)"\n'
        "m1,1,MULTIPOINT ((515000 6665000))\n"
        "w1,1,POINT (515000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert where(result) == [
        (4, "w1", "geometry", "<empty>"),
        (2, "l1", "geometry", "LineString"),
        (3, "m1", "geometry", "MultiPoint"),
    ]
    assert {p.expected for p in result.rejected} == {"a Point geometry"}
    assert result.frame["address_id"].tolist() == ["p1"]


def test_lon_lat_swapped_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,households,lon,lat\nok,1,15.41,60.12\nswap,1,60.12,15.41\n",
    )
    result = read_addresses(path)
    assert [(p.row, p.row_id, p.column) for p in result.rejected] == [(2, "swap", "geometry")]
    assert str(result.rejected[0].value).startswith("x=")
    assert "inside the area of use of EPSG:3006" in result.rejected[0].expected
    assert "lon/lat swapped or wrong --crs?" in result.rejected[0].expected
    assert "EPSG:4326" in result.rejected[0].expected
    assert result.frame["address_id"].tolist() == ["ok"]


def test_outside_point_value_is_the_source_coordinates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,households,lon,lat\nok,1,15.41,60.12\nswap,1,60.12,15.41\n",
    )
    result = read_addresses(path)
    assert result.rejected[0].value == "x=60.12, y=15.41"


def test_several_row_problems_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        ROW_HEADER
        + GOOD_ROW
        + "r2,-3,0,,,515010,6665000\n"
        + "r3,1,1.5,ja,999999,515020,6665000\n"
        + "r4,1,0,kanske,,515030,6665000\n"
        + "r5,1,0,,,,\n"
        + "ok6,0,4,nej,0180,515050,6665000\n"
        + ",2,0,,,515060,6665000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert sorted(where(result), key=lambda t: (t[0], t[2])) == [
        (2, "r2", "households", "-3"),
        (3, "r3", "kommun_code", "999999"),
        (3, "r3", "workplaces", "1.5"),
        (4, "r4", "connected", "kanske"),
        (5, "r5", "x", ""),
        (7, "", "address_id", ""),
    ]
    assert result.frame["address_id"].tolist() == ["ok1", "ok6"]
    assert result.frame["kommun_code"].tolist() == ["2061", "0180"]
    assert (result.info["rows_read"], result.info["rows_used"], result.info["rows_rejected"]) == (
        7,
        2,
        5,
    )
    assert len(result.rejected_frame("addresses")) == 6


# --------------------------------------------------------------------------------------------
# defaults and info
# --------------------------------------------------------------------------------------------


def test_address_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv",
        "address_id,households,workplaces,x,y\nd1,,3,515000,6665000\nd2, ,,515010,6665000\n",
    )
    result = read_addresses(path, crs=SWEREF)
    assert result.rejected == []
    assert records(result) == [
        {
            "address_id": "d1",
            "households": 0,
            "workplaces": 3,
            "holiday_homes": 0,
            "public_site": "",
            "connected": False,
            "address": "",
            "postcode": "",
            "kommun_code": "",
        },
        {
            "address_id": "d2",
            "households": 0,
            "workplaces": 0,
            "holiday_homes": 0,
            "public_site": "",
            "connected": False,
            "address": "",
            "postcode": "",
            "kommun_code": "",
        },
    ]
    assert result.frame["connected"].dtype == bool
    assert result.info["warnings"] == ["no 'holiday_homes' column: counted as 0"]


def test_info(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", CSV_XY + "A4,-1,0,0,,,,,,515000,6665000\n")
    result = read_addresses(path, crs=SWEREF)
    info = result.info
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["path"] == str(path)
    assert info["format"] == "csv"
    assert info["source_crs"] == SWEREF
    assert (info["rows_read"], info["rows_used"], info["rows_rejected"]) == (4, 3, 1)
    assert info["rows_used"] == len(result.frame)
    assert info["rows_read"] == info["rows_used"] + info["rows_rejected"]
    assert info["warnings"] == []


# --------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------

NET_HEADER = "segment_id,technology,status,year,wkt\n"
LINE = '"LINESTRING (515000 6665000, 515100 6665000)"'


def test_network_geopackage(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "segment_id": ["S1", "S2", "S3"],
            "technology": ["fibre", "duct", "hfc"],
            "status": ["existing", "planned", "under_construction"],
            "year": [2010, 2027, 2026],
            "open_network": [True, False, True],
            "owner": ["Stadsnät", "Kommunen", ""],
            "max_down_mbps": [1000.0, np.nan, 250.0],
        },
        geometry=[
            LineString([(X0, Y0), (X0 + 100, Y0)]),
            shapely.MultiLineString([[(X0, Y0), (X0, Y0 + 50)], [(X0, Y0 + 60), (X0, Y0 + 90)]]),
            LineString([(X0, Y0), (X0 - 100, Y0 - 100)]),
        ],
        crs=SWEREF,
    )
    path = tmp_path / "natverk.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_network(path)
    assert result.rejected == []
    assert list(result.frame.columns) == [*NETWORK_COLUMNS, "_row"]
    got = result.frame.drop(columns="geometry")
    assert got["segment_id"].tolist() == ["S1", "S2", "S3"]
    assert got["technology"].tolist() == ["fibre", "duct", "hfc"]
    assert got["status"].tolist() == ["existing", "planned", "under_construction"]
    assert got["year"].dtype == "Int64"
    assert got["year"].tolist() == [2010, 2027, 2026]
    assert got["open_network"].tolist() == [True, False, True]
    assert got["owner"].tolist() == ["Stadsnät", "Kommunen", ""]
    assert got["max_down_mbps"].tolist()[0] == 1000.0
    assert np.isnan(got["max_down_mbps"].tolist()[1])
    assert np.isnan(got["upgradeable_to_mbps"]).all()
    assert result.frame.geometry.iloc[1].geom_type == "MultiLineString"
    assert result.frame.geometry.iloc[0].equals(LineString([(X0, Y0), (X0 + 100, Y0)]))


def test_network_aliases_and_point_nodes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.csv",
        "ID;Teknik;Skede;År;Öppet_Nät;Ägare;WKT\n"
        "n1;Fiber;Befintlig;;ja;Stadsnätet;LINESTRING (515000 6665000, 515100 6665000)\n"
        "n2;FTTH;planerad;2027;nej;;LINESTRING (515100 6665000, 515200 6665000)\n"
        "n3;Tomrör;Under byggnad;2026;;;POINT (515200 6665000)\n"
        "n4;Kabel-TV;built;2001.0;1;;MULTIPOINT ((515300 6665000))\n",
    )
    result = read_network(path, crs=SWEREF)
    assert result.rejected == []
    got = result.frame
    assert got["segment_id"].tolist() == ["n1", "n2", "n3", "n4"]
    assert got["technology"].tolist() == ["fibre", "fibre", "duct", "hfc"]
    assert got["status"].tolist() == ["existing", "planned", "under_construction", "existing"]
    assert got["year"].tolist() == [pd.NA, 2027, 2026, 2001]
    assert got["open_network"].tolist() == [True, False, False, True]
    assert got["owner"].tolist() == ["Stadsnätet", "", "", ""]
    assert got.geometry.geom_type.tolist() == ["LineString", "LineString", "Point", "MultiPoint"]


def test_network_without_status_is_existing_with_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.csv", f"segment_id,technology,wkt\ns1,fibre,{LINE}\ns2,vdsl,{LINE}\n"
    )
    result = read_network(path, crs=SWEREF)
    assert result.frame["status"].tolist() == ["existing", "existing"]
    assert result.frame["year"].tolist() == [pd.NA, pd.NA]
    assert "no 'status' column: every segment taken as existing" in result.info["warnings"]
    assert "no 'open_network' column: no segment counts as open network" in result.info["warnings"]
    assert result.frame["open_network"].tolist() == [False, False]


@pytest.mark.parametrize(
    ("bad_row", "problem", "fragment"),
    [
        pytest.param(
            f"b2,5g,existing,,{LINE}",
            (2, "b2", "technology", "5g"),
            "one of ['duct', 'fibre', 'fwa', 'hfc', 'vdsl']",
            id="unknown-technology",
        ),
        pytest.param(
            f"b2,fibre,kanske,,{LINE}",
            (2, "b2", "status", "kanske"),
            "one of ['existing', 'planned', 'under_construction']",
            id="unknown-status",
        ),
        pytest.param(
            f"b2,fibre,planned,,{LINE}",
            (2, "b2", "year", ""),
            "a completion year for a planned or under_construction segment",
            id="planned-without-year",
        ),
        pytest.param(
            f"b2,fibre,under_construction,,{LINE}",
            (2, "b2", "year", ""),
            "a completion year for a planned or under_construction segment",
            id="under-construction-without-year",
        ),
        pytest.param(
            f"b2,fibre,planned,2026.5,{LINE}",
            (2, "b2", "year", "2026.5"),
            "a whole year from 1900 to 2100 or empty",
            id="fractional-year",
        ),
        pytest.param(
            f"b2,fibre,planned,snart,{LINE}",
            (2, "b2", "year", "snart"),
            "a whole year from 1900 to 2100 or empty",
            id="text-year",
        ),
        pytest.param(
            f"b2,fibre,planned,1850,{LINE}",
            (2, "b2", "year", "1850"),
            "a whole year from 1900 to 2100 or empty",
            id="year-too-early",
        ),
        pytest.param(
            f"b2,fibre,planned,2101,{LINE}",
            (2, "b2", "year", "2101"),
            "a whole year from 1900 to 2100 or empty",
            id="year-too-late",
        ),
        pytest.param(
            f"s1,fibre,existing,,{LINE}",
            (1, "s1", "segment_id", "s1"),
            "a unique id (this id occurs on several rows)",
            id="duplicated-id",
        ),
        pytest.param(
            'b2,fibre,existing,,"POLYGON ((515000 6665000, 515100 6665000, 515100 6665100, '
            '515000 6665000))"',
            (2, "b2", "geometry", "Polygon"),
            "a LineString, MultiLineString or Point geometry",
            id="polygon",
        ),
    ],
)
def test_network_row_problem(
    tmp_path: Path, bad_row: str, problem: tuple[Any, ...], fragment: str
) -> None:
    path = write(tmp_path / "n.csv", NET_HEADER + f"s1,fibre,existing,,{LINE}\n" + bad_row + "\n")
    if problem[2] == "segment_id":
        # both rows of a duplicated id are rejected: keep a third, good row
        path = write(path, path.read_text() + f"s3,fibre,existing,,{LINE}\n")
    result = read_network(path, crs=SWEREF)
    assert where(result)[0] == problem
    assert fragment in result.rejected[0].expected
    if problem[2] == "segment_id":
        assert where(result) == [problem, (2, "s1", "segment_id", "s1")]
        assert result.frame["segment_id"].tolist() == ["s3"]
    else:
        assert len(result.rejected) == 1
        assert result.frame["segment_id"].tolist() == ["s1"]


def test_network_row_problems_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.csv",
        NET_HEADER
        + f"ok,fibre,existing,,{LINE}\n"
        + f"t,5g,existing,,{LINE}\n"
        + f"p,fibre,planned,,{LINE}\n"
        + f"y,coax,planerad,1850,{LINE}\n"
        + "g,fibre,existing,,\n",
    )
    result = read_network(path, crs=SWEREF)
    assert sorted(where(result)) == [
        (2, "t", "technology", "5g"),
        (3, "p", "year", ""),
        (4, "y", "year", "1850"),
        (5, "g", "geometry", "<empty>"),
    ]
    assert result.frame["segment_id"].tolist() == ["ok"]
    assert result.info["rows_rejected"] == 4


def test_ofds_geojson_is_read_via_ofds_mapping() -> None:
    result = read_network(OFDS_SPANS)
    frame = result.frame
    assert frame["segment_id"].tolist() == ["1", "7"]
    assert frame["technology"].tolist() == ["fibre", "fibre"]
    assert frame["status"].tolist() == ["existing", "existing"]
    assert frame["year"].tolist() == [2015, 2019]
    assert frame["open_network"].tolist() == [True, False]
    assert frame["owner"].tolist() == ["Kristianstad Energi", "Region Skåne"]
    assert result.info["source_crs"] == "EPSG:4326"
    assert frame.crs.to_epsg() == 3006
    x, y = TO_SWEREF.transform(14.15, 56.03)
    first = frame.geometry.iloc[0].coords[0]
    assert first == pytest.approx((x, y), abs=1e-3)
    planned_year = "a completion year for a planned or under_construction segment"
    assert [(p.row, p.row_id, p.column, p.value, p.expected) for p in result.rejected] == [
        (4, "4", "technology", "microwave", "one of ['duct', 'fibre', 'fwa', 'hfc', 'vdsl']"),
        (
            5,
            "5",
            "status",
            "decommissioned",
            "one of ['existing', 'planned', 'under_construction']",
        ),
        (2, "2", "year", "<empty>", planned_year),
        (3, "3", "year", "<empty>", planned_year),
        (4, "4", "year", "<empty>", planned_year),
        (6, "6", "year", "<empty>", planned_year),
        (6, "6", "geometry", "<empty>", "a LineString, MultiLineString or Point geometry"),
    ]
    assert (result.info["rows_read"], result.info["rows_used"], result.info["rows_rejected"]) == (
        7,
        2,
        5,
    )


def test_ofds_with_unknown_crs_is_input_file_error(tmp_path: Path) -> None:
    data = json.loads(OFDS_SPANS.read_text(encoding="utf-8"))
    data["crs"] = {"type": "name", "properties": {"name": "EPSG:999999"}}
    path = write(tmp_path / "spans.geojson", json.dumps(data))
    with pytest.raises(InputFileError):
        read_network(path)


# --------------------------------------------------------------------------------------------
# areas
# --------------------------------------------------------------------------------------------


def square(dx: float, dy: float, size: float = 1000.0) -> Polygon:
    x, y = X0 + dx, Y0 + dy
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def test_areas_polygons_with_aliases(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"KOD": ["T1", "T2"], "Namn": ["Smedjebacken", "Söderbärke"], "yta": [1.0, 2.0]},
        geometry=[square(0, 0), square(-5000, -8000, 500)],
        crs=SWEREF,
    )
    path = tmp_path / "tatorter.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_areas(path, keep=("yta",))
    assert result.rejected == []
    assert list(result.frame.columns) == [*AREA_COLUMNS, "yta", "_row"]
    assert result.frame["area_id"].tolist() == ["T1", "T2"]
    assert result.frame["name"].tolist() == ["Smedjebacken", "Söderbärke"]
    assert result.frame["yta"].tolist() == [1.0, 2.0]
    assert result.frame.geometry.area.tolist() == pytest.approx([1e6, 2.5e5])


def test_areas_name_defaults_to_id(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"id": ["r1"]}, geometry=[square(0, 0)], crs=SWEREF)
    path = tmp_path / "a.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_areas(path)
    assert result.frame[["area_id", "name"]].to_dict("records") == [{"area_id": "r1", "name": "r1"}]


def test_areas_bow_tie_is_repaired_not_rejected(tmp_path: Path) -> None:
    bow_tie = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    assert not bow_tie.is_valid
    frame = gpd.GeoDataFrame(
        {"area_id": ["ok", "bow"]}, geometry=[square(0, 0), bow_tie], crs=SWEREF
    )
    path = tmp_path / "a.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_areas(path)
    assert result.rejected == []
    assert result.frame["area_id"].tolist() == ["ok", "bow"]
    repaired = result.frame.geometry.iloc[1]
    assert repaired.is_valid
    assert repaired.geom_type in ("Polygon", "MultiPolygon")
    assert repaired.area == pytest.approx(5000.0)  # two triangles of 50 m x 100 m / 2
    assert result.info["warnings"] == ["1 invalid polygon(s) repaired with make_valid"]


def test_area_points_rejected_unless_allowed(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"tatortskod": ["T1", "T2"], "tatort": ["Smedjebacken", "Vad"]},
        geometry=[square(0, 0), Point(X0 + 3000, Y0 + 2000)],
        crs=SWEREF,
    )
    path = tmp_path / "t.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_areas(path)
    assert where(result) == [(2, "T2", "geometry", "Point")]
    assert result.rejected[0].expected == "a Polygon or MultiPolygon geometry"
    assert result.frame["area_id"].tolist() == ["T1"]
    allowed = read_areas(path, allow_points=True)
    assert allowed.rejected == []
    assert allowed.frame["area_id"].tolist() == ["T1", "T2"]
    assert allowed.frame["name"].tolist() == ["Smedjebacken", "Vad"]
    assert allowed.frame.geometry.iloc[1].equals(Point(X0 + 3000, Y0 + 2000))


def test_areas_explicit_id_and_name_columns(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"RUTA": ["r1"], "BENAMNING": ["Rutan"]}, geometry=[square(0, 0)], crs=SWEREF
    )
    path = tmp_path / "a.gpkg"
    frame.to_file(path, driver="GPKG")
    result = read_areas(path, id_column="RUTA", name_column="Benamning")
    assert result.frame[["area_id", "name"]].to_dict("records") == [
        {"area_id": "r1", "name": "Rutan"}
    ]


# --------------------------------------------------------------------------------------------
# property: every row is used or rejected, never both, never silently dropped
# --------------------------------------------------------------------------------------------

ID_POOL = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "x1", "Y2"])


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(ID_POOL, st.integers(min_value=-3, max_value=9)), min_size=1, max_size=12
    )
)
def test_property_rows_used_plus_rejected_equal_rows_read(rows: list[tuple[str, int]]) -> None:
    ids = [rid for rid, _ in rows]
    expected_bad = {i + 1 for i, (rid, count) in enumerate(rows) if ids.count(rid) > 1 or count < 0}
    expected_used = [rid for i, (rid, _) in enumerate(rows) if i + 1 not in expected_bad]
    lines = [f"{rid},{count},{X0 + 10 * i},{Y0}" for i, (rid, count) in enumerate(rows)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.csv"
        write(path, "address_id,households,x,y\n" + "\n".join(lines) + "\n")
        if not expected_used:
            with pytest.raises(InputFileError, match="at least one usable row"):
                read_addresses(path, crs=SWEREF)
            return
        result = read_addresses(path, crs=SWEREF)
    rejected_rows = {p.row for p in result.rejected}
    info = result.info
    assert info["rows_read"] == len(rows)
    assert info["rows_used"] + len(rejected_rows) == info["rows_read"]
    assert info["rows_rejected"] == len(rejected_rows)
    assert rejected_rows == expected_bad
    assert result.frame["address_id"].tolist() == expected_used
    assert not result.frame["address_id"].duplicated().any()
    assert (result.frame["households"] >= 0).all()
    assert all(isinstance(p, Problem) and p.row_id is not None for p in result.rejected)


def test_problem_describe_names_everything() -> None:
    problem = Problem("a.csv", "a whole number", row=3, row_id="A3", column="households", value="x")
    assert (
        problem.describe()
        == "row 3, id 'A3', column 'households': found 'x'; expected a whole number"
    )
    assert problem.as_record("addresses")["reason"] == "expected a whole number"
