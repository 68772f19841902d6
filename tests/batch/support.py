"""Helpers shared by the batch tests: a copy of a population with bad rows inserted."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULESETS = ROOT / "tests" / "fixtures" / "rulesets"  # the engine tests' frozen snapshot (tests/conftest.py)


def with_bad_rows(source: Path, target: Path, bad: dict[int, str]) -> list[str]:
    """Copy ``source`` inserting ``bad[i]`` as line ``i`` (0-based, in the output); returns the lines."""
    lines = source.read_text(encoding="utf-8").splitlines()
    for index in sorted(bad):
        lines.insert(index, bad[index])
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


BAD_ROWS = {
    5: "{not json",
    250: "",
    731: json.dumps({"request": "binding", "as_of": "2025-03-01", "relationship": "spouse", "bound_members": 1,
                     "authorizer": {"id": "341102198001011234", "insurance": "employee", "status": "normal",
                                    "region": "341102198001011234", "retired": False, "account_balance": "1.00"},
                     "beneficiary": {"id": "B-1", "insurance": "resident", "status": "normal", "region": "341122",
                                     "retired": False, "account_balance": "0.00"}}),
    1400: json.dumps({"request": "payment", "as_of": "2025-03-01", "relationship": "cousin", "bound_members": -1,
                      "authorizer": {"id": "A", "insurance": "employee", "status": "normal", "region": "110105",
                                     "retired": False, "account_balance": "1.00"},
                      "beneficiary": {"id": "B", "insurance": "resident", "status": "normal", "region": "110105",
                                      "retired": False, "account_balance": "0.00"}}),
}
