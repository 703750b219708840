"""API settings from environment variables with the prefix ``BBPLAN_`` (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HEX64 = r"^[0-9a-f]{64}$"


def _split(value: object) -> object:
    """Accept comma-separated strings as lists (``BBPLAN_CORS_ORIGINS=a,b``)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """Everything the API can be configured with; see the README's API section.

    API keys are never stored: only their sha256 hex digests (``bbplan hash-key``).
    """

    model_config = SettingsConfigDict(env_prefix="BBPLAN_", extra="ignore")

    runs_dir: Path = Path("runs")
    #: Serve this run by default instead of the latest one.
    run_id: str | None = None
    planner_key_sha256: Annotated[list[Annotated[str, Field(pattern=_HEX64)]], NoDecode] = []
    admin_key_sha256: Annotated[list[Annotated[str, Field(pattern=_HEX64)]], NoDecode] = []
    cors_origins: Annotated[list[str], NoDecode] = []
    #: Areas or cells with fewer units than this are suppressed for public callers.
    min_units: int = Field(5, ge=1)
    default_limit: int = Field(1000, ge=1)
    max_limit: int = Field(10000, ge=1)
    #: Largest bbox (km²) a layer request may ask for.
    max_bbox_km2: float = Field(50_000.0, gt=0)
    max_request_bytes: int = Field(1_000_000, ge=1024)
    #: Seconds between checks for a newer run (0 = only on POST /admin/reload).
    reload_interval_s: float = Field(10.0, ge=0)
    #: Requests per caller (per API key, or per client address without a key), in the
    #: ``limits`` notation ("1200/minute"); empty to switch rate limiting off.
    rate_limit: str = "1200/minute"
    #: Memory (MiB) per run for encoded tiles and pages, reused by later identical requests
    #: (a run never changes); 0 switches the cache off.
    response_cache_mb: int = Field(256, ge=0)
    #: Radius (m) of a coordinate lookup for the nearest address.
    lookup_radius_m: float = Field(500.0, gt=0)
    #: How long (ms) a thread may hold Python's interpreter lock while another waits for it
    #: (``sys.setswitchinterval``; Python's default is 5). The server answers light requests
    #: on its event loop while tiles and pages are encoded on worker threads: every time the
    #: loop gets the lock back it waits up to this long, a few times per request.
    switch_interval_ms: float = Field(1.0, gt=0, le=100)
    #: Background map tiles for the planner map ('' for none).
    basemap_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    basemap_attribution: str = "© OpenStreetMap contributors"

    @field_validator("planner_key_sha256", "admin_key_sha256", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split(value)
