"""The public API: ``Engine.load(path)`` compiles once; ``engine.decide(facts)`` decides many times.

Decisions are pure functions of (fact document, ruleset content, switches): the engine keeps no
state between decisions except compiled rulesets and the optional decision log.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import itertools
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Mapping

from ..core import values
from ..core.compile import Segment, compile_segment, timeline
from .decision import Decision
from ..core.errors import CompileError, FactError, Issue, RuleFileError, SourceLocation, UsageError
from .evaluate import REGISTRY, run
from .explain import verify_run
from .facts import Facts, normalize
from ..core.layering import Collection, ParamReference, View, collect_views
from ..core.load import Limits, limits_scope
from ..core.model import Period
from ..core.privacy import mask_pointer, mask_text
from ..core.regions import region_name
from ..core.semantics import Analysis, analyse
from ..core.validate import did_you_mean

REQUESTS = ("binding", "payment")


class City:
    """One city's merged, type-checked rules; compiles segments on demand and caches them."""

    def __init__(self, view: View, analysis: Analysis):
        self.view = view
        self.analysis = analysis
        self.id = view.id
        self.name = view.ruleset.name
        self._timelines: dict[tuple[tuple[str, str], ...], tuple[list[int], list[Period]]] = {}
        self._segments: dict[tuple[tuple[tuple[str, str], ...], int, str], Segment] = {}

    @property
    def version(self) -> str:
        return self.view.ruleset.version

    @property
    def sha256(self) -> str:
        return self.view.sha256

    def switch_assignment(self, *overrides: Mapping[str, str] | None, pointer: str = "/switches",
                          error: type = FactError) -> dict[str, str]:
        """Defaults, then each override in turn; unknown switches or options are errors."""
        assignment = self.view.switch_defaults()
        issues = []
        for override in overrides:
            for name, option in (override or {}).items():
                switch = self.view.switches.get(name)
                # names and options come from the request: free text, masked like any (privacy.py)
                where = SourceLocation(pointer=mask_pointer(f"{pointer}/{name}"))
                if switch is None:
                    issues.append(Issue("unknown_switch", f"{self.id} has no switch {mask_text(name)!r}", where,
                                        expected=f"one of {sorted(self.view.switches)}", found=mask_text(name),
                                        hint=did_you_mean(name, self.view.switches)))
                elif option not in switch.option_names:
                    issues.append(Issue("unknown_switch_option", f"switch {name!r} has no option "
                                        f"{mask_text(option)!r}", where, expected=f"one of {list(switch.option_names)}",
                                        found=mask_text(option), hint=did_you_mean(option, switch.option_names)))
                else:
                    assignment[name] = option
        if issues:
            raise error(issues)
        return assignment

    def periods(self, switches: Mapping[str, str]) -> tuple[list[int], list[Period]]:
        key = tuple(sorted(switches.items()))
        cached = self._timelines.get(key)
        if cached is None:
            periods = timeline(self.view, self.analysis, dict(switches))
            starts = [p.start or 0 for p in periods]
            cached = (starts, periods)
            self._timelines[key] = cached
        return cached

    def segment(self, switches: Mapping[str, str], day: int, request: str) -> Segment:
        starts, periods = self.periods(switches)
        index = bisect.bisect_right(starts, day) - 1
        segment = self._compiled(switches, index, periods[index], request)
        if segment.issues:
            raise CompileError(segment.issues)
        return segment

    def segments(self, switches: Mapping[str, str]) -> Iterator[Segment]:
        """Every segment (each period of the timeline × each request) for one switch assignment;
        a segment with problems is yielded with its ``issues`` (and not cached)."""
        _, periods = self.periods(switches)
        for index, period in enumerate(periods):
            for request in REQUESTS:
                yield self._compiled(switches, index, period, request)

    def _compiled(self, switches: Mapping[str, str], index: int, period: Period, request: str) -> Segment:
        cache_key = (tuple(sorted(switches.items())), index, request)
        segment = self._segments.get(cache_key)
        if segment is None:
            segment = compile_segment(self.view, self.analysis, request, dict(switches), period)
            if not segment.issues:
                self._segments[cache_key] = segment
        return segment

    def params_read(self) -> set[str]:
        """Every parameter some rule reads, directly or through ``{param: ...}`` references."""
        used = {name for tv in self.analysis.versions for name in tv.params}
        pending = list(used)
        while pending:
            param = self.view.parameters.get(pending.pop())
            for typed in param.versions if param is not None else ():
                if isinstance(typed.value, ParamReference) and typed.value.name not in used:
                    used.add(typed.value.name)
                    pending.append(typed.value.name)
        return used

    def all_assignments(self) -> list[dict[str, str]]:
        names = sorted(self.view.switches)
        options = [self.view.switches[n].option_names for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*options)]

    def compile_all(self, switches: Mapping[str, str], register: bool) -> list[Issue]:
        """Compile every segment for one switch assignment; returns problems instead of raising."""
        issues: list[Issue] = []
        for segment in self.segments(switches):
            issues.extend(segment.issues)
            if register and not segment.issues:
                try:
                    REGISTRY.handle(segment)
                except Exception as exc:  # EvaluationError from durable_rules' own checks
                    issues.extend(getattr(exc, "issues", []))
        return issues


class Engine:
    """Compiled rulesets of every city in a directory.

    ``Engine.load("rulesets")`` (or ``Engine("rulesets")``) validates, merges, type-checks and
    compiles; ``decide(facts)`` returns a :class:`Decision`.  Options: ``switches`` (choose an
    option of a ruleset switch for every decision), ``decision_log`` (path of an audit log,
    one JSON line per decision; ``log_fields="minimal"`` keeps only pseudonyms, request, city, outcome
    and failing codes), ``verify`` (cross-check every decision against the condition
    IR evaluated in Python; used by the tests), ``limits`` (an :class:`engine.Limits`:
    size, line length, depth and alias bounds of every rule file read).
    """

    def __init__(self, rulesets: str | Path = "rulesets", *, switches: Mapping[str, str] | None = None,
                 decision_log: str | Path | None = None, log_salt: str | bytes | None = None,
                 verify: bool = False, limits: Limits | None = None, log_fields: str = "full"):
        self.path = Path(rulesets)
        self.collection: Collection
        with limits_scope(limits):  # bounds on every rule file read (engine.core.load.Limits)
            self.collection, views, issues = collect_views(self.path)
        self.cities: dict[str, City] = {}
        for cid, view in views.items():
            if view.ruleset.kind != "city":
                continue
            analysis = analyse(view)
            issues.extend(analysis.issues)
            self.cities[cid] = City(view, analysis)
        if any(i.severity == "error" for i in issues):
            file_errors = any(i.severity == "error" for i in self.collection.issues)
            raise (RuleFileError if file_errors else CompileError)(issues)
        self.switches = dict(switches or {})
        for city in self.cities.values():
            known = {k: v for k, v in self.switches.items() if k in city.view.switches}
            city.switch_assignment(known, pointer="switches", error=UsageError)
        unknown = [k for k in self.switches if not any(k in c.view.switches for c in self.cities.values())]
        if unknown:
            raise UsageError([Issue("unknown_switch", f"no ruleset has switch {name!r}", SourceLocation(), found=name)
                              for name in unknown])
        self.verify = verify
        self.log = None
        if decision_log is not None:
            from .auditlog import DecisionLog

            self.log = DecisionLog(decision_log, salt=log_salt, fields=log_fields)

    @classmethod
    def load(cls, rulesets: str | Path = "rulesets", **options: Any) -> Engine:
        """Load, validate and compile every ruleset under ``rulesets``."""
        return cls(rulesets, **options)

    def city(self, code: str) -> City:
        try:
            return self.cities[code]
        except KeyError:
            raise UsageError([Issue("unknown_city", f"no city ruleset {code!r}", SourceLocation(),
                                    expected=f"one of {sorted(self.cities)}", found=code,
                                    hint=did_you_mean(code, self.cities))]) from None

    def check(self, all_switches: bool = True) -> list[Issue]:
        """Compile every period of every city (default switches registered with durable_rules,
        every other switch combination compiled); returns the problems found."""
        issues: list[Issue] = []
        for city in self.cities.values():
            defaults = city.switch_assignment()
            issues.extend(city.compile_all(defaults, register=True))
            if all_switches:
                for assignment in city.all_assignments():
                    if assignment != defaults:
                        issues.extend(city.compile_all(assignment, register=False))
        return issues

    def normalize(self, facts: Mapping[str, Any], as_of: str | _dt.date | None = None) -> Facts:
        override = _parse_as_of(as_of)
        return normalize(facts, as_of=override, default_as_of=values.today())

    def decide(self, facts: Mapping[str, Any], as_of: str | _dt.date | None = None) -> Decision:
        """Decide one binding or payment request (a fact document as in docs/CONTRACT.md)."""
        normalized = self.normalize(facts, as_of)
        decision = self.decide_facts(normalized)
        if self.log is not None:
            self.log.write(decision)
        return decision

    def decide_facts(self, normalized: Facts, switches: Mapping[str, str] | None = None) -> Decision:
        city = self.cities.get(normalized.city)
        if city is None:
            pointer = "/city" if normalized.document.get("city") is not None else "/authorizer/region"
            raise FactError([Issue("unknown_city", f"no ruleset for city {normalized.city} "
                                   f"({region_name(normalized.city) or 'unknown region'})",
                                   SourceLocation(pointer=pointer), expected=f"one of {sorted(self.cities)}",
                                   found=normalized.city)])
        assignment = city.switch_assignment(
            {k: v for k, v in self.switches.items() if k in city.view.switches}, switches, normalized.switches)
        segment = city.segment(assignment, normalized.as_of, normalized.request)
        result = run(segment, normalized.base)
        if self.verify:
            verify_run(result)
        return Decision(result, normalized, city.name.zh, city.version, city.sha256, assignment)

    def decide_many(self, documents: Iterable[Mapping[str, Any]]) -> Iterable[Decision | FactError]:
        """Decide each document in turn; invalid ones yield their FactError instead of stopping."""
        for document in documents:
            try:
                yield self.decide(document)
            except FactError as error:
                yield error

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse_as_of(as_of: str | _dt.date | None) -> int | None:
    if as_of is None:
        return None
    try:
        return values.parse_date(as_of)
    except values.ValueProblem as exc:
        raise UsageError([Issue("invalid_date", f"as_of: {exc}", SourceLocation(pointer="as_of"), expected=exc.expected,
                                found=str(as_of))]) from None
