"""Shared fixtures: the repository paths and one compiled engine (with the cross-check on).

Engine tests run against ``tests/fixtures/rulesets``, a frozen snapshot of the rulesets, so that
an analyst's policy edit in ``rulesets/`` never breaks a test of the engine.  The shipped
rulesets are guarded by their own gates (tests/test_shipped_rulesets.py: policy cases, 100 %
coverage, lint) and by tests/test_properties.py.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from engine import Engine
from engine.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rulesets"
FIXTURES = ROOT / "tests" / "fixtures"
RULESETS = FIXTURES / "rulesets"  # the engine tests' own copy: see the module docstring

# The analysed-rulesets cache of this test run (and of the CLIs it starts): never the user's own.
if "GONGJI_CACHE_DIR" not in os.environ:
    os.environ["GONGJI_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="gongji-test-cache-")
    atexit.register(shutil.rmtree, _CACHE, True)

# The snapshot's *.test.yaml files are run by the unit tests that need them, not collected again.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The engine over the tests' frozen snapshot (engine behaviour, not current policy)."""
    return Engine.load(RULESETS, verify=True)


@pytest.fixture(scope="session")
def shipped_engine() -> Engine:
    """The engine over the shipped rulesets (policy gates and properties)."""
    return Engine.load(SHIPPED, verify=True)


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``gongji ARGS...`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = cli_main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def binding(**overrides: object) -> dict:
    """A valid Chuzhou binding document; keyword arguments replace top-level fields."""
    doc = {
        "request": "binding", "as_of": "2025-03-01",
        "authorizer": {"id": "341102198001011234", "insurance": "employee", "status": "normal",
                       "region": "341102", "retired": False, "account_balance": "3200.00"},
        "beneficiary": {"id": "B-001", "insurance": "resident", "status": "normal", "region": "341122",
                        "retired": False, "account_balance": "0.00"},
        "relationship": "spouse", "bound_members": 2,
    }
    doc.update(overrides)
    return doc


def payment(**overrides: object) -> dict:
    """A valid Chuzhou payment document; keyword arguments replace top-level fields."""
    doc = binding(request="payment")
    doc["beneficiary"] = dict(doc["beneficiary"], insurance="employee", account_balance="50.00")
    doc["authorization"] = {"start": "2025-01-01", "end": "2025-12-31"}
    doc["expense"] = {"amount": "1000.00", "category": "outpatient", "hospital_level": 1,
                      "institution_region": "341102", "cross_region_registered": False, "credential": "own",
                      "pooling_ytd": {"deductible_paid": "0.00", "reimbursed": "0.00"}}
    doc.update(overrides)
    return doc
