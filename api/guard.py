"""The guard around every request: rate limit, body size, access log, cache and security headers.

A plain ASGI middleware rather than Starlette's ``@app.middleware("http")``: that one runs the
app in a task group of its own and re-streams every response through a memory channel, which
cost a national run's light requests (a lookup is a fifth of a millisecond of work) more CPU on
the event loop than their own handlers. Here the response messages pass straight through and
only the first one is edited.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import cache_headers
from api.security import hash_key
from api.settings import Settings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The map page loads only its own scripts; basemap tiles may come from the configured host.
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'",
}


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


class Guard:
    """Refuses requests over the rate limit (429) or with too large a body (413); adds the
    run's ETag and cache headers to a 200 (or turns it into a 304 when ``If-None-Match``
    matches), the security headers to every answer, and logs every request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rule = parse(settings.rate_limit) if settings.rate_limit else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        not_modified = False

        async def send_guarded(message: Message) -> None:
            nonlocal status, not_modified
            if message["type"] == "http.response.start":
                message, not_modified = self._start(request, message)
                status = message["status"]
            elif not_modified and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a 304 has no body: the app's is dropped, the end still sent
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, send_guarded)
        route = scope.get("route")
        access_logger().info(
            "%s %s %d %.1f ms",
            request.method,
            getattr(route, "path", "<unmatched>"),
            status,
            1000 * (time.perf_counter() - started),
        )

    def _refusal(self, request: Request) -> JSONResponse | None:
        settings, rule = self.settings, self.rule
        if rule is not None and not self.limiter.hit(rule, rate_key(request, settings)):
            problem = {"parameter": "rate", "problem": f"more than {settings.rate_limit}"}
            headers = {"Retry-After": str(rule.get_expiry()), **SECURITY_HEADERS}
            return JSONResponse({"detail": problem}, status_code=429, headers=headers)
        length = request.headers.get("content-length")
        if length is not None and (
            not length.isdigit() or int(length) > settings.max_request_bytes
        ):
            problem = {
                "parameter": "body",
                "problem": f"request body over {settings.max_request_bytes} bytes",
            }
            return JSONResponse({"detail": problem}, status_code=413, headers=SECURITY_HEADERS)
        return None

    def _start(self, request: Request, message: Message) -> tuple[Message, bool]:
        """The response's first message with the headers added, and whether it became a 304."""
        headers = MutableHeaders(scope=message)
        if message["status"] == 200 and "run_cache" in request.scope.get("state", {}):
            cache = cache_headers(request, headers.get("content-encoding", ""))
            if request.headers.get("if-none-match") == cache["ETag"]:
                raw = {**cache, **SECURITY_HEADERS}.items()
                bare: dict[str, Any] = {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in raw],
                }
                return bare, True
            headers.update(cache)
        headers.update(SECURITY_HEADERS)
        return message, False
