"""The command line: exit codes, formats, inputs, and never a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from tests.conftest import ROOT, RULESETS, binding, payment


def write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_check_ok(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("check", RULESETS)
    assert code == 0 and out.startswith("ok: ") and "4 cities" in out and not err


def test_decide_json_lines_and_text(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    a = write(tmp_path, "a.yaml", binding())
    b = write(tmp_path, "b.json", payment())
    code, out, _ = run_cli("decide", a, b)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert json.loads(lines[0])["request"] == "binding" and json.loads(lines[1])["payment"]["total"] == "1000.00"
    code, out, _ = run_cli("decide", a, "--format", "text", "--lang", "en")
    assert code == 0 and out.startswith("341100 滁州市 binding 2025-03-01: ELIGIBLE")


def test_decide_jsonl_corpus_with_a_bad_line(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join([json.dumps(binding()), "{not json", json.dumps(binding(relationship="cousin")),
                                 json.dumps(payment())]) + "\n", encoding="utf-8")
    code, out, err = run_cli("decide", corpus)
    assert code == 1 and len(out.splitlines()) == 2
    assert f"{corpus}:2:" in err and "json_syntax_error" in err
    assert f"{corpus}:3#/relationship: invalid_value" in err


def test_invalid_yaml_document_errors_have_line_and_column(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    doc = binding(relationship="cousin", as_of="2025-02-30")
    path = write(tmp_path, "bad.yaml", doc)
    code, _, err = run_cli("decide", path)
    assert code == 1
    issues = [line for line in err.splitlines() if ": invalid_" in line]
    assert all(line.startswith(f"{path}:") and line.split(":")[1].isdigit() for line in issues)
    assert {"invalid_date", "invalid_value"} <= {line.split(": ")[1] for line in issues}


def test_explain_text_json_and_why_not(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "s.yaml", binding(relationship="sibling", as_of="2023-05-01"))
    code, out, _ = run_cli("explain", path, "--lang", "en", "--why-not")
    assert code == 0 and "Decision: NOT ELIGIBLE" in out and "What would make it eligible" in out
    code, out, _ = run_cli("explain", path, "--format", "json", "--why-not")
    data = json.loads(out)
    assert code == 0 and data["why_not"]["eligible_from"] == "2024-12-09" and data["trace"]


def test_switch_and_as_of_options(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "s.yaml", binding(relationship="sibling"))
    assert json.loads(run_cli("decide", path)[1])["eligible"] is True
    assert json.loads(run_cli("decide", path, "--switch", "scope_widening=seed")[1])["eligible"] is False
    assert json.loads(run_cli("decide", path, "--as-of", "2023-01-01")[1])["eligible"] is False
    code, _, err = run_cli("decide", path, "--switch", "scope_widening")
    assert code == 2 and "invalid_switch" in err
    code, _, err = run_cli("decide", path, "--switch", "nonsense=x")
    assert code == 2 and "unknown_switch" in err


def test_usage_errors_exit_2(run_cli, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_cli()[0] == 2
    assert run_cli("decide")[0] == 2
    assert run_cli("frobnicate")[0] == 2
    assert run_cli("decide", "x.yaml", "--format", "xml")[0] == 2


def test_missing_input_and_rulesets(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("decide", tmp_path / "nope.yaml")
    assert code == 1 and "file_not_found" in err
    code, _, err = run_cli("check", tmp_path / "no-rulesets")
    assert code == 1 and "file_not_found" in err
    code, _, err = run_cli("decide", write(tmp_path, "a.yaml", binding()), "--rulesets", tmp_path / "none")
    assert code == 1 and "file_not_found" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(binding())))
    assert main(["decide", "-", "--rulesets", str(RULESETS)]) == 0
    assert json.loads(capsys.readouterr().out)["eligible"] is True


def test_an_internal_error_never_shows_a_traceback(monkeypatch: pytest.MonkeyPatch, run_cli) -> None:  # type: ignore[no-untyped-def]
    import engine.cli

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(engine.cli, "cmd_check", explode)
    monkeypatch.setattr(engine.cli, "build_parser", _parser_with(explode))
    code, out, err = run_cli("check")
    assert code == 3 and "internal error: RuntimeError: simulated bug" in err and "Traceback" not in err + out


def _parser_with(func):  # type: ignore[no-untyped-def]
    from engine import cli

    original = cli.build_parser

    def build(*args, **kwargs):  # type: ignore[no-untyped-def]
        parser = original(*args, **kwargs)
        for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
            action.choices["check"].set_defaults(func=func)
        return parser

    return build


def test_demo_runs_every_example(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("demo", "--lang", "en")
    assert code == 0
    assert out.count("Decision: ") == len(list((ROOT / "examples").glob("*.yaml"))) == 8
    for city in ("341100", "140100", "360900", "130600"):
        assert city in out


def test_test_command_with_junit_and_coverage_threshold(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    junit = tmp_path / "junit.xml"
    code, out, _ = run_cli("test", RULESETS / "cities" / "341100-chuzhou.test.yaml", "--junit", junit)
    assert code == 0 and "0 failed" in out and "rule coverage" in out
    assert junit.read_text(encoding="utf-8").count("<testcase") > 40
    code, out, _ = run_cli("test", RULESETS / "cities" / "341100-chuzhou.test.yaml", "--min-coverage", "100")
    assert code == 1 and "below --min-coverage 100%" in out  # one city's cases cannot reach the others' rules
    code, out, _ = run_cli("test", RULESETS, "--min-coverage", "100")
    assert code == 0


def test_failing_policy_case_shows_diff_and_explanation(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    cases = tmp_path / "wrong.test.yaml"
    cases.write_text(yaml.safe_dump({"ruleset": "341100", "defaults": binding(), "cases": [
        {"name": "claims a sibling is fine in 2023", "facts": {"relationship": "sibling", "as_of": "2023-01-01"},
         "expect": {"eligible": True, "fail_codes": []}}]}, allow_unicode=True), encoding="utf-8")
    junit = tmp_path / "j.xml"
    code, out, _ = run_cli("test", cases, "--rulesets", RULESETS, "--junit", junit)
    assert code == 1
    assert "eligible: expected true, got false" in out
    assert "fail_codes: expected [], got ['relationship_out_of_scope']" in out
    assert "--- explanation ---" in out
    assert 'failures="1"' in junit.read_text(encoding="utf-8")


def test_version_names_package_and_each_ruleset(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("--version", RULESETS)
    assert code == 0
    first, *cities = out.strip().splitlines()
    assert first.startswith("gongji ") and "durable-rules 2.0.28" in first
    assert [line.split()[0] for line in cities[1:]] == ["130600", "140100", "341100", "360900"]
    assert all(len(line.split()[-1]) == 64 for line in cities[1:])  # the sha256 a decision names


def test_version_with_broken_rulesets_says_so_without_a_traceback(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("--version", tmp_path / "missing")
    assert code == 0 and "not loadable" in out and "gongji check" in out and "Traceback" not in out + err


def _engine_fault(code: str):  # type: ignore[no-untyped-def]
    from engine.core.errors import EvaluationError, Issue, SourceLocation

    def decide(self, facts, as_of=None):  # type: ignore[no-untyped-def]
        if facts.get("bound_members") == 1:
            raise EvaluationError([Issue(code, "a generated action raised ZeroDivisionError", SourceLocation())])
        return original(self, facts, as_of)

    from engine.runtime.api import Engine

    original = Engine.decide
    return decide


def test_a_coded_engine_fault_exits_3_and_the_other_documents_are_decided(tmp_path: Path, run_cli,  # type: ignore[no-untyped-def]
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 3 is an internal error whether it is an unexpected exception or a coded engine fault
    (a code of kind ``internal``, e.g. action_failed); a ruleset defect a document meets stays 1."""
    from engine.runtime.api import Engine

    faulty = write(tmp_path, "faulty.yaml", binding(bound_members=1))
    good = write(tmp_path, "good.yaml", binding())
    invalid = write(tmp_path, "invalid.yaml", binding(relationship="neighbour"))
    monkeypatch.setattr(Engine, "decide", _engine_fault("action_failed"))
    code, out, err = run_cli("decide", invalid, faulty, good)
    assert code == 3
    assert "action_failed" in err and "bug in gongji" in err and "Traceback" not in err
    assert len(out.splitlines()) == 1  # the good document was still decided
    code, _, err = run_cli("explain", faulty)  # raised to main(): the same status
    assert code == 3 and "action_failed" in err
    monkeypatch.setattr(Engine, "decide", _engine_fault("ruleset_limit_reached"))  # kind fact: input's doing
    code, _, err = run_cli("decide", faulty, good)
    assert code == 1 and "bug in gongji" not in err


def test_codes_table_gives_engine_faults_exit_3(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("codes", "action_failed", "--format", "json")
    assert code == 0
    table = json.loads(out)
    assert table["kinds"]["internal"]["exit"] == 3 and table["codes"][0]["exit"] == 3
