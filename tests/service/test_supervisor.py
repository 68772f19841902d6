"""The pre-fork supervisor under reload faults: worker counts, failed new generations, descriptors.

The server runs ``tests/service/misbehaving_serve.py`` (``gongji serve`` whose workers read a
marker file as they start), so a reload's new generation can be made to crash, hang or start
slowly with real processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.core.load import load_file
from tests.conftest import ROOT, SHIPPED
from tests.service.conftest import Server, start_server, stop_server

DOCUMENT = load_file(ROOT / "examples" / "chuzhou-binding.yaml").data
SETTLE = 40.0  # seconds the worker count may take to settle (old workers finish their connections)


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """Two workers; a reload's new workers wait for ``--reload-timeout 3`` at most."""
    tmp = tmp_path_factory.mktemp("supervisor")
    rulesets = tmp / "rulesets"
    shutil.copytree(SHIPPED, rulesets)
    mark = tmp / "worker-mark"
    running = start_server(tmp, rulesets, 2, "--reload-timeout", "3", module="tests.service.misbehaving_serve",
                           env={"GONGJI_TEST_WORKER_MARK": str(mark)})
    yield running, mark
    mark.unlink(missing_ok=True)
    stop_server(running)
    assert running.process.returncode == 0, running.log_text()[-2000:]
    assert "Traceback" not in running.log_text()


def _post(server: Server, path: str, **kwargs: object) -> httpx.Response:
    """One request on its own connection (so an old worker is not kept alive by it)."""
    with server.client() as client:
        return client.post(path, **kwargs)  # type: ignore[arg-type]


def _settled_workers(server: Server, count: int, not_before: set[int]) -> list[int]:
    """Wait until the workers are exactly ``count`` processes none of which is in ``not_before``."""
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        pids = server.workers()
        if not set(pids) & not_before and len(pids) <= count:
            break
        time.sleep(0.1)
    return server.workers()


def _metric(server: Server, line_start: str) -> int:
    with server.client() as client:
        text = client.get("/metrics").text
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def _metric_reaches(server: Server, line_start: str, at_least: int, seconds: float = 15.0) -> int:
    """The summed counter once it reaches ``at_least``: a worker publishes its counters to the
    others at most a second late (engine/service/metrics.py), and /metrics may be answered by
    another worker than the one that counted."""
    deadline = time.monotonic() + seconds
    value = _metric(server, line_start)
    while value < at_least and time.monotonic() < deadline:
        time.sleep(0.2)
        value = _metric(server, line_start)
    return value


def test_old_worker_dying_during_reload_leaves_exactly_n_workers(misbehaving: tuple[Server, Path]) -> None:
    server, mark = misbehaving
    old = server.wait_workers(2)
    mark.write_text("slow 2", encoding="utf-8")  # the new generation takes 2 s to accept
    try:
        server.process.send_signal(signal.SIGHUP)  # a reload no worker waits on (the one killed might)
        deadline = time.monotonic() + 30
        while len(server.workers()) < 4 and time.monotonic() < deadline:  # the new generation is forked
            time.sleep(0.02)
        assert len(server.workers()) == 4, server.workers()
        os.kill(old[0], signal.SIGKILL)  # an old worker dies while the new ones start
        while "reloaded: generation" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        mark.unlink(missing_ok=True)
    assert "reloaded: generation" in server.log_text()
    workers = _settled_workers(server, 2, set(old))
    assert len(workers) == 2 and not set(workers) & set(old), (workers, server.log_text()[-3000:])
    assert _post(server, "/v1/decisions", json=DOCUMENT).status_code == 200
    assert len(server.workers()) == 2


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_reload_whose_new_workers_fail_keeps_the_old_generation(misbehaving: tuple[Server, Path], mode: str) -> None:
    server, mark = misbehaving
    old = sorted(server.wait_workers(2))
    before = _post(server, "/v1/decisions", json=DOCUMENT).json()["ruleset"]["sha256"]
    failures = _metric(server, 'gongji_reloads_total{result="workers_failed"}')
    mark.write_text(mode, encoding="utf-8")
    try:
        # crash: noticed when the first new worker exits; hang: abandoned after --reload-timeout 3
        refused = _post(server, "/v1/admin/reload")
    finally:
        mark.unlink(missing_ok=True)
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["reloaded"] is False and body["sha256"] == server.client().get("/readyz").json()["sha256"]
    assert [i["code"] for i in body["issues"]] == ["reload_workers_failed"]
    # the old generation goes on serving, alone, with the rulesets it had
    assert sorted(_settled_workers(server, 2, set())) == old, server.log_text()[-3000:]
    assert _post(server, "/v1/decisions", json=DOCUMENT).json()["ruleset"]["sha256"] == before
    assert _metric_reaches(server, 'gongji_reloads_total{result="workers_failed"}', failures + 1) == failures + 1
    assert _metric_reaches(server, 'gongji_errors_total{code="reload_workers_failed"}', 1) >= 1
    assert "reload failed" in server.log_text()
    # and the next reload, with healthy workers, goes through
    assert _post(server, "/v1/admin/reload").json()["reloaded"] is True
    assert len(_settled_workers(server, 2, set(old))) == 2


def _sockets(pid: int) -> set[str]:
    """The socket inodes a process holds (``socket:[N]`` links under /proc/PID/fd)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_workers_hold_no_supervisor_only_descriptors(misbehaving: tuple[Server, Path]) -> None:
    server, _ = misbehaving
    workers = server.wait_workers(2)
    assert _post(server, "/v1/admin/reload").json()["reloaded"] is True  # forked while old workers live
    workers = _settled_workers(server, 2, set(workers))
    parent = _sockets(server.process.pid)
    listener = set.intersection(*(_sockets(pid) & parent for pid in workers))
    for pid in workers:
        # the listening socket is the only one shared: not the parent's wake pair, not another
        # worker's channel (connections the parent holds copies of are closed by now: none open)
        shared = _sockets(pid) & parent
        assert shared == listener and len(listener) == 1, (pid, shared)
