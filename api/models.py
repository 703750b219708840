"""Response models of the API (documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str
    latest_run: str | None = Field(None, examples=["20261122T060000Z"])
    runs: int


class RunSummary(BaseModel):
    run_id: str = Field(examples=["20261122T060000Z"])
    created: str | None = None
    evaluation_date: str | None = Field(None, examples=["2026-11-22"])
    counts: dict[str, int] = Field(default_factory=dict)


class RunList(BaseModel):
    latest: str | None
    runs: list[RunSummary]


class TargetFigure(BaseModel):
    """A target's figure over the whole run (or one area)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "kommun_hushall_100_open",
                    "label": "Minst 95 % av hushållen ...",
                    "population": "households",
                    "numerator": 4500,
                    "denominator": 4934,
                    "share": 0.912,
                    "threshold": 0.95,
                    "met": False,
                    "shortfall": 188,
                    "deadline": "2019-12-31",
                }
            ]
        }
    )

    id: str
    label: str
    population: str
    min_down_mbps: float = 0
    require_gigabit_ready: bool = False
    require_open_network: bool = False
    count_access: list[str] = Field(default_factory=list)
    deadline: str
    numerator: int | None
    denominator: int | None
    share: float | None
    threshold: float
    met: bool | None
    shortfall: int | None
    first_year_met: int | None = None
    suppressed: bool = False


class Compliance(BaseModel):
    run_id: str
    evaluation_date: str
    targets: list[TargetFigure]


class AreaFigure(BaseModel):
    area_id: str
    name: str | None = None
    numerator: int | None
    denominator: int | None
    share: float | None
    threshold: float
    met: bool | None
    shortfall: int | None
    suppressed: bool = False


class TargetCompliance(BaseModel):
    run_id: str
    evaluation_date: str
    target: TargetFigure
    area_level: str | None = None
    areas: list[AreaFigure] = Field(default_factory=list)
    #: Paging of ``areas`` (with ``area_level``): areas at the level, areas in this page,
    #: areas skipped, and the offset of the next page (None on the last).
    number_matched: int | None = None
    number_returned: int | None = None
    offset: int | None = None
    next_offset: int | None = None


class TimelinePoint(BaseModel):
    year: int
    numerator: int | None
    denominator: int | None
    share: float | None
    threshold: float
    met: bool | None
    shortfall: int | None
    suppressed: bool = False


class TargetTimeline(BaseModel):
    id: str
    label: str
    threshold: float
    deadline: str
    first_year_met: int | None
    met_by_deadline: bool
    years: list[TimelinePoint]


class Timeline(BaseModel):
    run_id: str
    evaluation_year: int
    plan_years: list[int]
    targets: list[TargetTimeline]


class AddressTarget(BaseModel):
    id: str
    label: str
    passed: bool
    reason: str = Field(description="Reason code; empty when passing")
    reason_text: str = ""
    pass_year: int | None = Field(
        None, description="First year the address passes under the build plan"
    )
    units: int = Field(0, description="Units of the target's population here (0: not counted)")


class AddressResult(BaseModel):
    """What an address has, and why it fails each target."""

    address_id: str
    address: str = ""
    postcode: str = ""
    kommun_code: str
    tatort_code: str | None = None
    households: int
    workplaces: int
    holiday_homes: int
    public_site: str = ""
    connected: bool
    access: str = Field(examples=["passed"])
    technology: str = Field(examples=["fibre"])
    distance_m: float | None
    max_down_mbps: float
    gigabit_ready: bool
    open_network: bool
    segment_id: str = ""
    lon: float
    lat: float
    lookup_distance_m: float | None = None
    targets: list[AddressTarget]


class AreaRows(BaseModel):
    run_id: str
    area_level: str
    areas: list[dict[str, Any]]


class RunDiffResponse(BaseModel):
    run_a: str
    run_b: str
    totals: dict[str, Any]
    number_matched: int
    changes: list[dict[str, Any]]


class Reloaded(BaseModel):
    latest_run: str | None
