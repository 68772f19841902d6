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
    assert len(lines) == 4 and all(json.loads(line)["decision"]["city"] == "341100" for line in lines)


def test_invalid_modes_and_windows_are_usage_errors(tmp_path: Path) -> None:
    for options in ({"mode": "fast"}, {"mode": "group", "window": 0}, {"mode": "group", "window": 60}):
        with pytest.raises(UsageError) as caught:
            DecisionLog(tmp_path / "x.jsonl", salt=SALT, **options)
        assert caught.value.issues[0].code in ("invalid_log_mode", "invalid_log_window")
    assert not os.path.exists(tmp_path / "x.jsonl")
