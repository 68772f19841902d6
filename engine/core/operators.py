"""The condition operators, declared once: names, how they read, how they negate and flip.

The rule language (:mod:`model`), the lowering to durable_rules (:mod:`compile`), the condition
evaluator (:mod:`conditions`), explanations, diffs and why-not all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operator:
    name: str
    symbol: str  # in explanations: ``amount ≥ 300.00``
    inline: str  # in one-line condition text (diff): ASCII-friendly words for the set operators
    negation: str | None = None  # ``not (a op b)`` == ``a negation b`` when both have a value
    flipped: str | None = None  # ``a op b`` == ``b flipped a``
    must: tuple[str, str] = ("", "")  # why-not: "<fact> must be <value>" (zh, en)


_TABLE = (
    Operator("eq", "=", "=", "ne", "eq", ("必须为", "must be")),
    Operator("ne", "≠", "≠", "eq", "ne", ("不能为", "must not be")),
    Operator("lt", "<", "<", "ge", "gt", ("必须小于", "must be less than")),
    Operator("le", "≤", "≤", "gt", "ge", ("不能超过", "must be at most")),
    Operator("gt", ">", ">", "le", "lt", ("必须大于", "must be more than")),
    Operator("ge", "≥", "≥", "lt", "le", ("不能少于", "must be at least")),
    Operator("in", "∈", "in"),
    Operator("not_in", "∉", "not in"),
    Operator("present", "present", "present ="),
)

OPERATORS: dict[str, Operator] = {op.name: op for op in _TABLE}
NAMES: tuple[str, ...] = tuple(OPERATORS)
COMPARISONS: tuple[str, ...] = tuple(op.name for op in _TABLE if op.flipped is not None)
NEGATE: dict[str, str] = {op.name: op.negation for op in _TABLE if op.negation is not None}
FLIP: dict[str, str] = {op.name: op.flipped for op in _TABLE if op.flipped is not None}
