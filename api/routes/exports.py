"""Downloads: per-area figures as CSV (public, suppressed) and the address table (planner)."""

from __future__ import annotations

import tempfile
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, Response

from api.deps import CurrentRun, settings_of
from api.routes.compliance import area_table
from api.security import Role, caller_role, require

router = APIRouter(tags=["exports"])


@router.get(
    "/exports/areas/{level}.csv",
    operation_id="export_areas_csv",
    responses={200: {"content": {"text/csv": {}}}},
)
def export_areas(
    request: Request,
    data: CurrentRun,
    role: Annotated[Role, Depends(caller_role)],
    level: Annotated[str, Path(pattern="^(kommun|tatort|grid_250m|grid_1km|custom)$")],
) -> Response:
    """Per-area unit totals and target figures as CSV (kommun code and name included)."""
    table = area_table(data, level, role, settings_of(request).min_units)
    body = table.to_csv(index=False)
    name = f"bbplan-{data.run_id}-{level}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/exports/addresses.{fmt}",
    operation_id="export_addresses",
    dependencies=[require(Role.planner)],
    responses={
        200: {
            "content": {"application/geopackage+sqlite3": {}, "application/vnd.apache.parquet": {}}
        }
    },
)
def export_addresses(
    data: CurrentRun, fmt: Annotated[str, Path(pattern="^(gpkg|parquet)$")]
) -> Response:
    """The run's address table as GeoParquet (as stored) or GeoPackage (planner)."""
    if fmt == "parquet":
        return FileResponse(
            data.folder / "addresses.parquet",
            media_type="application/vnd.apache.parquet",
            filename=f"bbplan-{data.run_id}-addresses.parquet",
        )
    cached = data.folder.parent / ".exports" / f"{data.run_id}-addresses.gpkg"
    if not cached.is_file():
        cached.parent.mkdir(exist_ok=True)
        # Written beside, then renamed: a concurrent request never sees half a file.
        with tempfile.NamedTemporaryFile(dir=cached.parent, suffix=".gpkg", delete=False) as tmp:
            tmp_path = FsPath(tmp.name)
        tmp_path.unlink()
        data.addresses.to_file(tmp_path, layer="addresses", driver="GPKG")
        tmp_path.rename(cached)
    return FileResponse(
        cached,
        media_type="application/geopackage+sqlite3",
        filename=f"bbplan-{data.run_id}-addresses.gpkg",
    )
