"""Small-count suppression of published aggregates (SPEC §7).

Public figures must not reveal small groups: any area or cell whose figure rests on fewer than
``min_units`` units has its counts and share replaced by ``None`` and is flagged
``suppressed``. Unit totals of an area (households, workplaces...) below the threshold are
suppressed the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FIGURE_FIELDS = ("numerator", "denominator", "share", "met", "shortfall")
TOTAL_COLUMNS = ("addresses", "households", "workplaces", "holiday_homes", "public_sites")


def suppress_figure(row: dict[str, Any], min_units: int) -> dict[str, Any]:
    """A copy of one figure with counts hidden when its denominator is below ``min_units``."""
    out = dict(row)
    small = (out.get("denominator") or 0) < min_units
    if small:
        for key in FIGURE_FIELDS:
            out[key] = None
    out["suppressed"] = bool(small)
    return out


def suppress_area_table(table: pd.DataFrame, target_ids: list[str], min_units: int) -> pd.DataFrame:
    """A copy of a wide per-area table with small cells hidden (see module doc)."""
    out = table.copy()
    for col in TOTAL_COLUMNS:
        if col in out.columns:
            values = out[col].astype(object)
            small = ~(out[col].to_numpy(dtype=float, na_value=np.nan) >= min_units)
            out[col] = values.where(~small, None)
    for t in target_ids:
        den = out[f"{t}__denominator"].to_numpy(dtype=float, na_value=np.nan)
        small = ~(den >= min_units)
        for key in FIGURE_FIELDS:
            col = f"{t}__{key}"
            out[col] = out[col].astype(object).where(~small, None)
        out[f"{t}__suppressed"] = small
    return out
