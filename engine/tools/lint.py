"""``gongji lint``: the analyst's safety net beyond schema validity.

Warnings (stable codes, file:line:col like ``check``):

* ``branch_never_holds`` — a branch of a rule version can hold for no input: in every city,
  effective period and switch combination where the version is in force, its condition (with
  the parameters of that period folded in and the earlier cases' negations added) is
  unsatisfiable.  This finds contradictory conditions and cases shadowed by earlier ones.
* ``rule_version_never_in_force`` — a rule version that no city ever uses.
* ``parameter_unused`` — a parameter that no rule of any city reads (directly or through
  ``{param: ...}``).
* ``effective_period_gap`` — after its first version, a rule or parameter has days with no
  version in force for some city and switch combination.
* ``quote_not_found`` — a citation's quote is not found verbatim in its document.
* ``override_no_change`` — an override identical to what it replaces (values, dates,
  variants and citations).
* ``switch_unused`` — a switch no rule or parameter version depends on.
* ``citation_other_jurisdiction`` — a rule or parameter version that a city uses cites only
  other jurisdictions' texts (another city's or province's, national.yaml ``documents:``)
  without a ``note``: that city's decisions would show no sentence that governs them.  Cite
  the national text or the city's own, or add a note saying why the other text backs a
  national default (it is then shown as an inference).  Documents national.yaml does not
  declare speak for the nation.

``--strict`` turns warnings into errors (exit 1); the shipped rulesets are lint-clean in CI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Iterable

from ..core import citations, values
from ..runtime.api import Engine
from ..core.conditions import satisfiable
from ..core.errors import EngineError, Issue, SourceLocation, sort_issues
from ..core.layering import Collection, variant_matches
from ..core.model import Period, Source

def warning(code: str, message: str, loc: SourceLocation, **kw: Any) -> Issue:
    return Issue(code, message, loc, severity="warning", **kw)


# ------------------------------------------------------------------ the checks


@dataclass
class Reach:
    in_force: bool = False
    holds: bool = False


def _branch_location(version: Any, branch: int) -> SourceLocation:
    cases = version.cases
    if branch < len(cases):
        return cases[branch].then.loc
    return version.otherwise.loc if version.otherwise is not None else version.loc


def check_branches(engine: Engine) -> list[Issue]:
    reach: dict[tuple[str, str, int, int], Reach] = {}
    versions: dict[tuple[str, str, int], Any] = {}
    for city in engine.cities.values():
        for tv in city.analysis.versions:
            if tv.version.enabled:
                versions[(tv.rule.origin, tv.rule.id, tv.index)] = tv
        for assignment in city.all_assignments():
            for segment in city.segments(assignment):  # compiled by engine.check() already
                for rule in segment.rules:
                    tv = rule.version
                    for branch in rule.branches:
                        key = (tv.rule.origin, tv.rule.id, tv.index, branch.branch)
                        state = reach.setdefault(key, Reach())
                        state.in_force = True
                        if not state.holds and satisfiable(branch.condition):
                            state.holds = True
    issues = []
    for (origin, rule_id, index), tv in sorted(versions.items()):
        branches = len(tv.cases) + 1
        states = [reach.get((origin, rule_id, index, b)) for b in range(branches)]
        if not any(s is not None and s.in_force for s in states):
            issues.append(warning("rule_version_never_in_force", f"rule {rule_id!r} version {index + 1} "
                                  f"({tv.version.period.describe()}) is in force in no city, period or switch "
                                  "combination", tv.version.loc))
            continue
        for branch, state in enumerate(states):
            if state is not None and state.in_force and not state.holds:
                label = "else" if branch == len(tv.cases) else f"case {branch + 1}"
                issues.append(warning("branch_never_holds", f"rule {rule_id!r} version {index + 1}: the {label} "
                                      "branch can hold for no input in any city, period and switch combination "
                                      "(its condition contradicts itself, an earlier case, or the parameters in "
                                      "force)", _branch_location(tv.version, branch)))
    return issues


def check_unused(collection: Collection, engine: Engine) -> list[Issue]:
    used: set[str] = set()
    for city in engine.cities.values():
        used |= city.params_read()
    issues = []
    for ruleset in collection.files.values():
        for param in ruleset.parameters:
            if param.id not in used:
                issues.append(warning("parameter_unused", f"parameter {param.id!r} is read by no rule of any city",
                                      param.loc, found=param.id))
    used_switches = set()
    for city in engine.cities.values():
        items = list(city.view.rules) + [p.definition for p in city.view.parameters.values()]
        for item in items:
            for version in item.versions:
                used_switches |= {name for name, _ in version.variant}
    for ruleset in collection.files.values():
        for switch in ruleset.switches:
            if switch.id not in used_switches:
                issues.append(warning("switch_unused", f"switch {switch.id!r} changes no rule or parameter version",
                                      switch.loc, found=switch.id))
    return issues


def _gaps(periods: list[Period]) -> list[tuple[int, int | None]]:
    """Days uncovered after the first start: (first missing day, last missing day or None)."""
    if not periods:
        return []
    ordered = sorted(periods, key=lambda p: p.start or 0)
    gaps = []
    covered_to = ordered[0].end
    if covered_to is None:
        return []
    for period in ordered[1:]:
        start = period.start or 0
        if start > values.next_day(covered_to):
            gaps.append((values.next_day(covered_to), values.previous_day(start)))
        if period.end is None:
            return gaps
        covered_to = max(covered_to, period.end)
    gaps.append((values.next_day(covered_to), None))
    return gaps


def check_gaps(engine: Engine) -> list[Issue]:
    unique: dict[tuple[Any, ...], Issue] = {}  # one warning per place and span, not per city and switches
    for city in engine.cities.values():
        items: list[tuple[str, Any]] = [("rule", rule) for rule in city.view.rules]
        items += [("parameter", p.definition) for p in city.view.parameters.values()]
        depends = {(kind, item.id): {name for v in item.versions for name, _ in v.variant} for kind, item in items}
        for assignment in city.all_assignments():
            for kind, item in items:
                active = [v for v in item.versions if variant_matches(v.variant, assignment)]
                relevant = {k: v for k, v in assignment.items() if k in depends[(kind, item.id)]}
                for first, last in _gaps([v.period for v in active]):
                    where = active[0].loc if active else item.loc
                    key = (where, kind, item.id, first, last)
                    if key in unique:
                        continue
                    span = f"from {values.format_date(first)}" + (f" to {values.format_date(last)}" if last else
                                                                  " on (open-ended)")
                    unique[key] = warning("effective_period_gap", f"{kind} {item.id!r} has no version in force "
                                          f"{span} in {city.id}" + (f" with {relevant}" if relevant else "")
                                          + "; add a version, or say enabled: false (rules) / value: null "
                                          "(parameters) to state that nothing applies", where)
    return list(unique.values())


_SPACES = re.compile(r"\s+")


def check_quotes(collection: Collection) -> list[Issue]:
    issues = []
    documents = collection.documents
    for ruleset in collection.files.values():
        for source in _all_sources(ruleset):
            text = documents.get(source.document)
            if text is None or source.quote in text:
                continue  # unknown documents are an error of `check`
            near = _SPACES.sub("", source.quote) in _SPACES.sub("", text)
            issues.append(warning("quote_not_found", f"the quote is not in {source.document} verbatim"
                                  + (" (it is, apart from white space: copy it exactly)" if near else ""),
                                  source.loc, found=source.quote[:60]))
    return issues


def _all_sources(ruleset: Any) -> Iterable[Source]:
    for switch in ruleset.switches:
        for option in switch.options:
            yield from option.sources
    for param in ruleset.parameters:
        for version in param.versions:
            yield from version.sources
    for rule in ruleset.rules:
        for version in rule.versions:
            yield from version.sources
            for action in version.branches:
                if action is not None:
                    yield from action.sources


def check_jurisdictions(engine: Engine) -> list[Issue]:
    unique: dict[tuple[Any, ...], Issue] = {}
    for city in engine.cities.values():
        documents = dict(city.view.chain[0].documents) if city.view.chain else {}
        items: list[tuple[str, Any]] = [("rule", rule) for rule in city.view.rules]
        items += [("parameter", p.definition) for p in city.view.parameters.values()]
        for kind, item in items:
            for index, version in enumerate(item.versions):
                groups = [version.sources]
                groups += [action.sources for action in getattr(version, "branches", ()) if action is not None]
                for sources in groups:
                    if not sources or citations.select(sources, city.id, documents) != ([], []):
                        continue
                    others = sorted({f"{s.document} ({citations.jurisdiction(s, documents)})" for s in sources})
                    unique.setdefault((sources[0].loc, city.id), warning(
                        "citation_other_jurisdiction", f"{kind} {item.id!r} version {index + 1} cites only other "
                        f"jurisdictions' texts in a decision of {city.id}: {', '.join(others)}; cite the national "
                        f"text or {city.id}'s own, or add a note saying why it backs a national default",
                        sources[0].loc, expected=f"a citation of {sorted(citations.own(city.id))}",
                        found=", ".join(others)))
    return list(unique.values())


def check_overrides(collection: Collection) -> list[Issue]:
    issues = []
    for ruleset in collection.files.values():
        chain = collection.chain(ruleset.id)[:-1]
        for kind, items in (("rule", ruleset.rules), ("parameter", ruleset.parameters), ("switch", ruleset.switches)):
            for item in items:
                if item.overrides is None:
                    continue
                target = next((f for f in chain if f.id == item.overrides), None)
                if target is None:
                    continue
                original = next((o for o in getattr(target, kind + "s" if kind != "switch" else "switches")
                                 if o.id == item.id), None)
                if original is not None and _same(kind, item, original):
                    issues.append(warning("override_no_change", f"{kind} {item.id!r} overrides {item.overrides!r} "
                                          "with identical content; delete the override", item.loc))
    return issues


def _same(kind: str, item: Any, original: Any) -> bool:
    if kind == "parameter":
        same_type = item.type_spec is None or item.type_spec == original.type_spec
        return bool(item.versions == original.versions and same_type)
    if kind == "rule":
        return bool(item.versions == original.versions and item.applies_to == original.applies_to)
    return bool(item.default == original.default and item.options == original.options)


def lint(root: str | Path) -> list[Issue]:
    """All warnings for a rulesets directory (raises the errors of ``check`` if it has any)."""
    engine = Engine.load(root, prepare=False)  # check() below reports every problem of every switch
    problems = engine.check()
    if problems:
        raise EngineError(problems)
    collection = engine.collection
    found = (check_branches(engine) + check_unused(collection, engine) + check_gaps(engine)
             + check_quotes(collection) + check_overrides(collection) + check_jurisdictions(engine))
    return sort_issues(found)


# ------------------------------------------------------------------ CLI


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("lint", help="warnings beyond validity: dead branches, unused parameters, date gaps, "
                                    "quotes not found, overrides that change nothing, "
                                    "citations of another jurisdiction")
    p.add_argument("paths", nargs="*", default=["rulesets"], metavar="DIR")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_lint)


def cmd_lint(args: Any, out: TextIO, err: TextIO) -> int:
    from ..core.errors import Printer

    status = 0
    for directory in args.paths:
        try:
            found = lint(directory)
        except EngineError as error:
            Printer(err).issues(error.issues)
            print(f"{directory}: {len(error.issues)} error(s); fix them (gongji check) before linting", file=err)
            status = 1
            continue
        if args.format == "json":
            print(json.dumps({"directory": directory, "warnings": [i.to_dict() for i in found]},
                             ensure_ascii=False, indent=2), file=out)
        else:
            if found:
                Printer(out).issues(found)
            print(f"{directory}: {len(found)} warning(s)" + (" — strict: failing" if found and args.strict else ""),
                  file=out)
        if found and args.strict:
            status = 1
    return status
