"""Roles from API keys: public (no key), planner, admin. Keys are compared as sha256 digests
in constant time; the settings hold digests only, never keys."""

from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from api.errors import ForbiddenError, UnauthorizedError
from api.settings import Settings


class Role(IntEnum):
    """Roles in increasing order of rights."""

    public = 0
    planner = 1
    admin = 2


api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Planner or admin API key"
)


def hash_key(key: str) -> str:
    """sha256 hex digest of a key, as stored in ``BBPLAN_*_KEY_SHA256``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _matches(digest: str, stored: list[str]) -> bool:
    # Compare against every stored digest (no early exit) so timing says nothing.
    found = False
    for candidate in stored:
        found |= hmac.compare_digest(digest, candidate)
    return found


def role_of(key: str | None, settings: Settings) -> Role:
    """The role a key grants (public without a key)."""
    if not key:
        return Role.public
    digest = hash_key(key)
    if _matches(digest, settings.admin_key_sha256):
        return Role.admin
    if _matches(digest, settings.planner_key_sha256):
        return Role.planner
    raise UnauthorizedError("valid")


async def caller_role(
    request: Request, key: Annotated[str | None, Depends(api_key_header)]
) -> Role:
    """Dependency: the caller's role."""
    settings: Settings = request.app.state.settings
    role = role_of(key, settings)
    request.state.role = role
    return role


def require(role: Role) -> Any:
    """Dependency factory: refuse callers below ``role`` (401 without key, 403 if too low)."""

    async def check(caller: Annotated[Role, Depends(caller_role)]) -> Role:
        if caller < role:
            if caller == Role.public:
                raise UnauthorizedError(role.name)
            raise ForbiddenError(role.name)
        return caller

    return Depends(check)
