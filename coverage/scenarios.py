"""Compare two runs address by address: gained, lost, reclassified (SPEC §5 scenarios).

Addresses are matched on ``address_id``. Only targets present in both runs are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coverage.targets import units

#: Columns whose change makes an address "reclassified".
CLASS_COLUMNS = ("access", "technology", "max_down_mbps", "gigabit_ready", "open_network")


@dataclass(frozen=True)
class RunDiff:
    """Differences between run A (before) and run B (after).

    ``changes`` has one row per address that was added, removed or changed, with the before
    and after classification and, per common target, ``delta_T`` = +1 gained, -1 lost, 0 same.
    ``totals`` holds, per target, counts of addresses and units gained and lost, overall and
    per kommun.
    """

    changes: pd.DataFrame
    totals: dict[str, Any]
    targets: list[str]


def _target_ids(table: pd.DataFrame) -> list[str]:
    return [
        c.removeprefix("pass_")
        for c in table.columns
        if c.startswith("pass_") and not c.startswith("pass_year_")
    ]


def diff_runs(a: pd.DataFrame, b: pd.DataFrame, populations: dict[str, str]) -> RunDiff:
    """Address-level difference between two runs' ``addresses.parquet`` tables.

    Parameters
    ----------
    a, b
        The address tables of the earlier and the later run.
    populations
        Population of each target id (to count units gained and lost).
    """
    targets = [t for t in _target_ids(a) if t in set(_target_ids(b))]
    keep = [
        "address_id",
        "kommun_code",
        "households",
        "workplaces",
        "holiday_homes",
        "public_site",
        *CLASS_COLUMNS,
        *[f"pass_{t}" for t in targets],
    ]
    merged = pd.merge(
        pd.DataFrame(a[keep]),
        pd.DataFrame(b[keep]),
        on="address_id",
        how="outer",
        suffixes=("_a", "_b"),
        indicator=True,
    )
    change = np.select(
        [merged["_merge"] == "right_only", merged["_merge"] == "left_only"],
        ["added", "removed"],
        "",
    ).astype(object)
    both = (merged["_merge"] == "both").to_numpy()
    reclass = np.zeros(len(merged), dtype=bool)
    for col in CLASS_COLUMNS:
        reclass |= (
            both & (merged[f"{col}_a"].astype(str) != merged[f"{col}_b"].astype(str)).to_numpy()
        )
    deltas = {}
    for t in targets:
        pa = merged[f"pass_{t}_a"].fillna(False).astype(bool).to_numpy()
        pb = merged[f"pass_{t}_b"].fillna(False).astype(bool).to_numpy()
        deltas[t] = pb.astype(np.int64) - pa.astype(np.int64)
        reclass |= both & (deltas[t] != 0)
    change[both & reclass] = "changed"
    out = merged.loc[change != ""].copy()
    out.insert(1, "change", change[change != ""])
    for t in targets:
        out[f"delta_{t}"] = deltas[t][change != ""]
    out["kommun_code"] = out["kommun_code_b"].fillna(out["kommun_code_a"])
    for col in ("households", "workplaces", "holiday_homes", "public_site"):
        out[col] = out[f"{col}_b"].fillna(out[f"{col}_a"])
    cols = [
        "address_id",
        "change",
        "kommun_code",
        "households",
        "workplaces",
        "holiday_homes",
        "public_site",
        *[f"{c}_{s}" for c in CLASS_COLUMNS for s in ("a", "b")],
        *[f"delta_{t}" for t in targets],
    ]
    changes = out[cols].sort_values("address_id", kind="stable").reset_index(drop=True)
    return RunDiff(changes=changes, totals=_totals(changes, targets, populations), targets=targets)


def _totals(
    changes: pd.DataFrame, targets: list[str], populations: dict[str, str]
) -> dict[str, Any]:
    counts = changes["change"].value_counts()
    out: dict[str, Any] = {k: int(counts.get(k, 0)) for k in ("added", "removed", "changed")}
    per_target: dict[str, Any] = {}
    for t in targets:
        delta = changes[f"delta_{t}"].to_numpy()
        w = units(
            changes.fillna(
                {"households": 0, "workplaces": 0, "holiday_homes": 0, "public_site": ""}
            ),
            populations.get(t, "households"),
        ).to_numpy()
        frame = pd.DataFrame(
            {
                "kommun_code": changes["kommun_code"],
                "gained": np.where(delta > 0, w, 0),
                "lost": np.where(delta < 0, w, 0),
            }
        )
        by_kommun = frame.groupby("kommun_code", sort=True)[["gained", "lost"]].sum()
        per_target[t] = {
            "addresses_gained": int((delta > 0).sum()),
            "addresses_lost": int((delta < 0).sum()),
            "units_gained": int(frame["gained"].sum()),
            "units_lost": int(frame["lost"].sum()),
            "by_kommun": {
                str(k): {"units_gained": int(r.gained), "units_lost": int(r.lost)}
                for k, r in by_kommun.iterrows()
            },
        }
    out["targets"] = per_target
    return out


def compare_figures(
    a: dict[str, Any], b: dict[str, Any], levels: tuple[str, ...] = ("kommun", "tatort")
) -> dict[str, Any]:
    """Per target, overall and per area, the figures of scenario A and B and their difference.

    ``a`` and ``b`` are the ``figures`` of two results over the same addresses and targets.
    """
    fb = {f["id"]: f for f in b["targets"]}
    out: dict[str, Any] = {}
    for fa in a["targets"]:
        other = fb.get(fa["id"])
        if other is None:
            continue
        by_area = {}
        for level in levels:
            rows_b = {r["area_id"]: r for r in other["by_area"].get(level, [])}
            by_area[level] = [
                {
                    "area_id": r["area_id"],
                    "name": r.get("name"),
                    **_delta(r, rows_b.get(r["area_id"], r)),
                }
                for r in fa["by_area"].get(level, [])
            ]
        out[fa["id"]] = {"label": fa["label"], **_delta(fa, other), "by_area": by_area}
    return out


def _delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    share_a, share_b = a.get("share"), b.get("share")
    return {
        "numerator_a": a["numerator"],
        "numerator_b": b["numerator"],
        "share_a": share_a,
        "share_b": share_b,
        "share_change": None if share_a is None or share_b is None else share_b - share_a,
        "units_change": int(b["numerator"]) - int(a["numerator"]),
        "met_a": a.get("met"),
        "met_b": b.get("met"),
    }
