"""Write a run's ``addresses.gpkg`` from its address table in a child process.

:mod:`coverage.runs` starts this module in a separate process as soon as the address table
is final (given as an Arrow IPC file, or as ``addresses.parquet``) and writes the other
outputs while it runs. GDAL makes the GeoPackage from the table's schema (its metadata
tables, the layer, its triggers and empty R-tree); the rows and the R-tree are then written
as whole SQLite pages (:mod:`coverage._sqlite`): 5·10⁶ addresses in 13–17 s where GDAL's
row-by-row inserts took 45 s (55 s of CPU). Whatever that path does not write (a geometry other
than a 2-D point, a row larger than a page, a column type other than text, integers, floats
and booleans) is written by GDAL from the start, streamed as Arrow batches. The child holds
one batch at a time, and the points' boxes for the R-tree. Imports stay light: this runs as
its own interpreter.

Run as ``python -c "from coverage._gpkg import main; main()" SRC DST.gpkg``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Rows per Arrow batch (read from the feed, encoded as pages, or handed to GDAL).
BATCH_ROWS = 65_536
#: Bytes read from the Parquet file at a time.
READ_BUFFER_BYTES = 1 << 20
#: SQLite page cache (MB) while GDAL writes rows. With SQLite's default (2 MB) the spatial index of
#: 5·10⁶ points was re-read from the file page by page: a third of the child's time went to
#: system calls (26 s → 20.5 s at 5 M with 64 MB, for 70 MB more memory; more cache gave
#: no more).
SQLITE_CACHE_MB = 64


def write_gpkg(src: Path, dst: Path, layer: str = "addresses") -> None:
    """``src`` (GeoParquet, or an Arrow IPC file with GeoParquet's metadata; one geometry
    column of points) as layer ``layer`` of ``dst``.

    GDAL makes the GeoPackage (its tables, triggers, the empty layer and R-tree) from the
    schema alone; the rows and the R-tree are then written as whole SQLite pages
    (:mod:`coverage._sqlite`; timings in the module's docstring). Data or a file that path
    does not handle (a geometry other than a 2-D point, a row larger
    than a page, a column type other than text, numbers and booleans) is written by GDAL
    instead, from the start.
    """
    import pyogrio

    from coverage._sqlite import UnsupportedError

    pyogrio.set_gdal_config_options({"OGR_SQLITE_CACHE": str(SQLITE_CACHE_MB)})
    schema, batches = _batches(src)
    _write_with_gdal(schema, iter(()), dst, layer)
    try:
        _fill(dst, layer, schema, _while_parent_lives(batches))
        return
    except UnsupportedError:
        dst.unlink()
    schema, batches = _batches(src)
    _write_with_gdal(schema, _while_parent_lives(batches), dst, layer)


def _write_with_gdal(schema: Any, batches: Iterator[Any], dst: Path, layer: str) -> None:
    """``batches`` as layer ``layer`` of ``dst``, written by GDAL (no batches: the empty
    layer, with its R-tree)."""
    import pyarrow as pa
    import pyogrio
    import pyproj

    geo = json.loads(schema.metadata[b"geo"])
    name = geo["primary_column"]
    crs = geo["columns"][name].get("crs")
    reader = pa.RecordBatchReader.from_batches(schema.remove_metadata(), batches)
    pyogrio.write_arrow(
        reader,
        dst,
        layer=layer,
        driver="GPKG",
        geometry_name=name,
        geometry_type="Point",
        crs=pyproj.CRS.from_user_input(crs if crs is not None else "OGC:CRS84").to_wkt(),
    )


def _batches(src: Path) -> tuple[Any, Iterator[Any]]:
    """The schema and record batches of ``src``, read a batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if src.suffix == ".arrow":
        # Read, not memory-mapped: mapped pages read would count as this process's memory.
        ipc = pa.ipc.open_file(pa.OSFile(str(src)))
        return ipc.schema, (ipc.get_batch(i) for i in range(ipc.num_record_batches))
    # Column chunks read in buffered pieces, not each row group's whole at once: the reader
    # held 0.6 GB for a 5 M run's file (0.3 GB so), for 0.2 s more.
    pf = pq.ParquetFile(src, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
    return pf.schema_arrow, pf.iter_batches(BATCH_ROWS)


def _while_parent_lives(batches: Iterator[Any]) -> Iterator[Any]:
    """The batches, stopping with an error once the run that started this process is gone
    (killed): a writer must not go on filling a temporary folder nobody will publish."""
    parent = os.getppid()
    for batch in batches:
        if os.getppid() != parent:
            raise RuntimeError("the run writing this GeoPackage has ended")
        yield batch


def main() -> None:
    """Command-line entry: ``SRC DST``; settles ``DST`` when written (on disk and hashed:
    :func:`coverage._files.settle`, saying so as one line of JSON on stdout); exits 1 with
    the error on stderr."""
    from dataclasses import asdict

    from coverage._files import settle

    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        write_gpkg(src, dst)
        sys.stdout.write(json.dumps(asdict(settle(dst))) + "\n")
    except Exception as exc:  # reported to the parent, which fails the run
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        raise SystemExit(1) from None


# --- the rows as pages ---------------------------------------------------------------------

#: Declared column types GDAL gives each kind of Arrow column (anything else: GDAL writes).
_DECLARED = {
    "text": ("TEXT",),
    "int": ("INTEGER", "MEDIUMINT", "SMALLINT", "TINYINT", "BIGINT", "INT"),
    "bool": ("BOOLEAN",),
    "real": ("REAL", "FLOAT", "DOUBLE"),
}


@dataclass(frozen=True)
class _Layer:
    """What GDAL made for an empty point layer: its columns after the fid, the geometry
    column and its SRS, the root pages of the table and of its R-tree's three tables."""

    columns: list[tuple[str, str]]  # (name, declared type)
    geometry: str
    srs_id: int
    root: int
    rtree: dict[str, int]
    node_size: int


def _read_layer(dst: Path, layer: str) -> _Layer:
    """The empty layer as GDAL made it; :class:`UnsupportedError` when it is not as expected."""
    import sqlite3
    from contextlib import closing

    from coverage._sqlite import UnsupportedError

    def quoted(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    with closing(sqlite3.connect(dst.resolve().as_uri() + "?mode=ro", uri=True)) as c:
        info = c.execute(f"PRAGMA table_info({quoted(layer)})").fetchall()
        found = c.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
        ).fetchone()
        if found is None or len(info) < 2 or info[0][1:3] != ("fid", "INTEGER") or not info[0][5]:
            raise UnsupportedError(f"{dst}: layer {layer} is not a table of fid and geometry")
        geometry, srs_id = found
        rtree = f"rtree_{layer}_{geometry}"
        shadow = {
            "node": f"CREATE TABLE {quoted(rtree + '_node')}(nodeno INTEGER PRIMARY KEY,data)",
            "rowid": f"CREATE TABLE {quoted(rtree + '_rowid')}(rowid INTEGER PRIMARY KEY,nodeno)",
            "parent": (
                f"CREATE TABLE {quoted(rtree + '_parent')}(nodeno INTEGER PRIMARY KEY,parentnode)"
            ),
        }
        schema = {
            name: (root, sql)
            for name, root, sql in c.execute(
                "SELECT name, rootpage, sql FROM sqlite_master WHERE type = 'table'"
            )
        }
        roots: dict[str, int] = {}
        if rtree in schema:
            for suffix, sql in shadow.items():
                root, actual = schema.get(f"{rtree}_{suffix}", (0, None))
                if actual != sql:
                    raise UnsupportedError(f"{dst}: the R-tree table {rtree}_{suffix} is not known")
                roots[suffix] = root
        rows = c.execute(f"SELECT count(*) FROM {quoted(layer)}").fetchone()[0]
        node_size = 0
        if roots:
            nodes = c.execute(f"SELECT nodeno, length(data) FROM {quoted(rtree + '_node')}")
            node_size = dict(nodes.fetchall()).get(1, 0)
        if rows or (roots and node_size < 28):
            raise UnsupportedError(f"{dst}: layer {layer} is not empty, or its R-tree has no root")
    return _Layer(
        [(row[1], str(row[2]).upper()) for row in info[1:]],
        geometry,
        int(srs_id),
        int(schema[layer][0]),
        roots,
        node_size,
    )


def _fill(dst: Path, layer: str, schema: Any, batches: Iterator[Any]) -> None:
    """The rows of ``batches`` (fid 1, 2, … in order) and the R-tree of their points into
    the empty ``layer`` of ``dst``, then the layer's extent, feature count and fid sequence."""
    import numpy as np

    from coverage import _sqlite as sq
    from coverage._memory import release_memory

    target = _read_layer(dst, layer)
    geometry_field = json.loads(schema.metadata[b"geo"])["primary_column"]
    fields = [f for f in schema.names if f != geometry_field]
    names = [name for name, _ in target.columns]
    if names != [target.geometry, *fields]:
        raise sq.UnsupportedError(f"{dst}: the layer's columns are not the table's")
    prefix = b"GP\x00\x01" + target.srs_id.to_bytes(4, "little", signed=True)
    db = sq.PageFile(dst)
    done = False
    try:
        table = sq.TableWriter(db, target.root)
        ids, boxes, extents = [], [], []
        first = 1
        for batch in batches:
            n = batch.num_rows
            rowids = np.arange(first, first + n, dtype=np.int64)
            first += n
            data, offsets, valid = _binary(batch.column(geometry_field))
            x, y = _points(data, offsets, valid)
            columns = [sq.null_column(n), sq.bytes_column(data, offsets, valid, False, prefix)]
            for name, declared in target.columns[1:]:
                columns.append(_column(batch.column(name), declared, db.small_constants))
            table.add(rowids, *sq.encode(columns, n))
            if len(x):
                ids.append(rowids[valid])
                boxes.append(sq.rtree_boxes(x, y))
                extents.append((x.min(), y.min(), x.max(), y.max()))
        table.close()
        if target.rtree and ids:
            entry_ids, entry_boxes = np.concatenate(ids), np.concatenate(boxes)
            # The batches' memory (Arrow's pool) and their entries (small arrays in the C
            # heap, 0.1 GB nationally) back to the system before the R-tree is packed: the
            # child's peak, beside the run's own.
            del ids, boxes
            release_memory()
            tree = sq.pack_rtree(entry_ids, entry_boxes, target.node_size)
            del entry_ids, entry_boxes
            sq.write_rtree(db, target.rtree, tree)
        done = True
    finally:
        db.close(done)
    extent = None
    if extents:
        low, high = np.min(extents, axis=0)[:2], np.max(extents, axis=0)[2:]
        extent = (*low, *high)
    _finish_layer(dst, layer, first - 1, extent)


def _binary(array: Any) -> tuple[Any, Any, Any]:
    """Bytes, offsets (``n + 1``, int64) and validity of a string or binary Arrow array."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_string(array.type) or pa.types.is_binary(array.type):
        array = array.cast(pa.large_binary())
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return data, offsets, array.is_valid().to_numpy(zero_copy_only=False)


def _points(data: Any, offsets: Any, valid: Any) -> tuple[Any, Any]:
    """x and y of the valid rows' little-endian 2-D WKB points (the pipeline's; anything
    else, an empty point included, is :class:`~coverage._sqlite.UnsupportedError`)."""
    import numpy as np

    from coverage._sqlite import UnsupportedError

    if not (np.diff(offsets)[valid] == 21).all():
        raise UnsupportedError("a geometry is not a 2-D point")
    if valid.all() and offsets[-1] - offsets[0] == 21 * len(valid):
        records = data[offsets[0] : offsets[-1]].reshape(-1, 21)  # the usual case: no gather
    else:
        records = data[offsets[:-1][valid, None] + np.arange(21)]
    if not (records[:, :5] == np.array([1, 1, 0, 0, 0], dtype=np.uint8)).all():
        raise UnsupportedError("a geometry is not a little-endian 2-D point")
    x = records[:, 5:13].copy().view("<f8")[:, 0]
    y = records[:, 13:21].copy().view("<f8")[:, 0]
    if np.isnan(x).any() or np.isnan(y).any():
        raise UnsupportedError("an empty point")
    return x, y


def _column(array: Any, declared: str, small_constants: bool) -> Any:
    """The SQLite column of an Arrow column GDAL declared as ``declared``."""
    import numpy as np
    import pyarrow as pa

    from coverage import _sqlite as sq

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    kind = (
        "bool"
        if pa.types.is_boolean(t)
        else "int"
        if pa.types.is_integer(t) and t != pa.uint64()
        else "real"
        if pa.types.is_floating(t)
        else "text"
        if pa.types.is_string(t) or pa.types.is_large_string(t)
        else None
    )
    if kind is None or declared.split("(")[0] not in _DECLARED[kind]:
        raise sq.UnsupportedError(f"a column of type {t} declared {declared}")
    if kind == "text":
        return sq.bytes_column(*_binary(array), text=True)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if kind == "real":
        return sq.real_column(array.fill_null(0).to_numpy(zero_copy_only=False), valid)
    values = array.fill_null(False if kind == "bool" else 0).to_numpy(zero_copy_only=False)
    values = values.astype(np.int64)
    return sq.int_column(values, valid, small_constants)


def _as_gdal_stores(extent: tuple[float, ...], folder: Path) -> tuple[float, ...]:
    """``extent`` (min x, min y, max x, max y) as GDAL stores it in ``gpkg_contents``.

    GDAL prints the extent into SQL text with its own SQLite's ``printf`` and reads it back:
    16 significant digits, rounded the way that SQLite's version rounds (3.52 and later
    round twice, so 1048576.0063200294971… is stored as 1048576.00632003, where Python's
    correctly rounded ``.16g`` gives …029). Rather than copy one version's arithmetic, GDAL
    writes the two corner points as a layer of their own and the extent is read from there.
    """
    import sqlite3
    import struct
    import tempfile
    import warnings
    from contextlib import closing

    import numpy as np
    import pyogrio.raw

    # Two WKB points (little endian, type 1).
    corners = [struct.pack("<BIdd", 1, 1, *extent[:2]), struct.pack("<BIdd", 1, 1, *extent[2:])]
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extent-") as tmp:
        path = Path(tmp) / "extent.gpkg"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'crs' was not provided")  # no CRS is needed here
            wkb = np.asarray(corners, dtype=object)
            pyogrio.raw.write(path, wkb, [], [], driver="GPKG", geometry_type="Point")
        with closing(sqlite3.connect(path)) as c:
            stored = c.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents").fetchone()
    return tuple(float(v) for v in stored)


def _finish_layer(dst: Path, layer: str, rows: int, extent: tuple[float, ...] | None) -> None:
    """What GDAL keeps beside the rows: the layer's extent, its feature count and the fid
    sequence (AUTOINCREMENT)."""
    import sqlite3
    from contextlib import closing

    if rows == 0:
        return
    with closing(sqlite3.connect(dst)) as c:
        # The pages are on disk already; a run is published whole or not at all.
        c.execute("PRAGMA synchronous = OFF")
        if extent is not None:
            extent = _as_gdal_stores(extent, dst.parent)
            c.execute(
                "UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                "WHERE lower(table_name) = lower(?)",
                (*extent, layer),
            )
        ogr = c.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'")
        if ogr.fetchone():
            c.execute(
                "UPDATE gpkg_ogr_contents SET feature_count = ? WHERE lower(table_name) = lower(?)",
                (rows, layer),
            )
        c.execute("DELETE FROM sqlite_sequence WHERE name = ?", (layer,))
        c.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (layer, rows))
        c.commit()
