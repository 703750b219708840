"""Map layers: paged GeoJSON (WGS 84) and Mapbox vector tiles, with roles per layer."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.cache import cached_response
from api.deps import CurrentRun, paging, settings_of
from api.errors import ForbiddenError, NotFoundError, UnauthorizedError
from api.geo import encode_tile, feature_collection, parse_bbox, select
from api.security import Role, caller_role
from api.store import LAYERS, RunData

router = APIRouter(tags=["layers"])
LayerName = Annotated[
    str, Path(pattern="^(addresses|network|gaps|kommun|tatort|grid_250m|grid_1km|custom)$")
]
Caller = Annotated[Role, Depends(caller_role)]
#: Address attributes shown on the map (the full record is one lookup away).
ADDRESS_PROPS = [
    "address_id",
    "households",
    "workplaces",
    "public_site",
    "access",
    "technology",
    "max_down_mbps",
    "gigabit_ready",
    "open_network",
    "distance_m",
]


def _check_role(name: str, role: Role) -> None:
    # Address points and network routes are never public (SPEC §7).
    if LAYERS[name] and role < Role.planner:
        if role == Role.public:
            raise UnauthorizedError("planner")
        raise ForbiddenError("planner")


def layer_properties(data: RunData, name: str, role: Role, min_units: int) -> pd.DataFrame:
    """Attributes served with a layer's features."""
    if name not in data.layers:
        raise NotFoundError("name", f"run {data.run_id} has no layer '{name}'")
    frame = data.layers[name].frame
    if name == "addresses":
        pass_cols = [
            c
            for c in frame.columns
            if c.startswith(("pass_", "reason_")) and not c.startswith("pass_year")
        ]
        return frame[ADDRESS_PROPS + pass_cols]
    if name == "network":
        return frame[
            ["segment_id", "technology", "status", "year", "open_network", "owner", "in_service"]
        ]
    return frame if role >= Role.planner else data.public_table("layer", name, frame, min_units)


def layer_response(
    request: Request,
    data: RunData,
    name: str,
    role: Role,
    bbox: str | None,
    limit: int | None,
    offset: int,
) -> Response:
    """GeoJSON page of a layer (shared by /layers and /areas?format=geojson)."""
    _check_role(name, role)
    settings = settings_of(request)
    box = parse_bbox(bbox, settings.max_bbox_km2)

    def make() -> bytes:
        props = layer_properties(data, name, role, settings.min_units)
        positions = select(data.layers[name], box)
        size = limit if limit is not None else max(len(positions), 1)
        return feature_collection(data.layers[name], props, positions, size, offset)

    key = ("geojson", name, role >= Role.planner, box, limit, offset)
    return cached_response(request, data.responses, key, make, "application/geo+json")


@router.get(
    "/layers/{name}",
    operation_id="layer_geojson",
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "GeoJSON FeatureCollection"}
    },
)
def layer(
    request: Request,
    data: CurrentRun,
    role: Caller,
    name: LayerName,
    page: Annotated[tuple[int, int], Depends(paging)],
    bbox: Annotated[
        str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS 84)", max_length=200)
    ] = None,
) -> Response:
    """A map layer as GeoJSON in EPSG:4326, filtered by bbox and paged (limit/offset).

    Address points and the network need a planner key; area layers are public with small
    counts suppressed.
    """
    return layer_response(request, data, name, role, bbox, *page)


@router.get(
    "/tiles/{name}/{z}/{x}/{y}.mvt",
    operation_id="layer_tile",
    responses={
        200: {"content": {"application/vnd.mapbox-vector-tile": {}}},
        204: {"description": "Empty tile"},
    },
)
def tile(
    request: Request,
    data: CurrentRun,
    role: Caller,
    name: LayerName,
    z: Annotated[int, Path(ge=0, le=22)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
) -> Response:
    """A Mapbox vector tile of a layer (one tile layer named after it); 204 when empty."""
    _check_role(name, role)
    min_units = settings_of(request).min_units

    def make() -> bytes:
        props = layer_properties(data, name, role, min_units)
        if name == "addresses":
            props = props[["address_id", "access", "technology", "max_down_mbps"]]
        return encode_tile(name, data.layers[name], props, z, x, y)

    key = ("tile", name, role >= Role.planner, z, x, y)
    return cached_response(request, data.responses, key, make, "application/vnd.mapbox-vector-tile")
