"""Small-count suppression: primary, complementary, and that subtraction reveals nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.disclosure import suppress_area_table, suppress_figures, suppression_mask


def test_one_small_area_gets_a_complementary_partner():
    # Areas of 50, 3, 20 and 8 units: 3 is small; hiding it alone lets total - others = 3,
    # so the smallest published area (8) is hidden too: 3 + 8 = 11 >= 5.
    mask = suppression_mask([50, 3, 20, 8], 5, ["a", "b", "c", "d"])
    assert mask.tolist() == [False, True, False, True]


def test_two_small_areas_whose_sum_is_still_small_get_a_third():
    mask = suppression_mask([1, 2, 40, 30, 6], 5, list("abcde"))
    assert mask.tolist() == [True, True, False, False, True]  # 1 + 2 + 6 = 9


def test_zero_is_published_and_nothing_hidden_without_small_cells():
    assert suppression_mask([0, 0, 12, 7], 5).tolist() == [False] * 4
    assert suppression_mask([0, 3, 0], 5).tolist() == [False, True, False]  # nothing left to add


def test_figures_and_tables_use_the_same_rule():
    rows = [
        {
            "area_id": a,
            "numerator": n,
            "denominator": d,
            "share": n / d,
            "threshold": 0.9,
            "met": False,
            "shortfall": 1,
        }
        for a, n, d in (("x", 40, 50), ("y", 1, 3), ("z", 7, 9))
    ]
    out = suppress_figures(rows, 5)
    assert [r["suppressed"] for r in out] == [False, True, True]
    assert out[1]["numerator"] is None and out[2]["share"] is None and out[0]["numerator"] == 40
    table = pd.DataFrame(
        {
            "area_id": ["x", "y", "z"],
            "households": [50, 3, 9],
            "t__numerator": [40, 1, 7],
            "t__denominator": [50, 3, 9],
            "t__share": [0.8, 1 / 3, 7 / 9],
            "t__met": [False] * 3,
            "t__shortfall": [5, 2, 2],
        }
    )
    pub = suppress_area_table(table, ["t"], 5)
    assert pub["t__suppressed"].tolist() == [False, True, True]
    assert pub["households"].tolist() == [50, None, None]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=12), st.integers(2, 10))
def test_subtraction_never_reveals_a_small_count(values, min_units):
    mask = suppression_mask(values, min_units)
    v = np.asarray(values)
    small = (v > 0) & (v < min_units)
    assert mask[small].all()  # every small cell is hidden
    if mask.any():
        # What an attacker gets from total - published: the sum of the hidden cells. It is
        # either a sum over at least two cells reaching min_units, or everything non-zero
        # is hidden already (then the total itself is the only figure).
        hidden_sum = v[mask].sum()
        everything = mask[v > 0].all()
        assert everything or (mask.sum() >= 2 and hidden_sum >= min_units)
