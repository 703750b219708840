"""Work overlapped on threads of its own (coverage.pipeline) gives the run that doing it in
turn gives: the classification beside the areas' assignment, the later years' pass marks
beside the evaluation year's summary, the gaps beside the address outputs and the
aggregation."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_row_order import _make_scene

from coverage import kernel, pipeline
from coverage.cli import DEFAULT_TARGETS
from coverage.pipeline import Inputs, Result, compute
from coverage.runs import write_run
from coverage.settings import CoverageSettings


def test_parallel_threadsafe_names_the_layers_that_allow_two_threads() -> None:
    # Any parallel loop: numba chooses its threading layer at the first.
    kernel.nearest_within(np.zeros((1, 2)), shapely.points([[0.0, 0.0]]), np.zeros(1, int), 1.0)
    layer = str(kernel.numba.threading_layer())
    assert kernel.parallel_threadsafe() is (layer in ("omp", "tbb"))
    # This machine (and CI) has OpenMP, so the overlapped path below is the one that runs.
    assert kernel.parallel_threadsafe(), f"numba's threading layer here is {layer}"


def test_gaps_beside_the_aggregation_equal_gaps_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _scene_inputs(tmp_path)
    threads: list[str] = []
    real = pipeline.find_gaps

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "find_gaps", recording)
    _, a, b = _beside_and_after(inputs, tmp_path, monkeypatch)
    assert threads == ["bbplan-gaps", "MainThread"]
    assert len(pd.read_parquet(a / "gaps.parquet")) > 20
    _assert_same_runs(a, b)


def test_classification_beside_the_areas_equals_classification_after_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_scene(tmp_path / "scene")
    # Three addresses at sea between Öland and Gotland, far from every kommun: the areas
    # drop them, so the classifier must be made from the kept rows, not the rows read.
    scene = gpd.read_parquet(tmp_path / "scene" / "addresses.parquet")
    at_sea = scene.iloc[:3].copy()
    at_sea["address_id"] = ["sea-1", "sea-2", "sea-3"]
    at_sea.geometry = gpd.GeoSeries(
        shapely.points([[660_000.0, 6_330_000.0], [661_000.0, 6_331_000.0], [662_000, 6_332_000]]),
        index=at_sea.index,
        crs=scene.crs,
    )
    addresses = tmp_path / "addresses.parquet"
    pd.concat([scene, at_sea], ignore_index=True).to_parquet(addresses, index=False)
    inputs = Inputs(
        addresses=addresses,
        networks=[tmp_path / "scene" / "network.parquet"],
        targets=DEFAULT_TARGETS,
    )
    made: list[tuple[str, int, list[str]]] = []
    real = pipeline._classifier

    def recording(frame: pd.DataFrame, *args: Any) -> Any:
        made.append((threading.current_thread().name, len(frame), list(frame.columns)))
        return real(frame, *args)

    monkeypatch.setattr(pipeline, "_classifier", recording)
    result, a, b = _beside_and_after(inputs, tmp_path, monkeypatch)
    kept = len(result.addresses)
    assert kept <= len(scene)  # of the rows read, at least the three at sea dropped
    assert set(result.rejected.loc[result.rejected["id"].str.startswith("sea-"), "id"]) == {
        "sea-1",
        "sea-2",
        "sea-3",
    }
    # Only the coordinates and `connected` are handed over: the areas go on adding columns.
    assert made == [
        ("bbplan-classify", kept, ["_x", "_y", "connected"]),
        ("MainThread", kept, ["_x", "_y", "connected"]),
    ]
    _assert_same_runs(a, b)


def test_pass_marks_beside_the_summary_equal_marks_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _scene_inputs(tmp_path)
    marked: list[tuple[str, list[int]]] = []
    real = pipeline.passes_many_at

    def recording(classifier: Any, targets: Any, scenarios: Any) -> Any:
        marked.append((threading.current_thread().name, [year for year, _ in scenarios]))
        return real(classifier, targets, scenarios)

    monkeypatch.setattr(pipeline, "passes_many_at", recording)
    result, a, b = _beside_and_after(inputs, tmp_path, monkeypatch)
    # Plan years and sensitivity rules both marked, on a thread of its own, then in turn.
    assert [name for name, _ in marked] == ["bbplan-passes", "MainThread"]
    assert marked[0][1] == marked[1][1] and len(set(marked[0][1])) >= 2
    later = result.addresses["pass_year_" + result.targets[0].id]
    assert (later.dropna() > 2026).any()  # some address passes only in a plan year
    _assert_same_runs(a, b)


def test_the_dask_engine_is_classified_when_asked_not_beside_the_areas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(pipeline, "parallel_threadsafe", lambda: True)
    monkeypatch.setattr(pipeline, "_classifier", lambda *a: calls.append("made") or "classifier")
    kept = pd.DataFrame({"_x": [1.0], "_y": [2.0], "connected": [False], "kommun_code": ["0180"]})
    network = gpd.GeoDataFrame(geometry=[], crs=3006)
    make = pipeline._classifying(kept, network, CoverageSettings(), "dask", None, 8)
    assert calls == []  # a Dask client is started on the main thread, when asked
    assert make() == "classifier" and calls == ["made"]


def _scene_inputs(tmp_path: Path) -> Inputs:
    """The row-order tests' scene, written under ``tmp_path``, with the default targets."""
    _make_scene(tmp_path / "scene")
    return Inputs(
        addresses=tmp_path / "scene" / "addresses.parquet",
        networks=[tmp_path / "scene" / "network.parquet"],
        targets=DEFAULT_TARGETS,
    )


def _beside_and_after(
    inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Result, Path, Path]:
    """The run with work overlapped on threads, then without: the last result and both
    run folders."""
    folders = []
    for name, overlap in (("beside", True), ("after", False)):
        monkeypatch.setattr(pipeline, "parallel_threadsafe", lambda o=overlap: o)
        result = compute(inputs, CoverageSettings(), date(2026, 6, 1))
        folders.append(write_run(result, tmp_path / name, run_id="same"))
    return result, folders[0], folders[1]


def _assert_same_runs(a: Path, b: Path) -> None:
    for name in ["addresses.parquet", "gaps.parquet", "network.parquet"]:
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
    for name in ["figures.json", "timeline.json"]:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text())
