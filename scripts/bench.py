"""Benchmark: exact "nearest line within R" for every address point, bbplan against the tools a
GIS analyst would otherwise reach for, on the same synthetic national-scale scene.

The scene is generated reproducibly (``--seed``) in SWEREF 99 TM (EPSG:3006) inside Sweden's
extent: towns (clustered address points around street-like grids of short lines) and rural
hamlets with longer rural network lines. Sizes are exact::

    --size 50k   50 000 points x   5 000 lines
    --size 1m     1 000 000     x 100 000
    --size 5m     5 000 000     x 500 000

Methods, each run in a subprocess of its own on the same scene files (so that the peak memory of
one is not mixed with another's):

``bbplan``
    ``coverage.kernel.nearest_within`` (numba, all cores). One warm-up call on a small subset
    first, in a fresh numba cache folder, so the compile time is measured and reported apart.
``sjoin_nearest``
    ``geopandas.sjoin_nearest(max_distance=R)``; its ties (extra rows) are reduced to the lowest
    line id. Skipped at 5m unless ``--all`` (it takes minutes there).
``strtree``
    shapely ``STRtree.query(points, predicate="dwithin", distance=R)`` + ``shapely.distance`` +
    group-min (lowest id on ties), points visited in Hilbert order (geopandas
    ``hilbert_distance``); tree build and ordering are timed.
``duckdb``
    DuckDB spatial, ``ST_DWithin`` join + ``arg_min``, 2 threads. The extension is LOADed from the
    ``duckdb-extension-spatial`` wheel (same version as ``duckdb``); nothing is downloaded.
``postgis`` (``--postgis``)
    Debian's PostgreSQL + PostGIS (``scripts/postgis.sh``) in a private cluster on 127.0.0.1,
    loaded with binary COPY (timed apart), GiST index, lateral KNN (``<->`` with
    ``ST_DWithin``), 2 connections over the two halves of the points.

Every method's answer is checked against bbplan's (bbplan's against shapely/GEOS through the
``strtree`` method): the same points have a line within R, nearest distances agree within
1e-6 m and line ids are equal except where the two distances tie within 1e-9 m (measured by
GEOS). Any disagreement makes the exit status 1.

Timing: each method runs ``--repeat`` times (default 3) when one run takes under 10 s, else
once; the median is reported. Peak memory: the worker process's resident-set high-water mark
(Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` just before the method starts), so it
includes the input arrays already in memory; ``+MB`` is the growth over the resident size at
that moment. For PostGIS it is the client plus the two server backends (shared buffers touched
by a backend count in its resident size).

Usage::

    python scripts/bench.py --size 1m [--radius 100] [--postgis] [--all] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SIZES: dict[str, tuple[int, int]] = {
    "50k": (50_000, 5_000),
    "1m": (1_000_000, 100_000),
    "5m": (5_000_000, 500_000),
}
METHODS = ("bbplan", "sjoin_nearest", "strtree", "duckdb", "postgis")
THREADS = {"bbplan": 2, "sjoin_nearest": 1, "strtree": 1, "duckdb": 2, "postgis": 2}
SRID = 3006
# SWEREF 99 TM's area of use (Sweden): every coordinate of the scene lies inside.
SWEDEN_BBOX = (181_896.0, 6_101_648.0, 1_083_165.0, 7_689_478.0)
# Sweden as a diagonal band: its centre line runs from Skåne (south-west) to Norrbotten.
BAND_Y = (6_140_000.0, 7_650_000.0)
BAND_X = (390_000.0, 780_000.0)
BAND_HALF_WIDTH = 150_000.0
DIST_TOL = 1e-6
TIE_TOL = 1e-9
REPEAT_BELOW_S = 10.0
REPO = Path(__file__).resolve().parent.parent

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


# --------------------------------------------------------------------------------------------
# Scene
# --------------------------------------------------------------------------------------------


@dataclass
class Scene:
    """Points ``xy`` (n, 2); lines as vertices ``line_xy`` (v, 2) with ``line_of`` (v,) naming
    the line of each vertex (lines are contiguous, in id order)."""

    xy: FloatArray
    line_xy: FloatArray
    line_of: IntArray

    @property
    def n_lines(self) -> int:
        return int(self.line_of[-1]) + 1 if len(self.line_of) else 0

    def save(self, folder: Path) -> None:
        np.save(folder / "xy.npy", self.xy)
        np.save(folder / "line_xy.npy", self.line_xy)
        np.save(folder / "line_of.npy", self.line_of)

    @classmethod
    def load(cls, folder: Path) -> Scene:
        return cls(
            np.load(folder / "xy.npy"),
            np.load(folder / "line_xy.npy"),
            np.load(folder / "line_of.npy"),
        )

    def lines(self) -> np.ndarray[Any, Any]:
        import shapely

        return shapely.linestrings(self.line_xy, indices=self.line_of)


def _in_band(rng: np.random.Generator, n: int, south_bias: float) -> FloatArray:
    """``n`` places in the Sweden band, denser in the south (Beta(1, south_bias) northwards)."""
    t = rng.beta(1.0, south_bias, n)
    y = BAND_Y[0] + t * (BAND_Y[1] - BAND_Y[0])
    x = BAND_X[0] + t * (BAND_X[1] - BAND_X[0]) + rng.uniform(-1, 1, n) * BAND_HALF_WIDTH
    return np.column_stack([x, y])


def make_scene(n_points: int, n_lines: int, seed: int) -> Scene:
    """A national-scale scene with exactly ``n_points`` points and ``n_lines`` lines.

    Towns (75 % of points, 70 % of lines): Pareto-sized, each a rotated street grid of spacing
    70-140 m whose lines are single grid edges (three vertices, the middle one bent a little);
    neighbouring edges share their end vertices exactly, so equal distances (ties) occur.
    Address points cluster around the town centre like the streets do. Rural (the rest):
    hamlets of a few points and rural network lines as bendy random walks of five 80-400 m
    steps starting near a hamlet. Point and line order are shuffled (line id is the tie-break).
    """
    rng = np.random.default_rng(seed)
    n_town_pts = round(0.75 * n_points)
    n_rural_pts = n_points - n_town_pts
    n_town_lines = round(0.70 * n_lines)
    n_rural_lines = n_lines - n_town_lines

    # Towns.
    n_towns = max(10, n_points // 2500)
    weight = rng.pareto(1.1, n_towns) + 1.0
    weight /= weight.sum()
    centre = _in_band(rng, n_towns, 2.5)
    spacing = rng.uniform(70.0, 140.0, n_towns)
    theta = rng.uniform(0.0, np.pi / 2, n_towns)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    pts_per_town = rng.multinomial(n_town_pts, weight)
    radius = 25.0 * np.sqrt(pts_per_town) + 200.0

    town_of_pt = np.repeat(np.arange(n_towns), pts_per_town)
    town_pts = (
        centre[town_of_pt] + rng.normal(size=(n_town_pts, 2)) * (radius[town_of_pt] / 2)[:, None]
    )

    town_of_line = np.sort(rng.choice(n_towns, size=n_town_lines, p=weight))
    t = town_of_line
    s = spacing[t]
    node = np.rint(rng.normal(size=(n_town_lines, 2)) * (radius[t] / 2)[:, None] / s[:, None])
    i0, j0 = node[:, 0], node[:, 1]
    horizontal = rng.random(n_town_lines) < 0.5
    i1 = i0 + horizontal
    j1 = j0 + ~horizontal

    def grid(i: FloatArray, j: FloatArray) -> FloatArray:
        # Same (town, i, j) -> bit-identical coordinates: shared street nodes.
        u, v = i * s, j * s
        return np.column_stack(
            [centre[t, 0] + u * cos_t[t] - v * sin_t[t], centre[t, 1] + u * sin_t[t] + v * cos_t[t]]
        )

    a, b = grid(i0, j0), grid(i1, j1)
    d = b - a
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / s[:, None]
    mid = (a + b) / 2 + normal * rng.normal(0.0, 3.0, n_town_lines)[:, None]
    town_lines = np.stack([a, mid, b], axis=1)  # (k, 3, 2)

    # Rural.
    n_hamlets = max(10, n_rural_pts // 8)
    hamlet = _in_band(rng, n_hamlets, 1.5)
    rural_pts = hamlet[rng.integers(0, n_hamlets, n_rural_pts)] + rng.normal(
        0.0, 250.0, (n_rural_pts, 2)
    )
    start = hamlet[rng.integers(0, n_hamlets, n_rural_lines)] + rng.normal(
        0.0, 500.0, (n_rural_lines, 2)
    )
    steps = 5
    heading = rng.uniform(0, 2 * np.pi, (n_rural_lines, 1)) + np.cumsum(
        rng.normal(0.0, 0.4, (n_rural_lines, steps)), axis=1
    )
    length = rng.uniform(80.0, 400.0, (n_rural_lines, steps))
    walk = np.cumsum(np.stack([length * np.cos(heading), length * np.sin(heading)], axis=2), 1)
    rural_lines = np.concatenate([start[:, None, :], start[:, None, :] + walk], axis=1)

    # Assemble: shuffle point order and line ids; clip to Sweden's extent.
    xy = np.concatenate([town_pts, rural_pts])[rng.permutation(n_points)]
    lo, hi = np.array(SWEDEN_BBOX[:2]), np.array(SWEDEN_BBOX[2:])
    xy = np.clip(xy, lo, hi)
    n_vert = np.concatenate([np.full(n_town_lines, 3), np.full(n_rural_lines, steps + 1)])
    flat = np.concatenate([town_lines.reshape(-1, 2), rural_lines.reshape(-1, 2)])
    old_first = np.concatenate([[0], np.cumsum(n_vert)[:-1]])
    order = rng.permutation(n_lines)  # new line id k is old line order[k]
    counts = n_vert[order]
    new_line_of = np.repeat(np.arange(n_lines), counts)
    within = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
    vertex = old_first[order][new_line_of] + within
    line_xy = np.clip(flat[vertex], lo, hi)
    return Scene(
        np.ascontiguousarray(xy), np.ascontiguousarray(line_xy), new_line_of.astype(np.int64)
    )


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def _status_kb(field: str, pid: int | str = "self") -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _reset_peak(pid: int | str = "self") -> bool:
    """Reset the resident-set high-water mark (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _system_busy_s() -> float | None:
    """CPU seconds all cores have spent busy since boot (Linux ``/proc/stat``)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of another process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Over a ``with`` block: peak resident memory of this process (and of watched others, e.g.
    database backends); per run (:meth:`run`): wall time, CPU time of this process and the
    watched ones, and how many cores *other* processes on the machine kept busy meanwhile."""

    def __init__(self) -> None:
        self.others: list[int] = []
        self.base_mb = 0.0
        self.peak_mb = 0.0
        self.how = ""
        self.runs: list[dict[str, float | None]] = []

    def __enter__(self) -> Meter:
        self.base_mb = (_status_kb("VmRSS") or 0) / 1024
        if _reset_peak():
            self.how = "VmHWM (reset before the method)"
        else:  # not Linux: the lifetime high-water mark is the best there is
            self.how = "ru_maxrss (process lifetime)"
        return self

    def watch(self, pid: int) -> None:
        """Add another process (e.g. a database backend) whose memory and CPU count too."""
        _reset_peak(pid)
        self.others.append(pid)

    def _cpu(self) -> float:
        return time.process_time() + sum(_proc_cpu_s(p) for p in self.others)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` once, measured."""
        busy0, cpu0, t0 = _system_busy_s(), self._cpu(), time.perf_counter()
        result = fn()
        wall, cpu, busy1 = time.perf_counter() - t0, self._cpu() - cpu0, _system_busy_s()
        others = None
        if busy0 is not None and busy1 is not None and wall > 0:
            others = max(0.0, (busy1 - busy0 - cpu) / wall)
        self.runs.append({"wall_s": wall, "cpu_s": cpu, "other_load_cores": others})
        return result

    def __exit__(self, *exc: object) -> None:
        own = _status_kb("VmHWM")
        if own is None:
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_mb = own / 1024
        for pid in self.others:
            self.peak_mb += (_status_kb("VmHWM", pid) or 0) / 1024


def timed_runs(fn: Callable[[], Any], repeat: int, meter: Meter) -> Any:
    """Run ``fn`` once, and ``repeat - 1`` more times if it took under REPEAT_BELOW_S."""
    result: Any = None
    for k in range(max(1, repeat)):
        if k and meter.runs[0]["wall_s"] >= REPEAT_BELOW_S:  # type: ignore[operator]
            break
        result = meter.run(fn)
    return result


def wait_idle(max_wait_s: float, threshold: float = 0.3) -> float | None:
    """Wait (at most ``max_wait_s``) until other processes keep fewer than ``threshold`` cores
    busy over a 2 s sample; return the last sample (cores busy)."""
    deadline = time.monotonic() + max_wait_s
    while True:
        b0 = _system_busy_s()
        time.sleep(2.0)
        b1 = _system_busy_s()
        load = None if b0 is None or b1 is None else (b1 - b0) / 2.0
        if load is None or load < threshold or time.monotonic() >= deadline:
            return load
        time.sleep(3.0)


def _empty(n: int) -> tuple[IntArray, FloatArray]:
    return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)


def _group_min(
    n: int, pid: IntArray, lid: IntArray, dist: FloatArray, ties: list[int] | None = None
) -> tuple[IntArray, FloatArray]:
    """Per point the pair of least distance, lowest line id on ties (counted into ``ties``:
    points whose second-nearest line is within TIE_TOL of the nearest)."""
    idx, out = _empty(n)
    if len(pid) == 0:
        return idx, out
    o = np.lexsort((lid, dist, pid))
    pid, lid, dist = pid[o], lid[o], dist[o]
    first = np.ones(len(pid), dtype=bool)
    first[1:] = pid[1:] != pid[:-1]
    idx[pid[first]] = lid[first]
    out[pid[first]] = dist[first]
    if ties is not None:
        at = np.flatnonzero(first[:-1] & ~first[1:])
        ties.append(int((dist[at + 1] - dist[at] <= TIE_TOL).sum()))
    return idx, out


# --------------------------------------------------------------------------------------------
# Methods (each runs in a worker subprocess)
# --------------------------------------------------------------------------------------------


def run_bbplan(scene: Scene, radius: float, repeat: int) -> dict[str, Any]:
    from coverage import kernel

    lines = scene.lines()
    rank = np.arange(len(lines), dtype=np.int64)
    xy = scene.xy
    t0 = time.perf_counter()
    kernel.nearest_within(xy[:2000], lines[:500], rank[:500], radius)
    first_call = time.perf_counter() - t0
    with Meter() as mem:
        idx, dist = timed_runs(lambda: kernel.nearest_within(xy, lines, rank, radius), repeat, mem)
    info: dict[str, Any] = {
        "first_call_s": first_call,
        "first_call_note": "warm-up call on 2 000 points x 500 lines in a fresh numba cache "
        "folder: numba compile time",
        "numba_threads": kernel.numba.get_num_threads(),
    }
    try:  # median per phase over `repeat` profiled calls
        profiles = [
            profile_bbplan(kernel, xy, lines, rank, radius, idx, dist) for _ in range(repeat)
        ]
        info["profile"] = profiles[0] | {
            "total_s": statistics.median(p["total_s"] for p in profiles),
            "phases_s": {
                k: statistics.median(p["phases_s"].get(k, 0.0) for p in profiles)
                for k in profiles[0]["phases_s"]
            },
            "matches_nearest_within": all(p["matches_nearest_within"] for p in profiles),
        }
    except Exception as exc:  # the profile mirrors kernel internals that may change
        info["profile"] = {"error": f"{type(exc).__name__}: {exc}"}
    return _report(idx, dist, mem, info)


def profile_bbplan(
    kernel: Any,
    xy: FloatArray,
    lines: np.ndarray[Any, Any],
    rank: IntArray,
    radius: float,
    idx_ref: IntArray,
    dist_ref: FloatArray,
) -> dict[str, Any]:
    """Where ``kernel.nearest_within`` spends its time: one call with the kernel's phases
    (its module-level functions below) wrapped with timers for the call, then restored; the
    rest is Python glue."""
    spent: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0

        return wrapper

    wrapped = {
        "pieces": "pieces (shapely coordinates -> segments), 1 core",
        "_bounds": "extent, 1 core",
        "_tile_points": "points sorted by tile (counting sort), 2 cores",
        "_tile_pieces": "pieces listed per tile (counting sort), 1 core",
        "_nearest": "tile grids + search (numba prange), 2 cores",
    }
    saved = {name: getattr(kernel, name) for name in wrapped if hasattr(kernel, name)}
    try:
        for name, fn in saved.items():
            setattr(kernel, name, timed(wrapped[name], fn))
        t0 = time.perf_counter()
        idx, dist = kernel.nearest_within(xy, lines, rank, radius)
        total = time.perf_counter() - t0
    finally:
        for name, fn in saved.items():
            setattr(kernel, name, fn)
    spent["other (Python glue)"] = total - sum(spent.values())
    same = bool(np.array_equal(idx, idx_ref) and np.array_equal(dist, dist_ref, equal_nan=True))
    return {"total_s": total, "phases_s": spent, "matches_nearest_within": same}


def run_sjoin_nearest(scene: Scene, radius: float, repeat: int) -> dict[str, Any]:
    import geopandas as gpd
    import shapely

    n = len(scene.xy)
    pts = gpd.GeoDataFrame(geometry=shapely.points(scene.xy), crs=SRID)
    lns = gpd.GeoDataFrame(geometry=scene.lines(), crs=SRID)

    def method() -> tuple[IntArray, FloatArray]:
        j = gpd.sjoin_nearest(pts, lns, how="inner", max_distance=radius, distance_col="dist")
        # Ties come back as extra rows: keep the lowest line id per point.
        return _group_min(
            n,
            j.index.to_numpy(np.int64),
            j["index_right"].to_numpy(np.int64),
            j["dist"].to_numpy(np.float64),
        )

    with Meter() as mem:
        idx, dist = timed_runs(method, repeat, mem)
    return _report(idx, dist, mem, {})


def run_strtree(scene: Scene, radius: float, repeat: int) -> dict[str, Any]:
    import geopandas as gpd
    import shapely

    n = len(scene.xy)
    pts = shapely.points(scene.xy)
    lines = scene.lines()
    chunk = 500_000
    ties: list[int] = []

    def method() -> tuple[IntArray, FloatArray]:
        ties.clear()
        tree = shapely.STRtree(lines)
        h = gpd.GeoSeries(pts, crs=SRID).hilbert_distance()
        order = np.argsort(np.asarray(h), kind="stable")
        pid_parts, lid_parts, d_parts = [], [], []
        for start in range(0, n, chunk):
            sel = order[start : start + chunk]
            pi, li = tree.query(pts[sel], predicate="dwithin", distance=radius)
            d = shapely.distance(pts[sel[pi]], lines[li])
            pid_parts.append(sel[pi])
            lid_parts.append(li)
            d_parts.append(d)
        pid, lid, d = (np.concatenate(x) for x in (pid_parts, lid_parts, d_parts))
        return _group_min(n, pid, lid, d, ties)

    with Meter() as mem:
        idx, dist = timed_runs(method, repeat, mem)
    return _report(
        idx,
        dist,
        mem,
        {
            "chunk_points": chunk,
            "tied_points": ties[0] if ties else None,
            "tied_note": "points whose two nearest lines are within 1e-9 m (tie-break exercised)",
        },
    )


def duckdb_spatial_path() -> Path:
    """The spatial extension shipped in the duckdb-extension-spatial wheel for this duckdb."""
    import duckdb
    import duckdb_extension_spatial

    base = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    path = base / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.exists():
        found = sorted(p.name for p in base.glob("v*"))
        raise RuntimeError(
            f"duckdb {duckdb.__version__} needs duckdb-extension-spatial=={duckdb.__version__}; "
            f"the installed wheel has {found}"
        )
    return path


def run_duckdb(scene: Scene, radius: float, repeat: int) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    import shapely

    n = len(scene.xy)
    con = duckdb.connect(
        config={
            "threads": THREADS["duckdb"],
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    con.execute(f"LOAD '{duckdb_spatial_path()}'")
    t0 = time.perf_counter()
    pts_tbl = pa.table({"id": np.arange(n), "x": scene.xy[:, 0], "y": scene.xy[:, 1]})
    lines_tbl = pa.table({"id": np.arange(scene.n_lines), "wkb": shapely.to_wkb(scene.lines())})
    con.register("pts_tbl", pts_tbl)
    con.register("lines_tbl", lines_tbl)
    con.execute("CREATE TABLE pts AS SELECT id, ST_Point(x, y) AS geom FROM pts_tbl")
    con.execute("CREATE TABLE lines AS SELECT id, ST_GeomFromWKB(wkb) AS geom FROM lines_tbl")
    con.unregister("pts_tbl")
    con.unregister("lines_tbl")
    del pts_tbl, lines_tbl
    load = time.perf_counter() - t0
    sql = f"""
        SELECT pid, arg_min(lid, (d, lid)) AS lid, min(d) AS d FROM (
            SELECT p.id AS pid, l.id AS lid, ST_Distance(p.geom, l.geom) AS d
            FROM pts p JOIN lines l ON ST_DWithin(p.geom, l.geom, {float(radius)!r})
        ) GROUP BY pid
    """
    plan = "\n".join(r[1] for r in con.execute("EXPLAIN " + sql).fetchall())

    def method() -> tuple[IntArray, FloatArray]:
        r = con.execute(sql).fetchnumpy()
        idx, dist = _empty(n)
        pid = np.asarray(r["pid"], dtype=np.int64)
        idx[pid] = np.asarray(r["lid"], dtype=np.int64)
        dist[pid] = np.asarray(r["d"], dtype=np.float64)
        return idx, dist

    with Meter() as mem:
        idx, dist = timed_runs(method, repeat, mem)

    # The same query with the points table in Hilbert order (as an analyst might cluster it):
    # reported beside the main figure, which uses the input order every method gets.
    t0 = time.perf_counter()
    con.execute(
        "CREATE TABLE pts_h AS SELECT * FROM pts ORDER BY "
        "ST_Hilbert(geom, (SELECT ST_Extent(ST_Extent_Agg(geom)) FROM pts))"
    )
    hilbert_sort = time.perf_counter() - t0
    sql = sql.replace("FROM pts p", "FROM pts_h p")
    hil = Meter()
    idx_h, dist_h = timed_runs(method, repeat, hil)
    hilbert_same = bool(np.array_equal(idx_h, idx) and np.array_equal(dist_h, dist, equal_nan=True))
    return _report(
        idx,
        dist,
        mem,
        {
            "hilbert_table_time_s": statistics.median(float(r["wall_s"] or 0) for r in hil.runs),
            "hilbert_sort_s": hilbert_sort,
            "hilbert_same_answer": hilbert_same,
            "load_s": load,
            "load_note": "tables from numpy/WKB, not in the time",
            "duckdb": duckdb.__version__,
            "spatial_join_operator": "SPATIAL_JOIN" in plan,
        },
    )


# PostGIS ------------------------------------------------------------------------------------

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


def _copy_points(xy: FloatArray) -> bytes:
    """Binary COPY payload of (id int4, geom) rows, geom as little-endian EWKB with SRID."""
    rec = np.dtype(
        [
            ("nf", ">i2"),
            ("l_id", ">i4"),
            ("id", ">i4"),
            ("l_g", ">i4"),
            ("bo", "u1"),
            ("type", "<u4"),
            ("srid", "<u4"),
            ("x", "<f8"),
            ("y", "<f8"),
        ]
    )
    a = np.empty(len(xy), dtype=rec)
    a["nf"], a["l_id"], a["id"], a["l_g"] = 2, 4, np.arange(len(xy)), 25
    a["bo"], a["type"], a["srid"] = 1, 0x20000001, SRID
    a["x"], a["y"] = xy[:, 0], xy[:, 1]
    return _COPY_HEADER + a.tobytes() + _COPY_TRAILER


def _copy_lines(lines: np.ndarray[Any, Any]) -> bytes:
    import shapely

    wkb = shapely.to_wkb(shapely.set_srid(lines, SRID), include_srid=True, byte_order=1)
    head = struct.Struct(">hiii")
    body = b"".join(head.pack(2, 4, i, len(w)) + w for i, w in enumerate(wkb))
    return _COPY_HEADER + body + _COPY_TRAILER


def _parse_copy_out(buf: bytes) -> tuple[IntArray, IntArray, FloatArray]:
    """Rows (int4, int4, float8) of a binary COPY TO."""
    if not buf.startswith(_COPY_HEADER[:11]):
        raise RuntimeError("not a binary COPY stream")
    ext = struct.unpack(">i", buf[15:19])[0]
    body = buf[19 + ext : -2]
    rec = np.dtype(
        [
            ("nf", ">i2"),
            ("l1", ">i4"),
            ("a", ">i4"),
            ("l2", ">i4"),
            ("b", ">i4"),
            ("l3", ">i4"),
            ("d", ">f8"),
        ]
    )
    rows = np.frombuffer(body, dtype=rec)
    if len(rows) and not (np.all(rows["nf"] == 3) and np.all(rows["l3"] == 8)):
        raise RuntimeError("unexpected COPY row layout")
    return (
        rows["a"].astype(np.int64),
        rows["b"].astype(np.int64),
        rows["d"].astype(np.float64),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgis_cluster() -> Iterator[str]:
    """Install (if needed) and start a private cluster on 127.0.0.1; yield its conninfo."""
    script = REPO / "scripts" / "postgis.sh"
    subprocess.run(["bash", str(script), "install"], check=True)
    folder = Path(tempfile.mkdtemp(prefix="bbplan-pg-"))
    port = _free_port()
    try:
        subprocess.run(["bash", str(script), "start", str(folder), str(port)], check=True)
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(["bash", str(script), "stop", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def run_postgis(scene: Scene, radius: float, repeat: int) -> dict[str, Any]:
    import psycopg

    n = len(scene.xy)
    with postgis_cluster() as conninfo:
        con = psycopg.connect(conninfo, autocommit=True)
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = con.execute("SELECT postgis_lib_version(), version()").fetchone()
        t0 = time.perf_counter()
        pts_buf = _copy_points(scene.xy)
        lines_buf = _copy_lines(scene.lines())
        encode = time.perf_counter() - t0

        t0 = time.perf_counter()
        con.execute(
            f"CREATE UNLOGGED TABLE pts (id int4 PRIMARY KEY, geom geometry(Point, {SRID}))"
        )
        con.execute(f"CREATE UNLOGGED TABLE lines (id int4, geom geometry(LineString, {SRID}))")
        for table, buf in (("pts", pts_buf), ("lines", lines_buf)):
            with con.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as cp:
                view = memoryview(buf)
                for k in range(0, len(view), 1 << 24):
                    cp.write(view[k : k + (1 << 24)])
        copy_s = time.perf_counter() - t0
        con.execute("CREATE INDEX lines_gix ON lines USING gist (geom)")
        con.execute("ANALYZE pts")
        con.execute("ANALYZE lines")
        con.execute("VACUUM pts")
        con.execute("VACUUM lines")
        load = time.perf_counter() - t0
        del pts_buf, lines_buf

        sql = f"""
            COPY (
                SELECT p.id, n.id, n.d FROM pts p CROSS JOIN LATERAL (
                    SELECT l.id, ST_Distance(p.geom, l.geom) AS d FROM lines l
                    WHERE ST_DWithin(p.geom, l.geom, {float(radius)!r})
                    ORDER BY l.geom <-> p.geom, l.id
                    LIMIT 1
                ) n
                WHERE p.id >= %s AND p.id < %s
            ) TO STDOUT (FORMAT BINARY)
        """
        plan = "\n".join(
            r[0]
            for r in con.execute(
                "EXPLAIN " + sql.split("COPY (", 1)[1].rsplit(") TO STDOUT", 1)[0], (0, 1)
            ).fetchall()
        )
        workers = [psycopg.connect(conninfo, autocommit=True) for _ in range(2)]
        for w in workers:
            w.execute("SET max_parallel_workers_per_gather = 0")
            w.execute("SET jit = off")
        halves = [(0, n // 2), (n // 2, n)]

        def method() -> tuple[IntArray, FloatArray]:
            out: list[bytes] = [b"", b""]
            errors: list[BaseException] = []

            def one(k: int) -> None:
                try:
                    with workers[k].cursor() as cur, cur.copy(sql, halves[k]) as cp:
                        out[k] = b"".join(bytes(c) for c in cp)
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=one, args=(k,)) for k in range(2)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if errors:
                raise errors[0]
            idx, dist = _empty(n)
            for buf in out:
                pid, lid, d = _parse_copy_out(buf)
                idx[pid], dist[pid] = lid, d
            return idx, dist

        with Meter() as mem:
            for w in workers:
                pid = w.execute("SELECT pg_backend_pid()").fetchone()
                if pid:
                    mem.watch(int(pid[0]))
            idx, dist = timed_runs(method, repeat, mem)
        for w in workers:
            w.close()
        con.close()
    return _report(
        idx,
        dist,
        mem,
        {
            "load_s": load,
            "copy_s": copy_s,
            "encode_s": encode,
            "load_note": "binary COPY of both tables + GiST index + ANALYZE/VACUUM; encoding "
            "the COPY payload in numpy (encode_s) not included",
            "postgis": version[0] if version else None,
            "postgres": version[1].split(",")[0] if version else None,
            "plan": plan,
            "memory_note": "client + the 2 backends (shared buffers count in each backend)",
        },
    )


RUNNERS: dict[str, Callable[[Scene, float, int], dict[str, Any]]] = {
    "bbplan": run_bbplan,
    "sjoin_nearest": run_sjoin_nearest,
    "strtree": run_strtree,
    "duckdb": run_duckdb,
    "postgis": run_postgis,
}


def _report(idx: IntArray, dist: FloatArray, mem: Meter, info: dict[str, Any]) -> dict[str, Any]:
    walls = [float(r["wall_s"] or 0.0) for r in mem.runs]
    loads = [r["other_load_cores"] for r in mem.runs if r["other_load_cores"] is not None]
    return {
        "time_s": statistics.median(walls),
        "runs_s": walls,
        "cpu_s": [r["cpu_s"] for r in mem.runs],
        "other_load_cores": max(loads) if loads else None,
        "peak_rss_mb": mem.peak_mb,
        "base_rss_mb": mem.base_mb,
        "extra_rss_mb": max(0.0, mem.peak_mb - mem.base_mb),
        "memory_how": mem.how,
        "found": int((idx >= 0).sum()),
        "_idx": idx,
        "_dist": dist,
        **info,
    }


def worker(method: str, folder: Path, radius: float, repeat: int) -> None:
    """Subprocess entry: run one method on the saved scene, write its result next to it."""
    scene = Scene.load(folder)
    res = RUNNERS[method](scene, radius, repeat)
    np.savez(folder / f"{method}.npz", idx=res.pop("_idx"), dist=res.pop("_dist"))
    (folder / f"{method}.json").write_text(json.dumps(res, indent=1))


# --------------------------------------------------------------------------------------------
# Agreement
# --------------------------------------------------------------------------------------------


def compare(
    scene: Scene,
    lines: np.ndarray[Any, Any],
    a: tuple[IntArray, FloatArray],
    b: tuple[IntArray, FloatArray],
) -> dict[str, Any]:
    """Does answer ``b`` agree with answer ``a``? (see the module docstring)."""
    import shapely

    ia, da = a
    ib, db = b
    fa, fb = ia >= 0, ib >= 0
    set_diff = int((fa != fb).sum())
    both = fa & fb
    max_dd = float(np.max(np.abs(da[both] - db[both]), initial=0.0))
    dist_bad = int((np.abs(da[both] - db[both]) > DIST_TOL).sum())
    differ = np.flatnonzero(both & (ia != ib))
    not_tie = 0
    if len(differ):
        p = shapely.points(scene.xy[differ])
        ga = shapely.distance(p, lines[ia[differ]])
        gb = shapely.distance(p, lines[ib[differ]])
        not_tie = int((np.abs(ga - gb) > TIE_TOL).sum())
    return {
        "agreement": set_diff == 0 and dist_bad == 0 and not_tie == 0,
        "points_found_differently": set_diff,
        "distances_off_by_more_than_1e-6": dist_bad,
        "max_distance_difference_m": max_dd,
        "ids_differ_on_ties": len(differ) - not_tie,
        "ids_differ_not_tie": not_tie,
    }


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1).strip() if m else ""
    mem_kb = None
    with contextlib.suppress(OSError):
        m = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        mem_kb = int(m.group(1)) if m else None
    versions: dict[str, str] = {}
    for dist in ("numpy", "numba", "shapely", "geopandas", "duckdb", "psycopg"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1) if mem_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = [
        "method",
        "threads",
        "time s",
        "x bbplan",
        "peak MB",
        "+MB",
        "others",
        "agrees",
        "notes",
    ]
    body = []
    for r in rows:
        if r.get("skipped"):
            body.append([r["method"], "", "", "", "", "", "", "skipped", r["skipped"]])
            continue
        if r.get("error"):
            body.append([r["method"], "", "", "", "", "", "", "FAIL", r["error"]])
            continue
        notes = []
        if "first_call_s" in r:
            notes.append(f"compile/first call {r['first_call_s']:.1f} s")
        if r["method"] == "postgis":
            notes.append(f"+ load {r['load_s']:.1f} s")
        if "hilbert_table_time_s" in r:
            notes.append(f"Hilbert-ordered table: {r['hilbert_table_time_s']:.2f} s")
        if len(r["runs_s"]) > 1:
            notes.append(f"median of {len(r['runs_s'])}")
        body.append(
            [
                r["method"],
                str(THREADS[r["method"]]),
                f"{r['time_s']:.2f}",
                f"{r['ratio_to_bbplan']:.1f}" if r.get("ratio_to_bbplan") else "",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['extra_rss_mb']:.0f}",
                "" if r.get("other_load_cores") is None else f"{r['other_load_cores']:.1f}",
                {True: "PASS", False: "FAIL", None: "-"}[r["agreement"]],
                "; ".join(notes),
            ]
        )
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    for k, line in enumerate([head, *body]):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", choices=sorted(SIZES, key=lambda k: SIZES[k]), default="1m")
    parser.add_argument("--radius", type=float, default=100.0, help="metres (default 100)")
    parser.add_argument("--seed", type=int, default=20_260_101, help="scene seed")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--postgis", action="store_true", help="also PostGIS (installs via apt)")
    parser.add_argument(
        "--all", action="store_true", help="run sjoin_nearest at 5m too (takes minutes)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of a method under 10 s")
    parser.add_argument(
        "--methods", help=f"comma-separated subset of {','.join(METHODS)} (bbplan always runs)"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="before each method wait up to S seconds for other processes to leave the cores idle",
    )
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--scene", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker, args.scene, args.radius, args.repeat)
        return 0

    n_points, n_lines = SIZES[args.size]
    chosen = list(METHODS)
    if args.methods:
        wanted = {m.strip() for m in args.methods.split(",")} | {"bbplan"}
        unknown = wanted - set(METHODS)
        if unknown:
            parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
        chosen = [m for m in METHODS if m in wanted]
        if "postgis" in wanted:
            args.postgis = True
    skipped: dict[str, str] = {}
    if not args.postgis:
        skipped["postgis"] = "not asked (--postgis)"
    if args.size == "5m" and not args.all:
        skipped["sjoin_nearest"] = "takes minutes at 5m: ask with --all"

    print(f"scene {args.size}: {n_points:,} points x {n_lines:,} lines, R = {args.radius:g} m")
    t0 = time.perf_counter()
    scene = make_scene(n_points, n_lines, args.seed)
    gen_s = time.perf_counter() - t0
    print(f"generated in {gen_s:.1f} s")

    results: dict[str, dict[str, Any]] = {}
    answers: dict[str, tuple[IntArray, FloatArray]] = {}
    with tempfile.TemporaryDirectory(prefix="bbplan-bench-") as tmp:
        folder = Path(tmp)
        scene.save(folder)
        for method in chosen:
            if method in skipped:
                continue
            idle = wait_idle(args.wait_idle) if args.wait_idle > 0 else None
            note = "" if idle is None else f" (other processes busy {idle:.1f} cores before start)"
            print(f"running {method} ...{note}", flush=True)
            env = dict(os.environ)
            if method == "bbplan":
                env["NUMBA_CACHE_DIR"] = str(folder / "numba-cache")
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method]
            cmd += ["--scene", str(folder), "--radius", repr(args.radius)]
            cmd += ["--repeat", str(args.repeat)]
            proc = subprocess.run(cmd, env=env, cwd=REPO, check=False)
            out = folder / f"{method}.json"
            if proc.returncode != 0 or not out.exists():
                results[method] = {"error": f"worker exited {proc.returncode}"}
                continue
            results[method] = json.loads(out.read_text())
            results[method]["other_load_before_cores"] = idle
            with np.load(folder / f"{method}.npz") as z:
                answers[method] = (z["idx"], z["dist"])

    lines = scene.lines()
    rows: list[dict[str, Any]] = []
    ok = True
    base = results.get("bbplan", {})
    for method in chosen:
        row: dict[str, Any] = {"method": method, "threads": THREADS[method]}
        if method in skipped:
            row |= {"skipped": skipped[method], "agreement": None}
        elif "error" in results.get(method, {"error": "not run"}):
            row |= {"error": results.get(method, {}).get("error", "not run"), "agreement": False}
            ok = False
        else:
            row |= results[method]
            if method == "bbplan":  # against GEOS: strtree, else any other method that ran
                refs = [
                    m for m in ("strtree", "sjoin_nearest", "duckdb", "postgis") if m in answers
                ]
            else:
                refs = ["bbplan"] if "bbplan" in answers else []
            if refs and method in answers:
                check = compare(scene, lines, answers[refs[0]], answers[method])
                row |= check | {"checked_against": refs[0]}
                ok &= bool(row["agreement"])
            elif method == "bbplan" and method in answers:
                row |= {"agreement": None, "checked_against": "nothing (no other method ran)"}
            else:
                row |= {"agreement": False, "checked_against": "bbplan (missing)"}
                ok = False
            if base.get("time_s"):
                row["ratio_to_bbplan"] = row["time_s"] / base["time_s"]
        rows.append(row)

    found = answers["bbplan"][0] >= 0 if "bbplan" in answers else np.zeros(0, dtype=bool)
    print()
    print(
        f"{args.size}: {n_points:,} points x {n_lines:,} lines, R = {args.radius:g} m; "
        f"{int(found.sum()):,} points ({found.mean():.1%}) have a line within R"
        if len(found)
        else ""
    )
    print_table(rows)
    for r in rows:
        status = (
            "skipped"
            if r.get("skipped")
            else {True: "PASS", False: "FAIL", None: "-"}[r["agreement"]]
        )
        detail = ""
        if "checked_against" in r:
            max_dd = r.get("max_distance_difference_m", float("nan"))
            detail = (
                f" vs {r['checked_against']}: {r.get('points_found_differently', '?')} points "
                f"found differently, max |dd| {max_dd:.2e}"
                f" m, {r.get('ids_differ_on_ties', 0)} id differences on ties, "
                f"{r.get('ids_differ_not_tie', 0)} not on ties"
            )
        print(f"agreement {r['method']}: {status}{detail}")
    prof = base.get("profile", {})
    if "phases_s" in prof:
        print("bbplan phases (median of profiled calls):")
        for name, sec in prof["phases_s"].items():
            print(f"  {sec:7.3f} s  {name}")
    doc = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python scripts/bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "size": args.size,
        "points": n_points,
        "lines": n_lines,
        "radius_m": args.radius,
        "seed": args.seed,
        "generate_s": gen_s,
        "points_within_radius": int(found.sum()),
        "memory": "peak resident set of the method's worker process (Linux VmHWM reset just "
        "before the method; includes its inputs), +MB = growth during the method",
        "other_load": "other_load_cores: cores kept busy by other processes on the machine "
        "during the timed runs (max over runs; /proc/stat minus the method's own CPU time)",
        "machine": machine(),
        "all_agree": ok,
        "methods": rows,
    }
    args.json.write_text(json.dumps(doc, indent=1, default=float))
    print(f"wrote {args.json}")
    print("ALL METHODS AGREE" if ok else "DISAGREEMENT: see FAIL above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
