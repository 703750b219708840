"""Domain exceptions mapped to HTTP status codes, in one place (as tipg does).

Every error answers JSON: ``{"detail": {"parameter": ..., "problem": ...}}`` for request
problems, ``{"detail": "..."}`` otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from coverage._errors import BBPlanError, RunIntegrityError, RunNotFoundError

log = logging.getLogger("bbplan.api")


class NotFoundError(BBPlanError, LookupError):
    """An unknown run, target, area, layer or address."""

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter, self.problem = parameter, problem
        super().__init__(f"{parameter}: {problem}")


class BadParameterError(BBPlanError, ValueError):
    """A request parameter with a wrong value (bbox, zoom, coordinates...)."""

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter, self.problem = parameter, problem
        super().__init__(f"{parameter}: {problem}")


class UnauthorizedError(BBPlanError, PermissionError):
    """No or an unknown API key where a role is needed."""

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(f"this resource needs a {role} API key (header X-API-Key)")


class ForbiddenError(BBPlanError, PermissionError):
    """A valid key whose role is too low."""

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(f"this resource needs the {role} role")


class Problem(BaseModel):
    """Which request parameter is wrong, and how."""

    parameter: str
    problem: str


class ErrorBody(BaseModel):
    """Every error answer: a message, or the parameter and its problem."""

    detail: str | Problem | list[dict[str, Any]]


#: Error responses documented on every route.
_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
# Errors are JSON even on routes whose success is HTML, CSV or a tile: say so explicitly.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text, "content": _JSON}
    for status, text in (
        (401, "A planner or admin key is needed"),
        (403, "The key's role is too low"),
        (404, "Unknown run, target, area, layer or address"),
        (413, "Request body too large"),
        (422, "A parameter has a wrong value"),
        (429, "Too many requests from this key or address"),
        (503, "The run failed its integrity check"),
    )
}


def _json(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def register(app: FastAPI) -> None:
    """Install the exception handlers."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own validation errors in the same shape as ours: parameter and problem.
        errs = exc.errors()
        first = errs[0] if errs else {"loc": ("request",), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ())]
        parameter = loc[-1] if loc else "request"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errs
        )
        return _json(422, {"parameter": parameter, "problem": problems or str(first.get("msg"))})

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return _json(404, {"parameter": exc.parameter, "problem": exc.problem})

    @app.exception_handler(BadParameterError)
    async def _bad(_: Request, exc: BadParameterError) -> JSONResponse:
        return _json(422, {"parameter": exc.parameter, "problem": exc.problem})

    @app.exception_handler(UnauthorizedError)
    async def _unauth(_: Request, exc: UnauthorizedError) -> JSONResponse:
        return _json(401, str(exc), {"WWW-Authenticate": "ApiKey"})

    @app.exception_handler(ForbiddenError)
    async def _forbidden(_: Request, exc: ForbiddenError) -> JSONResponse:
        return _json(403, str(exc))

    @app.exception_handler(RunNotFoundError)
    async def _no_run(_: Request, exc: RunNotFoundError) -> JSONResponse:
        return _json(404, {"parameter": "run", "problem": str(exc)})

    @app.exception_handler(RunIntegrityError)
    async def _integrity(_: Request, exc: RunIntegrityError) -> JSONResponse:
        log.error("refusing run: %s", exc)
        return _json(503, "the requested run failed its integrity check; see the server log")
