"""Small-count suppression of published aggregates (SPEC §7).

**Primary suppression.** Any figure resting on 1 to ``min_units - 1`` units (an area's or
cell's denominator, or a unit total such as its households) is replaced by ``None`` and
flagged ``suppressed``. Zero is published: it reveals nobody.

**Secondary (complementary) suppression.** The areas of a level add up to the published
total, so one hidden cell could be recovered by subtraction. Within each level, therefore,
more areas are hidden — the smallest first, ties by area id — until at least two are hidden
*and* the hidden ones hold at least ``min_units`` units together. Subtraction then yields
only the sum of several hidden areas, itself at least ``min_units``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

FIGURE_FIELDS = ("numerator", "denominator", "share", "met", "shortfall")
TOTAL_COLUMNS = ("addresses", "households", "workplaces", "holiday_homes", "public_sites")


def suppression_mask(
    values: Sequence[float] | np.ndarray[Any, Any], min_units: int, ids: Sequence[str] | None = None
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which of a level's areas to hide: primary small counts plus complementary ones.

    Parameters
    ----------
    values
        Units of each area (NaN counts as 0).
    min_units
        Smallest count that may be published.
    ids
        Area ids, to break ties deterministically (default: position).
    """
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    hidden = (v > 0) & (v < min_units)
    if not hidden.any():
        return np.asarray(hidden, dtype=bool)
    keys = np.asarray(ids if ids is not None else np.arange(len(v)).astype(str), dtype=str)
    # Candidates for complementary suppression: smallest published non-zero first.
    order = [i for i in np.lexsort((keys, v)) if not hidden[i] and v[i] > 0]
    for i in order:
        if hidden.sum() >= 2 and v[hidden].sum() >= min_units:
            break
        hidden[i] = True
    return np.asarray(hidden, dtype=bool)


def suppress_figure(
    row: dict[str, Any], min_units: int, hide: bool | None = None
) -> dict[str, Any]:
    """A copy of one figure with its counts hidden (``hide``, or primary rule when None)."""
    out = dict(row)
    den = out.get("denominator") or 0
    small = bool(0 < den < min_units) if hide is None else hide
    if small:
        for key in FIGURE_FIELDS:
            out[key] = None
    out["suppressed"] = small
    return out


def suppress_figures(rows: list[dict[str, Any]], min_units: int) -> list[dict[str, Any]]:
    """One level's area figures of one target, with primary and complementary suppression."""
    mask = suppression_mask(
        [r.get("denominator") or 0 for r in rows],
        min_units,
        [str(r.get("area_id", i)) for i, r in enumerate(rows)],
    )
    return [suppress_figure(r, min_units, bool(h)) for r, h in zip(rows, mask, strict=True)]


def suppress_area_table(table: pd.DataFrame, target_ids: list[str], min_units: int) -> pd.DataFrame:
    """A copy of a level's wide per-area table with small cells hidden (see module doc)."""
    out = table.copy()
    ids = out["area_id"].astype(str).tolist() if "area_id" in out.columns else None
    for col in TOTAL_COLUMNS:
        if col in out.columns:
            mask = suppression_mask(out[col].to_numpy(dtype=float, na_value=np.nan), min_units, ids)
            out[col] = out[col].astype(object).where(~mask, None)
    for t in target_ids:
        den = out[f"{t}__denominator"].to_numpy(dtype=float, na_value=np.nan)
        mask = suppression_mask(den, min_units, ids)
        for key in FIGURE_FIELDS:
            col = f"{t}__{key}"
            out[col] = out[col].astype(object).where(~mask, None)
        out[f"{t}__suppressed"] = mask
    return out
