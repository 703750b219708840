"""SQLite tables written as whole pages: records, table B-trees and R-tree nodes.

Why: SQLite inserts a row at a time (the record built by its virtual machine, the row put
into the B-tree, the R-tree's insertion algorithm run for its box). For the 5·10⁶ rows of a
national ``addresses.gpkg`` that is 20–45 s of one core, though the file is only the rows'
bytes in order. Here the rows of a table that is empty and whose row ids ascend are encoded
column by column (numpy and small compiled loops), packed into full leaf pages and indexed by
interior pages built bottom up; an R-tree is bulk-loaded by sort-tile-recursive packing. The
pages are appended to a file SQLite made (schema, triggers and empty tables are SQLite's own),
each table's top page put at the root page SQLite gave it, and the header's page count set:
the result is an ordinary database that SQLite reads, checks (``PRAGMA integrity_check``,
``rtreecheck``) and goes on writing.

The file format: https://www.sqlite.org/fileformat2.html (records §2.1, B-tree pages
§1.6) and the R-tree module's node format (``ext/rtree/rtree.c``). Anything outside what is
written here (auto-vacuum, an encoding other than UTF-8, a row larger than a page) raises
:class:`UnsupportedError`: a file refused is untouched, a row found too large stops the
writing, and callers start again with SQLite itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coverage.kernel import IntArray, numba

ByteArray = np.ndarray[Any, np.dtype[np.uint8]]
#: Serial type 7: an IEEE 754 double, big-endian.
_REAL = 7
#: The R-tree module's rounding of a double to the float it stores (``RNDTOWARDS`` and
#: ``RNDAWAY`` in ``rtree.c``): a box is rounded outwards, never inwards.
_TOWARDS = 1.0 - 1.0 / 8388608.0
_AWAY = 1.0 + 1.0 / 8388608.0


class UnsupportedError(ValueError):
    """The file or the data needs something this writer does not do; use SQLite itself."""


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a batch of records: each row's serial type and body size in bytes, and
    ``write(buf, head, body)``, which writes each row's serial type at ``head[i]`` and its
    body at ``body[i]`` and moves both positions past what it wrote."""

    serial: IntArray
    size: IntArray
    write: Callable[[ByteArray, IntArray, IntArray], None]


def null_column(n: int) -> Column:
    """NULL in every row: how an ``INTEGER PRIMARY KEY`` (the row id itself) is stored."""
    zero = np.zeros(n, dtype=np.int64)

    def write(buf: ByteArray, head: IntArray, body: IntArray) -> None:
        buf[head] = 0
        head += 1

    return Column(zero, zero, write)


def int_column(values: IntArray, valid: Any, small_constants: bool = True) -> Column:
    """64-bit integers in the fewest bytes, as SQLite stores them (0 and 1 as serial types
    8 and 9 when ``small_constants``, i.e. in files of schema format 4)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    serial, size = _int_serials(values, np.asarray(valid, dtype=np.bool_), small_constants)
    return Column(serial, size, lambda buf, head, body: _put_ints(buf, head, body, serial, values))


def real_column(values: Any, valid: Any) -> Column:
    """Doubles; NaN is stored as NULL, as SQLite does with a NaN it is given."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    stored = np.asarray(valid, dtype=bool) & ~np.isnan(values)
    serial = np.where(stored, _REAL, 0).astype(np.int64)
    bits = values.view(np.int64)
    size = np.where(stored, 8, 0).astype(np.int64)
    return Column(serial, size, lambda buf, head, body: _put_ints(buf, head, body, serial, bits))


def bytes_column(
    data: ByteArray, offsets: IntArray, valid: Any, text: bool, prefix: bytes = b""
) -> Column:
    """Text (UTF-8) or blobs: row ``i`` is ``prefix + data[offsets[i]:offsets[i + 1]]``."""
    keep = np.asarray(valid, dtype=bool)
    size = np.where(keep, np.diff(offsets) + len(prefix), 0).astype(np.int64)
    serial = np.where(keep, 2 * size + (13 if text else 12), 0).astype(np.int64)
    head_bytes = np.frombuffer(prefix, dtype=np.uint8).copy()

    def write(buf: ByteArray, head: IntArray, body: IntArray) -> None:
        _put_bytes(buf, head, body, serial, size, data, offsets, head_bytes)

    return Column(serial, size, write)


def encode(columns: list[Column], n: int) -> tuple[ByteArray, IntArray]:
    """``n`` records of ``columns`` (in table order) end to end: the bytes and the offsets
    of each record (``n + 1``)."""
    header = np.zeros(n, dtype=np.int64)
    body = np.zeros(n, dtype=np.int64)
    for column in columns:
        _add_varint_sizes(header, column.serial)
        body += column.size
    # The header's size counts its own varint (1 byte below 128, 2 below 16384).
    own = np.where(header + 1 <= 127, 1, np.where(header + 2 <= 16383, 2, 3))
    header += own
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(header + body, out=offsets[1:])
    buf = np.empty(int(offsets[-1]), dtype=np.uint8)  # every byte is written below
    start = offsets[:-1]
    _put_varints(buf, start, header)
    head, body = start + own, start + header
    for column in columns:
        column.write(buf, head, body)
    return buf, offsets


@numba.njit(inline="always")
def _varint_len(v: int) -> int:
    if v >= 1 << 56:
        return 9
    n = 1
    while v >= 1 << (7 * n):
        n += 1
    return n


@numba.njit(inline="always")
def _put_varint(buf: ByteArray, p: int, v: int) -> int:
    """``v`` (≥ 0) as an SQLite varint at ``buf[p]``; returns its length."""
    if v >= 1 << 56:
        buf[p + 8] = v & 0xFF
        v >>= 8
        for k in range(7, -1, -1):
            buf[p + k] = (v & 0x7F) | 0x80
            v >>= 7
        return 9
    n = _varint_len(v)
    for k in range(n - 1, -1, -1):
        buf[p + k] = (v & 0x7F) | (0x80 if k < n - 1 else 0)
        v >>= 7
    return n


@numba.njit(cache=True)
def _add_varint_sizes(total: IntArray, values: IntArray) -> None:
    for i in range(values.shape[0]):
        total[i] += _varint_len(values[i])


@numba.njit(cache=True)
def _put_varints(buf: ByteArray, pos: IntArray, values: IntArray) -> None:
    for i in range(pos.shape[0]):
        _put_varint(buf, pos[i], values[i])


@numba.njit(cache=True)
def _int_serials(values: IntArray, valid: Any, small_constants: bool) -> tuple[IntArray, IntArray]:
    """Serial types and body sizes of integers (SQLite's ``sqlite3VdbeSerialType``)."""
    n = values.shape[0]
    serial = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    for i in range(n):
        v = values[i]
        u = ~v if v < 0 else v
        if not valid[i]:
            t = 0
        elif small_constants and (v == 0 or v == 1):
            t = 8 + v
        elif u <= 127:
            t = 1
        elif u <= 32767:
            t = 2
        elif u <= 8388607:
            t = 3
        elif u <= 2147483647:
            t = 4
        elif u <= 0x7FFFFFFFFFFF:
            t = 5
        else:
            t = 6
        serial[i] = t
        size[i] = (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)[t]
    return serial, size


@numba.njit(cache=True)
def _put_ints(
    buf: ByteArray, head: IntArray, body: IntArray, serial: IntArray, values: IntArray
) -> None:
    """Integers (serial types 0–6, 8, 9) or doubles' bits (7), big-endian."""
    for i in range(head.shape[0]):
        t = serial[i]
        head[i] += _put_varint(buf, head[i], t)
        size = (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)[t]
        v = values[i]
        p = body[i]
        for k in range(size - 1, -1, -1):
            buf[p + k] = v & 0xFF
            v >>= 8
        body[i] = p + size


@numba.njit(cache=True)
def _put_bytes(
    buf: ByteArray,
    head: IntArray,
    body: IntArray,
    serial: IntArray,
    size: IntArray,
    data: ByteArray,
    offsets: IntArray,
    prefix: ByteArray,
) -> None:
    h = prefix.shape[0]
    for i in range(head.shape[0]):
        head[i] += _put_varint(buf, head[i], serial[i])
        if size[i] == 0:  # NULL, or empty text
            continue
        p = body[i]
        for k in range(h):
            buf[p + k] = prefix[k]
        p += h
        for j in range(offsets[i], offsets[i + 1]):
            buf[p] = data[j]
            p += 1
        body[i] = p


# --- table B-trees -------------------------------------------------------------------------


@numba.njit(cache=True)
def _leaf_starts(rowids: IntArray, offsets: IntArray, usable: int) -> IntArray:
    """First row of each leaf page, packing rows greedily; -1 when a row is too large for a
    page (it would need overflow pages)."""
    max_local = usable - 35
    starts = np.empty(rowids.shape[0] + 1, dtype=np.int64)
    pages = 0
    free = 0
    for i in range(rowids.shape[0]):
        payload = offsets[i + 1] - offsets[i]
        if payload > max_local:
            return np.full(1, -1, dtype=np.int64)
        cell = 2 + _varint_len(payload) + _varint_len(rowids[i]) + payload
        if pages == 0 or cell > free:
            starts[pages] = i
            pages += 1
            free = usable - 8
        free -= cell
    starts[pages] = rowids.shape[0]
    return starts[: pages + 1]


@numba.njit(cache=True)
def _fill_leaves(
    pages: ByteArray,
    starts: IntArray,
    rowids: IntArray,
    buf: ByteArray,
    offsets: IntArray,
    usable: int,
) -> None:
    """Leaf pages (type 13): header, cell pointers in row id order, cells packed at the end
    of the usable space."""
    for g in range(starts.shape[0] - 1):
        page = pages[g]
        a, b = starts[g], starts[g + 1]
        total = 0
        for i in range(a, b):
            payload = offsets[i + 1] - offsets[i]
            total += _varint_len(payload) + _varint_len(rowids[i]) + payload
        p = usable - total
        _page_header(page, 13, b - a, p)
        for k, i in enumerate(range(a, b)):
            page[8 + 2 * k] = p >> 8
            page[9 + 2 * k] = p & 0xFF
            payload = offsets[i + 1] - offsets[i]
            p += _put_varint(page, p, payload)
            p += _put_varint(page, p, rowids[i])
            page[p : p + payload] = buf[offsets[i] : offsets[i + 1]]
            p += payload


@numba.njit(inline="always")
def _page_header(page: ByteArray, kind: int, cells: int, content: int) -> None:
    page[0] = kind
    page[1] = page[2] = 0  # no freeblock
    page[3] = cells >> 8
    page[4] = cells & 0xFF
    content = content if content < 65536 else 0
    page[5] = content >> 8
    page[6] = content & 0xFF
    page[7] = 0  # no fragmented bytes


@numba.njit(cache=True)
def _interior_starts(keys: IntArray, usable: int) -> IntArray:
    """First child of each interior page: cells (all children but the page's last, which is
    its right-most pointer) while they fit; a page never ends with a lone child."""
    n = keys.shape[0]
    starts = np.empty(n + 1, dtype=np.int64)
    pages = 0
    i = 0
    while i < n:
        starts[pages] = i
        pages += 1
        free = usable - 12
        while i < n - 1 and 6 + _varint_len(keys[i]) <= free:
            free -= 6 + _varint_len(keys[i])
            i += 1
        i += 1  # the right-most child
    starts[pages] = n
    # The last page has at least two children: take one from the page before it.
    if pages > 1 and starts[pages] - starts[pages - 1] == 1:
        starts[pages - 1] -= 1
    return starts[: pages + 1]


@numba.njit(cache=True)
def _fill_interiors(
    pages: ByteArray, starts: IntArray, children: IntArray, keys: IntArray, usable: int
) -> None:
    """Interior pages (type 5): a cell (left child, its largest row id) per child but the
    last, which is the right-most pointer."""
    for g in range(starts.shape[0] - 1):
        page = pages[g]
        a, b = starts[g], starts[g + 1]
        total = 0
        for i in range(a, b - 1):
            total += 4 + _varint_len(keys[i])
        p = usable - total
        _page_header(page, 5, b - 1 - a, p)
        right = children[b - 1]
        for k in range(4):
            page[8 + k] = (right >> (8 * (3 - k))) & 0xFF
        for k, i in enumerate(range(a, b - 1)):
            page[12 + 2 * k] = p >> 8
            page[13 + 2 * k] = p & 0xFF
            for j in range(4):
                page[p + j] = (children[i] >> (8 * (3 - j))) & 0xFF
            p += 4
            p += _put_varint(page, p, keys[i])


class PageFile:
    """An SQLite database file grown by whole pages; the header's page count is set on
    :meth:`close`. The file must not be open in SQLite meanwhile."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            head = f.read(100)
        if len(head) < 100 or head[:16] != b"SQLite format 3\x00":
            raise UnsupportedError(f"{path} is not an SQLite database")
        size = int.from_bytes(head[16:18], "big")
        self.page_size = 65536 if size == 1 else size
        self.usable = self.page_size - head[20]
        problems = {
            "a write-ahead log": head[18] != 1 or head[19] != 1,
            "auto-vacuum": int.from_bytes(head[52:56], "big") != 0,
            "an encoding other than UTF-8": int.from_bytes(head[56:60], "big") != 1,
            "a page size below 1024 bytes": self.page_size < 1024,
            "an unknown header": head[24:28] != head[92:96],
        }
        for what, found in problems.items():
            if found:
                raise UnsupportedError(f"{path} has {what}")
        #: Integers 0 and 1 as serial types 8 and 9 (schema format 4).
        self.small_constants = int.from_bytes(head[44:48], "big") >= 4
        self.pages = int.from_bytes(head[28:32], "big")
        if self.pages * self.page_size != path.stat().st_size:
            raise UnsupportedError(f"{path}: the header's page count is not the file's size")
        #: The page of byte 2³⁰ (SQLite's ``PENDING_BYTE``): never a table's page.
        self.lock_page = (1 << 30) // self.page_size + 1
        self._fd = os.open(path, os.O_RDWR)
        self._head = bytearray(head)

    def append(self, pages: ByteArray) -> IntArray:
        """``pages`` (``(k, page_size)``) written after the last page; their page numbers.
        The lock-byte page (the one holding byte 2³⁰, which SQLite never reads: the locks of
        some systems are taken on those bytes) is skipped and left zero."""
        numbers = []
        done = 0
        while done < len(pages):
            first = self.pages + 1
            if first == self.lock_page:
                os.pwrite(self._fd, bytes(self.page_size), self.pages * self.page_size)
                self.pages += 1
                continue
            run = len(pages) - done
            if first < self.lock_page:
                run = min(run, self.lock_page - first)
            block = np.ascontiguousarray(pages[done : done + run])
            os.pwrite(self._fd, block.data, self.pages * self.page_size)
            numbers.append(np.arange(first, first + run, dtype=np.int64))
            self.pages += run
            done += run
        return np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)

    def put(self, number: int, page: ByteArray) -> None:
        """``page`` written as page ``number`` (an existing page: a table's root)."""
        if number == 1 or number > self.pages:
            raise ValueError(f"page {number} is not a table root in {self.path}")
        os.pwrite(self._fd, np.ascontiguousarray(page).data, (number - 1) * self.page_size)

    def close(self, complete: bool = True) -> None:
        """The header: the new page count, the change counter moved on (and the counter the
        page count is valid for with it); only the file closed when not ``complete``."""
        if not complete:
            os.close(self._fd)
            return
        counter = (int.from_bytes(self._head[24:28], "big") + 1) & 0xFFFFFFFF
        self._head[24:28] = self._head[92:96] = counter.to_bytes(4, "big")
        self._head[28:32] = self.pages.to_bytes(4, "big")
        os.pwrite(self._fd, bytes(self._head), 0)
        os.close(self._fd)


class TableWriter:
    """Rows of an empty table (root page ``root``), given in ascending row id order in
    batches; :meth:`close` builds the interior pages and puts the top one at the root."""

    def __init__(self, db: PageFile, root: int) -> None:
        self.db = db
        self.root = root
        self._numbers: list[IntArray] = []
        self._keys: list[IntArray] = []
        # The first leaf is held back: if it stays the only one, it is the root page.
        self._first: tuple[ByteArray, IntArray] | None = None

    def add(self, rowids: IntArray, records: ByteArray, offsets: IntArray) -> None:
        """Records (as :func:`encode` gives them) with their row ids, above any added before."""
        if len(rowids) == 0:
            return
        starts = _leaf_starts(rowids, offsets, self.db.usable)
        if starts[0] < 0:
            raise UnsupportedError("a row is larger than a page (overflow pages are not written)")
        pages = np.zeros((len(starts) - 1, self.db.page_size), dtype=np.uint8)
        _fill_leaves(pages, starts, rowids, records, offsets, self.db.usable)
        self._keep(pages, rowids[starts[1:] - 1])

    def _keep(self, pages: ByteArray, keys: IntArray) -> None:
        if self._first is None and not self._numbers:
            self._first, pages, keys = (pages[:1], keys[:1]), pages[1:], keys[1:]
        if len(pages) == 0:
            return
        if self._first is not None:
            self._numbers.append(self.db.append(self._first[0]))
            self._keys.append(self._first[1])
            self._first = None
        self._numbers.append(self.db.append(pages))
        self._keys.append(keys)

    def close(self) -> None:
        """Interior levels until one page is left, which is written at the root."""
        if self._first is not None:  # one leaf: the root itself
            self.db.put(self.root, self._first[0][0])
            return
        if not self._numbers:
            return  # no rows: the root stays the empty leaf SQLite made
        children, keys = np.concatenate(self._numbers), np.concatenate(self._keys)
        while True:
            starts = _interior_starts(keys, self.db.usable)
            pages = np.zeros((len(starts) - 1, self.db.page_size), dtype=np.uint8)
            _fill_interiors(pages, starts, children, keys, self.db.usable)
            if len(pages) == 1:
                self.db.put(self.root, pages[0])
                return
            children, keys = self.db.append(pages), keys[starts[1:] - 1]


# --- R-trees -------------------------------------------------------------------------------


def rtree_boxes(x: Any, y: Any) -> Any:
    """Points' boxes as the R-tree module stores them, ``(n, 4)`` float32: min x, max x,
    min y, max y, each double rounded outwards to a float as ``rtreeValueDown`` and
    ``rtreeValueUp`` do; in one compiled pass (4 ms for 5·10⁶ points in batches, where four
    masked numpy passes per batch took 0.3 s)."""
    return _boxes(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))


@numba.njit(inline="always")
def _down(d: float) -> Any:
    f = np.float32(d)
    if f > d:  # rounded up: the next float32 towards -inf, as rtree.c finds it
        f = np.float32(d * (_AWAY if d < 0 else _TOWARDS))
    return f


@numba.njit(inline="always")
def _up(d: float) -> Any:
    f = np.float32(d)
    if f < d:
        f = np.float32(d * (_TOWARDS if d < 0 else _AWAY))
    return f


@numba.njit(cache=True)
def _boxes(x: Any, y: Any) -> Any:
    out = np.empty((x.shape[0], 4), dtype=np.float32)
    for i in range(x.shape[0]):
        out[i, 0] = _down(x[i])
        out[i, 1] = _up(x[i])
        out[i, 2] = _down(y[i])
        out[i, 3] = _up(y[i])
    return out


@dataclass(frozen=True)
class RTree:
    """A 2-D R-tree as the rows of the R-tree module's three tables: ``node`` (node number
    1…n, its bytes), ``rowid`` (each entry's id, its leaf) and ``parent`` (each node but the
    root, its parent)."""

    nodes: ByteArray
    entry_ids: IntArray
    entry_leaf: IntArray
    child_numbers: IntArray
    child_parent: IntArray


def pack_rtree(ids: IntArray, boxes: Any, node_size: int) -> RTree:
    """Entries ``ids`` (ascending) with ``boxes`` (``(n, 4)`` float32 min x, max x, min y,
    max y) packed sort-tile-recursively into full nodes of ``node_size`` bytes (``(node_size
    - 4) // 24`` cells), level by level up to the root, node 1."""
    per_node = (node_size - 4) // 24
    counts = [max(-(-len(ids) // per_node), 1)]
    while counts[-1] > 1:
        counts.append(-(-counts[-1] // per_node))
    nodes = np.zeros((sum(counts), node_size), dtype=np.uint8)
    # Node numbers: the root 1, then the leaves, then each level above them.
    firsts = np.cumsum([2, *counts[:-1]])
    firsts[-1] = 1
    entries = np.asarray(ids, dtype=np.int64)
    cells_box = np.asarray(boxes, dtype=np.float32)
    leaf_of = np.empty(len(entries), dtype=np.int64)
    children, parents = [], []
    for level, count in enumerate(counts):
        order = _str_order(cells_box, per_node)
        depth = len(counts) - 1 if level == len(counts) - 1 else 0
        node_of = np.empty(len(entries), dtype=np.int64)  # by entry, in the entries' order
        node_box = _fill_nodes(
            nodes, firsts[level], per_node, entries, cells_box, order, node_of, depth
        )
        if level == 0:
            leaf_of = node_of
        else:
            children.append(entries)
            parents.append(node_of)
        entries = np.arange(firsts[level], firsts[level] + count, dtype=np.int64)
        cells_box = node_box
    child = np.concatenate(children) if children else np.zeros(0, dtype=np.int64)
    parent = np.concatenate(parents) if parents else np.zeros(0, dtype=np.int64)
    by_child = np.argsort(child, kind="stable")
    return RTree(nodes, np.asarray(ids, dtype=np.int64), leaf_of, child[by_child], parent[by_child])


def _str_order(boxes: Any, per_node: int) -> IntArray:
    """Sort-tile-recursive order of boxes by their centres: vertical slices of whole nodes
    by x, each sorted by y, so that consecutive runs of ``per_node`` are compact."""
    n = len(boxes)
    if n <= per_node:
        return np.arange(n, dtype=np.int64)
    # Twice the centres, in float32: only the order matters.
    cx = boxes[:, 0] + boxes[:, 1]
    cy = boxes[:, 2] + boxes[:, 3]
    width = math.ceil(math.sqrt(-(-n // per_node))) * per_node
    order = float_order(cx)
    del cx
    for a in range(0, n, width):
        part = order[a : a + width]
        order[a : a + width] = part[float_order(cy[part])]
    return order


def float_order(values: Any) -> IntArray:
    """``np.argsort(values, kind="stable")`` of float32 ``values``: one sort of distinct
    64-bit keys (the value's bits made to sort as the value does, then the position), which
    any sort puts in the one stable order; 5·10⁶ centres in 0.15 s where numpy's stable
    sort of floats (timsort) took 0.8 s."""
    keys = _order_keys(np.ascontiguousarray(values, dtype=np.float32).view(np.uint32))
    keys.sort()
    keys &= np.uint64(0xFFFFFFFF)  # the positions, in place
    return keys.view(np.int64)


@numba.njit(cache=True)
def _order_keys(bits: Any) -> Any:
    """Per float32 (given as its bits): the bits made unsigned-sortable in the upper half
    (negative values' bits inverted, positive ones' sign bit set; -0 as +0, every NaN
    last), the position in the lower half."""
    keys = np.empty(len(bits), dtype=np.uint64)
    for i in range(len(bits)):
        b = np.uint64(bits[i])
        if b & np.uint64(0x7FFFFFFF) > np.uint64(0x7F800000):  # NaN: after +inf
            u = np.uint64(0xFFFFFFFF)
        elif b == np.uint64(0x80000000):  # -0 sorts as +0
            u = np.uint64(0x80000000)
        elif b >> np.uint64(31):
            u = ~b & np.uint64(0xFFFFFFFF)
        else:
            u = b | np.uint64(0x80000000)
        keys[i] = (u << np.uint64(32)) | np.uint64(i)
    return keys


@numba.njit(cache=True)
def _fill_nodes(
    nodes: ByteArray,
    first: int,
    per_node: int,
    ids: IntArray,
    boxes: Any,
    order: IntArray,
    node_of: IntArray,
    depth: int,
) -> Any:
    """Nodes ``first``, ``first + 1``, … (node 1 when there is one) of ``per_node`` cells,
    the entries taken in ``order``: depth (the root's; 0 elsewhere), cell count, cells (id,
    then the box, big-endian). Sets each entry's node; returns the nodes' boxes."""
    n = order.shape[0]
    count = max((n + per_node - 1) // per_node, 1)
    out = np.empty((count, 4), dtype=np.float32)
    for g in range(count):
        number = first + g if count > 1 else 1
        node = nodes[number - 1]
        a, b = g * per_node, min((g + 1) * per_node, n)
        node[0] = depth >> 8
        node[1] = depth & 0xFF
        node[2] = (b - a) >> 8
        node[3] = (b - a) & 0xFF
        box = np.array([np.inf, -np.inf, np.inf, -np.inf], dtype=np.float32)
        p = 4
        for k in range(a, b):
            e = order[k]
            node_of[e] = number
            v = ids[e]
            for j in range(7, -1, -1):
                node[p + j] = v & 0xFF
                v >>= 8
            p += 8
            for c in range(4):
                bits = np.float32(boxes[e, c]).view(np.uint32)
                for j in range(3, -1, -1):
                    node[p + j] = bits & 0xFF
                    bits >>= 8
                p += 4
            box[0] = min(box[0], boxes[e, 0])
            box[1] = max(box[1], boxes[e, 1])
            box[2] = min(box[2], boxes[e, 2])
            box[3] = max(box[3], boxes[e, 3])
        out[g] = box
    return out


#: Rows encoded at a time when the R-tree's tables are written (bounds the memory).
_CHUNK_ROWS = 1 << 18


def write_rtree(db: PageFile, roots: dict[str, int], tree: RTree) -> None:
    """``tree`` into the R-tree module's tables, whose root pages ``roots`` gives by suffix
    (``node``, ``rowid``, ``parent``); the tables must be as SQLite creates them."""
    count, size = tree.nodes.shape
    node = TableWriter(db, roots["node"])
    step = max(_CHUNK_ROWS * 16 // size, 1)
    for a in range(0, count, step):
        b = min(a + step, count)
        offsets = np.arange(0, (b - a + 1) * size, size, dtype=np.int64)
        blobs = bytes_column(tree.nodes[a:b].reshape(-1), offsets, np.ones(b - a, bool), False)
        node.add(np.arange(a + 1, b + 1), *encode([null_column(b - a), blobs], b - a))
    node.close()
    for suffix, keys, values in (
        ("rowid", tree.entry_ids, tree.entry_leaf),
        ("parent", tree.child_numbers, tree.child_parent),
    ):
        table = TableWriter(db, roots[suffix])
        for a in range(0, len(keys), _CHUNK_ROWS):
            part = values[a : a + _CHUNK_ROWS]
            column = int_column(part, np.ones(len(part), dtype=bool), db.small_constants)
            table.add(
                keys[a : a + _CHUNK_ROWS], *encode([null_column(len(part)), column], len(part))
            )
        table.close()
