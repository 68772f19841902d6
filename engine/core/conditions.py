"""Conditions below the rule language: the tests a branch compiles to, and the one Python evaluator.

Two forms of one condition exist.  The typed condition (:mod:`semantics`: ``TAtom``, ``TGroup``,
``TNot``, ``TTruth``) is what the analyst wrote, with types.  Its *tests* form (``Test``, ``And``,
``Or`` over typed references) is what :mod:`compile` makes of it for one period: parameters folded
in, negation pushed to the tests, ``in`` spread into equalities, a nullable fact guarded by its
``GivenRef``.  Only :mod:`compile` turns tests into durable_rules JSON, and only it knows
durable_rules' fact names; every other reader (lint, why-not) sees ``FactRef``/``DerivedRef``.

durable_rules decides every branch.  :func:`evaluate` reads either form in Python for the
explanation, the ``verify`` oracle, lint's satisfiability and why-not; its comparisons
(:func:`holds`) follow durable_rules on nulls and mixed types (tests/unit/test_conditions.py runs
a table of cases through both).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import catalog
from .operators import NEGATE
from .semantics import Operand, TAtom, TCondition, TGroup, TNot, TTruth

MAX_TERMS = 64


class _Absent:
    """A value the decision does not have: a derived fact not derived, a parameter not stated."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()

# ------------------------------------------------------------------ references


@dataclass(frozen=True)
class FactRef:
    """A fact field as compiled conditions read it (a nullable fact not given reads 0: test its
    ``GivenRef`` too)."""

    path: str


@dataclass(frozen=True)
class GivenRef:
    """Whether the document gives nullable fact ``path`` (a bool)."""

    path: str


@dataclass(frozen=True)
class DerivedRef:
    """A derived fact: value ``index`` of the rule in ``slot`` (``slot`` None: ``eligible``, which
    the engine derives)."""

    name: str
    slot: int | None
    index: int = 0


@dataclass(frozen=True)
class Const:
    value: Any


FieldRef = FactRef | GivenRef | DerivedRef


@dataclass(frozen=True)
class Test:
    """``left op right``: a field against a constant or another field; ``op`` a comparison."""

    __test__ = False  # not a pytest test class

    left: FieldRef
    op: str
    right: FieldRef | Const

    def negated(self) -> Test:
        return Test(self.left, NEGATE[self.op], self.right)


@dataclass(frozen=True)
class And:
    items: tuple[Tests, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Tests, ...]


Tests = Test | And | Or
TRUE = And(())
FALSE = Or(())


def _combine(items: Iterable[Tests], kind: type[And] | type[Or], absorbing: Tests) -> Tests:
    """Flatten nested ``kind`` nodes, drop repeats; ``absorbing`` wins (false in a conjunction,
    true in a disjunction), and so does a test next to its own negation."""
    flat: list[Tests] = []
    for item in items:
        if item == absorbing:
            return absorbing
        if isinstance(item, kind):
            flat.extend(item.items)
        else:
            flat.append(item)
    unique = tuple(dict.fromkeys(flat))
    tests = {item for item in unique if isinstance(item, Test)}
    if any(test.negated() in tests for test in tests if test.op in NEGATE):
        return absorbing  # x and not-x is false; x or not-x is true
    return unique[0] if len(unique) == 1 else kind(unique)


def conj(items: Iterable[Tests]) -> Tests:
    return _combine(items, And, FALSE)


def disj(items: Iterable[Tests]) -> Tests:
    return _combine(items, Or, TRUE)


def negate(node: Tests) -> Tests:
    if isinstance(node, Test):
        return node.negated()
    if isinstance(node, And):
        return disj(negate(i) for i in node.items)
    return conj(negate(i) for i in node.items)


def fields(node: Tests) -> set[FieldRef]:
    """Every field ``node`` reads (both sides of a field-to-field test)."""
    if isinstance(node, Test):
        return {node.left} | ({node.right} if not isinstance(node.right, Const) else set())
    result: set[FieldRef] = set()
    for item in node.items:
        result |= fields(item)
    return result


def dnf(node: Tests) -> list[tuple[Test, ...]]:
    """Disjunctive normal form; [] means false, [()] means true.  OverflowError past MAX_TERMS."""
    if isinstance(node, Test):
        return [(node,)]
    if isinstance(node, Or):
        terms: list[tuple[Test, ...]] = []
        for item in node.items:
            terms.extend(dnf(item))
            if len(terms) > MAX_TERMS:
                raise OverflowError
        return list(dict.fromkeys(terms))
    terms = [()]
    for item in node.items:
        sub = dnf(item)
        terms = [a + b for a in terms for b in sub]
        if len(terms) > MAX_TERMS:
            raise OverflowError
    return list(dict.fromkeys(tuple(dict.fromkeys(t)) for t in terms))


# ------------------------------------------------------------------ the evaluator


_COMPOSITE = (list, tuple, dict)


def _text(value: Any) -> Any:
    """How durable_rules sees a non-string next to a string: its JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def holds(op: str, left: Any, right: Any) -> bool:
    """``left op right`` as durable_rules decides it.  Nothing holds of an absent value but
    ``present: false`` and ``not_in``, nor of an array; a null field equals only null; a value
    differs from a null constant; bools are 0/1; a string meets a number or bool as text."""
    if op == "present":
        return (left is not ABSENT and left is not None) == bool(right)
    if op in ("in", "not_in"):
        inside = any(holds("eq", left, item) for item in (right if isinstance(right, tuple) else ()))
        return inside == (op == "in")
    if left is ABSENT or right is ABSENT:
        return False
    if isinstance(left, _COMPOSITE) or isinstance(right, _COMPOSITE):
        return False  # durable_rules matches no comparison of an array or object
    if left is None or right is None:
        return (left is None and right is None) if op == "eq" else (op == "ne" and left is not None)
    if isinstance(left, str) != isinstance(right, str):
        # durable_rules is not consistent for a numeric string ('5' against 5 depends on the other
        # tests of the ruleset); the checker never lets a string meet a number
        left, right = _text(left), _text(right)
    try:
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        if op == "lt":
            return bool(left < right)
        if op == "le":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:  # values of no common order (a date against a set...): nothing holds
        return False


class Memory:
    """Values as a decision saw them: base facts, derived facts, parameters in force."""

    def __init__(self, base: Mapping[str, Any], derived: Mapping[str, Any],
                 params: Mapping[str, Any] | None = None):
        self.base = base
        self.derived = derived
        self.params = params or {}

    def value(self, ref: Operand | FieldRef | Const) -> Any:
        if isinstance(ref, Const):
            return ref.value
        if isinstance(ref, FactRef):
            return self.base.get(catalog.BY_PATH[ref.path].key, ABSENT)
        if isinstance(ref, GivenRef):
            return bool(self.base.get(catalog.BY_PATH[ref.path].set_key))
        if isinstance(ref, DerivedRef):
            return self.derived.get(ref.name, ABSENT)
        if ref.kind == "lit":
            return ref.value
        if ref.kind == "param":
            value = self.params.get(ref.name)
            return ABSENT if value is None else value  # not stated: compares with nothing
        if ref.kind == "derived":
            return self.derived.get(ref.name, ABSENT)
        spec = catalog.BY_PATH[ref.name]
        if spec.nullable and not self.base.get(spec.set_key):
            return ABSENT  # the rule language: a nullable fact not given has no value
        return self.base.get(spec.key, ABSENT)


@dataclass(frozen=True)
class Observation:
    """One atom met while evaluating a typed condition: its operands' values and whether it held."""

    atom: TAtom
    left: Any
    right: Any
    holds: bool


def evaluate(node: TCondition | Tests, memory: Memory, trail: list[Observation] | None = None) -> bool:
    """Does ``node`` hold in ``memory``?  Every typed atom met is appended to ``trail`` (all of
    them: no short cut, so an explanation lists each atom's values)."""
    if isinstance(node, Test):
        return holds(node.op, memory.value(node.left), memory.value(node.right))
    if isinstance(node, (And, Or)):
        results = [evaluate(item, memory, trail) for item in node.items]
        return all(results) if isinstance(node, And) else any(results)
    if isinstance(node, TTruth):
        return node.value
    if isinstance(node, TGroup):
        results = [evaluate(item, memory, trail) for item in node.items]
        return all(results) if node.kind == "all" else any(results)
    if isinstance(node, TNot):
        return not evaluate(node.item, memory, trail)
    left, right = memory.value(node.left), memory.value(node.right)
    result = Observation(node, left, right, holds(node.op, left, right))
    if trail is not None:
        trail.append(result)
    return result.holds


def first_case(conditions: Sequence[TCondition], memory: Memory) -> int:
    """The index of the first condition that holds (``len(conditions)``: none does, the else)."""
    return next((index for index, cond in enumerate(conditions) if evaluate(cond, memory)), len(conditions))


# ------------------------------------------------------------------ satisfiability


def satisfiable(node: Tests) -> bool:
    """Can ``node`` hold for some facts?  A DNF term can when every field it tests against
    constants has a value passing all those tests (field-to-field tests, and conditions too large
    to expand, are assumed satisfiable).  The values tried are the field's domain (enums, bools)
    or the constants and their neighbours, which is enough: between bounds, the first value not
    excluded is a bound or next to an excluded constant."""
    if node == FALSE:
        return False
    if node == TRUE:
        return True
    try:
        terms = dnf(node)
    except OverflowError:
        return True
    return any(_term_satisfiable(term) for term in terms)


def _term_satisfiable(term: tuple[Test, ...]) -> bool:
    by_field: dict[FieldRef, list[Test]] = {}
    for test in term:
        if isinstance(test.right, Const):
            by_field.setdefault(test.left, []).append(test)
    return all(any(all(holds(t.op, value, t.right.value) for t in tests)  # type: ignore[union-attr]
                   for value in _candidates(ref, tests))
               for ref, tests in by_field.items())


def _candidates(ref: FieldRef, tests: list[Test]) -> list[Any]:
    """Values worth trying for ``ref`` against ``tests`` (all with constants)."""
    constants = [t.right.value for t in tests if isinstance(t.right, Const)]
    domain = _domain(ref)
    if domain:
        return [*domain, *(c for op, c in zip((t.op for t in tests), constants) if op == "eq")]
    found: list[Any] = list(constants)
    for value in constants:
        if isinstance(value, bool):
            found.append(not value)
        elif isinstance(value, int):
            found += [value - 1, value + 1]
        elif isinstance(value, str):
            found += ["", value + "\0"]  # below everything; right after ``value``
    if not found:
        found.append(0)
    return found


def _domain(ref: FieldRef) -> tuple[Any, ...]:
    if isinstance(ref, GivenRef):
        return (True, False)
    if isinstance(ref, FactRef):
        vtype = catalog.BY_PATH[ref.path].type
        if vtype.kind == "enum":
            return tuple(vtype.domain)
        if vtype.kind == "bool":
            return (True, False)
    return ()
