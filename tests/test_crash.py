"""Crash safety: ``bbplan run`` killed with SIGKILL at many points leaves only complete runs,
earlier runs untouched; the API serves the last complete run while a new one is written, and
refuses a run whose files no longer match its manifest while staying up."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.settings import Settings
from coverage.cli import app as cli
from coverage.runs import TMP_PREFIX, list_runs, remove_stale_temporaries, verify_run

BBPLAN = Path(sys.executable).parent / "bbplan"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _base_run(runs: Path, run_id: str = "base") -> Path:
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(runs), "--run-id", run_id, "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code == 0, res.output
    return runs / run_id


def test_sigkill_at_random_points_leaves_only_complete_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    base = _base_run(runs)
    before = _tree_digest(base)
    rng = random.Random(2061)
    # One run takes a few seconds: kill points spread from start-up to the rename.
    delays = sorted(rng.uniform(0.2, 6.0) for _ in range(8))
    killed = 0
    for delay in delays:
        proc = subprocess.Popen(
            [str(BBPLAN), "run", "--runs-dir", str(runs), "--evaluation-date", "2026-06-01"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        for run_id in list_runs(runs):  # every listed run is complete and checks out
            verify_run(runs / run_id)
        others = [p.name for p in runs.iterdir() if p.name not in list_runs(runs)]
        assert all(name.startswith(TMP_PREFIX) for name in others), others
        assert _tree_digest(base) == before  # the earlier run is untouched
        time.sleep(1.01)  # run ids are time stamps to the second
    assert killed >= 4, f"only {killed} of {len(delays)} runs were still running when killed"
    remove_stale_temporaries(runs)
    assert not [p for p in runs.iterdir() if p.name.startswith(TMP_PREFIX)]
    # And the next run completes normally.
    res = CliRunner().invoke(
        cli,
        ["run", "--runs-dir", str(runs), "--run-id", "after", "--evaluation-date", "2026-06-01"],
    )
    assert res.exit_code == 0, res.output
    verify_run(runs / "after")


def test_api_serves_the_last_complete_run_while_a_new_one_is_written(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _base_run(runs)
    app = create_app(Settings(runs_dir=runs, reload_interval_s=0))
    with TestClient(app) as client:
        assert client.get("/health").json()["latest_run"] == "base"
        proc = subprocess.Popen(
            [
                str(BBPLAN),
                "run",
                "--runs-dir",
                str(runs),
                "--run-id",
                "next",
                "--evaluation-date",
                "2026-06-01",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seen_tmp = False
        try:
            while proc.poll() is None:
                seen_tmp |= any(p.name.startswith(TMP_PREFIX) for p in runs.iterdir())
                r = client.get("/compliance")
                assert r.status_code == 200 and r.json()["run_id"] in ("base", "next")
                assert client.post("/admin/reload").status_code in (401, 403)  # no admin key
                latest = client.get("/health").json()["latest_run"]
                # "next" may be served only once its folder is complete (renamed into place).
                assert latest == "base" or (latest == "next" and verify_run(runs / "next"))
                time.sleep(0.05)
        finally:
            proc.wait(timeout=120)
        assert proc.returncode == 0 and seen_tmp
        assert client.get("/health").json()["latest_run"] == "next"


def test_tampered_run_is_refused_with_a_log_line_and_the_server_stays_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "runs"
    _base_run(runs, "good")
    time.sleep(1.01)
    bad = _base_run(runs, "tampered")
    with (bad / "figures.json").open("a", encoding="utf-8") as fh:
        fh.write(" ")  # one byte changed is enough
    app = create_app(Settings(runs_dir=runs, reload_interval_s=0))
    with caplog.at_level(logging.ERROR, logger="bbplan.api"), TestClient(app) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["latest_run"] == "good"
        assert client.get("/compliance").json()["run_id"] == "good"
        r = client.get("/compliance?run=tampered")
        assert r.status_code == 503 and "integrity" in r.json()["detail"]
        assert [run["run_id"] for run in client.get("/runs").json()["runs"]] == ["good"]
    assert any(
        "tampered" in rec.getMessage() and "figures.json" in rec.getMessage()
        for rec in caplog.records
    )
