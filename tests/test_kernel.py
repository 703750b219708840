"""The compiled grid kernel equals brute force over all elements, ties included."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.kernel import (
    is_identity,
    nearest_any,
    nearest_within,
    pairs_within,
    pieces,
    sums_by_code,
    units_by_year,
)

coord = st.integers(-300, 300).map(float)


@st.composite
def scenes(draw):  # type: ignore[no-untyped-def]
    pts = np.array([[draw(coord), draw(coord)] for _ in range(draw(st.integers(1, 30)))])
    elements = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["point", "line", "multi"]))
        cs = [(draw(coord), draw(coord)) for _ in range(draw(st.integers(2, 4)))]
        if kind == "point":
            elements.append(shapely.Point(cs[0]))
        elif kind == "line":
            elements.append(shapely.LineString(cs))
        else:
            elements.append(shapely.MultiLineString([cs[:2], cs[-2:]]))
    # Ranks in a random order, so ties do not simply follow the list position.
    rank = np.array(draw(st.permutations(list(range(len(elements))))), dtype=np.int64)
    return pts, np.array(elements, dtype=object), rank


@settings(max_examples=300, deadline=None)
@given(
    scenes(), st.sampled_from([0.5, 25.0, 60.0, 150.0]), st.sampled_from([None, 1.0, 10.0, 500.0])
)
def test_kernel_equals_brute_force(scene, radius, cell):
    pts, elements, rank = scene
    idx, dist = nearest_within(pts, elements, rank, radius, cell_m=cell)
    d = shapely.distance(shapely.points(pts)[:, None], elements[None, :])
    for i in range(len(pts)):
        within = np.flatnonzero(d[i] <= radius)
        if len(within) == 0:
            assert idx[i] == -1 and np.isnan(dist[i])
            continue
        # The engines' order: distance rounded to a nanometre, then the lowest rank.
        key = np.round(d[i, within], 9)
        tied = within[key == key.min()]
        assert idx[i] == tied[np.argmin(rank[tied])]
        assert dist[i] == d[i, idx[i]]  # GEOS's distance, to the last bit


@settings(max_examples=150, deadline=None)
@given(scenes(), st.sampled_from([0.5, 3.0, 40.0]))
def test_nearest_at_any_distance_equals_brute_force(scene, first_radius):
    pts, elements, rank = scene
    pts = pts * 7.0  # spread out, so that several rounds of the growing radius are needed
    idx, dist = nearest_any(pts, elements, rank, first_radius_m=first_radius)
    d = shapely.distance(shapely.points(pts)[:, None], elements[None, :])
    assert (idx >= 0).all()
    assert np.array_equal(dist, d.min(axis=1))  # GEOS's distance, to the last bit
    assert np.array_equal(d[np.arange(len(pts)), idx], dist)


def test_nearest_at_any_distance_without_usable_elements():
    empty = np.array([shapely.LineString()], dtype=object)
    idx, dist = nearest_any(np.array([[0.0, 0.0]]), empty, np.array([0]))
    assert idx.tolist() == [-1] and np.isnan(dist[0])


@settings(max_examples=200, deadline=None)
@given(scenes(), st.sampled_from([0.5, 25.0, 60.0, 150.0]))
def test_pairs_within_equal_brute_force(scene, radius):
    pts, elements, _ = scene
    pi, ei, dist = pairs_within(pts, elements, radius)
    d = shapely.distance(shapely.points(pts)[:, None], elements[None, :])
    want = {(int(i), int(e)): d[i, e] for i, e in zip(*np.nonzero(d <= radius), strict=True)}
    got = {(int(i), int(e)): x for i, e, x in zip(pi, ei, dist, strict=True)}
    assert len(got) == len(pi)  # each pair once
    assert got == want  # same pairs, GEOS's distances to the last bit


@settings(max_examples=200, deadline=None)
@given(scenes(), st.sampled_from([0.0, 1.0, 25.0, 150.0]))
def test_point_pairs_within_equal_brute_force(scene, radius):
    pts = np.vstack([scene[0], scene[0][:3]])  # coincident points included
    hi, lo, dist = pairs_within(pts, None, radius)
    g = shapely.points(pts)
    d = shapely.distance(g[:, None], g[None, :])
    want = {
        (int(i), int(j)): d[i, j] for i, j in zip(*np.nonzero(d <= radius), strict=True) if j < i
    }
    got = {(int(i), int(j)): x for i, j, x in zip(hi, lo, dist, strict=True)}
    assert len(got) == len(hi)
    assert got == want


def test_pieces_cover_lines_multilines_and_points():
    geoms = np.array(
        [
            shapely.LineString([(0, 0), (1, 0), (1, 1)]),
            shapely.Point(5, 5),
            shapely.MultiLineString([[(0, 0), (0, 2)], [(3, 3), (4, 4)]]),
        ],
        dtype=object,
    )
    segs, elem = pieces(geoms)
    got = sorted(zip(elem.tolist(), map(tuple, segs.tolist()), strict=True))
    assert got == [
        (0, (0.0, 0.0, 1.0, 0.0)),
        (0, (1.0, 0.0, 1.0, 1.0)),
        (1, (5.0, 5.0, 5.0, 5.0)),  # a point: a piece of zero length
        (2, (0.0, 0.0, 0.0, 2.0)),
        (2, (3.0, 3.0, 4.0, 4.0)),
    ]


def test_empty_inputs():
    idx, dist = nearest_within(np.zeros((0, 2)), np.array([shapely.Point(0, 0)]), np.array([0]), 10)
    assert len(idx) == 0
    idx, dist = nearest_within(
        np.array([[0.0, 0.0]]), np.array([], dtype=object), np.array([], dtype=np.int64), 10
    )
    assert idx.tolist() == [-1] and np.isnan(dist[0])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),  # address
            st.integers(0, 2),  # status
            st.sampled_from([30.0, 100.0, 1000.0, np.nan]),  # down
            st.sampled_from([100.0, 1000.0, np.nan]),  # upgradeable to
            st.booleans(),  # open
            st.sampled_from([0.0, 10.0, 10.0, 40.0, np.nan]),  # distance
            st.integers(0, 3),  # technology code
            st.integers(-1, 3),  # rank
        ),
        max_size=40,
    )
)
def test_summary_offers_equal_the_sort_they_replace(rows):  # type: ignore[no-untyped-def]
    """The one-pass best offer per address against sorting every serving candidate (the
    lexsort the summary used before), ties included; access, gigabit and nearest distance
    against numpy's unbuffered reductions."""
    from coverage.kernel import summary_offers

    rows = sorted(rows, key=lambda r: r[0])
    n = 6
    cols = [np.array(c) for c in zip(*rows, strict=True)] if rows else [np.zeros(0)] * 8
    address = cols[0].astype(np.int64)
    status, down, upgr = cols[1].astype(np.int8), cols[2].astype(float), cols[3].astype(float)
    is_open, dist = cols[4].astype(bool), cols[5].astype(float)
    tech, rank = cols[6].astype(np.int8), cols[7].astype(np.int64)
    best, access, gig, near = summary_offers(
        address, status, down, upgr, is_open, dist, tech, rank, 1000.0, n
    )
    idx = np.flatnonzero(status <= 1)
    order = idx[
        np.lexsort(
            (rank[idx], tech[idx], dist[idx], ~is_open[idx], -upgr[idx], -down[idx], address[idx])
        )
    ]
    want = np.full(n, -1)
    for i in order[::-1]:  # the first of each address in sorted order wins
        want[address[i]] = i
    np.testing.assert_array_equal(best, want)
    want_access = np.full(n, 3, dtype=np.int8)
    np.minimum.at(want_access, address, status)
    np.testing.assert_array_equal(access, want_access)
    want_gig = np.zeros(n, dtype=bool)
    served = status <= 1
    np.logical_or.at(want_gig, address[served], upgr[served] >= 1000.0)
    np.testing.assert_array_equal(gig, want_gig)
    want_near = np.full(n, np.inf)
    np.fmin.at(want_near, address, dist)
    np.testing.assert_array_equal(near, want_near)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40),
        )
    )
)
def test_components_equal_scipy_connected_components(case) -> None:  # type: ignore[no-untyped-def]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from coverage.kernel import components

    n, edges = case
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    got = components(n, a, b)
    _, want = connected_components(
        coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False
    )
    # The same partition; each component named by its lowest node.
    for i in range(n):
        for j in range(n):
            assert (got[i] == got[j]) == (want[i] == want[j])
    assert all(got[i] == min(np.flatnonzero(want == want[i])) for i in range(n))


def test_components_by_hand() -> None:
    from coverage.kernel import components

    # 0-3-5 and 1-4, 2 alone.
    got = components(6, np.array([3, 5, 4]), np.array([0, 3, 1]))
    assert got.tolist() == [0, 1, 2, 0, 1, 0]


def test_cell_components_by_hand() -> None:
    from coverage.kernel import cell_components

    # 100 m cells, reach 250 m: offsets (2, 1) (224 m) join, (2, 2) (283 m) and (3, 0) do
    # not. Cells 0-1 join, 2 joins 1 diagonally; 3 is three columns away; 4 is in another
    # row band. Given out of key order: each component named by its lowest position.
    cells = np.array([[5, 5], [7, 6], [9, 7], [12, 7], [5, 8]])
    assert cell_components(cells, 100.0, 250.0).tolist() == [0, 0, 0, 3, 4]
    assert cell_components(cells[::-1], 100.0, 250.0).tolist() == [0, 1, 2, 2, 2]
    # Exactly at the reach: sqrt(200² + 100²) is the float the pair kernel measures.
    reach = float(np.sqrt(200.0**2 + 100.0**2))
    assert cell_components(np.array([[0, 0], [2, 1]]), 100.0, reach).tolist() == [0, 0]
    assert cell_components(np.array([[0, 0], [2, 1]]), 100.0, np.nextafter(reach, 0)).tolist() == [
        0,
        1,
    ]
    # A column's rows never wrap into the next column (keys are column × rows + row).
    assert cell_components(np.array([[0, 9], [1, 0]]), 100.0, 150.0).tolist() == [0, 1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-12, 12), st.integers(-12, 12)), min_size=1, max_size=80),
    st.sampled_from([0.0, 99.0, 100.0, 150.0, 200.0 + 100.0 * np.sqrt(2), 300.0, 500.0]),
    st.sampled_from([1.0, 100.0, 250.0]),
    st.randoms(use_true_random=False),
)
def test_cell_components_equal_the_pairs_components(  # type: ignore[no-untyped-def]
    cells, reach_cells, size, random
) -> None:
    from coverage.kernel import cell_components, components

    uniq = np.array(sorted(set(cells)), dtype=np.int64)
    random.shuffle(order := list(range(len(uniq))))
    uniq = uniq[order]  # any order, not only the sweep's
    reach = reach_cells * size / 100.0
    got = cell_components(uniq, size, reach)
    centres = (uniq + 0.5) * size
    a, b, _ = pairs_within(centres, None, reach)  # the reference: every pair, then joined
    assert got.tolist() == components(len(uniq), a, b).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=60), st.booleans())
def test_address_chunks_cover_the_pairs_and_keep_addresses_whole(
    addresses: list[int], in_order: bool
) -> None:
    # The target marks run in parallel over chunks of pairs; pairs come by address, and no
    # address may be split between two chunks (two threads would mark the same row).
    from coverage.kernel import _address_chunks

    a = np.array(sorted(addresses) if in_order else addresses, dtype=np.int64)
    bounds = _address_chunks(a, per_core=3)
    assert bounds[0] == 0 and bounds[-1] == len(a)
    assert np.all(np.diff(bounds) > 0) or len(a) == 0
    if in_order:
        for cut in bounds[1:-1]:
            assert a[cut] != a[cut - 1]


def test_sums_by_code_by_hand() -> None:
    codes = np.array([1, 0, 1, 2])
    weights = np.array([5, 7, 11, 0])
    den, num = sums_by_code(codes, weights, 4, np.array([True, False, True, True]))
    assert den.tolist() == [7, 16, 0, 0] and num.tolist() == [0, 16, 0, 0]
    assert den.dtype == num.dtype == np.int64
    # Members listed by position: address 2 in areas 0 and 1, address 0 in area 1.
    den, num = sums_by_code(
        np.array([0, 1, 1]), weights, 2, np.array([False, False, True, False]), np.array([2, 2, 0])
    )
    assert den.tolist() == [11, 16] and num.tolist() == [11, 11]
    den, num = sums_by_code(codes, np.array([True, True, False, True]), 3)  # flags as ones
    assert den.tolist() == [1, 1, 1] and num.tolist() == [0, 0, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 9)), max_size=40),
            st.lists(st.tuples(st.integers(0, 10**6), st.booleans()), min_size=10, max_size=10),
        )
    )
)
def test_sums_by_code_equal_bincount(case) -> None:  # type: ignore[no-untyped-def]
    n, members, addresses = case
    codes = np.array([c for c, _ in members], dtype=np.intp)
    pos = np.array([p for _, p in members], dtype=np.int64)
    weights = np.array([w for w, _ in addresses], dtype=np.int64)
    passed = np.array([p for _, p in addresses], dtype=bool)
    den, num = sums_by_code(codes, weights, n, passed, pos)
    w = weights[pos].astype(float)
    np.testing.assert_array_equal(den, np.bincount(codes, weights=w, minlength=n))
    np.testing.assert_array_equal(
        num, np.bincount(codes, weights=np.where(passed[pos], w, 0.0), minlength=n)
    )


def test_is_identity() -> None:
    assert is_identity(np.arange(5), 5)
    assert is_identity(np.zeros(0, dtype=np.int64), 0)
    assert not is_identity(np.arange(5), 6)
    assert not is_identity(np.array([0, 1, 3, 2]), 4)
    assert not is_identity(np.array([0, 1, 2, 2]), 4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 50),
            st.booleans(),
            st.sampled_from([np.nan, 2024.0, 2026.0, 2027.0, 2029.0, 2031.0]),
        ),
        max_size=30,
    ),
    st.lists(st.integers(2024, 2032), min_size=1, max_size=5, unique=True).map(sorted),
)
def test_units_by_year_equal_a_mask_per_year(rows, years) -> None:  # type: ignore[no-untyped-def]
    weights = np.array([w for w, _, _ in rows], dtype=np.int64)
    now = np.array([p for _, p, _ in rows], dtype=bool)
    pass_year = np.array([y for _, _, y in rows], dtype=float)
    want = [
        int(weights[now | (~np.isnan(pass_year) & (pass_year <= year))].sum()) for year in years
    ]
    assert units_by_year(weights, now, pass_year, years).tolist() == want


def test_every_compiled_pass_releases_the_gil() -> None:
    # The run's threads (classification beside the areas, pass marks beside the summary, gap
    # search beside the address outputs) overlap only where compiled code lets go of the
    # GIL: a serial njit function without nogil holds it for its whole call.
    import coverage._buffer
    import coverage._cells
    import coverage._wkb
    import coverage.kernel

    dispatchers = [
        (module.__name__, name, value)
        for module in (coverage.kernel, coverage._cells, coverage._buffer, coverage._wkb)
        for name, value in vars(module).items()
        if hasattr(value, "targetoptions") and hasattr(value, "py_func")
    ]
    assert len(dispatchers) > 40
    holding = [
        f"{m}.{n}"
        for m, n, d in dispatchers
        if not d.targetoptions.get("nogil") and d.targetoptions.get("inline") != "always"
    ]
    assert holding == []


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 25).flatmap(
        lambda n: st.tuples(
            st.lists(st.booleans(), min_size=n, max_size=n),
            st.lists(
                st.tuples(
                    st.integers(0, n - 1),
                    st.integers(0, n - 1),
                    st.sampled_from([0.5, 1.0, 1.0, 2.25, 3.0, 0.1 + 0.2]),
                ),
                max_size=60,
            ),
        )
    )
)
def test_subset_forest_equals_the_forest_of_the_kept_edges(case) -> None:  # type: ignore[no-untyped-def]
    from coverage.kernel import kruskal_order, spanning_forest, subset_forest

    flags, edges = case
    subset = np.array(flags, dtype=bool)
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    w = np.array([e[2] for e in edges], dtype=np.float64)
    order = kruskal_order(a, b, w)  # ties (equal weights) included
    a, b, w = a[order], b[order], w[order]
    # The reference: the subset's edges copied out and renumbered, then the forest.
    keep = subset[a] & subset[b]
    index = np.cumsum(subset) - 1
    want = spanning_forest(int(subset.sum()), index[a[keep]], index[b[keep]], w[keep], True)
    got = subset_forest(subset, a, b, w)
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tobytes() == want[1].tobytes()  # the same sums, bit for bit


def test_subset_forest_by_hand() -> None:
    from coverage.kernel import subset_forest

    # Nodes 0..4, subset {0, 2, 3}: edge 0-1 leaves the subset, 2-3 (1.0) and 0-3 (2.0) join
    # all three; 3-4 leaves it. Subset numbering: 0 → 0, 2 → 1, 3 → 2.
    subset = np.array([True, False, True, True, False])
    a, b = np.array([1, 3, 3, 4]), np.array([0, 2, 0, 3])
    labels, length = subset_forest(subset, a, b, np.array([0.5, 1.0, 2.0, 0.1]))
    assert labels.tolist() == [0, 0, 0]
    assert length.tolist() == [3.0]
    labels, length = subset_forest(np.array([True, True, False]), a[:1], b[:1], np.array([0.5]))
    assert labels.tolist() == [0, 0] and length.tolist() == [0.5]
    labels, length = subset_forest(np.zeros(3, bool), a[:1], b[:1], np.array([0.5]))
    assert labels.tolist() == [] and length.tolist() == []
