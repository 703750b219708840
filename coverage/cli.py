"""The ``bbplan`` command line: batch runs over address points, networks and targets.

Every command calls the same pipeline as the API (:mod:`coverage.pipeline`). Input problems
end the command with a clear message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from coverage._errors import BBPlanError
from coverage._points import XY_COLUMNS
from coverage.areas import GIS_DATA, KOMMUN_FILE, TATORT_POINTS_FILE
from coverage.pipeline import Inputs, Result, compute, fewer_collections
from coverage.runs import RunWriter, write_csv
from coverage.settings import load_settings
from coverage.targets import load_targets

DEMO = GIS_DATA / "demo"
DEFAULT_ADDRESSES = DEMO / "smedjebacken_addresses.gpkg"
DEFAULT_NETWORKS = [DEMO / "smedjebacken_network.gpkg", DEMO / "smedjebacken_nodes.gpkg"]
DEFAULT_TARGETS = [
    GIS_DATA / "targets" / "kristianstad_2020.toml",
    GIS_DATA / "targets" / "national_2025.toml",
]

#: Exit codes: 2 = bad input or settings (fix the data), 1 = anything else that went wrong.
EXIT_INPUT = 2
EXIT_OTHER = 1

app = typer.Typer(
    help="bbplan: broadband coverage planning against municipal and national targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


@contextmanager
def _progress_steps() -> Iterator[object]:
    """A step factory showing a spinner with elapsed time per pipeline step (on stderr)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )

    @contextmanager
    def step(label: str) -> Iterator[None]:
        task = progress.add_task(label, total=1)
        start = time.perf_counter()
        try:
            yield
        finally:
            progress.update(task, completed=1)
            if not err.is_terminal:
                err.print(f"{label}: {time.perf_counter() - start:.1f} s")

    with progress:
        yield step


@app.command()
def run(
    addresses: Annotated[
        Path, typer.Option(help="Address points (GeoPackage, GeoParquet, GeoJSON, Shapefile, CSV).")
    ] = DEFAULT_ADDRESSES,
    network: Annotated[
        list[Path] | None,
        typer.Option(
            help="Network layer(s): lines and/or nodes; repeatable. OFDS GeoJSON accepted."
        ),
    ] = None,
    areas: Annotated[
        list[Path] | None, typer.Option(help="Custom polygon layer(s) (area_id, name); repeatable.")
    ] = None,
    tatorter: Annotated[
        Path, typer.Option(help="Tätort polygons, or SCB tätort points (sized by their area).")
    ] = TATORT_POINTS_FILE,
    kommuner: Annotated[
        Path, typer.Option(help="Kommun boundaries (default: shipped SCB polygons).")
    ] = KOMMUN_FILE,
    targets: Annotated[
        list[Path] | None, typer.Option(help="Targets TOML file(s); repeatable.")
    ] = None,
    evaluation_date: Annotated[
        str | None, typer.Option(help="Evaluation date YYYY-MM-DD (default: today).")
    ] = None,
    passed_distance_m: Annotated[
        float | None, typer.Option(help="Homes-passed distance in metres (default 50).")
    ] = None,
    near_distance_m: Annotated[
        float | None, typer.Option(help="'Near' distance in metres (default 250).")
    ] = None,
    max_input_mb: Annotated[
        float | None, typer.Option(help="Largest input file in MiB (default 512).")
    ] = None,
    settings: Annotated[
        Path | None, typer.Option(help="Settings TOML (distances, technology speed table).")
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(help="CRS of inputs that carry none (CSV x/y or WKT), e.g. EPSG:3006."),
    ] = None,
    costs: Annotated[
        Path | None, typer.Option(help="Cost model TOML for gaps (default gis_data/costs.toml).")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="memory, or dask (the spatial step on a Dask cluster).")
    ] = "memory",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: a local cluster).")
    ] = None,
    partitions: Annotated[
        int, typer.Option(help="Spatial partitions of the addresses for --engine dask.")
    ] = 8,
    runs_dir: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("runs"),
    run_id: Annotated[str | None, typer.Option(help="Run id (default: UTC time stamp).")] = None,
) -> None:
    """Run the coverage pipeline and write an immutable run folder; prints its path last."""
    try:
        when = _parse_date(evaluation_date)
        _check_crs_option(crs)
        cfg = load_settings(settings).with_overrides(
            passed_distance_m=passed_distance_m,
            near_distance_m=near_distance_m,
            max_input_mb=max_input_mb,
        )
        inputs = Inputs(
            addresses=addresses,
            networks=network or DEFAULT_NETWORKS,
            targets=targets or DEFAULT_TARGETS,
            areas=areas or [],
            tatorter=tatorter,
            kommuner=kommuner,
            crs=crs,
            costs=costs,
        )
        # The writer checks the run id before the long computation, publishes nothing until
        # finished, and removes its folder on a failure anywhere.
        # The collector runs less often while computing and writing (fewer_collections).
        with _progress_steps() as step, RunWriter(runs_dir, run_id) as writer, fewer_collections():
            result = compute(
                inputs,
                cfg,
                when,
                step=step,  # type: ignore[arg-type]
                engine=engine,
                scheduler=scheduler,
                partitions=partitions,
                on_addresses=writer.write_addresses,
                on_gaps=writer.write_gaps,
                on_area_tables=writer.write_area_csvs,
            )
            with step("Writing run folder"):  # type: ignore[operator]
                folder = writer.finish(result)
    except (BBPlanError, ValueError, OSError) as exc:
        _fail(exc)
    _print_summary(result)
    out.print(str(folder), highlight=False, soft_wrap=True)
    if _finished is not None:
        _finished.append(result)  # freed by the operating system (main)


@app.command()
def diff(
    run_a: Annotated[str, typer.Argument(help="The earlier run id.")],
    run_b: Annotated[str, typer.Argument(help="The later run id.")],
    runs_dir: Annotated[Path, typer.Option(help="Folder holding run folders.")] = Path("runs"),
    out_csv: Annotated[
        Path | None, typer.Option("--out", help="Write the changed addresses to this CSV.")
    ] = None,
) -> None:
    """What changed address by address between two runs: added, removed, reclassified, and units
    gained and lost per target."""
    import json

    import pandas as pd

    from coverage.runs import run_path
    from coverage.scenarios import diff_runs

    try:
        folders = [run_path(runs_dir, r) for r in (run_a, run_b)]
        tables = [
            pd.read_parquet(f / "addresses.parquet").drop(columns="geometry") for f in folders
        ]
        figures = json.loads((folders[1] / "figures.json").read_text(encoding="utf-8"))
    except (BBPlanError, OSError) as exc:
        _fail(exc)
    populations = {f["id"]: f["population"] for f in figures["targets"]}
    result = diff_runs(tables[0], tables[1], populations)
    table = Table(
        title=f"{run_a} → {run_b}: {result.totals['added']} added, "
        f"{result.totals['removed']} removed, {result.totals['changed']} changed addresses"
    )
    for col in ("target", "addresses gained", "addresses lost", "units gained", "units lost"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for tid, t in result.totals["targets"].items():
        table.add_row(
            tid,
            str(t["addresses_gained"]),
            str(t["addresses_lost"]),
            str(t["units_gained"]),
            str(t["units_lost"]),
        )
    Console(width=max(out.width, 110)).print(table)
    if out_csv is not None:
        write_csv(result.changes, out_csv)
        out.print(str(out_csv))


@app.command()
def compare(
    network_a: Annotated[
        list[Path], typer.Option(help="Network of scenario A (e.g. today); repeatable.")
    ],
    network_b: Annotated[
        list[Path], typer.Option(help="Network of scenario B (e.g. a plan); repeatable.")
    ],
    addresses: Annotated[Path, typer.Option(help="Address points.")] = DEFAULT_ADDRESSES,
    targets: Annotated[list[Path] | None, typer.Option(help="Targets TOML file(s).")] = None,
    evaluation_date: Annotated[
        str | None, typer.Option(help="Evaluation date YYYY-MM-DD (default: today).")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of inputs that carry none.")] = None,
    out_json: Annotated[
        Path | None, typer.Option("--out", help="Write the comparison as JSON here.")
    ] = None,
) -> None:
    """Compare the same addresses and targets against two network inputs (today vs a plan):
    the difference per target, kommun and tätort, and address by address."""
    import json

    from coverage.runs import jsonable
    from coverage.scenarios import compare_figures, diff_runs

    try:
        when = _parse_date(evaluation_date)
        cfg = load_settings(None)
        results = []
        for nets in (network_a, network_b):
            inputs = Inputs(
                addresses=addresses, networks=nets, targets=targets or DEFAULT_TARGETS, crs=crs
            )
            results.append(compute(inputs, cfg, when))
    except (BBPlanError, ValueError, OSError) as exc:
        _fail(exc)
    comparison = compare_figures(results[0].figures, results[1].figures)
    populations = {t.id: str(t.population) for t in results[0].targets}
    before, after = (r.addresses.drop(columns=list(XY_COLUMNS)) for r in results)
    changes = diff_runs(before, after, populations)
    table = Table(title=f"Scenario A → B at {when.isoformat()}")
    for col in ("target", "share A", "share B", "change (pp)", "units gained", "met A", "met B"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for tid, c in comparison.items():
        table.add_row(
            tid,
            _pct(c["share_a"]),
            _pct(c["share_b"]),
            "–" if c["share_change"] is None else f"{100 * c['share_change']:+.1f}",
            f"{c['units_change']:+d}",
            _yes(c["met_a"]),
            _yes(c["met_b"]),
        )
    Console(width=max(out.width, 110)).print(table)
    out.print(f"{changes.totals['changed']} addresses reclassified")
    if out_json is not None:
        out_json.write_text(
            json.dumps(
                jsonable({"targets": comparison, "addresses": changes.totals}),
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
        out.print(str(out_json))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _yes(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "no")


@app.command("check-targets")
def check_targets(path: Annotated[Path, typer.Argument(help="Targets TOML file.")]) -> None:
    """Validate a targets file and list its targets."""
    try:
        ts = load_targets(path)
    except BBPlanError as exc:
        _fail(exc)
    table = Table(title=ts.name)
    for col in ("id", "population", "min Mbit/s", "gigabit", "open", "share", "deadline"):
        table.add_column(col)
    for t in ts.targets:
        table.add_row(
            t.id,
            t.population,
            f"{t.min_down_mbps:g}",
            str(t.require_gigabit_ready),
            str(t.require_open_network),
            f"{t.share:.1%}",
            t.deadline.isoformat(),
        )
    out.print(table)


@app.command()
def serve(
    runs_dir: Annotated[
        Path, typer.Option(help="Folder holding run folders (env BBPLAN_RUNS_DIR).")
    ] = Path("runs"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    run_if_missing: Annotated[
        bool, typer.Option(help="Run on the default data first if no run exists.")
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (each loads the runs; one per core).")
    ] = 1,
) -> None:
    """Serve the API and the planner map (http://HOST:PORT/map) over the runs in RUNS_DIR."""
    import os

    import uvicorn

    from coverage.runs import list_runs

    if run_if_missing and not list_runs(runs_dir):
        err.print(f"no run in {runs_dir} yet: running on the default data first")
        run(runs_dir=runs_dir)
    os.environ["BBPLAN_RUNS_DIR"] = str(runs_dir)
    from api.app import create_app
    from api.settings import Settings

    try:
        settings = Settings()
    except ValueError as exc:
        _fail(exc)
    # uvicorn's own access log prints paths and query strings (address ids, coordinates): off;
    # the app logs method, route template, status and time instead (bbplan.access).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if workers > 1:  # several processes: uvicorn imports the factory in each
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=False,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)


@app.command("hash-key")
def hash_key_cmd(
    key: Annotated[str, typer.Argument(help="An API key to store hashed in BBPLAN_*_KEY_SHA256.")],
) -> None:
    """Print the sha256 digest of an API key (the settings hold digests, never keys)."""
    from api.security import hash_key

    out.print(hash_key(key), highlight=False)


@app.command()
def version() -> None:
    """Print the bbplan version."""
    from coverage.runs import bbplan_version

    out.print(bbplan_version())


def _parse_date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BBPlanError(
            f"--evaluation-date: expected a date YYYY-MM-DD, found {text!r}"
        ) from None


def _check_crs_option(crs: str | None) -> None:
    """A mistyped --crs is an error even when every input carries its own CRS."""
    if crs is None:
        return
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(crs)
    except CRSError:
        raise BBPlanError(f"--crs: expected a known CRS (e.g. EPSG:3006), found {crs!r}") from None


def _fail(exc: BaseException) -> NoReturn:
    # The message may hold file names and values with brackets: never read it as markup.
    err.print("[bold red]error:[/] ", end="")
    err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
    code = EXIT_INPUT if isinstance(exc, BBPlanError | ValueError) else EXIT_OTHER
    raise typer.Exit(code)


def _print_summary(result: Result) -> None:
    n_rej = len(result.rejected)
    table = Table(title=f"Compliance at {result.evaluation_date.isoformat()}", min_width=100)
    for col in ("target", "population", "share", "threshold", "met", "shortfall"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for f in result.figures["targets"]:
        share = "–" if f["share"] is None else f"{f['share']:.1%}"
        met = "–" if f["met"] is None else ("yes" if f["met"] else "no")
        table.add_row(
            f["id"], f["population"], share, f"{f['threshold']:.1%}", met, str(f["shortfall"])
        )
    Console(width=max(out.width, 110)).print(table)
    out.print(
        f"{len(result.addresses)} addresses used, "
        f"{n_rej} rejected row problem(s) (see rejected.csv)"
    )
    for w in result.warnings:
        out.print("[yellow]warning:[/] ", end="")
        out.print(w, markup=False, highlight=False)


#: Seconds a failed command waits, in all, for the pipeline's threads still running.
BACKGROUND_WAIT_S = 60.0


def _join_background(timeout_s: float) -> None:
    """Wait (up to ``timeout_s`` in all) for the pipeline's own threads (named ``bbplan-…``:
    the network read, the classification beside the areas, the area outlines…) that a
    failed run leaves running. Exiting under them tears down GDAL's, Arrow's or OpenMP's
    threads while one is in use, which aborts the process ("terminate called without an
    active exception", exit -6) instead of exiting with the error's code."""
    deadline = time.monotonic() + timeout_s
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.name.startswith("bbplan-"):
            thread.join(max(deadline - time.monotonic(), 0.0))


#: The console script's finished runs (None in any other caller, e.g. a test's CliRunner).
_finished: list[Result] | None = None


def main() -> None:
    """The CLI as the console script runs it (:func:`coverage._console.main` caps glibc's
    malloc arenas, then calls this).

    After a successful ``run`` the process ends without freeing the run's tables: a
    national run's hold ~3·10⁶ GEOS geometries and 5·10⁶-row columns, whose teardown took
    1.4 s after the run was published and printed. Everything is written, fsynced and
    flushed by then; the operating system takes the memory back at once.
    """
    global _finished
    _finished = []
    try:
        app()
    except SystemExit as done:
        if done.code in (0, None) and _finished:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        _join_background(BACKGROUND_WAIT_S)
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
