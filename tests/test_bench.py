"""scripts/bench.py at the small size: the script runs, every method agrees, the JSON is written.

No timing is asserted (CI machines are shared and noisy). DuckDB and its spatial extension come
from the optional ``bench`` extra (``pip install -e .[bench]``); without them this test fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

NO_BENCH_EXTRA = "the bench extra is not installed (pip install -e .[bench])"


@pytest.mark.slow
def test_bench_small_scene_all_methods_agree(tmp_path: Path) -> None:
    # The README's test command installs the bench extra: a missing DuckDB is a failure here,
    # never a silent skip.
    try:
        import duckdb  # noqa: F401
        import duckdb_extension_spatial  # noqa: F401
    except ImportError:
        pytest.fail(NO_BENCH_EXTRA, pytrace=False)
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench.py"), "--size", "50k", "--json", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "ALL METHODS AGREE" in proc.stdout

    doc = json.loads(out.read_text())
    assert doc["points"] == 50_000
    assert doc["lines"] == 5_000
    assert doc["all_agree"] is True
    rows = {r["method"]: r for r in doc["methods"]}
    assert doc["methods"][0]["method"] == "bbplan"
    for method in ("bbplan", "sjoin_nearest", "strtree", "duckdb"):
        row = rows[method]
        assert row["agreement"] is True, (method, row)
        assert row["time_s"] > 0
        assert row["peak_rss_mb"] > 0
        assert row["found"] == rows["bbplan"]["found"] > 0
    assert rows["duckdb"]["spatial_join_operator"] is True
    assert rows["strtree"]["tied_points"] > 0  # the scene exercises the tie-break
    assert rows["postgis"].get("skipped")


def test_scene_is_reproducible_exact_and_inside_sweden() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import bench
    finally:
        sys.path.remove(str(REPO / "scripts"))

    a = bench.make_scene(20_000, 2_000, seed=7)
    b = bench.make_scene(20_000, 2_000, seed=7)
    assert a.xy.shape == (20_000, 2)
    assert a.n_lines == 2_000
    assert (a.xy == b.xy).all()
    assert (a.line_xy == b.line_xy).all()
    x0, y0, x1, y1 = bench.SWEDEN_BBOX
    for xy in (a.xy, a.line_xy):
        assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all()
        assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all()
    assert not (bench.make_scene(20_000, 2_000, seed=8).xy == a.xy).all()


def test_agreement_check_catches_disagreements_and_accepts_ties() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import bench
    finally:
        sys.path.remove(str(REPO / "scripts"))
    import numpy as np
    import shapely

    # Two lines meeting at (0, 0); point 0 is equally far from both (a tie), point 1 is
    # 1 m from line 0 and 3 m from line 1, point 2 has no line within reach.
    scene = bench.Scene(
        xy=np.array([[-5.0, -5.0], [1.0, 3.0], [500.0, 500.0]]),
        line_xy=np.array([[0.0, 0.0], [0.0, 10.0], [0.0, 0.0], [10.0, 0.0]]),
        line_of=np.array([0, 0, 1, 1]),
    )
    lines = scene.lines()
    d0 = float(shapely.distance(shapely.Point(-5, -5), lines[0]))
    ref = (np.array([0, 0, -1]), np.array([d0, 1.0, np.nan]))

    def check(idx: list[int], dist: list[float]) -> dict[str, object]:
        return bench.compare(scene, lines, ref, (np.array(idx), np.array(dist)))

    assert check([0, 0, -1], [d0, 1.0, np.nan])["agreement"] is True
    tie = check([1, 0, -1], [d0, 1.0, np.nan])
    assert tie["agreement"] is True and tie["ids_differ_on_ties"] == 1
    assert check([0, 1, -1], [d0, 1.0, np.nan])["ids_differ_not_tie"] == 1
    assert check([0, 0, -1], [d0, 1.0 + 1e-5, np.nan])["agreement"] is False
    assert check([0, -1, -1], [d0, np.nan, np.nan])["points_found_differently"] == 1
    assert check([0, 0, 1], [d0, 1.0, 700.0])["agreement"] is False
