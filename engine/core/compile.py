"""Typed IR -> durable_rules rulesets, one per (city, switches, effective period, request type).

The timeline of a city is cut at every date where any rule or parameter version starts or
ends; inside one segment every parameter is a constant, so it is folded into the conditions
(``{param: region_scope, eq: same_pool}`` becomes true or false) and the compiled ruleset is
small and fast.  Conditions are put in negation normal form; a branch whose tests touch one
fact becomes one durable_rules rule with nested ``$and``/``$or``; a branch spanning several
facts is split into disjunctive normal form, one durable_rules rule per term (the driver
keeps the first firing of a branch).

Each case of a rule is guarded by the negation of the cases before it, and ``else`` by the
negation of all cases, so exactly one branch holds.  A check's pass branch that derives
nothing is not compiled: the driver establishes it after quiescence, when no other branch of
the rule fired although all the rule's inputs were present (stratified negation).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

from . import catalog, values
from .errors import Issue, SourceLocation
from .layering import ParamReference, ResolvedParameter, TypedParamVersion, View, variant_matches
from .model import Period
from .semantics import (Analysis, Operand, TAction, TAtom, TCall, TCondition, TExpression, TGroup, TNot, TTruth,
                        TVersion)

MAX_TERMS = 64
BASE = "m"
ELIGIBLE_OWNER = "e"
CATCH_ALL = "zz_catch_all"
CATCH_ALL_FACT = "z"  # the fact type of the catch-all when it does not watch the base fact
NEGATE = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}
FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
DURABLE_OP = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


class CompileProblem(Exception):
    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


# ------------------------------------------------------------------ lowered conditions


@dataclass(frozen=True)
class Test:
    """One primitive test on one fact: ``owner.key op value`` or ``owner.key op ref_owner.ref_key``."""

    __test__ = False  # not a pytest test class

    owner: str
    key: str
    op: str
    value: Any = None
    ref_owner: str | None = None
    ref_key: str | None = None

    def negated(self) -> Test:
        return Test(self.owner, self.key, NEGATE[self.op], self.value, self.ref_owner, self.ref_key)


@dataclass(frozen=True)
class And:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Any, ...]


TRUE = And(())
FALSE = Or(())


def _combine(items: Iterable[Any], kind: type, absorbing: Any) -> Any:
    """Flatten nested ``kind`` nodes, drop repeats; ``absorbing`` wins (false in a conjunction,
    true in a disjunction), and so does a test next to its own negation."""
    flat: list[Any] = []
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


def conj(items: Iterable[Any]) -> Any:
    return _combine(items, And, FALSE)


def disj(items: Iterable[Any]) -> Any:
    return _combine(items, Or, TRUE)


def negate(node: Any) -> Any:
    if isinstance(node, Test):
        return node.negated()
    if isinstance(node, And):
        return disj(negate(i) for i in node.items)
    return conj(negate(i) for i in node.items)


def owners(node: Any) -> set[str]:
    if isinstance(node, Test):
        return {node.owner} | ({node.ref_owner} if node.ref_owner else set())
    result: set[str] = set()
    for item in node.items:
        result |= owners(item)
    return result


def dnf(node: Any) -> list[tuple[Test, ...]]:
    """Disjunctive normal form; [] means false, [()] means true."""
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


# ------------------------------------------------------------------ compiled structures


@dataclass(frozen=True)
class ParamUse:
    """A parameter as used in one segment: the version in force and its value.

    When that version is ``{param: other}``, ``via`` is the use of ``other`` that supplies the
    value (the explanation shows both citations)."""

    param: ResolvedParameter
    version: TypedParamVersion | None
    via: ParamUse | None = None

    @property
    def value(self) -> Any:
        if self.via is not None:
            return self.via.value
        return self.version.value if self.version is not None else None


@dataclass
class CompiledBranch:
    slot: int
    branch: int
    action: TAction | None
    condition: Any  # folded, lowered condition (And/Or/Test), for explanations
    compiled: bool  # fires in durable_rules (else inferred)
    derive: Callable[[dict[str, Any], dict[str, Any]], tuple[Any, ...]] | None = None
    encode_fact: Callable[[str, tuple[Any, ...]], str] | None = None

    @property
    def outcome(self) -> str | None:
        return self.action.outcome if self.action is not None else None


@dataclass
class CompiledRule:
    slot: int
    version: TVersion
    branches: list[CompiledBranch]
    owner: str  # fact type of the facts this rule derives ("d<slot>")
    inputs: tuple[str, ...]  # derived facts read
    params: dict[str, ParamUse]
    stratum: int
    inferred: int | None  # index of the branch established by absence of the others

    @property
    def rule_id(self) -> str:
        return self.version.rule.id

    @property
    def kind(self) -> str:
        return self.version.kind


@dataclass
class Segment:
    """Everything needed to decide one request type within one effective period."""

    city: str
    request: str
    period: Period
    switches: tuple[tuple[str, str], ...]
    rules: list[CompiledRule]
    durable: dict[str, Any]
    names: dict[str, tuple[int, int]]  # durable rule name -> (slot, branch)
    derived_slot: dict[str, tuple[int, int]]  # derived fact -> (slot, field index)
    fact_keys: tuple[str, ...]
    stratum2: bool
    digest: str
    issues: list[Issue] = field(default_factory=list)
    handle: int | None = None
    encode_base: Callable[[str, dict[str, Any]], str] | None = None
    _renderer: Any = None  # render.SegmentRenderer, built on first use
    _settle_plan: Any = None  # evaluate.settle_plan, built on first use
    documents: tuple[tuple[str, str], ...] = ()  # document -> jurisdiction (citations.select)
    fail_codes: dict[tuple[int, int], str] = field(default_factory=dict)  # (slot, branch) of a failing outcome -> code
    assert_eligible: bool = False  # a compiled condition tests ``eligible``: assert it for stratum 2
    # rules whose inferred branch derives: (slot, branch, derived facts the rule reads), in slot order
    inferred_derivations: tuple[tuple[int, int, frozenset[str]], ...] = ()
    needs: tuple[frozenset[str], ...] = ()  # by slot: the derived facts the rule reads

    def __post_init__(self) -> None:
        self.fail_codes = {(rule.slot, branch.branch): branch.action.code for rule in self.rules
                           for branch in rule.branches if branch.action is not None and branch.outcome == "fail"}
        # indexed by slot; a rule that failed to compile leaves its slot empty (the segment then
        # carries issues and is never evaluated, but it is still built for the error report)
        needs = [frozenset()] * (max((rule.slot for rule in self.rules), default=-1) + 1)
        for rule in self.rules:
            needs[rule.slot] = frozenset(rule.inputs)
        self.needs = tuple(needs)
        self.inferred_derivations = tuple((rule.slot, rule.inferred, self.needs[rule.slot]) for rule in self.rules
                                          if rule.inferred is not None
                                          and rule.branches[rule.inferred].derive is not None)


# Distinct tests one compiled durable_rules ruleset may hold.  durable_rules keeps the tests that
# follow one node of its network in a fixed table of 512 buckets, and its lookup loops forever once
# that table is full (rete.c, findAlpha): measured, a ruleset of 525 distinct tests builds and one of
# 575 never returns.  The shipped rulesets need at most 78.
MAX_SEGMENT_TESTS = 400


def count_tests(durable: dict[str, Any]) -> int:
    """Distinct leaf tests (property, operator, operand) over every rule of a durable ruleset."""
    seen: set[str] = set()
    pending: list[Any] = [rule.get("all", ()) for rule in durable.values()]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in ("$and", "$or", "all", "any"):
                    pending.append(value)
                elif not key.startswith("$") and isinstance(value, dict) and set(value) <= {"$and", "$or"}:
                    pending.append(value)  # a fact pattern: {owner: {"$and": [...]}}
                else:
                    seen.add(json.dumps({key: value}, sort_keys=True))
    return len(seen)


# ------------------------------------------------------------------ the compiler


class SegmentCompiler:
    def __init__(self, view: View, analysis: Analysis, request: str, switches: dict[str, str], period: Period,
                 day: int):
        self.view = view
        self.analysis = analysis
        self.request = request
        self.switches = switches
        self.period = period
        self.day = day
        self.issues: list[Issue] = []

    def active_versions(self) -> list[TVersion]:
        active = []
        for tv in self.analysis.versions:
            version = tv.version
            if (self.request in tv.rule.applies_to and version.enabled and version.period.contains(self.day)
                    and variant_matches(version.variant, self.switches)):
                active.append(tv)
        return active

    def param_use(self, name: str, loc: SourceLocation, depth: int = 0) -> ParamUse:
        param = self.view.parameters[name]
        typed = param.in_force(self.day, self.switches)
        if typed is not None:
            if isinstance(typed.value, ParamReference) and depth < 16:
                return ParamUse(param, typed, self.param_use(typed.value.name, typed.version.value_loc, depth + 1))
            return ParamUse(param, typed)
        depends = {switch for typed in param.versions for switch, _ in typed.version.variant}
        relevant = {k: v for k, v in sorted(self.switches.items()) if k in depends}
        raise CompileProblem(Issue("parameter_not_in_force", f"{self.view.id}: parameter {name!r} has no version "
                                   f"in force on {self.period.describe()}"
                                   + (f" with switches {relevant}" if relevant else "")
                                   + f", but rule {self.rule_id!r} in force then uses it", param.definition.loc,
                                   found=name))

    def compile(self) -> Segment:
        versions = self.active_versions()
        order = {rule.id: index for index, rule in enumerate(self.view.rules)}  # once, not per comparison
        versions.sort(key=lambda tv: order[tv.rule.id])
        producers: dict[str, tuple[int, int]] = {}
        for slot, tv in enumerate(versions):
            for index, name in enumerate(tv.derived):
                producers[name] = (slot, index)
        needs_eligible = any(catalog.ELIGIBLE in tv.inputs for tv in versions)
        self.producers = producers
        durable: dict[str, Any] = {}
        names: dict[str, tuple[int, int]] = {}
        fact_keys: set[str] = set()
        # Values each derived fact can take in this period (None: not known statically), so a
        # test like {derived: pooling.schedule, eq: employee_outpatient} folds to false where no
        # branch able to hold derives that value.  Producers are compiled before readers.
        self.possible: dict[str, frozenset[Any] | None] = {}
        compiled: dict[int, CompiledRule] = {}
        for slot in _dependency_order(versions, producers):
            try:
                compiled[slot] = self.compile_rule(slot, versions[slot], durable, names, fact_keys)
            except CompileProblem as problem:
                self.issues.append(problem.issue)
        rules = [compiled[slot] for slot in sorted(compiled)]
        if self.request == "payment":
            missing = [name for name in catalog.PLAN_FACTS if name not in producers]
            if missing and versions:
                self.issues.append(Issue("payment_plan_incomplete", f"{self.view.id}: in {self.period.describe()} "
                                         f"no rule in force derives {missing}; payment rules must derive "
                                         f"{list(catalog.PLAN_FACTS)}", self.view.ruleset.loc,
                                         expected=list(catalog.PLAN_FACTS), found=missing))
        observed = {owner for rule in rules for branch in rule.branches if branch.compiled
                    for owner in owners(branch.condition)}
        for rule in rules:
            if rule.owner not in observed:
                for branch in rule.branches:
                    branch.encode_fact = None  # no condition tests it: never asserted
        # durable_rules crashes deleting a session in which no rule fired, and refuses a fact no
        # rule matches (DURABLE_RULES.md).  When some rule matches the base fact, the catch-all
        # matches a fact of its own that the driver asserts only in a session where nothing
        # fired; otherwise it matches the base fact (and fires in every session).
        base_matched = any(BASE in pattern for rule in durable.values() for pattern in rule["all"])
        durable[CATCH_ALL] = {"pri": 1000000, "all": [{CATCH_ALL_FACT: {"t": CATCH_ALL_FACT}} if base_matched
                                                      else {BASE: {"t": "f"}}]}
        tests = count_tests(durable)
        if tests > MAX_SEGMENT_TESTS:
            self.issues.append(Issue("segment_too_large", f"{self.view.id}: the {self.request} rules in force in "
                                     f"{self.period.describe()} compile to {tests} distinct tests; durable_rules "
                                     "hangs while building a network much past 500, so this is refused",
                                     self.view.ruleset.loc, expected=f"at most {MAX_SEGMENT_TESTS} distinct tests",
                                     found=tests))
        keys = tuple(sorted(fact_keys))
        # The durable_rules ruleset is its JSON and nothing else: segments of other periods or
        # switch assignments that compile to the same JSON share one registration.
        digest = hashlib.sha256(json.dumps([self.view.sha256, self.request, durable],
                                           sort_keys=True).encode()).hexdigest()
        return Segment(self.view.id, self.request, self.period, tuple(sorted(self.switches.items())), rules,
                       durable, names, producers, keys, needs_eligible, digest, self.issues,
                       encode_base=make_base_encoder(keys), assert_eligible=ELIGIBLE_OWNER in observed,
                       documents=self.view.chain[0].documents if self.view.chain else ())

    # -- one rule
    def compile_rule(self, slot: int, tv: TVersion, durable: dict[str, Any], names: dict[str, tuple[int, int]],
                     fact_keys: set[str]) -> CompiledRule:
        loc = tv.version.loc
        for name in sorted(tv.inputs):
            if name != catalog.ELIGIBLE and name not in self.producers:
                raise CompileProblem(Issue("derived_fact_unavailable", f"rule {tv.rule.id!r} reads {name!r}, but no "
                                           f"rule in force on {self.period.describe()} derives it for "
                                           f"{self.request} requests", loc, found=name))
        self.rule_id = tv.rule.id
        params = {name: self.param_use(name, loc) for name in sorted(tv.params)}
        self.params = params
        owner = f"d{slot}"
        input_owners = sorted({self.owner_of(name) for name in tv.inputs}, key=_owner_order)
        lowered = [self.lower(cond) for cond, _ in tv.cases]
        guards: list[Any] = []
        conditions = []
        for cond in lowered:
            conditions.append(conj(guards + [cond]))
            guards.append(negate(cond))
        conditions.append(conj(guards))
        actions = tv.actions
        # Branches able to hold in this period; one that cannot is never the inferred one.
        live = [i for i, condition in enumerate(conditions) if condition != FALSE]
        inferred = None
        if len(live) == 1 and (actions[live[0]] is None or not actions[live[0]].derive):
            inferred = live[0]  # the only branch that can hold: nothing for durable_rules to decide
        elif tv.kind == "check":
            candidates = [i for i in live if actions[i] is not None and actions[i].outcome == "pass"
                          and not actions[i].derive]
            if candidates:
                inferred = candidates[-1]
        elif tv.kind == "info":
            silent = [i for i in live if actions[i] is None or (not actions[i].derive and actions[i].outcome is None)]
            if silent:
                inferred = silent[-1]
        if inferred is None and live:
            # A rule whose every branch derives (or reports): the branch that would cost
            # durable_rules the most rules (the else of a multi-fact condition, split in DNF) is
            # established by the driver once the rule's inputs exist and no other branch fired.
            inferred = max(reversed(live), key=lambda i: self.term_count(conditions[i]))
        branches = []
        for index, (condition, action) in enumerate(zip(conditions, actions)):
            compiled = index != inferred
            branch = CompiledBranch(slot, index, action, condition, compiled)
            if condition == FALSE:
                branch.compiled = False  # can never hold in this period
                branches.append(branch)
                continue
            if compiled:
                self.emit(slot, index, tv, condition, input_owners, durable, names, fact_keys)
            if action is not None and action.derive:
                branch.derive = make_deriver(tv, action, self.producers, params, self.field_keys)
                branch.encode_fact = make_fact_encoder(owner, action)
            branches.append(branch)
        self._learn_possible(tv, branches)
        stratum = self.analysis.strata.get(tv.rule.id, 1)
        return CompiledRule(slot, tv, branches, owner, tuple(sorted(tv.inputs)), params, stratum, inferred)

    field_keys = {f.path: f.key for f in catalog.FIELDS}

    def _learn_possible(self, tv: TVersion, branches: list[CompiledBranch]) -> None:
        live = [b for b in branches if b.condition != FALSE and b.action is not None]
        for index, name in enumerate(tv.derived):
            found: set[Any] = set()
            for branch in live:
                assert branch.action is not None
                expr = branch.action.derive[index].expr if index < len(branch.action.derive) else None
                if isinstance(expr, Operand) and expr.kind == "lit":
                    found.add(expr.value)
                elif isinstance(expr, Operand) and expr.kind == "param":
                    found.add(self.params[expr.name].value)
                else:
                    self.possible[name] = None
                    break
            else:
                self.possible[name] = frozenset(found)

    def fold_derived(self, name: str, op: str, value: Any) -> Any:
        """TRUE/FALSE when every value ``name`` can take decides ``name op value``; else None."""
        options = self.possible.get(name)
        if options is None or value is None:
            return None
        results = {_compare(option, op, value) for option in options if option is not None}
        if results == {True}:
            return TRUE
        if results == {False} or not results:
            return FALSE
        return None

    def owner_of(self, derived: str) -> str:
        if derived == catalog.ELIGIBLE:
            return ELIGIBLE_OWNER
        return f"d{self.producers[derived][0]}"

    def derived_name(self, owner: str, key: str) -> str:
        slot, index = int(owner[1:]), int(key[1:])
        for name, (s, i) in self.producers.items():
            if s == slot and i == index:
                return name
        return ""

    def derived_key(self, derived: str) -> str:
        if derived == catalog.ELIGIBLE:
            return "v"
        return f"v{self.producers[derived][1]}"

    # -- conditions -> lowered tests (params folded)
    def operand(self, operand: Operand) -> tuple[str, Any]:
        """('const', value) or ('field', (owner, key, nullable_set_key))."""
        if operand.kind == "lit":
            return "const", operand.value
        if operand.kind == "param":
            return "const", self.params[operand.name].value
        if operand.kind == "fact":
            spec = catalog.BY_PATH[operand.name]
            return "field", (BASE, spec.key, spec.set_key if spec.nullable else None)
        return "field", (self.owner_of(operand.name), self.derived_key(operand.name), None)

    def lower(self, cond: TCondition) -> Any:
        if isinstance(cond, TTruth):
            return TRUE if cond.value else FALSE
        if isinstance(cond, TGroup):
            parts = [self.lower(c) for c in cond.items]
            return conj(parts) if cond.kind == "all" else disj(parts)
        if isinstance(cond, TNot):
            return negate(self.lower(cond.item))
        return self.lower_atom(cond)

    def lower_atom(self, atom: TAtom) -> Any:
        lkind, left = self.operand(atom.left)
        rkind, right = self.operand(atom.right)
        op = atom.op
        if op == "present":
            if lkind == "const":
                return TRUE if (left is not None) == bool(right) else FALSE
            owner, key, set_key = left
            if set_key is None:
                return TRUE if right else FALSE
            return Test(owner, set_key, "eq", bool(right))
        if op in ("in", "not_in"):
            if rkind != "const":
                raise CompileProblem(Issue("unsupported_condition", "the right side of 'in' must be a list or a "
                                           "list parameter", atom.source.loc))
            items = right if right is not None else ()
            if lkind == "const":
                return TRUE if (left in items) == (op == "in") else FALSE
            tests = [self.compare(left, "eq", item) for item in items]
            node = disj(tests) if tests else FALSE
            return node if op == "in" else negate(node)
        if lkind == "const" and rkind == "const":
            if left is None or right is None:
                return FALSE
            return TRUE if _compare(left, op, right) else FALSE
        if lkind == "const":
            return self.compare(right, FLIP[op], left)
        if rkind == "const":
            return self.compare(left, op, right)
        # field op field
        owner, key, set_key = left
        r_owner, r_key, r_set = right
        test: Any = Test(owner, key, op, None, r_owner, r_key)
        guards = [Test(o, s, "eq", True) for o, s in ((owner, set_key), (r_owner, r_set)) if s]
        return conj(guards + [test])

    def compare(self, field_ref: tuple[str, str, str | None], op: str, value: Any) -> Any:
        owner, key, set_key = field_ref
        if value is None:
            return FALSE  # comparing with a parameter the sources do not state: never holds
        if owner != BASE and owner != ELIGIBLE_OWNER:
            derived = self.derived_name(owner, key)
            folded = self.fold_derived(derived, op, value)
            if folded is not None:
                return folded
        test = Test(owner, key, op, value)
        if set_key:
            return conj([Test(owner, set_key, "eq", True), test])
        return test

    def term_count(self, condition: Any) -> int:
        """durable_rules rules ``emit`` would write for ``condition`` (0 when it refuses it, so
        that such a branch stays compiled and its error is reported)."""
        if len(owners(condition)) <= 1 and not _has_ref(condition):
            return 1
        try:
            return len([c for c in (conj(term) for term in dnf(condition)) if c != FALSE])
        except OverflowError:
            return 0

    # -- durable_rules JSON
    def emit(self, slot: int, index: int, tv: TVersion, condition: Any, input_owners: list[str],
             durable: dict[str, Any], names: dict[str, tuple[int, int]], fact_keys: set[str]) -> None:
        condition_owners = owners(condition)
        single = len(condition_owners) <= 1 and not _has_ref(condition)
        if single:
            terms_json = [self.patterns(condition, condition_owners, input_owners, fact_keys)]
        else:
            try:
                terms = dnf(condition)
            except OverflowError:
                raise CompileProblem(Issue("condition_too_complex", f"rule {tv.rule.id!r}: a branch expands to "
                                           f"more than {MAX_TERMS} alternatives across facts; split the rule",
                                           tv.version.loc)) from None
            conjunctions = [c for c in (conj(term) for term in terms) if c != FALSE]  # drop x-and-not-x terms
            terms_json = [self.patterns(c, owners(c), input_owners, fact_keys) for c in conjunctions]
        for term, patterns in enumerate(terms_json):
            name = f"r{slot}b{index}" + (f"t{term}" if len(terms_json) > 1 else "")
            durable[name] = {"all": patterns}
            names[name] = (slot, index)

    def patterns(self, condition: Any, condition_owners: set[str], input_owners: list[str],
                 fact_keys: set[str]) -> list[dict[str, Any]]:
        # Only the facts the condition tests: a derived fact read by the action alone is not
        # joined (the driver runs the action once its inputs exist), so durable_rules never
        # needs facts no condition tests.
        involved = sorted(condition_owners, key=_owner_order)
        if not involved:
            involved = [BASE]
        order = {o: i for i, o in enumerate(involved)}
        per_owner: dict[str, list[Any]] = {o: [] for o in involved}
        if isinstance(condition, And) and all(isinstance(t, Test) for t in condition.items):
            for test in condition.items:
                placed = _place(test, order)
                per_owner[placed.owner].append(placed)
        elif isinstance(condition, Test):
            placed = _place(condition, order)
            per_owner[placed.owner].append(placed)
        elif condition != TRUE:
            (only,) = condition_owners
            per_owner[only].append(condition)
        result = []
        for owner in involved:
            fact_type = "f" if owner == BASE else owner
            tests = [{"t": fact_type}] + [_durable(node, fact_keys) for node in per_owner[owner]]
            result.append({owner: tests[0] if len(tests) == 1 else {"$and": tests}})
        return result


def _dependency_order(versions: list[TVersion], producers: dict[str, tuple[int, int]]) -> list[int]:
    """Slots with every producer before its readers (file order otherwise)."""
    done: list[int] = []
    placed: set[int] = set()

    def place(slot: int, trail: frozenset[int]) -> None:
        if slot in placed or slot in trail:
            return
        for name in sorted(versions[slot].inputs):
            producer = producers.get(name)
            if producer is not None and producer[0] != slot:
                place(producer[0], trail | {slot})
        placed.add(slot)
        done.append(slot)

    for slot in range(len(versions)):
        place(slot, frozenset())
    return done


def _owner_order(owner: str) -> tuple[int, int]:
    if owner == BASE:
        return (0, 0)
    if owner == ELIGIBLE_OWNER:
        return (2, 0)
    return (1, int(owner[1:]))


def _has_ref(node: Any) -> bool:
    if isinstance(node, Test):
        return node.ref_owner is not None
    return any(_has_ref(i) for i in node.items)


def _place(test: Test, order: dict[str, int]) -> Test:
    """A cross-fact test goes in the later pattern and references the earlier alias."""
    if test.ref_owner is None or test.ref_owner == test.owner:
        return test
    if order[test.ref_owner] > order[test.owner]:
        return Test(test.ref_owner, test.ref_key or "", FLIP[test.op], None, test.owner, test.key)
    return test


def _durable(node: Any, fact_keys: set[str]) -> Any:
    if isinstance(node, And):
        return {"$and": [_durable(i, fact_keys) for i in node.items]}
    if isinstance(node, Or):
        return {"$or": [_durable(i, fact_keys) for i in node.items]}
    test: Test = node
    if test.owner == BASE:
        fact_keys.add(test.key)
    if test.ref_owner is not None:
        if test.ref_owner == BASE:
            fact_keys.add(test.ref_key or "")
        right: Any = {"$m": test.ref_key} if test.ref_owner == test.owner else {test.ref_owner: test.ref_key}
    else:
        right = test.value
    if test.op == "eq":
        return {test.key: right}
    return {DURABLE_OP[test.op]: {test.key: right}}


def _compare(left: Any, op: str, right: Any) -> bool:
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


def evaluate_lowered(node: Any, base: dict[str, Any], derived_by_owner: dict[str, dict[str, Any]]) -> bool:
    """Evaluate a lowered condition in Python (explanations and the consistency oracle)."""
    if isinstance(node, And):
        return all(evaluate_lowered(i, base, derived_by_owner) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate_lowered(i, base, derived_by_owner) for i in node.items)
    test: Test = node
    left = _field_value(test.owner, test.key, base, derived_by_owner)
    right = (_field_value(test.ref_owner, test.ref_key or "", base, derived_by_owner)
             if test.ref_owner is not None else test.value)
    if left is _MISSING or right is _MISSING:
        return False
    if type(left) is bool and type(right) is not bool and test.op in ("eq", "ne"):
        return test.op == "ne"
    try:
        return _compare(left, test.op, right)
    except TypeError:
        return test.op == "ne"


_MISSING = object()


def _field_value(owner: str, key: str, base: dict[str, Any], derived_by_owner: dict[str, dict[str, Any]]) -> Any:
    source = base if owner == BASE else derived_by_owner.get(owner)
    if source is None:
        return _MISSING
    return source.get(key, _MISSING)


# ------------------------------------------------------------------ code generation


@functools.lru_cache(maxsize=2048)
def _code(source: str, filename: str) -> Any:
    """Generated source -> code object, once: the same rule's actions recur in every segment of a
    city with other constants (bound in the namespace), and ``compile()`` dominated compiling."""
    return compile(source, filename, "exec")


def _pct(amount: int, points: int) -> int:
    if amount < 0:
        return -values.percent_of(-amount, points)
    return values.percent_of(amount, points)


def make_deriver(tv: TVersion, action: TAction, producers: dict[str, tuple[int, int]],
                 params: dict[str, ParamUse], field_keys: dict[str, str]) -> Callable[..., tuple[Any, ...]]:
    """Generate ``f(base, derived) -> values`` for one action's derive list (derived is updated)."""
    consts: dict[str, Any] = {"_pct": _pct, "_min": min, "_max": max}
    lines = ["def derive(b, d):"]

    def expr(node: TExpression) -> str:
        if isinstance(node, Operand):
            if node.kind == "fact":
                return f"b[{field_keys[node.name]!r}]"
            if node.kind == "derived":
                return f"d[{node.name!r}]"
            value = params[node.name].value if node.kind == "param" else node.value
            if isinstance(value, tuple) and value and isinstance(value[0], tuple):
                value = dict(value)
            if value is None:
                return "None"
            name = f"_c{len(consts)}"
            consts[name] = value
            return name
        assert isinstance(node, TCall)
        args = [expr(a) for a in node.args]
        if node.func in ("min", "max"):
            present = [a for a in args if a != "None"]
            if not present:
                raise CompileProblem(Issue("null_in_arithmetic", f"rule {tv.rule.id!r}: every argument of "
                                           f"{node.func} is a parameter the sources do not state",
                                           action.source.loc))
            return present[0] if len(present) == 1 else f"_{node.func}({', '.join(present)})"
        if "None" in args:
            raise CompileProblem(Issue("null_in_arithmetic", f"rule {tv.rule.id!r}: {node.func} uses a parameter "
                                       "the sources do not state (null) in this period; test it with "
                                       "'present' first", action.source.loc))
        if node.func == "add":
            return "(" + " + ".join(args) + ")"
        if node.func == "sub":
            return f"({args[0]} - {args[1]})"
        if node.func == "percent_of":
            return f"_pct({args[0]}, {args[1]})"
        if node.func == "lookup":
            return f"{args[0]}[{args[1]}]"
        raise CompileProblem(Issue("unknown_function", f"unknown function {node.func}", action.source.loc))

    outputs = []
    for i, derivation in enumerate(action.derive):
        lines.append(f"    v{i} = {expr(derivation.expr)}")
        lines.append(f"    d[{derivation.name!r}] = v{i}")
        outputs.append(f"v{i}")
    lines.append(f"    return ({', '.join(outputs)},)")
    namespace: dict[str, Any] = dict(consts)
    exec(_code("\n".join(lines), f"<derive {tv.rule.id}>"), namespace)
    return namespace["derive"]  # type: ignore[no-any-return]


def _fact_encoder(fact_type: str, fields: list[tuple[str, str, str]], name: str) -> Callable[..., str]:
    """Generate ``encode(sid, x) -> JSON`` for one fact type: ``fields`` are (JSON key, kind, the
    expression reading the value from ``x``).  Identifiers and digits ("safe" text: validated
    enum values, region codes) need no escaping; numbers are ``%d``; flags a lookup; anything
    else a JSON token."""
    parts = [f'"sid":"%s","id":"{fact_type}","t":"{fact_type}"']
    args = ["sid"]
    for key, kind, read in fields:
        if kind == "safe":
            parts.append(f'"{key}":"%s"')
            args.append(read)
        elif kind in ("int", "money", "date", "percent"):
            parts.append(f'"{key}":%d')
            args.append(read)
        elif kind == "bool":
            parts.append(f'"{key}":%s')
            args.append(f"_bool[{read}]")
        else:
            parts.append(f'"{key}":%s')
            args.append(f"_j({read})")
    template = "{" + ",".join(parts) + "}"
    source = f"def encode(sid, x):\n    return _t % ({', '.join(args)},)\n"
    namespace: dict[str, Any] = {"_t": template, "_j": values.json_token, "_bool": {True: "true", False: "false"}}
    exec(_code(source, f"<encode {name}>"), namespace)
    return namespace["encode"]  # type: ignore[no-any-return]


def make_fact_encoder(owner: str, action: TAction) -> Callable[[str, tuple[Any, ...]], str]:
    """``encode(sid, values) -> JSON`` of the fact one action asserts."""
    fields = [(f"v{i}", d.vtype.kind if d.vtype is not None else "", f"x[{i}]") for i, d in enumerate(action.derive)]
    return _fact_encoder(owner, fields, owner)


def encode_catch_all(sid: str) -> str:
    """The fact only the catch-all matches: asserted in a session where no rule fired."""
    return f'{{"sid":"{sid}","id":"{CATCH_ALL_FACT}","t":"{CATCH_ALL_FACT}"}}'


def encode_eligible(sid: str, eligible: bool) -> str:
    """The stratum-2 fact carrying the stratum-1 outcome (rules that read ``eligible`` join it)."""
    return f'{{"sid":"{sid}","id":"e","t":"e","v":{"true" if eligible else "false"}}}'


def _base_kind(vtype: catalog.VType) -> str:
    """How the base encoder writes a field: region codes and text enums are safe text, number
    enums (hospital level) are numbers."""
    if vtype.kind == "region" or (vtype.kind == "enum" and all(type(v) is str for v in vtype.domain)):
        return "safe"
    if vtype.kind == "enum" and all(type(v) is int for v in vtype.domain):
        return "int"
    return vtype.kind


def make_base_encoder(keys: tuple[str, ...]) -> Callable[[str, dict[str, Any]], str]:
    """``encode(sid, base) -> JSON`` with only the fields the segment's rules test."""
    kinds = {f.key: _base_kind(f.type) for f in catalog.FIELDS}
    kinds.update({f.set_key: "bool" for f in catalog.FIELDS if f.nullable})
    return _fact_encoder("f", [(key, kinds.get(key, ""), f"x[{key!r}]") for key in keys], "base")


# ------------------------------------------------------------------ timelines


def boundaries(view: View, switches: dict[str, str] | None) -> list[int]:
    """Days on which something changes (a version starts, or the day after one ends), for the
    given switch options (None: under any options)."""
    days: set[int] = set()
    periods: list[Period] = []
    for rule in view.rules:
        for version in rule.versions:
            if switches is None or variant_matches(version.variant, switches):
                periods.append(version.period)
    for param in view.parameters.values():
        for typed in param.versions:
            if switches is None or variant_matches(typed.version.variant, switches):
                periods.append(typed.period)
    for period in periods:
        if period.start:
            days.add(period.start)
        if period.end:
            days.add(values.next_day(period.end))
    return sorted(days)


def timeline(view: View, switches: dict[str, str]) -> list[Period]:
    """The periods of constant rules and parameters, in order, covering all time."""
    return periods_between(boundaries(view, switches))


def periods_between(days: list[int]) -> list[Period]:
    """Consecutive periods split at the sorted boundary ``days``, covering all time."""
    if not days:
        return [Period(None, None)]
    periods = [Period(None, values.previous_day(days[0]))]
    for start, nxt in zip(days, days[1:]):
        periods.append(Period(start, values.previous_day(nxt)))
    periods.append(Period(days[-1], None))
    return periods


def representative_day(period: Period) -> int:
    if period.start:
        return period.start
    if period.end:
        return period.end
    return 20000101


def compile_segment(view: View, analysis: Analysis, request: str, switches: dict[str, str],
                    period: Period) -> Segment:
    return SegmentCompiler(view, analysis, request, switches, period, representative_day(period)).compile()
