"""Decision-log modes under a hard kill: strict loses nothing acknowledged, group at most one batch.

A child process decides documents and prints each document's number once ``decide`` has
returned (the acknowledgement).  The parent kills it and checks the log against the
acknowledgements.  Bounded: a few hundred decisions, every wait with a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Engine, UsageError
from engine.core.privacy import pseudonym
from engine.runtime.auditlog import GROUP_LINES, DecisionLog
from tests.conftest import ROOT, RULESETS, binding

SALT = b"kill-test"
CHILD = """
import sys
from engine import Engine
from engine.tools.samples import documents
log, mode, window = sys.argv[1], sys.argv[2], float(sys.argv[3])
engine = Engine.load(sys.argv[4], decision_log=log, log_salt=b"kill-test", log_mode=mode, log_window=window)
print("ready", flush=True)
for index, doc in enumerate(documents(5000, "binding", seed=5)):
    engine.decide(doc)
    print(index, flush=True)
"""


def _ids_in_log(path: Path) -> list[str]:
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.append(json.loads(line)["facts"]["authorizer"]["id"])
        except json.JSONDecodeError:  # a line cut by the kill is not a decision that was written
            continue
    return ids


def _run_and_stop(tmp_path: Path, mode: str, window: float, acks_before_stop: int, stop: int) -> tuple[list[int], list[str]]:
    """Acknowledged document numbers, and the pseudonymous ids found in the log."""
    from engine.tools.samples import documents

    log = tmp_path / "decisions.jsonl"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(log), mode, str(window), str(RULESETS)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        acked = [int(child.stdout.readline()) for _ in range(acks_before_stop)]
        child.send_signal(stop)
        rest, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    acked += [int(line) for line in rest.split()]
    docs = list(documents(max(acked) + 1, "binding", seed=5))
    expected = [pseudonym(docs[i]["authorizer"]["id"], SALT) for i in acked]
    return expected, _ids_in_log(log)


def test_strict_mode_loses_nothing_acknowledged_on_kill_9(tmp_path: Path) -> None:
    acked, logged = _run_and_stop(tmp_path, "strict", 0.01, 150, signal.SIGKILL)
    assert acked and set(acked) <= set(logged)


def test_group_mode_loses_at_most_the_last_batch_on_kill_9(tmp_path: Path) -> None:
    acked, logged = _run_and_stop(tmp_path, "group", 0.01, 300, signal.SIGKILL)
    missing = [pid for pid in acked if pid not in set(logged)]
    assert len(missing) <= GROUP_LINES
    assert missing == acked[len(acked) - len(missing):]  # only the newest lines, never a gap


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_group_mode_writes_everything_on_sigterm_and_sigint(tmp_path: Path, stop: int) -> None:
    # a window of 10 s: nothing is written by time, only by the signal (or a full batch)
    acked, logged = _run_and_stop(tmp_path, "group", 10, 40, stop)
    assert acked and set(acked) <= set(logged)


def test_group_mode_writes_on_close_and_keeps_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with Engine.load(RULESETS, decision_log=log, log_salt=SALT, log_mode="group", log_window=10) as engine:
        for _ in range(3):
            engine.decide(binding())
        assert log.read_text() == ""  # buffered: the window has not passed
        engine.log.flush()
        assert len(log.read_text().splitlines()) == 3
        engine.decide(binding())
    lines = log.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["record"]["city"] == "341100" for line in lines)


def test_invalid_modes_and_windows_are_usage_errors(tmp_path: Path) -> None:
    for options in ({"mode": "fast"}, {"mode": "group", "window": 0}, {"mode": "group", "window": 60}):
        with pytest.raises(UsageError) as caught:
            DecisionLog(tmp_path / "x.jsonl", salt=SALT, **options)
        assert caught.value.issues[0].code in ("invalid_log_mode", "invalid_log_window")
    assert not os.path.exists(tmp_path / "x.jsonl")


def _wait(condition: object, what: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)
    assert condition(), what  # type: ignore[operator]


def test_group_mode_retries_a_failing_write_and_reports_it_until_it_succeeds(tmp_path: Path) -> None:
    """The log's descriptor is pointed at a pipe nobody reads (EPIPE) and back at the file: the
    flusher keeps the lines and retries them, write() and close() say log_write_failed meanwhile."""
    path = tmp_path / "d.jsonl"
    engine = Engine.load(RULESETS, decision_log=path, log_salt=SALT, log_mode="group", log_window=0.01)
    log = engine.log
    assert log is not None and log.fd is not None
    file_copy = os.dup(log.fd)
    reader, broken = os.pipe()
    os.close(reader)  # writing to `broken` fails with EPIPE (Python ignores SIGPIPE)
    try:
        engine.decide(binding(bound_members=0))
        _wait(lambda: path.read_text().count("\n") == 1, "the first line is written within its window")
        os.dup2(broken, log.fd)  # the "disk" fails
        engine.decide(binding(bound_members=1))
        _wait(lambda: log.failure is not None, "the flusher records its failure")
        assert log.failure.issues[0].code == "log_write_failed"
        assert not log.writable(pause=0)  # whatever the pause: the flusher has not succeeded yet
        with pytest.raises(UsageError) as refused:  # not a silent success: the line could not be logged
            engine.decide(binding(bound_members=2))
        assert refused.value.issues[0].code == "log_write_failed"
        os.dup2(file_copy, log.fd)  # the "disk" recovers: the flusher's next retry writes the kept line
        _wait(lambda: log.failure is None and path.read_text().count("\n") == 2, "the retry writes the kept line")
        assert log.writable() and log.failed_at is None  # at once: the retry's success is the proof
        engine.decide(binding(bound_members=3))
        engine.close()
    finally:
        os.close(file_copy)
        os.close(broken)
    members = [json.loads(line)["facts"]["bound_members"] for line in path.read_text().splitlines()]
    assert members == [0, 1, 3]  # 2 was refused to its caller, so it is rightly not in the log


def test_group_mode_close_reports_lines_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    engine = Engine.load(RULESETS, decision_log=path, log_salt=SALT, log_mode="group", log_window=10)
    log = engine.log
    assert log is not None and log.fd is not None
    reader, broken = os.pipe()
    os.close(reader)
    try:
        engine.decide(binding())
        os.dup2(broken, log.fd)
        with pytest.raises(UsageError) as refused:
            engine.close()
    finally:
        os.close(broken)
    assert refused.value.issues[0].code == "log_write_failed"


def test_strict_mode_is_not_writable_for_a_pause_after_a_failed_write(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing retries in strict mode: after a failed write the log is not ``writable()`` (a
    service is not ready) for the pause, then the next decision probes it; a success clears it."""
    import engine.runtime.auditlog as auditlog

    now = [1000.0]
    monkeypatch.setattr(auditlog.time, "monotonic", lambda: now[0])
    path = tmp_path / "d.jsonl"
    engine = Engine.load(RULESETS, decision_log=path, log_salt=SALT)
    log = engine.log
    assert log is not None and log.fd is not None and log.writable()
    file_copy = os.dup(log.fd)
    reader, broken = os.pipe()
    os.close(reader)
    try:
        os.dup2(broken, log.fd)
        with pytest.raises(UsageError):
            engine.decide(binding())
        assert log.failed_at == 1000.0 and not log.writable()
        now[0] += auditlog.LOG_RETRY_AFTER - 0.01
        assert not log.writable()
        now[0] += 0.01
        assert log.writable()  # the pause is over: the next decision tries the disk again
        with pytest.raises(UsageError):
            engine.decide(binding())  # still failing: another pause
        assert not log.writable()
        os.dup2(file_copy, log.fd)
        engine.decide(binding())
        assert log.writable() and log.failed_at is None
        engine.close()
    finally:
        os.close(file_copy)
        os.close(broken)


def test_group_mode_keeps_the_lines_a_short_write_did_not_finish(tmp_path: Path) -> None:
    """The buffered batch is cut mid-line by a full disk (a file size limit): the lines written
    whole are dropped from the buffer, the cut one and those after it are kept and written whole
    once the disk takes them, the fragment is ended so it swallows nothing."""
    import resource

    from engine.runtime.auditlog import read_log

    path = tmp_path / "d.jsonl"
    engine = Engine.load(RULESETS, decision_log=path, log_salt=SALT, log_mode="group", log_window=10)
    log = engine.log
    assert log is not None
    for members in range(4):
        engine.decide(binding(bound_members=members))
    assert log._pending_lines == 4 and path.stat().st_size == 0  # a 10 s window: all still buffered
    first = log._pending.index(b"\n") + 1
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (first + 50, hard))  # the second line is cut after 50 bytes
        with pytest.raises(UsageError):
            log.flush()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert log._pending_lines == 3 and log.failure is not None
    engine.decide(binding(bound_members=4))  # retried first, then buffered
    engine.close()
    read = list(read_log(path))
    assert [line.entry["facts"]["bound_members"] for line in read if line.entry is not None] == [0, 1, 2, 3, 4]
    assert [line.problem.code for line in read if line.problem is not None] == ["corrupt_log_line"]
