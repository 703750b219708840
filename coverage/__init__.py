"""bbplan's spatial engine: address points x access networks -> per-address results and figures.

The package is named ``coverage`` by the customer's layout; it shadows coverage.py, which bbplan
therefore never uses (test coverage, if measured, is measured with slipcover).
"""

from coverage._errors import (
    BBPlanError,
    CRSMissingError,
    InputFileError,
    InputNotFoundError,
    RunExistsError,
    RunIntegrityError,
    RunNotFoundError,
    SettingsError,
    TargetConfigError,
)
from coverage.settings import CoverageSettings

__all__ = [
    "BBPlanError",
    "CRSMissingError",
    "CoverageSettings",
    "InputFileError",
    "InputNotFoundError",
    "RunExistsError",
    "RunIntegrityError",
    "RunNotFoundError",
    "SettingsError",
    "TargetConfigError",
]
