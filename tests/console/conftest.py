"""The real service on a loopback port and one headless Chromium for the console's browser tests.

Chromium is Debian's (``make`` installs it with apt when /usr/bin/chromium is missing); Playwright
only drives it, its own browser download is never used.  Screenshots go to ``build/console/``
(git-ignored) as test artefacts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
RULESETS = ROOT / "rulesets"
ARTEFACTS = ROOT / "build" / "console"
CHROMIUM = Path(os.environ.get("GONGJI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class Service:
    """The running service: its base URL, decision log and an HTTP client for the API answers."""

    def __init__(self, base: str, log: Path):
        self.base = base
        self.log = log
        self.http = httpx.Client(base_url=base, timeout=30)

    def decide(self, document: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/v1/decisions", json=document)
        assert response.status_code == 200, response.text
        return response.json()


def _app(rulesets: Path, log: Path) -> Any:
    from engine.runtime.auditlog import DecisionLog
    from engine.service import ServiceState, create_app  # the decision service mounts the console

    from engine.service.command import _console_routes

    state = ServiceState(rulesets, decision_log=DecisionLog(log, salt="console-tests"), all_switches=False)
    return create_app(state, extra_routes=_console_routes(state))  # mounted as `gongji serve` mounts it


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    log = tmp_path_factory.mktemp("console") / "decisions.jsonl"
    config = uvicorn.Config(_app(RULESETS, log), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    sock: socket.socket = server.servers[0].sockets[0]
    host, port = sock.getsockname()[:2]
    running = Service(f"http://{host}:{port}", log)
    try:
        yield running
    finally:
        running.http.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API holds an asyncio loop on this thread
    while it runs, so it is stopped before other modules (the service tests run their own loop)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture()
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=service.base,
                                  locale="zh-CN")
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
