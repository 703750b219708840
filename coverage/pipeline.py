"""The one coverage pipeline: inputs -> per-address results -> figures (SPEC §3–§4).

The CLI, the API and the batch scripts all call :func:`compute`; writing the run folder is
:mod:`coverage.runs`. Steps report progress through a callback so the CLI can show bars.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import areas as area_mod
from coverage._errors import InputFileError, SettingsError
from coverage._memory import end_heap_reuse, heap_reuse, release_memory
from coverage._points import XY_COLUMNS, Points, table_xy, with_points
from coverage._text import TEXT_DTYPE, duplicated_all, is_increasing, text_from_codes
from coverage._validate import Problem
from coverage.classify import Classifier, summarise
from coverage.compliance import (
    area_codes,
    every_row_in_order,
    figure,
    figures_by_area,
    records,
    timeline,
)
from coverage.io import (
    REJECTED_COLUMNS,
    ReadResult,
    read_addresses,
    read_areas,
    read_network,
    sha256_file,
)
from coverage.kernel import parallel_threadsafe, sums_by_code
from coverage.plan import DEFAULT_COSTS, Gaps, find_gaps, load_costs
from coverage.schema import OUTSIDE_TATORT_ID
from coverage.settings import CoverageSettings
from coverage.targets import (
    REASON_LABELS,
    REASONS,
    Target,
    TargetResult,
    TargetSet,
    apply_plan_reasons,
    evaluate_year,
    first_pass_year,
    in_scope,
    load_targets,
    merge_target_sets,
    passes_many_at,
    reason_code,
    units,
)

Step = Callable[[str], Any]
T = TypeVar("T")

#: Levels whose per-area figures figures.json repeats under each target's ``by_area``. The grid
#: levels (10⁵-10⁶ squares on a national run) are only in ``areas/<level>.parquet`` and ``.csv``:
#: as JSON they made figures.json 1 GB at 5 M addresses, for figures the tables already hold.
FIGURES_JSON_LEVELS = ("kommun", "tatort", "custom")


@dataclass(frozen=True)
class Inputs:
    """Paths of a run's inputs (SPEC §2)."""

    addresses: Path
    networks: Sequence[Path]
    targets: Sequence[Path]
    areas: Sequence[Path] = ()
    tatorter: Path | None = area_mod.TATORT_POINTS_FILE
    kommuner: Path = area_mod.KOMMUN_FILE
    crs: str | None = None
    costs: Path | None = None


@dataclass
class Result:
    """Everything a run folder holds, in memory.

    ``addresses`` is the per-address table with the coordinates of each address in the
    working CRS as columns (:data:`coverage._points.XY_COLUMNS`), not as point geometries
    (5·10⁶ of them take 1 GB); :meth:`address_points` makes the GeoDataFrame.
    """

    addresses: pd.DataFrame
    network: gpd.GeoDataFrame
    figures: dict[str, Any]
    area_tables: dict[str, gpd.GeoDataFrame]
    timeline: dict[str, Any]
    rejected: pd.DataFrame
    gaps: gpd.GeoDataFrame
    inputs: list[dict[str, Any]]
    targets: list[Target]
    target_sets: list[dict[str, Any]]
    settings: CoverageSettings
    evaluation_date: date
    warnings: list[str] = field(default_factory=list)
    #: Area outlines as maps draw them, by level (:func:`coverage.areas.drawn_outlines`);
    #: levels not here are drawn from their table's outlines when a map is made.
    drawn: dict[str, gpd.GeoSeries] = field(default_factory=dict)

    @property
    def crs(self) -> str:
        """The CRS of every geometry and coordinate of the run (the working CRS)."""
        return self.settings.working_crs

    def address_points(self) -> gpd.GeoDataFrame:
        """The per-address table as a GeoDataFrame of points (as in ``addresses.parquet``)."""
        return with_points(self.addresses, self.crs)


@contextmanager
def _no_progress(label: str) -> Iterator[None]:
    yield


#: Allocations of Python objects between the collector's youngest-generation runs while a
#: run is computed (Python's default: 700). A national run makes millions of short-lived
#: objects (labels, records, GEOS geometries); at the default each older-generation pass
#: walked all live objects often enough to take 2-3 s of a run.
GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic collector runs less often inside (thresholds restored after)."""
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@fewer_collections()
@heap_reuse()
def compute(
    inputs: Inputs,
    settings: CoverageSettings,
    evaluation_date: date,
    step: Callable[[str], Any] = _no_progress,
    engine: str = "memory",
    scheduler: str | None = None,
    partitions: int = 8,
    on_addresses: Callable[[pd.DataFrame, list[Target], str], Any] | None = None,
    on_gaps: Callable[[gpd.GeoDataFrame], Any] | None = None,
    on_area_tables: Callable[[dict[str, gpd.GeoDataFrame]], Any] | None = None,
) -> Result:
    """Read, validate, classify, evaluate targets and aggregate.

    Parameters
    ----------
    inputs
        Input paths.
    settings
        Distance rules and technology table.
    evaluation_date
        Elements planned or under construction count from their ``year`` on.
    step
        A context-manager factory called with a label for each step (progress display).
    engine
        ``memory`` (this process, all cores) or ``dask`` (the spatial step on a Dask cluster:
        ``scheduler`` address, or a local cluster of two workers; ``partitions`` spatial
        partitions of the addresses). Both give identical results.
    on_addresses
        Called with the final address table (the result's ``addresses``), the targets and
        the CRS of its coordinates as soon as they are known, before aggregation and gaps:
        :class:`coverage.runs.RunWriter` writes ``addresses.parquet`` then and starts its
        GeoPackage child, which runs meanwhile.
    on_gaps
        Called with the gap clusters (the result's ``gaps``) as soon as they are found, on
        the thread that found them: the run writer starts writing ``gaps.parquet`` then,
        not in the run's tail. An error it raises fails the run.
    on_area_tables
        Called with the area tables (the result's ``area_tables``) as soon as they are
        aggregated, the grid levels' still without outlines (made after, when the gap search
        is done): the run writer starts writing their CSVs then. The tables' columns do not
        change afterwards; only the grid levels' outlines are added.

    Returns
    -------
    Result
    """
    with step("Reading targets"):
        sets = [load_targets(p) for p in inputs.targets]
        targets = merge_target_sets(sets)
        costs = load_costs(inputs.costs)
    # The network is read on a thread while the addresses are read: both are mostly Arrow's
    # decoding and GEOS, which release the GIL, and one core sat idle through each. Its
    # errors come when its step asks for it, after any in the addresses.
    networks = _in_background(partial(_read_networks, inputs, settings), "bbplan-network")
    with step("Reading address points"):
        addr = read_addresses(
            inputs.addresses,
            crs=inputs.crs,
            working_crs=settings.working_crs,
            max_bytes=settings.max_input_bytes,
            coordinates=True,  # the coordinates from here on (coverage._points)
        )
        # The read result keeps its problems and file information, not the table (an empty
        # copy: a slice would be a view keeping all of it alive).
        frame, addr = addr.frame, replace(addr, frame=addr.frame.iloc[:0].copy())
        release_memory()
    with step("Reading network"):
        nets, network, cross_rejects = networks.result()
    classifying: list[Callable[[], Classifier]] = []

    def classify_kept(kept: pd.DataFrame) -> None:
        classifying.append(_classifying(kept, network, settings, engine, scheduler, partitions))

    with step("Assigning areas"):
        # In address-id order from here on, the order of every per-address output: sorting
        # the read columns costs a third of sorting the final table (5·10⁶ random gathers
        # per column are memory-bound). Results never depend on row order. The table as
        # read is freed here, before the classification starts beside the areas.
        frame = _by_address_id(frame)
        frame, memberships, outlines, area_rejects, area_infos = _assign_areas(
            frame, inputs, settings, on_kept=classify_kept
        )
    # The area outlines are made in the background from here on: GEOS releases the GIL,
    # and aggregation is the first step to need them. The grid squares (10⁶ polygons
    # nationally, 0.6 GB) only once the gap search is done: the tables are aggregated
    # without them, the peak of both steps at once is lower. Each of the others is drawn
    # for maps with it (simplified, in EPSG:4326): 2-5 s of GEOS for the national tätorter,
    # done beside the classification, where a core is often free.
    squares = {level: outlines.pop(level) for level in area_mod.GRID_SIZES_M}
    layer_jobs = {level: _in_background(partial(_drawn, make)) for level, make in outlines.items()}
    with step("Classifying addresses"):
        classifier = classifying.pop()()  # popped: the future would keep the classifier
        plan_years = classifier.plan_years(evaluation_date.year)
        # Later years and the sensitivity rules need only pass/fail: decided from the pairs,
        # every plan year and every homes-passed distance in one pass, on a thread beside
        # the evaluation year's summary and targets (single-threaded Arrow and NumPy: a core
        # was idle through them); started after its candidate table, a compiled parallel
        # loop they would only contend with. Both only read the classifier.
        sensitivity_rules = settings.sensitivity_rules()
        scenarios = [(y, settings) for y in plan_years]
        scenarios += [(evaluation_date.year, rules) for _, rules in sensitivity_rules]
        # The evaluation year's targets and best offers, without its candidate table (1 GB
        # nationally, written once and read four times): made a block at a time, in cache.
        now, offers = evaluate_year(classifier, targets, evaluation_date.year)
        marking = _marking(classifier, targets, scenarios)
        # The network's output table (0.3 s nationally) waits for nothing but the gap search,
        # the first to need it: made meanwhile, where the marks leave a core half idle.
        network_job = _in_background(
            partial(_network_output, network, evaluation_date.year), "bbplan-network"
        )
        summary = summarise(offers, network, settings)
        del offers
    with step("Evaluating targets"):
        passed = marking()
        # The classifier's pairs (0.5 GB nationally) are not needed from here on: freed
        # before the per-address table is built, the run's memory peak.
        del classifier, marking
        future = list(zip(plan_years, passed[: len(plan_years)], strict=True))
        at_distance = [
            (d, p) for (d, _), p in zip(sensitivity_rules, passed[len(plan_years) :], strict=True)
        ]
        table, _, weights_by_target = _evaluate_targets(
            frame, summary, targets, (evaluation_date.year, now), future
        )
        # The table holds what is needed from here on.
        del now, summary, frame, passed, future
    overall = {t.id: _overall(table, t, weights_by_target[t.id]) for t in targets}
    in_service = network_job.result()
    fibre = in_service[(in_service["technology"] == "fibre") & in_service["in_service"]]
    shortfalls = {tid: int(f["shortfall"]) for tid, f in overall.items()}
    make_gaps = _released(
        partial(
            _found_gaps,
            # The classification's fibre distances (in service at the evaluation year, as
            # `fibre`) spare the gap search most of its search for each one's link to fibre.
            partial(find_gaps, table, targets, fibre, costs, shortfalls, _fibre_distance(table)),
            on_gaps,
        )
    )
    # The gaps need only the targets' marks and shortfalls: found on a thread beside the
    # address outputs and the aggregation (their Arrow writers and much of the gap search
    # release the GIL), where two threads may run compiled parallel loops at once.
    gaps_job = _in_background(make_gaps, "bbplan-gaps") if parallel_threadsafe() else None
    # The classifier's memory back to the system, and from here on the large blocks that
    # long-lived arrays free too: the address outputs and the aggregation, beside the
    # GeoPackage child, are the run's memory peak.
    end_heap_reuse()
    if on_addresses is not None:
        with step("Writing address outputs"):
            on_addresses(table, targets, settings.working_crs)
            release_memory()  # the writers'
    with step("Aggregating figures"):
        made_layers = {level: job.result() for level, job in layer_jobs.items()}
        layers: dict[str, gpd.GeoDataFrame | None] = {
            level: layer for level, (layer, _) in made_layers.items()
        }
        layers.update(dict.fromkeys(squares))
        drawn = {level: outlines for level, (_, outlines) in made_layers.items()}
        figures, area_tables = _aggregate(
            table, targets, weights_by_target, memberships, layers, overall
        )
        # Each level's members of every address are summed now: freed before the gap
        # clusters are written and the grid squares made, where the main process peaked
        # (5,683 → 5,463 MiB there in a traced national run). Made while the heap was
        # reused (coverage._memory.heap_reuse), they are released from it here.
        del memberships
        release_memory()
        if on_area_tables is not None:
            on_area_tables(dict(area_tables))
        sensitivity = _sensitivity(at_distance, table, targets, weights_by_target)
        tl = {
            t.id: timeline(
                t,
                weights_by_target[t.id],
                table[f"pass_{t.id}"].to_numpy(),
                table[f"pass_year_{t.id}"].to_numpy(dtype=float, na_value=np.nan),
                evaluation_date.year,
                plan_years,
            )
            for t in targets
        }
    with step("Finding gaps and costs"):
        gaps = make_gaps() if gaps_job is None else gaps_job.result()
        made = {level: _in_background(make) for level, make in squares.items()}
        for level, job in made.items():
            area_tables[level] = _with_outlines(area_tables[level], job.result())
    rejected = pd.concat(
        [
            addr.rejected_frame("addresses"),
            *[r.rejected_frame("network") for r in nets],
            cross_rejects,
            area_rejects,
        ],
        ignore_index=True,
    )
    rejected = rejected.astype(object).where(rejected.notna(), None)
    infos = [
        {"role": "addresses", **addr.info},
        *[{"role": "network", **r.info} for r in nets],
        *area_infos,
    ]
    infos += [{"role": "targets", "path": str(p), "sha256": sha256_file(p)} for p in inputs.targets]
    cost_file = inputs.costs or DEFAULT_COSTS
    infos.append({"role": "costs", "path": str(cost_file), "sha256": sha256_file(cost_file)})
    _subtract_cross_rejects(infos, cross_rejects, area_rejects)
    return Result(
        addresses=table,
        network=in_service,
        figures={
            "targets": figures,
            "reasons": REASONS,
            "sensitivity": sensitivity,
            "gaps": {"cost_model": costs.model_dump(), "targets": gaps.selection},
            "area_tables": {level: f"areas/{level}.parquet" for level in area_tables},
        },
        gaps=gaps.clusters,
        area_tables=area_tables,
        timeline={"evaluation_year": evaluation_date.year, "plan_years": plan_years, "targets": tl},
        rejected=rejected,
        inputs=infos,
        targets=targets,
        target_sets=[_set_info(s, p) for s, p in zip(sets, inputs.targets, strict=True)],
        settings=settings,
        evaluation_date=evaluation_date,
        warnings=[w for r in (addr, *nets) for w in r.info.get("warnings", [])],
        drawn=drawn,
    )


def _classifier(
    frame: pd.DataFrame,
    network: gpd.GeoDataFrame,
    settings: CoverageSettings,
    engine: str,
    scheduler: str | None,
    partitions: int,
) -> Classifier:
    if engine == "memory":
        return Classifier(frame, network, settings)
    if engine != "dask":
        raise SettingsError(f"--engine: expected 'memory' or 'dask', found {engine!r}")
    from coverage.distributed import dask_client, dask_pairs

    with dask_client(scheduler) as client:
        return Classifier(frame, network, settings, pairs_fn=dask_pairs(client, partitions))


def _classifying(
    kept: pd.DataFrame,
    network: gpd.GeoDataFrame,
    settings: CoverageSettings,
    engine: str,
    scheduler: str | None,
    partitions: int,
) -> Callable[[], Classifier]:
    """The classifier of the ``kept`` addresses: made from now on, on a thread of its own,
    when two threads may run compiled parallel loops at once (the memory engine: the areas'
    own loops run meanwhile), else when asked. Only the coordinates and ``connected`` are
    handed over, as a frame of their own: the caller goes on adding columns to ``kept``."""
    own = kept[[*XY_COLUMNS, "connected"]]
    make = partial(_classifier, own, network, settings, engine, scheduler, partitions)
    if engine != "memory" or not parallel_threadsafe():
        return make
    return _in_background(make, "bbplan-classify").result


def _marking(
    classifier: Classifier,
    targets: list[Target],
    scenarios: list[tuple[int, CoverageSettings]],
) -> Callable[[], list[dict[str, np.ndarray[Any, np.dtype[np.bool_]]]]]:
    """The pass marks of every (year, rules) scenario (:func:`passes_many_at`): made from
    now on, on a thread of its own, when two threads may run compiled parallel loops at
    once, else when asked."""
    make = partial(passes_many_at, classifier, targets, scenarios)
    if not parallel_threadsafe():
        return make
    return _in_background(make, "bbplan-passes").result


def _fibre_distance(table: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The address table's distance to the nearest fibre in service (NaN: none within the
    search radius), as floats."""
    return table["fibre_distance_m"].to_numpy(dtype=np.float64, na_value=np.nan)


def _network_output(network: gpd.GeoDataFrame, year: int) -> gpd.GeoDataFrame:
    """The used network with its in-service flag at the evaluation year, sorted by id."""
    out = network.drop(columns=[c for c in ("_row",) if c in network.columns])
    years = out["year"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    out["in_service"] = (out["status"] == "existing").to_numpy() | (years <= year)
    return out.sort_values("segment_id", kind="stable").reset_index(drop=True)


def _set_info(target_set: TargetSet, path: Path) -> dict[str, Any]:
    return {
        "name": target_set.name,
        "source": target_set.source,
        "path": str(path),
        "targets": [t.id for t in target_set.targets],
    }


def _read_networks(
    inputs: Inputs, settings: CoverageSettings
) -> tuple[list[ReadResult], gpd.GeoDataFrame, pd.DataFrame]:
    """Every network file read, and the one network table they make (with its rejects)."""
    nets = [
        read_network(
            p,
            crs=inputs.crs,
            working_crs=settings.working_crs,
            max_bytes=settings.max_input_bytes,
        )
        for p in inputs.networks
    ]
    return (nets, *_combine_networks(nets))


def _combine_networks(results: list[ReadResult]) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """One network table; an id used in two files is rejected in both (no winner by order)."""
    frames = []
    for r in results:
        f = r.frame.copy()
        f["_file"] = r.info["path"]
        frames.append(f)
    net = gpd.GeoDataFrame(
        pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs
    )
    dup = duplicated_all(net["segment_id"])
    problems = [
        Problem(
            str(f),
            "a segment id unique across all network files",
            row=int(row),
            row_id=str(sid),
            column="segment_id",
            value=str(sid),
        ).as_record("network")
        for f, sid, row in zip(
            net.loc[dup, "_file"], net.loc[dup, "segment_id"], net.loc[dup, "_row"], strict=True
        )
    ]
    keep = net.loc[~dup].drop(columns="_file").reset_index(drop=True)
    return gpd.GeoDataFrame(keep, geometry="geometry", crs=net.crs), pd.DataFrame(
        problems, columns=REJECTED_COLUMNS
    )


def _subtract_cross_rejects(infos: list[dict[str, Any]], *rejects: pd.DataFrame) -> None:
    """Keep manifest row counts honest when rows are rejected after their file was read."""
    for rej in rejects:
        for path, count in rej.groupby("file").size().items():
            for info in infos:
                if info.get("path") == path and info["role"] in ("addresses", "network"):
                    info["rows_used"] -= int(count)
                    info["rows_rejected"] += int(count)


def _by_address_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in address-id order (as ``sort_values`` orders text); as they are if so."""
    if is_increasing(frame["address_id"]):
        return frame
    order = frame["address_id"].argsort(kind="stable").to_numpy()  # sort_values' own order
    return frame.take(order).reset_index(drop=True)


def _found_gaps(
    find: Callable[[], Gaps], on_gaps: Callable[[gpd.GeoDataFrame], Any] | None
) -> Gaps:
    """The gaps, handed to ``on_gaps`` as soon as they are found."""
    gaps = find()
    if on_gaps is not None:
        on_gaps(gaps.clusters)
    return gaps


def _released(make: Callable[[], T]) -> Callable[[], T]:
    """``make`` followed by :func:`coverage._memory.release_memory`."""

    def run() -> T:
        out = make()
        release_memory()
        return out

    return run


def _in_background(make: Callable[[], T], name: str = "bbplan-layer") -> Future[T]:
    """``make()`` on a thread of its own; its result (or error) comes with the future. For
    work needed only later in the pipeline that releases the GIL for much of its time (GEOS,
    compiled loops, Arrow)."""
    job: Future[T] = Future()

    def work() -> None:
        try:
            job.set_result(make())
        except BaseException as exc:  # handed to whoever waits for the result
            job.set_exception(exc)

    # A daemon: a run that fails meanwhile does not wait for results nobody will use.
    threading.Thread(target=work, name=name, daemon=True).start()
    return job


def _same(value: T) -> T:
    return value


def _drawn(make: Callable[[], gpd.GeoDataFrame]) -> tuple[gpd.GeoDataFrame, gpd.GeoSeries]:
    """An area layer and its outlines as maps draw them."""
    layer = make()
    return layer, area_mod.drawn_outlines(layer)


def _assign_areas(
    addresses: pd.DataFrame,
    inputs: Inputs,
    settings: CoverageSettings,
    on_kept: Callable[[pd.DataFrame], Any] | None = None,
) -> tuple[
    pd.DataFrame,
    dict[str, pd.DataFrame],
    dict[str, Callable[[], gpd.GeoDataFrame]],
    pd.DataFrame,
    list[dict[str, Any]],
]:
    """Add kommun, tätort and grid ids; drop (and reject) addresses outside every kommun.
    The area layers (outlines) come as functions making them: tätort extents and grid
    squares take long and are made later (:func:`compute`). ``on_kept`` is called with the
    kept rows (the returned frame's, before its area columns) as soon as they are known."""
    kommuner = area_mod.read_kommuner(inputs.kommuner, settings.working_crs)
    frame = addresses.copy(deep=False)  # copy-on-write: new columns never reach the caller
    xy = table_xy(frame)
    # Grid squares and tätort polygons depend on each address alone: found for every row on
    # other threads while the kommuner are assigned (numpy, GEOS and Arrow release the GIL),
    # the kept rows taken after.
    grid_job = _in_background(partial(_grid_cells, xy))
    tat = None
    if inputs.tatorter is not None:
        tat = area_mod.read_tatorter(inputs.tatorter, settings.working_crs)
        tatort_job = _in_background(partial(area_mod.tatort_rows, xy, tat))
    frame["kommun_code"] = area_mod.assign_kommun(xy, frame["kommun_code"], kommuner)
    outside = (frame["kommun_code"] == "").to_numpy()
    outside_rejects = _outside_kommuner(frame, xy, outside, inputs.addresses)
    problems: list[dict[str, Any]] = []
    if outside.all():
        raise InputFileError(
            str(inputs.addresses),
            [
                Problem(
                    str(inputs.addresses),
                    f"at least one address in a Swedish kommun (all {len(frame)} usable "
                    f"addresses lie more than {area_mod.KOMMUN_SNAP_M:.0f} m outside every "
                    f"kommun of {inputs.kommuner})",
                )
            ],
        )
    problems += [p.as_record("kommuner") for p in kommuner.rejected]
    # The grid ids of the kept rows, factorised, on another thread while the tätorter are
    # extended here: 5·10⁶ text ids taken and factorised twice took a second.
    kept_grid_job = _in_background(partial(_kept_grid_ids, grid_job, ~outside))
    frame = frame.loc[~outside].reset_index(drop=True)
    xy = xy[~outside]
    if on_kept is not None:
        on_kept(frame)
    infos: list[dict[str, Any]] = [
        {"role": "kommuner", "path": str(inputs.kommuner), "sha256": sha256_file(inputs.kommuner)}
    ]
    layers: dict[str, Callable[[], gpd.GeoDataFrame]] = {"kommun": partial(_same, kommuner.areas)}
    if tat is not None:
        gap = area_mod.TATORT_GAP_M if tat.from_points else None
        rows = tatort_job.result()[~outside]
        frame["tatort_code"] = area_mod.assign_tatort(xy, tat, gap_m=gap, rows=rows)
        layers["tatort"] = partial(_tatort_layer, xy, frame["tatort_code"], tat)
        problems += [p.as_record("tatorter") for p in tat.rejected]
        infos.append(
            {"role": "tatorter", "path": tat.source, "sha256": sha256_file(Path(tat.source))}
        )
    else:
        frame["tatort_code"] = OUTSIDE_TATORT_ID
    rural = (frame["tatort_code"] == OUTSIDE_TATORT_ID).to_numpy()
    frame["urban_rural"] = text_from_codes(rural.astype(np.int8), ("tatort", "rural"))
    positions = np.arange(len(frame))
    members = {
        level: _membership(positions, frame[col])
        for level, col in (("kommun", "kommun_code"), ("tatort", "tatort_code"))
    }
    grid_ids = kept_grid_job.result()
    for level in area_mod.GRID_SIZES_M:
        cells, frame[level], areas = grid_ids[level]
        members[level] = pd.DataFrame({"position": positions, "area_id": areas})
        # Only the squares' ids and corners are kept for their outlines, not the codes.
        squares = replace(cells, codes=cells.codes[:0])
        layers[level] = partial(_grid_layer, squares, settings.working_crs)
    custom = _custom_areas(xy, inputs, settings, infos, problems)
    if custom is not None:
        members["custom"], layers["custom"] = custom[0], partial(_same, custom[1])
    rejects = pd.concat([outside_rejects, pd.DataFrame(problems, columns=REJECTED_COLUMNS)])
    return frame, members, layers, rejects.reset_index(drop=True), infos


def _outside_kommuner(
    frame: pd.DataFrame,
    xy: np.ndarray[Any, np.dtype[np.float64]],
    outside: np.ndarray[Any, np.dtype[np.bool_]],
    path: Path,
) -> pd.DataFrame:
    """``rejected.csv`` rows of the addresses outside every kommun, in file order (made as
    columns: 10⁵ of them one by one took a second)."""
    far = np.flatnonzero(outside)
    far = far[np.argsort(frame["_row"].to_numpy()[far], kind="stable")]
    x, y = xy[far, 0].tolist(), xy[far, 1].tolist()
    expected = f"a location in a Swedish kommun (or within {area_mod.KOMMUN_SNAP_M:.0f} m of one)"
    columns = {
        "file": str(path),
        "layer": "addresses",
        "row": frame["_row"].to_numpy()[far].astype(np.int64),
        "id": frame["address_id"].to_numpy()[far].astype(str),
        "column": "geometry",
        "value": [f"x={a:.1f}, y={b:.1f} (EPSG:3006)" for a, b in zip(x, y, strict=True)],
        "reason": f"expected {expected}",
    }
    return pd.DataFrame(columns, index=pd.RangeIndex(len(far)), columns=REJECTED_COLUMNS)


def _grid_cells(xy: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, area_mod.GridCells]:
    return {level: area_mod.grid_cells(xy, size) for level, size in area_mod.GRID_SIZES_M.items()}


def _kept_grid_ids(
    every: Future[dict[str, area_mod.GridCells]], kept: np.ndarray[Any, np.dtype[np.bool_]]
) -> dict[str, tuple[area_mod.GridCells, pd.Series, pd.Categorical]]:
    """Each grid level's squares of the ``kept`` rows (of the squares of ``every`` row), and
    their ids as text and factorised (as :func:`_membership` does)."""
    out = {}
    for level, cells in every.result().items():
        kept_cells = cells.subset(kept)
        out[level] = (kept_cells, pd.Series(kept_cells.text()), kept_cells.categorical())
    return out


def _tatort_layer(points: Points, codes: pd.Series, tat: area_mod.AreaLayer) -> gpd.GeoDataFrame:
    polys = area_mod.tatort_extent(points, codes, tat) if tat.from_points else tat.areas
    return polys.drop(columns=[c for c in ("centre",) if c in polys.columns])


def _grid_layer(cells: area_mod.GridCells, crs: str) -> gpd.GeoDataFrame:
    return cells.squares().to_crs(crs)


def _custom_areas(
    xy: np.ndarray[Any, np.dtype[np.float64]],
    inputs: Inputs,
    settings: CoverageSettings,
    infos: list[dict[str, Any]],
    problems: list[dict[str, Any]],
) -> tuple[pd.DataFrame, gpd.GeoDataFrame] | None:
    if not inputs.areas:
        return None
    several = len(inputs.areas) > 1
    pairs, polys = [], []
    for path in inputs.areas:
        layer = read_areas(
            path,
            crs=inputs.crs,
            working_crs=settings.working_crs,
            max_bytes=settings.max_input_bytes,
        )
        prefix = f"{Path(path).stem}:" if several else ""
        pairs.append(area_mod.custom_membership(xy, layer, prefix))
        poly = layer.frame[["area_id", "name", "geometry"]].copy()
        poly["area_id"] = prefix + poly["area_id"].astype(str)
        polys.append(poly)
        infos.append({"role": "areas", **layer.info})
        problems += [p.as_record("areas") for p in layer.rejected]
    merged = gpd.GeoDataFrame(
        pd.concat(polys, ignore_index=True), geometry="geometry", crs=settings.working_crs
    )
    both = pd.concat(pairs, ignore_index=True)
    return _membership(both["position"].to_numpy(), both["area_id"]), merged


def _membership(positions: np.ndarray[Any, Any], area_ids: pd.Series) -> pd.DataFrame:
    """Address position and area id pairs of one level, the ids factorised once (sorted
    categories) so that every target's figures and the level's totals sum by code. Text ids
    are factorised in Arrow (3x faster than as Python strings)."""
    ids = pd.Categorical(area_ids.astype(TEXT_DTYPE))
    return pd.DataFrame({"position": positions, "area_id": ids})


def _evaluate_targets(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    targets: list[Target],
    now: tuple[int, dict[str, TargetResult]],
    future: Iterable[tuple[int, dict[str, np.ndarray[Any, np.dtype[np.bool_]]]]],
) -> tuple[pd.DataFrame, list[str], dict[str, np.ndarray[Any, np.dtype[np.int64]]]]:
    """Per-address pass/reason/pass-year columns for every target (``now``: the evaluation
    year and each target's result then, :func:`coverage.targets.evaluate`; ``future``: each
    plan year, in order, with whether each address passes each target then)."""
    table = pd.concat([frame.reset_index(drop=True), summary], axis=1)
    cols: dict[str, Any] = {}
    weights: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
    later: dict[str, list[tuple[int, np.ndarray[Any, np.dtype[np.bool_]]]]] = {
        t.id: [] for t in targets
    }
    for year, passed_then in future:
        for t in targets:
            later[t.id].append((year, passed_then[t.id]))
    for t in targets:
        result = now[1][t.id]
        pass_year = first_pass_year(later[t.id], len(frame))
        pass_year[result.passed] = now[0]
        reason = apply_plan_reasons(t, result.reason_code, pass_year, result.passed)
        scope = in_scope(t, table)
        reason[~scope] = reason_code("out_of_scope")
        passed = result.passed & scope
        cols[f"pass_{t.id}"] = passed
        cols[f"reason_{t.id}"] = text_from_codes(reason, REASON_LABELS)
        # Years and a mask, not a cast of NaN to Int64: pandas silences that cast's numpy
        # warning with warnings.catch_warnings, which is not thread-safe, and the area
        # outlines are being made on other threads meanwhile (the warning then leaked out).
        missing = ~scope | np.isnan(pass_year)
        years = np.where(missing, 0, pass_year).astype(np.int64)
        cols[f"pass_year_{t.id}"] = pd.arrays.IntegerArray(years, missing)
        weights[t.id] = np.where(scope, units(table, t.population).to_numpy(), 0).astype(np.int64)
    return pd.concat([table, pd.DataFrame(cols)], axis=1), list(cols), weights


def _aggregate(
    table: pd.DataFrame,
    targets: list[Target],
    weights: dict[str, np.ndarray[Any, np.dtype[np.int64]]],
    memberships: dict[str, pd.DataFrame],
    layers: dict[str, gpd.GeoDataFrame | None],
    overall: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, gpd.GeoDataFrame]]:
    """Per-area figures for every target, with its ``overall`` figure (:func:`_overall`);
    wide per-area tables for every level (a level whose layer is None gets its areas' ids as
    names and no outlines yet: :func:`_with_outlines`)."""
    per_level: dict[str, list[pd.DataFrame]] = {level: [] for level in memberships}
    by_target: dict[str, dict[str, pd.DataFrame]] = {t.id: {} for t in targets}
    for level, members in memberships.items():
        # The level's codes once for every target (one level's at a time: 40 MB each).
        codes = area_codes(members["area_id"])
        for t in targets:
            passed = table[f"pass_{t.id}"].to_numpy()
            fa = figures_by_area(t, weights[t.id], passed, members, codes)
            by_target[t.id][level] = fa
            per_level[level].append(fa.set_index("area_id").add_prefix(f"{t.id}__"))
        del codes
    figures = [{**_target_meta(t), **overall[t.id]} for t in targets]
    kommuner = layers["kommun"]
    if kommuner is None:
        raise ValueError("the kommun layer is needed before the other area tables")
    kommun_names = dict(zip(kommuner["area_id"], kommuner["name"], strict=True))
    units = _AddressUnits.of(table, memberships["kommun"])
    tables = {
        level: _area_table(level, layers[level], memberships[level], units, parts, kommun_names)
        for level, parts in per_level.items()
    }
    names = {  # for figures.json's levels only (a grid level's 10⁶ ids are not listed there)
        level: tab.drop_duplicates("area_id", keep="last").set_index("area_id")["name"]
        for level, tab in tables.items()
        if level in FIGURES_JSON_LEVELS
    }
    for f in figures:
        f["by_area"] = {
            level: _records(fa, names[level])
            for level, fa in by_target[f["id"]].items()
            if level in FIGURES_JSON_LEVELS
        }
    return figures, tables


def _overall(
    table: pd.DataFrame, target: Target, weights: np.ndarray[Any, np.dtype[np.int64]]
) -> dict[str, Any]:
    """A target's figure over every address (units, share, met, shortfall)."""
    passed = table[f"pass_{target.id}"].to_numpy()
    return figure(float(weights[passed].sum()), float(weights.sum()), target.share)


def _records(frame: pd.DataFrame, names: pd.Series) -> list[dict[str, Any]]:
    """Rows of one level's figures, each with its area's name (the id when it has none)."""
    named = frame["area_id"].map(names)
    return records(frame.assign(name=named.where(named.notna(), frame["area_id"])))


def _sensitivity(
    at_distance: list[tuple[float, dict[str, np.ndarray[Any, np.dtype[np.bool_]]]]],
    table: pd.DataFrame,
    targets: list[Target],
    weights: dict[str, np.ndarray[Any, np.dtype[np.int64]]],
) -> list[dict[str, Any]]:
    """Every target's figure, overall and in/outside tätort, at each homes-passed distance
    (``at_distance``: the distance and whether each address passes each target then)."""
    urban = (table["urban_rural"] == "tatort").to_numpy().astype(np.int64)
    out = []
    for d, passed in at_distance:
        per_target = {}
        for t in targets:
            # Units outside (0) and in (1) tätort, all and passing, in one pass.
            den, num = sums_by_code(urban, weights[t.id], 2, passed[t.id])
            per_target[t.id] = {
                **figure(float(num.sum()), float(den.sum()), t.share),
                "tatort": figure(float(num[1]), float(den[1]), t.share),
                "outside_tatort": figure(float(num[0]), float(den[0]), t.share),
            }
        out.append({"passed_distance_m": d, "targets": per_target})
    return out


def _target_meta(t: Target) -> dict[str, Any]:
    return {
        "id": t.id,
        "label": t.label,
        "population": t.population,
        "min_down_mbps": t.min_down_mbps,
        "require_gigabit_ready": t.require_gigabit_ready,
        "require_open_network": t.require_open_network,
        "count_access": t.count_access,
        "deadline": t.deadline.isoformat(),
        "scope": t.scope.model_dump(),
    }


@dataclass(frozen=True)
class _AddressUnits:
    """What every level's area table sums or votes on, per address, made once for all
    levels: unit counts (None: one per address) and the kommun as a code.

    The counts are the table's own columns, not float copies (190 MB nationally, held while
    the aggregation and the gap search peak together), summed as integers by
    :func:`coverage.kernel.sums_by_code`."""

    counts: dict[str, np.ndarray[Any, Any] | None]
    kommun: np.ndarray[Any, np.dtype[np.intp]]
    kommun_ids: np.ndarray[Any, Any]

    @classmethod
    def of(cls, table: pd.DataFrame, kommun: pd.DataFrame) -> _AddressUnits:
        counts = {
            "addresses": None,
            "households": table["households"].to_numpy(dtype=np.int64),
            "workplaces": table["workplaces"].to_numpy(dtype=np.int64),
            "holiday_homes": table["holiday_homes"].to_numpy(dtype=np.int64),
            "public_sites": (table["public_site"] != "").to_numpy(dtype=bool, na_value=True),
        }
        codes, ids = area_codes(kommun["area_id"])
        of_address = np.empty(len(table), dtype=np.intp)
        of_address[kommun["position"].to_numpy()] = codes
        return cls(counts, of_address, ids)


def _area_table(
    level: str,
    polys: gpd.GeoDataFrame | None,
    members: pd.DataFrame,
    units: _AddressUnits,
    parts: list[pd.DataFrame],
    kommun_names: dict[str, str],
) -> gpd.GeoDataFrame:
    """One row per area holding addresses: kommun code and name, unit totals and, per target,
    the figure columns."""
    pos = members["position"].to_numpy()
    whole = every_row_in_order(pos, len(units.kommun))
    codes, ids = area_codes(members["area_id"])
    totals = pd.DataFrame(
        {
            k: _unit_sums(codes, v, len(ids), None if whole else pos)
            for k, v in units.counts.items()
        },
        index=pd.Index(ids, name="area_id"),
    )
    wide = pd.concat([totals, *parts], axis=1).reset_index().rename(columns={"index": "area_id"})
    if polys is None:
        out = wide.assign(name=wide["area_id"], geometry=None)
    else:
        geo = polys[["area_id", "name", "geometry"]].drop_duplicates("area_id")
        out = wide.merge(geo, on="area_id", how="left")
    if level == "tatort":
        out.loc[out["area_id"] == OUTSIDE_TATORT_ID, "name"] = "Utanför tätort"
    if level != "kommun":
        # The kommun holding most of the area's addresses (the lowest code on ties), so every
        # table can be filtered by kommun. ``out`` has one row per area in code order (the
        # totals' index, kept by the merges), and every area holds addresses.
        areas, kommun = area_mod.majority_code(codes, units.kommun[pos], len(units.kommun_ids))
        main = np.full(len(ids), None, dtype=object)
        main[areas] = np.asarray(units.kommun_ids, dtype=object)[kommun]
        out["kommun_code"] = main
    else:
        out["kommun_code"] = out["area_id"]
    out["name"] = out["name"].fillna(out["area_id"])
    out["kommun_name"] = out["kommun_code"].map(kommun_names)
    out.insert(0, "area_level", level)
    lead = ["area_level", "area_id", "name", "kommun_code", "kommun_name"]
    cols = lead + [c for c in out.columns if c not in (*lead, "geometry")]
    crs = None if polys is None else polys.crs
    # No copy: ``out`` is this function's own (a copy took 1.6 s of a national run's tables).
    return gpd.GeoDataFrame(out[[*cols, "geometry"]], geometry="geometry", crs=crs, copy=False)


def _unit_sums(
    codes: np.ndarray[Any, Any],
    counts: np.ndarray[Any, Any] | None,
    n: int,
    positions: np.ndarray[Any, Any] | None = None,
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Per area (``codes``: each member's area, ``n`` areas) the sum of ``counts`` (one per
    address when None) of its members (addresses ``positions``, None: one row per address in
    order), as integers."""
    if counts is None:
        return np.bincount(codes, minlength=n).astype(np.int64, copy=False)
    return sums_by_code(codes, counts, n, positions=positions)[0]


def _with_outlines(table: gpd.GeoDataFrame, polys: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """An area table made without outlines, with those of ``polys`` (by ``area_id``)."""
    geo = polys.drop_duplicates("area_id").set_index("area_id").geometry
    outlines = geo.reindex(pd.Index(table["area_id"])).to_numpy()
    return table.set_geometry(gpd.GeoSeries(outlines, index=table.index, crs=polys.crs))
