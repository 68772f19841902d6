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
from collections.abc import Callable

from . import catalog, values
from .conditions import (FALSE, MAX_TERMS, TRUE, And, Const, DerivedRef, FactRef, FieldRef, GivenRef, Or, Test, Tests,
                         conj, disj, dnf, fields, holds, negate)
from .errors import Issue
from .layering import ResolvedParameter, TypedParamVersion, View, resolve, variant_matches
from .model import Period
from .operators import FLIP, NEGATE
from .semantics import (Analysis, Operand, TAction, TAtom, TCall, TCondition, TExpression, TGroup, TNot, TTruth,
                        TVersion)

BASE = "m"
ELIGIBLE_OWNER = "e"
CATCH_ALL = "zz_catch_all"
CATCH_ALL_FACT = "z"  # the fact type of the catch-all when it does not watch the base fact
DURABLE_OP = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


class CompileProblem(Exception):
    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


# ------------------------------------------------------------------ durable_rules names
# The tests of a branch (conditions.Test) name facts by typed references; durable_rules names
# them here only: the base fact "m" (keys from the catalog), "e" (eligible, key "v"), and the
# fact each rule derives "d<slot>" (key "v<index>").


def _owner(ref: FieldRef) -> str:
    if isinstance(ref, DerivedRef):
        return ELIGIBLE_OWNER if ref.slot is None else f"d{ref.slot}"
    return BASE


def _key(ref: FieldRef) -> str:
    if isinstance(ref, FactRef):
        return catalog.BY_PATH[ref.path].key
    if isinstance(ref, GivenRef):
        return catalog.BY_PATH[ref.path].set_key
    return "v" if ref.slot is None else f"v{ref.index}"


def owners(node: Tests) -> set[str]:
    """The durable_rules facts ``node`` reads."""
    return {_owner(ref) for ref in fields(node)}


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
    condition: Tests  # the branch's tests in this period (parameters folded, earlier cases negated)
    compiled: bool  # fires in durable_rules (else inferred, or it cannot hold in the period)
    # what durable_rules tests for it: ``condition`` with the decision date folded against the
    # period and each test of a derived fact with static values replaced by the conditions of the
    # producing branches (equivalent for every document the segment decides)
    rete: Tests = FALSE
    reads_eligible: bool = False  # ``condition`` tests ``eligible``: the driver takes it once that is set
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
    names: dict[str, tuple[tuple[int, int], ...]]  # durable rule name -> the (slot, branch) pairs it decides
    fact_keys: tuple[str, ...]
    stratum2: bool
    digest: str
    issues: list[Issue] = field(default_factory=list)
    handle: int | None = None
    encode_base: Callable[[str, dict[str, Any]], str] | None = None
    _renderer: Any = None  # render.SegmentRenderer, built on first use
    _settle_plan: Any = None  # evaluate.settle_plan, built on first use
    _settle: Any = None  # evaluate's generated settle function, built on second use
    _incomplete: Any = None  # decision._incomplete: (slot, branch, code) of incomplete outcomes, on first use
    documents: tuple[tuple[str, str], ...] = ()  # document -> jurisdiction (citations.select)
    fail_codes: dict[tuple[int, int], str] = field(default_factory=dict)  # (slot, branch) of a failing outcome -> code
    assert_eligible: bool = False  # a compiled condition tests ``eligible``: assert it for stratum 2
    # rules whose inferred branch derives: (slot, branch, derived facts the rule reads), in dependency order
    inferred_derivations: tuple[tuple[int, int, frozenset[str]], ...] = ()
    needs: tuple[frozenset[str], ...] = ()  # by slot: the derived facts the rule reads
    order: tuple[int, ...] = ()  # slots with every producer before its readers (compiled in this order)

    def __post_init__(self) -> None:
        self.fail_codes = {(rule.slot, branch.branch): branch.action.code for rule in self.rules
                           for branch in rule.branches if branch.action is not None and branch.outcome == "fail"}
        # indexed by slot; a rule that failed to compile leaves its slot empty (the segment then
        # carries issues and is never evaluated, but it is still built for the error report)
        needs = [frozenset()] * (max((rule.slot for rule in self.rules), default=-1) + 1)
        for rule in self.rules:
            needs[rule.slot] = frozenset(rule.inputs)
        self.needs = tuple(needs)
        # in dependency order: one pass of the driver establishes every one whose inputs exist
        position = {slot: index for index, slot in enumerate(self.order)}
        self.inferred_derivations = tuple((rule.slot, rule.inferred, self.needs[rule.slot])
                                          for rule in sorted(self.rules, key=lambda r: position.get(r.slot, r.slot))
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
                    seen.add(repr((key, value)))  # built in one order by durable_json: equal tests, equal text
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

    def param_use(self, name: str) -> ParamUse:
        resolution = resolve(self.view, name, self.day, self.switches)
        use: ParamUse | None = None
        for param, typed in reversed(resolution.chain):
            use = ParamUse(param, typed, use)
        if resolution.missing is None and use is not None:
            return use
        missing = self.view.parameters[resolution.missing or name]
        depends = {switch for typed in missing.versions for switch, _ in typed.version.variant}
        relevant = {k: v for k, v in sorted(self.switches.items()) if k in depends}
        raise CompileProblem(Issue("parameter_not_in_force", f"{self.view.id}: parameter {missing.id!r} has no "
                                   f"version in force on {self.period.describe()}"
                                   + (f" with switches {relevant}" if relevant else "")
                                   + f", but rule {self.rule_id!r} in force then uses it", missing.definition.loc,
                                   found=missing.id))

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
        names: dict[str, tuple[tuple[int, int], ...]] = {}
        fact_keys: set[str] = set()
        self.by_patterns: dict[str, str] = {}  # a durable rule's patterns (as text) -> its name: emitted once
        self.emitted: dict[tuple[int, int], list[str]] = {}  # (slot, branch) -> the durable rules firing for it
        # Values each derived fact can take in this period (None: not known statically), so a
        # test like {derived: pooling.schedule, eq: employee_outpatient} folds to false where no
        # branch able to hold derives that value.  Producers are compiled before readers.
        self.possible: dict[str, frozenset[Any] | None] = {}
        compiled: dict[int, CompiledRule] = {}
        self.compiled = compiled
        self.stratum1_count = sum(self.analysis.strata.get(tv.rule.id, 1) == 1 for tv in versions)
        # Producers before their readers, and every rule of stratum 1 before the rules that read
        # ``eligible`` (whose tests of it are inlined from the checks: see ``inline_eligible``).
        order = _dependency_order(versions, producers)
        order.sort(key=lambda slot: self.analysis.strata.get(versions[slot].rule.id, 1) > 1)
        for slot in order:
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
                    for owner in owners(branch.rete)}
        for rule in rules:
            if rule.owner not in observed:
                for branch in rule.branches:
                    branch.encode_fact = None  # no condition tests it: never asserted
        # durable_rules crashes deleting a session in which no rule fired, and refuses a fact no
        # rule matches (DURABLE_RULES.md).  When some rule matches the base fact, the catch-all
        # matches a fact of its own that the driver asserts only in a session where nothing
        # fired; otherwise it matches the base fact (and fires in every session).  A rule that
        # tests nothing of the base fact (a branch that always holds in the period) fires in
        # every session: then no catch-all is needed.
        base_matched = any(BASE in pattern for rule in durable.values() for pattern in rule["all"])
        if not any(rule["all"] == [{BASE: {"t": "f"}}] for rule in durable.values()):
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
                       durable, names, keys, needs_eligible, digest, self.issues, order=tuple(order),
                       encode_base=make_base_encoder(keys), assert_eligible=ELIGIBLE_OWNER in observed,
                       documents=self.view.chain[0].documents if self.view.chain else ())

    # -- one rule
    def compile_rule(self, slot: int, tv: TVersion, durable: dict[str, Any],
                     names: dict[str, tuple[tuple[int, int], ...]], fact_keys: set[str]) -> CompiledRule:
        loc = tv.version.loc
        for name in sorted(tv.inputs):
            if name != catalog.ELIGIBLE and name not in self.producers:
                raise CompileProblem(Issue("derived_fact_unavailable", f"rule {tv.rule.id!r} reads {name!r}, but no "
                                           f"rule in force on {self.period.describe()} derives it for "
                                           f"{self.request} requests", loc, found=name))
        self.rule_id = tv.rule.id
        params = {name: self.param_use(name) for name in sorted(tv.params)}
        self.params = params
        owner = f"d{slot}"
        lowered = [self.lower(cond) for cond, _ in tv.cases]
        guards: list[Tests] = []
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
            # The inferred branch is chosen from ``condition`` alone, as before the date was folded
            # and derived facts inlined, so that every reason says ``fired`` or
            # ``no_other_branch_fired`` as it did; a compiled branch whose ``rete`` is false (the
            # decision date is outside what it tests) is simply not emitted.
            rete = self.rete(condition) if condition != FALSE else FALSE
            branch = CompiledBranch(slot, index, action, condition, index != inferred and rete != FALSE, rete,
                                    catalog.ELIGIBLE in tv.inputs and ELIGIBLE_OWNER in owners(condition))
            if condition == FALSE:
                branches.append(branch)  # can never hold in this period
                continue
            if branch.compiled and rete is not condition and _is_ineligible_test(condition):
                # ``eligible = false`` inlined: the rules of the failing checks fire for it too
                fails = self.failing_branches()
                for name in dict.fromkeys(name for fail in fails for name in self.emitted.get(fail, ())):
                    self.attach(slot, index, name, names)
            elif branch.compiled and not self.emit(slot, index, tv, rete, durable, names, fact_keys):
                branch.compiled = False  # every alternative contradicts itself: it never fires
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

    def fold_derived(self, name: str, op: str, value: Any) -> Tests | None:
        """TRUE/FALSE when every value ``name`` can take decides ``name op value``; else None."""
        options = self.possible.get(name)
        if options is None or value is None:
            return None
        results = {holds(op, option, value) for option in options if option is not None}
        if results == {True}:
            return TRUE
        if results == {False} or not results:
            return FALSE
        return None

    # -- what durable_rules tests
    def rete(self, node: Tests) -> Tests:
        """``node`` as durable_rules tests it in this segment: the same truth for every document
        the segment decides (their decision date is in its period, their flags are bools, the
        derived facts are what their producers derive), with less for durable_rules to do."""
        if isinstance(node, Test):
            return self.rete_test(node)
        items = [self.rete(item) for item in node.items]
        if all(new is old for new, old in zip(items, node.items)):
            return node  # the usual case: nothing to fold or inline
        return conj(items) if isinstance(node, And) else disj(items)

    def rete_test(self, test: Test) -> Tests:
        left, right = test.left, test.right
        if not isinstance(right, Const):
            return test
        if left == AS_OF:  # segments are chosen by the decision date: a rule that starts later can never fire
            return _fold_day(test.op, right.value, self.period)
        if test.op == "ne" and isinstance(right.value, bool) and _is_flag(left):
            return Test(left, "eq", Const(not right.value))  # one test a later simplification can pair
        if isinstance(left, DerivedRef):
            inlined = (self.inline_eligible(test.op, right.value) if left.slot is None
                       else self.inline_derived(left, test.op, right.value))
            if inlined is not None:
                return inlined
        return test

    def inline_eligible(self, op: str, value: Any) -> Tests | None:
        """``eligible op value`` as a condition on what the checks test, when it holds exactly
        when some check fails: the disjunction of the compiled failing branches of the checks
        (each fires in durable_rules; a rule testing it shares their durable_rules rules).  Only
        when no check fails by being established (an inferred failing branch), and once every
        rule of stratum 1 is compiled; None otherwise (``eligible`` is then asserted for it)."""
        if_ineligible, if_eligible = holds(op, False, value), holds(op, True, value)
        if if_eligible:
            return TRUE if if_ineligible else None  # holds when nothing failed: only the driver knows that
        checks = [rule for rule in self.compiled.values() if rule.kind == "check" and rule.stratum == 1]
        if not checks or sum(rule.stratum == 1 for rule in self.compiled.values()) < self.stratum1_count:
            return None  # a rule of stratum 1 failed to compile (the segment reports it): keep it simple
        if any(rule.inferred is not None and rule.branches[rule.inferred].outcome == "fail" for rule in checks):
            return None
        if not if_ineligible:
            return FALSE
        failing = tuple(dict.fromkeys(self.compiled[slot].branches[index].rete
                                      for slot, index in self.failing_branches()))
        # not flattened (``disj`` would): each alternative stays one check's condition, whose rules exist
        return failing[0] if len(failing) == 1 else Or(failing) if failing else FALSE

    def failing_branches(self) -> list[tuple[int, int]]:
        """(slot, branch) of every compiled failing branch of the checks of stratum 1."""
        return [(rule.slot, branch.branch) for rule in sorted(self.compiled.values(), key=lambda r: r.slot)
                if rule.kind == "check" and rule.stratum == 1
                for branch in rule.branches if branch.compiled and branch.outcome == "fail"]

    def inline_derived(self, ref: DerivedRef, op: str, value: Any) -> Tests | None:
        """``ref op value`` as a condition on base facts: the disjunction of the producer's branches
        that derive a value passing the test.  Only for a producer that reads no derived fact (its
        branches, the inferred one included, then hold exactly when their conditions do: the
        branches are exclusive and cover every case) and derives constants; None otherwise, and
        the fact stays asserted for durable_rules to join."""
        producer = self.compiled.get(ref.slot)  # type: ignore[arg-type]
        if producer is None or producer.inputs or value is None or isinstance(value, _COMPOSITE):
            return None
        holding = []
        for branch in producer.branches:
            derivations = branch.action.derive if branch.action is not None else ()
            if branch.rete == FALSE or not derivations:
                continue  # never holds in the period, or derives nothing: no fact, no test of it holds
            if ref.index >= len(derivations):
                return None
            expr = derivations[ref.index].expr
            if not isinstance(expr, Operand) or expr.kind not in ("lit", "param"):
                return None  # computed: not known here
            derived = expr.value if expr.kind == "lit" else producer.params[expr.name].value
            if derived is None or isinstance(derived, _COMPOSITE):
                return None
            if holds(op, derived, value):
                holding.append(branch.rete)
        return disj(holding)

    def derived_ref(self, derived: str) -> DerivedRef:
        if derived == catalog.ELIGIBLE:
            return DerivedRef(derived, None)
        slot, index = self.producers[derived]
        return DerivedRef(derived, slot, index)

    # -- conditions -> tests (params folded)
    def operand(self, operand: Operand) -> tuple[str, Any]:
        """('const', value) or ('field', (reference, its GivenRef when the fact is nullable))."""
        if operand.kind == "lit":
            return "const", operand.value
        if operand.kind == "param":
            return "const", self.params[operand.name].value
        if operand.kind == "fact":
            nullable = catalog.BY_PATH[operand.name].nullable
            return "field", (FactRef(operand.name), GivenRef(operand.name) if nullable else None)
        return "field", (self.derived_ref(operand.name), None)

    def lower(self, cond: TCondition) -> Tests:
        if isinstance(cond, TTruth):
            return TRUE if cond.value else FALSE
        if isinstance(cond, TGroup):
            parts = [self.lower(c) for c in cond.items]
            return conj(parts) if cond.kind == "all" else disj(parts)
        if isinstance(cond, TNot):
            return negate(self.lower(cond.item))
        return self.lower_atom(cond)

    def lower_atom(self, atom: TAtom) -> Tests:
        lkind, left = self.operand(atom.left)
        rkind, right = self.operand(atom.right)
        op = atom.op
        if op == "present":
            if lkind == "const":
                return TRUE if (left is not None) == bool(right) else FALSE
            _, given = left
            if given is None:
                return TRUE if right else FALSE
            return Test(given, "eq", Const(bool(right)))
        if op in ("in", "not_in"):
            if rkind != "const":
                raise CompileProblem(Issue("unsupported_condition", "the right side of 'in' must be a list or a "
                                           "list parameter", atom.source.loc))
            items = tuple(right) if right is not None else ()
            if lkind == "const":
                return TRUE if holds(op, left, items) else FALSE
            tests = [self.compare(left, "eq", item) for item in items]
            node = disj(tests) if tests else FALSE
            return node if op == "in" else negate(node)
        if lkind == "const" and rkind == "const":
            if left is None or right is None:
                return FALSE
            return TRUE if holds(op, left, right) else FALSE
        if lkind == "const":
            return self.compare(right, FLIP[op], left)
        if rkind == "const":
            return self.compare(left, op, right)
        # field op field
        (ref, given), (r_ref, r_given) = left, right
        guards = [Test(g, "eq", Const(True)) for g in (given, r_given) if g is not None]
        return conj(guards + [Test(ref, op, r_ref)])

    def compare(self, field_ref: tuple[FieldRef, GivenRef | None], op: str, value: Any) -> Tests:
        ref, given = field_ref
        if value is None:
            return FALSE  # comparing with a parameter the sources do not state: never holds
        if isinstance(ref, DerivedRef) and ref.slot is not None:
            folded = self.fold_derived(ref.name, op, value)
            if folded is not None:
                return folded
        test = Test(ref, op, Const(value))
        if given is not None:
            return conj([Test(given, "eq", Const(True)), test])
        return test

    def term_count(self, condition: Tests) -> int:
        """durable_rules rules ``emit`` would write for ``condition`` (0 when it refuses it, so
        that such a branch stays compiled and its error is reported)."""
        if len(owners(condition)) <= 1 and not _has_ref(condition):
            return 1
        try:
            return len([c for c in (conj(term) for term in dnf(condition)) if c != FALSE])
        except OverflowError:
            return 0

    # -- durable_rules JSON
    def emit(self, slot: int, index: int, tv: TVersion, condition: Tests,
             durable: dict[str, Any], names: dict[str, tuple[tuple[int, int], ...]], fact_keys: set[str]) -> bool:
        """Emit the durable_rules rules of one branch (False: none, it can never hold)."""
        # Two ways to write the condition as durable_rules rules (any one of which fires when it
        # holds): one rule when it tests one fact and no field against another, or its
        # disjunctive normal form.  The one adding fewer rules not emitted yet wins (a disjunction
        # of other branches' conditions, a derived fact inlined, then adds none).
        candidates: list[list[list[dict[str, Any]]]] = []
        condition_owners = owners(condition)
        # one pattern (nested $and/$or) only over one fact with no field compared to another:
        # durable_rules evaluates such tests nested wrongly
        whole = len(condition_owners) <= 1 and not _has_ref(condition)
        if whole or _plain_conjunction(condition):  # one rule, its own normal form (the usual case)
            candidates.append([self.patterns(condition, condition_owners, fact_keys)])
        if isinstance(condition, Or) or not candidates:
            conjunctions = normal_form(condition)
            if conjunctions is not None:
                candidates.append([self.patterns(c, owners(c), fact_keys) for c in conjunctions])
        if not candidates:
            raise CompileProblem(Issue("condition_too_complex", f"rule {tv.rule.id!r}: a branch expands to "
                                       f"more than {MAX_TERMS} alternatives across facts; split the rule",
                                       tv.version.loc))
        terms_json = (candidates[0] if len(candidates) == 1 else
                      min(candidates, key=lambda c: (self.new_rules(c), len(c))))  # the first of equals
        for term, patterns in enumerate(terms_json):
            # Branches whose terms test the very same thing share one durable_rules rule (a
            # derivation and the checks that read what it derives, once inlined): it fires once
            # and the driver takes every branch it decides.
            key = repr(patterns)  # built in one order by ``patterns``: equal rules, equal text
            name = self.by_patterns.get(key)
            if name is None:
                name = f"r{slot}b{index}" + (f"t{term}" if len(terms_json) > 1 else "")
                durable[name] = {"all": patterns}
                names[name] = ()
                self.by_patterns[key] = name
            self.attach(slot, index, name, names)
        return bool(terms_json)

    def attach(self, slot: int, index: int, name: str, names: dict[str, tuple[tuple[int, int], ...]]) -> None:
        """Durable rule ``name`` fires for branch ``index`` of the rule in ``slot`` (among others)."""
        if (slot, index) not in names[name]:
            names[name] += ((slot, index),)
            self.emitted.setdefault((slot, index), []).append(name)

    def new_rules(self, terms_json: list[list[dict[str, Any]]]) -> int:
        """How many of these durable_rules rules are not emitted yet."""
        return len({key for key in map(repr, terms_json) if key not in self.by_patterns})

    def patterns(self, condition: Tests, condition_owners: set[str], fact_keys: set[str]) -> list[dict[str, Any]]:
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
                per_owner[_owner(placed.left)].append(placed)
        elif isinstance(condition, Test):
            placed = _place(condition, order)
            per_owner[_owner(placed.left)].append(placed)
        elif condition != TRUE:
            (only,) = condition_owners
            per_owner[only].append(condition)
        result = []
        for owner in involved:
            fact_type = "f" if owner == BASE else owner
            tests = [{"t": fact_type}] + [durable_json(node, fact_keys) for node in per_owner[owner]]
            result.append({owner: tests[0] if len(tests) == 1 else {"$and": tests}})
        return result


AS_OF = FactRef("as_of")
_COMPOSITE = (list, tuple, dict)


def _fold_day(op: str, day: Any, period: Period) -> Tests:
    """``as_of op day`` over every decision date of ``period``: TRUE, FALSE, or the test itself."""
    test = Test(AS_OF, op, Const(day))
    if not isinstance(day, int) or isinstance(day, bool):
        return test
    low, high = period.start, period.end
    if op in ("eq", "ne"):
        never = (low is not None and day < low) or (high is not None and day > high)
        always = low == high == day
        if op == "ne":
            never, always = always, never
    elif op in ("lt", "le"):
        always = high is not None and holds(op, high, day)
        never = low is not None and not holds(op, low, day)
    else:
        always = low is not None and holds(op, low, day)
        never = high is not None and not holds(op, high, day)
    return TRUE if always else FALSE if never else test


def _is_flag(ref: FieldRef) -> bool:
    """A field the base fact always holds as a bool (a given-flag, or a bool fact that cannot be null)."""
    if isinstance(ref, GivenRef):
        return True
    if isinstance(ref, FactRef):
        spec = catalog.BY_PATH[ref.path]
        return spec.type.kind == "bool" and not spec.nullable
    return False


def _complement(test: Test) -> Test | None:
    """The test of the base fact that holds exactly when ``test`` does not (durable_rules reads
    every field a segment tests from the base fact, so each has a value); None for a derived fact
    (which may not exist)."""
    if isinstance(test.left, DerivedRef) or isinstance(test.right, DerivedRef):
        return None
    flag = _flag_value(test)
    if flag is not None:
        return Test(test.left, "eq", Const(not flag))
    return test.negated() if test.op in NEGATE else None


def _flag_value(test: Test) -> bool | None:
    """The bool a test of a flag asks for (``flag = true``), or None."""
    if test.op == "eq" and isinstance(test.right, Const) and isinstance(test.right.value, bool) and _is_flag(test.left):
        return test.right.value
    return None


def _contradictory(term: tuple[Test, ...]) -> bool:
    """A flag tested equal to both bools (``conj`` finds a test next to its own negation)."""
    asked: dict[FieldRef, bool] = {}
    for test in term:
        value = _flag_value(test)
        if value is not None and asked.setdefault(test.left, value) != value:
            return True
    return False


@functools.lru_cache(maxsize=4096)
def normal_form(node: Tests) -> tuple[Tests, ...] | None:
    """``node`` as a disjunction of conjunctions of tests, simplified (``simplify_terms``), or
    None past MAX_TERMS terms.  Cached: the same conditions recur in every period of a city."""
    try:
        terms = simplify_terms(dnf(node))
    except OverflowError:
        return None
    return tuple(c for c in (conj(term) for term in terms) if c != FALSE)  # x-and-not-x terms dropped


def simplify_terms(terms: list[tuple[Test, ...]]) -> list[tuple[Test, ...]]:
    """The same disjunction with fewer durable_rules rules: contradictory terms dropped, two terms
    that differ only in a test and its complement (``A and B``, ``A and not B``) merged into
    their common part (``A``), and a term containing another dropped."""
    result = [term for term in terms if not _contradictory(term)]
    merged = len(result) > 1
    while merged:
        merged = False
        where = {frozenset(term): i for i, term in enumerate(result)}
        for i, term in enumerate(result):
            rest = frozenset(term)
            for test in term:
                other = _complement(test)
                j = where.get(rest - {test} | {other}) if other is not None else None
                if j is not None and j != i:
                    result[i] = tuple(t for t in term if t != test)
                    del result[j]
                    merged = True
                    break
            if merged:
                break
    sets = [frozenset(term) for term in result]
    return [term for i, term in enumerate(result)
            if not any(other < sets[i] or (other == sets[i] and j < i) for j, other in enumerate(sets) if j != i)]


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


def _is_ineligible_test(node: Tests) -> bool:
    """A test of ``eligible`` alone that holds exactly when it is false."""
    return (isinstance(node, Test) and isinstance(node.left, DerivedRef) and node.left.slot is None
            and isinstance(node.right, Const) and holds(node.op, False, node.right.value)
            and not holds(node.op, True, node.right.value))


def _plain_conjunction(node: Tests) -> bool:
    """A test, or tests all of which must hold: one durable_rules rule over the facts they test."""
    return isinstance(node, Test) or (isinstance(node, And) and all(isinstance(i, Test) for i in node.items))


def _has_ref(node: Tests) -> bool:
    if isinstance(node, Test):
        return not isinstance(node.right, Const)
    return any(_has_ref(i) for i in node.items)


def _place(test: Test, order: dict[str, int]) -> Test:
    """A cross-fact test goes in the later pattern and references the earlier alias."""
    if isinstance(test.right, Const) or _owner(test.right) == _owner(test.left):
        return test
    if order[_owner(test.right)] > order[_owner(test.left)]:
        return Test(test.right, FLIP[test.op], test.left)
    return test


def durable_json(node: Tests, fact_keys: set[str]) -> Any:
    if isinstance(node, And):
        return {"$and": [durable_json(i, fact_keys) for i in node.items]}
    if isinstance(node, Or):
        return {"$or": [durable_json(i, fact_keys) for i in node.items]}
    owner, key = _owner(node.left), _key(node.left)
    if owner == BASE:
        fact_keys.add(key)
    if isinstance(node.right, Const):
        right: Any = node.right.value
    else:
        r_owner, r_key = _owner(node.right), _key(node.right)
        if r_owner == BASE:
            fact_keys.add(r_key)
        right = {"$m": r_key} if r_owner == owner else {r_owner: r_key}
    if node.op == "eq":
        return {key: right}
    return {DURABLE_OP[node.op]: {key: right}}


# ------------------------------------------------------------------ code generation


@functools.lru_cache(maxsize=4096)
def generated_code(source: str, filename: str) -> Any:
    """Generated source -> code object, once (bounded): the same rule's actions and reasons recur
    in every segment of a city with other constants (bound in the namespace), and ``compile()``
    dominated compiling and rendering a new segment."""
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
    exec(generated_code("\n".join(lines), f"<derive {tv.rule.id}>"), namespace)
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
    exec(generated_code(source, f"<encode {name}>"), namespace)
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
