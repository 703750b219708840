"""A whole national batch run from files, timed: wall time, peak memory, time per step.

Generates (once per size and seed, cached) a synthetic national scene from the real SCB
tätort points and kommun boundaries in ``gis_data/``: addresses on street grids around every
tätort (sized by its population) and in rural hamlets inside the kommun polygons, with
households, workplaces, public sites and connections; fibre along the town streets and
rural routes, VDSL cabinets in towns, FWA base stations in the countryside (three
technologies). It is **synthetic**: no real address points with household counts or real
network routes are public in Sweden.

Then it runs the real command, ``bbplan run``, on the GeoParquet files with the national
targets and every area level and output, and prints the wall time, the peak memory of the
run (the summed PSS of the command and its child processes, sampled every 0.1 s: the run
writes addresses.gpkg in a child process meanwhile), the time of each pipeline step, the CPU
time of the command and its children, the time the host took from this machine's cores
meanwhile (steal), and the time of a fixed reference workload (how fast the machine is:
2-core machines here differ by half from one session to the next).
With ``--serve`` it then starts ``bbplan serve`` on that run and measures how long the
server takes to load it (until ``/health`` answers), its resident memory, and a few single
requests::

    python scripts/national_run.py --size 1m            # 1 M addresses × 100 k elements
    python scripts/national_run.py --size 5m --serve --json national-5m.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

ROOT = Path(__file__).resolve().parents[1]
GIS = ROOT / "gis_data"
SIZES = {"20k": (20_000, 2_000), "1m": (1_000_000, 100_000), "5m": (5_000_000, 500_000)}
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _towns(rng: np.random.Generator, n_town: int) -> tuple[FloatArray, FloatArray]:
    """Town addresses on rotated street grids around the tätort points, and the streets."""
    t = gpd.read_file(GIS / "tatorter" / "tatorter_2020_points_sweref99tm.gpkg")
    pop = t["pop"].to_numpy(float)
    per_town = rng.multinomial(n_town, pop / pop.sum())
    centre = shapely.get_coordinates(t.geometry.to_numpy())
    xy_parts, street_parts = [], []
    for (cx, cy), k in zip(centre, per_town, strict=True):
        if k == 0:
            continue
        spacing = rng.uniform(70, 140)
        half = max(2, int(np.sqrt(k / 6.0)))  # about six addresses per block
        angle = rng.uniform(0, np.pi / 2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        # Addresses: along the block edges, set back 5-30 m from the street.
        i = rng.integers(-half, half, size=k)
        j = rng.integers(-half, half, size=k)
        along = rng.uniform(0, spacing, size=k)
        back = rng.uniform(5, 30, size=k) * rng.choice([-1, 1], size=k)
        horizontal = rng.random(k) < 0.5
        local = np.where(
            horizontal[:, None],
            np.column_stack([i * spacing + along, j * spacing + back]),
            np.column_stack([i * spacing + back, j * spacing + along]),
        )
        xy_parts.append(local @ rot.T + (cx, cy))
        # Streets: grid edges (one element per edge), a random 85 % of them built.
        g = np.arange(-half, half + 1)
        gi, gj = np.meshgrid(g[:-1], g, indexing="ij")
        h = np.column_stack([gi.ravel(), gj.ravel(), gi.ravel() + 1, gj.ravel()])
        v = np.column_stack([gj.ravel(), gi.ravel(), gj.ravel(), gi.ravel() + 1])
        edges = np.vstack([h, v]).astype(float) * spacing
        edges = edges[rng.random(len(edges)) < 0.85]
        a = edges[:, :2] @ rot.T + (cx, cy)
        b = edges[:, 2:] @ rot.T + (cx, cy)
        street_parts.append(np.column_stack([a, b]))
    return np.vstack(xy_parts), np.vstack(street_parts)


def _rural(rng: np.random.Generator, n_rural: int) -> FloatArray:
    """Rural addresses in hamlets of 1-12 houses, inside the kommun polygons."""
    k = gpd.read_file(GIS / "boundaries" / "kommuner_sweref99tm.gpkg").to_crs(3006)
    union = shapely.union_all(k.geometry.to_numpy())
    shapely.prepare(union)
    x0, y0, x1, y1 = union.bounds
    centres = np.zeros((0, 2))
    want = n_rural // 5 + 1
    while len(centres) < want:
        c = rng.uniform((x0, y0), (x1, y1), size=(want * 3, 2))
        centres = np.vstack([centres, c[shapely.contains_xy(union, c[:, 0], c[:, 1])]])
    centres = centres[:want]
    which = rng.integers(0, len(centres), size=n_rural)
    xy = centres[which] + rng.normal(0, 120, size=(n_rural, 2))
    inside = shapely.contains_xy(union, xy[:, 0], xy[:, 1])
    xy[~inside] = centres[which[~inside]]  # keep every point on land
    return xy


def make_scene(n_addr: int, n_elem: int, seed: int, folder: Path) -> None:
    """Write ``addresses.parquet`` and ``network.parquet`` (GeoParquet, EPSG:3006)."""
    rng = np.random.default_rng(seed)
    town_xy, streets = _towns(rng, int(n_addr * 0.8))
    rural_xy = _rural(rng, n_addr - len(town_xy))
    xy = np.vstack([town_xy, rural_xy])
    n = len(xy)
    order = rng.permutation(n)
    xy = xy[order]
    households = rng.poisson(1.6, size=n)
    addresses = gpd.GeoDataFrame(
        {
            "address_id": np.char.add("A", np.arange(n).astype(str)),
            "households": households,
            "workplaces": (rng.random(n) < 0.08) * rng.integers(1, 6, size=n),
            "holiday_homes": (rng.random(n) < 0.05).astype(np.int64),
            "public_site": np.where(rng.random(n) < 0.002, "skola", ""),
            "connected": rng.random(n) < 0.45,
        },
        geometry=shapely.points(xy),
        crs="EPSG:3006",
    )
    # Elements: town streets (fibre, some planned), rural fibre routes, VDSL cabinets in
    # towns, FWA base stations in the countryside; exactly n_elem in all.
    n_fwa = n_elem // 50
    n_vdsl = n_elem // 10
    n_rural_fibre = n_elem // 5
    n_streets = n_elem - n_fwa - n_vdsl - n_rural_fibre
    streets = streets[rng.choice(len(streets), size=n_streets, replace=len(streets) < n_streets)]
    start = rural_xy[rng.integers(0, len(rural_xy), size=n_rural_fibre)]
    steps = rng.normal(0, 150, size=(n_rural_fibre, 4, 2)).cumsum(axis=1)
    rural_lines = shapely.linestrings(
        np.concatenate([start[:, None, :], start[:, None] + steps], 1)
    )
    town_lines = shapely.linestrings(streets.reshape(-1, 2, 2))
    cabinets = shapely.points(town_xy[rng.integers(0, len(town_xy), size=n_vdsl)])
    stations = shapely.points(rural_xy[rng.integers(0, len(rural_xy), size=n_fwa)])
    geoms = np.concatenate([town_lines, rural_lines, cabinets, stations])
    tech = np.repeat(
        ["fibre", "fibre", "vdsl", "fwa"], [n_streets, n_rural_fibre, n_vdsl, n_fwa]
    ).astype(object)
    m = len(geoms)
    planned = (tech == "fibre") & (rng.random(m) < 0.12)
    network = gpd.GeoDataFrame(
        {
            "segment_id": np.char.add("S", rng.permutation(m).astype(str)),
            "technology": tech,
            "status": np.where(planned, "planned", "existing"),
            "year": np.where(planned, rng.choice([2027, 2028, 2030], size=m), np.nan),
            "open_network": rng.random(m) < 0.7,
            "owner": np.where(rng.random(m) < 0.5, "Stadsnät", "Operatör"),
        },
        geometry=geoms,
        crs="EPSG:3006",
    )
    folder.mkdir(parents=True, exist_ok=True)
    addresses.to_parquet(folder / "addresses.parquet", index=False)
    network.to_parquet(folder / "network.parquet", index=False)


STEP_LINE = re.compile(r"^(?P<label>[^:\n]+): (?P<seconds>[0-9.]+) s$")


def run_bbplan(scene: Path, runs: Path) -> dict[str, Any]:
    """``bbplan run`` on the scene in a child process: wall time, peak memory, steps."""
    cmd = [
        str(Path(sys.executable).parent / "bbplan"),
        "run",
        "--addresses",
        str(scene / "addresses.parquet"),
        "--network",
        str(scene / "network.parquet"),
        "--targets",
        str(GIS / "targets" / "national_2025.toml"),
        "--runs-dir",
        str(runs),
        "--max-input-mb",
        "4096",
    ]
    before, steal_before = resource.getrusage(resource.RUSAGE_CHILDREN), _steal_s()
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        tree_peak_mb = _sample_tree_peak_mb(proc)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    after, steal_after = resource.getrusage(resource.RUSAGE_CHILDREN), _steal_s()
    largest_mb = after.ru_maxrss / 1024
    if proc.returncode != 0:
        sys.stderr.write(stdout + stderr)
        raise SystemExit(f"bbplan run failed with exit code {proc.returncode}")
    steps = {
        m["label"].strip(): float(m["seconds"])
        for line in stderr.splitlines()
        if (m := STEP_LINE.match(line.strip()))
    }
    return {
        "wall_s": wall,
        # CPU of the command and its children (the GeoPackage writer included): steadier
        # than the wall time between runs on a shared machine.
        "user_s": after.ru_utime - before.ru_utime,
        "system_s": after.ru_stime - before.ru_stime,
        # Time the hypervisor gave this machine's cores to others meanwhile (all cores).
        "steal_s": None
        if steal_before is None or steal_after is None
        else steal_after - steal_before,
        "peak_mb": max(tree_peak_mb, largest_mb),
        "peak_largest_process_mb": largest_mb,
        "steps_s": steps,
        "command": cmd,
    }


def _steal_s() -> float | None:
    """Seconds of all cores' time taken by the hypervisor so far (Linux), or None."""
    try:
        with Path("/proc/stat").open() as f:
            fields = f.readline().split()
    except OSError:
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def reference_s(repeat: int = 3) -> float:
    """Seconds of a fixed single-core workload (sorting 5·10⁶ numbers, a 3·10⁶-step Python
    loop), the fastest of ``repeat``: how fast this machine is, so that runs measured on
    different machines can be compared (the same code took 64-70 s on one 2-core machine
    and 93-112 s on another)."""
    values = np.random.default_rng(0).random(5_000_000)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.sort(values)
        total = 0
        for i in range(3_000_000):
            total += i & 7
        best = min(best, time.perf_counter() - start)
    return best


#: How often the run's own file-backed PSS is read (seconds; :func:`_sample_tree_peak_mb`).
FILE_PSS_EVERY_S = 5.0


def _sample_tree_peak_mb(
    proc: subprocess.Popen[str], every_s: float = 0.1, file_every_s: float = FILE_PSS_EVERY_S
) -> float:
    """Wait for ``proc``; the peak of its and its descendants' summed proportional set size
    (PSS, so that the libraries they all map count once), sampled every ``every_s``. The run
    writes addresses.gpkg in a child process while it goes on: ``ru_maxrss`` alone would miss
    it.

    A process's PSS is read from ``smaps_rollup``, which walks its page tables under its
    memory-map lock (60-120 ms for a national run's 4-6 GB); the run's page faults and
    ``munmap`` wait for it. Read for the run every 0.1 s whenever its memory could be at its
    peak, it made a national run ~2 s slower (docs/performance.md, "Twenty-eighth session").
    So the run's PSS is taken in two parts: its anonymous and shared memory (``RssAnon`` and
    ``RssShmem`` of ``status``: counters, constant time; a process started by exec shares no
    anonymous pages) at every sample, and its file-backed pages' share (``Pss_File``: the
    libraries, ~0.2 GB, shared with the GeoPackage child while it runs) every
    ``file_every_s`` and whenever a process starts or ends. The children (under 1 GB) are
    walked only when the resident sizes could raise the peak."""
    peak_kb = 0
    file_kb, file_read_at, tree = 0, -math.inf, set[int]()
    while proc.poll() is None:
        # A child not yet past exec shares its parent's memory (vfork) and shows the parent's
        # command line: each command line counts once, the run's own as the run's.
        by_command = {_cmdline(pid): pid for pid in _tree(proc.pid)}
        own = _cmdline(proc.pid)
        children = [pid for command, pid in by_command.items() if command != own]
        now = time.monotonic()
        if now - file_read_at >= file_every_s or tree != set(children):
            file_kb, file_read_at, tree = _pss_file_kb(proc.pid), now, set(children)
        own_kb = _anon_kb(proc.pid) + file_kb
        if own_kb + sum(_rss_kb(pid) for pid in children) > peak_kb:
            peak_kb = max(peak_kb, own_kb + sum(_pss_kb(pid) for pid in children))
        time.sleep(every_s)
    return peak_kb / 1024


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _rss_kb(pid: int) -> int:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _pss_kb(pid: int) -> int:
    return _rollup_kb(pid, "Pss")


def _pss_file_kb(pid: int) -> int:
    """The PSS of ``pid``'s file-backed pages."""
    return _rollup_kb(pid, "Pss_File")


def _rollup_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _anon_kb(pid: int) -> int:
    """``pid``'s resident anonymous and shared (shmem) memory, from counters."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.findall(r"^Rss(?:Anon|Shmem):\s+(\d+) kB", text, re.MULTILINE)
    return sum(int(kb) for kb in found)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """Status and milliseconds of one GET."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            r.read()
            status = int(r.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status, (time.perf_counter() - start) * 1000


def measure_serve(runs: Path, scene: Path) -> dict[str, Any]:
    """Start ``bbplan serve`` on ``runs``: load time, memory, single-request latencies."""
    import psutil  # dev extra

    key = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "BBPLAN_PLANNER_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest(),
    }
    cmd = [str(Path(sys.executable).parent / "bbplan"), "serve", "--runs-dir", str(runs)]
    start = time.perf_counter()
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bbplan serve exited with {proc.returncode}")
            try:
                if _get(base + "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        ready_s = time.perf_counter() - start
        rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
        xy = shapely.get_coordinates(gpd.read_parquet(scene / "addresses.parquet").geometry[:1])
        lon, lat = pyproj.Transformer.from_crs(3006, 4326, always_xy=True).transform(*xy[0])
        planner = {"X-API-Key": key}
        calls = {
            "/compliance": (base + "/compliance", {}),
            "/lookup": (base + f"/lookup?lon={lon:.6f}&lat={lat:.6f}", planner),
            "/addresses/{id}": (base + "/addresses/A0", planner),
        }
        latency: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(20):
            for name, (url, headers) in calls.items():
                status, ms = _get(url, headers)
                if status != 200:
                    raise SystemExit(f"{name}: HTTP {status}")
                latency[name].append(ms)
        return {
            "ready_s": ready_s,
            "rss_mb": rss_mb,
            "rss_after_requests_mb": psutil.Process(proc.pid).memory_info().rss / 2**20,
            "median_ms": {k: float(np.median(v)) for k, v in latency.items()},
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="1m")
    parser.add_argument("--seed", type=int, default=20_261_122)
    parser.add_argument(
        "--scenes",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bbplan-national",
        help="where generated scenes are cached",
    )
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="keep the run folder here (e.g. for scripts/loadtest.py --runs-dir); "
        "default: a temporary folder, removed afterwards",
    )
    parser.add_argument(
        "--serve", action="store_true", help="then measure bbplan serve loading the run"
    )
    args = parser.parse_args(argv)
    n_addr, n_elem = SIZES[args.size]
    scene = args.scenes / f"{args.size}-{args.seed}"
    if not (scene / "network.parquet").exists():
        t0 = time.perf_counter()
        make_scene(n_addr, n_elem, args.seed, scene)
        print(f"scene generated in {time.perf_counter() - t0:.1f} s: {scene}")
    reference = reference_s()
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs_dir or Path(tmp)
        result = run_bbplan(scene, runs)
        folder = max(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
        if args.serve:
            result["serve"] = measure_serve(runs, scene)
    result.update(size=args.size, addresses=n_addr, elements=n_elem, seed=args.seed)
    result["reference_s"] = reference
    result["output_mb"] = round(sum(sizes.values()) / 2**20, 1)
    print(f"bbplan run, {n_addr:,} addresses × {n_elem:,} elements (three technologies)")
    print(f"{'step':<28} {'s':>8}")
    for label, secs in result["steps_s"].items():
        print(f"{label:<28} {secs:>8.1f}")
    print(f"{'wall (whole command)':<28} {result['wall_s']:>8.1f}")
    steal = "" if result["steal_s"] is None else f", {result['steal_s']:.1f} s stolen by the host"
    print(
        f"CPU {result['user_s'] + result['system_s']:.1f} s (user {result['user_s']:.1f}, "
        f"system {result['system_s']:.1f}){steal}; "
        f"this machine's reference workload {reference:.2f} s"
    )
    print(f"peak memory {result['peak_mb']:,.0f} MB; outputs {result['output_mb']} MB")
    if "serve" in result:
        sv = result["serve"]
        print(
            f"bbplan serve: ready in {sv['ready_s']:.1f} s, RSS {sv['rss_mb']:,.0f} MB "
            f"({sv['rss_after_requests_mb']:,.0f} MB after 60 requests); median "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in sv["median_ms"].items())
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
