"""Compliance figures per target: units counted, share, threshold, met, shortfall (SPEC §4).

Figures count units (households, workplaces, public sites...), never address points. The
shortfall is the number of units that must still pass for the share to reach the threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from coverage.targets import Target

#: Tolerance when comparing a share with its threshold (floating-point noise only).
_EPS = 1e-9


def figure(numerator: float, denominator: float, threshold: float) -> dict[str, Any]:
    """One figure: ``share`` is ``None`` (and ``met`` is ``None``) when there are no units."""
    if denominator <= 0:
        return {
            "numerator": int(numerator),
            "denominator": 0,
            "share": None,
            "threshold": threshold,
            "met": None,
            "shortfall": 0,
        }
    needed = threshold * denominator
    shortfall = max(0, math.ceil(needed - numerator - _EPS))
    return {
        "numerator": int(numerator),
        "denominator": int(denominator),
        "share": numerator / denominator,
        "threshold": threshold,
        "met": shortfall == 0,
        "shortfall": int(shortfall),
    }


def figures_by_area(
    target: Target,
    weights: np.ndarray[Any, np.dtype[np.int64]],
    passed: np.ndarray[Any, np.dtype[np.bool_]],
    membership: pd.DataFrame,
    codes: tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, Any]] | None = None,
) -> pd.DataFrame:
    """Figures of one target per area.

    Parameters
    ----------
    weights
        Units of the target's population per address, 0 where out of scope.
    passed
        Pass flag per address.
    membership
        Pairs ``position`` (address position) and ``area_id``; an address may be in several
        areas (overlapping custom polygons) or none.
    codes
        ``area_codes(membership["area_id"])`` when already known (one level, many targets).

    Returns
    -------
    pandas.DataFrame
        One row per area id present in ``membership``: ``area_id``, ``numerator``,
        ``denominator``, ``share``, ``threshold``, ``met``, ``shortfall``.
    """
    from coverage.kernel import sums_by_code  # numba: loaded only where runs are computed

    pos = membership["position"].to_numpy()
    area, ids = area_codes(membership["area_id"]) if codes is None else codes
    # Every address once, in order (kommun, tätort, grid levels): no gathers of 5·10⁶ rows.
    whole = every_row_in_order(pos, len(weights))
    # Sums per area by code, as exact integers.
    den_i, num_i = sums_by_code(area, weights, len(ids), passed, None if whole else pos)
    den, num = den_i.astype(np.float64), num_i.astype(np.float64)
    # The same arithmetic as figure(), vectorised (an area table can have 10^5 rows).
    has = den > 0
    shortfall = np.where(has, np.maximum(0, np.ceil(target.share * den - num - _EPS)), 0).astype(
        np.int64
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(has, num / np.where(has, den, 1), np.nan)
    return pd.DataFrame(
        {
            "area_id": ids,
            "numerator": num.astype(np.int64),
            "denominator": den.astype(np.int64),
            # No units: share and met are undefined (None), as in figure().
            "share": np.where(has, share.astype(object), np.full(len(has), None)),
            "threshold": target.share,
            "met": np.where(has, (shortfall == 0).astype(object), np.full(len(has), None)),
            "shortfall": shortfall,
        }
    )


def every_row_in_order(positions: np.ndarray[Any, Any], n: int) -> bool:
    """Whether ``positions`` are ``0, 1, ..., n - 1``: a membership listing every address once,
    in order, whose sums need no gather of the per-address values."""
    from coverage.kernel import is_identity

    return is_identity(positions, n)


def area_codes(
    area_id: pd.Series,
) -> tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, Any]]:
    """Each row's area as a code into the sorted distinct ids (the order of a sorted
    ``groupby``). A categorical column (sorted categories, all of them used) brings its codes
    along, so a level factorised once serves every target. Missing ids raise ValueError."""
    if isinstance(area_id.dtype, pd.CategoricalDtype):
        cats = area_id.cat.categories
        codes = area_id.cat.codes.to_numpy().astype(np.intp)
        if (
            cats.is_monotonic_increasing
            and (codes >= 0).all()
            and (np.bincount(codes, minlength=len(cats)) > 0).all()
        ):
            return codes, cats.to_numpy(dtype=object)
    codes, uniques = pd.factorize(area_id.to_numpy(dtype=object), sort=True)
    if (codes < 0).any():
        raise ValueError("area ids must not be missing")
    return codes.astype(np.intp), np.asarray(uniques, dtype=object)


def timeline(
    target: Target,
    weights: np.ndarray[Any, np.dtype[np.int64]],
    passed_now: np.ndarray[Any, np.dtype[np.bool_]],
    pass_year: np.ndarray[Any, np.dtype[np.float64]],
    evaluation_year: int,
    plan_years: list[int],
) -> dict[str, Any]:
    """Share per year from the evaluation year through the last planned year, and the first
    year the target is met (``None`` when the plan never meets it)."""
    from coverage.kernel import units_by_year

    years = [evaluation_year, *[y for y in plan_years if y > evaluation_year]]
    denominator = float(weights.sum())
    points = []
    first_met: int | None = None
    # The units passing by each year in one pass (not a mask and a gather per year).
    by_year = units_by_year(weights, passed_now, pass_year, years)
    for year, units_then in zip(years, by_year.tolist(), strict=True):
        fig = figure(float(units_then), denominator, target.share)
        points.append({"year": year, **fig})
        if fig["met"] and first_met is None:
            first_met = year
    return {
        "id": target.id,
        "label": target.label,
        "threshold": target.share,
        "deadline": target.deadline.isoformat(),
        "first_year_met": first_met,
        "met_by_deadline": first_met is not None and first_met <= target.deadline.year,
        "years": points,
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dictionaries of Python values (missing values as None), built column by
    column: ``to_dict(orient="records")`` boxes cell by cell, several times slower on the
    10⁵-10⁶ areas of a national grid level."""
    columns = []
    for name in frame.columns:
        values = frame[name].tolist()
        missing = frame[name].isna().to_numpy()
        if missing.any():
            values = [None if m else v for v, m in zip(values, missing, strict=True)]
        columns.append(values)
    keys = [str(c) for c in frame.columns]
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
