"""The compact decision log (``gongji.decision-log/2``, the default): a decision record that a
replay rebuilds and verifies, its helpers (pseudonyms, ids, timestamps), and old full lines."""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import Engine
from engine.console.data import audit_entry
from engine.core.errors import EvaluationError, FactError
from engine.core.privacy import Pseudonyms, pseudonym
from engine.runtime.auditlog import (COMPACT_FORMAT, LOG_FORMAT, _timestamp, _uuid4, decision_record_json,
                                     read_log, record_of)
from engine.tools.diff import decide_line
from engine.tools.replay import replay
from engine.tools.samples import documents
from tests.conftest import RULESETS, binding, payment


def test_the_record_is_the_full_decisions_record(engine: Engine) -> None:
    """The record written without rendering equals the one taken from the rendered decision, for
    both requests, eligible or not, every failing combination the samples reach."""
    for request in ("binding", "payment"):
        for doc in documents(150, request, seed=21):
            decision = engine.decide(doc)
            text = decision_record_json(decision)
            assert json.loads(text) == record_of(decision.to_dict())
            assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))  # canonical


def test_a_compact_line_holds_the_record_and_replays(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt="s3cret") as engine:
        doc = payment()
        doc["authorizer"] = dict(doc["authorizer"], id="341102198001011234")
        decision = engine.decide(doc)
        engine.decide(binding(relationship="child"))
    lines = log.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[0])
    assert entry["format"] == COMPACT_FORMAT and entry["fields"] == "compact" and "decision" not in entry
    assert entry["ruleset"] == {"id": "341100", "version": decision.ruleset_version, "sha256": decision.sha256}
    assert entry["as_of"] == "2025-03-01" and entry["switches"] == decision.switches
    assert entry["record"] == record_of(decision.to_dict())
    assert entry["record"]["payment"] == decision.to_dict()["payment"]
    assert "341102198001011234" not in lines[0]
    assert entry["facts"]["authorizer"]["id"] == pseudonym("341102198001011234", b"s3cret")
    code, out, _ = run_cli("replay", log, "--rulesets", RULESETS)
    assert code == 0 and "2 line(s): 2 replayed, 2 identical, 0 mismatched" in out


def test_a_compact_line_with_another_reason_is_a_mismatch(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as engine:
        engine.decide(binding(relationship="child"))
    entry = json.loads(log.read_text(encoding="utf-8"))
    entry["record"]["reasons"][0]["established"] = "fired" if entry["record"]["reasons"][0]["established"] != \
        "fired" else "no_other_branch_fired"
    log.write_text(json.dumps(entry, ensure_ascii=False) + "\n", encoding="utf-8")
    with Engine.load(RULESETS) as engine:
        report = replay(log, engine)
    assert report.matched == 0 and len(report.mismatches) == 1
    assert report.mismatches[0][2][0].startswith("/reasons/0/established:")


def test_old_full_lines_still_replay_next_to_compact_ones(tmp_path: Path, engine: Engine) -> None:
    """A log written before the compact format (``gongji.decision-log/1``, the whole decision),
    then appended to in the new default format: both kinds replay, each compared its own way."""
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x", log_fields="full") as logging:
        logging.decide(binding())
        logging.decide(payment())
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as logging:
        logging.decide(payment())
    report = replay(log, engine)
    formats = [line.entry["format"] for line in read_log(log) if line.entry is not None]
    assert formats == [LOG_FORMAT, LOG_FORMAT, COMPACT_FORMAT]
    assert (report.lines, report.matched, report.mismatches, report.problems) == (3, 3, [], [])
    second, third = (json.loads(text) for text in log.read_text(encoding="utf-8").splitlines()[1:])
    assert second["facts"] == third["facts"]  # the same document, masked alike by both formats


def test_diff_replay_reads_compact_lines(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "d.jsonl"
    failing = next(doc for doc in documents(40, "binding", seed=3) if not engine.decide(doc).eligible)
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as logging:
        logging.decide(failing)
    result = decide_line(engine, engine, log.read_text(encoding="utf-8"))
    assert result[0] == "decided" and result[1] is True
    logged, old = result[2], result[3]
    assert logged is not None and logged.same(old) and not logged.eligible and logged.codes


def test_the_console_audit_rebuilds_a_compact_line(tmp_path: Path, engine: Engine) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=b"x") as logging:
        decision = logging.decide(payment())
    entry = json.loads(log.read_text(encoding="utf-8"))
    report = audit_entry(engine, entry)
    assert report["same_ruleset"] and report["same_decision"]
    assert report["decision"] == decision.to_dict()  # the whole decision, rebuilt and verified
    entry["record"]["eligible"] = not entry["record"]["eligible"]
    report = audit_entry(engine, entry)
    assert not report["same_decision"]
    assert report["decision"]["eligible"] == entry["record"]["eligible"]  # what was logged, not the new one
    assert report["decision"]["switches"] == entry["switches"]


@pytest.mark.parametrize("salt", [b"x", b"s" * 64, b"long" * 40, "盐".encode()])
def test_pseudonyms_are_the_hmac_of_pseudonym(salt: bytes) -> None:
    hide = Pseudonyms(salt)
    for value in ("341102198001011234", "A-1", "张三", ""):
        assert hide(value) == pseudonym(value, salt)


@pytest.mark.parametrize("writer", ["python", "c"])
def test_decision_ids_are_random_uuid4_also_after_fork(writer: str) -> None:
    """Both id sources (Python's and the C line writer's): pools of 256, emptied in a fork."""
    from engine.runtime import auditlog

    assert auditlog._logline is not None
    native = auditlog._logline.LineWriter(b"k", b"", b"", b"", b"", b"", b"")
    next_id = _uuid4 if writer == "python" else lambda: native.line({}, (b"", b"", b"", b"", ()), b"", True, {}, None)[0]
    ids = [next_id() for _ in range(600)]  # more than one pool
    assert len(set(ids)) == 600
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 and str(uuid.UUID(i)) == i
               for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id must not be the one the parent hands out next
        os.write(write, next_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 36 and child != next_id()


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    before = _dt.datetime.now(_dt.UTC)
    text = _timestamp()
    after = _dt.datetime.now(_dt.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", text)
    assert before <= _dt.datetime.fromisoformat(text) <= after


def test_the_payment_part_is_the_canonical_json_of_the_payment() -> None:
    from engine.runtime.auditlog import _payment_json
    from engine.runtime.render import dumps

    payment = {"plan": [{"source": "pooling_fund", "amount": "0.00"}, {"source": "cash", "amount": "12.30"}],
               "total": "12.30", "complete": False, "incomplete": ["share_not_computed", 'odd "code" \\ 中']}
    assert _payment_json(payment) == dumps(payment)
    assert orjson.dumps(payment) == dumps(payment).encode("utf-8")  # the fast line's encoder of it
    assert _payment_json({**payment, "complete": True, "incomplete": []}) == dumps({**payment, "complete": True,
                                                                                  "incomplete": []})


def test_orjson_and_json_write_the_same_bytes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compact line goes through orjson when it can; json (its fallback) must give the same
    bytes, for every document shape: both requests, ids of any shape, floats given through the
    API, dates as objects, text needing escapes, and integers past 64 bits (orjson refuses them)."""
    import engine.runtime.auditlog as auditlog

    assert auditlog._orjson is not None, "orjson is a dependency: the fast path must be the one tested"
    hide = Pseudonyms(b"salt")
    docs = [doc for request in ("binding", "payment") for doc in documents(60, request, seed=5)]
    odd = payment()
    odd["expense"]["amount"] = 78.9
    odd["beneficiary"]["id"] = 'B "\\\n\t\u2028中\x7f'
    big = binding()
    big["bound_members"] = 2**70
    docs += [odd, big, {**binding(), "as_of": _dt.date(2025, 1, 2)}]
    lines = {}
    for orjson_module in (auditlog._orjson, None):
        monkeypatch.setattr(auditlog, "_orjson", orjson_module)
        lines[orjson_module is None] = [
            auditlog._compact_bytes("id-1", "2026-12-01T00:00:00.000000+00:00", '{"id":"x"}', "2025-01-01",
                                    '{"s":"o"}', auditlog.masked_facts(doc, hide), '{"eligible":true}')
            for doc in docs]
    assert lines[False] == lines[True]
    assert all(json.loads(line)["facts"]["request"] in ("binding", "payment") for line in lines[False])


LINE_START = re.compile(rb'\{"format":"gongji\.decision-log/2","decision_id":"([0-9a-f-]{36})",'
                        rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00)"')


def _same_as_reference(made: tuple[str, bytes], decision: Any, hide: Pseudonyms) -> bool:
    """The line as the format defines it, from the rendered decision, with the line's own id
    (the one returned) and timestamp: the fast line (parts kept per segment and date, reasons
    per choice of branches, the rest in C or Python) must be these bytes."""
    import engine.runtime.auditlog as auditlog
    from engine.runtime.render import dumps

    decision_id, line = made
    start = LINE_START.match(line)
    assert start is not None and start.group(1).decode() == decision_id, line[:120]
    ruleset = dumps({"id": decision.ruleset_id, "version": decision.ruleset_version, "sha256": decision.sha256})
    return line == auditlog._compact_bytes(decision_id, start.group(2).decode(), ruleset,
                                           decision.to_dict()["as_of"], dumps(decision.switches),
                                           auditlog.masked_facts(decision.facts.document, hide),
                                           dumps(record_of(decision.to_dict())))


@pytest.mark.parametrize("native", [True, False], ids=["c", "python"])
def test_the_fast_compact_line_is_the_reference_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      native: bool) -> None:
    """Every kind of decision, through one log, written in C and in Python: random dates (many
    periods) and random switch assignments of every fixture city (other segments, switch dicts
    made per decision), both requests, documents that C hands to Python and orjson to json (a
    lone surrogate, an integer past 64 bits, a date object), and a second engine with edited
    rulesets writing to the same log object (its segments and its sha256 must not be answered
    with the first one's parts).  The dates' texts are kept few, so that they are cleared and
    rebuilt on the way."""
    import engine.runtime.auditlog as auditlog
    from engine.tools.bench import mixed_documents

    monkeypatch.setattr(auditlog, "DATE_CACHE", 7)
    log = auditlog.DecisionLog(tmp_path / "d.jsonl", salt=b"k")
    assert log.native is not None, "the C extension is built by pip install: its path must be the one tested"
    if not native:
        log.native = None
    edited = tmp_path / "rulesets"
    shutil.copytree(RULESETS, edited)
    for path in edited.rglob("*.yaml"):  # other content, so another sha256 on every line of its decisions
        path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    fixture, other = Engine.load(RULESETS), Engine.load(edited)
    surrogate = payment()
    surrogate["beneficiary"]["id"] = "B-\ud800"
    big = binding()
    big["bound_members"] = 2**70
    docs = [(fixture, doc) for doc in itertools.islice(mixed_documents(fixture, seed=8), 1500)]
    docs += [(other, doc) for doc in itertools.islice(mixed_documents(other, seed=9), 300)]
    docs += [(fixture, surrogate), (fixture, big), (fixture, {**payment(), "as_of": _dt.date(2025, 1, 2)})]
    kinds: set[tuple[Any, ...]] = set()
    for engine, doc in docs:
        try:
            decision = engine.decide(doc)
        except FactError:
            continue  # a random switch that the rulesets forbid on that date, say
        assert _same_as_reference(log.line(decision), decision, log.hide), doc
        kinds.add((engine is other, decision.request, decision.eligible, "switches" in doc))
    # the switches as given, whatever their order: a dict with the same options in another order
    # (not one the engine makes, but a Decision may be built by a caller) is written as it is
    for order in (1, -1, 1):
        decision = fixture.decide(binding())
        decision.switches = dict(list(decision.switches.items())[::order])
        assert _same_as_reference(log.line(decision), decision, log.hide)
    log.close()
    assert len(kinds) == 16  # both engines, both requests, eligible or not, switches or not
    assert len(auditlog._DATES) <= 7


def test_fired_is_the_compiled_branch_and_the_oracle_checks_it(engine: Engine) -> None:
    """The compact record reads ``established`` off the branch (a rule's inferred branch is the
    one never compiled), not off the firings; ``verify_run`` fails a run where the two differ."""
    from engine.runtime.evaluate import Firing
    from engine.runtime.explain import verify_run

    decision = engine.decide(payment())
    run = decision.run
    assert all((f.branch == run.segment.rules[f.slot].inferred) == f.inferred for f in run.firings)
    fired = next(i for i, f in enumerate(run.firings) if not f.inferred)
    firing = run.firings[fired]
    run.firings[fired] = Firing(firing.slot, firing.branch, "", "")  # claims to be inferred
    with pytest.raises(EvaluationError) as caught:
        verify_run(run)
    assert [issue.code for issue in caught.value.issues] == ["oracle_disagreement"]
    assert "was inferred, but it is not the rule's inferred branch" in caught.value.issues[0].message
