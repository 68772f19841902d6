"""The batch runner's life cycle: workers die with a SIGKILLed parent; outputs appear whole or not at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import RULESETS

ROOT = Path(__file__).resolve().parents[2]
_WAIT_SECONDS = 60.0  # upper bound on each wait: a loaded machine is slow, a failure must still end the test


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + _WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture()
def endless_input(tmp_path: Path) -> Iterator[Path]:
    """A named pipe held open for writing: the batch reads it forever, so its workers stay busy
    waiting for work until the test kills the parent (however slow or fast the machine)."""
    fifo = tmp_path / "input.jsonl"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR)  # O_RDWR: does not wait for a reader, and no EOF while held
    try:
        yield fifo
    finally:
        os.close(holder)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(endless_input: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())", "batch",
               str(endless_input), "--out", str(tmp_path / "out.jsonl"), "--workers", "2", "--progress", "none",
               "--rulesets", str(RULESETS)]
    parent = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "GONGJI_LOG_SALT": "x"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        _wait_for(lambda: len(_children(parent.pid)) >= 2 or parent.poll() is not None, "the two workers")
        assert parent.poll() is None, "gongji batch ended early"
        workers = _children(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=_WAIT_SECONDS)
        _wait_for(lambda: not any(_alive(pid) for pid in workers), f"workers {workers} to exit")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:  # only on failure: never leave them behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("failure", ["render", "write"])
def test_impact_reports_appear_whole_or_not_at_all(batch_cli, population_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    from engine.batch import impact

    html, report = tmp_path / "impact.html", tmp_path / "impact.json"
    html.write_text("an older report\n")
    report.write_text("{}\n")

    def broken(*args: object) -> str:
        if failure == "render":
            raise RuntimeError("a bug while rendering")
        return "<html>\ud800"  # a lone surrogate: writing it fails after the file was opened

    monkeypatch.setattr(impact, "render_html", broken)
    population = tmp_path.parent / f"{tmp_path.name}-population.jsonl"  # beside tmp_path: it lists only outputs
    lines = (population_dir / "small.jsonl").read_text(encoding="utf-8").splitlines()[:30]
    population.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ("impact", RULESETS, RULESETS, "--population", population, "--html", html, "--json", report,
            "--workers", 1, "--progress", "none")
    code, _, err = batch_cli(*args)
    assert code == 3, err
    assert "Traceback" not in err
    # Neither report replaced (the JSON one was ready first), and no temporary file left beside them.
    assert html.read_text() == "an older report\n" and report.read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["impact.html", "impact.json"]
    if failure == "render":  # and once it works, both are replaced, nothing else left behind
        monkeypatch.undo()
        code, out, err = batch_cli(*args)
        assert code == 0, err
        assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and '"rows": 30' in report.read_text()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["impact.html", "impact.json"]


def test_impact_fails_before_deciding_when_a_report_cannot_be_written(batch_cli, population_dir: Path,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    code, out, err = batch_cli("impact", RULESETS, RULESETS, "--population", population_dir / "small.jsonl",
                               "--json", tmp_path / "ok.json", "--html", tmp_path / "missing" / "r.html",
                               "--workers", 1, "--progress", "none")
    assert code == 2 and "output_unwritable" in err and out == ""
    assert list(tmp_path.iterdir()) == []  # the writable one was not left behind either


def test_batch_output_is_not_clobbered_by_an_input_error_midway(batch_cli, population_dir: Path,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    lines = (population_dir / "small.csv").read_text(encoding="utf-8").splitlines()
    # A cell past the csv module's field size limit stops the reader after the first chunks were written.
    lines.insert(200, ",".join(['"' + "x" * 200_000 + '"'] + [""] * (lines[0].count(","))))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    target.write_text("an older result\n")
    code, _, err = batch_cli("batch", source, "--out", target, "--workers", 2, "--chunk-size", 50,
                             "--progress", "none")
    assert code == 1 and "file_unreadable" in err and "Traceback" not in err
    assert target.read_text() == "an older result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.jsonl"]


@pytest.mark.parametrize("by_thread", [False, True])
def test_a_worker_whose_parent_is_already_gone_exits(by_thread: bool) -> None:
    """Both ways a worker follows its parent (prctl, and the polling thread used for pools started
    from a thread or off Linux) end it when the parent it was forked for is no longer its parent."""
    code = ("import time; from engine.batch.runner import _die_with_parent; "
            f"_die_with_parent(2 ** 22 + 7, {by_thread}); time.sleep(60); raise SystemExit(0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=_WAIT_SECONDS, check=False)
    assert done.returncode == 1
