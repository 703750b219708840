"""The API over two small hand-made runs: values, suppression, roles, errors and HTTP behaviour.

Scene (offsets in metres from X0, Y0 in EPSG:3006, kommun 2061 Smedjebacken):

- existing fibre F1 along y=0, planned fibre F2 along y=300 (year 2028);
- A01–A06 within 50 m of F1 (passed), 10 households, 3 workplaces: 250 m cell 5150006665000;
- A07–A09 on the planned F2 (none today, pass in 2028), 4 households: 250 m cell
  5150006665250, below the 5-unit threshold, so suppressed for public callers;
- A10 (a school, passed), A11 (200 m from F1: near), A12 far away (none).

Run ``r2`` adds an existing line F3 through A12, so A12 alone changes (none -> passed).
"""

from __future__ import annotations

import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from conftest import X0, Y0, make_network
from fastapi.responses import FileResponse
from fastapi.testclient import TestClient
from pyproj import Transformer
from typer.testing import CliRunner

from api.app import create_app
from api.security import hash_key
from api.settings import Settings
from coverage.cli import app as cli_app
from coverage.disclosure import suppression_mask

PLANNER = {"X-API-Key": "p"}
ADMIN = {"X-API-Key": "a"}
WRONG = {"X-API-Key": "not-a-key"}
HH = "kommun_hushall_100_open"
WP = "kommun_arbetsstallen_100_open"
PUB = "kommun_offentliga_100"
SMALL_CELL = "5150006665250"  # A07-A09: 4 households
BIG_CELL = "5150006665000"  # A01-A06: 10 households
LEVELS = ("kommun", "tatort", "grid_1km", "grid_250m")
MIN_UNITS = 5
FIGURE_FIELDS = ("numerator", "denominator", "share", "met", "shortfall")
TOTAL_COLUMNS = ("addresses", "households", "workplaces", "holiday_homes", "public_sites")

# id, dx, dy, households, workplaces, public_site
SCENE = [
    ("A01", 20, 10, 2, 0, ""),
    ("A02", 60, 20, 1, 1, ""),
    ("A03", 100, 30, 3, 0, ""),
    ("A04", 140, 15, 1, 0, ""),
    ("A05", 180, 25, 2, 2, ""),
    ("A06", 220, 40, 1, 0, ""),
    ("A07", 40, 300, 2, 0, ""),
    ("A08", 120, 310, 1, 0, ""),
    ("A09", 200, 290, 1, 0, ""),
    ("A10", 600, 20, 1, 0, "skola"),
    ("A11", 700, 200, 1, 0, ""),
    ("A12", 2600, 2600, 2, 0, ""),
]
OFFSETS = {a: (dx, dy) for a, dx, dy, *_ in SCENE}
TO_WGS84 = Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
TO_MERC = Transformer.from_crs("EPSG:3006", "EPSG:3857", always_xy=True)


def lonlat(dx: float, dy: float) -> tuple[float, float]:
    lon, lat = TO_WGS84.transform(X0 + dx, Y0 + dy)
    return float(lon), float(lat)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Standard slippy-map tile indices of a WGS 84 point."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


Z = 14
TX, TY = tile_of(*lonlat(*OFFSETS["A01"]), Z)
TILE = f"{Z}/{TX}/{TY}"

# Every GET path of the OpenAPI schema, with example URLs and who may call them.
PUBLIC_ROUTES: dict[str, list[str]] = {
    "/health": ["/health"],
    "/runs": ["/runs"],
    "/runs/{run_id}": ["/runs/r1"],
    "/compliance": ["/compliance", "/compliance?run=r1"],
    "/compliance/{target_id}": [f"/compliance/{HH}", f"/compliance/{HH}?area_level=grid_250m"],
    "/timeline": ["/timeline"],
    "/timeline/{target_id}": [f"/timeline/{HH}"],
    "/areas/{level}": ["/areas/grid_250m", "/areas/grid_1km?format=geojson"],
    "/layers/{name}": ["/layers/grid_250m", "/layers/grid_1km", "/layers/kommun", "/layers/tatort"],
    "/tiles/{name}/{z}/{x}/{y}.mvt": [
        f"/tiles/grid_250m/{TILE}.mvt",
        f"/tiles/grid_1km/{TILE}.mvt",
        f"/tiles/kommun/{TILE}.mvt",
    ],
    "/exports/areas/{level}.csv": ["/exports/areas/grid_250m.csv", "/exports/areas/kommun.csv"],
    "/map": ["/map"],
}
PLANNER_ROUTES: dict[str, list[str]] = {
    "/addresses/{address_id}": ["/addresses/A01"],
    "/lookup": [
        "/lookup?lon={}&lat={}".format(*lonlat(20, 12)),
        f"/lookup?x={X0 + 20}&y={Y0 + 12}&crs=EPSG:3006",
    ],
    "/layers/{name}": ["/layers/addresses", "/layers/network"],
    "/tiles/{name}/{z}/{x}/{y}.mvt": [
        f"/tiles/addresses/{TILE}.mvt",
        f"/tiles/network/{TILE}.mvt",
    ],
    "/exports/addresses.{fmt}": ["/exports/addresses.gpkg", "/exports/addresses.parquet"],
    "/runs/{run_a}/diff/{run_b}": ["/runs/r1/diff/r2"],
}
ADMIN_ROUTES = {("/admin/reload", "post")}


# ------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs of the hand-made scene: r1 (F1, planned F2), r2 (also F3 through A12)."""
    tmp = tmp_path_factory.mktemp("api")
    addr = tmp / "addr.csv"
    addr.write_text(
        "address_id;x;y;households;workplaces;public_site\n"
        + "".join(f"{a};{X0 + dx};{Y0 + dy};{h};{w};{p}\n" for a, dx, dy, h, w, p in SCENE),
        encoding="utf-8",
    )
    base = [
        {"coords": [(-1000, 0), (1000, 0)], "segment_id": "F1"},
        {
            "coords": [(-1000, 300), (1000, 300)],
            "segment_id": "F2",
            "status": "planned",
            "year": 2028,
        },
    ]
    make_network(base).to_file(tmp / "net1.gpkg")
    extra = {"coords": [(2000, 2600), (3000, 2600)], "segment_id": "F3"}
    make_network([*base, extra]).to_file(tmp / "net2.gpkg")
    runner = CliRunner()
    for run_id, net in (("r1", "net1.gpkg"), ("r2", "net2.gpkg")):
        res = runner.invoke(
            cli_app,
            [
                "run",
                "--addresses",
                str(addr),
                "--network",
                str(tmp / net),
                "--crs",
                "EPSG:3006",
                "--runs-dir",
                str(tmp / "runs"),
                "--evaluation-date",
                "2026-06-01",
                "--run-id",
                run_id,
            ],
        )
        assert res.exit_code == 0, res.output
    return tmp / "runs"


def make_settings(runs_dir: Path, **extra: Any) -> Settings:
    return Settings(
        **{
            "runs_dir": runs_dir,
            "planner_key_sha256": [hash_key("p")],
            "admin_key_sha256": [hash_key("a")],
            "reload_interval_s": 0,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def client(runs_dir: Path) -> Any:
    with TestClient(create_app(make_settings(runs_dir))) as c:
        yield c


def figures(runs_dir: Path, run: str = "r2") -> dict[str, Any]:
    return json.loads((runs_dir / run / "figures.json").read_text(encoding="utf-8"))


def timeline(runs_dir: Path, run: str = "r2") -> dict[str, Any]:
    return json.loads((runs_dir / run / "timeline.json").read_text(encoding="utf-8"))


def addresses(runs_dir: Path, run: str = "r2") -> gpd.GeoDataFrame:
    return gpd.read_parquet(runs_dir / run / "addresses.parquet")


def plain(value: Any) -> Any:
    """A table cell as a JSON value (NaN/NA -> None, numpy scalars -> Python)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def csv_rows(runs_dir: Path, level: str, run: str = "r2") -> list[dict[str, Any]]:
    table = pd.read_csv(
        runs_dir / run / "areas" / f"{level}.csv",
        dtype={"area_id": str, "name": str, "kommun_code": str},
    )
    return [{k: plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


FIELDS = ("numerator", "denominator", "share", "threshold", "met", "shortfall")


def area_figures(
    runs_dir: Path, target_id: str, level: str, run: str = "r2"
) -> list[dict[str, Any]]:
    """One target's figures per area as the run folder holds them: figures.json's ``by_area``
    for kommun and tätort, the level's area CSV for the grid levels (not repeated in JSON)."""
    fig = next(f for f in figures(runs_dir, run)["targets"] if f["id"] == target_id)
    if level in fig["by_area"]:
        return list(fig["by_area"][level])
    return [
        {"area_id": r["area_id"], "name": r["name"], **{f: r[f"{target_id}__{f}"] for f in FIELDS}}
        for r in csv_rows(runs_dir, level, run)
    ]


def assert_same(actual: dict[str, Any], expected: dict[str, Any], rel: float = 1e-9) -> None:
    """Same keys and values; floats compared with a relative tolerance."""
    assert set(actual) == set(expected), set(actual) ^ set(expected)
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float) and not isinstance(want, bool):
            assert got == pytest.approx(want, rel=rel), key
        else:
            assert got == want, key


def target_ids(runs_dir: Path) -> list[str]:
    return [t["id"] for t in figures(runs_dir)["targets"]]


# ------------------------------------------------------------------------------------------
# Meta: health, runs, manifest
# ------------------------------------------------------------------------------------------


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["latest_run"] == "r2" and body["runs"] == 2


def test_runs_lists_both_and_latest(client, runs_dir):
    body = client.get("/runs").json()
    assert body["latest"] == "r2"
    assert [r["run_id"] for r in body["runs"]] == ["r1", "r2"]
    for item in body["runs"]:
        manifest = json.loads((runs_dir / item["run_id"] / "manifest.json").read_text())
        assert item["evaluation_date"] == "2026-06-01"
        assert item["created"] == manifest["created"]
        assert item["counts"] == {
            "addresses": 12,
            "households": 18,
            "workplaces": 3,
            "rejected_rows": 0,
        }


def test_run_manifest_inputs_keep_file_names_only(client, runs_dir):
    r = client.get("/runs/r1")
    assert r.status_code == 200
    body = r.json()
    manifest = json.loads((runs_dir / "r1" / "manifest.json").read_text())
    assert body["run_id"] == "r1" and body["evaluation_date"] == "2026-06-01"
    assert body["outputs"] == manifest["outputs"]
    assert body["counts"] == manifest["counts"]
    assert [i["path"] for i in body["inputs"]] == [Path(i["path"]).name for i in manifest["inputs"]]
    paths = {i["role"]: i["path"] for i in body["inputs"] if i["role"] in ("addresses", "network")}
    assert paths == {"addresses": "addr.csv", "network": "net1.gpkg"}
    assert all("/" not in i["path"] for i in body["inputs"])


def _string_leaves(value: Any, key: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _string_leaves(v, k)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _string_leaves(v, key)]
    return [(key, value)] if isinstance(value, str) else []


def test_run_manifest_has_no_server_paths(client):
    body = client.get("/runs/r1").json()
    leaks = [v for k, v in _string_leaves(body) if k == "path" and "/" in v]
    assert leaks == []


# ------------------------------------------------------------------------------------------
# Compliance and timeline
# ------------------------------------------------------------------------------------------


def _expected_target(runs_dir: Path, fig: dict[str, Any], run: str = "r2") -> dict[str, Any]:
    out = {k: v for k, v in fig.items() if k not in ("by_area", "scope")}
    out["first_year_met"] = timeline(runs_dir, run)["targets"][fig["id"]]["first_year_met"]
    out["suppressed"] = False
    return out


@pytest.mark.parametrize("run", ["r1", "r2"])
def test_compliance_equals_figures_json(client, runs_dir, run):
    body = client.get(f"/compliance?run={run}", headers=PLANNER).json()
    figs = figures(runs_dir, run)
    assert body["run_id"] == run and body["evaluation_date"] == "2026-06-01"
    assert [t["id"] for t in body["targets"]] == [f["id"] for f in figs["targets"]]
    for got, fig in zip(body["targets"], figs["targets"], strict=True):
        assert_same(got, _expected_target(runs_dir, fig, run))
    # Known by hand: households passed are A01-A06 (10) + A10 (1), and A12 (2) in r2.
    hh = next(t for t in body["targets"] if t["id"] == HH)
    assert (hh["numerator"], hh["denominator"]) == ((11, 18) if run == "r1" else (13, 18))


def test_compliance_public_large_figures_unchanged(client, runs_dir):
    body = client.get("/compliance").json()
    for got, fig in zip(body["targets"], figures(runs_dir)["targets"], strict=True):
        if fig["denominator"] >= MIN_UNITS:
            assert_same(got, _expected_target(runs_dir, fig))


def test_compliance_public_small_overall_figures_suppressed(client, runs_dir):
    body = client.get("/compliance").json()
    small = {f["id"] for f in figures(runs_dir)["targets"] if f["denominator"] < MIN_UNITS}
    assert small == {WP, PUB}
    for got in body["targets"]:
        if got["id"] in small:
            assert got["suppressed"] is True
            assert all(got[k] is None for k in FIGURE_FIELDS)
    tl = client.get(f"/timeline/{WP}").json()
    assert all(p["numerator"] is None and p["denominator"] is None for p in tl["years"])


def test_compliance_target_without_level(client, runs_dir):
    for fig in figures(runs_dir)["targets"]:
        body = client.get(f"/compliance/{fig['id']}", headers=PLANNER).json()
        assert body["area_level"] is None and body["areas"] == []
        assert_same(body["target"], _expected_target(runs_dir, fig))


@pytest.mark.parametrize("level", LEVELS)
def test_compliance_by_area_planner_equals_figures_json(client, runs_dir, level):
    for fig in figures(runs_dir)["targets"]:
        r = client.get(f"/compliance/{fig['id']}?area_level={level}", headers=PLANNER)
        assert r.status_code == 200
        body = r.json()
        assert body["area_level"] == level
        rows = area_figures(runs_dir, fig["id"], level)
        assert len(body["areas"]) == len(rows)
        for got, row in zip(body["areas"], rows, strict=True):
            assert_same(got, {**row, "suppressed": False})


@pytest.mark.parametrize("headers", [PLANNER, {}])
def test_compliance_by_area_pages_join_to_the_whole_level(client, runs_dir, headers):
    fig = figures(runs_dir)["targets"][0]
    url = f"/compliance/{fig['id']}?area_level=grid_250m"
    whole = client.get(url, headers=headers).json()
    n = len(area_figures(runs_dir, fig["id"], "grid_250m"))
    assert n >= 3 and whole["number_matched"] == n and whole["next_offset"] is None
    pages, offset = [], 0
    while offset is not None:
        body = client.get(f"{url}&limit=2&offset={offset}", headers=headers).json()
        assert body["number_matched"] == n and body["offset"] == offset
        assert body["number_returned"] == len(body["areas"]) <= 2
        pages += body["areas"]
        offset = body["next_offset"]
    # Public pages are cut from the level suppressed as a whole (complementary cells too).
    assert pages == whole["areas"]
    past = client.get(f"{url}&offset={n}", headers=headers).json()
    assert past["areas"] == [] and past["number_returned"] == 0 and past["next_offset"] is None
    _problem(client.get(f"{url}&limit=100000", headers=headers), 422, "limit")


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_areas_pages_join_to_the_whole_level(client, runs_dir, fmt):
    url = f"/areas/grid_250m?format={fmt}"
    key = "areas" if fmt == "json" else "features"
    whole = client.get(url).json()
    total = whole["number_matched" if fmt == "json" else "numberMatched"]
    assert total == len(csv_rows(runs_dir, "grid_250m")) == len(whole[key])
    assert total >= 3
    first = client.get(f"{url}&limit=2").json()
    second = client.get(f"{url}&limit=2&offset=2").json()
    assert first[key] + second[key] == whole[key][:4]
    assert first["next_offset" if fmt == "json" else "nextOffset"] == 2


@pytest.mark.parametrize("level", LEVELS)
def test_compliance_by_area_public_suppresses_small(client, runs_dir, level):
    seen_small = 0
    for fig in figures(runs_dir)["targets"]:
        body = client.get(f"/compliance/{fig['id']}?area_level={level}").json()
        rows = area_figures(runs_dir, fig["id"], level)
        # Primary cells (1..4 units) plus complementary ones, decided over the whole level.
        hide = suppression_mask(
            [r["denominator"] for r in rows], MIN_UNITS, [r["area_id"] for r in rows]
        )
        for got, row, hidden in zip(body["areas"], rows, hide, strict=True):
            if 0 < row["denominator"] < MIN_UNITS:
                assert hidden
            if hidden:
                seen_small += 1
                expected = {**row, **dict.fromkeys(FIGURE_FIELDS), "suppressed": True}
            else:
                expected = {**row, "suppressed": False}
            assert_same(got, expected)
    assert seen_small > 0


def test_compliance_area_id_selects_one_row(client, runs_dir):
    first = figures(runs_dir)["targets"][0]["id"]
    rows = {r["area_id"]: r for r in area_figures(runs_dir, first, "grid_250m")}
    assert rows[SMALL_CELL]["denominator"] == 4 and rows[BIG_CELL]["denominator"] == 10
    url = f"/compliance/{HH}?area_level=grid_250m&area_id="
    big = client.get(url + BIG_CELL).json()["areas"]
    assert big == [{**rows[BIG_CELL], "suppressed": False}]
    small_public = client.get(url + SMALL_CELL).json()["areas"]
    assert small_public == [
        {**rows[SMALL_CELL], **dict.fromkeys(FIGURE_FIELDS), "suppressed": True}
    ]
    small_planner = client.get(url + SMALL_CELL, headers=PLANNER).json()["areas"]
    assert small_planner == [{**rows[SMALL_CELL], "suppressed": False}]
    assert (small_planner[0]["numerator"], small_planner[0]["denominator"]) == (0, 4)


def test_timeline_equals_timeline_json(client, runs_dir):
    tl = timeline(runs_dir)
    body = client.get("/timeline").json()
    assert body["run_id"] == "r2"
    assert body["evaluation_year"] == 2026 and body["plan_years"] == [2028]

    # Points carry a "suppressed" flag (false here: every denominator is at least MIN_UNITS
    # for the household targets; small ones are checked in the suppression test).
    def plain(t: dict) -> dict:
        return {
            **t,
            "years": [{k: v for k, v in p.items() if k != "suppressed"} for p in t["years"]],
        }

    assert [plain(t) for t in client.get("/timeline", headers=PLANNER).json()["targets"]] == [
        tl["targets"][t] for t in target_ids(runs_dir)
    ]
    for t in target_ids(runs_dir):
        assert plain(client.get(f"/timeline/{t}", headers=PLANNER).json()) == tl["targets"][t]
    # Known by hand: the planned F2 adds A07-A09 (4 households) in 2028.
    years = [(p["year"], p["numerator"], p["denominator"]) for p in tl["targets"][HH]["years"]]
    assert years == [(2026, 13, 18), (2028, 17, 18)]


# ------------------------------------------------------------------------------------------
# Areas
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_areas_planner_rows_equal_csv(client, runs_dir, level):
    body = client.get(f"/areas/{level}", headers=PLANNER).json()
    assert body["run_id"] == "r2" and body["area_level"] == level
    expected = csv_rows(runs_dir, level)
    assert len(body["areas"]) == len(expected)
    for got, want in zip(body["areas"], expected, strict=True):
        assert_same(got, want)


@pytest.mark.parametrize("level", LEVELS)
def test_areas_public_rows_suppress_small(client, runs_dir, level):
    body = client.get(f"/areas/{level}").json()
    targets = target_ids(runs_dir)
    wants = csv_rows(runs_dir, level)
    ids = [w["area_id"] for w in wants]
    hide = {col: suppression_mask([w[col] for w in wants], MIN_UNITS, ids) for col in TOTAL_COLUMNS}
    hide |= {
        t: suppression_mask([w[f"{t}__denominator"] for w in wants], MIN_UNITS, ids)
        for t in targets
    }
    for i, (got, want) in enumerate(zip(body["areas"], wants, strict=True)):
        expected = dict(want)
        for col in TOTAL_COLUMNS:
            assert not (0 < want[col] < MIN_UNITS) or hide[col][i]  # every small total hidden
            if hide[col][i]:
                expected[col] = None
        for t in targets:
            small = bool(hide[t][i])
            expected[f"{t}__suppressed"] = small
            if small:
                expected.update({f"{t}__{k}": None for k in FIGURE_FIELDS})
        assert_same(got, expected)


def test_areas_public_small_cell_values(client):
    rows = {r["area_id"]: r for r in client.get("/areas/grid_250m").json()["areas"]}
    assert rows[SMALL_CELL]["households"] is None
    assert rows[SMALL_CELL][f"{HH}__numerator"] is None
    assert rows[SMALL_CELL][f"{HH}__suppressed"] is True
    assert rows[BIG_CELL]["households"] == 10 and rows[BIG_CELL]["addresses"] == 6
    assert rows[BIG_CELL][f"{HH}__numerator"] == 10
    assert rows[BIG_CELL][f"{HH}__suppressed"] is False


def _check_wgs84(coords: Any, lon: tuple[float, float], lat: tuple[float, float]) -> None:
    xy = np.asarray(coords, dtype=float).reshape(-1, 2)
    assert (xy[:, 0] > lon[0]).all() and (xy[:, 0] < lon[1]).all()
    assert (xy[:, 1] > lat[0]).all() and (xy[:, 1] < lat[1]).all()


def _flat_coords(geometry: dict[str, Any]) -> list[list[float]]:
    out: list[list[float]] = []

    def walk(c: Any) -> None:
        if isinstance(c[0], int | float):
            out.append(c)
        else:
            for part in c:
                walk(part)

    walk(geometry["coordinates"])
    return out


@pytest.mark.parametrize("level", ["grid_250m", "grid_1km"])
def test_areas_geojson_public(client, level):
    rows = client.get(f"/areas/{level}").json()["areas"]
    r = client.get(f"/areas/{level}?format=geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == fc["numberReturned"] == len(rows)
    for feature, row in zip(fc["features"], rows, strict=True):
        assert feature["geometry"]["type"] == "Polygon"
        _check_wgs84(_flat_coords(feature["geometry"]), (15.2, 15.4), (60.1, 60.2))
        assert_same(feature["properties"], row, rel=1e-6)
    # 250 m: A07-A09 (4 households); 1 km: A12 alone (2 households).
    small_id = SMALL_CELL if level == "grid_250m" else "5170006667000"
    small = next(f for f in fc["features"] if f["properties"]["area_id"] == small_id)
    assert small["properties"]["households"] is None
    assert small["properties"][f"{HH}__suppressed"] is True


def test_areas_geojson_cell_matches_its_grid_square(client, runs_dir):
    fc = client.get("/areas/grid_250m?format=geojson").json()
    cell = next(f for f in fc["features"] if f["properties"]["area_id"] == BIG_CELL)
    xy = np.asarray(_flat_coords(cell["geometry"]))
    sw = lonlat(0, 0)
    ne = lonlat(250, 250)
    assert xy[:, 0].min() == pytest.approx(sw[0], abs=1e-4)
    assert xy[:, 1].min() == pytest.approx(sw[1], abs=1e-4)
    assert xy[:, 0].max() == pytest.approx(ne[0], abs=1e-4)
    assert xy[:, 1].max() == pytest.approx(ne[1], abs=1e-4)


# ------------------------------------------------------------------------------------------
# Addresses and lookups
# ------------------------------------------------------------------------------------------


def _expected_address(row: pd.Series, target_list: list[str]) -> dict[str, Any]:
    distance = plain(row["distance_m"])
    return {
        "address_id": row["address_id"],
        "access": row["access"],
        "technology": row["technology"],
        "max_down_mbps": float(row["max_down_mbps"]),
        "gigabit_ready": bool(row["gigabit_ready"]),
        "open_network": bool(row["open_network"]),
        "distance_m": distance,
        "households": int(row["households"]),
        "workplaces": int(row["workplaces"]),
        "kommun_code": row["kommun_code"],
        "tatort_code": row["tatort_code"],
        "segment_id": row["segment_id"],
        "public_site": row["public_site"],
        "targets": [
            (t, bool(row[f"pass_{t}"]), row[f"reason_{t}"], plain(row[f"pass_year_{t}"]))
            for t in target_list
        ],
    }


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "address_id",
        "access",
        "technology",
        "max_down_mbps",
        "gigabit_ready",
        "open_network",
        "distance_m",
        "households",
        "workplaces",
        "kommun_code",
        "tatort_code",
        "segment_id",
        "public_site",
    )
    out = {k: body[k] for k in keys}
    out["targets"] = [(t["id"], t["passed"], t["reason"], t["pass_year"]) for t in body["targets"]]
    return out


def test_every_address_equals_parquet(client, runs_dir):
    table = addresses(runs_dir)
    ids = target_ids(runs_dir)
    wgs = table.geometry.to_crs(4326)
    reasons = figures(runs_dir)["reasons"]
    for i, row in table.iterrows():
        r = client.get(f"/addresses/{row['address_id']}", headers=PLANNER)
        assert r.status_code == 200
        body = r.json()
        assert _answer(body) == _expected_address(row, ids)
        assert body["lon"] == pytest.approx(wgs.iloc[i].x, abs=1e-9)
        assert body["lat"] == pytest.approx(wgs.iloc[i].y, abs=1e-9)
        assert body["lookup_distance_m"] is None
        for t in body["targets"]:
            assert t["reason_text"] == reasons.get(t["reason"], "")


def test_address_values_known_by_hand(client):
    a07 = client.get("/addresses/A07?run=r1", headers=PLANNER).json()
    assert (a07["access"], a07["distance_m"], a07["gigabit_ready"]) == ("none", None, False)
    hh = next(t for t in a07["targets"] if t["id"] == HH)
    assert (hh["passed"], hh["reason"], hh["pass_year"]) == (False, "planned_after_deadline", 2028)
    a03 = client.get("/addresses/A03", headers=PLANNER).json()
    assert (a03["access"], a03["technology"], a03["distance_m"]) == ("passed", "fibre", 30.0)
    assert (a03["max_down_mbps"], a03["gigabit_ready"], a03["open_network"]) == (1000, True, True)
    assert a03["segment_id"] == "F1" and a03["households"] == 3
    a11 = client.get("/addresses/A11", headers=PLANNER).json()
    assert (a11["access"], a11["distance_m"]) == ("near", 200.0)
    assert {t["reason"] for t in a11["targets"]} == {"too_far"}
    a12_r1 = client.get("/addresses/A12?run=r1", headers=PLANNER).json()
    a12_r2 = client.get("/addresses/A12?run=r2", headers=PLANNER).json()
    assert (a12_r1["access"], a12_r2["access"]) == ("none", "passed")


def test_lookup_lonlat_picks_nearest(client, runs_dir):
    table = addresses(runs_dir)
    ids = target_ids(runs_dir)
    for aid in ("A03", "A08", "A11"):
        dx, dy = OFFSETS[aid]
        lon, lat = lonlat(dx + 3, dy + 4)  # 5 m away; every other address is farther
        r = client.get(f"/lookup?lon={lon}&lat={lat}", headers=PLANNER)
        assert r.status_code == 200
        body = r.json()
        row = table.loc[table["address_id"] == aid].iloc[0]
        assert _answer(body) == _expected_address(row, ids)
        assert body["lookup_distance_m"] == pytest.approx(5.0, abs=0.01)


def test_lookup_xy_in_working_crs(client):
    # (35, 12) is 15.1 m from A01 at (20, 10) and 25.3 m from A02 at (60, 20).
    body = client.get(f"/lookup?x={X0 + 35}&y={Y0 + 12}&crs=EPSG:3006", headers=PLANNER).json()
    assert body["address_id"] == "A01"
    assert body["lookup_distance_m"] == pytest.approx(math.hypot(15, 2))
    # (45, 12) is nearer A02.
    body = client.get(f"/lookup?x={X0 + 45}&y={Y0 + 12}&crs=EPSG:3006", headers=PLANNER).json()
    assert body["address_id"] == "A02"
    # Exactly between A01 and A02: the lower id.
    body = client.get(f"/lookup?x={X0 + 40}&y={Y0 + 15}", headers=PLANNER).json()
    assert body["address_id"] == "A01"


# ------------------------------------------------------------------------------------------
# Layers and tiles
# ------------------------------------------------------------------------------------------


def test_layer_addresses_all_in_wgs84(client, runs_dir):
    table = addresses(runs_dir)
    wgs = table.geometry.to_crs(4326)
    r = client.get("/layers/addresses", headers=PLANNER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert (fc["numberMatched"], fc["numberReturned"], fc["nextOffset"]) == (12, 12, None)
    assert [f["properties"]["address_id"] for f in fc["features"]] == table["address_id"].tolist()
    for f, point, (_, row) in zip(fc["features"], wgs, table.iterrows(), strict=True):
        lon, lat = f["geometry"]["coordinates"]
        assert lon == pytest.approx(point.x, abs=1e-6) and lat == pytest.approx(point.y, abs=1e-6)
        assert 15.2 < lon < 15.4 and 60.1 < lat < 60.2
        props = f["properties"]
        assert props["access"] == row["access"] and props[f"pass_{HH}"] == row[f"pass_{HH}"]
        assert props[f"reason_{HH}"] == row[f"reason_{HH}"]


def test_layer_bbox_returns_exactly_the_addresses_inside(client, runs_dir):
    # Around A01-A06 (y <= 40) and not A07 (y=290) or A10 (x=600).
    lon0, lat0 = lonlat(-20, -20)
    lon1, lat1 = lonlat(300, 120)
    bbox = f"{lon0},{lat0},{lon1},{lat1}"
    fc = client.get(f"/layers/addresses?bbox={bbox}", headers=PLANNER).json()
    got = [f["properties"]["address_id"] for f in fc["features"]]
    assert got == ["A01", "A02", "A03", "A04", "A05", "A06"]
    assert fc["numberMatched"] == 6
    wgs = addresses(runs_dir).set_index("address_id").geometry.to_crs(4326)
    inside = wgs[(wgs.x >= lon0) & (wgs.x <= lon1) & (wgs.y >= lat0) & (wgs.y <= lat1)]
    assert got == sorted(inside.index)
    # The network layer in the same bbox: F1 crosses it, F2 (y=300) and F3 do not.
    net = client.get(f"/layers/network?bbox={bbox}", headers=PLANNER).json()
    assert [f["properties"]["segment_id"] for f in net["features"]] == ["F1"]
    assert net["features"][0]["geometry"]["type"] == "LineString"


def test_layer_paging(client):
    url = "/layers/addresses?limit=5&offset={}"
    pages = [client.get(url.format(o), headers=PLANNER).json() for o in (0, 5, 10)]
    assert [(p["numberMatched"], p["numberReturned"], p["nextOffset"]) for p in pages] == [
        (12, 5, 5),
        (12, 5, 10),
        (12, 2, None),
    ]
    ids = [f["properties"]["address_id"] for p in pages for f in p["features"]]
    assert ids == [f"A{i:02d}" for i in range(1, 13)]
    beyond = client.get(url.format(50), headers=PLANNER).json()
    assert (beyond["numberReturned"], beyond["nextOffset"], beyond["features"]) == (0, None, [])


def test_layer_network_attributes(client, runs_dir):
    fc = client.get("/layers/network?run=r1", headers=PLANNER).json()
    props = {f["properties"]["segment_id"]: f["properties"] for f in fc["features"]}
    assert set(props) == {"F1", "F2"}
    assert (props["F1"]["status"], props["F1"]["in_service"]) == ("existing", True)
    assert (props["F2"]["status"], props["F2"]["year"], props["F2"]["in_service"]) == (
        "planned",
        2028,
        False,
    )
    assert fc["features"][0]["geometry"]["coordinates"][0] == pytest.approx(
        lonlat(-1000, 0), abs=1e-6
    )
    r2 = client.get("/layers/network?run=r2", headers=PLANNER).json()
    assert [f["properties"]["segment_id"] for f in r2["features"]] == ["F1", "F2", "F3"]


def test_layer_grid_public_suppressed(client):
    fc = client.get("/layers/grid_250m").json()
    props = {f["properties"]["area_id"]: f["properties"] for f in fc["features"]}
    assert props[SMALL_CELL]["households"] is None
    assert props[SMALL_CELL][f"{HH}__share"] is None
    assert props[SMALL_CELL][f"{HH}__suppressed"] is True
    assert props[BIG_CELL][f"{HH}__share"] == 1.0
    planner = client.get("/layers/grid_250m", headers=PLANNER).json()
    small = next(f for f in planner["features"] if f["properties"]["area_id"] == SMALL_CELL)
    assert small["properties"]["households"] == 4


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    half = 20037508.342789244
    size = 2 * half / 2**z
    return (-half + x * size, half - (y + 1) * size, -half + (x + 1) * size, half - y * size)


def _addresses_in_tile(z: int, x: int, y: int, pad_px: float) -> dict[str, tuple[float, float]]:
    """Addresses (id -> tile pixel coordinates, y up) inside the tile widened by pad_px."""
    x0, y0, x1, y1 = _tile_bounds(z, x, y)
    scale = 4096 / (x1 - x0)
    pad = pad_px / scale
    out = {}
    for aid, (dx, dy) in OFFSETS.items():
        mx, my = TO_MERC.transform(X0 + dx, Y0 + dy)
        if x0 - pad <= mx <= x1 + pad and y0 - pad <= my <= y1 + pad:
            out[aid] = ((mx - x0) * scale, (my - y0) * scale)
    return out


def test_tile_addresses_contains_the_addresses_of_the_tile(client):
    r = client.get(f"/tiles/addresses/{TILE}.mvt", headers=PLANNER)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(r.content)
    assert list(decoded) == ["addresses"]
    features = decoded["addresses"]["features"]
    got = {f["properties"]["address_id"]: f for f in features}
    inside = _addresses_in_tile(Z, TX, TY, 0)
    padded = _addresses_in_tile(Z, TX, TY, 64)
    assert "A01" in inside
    assert set(inside) <= set(got) <= set(padded)
    for aid, (px, py) in inside.items():
        f = got[aid]
        assert f["geometry"]["type"] == "Point"
        gx, gy = f["geometry"]["coordinates"]
        assert abs(gx - px) <= 1 and abs(gy - py) <= 1
    a01 = got["A01"]["properties"]
    assert a01 == {
        "address_id": "A01",
        "access": "passed",
        "technology": "fibre",
        "max_down_mbps": 1000.0,
    }


def test_tile_network_is_clipped(client):
    r = client.get(f"/tiles/network/{TILE}.mvt?run=r1", headers=PLANNER)
    assert r.status_code == 200
    features = mapbox_vector_tile.decode(r.content)["network"]["features"]
    assert {f["properties"]["segment_id"] for f in features} == {"F1", "F2"}
    for f in features:
        xy = np.asarray(f["geometry"]["coordinates"], dtype=float)
        assert xy.min() >= -64 and xy.max() <= 4096 + 64


def test_tile_grid_public_suppressed(client):
    r = client.get(f"/tiles/grid_250m/{TILE}.mvt")
    assert r.status_code == 200
    features = mapbox_vector_tile.decode(r.content)["grid_250m"]["features"]
    props = {f["properties"]["area_id"]: f["properties"] for f in features}
    assert {BIG_CELL, SMALL_CELL} <= set(props)
    assert props[BIG_CELL]["households"] == 10
    assert props[BIG_CELL][f"{HH}__numerator"] == 10
    assert "households" not in props[SMALL_CELL]
    assert f"{HH}__numerator" not in props[SMALL_CELL]
    assert props[SMALL_CELL][f"{HH}__suppressed"] is True


@pytest.mark.parametrize("name", ["addresses", "network", "grid_250m"])
def test_empty_tile_is_204(client, name):
    r = client.get(f"/tiles/{name}/{Z}/0/0.mvt", headers=PLANNER)
    assert r.status_code == 204 and r.content == b""


# ------------------------------------------------------------------------------------------
# Exports
# ------------------------------------------------------------------------------------------


def test_export_areas_csv_public_is_suppressed(client, runs_dir):
    r = client.get("/exports/areas/grid_250m.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "bbplan-r2-grid_250m.csv" in r.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(r.text), dtype={"area_id": str})
    rows = table.set_index("area_id")
    assert pd.isna(rows.loc[SMALL_CELL, "households"])
    assert pd.isna(rows.loc[SMALL_CELL, f"{HH}__numerator"])
    assert bool(rows.loc[SMALL_CELL, f"{HH}__suppressed"]) is True
    assert rows.loc[BIG_CELL, "households"] == 10
    assert rows.loc[BIG_CELL, f"{HH}__numerator"] == 10
    stored = pd.read_csv(runs_dir / "r2" / "areas" / "grid_250m.csv", dtype={"area_id": str})
    assert table["area_id"].tolist() == stored["area_id"].tolist()
    planner = pd.read_csv(
        io.StringIO(client.get("/exports/areas/grid_250m.csv", headers=PLANNER).text),
        dtype={"area_id": str},
    )
    assert planner.set_index("area_id").loc[SMALL_CELL, "households"] == 4


@pytest.mark.parametrize("fmt", ["gpkg", "parquet"])
def test_export_addresses(client, runs_dir, tmp_path, fmt):
    r = client.get(f"/exports/addresses.{fmt}?run=r1", headers=PLANNER)
    assert r.status_code == 200
    assert f"bbplan-r1-addresses.{fmt}" in r.headers["content-disposition"]
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(r.content)
    got = gpd.read_parquet(path) if fmt == "parquet" else gpd.read_file(path, layer="addresses")
    stored = addresses(runs_dir, "r1")
    assert got["address_id"].tolist() == stored["address_id"].tolist()
    assert got["access"].tolist() == stored["access"].tolist()
    assert got.crs.to_epsg() == 3006
    assert np.allclose(got.geometry.x, stored.geometry.x)


# ------------------------------------------------------------------------------------------
# Diff
# ------------------------------------------------------------------------------------------


def test_diff_r1_r2_is_a12_only(client, runs_dir):
    r = client.get("/runs/r1/diff/r2", headers=PLANNER)
    assert r.status_code == 200
    body = r.json()
    assert (body["run_a"], body["run_b"], body["number_matched"]) == ("r1", "r2", 1)
    [change] = body["changes"]
    assert (change["address_id"], change["change"]) == ("A12", "changed")
    assert (change["access_a"], change["access_b"]) == ("none", "passed")
    assert (change["technology_a"], change["technology_b"]) == ("", "fibre")
    assert (change["gigabit_ready_a"], change["gigabit_ready_b"]) == (False, True)
    for t in target_ids(runs_dir):
        assert change[f"delta_{t}"] == 1
    totals = body["totals"]
    assert (totals["added"], totals["removed"], totals["changed"]) == (0, 0, 1)
    hh = totals["targets"][HH]
    assert (hh["addresses_gained"], hh["addresses_lost"]) == (1, 0)
    assert (hh["units_gained"], hh["units_lost"]) == (2, 0)  # A12 holds 2 households
    assert hh["by_kommun"] == {"2061": {"units_gained": 2, "units_lost": 0}}
    assert totals["targets"][WP]["units_gained"] == 0  # A12 has no workplace
    # The same figures as the runs' own totals.
    before = {f["id"]: f for f in figures(runs_dir, "r1")["targets"]}
    after = {f["id"]: f for f in figures(runs_dir, "r2")["targets"]}
    for t, tot in totals["targets"].items():
        net = tot["units_gained"] - tot["units_lost"]
        assert after[t]["numerator"] - before[t]["numerator"] == net


def test_diff_reverse_and_filters(client):
    back = client.get("/runs/r2/diff/r1", headers=PLANNER).json()
    [change] = back["changes"]
    assert (change["access_a"], change["access_b"]) == ("passed", "none")
    assert back["totals"]["targets"][HH]["units_lost"] == 2
    added = client.get("/runs/r1/diff/r2?change=added", headers=PLANNER).json()
    assert (added["number_matched"], added["changes"]) == (0, [])
    changed = client.get("/runs/r1/diff/r2?change=changed&limit=1", headers=PLANNER).json()
    assert changed["number_matched"] == 1


def test_diff_with_itself_is_empty(client):
    body = client.get("/runs/r1/diff/r1", headers=PLANNER).json()
    assert body["number_matched"] == 0 and body["changes"] == []
    totals = body["totals"]
    assert (totals["added"], totals["removed"], totals["changed"]) == (0, 0, 0)
    for tot in totals["targets"].values():
        assert (tot["units_gained"], tot["units_lost"]) == (0, 0)


# ------------------------------------------------------------------------------------------
# Roles
# ------------------------------------------------------------------------------------------

PLANNER_URLS = [u for urls in PLANNER_ROUTES.values() for u in urls]
PUBLIC_URLS = [u for urls in PUBLIC_ROUTES.values() for u in urls]


@pytest.mark.parametrize("url", PLANNER_URLS)
def test_planner_routes_need_a_key(client, url):
    for headers in ({}, WRONG):
        r = client.get(url, headers=headers)
        assert r.status_code == 401, (url, headers)
        assert r.headers["www-authenticate"] == "ApiKey"
        assert "X-API-Key" in r.json()["detail"]
    for headers in (PLANNER, ADMIN):
        r = client.get(url, headers=headers)
        assert r.status_code == 200, (url, headers, r.text[:200])


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_routes_need_no_key(client, url):
    assert client.get(url).status_code == 200
    assert client.get(url, headers=PLANNER).status_code == 200


def test_admin_reload_roles(client):
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers=WRONG).status_code == 401
    r = client.post("/admin/reload", headers=PLANNER)
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = client.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 200 and r.json() == {"latest_run": "r2"}


def test_every_route_has_a_role_decision(client):
    paths = client.app.openapi()["paths"]
    get_paths = {p for p, ops in paths.items() if "get" in ops}
    assert get_paths == set(PUBLIC_ROUTES) | set(PLANNER_ROUTES)
    other = {(p, m) for p, ops in paths.items() for m in ops if m != "get"}
    assert other == ADMIN_ROUTES
    # Only the per-name layer routes are both: public for areas, planner for points and network.
    assert set(PUBLIC_ROUTES) & set(PLANNER_ROUTES) == {
        "/layers/{name}",
        "/tiles/{name}/{z}/{x}/{y}.mvt",
    }


def test_network_and_addresses_are_never_public(client):
    for name in ("addresses", "network"):
        assert client.get(f"/layers/{name}").status_code == 401
        assert client.get(f"/tiles/{name}/{TILE}.mvt").status_code == 401
    html = client.get("/map").text
    assert "A01" not in html and "F1" not in html


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def _problem(r: Any, status: int, parameter: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert detail["parameter"] == parameter, detail
    assert detail["problem"]
    return str(detail["problem"])


def test_unknown_run(client):
    _problem(client.get("/runs/nope"), 404, "run")
    _problem(client.get("/compliance?run=nope"), 404, "run")
    _problem(client.get("/areas/grid_1km?run=nope"), 404, "run")
    _problem(client.get("/runs/r1/diff/nope", headers=PLANNER), 404, "run")
    _problem(client.get("/addresses/A01?run=nope", headers=PLANNER), 404, "run")


def test_unknown_target_area_and_address(client):
    _problem(client.get("/compliance/nope"), 404, "target_id")
    _problem(client.get("/timeline/nope"), 404, "target_id")
    _problem(client.get(f"/compliance/{HH}?area_level=grid_1km&area_id=zz"), 404, "area_id")
    _problem(client.get(f"/compliance/{HH}?area_level=custom"), 404, "area_level")
    _problem(client.get("/areas/custom"), 404, "level")
    _problem(client.get("/layers/custom"), 404, "name")
    _problem(client.get("/addresses/ZZZ", headers=PLANNER), 404, "address_id")


@pytest.mark.parametrize(
    "url",
    [
        "/areas/bogus",
        "/areas/grid_1km?format=xml",
        "/layers/bogus",
        "/tiles/bogus/1/0/0.mvt",
        "/exports/areas/bogus.csv",
        f"/compliance/{HH}?area_level=bogus",
        "/compliance/NOT-A-TARGET",
    ],
)
def test_bad_names(client, url):
    assert client.get(url).status_code in (404, 422)


@pytest.mark.parametrize(
    "bbox", ["1,2,3", "16,60,15,61", "15,61,16,60", "a,b,c,d", "10,55,20,65", "1,2,3,nan"]
)
def test_bad_bbox(client, bbox):
    for url in (f"/layers/grid_1km?bbox={bbox}", f"/layers/addresses?bbox={bbox}"):
        _problem(client.get(url, headers=PLANNER), 422, "bbox")


def test_bad_tiles(client):
    assert client.get("/tiles/grid_1km/23/0/0.mvt").status_code == 422
    assert client.get("/tiles/grid_1km/-1/0/0.mvt").status_code == 422
    _problem(client.get("/tiles/grid_1km/2/4/0.mvt"), 422, "x/y")
    _problem(client.get("/tiles/grid_1km/2/0/4.mvt"), 422, "x/y")
    _problem(client.get(f"/tiles/addresses/{Z}/{2**Z}/0.mvt", headers=PLANNER), 422, "x/y")


def test_bad_lookups(client):
    _problem(client.get("/lookup", headers=PLANNER), 422, "lon/lat")
    _problem(client.get("/lookup?lon=15.3", headers=PLANNER), 422, "lon/lat")
    _problem(client.get("/lookup?x=1", headers=PLANNER), 422, "lon/lat")
    _problem(client.get("/lookup?x=inf&y=1", headers=PLANNER), 422, "lon/lat")
    _problem(client.get("/lookup?x=1&y=2&crs=EPSG:99999", headers=PLANNER), 422, "crs")
    assert client.get("/lookup?lon=200&lat=60", headers=PLANNER).status_code == 422
    far = "/lookup?lon={}&lat={}".format(*lonlat(1500, 1500))  # >500 m from every address
    _problem(client.get(far, headers=PLANNER), 404, "lon/lat")
    _problem(client.get("/lookup?lon=18&lat=59", headers=PLANNER), 404, "lon/lat")


@pytest.mark.parametrize(
    "url",
    [
        "/runs/..%2F..",
        "/runs/..%2F..%2Fetc",
        "/compliance?run=..%2F..",
        "/compliance?run=..",
        "/compliance?run=.tmp-r1",
        "/runs/r1/diff/..%2Fr2",
    ],
)
def test_path_traversal_run_ids(client, url):
    r = client.get(url, headers=PLANNER)
    assert r.status_code in (404, 422), r.text


def test_limit_caps(client):
    _problem(client.get("/layers/grid_1km?limit=10001"), 422, "limit")
    _problem(client.get("/runs/r1/diff/r2?limit=10001", headers=PLANNER), 422, "limit")
    assert client.get("/layers/grid_1km?limit=0").status_code == 422
    assert client.get("/layers/grid_1km?offset=-1").status_code == 422
    assert client.get("/layers/grid_1km?limit=10000").status_code == 200


def test_request_body_too_large(client):
    r = client.post("/admin/reload", headers=ADMIN, content=b"x" * 1_000_001)
    _problem(r, 413, "body")
    # Checked before the key, so nobody can make the server read a huge body.
    assert client.post("/admin/reload", content=b"x" * 2_000_000).status_code == 413


# ------------------------------------------------------------------------------------------
# HTTP behaviour
# ------------------------------------------------------------------------------------------


def test_gzip_on_large_response(client):
    r = client.get("/layers/addresses", headers={**PLANNER, "Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["numberReturned"] == 12  # httpx decompressed it
    plain_r = client.get("/layers/addresses", headers={**PLANNER, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain_r.headers
    assert plain_r.json() == r.json()


def test_etag_and_not_modified(client):
    r = client.get("/compliance")
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert r.headers["x-run-id"] == "r2"
    assert r.headers["cache-control"] == "private, max-age=60"
    again = client.get("/compliance", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/compliance", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    # Another run, another query or another role: another ETag.
    assert client.get("/compliance?run=r1").headers["etag"] != etag
    assert (
        client.get("/areas/grid_250m").headers["etag"]
        != (client.get("/areas/grid_250m", headers=PLANNER).headers["etag"])
    )


def test_not_modified_drops_a_streamed_body_and_keeps_security_headers(client):
    url = "/exports/addresses.gpkg?run=r1"
    r = client.get(url, headers=PLANNER)
    # A file answer comes in 64 KiB body messages: every one is dropped for the 304.
    assert r.status_code == 200 and len(r.content) > FileResponse.chunk_size
    again = client.get(url, headers={**PLANNER, "If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == r.headers["etag"]
    assert again.headers["x-content-type-options"] == "nosniff"
    assert "content-length" not in again.headers and "content-type" not in again.headers


def test_switch_interval_is_set_for_the_server_life_and_given_back(runs_dir):
    before = sys.getswitchinterval()
    with TestClient(create_app(make_settings(runs_dir, switch_interval_ms=2.5))) as c:
        assert sys.getswitchinterval() == pytest.approx(0.0025)
        assert c.get("/compliance").status_code == 200
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="switch_interval_ms"):
        make_settings(runs_dir, switch_interval_ms=0)


def test_refusals_carry_the_security_headers(client):
    r = client.post("/admin/reload", headers=ADMIN, content=b"x" * 1_000_001)
    assert r.status_code == 413 and r.headers["x-frame-options"] == "DENY"


def test_access_log_names_the_route_template_and_the_status_sent(client, caplog):
    etag = client.get("/addresses/A03?run=r1", headers=PLANNER).headers["etag"]
    with caplog.at_level(logging.INFO, logger="bbplan.access"):
        client.get("/addresses/A03?run=r1", headers={**PLANNER, "If-None-Match": etag})
        client.get("/addresses/nobody", headers=PLANNER)
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "bbplan.access"]
    assert [line.rsplit(" ", 2)[0] for line in lines] == [
        "GET /addresses/{address_id} 304",
        "GET /addresses/{address_id} 404",
    ]
    # Never the concrete path, the query or the key.
    assert not any("A03" in line or "r1" in line or "nobody" in line for line in lines)


def test_cache_control_immutable_for_named_run(client):
    r = client.get("/compliance?run=r1")
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert r.headers["x-run-id"] == "r1"
    r = client.get(f"/tiles/grid_1km/{TILE}.mvt?run=r1")
    assert "immutable" in r.headers["cache-control"]


def test_cors(runs_dir):
    app = create_app(make_settings(runs_dir, cors_origins=["https://dash.example"]))
    with TestClient(app) as c:
        ok = c.get("/compliance", headers={"Origin": "https://dash.example"})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"
        other = c.get("/compliance", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        pre = c.options(
            "/compliance",
            headers={
                "Origin": "https://dash.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://dash.example"


def test_no_cors_by_default(client):
    r = client.get("/compliance", headers={"Origin": "https://dash.example"})
    assert "access-control-allow-origin" not in r.headers


# ------------------------------------------------------------------------------------------
# Map page
# ------------------------------------------------------------------------------------------


def test_map_page_uses_local_scripts(client):
    r = client.get("/map")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in html
    assert '<script src="/static/map.js"></script>' in html
    assert "/static/vendor/leaflet/leaflet.css" in html
    for cdn in ("cdn.", "unpkg", "jsdelivr", "cdnjs", "googleapis", "bootstrap", "jquery"):
        assert cdn not in html
    assert '<script src="http' not in html and 'href="http' not in html
    assert '"runId": "r2"' in html and "bbplanInit(" in html
    for path in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet/leaflet.css",
        "/static/map.js",
        "/static/map.css",
    ):
        s = client.get(path)
        assert s.status_code == 200 and len(s.content) > 100, path
    assert client.get("/", follow_redirects=False).headers["location"] == "/map"


def test_map_page_initialises_after_the_map_exists(client):
    html = client.get("/map").text
    call = html.index("bbplanInit(")
    # The call runs when the document has loaded, i.e. after every inline script, including
    # the one that creates the map (the real-browser test checks the page end to end).
    listener = html.rindex('document.addEventListener("DOMContentLoaded"', 0, call)
    assert html[listener:call].count(";") == 0
    name = html[call + len("bbplanInit(") :].split(",", 1)[0].strip()
    assert f"var {name} = L.map(" in html


def test_store_serves_a_loaded_run_from_memory_until_a_check_is_due(runs_dir: Path) -> None:
    from api.store import RunStore

    store = RunStore(make_settings(runs_dir, reload_interval_s=3600))
    assert store.cached() is None  # nothing checked or loaded yet: the slow path
    latest = store.get()
    assert latest.run_id == "r2"
    assert store.cached() is latest and store.cached("r2") is latest
    assert store.cached("r1") is None  # not loaded yet
    store._checked -= 7200  # the reload interval has passed: a check is due
    assert store.cached() is None
    assert store.cached("r2") is latest  # a named run never changes
