"""The code registry (engine/core/codes.py) and ``gongji codes``.

That the registry matches the codes the engine reports, and the fixture per code, are checked in
test_error_fixtures.py, beside the scanner that finds the codes.
"""

from __future__ import annotations

import json

import pytest

from engine.core import codes
from engine.core.codes import KINDS, REGISTRY, describe, lookup


def test_each_code_is_declared_once() -> None:
    names = [entry.code for entry in codes._ALL]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert list(REGISTRY) == sorted(REGISTRY)


def test_lookup_and_describe() -> None:
    entry = lookup("duplicate_key")
    assert (entry.kind, entry.exit, entry.triggerable) == ("input", 1, True)
    assert describe("duplicate_key") == ("duplicate_key (input, exit 1): a YAML mapping has the same key twice "
                                         "(the second would replace the first)")
    assert describe("unknown_switch").startswith("unknown_switch (rule_file/fact/usage, exit 1 or 2): ")
    assert "[not caused by input: " in describe("check_undecided")
    assert describe("log_closed").startswith("log_closed (api, no command exit): ")
    assert describe("no_such_code") == "no_such_code: not a gongji code"
    with pytest.raises(KeyError):
        lookup("no_such_code")


def test_exit_status_follows_the_kinds() -> None:
    assert lookup("invalid_switch").exits == (2,)
    assert lookup("branch_never_holds").exit == 0
    assert lookup("invalid_date").exits == (1, 2) and lookup("invalid_date").exit is None
    assert lookup("unknown_city").exits == (1,)  # its api origin has no command exit
    assert all(entry.untriggerable for entry in REGISTRY.values() if "internal" in entry.kinds)


def test_gongji_codes_prints_the_table(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("codes")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["CODE", "KIND", "EXIT", "MEANING"]
    rows = {line.split()[0]: line.split(None, 3) for line in lines[1:len(REGISTRY) + 1]}
    assert list(rows) == list(REGISTRY)
    assert rows["invalid_switch"][1:3] == ["usage", "2"]
    assert rows["unknown_switch"][1:3] == ["rule_file/fact/usage", "1/2"]
    assert rows["log_closed"][1:3] == ["api", "-"]
    assert "[not caused by input: " in rows["oracle_disagreement"][3]
    assert f"usage: {KINDS['usage'][0]}" in lines
    assert lines[-1].startswith(f"{len(REGISTRY)} code(s); codes are stable")


def test_gongji_codes_json_and_filters(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, _ = run_cli("codes", "--format", "json")
    data = json.loads(out)
    assert status == 0
    assert [c["code"] for c in data["codes"]] == list(REGISTRY)
    assert data["kinds"]["usage"] == {"meaning": KINDS["usage"][0], "exit": 2}
    by_code = {c["code"]: c for c in data["codes"]}
    assert by_code["inputs_missing"]["triggerable"] is False and by_code["inputs_missing"]["untriggerable"]
    assert by_code["invalid_date"]["exit"] is None and by_code["invalid_date"]["exits"] == [1, 2]

    status, out, _ = run_cli("codes", "--kind", "lint_warning", "--format", "json")
    assert {c["code"] for c in json.loads(out)["codes"]} == {
        code for code, entry in REGISTRY.items() if "lint_warning" in entry.kinds}

    status, out, _ = run_cli("codes", "wrong_type", "duplicate_key")
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["duplicate_key", "wrong_type"]


def test_gongji_codes_reports_every_unknown_code_at_once(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("codes", "nope", "dupliate_key", "wrong_type")
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "CODE: unknown_code: 'dupliate_key' is not a gongji code (found 'dupliate_key') — did you mean "
        "'duplicate_key'?",
        "CODE: unknown_code: 'nope' is not a gongji code (found 'nope')"]
