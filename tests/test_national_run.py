"""scripts/national_run.py works end to end at a small size (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import pytest

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


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("national_run", ROOT / "scripts/national_run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tree_peak_sums_pss_walking_the_run_only_for_its_file_pages_now_and_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = _script()
    # The run (pid 1) and its GeoPackage child (pid 2), seven samples 1 s apart: the run's
    # anonymous kB and file-backed PSS, each process's (RSS, PSS), and the child's command
    # line (at first still the run's: forked, not yet past exec).
    samples = [
        (70, 30, {1: (100, 100), 2: (100, 100)}, b"cmd1"),  # the run alone: 70 + 30
        (
            40,
            30,
            {1: (60, 55), 2: (20, 19)},
            b"cmd2",
        ),  # started: file PSS read; 40 + 30 + 20 <= 100
        (60, 99, {1: (90, 80), 2: (30, 25)}, b"cmd2"),  # 60 + 30 (kept) + 30 > 100: 60 + 30 + 25
        (50, 99, {1: (70, 66), 2: (35, 34)}, b"cmd2"),  # 50 + 30 + 35 <= 115: child not walked
        (52, 20, {1: (95, 94), 2: (40, 30)}, b"cmd2"),  # 52 + 30 + 40 > 115: 52 + 30 + 30
        (80, 20, {1: (95, 94), 2: (40, 30)}, b"cmd2"),  # 4 s since read: 80 + 30 + 30 = 140
        (80, 20, {1: (95, 94), 2: (40, 30)}, b"cmd2"),  # 5 s: read, 80 + 20 + 40 <= 140
    ]
    at = iter(range(len(samples) + 1))
    now = {"i": next(at)}
    walked: list[tuple[int, int, str]] = []

    class Proc:
        pid = 1

        def poll(self) -> int | None:
            return None if now["i"] < len(samples) else 0

    def pss(pid: int) -> int:
        walked.append((now["i"], pid, "all"))
        return samples[now["i"]][2][pid][1]

    def pss_file(pid: int) -> int:
        walked.append((now["i"], pid, "file"))
        return samples[now["i"]][1]

    def cmdline(pid: int) -> bytes:
        return b"cmd1" if pid == 1 else samples[now["i"]][3]

    monkeypatch.setattr(script, "_tree", lambda pid: [1, 2])
    monkeypatch.setattr(script, "_cmdline", cmdline)
    monkeypatch.setattr(script, "_anon_kb", lambda pid: samples[now["i"]][0])
    monkeypatch.setattr(script, "_rss_kb", lambda pid: samples[now["i"]][2][pid][0])
    monkeypatch.setattr(script, "_pss_kb", pss)
    monkeypatch.setattr(script, "_pss_file_kb", pss_file)
    monkeypatch.setattr(script.time, "monotonic", lambda: float(now["i"]))
    monkeypatch.setattr(script.time, "sleep", lambda s: now.update(i=next(at)))
    proc: Any = Proc()
    assert script._sample_tree_peak_mb(proc, file_every_s=5.0) == 140 / 1024
    assert walked == [
        (0, 1, "file"),
        (1, 1, "file"),  # the child started
        (2, 2, "all"),
        (4, 2, "all"),
        (5, 2, "all"),
        (6, 1, "file"),  # 5 s after the last
    ]


def test_resident_and_proportional_sizes_of_this_process() -> None:
    script = _script()
    rss, pss = script._rss_kb(os.getpid()), script._pss_kb(os.getpid())
    assert 0 < pss <= rss
    anon, pss_file = script._anon_kb(os.getpid()), script._pss_file_kb(os.getpid())
    assert 0 < anon < rss and 0 < pss_file < rss and anon + pss_file <= rss
    gone = 2**22 + 7  # no such process
    assert script._rss_kb(gone) == script._pss_kb(gone) == 0
    assert script._anon_kb(gone) == script._pss_file_kb(gone) == 0
