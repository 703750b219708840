"""Compliance figures per target, area and year (public, small counts suppressed)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.cache import cached_response
from api.deps import CurrentRun, paging, settings_of, target_of
from api.errors import NotFoundError
from api.models import (
    AreaFigure,
    Compliance,
    TargetCompliance,
    TargetFigure,
    TargetTimeline,
    Timeline,
)
from api.security import Role, caller_role
from api.store import AREA_LEVELS, RunData
from coverage.compliance import records
from coverage.disclosure import suppress_figure

router = APIRouter(tags=["compliance"])
Level = Annotated[
    str, Path(pattern="^(kommun|tatort|grid_250m|grid_1km|custom)$", description="Area level")
]
Caller = Annotated[Role, Depends(caller_role)]
Page = Annotated[tuple[int, int], Depends(paging)]


def _page_counts(matched: int, returned: int, offset: int) -> dict[str, int | None]:
    """Paging fields of an area list (as the GeoJSON layers have them)."""
    after = offset + returned
    return {
        "number_matched": matched,
        "number_returned": returned,
        "offset": offset,
        "next_offset": after if after < matched else None,
    }


def _first_year(data: RunData, target_id: str) -> int | None:
    value = data.timeline["targets"].get(target_id, {}).get("first_year_met")
    return int(value) if value is not None else None


def _public(row: dict[str, Any], role: Role, min_units: int) -> dict[str, Any]:
    return row if role >= Role.planner else suppress_figure(row, min_units)


def _target_figure(data: RunData, target_id: str, role: Role, min_units: int) -> TargetFigure:
    fig = {k: v for k, v in target_of(data, target_id).items() if k != "by_area"}
    return TargetFigure(
        **_public(fig, role, min_units), first_year_met=_first_year(data, target_id)
    )


def _timeline(data: RunData, target_id: str, role: Role, min_units: int) -> TargetTimeline:
    tl = dict(data.timeline["targets"][target_id])
    tl["years"] = [_public(p, role, min_units) for p in tl["years"]]
    return TargetTimeline(**tl)


@router.get("/compliance", response_model=Compliance, operation_id="compliance")
async def compliance(request: Request, data: CurrentRun, role: Caller) -> Compliance:
    """Every target's figure over the whole run: units passing, share, threshold, met, shortfall
    (public: figures resting on fewer than ``BBPLAN_MIN_UNITS`` units suppressed)."""
    # Async: a few dicts from memory, cheaper than a thread hop (heavier routes stay sync).
    min_units = settings_of(request).min_units
    return Compliance(
        run_id=data.run_id,
        evaluation_date=data.figures["evaluation_date"],
        targets=[_target_figure(data, t, role, min_units) for t in data.target_ids],
    )


@router.get(
    "/compliance/{target_id}", response_model=TargetCompliance, operation_id="compliance_target"
)
def compliance_target(
    request: Request,
    data: CurrentRun,
    role: Caller,
    target_id: Annotated[str, Path(pattern="^[a-z][a-z0-9_]{0,47}$")],
    page: Page,
    area_level: Annotated[
        str | None, Query(pattern="^(kommun|tatort|grid_250m|grid_1km|custom)$")
    ] = None,
    area_id: Annotated[str | None, Query(max_length=100)] = None,
) -> TargetCompliance:
    """One target, optionally per area of a level, paged by ``limit``/``offset`` (a national
    run has 10⁵-10⁶ squares per grid level; public: small areas suppressed)."""
    min_units = settings_of(request).min_units
    target = _target_figure(data, target_id, role, min_units)
    if area_level is None:
        return TargetCompliance(
            run_id=data.run_id, evaluation_date=data.figures["evaluation_date"], target=target
        )
    if area_level not in data.area_tables:
        raise NotFoundError("area_level", f"run {data.run_id} has no '{area_level}' areas")
    rows = data.area_figures(target_id, area_level)
    # Suppression is decided over the whole level (complementary cells), then filtered.
    hidden = data.public_mask(target_id, area_level, min_units) if role < Role.planner else None
    picked = np.arange(len(rows))
    if area_id is not None:
        picked = np.flatnonzero(rows["area_id"].to_numpy(dtype=object) == area_id)
        if not len(picked):
            raise NotFoundError("area_id", f"no area '{area_id}' at level {area_level}")
    limit, offset = page
    chosen = picked[offset : offset + limit]
    page_rows = records(rows.iloc[chosen])
    if hidden is not None:
        hide = hidden[chosen].tolist()
        page_rows = [suppress_figure(r, min_units, h) for r, h in zip(page_rows, hide, strict=True)]
    areas = [AreaFigure(**{"suppressed": False, **r}) for r in page_rows]
    return TargetCompliance(
        run_id=data.run_id,
        evaluation_date=data.figures["evaluation_date"],
        target=target,
        area_level=area_level,
        areas=areas,
        **_page_counts(len(picked), len(areas), offset),
    )


@router.get("/timeline", response_model=Timeline, operation_id="timeline")
async def timeline(request: Request, data: CurrentRun, role: Caller) -> Timeline:
    """Share per year under the build plan and the first year each target is met."""
    tl, min_units = data.timeline, settings_of(request).min_units
    return Timeline(
        run_id=data.run_id,
        evaluation_year=tl["evaluation_year"],
        plan_years=tl["plan_years"],
        targets=[_timeline(data, t, role, min_units) for t in data.target_ids],
    )


@router.get("/timeline/{target_id}", response_model=TargetTimeline, operation_id="timeline_target")
def timeline_target(
    request: Request,
    data: CurrentRun,
    role: Caller,
    target_id: Annotated[str, Path(pattern="^[a-z][a-z0-9_]{0,47}$")],
) -> TargetTimeline:
    """One target's timeline."""
    target_of(data, target_id)
    return _timeline(data, target_id, role, settings_of(request).min_units)


def area_table(data: RunData, level: str, role: Role, min_units: int) -> Any:
    """The wide per-area table of a level, suppressed for public callers."""
    if level not in data.area_tables or level not in AREA_LEVELS:
        raise NotFoundError("level", f"run {data.run_id} has no '{level}' areas")
    table = data.area_tables[level]
    return table if role >= Role.planner else data.public_table("table", level, table, min_units)


@router.get(
    "/areas/{level}",
    operation_id="areas",
    responses={200: {"content": {"application/json": {}, "application/geo+json": {}}}},
)
def areas(
    request: Request,
    data: CurrentRun,
    role: Caller,
    level: Level,
    page: Page,
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
) -> Response:
    """Per-area unit totals and per-target figures, as JSON rows or a GeoJSON choropleth
    layer, paged by ``limit``/``offset``."""
    from api.routes.layers import layer_response

    limit, offset = page
    if format == "geojson":
        return layer_response(request, data, level, role, bbox=None, limit=limit, offset=offset)
    table = area_table(data, level, role, settings_of(request).min_units)

    def make() -> bytes:
        rows = records(table.iloc[offset : offset + limit])
        body = {"run_id": data.run_id, "area_level": level, "areas": rows}
        return orjson.dumps({**body, **_page_counts(len(table), len(rows), offset)})

    key = ("areas", level, role >= Role.planner, limit, offset)
    return cached_response(request, data.responses, key, make, "application/json")
