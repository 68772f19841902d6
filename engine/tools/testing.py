"""Policy tests: ``*.test.yaml`` beside each ruleset, run by ``gongji test`` and by pytest.

A test file names a city ruleset, a ``defaults`` fact document, and cases whose ``facts`` are
merged over it, each with what the decision must be.  Every case is decided with the
cross-check on (durable_rules vs the condition IR).  Rule coverage counts, for every rule
version, which of its branches (each case and the else) some test case reached.
"""

from __future__ import annotations

import copy
import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Iterator, Sequence

from ..core.errors import EngineError, FactError, Issue, SourceLocation
from ..core.load import load_file
from ..core.validate import validate


@dataclass
class TestCase:
    name: str
    note: str
    facts: dict[str, Any]
    expect: dict[str, Any]
    file: str
    location: SourceLocation
    index: int


@dataclass
class TestFile:
    path: Path
    ruleset: str
    cases: list[TestCase]
    ruleset_location: SourceLocation = field(default_factory=SourceLocation)


def merge(base: Any, override: Any) -> Any:
    """Deep merge: mappings merge key by key, ``null`` deletes (also inside new mappings),
    anything else replaces."""
    if isinstance(override, dict):
        out = copy.deepcopy(base) if isinstance(base, dict) else {}
        for key, value in override.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out.get(key), value)
        return out
    return copy.deepcopy(override)


def load_test_file(path: Path | str) -> tuple[TestFile | None, list[Issue]]:
    loaded = load_file(path)
    issues = list(loaded.issues)
    if loaded.data is None:
        if not issues:
            issues.append(Issue("empty_file", "the test file is empty", SourceLocation(str(path))))
        return None, issues
    issues.extend(validate("test", loaded.data, loaded.source))
    data = loaded.data
    if issues or not isinstance(data, dict):
        return None, issues
    defaults = data.get("defaults") or {}
    cases = []
    for index, raw in enumerate(data["cases"]):
        facts = merge(defaults, raw.get("facts") or {})
        if raw.get("switches"):
            facts = merge(facts, {"switches": raw["switches"]})
        cases.append(TestCase(raw["name"], raw.get("note", ""), facts, raw["expect"], loaded.source.file,
                              loaded.source.location(f"/cases/{index}"), index))
    first: dict[str, TestCase] = {}
    for case in cases:
        if case.name in first:
            issues.append(Issue("duplicate_case_name", f"case name {case.name!r} is already used at line "
                                f"{first[case.name].location.line}", case.location, found=case.name))
        else:
            first[case.name] = case
    return TestFile(Path(path), data["ruleset"], cases, loaded.source.location("/ruleset")), issues


def find_root(path: Path) -> Path:
    """The rulesets directory a test file belongs to: the nearest ancestor with national.yaml."""
    for candidate in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (candidate / "national.yaml").is_file():
            return candidate
    return path if path.is_dir() else path.parent


def discover(paths: Sequence[str | Path]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.test.yaml")))
        else:
            found.append(path)
    return found


# ------------------------------------------------------------------------------ running


@dataclass
class CaseResult:
    case: TestCase
    problems: list[str]
    decision: Any = None
    error: EngineError | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


def check_case(engine: Any, case: TestCase, ruleset: str) -> CaseResult:
    start = time.perf_counter()
    facts = dict(case.facts)
    facts.setdefault("city", ruleset)
    expect = case.expect
    try:
        decision = engine.decide(facts)
    except FactError as error:
        wanted = expect.get("fact_error")
        got = sorted({i.code for i in error.issues})
        problems = [] if wanted is not None and sorted(set(wanted)) == got else [
            f"fact document refused: {', '.join(i.format() for i in error.issues)}" if wanted is None
            else f"fact_error: expected {sorted(set(wanted))}, got {got}"]
        return CaseResult(case, problems, None, error, time.perf_counter() - start)
    except EngineError as error:
        return CaseResult(case, [f"{error.kind}: " + "; ".join(i.format() for i in error.issues)], None, error,
                          time.perf_counter() - start)
    data = decision.to_dict()
    problems = []
    if "fact_error" in expect:
        problems.append(f"fact_error: expected {expect['fact_error']}, but a decision was made")
    if "eligible" in expect and expect["eligible"] != data["eligible"]:
        problems.append(f"eligible: expected {json.dumps(expect['eligible'])}, got {json.dumps(data['eligible'])}")
    codes = [r["code"] for r in data["reasons"]]
    fails = sorted(r["code"] for r in data["reasons"] if r["outcome"] == "fail")
    missing = [c for c in expect.get("codes", []) if c not in codes]
    if missing:
        problems.append(f"codes: expected {missing} among the reasons, got {codes}")
    if "fail_codes" in expect and sorted(expect["fail_codes"]) != fails:
        problems.append(f"fail_codes: expected {sorted(expect['fail_codes'])}, got {fails}")
    present = [c for c in expect.get("absent_codes", []) if c in codes]
    if present:
        problems.append(f"absent_codes: {present} should not appear")
    if "plan" in expect:
        if "payment" not in data:
            problems.append("plan: expected a payment plan, the decision has none")
        else:
            actual = {p["source"]: p["amount"] for p in data["payment"]["plan"]}
            for source, amount in expect["plan"].items():
                if actual.get(source) != amount:
                    problems.append(f"plan.{source}: expected {amount}, got {actual.get(source)}")
    for name, value in (expect.get("derived") or {}).items():
        got = data["derived"].get(name)
        if got != value:
            problems.append(f"derived.{name}: expected {json.dumps(value, ensure_ascii=False)}, got "
                            f"{json.dumps(got, ensure_ascii=False)}")
    return CaseResult(case, problems, decision, None, time.perf_counter() - start)


class Tally:
    """Items to cover (key -> label) and the keys reached."""

    def __init__(self) -> None:
        self.labels: dict[tuple[Any, ...], str] = {}
        self.hits: set[tuple[Any, ...]] = set()

    @property
    def total(self) -> int:
        return len(self.labels)

    @property
    def covered(self) -> int:
        return len(self.hits & self.labels.keys())

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def missing(self) -> list[str]:
        return [label for key, label in sorted(self.labels.items()) if key not in self.hits]

    def to_json(self) -> dict[str, Any]:
        return {"covered": self.covered, "total": self.total, "percent": round(self.percent, 2),
                "missing": self.missing()}


def _version_label(name: str, index: int, version: Any) -> str:
    """``origin.id vN (period; switch=option)``."""
    variant = ",".join(f"{k}={v}" for k, v in version.variant)
    return f"{name} v{index + 1} ({version.period.describe('en')}" + (f"; {variant}" if variant else "") + ")"


class Coverage:
    """Branch coverage of every rule version of the engine's cities, and coverage of every dated
    version of every parameter some rule reads (directly or through ``{param: ...}``)."""

    def __init__(self, engine: Any):
        self.branches = Tally()
        self.parameters = Tally()
        for city in engine.cities.values():
            for tv in city.analysis.versions:
                if not tv.version.enabled:
                    continue
                cases = len(tv.cases)
                label = _version_label(f"{tv.rule.origin}.{tv.rule.id}", tv.index, tv.version)
                for branch in range(cases + 1):
                    name = "else" if branch == cases else ("when" if cases == 1 else f"case {branch + 1}")
                    self.branches.labels[(tv.rule.origin, tv.rule.id, tv.index, branch)] = f"{label} {name}"
            for name in city.params_read():
                param = city.view.parameters.get(name)
                for index, typed in enumerate(param.versions if param is not None else ()):
                    origin = param.definition.origin
                    self.parameters.labels[(origin, name, index)] = _version_label(f"{origin}.{name}", index,
                                                                                   typed.version)

    def record(self, decision: Any) -> None:
        run = decision.run
        for rule in run.segment.rules:
            branch = run.branch_of.get(rule.slot)
            if branch is not None:
                self.branches.hits.add((rule.version.rule.origin, rule.rule_id, rule.version.index, branch))
            for use in rule.params.values():
                while use is not None:
                    if use.version is not None:
                        index = use.param.versions.index(use.version)
                        self.parameters.hits.add((use.param.definition.origin, use.param.id, index))
                    use = use.via

    def to_json(self) -> dict[str, Any]:
        return {"rule_branches": self.branches.to_json(), "parameter_versions": self.parameters.to_json()}


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    file_issues: list[Issue] = field(default_factory=list)
    coverage: Coverage | None = None
    by_file: dict[str, list[CaseResult]] = field(default_factory=dict)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]


_ENGINES: dict[str, Any] = {}


def engine_for(root: Path) -> Any:
    """One compiled engine per rulesets directory (with the cross-check on)."""
    from ..runtime.api import Engine

    key = str(root.resolve())
    if key not in _ENGINES:
        _ENGINES[key] = Engine.load(root, verify=True)
    return _ENGINES[key]


def run_tests(paths: Sequence[str | Path], rulesets: str | Path | None = None) -> Report:
    report = Report()
    files = discover(paths)
    for path in files:
        test_file, issues = load_test_file(path)
        if issues:
            report.file_issues.extend(issues)
            continue
        assert test_file is not None
        root = Path(rulesets) if rulesets else find_root(path)
        engine = engine_for(root)
        if report.coverage is None:
            report.coverage = Coverage(engine)
        if test_file.ruleset not in engine.cities:
            report.file_issues.append(Issue("unknown_city", f"no city ruleset {test_file.ruleset!r}",
                                            test_file.ruleset_location,
                                            expected=f"one of {sorted(engine.cities)}", found=test_file.ruleset))
            continue
        results = []
        for case in test_file.cases:
            result = check_case(engine, case, test_file.ruleset)
            if result.decision is not None:
                report.coverage.record(result.decision)
            results.append(result)
        report.by_file[str(path)] = results
        report.results.extend(results)
    if not files:
        report.file_issues.append(Issue("file_not_found", "no *.test.yaml files found",
                                        SourceLocation(", ".join(str(p) for p in paths))))
    return report


def failure_text(result: CaseResult, lang: str = "en") -> str:
    case = result.case
    lines = [f"FAIL {case.location.file}:{case.location.line}: {case.name}"]
    lines.extend(f"    {problem}" for problem in result.problems)
    if case.note:
        lines.append(f"    note: {case.note.strip()}")
    if result.decision is not None:
        lines.append("    --- explanation ---")
        lines.extend("    " + line for line in result.decision.explain(lang).rstrip().splitlines())
    return "\n".join(lines)


def write_junit(report: Report, path: Path) -> None:
    suites = ET.Element("testsuites", tests=str(len(report.results)), failures=str(len(report.failed)))
    for file, results in report.by_file.items():
        suite = ET.SubElement(suites, "testsuite", name=file, tests=str(len(results)),
                              failures=str(sum(1 for r in results if not r.passed)),
                              time=f"{sum(r.seconds for r in results):.4f}")
        for result in results:
            element = ET.SubElement(suite, "testcase", classname=file, name=result.case.name,
                                    time=f"{result.seconds:.4f}")
            if not result.passed:
                failure = ET.SubElement(element, "failure", message="; ".join(result.problems))
                failure.text = failure_text(result)
    for issue in report.file_issues:
        suite = ET.SubElement(suites, "testsuite", name=issue.location.file or "tests", tests="1", failures="0",
                              errors="1")
        error = ET.SubElement(ET.SubElement(suite, "testcase", name="load"), "error", message=issue.format())
        error.text = issue.format()
    if report.coverage is not None:
        props = ET.SubElement(suites, "properties")
        ET.SubElement(props, "property", name="rule_coverage_percent", value=f"{report.coverage.branches.percent:.2f}")
        ET.SubElement(props, "property", name="parameter_version_coverage_percent",
                      value=f"{report.coverage.parameters.percent:.2f}")
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------ CLI


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("test", help="run the policy tests (*.test.yaml) with rule coverage")
    p.add_argument("paths", nargs="*", default=["rulesets"], metavar="PATH")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML")
    p.add_argument("--min-coverage", type=float, default=0.0, metavar="N",
                   help="fail when rule branch coverage is below N percent")
    p.add_argument("--lang", choices=["zh", "en"], default="en")
    p.add_argument("--show-covered", action="store_true", help="list every uncovered branch (default: first 20)")
    p.add_argument("--rulesets", default=None, help="rulesets directory (default: found from each test file)")
    p.set_defaults(func=cmd_test)


def cmd_test(args: Any, out: TextIO, err: TextIO) -> int:
    from ..core.errors import Printer

    report = run_tests(args.paths, args.rulesets)
    if report.file_issues:
        Printer(err).issues(report.file_issues)
    for result in report.failed:
        print(failure_text(result, args.lang), file=out)
        print(file=out)
    passed = len(report.results) - len(report.failed)
    print(f"{passed} passed, {len(report.failed)} failed in {len(report.by_file)} file(s)", file=out)
    status = 0 if not report.failed and not report.file_issues else 1
    if report.coverage is not None:
        cov = report.coverage
        for tally, heading, unit, word in (
                (cov.branches, "rule coverage", "branches of every rule version", "not reached"),
                (cov.parameters, "parameter version coverage", "dated versions in force in some case",
                 "never in force")):
            print(f"{heading}: {tally.percent:.1f}% ({tally.covered}/{tally.total} {unit})", file=out)
            missing = tally.missing()
            shown = missing if args.show_covered else missing[:20]
            for label in shown:
                print(f"  {word}: {label}", file=out)
            if len(missing) > len(shown):
                print(f"  ... and {len(missing) - len(shown)} more (--show-covered lists all)", file=out)
        lowest = min(cov.branches.percent, cov.parameters.percent)
        if lowest + 1e-9 < args.min_coverage:
            print(f"coverage {lowest:.1f}% is below --min-coverage {args.min_coverage:g}%", file=out)
            status = 1
    if args.junit:
        write_junit(report, Path(args.junit))
    return status


# ------------------------------------------------------------------------------ pytest plugin

try:  # the plugin part only loads under pytest
    import pytest

    def pytest_collect_file(parent: Any, file_path: Path) -> Any:
        if file_path.name.endswith(".test.yaml"):
            return PolicyFile.from_parent(parent, path=file_path)
        return None

    class PolicyFile(pytest.File):  # type: ignore[misc]
        def collect(self) -> Iterator[Any]:
            test_file, issues = load_test_file(self.path)
            if issues:
                raise PolicyFileError(issues)
            assert test_file is not None
            for case in test_file.cases:
                yield PolicyCase.from_parent(self, name=case.name, case=case, ruleset=test_file.ruleset)

    class PolicyFileError(Exception):
        def __init__(self, issues: list[Issue]):
            super().__init__("\n".join(i.format() for i in issues))

    class PolicyCaseFailed(Exception):
        def __init__(self, result: CaseResult):
            super().__init__(failure_text(result))
            self.result = result

    class PolicyCase(pytest.Item):  # type: ignore[misc]
        def __init__(self, *, case: TestCase, ruleset: str, **kwargs: Any):
            super().__init__(**kwargs)
            self.case = case
            self.ruleset = ruleset

        def runtest(self) -> None:
            engine = engine_for(find_root(Path(self.case.file)))
            result = check_case(engine, self.case, self.ruleset)
            if not result.passed:
                raise PolicyCaseFailed(result)

        def repr_failure(self, excinfo: Any, style: Any = None) -> str:
            if isinstance(excinfo.value, (PolicyCaseFailed, PolicyFileError)):
                return str(excinfo.value)
            return str(super().repr_failure(excinfo))

        def reportinfo(self) -> tuple[Any, int, str]:
            return self.path, self.case.location.line - 1, f"policy: {self.case.name}"
except ImportError:  # pragma: no cover - pytest is a dev dependency
    pass
