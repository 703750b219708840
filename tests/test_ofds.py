"""Tests of the OFDS GeoJSON converter (coverage.ofds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from shapely.geometry import LineString, MultiLineString, Point

from coverage.ofds import is_ofds, read_ofds

DATA = Path(__file__).parent / "data" / "ofds"
SPANS = DATA / "spans.geojson"
NODES = DATA / "nodes.geojson"
PLAIN = DATA / "plain.geojson"

COLUMNS = [
    "segment_id",
    "technology",
    "status",
    "year",
    "open_network",
    "owner",
    "ofds_feature",
    "geometry",
]
NET_A = {"id": "7a6f3a1e-4c1e-4f7b-9d7a-2b9c1f0e5a11", "name": "Kristianstads stadsnät"}
NET_B = {"id": "0b8e2c44-1111-4c2a-8f00-3d5e6f7a8b9c", "name": "Byanät Fjälkinge"}


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _feature(geometry: dict[str, Any] | None, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _line(*coords: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(c) for c in coords]}


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


# --- spans ------------------------------------------------------------------------------------
def test_spans_rows_without_default_year() -> None:
    gdf = read_ofds(SPANS)
    assert list(gdf.columns) == COLUMNS
    assert gdf.crs.to_epsg() == 4326
    assert gdf["segment_id"].tolist() == ["1", "2", "3", "4", "5", "6", "7"]
    assert gdf["technology"].tolist() == [
        "fibre",
        "fibre",
        "fibre",
        "microwave",  # only a non-fibre medium: raw code, the caller rejects it
        "fibre",
        "fibre",
        "fibre",  # fibre + copper: fibre
    ]
    assert gdf["status"].tolist() == [
        "existing",  # operational
        "under_construction",  # underConstruction
        "planned",  # planned
        "planned",  # proposed
        "decommissioned",
        "under_construction",  # inactive: built, not yet carrying traffic
        "existing",
    ]
    # readyForServiceDate years only; no default year -> NA
    assert gdf["year"].dtype == "Int64"
    assert gdf["year"].tolist() == [2015, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, 2019]
    assert gdf["open_network"].dtype == bool
    assert gdf["open_network"].tolist() == [
        True,  # two distinct network providers
        True,  # one provider but darkFibre true
        False,  # one provider, darkFibre false
        False,  # no providers
        False,  # one provider
        False,  # nothing known
        False,  # the same provider listed twice counts once
    ]
    assert gdf["owner"].tolist() == [
        "Kristianstad Energi",  # physicalInfrastructureProvider
        "Kristianstads stadsnät",  # network name fallback
        "Kristianstad Energi",
        "Kristianstads stadsnät",
        "Kristianstad Energi",
        "Kristianstads stadsnät",
        "Region Skåne",  # OFDS 0.4 transmissionMediumOwner
    ]
    assert set(gdf["ofds_feature"]) == {"span"}


def test_spans_default_year_fills_unbuilt_only() -> None:
    gdf = read_ofds(SPANS, default_year=2027)
    assert gdf["year"].tolist() == [2015, 2027, 2027, 2027, pd.NA, 2027, 2019]


def test_span_geometries() -> None:
    gdf = read_ofds(SPANS)
    geoms = gdf.geometry.tolist()
    assert geoms[0].equals(LineString([(14.15, 56.03), (14.16, 56.035), (14.17, 56.04)]))
    assert isinstance(geoms[1], MultiLineString)
    assert geoms[1].equals(
        MultiLineString([[(14.17, 56.04), (14.18, 56.045)], [(14.18, 56.045), (14.19, 56.05)]])
    )
    assert geoms[5] is None  # null geometry kept for the caller to reject
    assert gdf.geometry.isna().tolist() == [False] * 5 + [True, False]
    assert gdf.geom_type.tolist()[:5] == ["LineString", "MultiLineString"] + ["LineString"] * 3


# --- nodes ------------------------------------------------------------------------------------
def test_nodes_rows() -> None:
    gdf = read_ofds(NODES)
    assert list(gdf.columns) == COLUMNS
    assert gdf["segment_id"].tolist() == ["1", "2", "3"]
    assert gdf["technology"].tolist() == ["fibre"] * 3
    assert gdf["status"].tolist() == ["existing", "planned", ""]
    assert gdf["year"].tolist() == [pd.NA, pd.NA, pd.NA]
    assert gdf["open_network"].tolist() == [True, False, False]
    assert gdf["owner"].tolist() == [
        "Kristianstad Energi",
        "Kristianstads stadsnät",
        "Kristianstads stadsnät",
    ]
    assert gdf["ofds_feature"].tolist() == ["node"] * 3  # last one: from its Point geometry
    assert gdf.geom_type.tolist() == ["Point"] * 3
    assert gdf.geometry.iloc[0].equals(Point(14.15, 56.03))
    assert gdf.geometry.iloc[2].equals(Point(14.19, 56.05))


def test_nodes_default_year() -> None:
    gdf = read_ofds(NODES, default_year=2030)
    assert gdf["year"].tolist() == [pd.NA, 2030, pd.NA]


# --- detection --------------------------------------------------------------------------------
def test_is_ofds_fixtures() -> None:
    assert is_ofds(SPANS)
    assert is_ofds(str(NODES))
    assert not is_ofds(PLAIN)  # a string "network" property is not an OFDS network object


def test_is_ofds_other_inputs(tmp_path: Path) -> None:
    assert not is_ofds(tmp_path / "missing.geojson")
    assert not is_ofds(tmp_path)
    binary = tmp_path / "net.gpkg"
    binary.write_bytes(b"SQLite format 3\x00" + bytes(100))
    assert not is_ofds(binary)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json", encoding="utf-8")
    assert not is_ofds(broken)
    # parsed inputs
    data = json.loads(SPANS.read_text(encoding="utf-8"))
    assert is_ofds(data)
    assert is_ofds(data["features"])
    assert is_ofds(data["features"][0])
    assert not is_ofds(json.loads(PLAIN.read_text(encoding="utf-8")))
    assert is_ofds([_feature(None, id="1", featureType="node")])
    assert not is_ofds([_feature(None, id="1", status="planned")])
    assert not is_ofds({"type": "Point", "coordinates": [0, 0]})
    # a network object at collection level marks the features
    assert is_ofds(
        {"type": "FeatureCollection", "network": NET_A, "features": [_feature(None, id="1")]}
    )


# --- errors -----------------------------------------------------------------------------------
def test_not_a_feature_collection(tmp_path: Path) -> None:
    path = _write(tmp_path / "feature.geojson", _feature(_point(14.0, 56.0), network=NET_A))
    with pytest.raises(ValueError, match=r"feature\.geojson.*not a GeoJSON FeatureCollection"):
        read_ofds(path)
    path = _write(tmp_path / "list.geojson", [])
    with pytest.raises(ValueError, match="not a GeoJSON FeatureCollection"):
        read_ofds(path)
    path = tmp_path / "text.geojson"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match=r"text\.geojson.*not a JSON file"):
        read_ofds(path)
    path = _write(tmp_path / "nofeatures.geojson", {"type": "FeatureCollection"})
    with pytest.raises(ValueError, match="no 'features' array"):
        read_ofds(path)


def test_no_ofds_features(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"plain\.geojson.*no OFDS span or node features"):
        read_ofds(PLAIN)
    path = _write(tmp_path / "empty.geojson", {"type": "FeatureCollection", "features": []})
    with pytest.raises(ValueError, match="no OFDS span or node features"):
        read_ofds(path)


# --- mixed collections, several networks, missing values ----------------------------------------
def test_mixed_collection_and_several_networks(tmp_path: Path) -> None:
    features = [
        _feature(_line((14.0, 56.0), (14.1, 56.1)), id="1", status="operational", network=NET_A),
        _feature(_point(14.0, 56.0), id="1", status="operational", network=NET_A),
        _feature(_line((14.2, 56.2), (14.3, 56.3)), id="1", status="planned", network=NET_B),
        _feature(None, id="9", accessPoint=True, network=NET_B),  # node by its properties
        _feature(None, id="10", start="1", end="9", network=NET_B),  # span by its properties
    ]
    path = _write(tmp_path / "mixed.geojson", {"type": "FeatureCollection", "features": features})
    gdf = read_ofds(path, default_year=2026)
    a, b = NET_A["id"], NET_B["id"]
    assert gdf["segment_id"].tolist() == [
        f"{a}/1",
        f"{a}/node:1",
        f"{b}/1",
        f"{b}/node:9",
        f"{b}/10",
    ]
    assert gdf["segment_id"].is_unique
    assert gdf["ofds_feature"].tolist() == ["span", "node", "span", "node", "span"]
    assert gdf["owner"].tolist() == [NET_A["name"]] * 2 + [NET_B["name"]] * 3
    assert gdf["year"].tolist() == [pd.NA, pd.NA, 2026, pd.NA, pd.NA]


def test_missing_and_malformed_values(tmp_path: Path) -> None:
    features: list[Any] = [
        _feature(_line((14.0, 56.0), (14.1, 56.1)), network={"name": "Bynät"}),
        {"type": "Feature", "geometry": _line((14.0, 56.0), (14.1, 56.1))},  # no properties
        _feature(
            _line((14.0, 56.0), (14.1, 56.1)),
            id=42,
            status="underConstruction",
            readyForServiceDate="not a date",
            networkProviders="FibreCo",
            physicalInfrastructureProvider="FibreCo",
            transmissionMedium="coaxial",
            darkFibre="yes",
            network={"id": "n1"},
        ),
    ]
    path = _write(tmp_path / "sparse.geojson", {"type": "FeatureCollection", "features": features})
    gdf = read_ofds(path)
    # two network keys ("Bynät", "n1") plus one feature without a network
    assert gdf["segment_id"].tolist() == ["", "", "n1/42"]
    assert gdf["status"].tolist() == ["", "", "under_construction"]
    assert gdf["year"].tolist() == [pd.NA, pd.NA, pd.NA]
    assert gdf["open_network"].tolist() == [False, False, False]
    assert gdf["owner"].tolist() == ["Bynät", "", ""]
    assert gdf["technology"].tolist() == ["fibre", "fibre", "coaxial"]
    assert gdf["ofds_feature"].tolist() == ["span"] * 3


def test_unreadable_geometry_kept_as_none(tmp_path: Path) -> None:
    features = [
        _feature({"type": "LineString", "coordinates": "oops"}, id="1", network=NET_A),
        _feature(_line((14.0, 56.0), (14.1, 56.1)), id="2", network=NET_A),
    ]
    path = _write(tmp_path / "bad.geojson", {"type": "FeatureCollection", "features": features})
    with pytest.warns(UserWarning, match="unreadable geometry.*1"):
        gdf = read_ofds(path)
    assert gdf.geometry.isna().tolist() == [True, False]
    assert gdf["segment_id"].tolist() == ["1", "2"]


def test_declared_crs(tmp_path: Path) -> None:
    net = dict(NET_A, crs={"name": "urn:ogc:def:crs:EPSG::3006"})
    features = [_feature(_line((450000, 6210000), (451000, 6211000)), id="1", network=net)]
    path = _write(tmp_path / "sweref.geojson", {"type": "FeatureCollection", "features": features})
    assert read_ofds(path).crs.to_epsg() == 3006

    net84 = dict(NET_A, crs={"name": "urn:ogc:def:crs:OGC::CRS84"})
    features = [_feature(_line((14.0, 56.0), (14.1, 56.1)), id="1", network=net84)]
    path = _write(tmp_path / "crs84.geojson", {"type": "FeatureCollection", "features": features})
    assert read_ofds(path).crs.to_epsg() == 4326

    legacy = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}},
        "features": [_feature(_point(450000, 6210000), id="1", network=NET_A)],
    }
    assert read_ofds(_write(tmp_path / "legacy.geojson", legacy)).crs.to_epsg() == 3006

    clash = [
        _feature(_point(450000, 6210000), id="1", network=dict(NET_A, crs={"name": "EPSG:3006"})),
        _feature(_point(14.0, 56.0), id="1", network=dict(NET_B, crs={"name": "EPSG:4326"})),
    ]
    path = _write(tmp_path / "clash.geojson", {"type": "FeatureCollection", "features": clash})
    with pytest.raises(ValueError, match=r"clash\.geojson.*different coordinate reference"):
        read_ofds(path)

    bad = [_feature(_point(0, 0), id="1", network=dict(NET_A, crs={"name": "EPSG:99999999"}))]
    path = _write(tmp_path / "badcrs.geojson", {"type": "FeatureCollection", "features": bad})
    with pytest.raises(ValueError, match="unrecognised coordinate reference system"):
        read_ofds(path)


def test_row_order_is_file_order() -> None:
    data = json.loads(SPANS.read_text(encoding="utf-8"))
    assert read_ofds(SPANS)["segment_id"].tolist() == [
        f["properties"]["id"] for f in data["features"]
    ]
