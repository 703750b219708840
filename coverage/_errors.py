"""Domain exceptions of bbplan.

Each exception subclasses the builtin it refines (as osmnx does), so callers that only know
``ValueError`` or ``FileNotFoundError`` still catch them; the CLI and the API map them to an
exit code or an HTTP status in one place each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coverage._validate import Problem


class BBPlanError(Exception):
    """Base class of every error bbplan raises on purpose."""


class InputFileError(BBPlanError, ValueError):
    """An input file cannot be used at all; ``problems`` lists every reason found at once."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p.describe()}" for p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s), the file cannot be used:\n{lines}")


class InputNotFoundError(BBPlanError, FileNotFoundError):
    """An input path does not exist or is not a readable file."""


class CRSMissingError(InputFileError):
    """An input has no CRS and none was given with ``--crs``."""


class TargetConfigError(BBPlanError, ValueError):
    """A targets TOML file is malformed or invalid; the message lists every problem."""


class SettingsError(BBPlanError, ValueError):
    """Invalid engine settings (distances, speed table...)."""


class RunNotFoundError(BBPlanError, LookupError):
    """A named run does not exist in the runs folder."""


class RunExistsError(BBPlanError, FileExistsError):
    """A run with this id already exists; runs are immutable and never overwritten."""


class RunIntegrityError(BBPlanError, ValueError):
    """A run folder's files do not match its manifest."""
