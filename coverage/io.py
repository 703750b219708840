"""Readers for address points, networks and areas, with validation (SPEC §2).

Every reader accepts GeoPackage, GeoParquet, GeoJSON (including OFDS for networks), Shapefile,
FlatGeobuf and CSV (x/y with a CRS, lon/lat, or WKT), requires a CRS, reprojects to the working
CRS, and returns a :class:`ReadResult`: the usable rows under canonical column names, plus one
:class:`~coverage._validate.Problem` per rejected row. A file that cannot be used at all raises
:class:`~coverage._errors.InputFileError` listing every reason at once.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from coverage import ofds
from coverage._errors import InputNotFoundError
from coverage._files import sha256_file as sha256_file  # re-exported: part of this module's API
from coverage._points import XY_COLUMNS, without_points
from coverage._text import TEXT_DTYPE, duplicated_all
from coverage._validate import Problem, ProblemLog
from coverage.schema import (
    ADDRESS_ALIASES,
    AREA_ALIASES,
    CSV_LAT_ALIASES,
    CSV_LON_ALIASES,
    CSV_WKT_ALIASES,
    CSV_X_ALIASES,
    CSV_Y_ALIASES,
    DEFAULT_WORKING_CRS,
    FALSE_STRINGS,
    NETWORK_ALIASES,
    STATUS_ALIASES,
    TECHNOLOGY_ALIASES,
    TRUE_STRINGS,
)

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

#: Largest count of one kind accepted at a single address point (a very large apartment block).
MAX_UNITS_PER_ADDRESS = 5000
#: Largest input file read by default (``--max-input-mb``): a national GeoParquet of 5 M
#: addresses is about 200 MiB; a file far larger is refused with a clear message instead
#: of exhausting memory.
DEFAULT_MAX_INPUT_BYTES = 512 * 2**20
#: Margin around the working CRS's area of use, so border addresses are kept.
AREA_OF_USE_MARGIN_M = 50_000.0
_VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".zip"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_PREFERRED_LAYERS = {
    "addresses": ("addresses", "adresser", "adresspunkter"),
    "network": ("network", "natverk", "nät", "spans", "nodes"),
    "areas": ("areas", "omraden", "tatorter"),
}


@dataclass
class ReadResult:
    """A validated input: the usable rows, the rejected ones, and what to record in the manifest."""

    frame: gpd.GeoDataFrame
    rejected: list[Problem]
    info: dict[str, Any] = field(default_factory=dict)

    def rejected_frame(self, layer: str) -> pd.DataFrame:
        """The rejected rows as ``rejected.csv`` records, one per problem."""
        return pd.DataFrame([p.as_record(layer) for p in self.rejected], columns=REJECTED_COLUMNS)


REJECTED_COLUMNS = ["file", "layer", "row", "id", "column", "value", "reason"]


# ------------------------------------------------------------------------------------------
# Raw reading: any format to a GeoDataFrame with a ``_row`` column and the file's CRS
# ------------------------------------------------------------------------------------------


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputNotFoundError(f"{path}: is a directory, expected a data file")


def _pick_layer(path: Path, layer: str | None, kind: str, log: ProblemLog) -> str | None:
    if layer is not None:
        return layer
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several DataSource errors; all mean unreadable
        log.file_problem(f"a readable {path.suffix or 'vector'} file ({_short(exc)})")
        return None
    if len(layers) <= 1:
        return layers[0] if layers else None
    for wanted in _PREFERRED_LAYERS.get(kind, ()):
        for name in layers:
            if name.lower() == wanted:
                return name
    log.file_problem(f"one layer or a layer name given with --layer; the file has {layers}")
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # GDAL's advice to prefix the path with a driver name means nothing to a planner.
    text = text.split("; It might help to specify", 1)[0].split(" It might help", 1)[0]
    return text[:200]


def _read_vector(path: Path, layer: str | None, kind: str, log: ProblemLog) -> gpd.GeoDataFrame:
    name = _pick_layer(path, layer, kind, log)
    log.raise_if_fatal()
    try:
        frame = pyogrio.read_dataframe(path, layer=name)
    except Exception as exc:  # corrupt or truncated files surface as many DataSource errors
        log.file_problem(f"a readable {path.suffix} file ({_short(exc)})")
        log.raise_if_fatal()
        raise  # unreachable: raise_if_fatal raised
    if not isinstance(frame, gpd.GeoDataFrame):
        log.file_problem("a layer with geometries (the layer has none)")
        log.raise_if_fatal()
    return frame


def _read_parquet(path: Path, log: ProblemLog) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = gpd.read_parquet(path)
        return frame
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            log.file_problem(f"a readable Parquet file ({_short(exc)})")
            log.raise_if_fatal()
    except Exception as exc:  # corrupt parquet: ArrowInvalid, OSError...
        log.file_problem(f"a readable Parquet file ({_short(exc)})")
        log.raise_if_fatal()
    # Plain Parquet without GeoParquet metadata: geometry from x/y, lon/lat or WKT columns.
    return pd.read_parquet(path)


#: Attribute of a coordinate table (:func:`_read_point_parquet`) holding its CRS.
COORDINATE_CRS = "coordinate_crs"


def is_coordinate_table(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a table of point coordinates (:data:`XY_COLUMNS` in the CRS
    ``frame.attrs[COORDINATE_CRS]``) rather than a GeoDataFrame."""
    return not isinstance(frame, gpd.GeoDataFrame) and COORDINATE_CRS in frame.attrs


def _crs_of(frame: pd.DataFrame) -> CRS | None:
    if is_coordinate_table(frame):
        found: CRS = frame.attrs[COORDINATE_CRS]
        return found
    return frame.crs if isinstance(frame, gpd.GeoDataFrame) else None


def _read_point_parquet(path: Path) -> pd.DataFrame | None:
    """A GeoParquet file of plain points as a coordinate table (:func:`is_coordinate_table`),
    its other columns as ``geopandas.read_parquet`` gives them; None for any other file.

    Decoding 5·10⁶ WKB points into GEOS objects and checking them took a third of reading a
    national file, only for the coordinates to be taken out again. Only a file whose single
    geometry column holds finite 2-D points in little-endian WKB (what geopandas, GDAL and
    DuckDB write) and which states a CRS (or none: OGC:CRS84) comes this way; anything else,
    a missing, empty or non-finite point included, is read by geopandas and checked row by
    row, so every problem is reported as before.
    """
    try:
        pf = pq.ParquetFile(path)
        geo = json.loads((pf.schema_arrow.metadata or {})[b"geo"])
        name = geo["primary_column"]
        meta = geo["columns"][name]
    except Exception:  # not GeoParquet, or unreadable: the general reader reports it
        return None
    version = geo.get("version", geo.get("schema_version"))  # as geopandas validates it
    # An explicit null CRS takes --crs (or is reported): the general reader does that.
    if not version or len(geo["columns"]) != 1 or meta.get("encoding") != "WKB":
        return None
    if "crs" in meta and meta["crs"] is None:
        return None
    xy = _wkb_points(pf.read(columns=[name]).column(name))
    if xy is None:
        return None
    # geopandas leaves out the bounding-box columns a file may carry for filtering.
    covering = {v[0] for v in meta.get("covering", {}).get("bbox", {}).values()}
    rest = [c for c in pf.schema_arrow.names if c != name and c not in covering]
    if any(c in rest for c in XY_COLUMNS):  # names of ours: the general reader keeps them
        return None
    frame: pd.DataFrame = pf.read(columns=rest, use_pandas_metadata=True).to_pandas()
    frame[XY_COLUMNS[0]], frame[XY_COLUMNS[1]] = xy[:, 0], xy[:, 1]
    frame.attrs[COORDINATE_CRS] = CRS.from_user_input(_geoparquet_crs(meta))
    return frame


def _geoparquet_crs(meta: dict[str, Any]) -> Any:
    """A GeoParquet column's CRS as geopandas reads it: OGC:CRS84 when not stated; the ids of
    datum ensemble members dropped from PROJJSON (older PROJ databases lack some)."""
    crs = meta.get("crs", "OGC:CRS84")
    if isinstance(crs, dict):

        def drop_member_ids(node: Any) -> None:
            for key, value in node.items():
                if isinstance(value, dict):
                    drop_member_ids(value)
                elif key == "members" and isinstance(value, list):
                    for member in value:
                        member.pop("id", None)

        drop_member_ids(crs)
    return crs


#: Bytes of a 2-D point in WKB: byte order, type (uint32), x and y (float64).
_WKB_POINT_BYTES = 21


def _wkb_points(column: Any) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    """``(n, 2)`` coordinates of a WKB column (Arrow) when every row is a finite 2-D point
    in little-endian WKB, else None. The coordinates are the WKB's own bytes: what GEOS
    would parse, bit for bit."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count or not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return None
    width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    if len(arr) == 0 or not (np.diff(offsets) == _WKB_POINT_BYTES).all():
        return None if len(arr) else np.zeros((0, 2))
    n, start = len(arr), int(offsets[0])

    def field(dtype: str, at: int, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
        # Strided views into the records (no copy): one field of every row.
        strides = (_WKB_POINT_BYTES, 8)[: len(shape)]
        return np.ndarray(shape, dtype, buffer=data_buf, offset=start + at, strides=strides)

    # Little-endian (byte order 1) and geometry type 1 (Point) as a little-endian uint32.
    if not ((field("u1", 0, (n,)) == 1) & (field("<u4", 1, (n,)) == 1)).all():
        return None
    xy = field("<f8", 5, (n, 2)).astype(np.float64)
    return xy if np.isfinite(xy).all() else None


def _read_csv(path: Path, log: ProblemLog) -> pd.DataFrame:
    with path.open("rb") as fh:
        sample = fh.read(1 << 16)
    try:
        head = sample.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not just a character cut by the sample's end
            log.file_problem(f"UTF-8 text (byte {exc.start} cannot be decoded; re-save as UTF-8)")
            log.raise_if_fatal()
        head = sample[: exc.start].decode("utf-8-sig")
    try:
        sep = csv.Sniffer().sniff(head.split("\n", 1)[0] if head else ",", ",;\t|").delimiter
    except csv.Error:
        sep = ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        log.file_problem(f"UTF-8 text (byte {exc.start} cannot be decoded; re-save as UTF-8)")
        log.raise_if_fatal()
        raise  # unreachable
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        log.file_problem(f"a readable CSV file ({_short(exc)})")
        log.raise_if_fatal()
        raise  # unreachable


def _find_column(columns: list[str], aliases: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def _geometry_from_table(frame: pd.DataFrame, crs: str | None, log: ProblemLog) -> gpd.GeoDataFrame:
    """Build point or WKT geometries for a table without a geometry column."""
    cols = [str(c) for c in frame.columns]
    wkt = _find_column(cols, CSV_WKT_ALIASES)
    x, y = _find_column(cols, CSV_X_ALIASES), _find_column(cols, CSV_Y_ALIASES)
    lon, lat = _find_column(cols, CSV_LON_ALIASES), _find_column(cols, CSV_LAT_ALIASES)
    if wkt is not None:
        # Coordinates like 1e400 or nan parse to inf/NaN; the geometry check reports those
        # rows (finite coordinates), so numpy's overflow warning would be noise to a user.
        with np.errstate(over="ignore", invalid="ignore"):
            geoms = shapely.from_wkt(
                frame[wkt].astype("string").fillna("").to_numpy(dtype=object),
                on_invalid="ignore",
            )
        out = frame.drop(columns=[wkt])
        if crs is None:
            _crs_problem(log, "a CRS for the WKT column: pass --crs (e.g. --crs EPSG:3006)")
    elif x is not None and y is not None:
        geoms = _points(frame, x, y)
        out = frame.drop(columns=[x, y])
        if crs is None:
            _crs_problem(log, f"a CRS for columns '{x}'/'{y}': pass --crs (e.g. --crs EPSG:3006)")
    elif lon is not None and lat is not None:
        geoms = _points(frame, lon, lat)
        out = frame.drop(columns=[lon, lat])
        crs = "EPSG:4326"  # lon/lat are WGS 84 by definition; --crs is for x/y and WKT
    else:
        log.file_problem("geometry columns: x and y (with --crs), lon and lat, or wkt", value=cols)
        log.raise_if_fatal()
        raise AssertionError  # unreachable
    out = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=crs)
    if x is not None and y is not None and wkt is None:
        _note_bad_coordinates(out, frame, x, y)
    elif lon is not None and lat is not None and wkt is None:
        _note_bad_coordinates(out, frame, lon, lat)
    return out


def _crs_problem(log: ProblemLog, expected: str) -> None:
    """Record a missing CRS; raised later together with the file's other problems."""
    log.file_problem(expected)
    log.crs_missing = True


def _coordinate(series: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    text = series.astype("string").str.replace(",", ".", regex=False).str.strip()
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _points(frame: pd.DataFrame, xcol: str, ycol: str) -> Any:
    xs, ys = _coordinate(frame[xcol]), _coordinate(frame[ycol])
    ok = np.isfinite(xs) & np.isfinite(ys)
    geoms = np.full(len(frame), None, dtype=object)
    geoms[ok] = shapely.points(xs[ok], ys[ok])
    return geoms


def _note_bad_coordinates(out: pd.DataFrame, frame: pd.DataFrame, xcol: str, ycol: str) -> None:
    """Keep the column and text of a coordinate cell that is not a finite number, so the
    rejection names the cell instead of an empty geometry."""
    bad_x = ~np.isfinite(_coordinate(frame[xcol]))
    bad_y = ~np.isfinite(_coordinate(frame[ycol]))
    out["_coord_col"] = np.where(bad_x, xcol, np.where(bad_y, ycol, ""))
    out["_coord_val"] = np.where(bad_x, frame[xcol].astype(str), frame[ycol].astype(str))


def read_raw(
    path: Path,
    *,
    kind: str,
    layer: str | None = None,
    crs: str | None = None,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    coordinates: bool = False,
) -> tuple[pd.DataFrame, ProblemLog]:
    """Read any supported format to a GeoDataFrame in the file's CRS, with a 1-based ``_row``.

    ``crs`` is used when the file carries none (CSV, or a Shapefile without ``.prj``). A
    missing CRS is recorded in the returned log, not raised, so that the caller reports it
    together with the file's other problems.

    With ``coordinates``, a GeoParquet file of plain points may come as a table of
    coordinates instead (:func:`_read_point_parquet`; :func:`is_coordinate_table`).
    """
    path = Path(path)
    _check_path(path)
    log = ProblemLog(str(path))
    size = path.stat().st_size if path.is_file() else 0
    if path.is_file() and size == 0:
        log.file_problem("a non-empty file (the file has 0 bytes)")
        log.raise_if_fatal()
    if size > max_bytes:
        # Refused before reading: a file this size would not fit the memory it needs.
        log.file_problem(
            f"a file of at most {max_bytes / 2**20:.0f} MiB (it has {size / 2**20:.0f} MiB; raise "
            "the limit with --max-input-mb if the machine has the memory)"
        )
        log.raise_if_fatal()
    suffix = path.suffix.lower()
    if kind == "network" and suffix in {".geojson", ".json"} and ofds.is_ofds(path):
        try:
            frame: pd.DataFrame = ofds.read_ofds(path)
        except ValueError as exc:
            log.file_problem(f"a usable OFDS GeoJSON file ({_short(exc)})")
            log.raise_if_fatal()
            raise  # unreachable
    elif suffix in _PARQUET_SUFFIXES:
        points = _read_point_parquet(path) if coordinates else None
        frame = _read_parquet(path, log) if points is None else points
    elif suffix in _CSV_SUFFIXES:
        frame = _read_csv(path, log)
    elif suffix in _VECTOR_SUFFIXES or path.is_dir():
        frame = _read_vector(path, layer, kind, log)
    else:
        log.file_problem(
            "a GeoPackage, GeoParquet, GeoJSON, Shapefile, FlatGeobuf or CSV file",
            value=path.suffix or "(no suffix)",
        )
        log.raise_if_fatal()
        raise AssertionError  # unreachable
    # A coordinate table has the file's CRS (a GeoParquet file always states or implies one).
    if not isinstance(frame, gpd.GeoDataFrame) and not is_coordinate_table(frame):
        frame = _geometry_from_table(frame, _valid_crs(crs, log), log)
    if _crs_of(frame) is None and not log.crs_missing:
        given = _valid_crs(crs, log)
        if given is None:
            _crs_problem(log, "a CRS in the file, or --crs (e.g. --crs EPSG:3006)")
        elif isinstance(frame, gpd.GeoDataFrame):
            frame = frame.set_crs(given)
    if len(frame) == 0:
        log.file_problem("at least one data row (the file/layer is empty)")
        log.raise_if_fatal()
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(1, len(frame) + 1)
    return frame, log


def _valid_crs(crs: str | None, log: ProblemLog) -> str | None:
    if crs is None:
        return None
    try:
        CRS.from_user_input(crs)
    except CRSError:
        log.file_problem("a known CRS for --crs (e.g. EPSG:3006)", value=crs)
        log.raise_if_fatal()
    return crs


# ------------------------------------------------------------------------------------------
# Column matching and cell parsing
# ------------------------------------------------------------------------------------------


def match_columns(columns: list[str], aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Map file columns to canonical names, case-insensitively: exact names first, then aliases.

    Returns ``{file_column: canonical}``. A file column is used for at most one canonical name.
    """
    lowered = {c.strip().lower(): c for c in columns if not c.startswith("_") and c != "geometry"}
    mapping: dict[str, str] = {}
    for canonical in aliases:
        if canonical in lowered:
            mapping[lowered[canonical]] = canonical
    taken = set(mapping.values())
    for canonical, names in aliases.items():
        if canonical in taken:
            continue
        for alias in names:
            source = lowered.get(alias)
            if source is not None and source not in mapping:
                mapping[source] = canonical
                taken.add(canonical)
                break
    return mapping


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped strings, missing values as ``""`` (pandas' Arrow-backed text: ids
    are compared, sorted and factorised in Arrow, not as 5·10⁶ Python strings)."""
    out = series.astype("string").str.strip().fillna("")
    return out.astype(TEXT_DTYPE)


def _present(series: pd.Series) -> BoolArray:
    return np.asarray(_text(series) != "", dtype=bool)


def parse_count(series: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Parse a unit count column: empty -> 0; returns (int64 values, bad-cell mask)."""
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype):
        # Typed numbers (GeoParquet, GeoPackage): the rules below without a round trip through
        # 10⁶ strings; a missing number is an empty cell (0), as in text.
        values = series.to_numpy(dtype=float, na_value=np.nan)
        values = np.where(np.isnan(values), 0.0, values)
    else:
        text = _text(series)
        numbers = pd.to_numeric(text.where(text != "", "0"), errors="coerce").astype(float)
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    bad |= values > MAX_UNITS_PER_ADDRESS
    clean = np.where(bad, 0, values).astype(np.int64)
    return pd.Series(clean, index=series.index), bad


def parse_bool(series: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Parse a boolean column (true/false, 1/0, ja/nej...): empty -> False."""
    if pd.api.types.is_bool_dtype(series):
        return series.fillna(False).astype(bool), np.zeros(len(series), dtype=bool)
    text = _text(series).str.lower()
    # Numbers read by a typed reader arrive as "1.0"/"0.0".
    text = text.replace({"1.0": "1", "0.0": "0"})
    true = text.isin(TRUE_STRINGS).to_numpy()
    false = text.isin(FALSE_STRINGS).to_numpy()
    return pd.Series(true, index=series.index), ~(true | false)


def parse_optional_number(series: pd.Series) -> tuple[pd.Series, BoolArray]:
    """Parse an optional positive number: empty -> NaN."""
    text = _text(series)
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    given = np.asarray(text != "", dtype=bool)
    bad = given & (~np.isfinite(values) | (values <= 0))
    return pd.Series(np.where(bad, np.nan, values), index=series.index), bad


# ------------------------------------------------------------------------------------------
# Shared row checks
# ------------------------------------------------------------------------------------------


def _check_ids(frame: pd.DataFrame, column: str, log: ProblemLog) -> BoolArray:
    """Empty ids and every row of a duplicated id are bad (row order must not pick a winner)."""
    # ``_id`` is the id column as text, made by each reader before its checks.
    ids: pd.Series = frame["_id"] if "_id" in frame.columns else _text(frame[column])
    empty: BoolArray = np.asarray(ids == "", dtype=bool)
    log.row_problems(frame, empty, column, "a non-empty unique id")
    dup: BoolArray = duplicated_all(ids) & ~empty
    log.row_problems(frame, dup, column, "a unique id (this id occurs on several rows)")
    return empty | dup


def _check_geometry(
    frame: gpd.GeoDataFrame, allowed: tuple[str, ...], what: str, log: ProblemLog
) -> BoolArray:
    geoms = frame.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    cell = frame["_coord_col"].to_numpy() if "_coord_col" in frame.columns else None
    bad_cell = missing & (cell != "") if cell is not None else np.zeros(len(frame), dtype=bool)
    for col in np.unique(cell[bad_cell]) if cell is not None else ():
        rows = bad_cell & (cell == col)
        log.row_problems(frame, rows, str(col), "a finite number", values=frame["_coord_val"])
    log.row_problems(
        frame,
        missing & ~bad_cell,
        "geometry",
        f"a {what} geometry",
        values=pd.Series("<empty>", index=frame.index),
    )
    kinds = pd.Series(shapely.get_type_id(geoms), index=frame.index)
    names = kinds.map(_GEOM_NAMES).fillna("?")
    wrong = ~missing & ~names.isin(allowed).to_numpy()
    log.row_problems(frame, wrong, "geometry", f"a {what} geometry", values=names)
    coords_ok = np.array([True] * len(geoms))
    check = ~missing & ~wrong
    if check.any():
        bounds = shapely.bounds(geoms[check])
        coords_ok[check] = np.isfinite(bounds).all(axis=1)
    bad_coords = ~coords_ok
    log.row_problems(
        frame,
        bad_coords,
        "geometry",
        "finite coordinates",
        values=pd.Series("NaN/inf", index=frame.index),
    )
    invalid = check & coords_ok & ~shapely.is_valid(geoms)
    # Reasons only where invalid: for every row they were 10⁶ strings "Valid Geometry".
    reasons = pd.Series("", index=frame.index, dtype=object)
    if invalid.any():
        reasons[invalid] = shapely.is_valid_reason(geoms[invalid])
    log.row_problems(frame, invalid, "geometry", f"a valid {what} geometry", values=reasons)
    return np.asarray(missing | wrong | bad_coords | invalid, dtype=bool)


_GEOM_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _working_bounds(working_crs: str) -> tuple[float, float, float, float] | None:
    """The working CRS's area of use in its own coordinates, widened by a margin."""
    crs = CRS.from_user_input(working_crs)
    aou = crs.area_of_use
    if aou is None or crs.is_geographic:
        return None
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(aou.west, aou.south, aou.east, aou.north, densify_pts=21)
    m = AREA_OF_USE_MARGIN_M
    return (x0 - m, y0 - m, x1 + m, y1 + m)


def _to_working(
    frame: pd.DataFrame, bad: BoolArray, working_crs: str, log: ProblemLog
) -> tuple[pd.DataFrame, BoolArray]:
    """Reproject the still-good rows and reject those outside the working CRS's area of use
    (a GeoDataFrame, or a coordinate table: :func:`is_coordinate_table`)."""
    good = ~bad
    source_crs = _crs_of(frame)
    moves = source_crs is None or not CRS.from_user_input(working_crs).equals(source_crs)
    if is_coordinate_table(frame):
        out, source, b = _coordinates_to_working(frame, good, working_crs, moves)
    else:
        out, source, b = _geometries_to_working(frame, good, working_crs, moves)
    limits = _working_bounds(working_crs)
    if limits is None or not good.any():
        return out, bad
    with np.errstate(invalid="ignore"):
        inside = (
            (b[0] >= limits[0]) & (b[1] >= limits[1]) & (b[2] <= limits[2]) & (b[3] <= limits[3])
        )
    outside = good & ~inside
    where = None
    if outside.any():  # each rejected row's location as given (not every row's: 10⁶ strings)
        text = np.full(len(out), "", dtype=object)
        shown = zip(source[0][outside], source[1][outside], strict=True)
        text[outside] = [f"x={x:.6g}, y={y:.6g}" for x, y in shown]
        where = pd.Series(text, index=out.index)
    log.row_problems(
        out,
        outside,
        "geometry",
        f"a location inside the area of use of {working_crs} "
        f"(in source CRS {source_crs.to_string() if source_crs else None}; "
        "lon/lat swapped or wrong --crs?)",
        values=where,
    )
    return out, bad | outside


#: Bounds of the rows: minx, miny, maxx, maxy, each an array (NaN for rows not measured).
Bounds = tuple[np.ndarray[Any, np.dtype[np.float64]], ...]


def _geometries_to_working(
    frame: gpd.GeoDataFrame, good: BoolArray, working_crs: str, moves: bool
) -> tuple[gpd.GeoDataFrame, Bounds, Bounds]:
    """The frame in the working CRS, and the bounds of its good rows before and after."""
    out = frame.copy(deep=False)  # only the geometry column is replaced
    geoms = out.geometry.to_numpy().copy()
    source = np.full((len(out), 4), np.nan)
    b = source
    if good.any():
        source[good] = shapely.bounds(geoms[good])
        # Already in the working CRS (the usual case): PROJ's no-op would still rebuild
        # every geometry (and the bounds stay those measured).
        if moves:
            sub = gpd.GeoSeries(geoms[good], crs=frame.crs).to_crs(working_crs)
            geoms[good] = sub.to_numpy()
            b = np.full((len(out), 4), np.nan)
            b[good] = shapely.bounds(geoms[good])
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=working_crs))
    return out, tuple(source.T), tuple(b.T)


def _coordinates_to_working(
    frame: pd.DataFrame, good: BoolArray, working_crs: str, moves: bool
) -> tuple[pd.DataFrame, Bounds, Bounds]:
    """:func:`_geometries_to_working` for a coordinate table: the same PROJ transformation
    geopandas' ``to_crs`` makes (``always_xy``), on the coordinates (a point is its bounds)."""
    x, y = (frame[c].to_numpy(dtype=np.float64) for c in XY_COLUMNS)
    out = frame.copy(deep=False)
    out.attrs[COORDINATE_CRS] = CRS.from_user_input(working_crs)
    source = (x, y, x, y)
    if not moves or not good.any():
        return out, source, source
    transformer = Transformer.from_crs(_crs_of(frame), working_crs, always_xy=True)
    wx, wy = x.copy(), y.copy()
    wx[good], wy[good] = transformer.transform(x[good], y[good])
    out[XY_COLUMNS[0]], out[XY_COLUMNS[1]] = wx, wy
    return out, source, (wx, wy, wx, wy)


def _finish(
    frame: gpd.GeoDataFrame,
    bad: BoolArray,
    log: ProblemLog,
    path: Path,
    columns: list[str],
    extra_info: dict[str, Any],
) -> ReadResult:
    # ``_row`` stays with the used rows, so rows rejected later (outside every kommun, an id
    # repeated across files) still name their row in rejected.csv.
    keep = [*columns, "_row"]
    if is_coordinate_table(frame):  # coordinates last, as without_points puts them
        keep = [*(c for c in keep if c != "geometry"), *XY_COLUMNS]
    used = frame.loc[~bad, keep].reset_index(drop=True)
    if len(used) == 0:
        reasons = sorted({p.expected for p in log.rows})[:10]
        log.file_problem(
            f"at least one usable row (all {len(frame)} rows were rejected: {reasons})"
        )
        log.raise_if_fatal()
    info = {
        "path": str(path),
        "sha256": sha256_file(path) if path.is_file() else None,
        "format": path.suffix.lower().lstrip("."),
        "source_crs": frame.attrs.get("source_crs"),
        "rows_read": len(frame),
        "rows_used": len(used),
        "rows_rejected": int(bad.sum()),
        **extra_info,
    }
    if not is_coordinate_table(frame):
        used = gpd.GeoDataFrame(used, geometry="geometry")
    return ReadResult(frame=used, rejected=log.rows, info=info)


def _prepare(
    path: Path,
    kind: str,
    layer: str | None,
    crs: str | None,
    aliases: Mapping[str, tuple[str, ...]],
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    coordinates: bool = False,
) -> tuple[gpd.GeoDataFrame, ProblemLog, list[str]]:
    raw, log = read_raw(
        path, kind=kind, layer=layer, crs=crs, max_bytes=max_bytes, coordinates=coordinates
    )
    clashes = _case_clashes([str(c) for c in raw.columns])
    if clashes:
        log.file_problem("column names that differ in more than letter case", value=clashes)
        log.raise_if_fatal()
    mapping = match_columns([str(c) for c in raw.columns], aliases)
    frame = raw.rename(columns=mapping)
    geometry = "geometry"
    if isinstance(raw, gpd.GeoDataFrame) and isinstance(frame, gpd.GeoDataFrame):
        geometry = str(raw.geometry.name)
        frame = frame.set_geometry(geometry) if geometry in frame.columns else frame
        if frame.geometry.name != "geometry":
            frame = frame.rename_geometry("geometry")
    raw_crs = _crs_of(raw)
    frame.attrs["source_crs"] = raw_crs.to_string() if raw_crs is not None else None
    known = set(aliases) | {"_row", "_coord_col", "_coord_val", geometry, "geometry"}
    unused = [str(c) for c in frame.columns if c not in known and not str(c).startswith("_")]
    warnings = [f"columns not used: {unused}"] if unused else []
    return frame, log, warnings


def _case_clashes(columns: list[str]) -> list[str]:
    """Columns whose names are equal ignoring case and spaces (they would match one name)."""
    seen: dict[str, list[str]] = {}
    for c in columns:
        seen.setdefault(c.strip().lower(), []).append(c)
    return [c for group in seen.values() if len(group) > 1 for c in group]


def _require(
    frame: pd.DataFrame,
    columns: tuple[str, ...],
    aliases: Mapping[str, tuple[str, ...]],
    log: ProblemLog,
) -> None:
    for col in columns:
        if col not in frame.columns:
            log.file_problem(
                f"a column '{col}' (or one of its aliases {list(aliases[col])})",
                value=[c for c in frame.columns if not str(c).startswith("_") and c != "geometry"],
            )


# ------------------------------------------------------------------------------------------
# Address points
# ------------------------------------------------------------------------------------------

ADDRESS_COLUMNS = [
    "address_id",
    "households",
    "workplaces",
    "holiday_homes",
    "public_site",
    "connected",
    "address",
    "postcode",
    "kommun_code",
    "geometry",
]


def read_addresses(
    path: Path | str,
    *,
    layer: str | None = None,
    crs: str | None = None,
    working_crs: str = DEFAULT_WORKING_CRS,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
    coordinates: bool = False,
) -> ReadResult:
    """Read and validate address points (SPEC §2).

    Parameters
    ----------
    path
        The file to read.
    layer
        Layer name for multi-layer files (GeoPackage).
    crs
        CRS of the coordinates when the file has none (CSV x/y, WKT).
    working_crs
        CRS the points are reprojected to.
    coordinates
        Give the points as coordinates (the pipeline's form, :mod:`coverage._points`):
        ``frame`` is then a DataFrame with :data:`~coverage._points.XY_COLUMNS` (working CRS)
        in place of ``geometry``. A GeoParquet file of plain points is then read without
        making point geometries at all (:func:`_read_point_parquet`).

    Returns
    -------
    ReadResult
        ``frame`` has the columns :data:`ADDRESS_COLUMNS` and ``_row`` (the 1-based row in the
        file); counts are int64 (empty cells are 0), ``public_site`` and ``kommun_code`` are
        ``""`` when not given.
    """
    path = Path(path)
    frame, log, warnings = _prepare(
        path, "addresses", layer, crs, ADDRESS_ALIASES, max_bytes, coordinates=coordinates
    )
    frame["_id"] = _text(frame["address_id"]) if "address_id" in frame.columns else None
    _require(frame, ("address_id",), ADDRESS_ALIASES, log)
    unit_cols = [
        c
        for c in ("households", "workplaces", "holiday_homes", "public_site")
        if c in frame.columns
    ]
    if not unit_cols:
        log.file_problem(
            "at least one unit column: households, workplaces, holiday_homes or public_site"
        )
    log.raise_if_fatal()
    bad = _check_ids(frame, "address_id", log)
    frame["address_id"] = frame["_id"]  # the ids as text, made once above
    for col in ("households", "workplaces", "holiday_homes"):
        if col not in frame.columns:
            warnings.append(f"no '{col}' column: counted as 0")
            frame[col] = 0
        values, wrong = parse_count(frame[col])
        log.row_problems(frame, wrong, col, f"a whole number from 0 to {MAX_UNITS_PER_ADDRESS}")
        frame[col] = values
        bad |= wrong
    frame["public_site"] = (
        _text(frame["public_site"]).str.lower() if "public_site" in frame.columns else ""
    )
    if "connected" in frame.columns:
        values, wrong = parse_bool(frame["connected"])
        log.row_problems(frame, wrong, "connected", "a boolean (true/false, 1/0, ja/nej) or empty")
        frame["connected"] = values
        bad |= wrong
    else:
        frame["connected"] = False
    for col in ("address", "postcode"):
        frame[col] = _text(frame[col]) if col in frame.columns else ""
    bad |= _parse_kommun_code(frame, log)
    if not is_coordinate_table(frame):  # a coordinate table holds only finite points
        bad |= _check_geometry(frame, ("Point",), "Point", log)
    frame, bad = _to_working(frame, bad, working_crs, log)
    info = {"layer": layer, "warnings": warnings}
    result = _finish(frame, bad, log, path, ADDRESS_COLUMNS, info)
    if coordinates and isinstance(result.frame, gpd.GeoDataFrame):
        result.frame = without_points(result.frame)
    # The coordinate table's CRS mark stays in the reader: the coordinates are now in the
    # working CRS, and pandas would deep-copy the CRS with every frame made from this one.
    result.frame.attrs.pop(COORDINATE_CRS, None)
    return result


def _parse_kommun_code(frame: pd.DataFrame, log: ProblemLog) -> BoolArray:
    """Normalise kommun codes to four digits ('180' -> '0180'); empty stays empty."""
    if "kommun_code" not in frame.columns:
        frame["kommun_code"] = ""
        return np.zeros(len(frame), dtype=bool)
    text = _text(frame["kommun_code"]).str.replace(r"\.0$", "", regex=True)
    padded = text.where(~text.str.fullmatch(r"\d{3}"), "0" + text)
    wrong = np.asarray((padded != "") & ~padded.str.fullmatch(r"\d{4}"), dtype=bool)
    log.row_problems(frame, wrong, "kommun_code", "a four-digit kommun code (e.g. 2061) or empty")
    frame["kommun_code"] = padded.where(~wrong, "")
    return wrong


# ------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------

NETWORK_COLUMNS = [
    "segment_id",
    "technology",
    "status",
    "year",
    "open_network",
    "owner",
    "max_down_mbps",
    "upgradeable_to_mbps",
    "geometry",
]
MIN_YEAR, MAX_YEAR = 1900, 2100


def read_network(
    path: Path | str,
    *,
    layer: str | None = None,
    crs: str | None = None,
    working_crs: str = DEFAULT_WORKING_CRS,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> ReadResult:
    """Read and validate a network layer: lines (routes, ducts) and/or points (nodes).

    OFDS GeoJSON (spans and nodes) is recognised and mapped first (:mod:`coverage.ofds`).

    Returns
    -------
    ReadResult
        ``frame`` has the columns :data:`NETWORK_COLUMNS` and ``_row``: ``technology`` and
        ``status`` in canonical spelling, ``year`` nullable Int64, ``open_network`` bool,
        speeds float (NaN = technology default).
    """
    path = Path(path)
    frame, log, warnings = _prepare(path, "network", layer, crs, NETWORK_ALIASES, max_bytes)
    frame["_id"] = _text(frame["segment_id"]) if "segment_id" in frame.columns else None
    _require(frame, ("segment_id", "technology"), NETWORK_ALIASES, log)
    log.raise_if_fatal()
    bad = _check_ids(frame, "segment_id", log)
    frame["segment_id"] = frame["_id"]  # the ids as text, made once above
    bad |= _parse_code(frame, "technology", TECHNOLOGY_ALIASES, log)
    if "status" not in frame.columns:
        warnings.append("no 'status' column: every segment taken as existing")
        frame["status"] = "existing"
    bad |= _parse_code(frame, "status", STATUS_ALIASES, log)
    bad |= _parse_year(frame, log)
    if "open_network" in frame.columns:
        values, wrong = parse_bool(frame["open_network"])
        log.row_problems(
            frame, wrong, "open_network", "a boolean (true/false, 1/0, ja/nej) or empty"
        )
        frame["open_network"] = values
        bad |= wrong
    else:
        warnings.append("no 'open_network' column: no segment counts as open network")
        frame["open_network"] = False
    frame["owner"] = _text(frame["owner"]) if "owner" in frame.columns else ""
    for col in ("max_down_mbps", "upgradeable_to_mbps"):
        if col in frame.columns:
            values, wrong = parse_optional_number(frame[col])
            log.row_problems(frame, wrong, col, "a positive number of Mbit/s or empty")
            frame[col] = values
            bad |= wrong
        else:
            frame[col] = np.nan
    allowed = ("LineString", "MultiLineString", "Point", "MultiPoint")
    bad |= _check_geometry(frame, allowed, "LineString, MultiLineString or Point", log)
    frame, bad = _to_working(frame, bad, working_crs, log)
    return _finish(frame, bad, log, path, NETWORK_COLUMNS, {"layer": layer, "warnings": warnings})


def _parse_code(
    frame: pd.DataFrame, column: str, codes: Mapping[str, str], log: ProblemLog
) -> BoolArray:
    text = _text(frame[column]).str.lower().str.replace(" ", "_", regex=False)
    mapped = text.map(codes)
    wrong = np.asarray(mapped.isna(), dtype=bool)
    allowed = sorted(set(codes.values()))
    log.row_problems(frame, wrong, column, f"one of {allowed}")
    frame[column] = mapped.fillna("").astype(object)
    return wrong


def _parse_year(frame: pd.DataFrame, log: ProblemLog) -> BoolArray:
    if "year" not in frame.columns:
        frame["year"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    text = _text(frame["year"]).str.replace(r"\.0$", "", regex=True)
    given = np.asarray(text != "", dtype=bool)
    numbers = pd.to_numeric(text.where(given, None), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    wrong = given & (
        ~np.isfinite(numbers)
        | (numbers != np.round(numbers))
        | (numbers < MIN_YEAR)
        | (numbers > MAX_YEAR)
    )
    log.row_problems(frame, wrong, "year", f"a whole year from {MIN_YEAR} to {MAX_YEAR} or empty")
    not_existing = np.asarray(frame["status"].isin(["planned", "under_construction"]), dtype=bool)
    missing = not_existing & ~given
    log.row_problems(
        frame, missing, "year", "a completion year for a planned or under_construction segment"
    )
    frame["year"] = pd.array(np.where(given & ~wrong, numbers, np.nan), dtype="Float64").astype(
        "Int64"
    )
    return np.asarray(wrong | missing, dtype=bool)


# ------------------------------------------------------------------------------------------
# Areas
# ------------------------------------------------------------------------------------------

AREA_COLUMNS = ["area_id", "name", "geometry"]


def read_areas(
    path: Path | str,
    *,
    layer: str | None = None,
    crs: str | None = None,
    working_crs: str = DEFAULT_WORKING_CRS,
    id_column: str | None = None,
    name_column: str | None = None,
    allow_points: bool = False,
    keep: tuple[str, ...] = (),
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> ReadResult:
    """Read a polygon layer of areas (``area_id``, ``name``); invalid polygons are repaired.

    ``id_column``/``name_column`` name the columns explicitly when the aliases do not find
    them. ``allow_points`` accepts Point areas (tätort centre points). ``keep`` lists extra
    source columns carried through unchanged (e.g. ``area`` in hectares).
    """
    path = Path(path)
    aliases: dict[str, tuple[str, ...]] = dict(AREA_ALIASES)
    if id_column:
        aliases["area_id"] = tuple(dict.fromkeys((id_column.lower(), *aliases["area_id"])))
    if name_column:
        aliases["name"] = (name_column.lower(), *aliases["name"])
    frame, log, warnings = _prepare(path, "areas", layer, crs, aliases, max_bytes)
    frame["_id"] = _text(frame["area_id"]) if "area_id" in frame.columns else None
    _require(frame, ("area_id",), aliases, log)
    log.raise_if_fatal()
    bad = _check_ids(frame, "area_id", log)
    frame["area_id"] = frame["_id"]  # the ids as text, made once above
    frame["name"] = _text(frame["name"]) if "name" in frame.columns else frame["area_id"]
    geoms = frame.geometry.to_numpy()
    fixable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & ~shapely.is_valid(geoms)
    if fixable.any():
        warnings.append(f"{int(fixable.sum())} invalid polygon(s) repaired with make_valid")
        repaired = shapely.make_valid(geoms[fixable])
        geoms[fixable] = _polygonal(repaired)
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    allowed = ("Polygon", "MultiPolygon", *(("Point",) if allow_points else ()))
    bad |= _check_geometry(frame, allowed, " or ".join(allowed), log)
    frame, bad = _to_working(frame, bad, working_crs, log)
    cols = AREA_COLUMNS + [c for c in keep if c in frame.columns]
    return _finish(frame, bad, log, path, cols, {"layer": layer, "warnings": warnings})


def _polygonal(geoms: Any) -> Any:
    """Keep the polygonal part of repaired geometries (make_valid may add lines/points)."""
    out = []
    for g in geoms:
        if g.geom_type == "GeometryCollection":
            polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
            out.append(shapely.union_all(polys) if polys else g)
        else:
            out.append(g)
    return np.array(out, dtype=object)
