"""Shared request dependencies: the run asked for, paging limits, cache headers."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.errors import BadParameterError, NotFoundError
from api.settings import Settings
from api.store import RunData, RunStore
from coverage.runs import RUN_ID_PATTERN

RunParam = Annotated[
    str | None,
    Query(
        description="Run id (default: the latest run)",
        pattern=RUN_ID_PATTERN.pattern,
        max_length=80,
    ),
]


def settings_of(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def store_of(request: Request) -> RunStore:
    s: RunStore = request.app.state.store
    return s


async def current_run(request: Request, run: RunParam = None) -> RunData:
    """The requested run (or the latest); its cache headers are added by the middleware.

    Async, so that a request for a run already in memory needs no thread hop; checking for
    a newer run or loading one touches the disk and goes to the thread pool."""
    store = store_of(request)
    data = store.cached(run)
    if data is None:
        data = await run_in_threadpool(store.get, run)
    request.state.run_cache = (data.etag, data.run_id, run is not None)
    return data


def cache_headers(request: Request, encoding: str = "") -> dict[str, str]:
    """ETag from the run, the request and the response's content coding (a gzip body and the
    plain one are different representations, so they get different tags); a named run never
    changes, the latest may."""
    etag, run_id, explicit = request.state.run_cache
    role = int(getattr(request.state, "role", 0))
    key = f"{etag}|{request.url.path}|{request.url.query}|{role}|{encoding}"
    return {
        "ETag": '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"',
        "Cache-Control": "private, max-age=31536000, immutable"
        if explicit
        else "private, max-age=60",
        "X-Run-Id": run_id,
    }


CurrentRun = Annotated[RunData, Depends(current_run)]


def paging(
    request: Request,
    limit: int | None = Query(None, ge=1, description="Page size"),
    offset: int = Query(0, ge=0, le=10_000_000, description="Features to skip"),
) -> tuple[int, int]:
    """(limit, offset), the limit capped by ``BBPLAN_MAX_LIMIT``."""
    settings = settings_of(request)
    size = settings.default_limit if limit is None else limit
    if size > settings.max_limit:
        raise BadParameterError("limit", f"at most {settings.max_limit}, found {size}")
    return size, offset


def target_of(data: RunData, target_id: str) -> dict[str, object]:
    """A target of the run, or 404."""
    if target_id not in data.targets:
        raise NotFoundError(
            "target_id", f"no target '{target_id}' in run {data.run_id}; known: {data.target_ids}"
        )
    return data.targets[target_id]
