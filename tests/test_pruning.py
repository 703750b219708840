"""Pruned candidates (non-dominated pairs only) give exactly the results of all pairs."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import make_addresses, make_network, make_target
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage import kernel
from coverage._points import point_xy
from coverage.classify import BestOffers, Classifier, Pairs, gather, order_pairs, summarise
from coverage.kernel import CANDIDATE_COLUMNS, SMALL_SORT, Offers, best_offers, effective_down
from coverage.schema import TECHNOLOGIES
from coverage.settings import CoverageSettings
from coverage.targets import (
    _target_rules,
    evaluate,
    evaluate_year,
    passes_at,
    passes_many_at,
)


def all_pairs(points, elements, offers: Offers, radius: float) -> Pairs:  # type: ignore[no-untyped-def]
    """The reference: every pair within the radius (GEOS distances, through shapely's
    STRtree), in the engines' order."""
    geoms = shapely.points(point_xy(points))
    # A slightly larger query distance, then GEOS's own distance decides.
    pi, ei = shapely.STRtree(elements).query(geoms, predicate="dwithin", distance=radius + 1e-6)
    d = shapely.distance(geoms[pi], elements[ei])
    keep = d <= radius
    return order_pairs(pi[keep], ei[keep], d[keep], offers.rank)


def test_same_offer_farther_away_is_dropped_but_a_faster_or_earlier_one_is_kept() -> None:
    # One address at the origin; fibre lines at 10, 20, 30 and 40 m north of it.
    def line(dy: float, **kw: object) -> dict[str, object]:
        return {"coords": [(-100, dy), (100, dy)], **kw}

    net = make_network(
        [
            line(10, segment_id="A", open_network=False),
            line(20, segment_id="B", open_network=False),  # same as A, farther: dropped
            line(30, segment_id="C", open_network=True),  # open: kept
            line(40, segment_id="D", status="planned", year=2027, open_network=True),  # later
        ]
    )
    c = Classifier(make_addresses([(0, 0)]), net, CoverageSettings())
    kept = sorted(net["segment_id"].to_numpy()[c.pairs["fibre"].element])
    assert kept == ["A", "C"]  # D is open but later and farther than C: dominated by C
    np.testing.assert_allclose(c.pairs["fibre"].distance_m, [10.0, 30.0])


def test_status_bands_keep_one_element_per_band() -> None:
    # Identical elements at 15, 30, 70, 150 and 240 m: each lies in another band of the
    # homes-passed sensitivity distances (20, 50, 100, 200) and the near distance (250).
    net = make_network(
        [{"coords": [(-50, d), (50, d)], "segment_id": f"S{d}"} for d in (15, 16, 30, 70, 150, 240)]
    )
    c = Classifier(make_addresses([(0, 0)]), net, CoverageSettings())
    np.testing.assert_allclose(c.pairs["fibre"].distance_m, [15, 30, 70, 150, 240])


def test_vdsl_speed_curve_decides_dominance_at_the_distance() -> None:
    # A cabinet capped at 50 Mbit/s at 100 m, and an uncapped one at 700 m (curve: 60 at 600,
    # 40 at 900, so about 53.3 Mbit/s at 700 m): the farther one is faster and is kept.
    net = make_network(
        [
            {"coords": [(0, 100)], "technology": "vdsl", "max_down_mbps": 50.0, "segment_id": "N"},
            {"coords": [(0, 700)], "technology": "vdsl", "segment_id": "F"},
            {"coords": [(0, 800)], "technology": "vdsl", "segment_id": "G"},  # slower than F
        ]
    )
    c = Classifier(make_addresses([(0, 0)]), net, CoverageSettings())
    assert sorted(net["segment_id"].to_numpy()[c.pairs["vdsl"].element]) == ["F", "N"]
    curve = np.asarray(CoverageSettings().technologies["vdsl"].speed_curve)
    np.testing.assert_allclose(effective_down(np.array([100.0]), np.array([700.0]), curve), 160 / 3)


def test_rules_the_classifier_was_not_built_for_are_refused() -> None:
    net = make_network([{"coords": [(0, 10), (5, 10)]}])
    c = Classifier(make_addresses([(0, 0)]), net, CoverageSettings())
    c.candidates(2026, CoverageSettings().sensitivity_rules()[0][1])  # known: fine
    with pytest.raises(ValueError, match="not among the rules"):
        c.candidates(2026, CoverageSettings(passed_distance_m=75))


coord = st.integers(-400, 400).map(float)


@st.composite
def scenes(  # type: ignore[no-untyped-def]
    draw, elements_min=1, elements_max=25, points_max=20, xy=coord, techs=None
):
    techs = techs or ["fibre", "fibre", "hfc", "vdsl", "fwa"]
    n_pts = draw(st.integers(1, points_max))
    pts = [(draw(xy), draw(xy)) for _ in range(n_pts)]
    connected = [draw(st.booleans()) for _ in range(n_pts)]
    elements = []
    for i in range(draw(st.integers(elements_min, elements_max))):
        cs = [(draw(xy), draw(xy)) for _ in range(draw(st.integers(1, 3)))]
        if len(cs) == 2 and cs[0] == cs[1]:
            cs = cs[:1]
        status = draw(st.sampled_from(["existing", "planned", "under_construction"]))
        elements.append(
            {
                "coords": cs,
                # Few distinct ids and speeds, so that ties and equal offers are common.
                "segment_id": f"S{draw(st.integers(0, 9))}-{i:02d}",
                "technology": draw(st.sampled_from(techs)),
                "status": status,
                "year": None if status == "existing" else draw(st.sampled_from([2027, 2030])),
                "open_network": draw(st.booleans()),
                "max_down_mbps": draw(st.sampled_from([np.nan, 50.0, 100.0, 250.0, 1000.0])),
                "upgradeable_to_mbps": draw(st.sampled_from([np.nan, 100.0, 1000.0])),
            }
        )
    return pts, connected, elements


TARGETS = [
    make_target(id="t100", min_down_mbps=100),
    make_target(id="open100", min_down_mbps=100, require_open_network=True),
    make_target(id="gig", require_gigabit_ready=True, require_open_network=True),
    make_target(id="fast", min_down_mbps=250, count_access=["connected"]),
    make_target(id="near30", min_down_mbps=30, count_access=["connected", "passed", "near"]),
    make_target(id="nearonly", min_down_mbps=60, count_access=["near"]),
    make_target(id="passedonly", min_down_mbps=50, count_access=["passed"]),
]


@hsettings(max_examples=200, deadline=None)
@given(scenes(), st.sampled_from([20.0, 50.0, 120.0]))
def test_pruned_candidates_give_the_results_of_all_pairs(scene, passed_m):  # type: ignore[no-untyped-def]
    check_pruned_against_all_pairs(scene, passed_m)


@hsettings(max_examples=25, deadline=None)
@given(
    scenes(40, 70, 4, st.integers(-50, 50).map(float), ["fibre"]),
    st.sampled_from([50.0, 120.0]),
)
def test_many_candidates_per_address_give_the_results_of_all_pairs(scene, passed_m):  # type: ignore[no-untyped-def]
    """More elements within reach of an address than the kernel orders by insertion alone
    (``SMALL_SORT``), so its argsort path runs: every fibre element lies within 142 m of
    every address, inside the 150 m near distance."""
    assert len(scene[2]) > SMALL_SORT
    check_pruned_against_all_pairs(scene, passed_m)


def pruned_and_full(scene, passed_m):  # type: ignore[no-untyped-def]
    """The scene's network, its rules (homes passed within ``passed_m``) and two classifiers
    of its addresses: the pruned pairs', and every pair's (the reference)."""
    pts, connected, elements = scene
    addr = make_addresses(pts, connected=connected)
    net = make_network(elements)
    rules = CoverageSettings(passed_distance_m=passed_m, near_distance_m=max(passed_m, 150.0))
    return (
        net,
        rules,
        Classifier(addr, net, rules),
        Classifier(addr, net, rules, pairs_fn=all_pairs),
    )


def check_pruned_against_all_pairs(scene, passed_m):  # type: ignore[no-untyped-def]
    net, rules, pruned, full = pruned_and_full(scene, passed_m)
    assert sum(len(p.address) for p in pruned.pairs.values()) <= sum(
        len(p.address) for p in full.pairs.values()
    )
    expected = []  # (year, rules, all pairs' pass/fail per target) of every scenario
    for year in [2026, *full.plan_years(2026)]:
        for variant in [rules, *(r for _, r in rules.sensitivity_rules())]:
            a, b = pruned.candidates(year, variant), full.candidates(year, variant)
            pd.testing.assert_frame_equal(summarise(a, net, variant), summarise(b, net, variant))
            for tech in a.nearest:
                np.testing.assert_array_equal(a.nearest[tech][0], b.nearest[tech][0])
            # The compiled pass/fail over the pruned pairs (no candidate table), as the
            # plan years and sensitivity rules use it, against all pairs' full evaluation.
            fast = passes_at(pruned, TARGETS, year, variant)
            for t in TARGETS:
                ra, rb = evaluate(t, a, variant), evaluate(t, b, variant)
                np.testing.assert_array_equal(ra.passed, rb.passed)
                np.testing.assert_array_equal(ra.reason, rb.reason)
                np.testing.assert_array_equal(fast[t.id], rb.passed)
            expected.append(
                (year, variant, {t.id: evaluate(t, b, variant).passed for t in TARGETS})
            )
    # Every scenario in one pass over the pairs (as a run does), listed latest first.
    expected.reverse()
    many = passes_many_at(pruned, TARGETS, [(year, variant) for year, variant, _ in expected])
    for (_, _, want), got in zip(expected, many, strict=True):
        for t in TARGETS:
            np.testing.assert_array_equal(got[t.id], want[t.id])


def test_pruning_in_many_blocks_equals_one_block() -> None:
    # Address 0 keeps eleven pairs (each line farther and faster than the last: none is
    # dominated), more than the eight slots a block starts with; with two points per block
    # its block is rerun with more room, and later blocks reuse the grown buffers.
    lines = [
        {"coords": [(-300, d), (300, d)], "max_down_mbps": 100.0 + d, "segment_id": f"L{d}"}
        for d in range(10, 120, 10)
    ]
    pts = [(0.0, 0.0), *((float(x), -30.0 - x % 7) for x in range(-250, 250, 25))]
    addr, net = make_addresses(pts), make_network(lines)
    one = Classifier(addr, net, CoverageSettings()).pairs["fibre"]
    with patch.object(kernel, "BLOCK_POINTS", 2):
        many = Classifier(addr, net, CoverageSettings()).pairs["fibre"]
    assert (one.address == 0).sum() == 11
    _assert_same_pairs(one, many)


def test_blocks_after_a_wide_point_start_with_its_room() -> None:
    # Three towns 10 km apart (each a tile, so a block, of its own with two points per
    # block); in each, the address at the centre keeps eleven pairs (eleven streets, each
    # farther and faster than the last). The first block is run again with room for eleven;
    # the other two start with that room and are run once each: four runs of the compiled
    # search, not six.
    lines, pts = [], []
    for town in range(3):
        cx = 10_000.0 * town
        pts += [(cx, 0.0), (cx + 40.0, -60.0)]
        lines += [
            {
                "coords": [(cx - 300, d), (cx + 300, d)],
                "max_down_mbps": 100.0 + d,
                "segment_id": f"T{town}L{d}",
            }
            for d in range(10, 120, 10)
        ]
    addr, net = make_addresses(pts), make_network(lines)
    one = Classifier(addr, net, CoverageSettings()).pairs["fibre"]
    runs = []
    search = kernel._pareto

    def counted(*args):  # type: ignore[no-untyped-def]
        runs.append(args[1])  # the block's first row
        return search(*args)

    with patch.object(kernel, "BLOCK_POINTS", 2), patch.object(kernel, "_pareto", counted):
        many = Classifier(addr, net, CoverageSettings()).pairs["fibre"]
    assert [int((one.address == a).sum()) for a in (0, 2, 4)] == [11, 11, 11]
    assert runs == [0, 0, 2, 4]
    _assert_same_pairs(one, many)


@hsettings(max_examples=40, deadline=None)
@given(scenes(elements_max=40, points_max=30))
def test_pruning_in_blocks_of_few_points_equals_one_block(scene):  # type: ignore[no-untyped-def]
    pts, connected, elements = scene
    addr, net = make_addresses(pts, connected=connected), make_network(elements)
    one = Classifier(addr, net, CoverageSettings()).pairs
    with patch.object(kernel, "BLOCK_POINTS", 3):
        many = Classifier(addr, net, CoverageSettings()).pairs
    for tech in TECHNOLOGIES:
        _assert_same_pairs(one[tech], many[tech])


def _assert_same_pairs(a: Pairs, b: Pairs) -> None:
    for name in ("address", "element", "distance_m"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_slot_buffers_grow_and_hand_out_contiguous_views() -> None:
    room = kernel._SlotBuffers()
    e, d = room.take(4, 8)
    assert e.shape == d.shape == (4, 8) and e.flags.c_contiguous and d.flags.c_contiguous
    e[:] = 7
    e2, d2 = room.take(3, 8)  # fits: the same memory again
    assert np.shares_memory(e, e2) and np.shares_memory(d, d2) and e2.shape == (3, 8)
    e3, _ = room.take(5, 9)  # does not fit: new, larger buffers
    assert not np.shares_memory(e, e3) and e3.shape == (5, 9) and e3.dtype == np.int64


def test_passes_at_by_hand() -> None:
    # Address 0: fibre 1,000 Mbit/s at 30 m (passed), open; address 1: the same line at
    # 120 m (near only); address 2: connected, its nearest fibre at 180 m; address 3: only
    # a VDSL cabinet at 900 m.
    net = make_network(
        [
            {"coords": [(-50, 30), (50, 30)], "segment_id": "F", "open_network": True},
            {"coords": [(4000, 0)], "segment_id": "V", "technology": "vdsl"},
        ]
    )
    addr = make_addresses([(0, 0), (0, 150), (0, 210), (4900, 0)], connected=[0, 0, 1, 0])
    c = Classifier(addr, net, CoverageSettings())
    targets = [
        make_target(id="passed100", min_down_mbps=100),
        make_target(id="near", min_down_mbps=30, count_access=["connected", "passed", "near"]),
        make_target(id="vdsl30", min_down_mbps=30),
    ]
    got = passes_at(c, targets, 2026, CoverageSettings())
    # VDSL at 900 m is served (copper reach 1,200 m) at 40 Mbit/s (the curve's 900 m point).
    assert got["passed100"].tolist() == [True, False, True, False]
    assert got["near"].tolist() == [True, True, True, True]
    assert got["vdsl30"].tolist() == [True, False, True, True]
    # The same at a homes-passed distance of 20 m: address 0 (30 m) is now only near.
    strict = CoverageSettings().sensitivity_rules()[0][1]
    assert strict.passed_distance_m == 20
    assert passes_at(c, targets, 2026, strict)["passed100"].tolist() == [False, False, True, False]
    # Both rules in one pass; a year before the VDSL cabinet exists (it is always there).
    both = passes_many_at(c, targets, [(2026, strict), (2026, CoverageSettings())])
    assert both[0]["passed100"].tolist() == [False, False, True, False]
    assert both[1]["passed100"].tolist() == [True, False, True, False]
    assert both[1]["vdsl30"].tolist() == [True, False, True, True]
    assert passes_many_at(c, targets, []) == []


def test_connections_open_only_within_the_near_distance_of_each_scenario() -> None:
    # A connected address whose nearest fibre (open network) is 180 m away: its connection
    # counts as open only where the near distance reaches 180 m. Scenarios of one year
    # share the connections' table only while their near distance is the same.
    net = make_network(
        [{"coords": [(-50, 180), (50, 180)], "segment_id": "F", "open_network": True}]
    )
    addr = make_addresses([(0, 0)], connected=[1])
    short = CoverageSettings(near_distance_m=150, sensitivity_distances_m=[20, 50])
    c = Classifier(addr, net, short)
    wide = short.with_overrides(near_distance_m=200)
    targets = [
        make_target(
            id="open", min_down_mbps=100, require_open_network=True, count_access=["connected"]
        )
    ]
    rules = [short, *(r for _, r in short.sensitivity_rules())]
    assert all(r.near_distance_m == 150 for r in rules)
    got = passes_many_at(c, targets, [(2026, r) for r in rules])
    assert [g["open"].tolist() for g in got] == [[False]] * 3
    c_wide = Classifier(addr, net, wide)
    mixed = passes_many_at(c_wide, targets, [(2026, wide), (2026, wide.sensitivity_rules()[0][1])])
    assert [g["open"].tolist() for g in mixed] == [[True], [True]]
    near_then_far = short.with_overrides(sensitivity_distances_m=[20, 190])
    c_both = Classifier(addr, net, near_then_far)
    scenarios = [(2026, r) for _, r in near_then_far.sensitivity_rules()]
    assert [r.near_distance_m for _, r in scenarios] == [150, 190]
    assert [g["open"].tolist() for g in passes_many_at(c_both, targets, scenarios)] == [
        [False],
        [True],
    ]


def test_passes_many_at_plan_years_by_hand() -> None:
    # Fibre passing address 0 is built in 2028; address 1 is 120 m from it (near only).
    net = make_network(
        [{"coords": [(-50, 30), (50, 30)], "segment_id": "F", "status": "planned", "year": 2028}]
    )
    addr = make_addresses([(0, 0), (0, 150)])
    c = Classifier(addr, net, CoverageSettings())
    targets = [
        make_target(id="passed100", min_down_mbps=100),
        make_target(id="near", min_down_mbps=30, count_access=["passed", "near"]),
    ]
    wide = CoverageSettings().sensitivity_rules()[-1][1]  # passed within 200 m
    got = passes_many_at(
        c, targets, [(2027, CoverageSettings()), (2028, CoverageSettings()), (2028, wide)]
    )
    assert [g["passed100"].tolist() for g in got] == [[False, False], [True, False], [True, True]]
    assert [g["near"].tolist() for g in got] == [[False, False], [True, True], [True, True]]
    other = CoverageSettings(gigabit_mbps=2500)
    with pytest.raises(ValueError, match="gigabit"):
        passes_many_at(c, targets, [(2028, CoverageSettings()), (2028, other)])


def test_reference_pairs_helper_is_not_pruned() -> None:
    # Guard for the property test above: the reference really keeps every pair.
    net = make_network([{"coords": [(-9, d), (9, d)], "segment_id": f"S{d}"} for d in (1, 2, 3)])
    c = Classifier(make_addresses([(0, 0)]), net, CoverageSettings(), pairs_fn=all_pairs)
    assert len(c.pairs["fibre"].address) == 3


def reference_candidates(
    c: Classifier, year: int, rules: CoverageSettings
) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    """The candidate table built the plain way: each technology's pairs filtered and
    looked up with numpy, the connected candidates appended, all sorted by ``np.lexsort``."""
    parts = []
    down_all = c.network["max_down_mbps"].to_numpy(dtype=float, na_value=np.nan)
    upgr_all = c.network["upgradeable_to_mbps"].to_numpy(dtype=float, na_value=np.nan)
    open_all = c.network["open_network"].to_numpy(dtype=bool)

    def speed(tech: str, elem: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        p = rules.technologies[tech]
        down = np.where(np.isnan(down_all[elem]), p.down_mbps, down_all[elem])
        if p.speed_curve is not None:
            down = effective_down(down, np.nan_to_num(dist), np.asarray(p.speed_curve))
        return down, np.where(np.isnan(upgr_all[elem]), p.upgradeable_to_mbps, upgr_all[elem])

    for k, tech in enumerate(TECHNOLOGIES):
        if not rules.technologies[tech].provides_service:
            continue
        pr = c.pairs[tech]
        keep = c.element_year[pr.element] <= year
        a, e, d = pr.address[keep], pr.element[keep], pr.distance_m[keep]
        served = d <= rules.service_distance_m(tech)
        sel = served | (d <= rules.near_distance_m)
        a, e, d, served = a[sel], e[sel], d[sel], served[sel]
        down, upgr = speed(tech, e, d)
        parts.append(
            (
                a,
                e,
                np.full(len(a), k),
                np.where(served, 1, 2),
                d,
                down,
                upgr,
                open_all[e],
                c.rank[e],
            )
        )
    # Connected: the nearest fibre element in service, by brute force over the fibre pairs.
    fib = c.pairs["fibre"]
    conn = np.flatnonzero(c.connected)
    idx, dist = np.full(len(conn), -1), np.full(len(conn), np.nan)
    for i, a in enumerate(conn):
        rows = np.flatnonzero((fib.address == a) & (c.element_year[fib.element] <= year))
        if len(rows):
            idx[i], dist[i] = fib.element[rows[0]], fib.distance_m[rows[0]]
    found = idx >= 0
    down, upgr = speed("fibre", np.maximum(idx, 0), dist)
    p = rules.technologies["fibre"]
    parts.append(
        (
            conn,
            np.full(len(conn), -1),
            np.zeros(len(conn)),
            np.zeros(len(conn)),
            dist,
            np.where(found, down, p.down_mbps),
            np.where(found, upgr, p.upgradeable_to_mbps),
            found
            & open_all[np.maximum(idx, 0)]
            & (np.nan_to_num(dist, nan=np.inf) <= rules.near_distance_m),
            np.full(len(conn), -1),
        )
    )
    cols = [np.concatenate([part[i] for part in parts]) for i in range(9)]
    order = np.lexsort((cols[8], cols[2], cols[4], cols[0]))
    return {name: col[order] for (name, _), col in zip(CANDIDATE_COLUMNS, cols, strict=True)}


@hsettings(max_examples=150, deadline=None)
@given(scenes(), st.sampled_from([20.0, 50.0, 120.0]))
def test_candidate_table_equals_the_plain_numpy_construction(scene, passed_m):  # type: ignore[no-untyped-def]
    pts, connected, elements = scene
    net = make_network(elements)
    rules = CoverageSettings(passed_distance_m=passed_m, near_distance_m=max(passed_m, 150.0))
    c = Classifier(make_addresses(pts, connected=connected), net, rules)
    for year in [2026, 2027, 2030]:
        for variant in [rules, *(r for _, r in rules.sensitivity_rules())]:
            got, want = c.candidates(year, variant), reference_candidates(c, year, variant)
            for name, column in want.items():
                np.testing.assert_array_equal(getattr(got, name), column, err_msg=name)
                assert getattr(got, name).dtype.kind == column.dtype.kind or name in (
                    "tech",
                    "status",
                )


def test_candidate_table_by_hand() -> None:
    # Address 0 (connected): fibre F at 30 m and VDSL cabinet V at 30 m; address 1: F at
    # 120 m (near) and V at 180 m (served: copper reaches further). Order within address 0:
    # the connection (fibre, rank -1), then F (fibre before VDSL at equal distance), then V.
    net = make_network(
        [
            {"coords": [(-50, 30), (50, 30)], "segment_id": "F"},
            {"coords": [(0, -30)], "segment_id": "V", "technology": "vdsl"},
        ]
    )
    addr = make_addresses([(0, 0), (0, 150)], connected=[True, False])
    c = Classifier(addr, net, CoverageSettings())
    got = c.candidates(2026)
    assert got.address.tolist() == [0, 0, 0, 1, 1]
    assert got.status.tolist() == [0, 1, 1, 2, 1]
    assert got.element.tolist() == [-1, 0, 1, 0, 1]
    assert got.tech.tolist() == [0, 0, 2, 0, 2]
    np.testing.assert_allclose(got.distance_m, [30.0, 30.0, 30.0, 120.0, 180.0])


def _by_hand_scene() -> Classifier:
    """Address 0 (connected): fibre F at 30 m and VDSL cabinet V at 30 m; address 1: F at
    120 m (near) and V at 180 m (served: copper reaches further)."""
    net = make_network(
        [
            {"coords": [(-50, 30), (50, 30)], "segment_id": "F"},
            {"coords": [(0, -30)], "segment_id": "V", "technology": "vdsl"},
        ]
    )
    addr = make_addresses([(0, 0), (0, 150)], connected=[True, False])
    return Classifier(addr, net, CoverageSettings())


def test_year_offers_by_hand() -> None:
    c = _by_hand_scene()
    fast = make_target(id="fast", min_down_mbps=250, count_access=["connected"])
    t100 = make_target(id="t100")
    got = c.year_offers(2026, _target_rules([t100, fast], c.settings))
    best = got.best
    # Address 0: the connection (fibre, rank -1) beats F on the last tie-break; address 1:
    # V, the only serving offer (F is near only), at VDSL's 100 Mbit/s.
    assert best.has.tolist() == [True, True]
    assert best.element.tolist() == [-1, 1]
    assert best.tech.tolist() == [0, 2]
    np.testing.assert_allclose(best.distance_m, [30.0, 180.0])
    np.testing.assert_allclose(best.down_mbps, [1000.0, 100.0])
    np.testing.assert_allclose(best.upgradeable_to_mbps, [10000.0, 100.0])
    assert best.access.tolist() == [0, 1]  # connected; passed
    assert best.gigabit.tolist() == [True, False]
    np.testing.assert_allclose(best.near_m, [30.0, 120.0])
    # t100: both pass (address 1 through V, status passed). fast counts connections only:
    # address 1's candidates meet none of it, and the nearest (F, near) is its best.
    assert got.score.tolist() == [[4, 4], [4, 0]]
    assert got.status.tolist() == [[0, 1], [0, 2]]
    results, _ = evaluate_year(c, [t100, fast], 2026)
    assert results["fast"].reason.tolist() == ["", "too_far"]
    assert results["t100"].passed.tolist() == [True, True]


def test_year_offers_without_candidates_or_targets() -> None:
    far = make_network([{"coords": [(0, 10_000)], "segment_id": "F"}])  # beyond every reach
    c = Classifier(make_addresses([(0, 0), (5000, 0)]), far, CoverageSettings())
    got = c.year_offers(2026)
    assert got.score.shape == (0, 2) and got.status.shape == (0, 2)
    assert got.best.has.tolist() == [False, False]
    assert got.best.element.tolist() == [-1, -1]
    assert got.best.access.tolist() == [3, 3]
    assert np.isnan(got.best.distance_m).all() and np.isinf(got.best.near_m).all()


@hsettings(max_examples=150, deadline=None)
@given(scenes(), st.sampled_from([20.0, 50.0, 120.0]), st.sampled_from([1, 3, 4096]))
def test_year_offers_equal_the_candidate_table(scene, passed_m, block):  # type: ignore[no-untyped-def]
    """The evaluation year's offers made a block of addresses at a time (blocks of one and
    three addresses too) equal what the candidate table gives, field for field; and the
    targets' results equal those of all pairs' candidate table."""
    net, rules, c, full = pruned_and_full(scene, passed_m)
    target_rules = _target_rules(TARGETS, rules)
    for year in [2026, 2027, 2030]:
        with patch.object(kernel, "OFFER_BLOCK_ADDRESSES", block):
            got = c.year_offers(year, target_rules)
            results, offers = evaluate_year(c, TARGETS, year)
        table = c.candidates(year)
        want = BestOffers.of(table, rules.gigabit_mbps)
        for name in ("has", "element", "tech", "distance_m", "down_mbps"):
            np.testing.assert_array_equal(getattr(got.best, name), getattr(want, name), name)
        for name in ("upgradeable_to_mbps", "open_network", "access", "gigabit", "near_m"):
            np.testing.assert_array_equal(getattr(got.best, name), getattr(want, name), name)
        for tech in TECHNOLOGIES:
            np.testing.assert_array_equal(got.best.nearest[tech][1], want.nearest[tech][1])
        pd.testing.assert_frame_equal(summarise(offers, net, rules), summarise(table, net, rules))
        reference = full.candidates(year)
        for i, t in enumerate(TARGETS):
            row = _target_rules([t], rules)
            best, score = best_offers(
                table.address,
                table.status,
                table.down_mbps,
                table.upgradeable_to_mbps,
                table.open_network,
                row.counted[0],
                t.min_down_mbps,
                t.require_gigabit_ready,
                rules.gigabit_mbps,
                t.require_open_network,
                table.n,
            )
            np.testing.assert_array_equal(got.score[i], score)
            np.testing.assert_array_equal(got.status[i], gather(table.status, best, 3))
            want_result = evaluate(t, reference, rules)
            np.testing.assert_array_equal(results[t.id].passed, want_result.passed)
            np.testing.assert_array_equal(results[t.id].reason, want_result.reason)
