"""ISO WKB of simple geometries written by a compiled loop, for GeoParquet outputs.

geopandas' writer asks GEOS for one Python ``bytes`` object per geometry (``shapely.to_wkb``)
and then copies them into an Arrow array, holding the GIL throughout: 5.6 s of a national
run's tail (the gap clusters' outlines, 10⁶ grid squares, 5·10⁵ network lines). Points,
line strings and polygons without holes -- every geometry of those tables -- have a fixed
layout: byte order, type, (one ring,) point count, coordinates. Their coordinates come from
GEOS in one array and the WKB is written into one Arrow buffer, byte for byte what GEOS
writes (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from coverage.kernel import FloatArray, IntArray, numba

#: Bytes before the coordinates, by WKB type (index): point (order, type), line string
#: (+ point count), polygon (+ ring count, point count).
_HEADER = np.array([0, 5, 9, 13], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _fill(
    kinds: IntArray, counts: IntArray, coords: FloatArray, offsets: IntArray
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Every geometry's WKB, one after another (geometry ``i`` at ``offsets[i]``)."""
    out = np.empty(offsets[-1], dtype=np.uint8)
    raw = coords.view(np.uint8)
    src = 0
    for i in range(len(kinds)):
        at = offsets[i]
        out[at] = 1  # little-endian
        _u32(out, at + 1, kinds[i])
        at += 5
        if kinds[i] == 3:
            _u32(out, at, 1)  # one ring
            at += 4
        if kinds[i] != 1:
            _u32(out, at, counts[i])
            at += 4
        size = 16 * counts[i]
        out[at : at + size] = raw[src : src + size]
        src += size
    return out


@numba.njit(inline="always")
def _u32(out: np.ndarray[Any, np.dtype[np.uint8]], at: int, value: int) -> None:
    for k in range(4):
        out[at + k] = (value >> (8 * k)) & 0xFF


def simple_wkb(geoms: np.ndarray[Any, Any]) -> Any:
    """The ISO WKB of ``geoms`` as an Arrow binary array, or None unless every one is a
    non-empty 2-D point, line string or polygon without holes (or the WKB would need 64-bit
    offsets): then GEOS writes them."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or shapely.is_missing(geoms).any():
        return None
    # GEOS's type ids of points, line strings and polygons (0, 1, 3; 2 is a linear ring) as
    # WKB types (1, 2, 3); anything else is 0.
    kinds = np.array([1, 2, 0, 3, 0, 0, 0, 0], dtype=np.int64)[shapely.get_type_id(geoms)]
    if not kinds.all() or shapely.is_empty(geoms).any():
        return None
    if shapely.has_z(geoms).any() or (shapely.get_num_interior_rings(geoms[kinds == 3]) > 0).any():
        return None
    counts = shapely.get_num_coordinates(geoms).astype(np.int64)
    return wkb_array(kinds, counts, shapely.get_coordinates(geoms))


def point_wkb(xy: np.ndarray[Any, np.dtype[np.float64]]) -> Any:
    """The WKB of 2-D points (``(n, 2)`` coordinates, no GEOS points made), or None when
    there are none or too many for 32-bit offsets."""
    if len(xy) == 0:
        return None
    ones = np.ones(len(xy), dtype=np.int64)
    return wkb_array(ones, ones, xy)


def wkb_array(kinds: IntArray, counts: IntArray, coords: np.ndarray[Any, Any]) -> Any:
    """Geometries of WKB type ``kinds`` (1, 2, 3) with ``counts`` points each, their
    ``coords`` (``(sum(counts), 2)``) one after another, as an Arrow binary array of their
    WKB; None when that needs 64-bit offsets (2 GiB or more)."""
    import pyarrow as pa

    sizes = _HEADER[kinds] + 16 * counts
    if int(sizes.sum()) >= 2**31:
        return None
    offsets = np.zeros(len(kinds) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    flat = np.ascontiguousarray(coords, dtype="<f8").reshape(-1)
    data = _fill(kinds, counts, flat, offsets)
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), len(kinds), buffers)
