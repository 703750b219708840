"""Classification on hand-made geometries whose answers are known, plus brute-force properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import make_addresses, make_network
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage.classify import Classifier, candidate_pairs, nearest_in_service
from coverage.settings import CoverageSettings

LINE = [(-1000, 0), (1000, 0)]  # an east-west route through the origin


def classify(addresses, network, year=2026, **kw):  # type: ignore[no-untyped-def]
    return Classifier(addresses, network, CoverageSettings(**kw)).classify(year)


def test_address_30m_from_open_fibre_is_passed_gigabit_open(settings):
    out = classify(make_addresses([(0, 30)]), make_network([{"coords": LINE}]))
    row = out.iloc[0]
    assert row["access"] == "passed"
    assert row["technology"] == "fibre"
    assert row["max_down_mbps"] == 1000
    assert row["distance_m"] == pytest.approx(30.0)
    assert bool(row["gigabit_ready"]) and bool(row["open_network"])


def test_address_300m_from_fibre_is_near_only_within_near_distance():
    net = make_network([{"coords": LINE}])
    out = classify(make_addresses([(0, 200), (0, 300)]), net)
    assert out["access"].tolist() == ["near", "none"]
    assert out["technology"].tolist() == ["", ""]
    assert out["max_down_mbps"].tolist() == [0.0, 0.0]
    assert out["distance_m"].iloc[0] == pytest.approx(200.0)
    assert np.isnan(out["distance_m"].iloc[1])  # beyond near_distance_m: empty
    out2 = classify(make_addresses([(0, 300)]), net, near_distance_m=350)
    assert out2["access"].iloc[0] == "near"


def test_passed_distance_boundary_is_inclusive():
    out = classify(make_addresses([(0, 50), (0, 50.5)]), make_network([{"coords": LINE}]))
    assert out["access"].tolist() == ["passed", "near"]


def test_planned_segment_counts_only_from_its_year():
    net = make_network([{"coords": LINE, "status": "planned", "year": 2028}])
    addr = make_addresses([(0, 10)])
    c = Classifier(addr, net, CoverageSettings())
    assert c.classify(2027)["access"].iloc[0] == "none"
    assert c.classify(2028)["access"].iloc[0] == "passed"
    assert c.plan_years(2026) == [2028]


def test_under_construction_counts_from_its_year_and_existing_always():
    net = make_network(
        [
            {"coords": [(-1000, 100), (1000, 100)], "status": "under_construction", "year": 2027},
            {"coords": [(-1000, -40), (1000, -40)], "technology": "hfc"},
        ]
    )
    c = Classifier(make_addresses([(0, 95)]), net, CoverageSettings())
    assert c.classify(2026)["technology"].iloc[0] == ""  # hfc at 135 m: near only
    assert c.classify(2026)["access"].iloc[0] == "near"
    assert c.classify(2027)["technology"].iloc[0] == "fibre"


@pytest.mark.parametrize(
    ("distance", "mbps"),
    [(100, 100.0), (300, 100.0), (450, 80.0), (600, 60.0), (1200, 25.0)],
)
def test_vdsl_speed_falls_with_copper_distance(distance, mbps):
    net = make_network([{"coords": [(0, 0)], "technology": "vdsl"}])
    out = classify(make_addresses([(distance, 0)]), net)
    assert out["access"].iloc[0] == "passed"
    assert out["technology"].iloc[0] == "vdsl"
    assert out["max_down_mbps"].iloc[0] == pytest.approx(mbps)
    assert not out["gigabit_ready"].iloc[0]


def test_vdsl_beyond_its_reach_gives_no_service():
    net = make_network([{"coords": [(0, 0)], "technology": "vdsl"}])
    out = classify(make_addresses([(1300, 0)]), net)
    assert out["access"].iloc[0] == "none"


def test_best_offer_is_fastest_and_gigabit_needs_upgradeable_infrastructure():
    net = make_network(
        [
            {"coords": [(0, 0)], "technology": "fwa", "open_network": False},
            {"coords": [(-1000, 20), (1000, 20)], "technology": "duct"},
        ]
    )
    out = classify(make_addresses([(0, 0)]), net)
    row = out.iloc[0]
    assert (row["technology"], row["max_down_mbps"]) == ("fwa", 100.0)
    assert not row["gigabit_ready"]  # a duct is not service, FWA is not upgradeable
    assert row["duct_distance_m"] == pytest.approx(20.0)


def test_connected_flag_outranks_passed_and_element_overrides_speed():
    net = make_network([{"coords": LINE, "max_down_mbps": 250, "open_network": False}])
    out = classify(make_addresses([(0, 10), (0, 400)], connected=[True, True]), net)
    assert out["access"].tolist() == ["connected", "connected"]
    assert out["max_down_mbps"].tolist() == [250.0, 1000.0]  # far one: technology default
    assert out["open_network"].tolist() == [False, False]


def test_tie_goes_to_lowest_segment_id_whatever_the_order():
    elements = [
        {"coords": [(-100, 20), (100, 20)], "segment_id": "B", "open_network": False},
        {"coords": [(-100, -20), (100, -20)], "segment_id": "A", "open_network": True},
    ]
    for order in (elements, elements[::-1]):
        out = classify(make_addresses([(0, 0)]), make_network(order))
        assert out["segment_id"].iloc[0] == "A"


def test_geographic_crs_is_refused():
    addr = make_addresses([(0, 0)]).to_crs(4326)
    with pytest.raises(ValueError, match="projected CRS"):
        Classifier(addr, make_network([{"coords": LINE}]).to_crs(4326), CoverageSettings())


# --- properties: the pruned kernel path equals brute force over all elements -------------

coord = st.floats(min_value=-600, max_value=600, allow_nan=False).map(lambda v: round(v, 0))


@st.composite
def scenes(draw):  # type: ignore[no-untyped-def]
    n_pts = draw(st.integers(1, 25))
    pts = [(draw(coord), draw(coord)) for _ in range(n_pts)]
    n_el = draw(st.integers(0, 12))
    elements = []
    for i in range(n_el):
        k = draw(st.integers(1, 3))
        cs = [(draw(coord), draw(coord)) for _ in range(k)]
        if k == 2 and cs[0] == cs[1]:
            cs = cs[:1]
        elements.append(
            {
                "coords": cs,
                "segment_id": f"S{draw(st.integers(0, 999)):03d}-{i}",
                "technology": draw(st.sampled_from(["fibre", "hfc", "vdsl", "fwa", "duct"])),
                "status": draw(st.sampled_from(["existing", "planned"])),
                "year": draw(st.sampled_from([2025, 2027, 2030])),
                "open_network": draw(st.booleans()),
            }
        )
    return pts, elements


def brute_nearest(points, elements, ids, years, year, radius):  # type: ignore[no-untyped-def]
    idx = np.full(len(points), -1)
    dist = np.full(len(points), np.nan)
    for i, p in enumerate(points):
        best = None
        for j, e in enumerate(elements):
            if years[j] > year:
                continue
            d = shapely.distance(p, e)
            # The engines' order: distance rounded to a nanometre, then the lowest id (a line
            # 0.9999999999999999 m away ties with a point 1 m away; the point's id is lower).
            if d <= radius and (best is None or (round(d, 9), ids[j]) < best[:2]):
                best = (round(d, 9), ids[j], j, d)
        if best is not None:
            dist[i], idx[i] = best[3], best[2]
    return idx, dist


@hsettings(max_examples=150, deadline=None)
@given(scenes(), st.sampled_from([2026, 2027, 2030]), st.sampled_from([60.0, 250.0]))
def test_nearest_equals_brute_force(scene, year, radius):
    pts, elements = scene
    if not elements:
        return
    net = make_network(elements)
    addr = make_addresses(pts)
    years = np.where(net["status"] == "existing", -(10**9), net["year"].fillna(0).to_numpy())
    rules = CoverageSettings(passed_distance_m=radius, near_distance_m=radius)
    rules = rules.with_overrides(sensitivity_distances_m=[radius])
    c = Classifier(addr, net, rules)
    all_pos = np.arange(len(net), dtype=np.int64)
    # One technology's offers for every element (the pruning sees all of them at once).
    pairs = candidate_pairs(
        addr.geometry.to_numpy(), net.geometry.to_numpy(), c.offers("fibre", all_pos), radius
    )
    idx, dist = nearest_in_service(pairs, c.element_year, year, len(addr))
    b_idx, b_dist = brute_nearest(
        addr.geometry.to_numpy(),
        net.geometry.to_numpy(),
        net["segment_id"].tolist(),
        years,
        year,
        radius,
    )
    np.testing.assert_array_equal(idx, b_idx)
    np.testing.assert_allclose(dist, b_dist, atol=1e-9)


@hsettings(max_examples=60, deadline=None)
@given(scenes(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_results(scene, rnd):
    pts, elements = scene
    if not elements:
        return
    addr, net = make_addresses(pts), make_network(elements)
    ref = Classifier(addr, net, CoverageSettings()).classify(2027)
    ref.index = addr["address_id"]
    a_perm = list(range(len(addr)))
    n_perm = list(range(len(net)))
    rnd.shuffle(a_perm)
    rnd.shuffle(n_perm)
    addr2 = addr.iloc[a_perm].reset_index(drop=True)
    out = Classifier(addr2, net.iloc[n_perm].reset_index(drop=True), CoverageSettings()).classify(
        2027
    )
    out.index = addr2["address_id"]
    pd.testing.assert_frame_equal(out.loc[ref.index], ref)


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(["A", "a", "1", "0", "_", "é", "Ö", "ß", "\x00", "😀", " "]),
            max_size=5,
        ),
        max_size=40,
    )
)
def test_segment_rank_is_numpys_stable_string_order(ids: list[str]) -> None:
    from coverage.classify import segment_rank

    # The reference: NumPy's stable sort of the ids as Python strings (code points, NULs
    # included), duplicates in row order.
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    want = np.empty(len(ids), dtype=np.int64)
    want[order] = np.arange(len(ids))
    for dtype in (pd.StringDtype("pyarrow"), object):
        frame = pd.DataFrame({"segment_id": pd.Series(ids, dtype=dtype)})
        assert segment_rank(frame).tolist() == want.tolist()


def test_segment_rank_by_hand() -> None:
    from coverage.classify import segment_rank

    ids = pd.Series(["b", "A10", "A", "Ö", "A2", "A"], dtype=pd.StringDtype("pyarrow"))
    # Text order: "A" (row 2) < "A" (row 5) < "A10" < "A2" < "b" < "Ö" (code points).
    assert segment_rank(pd.DataFrame({"segment_id": ids})).tolist() == [4, 2, 0, 5, 3, 1]
