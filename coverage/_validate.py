"""Collect every problem of an input at once, then decide: reject rows, or refuse the file.

Readers call the ``check_*`` helpers, each of which returns a boolean mask of bad rows and
appends one :class:`Problem` per bad cell to a :class:`ProblemLog`. Row problems become rows of
the run's ``rejected.csv``; file problems stop the run with an :class:`InputFileError` that names
all of them, not only the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coverage._errors import CRSMissingError, InputFileError

_MAX_SHOWN_VALUE = 60


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= _MAX_SHOWN_VALUE else text[: _MAX_SHOWN_VALUE - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One problem: where it is (file, row, id, column), the value found and what was expected.

    ``row`` is the 1-based data row number in the file (header excluded); ``None`` for a
    problem of the whole file.
    """

    file: str
    expected: str
    row: int | None = None
    row_id: str | None = None
    column: str | None = None
    value: Any = None

    def describe(self) -> str:
        """Human-readable one-liner naming file, row, id, column, value and expectation."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.row_id is not None:
            where.append(f"id '{self.row_id}'")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        loc = ", ".join(where)
        found = f"found {_show(self.value)}" if self.value is not None else ""
        head = ": ".join(part for part in (loc, found) if part)
        prefix = f"{head}; " if head else ""
        return f"{prefix}expected {self.expected}"

    def as_record(self, layer: str) -> dict[str, Any]:
        """The ``rejected.csv`` row for this problem."""
        return {
            "file": self.file,
            "layer": layer,
            "row": self.row,
            "id": self.row_id,
            "column": self.column,
            "value": None if self.value is None else str(self.value),
            "reason": f"expected {self.expected}",
        }


@dataclass
class ProblemLog:
    """Problems of one input file, split into row problems and whole-file problems."""

    file: str
    rows: list[Problem] = field(default_factory=list)
    fatal: list[Problem] = field(default_factory=list)
    crs_missing: bool = False

    def file_problem(self, expected: str, column: str | None = None, value: Any = None) -> None:
        """Record a problem that makes the whole file unusable."""
        self.fatal.append(Problem(self.file, expected, column=column, value=value))

    def row_problems(
        self,
        frame: pd.DataFrame,
        bad: np.ndarray[Any, np.dtype[np.bool_]] | pd.Series,
        column: str | None,
        expected: str,
        values: pd.Series | None = None,
    ) -> None:
        """Record one problem per row flagged in ``bad`` (frame carries ``_row`` and ``_id``)."""
        mask = np.asarray(bad, dtype=bool)
        if not mask.any():
            return
        sub = frame.loc[mask]
        shown = (
            values.loc[mask]
            if values is not None
            else (sub[column] if column is not None and column in sub.columns else None)
        )
        ids = sub["_id"].tolist()
        rows = sub["_row"].tolist()
        vals = shown.tolist() if shown is not None else [None] * len(sub)
        for row, rid, val in zip(rows, ids, vals, strict=True):
            self.rows.append(
                Problem(
                    self.file,
                    expected,
                    row=int(row),
                    row_id=_id_text(rid),
                    column=column,
                    value=_value_or_null(val),
                )
            )

    def raise_if_fatal(self) -> None:
        """Stop with every whole-file problem at once, if there are any."""
        if self.crs_missing:
            raise CRSMissingError(self.file, self.fatal)
        if self.fatal:
            raise InputFileError(self.file, self.fatal)

    def rejected_rows(self) -> set[int]:
        """Row numbers (1-based) that have at least one row problem."""
        return {p.row for p in self.rows if p.row is not None}


def _id_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _value_or_null(value: Any) -> Any:
    if value is None or value is pd.NA:
        return "<empty>"
    if isinstance(value, float) and np.isnan(value):
        return "<empty>"
    return value
