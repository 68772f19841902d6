"""Every error code has a fixture: a minimal input and the exact issue lines ``gongji`` prints.

Layout and conventions: tests/fixtures/invalid/README.md.  Each fixture runs the CLI in-process
from the repository root; only the first line of each issue is compared (the caret/context lines
and the summary lines are presentation).  The other tests read the engine's source and schemas for
the codes they report, and hold them to the one registry, engine/core/codes.py: every code reported
is registered and every registered code is reported; every code outside input can trigger has a
fixture here (or its entry names the test module that exercises it); a fixture exits as its code's
registry entry says.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.core.codes import KINDS, REGISTRY

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

REPORTERS = {"Issue": 0, "issue": 0, "err": 0, "_fault": 0, "fail": 1, "warning": 0}


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
    """code -> the files that report it (engine modules and the schemas' x-error)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for code in codes_in(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(path.relative_to(ROOT).as_posix())
    for path in sorted((ROOT / "schemas").glob("*.json")):
        for code in re.findall(r'"x-error":\s*"([a-z_]+)"', path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(path.name)
    return found


def test_the_code_scanner_finds_codes_of_every_kind() -> None:
    """Guard the scanner itself: literal, f-string, variable, keyword-default, schema and lint-warning codes."""
    codes = engine_codes()
    for code in ("duplicate_key", "duplicate_rule_id", "duplicate_note_id", "invalid_period", "type_mismatch",
                 "unknown_enum_value", "file_unreadable", "wrong_type", "unknown_field", "invalid_identifier",
                 "invalid_structure", "oracle_disagreement", "corrupt_log_line", "branch_never_holds", "unknown_code"):
        assert code in codes, code
    assert len(codes) > 80


def fixture_codes() -> set[str]:
    return {Fixture.load(name).code for name in fixture_names()}


def test_every_reported_code_is_registered_and_every_registered_code_is_reported() -> None:
    reported = engine_codes()
    unregistered = {code: sorted(files) for code, files in reported.items() if code not in REGISTRY}
    assert not unregistered, f"codes reported but not declared in engine/core/codes.py: {unregistered}"
    dead = sorted(set(REGISTRY) - set(reported))
    assert not dead, f"codes declared in engine/core/codes.py that nothing reports: {dead}"


def test_registry_entries_are_well_formed() -> None:
    for code, entry in REGISTRY.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", code), code
        assert entry.kinds and set(entry.kinds) <= set(KINDS), code
        assert len(set(entry.kinds)) == len(entry.kinds), code
        assert entry.meaning and "\n" not in entry.meaning, code
        assert not (entry.untriggerable and entry.tested_in), f"{code}: untriggerable, yet tested by input?"


def test_every_error_code_has_a_fixture() -> None:
    covered = fixture_codes()
    missing = {code: sorted(files) for code, files in engine_codes().items()
               if code in REGISTRY and REGISTRY[code].triggerable and not REGISTRY[code].tested_in
               and code not in covered}
    assert not missing, f"error codes without a fixture in tests/fixtures/invalid/: {missing}"


def test_codes_tested_elsewhere_are_exercised_there_and_have_no_fixture() -> None:
    covered = fixture_codes()
    for code, entry in REGISTRY.items():
        if entry.tested_in:
            text = (ROOT / entry.tested_in).read_text(encoding="utf-8")
            assert re.search(rf"(?<![a-z0-9_]){code}(?![a-z0-9_])", text), f"{entry.tested_in} does not exercise {code}"
            assert code not in covered, f"{code} has a fixture: drop tested_in from its entry"


def test_codes_input_cannot_cause_have_no_fixture() -> None:
    caused = {code for code, entry in REGISTRY.items() if not entry.triggerable} & fixture_codes()
    assert not caused, f"input causes these codes after all: drop 'untriggerable' from their entries: {caused}"
    assert set(XFAIL) <= set(fixture_names())


def test_every_fixture_exits_as_the_registry_says() -> None:
    wrong = {}
    for name in fixture_names():
        fixture = Fixture.load(name)
        allowed = REGISTRY[fixture.code].exits if fixture.code in REGISTRY else ()
        if fixture.exit not in allowed:
            wrong[name] = f"exit {fixture.exit}, registry allows {allowed}"
    assert not wrong, wrong
