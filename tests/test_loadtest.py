"""The load test in its CI mode: ``scripts/loadtest.py --short`` makes a demo run, serves it
with the real server on 127.0.0.1, drives 10 users for 10 s and must report no error, every
endpoint group with its p95, and server memory growth within 10 %."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "loadtest.py"
GROUPS = ("compliance", "timeline", "areas", "lookup", "addresses", "layers", "tiles")


@pytest.mark.slow
def test_short_load_test_has_no_errors_and_bounded_memory(tmp_path: Path) -> None:
    out = tmp_path / "loadtest.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--short", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rep = json.loads(out.read_text(encoding="utf-8"))
    print(proc.stdout[-2500:])  # the table, shown with pytest -s or on failure

    assert rep["config"]["users"] == 10 and rep["config"]["seconds"] == 10
    assert rep["errors"] == 0, rep["error_samples"]
    assert rep["total_requests"] > 0 and rep["throughput_rps"] > 0
    assert rep["total_requests"] == sum(e["requests"] for e in rep["endpoints"].values())
    for group in GROUPS:
        info = rep["groups"][group]
        assert info["endpoints"] and info["requests"] > 0, f"no {group} requests"
        assert info["p95_ms"] > 0
        for name in info["endpoints"]:
            e = rep["endpoints"][name]
            assert e["errors"] == 0
            assert 0 < e["p50_ms"] <= e["p95_ms"] <= e["p99_ms"] <= e["max_ms"]
    # The planner layers and both kinds of tiles (public areas, planner points/lines) ran.
    names = set(rep["endpoints"])
    assert {"/layers/addresses?bbox", "/layers/network?bbox", "/layers/grid_250m?bbox"} <= names
    assert {"/tiles/grid_1km/z/x/y", "/tiles/addresses/z/x/y"} <= names
    mem = rep["memory"]
    assert mem["before_mb"] > 0 and mem["after_mb"] > 0
    assert mem["growth_pct"] <= 10.0, mem
    assert rep["passed"] is True
