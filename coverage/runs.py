"""Run folders: immutable, written atomically, checked against their manifest (SPEC §6).

A run is written into ``runs/.tmp-<run_id>-<random>/`` and renamed to ``runs/<run_id>/``
only when every file is complete, so a failed or killed run never leaves a partial run
behind. ``manifest.json`` records the sha256 of every output file, so a reader can refuse a
folder whose files were changed afterwards.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson
import pandas as pd

from coverage._errors import RunExistsError, RunIntegrityError, RunNotFoundError
from coverage._files import Settled, settle, sha256_file
from coverage._text import is_increasing, text_from_codes
from coverage.schema import TECHNOLOGIES

if TYPE_CHECKING:  # the API reads runs without loading the engine, charts or maps
    import geopandas as gpd

    from coverage.pipeline import Result
    from coverage.targets import Target

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
T = TypeVar("T")

TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
#: The address table as an Arrow IPC file in a run's temporary folder, read by the
#: GeoPackage child and removed once it is done (never part of a run).
GPKG_FEED = ".addresses.arrow"
#: The PTS-style per-address export, relative to a run folder.
EXPORTS_CSV = Path("exports") / "pts_addresses.csv"
SCHEMA_VERSION = 1

#: Leading columns of addresses.parquet, in order (the contract the API and dashboards read).
ADDRESS_OUTPUT_COLUMNS = [
    "address_id",
    "households",
    "workplaces",
    "holiday_homes",
    "public_site",
    "connected",
    "kommun_code",
    "tatort_code",
    "urban_rural",
    "grid_250m",
    "grid_1km",
    "access",
    "technology",
    "distance_m",
    "max_down_mbps",
    "upgradeable_to_mbps",
    "gigabit_ready",
    "open_network",
    "segment_id",
    *[f"{t}_distance_m" for t in TECHNOLOGIES],
    "address",
    "postcode",
]


def bbplan_version() -> str:
    """Installed bbplan version."""
    try:
        return metadata.version("bbplan")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def validate_run_id(run_id: str) -> str:
    """Run ids name folders: letters, digits, ``.``, ``_``, ``-``; no path tricks."""
    if not RUN_ID_PATTERN.fullmatch(run_id) or run_id.startswith(TMP_PREFIX):
        raise ValueError(
            f"run id {run_id!r}: expected 1–80 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return run_id


def check_new_run(runs_dir: Path, run_id: str) -> str:
    """Validate a requested run id and check it is free (call before a long computation)."""
    validate_run_id(run_id)
    final = Path(runs_dir) / run_id
    if final.exists():
        raise RunExistsError(
            f"{final}: a run with this id exists; runs are immutable (choose another --run-id)"
        )
    return run_id


def new_run_id(now: datetime, runs_dir: Path) -> str:
    """A time-stamped id (UTC), with a suffix if a run of that second already exists."""
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, k = base, 1
    while (runs_dir / candidate).exists():
        k += 1
        candidate = f"{base}-{k}"
    return candidate


def jsonable(value: Any) -> Any:
    """Plain JSON values: NaN -> null, numpy scalars -> Python, dates -> ISO strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV as RFC 4180 has it: CRLF line ends, text quoted (so a value holding a CR, LF,
    comma or quote stays one cell), written through Arrow (8x faster than pandas on the
    national exports). Booleans are written ``True``/``False``, missing values as empty."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = {str(name): _arrow_column(frame[name]) for name in frame.columns}
    table = pa.table(columns) if columns else pa.table({})
    options = pacsv.WriteOptions(eol="\r\n", quoting_style="needed")
    pacsv.write_csv(table, str(path), write_options=options)


def _arrow_column(series: pd.Series) -> Any:
    """One column for the CSV writer: booleans as words, text as strings, numbers as is."""
    import pyarrow as pa

    if pd.api.types.is_bool_dtype(series.dtype):
        return _flag_words(series)
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        return pa.array(series.array, type=pa.large_string())  # already Arrow: no copy to str
    if series.dtype == object or isinstance(series.dtype, pd.CategoricalDtype):
        text = series.astype(object)
        try:  # a column of strings (the usual case) goes to Arrow as it is
            return pa.array(text.to_numpy(), type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # other objects: as str() writes them
            return _str_column(text)
    return pa.Array.from_pandas(series)


def _flag_words(flags: pd.Series) -> Any:
    """Booleans as the words ``str()`` writes (``True``/``False``); missing stays missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(flags.to_numpy(dtype=bool, na_value=False), mask=flags.isna().to_numpy())
    return pc.if_else(values, "True", "False")


def _str_column(values: pd.Series) -> Any:
    """Objects as ``str()`` writes them, missing values missing. Flags with gaps (an area
    table's ``__met``: True, False or None) take the booleans' path, which writes the same
    words without a Python call per value; other objects (an area's share: a float or None)
    are written by ``str`` in a list (half the time of pandas' ``astype(str)``)."""
    import pyarrow as pa

    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "boolean":
        return _flag_words(values)
    missing = values.isna().to_numpy()
    if kind == "floating":
        return _float_words(values, missing)
    text = [None if gap else str(v) for v, gap in zip(values.to_numpy(), missing, strict=True)]
    return pa.array(text, type=pa.string())


#: Floats written by Arrow as Python writes them: zero, and magnitudes in this range.
_PLAIN_FLOATS = (1e-4, 1e6)


def _float_words(values: pd.Series, missing: np.ndarray[Any, np.dtype[np.bool_]]) -> Any:
    """Floats (objects, with gaps) as ``str()`` writes them, without a Python call per value:
    Arrow's shortest round-trip digits are Python's, written plainly for zero and magnitudes in
    :data:`_PLAIN_FLOATS` (a whole number without Python's ``.0``, added here); the rest (an
    area's share below 10⁻⁴, say) through ``str``. 4·10⁶ shares of a national grid level took
    1.5 s one by one, holding the GIL in the run's busiest step."""
    import pyarrow as pa
    import pyarrow.compute as pc

    number = values.to_numpy(dtype=np.float64, na_value=np.nan)
    size = np.abs(number)
    plain = (number == 0) | ((size >= _PLAIN_FLOATS[0]) & (size < _PLAIN_FLOATS[1]))
    text = pc.cast(pa.array(number, mask=missing), pa.string())
    whole = pa.array(plain & (number == np.floor(number)) & ~missing)
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    rest = np.flatnonzero(~plain & ~missing)
    if len(rest):
        words = pa.array([str(v) for v in values.to_numpy()[rest]], type=pa.string())
        odd = np.zeros(len(number), dtype=bool)
        odd[rest] = True
        text = pc.replace_with_mask(text, pa.array(odd), words)
    return text


def _json_default(value: Any) -> Any:
    """What orjson does not serialise itself, as :func:`jsonable` would write it."""
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _write_json(path: Path, data: Any) -> None:
    # orjson: a national figures.json (10⁶ areas × targets) took 45 s with the json module.
    # It writes NaN and infinities as null, like jsonable().
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    path.write_bytes(orjson.dumps(data, default=_json_default, option=options) + b"\n")


def write_geoparquet(frame: gpd.GeoDataFrame, path: Path) -> None:
    """``frame.to_parquet(path, index=False)``, byte for byte; points, line strings and
    polygons without holes get their WKB written by a compiled loop (:mod:`coverage._wkb`)
    instead of a Python bytes object per geometry from GEOS."""
    arrow = _geoparquet_arrow(frame)
    if arrow is None:
        frame.to_parquet(path, index=False)
        return
    _write_parquet(arrow, path)


def _geoparquet_arrow(frame: gpd.GeoDataFrame) -> Any:
    """The Arrow table geopandas' writer makes of ``frame`` (WKB, no index), its WKB
    written by :mod:`coverage._wkb`; None when that is left to geopandas (several geometry
    columns, other geometries)."""
    from coverage._wkb import simple_wkb

    columns = frame.columns[np.asarray(frame.dtypes == "geometry")]
    if len(columns) != 1:
        return None
    name = columns[0]
    wkb = simple_wkb(frame[name].to_numpy())
    if wkb is None:
        return None
    attributes = pd.DataFrame(frame.copy(deep=False))
    attributes[name] = None
    return _geoarrow_table(attributes, name, wkb, frame[name].crs, frame, frame.attrs)


def _geoarrow_table(
    attributes: pd.DataFrame,
    name: str,
    wkb: Any,
    crs: Any,
    geo_frame: gpd.GeoDataFrame,
    attrs: Mapping[Any, Any],
) -> Any:
    """What geopandas' writer does (``geopandas.io.arrow._geopandas_to_arrow``, WKB): the
    ``attributes`` through pandas (``name`` a null column where the geometry goes), that
    column set to ``wkb`` with its GeoArrow field metadata in ``crs`` (a pyproj CRS or None),
    geopandas' "geo" metadata of ``geo_frame`` and the frame's ``attrs``."""
    import pyarrow as pa
    from geopandas.io.arrow import _create_metadata, _encode_metadata

    arrow = pa.Table.from_pandas(attributes, preserve_index=False)
    extension = {
        "ARROW:extension:name": "geoarrow.wkb",
        "ARROW:extension:metadata": json.dumps({"crs": crs.to_json_dict()}) if crs else "{}",
    }
    field = pa.field(name, type=pa.binary(), nullable=True, metadata=extension)
    arrow = arrow.set_column(arrow.schema.get_field_index(name), field, wkb)
    geo = _create_metadata(geo_frame, geometry_encoding={name: "WKB"}, write_covering_bbox=False)
    metadata = {**arrow.schema.metadata, b"geo": _encode_metadata(geo)}
    if attrs:
        metadata[b"PANDAS_ATTRS"] = json.dumps(attrs).encode()
    return arrow.replace_schema_metadata(metadata)


def write_point_table(table: pd.DataFrame, crs: Any, path: Path, name: str = "geometry") -> None:
    """The pipeline's address table (coordinates in :data:`coverage._points.XY_COLUMNS`) as
    GeoParquet, byte for byte what ``to_parquet`` writes for it with point geometries in
    ``crs`` (a column ``name``, last), without making those points."""
    from coverage._points import with_points

    arrow = point_table_arrow(table, crs, name)
    if arrow is None:
        frame = with_points(table, crs)
        frame = frame if name == "geometry" else frame.rename_geometry(name)
        frame.to_parquet(path, index=False)
        return
    _write_parquet(arrow, path)


def _write_parquet(arrow: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(arrow, path, compression="snappy")


def point_table_arrow(table: pd.DataFrame, crs: Any, name: str = "geometry") -> Any:
    """The Arrow table :func:`write_point_table` writes (GeoParquet metadata included), or
    None when its points are left to GEOS and geopandas (none, or too many for 32-bit WKB
    offsets)."""
    from coverage._points import XY_COLUMNS, column_extremes, table_xy

    xy = table_xy(table)
    wkb = _point_wkb(xy)
    if wkb is None:
        return None
    import geopandas as gpd
    import shapely
    from pyproj import CRS

    attributes = pd.DataFrame(table.drop(columns=list(XY_COLUMNS)))
    attributes[name] = None
    crs = None if crs is None else CRS.from_user_input(crs)
    # geopandas' own metadata (types, bounding box, CRS), from the two corners of the
    # bounding box: the same figures as from every point.
    corners = shapely.points(list(column_extremes(xy)))
    frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(corners, crs=crs).rename(name))
    return _geoarrow_table(attributes, name, wkb, crs, frame, table.attrs)


def _point_wkb(xy: np.ndarray[Any, np.dtype[np.float64]]) -> Any:
    """The WKB of 2D points (``(n, 2)`` coordinates) as an Arrow binary array, or None when
    there are none or too many for 32-bit offsets (then GEOS writes them)."""
    from coverage._wkb import point_wkb

    return point_wkb(xy)


def _address_table(addresses: pd.DataFrame, targets: list[Target]) -> Any:
    """The output columns in order, coordinates last, sorted by address id."""
    from coverage._points import XY_COLUMNS

    target_cols = [
        c for t in targets for c in (f"pass_{t.id}", f"reason_{t.id}", f"pass_year_{t.id}")
    ]
    cols = [c for c in ADDRESS_OUTPUT_COLUMNS if c in addresses.columns]
    cols += [*target_cols, *XY_COLUMNS]
    table = addresses[cols]
    if is_increasing(table["address_id"]):  # the pipeline sorts at reading
        return table.reset_index(drop=True)
    return table.sort_values("address_id", kind="stable").reset_index(drop=True)


class RunWriter:
    """Writes one run folder in two parts, then publishes it atomically.

    :meth:`write_addresses` writes ``addresses.parquet`` as soon as the address table is
    final and starts the GeoPackage writer (a child process, :mod:`coverage._gpkg`), so that
    it runs while the pipeline aggregates and looks for gaps; :meth:`write_gaps` and
    :meth:`write_area_csvs` start those outputs when they are known; :meth:`finish` writes
    the rest (the PTS-style export first), waits for the child and the early writers, writes
    the manifest and renames the temporary folder to the run id.
    Used as a context manager, a failure anywhere (in the pipeline or in writing) stops the
    child and removes the temporary folder: nothing partial is ever left behind.

    Parameters
    ----------
    runs_dir
        Folder holding run folders.
    run_id
        The run id; by default a UTC time stamp of the moment :meth:`finish` is called.
    created
        The creation time recorded in the manifest (default: when :meth:`finish` is called).

    Raises
    ------
    RunExistsError
        If ``run_id`` is taken (runs are never overwritten).
    """

    def __init__(
        self, runs_dir: Path, run_id: str | None = None, created: datetime | None = None
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.run_id = None if run_id is None else check_new_run(self.runs_dir, run_id)
        self.created = created
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.runs_dir)
        # The writer's pid is in the name, so a later run can tell a dead writer's leftovers.
        name = f"{TMP_PREFIX}{run_id or 'new'}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder = self.runs_dir / name
        self.folder.mkdir()
        self._gpkg: tuple[subprocess.Popen[bytes], IO[bytes]] | None = None
        self._addresses: pd.DataFrame | None = None  # the table written early
        # The gap clusters written early, and the writing (and settling) of them.
        self._gaps: tuple[gpd.GeoDataFrame, Future[Settled]] | None = None
        self._exports: Callable[[], None] | None = None  # the export, from the early table
        # The area tables whose CSVs are being written early, and that writing.
        self._area_csvs: tuple[dict[str, pd.DataFrame], Future[None]] | None = None
        # The large outputs written early are made durable and hashed on a thread of their
        # own as soon as each is complete (coverage._files.settle): the manifest and the
        # final fsync find them done (nationally 3 s at the end of the run before).
        self._settling: dict[Path, Future[Settled]] = {}
        self._settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bbplan-settle")

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()

    def write_addresses(
        self, addresses: pd.DataFrame, targets: list[Target], crs: Any = None
    ) -> None:
        """``addresses.parquet`` from the final address table (the pipeline's, its
        coordinates in ``crs``, or a GeoDataFrame of points); starts the GeoPackage writer on
        the other core. The PTS-style export from the same table is written by
        :meth:`finish`."""
        import geopandas as gpd

        from coverage._points import without_points

        given = addresses
        try:
            if isinstance(addresses, gpd.GeoDataFrame):
                crs, addresses = addresses.crs, without_points(addresses)
            elif crs is None:
                raise ValueError("the CRS of the address table's coordinates is needed")
            table = _address_table(addresses, targets)  # one sorted copy for every output
            self._write_parquet_and_start_gpkg(table, crs)
            self._settle(self.folder / "addresses.parquet")
        except BaseException:
            self.abort()
            raise
        self._addresses = given
        # The PTS-style export is written with the run's last outputs (:meth:`finish`): here
        # both cores are busy (the GeoPackage child, Parquet, the gap search), there one
        # idles while the map and the report hold the GIL. The table is a view of the
        # pipeline's, kept for the result anyway: holding it costs no memory.
        self._exports = partial(_write_exports, table, crs, self.folder)

    def _write_parquet_and_start_gpkg(self, table: pd.DataFrame, crs: Any) -> None:
        """``addresses.parquet``, and the GeoPackage child started on the same Arrow table
        first, as an IPC file (:data:`GPKG_FEED`, written in a fraction of a second): the
        child, the run's longest writer (20 s nationally), no longer waits for Parquet's
        encoding and compression (5 s), and reads its batches without decoding them."""
        parquet = self.folder / "addresses.parquet"
        arrow = point_table_arrow(table, crs)
        if arrow is None:  # the points left to geopandas: the child reads the Parquet file
            write_point_table(table, crs, parquet)
            self._gpkg = _start_gpkg(self.folder, parquet)
            return
        import pyarrow as pa

        from coverage._gpkg import BATCH_ROWS

        feed = self.folder / GPKG_FEED
        with pa.OSFile(str(feed), "wb") as sink, pa.ipc.new_file(sink, arrow.schema) as ipc:
            ipc.write_table(arrow, max_chunksize=BATCH_ROWS)
        self._gpkg = _start_gpkg(self.folder, feed)
        _write_parquet(arrow, parquet)

    def _settle(self, path: Path) -> None:
        self._settling[path] = self._settler.submit(settle, path)

    def _write_settled(self, write: Callable[[], None], name: Path) -> None:
        """``write()``, then the file ``name`` settled on the settling thread."""
        write()
        self._settle(self.folder / name)

    def write_gaps(self, clusters: gpd.GeoDataFrame) -> None:
        """Start writing ``gaps.parquet`` from the gap clusters (the result's ``gaps``) as
        soon as they are found, on a thread of its own: the pipeline calls this when the gap
        search ends, and the file (4 s nationally) is written beside the run's last steps,
        not after them. :meth:`finish` waits for it and raises its error."""
        self._gaps = (
            clusters,
            _on_own_thread("bbplan-gaps-writer", _write_settled_gaps, clusters, self.folder),
        )

    def write_area_csvs(self, tables: Mapping[str, pd.DataFrame]) -> None:
        """Start writing ``areas/<level>.csv`` of the aggregated area tables on a thread of
        its own: the pipeline calls this as soon as the tables are aggregated, before the grid
        squares' outlines are made (a CSV has no outlines), and the national 250 m grid's
        (10⁶ rows) is no longer the run's last job. :meth:`finish` writes the GeoParquet
        tables and waits for these."""
        tables = dict(tables)
        self._area_csvs = (
            tables,
            _on_own_thread("bbplan-area-csv", _write_area_csvs, tables, self.folder),
        )

    def finish(self, result: Result) -> Path:
        """Write the rest of ``result``, wait for the GeoPackage, write the manifest and
        publish the run; returns its folder. On any failure the temporary folder is removed."""
        try:
            return self._finish(result)
        except BaseException:
            self.abort()
            raise

    def _finish(self, result: Result) -> Path:
        created = self.created or datetime.now(UTC)
        if self.run_id is None:
            self.run_id = new_run_id(created, self.runs_dir)
        else:
            check_new_run(self.runs_dir, self.run_id)
        if self._addresses is None:
            self.write_addresses(result.addresses, result.targets, result.crs)
        elif self._addresses is not result.addresses:
            raise ValueError("the address table written early is not the result's")
        if self._gaps is not None and self._gaps[0] is not result.gaps:
            raise ValueError("the gap clusters written early are not the result's")
        if self._area_csvs is not None and not _same_tables(self._area_csvs[0], result):
            raise ValueError("the area tables written early are not the result's")
        exports, self._exports = self._exports, None
        first = [] if exports is None else [partial(self._write_settled, exports, EXPORTS_CSV)]
        _write_rest(
            result,
            self.folder,
            self.run_id,
            gaps=self._gaps is None,
            csvs=self._area_csvs is None,
            first=first,
        )
        if self._area_csvs is not None:
            self._area_csvs[1].result()
        settled: dict[Path, Settled] = {}
        if self._gaps is not None:
            settled[self.folder / "gaps.parquet"] = self._gaps[1].result()
        gpkg, self._gpkg = self._gpkg, None
        if gpkg is not None and (done := _wait_gpkg(*gpkg)) is not None:
            settled[self.folder / "addresses.gpkg"] = done
        (self.folder / GPKG_FEED).unlink(missing_ok=True)  # not an output
        settled.update({path: job.result() for path, job in self._settling.items()})
        self._settler.shutdown()
        _write_manifest(result, self.folder, self.run_id, created, settled)
        _fsync_tree(self.folder)
        final = self.runs_dir / self.run_id
        try:
            self.folder.rename(final)
        except OSError:
            raise RunExistsError(f"{final}: a run with this id appeared while writing") from None
        return final

    def abort(self) -> None:
        """Stop the GeoPackage writer, let the gap clusters' and the area CSVs' writers end,
        and remove the temporary folder."""
        if self._gpkg is not None:
            _wait_gpkg(*self._gpkg, kill=True)
            self._gpkg = None
        for early in (self._gaps, self._area_csvs):
            if early is not None:
                early[1].exception()  # ended (its error, if any, is this failure's sequel)
        self._gaps = self._area_csvs = None
        self._settler.shutdown(cancel_futures=True)  # no thread left reading the folder
        shutil.rmtree(self.folder, ignore_errors=True)


def _on_own_thread(name: str, job: Callable[..., T], *args: Any) -> Future[T]:
    """``job(*args)`` started on a thread of its own (named ``name``); its result or error
    comes with the future."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return pool.submit(job, *args)
    finally:
        pool.shutdown(wait=False)


def write_run(
    result: Result, runs_dir: Path, run_id: str | None = None, created: datetime | None = None
) -> Path:
    """Write ``result`` as ``runs_dir/<run_id>/`` atomically and return the folder
    (:class:`RunWriter` in one go).

    Raises
    ------
    RunExistsError
        If the run id is taken (runs are never overwritten).
    """
    with RunWriter(runs_dir, run_id, created) as writer:
        return writer.finish(result)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(runs_dir: Path) -> list[str]:
    """Delete temporary run folders whose writer has died (killed mid-run); returns their names.

    A temporary folder is never a run (readers skip it); this only reclaims the space.
    """
    removed = []
    for p in Path(runs_dir).glob(f"{TMP_PREFIX}*"):
        match = re.fullmatch(rf"{re.escape(TMP_PREFIX)}.+-(\d+)-[0-9a-f]{{8}}", p.name)
        if p.is_dir() and match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed


def _start_gpkg(folder: Path, source: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """``addresses.gpkg`` in ``folder`` from ``source`` (the address table as GeoParquet or
    an Arrow IPC file) in a child process (see :mod:`coverage._gpkg`), this package first on
    its path whatever else is installed; returns the process and the file collecting its
    error output."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = "from coverage._gpkg import main; main()"
    src, dst = source, folder / "addresses.gpkg"
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _wait_gpkg)
    proc = subprocess.Popen(
        # -P: no working directory first on the path (a `coverage` folder there would win).
        [sys.executable, "-P", "-c", code, str(src), str(dst)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # the settled file (one line of JSON, at the end)
        stderr=errors,
    )
    return proc, errors


def _wait_gpkg(
    proc: subprocess.Popen[bytes], errors: IO[bytes], kill: bool = False
) -> Settled | None:
    """Wait for the GeoPackage writer (killing it first when the run failed elsewhere); the
    file as the child settled it (:func:`coverage._files.settle`), None when it did not say
    (the manifest hashes the file then)."""
    with errors:
        if kill:
            proc.kill()
            proc.wait()
            _close(proc.stdout)
            return None
        said = proc.stdout.read() if proc.stdout is not None else b""  # before wait: no deadlock
        _close(proc.stdout)
        if proc.wait() != 0:
            errors.seek(0)
            text = errors.read()[-2000:].decode(errors="replace").strip()
            raise OSError(f"writing addresses.gpkg failed (exit {proc.returncode}): {text}")
    try:
        return Settled(**json.loads(said))
    except (ValueError, TypeError):
        return None


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()


def _write_rest(
    result: Result,
    folder: Path,
    run_id: str,
    gaps: bool = True,
    csvs: bool = True,
    first: Sequence[Callable[[], object]] = (),
) -> None:
    """Every output but the per-address ones (and ``gaps.parquet`` when not ``gaps``, the area
    tables' CSVs when not ``csvs``: written already), on every core, ``first`` (jobs of the
    caller's) first: the map and the report are Python-bound, the Parquet, CSV and GEOS work
    releases the GIL. The longest jobs start first (a national run: the PTS export's 5·10⁶
    rows, the 250 m grid's 10⁶ squares ~4 s, the gap clusters' 10⁷ outline vertices ~4 s),
    so that no long one is left running alone at the end."""
    from coverage import report, sharemap  # matplotlib and folium: only when writing

    (folder / "areas").mkdir(exist_ok=True)
    tables = sorted(result.area_tables.items(), key=lambda item: -len(item[1]))
    table = partial(_write_area_table, folder=folder, csv=csvs)
    jobs: list[Callable[[], object]] = [
        *first,
        *([partial(_write_gaps, result.gaps, folder)] if gaps else []),
        *[partial(table, t, level=level) for level, t in tables[:1]],
        lambda: _write_text(folder / "map.html", sharemap.render(result, run_id)),
        partial(_write_run_files, result, folder, run_id),
        *[partial(table, t, level=level) for level, t in tables[1:]],
        lambda: _write_text(folder / "report.html", report.render(result, run_id, result.inputs)),
    ]
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        for done in [pool.submit(job) for job in jobs]:
            done.result()  # the first failure is raised (after the others have ended)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _write_area_table(table: gpd.GeoDataFrame, folder: Path, level: str, csv: bool = True) -> None:
    if csv:
        _write_area_csv(table, folder, level)
    write_geoparquet(table, folder / "areas" / f"{level}.parquet")


def _write_area_csv(table: pd.DataFrame, folder: Path, level: str) -> None:
    """``areas/<level>.csv``: the table without its outlines."""
    write_csv(table.drop(columns="geometry"), folder / "areas" / f"{level}.csv")


def _same_tables(early: Mapping[str, pd.DataFrame], result: Result) -> bool:
    """Whether the area tables written early are the result's: the same levels, and each
    the same frame or (a grid level, given its outlines since) the same columns and areas."""
    final = result.area_tables
    if set(early) != set(final):
        return False
    return all(
        early[level] is table
        or (
            list(early[level].columns) == list(table.columns)
            and np.array_equal(early[level]["area_id"].to_numpy(), table["area_id"].to_numpy())
        )
        for level, table in final.items()
    )


def _write_area_csvs(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    """Every area table's CSV, the longest first."""
    (folder / "areas").mkdir(exist_ok=True)
    for level, table in sorted(tables.items(), key=lambda item: -len(item[1])):
        _write_area_csv(table, folder, level)


def _write_run_files(result: Result, folder: Path, run_id: str) -> None:
    """The network, rejected rows, figures and timeline."""
    write_geoparquet(result.network, folder / "network.parquet")
    write_csv(result.rejected, folder / "rejected.csv")
    _write_json(
        folder / "figures.json",
        {
            "run_id": run_id,
            "evaluation_date": result.evaluation_date,
            "passed_distance_m": result.settings.passed_distance_m,
            "near_distance_m": result.settings.near_distance_m,
            **result.figures,
        },
    )
    _write_json(folder / "timeline.json", {"run_id": run_id, **result.timeline})


def _write_gaps(gaps: gpd.GeoDataFrame, folder: Path) -> None:
    """``gaps.parquet``: the clusters by target and cluster id."""
    ordered = gaps.sort_values(["target_id", "cluster_id"], kind="stable").reset_index(drop=True)
    write_geoparquet(ordered, folder / "gaps.parquet")


def _write_settled_gaps(gaps: gpd.GeoDataFrame, folder: Path) -> Settled:
    _write_gaps(gaps, folder)
    return settle(folder / "gaps.parquet")


def _write_manifest(
    result: Result,
    folder: Path,
    run_id: str,
    created: datetime,
    settled: Mapping[Path, Settled] | None = None,
) -> None:
    """``manifest.json``: the run's inputs, settings, counts and every output's sha256 (the
    digest of a file in ``settled`` taken while the file is unchanged)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    known = {p: s.sha256 for p, s in (settled or {}).items() if p in files and s.holds_for(p)}
    # The rest hashed on every core, largest first (hashlib releases the GIL).
    by_size = sorted((p for p in files if p not in known), key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        digests = dict(zip(by_size, pool.map(sha256_file, by_size), strict=True)) | known
    outputs = {
        str(p.relative_to(folder)): {"sha256": digests[p], "bytes": p.stat().st_size} for p in files
    }
    _write_json(
        folder / MANIFEST,
        {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "created": created.astimezone(UTC).isoformat(timespec="seconds"),
            "bbplan_version": bbplan_version(),
            "python": platform.python_version(),
            "evaluation_date": result.evaluation_date,
            "settings": result.settings.model_dump(),
            "inputs": result.inputs,
            "target_sets": result.target_sets,
            "targets": [t.model_dump() for t in result.targets],
            "counts": {
                "addresses": len(result.addresses),
                "households": int(result.addresses["households"].sum()),
                "workplaces": int(result.addresses["workplaces"].sum()),
                "rejected_rows": len(result.rejected),
            },
            "warnings": result.warnings,
            "outputs": outputs,
        },
    )


#: PTS-style speed classes of the best offer (Mbit/s, lower bound inclusive).
SPEED_CLASSES = [(1000.0, "1000+"), (100.0, "100-999"), (30.0, "30-99"), (0.0, "<30")]


def speed_classes(mbps: pd.Series, access: pd.Series) -> Any:
    """PTS-style speed class of each address's best offer; ``none`` without service."""
    speed = mbps.to_numpy(dtype=float, na_value=np.nan)
    served = access.isin(["connected", "passed"]).to_numpy()
    labels = [label for _, label in SPEED_CLASSES]
    conditions = [served & (speed >= low) for low, _ in SPEED_CLASSES]
    codes = np.select(conditions, np.arange(len(labels)), default=len(labels))
    return text_from_codes(codes, [*labels, "none"])


def _write_exports(table: pd.DataFrame, crs: Any, folder: Path) -> None:
    """A PTS-style per-address CSV (SWEREF 99 TM coordinates) of the pipeline's table (its
    coordinates in ``crs``); the GeoPackage is written by a child process meanwhile
    (:func:`_start_gpkg`)."""
    from coverage._points import table_xy

    x, y = _sweref99tm_xy(table_xy(table), crs)
    pts = pd.DataFrame(
        {
            "address_id": table["address_id"],
            "x_sweref99tm": np.round(x, 2),
            "y_sweref99tm": np.round(y, 2),
            "kommun_code": table["kommun_code"],
            "technology": table["technology"],
            "max_down_mbps": table["max_down_mbps"],
            "speed_class": speed_classes(table["max_down_mbps"], table["access"]),
            "access": table["access"],
            "gigabit_ready": table["gigabit_ready"],
            "open_network": table["open_network"],
        }
    )
    (folder / EXPORTS_CSV).parent.mkdir()
    write_csv(pts, folder / EXPORTS_CSV)


def _sweref99tm_xy(
    xy: np.ndarray[Any, Any], crs: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Coordinates (``(n, 2)`` in ``crs``) in SWEREF 99 TM: as they are in the usual working
    CRS, else through pyproj as ``to_crs`` does."""
    from pyproj import CRS, Transformer

    if crs is not None and CRS(crs).equals(CRS("EPSG:3006")):
        return xy[:, 0], xy[:, 1]
    transformer = Transformer.from_crs(crs, "EPSG:3006", always_xy=True)
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.asarray(x), np.asarray(y)


def _fsync_tree(folder: Path) -> None:
    """Flush every file so the rename publishes complete contents even after a power cut."""
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------------
# Reading runs
# ------------------------------------------------------------------------------------------


def list_runs(runs_dir: Path) -> list[str]:
    """Complete run ids in ``runs_dir``, oldest first (temporary folders are not runs)."""
    if not Path(runs_dir).is_dir():
        return []
    runs = [
        p
        for p in Path(runs_dir).iterdir()
        if p.is_dir()
        and not p.name.startswith(TMP_PREFIX)
        and (p / MANIFEST).is_file()
        and RUN_ID_PATTERN.fullmatch(p.name)
    ]
    return [p.name for p in sorted(runs, key=lambda p: (_created(p), p.name))]


def _created(folder: Path) -> str:
    try:
        return str(json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("created", ""))
    except (OSError, ValueError):
        return ""


def run_path(runs_dir: Path, run_id: str | None = None) -> Path:
    """Folder of ``run_id``, or of the latest run when ``None``."""
    if run_id is None:
        ids = list_runs(runs_dir)
        if not ids:
            raise RunNotFoundError(f"{runs_dir}: no complete run yet (run 'bbplan run' first)")
        run_id = ids[-1]
    try:
        validate_run_id(run_id)
    except ValueError as exc:
        raise RunNotFoundError(str(exc)) from None
    folder = Path(runs_dir) / run_id
    if not (folder / MANIFEST).is_file():
        raise RunNotFoundError(f"run '{run_id}' not found in {runs_dir}")
    return folder


def verify_run(folder: Path) -> dict[str, Any]:
    """The manifest of a run after checking every output's sha256; raises if any differs."""
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    bad = []
    for name, meta in manifest.get("outputs", {}).items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != meta["sha256"]:
            bad.append(name)
    if bad:
        raise RunIntegrityError(f"{folder}: files differ from the manifest: {bad}")
    return manifest
