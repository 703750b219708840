"""Shared builders for small hand-made scenes (EPSG:3006, around Smedjebacken)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

X0, Y0 = 515_000.0, 6_665_000.0


def make_addresses(
    points: Sequence[tuple[float, float]], **columns: Sequence[Any]
) -> gpd.GeoDataFrame:
    """Address frame with canonical columns; offsets are metres from (X0, Y0)."""
    n = len(points)
    data: dict[str, Any] = {
        "address_id": [f"A{i:03d}" for i in range(n)],
        "households": [1] * n,
        "workplaces": [0] * n,
        "holiday_homes": [0] * n,
        "public_site": [""] * n,
        "connected": [False] * n,
        "address": [""] * n,
        "postcode": [""] * n,
        "kommun_code": ["2061"] * n,
    }
    data.update({k: list(v) for k, v in columns.items()})
    geoms = shapely.points(np.array([(X0 + x, Y0 + y) for x, y in points]).reshape(-1, 2))
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:3006")


def make_network(elements: Sequence[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Network frame; each element dict has ``coords`` (offsets) and optional attributes."""
    rows = []
    for i, e in enumerate(elements):
        coords = [(X0 + x, Y0 + y) for x, y in e["coords"]]
        geom = shapely.Point(coords[0]) if len(coords) == 1 else shapely.LineString(coords)
        rows.append(
            {
                "segment_id": e.get("segment_id", f"S{i:03d}"),
                "technology": e.get("technology", "fibre"),
                "status": e.get("status", "existing"),
                "year": e.get("year"),
                "open_network": e.get("open_network", True),
                "owner": e.get("owner", ""),
                "max_down_mbps": e.get("max_down_mbps", np.nan),
                "upgradeable_to_mbps": e.get("upgradeable_to_mbps", np.nan),
                "geometry": geom,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:3006")
    frame["year"] = pd.array(frame["year"].tolist(), dtype="Int64")
    return frame


def make_target(**kw: Any) -> Any:
    """A households target ≥ 100 Mbit/s, 95 %, deadline 2025, with fields overridden by ``kw``."""
    from datetime import date

    from coverage.targets import Target

    base: dict[str, Any] = dict(
        id="t",
        label="T",
        population="households",
        min_down_mbps=100,
        share=0.95,
        deadline=date(2025, 12, 31),
    )
    base.update(kw)
    return Target.model_validate(base)


@pytest.fixture
def settings() -> Any:
    from coverage.settings import CoverageSettings

    return CoverageSettings()
