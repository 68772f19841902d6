"""Every error code has a fixture: a minimal input and the exact issue lines ``gongji`` prints.

Layout and conventions: tests/fixtures/invalid/README.md.  Each fixture runs the CLI in-process
from the repository root; only the first line of each issue is compared (the caret/context lines
and the summary lines are presentation).  A second test reads the engine's source and fails when
an error code has neither a fixture nor an entry in ``NOT_TRIGGERABLE`` below.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "invalid"
SEVERAL = "_several_errors"

# ``location: code: message`` (location: path:line:col, path, path#/pointer, <input>).  Context lines
# start with spaces; summaries ("dir: 2 error(s)", "rule_file_error: 2 error(s)",
# "file: invalid fact document (...)", "gongji: internal error: ...") do not have this shape.
ISSUE_LINE = re.compile(r"^(?P<loc>\S+): (?:warning: )?(?P<code>[a-z][a-z0-9_]*): ")
POSITION = re.compile(r"^(?P<file>[^:#]+)(?::(?P<line>\d+):(?P<col>\d+))?")

# Fixtures that show a bug: expected.txt holds what the engine SHOULD print.
XFAIL: dict[str, str] = {
    # fixture name -> the engine defect it shows (strict: the test fails once the defect is fixed)
}

# Codes raised in engine/ that no input from outside can trigger, with the reason.
NOT_TRIGGERABLE = {
    # facts.py: the hand normalizer and the schema agree (a property test keeps them so); the catch-all
    # for a document only the normalizer refuses can no longer be reached.
    "invalid_document": "normalizer/schema disagreement (kept as a safety net)",
    # evaluate.py: durable_rules or the compiled guards misbehaved; never bad input.
    "engine_rejected_ruleset": "durable_rules refused a ruleset our compiler produced (compiler bug)",
    "engine_refused_fact": "durable_rules refused a fact our encoder produced (encoder bug)",
    "action_failed": "a generated derive function raised (typed IR makes this a compiler bug)",
    "conflicting_branches": "two guarded branches of one rule fired (the guards exclude each other)",
    "inputs_missing": "settling found a rule whose inputs were never derived (the compiler checks this)",
    "check_undecided": "a check reached no branch although its branches cover every case",
    "rule_did_not_fire": "a rule reached no branch although its branches cover every case",
    # compile.py: a parameter the sources do not state, used in arithmetic; semantics' nullable_input proof
    # rejects every such ruleset at load time (tests/fixtures/invalid/nullable_input--param), this is the net.
    "null_in_arithmetic": "compile-time net behind the nullable_input proof of semantics.py",
    # explain.py: only with verify=True, when durable_rules and the Python oracle disagree.
    "oracle_disagreement": "durable_rules and the condition-IR oracle disagree (engine fault)",
    # validate.py: fallback for JSON-Schema keywords our schemas do not use.
    "schema_violation": "fallback for schema keywords none of schemas/*.json uses",
    # auditlog.py: Python API misuse only; the CLI closes the log after its last decision.
    "log_closed": "DecisionLog.write() after close(), reachable only through the Python API",
    "invalid_log_fields": "DecisionLog(fields=...) misuse; the CLI's --log-fields takes only full|minimal",
    # auditlog.py: needs a full disk; test_auditlog.py writes to /dev/full with $GONGJI_LOG_SALT set (a fixture
    # would leave /dev/full.salt behind).
    "log_write_failed": "a write error of the log (ENOSPC); covered with /dev/full in test_auditlog.py",
    "invalid_log_mode": "DecisionLog(mode=...) of the Python API; the CLI's --log-mode offers the valid modes only",
    "invalid_log_window": "DecisionLog(window=...) of the Python API; the CLI uses the default window",
    # api.py/evaluate.py: limits a service sets through the Python API (tests/unit/test_prepare.py).
    "switch_not_allowed": "Engine(decision_switches=...) of the Python API; the CLI lets documents choose",
    "ruleset_limit_reached": "REGISTRY.limit of the Python API, past ~1k distinct compiled rulesets",
}

# Engine modules whose codes are not about rule files or fact documents (other commands' usage errors
# and lint warnings), with the reason; their own tests cover them.
OTHER_MODULES = {
    "lint.py": "warnings of `gongji lint` (stable codes, severity warning), not errors of `check`",
    "matrix.py": "usage errors of the `gongji matrix` analyst command",
    "diff.py": "usage errors of the `gongji diff` analyst command",
    # gongji serve: HTTP answers (413/415/422 query parameters, reload failures, a busy port),
    # each exercised against a live server in tests/service/
    "app.py": "HTTP errors of gongji serve (tests/service/test_bad_input.py)",
    "command.py": "usage errors of gongji serve (tests/service/)",
    "state.py": "reload failures of gongji serve (tests/service/test_faults.py)",
    "supervisor.py": "reload failures and a busy port of gongji serve (tests/service/)",
    "web.py": "HTTP errors of the web console's own JSON (tests/console/test_console_api.py)",
}


@dataclass
class Fixture:
    name: str
    args: list[str]
    exit: int
    expected: list[str]

    @property
    def code(self) -> str:
        return self.name.split("--")[0]

    @classmethod
    def load(cls, name: str) -> Fixture:
        folder = FIXTURES / name
        rel = folder.relative_to(ROOT).as_posix()
        args, exit_code = ["check", f"{rel}/rulesets"], 1
        cmd = folder / "cmd.txt"
        if cmd.exists():
            for line in cmd.read_text(encoding="utf-8").splitlines():
                directive = re.match(r"#\s*exit:\s*(\d+)", line)
                if directive:
                    exit_code = int(directive.group(1))
                elif line.strip() and not line.startswith("#"):
                    args = shlex.split(line.replace("{dir}", rel))
        expected = (folder / "expected.txt").read_text(encoding="utf-8").splitlines()
        return cls(name, args, exit_code, [line for line in expected if line])


def issue_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ISSUE_LINE.match(line)]


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _params() -> list[object]:
    return [pytest.param(name, id=name, marks=[pytest.mark.xfail(strict=True, reason=XFAIL[name])]
                         if name in XFAIL else []) for name in fixture_names()]


@pytest.fixture()
def at_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.mark.parametrize("name", _params())
def test_fixture_output(name: str, at_root: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    fixture = Fixture.load(name)
    code, _, err = run_cli(*fixture.args)
    assert issue_lines(err) == fixture.expected, err
    assert code == fixture.exit, err


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_is_well_formed(name: str) -> None:
    """Every expected line is an issue line, and the fixture's code is among them (except where the code
    itself is the bug: invalid_document should not be reachable)."""
    fixture = Fixture.load(name)
    codes = [ISSUE_LINE.match(line).group("code") for line in fixture.expected]  # type: ignore[union-attr]
    assert len(codes) == len(fixture.expected), "every expected line must be an issue line"
    assert fixture.code in codes or name == "invalid_document"
    assert fixture.exit in (1, 2)


def test_several_errors_are_reported_at_once_sorted_by_location(at_root: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    fixture = Fixture.load(SEVERAL)
    code, _, err = run_cli(*fixture.args)
    lines = issue_lines(err)
    assert code == 1
    assert lines == fixture.expected
    codes = [ISSUE_LINE.match(line).group("code") for line in lines]  # type: ignore[union-attr]
    assert {"wrong_type", "duplicate_key", "unknown_field", "invalid_date", "unknown_document",
            "unknown_fact_field", "duplicate_rule_id"} == set(codes)
    positions = []
    for line in lines:
        match = POSITION.match(ISSUE_LINE.match(line).group("loc"))  # type: ignore[union-attr]
        assert match and match.group("line"), line
        positions.append((match.group("file"), int(match.group("line")), int(match.group("col"))))
    assert positions == sorted(positions)
    assert len({file for file, _, _ in positions}) == 2  # errors of two files, one run
    assert f"{fixture.args[1]}: {len(lines)} error(s)" in err


# ------------------------------------------------------------------ which codes exist

REPORTERS = {"Issue": 0, "issue": 0, "err": 0, "_fault": 0, "fail": 1}


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _constants(node: ast.AST | None, variables: dict[str, set[str]], templates: dict[str, set[str]]) -> set[str]:
    """Every string a code expression can evaluate to."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _constants(node.body, variables, templates) | _constants(node.orelse, variables, templates)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_constants(v, variables, templates) for v in node.values))
    if isinstance(node, ast.Name):
        return set(variables.get(node.id, set()))
    if isinstance(node, ast.JoinedStr):  # f"duplicate_{what}_id": expand {what} from the calls that pass it
        parts = node.values
        names = [p.value.id for p in parts if isinstance(p, ast.FormattedValue) and isinstance(p.value, ast.Name)]
        if len(names) == 1:
            out = set()
            for value in templates.get(names[0], set()):
                out.add("".join(p.value if isinstance(p, ast.Constant) else value for p in parts))
            return out
    return set()


def codes_in(source: str) -> set[str]:
    tree = ast.parse(source)
    variables: dict[str, set[str]] = {}
    templates: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
            variables.setdefault("code", set()).update(_constants(node.value, {}, {}))
        if isinstance(node, ast.Call) and _call_name(node) == "_unique" and len(node.args) >= 3:
            templates.setdefault("what", set()).update(_constants(node.args[2], {}, {}))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in REPORTERS:
            index = REPORTERS[_call_name(node)]
            if len(node.args) > index:
                found |= _constants(node.args[index], variables, templates)
    return {code for code in found if re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", code)}


@functools.cache
def engine_codes() -> dict[str, set[str]]:
    """code -> the files that raise it (engine modules and the schemas' x-error)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        if path.name in OTHER_MODULES:
            continue
        for code in codes_in(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(path.name)
    for path in sorted((ROOT / "schemas").glob("*.json")):
        for code in re.findall(r'"x-error":\s*"([a-z_]+)"', path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(path.name)
    return found


def test_the_code_scanner_finds_codes_of_every_kind() -> None:
    """Guard the scanner itself: literal, f-string, variable, keyword-default and schema codes."""
    codes = engine_codes()
    for code in ("duplicate_key", "duplicate_rule_id", "duplicate_note_id", "invalid_period", "type_mismatch",
                 "unknown_enum_value", "file_unreadable", "wrong_type", "unknown_field", "invalid_identifier",
                 "invalid_structure", "oracle_disagreement", "corrupt_log_line"):
        assert code in codes, code
    assert len(codes) > 80


def test_every_error_code_has_a_fixture() -> None:
    covered = {Fixture.load(name).code for name in fixture_names()}
    missing = {code: sorted(files) for code, files in engine_codes().items()
               if code not in covered and code not in NOT_TRIGGERABLE}
    assert not missing, f"error codes without a fixture in tests/fixtures/invalid/: {missing}"


def test_the_allow_list_holds_only_real_codes_without_fixtures() -> None:
    codes = engine_codes()
    covered = {Fixture.load(name).code for name in fixture_names()}
    assert set(NOT_TRIGGERABLE) <= set(codes), set(NOT_TRIGGERABLE) - set(codes)
    assert not set(NOT_TRIGGERABLE) & covered
    assert set(XFAIL) <= set(fixture_names())
