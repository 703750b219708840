"""Address lookups: what an address has and why it fails each target (planner role)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Any, cast

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Path, Query, Request
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from api.deps import CurrentRun, settings_of
from api.errors import BadParameterError, NotFoundError
from api.models import AddressResult, AddressTarget
from api.security import Role, require
from api.store import RunData

router = APIRouter(tags=["addresses"], dependencies=[require(Role.planner)])


def _units(row: dict[str, Any], population: str) -> int:
    """Units of a population at one address (the rule of coverage.targets.units, on a row)."""
    if population == "public_sites":
        return int(bool(row.get("public_site")))
    return sum(int(row[p]) for p in population.split("+"))


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def address_result(
    data: RunData, pos: int, lookup_distance_m: float | None = None
) -> AddressResult:
    """The record of the address at ``pos`` with its per-target results."""
    # The layer's attribute frame: the addresses without their geometry column, which a row
    # taken from the GeoDataFrame would copy through GeoPandas for nothing.
    row = cast(dict[str, Any], data.layers["addresses"].frame.iloc[pos].to_dict())
    reasons = data.figures.get("reasons", {})
    targets = []
    for tid, fig in data.targets.items():
        year = row.get(f"pass_year_{tid}")
        targets.append(
            AddressTarget(
                id=tid,
                label=str(fig["label"]),
                passed=bool(row[f"pass_{tid}"]),
                reason=str(row[f"reason_{tid}"]),
                reason_text=str(reasons.get(row[f"reason_{tid}"], "")),
                pass_year=None if pd.isna(year) else int(year),
                units=_units(row, str(fig["population"])),
            )
        )
    point = data.layers["addresses"].wgs84[pos]
    distance = row.get("distance_m")
    return AddressResult(
        **{
            k: row[k]
            for k in (
                "address_id",
                "kommun_code",
                "households",
                "workplaces",
                "holiday_homes",
                "connected",
                "access",
                "technology",
                "max_down_mbps",
                "gigabit_ready",
                "open_network",
            )
        },
        address=str(row.get("address") or ""),
        postcode=str(row.get("postcode") or ""),
        tatort_code=row.get("tatort_code"),
        public_site=str(row.get("public_site") or ""),
        segment_id=str(row.get("segment_id") or ""),
        distance_m=None if distance is None or math.isnan(float(distance)) else float(distance),
        lon=float(point.x),
        lat=float(point.y),
        lookup_distance_m=lookup_distance_m,
        targets=targets,
    )


@router.get("/addresses/{address_id}", response_model=AddressResult, operation_id="get_address")
async def get_address(
    data: CurrentRun, address_id: Annotated[str, Path(max_length=200)]
) -> AddressResult:
    """One address by id: access, technology, speed, gigabit-ready, open network, and per target
    pass/fail with the reason."""
    pos = data.position.get(address_id)
    if pos is None:
        raise NotFoundError("address_id", f"no address '{address_id}' in run {data.run_id}")
    return address_result(data, pos)


@router.get("/lookup", response_model=AddressResult, operation_id="lookup")
async def lookup(
    request: Request,
    data: CurrentRun,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    x: float | None = None,
    y: float | None = None,
    crs: Annotated[str, Query(max_length=50)] = "EPSG:3006",
) -> AddressResult:
    """The nearest address to a point (``lon``/``lat``, or ``x``/``y`` in ``crs``)."""
    # Async: one tree query and one row (well under a millisecond), so no thread hop.
    px, py = _to_working(lon, lat, x, y, crs, data.working_crs)
    radius = settings_of(request).lookup_radius_m
    layer = data.layers["addresses"]
    point = shapely.Point(px, py)
    idx, dist = layer.tree_working.query_nearest(
        [point], max_distance=radius, return_distance=True, all_matches=True
    )
    if len(idx[1]) == 0:
        raise NotFoundError("lon/lat", f"no address within {radius:.0f} m of the point")
    # Equidistant addresses: the lowest address id, as everywhere in bbplan. Ids are read only
    # for a tie (taking rows from a national run's id column costs milliseconds).
    tied = idx[1][dist == dist.min()]
    if len(tied) > 1:
        tied = tied[np.argsort(data.addresses["address_id"].iloc[tied].to_numpy().astype(str))]
    best = int(tied[0])
    return address_result(data, best, lookup_distance_m=float(dist.min()))


def _to_working(
    lon: float | None, lat: float | None, x: float | None, y: float | None, crs: str, working: str
) -> tuple[float, float]:
    if lon is not None and lat is not None:
        src, px, py = "EPSG:4326", lon, lat
    elif x is not None and y is not None:
        src, px, py = crs, x, y
    else:
        raise BadParameterError("lon/lat", "give lon and lat, or x and y (with crs)")
    if not (math.isfinite(px) and math.isfinite(py)):
        raise BadParameterError("lon/lat", "coordinates must be finite numbers")
    try:
        tr = _transformer(src, working)
    except CRSError:
        raise BadParameterError("crs", f"unknown CRS {crs!r}") from None
    wx, wy = tr.transform(px, py)
    if not (math.isfinite(wx) and math.isfinite(wy)):
        raise BadParameterError("lon/lat", "the point cannot be projected to the working CRS")
    return float(wx), float(wy)
