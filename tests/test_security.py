"""Security: every route of the OpenAPI schema as public, planner and admin; public answers
never carry address-level rows or network geometry; hostile ids never reach the file system."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.security import hash_key
from api.settings import Settings
from coverage.cli import app as cli

PLANNER = {"X-API-Key": "planner-secret"}
ADMIN = {"X-API-Key": "admin-secret"}
#: Routes that serve address-level data or the network: planner role (SPEC §7).
PLANNER_ROUTES = {
    "/runs/{run_a}/diff/{run_b}",
    "/lookup",
    "/addresses/{address_id}",
    "/exports/addresses.{fmt}",
}
PLANNER_LAYERS = {"addresses", "network", "gaps"}
ADMIN_ROUTES = {("post", "/admin/reload")}
ADDRESS_ID = re.compile(r"2061-\d{6}")
DESO = (
    Path(__file__).resolve().parent.parent
    / "gis_data"
    / "scb_dalarna"
    / "deso_2025_dalarna_raw.geojson"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    runs = tmp_path_factory.mktemp("sec") / "runs"
    for run_id in ("r1", "r2"):
        res = CliRunner().invoke(
            cli,
            [
                "run",
                "--runs-dir",
                str(runs),
                "--run-id",
                run_id,
                "--evaluation-date",
                "2026-06-01",
                "--areas",
                str(DESO),
            ],
        )
        assert res.exit_code == 0, res.output
    app = create_app(
        Settings(
            runs_dir=runs,
            planner_key_sha256=[hash_key("planner-secret")],
            admin_key_sha256=[hash_key("admin-secret")],
            reload_interval_s=0,
            rate_limit="",
            basemap_url="",
        )
    )
    with TestClient(app) as c:
        yield c


def _alternatives(schema: dict[str, Any]) -> list[str]:
    pattern = schema.get("pattern", "")
    match = re.fullmatch(r"\^\(([\w|]+)\)\$", pattern)
    return match.group(1).split("|") if match else []


def _values(client: Any, param: dict[str, Any]) -> list[Any]:
    """Concrete values for a path or query parameter of the schema."""
    name = param["name"]
    schema = param.get("schema", {})
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
    if alts := _alternatives(schema):
        return alts
    targets = [t["id"] for t in client.get("/compliance").json()["targets"]]
    known: dict[str, list[Any]] = {
        "run_id": ["r1"],
        "run_a": ["r1"],
        "run_b": ["r2"],
        "run": ["r1"],
        "target_id": targets,
        "address_id": ["2061-000001"],
        "z": [12],
        "x": [2223],
        "y": [1188],
        "lon": [15.42],
        "lat": [60.14],
        "bbox": ["15.38,60.12,15.45,60.16"],
        "area_id": ["2061"],
        "limit": [50],
        "offset": [0],
        "crs": ["EPSG:3006"],
    }
    return known.get(name, [])


def concrete_requests(client: Any) -> list[tuple[str, str, str]]:
    """(method, template, url) for every operation, with every enumerable parameter value."""
    out = []
    for template, ops in client.app.openapi()["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            path_params = [p for p in params if p["in"] == "path"]
            choices = [[(p["name"], v) for v in _values(client, p)] for p in path_params]
            query = [
                p
                for p in params
                if p["in"] == "query" and p["name"] not in ("x", "y", "crs", "offset")
            ]
            for combo in itertools.product(*choices):
                url = template
                for name, value in combo:
                    url = url.replace("{" + name + "}", str(value))
                qs = []
                for p in query:
                    vals = _values(client, p)
                    if vals and (p.get("required") or p["name"] in ("lon", "lat")):
                        qs.append(f"{p['name']}={vals[0]}")
                out.append((method, template, url + ("?" + "&".join(qs) if qs else "")))
                for p in query:  # each optional enumerable parameter value on its own
                    if p.get("required") or p["name"] in ("lon", "lat"):
                        continue
                    for v in _values(client, p):
                        sep = "&" if qs else "?"
                        out.append(
                            (
                                method,
                                template,
                                url + ("?" + "&".join(qs) if qs else "") + f"{sep}{p['name']}={v}",
                            )
                        )
    return out


def needs(method: str, template: str, url: str) -> str:
    if (method, template) in ADMIN_ROUTES:
        return "admin"
    if template in PLANNER_ROUTES:
        return "planner"
    layer = re.match(r"/(layers|tiles)/(\w+)", url)
    if layer and layer.group(2) in PLANNER_LAYERS:
        return "planner"
    return "public"


def test_every_route_enforces_its_role(client: Any) -> None:
    reqs = concrete_requests(client)
    assert len({t for _, t, _ in reqs}) == len(client.app.openapi()["paths"])
    checked = 0
    for method, template, url in reqs:
        role = needs(method, template, url)
        call = getattr(client, method)
        public = call(url)
        planner = call(url, headers=PLANNER)
        admin = call(url, headers=ADMIN)
        wrong = call(url, headers={"X-API-Key": "not-a-key"})
        ok = {200, 204}
        if role == "public":
            assert public.status_code in ok, (url, public.status_code, public.text[:200])
        else:
            assert public.status_code == 401, (url, public.status_code)
        assert wrong.status_code == 401, (
            url,
            wrong.status_code,
        )  # an unknown key is refused everywhere
        if role == "admin":
            assert planner.status_code == 403, (url, planner.status_code)
        else:
            assert planner.status_code in ok, (url, planner.status_code, planner.text[:200])
        assert admin.status_code in ok, (url, admin.status_code, admin.text[:200])
        checked += 1
    assert checked > 60


def _no_address_data(url: str, resp: Any) -> None:
    ctype = resp.headers.get("content-type", "")
    if "vnd.mapbox-vector-tile" in ctype:
        tile = mapbox_vector_tile.decode(resp.content)
        assert set(tile) <= {"kommun", "tatort", "grid_250m", "grid_1km", "custom"}, url
        for layer in tile.values():
            for f in layer["features"]:
                assert f["geometry"]["type"] in ("Polygon", "MultiPolygon"), url
        return
    text = resp.text
    assert not ADDRESS_ID.search(text), f"{url} shows an address id"
    assert "address_id" not in text and "segment_id" not in text, url
    if "json" in ctype:
        body = json.loads(text)
        if isinstance(body, dict) and body.get("type") == "FeatureCollection":
            types = {f["geometry"]["type"] for f in body["features"] if f["geometry"]}
            assert types <= {"Polygon", "MultiPolygon"}, (url, types)


def test_public_answers_never_carry_address_rows_or_network_geometry(client: Any) -> None:
    seen = 0
    for method, _template, url in concrete_requests(client):
        if method != "get":
            continue
        resp = client.get(url)
        if resp.status_code == 200:
            _no_address_data(url, resp)
            seen += 1
    assert seen > 40


@pytest.mark.parametrize(
    "url",
    [
        # (un-encoded "/runs/.." is normalised away by any HTTP client before it is sent)
        "/runs/..%2F..%2Fetc",
        "/runs/%2e%2e",
        "/runs/.tmp-r1-1-abcdef12",
        "/compliance?run=..",
        "/compliance?run=../r1",
        "/compliance?run=%2Fetc%2Fpasswd",
        "/layers/..%2F..%2Fmanifest",
        "/layers/addresses%00",
        "/tiles/../r1/1/1/1.mvt",
        "/areas/%2e%2e",
        "/exports/areas/..%2Fmanifest.csv",
        "/static/../../coverage/runs.py",
        "/addresses/..%2F..%2Fmanifest.json",
    ],
)
def test_path_traversal_is_refused(client: Any, url: str) -> None:
    for headers in ({}, PLANNER, ADMIN):
        resp = client.get(url, headers=headers)
        assert resp.status_code in (401, 404, 422), (url, resp.status_code)
        assert "schema_version" not in resp.text and "import " not in resp.text


def test_security_headers_and_no_key_echo(client: Any) -> None:
    resp = client.get("/compliance", headers={"X-API-Key": "planner-secret"})
    for header in (
        "X-Content-Type-Options",
        "X-Frame-Options",
        "Content-Security-Policy",
        "Referrer-Policy",
    ):
        assert header in resp.headers
    assert "planner-secret" not in resp.text


def test_keys_never_appear_in_code_or_settings_defaults() -> None:
    root = Path(__file__).resolve().parent.parent
    settings = Settings()
    assert settings.planner_key_sha256 == [] and settings.admin_key_sha256 == []
    for path in (root / "api").rglob("*.py"):
        assert "secret" not in path.read_text(encoding="utf-8").lower(), path
