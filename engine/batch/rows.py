"""One input row -> one output row: a decision summary (or the full decision), or an error row.

Output columns (``--fields summary``), in this order:

``row``             the input row index (0-based: JSON Lines line, CSV data row, Parquet row)
``status``          ``decided`` or ``error``
``authorizer_id``, ``beneficiary_id``  the document's ids, hashed like the decision log (``h:…``)
``city``, ``request``, ``as_of``, ``eligible``, ``fail_codes``  (failing reason codes, in the
                    decision's order)
``pooling_fund``, ``beneficiary_account``, ``authorizer_account``, ``cash``, ``total``  the payment
                    plan in yuan (exact text, 2 decimals; empty for bindings)
``plan_complete``, ``plan_incomplete``  false and the reason codes when a share of the plan is not
                    computed (the sources do not give its numbers): never a definite-looking figure
``ruleset_sha256``  the content hash of the city ruleset that decided
``error_codes``, ``error_pointers``, ``error_messages``  for error rows: every problem of the row,
                    ids masked

``--fields full`` adds ``decision``: the whole decision JSON (CONTRACT.md).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from ..core import catalog, values
from ..core.errors import EngineError, Issue, SourceLocation
from ..core.privacy import mask_id, pseudonym
from .records import document_of

PLAN = catalog.PLAN_SOURCES
SUMMARY_COLUMNS: tuple[str, ...] = (
    "row", "status", "authorizer_id", "beneficiary_id", "city", "request", "as_of", "eligible", "fail_codes",
    *PLAN, "total", "plan_complete", "plan_incomplete", "ruleset_sha256", "error_codes", "error_pointers",
    "error_messages")
FULL_COLUMNS: tuple[str, ...] = (*SUMMARY_COLUMNS, "decision")
LIST_COLUMNS = frozenset({"fail_codes", "plan_incomplete", "error_codes", "error_pointers", "error_messages"})
BOOL_COLUMNS = frozenset({"eligible", "plan_complete"})
MONEY_COLUMNS = frozenset({*PLAN, "total"})
FIELDS = ("summary", "full")

_ID_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")

Mark = Callable[[int], None]


class RowFailure(Exception):
    """An unexpected error (a bug, not bad input) while deciding one row: the job must stop."""

    def __init__(self, row: int, detail: str):
        super().__init__(f"row {row}: {detail}")
        self.row = row
        self.detail = detail


def columns(fields: str) -> tuple[str, ...]:
    return FULL_COLUMNS if fields == "full" else SUMMARY_COLUMNS


def mask_text(text: str) -> str:
    """ID-card numbers inside a message, masked (the engine masks its own; this is belt and braces)."""
    return _ID_NUMBER.sub(lambda m: mask_id(m.group(0)), text)


def parse_item(fmt: str, item: Any) -> Any:
    """The fact document of one raw input item: a JSON Lines text line, or a flat record."""
    if fmt == "jsonl":
        return json.loads(item, parse_float=Decimal)
    return document_of(item)


def _ids(document: Any, salt: bytes) -> tuple[str | None, str | None]:
    out: list[str | None] = []
    for role in ("authorizer", "beneficiary"):
        party = document.get(role) if isinstance(document, dict) else None
        pid = party.get("id") if isinstance(party, dict) else None
        out.append(pseudonym(pid, salt) if isinstance(pid, str) and pid else None)
    return out[0], out[1]


def _blank(row: int, fields: str) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(columns(fields))
    record["row"] = row
    for name in LIST_COLUMNS:
        record[name] = []
    return record


def error_row(row: int, issues: Sequence[Issue], fields: str, document: Any = None,
              salt: bytes = b"") -> dict[str, Any]:
    record = _blank(row, fields)
    record["status"] = "error"
    if document is not None:
        record["authorizer_id"], record["beneficiary_id"] = _ids(document, salt)
        if isinstance(document, dict):
            request = document.get("request")
            record["request"] = request if request in ("binding", "payment") else None
    record["error_codes"] = [i.code for i in issues]
    record["error_pointers"] = [i.location.pointer or "/" for i in issues]
    record["error_messages"] = [mask_text(i.message) for i in issues]
    return record


def decision_row(row: int, decision: Any, document: Any, fields: str, salt: bytes) -> dict[str, Any]:
    record = _blank(row, fields)
    record["status"] = "decided"
    record["authorizer_id"], record["beneficiary_id"] = _ids(document, salt)
    record["city"] = decision.city
    record["request"] = decision.request
    record["as_of"] = values.format_date(decision.as_of)
    record["eligible"] = bool(decision.eligible)
    record["fail_codes"] = [template.head["code"] for template, _, _ in decision.reason_parts() if template.fails]
    if decision.payment is not None:
        for item in decision.payment["plan"]:
            record[item["source"]] = item["amount"]
        record["total"] = decision.payment["total"]
        record["plan_complete"] = bool(decision.payment.get("complete", True))
        record["plan_incomplete"] = list(decision.payment.get("incomplete", ()))
    record["ruleset_sha256"] = decision.sha256
    if fields == "full":
        record["decision"] = decision.to_json()
    return record


def decide_row(engine: Any, row: int, fmt: str, item: Any, fields: str, salt: bytes,
               as_of: str | None = None) -> dict[str, Any]:
    """One output row; bad input becomes an error row, an unexpected error a :class:`RowFailure`."""
    try:
        document = parse_item(fmt, item)
    except (ValueError, RecursionError) as exc:
        detail = f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)
        code = "empty_line" if fmt == "jsonl" and not str(item).strip() else "invalid_json"
        return error_row(row, [Issue(code, f"not a JSON document: {detail}", SourceLocation(pointer="/"))], fields)
    try:
        decision = engine.decide(document, as_of=as_of)
    except EngineError as error:
        return error_row(row, error.issues, fields, document, salt)
    except Exception as exc:  # a bug: stop the job and name the row
        raise RowFailure(row, f"{type(exc).__name__}: {mask_text(str(exc))}") from exc
    return decision_row(row, decision, document, fields, salt)


# ------------------------------------------------------------------------------ the worker side


def load_engine(*dirs: str, switches: Mapping[str, str] | None = None) -> Any:
    """Worker state for ``gongji batch``: one engine (loaded once per worker process)."""
    from ..runtime.api import Engine

    return warm(Engine.load(dirs[0], switches=switches))


def warm(engine: Any) -> Any:
    """Compile every period of every city for the default switches now: forked workers then share
    the compiled rulesets instead of each compiling them again on first use."""
    engine.check(all_switches=False)
    return engine


def decide_chunk(engine: Any, items: Sequence[Any], first: int, mark: Mark, *, fmt: str, fields: str,
                 salt: bytes, as_of: str | None = None) -> list[dict[str, Any]]:
    """The output rows of one chunk of consecutive input rows."""
    out = []
    for offset, item in enumerate(items):
        mark(first + offset)
        out.append(decide_row(engine, first + offset, fmt, item, fields, salt, as_of))
    return out


def money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
