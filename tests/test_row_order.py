"""A run does not depend on the order of the address file's rows (SPEC §3: ties and order are
decided by ids, never by position)."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd

from coverage.cli import DEFAULT_TARGETS
from coverage.pipeline import Inputs, compute
from coverage.runs import write_run
from coverage.settings import CoverageSettings

ROOT = Path(__file__).resolve().parents[1]


def _make_scene(folder: Path) -> None:
    """A small national scene (towns, rural scatter, three technologies) from the script
    that makes the national runs' scenes."""
    spec = importlib.util.spec_from_file_location("national_run", ROOT / "scripts/national_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make_scene(8_000, 800, seed=3, folder=folder)


def test_shuffled_address_file_gives_the_same_run(tmp_path: Path) -> None:
    _make_scene(tmp_path / "scene")
    original = gpd.read_parquet(tmp_path / "scene" / "addresses.parquet")
    shuffled = original.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert not shuffled["address_id"].equals(original["address_id"])  # really reordered
    shuffled.to_parquet(tmp_path / "shuffled.parquet", index=False)
    folders = []
    for name, path in (
        ("a", tmp_path / "scene" / "addresses.parquet"),
        ("b", tmp_path / "shuffled.parquet"),
    ):
        inputs = Inputs(
            addresses=path,
            networks=[tmp_path / "scene" / "network.parquet"],
            targets=DEFAULT_TARGETS,
        )
        result = compute(inputs, CoverageSettings(), date(2026, 6, 1))
        folders.append(write_run(result, tmp_path / name, run_id="same"))
    a, b = folders
    gaps = gpd.read_parquet(a / "gaps.parquet")
    assert (gaps["addresses"] > 2).sum() > 20  # outlines and trench sums of real clusters
    tables = ["addresses.parquet", "gaps.parquet", "network.parquet"]
    tables += [f"areas/{p.name}" for p in sorted((a / "areas").glob("*.parquet"))]
    for name in tables:
        # Exactly: every number to the last bit, every geometry as the same WKB bytes.
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)
    for name in ["figures.json", "timeline.json"]:
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text())
    csv = "exports/pts_addresses.csv"  # byte for byte, too
    assert (a / csv).read_bytes() == (b / csv).read_bytes()
