"""Schemathesis against the app's own OpenAPI schema, as public, planner and admin callers:
no server error, and every response conforms to the schema."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from typer.testing import CliRunner

from api.app import create_app
from api.security import hash_key
from api.settings import Settings
from coverage.cli import app as cli

# No server error and no schema violation. Not used: checks that expect unknown query
# parameters to be refused, every schema-valid value to be accepted (a bbox of zeros is
# schema-valid text but not a box), or the key header to be required on public routes; the
# role boundaries are tested route by route in test_api.py.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KEYS = {"public": None, "planner": "planner-key", "admin": "admin-key"}
# The schema is loaded at import (schemathesis parametrizes at collection); the app reads its
# runs lazily, so the runs are made by the fixture below before any request is sent.
RUNS = Path(tempfile.mkdtemp(prefix="bbplan-schemathesis-"))
atexit.register(shutil.rmtree, RUNS, ignore_errors=True)
APP = create_app(
    Settings(
        runs_dir=RUNS,
        planner_key_sha256=[hash_key("planner-key")],
        admin_key_sha256=[hash_key("admin-key")],
        reload_interval_s=0,
        basemap_url="",
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def two_runs() -> None:
    for run_id in ("r1", "r2"):
        if not (RUNS / run_id).exists():
            res = CliRunner().invoke(
                cli,
                [
                    "run",
                    "--runs-dir",
                    str(RUNS),
                    "--run-id",
                    run_id,
                    "--evaluation-date",
                    "2026-06-01",
                ],
            )
            assert res.exit_code == 0, res.output


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    for key in KEYS.values():  # every generated request as each role
        case.call_and_validate(headers={"X-API-Key": key} if key else None, checks=CHECKS)
