"""scripts/national_run.py works end to end at a small size (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd

ROOT = Path(__file__).resolve().parents[1]


def test_small_national_run_and_serve(tmp_path: Path) -> None:
    out = tmp_path / "national.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "national_run.py"), "--size", "20k"]
    cmd += ["--scenes", str(tmp_path / "scenes"), "--serve", "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(out.read_text())
    # Every pipeline step was timed, and the server loaded the run and answered.
    for step in ("Reading address points", "Classifying addresses", "Writing run folder"):
        assert report["steps_s"][step] >= 0
    assert report["peak_mb"] >= report["peak_largest_process_mb"] > 0
    # CPU of the command and its children: at least the time the steps ran (one core or more).
    assert report["user_s"] > 0 and report["system_s"] >= 0
    assert report["user_s"] + report["system_s"] >= 0.5 * sum(report["steps_s"].values())
    assert report["steal_s"] is None or report["steal_s"] >= 0
    assert report["reference_s"] > 0
    assert report["output_mb"] > 0
    assert report["serve"]["ready_s"] > 0
    assert set(report["serve"]["median_ms"]) == {"/compliance", "/lookup", "/addresses/{id}"}
    # The scene: the size asked for, inside Sweden, three technologies.
    scene = next((tmp_path / "scenes").iterdir())
    addresses = gpd.read_parquet(scene / "addresses.parquet")
    network = gpd.read_parquet(scene / "network.parquet")
    assert len(addresses) == 20_000 and len(network) == 2_000
    assert set(network["technology"]) == {"fibre", "vdsl", "fwa"}
    x0, y0, x1, y1 = addresses.total_bounds
    assert 250_000 < x0 < x1 < 950_000 and 6_100_000 < y0 < y1 < 7_700_000
