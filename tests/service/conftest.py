"""Real ``gongji serve`` processes on 127.0.0.1, a free port each, started by the test session.

They serve the shipped rulesets (``SHIPPED``): the service tests compare HTTP with the CLI on the
same rulesets and assert no policy value, so an analyst's edit of ``rulesets/`` cannot break them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SHIPPED as RULESETS

START_TIMEOUT = 60.0


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    rulesets: Path
    log: Path
    stderr: Path

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **options)  # type: ignore[arg-type]

    def workers(self) -> list[int]:
        """Pids of the live worker processes (the supervisor's children)."""
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def wait_workers(self, count: int, exclude: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
        """Wait until ``count`` workers other than ``exclude`` run and answer."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            pids = [p for p in self.workers() if p not in exclude]
            if len(pids) >= count and _ready(self.url):
                return pids
            time.sleep(0.05)
        raise AssertionError(f"workers did not come back: {self.workers()}; log: {self.stderr.read_text()[-2000:]}")

    def log_text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_server(tmp: Path, rulesets: Path = RULESETS, workers: int = 2, *extra: str, module: str = "engine.cli",
                 env: dict[str, str] | None = None) -> Server:
    """``python -m MODULE serve …`` (``module``: the CLI, or a test driver wrapping it)."""
    log = tmp / "decisions.jsonl"
    stderr = tmp / "serve.stderr"
    env = dict(os.environ, GONGJI_LOG_SALT="test-salt", PYTHONUNBUFFERED="1", **(env or {}))
    process = subprocess.Popen(
        [sys.executable, "-m", module, "serve", str(rulesets), "--port", "0", "--workers", str(workers),
         "--default-switches-only", "--log", str(log), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr.open("w"), text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()  # "gongji serve: listening on http://127.0.0.1:PORT ..."
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not found:
        process.kill()
        raise AssertionError(f"no address announced: {line!r} {stderr.read_text()[-2000:]}")
    server = Server(process, f"http://127.0.0.1:{found.group(1)}", rulesets, log, stderr)
    server.wait_workers(workers)
    return server


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in server.workers():
            os.kill(pid, signal.SIGKILL)
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers on the shipped rulesets; tests here do not disturb it."""
    tmp = tmp_path_factory.mktemp("serve")
    running = start_server(tmp)
    yield running
    stop_server(running)
    assert running.process.returncode == 0, running.log_text()[-2000:]
    assert "Traceback" not in running.log_text()


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[Server]:
    """Two workers on a private copy of the rulesets, for reloads and faults."""
    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    running = start_server(tmp_path, rulesets)
    yield running
    stop_server(running)
