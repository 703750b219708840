"""Planning: gap clusters with MST trench length and cost, the cheapest covering set, the
monotonicity of figures under added fibre, and scenario identities."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import make_addresses, make_network
from conftest import make_target as target
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage.classify import Classifier
from coverage.plan import (
    OUTLINE_MARGIN_M,
    CostModel,
    LinkageGraph,
    _outlines,
    _select,
    find_gaps,
    load_costs,
    single_linkage,
)
from coverage.scenarios import compare_figures, diff_runs
from coverage.settings import CoverageSettings
from coverage.targets import evaluate

COSTS = CostModel(
    trench_urban_sek_per_m=1000,
    trench_rural_sek_per_m=300,
    connection_sek_per_unit=10_000,
    detour_factor=1.5,
    cluster_distance_m=150,
)


def _table(addresses, network, t, year=2026):  # type: ignore[no-untyped-def]
    c = Classifier(addresses, network, CoverageSettings())
    r = evaluate(t, c.candidates(year), CoverageSettings())
    table = addresses.copy()
    table[f"pass_{t.id}"] = r.passed
    table[f"reason_{t.id}"] = r.reason
    table["urban_rural"] = "rural"
    return table


def test_three_addresses_100m_apart_give_200m_tree_plus_link():
    # Three households on a line 100 m apart, fibre 300 m north of the middle one: the tree is
    # 200 m, the link 300 m; trench = (200 + 300) x 1.5 = 750 m at 300 SEK/m + 3 x 10,000.
    addr = make_addresses([(-100, 0), (0, 0), (100, 0)])
    fibre = make_network([{"coords": [(-1000, 300), (1000, 300)]}])
    t = target()
    gaps = find_gaps(_table(addr, fibre, t), [t], fibre, COSTS, {"t": 3})
    row = gaps.clusters.iloc[0]
    assert len(gaps.clusters) == 1
    assert row["mst_m"] == pytest.approx(200.0)
    assert row["link_m"] == pytest.approx(300.0)
    assert row["trench_m"] == pytest.approx(750.0)
    assert row["cost_sek"] == pytest.approx(750.0 * 300 + 3 * 10_000)
    assert row["cost_per_unit_sek"] == pytest.approx((750.0 * 300 + 30_000) / 3)
    assert bool(row["selected"]) and gaps.selection["t"]["meets_target"]


def test_clusters_split_at_the_linkage_distance_and_count_units():
    addr = make_addresses([(0, 0), (140, 0), (600, 0)], households=[4, 1, 2])
    fibre = make_network([{"coords": [(-1000, 1000), (1000, 1000)]}])
    t = target()
    clusters = find_gaps(_table(addr, fibre, t), [t], fibre, COSTS, {"t": 1}).clusters
    assert sorted(clusters["units"].tolist()) == [2, 5]
    assert sorted(clusters["mst_m"].round(6).tolist()) == [0.0, 140.0]


def test_clusters_are_numbered_by_their_lowest_address_id_in_text_order():
    # Three clusters 1 km apart. Their lowest ids in text order: "B1" (x=2000) < "B10"
    # (x=0, with "B30") < "B9" (x=1000). The pipeline's table (text ids in order) takes a
    # path by row position; ids out of order or as objects take the text minimum: all agree.
    points = [(0, 0), (50, 0), (1000, 0), (2000, 0)]
    ids = ["B10", "B30", "B9", "B1"]
    fibre = make_network([{"coords": [(-1000, 3000), (3000, 3000)]}])
    t = target()
    table = _table(make_addresses(points, address_id=ids), fibre, t)
    expected = {"B1": "t:0001", "B10": "t:0002", "B9": "t:0003"}

    def numbering(frame: pd.DataFrame) -> dict[str, str]:
        """Each cluster's lowest address id (of those inside its outline) -> its id."""
        clusters = find_gaps(frame, [t], fibre, COSTS, {"t": 1}).clusters
        points = frame.geometry.to_numpy()
        return {
            min(frame.loc[shapely.contains(outline, points), "address_id"].astype(str)): cid
            for outline, cid in zip(clusters.geometry, clusters["cluster_id"], strict=True)
        }

    in_order = table.sort_values("address_id").reset_index(drop=True)
    in_order["address_id"] = in_order["address_id"].astype("string[pyarrow]")
    assert in_order["address_id"].is_monotonic_increasing  # the fast path is taken
    shuffled = in_order.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    as_objects = in_order.assign(address_id=in_order["address_id"].astype(object))
    for frame in (in_order, shuffled, as_objects):
        assert numbering(frame) == expected


def test_targets_failing_alike_share_clusters_and_others_get_their_own():
    # Same scene, three targets: t and t2 fail the same three addresses (their linkage is
    # computed once), t3 counts workplaces, held only by the third address.
    addr = make_addresses([(0, 0), (140, 0), (600, 0)], households=[4, 1, 2], workplaces=[0, 0, 3])
    fibre = make_network([{"coords": [(-1000, 1000), (1000, 1000)]}])
    targets = [target(), target(id="t2"), target(id="t3", population="workplaces")]
    table = _table(addr, fibre, targets[0])
    for t in targets[1:]:
        table[f"pass_{t.id}"], table[f"reason_{t.id}"] = table["pass_t"], table["reason_t"]
    gaps = find_gaps(table, targets, fibre, COSTS, {"t": 1, "t2": 1, "t3": 1}).clusters
    per = {tid: g.sort_values("cluster_id") for tid, g in gaps.groupby("target_id")}
    assert per["t"]["units"].tolist() == per["t2"]["units"].tolist() == [5, 2]
    assert per["t2"]["cluster_id"].tolist() == ["t2:0001", "t2:0002"]
    assert per["t3"]["units"].tolist() == [3] and per["t3"]["mst_m"].tolist() == [0.0]
    # One link measurement serves every target: fibre runs 1,000 m north of all three.
    assert gaps["link_m"].round(6).tolist() == [1000.0] * len(gaps)


def test_known_fibre_distances_are_taken_and_only_the_others_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fibre 300 m north of three failing addresses. Given as known for the first two (one of
    # them deliberately wrong, 7 m, to show it is taken as it is), the third is searched.
    from coverage import kernel

    addr = make_addresses([(-100, 0), (0, 0), (100, 0)])
    fibre = make_network([{"coords": [(-1000, 300), (1000, 300)]}])
    t = target()
    table = _table(addr, fibre, t)
    searched: list[int] = []
    nearest = kernel.nearest_any

    def counting(xy, *args):  # type: ignore[no-untyped-def]
        searched.append(len(xy))
        return nearest(xy, *args)

    monkeypatch.setattr(kernel, "nearest_any", counting)
    known = np.array([300.0, 7.0, np.nan])
    row = find_gaps(table, [t], fibre, COSTS, {"t": 3}, known).clusters.iloc[0]
    assert searched == [1]
    assert row["link_m"] == pytest.approx(7.0)  # the cluster's shortest link
    searched.clear()
    row = find_gaps(table, [t], fibre, COSTS, {"t": 3}).clusters.iloc[0]
    assert searched == [3] and row["link_m"] == pytest.approx(300.0)


@hsettings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-600, 600), st.integers(-600, 600)), min_size=1, max_size=25),
    st.lists(
        st.tuples(
            st.integers(-900, 900),
            st.integers(-900, 900),
            st.integers(-900, 900),
            st.sampled_from([None, 2025, 2027, 2031]),  # existing, or planned for a year
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([20.0, 100.0, 400.0]),
)
def test_the_classifications_fibre_distances_spare_the_search_and_change_nothing(
    points: list[tuple[int, int]], lines: list[tuple[int, int, int, int | None]], near_m: float
) -> None:
    """The pipeline hands the gap search the classification's distance to the nearest fibre
    in service (within its search radius); the in-service fibre the gaps link to is the
    network output's. Where known it is the full search's distance to the last bit, and the
    clusters are the same."""
    from coverage.pipeline import _network_output
    from coverage.plan import _distance_to_fibre

    year = 2027
    addr = make_addresses([(float(x), float(y)) for x, y in points])
    network = make_network(
        [
            {"coords": [(x0, y), (x1, y + 37)], "status": "existing" if when is None else "planned"}
            | ({} if when is None else {"year": when})
            for x0, x1, y, when in lines
        ]
    )
    rules = CoverageSettings(passed_distance_m=min(near_m, 50.0), near_distance_m=near_m)
    known = Classifier(addr, network, rules).candidates(year).nearest["fibre"][1]
    out = _network_output(network, year)
    fibre = out[(out["technology"] == "fibre") & out["in_service"]]
    xy = shapely.get_coordinates(addr.geometry.to_numpy())
    full = _distance_to_fibre(xy, fibre)
    where = ~np.isnan(known)
    np.testing.assert_array_equal(known[where], full[where])  # bits, not closeness
    np.testing.assert_array_equal(_distance_to_fibre(xy, fibre, known), full)
    t = target()
    table = _table(addr, network, t, year)
    clusters = find_gaps(table, [t], fibre, COSTS, {"t": 1}).clusters
    reused = find_gaps(table, [t], fibre, COSTS, {"t": 1}, known).clusters
    pd.testing.assert_frame_equal(pd.DataFrame(clusters), pd.DataFrame(reused))


def test_the_pipeline_hands_the_gap_search_distances_that_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the demo data the pipeline gives the gap search the classification's fibre
    distances (most addresses have one); a search of every address finds the same gaps."""
    from datetime import date

    from coverage import pipeline
    from coverage.cli import DEFAULT_ADDRESSES, DEFAULT_NETWORKS, DEFAULT_TARGETS

    calls: list[tuple[tuple[object, ...], object]] = []
    find = pipeline.find_gaps

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        gaps = find(*args, **kwargs)
        calls.append((args, gaps))
        return gaps

    monkeypatch.setattr(pipeline, "find_gaps", recording)
    inputs = pipeline.Inputs(
        addresses=DEFAULT_ADDRESSES, networks=DEFAULT_NETWORKS, targets=DEFAULT_TARGETS
    )
    pipeline.compute(inputs, CoverageSettings(), date(2026, 6, 1))
    [(args, gaps)] = calls
    known = args[5]
    assert isinstance(known, np.ndarray) and 0.5 < np.mean(~np.isnan(known)) < 1
    searched = find(*args[:5])  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(pd.DataFrame(gaps.clusters), pd.DataFrame(searched.clusters))
    assert gaps.selection == searched.selection


def test_mst_of_linkage_graph_equals_euclidean_mst():
    rng = np.random.default_rng(7)
    pts = shapely.points(rng.uniform(0, 500, size=(40, 2)))
    labels, mst = single_linkage(pts, 10_000.0)  # one cluster: complete graph
    assert len(set(labels)) == 1
    # Prim's algorithm on the full distance matrix as the reference.
    d = shapely.distance(pts[:, None], pts[None, :])
    inside, total = {0}, 0.0
    while len(inside) < len(pts):
        rest = [j for j in range(len(pts)) if j not in inside]
        i, j = min(((i, j) for i in inside for j in rest), key=lambda e: d[e])
        total += d[i, j]
        inside.add(j)
    assert mst.tolist() == [pytest.approx(total, rel=1e-12)]


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(1_000, 500_000)), min_size=1, max_size=9),
    st.integers(1, 120),
)
def test_cheapest_set_covers_and_is_within_twice_optimal(items, shortfall):
    clusters = pd.DataFrame(
        {
            "cluster_id": [f"c{i}" for i in range(len(items))],
            "units": [u for u, _ in items],
            "cost_sek": [float(c) for _, c in items],
        }
    )
    clusters["cost_per_unit_sek"] = clusters["cost_sek"] / clusters["units"]
    chosen = _select(clusters, shortfall)
    sel = chosen[chosen["selected"]]
    total_units = sum(u for u, _ in items)
    best = min(
        (
            sum(items[i][1] for i in combo)
            for k in range(1, len(items) + 1)
            for combo in itertools.combinations(range(len(items)), k)
            if sum(items[i][0] for i in combo) >= shortfall
        ),
        default=None,
    )
    if best is None:  # nothing covers it: every cluster is taken
        assert sel["units"].sum() == total_units
    else:
        assert sel["units"].sum() >= shortfall
        assert sel["cost_sek"].sum() <= 2 * best + 1e-6


def test_cost_file_is_validated(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[costs]\ndetour_factor = 0.5\n", encoding="utf-8")
    from coverage._errors import SettingsError

    with pytest.raises(SettingsError, match="detour_factor"):
        load_costs(p)
    assert load_costs().trench_rural_sek_per_m > 0  # shipped defaults load


# --- a plan that adds fibre never lowers any figure ----------------------------------------

coord = st.integers(-500, 500).map(float)


@st.composite
def networks(draw, min_size=0):  # type: ignore[no-untyped-def]
    out = []
    for i in range(draw(st.integers(min_size, 6))):
        out.append(
            {
                "coords": [(draw(coord), draw(coord)), (draw(coord), draw(coord))],
                "segment_id": f"N{i}",
                "technology": draw(st.sampled_from(["fibre", "hfc", "vdsl", "fwa"])),
                "open_network": draw(st.booleans()),
                "max_down_mbps": draw(st.sampled_from([np.nan, 50.0, 250.0])),
            }
        )
    return out


@hsettings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(coord, coord), min_size=1, max_size=15),
    networks(),
    networks(min_size=1),
    st.booleans(),
    st.booleans(),
)
def test_adding_fibre_never_lowers_a_figure(points, base, extra, need_open, need_gig):
    addr = make_addresses(points)
    for e in extra:
        e["segment_id"] = "X" + e["segment_id"]
        e["technology"] = "fibre"
    t = target(require_open_network=need_open, require_gigabit_ready=need_gig)
    s = CoverageSettings()
    base = base or [{"coords": [(50_000.0, 50_000.0)], "segment_id": "far"}]  # an empty network
    before = evaluate(t, Classifier(addr, make_network(base), s).candidates(2026), s).passed
    after = evaluate(
        t, Classifier(addr, make_network([*base, *extra]), s).candidates(2026), s
    ).passed
    assert not (before & ~after).any()


# --- scenarios ----------------------------------------------------------------------------


def _result_table(addr, net):  # type: ignore[no-untyped-def]
    t = target()
    table = _table(addr, net, t).drop(columns="geometry")
    summary = Classifier(addr, net, CoverageSettings()).classify(2026)
    return pd.concat([table.reset_index(drop=True), summary], axis=1)


def test_diff_of_a_run_with_itself_is_empty_and_detects_a_gain():
    addr = make_addresses([(0, 10), (0, 500)], households=[3, 2])
    net = make_network([{"coords": [(-100, 0), (100, 0)]}])
    a = _result_table(addr, net)
    same = diff_runs(a, a, {"t": "households"})
    assert same.changes.empty and same.totals["changed"] == 0
    more = make_network([{"coords": [(-100, 0), (100, 0)]}, {"coords": [(-100, 500), (100, 500)]}])
    b = _result_table(addr, more)
    d = diff_runs(a, b, {"t": "households"})
    assert d.changes["address_id"].tolist() == ["A001"]
    assert (
        d.totals["targets"]["t"]["units_gained"] == 2
        and d.totals["targets"]["t"]["units_lost"] == 0
    )


def test_compare_of_a_network_with_itself_reports_no_change():
    figs = {
        "targets": [
            {
                "id": "t",
                "label": "T",
                "numerator": 5,
                "denominator": 8,
                "share": 0.625,
                "met": False,
                "by_area": {
                    "kommun": [
                        {
                            "area_id": "2061",
                            "name": "S",
                            "numerator": 5,
                            "share": 0.625,
                            "met": False,
                        }
                    ]
                },
            }
        ]
    }
    out = compare_figures(figs, figs)
    assert out["t"]["units_change"] == 0 and out["t"]["share_change"] == 0
    assert out["t"]["by_area"]["kommun"][0]["units_change"] == 0


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=40
    ),  # coincident points and equal distances are common on this small grid
    st.sampled_from([1.0, 3.0, 7.5]),
)
def test_single_linkage_equals_scipy(cells, distance_m) -> None:  # type: ignore[no-untyped-def]
    # The reference: scipy's components and minimum spanning forest of the linkage graph
    # (every pair within the distance, by brute force).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    xy = np.asarray(cells, dtype=float) * 0.5
    labels, mst = single_linkage(shapely.points(xy), distance_m)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    a, b = np.nonzero(np.triu(d <= distance_m, k=1))
    w = np.maximum(d[a, b], 1e-9)  # scipy drops zero-weight edges: keep them tiny
    graph = coo_matrix((w, (a, b)), shape=(len(xy), len(xy))).tocsr()
    _, want = connected_components(graph, directed=False)
    for i in range(len(xy)):  # the same partition, numbered by lowest member
        assert np.array_equal(labels == labels[i], want == want[i])
    assert np.all(np.diff([np.flatnonzero(labels == k)[0] for k in range(len(mst))]) > 0)
    tree = minimum_spanning_tree(graph).tocoo()
    real = tree.data > 1e-9
    per = np.bincount(want[tree.row[real]], weights=tree.data[real], minlength=want.max() + 1)
    for k in range(len(mst)):
        assert mst[k] == pytest.approx(
            per[want[np.flatnonzero(labels == k)[0]]], rel=1e-12, abs=1e-12
        )


def test_kruskal_order_by_hand() -> None:
    from coverage.kernel import kruskal_order

    a = np.array([2, 0, 1, 0, 1])
    b = np.array([3, 3, 2, 1, 3])
    w = np.array([1.0, 0.5, 1.0, 1.0, 0.0])
    # 0.0 first, 0.5, then the three 1.0 edges by (a, b): (0, 1), (1, 2), (2, 3).
    assert kruskal_order(a, b, w).tolist() == [4, 1, 3, 2, 0]


@pytest.mark.parametrize("shift", [0.0, -0.5])  # lengths (the radix sort), or negatives too
@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3)), max_size=40))
def test_kruskal_order_is_weight_then_nodes(
    shift: float, edges: list[tuple[int, int, int]]
) -> None:
    from coverage.kernel import kruskal_order

    pairs = sorted({(min(x, y), max(x, y), w) for x, y, w in edges if x != y})
    a = np.array([e[0] for e in pairs], dtype=np.int64)
    b = np.array([e[1] for e in pairs], dtype=np.int64)
    w = np.array([e[2] / 4 + shift for e in pairs])  # few weights: ties everywhere
    rng = np.random.default_rng(len(pairs))
    shuffle = rng.permutation(len(pairs))
    a, b, w = a[shuffle], b[shuffle], w[shuffle]
    order = kruskal_order(a, b, w)
    assert order.tolist() == np.lexsort((b, a, w)).tolist()


@hsettings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.booleans()), max_size=40),
    st.sampled_from([1.0, 3.0, 7.5]),
)
def test_linkage_of_a_subset_equals_linkage_of_its_points(
    cells: list[tuple[int, int, bool]], distance_m: float
) -> None:
    # The graph is made once for all failing addresses; each target takes its own subset.
    xy = np.array([(x, y) for x, y, _ in cells], dtype=float).reshape(-1, 2) * 0.5
    subset = np.array([keep for *_, keep in cells], dtype=bool)
    graph = LinkageGraph.of(xy, distance_m)
    labels, mst = graph.clusters(subset)
    want_labels, want_mst = single_linkage(shapely.points(xy[subset]), distance_m)
    assert labels.tolist() == want_labels.tolist()
    assert mst.tolist() == want_mst.tolist()  # the same edges summed in the same order


@hsettings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(
            st.tuples(st.integers(0, 6), st.floats(-1e6, 1e6), st.floats(6e6, 7e6)),
            min_size=1,
            max_size=30,
        ),
        # Few labels, points on a small lattice: duplicates, collinear runs and hull edges
        # through several points, where leaving inner points out must not change a hull.
        st.lists(
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 6).map(lambda v: 500_000.0 + 10 * v),
                st.integers(0, 6).map(lambda v: 6_500_000.0 + 10 * v),
            ),
            min_size=1,
            max_size=60,
        ),
    )
)
def test_cluster_outlines_equal_buffered_hulls(points: list[tuple[int, float, float]]) -> None:
    """Hulls of clusters, inner points left out first (:func:`coverage.kernel.inner_points`),
    equal GEOS's hulls of all their points, buffered."""
    labels = np.unique([p[0] for p in points], return_inverse=True)[1].ravel()
    xy = np.array([p[1:] for p in points])
    got = _outlines(xy, labels, int(labels.max()) + 1)
    order = np.argsort(labels, kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(xy[order], indices=labels[order]))
    want = shapely.buffer(hulls, OUTLINE_MARGIN_M)
    # Equal to the last bit, one-point clusters (circles made from a template) included.
    assert all(shapely.equals_exact(got, want, tolerance=0))
    assert [shapely.get_coordinates(g).tolist() for g in got] == [
        shapely.get_coordinates(g).tolist() for g in want
    ]
