"""HTTP == CLI: the same bytes for every example and every policy test case, the same issues."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.cli import main
from engine.core.errors import Issue, SourceLocation
from engine.core.load import load_file
from engine.tools.testing import load_test_file
from tests.conftest import ROOT, SHIPPED as RULESETS
from tests.service.conftest import Server


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args, "--rulesets", str(RULESETS)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _documents(tmp_path: Path) -> list[tuple[Path, dict]]:
    """(the file the CLI reads, the document HTTP sends) for every example and test case."""
    found = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        loaded = load_file(path)
        assert not loaded.issues
        found.append((path, loaded.data))
    for test_path in sorted((RULESETS / "cities").glob("*.test.yaml")):
        test_file, issues = load_test_file(test_path)
        assert test_file is not None and not issues
        for case in test_file.cases:
            document = dict(case.facts)
            document.setdefault("city", test_file.ruleset)  # as `gongji test` decides it
            path = tmp_path / f"{test_path.stem}-{case.index:03d}.json"
            path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
            found.append((path, document))
    return found


def _issue_lines(body: dict, label: str) -> list[str]:
    """The HTTP issues in the CLI's one-line form, with the CLI's label for the document."""
    lines = []
    for item in body["issues"]:
        location = SourceLocation(label, item.get("line", 0), item.get("col", 0), item.get("pointer", ""))
        lines.append(Issue(item["code"], item["message"], location, item.get("expected"), item.get("found"),
                           item["severity"], item.get("hint", "")).format())
    return lines


def test_decisions_equal_cli_bytes(server: Server, tmp_path: Path) -> None:
    documents = _documents(tmp_path)
    assert len(documents) > 300
    code, out, err = _cli("decide", "--format", "json", *[str(p) for p, _ in documents])
    cli_lines = out.splitlines(keepends=True)
    invalid = 0
    with server.client() as client:
        for path, document in documents:
            response = client.post("/v1/decisions", json=document)
            if response.status_code == 200:
                expected = cli_lines.pop(0)
                assert response.content == expected.encode("utf-8"), path
                sha = json.loads(response.content)["ruleset"]["sha256"]
                assert response.headers["x-gongji-ruleset-sha256"] == sha
                continue
            assert response.status_code == 422, (path, response.text)
            invalid += 1
            cli_issues = [line for line in err.splitlines() if line.startswith(f"{path}#") or
                          line.startswith(f"{path}:")]
            cli_issues = [line for line in cli_issues if not line.startswith(f"{path}: invalid fact document")]
            assert _issue_lines(response.json(), str(path)) == cli_issues, path
    assert not cli_lines  # every CLI decision was matched
    assert invalid > 0 and code == 1  # the cases with fact errors are compared too


def test_explanation_equals_cli(server: Server) -> None:
    path = ROOT / "examples" / "taiyuan-binding.yaml"
    document = load_file(path).data
    code, out, _ = _cli("explain", str(path), "--lang", "en", "--why-not")
    assert code == 0
    with server.client() as client:
        response = client.post("/v1/explanations", params={"lang": "en", "why_not": "true"}, json=document)
        assert response.status_code == 200
        assert response.text == out
        code, out, _ = _cli("explain", str(path), "--format", "json")
        response = client.post("/v1/explanations", params={"format": "json"}, json=document)
        assert response.json() == json.loads(out)


def test_batch_one_line_per_input_line(server: Server) -> None:
    good = load_file(ROOT / "examples" / "chuzhou-payment.yaml").data
    other = load_file(ROOT / "examples" / "yichun-binding.yaml").data
    body = "\n".join([json.dumps(good), '{"request": "binding"', "", json.dumps({**other, "bound_members": -1}),
                      json.dumps(other)]) + "\n"
    with server.client() as client:
        single = [client.post("/v1/decisions", json=d).content.rstrip(b"\n") for d in (good, other)]
        response = client.post("/v1/decisions:batch", content=body.encode(),
                               headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 200
    lines = response.content.splitlines()
    assert len(lines) == 5
    parsed = [json.loads(line) for line in lines]
    assert [p["index"] for p in parsed] == [0, 1, 2, 3, 4]
    assert lines[0] == b'{"index":0,"decision":' + single[0] + b"}"
    assert lines[4] == b'{"index":4,"decision":' + single[1] + b"}"
    assert parsed[1]["status"] == 400 and parsed[1]["issues"][0]["code"] == "json_syntax_error"
    assert parsed[2]["status"] == 400 and parsed[2]["error"] == "empty_line"
    assert parsed[3]["status"] == 422 and parsed[3]["issues"][0]["pointer"] == "/bound_members"
