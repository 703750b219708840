"""Targets as configuration (SPEC §4): TOML target sets and per-address pass/fail with reasons.

A target passes at an address when *some* serving element satisfies every condition at once
(counted access status, speed, gigabit-readiness, open network): an address passed by a
closed fibre network and by an open VDSL cabinet meets "≥100 Mbit/s in an open network".
When none does, the reason is the first unmet condition of the element that came closest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coverage._errors import TargetConfigError
from coverage._toml import read_toml
from coverage.classify import OFFER_STATUSES, BestOffers, Candidates, Classifier, gather
from coverage.settings import CoverageSettings

if TYPE_CHECKING:
    from coverage.kernel import TargetRules

Population = Literal[
    "households", "workplaces", "households+workplaces", "public_sites", "holiday_homes"
]
AccessStatus = Literal["connected", "passed", "near"]

#: Reason codes, in the order the conditions are checked.
REASONS = {
    "no_network": "no network element of any technology within the near distance",
    "too_far": "network nearby, but not close enough to count (e.g. only 'near')",
    "not_connected": "passed, but the target counts only active connections",
    "speed_below": "the best reachable speed is below the target's minimum",
    "not_gigabit_ready": "served, but not by infrastructure upgradeable to 1 Gbit/s",
    "not_open_network": "served, but not by an open network",
    "planned_before_deadline": "fails today; a planned build makes it pass by the deadline",
    "planned_after_deadline": "fails today; a planned build makes it pass only after the deadline",
    "out_of_scope": "outside the target's scope (kommun or tätort/rural); not counted",
}
#: The per-address reason columns hold these (code 0, no reason, for an address that passes).
REASON_LABELS: tuple[str, ...] = ("", *REASONS)
_ID_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"


def reason_code(name: str) -> int:
    """Code of a reason in :data:`REASON_LABELS`."""
    return REASON_LABELS.index(name)


class Scope(BaseModel):
    """Which addresses a target applies to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kommun_codes: list[Annotated[str, Field(pattern=r"^\d{4}$")]] | None = None
    area_type: Literal["all", "tatort", "rural"] = "all"


class Target(BaseModel):
    """One target of a broadband strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    label: Annotated[str, Field(min_length=1)]
    population: Population
    min_down_mbps: Annotated[float, Field(ge=0)] = 0.0
    require_gigabit_ready: bool = False
    require_open_network: bool = False
    count_access: list[AccessStatus] = Field(default_factory=lambda: ["connected", "passed"])  # type: ignore[arg-type]
    share: Annotated[float, Field(gt=0, le=1)]
    deadline: date
    scope: Scope = Field(default_factory=Scope)

    @field_validator("count_access")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("count_access must name at least one status")
        return sorted(set(v), key=["connected", "passed", "near"].index)


class TargetSet(BaseModel):
    """A named set of targets from one strategy document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1)]
    source: str = ""
    targets: Annotated[list[Target], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> TargetSet:
        ids = [t.id for t in self.targets]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            raise ValueError(f"target ids must be unique; repeated: {dups}")
        return self


def load_targets(path: Path | str) -> TargetSet:
    """Read and validate a targets TOML file, reporting every problem at once."""
    path = Path(path)
    data = read_toml(path, "targets", TargetConfigError)
    try:
        return TargetSet.model_validate(data)
    except ValidationError as exc:
        raise TargetConfigError(f"{path}: invalid targets:\n{_describe(exc, data)}") from None


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "targets" and isinstance(loc[1], int):
            targets = data.get("targets", [])
            tid = (
                targets[loc[1]].get("id")
                if loc[1] < len(targets) and isinstance(targets[loc[1]], dict)
                else None
            )
            where = f"target #{loc[1] + 1} (id {tid!r}) field {'.'.join(str(p) for p in loc[2:])}"
        found = f" (found {err['input']!r})" if err["type"] != "missing" and "input" in err else ""
        lines.append(f"  - {where}: {err['msg']}{found}")
    return "\n".join(lines)


def merge_target_sets(sets: Sequence[TargetSet]) -> list[Target]:
    """All targets of several sets; ids must be unique across them (they name output columns)."""
    seen: dict[str, str] = {}
    out: list[Target] = []
    for ts in sets:
        for t in ts.targets:
            if t.id in seen:
                raise TargetConfigError(
                    f"target id '{t.id}' appears in both '{seen[t.id]}' and '{ts.name}'"
                )
            seen[t.id] = ts.name
            out.append(t)
    return out


# ------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------


def units(addresses: pd.DataFrame, population: str) -> pd.Series:
    """Units of a population at each address: households, workplaces... never address points."""
    if population == "households+workplaces":
        return addresses["households"] + addresses["workplaces"]
    if population == "public_sites":
        return (addresses["public_site"].astype(str) != "").astype(np.int64)
    return addresses[population].astype(np.int64)


def in_scope(target: Target, addresses: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Addresses the target applies to (needs ``kommun_code`` and ``urban_rural`` columns)."""
    mask = np.ones(len(addresses), dtype=bool)
    if target.scope.kommun_codes is not None:
        mask &= addresses["kommun_code"].isin(target.scope.kommun_codes).to_numpy()
    if target.scope.area_type != "all":
        mask &= (addresses["urban_rural"] == target.scope.area_type).to_numpy()
    return mask


@dataclass(frozen=True)
class TargetResult:
    """Per-address result of one target, aligned with the addresses."""

    passed: np.ndarray[Any, np.dtype[np.bool_]]
    #: Codes into :data:`REASON_LABELS` (0 where the address passes).
    reason_code: np.ndarray[Any, np.dtype[np.int8]]

    @property
    def reason(self) -> np.ndarray[Any, np.dtype[np.object_]]:
        """The reasons as text."""
        text: np.ndarray[Any, np.dtype[np.object_]] = np.asarray(REASON_LABELS, dtype=object)[
            self.reason_code
        ]
        return text


def evaluate(target: Target, cands: Candidates, settings: CoverageSettings) -> TargetResult:
    """Pass/fail and reason code of ``target`` for every address, from one year's candidates.

    An address passes when some candidate meets every condition; otherwise the reason is the
    first unmet condition of the candidate that met most conditions in order (access status,
    speed, gigabit-readiness, open network), the nearest one on ties.
    """
    from coverage.kernel import NO_STATUS

    best, best_score = _best(target, cands, settings)
    return _result(best_score, gather(cands.status, best, NO_STATUS))


def evaluate_year(
    classifier: Classifier, targets: Sequence[Target], year: int
) -> tuple[dict[str, TargetResult], BestOffers]:
    """:func:`evaluate` of every target at ``year`` under the classifier's rules, by id, and
    the addresses' best offers (for :func:`coverage.classify.summarise`), without a
    candidate table (:meth:`coverage.classify.Classifier.year_offers`)."""
    offers = classifier.year_offers(year, _target_rules(targets, classifier.settings))
    results = {t.id: _result(offers.score[i], offers.status[i]) for i, t in enumerate(targets)}
    return results, offers.best


def _result(
    best_score: np.ndarray[Any, np.dtype[np.int8]], status: np.ndarray[Any, np.dtype[np.int8]]
) -> TargetResult:
    """Pass and reason from each address's best candidate: how many of the target's
    conditions it meets (-1: no candidates) and its access status code."""
    access_reason = np.where(status == 2, reason_code("too_far"), reason_code("not_connected"))
    code = np.select(
        [best_score < 0, best_score == 0, best_score == 1, best_score == 2, best_score == 3],
        [
            reason_code("no_network"),
            access_reason,
            reason_code("speed_below"),
            reason_code("not_gigabit_ready"),
            reason_code("not_open_network"),
        ],
        default=0,
    ).astype(np.int8)
    return TargetResult(passed=best_score == 4, reason_code=code)


def passes_at(
    classifier: Classifier,
    targets: Sequence[Target],
    year: int,
    settings: CoverageSettings,
) -> dict[str, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Whether each address passes each target at ``year`` under ``settings`` (what
    :func:`evaluate` says, without reasons and without a candidate table: the plan years and
    the sensitivity rules need only this)."""
    return passes_many_at(classifier, targets, [(year, settings)])[0]


def passes_many_at(
    classifier: Classifier,
    targets: Sequence[Target],
    scenarios: Sequence[tuple[int, CoverageSettings]],
) -> list[dict[str, np.ndarray[Any, np.dtype[np.bool_]]]]:
    """:func:`passes_at` for several (year, rules) scenarios, the pairs read once for all
    (the target conditions are the same in each: only the distance rules and the year
    change)."""
    if not scenarios:
        return []
    if len({rules.gigabit_mbps for _, rules in scenarios}) > 1:
        raise ValueError("the scenarios' rules must share one gigabit speed")
    passed = classifier.passes_many(scenarios, _target_rules(targets, scenarios[0][1]))
    return [{t.id: passed[k, i] for i, t in enumerate(targets)} for k in range(len(scenarios))]


def _target_rules(targets: Sequence[Target], settings: CoverageSettings) -> TargetRules:
    """The targets' conditions as the compiled passes take them (row ``i``: target ``i``)."""
    from coverage.kernel import TargetRules  # numba: loaded only where runs are computed

    counted = np.zeros((len(targets), len(OFFER_STATUSES)), dtype=bool)
    for i, t in enumerate(targets):
        counted[i, [OFFER_STATUSES.index(s) for s in t.count_access]] = True
    return TargetRules(
        counted=counted,
        min_down_mbps=np.array([t.min_down_mbps for t in targets], dtype=np.float64),
        need_gigabit=np.array([t.require_gigabit_ready for t in targets], dtype=bool),
        gigabit_mbps=settings.gigabit_mbps,
        need_open=np.array([t.require_open_network for t in targets], dtype=bool),
    )


def _best(
    target: Target, cands: Candidates, settings: CoverageSettings
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int8]]]:
    """Each address's candidate meeting most conditions in order, the nearest on ties, and
    how many it meets (-1 without candidates): one compiled pass over the candidates."""
    from coverage.kernel import best_offers  # numba: loaded only where runs are computed

    rules = _target_rules([target], settings)
    return best_offers(
        cands.address,
        cands.status,
        cands.down_mbps,
        cands.upgradeable_to_mbps,
        cands.open_network,
        rules.counted[0],
        target.min_down_mbps,
        target.require_gigabit_ready,
        settings.gigabit_mbps,
        target.require_open_network,
        cands.n,
    )


def first_pass_year(
    passed_by_year: list[tuple[int, np.ndarray[Any, np.dtype[np.bool_]]]], n: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """First year (in the given ascending order) each address passes; NaN if it never does."""
    out = np.full(n, np.nan)
    for year, passed in passed_by_year:
        newly = np.isnan(out) & passed
        out[newly] = year
    return out


def apply_plan_reasons(
    target: Target,
    reason: np.ndarray[Any, np.dtype[np.int8]],
    pass_year: np.ndarray[Any, np.dtype[np.float64]],
    passed_now: np.ndarray[Any, np.dtype[np.bool_]],
) -> np.ndarray[Any, np.dtype[np.int8]]:
    """Replace the reason (codes into :data:`REASON_LABELS`) of addresses that fail now but
    pass under the build plan."""
    out = reason.copy()
    later = ~passed_now & ~np.isnan(pass_year)
    before = later & (pass_year <= target.deadline.year)
    out[before] = reason_code("planned_before_deadline")
    out[later & ~before] = reason_code("planned_after_deadline")
    return out


def target_column(prefix: str, target_id: str) -> str:
    """Output column name for a target (``pass_T``, ``reason_T``, ``pass_year_T``)."""
    if not re.fullmatch(_ID_PATTERN, target_id):
        raise ValueError(f"bad target id {target_id!r}")
    return f"{prefix}_{target_id}"
