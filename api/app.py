"""The FastAPI application: ``create_app(settings)`` (the tipg pattern).

Run data is loaded once at start-up into ``app.state.store`` and served from memory; a newer
run is picked up every ``BBPLAN_RELOAD_INTERVAL_S`` seconds or on ``POST /admin/reload``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api import errors
from api.deps import cache_headers
from api.routes import addresses, compliance, exports, layers, mapview, meta
from api.security import caller_role, hash_key
from api.settings import Settings
from api.store import RunStore
from coverage._errors import RunNotFoundError
from coverage.runs import bbplan_version

log = logging.getLogger("bbplan.api")
STATIC = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The map page loads only its own scripts; basemap tiles may come from the configured host.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'",
}


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
        yield

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


def rate_key(request: Request, settings: Settings) -> str:
    """Who a request counts against: a *valid* API key (as a digest), else the client address.

    An unknown key counts against its address: random keys must not open fresh buckets.
    """
    key = request.headers.get("x-api-key")
    if key:
        digest = hash_key(key)
        if digest in settings.planner_key_sha256 or digest in settings.admin_key_sha256:
            return "key:" + digest[:32]
    return "addr:" + (request.client.host if request.client else "unknown")


def access_logger() -> logging.Logger:
    """Access log without address data: method, route template, status, time; never the
    concrete path, query string or key (ids and coordinates would otherwise end up in logs)."""
    return logging.getLogger("bbplan.access")


def _middleware(app: FastAPI, settings: Settings) -> None:
    # GZip first (innermost), so it sees complete responses and honours its minimum size.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)

    limiter = MovingWindowRateLimiter(MemoryStorage())
    rule = parse(settings.rate_limit) if settings.rate_limit else None

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if rule is not None and not limiter.hit(rule, rate_key(request, settings)):
            return JSONResponse(
                {"detail": {"parameter": "rate", "problem": f"more than {settings.rate_limit}"}},
                status_code=429,
                headers={"Retry-After": str(rule.get_expiry()), **SECURITY_HEADERS},
            )
        length = request.headers.get("content-length")
        if length is not None and (
            not length.isdigit() or int(length) > settings.max_request_bytes
        ):
            return JSONResponse(
                {
                    "detail": {
                        "parameter": "body",
                        "problem": f"request body over {settings.max_request_bytes} bytes",
                    }
                },
                status_code=413,
            )
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        access_logger().info(
            "%s %s %d %.1f ms",
            request.method,
            getattr(route, "path", "<unmatched>"),
            response.status_code,
            1000 * (time.perf_counter() - started),
        )
        if response.status_code == 200 and hasattr(request.state, "run_cache"):
            headers = cache_headers(request)
            if request.headers.get("if-none-match") == headers["ETag"]:
                return Response(status_code=304, headers={**headers, **SECURITY_HEADERS})
            response.headers.update(headers)
        response.headers.update(SECURITY_HEADERS)
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["X-API-Key"],
            expose_headers=["ETag", "X-Run-Id"],
        )
