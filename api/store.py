"""Run folders loaded once into memory, checked against their manifests, refreshed when a
newer run appears (the API's ``app.state.store``)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import shapely

from api.cache import ResponseCache
from api.settings import Settings
from coverage._errors import RunIntegrityError, RunNotFoundError
from coverage.disclosure import suppress_area_table, suppression_mask
from coverage.runs import list_runs, run_path, verify_run

log = logging.getLogger("bbplan.api")

WGS84 = "EPSG:4326"
WEB_MERCATOR = "EPSG:3857"
AREA_LEVELS = ("kommun", "tatort", "grid_250m", "grid_1km", "custom")
#: A target's figure columns in an area table (``<target>__<field>``).
AREA_FIGURE_FIELDS = ("numerator", "denominator", "share", "threshold", "met", "shortfall")
#: Map layers: name -> whether it needs the planner role.
LAYERS = {
    "addresses": True,
    "network": True,
    "gaps": True,
    **{level: False for level in AREA_LEVELS},
}


@dataclass
class Layer:
    """One map layer of a run: attributes and geometries (working CRS, WGS 84, Web Mercator)."""

    frame: pd.DataFrame
    working: np.ndarray[Any, Any]
    wgs84: np.ndarray[Any, Any]
    mercator: np.ndarray[Any, Any]
    tree_working: shapely.STRtree
    tree_wgs84: shapely.STRtree
    tree_mercator: shapely.STRtree


def _layer(gdf: gpd.GeoDataFrame) -> Layer:
    geoms = gdf.geometry.to_numpy()
    wgs = gdf.geometry.to_crs(WGS84).to_numpy()
    merc = gdf.geometry.to_crs(WEB_MERCATOR).to_numpy()
    return Layer(
        frame=pd.DataFrame(gdf.drop(columns=gdf.geometry.name)),
        working=geoms,
        wgs84=wgs,
        mercator=merc,
        tree_working=shapely.STRtree(geoms),
        tree_wgs84=shapely.STRtree(wgs),
        tree_mercator=shapely.STRtree(merc),
    )


@dataclass
class RunData:
    """Everything the API serves from one run."""

    run_id: str
    folder: Path
    manifest: dict[str, Any]
    figures: dict[str, Any]
    timeline: dict[str, Any]
    addresses: gpd.GeoDataFrame
    layers: dict[str, Layer]
    area_tables: dict[str, pd.DataFrame]
    position: dict[str, int]
    etag: str
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Public (suppressed) copies of the area tables, made once per table: runs are immutable.
    _public: dict[tuple[str, str, int], pd.DataFrame] = field(default_factory=dict)
    #: Public suppression of each target's by-area figures, decided once per (target, level).
    _public_masks: dict[tuple[str, str, int], np.ndarray[Any, np.dtype[np.bool_]]] = field(
        default_factory=dict
    )
    _area_figures: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    #: Encoded tiles and pages (bounded; see :mod:`api.cache`).
    responses: ResponseCache = field(default_factory=lambda: ResponseCache(0))

    @cached_property
    def working_crs(self) -> str:
        """The addresses' CRS as text (a GeoDataFrame's ``crs`` and ``to_string`` cost ~0.5 ms
        per lookup otherwise)."""
        crs = self.addresses.crs
        return "" if crs is None else str(crs.to_string())

    @property
    def target_ids(self) -> list[str]:
        return list(self.targets)

    def public_table(
        self, kind: str, level: str, table: pd.DataFrame, min_units: int
    ) -> pd.DataFrame:
        """``table`` with small counts suppressed, computed on first use and then reused."""
        key = (kind, level, min_units)
        if key not in self._public:
            self._public[key] = suppress_area_table(table, self.target_ids, min_units)
        return self._public[key]

    def area_figures(self, target_id: str, level: str) -> pd.DataFrame:
        """One target's figures per area of a level, in area id order: the columns of
        figures.json's ``by_area`` rows, read from the level's area table (which holds every
        level, grids included) and kept as columns, not as 10⁶ dictionaries."""
        key = (target_id, level)
        if key not in self._area_figures:
            table = self.area_tables[level]
            self._area_figures[key] = pd.DataFrame(
                {
                    "area_id": table["area_id"],
                    "name": table["name"],
                    **{f: table[f"{target_id}__{f}"] for f in AREA_FIGURE_FIELDS},
                }
            )
        return self._area_figures[key]

    def public_mask(
        self, target_id: str, level: str, min_units: int
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Which of one target's areas at one level are hidden from the public (primary and
        complementary suppression, decided over the whole level), computed once: a national
        level has 10⁵-10⁶ areas, far too many to decide per request."""
        key = (target_id, level, min_units)
        if key not in self._public_masks:
            rows = self.area_figures(target_id, level)
            denominators = rows["denominator"].to_numpy(dtype=float, na_value=0.0)
            ids = rows["area_id"].astype(str).tolist()
            self._public_masks[key] = np.asarray(
                suppression_mask(denominators, min_units, ids), dtype=bool
            )
        return self._public_masks[key]

    def warm(self, min_units: int) -> None:
        """Make every public view now (masks, suppressed area tables and layers), so that no
        request waits for one on a national run."""
        for target_id in self.targets:
            for level in self.area_tables:
                self.public_mask(target_id, level, min_units)
        for level, table in self.area_tables.items():
            self.public_table("table", level, table, min_units)
            if level in self.layers:
                self.public_table("layer", level, self.layers[level].frame, min_units)


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    """A GeoParquet file with every Arrow-backed column in one contiguous chunk. Read as is,
    text columns keep one chunk per row group (38 for 5 M addresses), and every row taken from
    them (a tile, a page of features) resolves chunks anew: 10 ms per column per request on a
    national run, against 0.05 ms from one chunk."""
    frame = gpd.read_parquet(path)
    for name in frame.columns:
        values = frame[name].array
        if isinstance(values, gpd.array.GeometryArray) or not hasattr(values, "__arrow_array__"):
            continue
        chunked = values.__arrow_array__()
        if isinstance(chunked, pa.ChunkedArray) and chunked.num_chunks > 1:
            frame[name] = pd.Series(
                chunked.combine_chunks(), index=frame.index, dtype=frame[name].dtype
            )
    return frame


def load_run(folder: Path) -> RunData:
    """Read and verify a run folder (raises :class:`RunIntegrityError` if files were changed)."""
    manifest = verify_run(folder)
    figures = orjson.loads((folder / "figures.json").read_bytes())  # fast on national runs
    timeline = orjson.loads((folder / "timeline.json").read_bytes())
    addresses = _read_parquet(folder / "addresses.parquet")
    layers = {"addresses": _layer(addresses)}
    for name in ("network", "gaps"):
        if (folder / f"{name}.parquet").is_file():
            layers[name] = _layer(_read_parquet(folder / f"{name}.parquet"))
    tables: dict[str, pd.DataFrame] = {}
    for level in AREA_LEVELS:
        path = folder / "areas" / f"{level}.parquet"
        if path.is_file():
            gdf = _read_parquet(path)
            tables[level] = pd.DataFrame(gdf.drop(columns="geometry"))
            has_geom = ~gdf.geometry.isna()
            layers[level] = _layer(gdf.loc[has_geom].reset_index(drop=True))
    outputs = manifest.get("outputs", {})
    etag = str(outputs.get("addresses.parquet", {}).get("sha256", ""))[:16] + folder.name
    return RunData(
        run_id=folder.name,
        folder=folder,
        manifest=manifest,
        figures=figures,
        timeline=timeline,
        addresses=addresses,
        layers=layers,
        area_tables=tables,
        position={str(a): i for i, a in enumerate(addresses["address_id"].tolist())},
        etag=etag,
        targets={t["id"]: t for t in figures["targets"]},
    )


class RunStore:
    """Loaded runs (a small LRU cache) and which one is the latest good run."""

    def __init__(self, settings: Settings, capacity: int = 3) -> None:
        self.settings = settings
        self.capacity = capacity
        self._cache: OrderedDict[str, RunData] = OrderedDict()
        self._refused: set[str] = set()
        self._lock = threading.Lock()
        self._latest: str | None = None
        self._checked = 0.0

    def refresh(self) -> str | None:
        """Find the newest run that passes its integrity check (or the configured run)."""
        with self._lock:
            self._checked = time.monotonic()
            if self.settings.run_id:
                self._latest = self.settings.run_id
                return self._latest
            for run_id in reversed(list_runs(self.settings.runs_dir)):
                if run_id in self._refused:
                    continue
                try:
                    self._load_locked(run_id)
                except RunIntegrityError as exc:
                    log.error("refusing run %s: %s", run_id, exc)
                    self._refused.add(run_id)
                    continue
                self._latest = run_id
                return run_id
            self._latest = None
            return None

    def latest_id(self) -> str:
        """Id of the run served by default; re-checked every ``reload_interval_s``."""
        interval = self.settings.reload_interval_s
        if self._latest is None or (interval > 0 and time.monotonic() - self._checked > interval):
            self.refresh()
        if self._latest is None:
            raise RunNotFoundError(
                f"no complete run in {self.settings.runs_dir} yet (run 'bbplan run')"
            )
        return self._latest

    def cached(self, run_id: str | None = None) -> RunData | None:
        """The run if it can be served from memory without a check or a load (else None):
        the fast path that lets light requests stay on the event loop."""
        interval = self.settings.reload_interval_s
        if run_id is None:
            due = interval > 0 and time.monotonic() - self._checked > interval
            if self._latest is None or due:
                return None
            run_id = self._latest
        if run_id in self._refused:
            return None
        return self._cache.get(run_id)  # a dict read: safe without the lock under the GIL

    def get(self, run_id: str | None = None) -> RunData:
        """A run by id, or the latest; loaded once, then served from memory."""
        rid = run_id or self.latest_id()
        with self._lock:
            if rid in self._refused:
                raise RunIntegrityError(f"run '{rid}' failed its integrity check")
            return self._load_locked(rid)

    def _load_locked(self, run_id: str) -> RunData:
        if run_id in self._cache:
            self._cache.move_to_end(run_id)
            return self._cache[run_id]
        folder = run_path(self.settings.runs_dir, run_id)
        started = time.perf_counter()
        data = load_run(folder)
        data.responses = ResponseCache(self.settings.response_cache_mb * 2**20)
        data.warm(self.settings.min_units)
        log.info("loaded run %s in %.2f s", run_id, time.perf_counter() - started)
        self._cache[run_id] = data
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        # A run is immutable and holds millions of Python objects (figures.json parsed): left
        # to the cyclic garbage collector, every full collection walks them all and stalls
        # requests for seconds on a national run. Frozen, the collector skips them; they are
        # still freed by reference counting when the run leaves the cache.
        gc.collect()
        gc.freeze()
        return data
