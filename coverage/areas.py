"""Area levels of the figures: kommun, tätort, SCB grid squares and custom polygons (SPEC §2, §4).

* **kommun**: the address's own ``kommun_code`` when given, else the SCB kommun polygon it lies
  in; points just outside the generalised coastline take the nearest kommun within
  :data:`KOMMUN_SNAP_M`.
* **tätort**: the tätort polygon an address lies in. When only SCB tätort *points* exist (as
  in the shipped SCB 2020 file), each tätort is approximated by a circle of its published area
  (``area`` in hectares) around its point, and an address in several circles takes the nearest
  centre. Everything else is :data:`~coverage.schema.OUTSIDE_TATORT_ID` ("rural").
* **grid_250m / grid_1km**: SCB-style squares in EPSG:3006, id = easting (6 digits) and
  northing (7 digits) of the square's south-west corner, as SCB's ``rutid``.
* **custom**: any polygon layer; polygons may overlap, so membership is a table of pairs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from coverage._cells import cell_outlines, distinct_cells, grid_keys, stable_order, unique_keys
from coverage._errors import InputFileError
from coverage._points import Points, point_index, point_xy
from coverage._text import TEXT_DTYPE, text_from_codes
from coverage._validate import Problem
from coverage.io import ReadResult, read_areas
from coverage.schema import OUTSIDE_TATORT_ID

#: SCB's tätort rule: at most 200 m between buildings of one contiguous settlement.
TATORT_GAP_M = 200.0
#: Largest distance (m) at which an address outside every kommun polygon snaps to the nearest.
KOMMUN_SNAP_M = 5000.0
GRID_SIZES_M = {"grid_250m": 250, "grid_1km": 1000}

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
GIS_DATA = PACKAGE_ROOT / "gis_data"
KOMMUN_FILE = GIS_DATA / "boundaries" / "kommuner_sweref99tm.gpkg"
TATORT_POINTS_FILE = GIS_DATA / "tatorter" / "tatorter_2020_points_sweref99tm.gpkg"


@dataclass(frozen=True)
class AreaLayer:
    """Polygons of one area level: ``area_id``, ``name``, ``geometry``."""

    level: str
    areas: gpd.GeoDataFrame
    source: str
    #: True when the areas were approximated from points (tätort centre points).
    from_points: bool = False
    #: Rows of the source file that could not be used (they go to rejected.csv).
    rejected: tuple[Problem, ...] = ()


def read_kommuner(path: Path = KOMMUN_FILE, working_crs: str = "EPSG:3006") -> AreaLayer:
    """The kommun boundaries (shipped SCB polygons by default)."""
    result = read_areas(path, working_crs=working_crs, id_column="code", name_column="name")
    return AreaLayer("kommun", result.frame, str(path), rejected=tuple(result.rejected))


def assign_kommun(points: Points, given: pd.Series, kommuner: AreaLayer) -> pd.Series:
    """Kommun code per address: the given code, else the polygon it lies in (or snaps to).

    Returns ``""`` where an address is more than :data:`KOMMUN_SNAP_M` from every kommun.
    ``points`` are shapely points or their coordinates, in the kommuner's CRS.
    """
    import pyarrow.compute as pc

    text = given.astype(TEXT_DTYPE)
    missing = (text == "").to_numpy(dtype=bool, na_value=True)
    if not missing.any():
        return text
    rows = np.full(len(text), -1, dtype=np.int64)
    rows[missing] = _polygon_rows(point_xy(points)[missing], kommuner.areas, KOMMUN_SNAP_M)
    ids = [str(i) for i in kommuner.areas["area_id"]]
    # Made in Arrow from row numbers: 5·10⁶ Python strings set into the column took 1.5 s.
    found = pa.array(text_from_codes(rows + 1, ["", *ids]))
    codes = pc.if_else(pa.array(missing), found, pa.array(text.array, type=found.type))
    return pd.Series(pd.array(codes, dtype=TEXT_DTYPE), index=given.index)


def _polygon_rows(
    xy: np.ndarray[Any, np.dtype[np.float64]], polys: gpd.GeoDataFrame, snap_m: float
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Row of the polygon each point (``xy``) lies in (the lowest id where polygons overlap),
    else of the nearest within ``snap_m`` (the lowest id on ties), else -1."""
    geoms = polys.geometry.to_numpy()
    ids = polys["area_id"].to_numpy(dtype=object)
    out = _owner_by_square(xy, geoms).astype(np.int64)
    todo = np.flatnonzero(out < 0)  # points in squares that a border crosses
    # Candidates by bounding box, then a point-in-polygon test on the prepared polygons (the
    # tree's ``within`` predicate tests the unprepared polygons: 2x slower nationally).
    # ``contains_xy`` is exclusive like ``within``: a point on a border is in neither.
    qi, qa = in_bounding_boxes(xy[todo], geoms)
    shapely.prepare(geoms)
    inside = shapely.contains_xy(geoms[qa], xy[todo[qi], 0], xy[todo[qi], 1])
    pi, ai = todo[qi[inside]], qa[inside]
    id_rank = _ranks(ids)  # integer sort keys: lexsort over 10⁶ strings is far slower
    order = np.lexsort((id_rank[ai], pi))
    pi, ai = pi[order], ai[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    out[pi[first]] = ai[first]
    # The rest lie outside every polygon (or on a border): the nearest one within ``snap_m``,
    # the lowest id on ties (distances equal to the nanometre, as in every engine). Outside a
    # polygon its distance is its boundary's, which the compiled kernel measures as GEOS does.
    rest = np.flatnonzero(out < 0)
    if len(rest):
        from coverage.kernel import nearest_within  # numba: only when points are outside

        near, _ = nearest_within(xy[rest], shapely.boundary(geoms), id_rank, snap_m)
        out[rest] = near
    return out


#: Side (m) of the squares tested whole against the polygons before any point is.
OWNER_SQUARE_M = 1000.0


def in_bounding_boxes(
    xy: np.ndarray[Any, np.dtype[np.float64]], geoms: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, np.dtype[np.intp]]]:
    """Pairs (point, polygon) where the point (``xy``) lies in the polygon's bounding box,
    borders included, by point then polygon: what ``STRtree(geoms).query(points)`` finds,
    without making the points. The tree is asked once per occupied square of
    :data:`OWNER_SQUARE_M` (grown by a metre, so rounding never drops a point), and the
    points of each square found are tested against the box."""
    empty = np.zeros(0, dtype=np.intp)
    if len(xy) == 0 or len(geoms) == 0:
        return empty, empty
    size = OWNER_SQUARE_M
    cells, inverse = _distinct_cells(xy[:, 0], xy[:, 1], size)
    x0, y0 = cells[:, 0] * size - 1.0, cells[:, 1] * size - 1.0
    ci, ai = shapely.STRtree(geoms).query(shapely.box(x0, y0, x0 + size + 2.0, y0 + size + 2.0))
    # Every point of each square found, square by square (points grouped by a stable sort).
    members = stable_order(inverse)
    first = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(cells)))])
    count = first[ci + 1] - first[ci]
    ends = np.cumsum(count)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - count, count)
    pi = members[np.repeat(first[ci], count) + within]
    ai = np.repeat(ai, count)
    box = shapely.bounds(geoms)[ai]
    x, y = xy[pi, 0], xy[pi, 1]
    keep = (x >= box[:, 0]) & (y >= box[:, 1]) & (x <= box[:, 2]) & (y <= box[:, 3])
    pi, ai = pi[keep], ai[keep]
    order = np.lexsort((ai, pi))
    return pi[order].astype(np.intp), ai[order].astype(np.intp)


def _owner_by_square(
    xy: np.ndarray[Any, np.dtype[np.float64]], polys: np.ndarray[Any, Any]
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Per point, the polygon whose interior holds the point's whole square when no other
    polygon touches that square (so ``within`` could only answer that polygon), else -1.

    Most addresses lie in squares far from any border: 2·10⁵ prepared square tests settle
    them instead of 5·10⁶ point tests; only points in squares that a border crosses are left
    to the point test."""
    if len(xy) == 0 or len(polys) == 0:
        return np.full(len(xy), -1, dtype=np.intp)
    size = OWNER_SQUARE_M
    cells, inverse = _distinct_cells(xy[:, 0], xy[:, 1], size)
    x0, y0 = cells[:, 0] * size, cells[:, 1] * size
    squares = shapely.STRtree(shapely.box(x0, y0, x0 + size, y0 + size))
    # The polygons are the query side, so each is prepared once for all its squares.
    inside_poly, inside_sq = squares.query(polys, predicate="contains_properly")
    _, touch_sq = squares.query(polys, predicate="intersects")
    touching = np.bincount(touch_sq, minlength=len(cells))
    owner = np.full(len(cells), -1, dtype=np.intp)
    sole = touching[inside_sq] == 1
    owner[inside_sq[sole]] = inside_poly[sole]
    per_point: np.ndarray[Any, np.dtype[np.intp]] = owner[inverse]
    return per_point


def majority_label(
    group: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Per group code (0..max), the label most of its rows have, the lowest label on ties;
    None for a code without rows. One unique over (group, label) codes: a groupby over 10⁶
    string pairs took seconds."""
    label_codes, label_ids = pd.factorize(np.asarray(labels, dtype=object), sort=True)
    g, k = majority_code(group, label_codes, len(label_ids))
    out = np.full(int(np.max(group)) + 1 if len(group) else 0, None, dtype=object)
    out[g] = np.asarray(label_ids, dtype=object)[k]
    return out


def majority_code(
    group: np.ndarray[Any, Any], codes: np.ndarray[Any, Any], n_codes: int
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """The groups that have rows, and the code (``0..n_codes - 1``) most of each group's rows
    have, the lowest code on ties."""
    n_codes = max(int(n_codes), 1)
    group = np.asarray(group, dtype=np.int64)
    pair, n = np.unique(group * n_codes + np.asarray(codes, dtype=np.int64), return_counts=True)
    g, k = pair // n_codes, pair % n_codes
    order = np.lexsort((k, -n, g))  # by group, then most rows, then lowest code
    first = order[np.r_[True, g[order][1:] != g[order][:-1]]] if len(order) else order
    return g[first], k[first]


def _ranks(ids: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each id's position in sorted order (equal ids equal ranks): integer keys that sort
    as the ids do."""
    _, inverse = np.unique(np.asarray(ids, dtype=str), return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).ravel()


def read_tatorter(path: Path = TATORT_POINTS_FILE, working_crs: str = "EPSG:3006") -> AreaLayer:
    """Tätort polygons, or circles of published area around SCB tätort points (see module doc)."""
    result = read_areas(
        path,
        working_crs=working_crs,
        id_column="code",
        name_column="name",
        allow_points=True,
        keep=("area", "area_ha", "mun_code", "kommun"),
    )
    frame = result.frame
    is_point = (frame.geom_type == "Point").to_numpy()
    if is_point.any():
        frame = _circles_from_points(frame, is_point, str(path))
    return AreaLayer(
        "tatort",
        frame,
        str(path),
        from_points=bool(is_point.any()),
        rejected=tuple(result.rejected),
    )


def _circles_from_points(
    frame: gpd.GeoDataFrame, is_point: np.ndarray[Any, Any], path: str
) -> gpd.GeoDataFrame:
    area_col = (
        "area" if "area" in frame.columns else "area_ha" if "area_ha" in frame.columns else None
    )
    if area_col is None:
        raise InputFileError(
            path, [Problem(path, "an 'area' (hectares) column to size tätort points")]
        )
    hectares = pd.to_numeric(frame[area_col], errors="coerce").to_numpy(dtype=float)
    bad = is_point & ~(np.isfinite(hectares) & (hectares > 0))
    if bad.any():
        rows = frame.loc[bad, "area_id"].tolist()[:10]
        raise InputFileError(
            path, [Problem(path, "a positive area in hectares", column=area_col, value=rows)]
        )
    out = frame.copy()
    radius = np.sqrt(hectares * 10_000 / np.pi)
    geoms = out.geometry.to_numpy().copy()
    geoms[is_point] = shapely.buffer(geoms[is_point], radius[is_point], quad_segs=16)
    out["centre"] = frame.geometry.to_numpy()
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=frame.crs))


def assign_tatort(
    points: Points,
    tatorter: AreaLayer,
    gap_m: float | None = None,
    rows: np.ndarray[Any, np.dtype[np.int64]] | None = None,
) -> pd.Series:
    """Tätort id per address, or :data:`OUTSIDE_TATORT_ID`; overlaps go to the nearest centre.

    With ``gap_m`` (used for tätorter approximated from points), each tätort is extended
    along contiguous settlement: addresses linked to it by gaps of at most ``gap_m``, SCB's
    own tätort rule (200 m between buildings). See :func:`_extend_by_settlement`.
    ``rows`` are :func:`tatort_rows` of the points when already known (each point's own).
    """
    ids = tatorter.areas["area_id"].to_numpy(dtype=object)
    rank = _ranks(ids)  # integer keys in id order: ties go to the lowest id
    xy = point_xy(points)
    area = _area_by_polygon(xy, tatorter, rank) if rows is None else rows
    if len(area) != len(xy):
        raise ValueError(f"expected a tätort row per point ({len(xy)}), got {len(area)}")
    if gap_m is not None:
        area = _extend_by_settlement(xy, area, rank, gap_m)
    # Row -1 (outside every tätort) is label 0.
    text = text_from_codes(area + 1, [OUTSIDE_TATORT_ID, *(str(i) for i in ids)])
    return pd.Series(text, index=point_index(points))


def tatort_rows(points: Points, tatorter: AreaLayer) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Row (in ``tatorter.areas``) of the tätort polygon holding each point, -1 outside every
    one; where tätorter overlap, the nearest centre, then the lowest id. Each point's answer
    depends on that point alone (unlike the settlement extension of :func:`assign_tatort`)."""
    rank = _ranks(tatorter.areas["area_id"].to_numpy(dtype=object))
    return _area_by_polygon(point_xy(points), tatorter, rank)


def _area_by_polygon(
    xy: np.ndarray[Any, np.dtype[np.float64]],
    tatorter: AreaLayer,
    rank: np.ndarray[Any, np.dtype[np.int64]],
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Row of the tätort holding each point (the nearest centre, then the lowest id, where
    tätorter overlap), -1 outside every tätort."""
    areas = tatorter.areas
    geoms = areas.geometry.to_numpy()
    # Candidates by bounding box, then the test on the prepared polygons (the tree's
    # ``intersects`` predicate tests them unprepared: slower).
    qi, qa = in_bounding_boxes(xy, geoms)
    shapely.prepare(geoms)
    hit = shapely.intersects_xy(geoms[qa], xy[qi, 0], xy[qi, 1])
    pi, ai = qi[hit], qa[hit]
    centre = (
        areas["centre"].to_numpy()
        if "centre" in areas.columns
        else shapely.centroid(areas.geometry.to_numpy())
    )
    centres = np.column_stack([shapely.get_x(centre), shapely.get_y(centre)])
    d = point_distance(xy[pi], centres[ai])
    order = np.lexsort((rank[ai], d, pi))
    pi, ai = pi[order], ai[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    out = np.full(len(xy), -1, dtype=np.int64)
    out[pi[first]] = ai[first]
    return out


def point_distance(
    a: np.ndarray[Any, np.dtype[np.float64]], b: np.ndarray[Any, np.dtype[np.float64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Distance between points ``a[i]`` and ``b[i]`` (``(n, 2)`` coordinates) as GEOS
    measures it, ``sqrt(dx·dx + dy·dy)``, so ties between centres are decided alike."""
    dx, dy = a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]
    out: np.ndarray[Any, np.dtype[np.float64]] = np.sqrt(dx * dx + dy * dy)
    return out


def grid_id(points: Points, size_m: int) -> pd.Series:
    """SCB-style square id (SW corner easting 6 digits + northing 7 digits) in EPSG:3006
    (a GeoSeries in another CRS is reprojected; coordinates must be in EPSG:3006)."""
    if isinstance(points, gpd.GeoSeries) and (points.crs is None or points.crs.to_epsg() != 3006):
        points = points.to_crs(3006)
    cells = grid_cells(point_xy(points), size_m)
    return pd.Series(cells.text(), index=point_index(points))


@dataclass(frozen=True)
class GridCells:
    """The grid squares of ``size_m`` holding a set of points (EPSG:3006 coordinates): their
    SCB-style ids, sorted, their south-west corners, and each point's square as a code.

    The squares are found by number and each id is formatted once: a level's ids as 5·10⁶
    strings, factorised (and made unique again for the outlines), took 3 s a level nationally.
    """

    size_m: int
    ids: pd.Index  # text, sorted
    x_m: np.ndarray[Any, np.dtype[np.float64]]
    y_m: np.ndarray[Any, np.dtype[np.float64]]
    codes: np.ndarray[Any, np.dtype[np.intp]]

    def text(self) -> pd.api.extensions.ExtensionArray:
        """Each point's square id as a pandas text array."""
        return text_from_codes(self.codes, self.ids)

    def categorical(self) -> pd.Categorical:
        """Each point's square id, factorised as ``pd.Categorical(self.text())`` would be."""
        return pd.Categorical.from_codes(self.codes, self.ids)

    def subset(self, keep: np.ndarray[Any, np.dtype[np.bool_]]) -> GridCells:
        """The squares of the points ``keep`` marks (squares left empty are dropped)."""
        codes = self.codes[keep]
        used = np.bincount(codes, minlength=len(self.ids)) > 0
        if not used.all():
            codes = (np.cumsum(used) - 1)[codes]
        return GridCells(self.size_m, self.ids[used], self.x_m[used], self.y_m[used], codes)

    def squares(self) -> gpd.GeoDataFrame:
        """The squares as polygons (EPSG:3006), as :func:`grid_squares` makes them."""
        return _squares(self.ids, self.x_m, self.y_m, self.size_m)


def grid_cells(xy: np.ndarray[Any, np.dtype[np.float64]], size_m: int) -> GridCells:
    """The :class:`GridCells` of ``size_m`` of points (``(n, 2)``, EPSG:3006)."""
    cells, inverse = _distinct_cells(xy[:, 0], xy[:, 1], size_m)
    x_m, y_m = (cells[:, 0] * size_m).astype(float), (cells[:, 1] * size_m).astype(float)
    ids = pd.Index(_square_ids(x_m, y_m), dtype=TEXT_DTYPE)
    # Cells come in (x, y) order, the ids' text order for 6- and 7-digit corners (the SWEREF
    # 99 TM grid). Other corners are formatted by Python, and their ids sorted as text (two
    # cells may then share an id, as they did as text: their points share the square).
    if not _on_grid(x_m, y_m):
        uniq, first, code = np.unique(ids.to_numpy(dtype=str), True, True)
        ids = pd.Index(uniq.astype(object), dtype=TEXT_DTYPE)
        x_m, y_m, inverse = x_m[first], y_m[first], code[inverse]
    return GridCells(size_m, ids, x_m, y_m, inverse)


def _distinct_cells(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], size: float
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.intp]]]:
    """The distinct grid cells (column, row of ``size``) holding the points, and each point's
    cell. One int64 key per cell: ``np.unique(axis=0)`` sorts rows as structured values,
    several times slower."""
    if len(x) == 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.intp)
    keys, x0, y0, span = grid_keys(x, y, size)
    keys, inverse = unique_keys(keys, consume=True)
    uniq = np.column_stack([keys // span + x0, keys % span + y0])
    return uniq, inverse


def _square_ids(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> Any:
    """``f"{x:06d}{y:07d}"`` for every square at once as a text array, the digits by
    arithmetic into one Arrow buffer (np.char formats string by string, and 10⁶ Python strings
    held 70 MB). Coordinates outside 0..999999 / 0..9999999 keep the slow, exact path."""
    x, y = np.asarray(x).astype(np.int64), np.asarray(y).astype(np.int64)
    if not _on_grid(x, y):
        cx, cy = x.astype(str), y.astype(str)
        text = np.char.add(np.char.zfill(cx, 6), np.char.zfill(cy, 7)).astype(object)
        return pd.Series(text, dtype=TEXT_DTYPE).array
    digits = np.empty((len(x), 13), dtype=np.uint8)  # 13 digits: x then y, last digit first
    for value, columns in ((x.copy(), range(5, -1, -1)), (y.copy(), range(12, 5, -1))):
        for col in columns:
            digits[:, col] = value % 10 + ord("0")
            value //= 10
    offsets = np.arange(len(x) + 1, dtype=np.int64) * 13
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits))]
    return pd.Series(
        pa.Array.from_buffers(pa.large_string(), len(x), buffers), dtype=TEXT_DTYPE
    ).array


def _on_grid(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> bool:
    """Whether every corner has at most 6 (x) and 7 (y) digits and no sign."""
    return not len(x) or bool(
        x.min() >= 0 and x.max() <= 999_999 and y.min() >= 0 and y.max() <= 9_999_999
    )


def _square_corners(
    ids: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """South-west corner (x, y) of SCB-style square ids (6 + 7 digits), parsed at once."""
    raw = np.asarray(ids, dtype="S13")
    digits = raw.view(np.uint8).reshape(len(raw), 13).astype(np.int64) - ord("0")
    if len(raw) and (digits.min() < 0 or digits.max() > 9 or (np.char.str_len(raw) != 13).any()):
        x = np.array([int(i[:6]) for i in ids], dtype=float)
        y = np.array([int(i[6:]) for i in ids], dtype=float)
        return x, y
    x = digits[:, :6] @ (10 ** np.arange(5, -1, -1, dtype=np.int64))
    y = digits[:, 6:] @ (10 ** np.arange(6, -1, -1, dtype=np.int64))
    return x.astype(float), y.astype(float)


def grid_squares(ids: pd.Series, size_m: int) -> gpd.GeoDataFrame:
    """Polygons (EPSG:3006) of the given SCB-style square ids."""
    uniq = np.sort(ids.unique().astype(str))
    x, y = _square_corners(uniq)
    return _squares(uniq, x, y, size_m)


def _squares(
    ids: np.ndarray[Any, Any] | pd.Index,
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.float64]],
    size_m: int,
) -> gpd.GeoDataFrame:
    geoms = shapely.box(x, y, x + size_m, y + size_m)
    return gpd.GeoDataFrame({"area_id": ids, "name": ids}, geometry=geoms, crs="EPSG:3006")


#: Outlines of area layers are simplified to this (metres, working CRS) for drawing on maps:
#: under the 100 m settlement cell, so a tätort outline stays within a cell of the true one
#: (a national tätort layer had 1.3·10⁶ vertices, 51 MB of GeoJSON; 0.45·10⁶ at 75 m).
MAP_TOLERANCE_M = 75.0


def drawn_outlines(areas: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Each area's outline as maps draw it (the first polygon of an id, as area tables take
    it): simplified to :data:`MAP_TOLERANCE_M`, in EPSG:4326, indexed by ``area_id``."""
    first = areas.drop_duplicates("area_id")
    geoms = first.geometry.to_numpy()
    drawn = shapely.simplify(geoms, MAP_TOLERANCE_M, preserve_topology=False)
    drawn = np.where(shapely.is_empty(drawn), geoms, drawn)  # a sliver stays as it is
    index = pd.Index(first["area_id"], name="area_id")
    return gpd.GeoSeries(drawn, index=index, crs=areas.crs, name="geometry").to_crs(4326)


def custom_membership(points: Points, layer: ReadResult, prefix: str) -> pd.DataFrame:
    """Pairs (address position, area id) for a polygon layer whose polygons may overlap; a
    point on a border belongs to both sides."""
    geoms = layer.frame.geometry.to_numpy()
    xy = point_xy(points)
    qi, qa = in_bounding_boxes(xy, geoms)
    shapely.prepare(geoms)
    hit = shapely.intersects_xy(geoms[qa], xy[qi, 0], xy[qi, 1])
    pi, ai = qi[hit], qa[hit]
    areas = layer.frame
    ids = (
        np.char.add(prefix, areas["area_id"].to_numpy().astype(str))
        if prefix
        else areas["area_id"].to_numpy()
    )
    return pd.DataFrame(
        {"position": pi.astype(np.int64), "area_id": np.asarray(ids, dtype=object)[ai]}
    )


#: Cell size (m) of the settlement grid used to link addresses; small against the 200 m gap.
SETTLEMENT_CELL_M = 100.0


def _extend_by_settlement(
    xy: np.ndarray[Any, np.dtype[np.float64]],
    area: np.ndarray[Any, np.dtype[np.int64]],
    rank: np.ndarray[Any, np.dtype[np.int64]],
    gap_m: float,
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Give unassigned addresses (``area`` -1) the tätort (row) of the settlement they are
    contiguous with.

    Addresses are reduced to occupied cells of :data:`SETTLEMENT_CELL_M`; cells whose centres
    are within ``gap_m`` (plus one cell diagonal, the largest error of the snapping) are
    linked, and every connected group of cells that holds addresses of a tätort gives its
    other addresses that tätort (the one with most addresses in the group; lowest id, by
    ``rank``, on ties). Cells keep the cost linear: at most ~20 neighbours per cell whatever
    the density.
    """
    uniq, cell_of = _distinct_cells(xy[:, 0], xy[:, 1], SETTLEMENT_CELL_M)
    from coverage.kernel import cell_components  # numba: only when extended

    reach = gap_m + SETTLEMENT_CELL_M * np.sqrt(2)
    addr_group = cell_components(uniq, SETTLEMENT_CELL_M, reach)[cell_of]
    inside = area >= 0
    out = area.copy()
    if not inside.any():
        return out
    # The winning tätort of each group, as a rank (ids in order), -1 for groups without one.
    groups, ranks = majority_code(addr_group[inside], rank[area[inside]], int(rank.max()) + 1)
    winner = np.full(len(uniq), -1, dtype=np.int64)
    winner[groups] = ranks
    row_of_rank = np.zeros(int(rank.max()) + 1, dtype=np.int64)
    row_of_rank[rank] = np.arange(len(rank))  # equal ids share a rank: any row, same id
    extended = winner[addr_group]
    take = ~inside & (extended >= 0)
    out[take] = row_of_rank[extended[take]]
    return out


def united(area: Any, cells: Any) -> Any:
    """``shapely.union(area, cells)`` for a (Multi)Polygon of grid cells whose polygons
    meet only at corners: the polygons that meet ``area`` go through GEOS's overlay, the
    others are added as they are (disjoint from ``area`` and from the overlay's result but
    at corners). The same point set in half the overlay time of a national run's tätort
    extents (5.3 s → 2.8 s). A ring may start at another vertex than in GEOS's result, and
    Douglas-Peucker keeps a ring's first vertex: a simplified outline can differ from the
    one simplified after GEOS's union, within the tolerance (the 2,009 extents of a national
    run came out the same point sets)."""
    parts = shapely.get_parts(cells)
    meets = shapely.intersects(parts, area)
    if meets.all():
        return shapely.union(area, cells)
    merged = shapely.union(area, shapely.multipolygons(parts[meets])) if meets.any() else area
    return shapely.multipolygons(np.r_[shapely.get_parts(merged), parts[~meets]])


def tatort_extent(points: Points, codes: pd.Series, tatorter: AreaLayer) -> gpd.GeoDataFrame:
    """Tätort polygons widened to the settlement assigned to them: the circle united with the
    occupied :data:`SETTLEMENT_CELL_M` cells of its addresses, simplified to a quarter cell
    (for maps and area tables)."""
    areas = tatorter.areas.copy()
    xy = point_xy(points)
    group, names = pd.factorize(codes, sort=True)
    cell = np.floor(xy / SETTLEMENT_CELL_M).astype(np.int64)
    inside = ~np.isin(group, np.flatnonzero(np.asarray(names) == OUTSIDE_TATORT_ID))
    # Row by row within each tätort: the outline never depends on the order of the addresses.
    g, cx, cy = distinct_cells(group[inside], cell[inside, 0], cell[inside, 1])
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, int)
    # All settlements' cells united at once, on the grid (GEOS's coverage union of the cells as
    # boxes took most of a national run's tätort extents).
    cell_union = cell_outlines(cx, cy, np.r_[starts, len(g)], SETTLEMENT_CELL_M)
    code = np.asarray(names, dtype=object)[g[starts]]
    where = {a: i for i, a in reversed(list(enumerate(areas["area_id"].to_numpy())))}
    geoms = areas.geometry.to_numpy().copy()
    vertices = shapely.get_num_coordinates(cell_union)
    jobs = [(where[c], k, int(vertices[k])) for k, c in enumerate(code) if c in where]

    def extent(pos: int, k: int, _: int) -> Any:
        merged = united(geoms[pos], cell_union[k])
        # Douglas-Peucker without topology checks: the topology-preserving simplifier took
        # most of a national run's area step on outlines with many holes. GEOS's DP returns
        # valid polygons (a polygon it makes self-intersecting is repaired, by buffer(0)),
        # so no validity check follows (1.6-3 s of a national run, never false).
        return shapely.simplify(merged, SETTLEMENT_CELL_M / 4, preserve_topology=False)

    # GEOS releases the GIL: the tätorter are merged on every core, largest first so that no
    # big one (Stockholm: 10⁵ outline vertices nationally) is left to run alone at the end.
    jobs.sort(key=lambda job: -job[2])
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        merged = list(pool.map(lambda job: extent(*job), jobs))
    for (pos, _, _), geom in zip(jobs, merged, strict=True):
        geoms[pos] = geom
    return areas.set_geometry(gpd.GeoSeries(geoms, index=areas.index, crs=areas.crs))
