"""The fast exact kernel: nearest element within a distance, on a uniform grid, compiled.

Why a grid and not an R-tree: with a fixed search radius ``R``, every line piece can be
registered in the grid cells its bounding box grown by ``R`` touches; a point then reads one
cell and measures only the pieces listed there. The grid is laid out in tiles (see "The tiled
grid" below), each searched in cache, split over all cores with numba's ``prange``. Each
element (a LineString, MultiLineString or Point) is decomposed into straight pieces; the
distance to an element is the minimum over its pieces, exactly as GEOS computes it, so the
answer equals shapely's. Ties (distances equal when rounded to a nanometre) go to the lower
``rank`` (the segment id order of :mod:`coverage.classify`).

numba's coverage-tool integration imports a module named ``coverage`` at start-up; this
package has that name (the customer's layout), so it is hidden from numba while numba
initialises, and numba then records coverage.py as absent.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely


def _import_numba() -> Any:
    saved = sys.modules.get("coverage")
    sys.modules["coverage"] = None  # type: ignore[assignment]  # makes `import coverage` fail
    try:
        import numba
    finally:
        if saved is not None:
            sys.modules["coverage"] = saved
        else:
            del sys.modules["coverage"]
    return numba


numba = _import_numba()


def parallel_threadsafe() -> bool:
    """Whether two threads may run compiled parallel loops at once. numba's OpenMP and TBB
    threading layers allow it; its fallback layer (workqueue, used when neither library is
    installed) aborts the process when they do. The layer is chosen at the first parallel
    launch, so before one this answers False."""
    try:
        return str(numba.threading_layer()) in ("omp", "tbb")
    except ValueError:  # no parallel loop has run yet
        return False


FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def pieces(elements: np.ndarray[Any, Any]) -> tuple[FloatArray, IntArray]:
    """Straight pieces of every element: ``(k, 4)`` array of x0, y0, x1, y1 and the element
    index of each piece (a point is a piece of zero length; an empty geometry has none).
    Pieces come element after element; their order does not matter to the kernel."""
    elements = np.asarray(elements)
    # Multi-part geometries are split first; lines and points are read as they are (the
    # common case, and 20x faster than splitting everything).
    part_of = None
    if len(elements) and not np.isin(shapely.get_type_id(elements), (0, 1, 2)).all():
        elements, part_of = shapely.get_parts(elements, return_index=True)
    coords = shapely.get_coordinates(elements)
    counts = shapely.get_num_coordinates(elements).astype(np.int64)
    segs, seg_part = _line_pieces(np.ascontiguousarray(coords, dtype=np.float64), counts)
    return segs, seg_part if part_of is None else part_of[seg_part].astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _line_pieces(coords: FloatArray, counts: IntArray) -> tuple[FloatArray, IntArray]:
    """Pieces joining each vertex to the next of the same part; a lone vertex is a piece of
    zero length."""
    total = 0
    for c in counts:
        total += c - 1 if c > 1 else c
    segs = np.empty((total, 4))
    part = np.empty(total, dtype=np.int64)
    v = 0
    p = 0
    for e in range(counts.shape[0]):
        c = counts[e]
        for j in range(max(c - 1, 0)):
            segs[p, 0] = coords[v + j, 0]
            segs[p, 1] = coords[v + j, 1]
            segs[p, 2] = coords[v + j + 1, 0]
            segs[p, 3] = coords[v + j + 1, 1]
            part[p] = e
            p += 1
        if c == 1:
            segs[p, 0] = segs[p, 2] = coords[v, 0]
            segs[p, 1] = segs[p, 3] = coords[v, 1]
            part[p] = e
            p += 1
        v += c
    return segs, part


@numba.njit(inline="always")
def _seg_dist(px: float, py: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Point-segment distance with GEOS's own formula (Distance::pointToSegment), so that
    results agree with shapely to the last bit, also exactly at the radius."""
    if x0 == x1 and y0 == y1:
        return np.sqrt((px - x0) * (px - x0) + (py - y0) * (py - y0))
    dx = x1 - x0
    dy = y1 - y0
    len2 = dx * dx + dy * dy
    r = ((px - x0) * dx + (py - y0) * dy) / len2
    if r <= 0.0:
        return np.sqrt((px - x0) * (px - x0) + (py - y0) * (py - y0))
    if r >= 1.0:
        return np.sqrt((px - x1) * (px - x1) + (py - y1) * (py - y1))
    s = ((y0 - py) * dx - (x0 - px) * dy) / len2
    return abs(s) * np.sqrt(len2)


@numba.njit(inline="always")
def _rounded(d: float) -> float:
    """A distance rounded to a nanometre, as the engines' common order compares them."""
    return np.rint(d * 1e9) / 1e9


@numba.njit(inline="always")
def _keys_before(k_a: float, r_a: int, k_b: float, r_b: int) -> bool:
    """The engines' common order on keys made already: rounded distance, then rank."""
    return k_a < k_b or (k_a == k_b and r_a < r_b)


@numba.njit(inline="always")
def _before(d_a: float, r_a: int, d_b: float, r_b: int) -> bool:
    """The engines' common order: distance rounded to a nanometre, then rank."""
    return _keys_before(_rounded(d_a), r_a, _rounded(d_b), r_b)


# ------------------------------------------------------------------------------------------
# The tiled grid
#
# Cells of about the radius are grouped in tiles of TILE x TILE cells. Points are sorted by
# tile (a counting sort: linear), every piece is listed in each tile its bounding box grown
# by the radius touches (1-4 tiles for most), and each tile then gets a small grid of its
# own, built and searched while it is in the core's cache: the pieces of the tile are
# counted per cell, the counts summed and the pieces filled in (again linear), and the
# tile's points read their one cell. Tiles are shared out between the cores in chunks of
# equal work. Nothing global is sorted and no cell index is searched.
# ------------------------------------------------------------------------------------------

#: Cells per tile side.
TILE = 32
#: Candidate lists up to this long are ordered by insertion alone (see _pareto_chunk).
SMALL_SORT = 32


@numba.njit(inline="always")
def _span(
    segs: FloatArray, s: int, ox: float, oy: float, inv: float, pad: float
) -> tuple[int, int, int, int]:
    """First and last cell column and row touched by piece ``s``'s bbox grown by ``pad``.
    Cells are ``int((coordinate - origin) * inv)``, the same formula as for points: it is
    monotonic, so a point within the radius of a piece lies in one of the piece's cells."""
    cx0 = int((min(segs[s, 0], segs[s, 2]) - pad - ox) * inv)
    cx1 = int((max(segs[s, 0], segs[s, 2]) + pad - ox) * inv)
    cy0 = int((min(segs[s, 1], segs[s, 3]) - pad - oy) * inv)
    cy1 = int((max(segs[s, 1], segs[s, 3]) + pad - oy) * inv)
    return cx0, cx1, cy0, cy1


@numba.njit(cache=True, nogil=True)
def _bounds(xy: FloatArray, segs: FloatArray) -> tuple[float, float, float, float]:
    x0 = y0 = np.inf
    x1 = y1 = -np.inf
    for i in range(xy.shape[0]):
        x0, x1 = min(x0, xy[i, 0]), max(x1, xy[i, 0])
        y0, y1 = min(y0, xy[i, 1]), max(y1, xy[i, 1])
    for s in range(segs.shape[0]):
        x0, x1 = min(x0, segs[s, 0], segs[s, 2]), max(x1, segs[s, 0], segs[s, 2])
        y0, y1 = min(y0, segs[s, 1], segs[s, 3]), max(y1, segs[s, 1], segs[s, 3])
    return x0, y0, x1, y1


@numba.njit(parallel=True, cache=True, nogil=True)
def _tile_points(
    xy: FloatArray, ox: float, oy: float, inv: float, tile: int, nty: int, n_tiles: int, parts: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """Counting sort of the points by tile: start of each tile's run, the original index of
    each sorted point, and the sorted coordinates. Stable; the ``parts`` slices of the points
    are counted and placed in parallel."""
    n = xy.shape[0]
    key = np.empty(n, dtype=np.int64)
    hist = np.zeros((parts, n_tiles), dtype=np.int64)
    for p in numba.prange(parts):
        for i in range(p * n // parts, (p + 1) * n // parts):
            cx = int((xy[i, 0] - ox) * inv)
            cy = int((xy[i, 1] - oy) * inv)
            key[i] = (cx // tile) * nty + cy // tile
            hist[p, key[i]] += 1
    start = np.zeros(n_tiles + 1, dtype=np.int64)
    run = 0
    for t in range(n_tiles):  # each part's first slot in each tile
        start[t] = run
        for p in range(parts):
            c = hist[p, t]
            hist[p, t] = run
            run += c
    start[n_tiles] = run
    order = np.empty(n, dtype=np.int64)
    sxy = np.empty((n, 2))
    for p in numba.prange(parts):
        for i in range(p * n // parts, (p + 1) * n // parts):
            pos = hist[p, key[i]]
            hist[p, key[i]] = pos + 1
            order[pos] = i
            sxy[pos, 0] = xy[i, 0]
            sxy[pos, 1] = xy[i, 1]
    return start, order, sxy


@numba.njit(cache=True, nogil=True)
def _tile_pieces(
    segs: FloatArray,
    ox: float,
    oy: float,
    inv: float,
    pad: float,
    tile: int,
    nty: int,
    n_tiles: int,
) -> tuple[IntArray, IntArray]:
    """Every piece listed under each tile its grown bbox touches (counting sort by tile)."""
    start = np.zeros(n_tiles + 1, dtype=np.int64)
    for s in range(segs.shape[0]):
        cx0, cx1, cy0, cy1 = _span(segs, s, ox, oy, inv, pad)
        for tx in range(cx0 // tile, cx1 // tile + 1):
            for ty in range(cy0 // tile, cy1 // tile + 1):
                start[tx * nty + ty + 1] += 1
    for t in range(n_tiles):
        start[t + 1] += start[t]
    fill = start[:-1].copy()
    listed = np.empty(start[n_tiles], dtype=np.int64)
    for s in range(segs.shape[0]):
        cx0, cx1, cy0, cy1 = _span(segs, s, ox, oy, inv, pad)
        for tx in range(cx0 // tile, cx1 // tile + 1):
            for ty in range(cy0 // tile, cy1 // tile + 1):
                t = tx * nty + ty
                listed[fill[t]] = s
                fill[t] += 1
    return start, listed


@numba.njit(cache=True, nogil=True)
def _scratch(grid: Any) -> Any:
    """Buffers of one thread for :func:`_local_grid` (counts per cell, the tile's pieces
    and their cell lists); they grow when a tile needs more."""
    tile = grid[11]
    return (
        np.zeros(tile * tile + 1, dtype=np.int64),
        np.empty((256, 4)),
        np.empty(256, dtype=np.int64),
        np.empty(4096, dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True)
def _local_grid(t: int, grid: Any, scratch: Any) -> Any:
    """The grid of tile ``t`` (``grid``: :meth:`_Tiles.args`) in ``scratch``: its pieces
    copied to ``lseg``/``lel`` (local index) and listed per cell in ``reg``; cell ``c``'s
    pieces are then :func:`_cell_range`. ``cnt`` must be zero on entry (reset it after the
    tile). Returns the buffers, grown when needed."""
    _, _, _, sstart, listed, segs, seg_elem, ox, oy, inv, pad, tile, nty = grid
    cnt, lseg, lel, reg = scratch
    tx = t // nty
    bx = tx * tile
    by = (t - tx * nty) * tile
    a0 = sstart[t]
    m = sstart[t + 1] - a0
    if m > lel.shape[0]:
        lseg = np.empty((2 * m, 4))
        lel = np.empty(2 * m, dtype=np.int64)
    total = 0
    for j in range(m):
        s = listed[a0 + j]
        lseg[j, 0], lseg[j, 1], lseg[j, 2], lseg[j, 3] = (
            segs[s, 0],
            segs[s, 1],
            segs[s, 2],
            segs[s, 3],
        )
        lel[j] = seg_elem[s]
        cx0, cx1, cy0, cy1 = _span(segs, s, ox, oy, inv, pad)
        for cx in range(max(cx0 - bx, 0), min(cx1 - bx, tile - 1) + 1):
            for cy in range(max(cy0 - by, 0), min(cy1 - by, tile - 1) + 1):
                cnt[cx * tile + cy + 1] += 1
                total += 1
    for c in range(tile * tile):
        cnt[c + 1] += cnt[c]
    if total > reg.shape[0]:
        reg = np.empty(2 * total, dtype=np.int64)
    for j in range(m):  # cnt[c] walks from the start to the end of cell c
        cx0, cx1, cy0, cy1 = _span(lseg, j, ox, oy, inv, pad)
        for cx in range(max(cx0 - bx, 0), min(cx1 - bx, tile - 1) + 1):
            for cy in range(max(cy0 - by, 0), min(cy1 - by, tile - 1) + 1):
                c = cx * tile + cy
                reg[cnt[c]] = j
                cnt[c] += 1
    return cnt, lseg, lel, reg


@numba.njit(inline="always")
def _cell_range(px: float, py: float, t: int, grid: Any, cnt: IntArray) -> tuple[int, int]:
    """Range of ``reg`` listing the pieces of the cell of tile ``t`` holding (px, py)."""
    ox, oy, inv, tile, nty = grid[7], grid[8], grid[9], grid[11], grid[12]
    tx = t // nty
    c = (int((px - ox) * inv) - tx * tile) * tile + int((py - oy) * inv) - (t - tx * nty) * tile
    return (cnt[c - 1] if c > 0 else 0), cnt[c]


class _Tiles:
    """The pieces of the elements and the points, arranged in tiles (see above)."""

    def __init__(
        self,
        xy: FloatArray,
        segs: tuple[FloatArray, IntArray],
        radius: float,
        cell_m: float | None,
    ) -> None:
        self.segs, self.seg_elem = segs  # from pieces()
        n, k = len(xy), len(self.segs)
        # A hair more than the radius, so that float rounding of a bbox grown by it can
        # never leave out a cell holding a point at exactly the radius.
        self.pad = float(radius) * (1.0 + 1e-12) + 1e-9
        x0, y0, x1, y1 = _bounds(xy, self.segs if k else np.zeros((0, 4)))
        cell = float(cell_m or max(radius, 50.0))
        # Bound the dense tile table (one entry per tile of the extent) by the data size:
        # an extent huge for the radius gets larger cells (slower, never wrong).
        width = x1 - x0 + 2 * self.pad + 2 * cell
        height = y1 - y0 + 2 * self.pad + 2 * cell
        cell = max(cell, np.sqrt(width * height / (max(4 * (n + k), 1 << 20) * TILE * TILE)))
        self.ox, self.oy, self.inv = x0 - self.pad - cell, y0 - self.pad - cell, 1.0 / cell
        self.nty = int((y1 + self.pad + cell - self.oy) * self.inv) // TILE + 1
        n_tiles = (int((x1 + self.pad + cell - self.ox) * self.inv) // TILE + 1) * self.nty
        parts = min(numba.get_num_threads(), max(1, n // 100_000))
        self.pstart, self.order, self.sxy = _tile_points(
            xy, self.ox, self.oy, self.inv, TILE, self.nty, n_tiles, parts
        )
        self.sstart, self.listed = _tile_pieces(
            self.segs, self.ox, self.oy, self.inv, self.pad, TILE, self.nty, n_tiles
        )
        counts = np.diff(self.pstart)
        self.tiles = np.flatnonzero(counts)  # tiles holding points, in point order
        # Work per tile: its points plus its pieces (each piece is registered and measured).
        self.work = np.cumsum(counts[self.tiles] + 4 * np.diff(self.sstart)[self.tiles])

    def args(self) -> tuple[Any, ...]:
        """The tiles as the per-tile functions take them (their last arguments, ``*grid``;
        numba's parallel loops do not pass nested tuples)."""
        return (
            self.tiles,
            self.pstart,
            self.sxy,
            self.sstart,
            self.listed,
            self.segs,
            self.seg_elem,
            self.ox,
            self.oy,
            self.inv,
            self.pad,
            TILE,
            self.nty,
        )

    def chunks(self, lo: int = 0, hi: int | None = None) -> IntArray:
        """Bounds of chunks of the tiles ``lo:hi`` of about equal work, several per core
        (so that a core finishing early takes another)."""
        hi = len(self.tiles) if hi is None else hi
        if hi <= lo:
            return np.array([lo, lo], dtype=np.int64)
        work = self.work[lo:hi] - (self.work[lo - 1] if lo else 0)
        parts = min(hi - lo, 8 * numba.get_num_threads())
        cuts = np.searchsorted(work, np.arange(1, parts) * (work[-1] / parts))
        return np.unique(np.concatenate([[0], cuts, [hi - lo]])).astype(np.int64) + lo


@numba.njit(cache=True, nogil=True)
def _nearest_chunk(
    lo: int,
    hi: int,
    rank: IntArray,
    radius: float,
    order: IntArray,
    best: IntArray,
    best_d: FloatArray,
    *grid: Any,
) -> None:
    """Nearest element of the points of tiles ``tiles[lo:hi]`` (the point at sorted position
    ``j`` is ``order[j]`` of the input and of the outputs). A function of its own so that
    its buffers stay private to one thread (numba hoists allocations out of a ``prange``
    body)."""
    tiles, pstart, sxy = grid[0], grid[1], grid[2]
    scratch = _scratch(grid)
    for ti in range(lo, hi):
        t = tiles[ti]
        scratch = _local_grid(t, grid, scratch)
        cnt, lseg, lel, reg = scratch
        for j in range(pstart[t], pstart[t + 1]):
            px = sxy[j, 0]
            py = sxy[j, 1]
            first, last = _cell_range(px, py, t, grid, cnt)
            bi = -1
            bd = np.inf
            for q in range(first, last):
                v = reg[q]
                d = _seg_dist(px, py, lseg[v, 0], lseg[v, 1], lseg[v, 2], lseg[v, 3])
                if d <= radius:
                    e = lel[v]
                    if e == bi:  # another piece of the best element: its nearest counts
                        bd = min(bd, d)
                    elif bi < 0 or _before(d, rank[e], bd, rank[bi]):
                        bd = d
                        bi = e
            best[order[j]] = bi
            best_d[order[j]] = bd if bi >= 0 else np.nan
        cnt[:] = 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _nearest(bounds: IntArray, *args: Any) -> None:
    for c in numba.prange(bounds.shape[0] - 1):
        _nearest_chunk(bounds[c], bounds[c + 1], *args)


def nearest_within(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any],
    rank: IntArray,
    max_distance_m: float,
    cell_m: float | None = None,
) -> tuple[IntArray, FloatArray]:
    """Nearest element within ``max_distance_m`` of every point: (element index or -1,
    distance or NaN). Exact; ties (distances equal to the nanometre) go to the lowest
    ``rank``.

    Parameters
    ----------
    points_xy
        ``(n, 2)`` coordinates in a projected CRS (metres).
    elements
        Shapely geometries (lines, multilines, points).
    rank
        Tie-break key per element.
    max_distance_m
        Search radius.
    cell_m
        Grid cell size (default: the radius, at least 50 m).
    """
    xy = np.ascontiguousarray(points_xy, dtype=np.float64)
    if len(xy) == 0 or len(elements) == 0:
        return np.full(len(xy), -1, dtype=np.int64), np.full(len(xy), np.nan)
    return _nearest_to_pieces(xy, pieces(np.asarray(elements)), rank, max_distance_m, cell_m)


def _nearest_to_pieces(
    xy: FloatArray,
    segs: tuple[FloatArray, IntArray],
    rank: IntArray,
    max_distance_m: float,
    cell_m: float | None = None,
) -> tuple[IntArray, FloatArray]:
    """:func:`nearest_within` on pieces already made (``segs``: :func:`pieces`)."""
    n = len(xy)
    tiles = _Tiles(xy, segs, max_distance_m, cell_m)
    best = np.empty(n, dtype=np.int64)
    best_d = np.empty(n)
    rank = np.ascontiguousarray(rank, dtype=np.int64)
    radius = float(max_distance_m)
    # Chunks handed out one at a time, so that a core finishing early takes another.
    with numba.parallel_chunksize(1):
        _nearest(tiles.chunks(), rank, radius, tiles.order, best, best_d, *tiles.args())
    return best, best_d


@numba.njit(cache=True, nogil=True)
def _pairs_chunk(
    lo: int,
    hi: int,
    radius: float,
    lower_only: bool,
    n_elem: int,
    order: IntArray,
    offsets: IntArray,
    out_e: IntArray,
    out_d: FloatArray,
    *grid: Any,
) -> None:
    """Elements within the radius of the points of tiles ``tiles[lo:hi]``, each with its
    nearest piece's distance. Without outputs (``out_e`` empty) it counts them into
    ``offsets[j]`` (``j``: sorted position); with outputs it writes them from
    ``offsets[j]`` on. ``lower_only``: only elements numbered below the point (the elements
    are the points themselves: each pair once)."""
    tiles, pstart, sxy = grid[0], grid[1], grid[2]
    scratch = _scratch(grid)
    stamp = np.full(n_elem, -1, dtype=np.int64)
    slot = np.empty(n_elem, dtype=np.int64)
    fill = out_e.shape[0] > 0
    for ti in range(lo, hi):
        t = tiles[ti]
        scratch = _local_grid(t, grid, scratch)
        cnt, lseg, lel, reg = scratch
        for j in range(pstart[t], pstart[t + 1]):
            px = sxy[j, 0]
            py = sxy[j, 1]
            first, last = _cell_range(px, py, t, grid, cnt)
            k = offsets[j] if fill else 0
            for q in range(first, last):
                v = reg[q]
                e = lel[v]
                if lower_only and e >= order[j]:
                    continue
                d = _seg_dist(px, py, lseg[v, 0], lseg[v, 1], lseg[v, 2], lseg[v, 3])
                if d > radius:
                    continue
                if stamp[e] == j:  # another piece of an element already found: nearer wins
                    if fill and d < out_d[slot[e]]:
                        out_d[slot[e]] = d
                    continue
                stamp[e] = j
                if fill:
                    slot[e] = k
                    out_e[k] = e
                    out_d[k] = d
                k += 1
            if not fill:
                offsets[j] = k
        cnt[:] = 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _pairs(bounds: IntArray, *args: Any) -> None:
    for c in numba.prange(bounds.shape[0] - 1):
        _pairs_chunk(bounds[c], bounds[c + 1], *args)


def pairs_within(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any] | None,
    max_distance_m: float,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (point, element) pair within ``max_distance_m``, with the element's distance
    (that of its nearest piece, GEOS's formula).

    ``elements=None`` pairs the points among themselves: each pair of distinct points once,
    as (higher index, lower index). Returns arrays ``point``, ``element``, ``distance`` in
    no particular order.
    """
    xy = np.ascontiguousarray(points_xy, dtype=np.float64)
    lower_only = elements is None
    if elements is None:
        segs = (np.column_stack([xy, xy]), np.arange(len(xy), dtype=np.int64))
        n_elem = len(xy)
    else:
        segs = pieces(np.asarray(elements))
        n_elem = len(elements)
    empty = np.zeros(0, dtype=np.int64)
    if len(xy) == 0 or len(segs[0]) == 0:
        return empty, empty, np.zeros(0)
    tiles = _Tiles(xy, segs, max_distance_m, None)
    bounds = tiles.chunks()
    head = (float(max_distance_m), lower_only, n_elem, tiles.order)
    counts = np.zeros(len(xy), dtype=np.int64)
    with numba.parallel_chunksize(1):
        _pairs(bounds, *head, counts, empty, np.zeros(0), *tiles.args())
        offsets = np.zeros(len(xy) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        elem = np.empty(offsets[-1], dtype=np.int64)
        dist = np.empty(offsets[-1])
        _pairs(bounds, *head, offsets[:-1], elem, dist, *tiles.args())
    point = np.repeat(tiles.order, counts)
    return point, elem, dist


def nearest_any(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any],
    rank: IntArray,
    first_radius_m: float = 500.0,
) -> tuple[IntArray, FloatArray]:
    """Nearest element at any distance: :func:`nearest_within` with a radius that grows
    fourfold for the points still without an element (exact: an element found within a
    radius is nearer than any beyond it). (-1, NaN) only when there are no elements."""
    xy = np.ascontiguousarray(points_xy, dtype=np.float64)
    idx = np.full(len(xy), -1, dtype=np.int64)
    dist = np.full(len(xy), np.nan)
    if len(xy) == 0 or len(elements) == 0:
        return idx, dist
    segs = pieces(np.asarray(elements))  # once for every round
    x0, y0, x1, y1 = _bounds(xy, segs[0])
    reach = float(np.hypot(x1 - x0, y1 - y0))  # every element lies within this of any point
    todo = np.arange(len(xy))
    radius = float(first_radius_m)
    while len(todo):
        radius = min(radius, reach + 1.0)
        got, d = _nearest_to_pieces(xy[todo], segs, rank, radius)
        found = got >= 0
        idx[todo[found]], dist[todo[found]] = got[found], d[found]
        todo = todo[~found]
        if radius > reach:  # everything was in reach: the rest have no element (all empty)
            break
        radius *= 4.0
    return idx, dist


# ------------------------------------------------------------------------------------------
# Non-dominated candidates: every element that can matter to an address, and no other
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offers:
    """What each element of one technology offers, for pruning dominated candidates.

    Attributes
    ----------
    rank
        Tie-break key (segment id order).
    year
        First evaluation year in service.
    down_mbps, upgradeable_to_mbps
        The element's speeds, profile defaults filled in.
    open_network
        Open network flag.
    thresholds_m
        Every distance at which an address's status towards an element can change, under
        every distance rule the candidates will be evaluated with (service and near distances
        of the base rules and of each sensitivity rule).
    curve_m, curve_mbps
        The technology's speed curve (empty: none); the speed at a distance is
        :func:`effective_down` of the element's speed.
    """

    rank: IntArray
    year: IntArray
    down_mbps: FloatArray
    upgradeable_to_mbps: FloatArray
    open_network: BoolArray
    thresholds_m: FloatArray
    curve_m: FloatArray
    curve_mbps: FloatArray

    def take(self, ids: IntArray) -> Offers:
        """The offers of a subset of the elements (same rules)."""
        return Offers(
            self.rank[ids],
            self.year[ids],
            self.down_mbps[ids],
            self.upgradeable_to_mbps[ids],
            self.open_network[ids],
            self.thresholds_m,
            self.curve_m,
            self.curve_mbps,
        )


@numba.njit(inline="always")
def _curve_at(x: float, xs: FloatArray, ys: FloatArray) -> float:
    """Piecewise-linear speed curve, constant beyond its ends."""
    m = xs.shape[0]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[m - 1]:
        return ys[m - 1]
    j = 0
    while xs[j + 1] <= x:
        j += 1
    return ys[j] + (x - xs[j]) * (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j])


@numba.njit(inline="always")
def _down_at(down: float, d: float, xs: FloatArray, ys: FloatArray) -> float:
    if xs.shape[0] == 0:
        return down
    return min(down, _curve_at(d, xs, ys))


@numba.njit(cache=True, nogil=True)
def _effective_down(down: FloatArray, dist: FloatArray, xs: FloatArray, ys: FloatArray) -> Any:
    out = np.empty(down.shape[0])
    for i in range(down.shape[0]):
        out[i] = _down_at(down[i], dist[i], xs, ys)
    return out


def effective_down(down: FloatArray, dist_m: FloatArray, curve: FloatArray) -> FloatArray:
    """Speed at a distance: the element's speed capped by the technology's speed curve
    (``curve``: ``(k, 2)`` distance, Mbit/s; none when empty). The array form of the formula
    the pruning and the candidate table apply per element (``_down_at``), to the last bit."""
    curve = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
    return _effective_down(
        np.ascontiguousarray(down, dtype=np.float64),
        np.ascontiguousarray(dist_m, dtype=np.float64),
        np.ascontiguousarray(curve[:, 0]),
        np.ascontiguousarray(curve[:, 1]),
    )


@numba.njit(inline="always")
def _band(d: float, thresholds: FloatArray) -> int:
    """Number of status thresholds below ``d``: equal bands, equal status under every rule."""
    b = 0
    for t in thresholds:
        if d > t:
            b += 1
    return b


@numba.njit(cache=True, nogil=True)
def _pareto_chunk(
    lo: int,
    hi: int,
    row0: int,
    n_elem: int,
    rank: IntArray,
    year: IntArray,
    down: FloatArray,
    upgr: FloatArray,
    openn: BoolArray,
    thresholds: FloatArray,
    xs: FloatArray,
    ys: FloatArray,
    radius: float,
    slots: int,
    out_e: IntArray,
    out_d: FloatArray,
    out_n: IntArray,
    *grid: Any,
) -> None:
    """Non-dominated candidates of the points of tiles ``tiles[lo:hi]`` (row ``j - row0`` of
    the outputs is the point at sorted position ``j``; ``out_n`` is the count, and only the
    first ``slots`` are written). A function of its own, so that its scratch arrays stay
    private to the calling thread (numba hoists allocations out of a ``prange`` body)."""
    tiles, pstart, sxy = grid[0], grid[1], grid[2]
    scratch = _scratch(grid)
    # Scratch per chunk: which local slot holds element e for the current point.
    stamp = np.full(n_elem, -1, dtype=np.int64)
    slot = np.empty(n_elem, dtype=np.int64)
    cap = 64
    be = np.empty(cap, dtype=np.int64)
    bd = np.empty(cap)
    kept = np.empty(cap, dtype=np.int64)
    kband = np.empty(cap, dtype=np.int64)
    kspeed = np.empty(cap)
    kd = np.empty(cap)  # each candidate's key in the common order: rounded distance, rank
    kr = np.empty(cap, dtype=np.int64)
    ordbuf = np.empty(SMALL_SORT, dtype=np.int64)
    for ti in range(lo, hi):
        t = tiles[ti]
        scratch = _local_grid(t, grid, scratch)
        cnt, lseg, lel, reg = scratch
        for j in range(pstart[t], pstart[t + 1]):
            px = sxy[j, 0]
            py = sxy[j, 1]
            first, last = _cell_range(px, py, t, grid, cnt)
            k = 0
            for q in range(first, last):
                v = reg[q]
                d = _seg_dist(px, py, lseg[v, 0], lseg[v, 1], lseg[v, 2], lseg[v, 3])
                if d > radius:
                    continue
                e = lel[v]
                if stamp[e] == j:  # another piece of an element already found: keep the nearer
                    if d < bd[slot[e]]:
                        bd[slot[e]] = d
                    continue
                if k == cap:
                    cap *= 2
                    be2 = np.empty(cap, dtype=np.int64)
                    bd2 = np.empty(cap)
                    be2[:k] = be[:k]
                    bd2[:k] = bd[:k]
                    be, bd = be2, bd2
                    kept = np.empty(cap, dtype=np.int64)
                    kband = np.empty(cap, dtype=np.int64)
                    kspeed = np.empty(cap)
                    kd = np.empty(cap)
                    kr = np.empty(cap, dtype=np.int64)
                stamp[e] = j
                slot[e] = k
                be[k] = e
                bd[k] = d
                k += 1
            # The common order (rounded distance, rank) by an insertion pass: over the found
            # order for a short list (no argsort, no array made per point: 20 % faster at
            # 5 M addresses), over an argsort by raw distance (almost sorted) for a long one.
            # The keys are made once per candidate, not in each comparison (VDSL's 8.6
            # candidates per address: 14 % of the search's time).
            for a in range(k):
                kd[a] = _rounded(bd[a])
                kr[a] = rank[be[a]]
            if k <= SMALL_SORT:
                order = ordbuf[:k]
                for a in range(k):
                    order[a] = a
            else:
                order = np.argsort(bd[:k])
            for a in range(1, k):
                v = order[a]
                dv = kd[v]
                rv = kr[v]
                b = a - 1
                while b >= 0 and _keys_before(dv, rv, kd[order[b]], kr[order[b]]):
                    order[b + 1] = order[b]
                    b -= 1
                order[b + 1] = v
            n_kept = 0
            for a in range(k):
                v = order[a]
                e = be[v]
                d = bd[v]
                band = _band(d, thresholds)
                sp = _down_at(down[e], d, xs, ys)
                dominated = False
                for u in range(n_kept):
                    f = be[kept[u]]
                    # An element kept earlier that is in service no later, at no greater
                    # distance in the same status band, at least as fast, as upgradeable and
                    # as open wins every comparison the classification makes.
                    if (
                        kband[u] == band
                        and bd[kept[u]] <= d
                        and year[f] <= year[e]
                        and kspeed[u] >= sp
                        and upgr[f] >= upgr[e]
                        and (openn[f] or not openn[e])
                    ):
                        dominated = True
                        break
                if not dominated:
                    if n_kept < slots:
                        out_e[j - row0, n_kept] = e
                        out_d[j - row0, n_kept] = d
                    kept[n_kept] = v
                    kband[n_kept] = band
                    kspeed[n_kept] = sp
                    n_kept += 1
            out_n[j - row0] = n_kept
        cnt[:] = 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _pareto(bounds: IntArray, *args: Any) -> None:
    """:func:`_pareto_chunk` over the chunks of tiles ``bounds``, in parallel (``args``: the
    rest of its arguments)."""
    for c in numba.prange(bounds.shape[0] - 1):
        _pareto_chunk(bounds[c], bounds[c + 1], *args)


@numba.njit(cache=True, nogil=True)
def _compact(
    out_e: IntArray, out_d: FloatArray, out_n: IntArray, start: IntArray
) -> tuple[IntArray, FloatArray]:
    """The written pairs of a block, row after row (row ``j`` starts at ``start[j]``)."""
    total = start[-1]
    e = np.empty(total, dtype=np.int64)
    d = np.empty(total)
    for j in range(out_n.shape[0]):
        for t in range(out_n[j]):
            e[start[j] + t] = out_e[j, t]
            d[start[j] + t] = out_d[j, t]
    return e, d


@numba.njit(parallel=True, cache=True, nogil=True)
def _scatter(
    visit: IntArray,
    start: IntArray,
    block_e: IntArray,
    block_d: FloatArray,
    offsets: IntArray,
    point: IntArray,
    elem: IntArray,
    dist: FloatArray,
) -> None:
    """Put a block's pairs at their point's place in the output (sorted by point)."""
    for j in numba.prange(visit.shape[0]):
        i = visit[j]
        o = offsets[i]
        for t in range(start[j + 1] - start[j]):
            point[o + t] = i
            elem[o + t] = block_e[start[j] + t]
            dist[o + t] = block_d[start[j] + t]


@numba.njit(inline="always")
def _cand_before(d_a: float, t_a: int, r_a: int, d_b: float, t_b: int, r_b: int) -> bool:
    """Candidate order within an address: distance (NaN last), technology, rank."""
    a_nan = d_a != d_a
    b_nan = d_b != d_b
    if a_nan or b_nan:
        if a_nan != b_nan:
            return b_nan  # NaN sorts last; two NaNs are equal here
    elif d_a != d_b:
        return d_a < d_b
    if t_a != t_b:
        return t_a < t_b
    return r_a < r_b


@numba.njit(inline="always")
def _or_default(value: float, default: float) -> float:
    return default if value != value else value


@numba.njit(cache=True, nogil=True)
def _block_candidates(
    a0: int,
    a1: int,
    o: int,
    fill: bool,
    ts: IntArray,
    p_addr: IntArray,
    p_elem: IntArray,
    p_dist: FloatArray,
    year_of: IntArray,
    down_of: FloatArray,
    upgr_of: FloatArray,
    open_of: BoolArray,
    rank_of: IntArray,
    year: int,
    provides: BoolArray,
    service_m: FloatArray,
    near_m: float,
    def_down: FloatArray,
    def_upgr: FloatArray,
    cx: FloatArray,
    cy: FloatArray,
    clo: IntArray,
    chi: IntArray,
    flag: BoolArray,
    fib_idx: IntArray,
    fib_dist: FloatArray,
    o_addr: IntArray,
    o_elem: IntArray,
    o_tech: Any,
    o_status: Any,
    o_dist: FloatArray,
    o_down: FloatArray,
    o_upgr: FloatArray,
    o_open: BoolArray,
    o_rank: IntArray,
) -> int:
    """Candidates of addresses ``a0..a1 - 1``: technology ``k``'s pairs are
    ``ts[k]:ts[k + 1]`` of the ``p_*`` columns. Written from row ``o`` on, in order, when
    ``fill``; returns how many there are. (One call per block: a call per address, with
    these ~35 arguments, cost more than the work.)"""
    ptr = _block_starts(ts, p_addr, a0)  # each technology's first pair of the block
    total = 0
    for a in range(a0, a1):
        oa = o + total  # this address's first row
        m = 0
        for k in range(ts.shape[0] - 1):
            j = ptr[k]
            while j < ts[k + 1] and p_addr[j] == a:
                e = p_elem[j]
                d = p_dist[j]
                j += 1
                if not provides[k] or year_of[e] > year:
                    continue
                if d <= service_m[k]:
                    status = 1
                elif d <= near_m:
                    status = 2
                else:
                    continue
                if fill:
                    q = oa + m
                    o_addr[q] = a
                    o_elem[q] = e
                    o_tech[q] = k
                    o_status[q] = status
                    o_dist[q] = d
                    down = _or_default(down_of[e], def_down[k])
                    o_down[q] = _down_at(down, d, cx[clo[k] : chi[k]], cy[clo[k] : chi[k]])
                    o_upgr[q] = _or_default(upgr_of[e], def_upgr[k])
                    o_open[q] = open_of[e]
                    o_rank[q] = rank_of[e]
                m += 1
            ptr[k] = j
        if flag[a]:
            # An active connection: one fibre candidate (technology 0) with the nearest fibre
            # element's attributes, wherever the route is.
            if fill:
                q = oa + m
                i = fib_idx[a]
                d = fib_dist[a]
                o_addr[q] = a
                o_elem[q] = -1
                o_tech[q] = 0
                o_status[q] = 0
                o_dist[q] = d
                o_rank[q] = -1
                if i >= 0:
                    down = _or_default(down_of[i], def_down[0])
                    o_down[q] = _down_at(down, d, cx[clo[0] : chi[0]], cy[clo[0] : chi[0]])
                    o_upgr[q] = _or_default(upgr_of[i], def_upgr[0])
                    o_open[q] = open_of[i] and d <= near_m
                else:
                    o_down[q] = def_down[0]
                    o_upgr[q] = def_upgr[0]
                    o_open[q] = False
            m += 1
        if fill:  # a handful per address: insertion sort into the common order
            for p in range(oa + 1, oa + m):
                q = p
                while q > oa and _cand_before(
                    o_dist[q], o_tech[q], o_rank[q], o_dist[q - 1], o_tech[q - 1], o_rank[q - 1]
                ):
                    o_elem[q], o_elem[q - 1] = o_elem[q - 1], o_elem[q]
                    o_rank[q], o_rank[q - 1] = o_rank[q - 1], o_rank[q]
                    o_tech[q], o_tech[q - 1] = o_tech[q - 1], o_tech[q]
                    o_status[q], o_status[q - 1] = o_status[q - 1], o_status[q]
                    o_dist[q], o_dist[q - 1] = o_dist[q - 1], o_dist[q]
                    o_down[q], o_down[q - 1] = o_down[q - 1], o_down[q]
                    o_upgr[q], o_upgr[q - 1] = o_upgr[q - 1], o_upgr[q]
                    o_open[q], o_open[q - 1] = o_open[q - 1], o_open[q]
                    q -= 1
        total += m
    return total


@numba.njit(cache=True, nogil=True)
def _block_starts(ts: IntArray, p_addr: IntArray, a0: int) -> IntArray:
    """Where each technology's pairs of addresses ``a0`` and later begin."""
    ptr = np.empty(ts.shape[0] - 1, dtype=np.int64)
    for k in range(ts.shape[0] - 1):
        ptr[k] = ts[k] + np.searchsorted(p_addr[ts[k] : ts[k + 1]], a0)
    return ptr


@numba.njit(parallel=True, cache=True, nogil=True)
def _count_candidates(bounds: IntArray, *args: Any) -> IntArray:
    counts = np.zeros(bounds.shape[0] - 1, dtype=np.int64)
    for b in numba.prange(bounds.shape[0] - 1):
        counts[b] = _block_candidates(bounds[b], bounds[b + 1], 0, False, *args)
    return counts


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_candidates(bounds: IntArray, offsets: IntArray, *args: Any) -> None:
    for b in numba.prange(bounds.shape[0] - 1):
        _block_candidates(bounds[b], bounds[b + 1], offsets[b], True, *args)


@dataclass(frozen=True)
class CandidateRules:
    """What makes a pair a candidate at one year, per technology ``k`` (SPEC §3)."""

    year: int
    provides_service: BoolArray
    service_m: FloatArray
    near_m: float
    #: Speeds of elements without their own, per technology.
    down_mbps: FloatArray
    upgradeable_to_mbps: FloatArray
    #: Technology ``k``'s speed curve: ``curve_m[lo[k]:hi[k]]``, ``curve_mbps[lo[k]:hi[k]]``.
    curve_m: FloatArray
    curve_mbps: FloatArray
    curve_lo: IntArray
    curve_hi: IntArray


def candidate_table(
    pairs: tuple[IntArray, IntArray, IntArray, FloatArray],
    elements: tuple[IntArray, FloatArray, FloatArray, BoolArray, IntArray],
    rules: CandidateRules,
    connected: tuple[BoolArray, IntArray, FloatArray],
    n: int,
) -> dict[str, np.ndarray[Any, Any]]:
    """Every address's candidates in the common order, built in place (two compiled passes
    on both cores: count, then fill and sort each address's handful).

    Parameters
    ----------
    pairs
        ``starts, address, element, distance``: technology ``k``'s pairs (technology code
        ``k``) are rows ``starts[k]:starts[k + 1]``, sorted by address (as
        :func:`pareto_within` gives them).
    elements
        Per network element: first service year, own speed and upgradeable speed (NaN: the
        technology's), open network, segment rank.
    rules
        The year and distance rules.
    connected
        Per address: the connected flag, and the nearest fibre element in service (position
        or -1) and its distance; a connected address gets one fibre candidate (status 0,
        element -1, rank -1) with that element's attributes.
    n
        Number of addresses.

    Returns
    -------
    dict
        ``address, element, tech, status, distance_m, down_mbps, upgradeable_to_mbps,
        open_network, rank``: sorted by address, then distance (NaN last), technology, rank.
    """
    ts, p_addr, *args = _candidate_args(pairs, elements, rules, connected)
    bounds = np.unique(np.linspace(0, n, _CANDIDATE_BLOCKS + 1).astype(np.int64))
    counts = _count_candidates(bounds, ts, p_addr, *args, *_candidate_columns(0))
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    out = _candidate_columns(int(offsets[-1]))
    if len(counts):
        _fill_candidates(bounds, offsets, ts, p_addr, *args, *out)
    return {name: column for (name, _), column in zip(CANDIDATE_COLUMNS, out, strict=True)}


def _candidate_args(
    pairs: tuple[IntArray, IntArray, IntArray, FloatArray],
    elements: tuple[IntArray, FloatArray, FloatArray, BoolArray, IntArray],
    rules: CandidateRules,
    connected: tuple[BoolArray, IntArray, FloatArray],
) -> tuple[Any, ...]:
    """:func:`candidate_table`'s inputs in the order and types :func:`_block_candidates`
    takes them (its arguments after ``fill``, up to its output columns)."""
    ts, p_addr, p_elem, p_dist = pairs
    return (
        np.asarray(ts, dtype=np.int64),
        np.ascontiguousarray(p_addr, dtype=np.int64),
        np.ascontiguousarray(p_elem, dtype=np.int64),
        np.ascontiguousarray(p_dist, dtype=np.float64),
        np.ascontiguousarray(elements[0], dtype=np.int64),
        np.ascontiguousarray(elements[1], dtype=np.float64),
        np.ascontiguousarray(elements[2], dtype=np.float64),
        np.ascontiguousarray(elements[3], dtype=np.bool_),
        np.ascontiguousarray(elements[4], dtype=np.int64),
        int(rules.year),
        np.asarray(rules.provides_service, dtype=np.bool_),
        np.asarray(rules.service_m, dtype=np.float64),
        float(rules.near_m),
        np.asarray(rules.down_mbps, dtype=np.float64),
        np.asarray(rules.upgradeable_to_mbps, dtype=np.float64),
        np.ascontiguousarray(rules.curve_m, dtype=np.float64),
        np.ascontiguousarray(rules.curve_mbps, dtype=np.float64),
        np.asarray(rules.curve_lo, dtype=np.int64),
        np.asarray(rules.curve_hi, dtype=np.int64),
        np.ascontiguousarray(connected[0], dtype=np.bool_),
        np.ascontiguousarray(connected[1], dtype=np.int64),
        np.ascontiguousarray(connected[2], dtype=np.float64),
    )


#: Address blocks of :func:`candidate_table` (many more than cores: even shares).
_CANDIDATE_BLOCKS = 64


#: The candidate table's columns and their types, in the order the compiled pass takes them.
CANDIDATE_COLUMNS: tuple[tuple[str, type[np.generic]], ...] = (
    ("address", np.int64),
    ("element", np.int64),
    ("tech", np.int8),
    ("status", np.int8),
    ("distance_m", np.float64),
    ("down_mbps", np.float64),
    ("upgradeable_to_mbps", np.float64),
    ("open_network", np.bool_),
    ("rank", np.int64),
)


def _candidate_columns(m: int) -> tuple[np.ndarray[Any, Any], ...]:
    return tuple(np.empty(m, dtype=dtype) for _, dtype in CANDIDATE_COLUMNS)


class _SlotBuffers:
    """Room for ``rows × slots`` element ids and distances (made for the largest block at
    first), grown when a request needs more and otherwise handed out again (as C-contiguous
    views of one pair of flat arrays)."""

    def __init__(self, rows: int = 0, slots: int = 8) -> None:
        self._e = np.empty(rows * slots, dtype=np.int64)
        self._d = np.empty(rows * slots, dtype=np.float64)

    def take(self, rows: int, slots: int) -> tuple[IntArray, FloatArray]:
        size = rows * slots
        if size > len(self._e):
            self._e, self._d = np.empty(0, np.int64), np.empty(0)  # the old pair freed first
            self._e = np.empty(size, dtype=np.int64)
            self._d = np.empty(size, dtype=np.float64)
        shape = (rows, slots)
        return self._e[:size].reshape(shape), self._d[:size].reshape(shape)


#: Points handled per block of :func:`pareto_within` (bounds the per-block buffers).
BLOCK_POINTS = 1 << 19


def _blocks(points_per_tile: IntArray) -> list[tuple[int, int]]:
    """Runs of whole tiles of about ``BLOCK_POINTS`` points (a larger tile is a run alone)."""
    ends = np.cumsum(points_per_tile)
    out = []
    lo = 0
    while lo < len(ends):
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + BLOCK_POINTS, side="right")), lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def pareto_within(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any],
    offers: Offers,
    max_distance_m: float,
    cell_m: float | None = None,
) -> tuple[IntArray, IntArray, FloatArray]:
    """The non-dominated (point, element) pairs within ``max_distance_m``, with distances.

    A pair is dropped when another element of the same point is, under every rule in
    ``offers.thresholds_m``, in the same status band, in service no later, no farther, at
    least as fast (at its distance), as upgradeable and as open, and comes first in the
    common order (distance, rank). Such an element wins every choice the classification
    makes (nearest in service at any year, best offer, any target's conditions, the reason
    of a failure), so results equal those on all pairs, with a handful of pairs per point
    instead of every element within reach.

    Returns
    -------
    point, element, distance
        Sorted by point, then distance rounded to a nanometre, then rank.
    """
    xy = np.ascontiguousarray(points_xy, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    n = len(xy)
    if n == 0 or len(elements) == 0:
        return empty, empty, np.zeros(0)
    # Cells of half the radius: a point's cell then lists pieces from 2.5 radii around instead
    # of 3, fewer to measure, for more listings per piece (cheap).
    cell = cell_m or max(max_distance_m / 2, 50.0)
    tiles = _Tiles(xy, pieces(np.asarray(elements)), max_distance_m, cell)
    counts = np.zeros(n, dtype=np.int64)
    blocks = []
    args = (
        len(elements),
        np.asarray(offers.rank, dtype=np.int64),
        np.asarray(offers.year, dtype=np.int64),
        np.asarray(offers.down_mbps, dtype=np.float64),
        np.asarray(offers.upgradeable_to_mbps, dtype=np.float64),
        np.asarray(offers.open_network, dtype=np.bool_),
        np.sort(np.asarray(offers.thresholds_m, dtype=np.float64)),
        np.ascontiguousarray(offers.curve_m, dtype=np.float64),
        np.ascontiguousarray(offers.curve_mbps, dtype=np.float64),
        float(max_distance_m),
    )
    # The blocks' slot buffers are reused from block to block: fresh ones for each block were
    # 2.5 GB of pages for the kernel to zero in a national run, for a few pairs per point kept.
    starts, ends = tiles.pstart[tiles.tiles], tiles.pstart[tiles.tiles + 1]  # rows per tile
    runs = _blocks(ends - starts)
    room = _SlotBuffers(max((int(ends[hi - 1] - starts[lo]) for lo, hi in runs), default=0))
    # Room for as many pairs per point as the widest point so far: a block is run again only
    # when one of its points keeps more than any before. (Starting each block at eight ran
    # every block of a national fibre network twice: each held a few of the 593 points in
    # 4.9·10⁶ keeping nine to eleven pairs.)
    slots = 8
    for lo, hi in runs:
        row0 = int(starts[lo])
        visit = tiles.order[row0 : ends[hi - 1]]
        while True:
            out_e, out_d = room.take(len(visit), slots)
            out_n = np.empty(len(visit), dtype=np.int64)
            out = (slots, out_e, out_d, out_n)
            _pareto(tiles.chunks(lo, hi), row0, *args, *out, *tiles.args())
            widest = int(out_n.max()) if len(out_n) else 0
            if widest <= slots:
                break
            slots = widest  # rare: rerun the block with room for every kept pair
        counts[visit] = out_n
        start = np.zeros(len(visit) + 1, dtype=np.int64)
        np.cumsum(out_n, out=start[1:])
        blocks.append((visit, start, *_compact(out_e, out_d, out_n, start)))
        del out_e, out_d
    del room
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    point = np.empty(offsets[-1], dtype=np.int64)
    elem = np.empty(offsets[-1], dtype=np.int64)
    dist = np.empty(offsets[-1])
    for visit, start, block_e, block_d in blocks:
        _scatter(visit, start, block_e, block_d, offsets, point, elem, dist)
    return point, elem, dist


def _offer_columns(
    address: Any, status: Any, down_mbps: Any, upgradeable_to_mbps: Any, open_network: Any
) -> tuple[IntArray, Any, FloatArray, FloatArray, BoolArray]:
    """Candidate columns in the types and layout the compiled passes take."""
    return (
        np.ascontiguousarray(address, dtype=np.int64),
        np.ascontiguousarray(status, dtype=np.int8),
        np.ascontiguousarray(down_mbps, dtype=np.float64),
        np.ascontiguousarray(upgradeable_to_mbps, dtype=np.float64),
        np.ascontiguousarray(open_network, dtype=np.bool_),
    )


@numba.njit(inline="always")
def _score(
    counted: bool,
    down: float,
    min_down: float,
    upgr: float,
    need_gigabit: bool,
    gigabit_mbps: float,
    is_open: bool,
    need_open: bool,
) -> int:
    """How many of a target's conditions an offer meets, in order: access status counted,
    speed, gigabit-readiness, open network (4: all). Scalars only: a helper taking the
    targets' arrays made numba's loops eight times slower."""
    if not counted:
        return 0
    if not down >= min_down:
        return 1
    if need_gigabit and not upgr >= gigabit_mbps:
        return 2
    if need_open and not is_open:
        return 3
    return 4


@numba.njit(cache=True, nogil=True)
def _best_offers(
    address: IntArray,
    status: np.ndarray[Any, np.dtype[np.int8]],
    down: FloatArray,
    upgr: FloatArray,
    is_open: BoolArray,
    counted: BoolArray,
    min_down: float,
    need_gigabit: bool,
    gigabit_mbps: float,
    need_open: bool,
    n: int,
) -> tuple[IntArray, np.ndarray[Any, np.dtype[np.int8]]]:
    best = np.full(n, -1, dtype=np.int64)
    score = np.full(n, -1, dtype=np.int8)
    offer = (status, down, upgr, is_open)
    rule = (counted, min_down, need_gigabit, gigabit_mbps, need_open)
    _best_offers_into(address, offer, rule, 0, address.shape[0], 0, best, score)
    return best, score


@numba.njit(cache=True, nogil=True)
def _best_offers_into(
    address: IntArray,
    offer: tuple[Any, FloatArray, FloatArray, BoolArray],
    rule: tuple[BoolArray, float, bool, float, bool],
    lo: int,
    hi: int,
    base: int,
    best: IntArray,
    score: np.ndarray[Any, np.dtype[np.int8]],
) -> None:
    """:func:`best_offers` over candidate rows ``lo:hi``, address ``a``'s result at
    ``a - base`` of ``best`` and ``score`` (filled with -1 by the caller)."""
    status, down, upgr, is_open = offer
    counted, min_down, need_gigabit, gigabit_mbps, need_open = rule
    for i in range(lo, hi):
        s = _score(
            counted[status[i]],
            down[i],
            min_down,
            upgr[i],
            need_gigabit,
            gigabit_mbps,
            is_open[i],
            need_open,
        )
        a = address[i] - base
        if s > score[a]:  # strictly: the first (nearest) candidate wins ties
            score[a] = s
            best[a] = i


def best_offers(
    address: IntArray,
    status: np.ndarray[Any, np.dtype[np.int8]],
    down_mbps: FloatArray,
    upgradeable_to_mbps: FloatArray,
    open_network: BoolArray,
    counted: BoolArray,
    min_down_mbps: float,
    need_gigabit: bool,
    gigabit_mbps: float,
    need_open: bool,
    n: int,
) -> tuple[IntArray, np.ndarray[Any, np.dtype[np.int8]]]:
    """Per address, its candidate meeting most of a target's conditions in order (access
    status in ``counted``, speed, gigabit-readiness, open network) and how many it meets:
    (position or -1, score 0-4 or -1 without candidates). Candidates must be sorted by
    address, nearest first: the first of equal scores wins. One pass, no temporaries."""
    return _best_offers(
        *_offer_columns(address, status, down_mbps, upgradeable_to_mbps, open_network),
        np.ascontiguousarray(counted, dtype=np.bool_),
        float(min_down_mbps),
        bool(need_gigabit),
        float(gigabit_mbps),
        bool(need_open),
        int(n),
    )


@numba.njit(parallel=True, cache=True, nogil=True)
def _mark_pair_passes(bounds: IntArray, *args: Any) -> None:
    """:func:`_mark_pair_passes_chunk` over the chunks of pairs ``bounds``, in parallel."""
    for c in numba.prange(bounds.shape[0] - 1):
        _mark_pair_passes_chunk(bounds[c], bounds[c + 1], *args)


@numba.njit(cache=True, nogil=True)
def _mark_pair_passes_chunk(
    lo: int,
    hi: int,
    address: IntArray,
    element: IntArray,
    dist: FloatArray,
    element_year: IntArray,
    element_down: FloatArray,
    element_upgr: FloatArray,
    element_open: BoolArray,
    years: IntArray,
    service_m: FloatArray,
    near_m: FloatArray,
    curve_m: FloatArray,
    curve_mbps: FloatArray,
    counted: BoolArray,
    min_down: FloatArray,
    need_gigabit: BoolArray,
    gigabit_mbps: float,
    need_open: BoolArray,
    passed: BoolArray,
) -> None:
    for i in range(lo, hi):
        e = element[i]
        d = dist[i]
        ey = element_year[e]
        down = 0.0  # the offer's speed: the same in every scenario, found once if needed
        have_down = False
        for k in range(years.shape[0]):
            if ey > years[k] or not (d <= service_m[k] or d <= near_m[k]):
                continue  # not in service yet, or neither serving nor near
            s = 1 if d <= service_m[k] else 2
            if not have_down:
                down = _down_at(element_down[e], d, curve_m, curve_mbps)
                have_down = True
            a = address[i]
            for t in range(passed.shape[1]):
                if (
                    _score(
                        counted[t, s],
                        down,
                        min_down[t],
                        element_upgr[e],
                        need_gigabit[t],
                        gigabit_mbps,
                        element_open[e],
                        need_open[t],
                    )
                    == 4
                ):
                    passed[k, t, a] = True


@numba.njit(cache=True, nogil=True)
def _mark_offer_passes(
    address: IntArray,
    status: np.ndarray[Any, np.dtype[np.int8]],
    down: FloatArray,
    upgr: FloatArray,
    is_open: BoolArray,
    counted: BoolArray,
    min_down: FloatArray,
    need_gigabit: BoolArray,
    gigabit_mbps: float,
    need_open: BoolArray,
    passed: BoolArray,
) -> None:
    for i in range(address.shape[0]):
        s = status[i]
        for t in range(passed.shape[0]):
            if (
                _score(
                    counted[t, s],
                    down[i],
                    min_down[t],
                    upgr[i],
                    need_gigabit[t],
                    gigabit_mbps,
                    is_open[i],
                    need_open[t],
                )
                == 4
            ):
                passed[t, address[i]] = True


@dataclass(frozen=True)
class TargetRules:
    """The conditions of several targets as arrays (row ``t`` for target ``t``)."""

    counted: BoolArray  # (targets, statuses): which access statuses count
    min_down_mbps: FloatArray
    need_gigabit: BoolArray
    gigabit_mbps: float
    need_open: BoolArray


def mark_pair_passes(
    pairs: tuple[IntArray, IntArray, FloatArray],
    elements: tuple[IntArray, FloatArray, FloatArray, BoolArray],
    scenarios: tuple[IntArray, FloatArray, FloatArray],
    curve: FloatArray,
    rules: TargetRules,
    passed: BoolArray,
) -> None:
    """Set ``passed[k, t, a]`` where a pair (address, element, distance) of one technology is
    an offer meeting every condition of target ``t`` in scenario ``k``: element in service
    (its year at most the scenario's year), within its ``service_m`` (passed) or ``near_m``
    (near), speed from the element's (default-filled) speed capped by the technology's
    ``curve`` at the distance, exactly as the candidate tables compute it. One pass over the
    pairs for every scenario (plan years, distance rules), no temporaries; order-free (a
    target passes when *some* offer meets it). ``elements``: year, speed, upgradeable-to
    speed and open flag per network position; ``scenarios``: year, service and near
    distance per scenario."""
    address, element, dist = pairs
    year_of, down, upgr, is_open = elements
    years, service_m, near_m = (np.atleast_1d(v) for v in scenarios)
    curve = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
    address = np.ascontiguousarray(address, dtype=np.int64)
    _mark_pair_passes(
        _address_chunks(address),
        address,
        np.ascontiguousarray(element, dtype=np.int64),
        np.ascontiguousarray(dist, dtype=np.float64),
        np.ascontiguousarray(year_of, dtype=np.int64),
        np.ascontiguousarray(down, dtype=np.float64),
        np.ascontiguousarray(upgr, dtype=np.float64),
        np.ascontiguousarray(is_open, dtype=np.bool_),
        np.ascontiguousarray(years, dtype=np.int64),
        np.ascontiguousarray(service_m, dtype=np.float64),
        np.ascontiguousarray(near_m, dtype=np.float64),
        np.ascontiguousarray(curve[:, 0]),
        np.ascontiguousarray(curve[:, 1]),
        rules.counted,
        rules.min_down_mbps,
        rules.need_gigabit,
        float(rules.gigabit_mbps),
        rules.need_open,
        passed,
    )


def _address_chunks(address: IntArray, per_core: int = 4) -> IntArray:
    """Bounds of a few chunks of pairs for every core, each cut moved back to the first pair
    of its address: the pairs come by address, so no two chunks mark the same address."""
    n = len(address)
    cuts = np.linspace(0, n, per_core * max(numba.get_num_threads(), 1) + 1).astype(np.int64)
    inner = cuts[1:-1]
    if n and bool(np.all(address[1:] >= address[:-1])):
        inner = np.searchsorted(address, address[inner], side="left")
    return np.unique(np.concatenate([[0], inner, [n]])).astype(np.int64)


def mark_offer_passes(
    offers: tuple[IntArray, Any, FloatArray, FloatArray, BoolArray],
    rules: TargetRules,
    passed: BoolArray,
) -> None:
    """As :func:`mark_pair_passes` for ready-made offers (address, status code, speed,
    upgradeable-to speed, open flag): the synthetic candidates of connected addresses."""
    _mark_offer_passes(
        *_offer_columns(*offers),
        rules.counted,
        rules.min_down_mbps,
        rules.need_gigabit,
        float(rules.gigabit_mbps),
        rules.need_open,
        passed,
    )


@numba.njit(inline="always")
def _nan_last_less(x: float, y: float) -> int:
    """-1, 0 or 1 as ``x`` sorts before, with or after ``y`` (NaN last, NaNs equal)."""
    if x != x:
        return 0 if y != y else 1
    if y != y or x < y:
        return -1
    return 1 if x > y else 0


@numba.njit(inline="always")
def _offer_before(
    i: int,
    j: int,
    down: FloatArray,
    upgr: FloatArray,
    is_open: BoolArray,
    dist: FloatArray,
    tech: Any,
    rank: IntArray,
) -> bool:
    """Candidate ``i`` is a strictly better offer than ``j``: faster, then more upgradeable,
    then open, then nearer, then lower technology code, then lower rank."""
    for c in (
        _nan_last_less(-down[i], -down[j]),
        _nan_last_less(-upgr[i], -upgr[j]),
    ):
        if c != 0:
            return c < 0
    if is_open[i] != is_open[j]:
        return bool(is_open[i])
    c = _nan_last_less(dist[i], dist[j])
    if c != 0:
        return c < 0
    if tech[i] != tech[j]:
        return bool(tech[i] < tech[j])
    return bool(rank[i] < rank[j])


@numba.njit(cache=True, nogil=True)
def _summary(
    address: IntArray,
    status: Any,
    down: FloatArray,
    upgr: FloatArray,
    is_open: BoolArray,
    dist: FloatArray,
    tech: Any,
    rank: IntArray,
    gigabit_mbps: float,
    n: int,
) -> tuple[IntArray, Any, BoolArray, FloatArray]:
    best = np.full(n, -1, dtype=np.int64)
    access = np.full(n, 3, dtype=np.int8)
    gigabit = np.zeros(n, dtype=np.bool_)
    nearest = np.full(n, np.inf)
    rows = (address, status, down, upgr, is_open, dist, tech, rank)
    _summary_into(rows, gigabit_mbps, 0, address.shape[0], 0, (best, access, gigabit, nearest))
    return best, access, gigabit, nearest


@numba.njit(cache=True, nogil=True)
def _summary_into(
    rows: tuple[IntArray, Any, FloatArray, FloatArray, BoolArray, FloatArray, Any, IntArray],
    gigabit_mbps: float,
    lo: int,
    hi: int,
    base: int,
    out: tuple[IntArray, Any, BoolArray, FloatArray],
) -> None:
    """:func:`summary_offers` over candidate rows ``lo:hi``, address ``a``'s result at
    ``a - base`` of ``out`` (best row -1, access 3, gigabit False and nearest inf, as the
    caller fills them)."""
    address, status, down, upgr, is_open, dist, tech, rank = rows
    best, access, gigabit, nearest = out
    for i in range(lo, hi):
        a = address[i] - base
        if status[i] < access[a]:
            access[a] = status[i]
        if dist[i] < nearest[a]:  # False for NaN: a connection without a route
            nearest[a] = dist[i]
        if status[i] <= 1:  # connected or passed: a serving offer
            if upgr[i] >= gigabit_mbps:
                gigabit[a] = True
            b = best[a]
            if b < 0 or _offer_before(i, b, down, upgr, is_open, dist, tech, rank):
                best[a] = i


def summary_offers(
    address: IntArray,
    status: Any,
    down_mbps: FloatArray,
    upgradeable_to_mbps: FloatArray,
    open_network: BoolArray,
    distance_m: FloatArray,
    tech: Any,
    rank: IntArray,
    gigabit_mbps: float,
    n: int,
) -> tuple[IntArray, Any, BoolArray, FloatArray]:
    """Per address, in one pass over its candidates: the best serving offer (fastest, then
    most upgradeable, open, nearest, lowest technology code and rank; the first on full
    ties), the best access status code (lowest), whether some serving offer is gigabit-ready,
    and the distance to the nearest candidate (inf when none has one)."""
    return _summary(
        *_offer_columns(address, status, down_mbps, upgradeable_to_mbps, open_network),
        np.ascontiguousarray(distance_m, dtype=np.float64),
        np.ascontiguousarray(tech, dtype=np.int8),
        np.ascontiguousarray(rank, dtype=np.int64),
        float(gigabit_mbps),
        int(n),
    )


#: What :func:`year_offers`' columns of the best serving offer hold at an address that has
#: none (and what the summary of a candidate table gathers there): no element, technology
#: code 0, no distance, no speed, not open.
NO_OFFER: tuple[tuple[str, Any], ...] = (
    ("element", -1),
    ("tech", 0),
    ("distance_m", np.nan),
    ("down_mbps", 0.0),
    ("upgradeable_to_mbps", 0.0),
    ("open_network", False),
)
#: The access status code of an address without candidates ("none").
NO_STATUS = 3
#: Addresses per block of :func:`year_offers`: each block's candidate table (~4 per address,
#: 51 bytes each) stays in the core's cache while it is summarised and scored.
OFFER_BLOCK_ADDRESSES = 4096


@numba.njit(cache=True, nogil=True)
def _block_offers(a0: int, a1: int, cand: Any, rules: Any, gigabit_mbps: float, out: Any) -> None:
    """:func:`year_offers` for addresses ``a0..a1 - 1``: their candidate table made in
    buffers of their own (:func:`_block_candidates`), summarised and scored for each target
    as :func:`summary_offers` and :func:`best_offers` do a whole table, then dropped."""
    ts, p_addr = cand[0], cand[1]
    room = a1 - a0 + np.sum(_block_starts(ts, p_addr, a1) - _block_starts(ts, p_addr, a0))
    c_addr = np.empty(room, dtype=np.int64)
    c_elem = np.empty(room, dtype=np.int64)
    c_tech = np.empty(room, dtype=np.int8)
    c_status = np.empty(room, dtype=np.int8)
    c_dist = np.empty(room)
    c_down = np.empty(room)
    c_upgr = np.empty(room)
    c_open = np.empty(room, dtype=np.bool_)
    c_rank = np.empty(room, dtype=np.int64)
    cols = (c_addr, c_elem, c_tech, c_status, c_dist, c_down, c_upgr, c_open, c_rank)
    m = _block_candidates(a0, a1, 0, True, *cand, *cols)
    has, element, tech, dist, down, upgr, is_open, access, gigabit, near, score, status = out
    best = np.full(a1 - a0, -1, dtype=np.int64)
    rows = (c_addr, c_status, c_down, c_upgr, c_open, c_dist, c_tech, c_rank)
    summary = (best, access[a0:a1], gigabit[a0:a1], near[a0:a1])
    _summary_into(rows, gigabit_mbps, 0, m, a0, summary)
    for j in range(a1 - a0):
        b = best[j]
        if b >= 0:
            a = a0 + j
            has[a] = True
            element[a] = c_elem[b]
            tech[a] = c_tech[b]
            dist[a] = c_dist[b]
            down[a] = c_down[b]
            upgr[a] = c_upgr[b]
            is_open[a] = c_open[b]
    counted, min_down, need_gigabit, need_open = rules
    offer = (c_status, c_down, c_upgr, c_open)
    for t in range(min_down.shape[0]):
        best[:] = -1
        rule = (counted[t], min_down[t], need_gigabit[t], gigabit_mbps, need_open[t])
        _best_offers_into(c_addr, offer, rule, 0, m, a0, best, score[t, a0:a1])
        for j in range(a1 - a0):
            if best[j] >= 0:
                status[t, a0 + j] = c_status[best[j]]


@numba.njit(parallel=True, cache=True, nogil=True)
def _year_offers(bounds: IntArray, cand: Any, rules: Any, gigabit_mbps: float, out: Any) -> None:
    for b in numba.prange(bounds.shape[0] - 1):
        _block_offers(bounds[b], bounds[b + 1], cand, rules, gigabit_mbps, out)


def year_offers(
    pairs: tuple[IntArray, IntArray, IntArray, FloatArray],
    elements: tuple[IntArray, FloatArray, FloatArray, BoolArray, IntArray],
    rules: CandidateRules,
    connected: tuple[BoolArray, IntArray, FloatArray],
    n: int,
    targets: TargetRules,
) -> dict[str, np.ndarray[Any, Any]]:
    """Per address, what :func:`summary_offers` and, for each target, :func:`best_offers`
    give on :func:`candidate_table`'s table (same arguments), without that table: it is made
    a block of :data:`OFFER_BLOCK_ADDRESSES` addresses at a time, in buffers that stay in
    cache, on both cores. A national run's table had 2·10⁷ rows (1 GB) that were written
    once and read by one pass per target and one for the summary.

    Returns
    -------
    dict
        ``has`` (some candidate serves: connected or passed); the best serving offer's
        ``element, tech, distance_m, down_mbps, upgradeable_to_mbps, open_network``
        (:data:`NO_OFFER` where none serves); ``access`` (lowest status code,
        :data:`NO_STATUS` without candidates), ``gigabit`` (some serving offer is
        gigabit-ready), ``near_m`` (the nearest candidate's distance, inf when none has
        one); ``score`` and ``status`` (``(targets, n)``): how many of each target's
        conditions its best candidate meets (-1 without candidates) and that candidate's
        status code (:data:`NO_STATUS` without).
    """
    cand = _candidate_args(pairs, elements, rules, connected)
    t = len(targets.min_down_mbps)
    dtypes = dict(CANDIDATE_COLUMNS)  # the candidate table's own column types
    best: dict[str, np.ndarray[Any, Any]] = {
        name: np.full(n, fill, dtype=dtypes[name]) for name, fill in NO_OFFER
    }
    out = {
        "has": np.zeros(n, dtype=np.bool_),
        **best,
        "access": np.full(n, NO_STATUS, dtype=np.int8),
        "gigabit": np.zeros(n, dtype=np.bool_),
        "near_m": np.full(n, np.inf),
        "score": np.full((t, n), -1, dtype=np.int8),
        "status": np.full((t, n), NO_STATUS, dtype=np.int8),
    }
    target_rules = (
        np.ascontiguousarray(targets.counted, dtype=np.bool_),
        np.ascontiguousarray(targets.min_down_mbps, dtype=np.float64),
        np.ascontiguousarray(targets.need_gigabit, dtype=np.bool_),
        np.ascontiguousarray(targets.need_open, dtype=np.bool_),
    )
    blocks = max(1, -(-n // OFFER_BLOCK_ADDRESSES))
    bounds = np.unique(np.linspace(0, n, blocks + 1).astype(np.int64))
    if n:
        _year_offers(bounds, cand, target_rules, float(targets.gigabit_mbps), tuple(out.values()))
    return out


@numba.njit(cache=True, nogil=True)
def _first_in_service(
    address: IntArray,
    element: IntArray,
    dist: FloatArray,
    element_year: IntArray,
    year: int,
    n: int,
) -> tuple[IntArray, FloatArray]:
    idx = np.full(n, -1, dtype=np.int64)
    out = np.full(n, np.nan)
    for k in range(address.shape[0]):
        a = address[k]
        if idx[a] < 0 and element_year[element[k]] <= year:
            idx[a] = element[k]
            out[a] = dist[k]
    return idx, out


def first_in_service(
    address: IntArray,
    element: IntArray,
    dist_m: FloatArray,
    element_year: IntArray,
    year: int,
    n: int,
) -> tuple[IntArray, FloatArray]:
    """Per address, the first pair whose element is in service at ``year`` (pairs sorted by
    address, then the engines' order, so the first is the nearest): its element (or -1) and
    distance (or NaN). One pass, no masked copies of the pair columns."""
    return _first_in_service(
        np.ascontiguousarray(address, dtype=np.int64),
        np.ascontiguousarray(element, dtype=np.int64),
        np.ascontiguousarray(dist_m, dtype=np.float64),
        np.ascontiguousarray(element_year, dtype=np.int64),
        int(year),
        int(n),
    )


@numba.njit(inline="always")
def _root(parent: IntArray, x: int) -> int:
    while parent[x] != x:  # path halving
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _union_all(n: int, a: IntArray, b: IntArray, w: FloatArray) -> tuple[IntArray, FloatArray]:
    """Union-find over the edges in the given order (Kruskal's algorithm when they come by
    weight): each node's root (the lowest node of its component) and, per root, the summed
    weight of the edges that joined two components (its spanning tree)."""
    parent = np.arange(n)
    tree = np.zeros(n)
    for k in range(a.shape[0]):
        _join(parent, tree, _root(parent, a[k]), _root(parent, b[k]), w[k])
    _flatten(parent)
    return parent, tree


@numba.njit(inline="always")
def _join(parent: IntArray, tree: FloatArray, x: int, y: int, w: float) -> None:
    """Join the components of roots ``x`` and ``y`` under the lower one, adding the joining
    edge's weight ``w`` to its tree (nothing when they are one already)."""
    if x != y:
        r, c = min(x, y), max(x, y)
        parent[c] = r
        tree[r] = tree[r] + tree[c] + w


@numba.njit(inline="always")
def _flatten(parent: IntArray) -> None:
    """Every node's parent made its root: parents are lower than their children, so one
    forward pass does it."""
    for i in range(parent.shape[0]):
        parent[i] = parent[parent[i]]


def components(n: int, a: IntArray, b: IntArray) -> IntArray:
    """Connected component of each of ``n`` nodes joined by edges ``a[k]``-``b[k]``: the
    lowest node of its component (union-find, linear; what ``connected_components`` of a
    sparse graph gives, up to the numbering)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    return _union_all(int(n), a, np.ascontiguousarray(b, dtype=np.int64), np.zeros(len(a)))[0]


def cell_components(cells: IntArray, size_m: float, reach_m: float) -> IntArray:
    """Connected components of distinct grid cells (``(n, 2)`` column, row of ``size_m``)
    joined where their centres are within ``reach_m``: what :func:`components` gives for
    the pairs :func:`pairs_within` finds among the centres, without making the pairs.

    The centres' differences are whole multiples of the cell size, exact in floating point,
    so whether two cells join depends only on their offset: the offsets within reach (by
    the distance formula :func:`pairs_within` applies) form a fixed stencil, and the cells
    in key order are swept with one pointer per column of the stencil, joining each cell to
    the occupied cells ahead of it. For a national run's 100 m settlement cells this
    replaces 2·10⁷ pairs (0.5 GB, 3 s on two cores) by 0.3 s on one.

    Returns each cell's component as the lowest position (in ``cells``) in it.
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    n = len(cells)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    widths = _stencil_widths(float(size_m), float(reach_m))
    x0, y0 = int(cells[:, 0].min()), int(cells[:, 1].min())
    span = int(cells[:, 1].max()) - y0 + 1
    keys = (cells[:, 0] - x0) * span + (cells[:, 1] - y0)  # by column, then row
    if (keys[1:] > keys[:-1]).all():  # in key order (as _distinct_cells gives them)
        return _sweep_components(keys, int(span), widths)
    order = np.argsort(keys, kind="stable")
    if not (keys[order][1:] > keys[order][:-1]).all():
        raise ValueError("cell_components: the cells are not distinct")
    root = _sweep_components(keys[order], int(span), widths)  # lowest sorted position
    # Back to input positions, each component named by its lowest one.
    lowest = np.full(n, n, dtype=np.int64)
    np.minimum.at(lowest, root, order)
    out = np.empty(n, dtype=np.int64)
    out[order] = lowest[root]
    return out


def _stencil_widths(size_m: float, reach_m: float) -> IntArray:
    """Per column offset ``dx`` = 0, 1, …: the largest row offset ``dy`` whose centres are
    within ``reach_m`` (``_seg_dist`` of two points), -1 past the last column reached."""
    if not (np.isfinite(size_m) and size_m > 0 and reach_m >= 0):
        raise ValueError(f"cell_components: size {size_m} and reach {reach_m} m")
    r = int(np.floor(reach_m / size_m)) + 1
    widths = np.full(r + 1, -1, dtype=np.int64)
    for dx in range(r + 1):
        dy = r + 1
        while dy >= 0 and _point_dist(float(dx) * size_m, float(dy) * size_m) > reach_m:
            dy -= 1
        widths[dx] = dy
    if (widths[:-1] < widths[1:]).any() or widths[-1] != -1:  # the stencil is a disc
        raise AssertionError("cell_components: stencil not monotone")
    return widths[: int(np.count_nonzero(widths >= 0))]


@numba.njit(cache=True, nogil=True)
def _point_dist(dx: float, dy: float) -> float:
    return _seg_dist(dx, dy, 0.0, 0.0, 0.0, 0.0)


@numba.njit(cache=True, nogil=True)
def _sweep_components(keys: IntArray, span: int, widths: IntArray) -> IntArray:
    """Union-find over the sorted cell ``keys`` (column × ``span`` + row) joined within the
    stencil ``widths``; each one's root, the lowest position of its component."""
    n = keys.shape[0]
    parent = np.arange(n)
    ptr = np.zeros(widths.shape[0], dtype=np.int64)
    for i in range(n):
        k = keys[i]
        row = k % span
        for dx in range(widths.shape[0]):
            w = widths[dx]
            low = max(1 if dx == 0 else -w, -row)  # rows of this column: never wrap
            high = min(w, span - 1 - row)
            if low > high:
                continue
            base = k + dx * span
            p = ptr[dx]  # the first key ≥ the range's start only moves forward with i
            while p < n and keys[p] < base + low:
                p += 1
            ptr[dx] = p
            while p < n and keys[p] <= base + high:
                x = _root(parent, i)
                y = _root(parent, p)
                if x != y:
                    parent[max(x, y)] = min(x, y)
                p += 1
    _flatten(parent)
    return parent


def kruskal_order(a: IntArray, b: IntArray, w: FloatArray) -> IntArray:
    """The order Kruskal's algorithm takes edges in: by weight, ties by ``(a, b)`` (so a
    spanning tree's length never depends on the order the edges come in)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    # Non-negative weights (lengths) are sorted by their bits, which order as the numbers
    # do, by the compiled radix sort (stable_order); others by numpy's SIMD quicksort. Runs
    # of equal weights are put in (a, b) order afterwards.
    if len(w) and not (np.signbit(w) | np.isnan(w)).any():  # no negative, -0.0 or NaN
        from coverage._cells import stable_order  # (_cells imports this module)

        order = stable_order(w.view(np.int64))
    else:
        order = np.argsort(w)
    ws = w[order]
    tie = ws[1:] == ws[:-1]
    if tie.any():
        pos = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])  # runs of equal weights
        run = order[pos]
        order[pos] = run[np.lexsort((b[run], a[run], w[run]))]
    return order


def spanning_forest(
    n: int, a: IntArray, b: IntArray, w: FloatArray, ordered: bool = False
) -> tuple[IntArray, FloatArray]:
    """Components of ``n`` nodes joined by weighted edges, and the length of each one's
    minimum spanning tree (Kruskal, edges in :func:`kruskal_order`; ``ordered``: they come
    in that order already).

    Returns
    -------
    labels, length
        Component ``0..k-1`` of each node, numbered by lowest node; tree length per component.
    """
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not ordered:
        order = kruskal_order(a, b, w)
        a, b, w = a[order], b[order], w[order]
    return _forest(*_union_all(int(n), a, b, w))


def _forest(root: IntArray, tree: FloatArray) -> tuple[IntArray, FloatArray]:
    """Union-find's roots and trees as components ``0..k-1`` numbered by lowest node, and
    each one's tree length."""
    roots = np.flatnonzero(root == np.arange(len(root)))
    return np.searchsorted(roots, root), tree[roots]


def subset_forest(
    subset: np.ndarray[Any, np.dtype[np.bool_]], a: IntArray, b: IntArray, w: FloatArray
) -> tuple[IntArray, FloatArray]:
    """:func:`spanning_forest` of the nodes in ``subset`` (numbered ``0..m-1`` in their
    order) over the edges between two of them, the edges given in Kruskal's order
    (:func:`kruskal_order`): one pass over all edges, without copying out the subset's.

    The same edges joined in the same order as :func:`spanning_forest` of the kept edges, so
    the same labels and tree lengths to the last bit (a national run's gap search keeps
    10⁷ of 3·10⁷ edges per target: their copies and the mask were most of the time)."""
    subset = np.ascontiguousarray(subset, dtype=np.bool_)
    index = np.cumsum(subset, dtype=np.int64) - 1  # position among the subset's nodes
    m = int(index[-1]) + 1 if len(index) else 0
    return _forest(
        *_subset_union(
            subset,
            index,
            np.ascontiguousarray(a, dtype=np.int64),
            np.ascontiguousarray(b, dtype=np.int64),
            np.ascontiguousarray(w, dtype=np.float64),
            m,
        )
    )


@numba.njit(cache=True, nogil=True)
def _subset_union(
    subset: np.ndarray[Any, Any], index: IntArray, a: IntArray, b: IntArray, w: FloatArray, m: int
) -> tuple[IntArray, FloatArray]:
    """:func:`_union_all` over the edges whose two ends are in ``subset``, the ends
    renumbered by ``index``."""
    parent = np.arange(m)
    tree = np.zeros(m)
    for k in range(a.shape[0]):
        if subset[a[k]] and subset[b[k]]:
            _join(parent, tree, _root(parent, index[a[k]]), _root(parent, index[b[k]]), w[k])
    _flatten(parent)
    return parent, tree


#: How far (as a cross product, m²) a point must lie inside the quadrilateral of its group's
#: extreme points to be left out of the hull: far beyond rounding (coordinates ~10⁶ m).
_INNER_MARGIN_M2 = 1e-3


@numba.njit(cache=True, nogil=True)
def _inner_points(xy: FloatArray, starts: IntArray, inner: np.ndarray[Any, Any]) -> None:
    for c in range(len(starts) - 1):
        lo, hi = starts[c], starts[c + 1]
        if hi - lo < 5:  # four extreme points and one inside at the least
            continue
        # The lowest, rightmost, highest and leftmost points: a quadrilateral (counter-
        # clockwise, perhaps degenerate) inside the hull.
        q = np.empty(4, dtype=np.int64)
        q[:] = lo
        for i in range(lo, hi):
            x, y = xy[i, 0], xy[i, 1]
            if y < xy[q[0], 1]:
                q[0] = i
            if x > xy[q[1], 0]:
                q[1] = i
            if y > xy[q[2], 1]:
                q[2] = i
            if x < xy[q[3], 0]:
                q[3] = i
        for i in range(lo, hi):
            inside = True
            for k in range(4):
                ax, ay = xy[q[k], 0], xy[q[k], 1]
                bx, by = xy[q[(k + 1) % 4], 0], xy[q[(k + 1) % 4], 1]
                cross = (bx - ax) * (xy[i, 1] - ay) - (by - ay) * (xy[i, 0] - ax)
                if not cross > _INNER_MARGIN_M2:
                    inside = False
                    break
            inner[i] = inside


def inner_points(xy: FloatArray, starts: IntArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Points that cannot be vertices of their group's convex hull: strictly inside the
    quadrilateral of the group's lowest, rightmost, highest and leftmost points (Akl and
    Toussaint's filter). ``xy`` holds the groups one after the other; group ``c`` is rows
    ``starts[c]:starts[c + 1]``. The hull of the other points is the hull of all."""
    inner = np.zeros(len(xy), dtype=np.bool_)
    _inner_points(np.ascontiguousarray(xy, dtype=np.float64), starts.astype(np.int64), inner)
    return inner


@numba.njit(cache=True, nogil=True)
def _sums_by_code(
    codes: IntArray,
    positions: IntArray,
    weights: np.ndarray[Any, Any],
    passed: BoolArray,
    n: int,
) -> tuple[IntArray, IntArray]:
    den = np.zeros(n, dtype=np.int64)
    num = np.zeros(n, dtype=np.int64)
    gather = positions.shape[0] > 0
    marks = passed.shape[0] > 0
    for i in range(codes.shape[0]):
        p = positions[i] if gather else i
        w = np.int64(weights[p])
        den[codes[i]] += w
        if marks and passed[p]:
            num[codes[i]] += w
    return den, num


def sums_by_code(
    codes: np.ndarray[Any, Any],
    weights: np.ndarray[Any, Any],
    n: int,
    passed: BoolArray | None = None,
    positions: np.ndarray[Any, Any] | None = None,
) -> tuple[IntArray, IntArray]:
    """Per code ``0..n-1`` the sum of the integer ``weights`` of its rows, and of those rows
    that passed (zeros when ``passed`` is None), as exact integers: what two ``bincount``
    calls give, without their float copies of the weights and of the masked weights (40 MB
    each per call nationally: pages for the kernel to zero, dozens of times per run).

    Row ``i`` is ``codes[i]``'s, with the weight and pass mark of address ``positions[i]``
    (address ``i`` when ``positions`` is None)."""
    none = np.zeros(0, dtype=np.int64)
    return _sums_by_code(
        np.ascontiguousarray(codes, dtype=np.int64),
        none if positions is None else np.ascontiguousarray(positions, dtype=np.int64),
        np.ascontiguousarray(weights),
        np.zeros(0, dtype=np.bool_) if passed is None else np.ascontiguousarray(passed),
        int(n),
    )


@numba.njit(cache=True, nogil=True)
def _is_identity(positions: IntArray) -> bool:
    for i in range(positions.shape[0]):  # noqa: SIM110  (numba compiles no generator for all())
        if positions[i] != i:
            return False
    return True


def is_identity(positions: np.ndarray[Any, Any], n: int) -> bool:
    """Whether ``positions`` are ``0, 1, ..., n - 1`` (no ``arange`` of ``n`` made)."""
    pos = np.asarray(positions)
    return len(pos) == n and bool(_is_identity(np.ascontiguousarray(pos, dtype=np.int64)))


@numba.njit(cache=True, nogil=True)
def _units_by_year(
    weights: IntArray, passed_now: BoolArray, pass_year: FloatArray, years: FloatArray
) -> IntArray:
    out = np.zeros(years.shape[0], dtype=np.int64)
    for i in range(weights.shape[0]):
        if passed_now[i]:
            out[0] += weights[i]
            continue
        y = pass_year[i]
        if np.isnan(y):
            continue
        for k in range(years.shape[0]):
            if y <= years[k]:
                out[k] += weights[i]
                break
    for k in range(1, years.shape[0]):
        out[k] += out[k - 1]
    return out


def units_by_year(
    weights: np.ndarray[Any, Any],
    passed_now: BoolArray,
    pass_year: FloatArray,
    years: Sequence[int],
) -> IntArray:
    """For each of the increasing ``years``, the units (``weights``) of the addresses that
    pass by then: passing now, or with a pass year (NaN: never) no later than it."""
    return _units_by_year(
        np.ascontiguousarray(weights, dtype=np.int64),
        np.ascontiguousarray(passed_now, dtype=np.bool_),
        np.ascontiguousarray(pass_year, dtype=np.float64),
        np.asarray(years, dtype=np.float64),
    )
