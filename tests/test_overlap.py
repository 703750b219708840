"""Gaps found on a thread beside the address outputs and the aggregation (coverage.pipeline)
give the run that finding them afterwards gives."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from test_row_order import _make_scene

from coverage import kernel, pipeline
from coverage.cli import DEFAULT_TARGETS
from coverage.pipeline import Inputs, compute
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
    _make_scene(tmp_path / "scene")
    inputs = Inputs(
        addresses=tmp_path / "scene" / "addresses.parquet",
        networks=[tmp_path / "scene" / "network.parquet"],
        targets=DEFAULT_TARGETS,
    )
    threads: list[str] = []
    real = pipeline.find_gaps

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "find_gaps", recording)
    folders = []
    for name, overlap in (("beside", True), ("after", False)):
        monkeypatch.setattr(pipeline, "parallel_threadsafe", lambda o=overlap: o)
        result = compute(inputs, CoverageSettings(), date(2026, 6, 1))
        folders.append(write_run(result, tmp_path / name, run_id="same"))
    assert threads == ["bbplan-gaps", "MainThread"]
    a, b = folders
    assert len(pd.read_parquet(a / "gaps.parquet")) > 20
    for name in ["addresses.parquet", "gaps.parquet", "network.parquet"]:
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
    for name in ["figures.json", "timeline.json"]:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text())
