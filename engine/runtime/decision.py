"""The Decision object: the contract's JSON (docs/CONTRACT.md), rendered lazily and deterministically."""

from __future__ import annotations

import json
from typing import Any

from ..core import catalog, values
from ..core.errors import EvaluationError, Issue, SourceLocation
from . import render
from .evaluate import Run
from .facts import Facts


class Decision:
    """One decision. ``to_dict()`` is the contract's JSON; same input -> same text.

    Nothing is rendered until asked for: ``eligible``, ``payment`` (the plan), ``fail_codes``
    and ``summary()`` come straight from the run; ``to_dict()``, ``to_json()`` and the
    explanations render reasons, messages, facts and citations on first use."""

    __slots__ = ("run", "facts", "eligible", "request", "city", "city_name", "as_of", "switches", "ruleset_id",
                 "ruleset_version", "sha256", "payment", "_dict", "_json", "_parts")

    def __init__(self, run: Run, facts: Facts, city_name: str, ruleset_version: str, sha256: str,
                 switches: dict[str, str]):
        self.run = run
        self.facts = facts
        self.eligible = run.eligible
        self.request = facts.request
        self.city = run.segment.city
        self.city_name = city_name
        self.as_of = facts.as_of
        self.switches = switches
        self.ruleset_id = run.segment.city
        self.ruleset_version = ruleset_version
        self.sha256 = sha256
        self.payment = _plan(run) if facts.request == "payment" else None
        self._dict: dict[str, Any] | None = None
        self._json: str | None = None
        self._parts: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The decision as in docs/CONTRACT.md (plus extensions). Shared parts are read-only."""
        if self._dict is None:
            segment = self.run.segment
            seg_renderer = segment._renderer or render.renderer(segment)
            reasons, derived = seg_renderer.reasons_and_derived(self.run)
            out: dict[str, Any] = {
                "request": self.request,
                "city": self.city,
                "as_of": render.format_date(self.as_of),
                "eligible": self.eligible,
                "reasons": reasons,
            }
            if self.payment is not None:
                out["payment"] = self.payment
            out["parameters"] = seg_renderer.parameters
            out["derived"] = derived
            out["switches"] = seg_renderer.switches_dict(self.switches)
            out["ruleset"] = seg_renderer.ruleset_dict(self.ruleset_id, self.ruleset_version, self.sha256)
            self._dict = out
        return self._dict

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON text (compact, non-ASCII characters as is; ``.encode()`` gives the UTF-8
        bytes); identical for the same input."""
        if indent is not None:
            return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)
        if self._json is None:
            segment = self.run.segment
            seg_renderer = segment._renderer or render.renderer(segment)
            reasons, derived = seg_renderer.reasons_and_derived_json(self.run)
            parts = [f'{{"request":"{self.request}","city":"{self.city}","as_of":"{render.format_date(self.as_of)}",'
                     f'"eligible":{"true" if self.eligible else "false"},"reasons":', reasons]
            if self.payment is not None:
                parts.append(',"payment":' + render.dumps(self.payment))
            parts.append(',"parameters":' + seg_renderer.parameters_json)
            parts.append(',"derived":' + derived)
            parts.append(',"switches":' + seg_renderer.switches_json(self.switches))
            parts.append(',"ruleset":' + seg_renderer.ruleset_json(self.ruleset_id, self.ruleset_version,
                                                                   self.sha256) + "}")
            self._json = "".join(parts)
        return self._json

    def reason_parts(self) -> list[Any]:
        if self._parts is None:
            self._parts = render.reason_parts(self.run)
        return self._parts

    def explain(self, lang: str = "zh", only_failures: bool = False) -> str:
        from .explain import explain_text

        return explain_text(self, lang, only_failures)

    def explanation(self) -> dict[str, Any]:
        from .explain import explanation_json

        return explanation_json(self)

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return list(self.to_dict()["reasons"])

    @property
    def fail_codes(self) -> list[str]:
        """Codes of the failing reasons, in the order of ``to_dict()["reasons"]``; nothing rendered."""
        codes = self.run.segment.fail_codes
        return [codes[key] for key in sorted(self.run.branch_of.items()) if key in codes]

    def summary(self) -> dict[str, Any]:
        """The small form for batch jobs and services, without rendering any reason:
        ``{"request", "city", "as_of", "eligible", "fail_codes", "ruleset": {"id", "version",
        "sha256"}}`` and, for payments, ``"plan"`` (amount by source, in paying order) and
        ``"total"``; amounts and dates as in ``to_dict()``."""
        out: dict[str, Any] = {"request": self.request, "city": self.city, "as_of": values.format_date(self.as_of),
                               "eligible": self.eligible, "fail_codes": self.fail_codes}
        if self.payment is not None:
            out["plan"] = {item["source"]: item["amount"] for item in self.payment["plan"]}
            out["total"] = self.payment["total"]
        out["ruleset"] = {"id": self.ruleset_id, "version": self.ruleset_version, "sha256": self.sha256}
        return out

    def __repr__(self) -> str:
        return f"<Decision {self.request} {self.city} {values.format_date(self.as_of)} eligible={self.eligible}>"


def _plan(run: Run) -> dict[str, Any]:
    """The ordered payment plan, with its invariants checked (never a silently wrong plan)."""
    derived = run.derived
    base = run.base
    amounts = {}
    for name, source in catalog.PLAN_FACTS.items():
        if name not in derived:
            raise _bad(f"no rule derived {name!r}")
        amounts[source] = derived[name]
    problems = []
    for source, amount in amounts.items():
        if not isinstance(amount, int) or isinstance(amount, bool):
            problems.append(f"{source} is not an amount: {amount!r}")
        elif amount < 0:
            problems.append(f"{source} is negative: {values.format_money(amount)}")
    if not problems:
        total = sum(amounts.values())
        if total != base["x_amt"]:
            problems.append(f"the plan sums to {values.format_money(total)}, not the expense "
                            f"{values.format_money(base['x_amt'])}")
        if not run.eligible and amounts["authorizer_account"]:
            problems.append("the shared account pays although the decision is not eligible")
        if amounts["authorizer_account"] > base["a_bal"]:
            problems.append("the shared account pays more than the authorizer's balance")
        if amounts["beneficiary_account"] > base["b_bal"]:
            problems.append("the beneficiary's account pays more than its balance")
    if problems:
        raise _bad("; ".join(problems))
    plan = [{"source": source, "amount": values.format_money(amounts[source])} for source in catalog.PLAN_SOURCES]
    incomplete = _incomplete(run)
    return {"plan": plan, "total": values.format_money(base["x_amt"]), "complete": not incomplete,
            "incomplete": incomplete}


def _incomplete(run: Run) -> list[str]:
    """Codes of the reasons (``incomplete: true`` in the ruleset) saying a share is not computed, in rule order."""
    segment = run.segment
    branches = segment._incomplete
    if branches is None:  # the segment's incomplete branches, in rule order: few or none
        branches = segment._incomplete = tuple(
            (rule.slot, branch.branch, branch.action.code) for rule in sorted(segment.rules, key=lambda r: r.slot)
            for branch in rule.branches if branch.action is not None and branch.action.source.incomplete)
    if not branches:
        return []
    branch_of = run.branch_of
    codes: list[str] = []
    for slot, branch, code in branches:
        if branch_of.get(slot) == branch and code not in codes:
            codes.append(code)  # type: ignore[arg-type]  # incomplete requires an outcome and code
    return codes


def _bad(message: str) -> EvaluationError:
    return EvaluationError([Issue("plan_invalid", f"payment plan rejected: {message}", SourceLocation())])
