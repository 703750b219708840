"""Health, runs, run diffs and admin actions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import paging, store_of
from api.models import Health, Reloaded, RunDiffResponse, RunList, RunSummary
from api.security import Role, require
from coverage.runs import RUN_ID_PATTERN, bbplan_version, list_runs
from coverage.scenarios import diff_runs

router = APIRouter()
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN.pattern, max_length=80)]


@router.get("/health", response_model=Health, operation_id="health", tags=["meta"])
def health(request: Request) -> Health:
    """Liveness and the run served by default."""
    store = store_of(request)
    latest = store.refresh()
    return Health(
        status="ok",
        version=bbplan_version(),
        latest_run=latest,
        runs=len(list_runs(store.settings.runs_dir)),
    )


def _summary(manifest: dict[str, Any], run_id: str) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        created=manifest.get("created"),
        evaluation_date=manifest.get("evaluation_date"),
        counts=manifest.get("counts", {}),
    )


@router.get("/runs", response_model=RunList, operation_id="list_runs", tags=["runs"])
def runs(request: Request) -> RunList:
    """Complete runs, oldest first, and the one served by default."""
    store = store_of(request)
    latest = store.refresh()
    items = []
    for run_id in list_runs(store.settings.runs_dir):
        try:
            items.append(_summary(store.get(run_id).manifest, run_id))
        except Exception:  # a refused (tampered) run is listed nowhere; the log says why
            continue
    return RunList(latest=latest, runs=items)


@router.get("/runs/{run_id}", operation_id="get_run", tags=["runs"])
def run_manifest(request: Request, run_id: RunId) -> dict[str, Any]:
    """A run's manifest (inputs with checksums and row counts, settings, targets)."""
    manifest = dict(store_of(request).get(run_id).manifest)
    # Server file paths are not the caller's business: keep file names only.
    manifest["target_sets"] = [
        {**t, "path": str(t.get("path", "")).rsplit("/", 1)[-1]}
        for t in manifest.get("target_sets", [])
    ]
    manifest["inputs"] = [
        {**i, "path": str(i.get("path", "")).rsplit("/", 1)[-1]} for i in manifest["inputs"]
    ]
    return manifest


@router.get(
    "/runs/{run_a}/diff/{run_b}",
    response_model=RunDiffResponse,
    operation_id="diff_runs",
    tags=["runs"],
    dependencies=[require(Role.planner)],
)
def run_diff(
    request: Request,
    run_a: RunId,
    run_b: RunId,
    page: Annotated[tuple[int, int], Depends(paging)],
    change: Annotated[str | None, Query(pattern="^(added|removed|changed)$")] = None,
) -> RunDiffResponse:
    """Address by address: what was added, removed or reclassified from run A to run B (planner)."""
    store = store_of(request)
    a, b = store.get(run_a), store.get(run_b)
    populations = {t: str(f["population"]) for t, f in b.targets.items()}
    diff = diff_runs(
        a.addresses.drop(columns="geometry"), b.addresses.drop(columns="geometry"), populations
    )
    rows = diff.changes if change is None else diff.changes[diff.changes["change"] == change]
    limit, offset = page
    shown = rows.iloc[offset : offset + limit]
    return RunDiffResponse(
        run_a=run_a,
        run_b=run_b,
        totals=diff.totals,
        number_matched=len(rows),
        changes=json.loads(shown.to_json(orient="records")),
    )


@router.post(
    "/admin/reload",
    response_model=Reloaded,
    operation_id="reload_runs",
    tags=["admin"],
    dependencies=[require(Role.admin)],
)
def reload(request: Request) -> Reloaded:
    """Look for a newer run now (admin)."""
    return Reloaded(latest_run=store_of(request).refresh())
