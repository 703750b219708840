"""Targets: TOML validation, pass/fail with reasons, unit counting, figures and timeline."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from conftest import make_addresses, make_network
from conftest import make_target as target
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from coverage._errors import TargetConfigError
from coverage.classify import Classifier
from coverage.compliance import figure, figures_by_area, timeline
from coverage.settings import CoverageSettings
from coverage.targets import (
    REASON_LABELS,
    apply_plan_reasons,
    evaluate,
    first_pass_year,
    load_targets,
    merge_target_sets,
    units,
)

SHIPPED = Path(__file__).resolve().parent.parent / "gis_data" / "targets"


@pytest.mark.parametrize(
    "name", ["kristianstad_2020.toml", "national_2020.toml", "national_2025.toml"]
)
def test_shipped_target_sets_load(name):
    ts = load_targets(SHIPPED / name)
    assert ts.targets and all(0 < t.share <= 1 for t in ts.targets)


def test_kristianstad_targets_say_what_the_agenda_says():
    ts = load_targets(SHIPPED / "kristianstad_2020.toml")
    by_id = {t.id: t for t in ts.targets}
    hh = by_id["kommun_hushall_100_open"]
    assert (hh.population, hh.share, hh.min_down_mbps) == ("households", 0.95, 100)
    assert hh.require_open_network and hh.require_gigabit_ready
    assert by_id["kommun_offentliga_100"].share == 1.0
    assert by_id["kommun_offentliga_100"].population == "public_sites"


def test_invalid_targets_file_reports_every_problem(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(
        'name = "x"\n[[targets]]\nid = "Bad Id"\nlabel = "a"\npopulation = "people"\n'
        'share = 1.5\ndeadline = 2025-01-01\n[[targets]]\nid = "ok"\nlabel = "b"\n'
        'population = "households"\nshare = 0.9\n',
        encoding="utf-8",
    )
    with pytest.raises(TargetConfigError) as exc:
        load_targets(p)
    msg = str(exc.value)
    for fragment in ("id 'Bad Id'", "population", "share", "id 'ok'", "deadline"):
        assert fragment in msg


def test_duplicate_ids_across_sets_are_refused():
    ts = load_targets(SHIPPED / "national_2025.toml")
    with pytest.raises(TargetConfigError, match="appears in both"):
        merge_target_sets([ts, ts])


def test_not_toml_and_missing_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(TargetConfigError, match="not valid TOML"):
        load_targets(p)
    with pytest.raises(TargetConfigError, match="not found"):
        load_targets(tmp_path / "missing.toml")


def _offers(addresses, elements, year=2026):  # type: ignore[no-untyped-def]
    return Classifier(addresses, make_network(elements), CoverageSettings()).candidates(year)


LINE = [(-1000, 0), (1000, 0)]


def test_reasons_for_each_failed_condition():
    addr = make_addresses([(0, 10), (0, 150), (0, 2000), (5000, 10), (9000, 10)])
    elements = [
        {"coords": LINE, "open_network": False},  # closed fibre passing A0, near A1
        {"coords": [(5000, 0)], "technology": "fwa", "open_network": True},  # FWA only at A3
        {
            "coords": [(8000, 0), (10000, 0)],
            "technology": "fibre",
            "status": "planned",
            "year": 2030,
        },
    ]
    offers = _offers(addr, elements)
    s = CoverageSettings()
    open_gig = target(require_open_network=True, require_gigabit_ready=True)
    r = evaluate(open_gig, offers, s)
    assert r.passed.tolist() == [False] * 5
    # A0: closed fibre; A1: only near; A2: FWA 5385 m away, beyond its 3000 m reach;
    # A3: FWA is 100 Mbit/s but not gigabit-ready; A4: fibre only planned for 2030.
    assert r.reason.tolist() == [
        "not_open_network",
        "too_far",
        "no_network",
        "not_gigabit_ready",
        "no_network",
    ]
    fast = target(min_down_mbps=1000)
    assert evaluate(fast, offers, s).reason.tolist()[3] == "speed_below"
    only_connected = target(count_access=["connected"])
    assert evaluate(only_connected, offers, s).reason.tolist()[0] == "not_connected"
    near_ok = target(min_down_mbps=0, count_access=["connected", "passed", "near"])
    assert evaluate(near_ok, offers, s).passed.tolist()[:2] == [True, True]


def test_some_offer_meeting_all_conditions_passes():
    addr = make_addresses([(0, 10)])
    elements = [
        {"coords": LINE, "open_network": False},
        {"coords": [(0, 100)], "technology": "vdsl", "open_network": True},
    ]
    r = evaluate(target(require_open_network=True), _offers(addr, elements), CoverageSettings())
    assert r.passed.tolist() == [True]  # open VDSL at 100 Mbit/s meets it, closed fibre does not


def test_planned_reasons_split_at_the_deadline():
    addr = make_addresses([(0, 10), (3000, 10)])
    net = make_network(
        [
            {"coords": [(-100, 0), (100, 0)], "status": "planned", "year": 2027},
            {"coords": [(2900, 0), (3100, 0)], "status": "planned", "year": 2030},
        ]
    )
    c = Classifier(addr, net, CoverageSettings())
    s = CoverageSettings()
    t = target(deadline=date(2028, 12, 31))
    now = evaluate(t, c.candidates(2026), s)
    years = first_pass_year(
        [(y, evaluate(t, c.candidates(y), s).passed) for y in c.plan_years(2026)], 2
    )
    assert years.tolist() == [2027.0, 2030.0]
    reasons = apply_plan_reasons(t, now.reason_code, years, now.passed)
    assert [REASON_LABELS[c] for c in reasons] == [
        "planned_before_deadline",
        "planned_after_deadline",
    ]


def test_households_are_counted_not_points():
    addr = make_addresses(
        [(0, 10), (0, 500)], households=[40, 1], workplaces=[2, 3], public_site=["skola", ""]
    )
    r = evaluate(target(), _offers(addr, [{"coords": LINE}]), CoverageSettings())
    w = units(addr, "households").to_numpy()
    f = figure(float(w[r.passed].sum()), float(w.sum()), 0.95)
    assert (f["numerator"], f["denominator"]) == (40, 41)
    assert f["share"] == pytest.approx(40 / 41)
    assert f["met"] is True and f["shortfall"] == 0  # 40/41 = 97.6 %
    assert units(addr, "households+workplaces").tolist() == [42, 4]
    assert units(addr, "public_sites").tolist() == [1, 0]


def test_figure_shortfall_and_empty_denominator():
    assert figure(90, 100, 0.95)["shortfall"] == 5
    assert figure(95, 100, 0.95)["met"] is True
    assert figure(949, 1000, 0.95)["shortfall"] == 1
    empty = figure(0, 0, 0.95)
    assert empty["share"] is None and empty["met"] is None


def test_figures_by_area_with_overlapping_membership():
    import pandas as pd

    t = target(share=0.5)
    weights = np.array([10, 5, 1], dtype=np.int64)
    passed = np.array([True, False, True])
    members = pd.DataFrame({"position": [0, 1, 1, 2], "area_id": ["a", "a", "b", "b"]})
    out = figures_by_area(t, weights, passed, members).set_index("area_id")
    assert out.loc["a", "numerator"] == 10 and out.loc["a", "denominator"] == 15
    assert out.loc["b", "numerator"] == 1 and out.loc["b", "denominator"] == 6
    assert bool(out.loc["b", "met"]) is False and out.loc["b", "shortfall"] == 2


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["b", "a", "c10", "c9", "ä"]), st.booleans()),
        min_size=1,
        max_size=40,
    ),
    st.booleans(),
    st.booleans(),
)
def test_figures_by_area_by_code_equal_a_groupby(rows, categorical, whole):  # type: ignore[no-untyped-def]
    """Sums by area code (plain or categorical ids) equal pandas' sorted groupby; also when
    every address is listed once in order (the levels the pipeline sums without gathers),
    and with the codes given (one level, several targets)."""
    import pandas as pd

    from coverage.compliance import area_codes

    t = target(share=0.75)
    n = 6
    weights = np.arange(1, n + 1, dtype=np.int64) * 3
    passed = np.array([True, False, True, True, False, False])
    ids = [a for _, a, _ in rows]
    positions = [p for p, _, _ in rows]
    if whole:
        positions, ids = list(range(n)), [ids[i % len(ids)] for i in range(n)]
    members = pd.DataFrame(
        {"position": positions, "area_id": pd.Categorical(ids) if categorical else ids}
    )
    out = figures_by_area(t, weights, passed, members)
    given_codes = figures_by_area(t, weights, passed, members, area_codes(members["area_id"]))
    pd.testing.assert_frame_equal(given_codes, out)
    plain = pd.DataFrame({"area": ids, "pos": positions})
    plain["den"] = weights[plain["pos"]]
    plain["num"] = np.where(passed[plain["pos"]], plain["den"], 0)
    sums = plain.groupby("area", sort=True)[["num", "den"]].sum()
    assert out["area_id"].tolist() == sums.index.tolist()
    assert out["numerator"].tolist() == sums["num"].tolist()
    assert out["denominator"].tolist() == sums["den"].tolist()


@hsettings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["2061", "1980", "2085"])), min_size=1)
)
def test_main_kommun_equals_a_groupby(rows):  # type: ignore[no-untyped-def]
    """The kommun most of an area's addresses lie in (ties: lowest code), by brute force."""
    import pandas as pd

    from coverage.areas import majority_label
    from coverage.compliance import area_codes

    areas = pd.Series(pd.Categorical([f"a{a}" for a, _ in rows]))
    codes, ids = area_codes(areas)
    main = majority_label(codes, np.array([k for _, k in rows], dtype=object))
    for i, area in enumerate(ids):
        ks = [k for a, k in rows if f"a{a}" == area]
        best = max(ks.count(k) for k in ks)
        assert main[i] == min(k for k in ks if ks.count(k) == best)


def test_timeline_first_year_met():
    t = target(share=0.9, deadline=date(2028, 12, 31))
    weights = np.array([80, 10, 10], dtype=np.int64)
    passed_now = np.array([True, False, False])
    pass_year = np.array([2026, 2027, np.nan])
    tl = timeline(t, weights, passed_now, pass_year, 2026, [2027, 2029])
    assert [p["share"] for p in tl["years"]] == [0.8, 0.9, 0.9]
    assert tl["first_year_met"] == 2027 and tl["met_by_deadline"] is True


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # address
            st.integers(0, 2),  # status: connected, passed, near
            st.sampled_from([10.0, 100.0, 1000.0, float("nan")]),  # down
            st.sampled_from([100.0, 1000.0, float("nan")]),  # upgradeable to
            st.booleans(),  # open
        ),
        max_size=40,
    ),
    st.sets(st.integers(0, 2), min_size=1),
    st.booleans(),
    st.booleans(),
)
def test_best_offers_equal_brute_force(rows, counted, need_gig, need_open):  # type: ignore[no-untyped-def]
    """The compiled best-candidate pass against scoring every candidate in Python."""
    from coverage.kernel import best_offers

    rows = sorted(rows, key=lambda r: r[0])  # candidates come sorted by address
    col = list(zip(*rows, strict=True)) if rows else [[]] * 5
    mask = np.zeros(3, dtype=bool)
    mask[list(counted)] = True
    best, score = best_offers(
        np.array(col[0], dtype=np.int64),
        np.array(col[1], dtype=np.int8),
        np.array(col[2], dtype=float),
        np.array(col[3], dtype=float),
        np.array(col[4], dtype=bool),
        mask,
        100.0,
        need_gig,
        1000.0,
        need_open,
        7,
    )

    def conditions(r):  # type: ignore[no-untyped-def]
        met = 0
        for ok in (
            r[1] in counted,
            r[2] >= 100.0,
            not need_gig or r[3] >= 1000.0,
            not need_open or r[4],
        ):
            if not ok:
                break
            met += 1
        return met

    for a in range(7):
        mine = [i for i, r in enumerate(rows) if r[0] == a]
        want = min(mine, key=lambda i: (-conditions(rows[i]), i)) if mine else -1
        assert best[a] == want
        assert score[a] == (conditions(rows[want]) if mine else -1)
