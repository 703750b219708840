"""The FastAPI application: ``create_app(settings)`` (the tipg pattern).

Run data is loaded once at start-up into ``app.state.store`` and served from memory; a newer
run is picked up every ``BBPLAN_RELOAD_INTERVAL_S`` seconds or on ``POST /admin/reload``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.cache import GZIP_LEVEL, GZIP_MIN_BYTES
from api.guard import Guard
from api.routes import addresses, compliance, exports, layers, mapview, meta
from api.security import caller_role
from api.settings import Settings
from api.store import RunStore
from coverage._errors import RunNotFoundError
from coverage.runs import bbplan_version

log = logging.getLogger("bbplan.api")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for the runs in ``settings.runs_dir``."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            latest = app.state.store.refresh()
            log.info("serving runs from %s; latest %s", settings.runs_dir, latest)
        except RunNotFoundError:
            log.warning("no run in %s yet", settings.runs_dir)
        # Process-wide: set for the server's life and given back when it stops.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
        try:
            yield
        finally:
            sys.setswitchinterval(switch_interval)

    app = FastAPI(
        title="bbplan API",
        version=bbplan_version(),
        description="Broadband coverage against municipal and national targets: compliance "
        "figures, area summaries, address lookups, map layers and vector tiles from bbplan runs. "
        "Public callers get aggregates with small counts suppressed; address-level data and the "
        "network need a planner key (header X-API-Key).",
        lifespan=lifespan,
        # Every route resolves the caller's role, so a wrong key is refused everywhere alike.
        dependencies=[Depends(caller_role)],
    )
    # State is set here, not only in the lifespan, so ASGI tools that skip it still work.
    app.state.settings = settings
    app.state.store = RunStore(settings)
    errors.register(app)
    _middleware(app, settings)
    for module in (meta, compliance, addresses, layers, exports, mapview):
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/map")

    return app


def _middleware(app: FastAPI, settings: Settings) -> None:
    # GZip first (innermost), so it sees complete responses and honours its minimum size.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)

    # Outside GZip: the guard sees the final headers (the ETag names the content coding).
    app.add_middleware(Guard, settings=settings)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["X-API-Key"],
            expose_headers=["ETag", "X-Run-Id"],
        )
