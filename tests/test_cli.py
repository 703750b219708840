"""End-to-end: the ``bbplan run`` command on files, its run folder, and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import X0, Y0, make_network
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from coverage.cli import app
from coverage.runs import list_runs, verify_run

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _scene(tmp: Path) -> tuple[Path, Path]:
    addr = tmp / "addr.csv"
    addr.write_text(
        "address_id;x;y;households;workplaces;public_site\n"
        f"A1;{X0};{Y0 + 30};10;1;\n"
        f"A2;{X0};{Y0 + 300};1;0;\n"
        f"A3;{X0 + 500};{Y0};0;2;skola\n"
        f"A4;{X0 + 800};{Y0 + 20};-1;0;\n",
        encoding="utf-8",
    )
    net = tmp / "net.gpkg"
    make_network(
        [
            {"coords": [(-1000, 0), (1000, 0)], "segment_id": "F1"},
            {
                "coords": [(-1000, 300), (1000, 300)],
                "segment_id": "F2",
                "status": "planned",
                "year": 2028,
            },
        ]
    ).to_file(net)
    return addr, net


def _run(tmp: Path, *extra: str) -> object:
    addr, net = _scene(tmp)
    args = [
        "run",
        "--addresses",
        str(addr),
        "--network",
        str(net),
        "--crs",
        "EPSG:3006",
        "--runs-dir",
        str(tmp / "runs"),
        "--evaluation-date",
        "2026-06-01",
        *extra,
    ]
    return runner.invoke(app, args)


def test_run_writes_complete_folder_and_prints_its_path_last(tmp_path):
    res = _run(tmp_path, "--run-id", "r1")
    assert res.exit_code == 0, res.output
    folder = tmp_path / "runs" / "r1"
    assert res.output.strip().splitlines()[-1] == str(folder)
    manifest = verify_run(folder)  # every output matches its checksum
    assert manifest["evaluation_date"] == "2026-06-01"
    addresses_input = next(i for i in manifest["inputs"] if i["role"] == "addresses")
    assert (
        addresses_input["rows_read"],
        addresses_input["rows_used"],
        addresses_input["rows_rejected"],
    ) == (4, 3, 1)
    assert len(addresses_input["sha256"]) == 64
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"] if i["role"] == "targets")

    table = gpd.read_parquet(folder / "addresses.parquet")
    assert table.crs.to_epsg() == 3006
    assert table["address_id"].tolist() == ["A1", "A2", "A3"]
    assert table["access"].tolist() == ["passed", "none", "passed"]
    assert table["reason_kommun_hushall_100_open"].tolist() == ["", "planned_after_deadline", ""]
    for col in (
        "households",
        "kommun_code",
        "technology",
        "distance_m",
        "max_down_mbps",
        "gigabit_ready",
        "open_network",
        "pass_nat2025_1gbit",
        "reason_nat2025_1gbit",
    ):
        assert col in table.columns

    rejected = pd.read_csv(folder / "rejected.csv", dtype=str)
    assert rejected[["row", "id", "column", "value"]].values.tolist() == [
        ["4", "A4", "households", "-1"]
    ]

    figures = json.loads((folder / "figures.json").read_text(encoding="utf-8"))
    hh = next(f for f in figures["targets"] if f["id"] == "kommun_hushall_100_open")
    assert (hh["numerator"], hh["denominator"], hh["met"], hh["shortfall"]) == (10, 11, False, 1)
    assert hh["by_area"]["kommun"][0]["area_id"] == "2061"
    # Per-area figures: kommun and tätort also in figures.json, the grid levels only in
    # their area tables (10⁶ squares nationally); the JSON rows equal the table's columns.
    assert set(hh["by_area"]) == {"kommun", "tatort"}
    assert figures["area_tables"] == {
        level: f"areas/{level}.parquet" for level in ("kommun", "tatort", "grid_250m", "grid_1km")
    }
    fields = ("numerator", "denominator", "share", "threshold", "met", "shortfall")
    for level in ("kommun", "tatort", "grid_250m", "grid_1km"):
        csv = pd.read_csv(folder / "areas" / f"{level}.csv", dtype={"area_id": str})
        geo = gpd.read_parquet(folder / "areas" / f"{level}.parquet")
        assert csv["households"].sum() == 11 and len(geo) == len(csv)
        assert geo[f"{hh['id']}__denominator"].sum() == 11
        for row in hh["by_area"].get(level, []):
            cols = geo.loc[geo["area_id"] == row["area_id"]].iloc[0]
            assert cols["name"] == row["name"]
            for f in fields:
                value = cols[f"{hh['id']}__{f}"]
                assert (row[f] is None and pd.isna(value)) or row[f] == value
    timeline = json.loads((folder / "timeline.json").read_text(encoding="utf-8"))
    assert timeline["plan_years"] == [2028]
    assert timeline["targets"]["kommun_hushall_100_open"]["first_year_met"] == 2028


def test_custom_areas_and_distance_options(tmp_path):
    import shapely

    areas = tmp_path / "areas.geojson"
    gpd.GeoDataFrame(
        {"area_id": ["west", "east"], "name": ["Väst", "Öst"]},
        geometry=[
            shapely.box(X0 - 100, Y0 - 100, X0 + 100, Y0 + 400),
            shapely.box(X0 + 400, Y0 - 100, X0 + 600, Y0 + 100),
        ],
        crs=3006,
    ).to_crs(4326).to_file(areas)
    res = _run(
        tmp_path,
        "--areas",
        str(areas),
        "--passed-distance-m",
        "20",
        "--near-distance-m",
        "100",
        "--run-id",
        "r2",
    )
    assert res.exit_code == 0, res.output
    folder = tmp_path / "runs" / "r2"
    table = gpd.read_parquet(folder / "addresses.parquet")
    assert table["access"].tolist() == ["near", "none", "passed"]  # 30 m is no longer passed
    custom = pd.read_csv(folder / "areas" / "custom.csv")
    assert dict(zip(custom["area_id"], custom["households"], strict=True)) == {
        "east": 0,
        "west": 11,
    }
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["passed_distance_m"] == 20


def test_bad_input_exits_nonzero_with_message_and_leaves_no_run(tmp_path):
    (tmp_path / "runs").mkdir()
    bad = tmp_path / "bad.csv"
    bad.write_text("id;x;y;households\nA;1;2;3\n", encoding="utf-8")  # no --crs
    res = runner.invoke(app, ["run", "--addresses", str(bad), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2
    assert "--crs" in res.output and "Traceback" not in res.output
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("bad", ["addresses", "network", "both"])
def test_errors_of_the_inputs_read_side_by_side_come_in_order(tmp_path, bad):
    """The network is read on a thread beside the addresses: a bad network file still fails
    the run with its own message, and when both are bad the addresses' error comes first,
    as when they were read one after the other."""
    addr, net = _scene(tmp_path)
    if bad in ("addresses", "both"):
        addr.write_text("address_id;x;y;households\nA1;oops;2;3\n", encoding="utf-8")
    if bad in ("network", "both"):
        net = tmp_path / "missing.gpkg"
    runs = tmp_path / "runs"
    args = ["run", "--addresses", str(addr), "--network", str(net), "--crs", "EPSG:3006"]
    res = runner.invoke(app, [*args, "--runs-dir", str(runs)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    names = {"addresses": addr.name, "network": net.name, "both": addr.name}
    assert names[bad] in res.output
    if bad == "both":
        assert net.name not in res.output
    assert not runs.exists() or list(runs.iterdir()) == []


def test_existing_run_id_is_never_overwritten(tmp_path):
    assert _run(tmp_path, "--run-id", "same").exit_code == 0
    before = (tmp_path / "runs" / "same" / "manifest.json").read_bytes()
    res = _run(tmp_path, "--run-id", "same")
    assert res.exit_code != 0 and "immutable" in res.output
    assert (tmp_path / "runs" / "same" / "manifest.json").read_bytes() == before
    assert list_runs(tmp_path / "runs") == ["same"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["same"]


@pytest.mark.parametrize("run_id", ["../evil", ".tmp-x", "a/b", ""])
def test_bad_run_ids_are_refused(tmp_path, run_id):
    res = _run(tmp_path, "--run-id", run_id)
    assert res.exit_code == 2 and "run id" in res.output


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    import coverage.runs as runs

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(runs, "_fsync_tree", boom)
    res = _run(tmp_path, "--run-id", "x")
    assert res.exit_code == 1 and "disk full" in res.output
    assert list((tmp_path / "runs").iterdir()) == []


def test_console_script_without_traceback(tmp_path):
    exe = Path(sys.executable).parent / "bbplan"
    proc = subprocess.run(
        [
            str(exe),
            "run",
            "--addresses",
            str(tmp_path / "missing.gpkg"),
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_console_script_run_ends_with_everything_written(tmp_path):
    """The console script ends a successful run without freeing its tables (os._exit):
    the output to a pipe is all there, the exit code is 0 and the run verifies."""
    from coverage.runs import verify_run

    exe = Path(sys.executable).parent / "bbplan"
    args = ["run", "--runs-dir", str(tmp_path), "--run-id", "r", "--evaluation-date", "2026-06-01"]
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "Compliance at 2026-06-01" in proc.stdout and lines[-1].endswith(str(tmp_path / "r"))
    verify_run(tmp_path / "r")


_ARENA_PROBE = """
import ctypes, sys, threading

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]


def probe():
    # Eight threads alive at once, each allocating: glibc gives a thread without an arena a
    # new one while there are fewer than the limit (ctypes calls release the GIL).
    barrier = threading.Barrier(8)

    def work():
        barrier.wait()
        libc.free(libc.malloc(64))
        barrier.wait()  # none ends (freeing its arena for reuse) before all have allocated

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc.malloc_stats()  # "Arena k:" per arena, on stderr


if sys.argv[1] == "main":
    import types

    import coverage._console

    # The CLI's main replaced by the probe: the entry point caps, then imports and calls it.
    sys.modules["coverage.cli"] = types.SimpleNamespace(main=probe)
    coverage._console.main()
else:
    probe()
"""


@pytest.mark.parametrize(
    ("how", "env", "arenas"),
    [
        ("plain", {}, range(3, 17)),
        ("main", {}, range(2, 3)),
        ("main", {"MALLOC_ARENA_MAX": "3"}, range(3, 4)),
        ("main", {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}, range(4, 5)),
    ],
)
def test_console_script_caps_malloc_arenas(how: str, env: dict[str, str], arenas: range) -> None:
    """The console script allows two glibc arenas (as MALLOC_ARENA_MAX=2 does), unless the
    user set a limit; without the cap the eight threads get several (up to eight per core;
    some may reuse the arenas of threads that ended while the modules were imported)."""
    import os

    mine = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    proc = subprocess.run(
        [sys.executable, "-c", _ARENA_PROBE, how],
        capture_output=True,
        text=True,
        env={**mine, **env},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("Arena ") in arenas, proc.stderr


def test_the_console_entry_point_caps_before_the_heavy_imports() -> None:
    """glibc ignores a later cap once more than eight arenas exist: the entry module imports
    nothing that may start threads, so the cap comes before numpy, pandas and the CLI."""
    code = (
        "import sys, coverage._console; "
        "print(sorted(m for m in ('numpy', 'pandas', 'shapely', 'numba', 'pyarrow', "
        "'coverage.cli') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("given", "libc", "expected"),
    [
        ({}, "glibc 2.36", "glibc.malloc.hugetlb=1"),
        ({}, "glibc 2.35", "glibc.malloc.hugetlb=1"),
        ({}, "glibc 3.0", "glibc.malloc.hugetlb=1"),
        (
            {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"},
            "glibc 2.36",
            "glibc.malloc.arena_max=4:glibc.malloc.hugetlb=1",
        ),
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "glibc 2.36", None),  # the user's choice
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=2"}, "glibc 2.36", None),
        ({}, "glibc 2.34", None),  # does not know the tunable
        ({}, "glibc 2.x", None),
        ({}, "musl 1.2.4", None),
        ({}, None, None),  # not glibc
    ],
)
def test_huge_page_tunable_added_where_glibc_knows_it(
    given: dict[str, str], libc: str | None, expected: str | None
) -> None:
    from coverage._console import tunables_with_huge_pages

    assert tunables_with_huge_pages(given, libc) == expected


@pytest.mark.parametrize(
    ("case", "restarts"),
    [
        ("plain", True),
        ("secure mode", False),  # glibc drops tunables there: it would start again and again
        ("huge pages never or always", False),  # glibc ignores the tunable then
        ("started again already", False),
        ("another program calls main", False),  # e.g. a notebook kernel, -m
        ("from standard input", False),
    ],
)
def test_huge_pages_start_again_only_where_it_changes_something(
    monkeypatch: pytest.MonkeyPatch, case: str, restarts: bool
) -> None:
    """The command starts again with the tunable (the interpreter's options and arguments
    kept, a marker against a third start) only where glibc would act on it."""
    import os

    import coverage._console as console

    started: list[tuple[str, list[str], dict[str, str]]] = []
    environ = {"PATH": "/bin"}
    argv, given = ["/x/bbplan", "run"], ["python3", "-X", "utf8", "/x/bbplan", "run"]
    if case == "started again already":
        environ[console._STARTED_AGAIN] = "1"
    elif case == "another program calls main":
        argv, given = (
            ["/k/launcher.py", "-f", "k.json"],
            ["python3", "-m", "launcher", "-f", "k.json"],
        )
    elif case == "from standard input":
        argv, given = ["-"], ["python3", "-"]
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", given)
    monkeypatch.setattr(console, "_libc_version", lambda: "glibc 2.36")
    monkeypatch.setattr(console, "_secure", lambda: case == "secure mode")
    monkeypatch.setattr(console, "_thp_on_request", lambda: case != "huge pages never or always")
    monkeypatch.setattr(os, "execve", lambda exe, args, env: started.append((exe, args, env)))
    console.with_huge_pages()
    if restarts:
        [(exe, args, env)] = started
        assert (exe, args) == (sys.executable, [sys.executable, *given[1:]])
        assert env == {
            "PATH": "/bin",
            "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
            console._STARTED_AGAIN: "1",
        }
    else:
        assert started == [] and environ == {"PATH": "/bin"}  # the marker, if any, removed


def test_huge_pages_command_goes_on_when_it_cannot_start_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed new start leaves the command running as it was, its environment unchanged."""
    import os

    import coverage._console as console

    def fail(exe: str, args: list[str], env: dict[str, str]) -> None:
        raise OSError(7, "Argument list too long")

    environ = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setattr(sys, "argv", ["/x/bbplan"])
    monkeypatch.setattr(sys, "orig_argv", ["python3", "/x/bbplan"])
    monkeypatch.setattr(console, "_libc_version", lambda: "glibc 2.36")
    monkeypatch.setattr(console, "_secure", lambda: False)
    monkeypatch.setattr(console, "_thp_on_request", lambda: True)
    monkeypatch.setattr(os, "execve", fail)
    console.with_huge_pages()
    assert environ == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}


def test_this_process_is_not_in_secure_mode() -> None:
    """The test runner is an ordinary process: glibc's secure mode is off (AT_SECURE)."""
    from coverage._console import _secure

    assert _secure() is False


_HUGE_PAGE_PROBE = """
import ctypes, json, os, re, sys, types

import coverage._console


def probe():
    # A block from glibc's heap (blocks this large are mapped unless told otherwise), and
    # the flags of the mapping holding it: "hg" where glibc asked for huge pages.
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.mallopt(-4, 0)  # M_MMAP_MAX: none mapped
    block = libc.malloc(64 << 20)
    flags = ""
    for entry in re.split(r"\\n(?=[0-9a-f]+-[0-9a-f]+ )", open("/proc/self/smaps").read()):
        low, high = (int(a, 16) for a in entry.split(None, 1)[0].split("-"))
        if low <= block < high:
            flags = re.search(r"VmFlags:(.*)", entry).group(1)
    seen = {
        "pid": os.getpid(),
        "tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "flags": flags.split(),
        "utf8": sys.flags.utf8_mode,
        "args": sys.argv[1:],
        "marker": "_BBPLAN_MALLOC_STARTED_AGAIN" in os.environ,
    }
    print(json.dumps(seen))


sys.modules["coverage.cli"] = types.SimpleNamespace(main=probe)
coverage._console.main()
"""


@pytest.mark.parametrize(
    "given", [None, "glibc.malloc.arena_max=3", "glibc.malloc.hugetlb=0"], ids=str
)
def test_console_script_runs_with_glibc_on_huge_pages(given: str | None) -> None:
    """The entry point starts its command again, once, in the same process, with glibc's
    huge-page tunable (where glibc knows it and the user did not set it): the block glibc
    then gives lies in a mapping advised for huge pages (``hg``); the user's own tunables,
    the interpreter's options and the arguments are kept."""
    import os
    import platform

    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if given is not None:
        env["GLIBC_TUNABLES"] = given
    # Where glibc acts on the tunable, found here independently of coverage._console.
    name, version = platform.libc_ver()
    release = tuple(int(part) for part in version.split(".")[:2]) if version else ()
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    madvise = mode.exists() and "[madvise]" in mode.read_text()
    acts = name == "glibc" and release >= (2, 35) and madvise and "hugetlb" not in (given or "")
    proc = subprocess.Popen(
        [sys.executable, "-X", "utf8", "-c", _HUGE_PAGE_PROBE, "a", "b c"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a command starting again and again would outlive the test
    assert proc.returncode == 0, err
    [line] = out.splitlines()  # the probe ran once
    seen = json.loads(line)
    expected = f"{given}:glibc.malloc.hugetlb=1" if given else "glibc.malloc.hugetlb=1"
    assert seen["pid"] == proc.pid and not seen["marker"]
    assert (seen["args"], seen["utf8"]) == (["a", "b c"], 1)  # interpreter options kept
    assert seen["tunables"] == (expected if acts else given or "")
    assert ("hg" in seen["flags"]) == acts


def test_compare_a_network_with_itself_reports_no_change(tmp_path):
    addr, net = _scene(tmp_path)
    out = tmp_path / "cmp.json"
    res = runner.invoke(
        app,
        [
            "compare",
            "--addresses",
            str(addr),
            "--crs",
            "EPSG:3006",
            "--network-a",
            str(net),
            "--network-b",
            str(net),
            "--evaluation-date",
            "2026-06-01",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["addresses"]["changed"] == 0
    assert all(t["units_change"] == 0 and t["share_change"] == 0 for t in body["targets"].values())


def test_compare_counts_what_a_plan_adds(tmp_path):
    addr, net = _scene(tmp_path)
    plan = tmp_path / "plan.gpkg"
    make_network(
        [
            {"coords": [(-1000, 0), (1000, 0)], "segment_id": "F1"},
            {"coords": [(-1000, 300), (1000, 300)], "segment_id": "F2"},
        ]
    ).to_file(plan)
    out = tmp_path / "cmp.json"
    res = runner.invoke(
        app,
        [
            "compare",
            "--addresses",
            str(addr),
            "--crs",
            "EPSG:3006",
            "--network-a",
            str(net),
            "--network-b",
            str(plan),
            "--evaluation-date",
            "2026-06-01",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    hh = json.loads(out.read_text(encoding="utf-8"))["targets"]["kommun_hushall_100_open"]
    # A2 (1 household, 300 m north) is passed once F2 exists today instead of in 2028.
    assert (hh["numerator_a"], hh["numerator_b"], hh["units_change"]) == (10, 11, 1)


def test_diff_of_a_run_with_itself_is_empty_and_of_two_dates_is_not(tmp_path):
    assert _run(tmp_path, "--run-id", "a").exit_code == 0
    addr, net = _scene(tmp_path)
    res = runner.invoke(
        app,
        [
            "run",
            "--addresses",
            str(addr),
            "--network",
            str(net),
            "--crs",
            "EPSG:3006",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--evaluation-date",
            "2028-06-01",
            "--run-id",
            "b",
        ],
    )
    assert res.exit_code == 0, res.output
    same = tmp_path / "same.csv"
    res = runner.invoke(
        app, ["diff", "a", "a", "--runs-dir", str(tmp_path / "runs"), "--out", str(same)]
    )
    assert res.exit_code == 0, res.output
    assert pd.read_csv(same).empty
    changes = tmp_path / "changes.csv"
    res = runner.invoke(
        app, ["diff", "a", "b", "--runs-dir", str(tmp_path / "runs"), "--out", str(changes)]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(changes)
    assert table["address_id"].tolist() == ["A2"] and table["change"].tolist() == ["changed"]
    assert table["delta_kommun_hushall_100_open"].tolist() == [1]
    res = runner.invoke(app, ["diff", "a", "nope", "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "nope" in res.output


def test_run_folder_has_report_map_gaps_and_exports(tmp_path):
    assert _run(tmp_path, "--run-id", "r").exit_code == 0
    folder = tmp_path / "runs" / "r"
    for name in (
        "report.html",
        "map.html",
        "gaps.parquet",
        "addresses.gpkg",
        "exports/pts_addresses.csv",
    ):
        assert (folder / name).is_file(), name
    pts = pd.read_csv(folder / "exports" / "pts_addresses.csv", dtype={"kommun_code": str})
    assert pts["address_id"].tolist() == ["A1", "A2", "A3"]
    assert pts["speed_class"].tolist() == ["1000+", "none", "1000+"]
    assert pts[["x_sweref99tm", "y_sweref99tm"]].values.tolist()[0] == [X0, Y0 + 30]
    assert "<img" in (folder / "report.html").read_text(encoding="utf-8")
    gaps = gpd.read_parquet(folder / "gaps.parquet")
    hh = gaps[gaps["target_id"] == "kommun_hushall_100_open"]
    assert hh["units"].sum() == 1  # only A2 fails the household target
    kommun = pd.read_csv(
        folder / "areas" / "kommun.csv", dtype={"area_id": str, "kommun_code": str}
    )
    assert kommun[["area_id", "kommun_code", "kommun_name"]].values.tolist() == [
        ["2061", "2061", "Smedjebacken"]
    ]


def test_map_html_shows_template_syntax_in_ids_as_text(tmp_path):
    """folium renders a layer's script as a template a second time: an address id holding
    ``{% end`` stopped the run there, one holding ``{{ 7*7 }}`` was shown as 49."""
    addr, net = _scene(tmp_path)
    text = addr.read_text(encoding="utf-8")
    addr.write_text(
        text.replace("A1;", "{{ 7*7 }};").replace("A2;", "Kv. {% end;"), encoding="utf-8"
    )
    args = ["run", "--addresses", str(addr), "--network", str(net), "--crs", "EPSG:3006"]
    res = runner.invoke(app, [*args, "--runs-dir", str(tmp_path / "runs"), "--run-id", "r"])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "runs" / "r" / "map.html").read_text(encoding="utf-8")
    assert '"address_id": "{{ 7*7 }}"' in page
    assert '"address_id": "Kv. {% end"' in page
    assert '"address_id": "A3"' in page


def test_large_layers_are_named_not_embedded_and_grid_map_becomes_an_image(tmp_path, monkeypatch):
    # With caps of one feature, every layer of the 3-address scene counts as "national size".
    from coverage import report, sharemap

    monkeypatch.setattr(sharemap, "MAX_LAYER_FEATURES", 1)
    monkeypatch.setattr(sharemap, "MAX_POINTS", 1)
    monkeypatch.setattr(report, "RASTER_SQUARES", 0)
    drawn = []
    real = report._raster
    monkeypatch.setattr(report, "_raster", lambda t, v: drawn.append(len(t)) or real(t, v))
    assert _run(tmp_path, "--run-id", "r").exit_code == 0
    page = (tmp_path / "runs" / "r" / "map.html").read_text(encoding="utf-8")
    note = page[page.index('id="omitted-layers"') :]
    for label in ("Nät", "Adresser", "Rutor 250"):
        assert label in note
    assert '"segment_id"' not in page  # the network's GeoJSON is not in the file
    assert drawn and drawn[0] >= 1  # the report's 1 km map went through the raster path


def test_raster_puts_each_square_at_its_place() -> None:
    from coverage.report import _raster

    squares = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(2000, 1000, 3000, 2000)],
        crs="EPSG:3006",
    )
    image, placement = _raster(squares, np.array([60.0, 90.0]))
    assert image.shape == (2, 3)
    assert image[0, 0] == 60.0 and image[1, 2] == 90.0
    assert np.isnan(image[0, 1]) and np.isnan(image[1, 0])
    assert placement["extent"] == [0.0, 3000.0, 0.0, 2000.0]


def test_speed_classes_at_their_bounds() -> None:
    from coverage.runs import speed_classes

    mbps = pd.Series([1000.0, 999.9, 100.0, 30.0, 29.9, 0.0, 1000.0, np.nan])
    access = pd.Series(
        ["connected", "passed", "passed", "passed", "passed", "passed", "near", "none"]
    )
    assert speed_classes(mbps, access).tolist() == [
        "1000+",
        "100-999",
        "100-999",
        "30-99",
        "<30",
        "<30",
        "none",
        "none",
    ]


def test_csv_quotes_text_with_line_breaks_and_keeps_types(tmp_path: Path) -> None:
    from coverage.runs import write_csv

    frame = pd.DataFrame(
        {
            "value": ["a\rb", "c\nd", 'say "hi"', "x,y", None],
            "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "mbps": [100.0, 2.5, np.nan, 0.0, 1e9],
            "ok": [True, False, True, False, True],
            "level": pd.Categorical(["kommun", "tatort", "kommun", None, "kommun"]),
        }
    )
    write_csv(frame, tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.count(b"\r\n") == 6  # header + 5 rows, every line ended by CRLF
    back = pd.read_csv(tmp_path / "t.csv", keep_default_na=False, dtype=str)
    assert back["value"].tolist() == ["a\rb", "c\nd", 'say "hi"', "x,y", ""]
    assert back["n"].tolist() == ["1", "", "3", "4", "5"]
    assert [float(v) if v else None for v in back["mbps"]] == [100.0, 2.5, None, 0.0, 1e9]
    assert back["ok"].tolist() == ["True", "False", "True", "False", "True"]
    assert back["level"].tolist() == ["kommun", "tatort", "kommun", "", "kommun"]


_OBJECTS = st.one_of(
    st.none(),
    st.just(np.nan),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.integers(-(10**12), 10**12),
    st.text(max_size=5),
)


# Floats of any size, shares (units over units), whole numbers, and the edges of the range
# Arrow writes as Python does (runs._PLAIN_FLOATS).
_SHARES = st.one_of(
    st.floats(allow_nan=True, width=64),
    st.builds(lambda a, b: a / b, st.integers(0, 10**6), st.integers(1, 10**6)),
    st.floats(-2e6, 2e6).map(lambda v: float(round(v))),
    st.floats(-2e6, 2e6).map(float),
    st.sampled_from([0.0, -0.0, 1e-4, 9.999999999999999e-05, 999999.0, 999999.9999999999, 1e6]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.just(np.nan), st.booleans()), min_size=1, max_size=30),
    st.lists(st.one_of(st.none(), _SHARES), min_size=1, max_size=30),
    st.lists(_OBJECTS, min_size=1, max_size=30),
)
def test_csv_object_columns_are_written_as_str_writes_them(flags, shares, mixed) -> None:  # type: ignore[no-untyped-def]
    """Object columns that are not all text (an area table's ``__met`` flags and ``__share``
    values with gaps, any mixture) are written as ``str()`` writes each value, missing ones
    empty: the fast paths against the plain pandas formula."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from coverage.runs import write_csv

    with tempfile.TemporaryDirectory() as tmp:
        for values in (flags, shares, mixed):
            column = pd.Series(values, dtype=object)
            write_csv(pd.DataFrame({"c": column}), Path(tmp) / "fast.csv")
            missing = column.isna().to_numpy()
            plain = pa.array(np.where(missing, "", column.astype(str)), mask=missing)
            options = pacsv.WriteOptions(eol="\r\n", quoting_style="needed")
            pacsv.write_csv(pa.table({"c": plain}), str(Path(tmp) / "plain.csv"), options)
            fast, ref = (Path(tmp) / n for n in ("fast.csv", "plain.csv"))
            assert fast.read_bytes() == ref.read_bytes(), values


@pytest.mark.parametrize("crs", ["EPSG:3006", "EPSG:3021", "EPSG:4326"])
def test_export_coordinates_equal_to_crs(crs: str) -> None:
    # The PTS export's SWEREF 99 TM coordinates: what geopandas' to_crs gives, to the bit.
    from coverage.runs import _sweref99tm_xy

    pts = gpd.GeoSeries(
        shapely.points([(500_000.123, 6_700_000.456), (410_000.0, 7_300_000.0)]), crs="EPSG:3006"
    ).to_crs(crs)
    x, y = _sweref99tm_xy(shapely.get_coordinates(pts.to_numpy()), crs)
    want = pts.to_crs("EPSG:3006")
    np.testing.assert_array_equal(x, want.x.to_numpy())
    np.testing.assert_array_equal(y, want.y.to_numpy())


def test_the_collector_runs_less_often_inside_a_run_and_as_before_after() -> None:
    import gc

    from coverage.pipeline import GC_THRESHOLD, fewer_collections

    before = gc.get_threshold()
    assert before != GC_THRESHOLD
    with fewer_collections():
        assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a failing run")
    assert gc.get_threshold() == before


def test_a_failed_command_waits_for_the_pipelines_threads_before_exiting(monkeypatch):
    import threading
    import time

    from coverage import cli

    done = threading.Event()

    def reading() -> None:  # a network read still going when the addresses failed
        time.sleep(0.3)
        done.set()

    def failing() -> None:
        threading.Thread(target=reading, name="bbplan-network", daemon=True).start()
        raise SystemExit(2)

    monkeypatch.setattr(cli, "app", failing)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert done.is_set()  # exited after the thread, not under it


def test_the_wait_for_the_pipelines_threads_is_bounded():
    import threading
    import time

    from coverage.cli import _join_background

    release = threading.Event()
    other = threading.Event()
    threading.Thread(target=release.wait, name="bbplan-layer", daemon=True).start()
    threading.Thread(target=other.wait, name="not-ours", daemon=True).start()
    start = time.monotonic()
    _join_background(0.2)
    assert 0.15 < time.monotonic() - start < 2.0
    release.set()
    other.set()
