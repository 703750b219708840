"""Outputs written early: addresses.gpkg by a child process (coverage/_gpkg.py) while the run
writes its other outputs, gaps.parquet by the thread that finds the gaps. Same contents as
written at the end, and a failing writer fails the run without leaving a run or a temporary
folder behind."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point
from typer.testing import CliRunner

from coverage import runs
from coverage._gpkg import write_gpkg
from coverage.cli import app as cli
from coverage.pipeline import Result


@pytest.mark.parametrize("source", ["parquet", "arrow"])
def test_child_writer_equals_geopandas(tmp_path: Path, source: str) -> None:
    """From GeoParquet, or from the Arrow IPC feed a run writes first (the same table)."""
    frame = gpd.GeoDataFrame(
        {
            "address_id": ["A1", "A2", "Å3"],
            "households": [1, 0, 12],
            "distance_m": [3.5, float("nan"), 120.0],
            "connected": [True, False, True],
            "pass_year_t": pd_int([2027, None, 2030]),
        },
        geometry=[Point(500_000, 6_700_000), Point(500_010, 6_700_020), Point(501_000, 6_701_000)],
        crs="EPSG:3006",
    )
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    frame.to_file(tmp_path / "expected.gpkg", layer="addresses", driver="GPKG", use_arrow=True)
    src = tmp_path / "a.parquet"
    if source == "arrow":
        table = pq.read_table(src)
        src = tmp_path / runs.GPKG_FEED
        with pa.OSFile(str(src), "wb") as sink, pa.ipc.new_file(sink, table.schema) as ipc:
            ipc.write_table(table, max_chunksize=2)  # batches of 2 rows: 2 batches
    write_gpkg(src, tmp_path / "got.gpkg")
    got = gpd.read_file(tmp_path / "got.gpkg", layer="addresses")
    expected = gpd.read_file(tmp_path / "expected.gpkg", layer="addresses")
    assert_geodataframe_equal(got, expected)
    assert got.crs.to_epsg() == 3006 and got["address_id"].tolist() == ["A1", "A2", "Å3"]


def pd_int(values: list[int | None]) -> object:
    import pandas as pd

    return pd.array(values, dtype="Int64")


def test_a_failing_gpkg_writer_fails_the_run_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(folder: Path, source: Path) -> tuple[subprocess.Popen[bytes], object]:
        errors = (tmp_path / "err").open("w+b")  # closed by _wait_gpkg
        code = "import sys; sys.stderr.write('disk full'); sys.exit(3)"
        return subprocess.Popen([sys.executable, "-c", code], stderr=errors), errors

    monkeypatch.setattr(runs, "_start_gpkg", failing)
    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code != 0
    assert "addresses.gpkg" in res.output and "disk full" in res.output
    assert "Traceback" not in res.output
    assert list(out.iterdir()) == []  # no run, no temporary folder


def test_the_run_writes_the_gpkg_of_its_address_table(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--run-id", "r", "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code == 0, res.output
    gpkg = gpd.read_file(out / "r" / "addresses.gpkg", layer="addresses")
    table = gpd.read_parquet(out / "r" / "addresses.parquet")
    assert gpkg["address_id"].tolist() == table["address_id"].tolist()
    assert (gpkg.geometry.x.to_numpy() == table.geometry.x.to_numpy()).all()
    runs.verify_run(out / "r")  # the GeoPackage is in the manifest with its checksum
    assert not (out / "r" / runs.GPKG_FEED).exists()  # the child's feed is not an output


def test_a_pipeline_failure_after_the_early_address_outputs_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address outputs are written (and the GeoPackage child started) before aggregation
    and gaps; a failure after that stops the child and removes the temporary folder."""
    from coverage import pipeline

    started: list[subprocess.Popen[bytes]] = []
    start = runs._start_gpkg

    def recording(folder: Path, source: Path) -> tuple[subprocess.Popen[bytes], object]:
        # Started on the Arrow feed, before addresses.parquet is written.
        assert source == folder / runs.GPKG_FEED and source.is_file()
        assert not (folder / "addresses.parquet").exists()
        proc, errors = start(folder, source)
        started.append(proc)
        return proc, errors

    def failing_gaps(*args: object, **kwargs: object) -> None:
        raise OSError("no space left on device (simulated)")

    monkeypatch.setattr(runs, "_start_gpkg", recording)
    monkeypatch.setattr(pipeline, "find_gaps", failing_gaps)
    _fails_leaving_nothing(tmp_path / "runs")
    assert len(started) == 1 and started[0].poll() is not None  # the child was stopped


def _fails_leaving_nothing(out: Path) -> None:
    """A demo run into ``out`` fails with the simulated error, no traceback, and leaves no
    run and no temporary folder."""
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code != 0 and "simulated" in res.output
    assert "Traceback" not in res.output
    assert list(out.iterdir()) == []


def test_the_early_address_table_must_be_the_results(tmp_path: Path) -> None:
    result = _demo_result()
    with pytest.raises(ValueError, match="not the result's"), runs.RunWriter(tmp_path) as w:
        w.write_addresses(result.addresses.copy(), result.targets, result.crs)
        w.finish(result)
    assert list(tmp_path.iterdir()) == []


def test_gaps_are_written_as_soon_as_they_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gaps.parquet is started as soon as the gaps are found, on a thread of its own, once,
    and is the result's."""
    import threading

    threads: list[str] = []
    write = runs._write_gaps

    def recording(gaps: gpd.GeoDataFrame, folder: Path) -> None:
        threads.append(threading.current_thread().name)
        write(gaps, folder)

    monkeypatch.setattr(runs, "_write_gaps", recording)
    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--run-id", "r", "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code == 0, res.output
    assert len(threads) == 1 and threads[0].startswith("bbplan-gaps-writer")
    gaps = gpd.read_parquet(out / "r" / "gaps.parquet")
    figures = json.loads((out / "r" / "figures.json").read_text(encoding="utf-8"))
    assert len(gaps) > 0 and set(gaps["target_id"]) <= set(figures["gaps"]["targets"])
    runs.verify_run(out / "r")


def test_a_failing_gaps_writer_fails_the_run_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(gaps: gpd.GeoDataFrame, folder: Path) -> None:
        raise OSError("no space left on device (simulated)")

    monkeypatch.setattr(runs, "_write_gaps", failing)
    _fails_leaving_nothing(tmp_path / "runs")


def test_the_early_gap_clusters_must_be_the_results(tmp_path: Path) -> None:
    result = _demo_result()
    with pytest.raises(ValueError, match="not the result's"), runs.RunWriter(tmp_path) as w:
        w.write_gaps(result.gaps.copy())
        w.finish(result)
    assert list(tmp_path.iterdir()) == []


def test_area_csvs_are_written_as_soon_as_aggregated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The area tables' CSVs are started on a thread of their own when the tables are
    aggregated, before the grid squares have outlines; the PTS export is written with the
    run's last outputs. Every CSV is byte for byte what a run written at the end has."""
    import threading

    seen: list[tuple[str, dict[str, bool]]] = []
    events: list[str] = []
    each: list[tuple[str, str]] = []
    write, write_one, export = runs._write_area_csvs, runs._write_area_csv, runs._write_exports

    def recording(tables: dict[str, gpd.GeoDataFrame], folder: Path) -> None:
        outlined = {level: bool(t.geometry.notna().any()) for level, t in tables.items()}
        seen.append((threading.current_thread().name, outlined))
        events.append("area csvs")
        write(tables, folder)

    def recording_one(table: gpd.GeoDataFrame, folder: Path, level: str) -> None:
        each.append((level, threading.current_thread().name))
        write_one(table, folder, level)

    def recording_export(*args: object) -> None:
        events.append("export")
        export(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(runs, "_write_area_csvs", recording)
    monkeypatch.setattr(runs, "_write_area_csv", recording_one)
    monkeypatch.setattr(runs, "_write_exports", recording_export)
    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--run-id", "r", "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code == 0, res.output
    [(thread, outlined)] = seen
    assert thread.startswith("bbplan-area-csv")
    assert outlined["kommun"] and not outlined["grid_250m"]  # the squares come later
    # Each CSV once, by the early writer alone; the export after the aggregation.
    assert sorted(level for level, _ in each) == sorted(outlined)
    assert all(name.startswith("bbplan-area-csv") for _, name in each)
    assert events == ["area csvs", "export"]
    late = runs.write_run(_demo_result(), tmp_path / "late", run_id="r")
    early = out / "r"
    names = sorted(p.relative_to(early) for p in early.rglob("*.csv"))
    assert names == sorted(p.relative_to(late) for p in late.rglob("*.csv"))
    assert Path("areas/grid_250m.csv") in names and runs.EXPORTS_CSV in names
    for name in names:
        assert (early / name).read_bytes() == (late / name).read_bytes(), name
    runs.verify_run(early)


def test_a_failing_area_csv_writer_fails_the_run_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(tables: object, folder: Path) -> None:
        raise OSError("no space left on device (simulated)")

    monkeypatch.setattr(runs, "_write_area_csvs", failing)
    _fails_leaving_nothing(tmp_path / "runs")


def test_the_early_area_tables_must_be_the_results(tmp_path: Path) -> None:
    result = _demo_result()
    fewer = dict(list(result.area_tables.items())[1:])
    reordered = {level: t.iloc[::-1] for level, t in result.area_tables.items()}
    for early in (fewer, reordered):
        with pytest.raises(ValueError, match="not the result's"), runs.RunWriter(tmp_path) as w:
            w.write_area_csvs(early)
            w.finish(result)
        assert list(tmp_path.iterdir()) == []


def test_the_child_imports_this_package_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `coverage` folder in the working directory (another checkout, say) is not what the
    GeoPackage child imports: `python -c` would put the working directory first."""
    decoy = tmp_path / "cwd" / "coverage"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    monkeypatch.chdir(decoy.parent)
    frame = gpd.GeoDataFrame(
        {"address_id": ["A1", "A2"]},
        geometry=[Point(500_000, 6_700_000), Point(500_010, 6_700_020)],
        crs="EPSG:3006",
    )
    frame.to_parquet(tmp_path / "addresses.parquet", index=False)
    runs._wait_gpkg(*runs._start_gpkg(tmp_path, tmp_path / "addresses.parquet"))
    got = gpd.read_file(tmp_path / "addresses.gpkg")
    assert got["address_id"].tolist() == ["A1", "A2"]


def test_settle_hashes_the_file_and_knows_when_it_changed(tmp_path: Path) -> None:
    import hashlib

    from coverage._files import settle

    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    settled = settle(path)
    assert settled.sha256 == hashlib.sha256(b"abc").hexdigest() and settled.size == 3
    assert settled.holds_for(path)
    with path.open("ab") as fh:
        fh.write(b"d")
    assert not settled.holds_for(path)


def test_the_manifest_takes_a_settled_digest_only_while_the_file_is_unchanged(
    tmp_path: Path,
) -> None:
    """A digest given as settled is written as it is (no rehash) while the file has its
    size and time; a file changed since is hashed again."""
    import dataclasses
    import hashlib

    from coverage._files import settle

    result = _demo_result()
    kept, changed = tmp_path / "kept.bin", tmp_path / "changed.bin"
    kept.write_bytes(b"kept")
    changed.write_bytes(b"old")
    settled = {
        kept: dataclasses.replace(settle(kept), sha256="0" * 64),  # would not be rehashed
        changed: settle(changed),
    }
    changed.write_bytes(b"newer")
    runs._write_manifest(result, tmp_path, "r", datetime(2026, 6, 1, tzinfo=UTC), settled)
    outputs = json.loads((tmp_path / runs.MANIFEST).read_text(encoding="utf-8"))["outputs"]
    assert outputs["kept.bin"]["sha256"] == "0" * 64
    assert outputs["changed.bin"]["sha256"] == hashlib.sha256(b"newer").hexdigest()


def _demo_result() -> Result:
    """The demo data's result (evaluated on 2026-06-01)."""
    from coverage.cli import DEFAULT_ADDRESSES, DEFAULT_NETWORKS, DEFAULT_TARGETS
    from coverage.pipeline import Inputs, compute
    from coverage.settings import CoverageSettings

    inputs = Inputs(addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS)
    return compute(inputs, CoverageSettings(), date(2026, 6, 1))


def test_the_gpkg_child_says_what_it_settled(tmp_path: Path) -> None:
    from coverage._files import sha256_file

    frame = gpd.GeoDataFrame(
        {"address_id": ["A1"]}, geometry=[Point(500_000, 6_700_000)], crs="EPSG:3006"
    )
    frame.to_parquet(tmp_path / "addresses.parquet", index=False)
    settled = runs._wait_gpkg(*runs._start_gpkg(tmp_path, tmp_path / "addresses.parquet"))
    assert settled is not None and settled.holds_for(tmp_path / "addresses.gpkg")
    assert settled.sha256 == sha256_file(tmp_path / "addresses.gpkg")


@pytest.mark.parametrize("said", ["", "not json", '{"sha256": "x"}'])
def test_a_child_saying_nothing_usable_leaves_the_hashing_to_the_manifest(
    tmp_path: Path, said: str
) -> None:
    errors = (tmp_path / "err").open("w+b")
    code = f"import sys; sys.stdout.write({said!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=errors)
    assert runs._wait_gpkg(proc, errors) is None


def test_the_early_outputs_are_settled_as_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """addresses.parquet, the export and gaps.parquet are made durable and hashed by the
    run's threads when complete, addresses.gpkg by its child; the manifest has their digests
    and the run verifies."""
    import threading

    from coverage import _files

    seen: list[tuple[str, str]] = []
    settle = _files.settle

    def recording(path: Path) -> _files.Settled:
        seen.append((path.name, threading.current_thread().name))
        return settle(path)

    monkeypatch.setattr(runs, "settle", recording)
    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli, ["run", "--runs-dir", str(out), "--run-id", "r", "--evaluation-date", "2026-06-01"]
    )
    assert res.exit_code == 0, res.output
    where = dict(seen)
    assert sorted(where) == ["addresses.parquet", "gaps.parquet", "pts_addresses.csv"]
    assert where["gaps.parquet"].startswith("bbplan-gaps-writer")
    assert where["addresses.parquet"].startswith("bbplan-settle")
    runs.verify_run(out / "r")  # every digest, settled or not, is the file's
