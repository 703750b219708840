"""Engine settings: distance rules and the per-technology speed table (SPEC §3).

Settings are a pydantic model so that a run's ``manifest.json`` records them exactly and a TOML
file can override any of them (``bbplan run --settings my.toml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coverage._errors import SettingsError
from coverage._toml import read_toml
from coverage.schema import DEFAULT_WORKING_CRS, TECHNOLOGIES

PositiveMbps = Annotated[float, Field(ge=0)]


class TechnologyProfile(BaseModel):
    """What one access technology delivers.

    ``service_distance_m`` is how far from an element an address is served. ``None`` applies
    the homes-passed rule (``passed_distance_m``, fibre "i absoluta närheten"); copper (VDSL)
    and radio (FWA) reach further from their cabinet or base station. ``speed_curve`` gives
    the speed at a distance as ``[distance_m, mbps]`` breakpoints, linearly interpolated and
    constant beyond the ends (VDSL falls with copper length).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    down_mbps: PositiveMbps
    upgradeable_to_mbps: PositiveMbps
    provides_service: bool = True
    service_distance_m: Annotated[float, Field(gt=0)] | None = None
    speed_curve: list[tuple[float, float]] | None = None

    @field_validator("speed_curve")
    @classmethod
    def _curve_sorted(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is not None:
            distances = [d for d, _ in v]
            if not v or distances != sorted(distances) or any(s < 0 for _, s in v):
                raise ValueError(
                    "speed_curve must be non-empty, by increasing distance, speeds >= 0"
                )
        return v


def _default_technologies() -> dict[str, TechnologyProfile]:
    return {
        "fibre": TechnologyProfile(down_mbps=1000, upgradeable_to_mbps=10000),
        "hfc": TechnologyProfile(down_mbps=1000, upgradeable_to_mbps=1000),
        # VDSL2 from a street cabinet: 100 Mbit/s within 300 m of copper, then falling.
        "vdsl": TechnologyProfile(
            down_mbps=100,
            upgradeable_to_mbps=100,
            service_distance_m=1200,
            speed_curve=[(300, 100), (600, 60), (900, 40), (1200, 25)],
        ),
        # Fixed wireless access: a set speed, not gigabit-upgradeable.
        "fwa": TechnologyProfile(down_mbps=100, upgradeable_to_mbps=100, service_distance_m=3000),
        # Empty duct (tomrör): no service, but fibre can be blown in (upgradeability plans).
        "duct": TechnologyProfile(down_mbps=0, upgradeable_to_mbps=10000, provides_service=False),
    }


class CoverageSettings(BaseModel):
    """Distance rules, working CRS and technology table of a classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passed_distance_m: Annotated[float, Field(gt=0, le=5000)] = 50.0
    near_distance_m: Annotated[float, Field(gt=0, le=20000)] = 250.0
    gigabit_mbps: Annotated[float, Field(gt=0)] = 1000.0
    #: Homes-passed distances at which every figure is recomputed (sensitivity, SPEC §5).
    sensitivity_distances_m: list[Annotated[float, Field(gt=0, le=5000)]] = Field(
        default_factory=lambda: [20.0, 50.0, 100.0, 200.0]
    )
    working_crs: str = DEFAULT_WORKING_CRS
    #: Largest input file in MiB (bigger files are refused before reading).
    max_input_mb: Annotated[float, Field(gt=0)] = 512.0
    technologies: dict[str, TechnologyProfile] = Field(default_factory=_default_technologies)

    @model_validator(mode="after")
    def _check(self) -> CoverageSettings:
        if self.near_distance_m < self.passed_distance_m:
            raise ValueError(
                f"near_distance_m ({self.near_distance_m}) must be >= passed_distance_m "
                f"({self.passed_distance_m})"
            )
        missing = [t for t in TECHNOLOGIES if t not in self.technologies]
        unknown = [t for t in self.technologies if t not in TECHNOLOGIES]
        if missing or unknown:
            raise ValueError(
                f"technologies must be exactly {list(TECHNOLOGIES)}; "
                f"missing {missing}, unknown {unknown}"
            )
        return self

    def service_distance_m(self, technology: str) -> float:
        """Distance within which ``technology`` serves an address."""
        own = self.technologies[technology].service_distance_m
        return self.passed_distance_m if own is None else own

    def query_distance_m(self, technology: str) -> float:
        """Search radius for the nearest element: covers both service and 'near'."""
        return max(self.near_distance_m, self.service_distance_m(technology))

    def sensitivity_rules(self) -> list[tuple[float, CoverageSettings]]:
        """The rules at each sensitivity distance: homes passed within ``d`` (and "near"
        at least as far), everything else unchanged."""
        return [
            (
                d,
                self.with_overrides(
                    passed_distance_m=d, near_distance_m=max(d, self.near_distance_m)
                ),
            )
            for d in sorted(set(self.sensitivity_distances_m))
        ]

    def status_thresholds_m(self, technology: str) -> list[float]:
        """Every distance at which an address's status towards an element of ``technology``
        changes, under these rules or any sensitivity rule (the candidate pruning keeps every
        element that can matter under each of them)."""
        rules = [self, *(r for _, r in self.sensitivity_rules())]
        return sorted(
            {x for r in rules for x in (r.service_distance_m(technology), r.near_distance_m)}
        )

    @property
    def max_input_bytes(self) -> int:
        """``max_input_mb`` in bytes."""
        return int(self.max_input_mb * 2**20)

    def with_overrides(self, **changes: Any) -> CoverageSettings:
        """A validated copy with some fields changed (``None`` values are ignored)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return load_settings_dict(data, source="command-line options")


def load_settings_dict(data: dict[str, Any], source: str) -> CoverageSettings:
    """Validate a settings mapping, reporting every problem at once."""
    try:
        return CoverageSettings.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']} "
            f"(found {e.get('input')!r})"
            for e in exc.errors()
        )
        raise SettingsError(f"{source}: invalid settings:\n{problems}") from None


def load_settings(path: Path | None) -> CoverageSettings:
    """Settings from a TOML file (any subset of the fields), or the defaults."""
    if path is None:
        return CoverageSettings()
    data = read_toml(path, "settings", SettingsError)
    defaults = CoverageSettings().model_dump()
    techs = data.pop("technologies", {})
    merged_techs = defaults["technologies"]
    if isinstance(techs, dict):
        for name, profile in techs.items():
            base = merged_techs.get(name, {})
            merged_techs[name] = {**base, **profile} if isinstance(profile, dict) else profile
    defaults.update(data)
    defaults["technologies"] = merged_techs
    return load_settings_dict(defaults, source=str(path))
