"""Round buffers of convex hulls, vertex for vertex what GEOS makes, by a compiled loop.

A national run outlines ~10⁵ gap clusters of several addresses: their convex hull grown by a
margin (``shapely.buffer``), 3 s of GEOS. A hull is a clockwise strictly convex ring (or, for
collinear addresses, a segment), and GEOS's buffer of such a shape is its raw offset curve
as it stands: every offset segment joined to the next by a fillet round the vertex (a round
cap at each end of a segment), then closed. Noding and polygon building find nothing to cut,
so the curve GEOS builds is the polygon it returns. This module writes that curve with GEOS's
arithmetic (``OffsetSegmentGenerator``: offsets, ``atan2``, the fillet's angle steps, sines
and cosines below 5·10⁻¹⁶ made zero, points closer than ``r·10⁻⁶`` to the last left out),
4x faster and without the GIL.

Where vertices come within ``r·10⁻³`` of each other GEOS's later steps may drop some (seen
below ``r·10⁻⁴``), so those outlines, and any other shape, are left to GEOS. Tests compare
every outline with ``shapely.buffer`` to the last bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from coverage.kernel import FloatArray, IntArray, numba

#: Segments per quarter circle (shapely's and GEOS's default).
QUAD_SEGS = 8

#: Outlines with two vertices closer than this share of the radius are made by GEOS.
_CLOSE = 1e-3


@numba.njit(cache=True, nogil=True, inline="always")
def _add(out: FloatArray, k: int, x: float, y: float, min_gap: float) -> int:
    """Append ``(x, y)`` at ``k`` unless within ``min_gap`` of the last point (GEOS's
    ``OffsetSegmentString.addPt``); the new count."""
    if k > 0:
        dx = x - out[k - 1, 0]
        dy = y - out[k - 1, 1]
        if math.sqrt(dx * dx + dy * dy) < min_gap:
            return k
    out[k, 0] = x
    out[k, 1] = y
    return k + 1


@numba.njit(cache=True, nogil=True)
def _fillet(
    out: FloatArray,
    k: int,
    px: float,
    py: float,
    start: float,
    end: float,
    r: float,
    quantum: float,
    min_gap: float,
) -> int:
    """A clockwise arc round ``(px, py)`` from angle ``start`` to ``end`` in steps of about
    ``quantum`` (GEOS's ``addDirectedFillet``), its last point left to the caller."""
    total = abs(start - end)
    steps = int(total / quantum + 0.5)
    if steps >= 1:
        inc = total / steps
        for j in range(steps):
            a = start + float(-j) * inc
            sin, cos = math.sin(a), math.cos(a)
            # GEOS's Angle::sinCosSnap: an arc point on an axis through the centre lies on it.
            sin = 0.0 if abs(sin) < 5e-16 else sin
            cos = 0.0 if abs(cos) < 5e-16 else cos
            k = _add(out, k, px + r * cos, py + r * sin, min_gap)
    return k


@numba.njit(cache=True, nogil=True)
def _left_offset(ax: float, ay: float, bx: float, by: float, r: float) -> tuple[float, float]:
    """The left normal of segment a→b scaled to ``r`` (GEOS's ``computeOffsetSegment``)."""
    dx = bx - ax
    dy = by - ay
    length = math.sqrt(dx * dx + dy * dy)
    return -(r * dy / length), r * dx / length


@numba.njit(cache=True, nogil=True)
def _edges_long(v: FloatArray, r: float) -> bool:
    """Whether every edge of ``v`` is at least ``r·_CLOSE`` long as the offsets measure it
    (a shorter one puts two curve points that close together, which GEOS may merge; one
    of length 0 after rounding, e.g. of subnormal differences, cannot be offset)."""
    for i in range(v.shape[0] - 1):
        dx = v[i + 1, 0] - v[i, 0]
        dy = v[i + 1, 1] - v[i, 1]
        if not math.sqrt(dx * dx + dy * dy) >= r * _CLOSE:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _ring_curve(v: FloatArray, r: float, quantum: float, out: FloatArray) -> int:
    """The buffer of the clockwise strictly convex ring ``v`` (closed, ``n + 1`` points):
    GEOS's ``computeRingBufferCurve`` on its left side, every turn an outside one; its
    point count, at most ``2.5 n + 4 q + 2`` (``q`` steps a quarter circle), or -1 where the
    fillets would turn more than once round."""
    n = v.shape[0] - 1
    if not _edges_long(v, r):
        return -1
    min_gap = r * 1e-6
    k = 0
    turned = 0.0
    for i in range(1, n + 1):
        s0x, s0y = v[(i - 2) % n, 0], v[(i - 2) % n, 1]
        s1x, s1y = v[i - 1, 0], v[i - 1, 1]
        s2x, s2y = v[i % n, 0], v[i % n, 1]
        nx, ny = _left_offset(s0x, s0y, s1x, s1y, r)
        o0x, o0y = s1x + nx, s1y + ny  # end of the offset of s0→s1
        nx, ny = _left_offset(s1x, s1y, s2x, s2y, r)
        o1x, o1y = s1x + nx, s1y + ny  # start of the offset of s1→s2
        k = _add(out, k, o0x, o0y, min_gap)
        ex, ey = o0x - o1x, o0y - o1y
        if math.sqrt(ex * ex + ey * ey) < r * 1e-3:  # offsets nearly meet: no fillet
            continue
        start = math.atan2(o0y - s1y, o0x - s1x)
        end = math.atan2(o1y - s1y, o1x - s1x)
        if start <= end:
            start += 2.0 * math.pi
        # A convex ring's fillets turn once round in all. More happens only when the offsets
        # are rounded to nothing (a radius of a few ulps of the coordinates): left to GEOS,
        # and never more points than the caller made room for.
        turned += start - end
        if turned > 2.0 * math.pi + quantum:
            return -1
        k = _fillet(out, k, s1x, s1y, start, end, r, quantum, min_gap)
        k = _add(out, k, o1x, o1y, min_gap)
    return _close(out, k)


@numba.njit(cache=True, nogil=True)
def _segment_curve(v: FloatArray, r: float, quantum: float, out: FloatArray) -> int:
    """The buffer of segment ``v[0]``-``v[1]``: GEOS's ``computeLineBufferCurve``, each side
    followed by the round cap at its end."""
    if not _edges_long(v, r):
        return -1
    min_gap = r * 1e-6
    k = 0
    for side in range(2):
        ax, ay, bx, by = v[side, 0], v[side, 1], v[1 - side, 0], v[1 - side, 1]
        nx, ny = _left_offset(ax, ay, bx, by, r)
        k = _add(out, k, bx + nx, by + ny, min_gap)
        angle = math.atan2(by - ay, bx - ax)
        k = _fillet(
            out, k, bx, by, angle + math.pi / 2.0, angle - math.pi / 2.0, r, quantum, min_gap
        )
        k = _add(out, k, bx - nx, by - ny, min_gap)
    return _close(out, k)


@numba.njit(cache=True, nogil=True, inline="always")
def _close(out: FloatArray, k: int) -> int:
    if out[0, 0] != out[k - 1, 0] or out[0, 1] != out[k - 1, 1]:
        out[k, 0] = out[0, 0]
        out[k, 1] = out[0, 1]
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _curves(
    coords: FloatArray, offsets: IntArray, r: float, quad_segs: int
) -> tuple[FloatArray, IntArray, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Buffer curves of the shapes ``coords[offsets[i]:offsets[i + 1]]`` (a closed ring or a
    segment), one after another (shape ``i``: rows ``at[i]:at[i + 1]``), and whether each
    one was made with its vertices apart (else it has no rows: GEOS may make something
    else)."""
    quantum = math.pi / 2.0 / quad_segs
    m = len(offsets) - 1
    # Room for the most a shape can make: a ring of n vertices 2.5 n + 4 q + 2 points (its
    # fillets turn once round, _ring_curve), a segment 4 q + 5.
    cap = 3 * len(coords) + m * (4 * quad_segs + 5)
    out = np.empty((cap, 2))
    at = np.zeros(m + 1, dtype=np.int64)
    apart = np.ones(m, dtype=np.bool_)
    k = 0
    for i in range(m):
        v = coords[offsets[i] : offsets[i + 1]]
        if len(v) == 2:
            got = _segment_curve(v, r, quantum, out[k:])
        else:
            got = _ring_curve(v, r, quantum, out[k:])
        apart[i] = got > 0
        for j in range(k + 1, k + got):
            dx = out[j, 0] - out[j - 1, 0]
            dy = out[j, 1] - out[j - 1, 1]
            if math.sqrt(dx * dx + dy * dy) < r * _CLOSE:
                apart[i] = False
        if apart[i]:  # else its points are dropped: GEOS makes this one
            k += got
        at[i + 1] = k
    return out[:k], at, apart


def hull_buffers(hulls: np.ndarray[Any, Any], distance_m: float) -> np.ndarray[Any, Any]:
    """``shapely.buffer(hulls, distance_m)`` for convex hulls made by GEOS
    (``shapely.convex_hull``): polygons and two-point line strings by the compiled curve,
    anything else (points, vertices too close together, a margin within rounding of the
    coordinates) by GEOS."""
    hulls = np.asarray(hulls, dtype=object)
    out = np.empty(len(hulls), dtype=object)
    kind = shapely.get_type_id(hulls)
    ring = shapely.get_exterior_ring(hulls)
    # What a convex hull is: a clockwise ring without holes, or a segment of two points.
    ours = ((kind == 3) & (shapely.get_num_interior_rings(hulls) == 0) & ~shapely.is_ccw(ring)) | (
        (kind == 1) & (shapely.get_num_coordinates(hulls) == 2) & (shapely.length(hulls) > 0)
    )
    rings = np.where(kind[ours] == 3, ring[ours], hulls[ours])
    coords, index = shapely.get_coordinates(rings, return_index=True)
    # A margin of a few ulps of the coordinates is GEOS's (rounding decides its shape).
    if len(coords) and distance_m > 1e-6 * float(np.abs(coords).max()):
        offsets = np.searchsorted(index, np.arange(len(rings) + 1))
        xy, at, apart = _curves(coords, offsets, float(distance_m), QUAD_SEGS)
        starts = np.r_[at[:-1][apart], at[-1]]  # the shapes left out have no rows
        made = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON, xy, (starts, np.arange(len(starts), dtype=np.int64))
        )
        where = np.flatnonzero(ours)
        out[where[apart]] = made
        ours[where[~apart]] = False
    else:
        ours[:] = False
    out[~ours] = shapely.buffer(hulls[~ours], distance_m, quad_segs=QUAD_SEGS)
    return out
