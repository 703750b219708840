"""The fast exact kernel: nearest element within a distance, on a uniform grid, compiled.

Why a grid and not an R-tree: with a fixed search radius ``R``, every line piece can be
registered in the grid cells its bounding box grown by ``R`` touches; a point then reads one
cell and measures only the pieces listed there. Points are visited in cell order (cache
locality), split over all cores with numba's ``prange``. Each element (a LineString,
MultiLineString or Point) is decomposed into straight pieces; the distance to an element is
the minimum over its pieces, exactly as GEOS computes it, so the answer equals shapely's.
Ties (distances within 1e-9 m) go to the lower ``rank`` (the segment id order of
:mod:`coverage.classify`).

numba's coverage-tool integration imports a module named ``coverage`` at start-up; this
package has that name (the customer's layout), so it is hidden from numba while numba
initialises, and numba then records coverage.py as absent.
"""

from __future__ import annotations

import sys
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

#: Distances closer than this (metres) count as equal for the tie-break.
TIE_EPS = 1e-9
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def pieces(elements: np.ndarray[Any, Any]) -> tuple[FloatArray, IntArray]:
    """Straight pieces of every element: ``(k, 4)`` array of x0, y0, x1, y1 and the element
    index of each piece (a point is a piece of zero length)."""
    parts, part_of = shapely.get_parts(elements, return_index=True)
    coords, coord_of = shapely.get_coordinates(parts, return_index=True)
    if len(coords) == 0:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    same = np.zeros(len(coords), dtype=bool)
    same[1:] = coord_of[1:] == coord_of[:-1]
    # A piece joins each coordinate to the next one of the same part.
    start = np.flatnonzero(same[1:] if len(coords) > 1 else np.zeros(0, dtype=bool))
    segs = np.column_stack([coords[start], coords[start + 1]])
    seg_part = coord_of[start]
    # Parts with a single coordinate (points) become zero-length pieces.
    counts = np.bincount(coord_of, minlength=len(parts))
    singles = np.flatnonzero(counts == 1)
    if len(singles):
        first = np.searchsorted(coord_of, singles)
        pts = np.column_stack([coords[first], coords[first]])
        segs = np.vstack([segs, pts])
        seg_part = np.concatenate([seg_part, singles])
    return np.ascontiguousarray(segs, dtype=np.float64), part_of[seg_part].astype(np.int64)


@numba.njit(inline="always")
def _cell_span(
    segs: FloatArray, i: int, cell: float, radius: float, ox: float, oy: float
) -> tuple[int, int, int, int]:
    """First and last cell column and row touched by piece ``i``'s bbox grown by the radius."""
    cx0 = int((min(segs[i, 0], segs[i, 2]) - radius - ox) // cell)
    cx1 = int((max(segs[i, 0], segs[i, 2]) + radius - ox) // cell)
    cy0 = int((min(segs[i, 1], segs[i, 3]) - radius - oy) // cell)
    cy1 = int((max(segs[i, 1], segs[i, 3]) + radius - oy) // cell)
    return cx0, cx1, cy0, cy1


@numba.njit(cache=True)
def _register(
    segs: FloatArray, cell: float, radius: float, ox: float, oy: float, ny: int
) -> tuple[Any, Any]:
    """(cell key, piece) for every cell the piece's bbox grown by the radius touches."""
    n = segs.shape[0]
    total = 0
    for i in range(n):  # count first, so the output is allocated once
        cx0, cx1, cy0, cy1 = _cell_span(segs, i, cell, radius, ox, oy)
        total += (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
    keys = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(n):
        cx0, cx1, cy0, cy1 = _cell_span(segs, i, cell, radius, ox, oy)
        for cx in range(cx0, cx1 + 1):
            for cy in range(cy0, cy1 + 1):
                keys[k] = cx * ny + cy
                which[k] = i
                k += 1
    return keys, which


@numba.njit(cache=True)
def _cells(sorted_keys: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct cell keys of sorted registrations and the start of each cell's run."""
    n = sorted_keys.shape[0]
    count = 0
    for i in range(n):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            count += 1
    keys = np.empty(count, dtype=np.int64)
    start = np.empty(count + 1, dtype=np.int64)
    k = 0
    for i in range(n):
        if i == 0 or sorted_keys[i] != sorted_keys[i - 1]:
            keys[k] = sorted_keys[i]
            start[k] = i
            k += 1
    start[count] = n
    return keys, start


@numba.njit(inline="always")
def _cell_range(key: int, cell_keys: IntArray, cell_start: IntArray) -> tuple[int, int]:
    """Range of registrations of the cell ``key`` (empty when no piece is registered there)."""
    pos = np.searchsorted(cell_keys, key)
    if pos >= cell_keys.shape[0] or cell_keys[pos] != key:
        return 0, 0
    return cell_start[pos], cell_start[pos + 1]


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


@numba.njit(parallel=True, cache=True)
def _query(
    xy: FloatArray,
    order: IntArray,
    point_keys: IntArray,
    cell_keys: IntArray,
    cell_start: IntArray,
    cell_pieces: IntArray,
    segs: FloatArray,
    seg_elem: IntArray,
    rank: IntArray,
    radius: float,
) -> tuple[IntArray, FloatArray]:
    n = xy.shape[0]
    best = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.inf)
    for j in numba.prange(n):
        i = order[j]
        first, last = _cell_range(point_keys[i], cell_keys, cell_start)
        px = xy[i, 0]
        py = xy[i, 1]
        bi = -1
        bd = np.inf
        for q in range(first, last):
            s = cell_pieces[q]
            d = _seg_dist(px, py, segs[s, 0], segs[s, 1], segs[s, 2], segs[s, 3])
            if d <= radius:
                e = seg_elem[s]
                # Within TIE_EPS is a tie (float noise between formulas): lower rank wins.
                if d < bd - TIE_EPS or (d <= bd + TIE_EPS and rank[e] < rank[bi]):
                    bd = d
                    bi = e
        if bi >= 0:
            best[i] = bi
            best_d[i] = bd
    return best, best_d


def nearest_within(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any],
    rank: IntArray,
    max_distance_m: float,
    cell_m: float | None = None,
) -> tuple[IntArray, FloatArray]:
    """Nearest element within ``max_distance_m`` of every point: (element index or -1,
    distance or NaN). Exact; ties go to the lowest ``rank``.

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
    n = len(xy)
    if n == 0 or len(elements) == 0:
        return np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
    grid = _Grid(xy, np.asarray(elements), max_distance_m, cell_m)
    visit = np.argsort(grid.point_keys)  # cell order: neighbours share cache lines
    idx, dist = _query(
        xy,
        visit,
        grid.point_keys,
        grid.cell_keys,
        grid.cell_start,
        grid.cell_pieces,
        grid.segs,
        grid.seg_elem,
        np.asarray(rank, dtype=np.int64),
        float(max_distance_m),
    )
    dist[idx < 0] = np.nan
    return idx, dist


@numba.njit(parallel=True, cache=True)
def _count(
    xy: FloatArray,
    point_keys: IntArray,
    cell_keys: IntArray,
    cell_start: IntArray,
    cell_pieces: IntArray,
    segs: FloatArray,
    radius: float,
) -> IntArray:
    n = xy.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        first, last = _cell_range(point_keys[i], cell_keys, cell_start)
        c = 0
        for q in range(first, last):
            s = cell_pieces[q]
            if (
                _seg_dist(xy[i, 0], xy[i, 1], segs[s, 0], segs[s, 1], segs[s, 2], segs[s, 3])
                <= radius
            ):
                c += 1
        counts[i] = c
    return counts


@numba.njit(parallel=True, cache=True)
def _fill(
    xy: FloatArray,
    point_keys: IntArray,
    cell_keys: IntArray,
    cell_start: IntArray,
    cell_pieces: IntArray,
    segs: FloatArray,
    seg_elem: IntArray,
    radius: float,
    offsets: IntArray,
    out_elem: IntArray,
    out_dist: FloatArray,
) -> None:
    n = xy.shape[0]
    for i in numba.prange(n):
        first, last = _cell_range(point_keys[i], cell_keys, cell_start)
        k = offsets[i]
        for q in range(first, last):
            s = cell_pieces[q]
            d = _seg_dist(xy[i, 0], xy[i, 1], segs[s, 0], segs[s, 1], segs[s, 2], segs[s, 3])
            if d <= radius:
                out_elem[k] = seg_elem[s]
                out_dist[k] = d
                k += 1


def pairs_within(
    points_xy: FloatArray,
    elements: np.ndarray[Any, Any],
    max_distance_m: float,
    cell_m: float | None = None,
) -> tuple[IntArray, IntArray, FloatArray]:
    """Every (point, element) pair within ``max_distance_m``, with the element's distance
    (the minimum over its pieces): arrays ``point``, ``element``, ``distance``, unsorted."""
    xy = np.ascontiguousarray(points_xy, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    if len(xy) == 0 or len(elements) == 0:
        return empty, empty, np.zeros(0)
    grid = _Grid(xy, np.asarray(elements), max_distance_m, cell_m)
    counts = _count(
        xy,
        grid.point_keys,
        grid.cell_keys,
        grid.cell_start,
        grid.cell_pieces,
        grid.segs,
        float(max_distance_m),
    )
    offsets = np.zeros(len(xy) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    elem = np.empty(offsets[-1], dtype=np.int64)
    dist = np.empty(offsets[-1])
    _fill(
        xy,
        grid.point_keys,
        grid.cell_keys,
        grid.cell_start,
        grid.cell_pieces,
        grid.segs,
        grid.seg_elem,
        float(max_distance_m),
        offsets,
        elem,
        dist,
    )
    point = np.repeat(np.arange(len(xy), dtype=np.int64), counts)
    # An element with several pieces near the point: keep its nearest piece.
    order = np.lexsort((dist, elem, point))
    point, elem, dist = point[order], elem[order], dist[order]
    first = np.ones(len(point), dtype=bool)
    first[1:] = (point[1:] != point[:-1]) | (elem[1:] != elem[:-1])
    return point[first], elem[first], dist[first]


class _Grid:
    """The pieces of the elements registered in a uniform grid, and the points' cells."""

    def __init__(
        self, xy: FloatArray, elements: np.ndarray[Any, Any], radius: float, cell_m: float | None
    ) -> None:
        self.segs, self.seg_elem = pieces(elements)
        cell = float(cell_m or max(radius, 50.0))
        segs = self.segs
        ox = min(xy[:, 0].min(), segs[:, [0, 2]].min()) - radius - cell
        oy = min(xy[:, 1].min(), segs[:, [1, 3]].min()) - radius - cell
        ny = int((max(xy[:, 1].max(), segs[:, [1, 3]].max()) + radius + cell - oy) // cell) + 2
        keys, which = _register(segs, cell, float(radius), ox, oy, ny)
        # The order of pieces inside a cell does not matter (ties are decided by rank), so an
        # unstable sort will do; the cell boundaries come from one compiled pass.
        order = np.argsort(keys)
        keys, self.cell_pieces = keys[order], which[order]
        self.cell_keys, self.cell_start = _cells(keys)
        self.point_keys = ((xy[:, 0] - ox) // cell).astype(np.int64) * ny + (
            (xy[:, 1] - oy) // cell
        ).astype(np.int64)


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


@numba.njit(cache=True)
def _effective_down(down: FloatArray, dist: FloatArray, xs: FloatArray, ys: FloatArray) -> Any:
    out = np.empty(down.shape[0])
    for i in range(down.shape[0]):
        out[i] = _down_at(down[i], dist[i], xs, ys)
    return out


def effective_down(down: FloatArray, dist_m: FloatArray, curve: FloatArray) -> FloatArray:
    """Speed at a distance: the element's speed capped by the technology's speed curve
    (``curve``: ``(k, 2)`` distance, Mbit/s; none when empty). The one implementation used by
    the classification and by the pruning in the kernel, so both agree to the last bit."""
    curve = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
    return _effective_down(
        np.ascontiguousarray(down, dtype=np.float64),
        np.ascontiguousarray(dist_m, dtype=np.float64),
        np.ascontiguousarray(curve[:, 0]),
        np.ascontiguousarray(curve[:, 1]),
    )


@numba.njit(inline="always")
def _before(d_a: float, r_a: int, d_b: float, r_b: int) -> bool:
    """The engines' common order: distance rounded to a nanometre, then rank."""
    ra = np.rint(d_a * 1e9) / 1e9
    rb = np.rint(d_b * 1e9) / 1e9
    return ra < rb or (ra == rb and r_a < r_b)


@numba.njit(inline="always")
def _band(d: float, thresholds: FloatArray) -> int:
    """Number of status thresholds below ``d``: equal bands, equal status under every rule."""
    b = 0
    for t in thresholds:
        if d > t:
            b += 1
    return b


@numba.njit(cache=True)
def _pareto_chunk(
    lo: int,
    hi: int,
    visit: IntArray,
    xy: FloatArray,
    point_keys: IntArray,
    cell_keys: IntArray,
    cell_start: IntArray,
    cell_pieces: IntArray,
    segs: FloatArray,
    seg_elem: IntArray,
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
) -> None:
    """Non-dominated candidates of the points ``visit[lo:hi]`` (row ``j`` of the outputs is
    point ``visit[j]``; ``out_n[j]`` is the count, and only the first ``slots`` are written).
    A function of its own, so that its scratch arrays stay private to the calling thread
    (numba hoists allocations out of a ``prange`` body)."""
    # Scratch per chunk: which local slot holds element e for the current point.
    stamp = np.full(n_elem, -1, dtype=np.int64)
    slot = np.empty(n_elem, dtype=np.int64)
    cap = 64
    be = np.empty(cap, dtype=np.int64)
    bd = np.empty(cap)
    kept = np.empty(cap, dtype=np.int64)
    kband = np.empty(cap, dtype=np.int64)
    kspeed = np.empty(cap)
    for j in range(lo, hi):
        i = visit[j]
        first, last = _cell_range(point_keys[i], cell_keys, cell_start)
        px = xy[i, 0]
        py = xy[i, 1]
        k = 0
        for q in range(first, last):
            s = cell_pieces[q]
            d = _seg_dist(px, py, segs[s, 0], segs[s, 1], segs[s, 2], segs[s, 3])
            if d > radius:
                continue
            e = seg_elem[s]
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
            stamp[e] = j
            slot[e] = k
            be[k] = e
            bd[k] = d
            k += 1
        order = np.argsort(bd[:k])
        # argsort by raw distance; fix the common order (rounded distance, rank) by an
        # insertion pass, cheap on an almost sorted list.
        for a in range(1, k):
            v = order[a]
            b = a - 1
            while b >= 0 and _before(bd[v], rank[be[v]], bd[order[b]], rank[be[order[b]]]):
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
            for t in range(n_kept):
                f = be[kept[t]]
                # An element kept earlier that is in service no later, at no greater
                # distance in the same status band, at least as fast, as upgradeable and
                # as open wins every comparison the classification makes.
                if (
                    kband[t] == band
                    and bd[kept[t]] <= d
                    and year[f] <= year[e]
                    and kspeed[t] >= sp
                    and upgr[f] >= upgr[e]
                    and (openn[f] or not openn[e])
                ):
                    dominated = True
                    break
            if not dominated:
                if n_kept < slots:
                    out_e[j, n_kept] = e
                    out_d[j, n_kept] = d
                kept[n_kept] = v
                kband[n_kept] = band
                kspeed[n_kept] = sp
                n_kept += 1
        out_n[j] = n_kept


@numba.njit(parallel=True, cache=True)
def _pareto(threads: int, visit: IntArray, *args: Any) -> None:
    """:func:`_pareto_chunk` over ``4 × threads`` chunks of ``visit``, in parallel (``args``:
    the rest of its arguments, after ``visit``)."""
    m = visit.shape[0]
    chunks = min(m, 4 * threads)
    for c in numba.prange(chunks):
        _pareto_chunk(c * m // chunks, (c + 1) * m // chunks, visit, *args)


@numba.njit(cache=True)
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


@numba.njit(parallel=True, cache=True)
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


@numba.njit(cache=True)
def _order_candidates(
    address: IntArray, dist: FloatArray, tech: Any, rank: IntArray, n: int
) -> IntArray:
    start = np.zeros(n + 1, dtype=np.int64)
    for a in address:
        start[a + 1] += 1
    for a in range(n):
        start[a + 1] += start[a]
    fill = start[:-1].copy()
    order = np.empty(address.shape[0], dtype=np.int64)
    for i in range(address.shape[0]):  # counting sort by address: linear, stable
        order[fill[address[i]]] = i
        fill[address[i]] += 1
    for a in range(n):  # each address has a handful of candidates: insertion sort
        for p in range(start[a] + 1, start[a + 1]):
            v = order[p]
            q = p - 1
            while q >= start[a] and _cand_before(
                dist[v], tech[v], rank[v], dist[order[q]], tech[order[q]], rank[order[q]]
            ):
                order[q + 1] = order[q]
                q -= 1
            order[q + 1] = v
    return order


def order_candidates(
    address: IntArray, dist_m: FloatArray, tech: np.ndarray[Any, Any], rank: IntArray, n: int
) -> IntArray:
    """The order of candidates by address, distance (NaN last), technology and rank: what
    ``np.lexsort((rank, tech, dist_m, address))`` gives, in linear time (a counting sort by
    address, then an insertion sort of each address's few candidates)."""
    return _order_candidates(
        np.ascontiguousarray(address, dtype=np.int64),
        np.ascontiguousarray(dist_m, dtype=np.float64),
        np.ascontiguousarray(tech, dtype=np.int64),
        np.ascontiguousarray(rank, dtype=np.int64),
        int(n),
    )


#: Points handled per block of :func:`pareto_within` (bounds the per-block buffers).
BLOCK_POINTS = 1 << 19


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
    grid = _Grid(xy, np.asarray(elements), max_distance_m, cell_m)
    visit_all = np.argsort(grid.point_keys)  # cell order: neighbours share cache lines
    counts = np.zeros(n, dtype=np.int64)
    blocks = []
    xs = np.ascontiguousarray(offers.curve_m, dtype=np.float64)
    ys = np.ascontiguousarray(offers.curve_mbps, dtype=np.float64)
    args = (
        len(elements),
        np.asarray(offers.rank, dtype=np.int64),
        np.asarray(offers.year, dtype=np.int64),
        np.asarray(offers.down_mbps, dtype=np.float64),
        np.asarray(offers.upgradeable_to_mbps, dtype=np.float64),
        np.asarray(offers.open_network, dtype=np.bool_),
        np.sort(np.asarray(offers.thresholds_m, dtype=np.float64)),
        xs,
        ys,
        float(max_distance_m),
    )
    grid_args = (
        grid.point_keys,
        grid.cell_keys,
        grid.cell_start,
        grid.cell_pieces,
        grid.segs,
        grid.seg_elem,
    )
    for first in range(0, n, BLOCK_POINTS):
        visit = visit_all[first : first + BLOCK_POINTS]
        slots = 8
        while True:
            out_e = np.empty((len(visit), slots), dtype=np.int64)
            out_d = np.empty((len(visit), slots))
            out_n = np.empty(len(visit), dtype=np.int64)
            threads = numba.get_num_threads()
            _pareto(threads, visit, xy, *grid_args, *args, slots, out_e, out_d, out_n)
            widest = int(out_n.max()) if len(out_n) else 0
            if widest <= slots:
                break
            slots = widest  # rare: rerun the block with room for every kept pair
        counts[visit] = out_n
        start = np.zeros(len(visit) + 1, dtype=np.int64)
        np.cumsum(out_n, out=start[1:])
        blocks.append((visit, start, *_compact(out_e, out_d, out_n, start)))
        del out_e, out_d
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    point = np.empty(offsets[-1], dtype=np.int64)
    elem = np.empty(offsets[-1], dtype=np.int64)
    dist = np.empty(offsets[-1])
    for visit, start, block_e, block_d in blocks:
        _scatter(visit, start, block_e, block_d, offsets, point, elem, dist)
    return point, elem, dist
