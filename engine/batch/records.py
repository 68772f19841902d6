"""Flat records (CSV rows, Parquet rows) <-> nested fact documents.

A CSV file or a Parquet table holds one fact document per row, one column per leaf field, named
by its dotted path: ``request``, ``as_of``, ``city``, ``authorizer.id``, ``authorizer.region``,
``beneficiary.account_balance``, ``authorization.limit``, ``expense.pooling_ytd.reimbursed``,
``switches.scope_widening`` …  The mapping, the same for both formats and for every engine:

* an empty cell (CSV ``""``, Parquet/Spark null) means the field is absent;
* ``true``/``false`` in a boolean field (``*.retired``, ``expense.cross_region_registered``) and a
  whole number in a counting field (``bound_members``, ``expense.hospital_level``,
  ``expense.chronic_conditions``) become a boolean or an integer; any other text is passed on
  as it is, so the normalizer reports it with its JSON pointer;
* money and dates stay text (``"3200.00"``, ``"2025-03-01"``); typed Parquet columns are
  accepted too: decimals become their exact text, dates ISO text, never a float;
* a Parquet column may also be a struct (``authorizer: struct<id, …>``): it is taken as it is.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any
from collections.abc import Mapping

BOOL_FIELDS = frozenset({"authorizer.retired", "beneficiary.retired", "expense.cross_region_registered"})
INT_FIELDS = frozenset({"bound_members", "expense.hospital_level", "expense.chronic_conditions"})
_WHOLE = re.compile(r"-?[0-9]+\Z")

# The columns `gongji synth --out x.csv` writes, in this order (every field a document can have).
COLUMNS: tuple[str, ...] = (
    "request", "as_of", "city", "relationship", "bound_members",
    *(f"{role}.{name}" for role in ("authorizer", "beneficiary")
      for name in ("id", "insurance", "status", "region", "retired", "account_balance")),
    "beneficiary.last_unbound",
    "authorization.start", "authorization.end", "authorization.limit",
    "expense.amount", "expense.category", "expense.hospital_level", "expense.institution_region",
    "expense.cross_region_registered", "expense.credential", "expense.chronic_conditions",
    "expense.pooling_ytd.deductible_paid", "expense.pooling_ytd.reimbursed",
)


def _cell(path: str, value: Any) -> Any:
    if isinstance(value, str):
        if path in BOOL_FIELDS and value in ("true", "false"):
            return value == "true"
        if path in INT_FIELDS and _WHOLE.match(value):
            return int(value)
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _cell(f"{path}.{k}", v) for k, v in value.items() if v is not None and v != ""}
    return value


def document_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The nested fact document of one flat record (see the module docstring for the mapping)."""
    document: dict[str, Any] = {}
    for column, value in record.items():
        if value is None or value == "":
            continue
        parts = column.split(".")
        node = document
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = _cell(column, value)
    return document


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The flat record of a nested document (the inverse of :func:`document_of` for CSV)."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        path = prefix + key
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        elif isinstance(value, bool):
            out[path] = "true" if value else "false"
        elif value is None:
            out[path] = ""
        else:
            out[path] = str(value)
    return out
