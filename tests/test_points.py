"""The pipeline's address table holds coordinates, not point geometries (coverage._points)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from coverage import pipeline
from coverage._points import XY_COLUMNS, point_xy, table_xy, with_points, without_points
from coverage.cli import DEFAULT_ADDRESSES, DEFAULT_NETWORKS, DEFAULT_TARGETS
from coverage.runs import write_run
from coverage.settings import CoverageSettings


def test_point_xy_by_hand() -> None:
    pts = gpd.GeoSeries([shapely.Point(1, 2), shapely.Point(3.5, -4)], index=[7, 3])
    assert point_xy(pts).tolist() == [[1.0, 2.0], [3.5, -4.0]]
    assert point_xy(np.array([[1, 2]])).tolist() == [[1.0, 2.0]]  # coordinates pass through
    with pytest.raises(ValueError, match="one non-empty point per row"):
        point_xy(gpd.GeoSeries([shapely.Point(1, 2), shapely.Point()]))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        point_xy(np.zeros((3, 3)))


def test_coordinates_and_back() -> None:
    frame = gpd.GeoDataFrame(
        {"address_id": ["b", "a"], "households": [2, 0]},
        geometry=[shapely.Point(500_000.5, 6_700_000.25), shapely.Point(1, 2)],
        crs="EPSG:3006",
    )
    table = without_points(frame)
    assert list(table.columns) == ["address_id", "households", *XY_COLUMNS]
    assert not isinstance(table, gpd.GeoDataFrame)
    assert table_xy(table).tolist() == [[500_000.5, 6_700_000.25], [1.0, 2.0]]
    assert table_xy(frame).tolist() == table_xy(table).tolist()
    assert_geodataframe_equal(with_points(table, "EPSG:3006"), frame)
    with pytest.raises(ValueError, match="geometry or the columns"):
        table_xy(table.drop(columns="_x"))


def test_the_run_table_is_coordinates_and_gives_the_written_points(tmp_path: Path) -> None:
    """The result's address table has no geometry; its points are those of
    ``addresses.parquet``, row for row."""
    inputs = pipeline.Inputs(
        addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS
    )
    result = pipeline.compute(inputs, CoverageSettings(), date(2026, 6, 1))
    assert "geometry" not in result.addresses.columns
    assert all(c in result.addresses.columns for c in XY_COLUMNS)
    folder = write_run(result, tmp_path, "r")
    written = gpd.read_parquet(folder / "addresses.parquet")
    points = result.address_points()
    assert_geodataframe_equal(points[list(written.columns)], written)


def _alive_when(
    monkeypatch: pytest.MonkeyPatch,
    maker: str,
    made: Callable[[Any], list[Any]],
    checker: str,
) -> tuple[list[weakref.ref[Any]], list[bool]]:
    """Weak references to the objects ``made`` picks from each result of the pipeline's
    ``maker``, and, at each call of its ``checker`` (after a collection), whether any of them
    is still alive."""
    refs: list[weakref.ref[Any]] = []
    alive_then: list[bool] = []
    make, check = getattr(pipeline, maker), getattr(pipeline, checker)

    def making(*args: Any, **kwargs: Any) -> Any:
        result = make(*args, **kwargs)
        refs.extend(weakref.ref(x) for x in made(result))
        return result

    def checking(*args: Any, **kwargs: Any) -> Any:
        gc.collect()
        alive_then.append(any(r() is not None for r in refs))
        return check(*args, **kwargs)

    monkeypatch.setattr(pipeline, maker, making)
    monkeypatch.setattr(pipeline, checker, checking)
    return refs, alive_then


def test_the_read_table_is_freed_before_the_classification(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The table as read is gone once the pipeline has its own (sorted by address id): a
    slice of the read frame kept it all alive (as its base) until the end (then with its
    point geometries, 1 GB at 5·10⁶ addresses). The file's rows are shuffled, so the
    pipeline's table is a sorted copy."""
    shuffled = tmp_path / "addresses.parquet"
    frame = gpd.read_file(DEFAULT_ADDRESSES)
    frame.sample(frac=1.0, random_state=3).to_parquet(shuffled)

    def made(result: Any) -> list[Any]:
        assert "geometry" not in result.frame.columns  # coordinates, from the reader on
        data = result.frame[XY_COLUMNS[0]].to_numpy()
        return [data if data.base is None else data.base]

    arrays, alive_then = _alive_when(monkeypatch, "read_addresses", made, "_classifier")
    inputs = pipeline.Inputs(addresses=shuffled, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS)
    pipeline.compute(inputs, CoverageSettings(), date(2026, 6, 1))
    assert len(arrays) == 1 and alive_then == [False]


def test_the_memberships_are_freed_before_the_grid_squares_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each level's members of every address are summed by the aggregation and freed then,
    before the gap clusters are written and the grid squares made (the run's peak)."""
    members, alive_then = _alive_when(
        monkeypatch, "_assign_areas", lambda result: list(result[1].values()), "_with_outlines"
    )
    inputs = pipeline.Inputs(
        addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS
    )
    pipeline.compute(inputs, CoverageSettings(), date(2026, 6, 1))
    assert len(members) >= 4 and alive_then and not any(alive_then)


def test_grid_tables_get_their_squares_after_the_gap_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The grid levels' area tables are aggregated without outlines (10⁶ polygons nationally)
    and get them once the gap search is done: every row its own square, in its place."""
    from coverage.areas import GRID_SIZES_M, grid_squares

    order: list[str] = []
    find, attach = pipeline.find_gaps, pipeline._with_outlines

    def finding(*args: Any, **kwargs: Any) -> Any:
        order.append("gaps")
        return find(*args, **kwargs)

    def attaching(table: Any, polys: Any) -> Any:
        order.append("squares")
        return attach(table, polys)

    monkeypatch.setattr(pipeline, "find_gaps", finding)
    monkeypatch.setattr(pipeline, "_with_outlines", attaching)
    inputs = pipeline.Inputs(
        addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS
    )
    result = pipeline.compute(inputs, CoverageSettings(), date(2026, 6, 1))
    assert order == ["gaps", "squares", "squares"]
    for level, size in GRID_SIZES_M.items():
        table = result.area_tables[level]
        squares = grid_squares(table["area_id"], size).set_index("area_id").geometry
        want = squares.reindex(table["area_id"]).to_numpy()
        assert table.crs == "EPSG:3006" and table.columns[-1] == "geometry"
        assert shapely.equals_exact(table.geometry.to_numpy(), want, tolerance=0).all()
