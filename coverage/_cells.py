"""Outlines of unions of grid cells, traced on the grid in one compiled pass.

A tätort's extent is its circle united with the occupied 100 m cells of its addresses
(:func:`coverage.areas.tatort_extent`). GEOS's coverage union of the cells as boxes took 15 s
for the 1.8·10⁶ cells of a national run; following the cells' boundary edges on the grid takes
a fraction of a second and gives the same polygons (tested against GEOS), with a vertex only
where the outline turns.

How the outline is traced. Every cell side with an empty cell across it is a boundary edge,
directed so that the occupied cell lies on its left (outer rings counter-clockwise, holes
clockwise). At each grid vertex one edge leaves, except where two cells touch only at a corner
(a pinch): there the walk turns left, so it goes on round the same cell and cells joined only
at a corner belong to different polygons. A walk can still come back to a pinch it passed
before (a polygon whose hole touches its outer ring at that corner); the loop closed there is
cut off as a ring of its own, so no ring touches itself, as valid polygons require. Cells
joined by a side form one polygon (4-connected components): its outer ring is the one ring of
its cells running counter-clockwise, the others are its holes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from coverage.kernel import IntArray, numba

# Direction d of an edge, which is also the side of its cell it runs along:
# 0 east (bottom side), 1 north (right side), 2 west (top side), 3 south (left side).
_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)  # vertex to next vertex
_START = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.int64)  # cell corner it starts at
_ACROSS = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=np.int64)  # cell across the side


@numba.njit(inline="always")
def _cell(grid: IntArray, width: int, x: int, y: int) -> int:
    """Index (in the group) of the occupied cell at padded grid position x, y, or -1."""
    return grid[y * width + x] - 1


@numba.njit(inline="always")
def _is_edge(grid: IntArray, width: int, x: int, y: int, d: int) -> bool:
    """Whether cell x, y is occupied and its side ``d`` is on the boundary."""
    if grid[y * width + x] == 0:
        return False
    return grid[(y + _ACROSS[d, 1]) * width + x + _ACROSS[d, 0]] == 0


@numba.njit(inline="always")
def _pinch(grid: IntArray, width: int, vx: int, vy: int) -> int:
    """At vertex vx, vy (the lower-left corner of cell vx, vy): 2·cell + 0 when only the
    north-east and south-west cells are occupied, 2·cell + 1 (cell: the north-west one) when
    only the north-west and south-east are; -1 when the vertex is not a pinch."""
    ne = grid[vy * width + vx] != 0
    nw = grid[vy * width + vx - 1] != 0
    sw = grid[(vy - 1) * width + vx - 1] != 0
    se = grid[(vy - 1) * width + vx] != 0
    if ne and sw and not nw and not se:
        return 2 * (grid[vy * width + vx] - 1)
    if nw and se and not ne and not sw:
        return 2 * (grid[vy * width + vx - 1] - 1) + 1
    return -1


@numba.njit(inline="always")
def _next_edge(grid: IntArray, width: int, vx: int, vy: int, d: int) -> tuple[int, int, int]:
    """The edge leaving vertex vx, vy after one arriving in direction ``d``: its cell's padded
    position and its direction (left turn first, which decides only at pinches)."""
    for turn in (1, 0, 3):
        e = (d + turn) % 4
        cx = vx - _START[e, 0]
        cy = vy - _START[e, 1]
        if _is_edge(grid, width, cx, cy, e):
            return cx, cy, e
    return -1, -1, -1  # unreachable: every boundary vertex has an edge leaving it


@numba.njit(cache=True, nogil=True)
def _labels(grid: IntArray, width: int, px: IntArray, py: IntArray) -> IntArray:
    """4-connected component of each cell, numbered in cell order."""
    n = px.shape[0]
    label = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        if label[i] >= 0:
            continue
        label[i] = k
        top = 0
        stack[0] = i
        while top >= 0:
            c = stack[top]
            top -= 1
            for d in range(4):
                j = _cell(grid, width, px[c] + _ACROSS[d, 0], py[c] + _ACROSS[d, 1])
                if j >= 0 and label[j] < 0:
                    label[j] = k
                    top += 1
                    stack[top] = j
        k += 1
    return label


@numba.njit(cache=True, nogil=True)
def _trace_group(
    cx: IntArray,
    cy: IntArray,
    xy: IntArray,
    ring_end: IntArray,
    ring_label: IntArray,
    ring_area: IntArray,
) -> int:
    """Rings of one group of distinct cells: their vertices (absolute grid coordinates, each
    ring closed) into ``xy``, where each ends into ``ring_end``, its component and twice its
    signed area; returns the number of rings."""
    n = cx.shape[0]
    x0, y0 = cx.min() - 1, cy.min() - 1  # one empty cell of padding on every side
    width = cx.max() - x0 + 2
    height = cy.max() - y0 + 2
    grid = np.zeros(width * height, dtype=np.int64)
    px, py = cx - x0, cy - y0
    for i in range(n):
        grid[py[i] * width + px[i]] = i + 1
    label = _labels(grid, width, px, py)
    seen = np.zeros((n, 4), dtype=np.bool_)
    at_pinch = np.full(2 * n, -1, dtype=np.int64)  # stack position of the walk's visit
    # The current walk: each edge's start vertex, direction, cell and pinch id.
    sx = np.empty(4 * n, dtype=np.int64)
    sy = np.empty(4 * n, dtype=np.int64)
    sd = np.empty(4 * n, dtype=np.int64)
    sc = np.empty(4 * n, dtype=np.int64)
    sp = np.empty(4 * n, dtype=np.int64)
    walk = (sx, sy, sd, sc, sp)
    out = (xy, ring_end, ring_label, ring_area)
    rings = 0
    used = 0
    for i in range(n):
        for d0 in range(4):
            if seen[i, d0] or not _is_edge(grid, width, px[i], py[i], d0):
                continue
            top = 0
            ex, ey, d = px[i], py[i], d0
            while True:
                c = grid[ey * width + ex] - 1
                seen[c, d] = True
                vx, vy = ex + _START[d, 0], ey + _START[d, 1]
                pid = _pinch(grid, width, vx, vy)
                if pid >= 0 and at_pinch[pid] >= 0:  # back at a pinch: cut the loop off
                    start = at_pinch[pid]
                    used = _emit(walk, start, top, at_pinch, label, x0, y0, out, used, rings)
                    rings += 1
                    top = start
                sx[top], sy[top], sd[top], sc[top], sp[top] = vx, vy, d, c, pid
                if pid >= 0:
                    at_pinch[pid] = top
                top += 1
                ex, ey, d = _next_edge(grid, width, vx + _STEP[d, 0], vy + _STEP[d, 1], d)
                if ex == px[i] and ey == py[i] and d == d0:
                    break
            used = _emit(walk, 0, top, at_pinch, label, x0, y0, out, used, rings)
            rings += 1
    return rings


@numba.njit(cache=True, nogil=True)
def _emit(
    walk: tuple[IntArray, IntArray, IntArray, IntArray, IntArray],
    start: int,
    stop: int,
    at_pinch: IntArray,
    label: IntArray,
    x0: int,
    y0: int,
    out: tuple[IntArray, IntArray, IntArray, IntArray],
    used: int,
    ring: int,
) -> int:
    """Write the closed walk ``start:stop`` as a ring of its corners (where the direction
    changes; the first corner repeated at the end) into ``out`` (vertices, ring ends, ring
    components, twice the rings' signed areas); returns the vertices used so far. ``walk``:
    the walk's start vertices, directions, cells and pinch ids."""
    sx, sy, sd, sc, sp = walk
    xy, ring_end, ring_label, ring_area = out
    first = -1
    for k in range(start, stop):
        if sp[k] >= 0:
            at_pinch[sp[k]] = -1
        prev = stop - 1 if k == start else k - 1
        if sd[k] != sd[prev]:
            xy[used, 0], xy[used, 1] = sx[k] + x0, sy[k] + y0
            if first < 0:
                first = used
            used += 1
    xy[used, 0], xy[used, 1] = xy[first, 0], xy[first, 1]
    used += 1
    twice_area = 0
    for v in range(first, used - 1):
        twice_area += xy[v, 0] * xy[v + 1, 1] - xy[v + 1, 0] * xy[v, 1]
    ring_end[ring] = used
    ring_label[ring] = label[sc[start]]
    ring_area[ring] = twice_area
    return used


@numba.njit(cache=True, nogil=True)
def _trace_all(
    cx: IntArray, cy: IntArray, starts: IntArray
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Every group's polygons as ragged arrays (see :func:`cell_outlines`)."""
    n = cx.shape[0]
    groups = starts.shape[0] - 1
    xy = np.empty((5 * n, 2), dtype=np.int64)  # corners <= edges <= 4n, plus one per ring
    ring_offsets = np.zeros(n + 1, dtype=np.int64)
    poly_offsets = np.zeros(n + 1, dtype=np.int64)
    group_offsets = np.zeros(groups + 1, dtype=np.int64)
    ring_end = np.empty(n, dtype=np.int64)
    ring_label = np.empty(n, dtype=np.int64)
    ring_area = np.empty(n, dtype=np.int64)
    scratch = np.empty((5 * n, 2), dtype=np.int64)
    out_rings = 0
    out_polys = 0
    out_xy = 0
    for g in range(groups):
        a, b = starts[g], starts[g + 1]
        if a == b:
            group_offsets[g + 1] = out_polys
            continue
        count = _trace_group(cx[a:b], cy[a:b], scratch, ring_end, ring_label, ring_area)
        # Polygon by polygon (component order): the outer ring, then the holes in trace order.
        key = ring_label[:count] * 2 + (ring_area[:count] < 0)
        order = np.argsort(key, kind="mergesort")
        for j in range(count):
            r = order[j]
            lo = 0 if r == 0 else ring_end[r - 1]
            hi = ring_end[r]
            xy[out_xy : out_xy + hi - lo] = scratch[lo:hi]
            out_xy += hi - lo
            if ring_area[r] > 0:
                out_polys += 1
            out_rings += 1
            ring_offsets[out_rings] = out_xy
            poly_offsets[out_polys] = out_rings
        group_offsets[g + 1] = out_polys
    return xy[:out_xy], ring_offsets[: out_rings + 1], poly_offsets[: out_polys + 1], group_offsets


#: Bits of the key placed per pass of the radix sort: 16,384 counters (in the second-level
#: cache); the 5·10⁶ 100 m cell keys of a national run (27 bits) take 2 passes (11 bits, 3
#: passes: 0.45-0.59 s; 14: 0.43-0.48 s; 16: 0.40-0.47 s).
_RADIX_BITS = 14


@numba.njit(cache=True, nogil=True)
def _radix_sort(keys: IntArray, positions: bool) -> tuple[IntArray, IntArray]:
    """``keys`` (non-negative int64) sorted, and (when ``positions``) where each came from:
    an LSD radix sort, :data:`_RADIX_BITS` bits a pass, stable (equal keys keep their
    order), as many passes as the largest key needs. ``keys`` is the sort's own buffer,
    overwritten (callers pass a copy of what they keep)."""
    n = len(keys)
    top = 0
    for i in range(n):
        top = max(top, keys[i])
    passes = 1
    # (A shift by 64 bits or more is undefined: a 63-bit key needs at most 63 bits' passes.)
    while passes * _RADIX_BITS < 63 and top >> (passes * _RADIX_BITS) > 0:
        passes += 1
    mask = (1 << _RADIX_BITS) - 1
    key, other_key = keys, np.empty(n, dtype=np.int64)
    pos = np.arange(n, dtype=np.int64) if positions else np.empty(0, dtype=np.int64)
    other_pos = np.empty(len(pos), dtype=np.int64)
    counts = np.empty(mask + 1, dtype=np.int64)
    for p in range(passes):
        shift = p * _RADIX_BITS
        counts[:] = 0
        for i in range(n):
            counts[(key[i] >> shift) & mask] += 1
        start = 0
        for d in range(mask + 1):  # counts become where each digit's keys start
            c = counts[d]
            counts[d] = start
            start += c
        for i in range(n):
            d = (key[i] >> shift) & mask
            j = counts[d]
            counts[d] = j + 1
            other_key[j] = key[i]
            if positions:
                other_pos[j] = pos[i]
        key, other_key = other_key, key
        pos, other_pos = other_pos, pos
    return key, pos


@numba.njit(cache=True, nogil=True)
def _radix_unique(keys: IntArray, inverse: bool) -> tuple[IntArray, IntArray]:
    """The distinct values of ``keys`` (non-negative int64) in order, and (when
    ``inverse``) the position of each key's value among them (:func:`_radix_sort`, which
    overwrites ``keys``)."""
    key, pos = _radix_sort(keys, inverse)
    n = len(key)
    where = np.empty(n if inverse else 0, dtype=np.int64)
    m = 0
    for i in range(n):
        if i == 0 or key[i] != key[i - 1]:
            key[m] = key[i]  # in place: m <= i
            m += 1
        if inverse:
            where[pos[i]] = m - 1
    return key[:m].copy(), where


def grid_keys(x: Any, y: Any, size: float) -> tuple[IntArray, int, int, int]:
    """Each point's grid cell (column ``floor(x / size)``, row ``floor(y / size)``) as one
    non-negative int64 key, ``(column - x0) * span + (row - y0)``; returns the keys, ``x0``
    and ``y0`` (the lowest column and row) and ``span`` (the rows' range). Two compiled
    passes over the coordinates: the numpy expression made ten arrays the size of the
    points (0.4 GB for a national run's, at each of its five cell groupings)."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64), 0, 0, 1
    keys, x0, y0, span = _grid_keys(
        np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), float(size)
    )
    return keys, int(x0), int(y0), int(span)


@numba.njit(cache=True, nogil=True)
def _grid_keys(x: Any, y: Any, size: float) -> tuple[IntArray, Any, Any, Any]:
    x0 = y0 = np.int64(np.iinfo(np.int64).max)
    y1 = np.int64(np.iinfo(np.int64).min)
    for i in range(x.shape[0]):
        cx = np.int64(np.floor(x[i] / size))
        cy = np.int64(np.floor(y[i] / size))
        if cx < x0:
            x0 = cx
        if cy < y0:
            y0 = cy
        if cy > y1:
            y1 = cy
    span = y1 - y0 + 1
    keys = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        cx = np.int64(np.floor(x[i] / size))
        keys[i] = (cx - x0) * span + (np.int64(np.floor(y[i] / size)) - y0)
    return keys, x0, y0, span


def stable_order(keys: IntArray) -> IntArray:
    """``np.argsort(keys, kind="stable")`` for 1-D int64 keys: by the compiled radix sort
    when they are non-negative (labels, cell numbers, the bits of non-negative floats),
    else by numpy."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) == 0 or int(keys.min()) < 0:
        return np.argsort(keys, kind="stable")
    return _radix_sort(keys.copy(), True)[1]


def unique_keys(
    keys: IntArray, inverse: bool = True, consume: bool = False
) -> tuple[IntArray, IntArray]:
    """``np.unique(keys, return_inverse=True)`` for 1-D int64 keys (an empty inverse when
    not ``inverse``). ``consume``: ``keys`` may be overwritten (a temporary of the caller's;
    the sort then needs no copy of it).

    Non-negative keys (cell keys) are sorted with their positions by a compiled radix sort:
    0.43-0.48 s for 5·10⁶ random 100 m cell keys of Sweden where numpy's SIMD argsort took
    1.1 s and ``np.unique`` 1.5 s (only the distinct keys: ``np.sort`` is faster still, 0.12 s
    against 0.3 s, and :func:`distinct_cells` uses it). Others go by numpy's argsort (the
    inverse needs no stable order).
    """
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) and int(keys.min()) >= 0:
        own = consume and keys.flags.writeable and keys.flags.c_contiguous
        uniq, where = _radix_unique(keys if own else keys.copy(), inverse)
        return uniq, where
    order = np.argsort(keys)
    ordered = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    where = np.empty(len(keys) if inverse else 0, dtype=np.int64)
    if inverse:
        where[order] = np.cumsum(new) - 1
    return ordered[new], where


def distinct_cells(group: IntArray, cx: IntArray, cy: IntArray) -> tuple[IntArray, ...]:
    """The distinct ``(group, cx, cy)`` triples, by group, then row, then column.

    One int64 key per triple when the ranges allow (sorting it is 10x faster than sorting
    three columns), else a sort by the three columns; both give the same order.
    """
    group, cx, cy = (np.asarray(a, dtype=np.int64) for a in (group, cx, cy))
    if len(group) == 0:
        return group, cx, cy
    lows = [int(a.min()) for a in (group, cy, cx)]
    spans = [int(a.max()) - low + 1 for a, low in zip((group, cy, cx), lows, strict=True)]
    if spans[0] * spans[1] * spans[2] < 2**62:  # Python integers: no overflow in the test
        key = ((group - lows[0]) * spans[1] + (cy - lows[1])) * spans[2] + (cx - lows[2])
        key = np.sort(key)
        key = key[np.r_[True, key[1:] != key[:-1]]]
        rest, x = np.divmod(key, spans[2])
        g, y = np.divmod(rest, spans[1])
        return g + lows[0], x + lows[2], y + lows[1]
    order = np.lexsort((cx, cy, group))
    g, x, y = group[order], cx[order], cy[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (y[1:] != y[:-1]) | (x[1:] != x[:-1])]
    return g[new], x[new], y[new]


def cell_outlines(cx: IntArray, cy: IntArray, starts: IntArray, size: float) -> Any:
    """The union of grid cells as one (Multi)Polygon per group.

    Parameters
    ----------
    cx, cy
        Integer column and row of each cell (cell ``cx, cy`` covers
        ``[cx·size, (cx+1)·size] × [cy·size, (cy+1)·size]``), distinct within a group, the
        groups one after another.
    starts
        Where each group starts in ``cx``/``cy``, and the total length at the end (``G + 1``
        values; a group may be empty).
    size
        Side of a cell in CRS units.

    Returns
    -------
    numpy.ndarray
        ``G`` MultiPolygons (empty for an empty group): the cells of each group united, a
        polygon per set of cells joined by sides, vertices only at corners.
    """
    cx = np.ascontiguousarray(cx, dtype=np.int64)
    cy = np.ascontiguousarray(cy, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    xy, rings, polys, groups = _trace_all(cx, cy, starts)
    coords = xy.astype(np.float64) * float(size)
    return shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON, coords, (rings, polys, groups)
    )
