"""The audit decision log and its replay."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from engine import Engine, UsageError
from engine.core.errors import InputError
from engine.runtime.auditlog import LOG_FORMAT, DecisionLog, read_log
from engine.tools.replay import replay
from engine.tools.samples import documents
from tests.conftest import RULESETS, binding, payment


def test_one_line_per_decision_with_masked_ids(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt="s3cret") as engine:
        doc = binding()
        doc["authorizer"] = dict(doc["authorizer"], id="341102198001011234")
        first = engine.decide(doc)
        engine.decide(payment())
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[0])
    assert entry["format"] == LOG_FORMAT
    assert len(entry["decision_id"]) == 36 and entry["decision_id"][14] == "4"
    assert entry["ruleset"] == {"id": "341100", "version": first.ruleset_version, "sha256": first.sha256}
    assert entry["as_of"] == "2025-03-01" and entry["switches"] == first.switches
    assert entry["decision"] == json.loads(first.to_json())
    assert "341102198001011234" not in lines[0]
    assert entry["facts"]["authorizer"]["id"].startswith("h:")
    # the same person (both documents have this authorizer) gets the same pseudonym: linkable
    assert json.loads(lines[1])["facts"]["authorizer"]["id"] == entry["facts"]["authorizer"]["id"]
    assert json.loads(lines[1])["facts"]["beneficiary"]["id"] == entry["facts"]["beneficiary"]["id"]
    with Engine.load(RULESETS, decision_log=log, log_salt="other") as engine:
        engine.decide(doc)
    # another salt, another pseudonym: without the salt nothing links back to the person
    assert json.loads(log.read_text().splitlines()[2])["facts"]["authorizer"]["id"] != \
        entry["facts"]["authorizer"]["id"]


def test_a_random_salt_is_created_once_and_kept_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGJI_LOG_SALT", raising=False)
    log = tmp_path / "d.jsonl"
    a = DecisionLog(log)
    b = DecisionLog(log)
    assert a.salt == b.salt and len(a.salt) == 64
    assert stat.S_IMODE(os.stat(tmp_path / "d.jsonl.salt").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    a.close()
    b.close()


def test_lines_from_several_threads_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    engine = Engine.load(RULESETS, decision_log=log, log_salt=b"x")
    docs = list(documents(200, "payment", seed=5))

    def work(part: list[dict]) -> None:
        for doc in part:
            engine.decide(doc)

    threads = [threading.Thread(target=work, args=(docs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.close()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200 and all(json.loads(line)["decision"]["request"] == "payment" for line in lines)


def test_replay_finds_every_line_identical(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as engine:
        for doc in documents(60, "binding", seed=9):
            engine.decide(doc)
        for doc in documents(60, "payment", seed=9):
            engine.decide(doc)
        report = replay(log, engine)
    assert (report.lines, report.replayed, report.matched, report.mismatches, report.problems) == (120, 120, 120, [], [])


def test_replay_reports_a_tampered_decision_and_a_corrupt_line(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as engine:
        engine.decide(binding())
        engine.decide(payment())
        engine.decide(binding(relationship="child"))
    lines = log.read_text(encoding="utf-8").splitlines()
    tampered = json.loads(lines[1])
    tampered["decision"]["payment"]["plan"][2]["amount"] = "999.00"
    lines[1] = json.dumps(tampered, ensure_ascii=False)
    lines.insert(2, '{"format": "gongji.decision-log/1", "decision_id": "trunc')
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run_cli("replay", log, "--rulesets", RULESETS)
    assert code == 1
    assert f"{log}:2: mismatch" in out and "/payment/plan/2/amount: \"999.00\" -> \"830.00\"" in out
    assert f"{log}:3:" in err and "corrupt_log_line" in err
    assert "4 line(s): 3 replayed, 2 identical, 1 mismatched, 1 unreadable or failed" in out


def test_replay_refuses_a_log_from_another_ruleset_version(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "old"
    shutil.copytree(RULESETS, old)
    chuzhou = old / "cities" / "341100-chuzhou.yaml"
    chuzhou.write_text(chuzhou.read_text(encoding="utf-8").replace("value: 6\n", "value: 5\n", 1), encoding="utf-8")
    log = tmp_path / "d.jsonl"
    with Engine.load(old, decision_log=log, log_salt=b"x") as engine:
        engine.decide(binding(bound_members=5))
    code, _, err = run_cli("replay", log, "--rulesets", RULESETS)
    assert code == 2 and "ruleset_hash_mismatch" in err and "--against" in err
    code, out, _ = run_cli("replay", log, "--against", old)
    assert code == 0 and "1 identical" in out
    code, out, _ = run_cli("replay", log, "--against", RULESETS)  # the edit changes this decision
    assert code == 1 and "/eligible: false -> true" in out


def test_read_log_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        list(read_log(tmp_path / "missing.jsonl"))
    assert caught.value.issues[0].code == "file_not_found"
    path = tmp_path / "partial.jsonl"
    path.write_text('{"ruleset": {}}\n\n[1, 2]\n', encoding="utf-8")
    lines = list(read_log(path))
    assert [(line.number, line.problem.code if line.problem else None) for line in lines] == [
        (1, "corrupt_log_line"), (3, "corrupt_log_line")]


def test_an_unwritable_log_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as caught:
        DecisionLog(tmp_path / "file" / "log.jsonl", salt="x")
    assert caught.value.issues[0].code == "log_unwritable"


def test_decide_log_option(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    facts = tmp_path / "f.json"
    facts.write_text(json.dumps(binding()), encoding="utf-8")
    log = tmp_path / "log.jsonl"
    code, out, _ = run_cli("decide", facts, "--log", log)
    assert code == 0 and json.loads(out)["eligible"] is True
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1
