"""Text columns from codes and positions equal the plain object-array construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage._text import duplicated_all, is_increasing, take_text, text_from_codes

LABELS = ["", "too_far", "åäö", "x,y"]


def test_text_from_codes_by_hand() -> None:
    got = pd.Series(text_from_codes(np.array([1, 0, 2, 1], dtype=np.int8), LABELS))
    assert got.tolist() == ["too_far", "", "åäö", "too_far"]
    assert got.dtype == pd.Series(["a"]).dtype  # pandas' default text dtype


def test_no_codes_give_an_empty_text_column() -> None:
    # (An empty object array would stay ``object`` in pandas; the column is text whatever.)
    got = pd.Series(text_from_codes(np.zeros(0, dtype=np.int8), LABELS))
    assert len(got) == 0 and got.dtype == pd.Series(["a"]).dtype


def test_codes_outside_the_labels_are_refused() -> None:
    with pytest.raises(ValueError, match=r"codes must lie in 0\.\.3"):
        text_from_codes(np.array([0, 4]), LABELS)
    with pytest.raises(ValueError):
        text_from_codes(np.array([-1]), LABELS)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(LABELS) - 1), min_size=1, max_size=50))
def test_text_from_codes_equals_object_array(codes: list[int]) -> None:
    c = np.asarray(codes, dtype=np.int64)
    want = pd.Series(np.asarray(LABELS, dtype=object)[c])
    pd.testing.assert_series_equal(pd.Series(text_from_codes(c, LABELS)), want)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(max_size=4), max_size=8),
    st.lists(st.integers(-1, 7), max_size=30),
)
def test_take_text_equals_object_gather(values: list[str], positions: list[int]) -> None:
    pos = np.asarray([p if p < len(values) else -1 for p in positions], dtype=np.int64)
    source = pd.Series(values, dtype=object)
    objects = source.to_numpy(dtype=object)
    want = pd.Series(
        np.asarray([objects[p] if p >= 0 else "" for p in pos], dtype=object), dtype=object
    ).astype(pd.Series(["a"]).dtype)
    pd.testing.assert_series_equal(pd.Series(take_text(source, pos)), want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "", "åäö", "a "]), max_size=30), st.booleans())
def test_duplicated_all_equals_pandas(values: list[str], with_missing: bool) -> None:
    series = pd.Series(values + ([None] if with_missing else []), dtype=pd.Series(["a"]).dtype)
    want = series.duplicated(keep=False).to_numpy()
    np.testing.assert_array_equal(duplicated_all(series), want)
    objects = series.astype(object)  # not a text dtype: pandas' own answer
    np.testing.assert_array_equal(duplicated_all(objects), want)


def test_duplicated_all_across_chunks() -> None:
    # A concat leaves several Arrow chunks: a value repeated across them is a duplicate.
    both = pd.concat([pd.Series(["a", "b"]), pd.Series(["c", "a"])], ignore_index=True)
    np.testing.assert_array_equal(duplicated_all(both), [True, False, False, True])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=3), max_size=12).map(sorted) | st.lists(st.text(max_size=3)),
    st.sampled_from([None, 0, -1]),
)
def test_is_increasing_equals_pandas(values: list[str], missing_at: int | None) -> None:
    """Sorted lists (the usual case) and any lists, any code points (astral ones order
    above U+FFFF in UTF-8 as in Python), with or without a missing value."""
    with_missing = list(values)
    if missing_at is not None:
        with_missing.insert(missing_at if missing_at == 0 else len(values), None)  # type: ignore[arg-type]
    series = pd.Series(with_missing, dtype=pd.Series(["a"]).dtype)
    assert is_increasing(series) == series.is_monotonic_increasing
    assert is_increasing(series.astype(object)) == series.is_monotonic_increasing


def test_is_increasing_across_chunks() -> None:
    both = pd.concat([pd.Series(["a", "b"]), pd.Series(["b", "c"])], ignore_index=True)
    assert is_increasing(both)
    assert not is_increasing(pd.concat([both, pd.Series(["a"])], ignore_index=True))
