"""addresses.gpkg's rows and R-tree written as SQLite pages (coverage/_sqlite.py) instead of
GDAL's row-by-row inserts: the same database contents as GDAL writes (every value and its
storage class, the R-tree's boxes, the layer's extent, feature count and fid sequence), a file
SQLite's own checks pass and that SQLite and GDAL go on writing; GDAL itself wherever the
pages are not written (rows larger than a page, empty points, unknown files)."""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from coverage import _gpkg
from coverage import _sqlite as sq


def _written(frame: gpd.GeoDataFrame, folder: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """``frame`` as ``fast.gpkg`` (write_gpkg) and ``gdal.gpkg`` (GDAL's inserts); whether
    write_gpkg wrote the rows as pages (True) or fell back to GDAL (False)."""
    frame.to_parquet(folder / "a.parquet", index=False)
    used: list[bool] = []
    fill = _gpkg._fill

    def spy(*args: Any) -> None:
        try:
            fill(*args)
        except sq.UnsupportedError:
            used.append(False)
            raise
        used.append(True)

    with monkeypatch.context() as m:
        m.setattr(_gpkg, "_fill", spy)
        _gpkg.write_gpkg(folder / "a.parquet", folder / "fast.gpkg")
    schema, batches = _gpkg._batches(folder / "a.parquet")
    _gpkg._write_with_gdal(schema, batches, folder / "gdal.gpkg", "addresses")
    return used == [True]


def _contents(path: Path) -> dict[str, Any]:
    """Everything a reader sees: rows with each value's storage class, the R-tree's entries,
    the layer's metadata; and SQLite's own checks of the file and of the R-tree."""
    with closing(sqlite3.connect(path)) as c:
        columns = [row[1] for row in c.execute("PRAGMA table_info(addresses)")]
        typed = ", ".join(f'"{k}", typeof("{k}")' for k in columns)
        return {
            "rows": c.execute(f"SELECT {typed} FROM addresses ORDER BY fid").fetchall(),
            "rtree": c.execute("SELECT * FROM rtree_addresses_geom ORDER BY id").fetchall(),
            "contents": c.execute(
                "SELECT table_name, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents"
            ).fetchall(),
            "count": c.execute("SELECT * FROM gpkg_ogr_contents").fetchall(),
            "sequence": c.execute("SELECT * FROM sqlite_sequence").fetchall(),
            "integrity": c.execute("PRAGMA integrity_check").fetchall(),
            "rtreecheck": c.execute("SELECT rtreecheck('rtree_addresses_geom')").fetchall(),
        }


def _frame(n: int, seed: int = 0, text_len: int = 12) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    words = ["", "Å", "Storgatan 1", "x" * text_len]
    return gpd.GeoDataFrame(
        {
            "address_id": [f"A{i:07d}" for i in range(n)],
            "households": rng.integers(-(2**40), 2**40, n) // rng.integers(1, 2**40, n),
            "connected": rng.integers(0, 2, n).astype(bool),
            "distance_m": np.where(rng.random(n) < 0.2, np.nan, rng.normal(0, 1e4, n)),
            "reason": pd.array([words[i % 4] if i % 7 else None for i in range(n)], "string"),
        },
        geometry=gpd.points_from_xy(rng.uniform(3e5, 9e5, n), rng.uniform(6.1e6, 7.7e6, n)),
        crs="EPSG:3006",
    )


def test_a_record_is_encoded_as_sqlite_stores_it() -> None:
    """By hand (https://www.sqlite.org/fileformat2.html#record_format): NULL, 300, 'hé'
    (3 bytes), 1, 0, 1.5 and -1 give the header [size 8: 0, 2, 19, 9, 8, 7, 1] and the body
    01 2C | 68 C3 A9 | 3F F8 00.. | FF."""
    one = np.ones(1, dtype=bool)
    text = np.frombuffer("hé".encode(), dtype=np.uint8)
    columns = [
        sq.null_column(1),
        sq.int_column(np.array([300]), one),
        sq.bytes_column(text, np.array([0, 3]), one, text=True),
        sq.int_column(np.array([1]), one),
        sq.int_column(np.array([0]), one),
        sq.real_column(np.array([1.5]), one),
        sq.int_column(np.array([-1]), one),
    ]
    buf, offsets = sq.encode(columns, 1)
    expected = bytes([8, 0, 2, 19, 9, 8, 7, 1, 0x01, 0x2C, 0x68, 0xC3, 0xA9])
    expected += bytes.fromhex("3FF8000000000000") + b"\xff"
    assert bytes(buf) == expected and offsets.tolist() == [0, len(expected)]
    # Without schema format 4's constants, 1 and 0 take a byte each.
    buf, _ = sq.encode([sq.int_column(np.array([1, 0]), np.ones(2, bool), False)], 2)
    assert bytes(buf) == bytes([2, 1, 1, 2, 1, 0])


def test_a_small_layer_is_what_gdal_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = gpd.GeoDataFrame(
        {
            "address_id": ["A1", "Å2", "A3", "A4"],
            "households": pd.array([128, 0, None, -(2**62)], dtype="Int64"),
            "connected": pd.array([True, None, False, True], dtype="boolean"),
            "distance_m": [3.5, float("nan"), float("inf"), -0.25],
            "postcode": pd.array(["", None, "777 30", "hé"], dtype="string"),
        },
        geometry=[Point(500_000, 6_700_000), None, Point(-1.5, 0.1), Point(1e-300, -7e6)],
        crs="EPSG:3006",
    )
    assert _written(frame, tmp_path, monkeypatch)
    got = _contents(tmp_path / "fast.gpkg")
    assert got == _contents(tmp_path / "gdal.gpkg")
    assert got["integrity"] == [("ok",)] and got["rtreecheck"] == [("ok",)]
    # By hand: fid 1-4; the null geometry has no R-tree entry; the extent is the points'.
    assert [row[0] for row in got["rows"]] == [1, 2, 3, 4]
    assert got["rows"][0][6:8] == (128, "integer") and got["rows"][2][6:8] == (None, "null")
    assert got["rows"][1][12:14] == (None, "null")  # NaN is stored as NULL
    assert [entry[0] for entry in got["rtree"]] == [1, 3, 4]
    assert got["contents"][0][1:5] == (-1.5, -7e6, 500_000.0, 6_700_000.0)
    assert got["count"] == [("addresses", 4)] and got["sequence"] == [("addresses", 4)]
    assert_geodataframe_equal(
        gpd.read_file(tmp_path / "fast.gpkg"), gpd.read_file(tmp_path / "gdal.gpkg")
    )


def test_the_extent_is_rounded_as_gdal_rounds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GDAL prints the extent with 16 significant digits through its own SQLite, which (from
    3.52) rounds twice: 1048576.0063200294971… is stored as 1048576.00632003, where a correctly
    rounded ``.16g`` gives …029 (found by the random-layer test in CI)."""
    y = 1048576.0063200294971466064453125  # exactly representable
    assert f"{y:.16g}" == "1048576.006320029"
    frame = gpd.GeoDataFrame(
        {"n": pd.array([1, 2], dtype="Int64")},
        geometry=[Point(0, y), Point(-2.5, y)],
        crs="EPSG:3006",
    )
    assert _written(frame, tmp_path, monkeypatch)
    got = _contents(tmp_path / "fast.gpkg")
    assert got["contents"] == _contents(tmp_path / "gdal.gpkg")["contents"]
    assert got["contents"][0][1:5] == (-2.5, 1048576.00632003, 0.0, 1048576.00632003)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".extent")]


def test_many_pages_and_levels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """120 000 rows: ~1,500 leaf pages under two interior levels, an R-tree of three levels
    (51 cells a node); bounding-box reads through the R-tree find what a scan finds."""
    frame = _frame(120_000, seed=3)
    assert _written(frame, tmp_path, monkeypatch)
    got = _contents(tmp_path / "fast.gpkg")
    assert got == _contents(tmp_path / "gdal.gpkg")
    assert got["integrity"] == [("ok",)] and got["rtreecheck"] == [("ok",)]
    with closing(sqlite3.connect(tmp_path / "fast.gpkg")) as c:
        root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'addresses'").fetchone()
        node = c.execute("SELECT data FROM rtree_addresses_geom_node WHERE nodeno = 1").fetchone()
    with (tmp_path / "fast.gpkg").open("rb") as f:
        f.seek((root[0] - 1) * 4096)
        root_page = f.read(4096)
        first_child = int.from_bytes(root_page[8:12], "big")  # the right-most child
        f.seek((first_child - 1) * 4096)
        assert root_page[0] == 5 and f.read(1)[0] == 5  # interior under interior
    assert int.from_bytes(node[0][:2], "big") == 2  # the R-tree's depth
    box = (400_000.0, 6_500_000.0, 420_000.0, 6_700_000.0)
    read = pyogrio.read_dataframe(tmp_path / "fast.gpkg", bbox=box)
    x, y = frame.geometry.x, frame.geometry.y
    inside = frame[(x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])]
    assert sorted(read["address_id"]) == sorted(inside["address_id"]) and len(inside) > 100


def test_the_file_goes_on_working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GDAL appends to the layer and SQLite deletes from it: the R-tree and the counts follow
    (triggers and the R-tree module working on the written pages), and the checks pass."""
    frame = _frame(5_000, seed=5)
    assert _written(frame, tmp_path, monkeypatch)
    path = tmp_path / "fast.gpkg"
    extra = _frame(300, seed=6)
    pyogrio.write_dataframe(extra, path, layer="addresses", append=True)
    with closing(sqlite3.connect(path)) as c:
        c.execute("DELETE FROM addresses WHERE fid % 3 = 0")
        c.commit()
        left = c.execute("SELECT count(*) FROM addresses").fetchone()[0]
        assert left == 5_300 - 5_300 // 3
        assert c.execute("SELECT count(*) FROM rtree_addresses_geom").fetchone()[0] == left
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert c.execute("SELECT rtreecheck('rtree_addresses_geom')").fetchall() == [("ok",)]
        assert c.execute("SELECT max(fid) FROM addresses").fetchone()[0] == 5_300  # GDAL went on
    assert pyogrio.read_info(path, layer="addresses")["features"] == left
    both = pd.concat([frame, extra], ignore_index=True)
    kept = both[(np.arange(1, len(both) + 1) % 3) != 0]
    box = (500_000.0, 6_500_000.0, 700_000.0, 7_000_000.0)
    x, y = kept.geometry.x, kept.geometry.y
    inside = kept[(x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])]
    read = pyogrio.read_dataframe(path, bbox=box)
    assert sorted(read["address_id"]) == sorted(inside["address_id"])


@pytest.mark.parametrize("problem", ["row larger than a page", "empty point"])
def test_what_pages_cannot_hold_is_written_by_gdal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    frame = _frame(50, seed=7)
    if problem == "row larger than a page":
        frame.loc[30, "reason"] = "ö" * 3000  # 6,000 bytes: overflow pages
    else:
        frame.loc[30, "geometry"] = Point()
    assert not _written(frame, tmp_path, monkeypatch)
    got = _contents(tmp_path / "fast.gpkg")
    assert got == _contents(tmp_path / "gdal.gpkg") and got["integrity"] == [("ok",)]
    assert len(got["rows"]) == 50


def test_the_lock_byte_page_is_never_used(tmp_path: Path) -> None:
    """The page holding byte 2³⁰ stays empty (SQLite reports a table using it as
    malformed): pages appended across it skip it. The file is made sparse to reach 1 GiB."""
    path = tmp_path / "big.db"
    with closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE t (a)")
        c.commit()
    lock = (1 << 30) // 4096 + 1  # 262145
    with path.open("r+b") as f:
        f.truncate((lock - 3) * 4096)
        f.seek(28)
        f.write((lock - 3).to_bytes(4, "big"))
    db = sq.PageFile(path)
    pages = np.arange(1, 6, dtype=np.uint8)[:, None].repeat(4096, axis=1)
    numbers = db.append(pages)
    db.close(False)
    assert numbers.tolist() == [lock - 2, lock - 1, lock + 1, lock + 2, lock + 3]
    with path.open("rb") as f:
        f.seek((lock - 1) * 4096)
        assert f.read(4096) == bytes(4096)
        assert f.read(1) == b"\x03" and db.pages == lock + 3


def test_unknown_files_are_refused(tmp_path: Path) -> None:
    for pragma, found in [("auto_vacuum = FULL", "auto-vacuum"), ("journal_mode = WAL", "log")]:
        path = tmp_path / f"{found}.db"
        with closing(sqlite3.connect(path)) as c:
            c.execute(f"PRAGMA {pragma}")
            c.execute("CREATE TABLE t (a)")
            c.commit()
        with pytest.raises(sq.UnsupportedError, match=found):
            sq.PageFile(path)
    (tmp_path / "x.db").write_bytes(b"not a database" * 10)
    with pytest.raises(sq.UnsupportedError, match="not an SQLite database"):
        sq.PageFile(tmp_path / "x.db")


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@st.composite
def _frames(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(0, 120))
    ints = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
    floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
    texts = st.one_of(st.none(), _TEXT, st.text("éa", min_size=200, max_size=1500))
    coords = st.floats(-1e7, 1e7, allow_nan=False)
    points = st.one_of(st.none(), st.builds(Point, coords, coords))
    return gpd.GeoDataFrame(
        {
            "i": pd.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype="Int64"),
            "f": pd.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype="Float64"),
            "b": pd.array(
                draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)), "boolean"
            ),
            "t": pd.array(draw(st.lists(texts, min_size=n, max_size=n)), dtype="string"),
        },
        geometry=draw(st.lists(points, min_size=n, max_size=n)),
        crs="EPSG:3006",
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=_frames())
def test_random_layers_are_what_gdal_writes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, frame: Any
) -> None:
    folder = tmp_path_factory.mktemp("random")
    fast = _written(frame, folder, monkeypatch)
    assert fast
    got = _contents(folder / "fast.gpkg")
    assert got == _contents(folder / "gdal.gpkg")
    assert got["integrity"] == [("ok",)] and got["rtreecheck"] == [("ok",)]


def test_rtree_bounds_round_outwards_as_the_module_does() -> None:
    """The R-tree module's own rounding (outwards, but for subnormal numbers), checked
    against SQLite itself."""
    values = np.array([0.1, -0.1, 6_700_000.123, -1e-40, 3e38, 1.0, 16_777_217.0])
    with closing(sqlite3.connect(":memory:")) as c:
        c.execute("CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)")
        c.executemany("INSERT INTO r VALUES (?, ?, ?)", [(i, v, v) for i, v in enumerate(values)])
        stored = c.execute("SELECT x0, x1 FROM r ORDER BY id").fetchall()
    down, up = sq.rtree_boxes(values, values)[:, :2].T
    assert down.astype(float).tolist() == [s[0] for s in stored]
    assert up.astype(float).tolist() == [s[1] for s in stored]
    normal = np.abs(values) > 1e-37  # SQLite's rounding is not outwards for subnormals
    assert (down <= values)[normal].all()
    assert (up >= values)[normal].all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e38, 1e38, allow_nan=False, allow_subnormal=False),
            st.floats(-1e7, 1e7, allow_nan=False, allow_subnormal=False),
        ),
        max_size=30,
    )
)
def test_rtree_boxes_are_what_sqlite_stores(points: list[tuple[float, float]]) -> None:
    """Points' boxes in one pass: each the box SQLite's R-tree module stores for the point
    (``x, x, y, y`` inserted), bit for bit."""
    x, y = (np.array([p[k] for p in points], dtype=np.float64) for k in (0, 1))
    with closing(sqlite3.connect(":memory:")) as c:
        c.execute("CREATE VIRTUAL TABLE r USING rtree(id, x0, x1, y0, y1)")
        rows = [(i, a, a, b, b) for i, (a, b) in enumerate(points)]
        c.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?)", rows)
        stored = c.execute("SELECT x0, x1, y0, y1 FROM r ORDER BY id").fetchall()
    boxes = sq.rtree_boxes(x, y)
    assert boxes.dtype == np.float32 and boxes.shape == (len(points), 4)
    assert [tuple(b) for b in boxes.astype(float).tolist()] == stored


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4_000), min_size=1, max_size=300),
    keys_from=st.integers(1, 2**40),
    usable=st.sampled_from([1024, 4096, 65536 - 32]),
)
def test_pages_are_packed_within_their_space(sizes: list[int], keys_from: int, usable: int) -> None:
    """Leaves: consecutive runs, each page's cells and pointers within its usable space (a
    row larger than a page is refused). Interior pages: at least two children (one cell and
    the right-most pointer) each, and within the space."""
    sizes_a = np.array(sizes, dtype=np.int64)
    rowids = keys_from + np.arange(len(sizes), dtype=np.int64) * 977
    offsets = np.concatenate([[0], np.cumsum(sizes_a)])
    starts = sq._leaf_starts(rowids, offsets, usable)
    if (sizes_a > usable - 35).any():
        assert starts.tolist() == [-1]
        return
    assert starts[0] == 0 and starts[-1] == len(sizes) and (np.diff(starts) >= 1).all()
    cell = 2 + _varint_sizes(sizes_a) + _varint_sizes(rowids) + sizes_a
    for a, b in itertools.pairwise(starts):
        assert 8 + cell[a:b].sum() <= usable
    keys = rowids[starts[1:] - 1]
    if len(keys) > 1:
        inner = sq._interior_starts(keys, usable)
        assert inner[0] == 0 and inner[-1] == len(keys) and (np.diff(inner) >= 2).all()
        for a, b in itertools.pairwise(inner):
            assert 12 + (6 + _varint_sizes(keys[a : b - 1])).sum() <= usable


def _varint_sizes(values: Any) -> Any:
    """Bytes of SQLite varints by hand: 7 bits a byte (values below 2⁵⁶)."""
    return np.array([max((int(v).bit_length() + 6) // 7, 1) for v in values], dtype=np.int64)


def test_a_lone_last_child_is_given_a_sibling() -> None:
    """1,012 usable bytes hold 126 cells of two-byte keys (8 bytes with the pointer): 128
    children make pages of 126 and 2 children, not 127 and 1 (a page of no cells)."""
    keys = np.arange(200, 328, dtype=np.int64)
    assert sq._interior_starts(keys, 1024).tolist() == [0, 126, 128]
    assert sq._interior_starts(keys[:127], 1024).tolist() == [0, 127]


_SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.5, -1.5, 1e-45, -1e-45, 3.4e38]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(_SPECIAL), st.floats(width=32), st.integers(-5, 5).map(float)),
        max_size=60,
    )
)
def test_float_order_is_numpys_stable_argsort(values: list[float]) -> None:
    # Ties (small integers), signed zeros, infinities and NaNs of either sign included.
    v = np.array(values, dtype=np.float32)
    got = sq.float_order(v)
    np.testing.assert_array_equal(got, np.argsort(v, kind="stable"))
    assert got.dtype == np.int64


def test_str_order_is_the_stable_sort_of_centres_by_x_then_slices_by_y() -> None:
    rng = np.random.default_rng(5)
    boxes = np.repeat(rng.integers(0, 40, size=(3000, 2)).astype(np.float32), 2, axis=1)
    got = sq._str_order(boxes, per_node=50)
    cx, cy = boxes[:, 0] + boxes[:, 1], boxes[:, 2] + boxes[:, 3]
    want = np.argsort(cx, kind="stable")
    width = 8 * 50  # ceil(sqrt(60 nodes)) nodes a slice
    for a in range(0, len(want), width):
        part = want[a : a + width]
        want[a : a + width] = part[np.argsort(cy[part], kind="stable")]
    np.testing.assert_array_equal(got, want)
