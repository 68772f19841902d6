"""Shared fixtures: the repository paths and one compiled engine (with the cross-check on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine
from engine.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load(RULESETS, verify=True)


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
