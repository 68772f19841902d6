"""The audit decision log and its replay."""

from __future__ import annotations

import json
import os
import shutil
import signal
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
    with Engine.load(RULESETS, decision_log=log, log_salt="s3cret", log_fields="full") as engine:
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
    assert len(lines) == 200 and all(json.loads(line)["record"]["request"] == "payment" for line in lines)


def test_replay_finds_every_line_identical(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as engine:
        for doc in documents(60, "binding", seed=9):
            engine.decide(doc)
        for doc in documents(60, "payment", seed=9):
            engine.decide(doc)
        report = replay(log, engine)
    assert (report.lines, report.replayed, report.matched, report.mismatches, report.problems) == (120, 120, 120, [], [])


@pytest.mark.parametrize(("fields", "part"), [("compact", "record"), ("full", "decision")])
def test_replay_reports_a_tampered_decision_and_a_corrupt_line(tmp_path: Path, run_cli, fields: str,  # type: ignore[no-untyped-def]
                                                              part: str) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x", log_fields=fields) as engine:
        engine.decide(binding())
        engine.decide(payment())
        engine.decide(binding(relationship="child"))
    lines = log.read_text(encoding="utf-8").splitlines()
    tampered = json.loads(lines[1])
    tampered[part]["payment"]["plan"][2]["amount"] = "999.00"
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


# ------------------------------------------------------------------ issue 14, item 6

SALT = "0123456789abcdef0123456789abcdef"


def test_a_lone_surrogate_id_is_logged_and_decided(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """JSON may carry "\\ud800"; it used to fail the log write (exit 3) and lose the decision."""
    doc = json.dumps(binding()).replace('"341102198001011234"', '"A\\ud800"')
    facts = tmp_path / "f.json"
    facts.write_text(doc, encoding="utf-8")
    log = tmp_path / "log.jsonl"
    code, out, err = run_cli("decide", facts, "--log", log)
    assert code == 0, err
    assert json.loads(out)["eligible"] is True
    (entry,) = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert entry["facts"]["authorizer"]["id"].startswith("h:")


def test_a_full_log_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           run_cli) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GONGJI_LOG_SALT", SALT)  # no salt file beside /dev/full
    facts = tmp_path / "f.json"
    facts.write_text(json.dumps(binding()), encoding="utf-8")
    code, out, err = run_cli("decide", facts, "--log", "/dev/full")
    assert code == 2
    assert "log_write_failed" in err and "No space left on device" in err
    assert "internal error" not in err


def test_stdout_on_a_full_device_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    facts = tmp_path / "f.json"
    facts.write_text(json.dumps(binding()), encoding="utf-8")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "engine.cli", "decide", str(facts), "--rulesets", str(RULESETS)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "cannot write the output: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_directory_as_log_leaves_no_salt_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGJI_LOG_SALT", raising=False)
    (tmp_path / "logs").mkdir()
    with pytest.raises(UsageError) as caught:
        DecisionLog(tmp_path / "logs")
    assert caught.value.issues[0].code == "log_unwritable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


@pytest.mark.parametrize("content", ["", "\n", "short"])
def test_an_empty_or_short_salt_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    monkeypatch.delenv("GONGJI_LOG_SALT", raising=False)
    (tmp_path / "d.jsonl.salt").write_text(content)
    with pytest.raises(UsageError) as caught:
        DecisionLog(tmp_path / "d.jsonl")
    assert caught.value.issues[0].code == "log_salt_invalid"


def test_an_empty_salt_in_the_environment_and_an_empty_given_salt_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGJI_LOG_SALT", "")
    with pytest.raises(UsageError) as caught:
        DecisionLog(tmp_path / "d.jsonl")
    assert caught.value.issues[0].code == "log_salt_invalid"
    with pytest.raises(UsageError):
        DecisionLog(tmp_path / "e.jsonl", salt=b"")


def _open_log(path: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        log = DecisionLog(path)
        results.put(log.salt)  # type: ignore[attr-defined]
        log.close()
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))  # type: ignore[attr-defined]


def test_two_processes_creating_the_same_new_log_agree_on_one_complete_salt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: 61 of 300 trials failed with "File exists" and one read an empty salt."""
    import multiprocessing

    monkeypatch.delenv("GONGJI_LOG_SALT", raising=False)
    context = multiprocessing.get_context("fork")
    for trial in range(40):
        path = str(tmp_path / f"log{trial}.jsonl")
        barrier, results = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_open_log, args=(path, barrier, results)) for _ in range(2)]
        for worker in workers:
            worker.start()
        salts = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert salts[0] == salts[1] and isinstance(salts[0], bytes) and len(salts[0]) == 64, (trial, salts)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"log{trial}.")) == [
            f"log{trial}.jsonl", f"log{trial}.jsonl.salt"]  # no temporary file left


def test_minimal_log_fields_keep_no_health_or_money_data(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "m.jsonl"
    decision = engine.decide(payment())
    minimal = DecisionLog(log, salt=SALT, fields="minimal")
    minimal.write(decision)
    minimal.close()
    line = log.read_text(encoding="utf-8")
    entry = json.loads(line)
    assert entry["fields"] == "minimal"
    assert set(entry["facts"]) == {"request", "authorizer", "beneficiary"}
    assert entry["facts"]["authorizer"]["id"].startswith("h:")
    assert entry["decision"] == {"eligible": decision.eligible, "codes": [
        r["code"] for r in decision.to_dict()["reasons"] if r["outcome"] == "fail"]}
    kept = json.dumps(entry["facts"]) + json.dumps(entry["decision"])
    for secret in ("expense", "category", "amount", "balance", "region", "pooling", "status", "relationship"):
        assert secret not in kept
    report = replay(log, engine)
    assert [p.code for p in report.problems] == ["log_not_replayable"]
    with pytest.raises(UsageError):
        DecisionLog(tmp_path / "x.jsonl", salt=SALT, fields="everything")


def test_a_line_torn_by_a_failed_write_does_not_swallow_the_next(tmp_path: Path) -> None:
    """A write that stops mid-line (disk full) leaves a fragment; the next decision's line stays whole."""
    import resource

    from engine.core.errors import UsageError

    path = tmp_path / "decisions.jsonl"
    with Engine.load(RULESETS, decision_log=path, log_salt=b"0123456789abcdef") as engine:
        engine.decide(binding())
        size = path.stat().st_size
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))  # the next line is cut after 100 bytes
            with pytest.raises(UsageError):
                engine.decide(binding())
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
        engine.decide(payment())
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and len(lines[1]) == 100
    read = list(read_log(path))
    assert [line.entry["record"]["request"] for line in read if line.entry is not None] == ["binding", "payment"]
    assert [line.problem.code for line in read if line.problem is not None] == ["corrupt_log_line"]
