"""Type-check a merged view and lower its rules to a typed IR the compiler consumes.

Checks: parameter / derived-fact / fact references, fact availability per request type,
operand types and literals, derive totality (every branch derives the same facts), check
structure (a pass side and a fail side), reserved names, one producer per derived fact, and
derivation cycles.  Rules that depend on ``eligible`` form stratum 2 (see evaluate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import catalog, values
from .catalog import VType
from .errors import Issue, SourceLocation
from .layering import View, parse_value
from .model import (Action, Atom, Condition, Expression, Group, Lit, Negation, Ref, Rule, RuleVersion,
                    Text, Truth, iter_conditions, iter_expression_refs, message_refs)
from .validate import did_you_mean

NUMERIC = ("money", "percent", "int")

# ---------------------------------------------------------------------------------- IR


@dataclass(frozen=True)
class Operand:
    kind: str  # fact | derived | param | lit
    name: str
    vtype: VType | None
    value: Any = None  # literal value (engine representation)
    nullable: bool = False


@dataclass(frozen=True)
class TAtom:
    left: Operand
    op: str
    right: Operand
    source: Atom


@dataclass(frozen=True)
class TGroup:
    kind: str
    items: tuple[TCondition, ...]


@dataclass(frozen=True)
class TNot:
    item: TCondition


@dataclass(frozen=True)
class TTruth:
    value: bool


TCondition = TAtom | TGroup | TNot | TTruth


@dataclass(frozen=True)
class TCall:
    func: str
    args: tuple[TExpression, ...]
    vtype: VType | None


TExpression = Operand | TCall


@dataclass(frozen=True)
class TDerivation:
    name: str
    expr: TExpression
    vtype: VType | None


@dataclass(frozen=True)
class TAction:
    derive: tuple[TDerivation, ...]
    outcome: str | None
    code: str | None
    message: Text | None
    source: Action

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.derive)


@dataclass(frozen=True)
class TVersion:
    rule: Rule
    version: RuleVersion
    index: int
    cases: tuple[tuple[TCondition, TAction], ...]
    otherwise: TAction | None
    kind: str  # check | derive | info
    derived: tuple[str, ...]  # derived facts this version produces
    inputs: frozenset[str]  # derived facts it reads (not produced by itself)
    params: frozenset[str]
    facts: frozenset[str]

    @property
    def actions(self) -> tuple[TAction | None, ...]:
        return tuple(a for _, a in self.cases) + (self.otherwise,)


@dataclass
class Analysis:
    versions: list[TVersion]
    derived_types: dict[str, VType]
    producers: dict[str, str]
    strata: dict[str, int]
    issues: list[Issue] = field(default_factory=list)


# ------------------------------------------------------------------------------ checker


def _literal_type(value: Any) -> VType | None:
    """Type of a literal standing alone: bool, int, "12.00" money, "60%" percent, ISO date, text."""
    if isinstance(value, bool):
        return catalog.BOOL
    if isinstance(value, int):
        return catalog.INT
    if isinstance(value, float):
        return None  # ambiguous: money or a percentage (see invalid_expression's message)
    if isinstance(value, str):
        if value.endswith("%"):
            return catalog.PERCENT
        try:
            values.parse_date(value)
            return catalog.DATE
        except values.ValueProblem:
            pass
        if "." in value:
            try:
                values.parse_money(value)
                return catalog.MONEY
            except values.ValueProblem:
                pass
        return catalog.TEXT
    return None


class Checker:
    def __init__(self, view: View):
        self.view = view
        self.issues: list[Issue] = []
        self.derived_types: dict[str, VType] = dict(catalog.RESERVED_DERIVED)
        self.producers: dict[str, str] = {}
        self.rule: Rule | None = None
        self.local: dict[str, VType] = {}
        self.final = False

    def err(self, code: str, message: str, loc: SourceLocation, **kw: Any) -> None:
        if self.final:
            self.issues.append(Issue(code, message, loc, **kw))

    # -------------------------------------------------------------- operands
    def ref_type(self, ref: Ref) -> Operand:
        if ref.kind == "fact":
            spec = catalog.BY_PATH.get(ref.name)
            if spec is None:
                return Operand("fact", ref.name, None)  # reported by the file builder
            if self.rule is not None:
                missing = sorted(self.rule.applies_to - spec.requests)
                if missing:
                    self.err("field_not_available", f"fact {ref.name!r} exists only in "
                             f"{'/'.join(sorted(spec.requests))} requests, but rule {self.rule.id!r} also applies "
                             f"to {'/'.join(missing)}", ref.loc, expected=sorted(spec.requests), found=missing)
            return Operand("fact", ref.name, spec.type, nullable=spec.nullable)
        if ref.kind == "param":
            param = self.view.parameters.get(ref.name)
            if param is None and ref.name in self.view.unresolved:
                return Operand("param", ref.name, None)  # its definition's own error is reported
            if param is None:
                self.err("unknown_parameter", f"no parameter {ref.name!r} in {self.view.id}'s rulesets", ref.loc,
                         found=ref.name, hint=did_you_mean(ref.name, self.view.parameters))
                return Operand("param", ref.name, None)
            return Operand("param", ref.name, param.type, nullable=param.nullable)
        if ref.name in self.local:
            return Operand("derived", ref.name, self.local[ref.name])
        if ref.name in self.producers and self.derived_types.get(ref.name) is None:
            return Operand("derived", ref.name, None)  # derived, type unknown (e.g. inside a reported cycle)
        if ref.name not in self.derived_types:
            self.err("unknown_derived_fact", f"no rule derives {ref.name!r}", ref.loc, found=ref.name,
                     hint=did_you_mean(ref.name, self.derived_types))
            return Operand("derived", ref.name, None)
        return Operand("derived", ref.name, self.derived_types[ref.name])

    def literal(self, lit: Lit, vtype: VType | None, what: str) -> Operand:
        if vtype is None:
            return Operand("lit", "", None, lit.value)
        if lit.value is None:
            self.err("wrong_type", f"{what}: a value is required", lit.loc, expected=vtype.describe())
            return Operand("lit", "", vtype, None)
        try:
            return Operand("lit", "", vtype, parse_value(vtype, lit.value))
        except values.ValueProblem as exc:
            code = "unknown_enum_value" if vtype.kind == "enum" or (vtype.kind == "set" and vtype.elem and
                                                                   vtype.elem.kind == "enum") else "type_mismatch"
            self.err(code, f"{what}: {exc}", lit.loc, expected=exc.expected, found=_show(lit.value))
            return Operand("lit", "", vtype, None)

    # -------------------------------------------------------------- conditions
    def condition(self, cond: Condition) -> TCondition:
        if isinstance(cond, Truth):
            return TTruth(cond.value)
        if isinstance(cond, Group):
            return TGroup(cond.kind, tuple(self.condition(c) for c in cond.items))
        if isinstance(cond, Negation):
            return TNot(self.condition(cond.item))
        return self.atom(cond)

    def atom(self, atom: Atom) -> TCondition:
        left = self.ref_type(atom.left)
        op = atom.op
        ltype = left.vtype
        if op == "present":
            if ltype is not None and not left.nullable:
                self.err("type_mismatch", f"{atom.left} is never absent, so 'present' is always true",
                         atom.loc, expected="a nullable field or parameter", found=str(atom.left))
            value = atom.right.value if isinstance(atom.right, Lit) else True
            return TAtom(left, op, Operand("lit", "", catalog.BOOL, bool(value)), atom)
        if op in ("in", "not_in"):
            want = catalog.set_of(ltype) if ltype is not None else None
            if isinstance(atom.right, Ref):
                right = self.ref_type(atom.right)
                if want is not None and right.vtype is not None and not right.vtype.compatible(want):
                    self.err("type_mismatch", f"{atom.right} is {right.vtype.describe()}, not a list of "
                             f"{ltype.describe() if ltype else '?'}", atom.right.loc, expected=want.describe(),
                             found=right.vtype.describe())
            else:
                right = self.literal(atom.right, want, f"{atom.left} {op}")
            if ltype is not None and ltype.kind in ("set", "table"):
                self.err("type_mismatch", f"{atom.left} is a list; use a single value on the left of '{op}'",
                         atom.loc, found=ltype.describe())
            return TAtom(left, op, right, atom)
        if isinstance(atom.right, Ref):
            right = self.ref_type(atom.right)
            if (atom.right.kind, atom.right.name) == (atom.left.kind, atom.left.name):
                self.err("self_comparison", f"{atom.left} is compared with itself: the test is always "
                         f"{'true' if op in ('eq', 'le', 'ge') else 'false'} whatever the input", atom.loc,
                         expected="two different values", found=f"{atom.left} {op} {atom.right}")
            if ltype is not None and right.vtype is not None and not ltype.compatible(right.vtype):
                self.err("type_mismatch", f"cannot compare {atom.left} ({ltype.describe()}) with {atom.right} "
                         f"({right.vtype.describe()})", atom.loc, expected=ltype.describe(),
                         found=right.vtype.describe())
        else:
            right = self.literal(atom.right, ltype, f"{atom.left}")
        if op in ("lt", "le", "gt", "ge") and ltype is not None and not ltype.ordered:
            self.err("type_mismatch", f"'{op}' needs an ordered value (money, date, number, percentage); "
                     f"{atom.left} is {ltype.describe()}", atom.loc, expected="money, date, int or percent",
                     found=ltype.kind)
        if ltype is not None and ltype.kind in ("set", "table"):
            self.err("type_mismatch", f"{atom.left} is {ltype.describe()}; compare single values", atom.loc,
                     found=ltype.describe())
        return TAtom(left, op, right, atom)

    # -------------------------------------------------------------- expressions
    def expression(self, expr: Expression, expected: VType | None) -> TExpression:
        if isinstance(expr, Ref):
            operand = self.ref_type(expr)
            if expected is not None and operand.vtype is not None and not expected.compatible(operand.vtype):
                self.err("type_mismatch", f"{expr} is {operand.vtype.describe()} where {expected.describe()} is "
                         "expected", expr.loc, expected=expected.describe(), found=operand.vtype.describe())
            return operand
        if isinstance(expr, Lit):
            vtype = expected or _literal_type(expr.value)
            if vtype is None:
                if isinstance(expr.value, float):
                    self.err("invalid_expression", f"{expr.value} could be money or a percentage: write "
                             f"\"{expr.value:.2f}\" for an amount or \"{expr.value:g}%\" for a percentage", expr.loc,
                             found=expr.value)
                else:
                    self.err("invalid_expression", "not a value: use a literal, {fact|derived|param: NAME} or a "
                             "function", expr.loc, found=_show(expr.value))
                return Operand("lit", "", None, None)
            return self.literal(expr, vtype, "value")
        func = expr.func
        if func == "percent_of":
            args = list(expr.args) + [Lit(None)] * (2 - len(expr.args))
            amount = self.expression(args[0], catalog.MONEY)
            ratio = self.expression(args[1], catalog.PERCENT)
            result = TCall(func, (amount, ratio), catalog.MONEY)
        elif func == "lookup":
            args = list(expr.args) + [Lit(None)] * (2 - len(expr.args))
            table = self.expression(args[0], None)
            ttype = table.vtype if isinstance(table, Operand) else None
            if ttype is not None and ttype.kind != "table":
                self.err("type_mismatch", "lookup's first argument must be a table parameter", expr.loc,
                         expected="a table", found=ttype.describe())
                ttype = None
            key = self.expression(args[1], ttype.key if ttype else None)
            result = TCall(func, (table, key), ttype.elem if ttype else None)
        else:
            # add / sub / min / max: every argument of one numeric type
            arg_type = expected if expected is not None and expected.kind in NUMERIC else None
            if arg_type is None:
                for arg in expr.args:
                    if not isinstance(arg, Lit):
                        probe = self._peek(arg)
                        if probe is not None:
                            arg_type = probe
                            break
            if arg_type is None:
                arg_type = _literal_type(expr.args[0].value) if expr.args and isinstance(expr.args[0], Lit) else None
            if arg_type is not None and arg_type.kind not in NUMERIC:
                self.err("type_mismatch", f"{func} works on money, percentages or whole numbers", expr.loc,
                         expected="money, percent or int", found=arg_type.describe())
            args_t = tuple(self.expression(arg, arg_type) for arg in expr.args)
            result = TCall(func, args_t, arg_type)
        if expected is not None and result.vtype is not None and not expected.compatible(result.vtype):
            self.err("type_mismatch", f"{func}(...) gives {result.vtype.describe()} where {expected.describe()} "
                     "is expected", expr.loc, expected=expected.describe(), found=result.vtype.describe())
        return result

    def _peek(self, expr: Expression) -> VType | None:
        """Type of an expression without reporting anything."""
        final, self.final = self.final, False
        try:
            result = self.expression(expr, None)
        finally:
            self.final = final
        return result.vtype

    # -------------------------------------------------------------- actions & versions
    def action(self, action: Action | None, other_types: dict[str, VType]) -> TAction | None:
        if action is None:
            return None
        derivations = []
        for derivation in action.derive:
            if derivation.name == catalog.ELIGIBLE:
                self.err("reserved_name", f"{catalog.ELIGIBLE!r} is derived by the engine from the checks; rules "
                         "may read it but not set it", derivation.loc, found=derivation.name)
            expected = catalog.RESERVED_DERIVED.get(derivation.name) or other_types.get(derivation.name)
            texpr = self.expression(derivation.expr, expected)
            vtype = expected or (texpr.vtype if isinstance(texpr, (Operand, TCall)) else None)
            derivations.append(TDerivation(derivation.name, texpr, vtype))
            if vtype is not None:
                self.local[derivation.name] = vtype
        for ref in message_refs(action.message):
            self.ref_type(Ref(ref.kind, ref.name, action.loc))
        return TAction(tuple(derivations), action.outcome, action.code, action.message, action)

    def version(self, rule: Rule, index: int, version: RuleVersion) -> TVersion:
        self.rule = rule
        names: list[str] = []
        for action in version.branches:
            if action is not None:
                for name in action.derived_names:
                    if name not in names:
                        names.append(name)
        # types each derived name gets in the branches that fix it without help
        other_types = {n: self.derived_types[n] for n in names if n in self.derived_types}
        cases = []
        for case in version.cases:
            self.local = {}
            cond = self.condition(case.when)
            cases.append((cond, self.action(case.then, other_types)))
        self.local = {}
        otherwise = self.action(version.otherwise, other_types)
        self.local = {}
        kind = self._kind(rule, version, names)
        inputs, params, facts = set(), set(), set()
        for case in version.cases:
            for atom in iter_conditions(case.when):
                for ref in (atom.left, atom.right):
                    if isinstance(ref, Ref):
                        {"fact": facts, "param": params, "derived": inputs}[ref.kind].add(ref.name)
        for action in version.branches:
            if action is None:
                continue
            local: set[str] = set()
            for derivation in action.derive:
                for ref in iter_expression_refs(derivation.expr):
                    if ref.kind == "derived" and ref.name in local:
                        continue
                    {"fact": facts, "param": params, "derived": inputs}[ref.kind].add(ref.name)
                local.add(derivation.name)
            for ref in message_refs(action.message):
                if ref.kind == "derived" and ref.name in local:
                    continue
                {"fact": facts, "param": params, "derived": inputs}[ref.kind].add(ref.name)
        self.rule = None
        return TVersion(rule, version, index, tuple(cases), otherwise, kind, tuple(names),
                        frozenset(inputs), frozenset(params), frozenset(facts))

    def _kind(self, rule: Rule, version: RuleVersion, names: list[str]) -> str:
        branches = version.branches
        outcomes = [a.outcome if a is not None else None for a in branches]
        where = version.loc
        if names:
            for action in branches:
                got = set(action.derived_names) if action is not None else set()
                if got != set(names):
                    missing = sorted(set(names) - got)
                    self.err("derive_not_total", f"rule {rule.id!r}: every branch must derive the same facts so "
                             f"later rules can rely on them; a branch{' (else)' if action is branches[-1] else ''} "
                             f"does not derive {missing}", action.loc if action is not None else where,
                             expected=sorted(names), found=sorted(got))
                    break
        if "pass" in outcomes or "fail" in outcomes:
            bad = [o for o in outcomes if o not in ("pass", "fail")]
            if bad or "pass" not in outcomes or "fail" not in outcomes:
                self.err("check_not_total", f"rule {rule.id!r} is a check: every branch, including else, needs "
                         "outcome pass or fail, with at least one of each", where,
                         expected="pass and fail branches", found=outcomes)
            return "check"
        if names:
            return "derive"
        if not any(outcomes) and version.enabled:
            self.err("rule_has_no_effect", f"rule {rule.id!r} neither derives facts nor gives an outcome", where)
        return "info"


def _show(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def analyse(view: View) -> Analysis:
    """Type-check every rule version of ``view``; returns the typed IR and all issues."""
    checker = Checker(view)
    producers: dict[str, str] = {}
    issues: list[Issue] = []
    for rule in view.rules:
        for version in rule.versions:
            for action in version.branches:
                if action is None:
                    continue
                for derivation in action.derive:
                    owner = producers.setdefault(derivation.name, rule.id)
                    if owner != rule.id:
                        issues.append(Issue("derived_fact_redefined", f"{derivation.name!r} is already derived by "
                                            f"rule {owner!r}; each derived fact has one producing rule",
                                            derivation.loc, found=derivation.name, expected=owner))
    checker.producers = producers
    for name in producers:
        checker.derived_types.setdefault(name, None)  # type: ignore[arg-type]
    # Fixpoint: learn derived-fact types from the branches that fix them, quietly.
    for _ in range(len(producers) + 1):
        changed = False
        for rule in view.rules:
            for index, version in enumerate(rule.versions):
                tversion = checker.version(rule, index, version)
                for action in tversion.actions:
                    for derivation in (action.derive if action else ()):
                        if derivation.vtype is not None and checker.derived_types.get(derivation.name) is None:
                            checker.derived_types[derivation.name] = derivation.vtype
                            changed = True
        if not changed:
            break
    for name, vtype in list(checker.derived_types.items()):
        if vtype is None:
            del checker.derived_types[name]
    _enumerate_labels(view, checker.derived_types)
    checker.final = True
    versions = [checker.version(rule, index, version)
                for rule in view.rules for index, version in enumerate(rule.versions)]
    for tversion in versions:
        for action in tversion.actions:
            for derivation in (action.derive if action else ()):
                known = checker.derived_types.get(derivation.name)
                if derivation.vtype is not None and known is not None and not known.compatible(derivation.vtype):
                    issues.append(Issue("type_mismatch", f"{derivation.name!r} is {known.describe()} elsewhere but "
                                        f"{derivation.vtype.describe()} here", action.source.loc,
                                        expected=known.describe(), found=derivation.vtype.describe()))
    issues.extend(checker.issues)
    if not any(i.severity == "error" for i in issues + checker.issues):
        issues.extend(NullProof(view, versions).issues())
    strata = _strata(view, versions, producers, issues)
    return Analysis(versions, checker.derived_types, producers, strata, issues)


Var = tuple[str, str]  # (fact|param, name): a nullable input that may or may not have a value
_BOTH = frozenset({True, False})


class NullProof:
    """Proves that every derivation reads nullable facts and parameters only where the path to its
    branch shows they have a value.  The path is the branch's condition and the failure of the
    earlier cases; a value is shown by ``present: true``, by a comparison that holds only with a
    value, or, through a derived enum (``{derived: pooling.schedule, eq: resident_outpatient}``),
    by the paths of every branch that derives that value.  For each input the proof tries every
    presence/absence of the nullable inputs the paths mention (other tests may go either way):
    if some choice reaches the branch with the input absent, the derivation is rejected; at decide
    time it would fail (a lookup or arithmetic on nothing) or assert a null."""

    MAX_VARIABLES = 10  # tried both ways (2**10 choices at most per input read)

    def __init__(self, view: View, versions: list[TVersion]):
        self.view = view
        self.versions = versions
        self.domains: dict[str, tuple[Any, ...]] = {}
        self.cache: dict[tuple[Any, ...], bool] = {}
        self.producers: dict[str, list[tuple[TVersion, int, TAction]]] = {}
        for tv in versions:
            for index, action in enumerate(tv.actions):
                for derivation in (action.derive if action is not None else ()):
                    self.producers.setdefault(derivation.name, []).append((tv, index, action))

    def nullable(self, operand: Operand) -> bool:
        if operand.kind == "fact":
            return operand.nullable
        if operand.kind == "param":
            param = self.view.parameters.get(operand.name)
            return param is not None and param.nullable
        return False

    # -- which nullable inputs the path to a branch mentions (through derived enums too)
    def variables(self, cond: TCondition, seen: set[str]) -> set[Var]:
        if isinstance(cond, TTruth):
            return set()
        if isinstance(cond, TNot):
            return self.variables(cond.item, seen)
        if isinstance(cond, TGroup):
            return set().union(*(self.variables(item, seen) for item in cond.items)) if cond.items else set()
        found = {(o.kind, o.name) for o in (cond.left, cond.right) if self.nullable(o)}
        if self.enum_test(cond):
            found.add(("derived", cond.left.name))  # its value, tried over the enum's domain
            self.domains[cond.left.name] = tuple(cond.left.vtype.domain)  # type: ignore[union-attr]
        if self.enum_test(cond) and cond.left.name not in seen:
            seen.add(cond.left.name)
            for tv, index, _ in self.value_producers(cond):
                if index < len(tv.cases):
                    found |= self.variables(tv.cases[index][0], seen)
        return found

    def branch_variables(self, tv: TVersion, index: int) -> list[Var]:
        """The nullable inputs worth trying both ways: those of this branch's case first, then of the
        earlier cases (each through the derived enums they test), at most MAX_VARIABLES; the
        others count as unknown (either way), which can only make the proof fail, never pass."""
        order: list[Var] = []
        conds = [tv.cases[index][0]] if index < len(tv.cases) else []
        conds += [cond for cond, _ in reversed(tv.cases[:index])]
        for cond in conds:
            for var in sorted(self.variables(cond, set())):
                if var not in order:
                    order.append(var)
        return order[: self.MAX_VARIABLES]

    def value_producers(self, cond: TAtom) -> list[tuple[TVersion, int, TAction]]:
        """The branches that derive one of the values an enum test asks for."""
        right = cond.right
        wanted = right.value if cond.op == "in" and isinstance(right.value, tuple) else (right.value,)
        return [(tv, index, action) for tv, index, action in self.producers.get(cond.left.name, ())
                for d in action.derive
                if d.name == cond.left.name and isinstance(d.expr, Operand) and d.expr.kind == "lit"
                and d.expr.value in wanted]

    @staticmethod
    def enum_test(cond: TAtom) -> bool:
        left = cond.left
        return (left.kind == "derived" and left.vtype is not None and left.vtype.kind == "enum"
                and cond.right.kind == "lit" and cond.op in ("eq", "in"))

    # -- can a condition be true / false when the inputs in ``present`` have values and others not?
    def outcomes(self, cond: TCondition, known: dict[Var, Any], depth: int = 0) -> frozenset[bool]:
        """The values ``cond`` can take when the inputs in ``known`` are present (True) or absent
        (False); inputs not in ``known`` may be either."""
        if isinstance(cond, TTruth):
            return frozenset({cond.value})
        if isinstance(cond, TNot):
            return frozenset(not v for v in self.outcomes(cond.item, known, depth))
        if isinstance(cond, TGroup):
            parts = [self.outcomes(item, known, depth) for item in cond.items]
            if cond.kind == "all":
                can_true, can_false = all(True in p for p in parts), any(False in p for p in parts)
            else:
                can_true, can_false = any(True in p for p in parts), all(False in p for p in parts)
            return frozenset(v for v, ok in ((True, can_true), (False, can_false)) if ok)
        left, op, right = cond.left, cond.op, cond.right
        if op == "present":
            has = known.get((left.kind, left.name)) if self.nullable(left) else True
            return _BOTH if has is None else frozenset({has == bool(right.value)})
        if op not in ("ne", "not_in") and any(self.nullable(o) and known.get((o.kind, o.name)) is False
                                               for o in (left, right)):
            return frozenset({False})  # a comparison with nothing does not hold
        if self.enum_test(cond) and ("derived", left.name) in known:
            wanted = right.value if op == "in" and isinstance(right.value, tuple) else (right.value,)
            return frozenset({known[("derived", left.name)] in wanted})
        if self.enum_test(cond) and depth < 8 and not any(
                self.reachable(tv, index, known, depth + 1) for tv, index, _ in self.value_producers(cond)):
            return frozenset({False})
        return _BOTH

    def feasible(self, known: dict[Var, Any]) -> bool:
        """Every derived value chosen can be derived: some branch deriving it can be taken."""
        for (kind, name), value in known.items():
            if kind != "derived":
                continue
            rest = {k: v for k, v in known.items() if k != (kind, name)}
            if not any(self.reachable(tv, index, rest, 1) for tv, index, action in self.producers.get(name, ())
                       for d in action.derive if d.name == name and isinstance(d.expr, Operand)
                       and d.expr.kind == "lit" and d.expr.value == value):
                return False
        return True

    def reachable(self, tv: TVersion, index: int, known: dict[Var, Any], depth: int = 0) -> bool:
        """Branch ``index`` of ``tv`` (``len(cases)``: else) can be taken: its case can hold and every
        earlier case can fail."""
        key = (id(tv), index, frozenset(known.items()), depth)
        cached = self.cache.get(key)
        if cached is None:
            cached = self.cache[key] = self._reachable(tv, index, known, depth)
        return cached

    def _reachable(self, tv: TVersion, index: int, known: dict[Var, Any], depth: int) -> bool:
        for position, (cond, _) in enumerate(tv.cases):
            outcomes = self.outcomes(cond, known, depth)
            if position == index:
                return True in outcomes
            if False not in outcomes:
                return False
        return True

    def issues(self) -> list[Issue]:
        found = []
        for tv in self.versions:
            if not tv.version.enabled:
                continue
            for index, action in enumerate(tv.actions):
                for derivation in (action.derive if action is not None else ()):
                    for operand in self.reads(derivation.expr):
                        var = (operand.kind, operand.name)
                        if not self.reachable(tv, index, {var: False}):
                            continue  # unreachable without the input even with everything else unknown
                        others = [v for v in self.branch_variables(tv, index) if v != var]
                        choices = [self.domains[v[1]] if v[0] == "derived" else (False, True) for v in others]
                        if self.witness(tv, index, {var: False}, others, choices):
                            where = f"{operand.kind}: {operand.name}"
                            found.append(Issue(
                                "nullable_input", f"rule {tv.rule.id!r}: {derivation.name!r} reads {{{where}}}, "
                                "which can be absent on a path to this branch; test it with "
                                f"{{{where}, present: true}} in this branch's condition", action.source.loc,
                                expected=f"{{{where}}} proven present", found=f"{{{where}}} may be null"))
        return found

    def witness(self, tv: TVersion, index: int, known: dict[Var, Any], others: list[Var],
                choices: list[tuple[Any, ...]]) -> bool:
        """Some choice of values for ``others`` (after those in ``known``) reaches the branch with
        every chosen derived value derivable.  A depth-first search over the choices, pruned where a
        partial choice already fails: an input left out counts as either way, so whatever a partial
        choice cannot reach, no completion of it reaches (the same answer as trying every full
        choice, without trying most of them)."""
        if not (self.reachable(tv, index, known) and self.feasible(known)):
            return False
        if not others:
            return True
        var, rest = others[0], others[1:]
        return any(self.witness(tv, index, {**known, var: value}, rest, choices[1:]) for value in choices[0])

    def reads(self, expr: TExpression, in_min_max: bool = False) -> list[Operand]:
        """Nullable operands an expression needs (min/max skip an unstated parameter)."""
        if isinstance(expr, Operand):
            if not self.nullable(expr) or (in_min_max and expr.kind == "param"):
                return []
            return [expr]
        out: list[Operand] = []
        for arg in expr.args:
            for operand in self.reads(arg, expr.func in ("min", "max")):
                if operand not in out:
                    out.append(operand)
        return out


def _enumerate_labels(view: View, derived_types: dict[str, VType]) -> None:
    """A derived fact that every branch sets to a text literal (``pooling.schedule:
    employee_outpatient``) is an enum of those literals, so a comparison with a misspelled value
    is a type error at check time, as for base facts, instead of a test that never holds."""
    literals: dict[str, set[str]] = {}
    other: set[str] = set()
    for rule in view.rules:
        for version in rule.versions:
            for action in version.branches:
                for derivation in (action.derive if action is not None else ()):
                    expr = derivation.expr
                    if isinstance(expr, Lit) and isinstance(expr.value, str):
                        literals.setdefault(derivation.name, set()).add(expr.value)
                    else:
                        other.add(derivation.name)
    for name, found in literals.items():
        vtype = derived_types.get(name)
        if name in other or vtype is None or vtype.kind != "text" or name in catalog.RESERVED_DERIVED:
            continue
        derived_types[name] = VType("enum", tuple(sorted(found)), name=f"derived:{name}")


def _strata(view: View, versions: list[TVersion], producers: dict[str, str], issues: list[Issue]) -> dict[str, int]:
    """Cycle check over rule dependencies and the stratum of each rule (2 = reads ``eligible``)."""
    deps: dict[str, set[str]] = {rule.id: set() for rule in view.rules}
    reads_eligible: set[str] = set()
    kinds: dict[str, set[str]] = {}
    locs = {rule.id: rule.loc for rule in view.rules}
    for tv in versions:
        kinds.setdefault(tv.rule.id, set()).add(tv.kind)
        for name in tv.inputs:
            if name == catalog.ELIGIBLE:
                reads_eligible.add(tv.rule.id)
            elif name in producers:
                deps[tv.rule.id].add(producers[name])
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(deps.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                issues.append(Issue("derivation_cycle", "rules depend on each other in a circle: "
                                    + " -> ".join(cycle), locs.get(node, SourceLocation()), found=cycle))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(deps):
        if node not in state:
            visit(node)
    strata: dict[str, int] = {}

    def stratum(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node in strata:
            return strata[node]
        if node in seen:
            return 1
        level = 2 if node in reads_eligible else max((stratum(d, seen | {node}) for d in deps[node]), default=1)
        strata[node] = level
        return level

    for node in sorted(deps):
        if stratum(node) == 2 and "check" in kinds.get(node, set()):
            issues.append(Issue("check_depends_on_eligibility", f"check {node!r} reads 'eligible' (directly or "
                                "through derived facts), but eligibility is the result of all checks", locs[node]))
    return strata
