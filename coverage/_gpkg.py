"""Write a run's ``addresses.gpkg`` from its ``addresses.parquet`` in a child process.

GDAL writes a GeoPackage row by row under the GIL (29 s for 5 M addresses, nothing else can
run in the process meanwhile), so :mod:`coverage.runs` starts this module in a separate
process as soon as the address table is final (given as an Arrow IPC file, or as
``addresses.parquet``) and writes the other outputs while it runs (both cores busy). The
child streams the table to GDAL as Arrow batches, so it holds one batch, not the table.
Imports stay light: this runs as its own interpreter.

Run as ``python -c "from coverage._gpkg import main; main()" SRC DST.gpkg``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Rows per Arrow batch handed to GDAL.
BATCH_ROWS = 65_536
#: Bytes read from the Parquet file at a time.
READ_BUFFER_BYTES = 1 << 20
#: SQLite page cache (MB) while writing. With SQLite's default (2 MB) the spatial index of
#: 5·10⁶ points was re-read from the file page by page: a third of the child's time went to
#: system calls (26 s → 20.5 s at 5 M with 64 MB, for 70 MB more memory; more cache gave
#: no more).
SQLITE_CACHE_MB = 64


def write_gpkg(src: Path, dst: Path, layer: str = "addresses") -> None:
    """``src`` (GeoParquet, or an Arrow IPC file with GeoParquet's metadata; one geometry
    column of points) as layer ``layer`` of ``dst``."""
    import pyarrow as pa
    import pyogrio
    import pyproj

    pyogrio.set_gdal_config_options({"OGR_SQLITE_CACHE": str(SQLITE_CACHE_MB)})
    schema, batches = _batches(src)
    geo = json.loads(schema.metadata[b"geo"])
    name = geo["primary_column"]
    crs = geo["columns"][name].get("crs")
    reader = pa.RecordBatchReader.from_batches(
        schema.remove_metadata(), _while_parent_lives(batches)
    )
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
    """Command-line entry: ``SRC DST``; exits 1 with the error on stderr."""
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        write_gpkg(src, dst)
    except Exception as exc:  # reported to the parent, which fails the run
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        raise SystemExit(1) from None
