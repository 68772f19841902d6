"""Faults and reloads on a live server: dead workers, requests during reloads, bad rulesets."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from engine.core.load import load_file
from tests.conftest import ROOT
from tests.service.conftest import Server

DOCUMENT = load_file(ROOT / "examples" / "chuzhou-binding.yaml").data
LOAD_THREADS = 4


class Load:
    """A few client threads deciding in a loop until stopped; records every outcome."""

    def __init__(self, server: Server):
        self.server = server
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.shas: set[str] = set()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(LOAD_THREADS)]

    def run(self) -> None:
        with self.server.client() as client:
            while not self.stop.is_set():
                try:
                    response = client.post("/v1/decisions", json=DOCUMENT)
                except httpx.HTTPError as exc:  # includes timeouts: a hang would show up here
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.shas.add(response.json()["ruleset"]["sha256"])

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        self.wait_for(20)
        return self

    def wait_for(self, count: int) -> None:
        target = len(self.statuses) + count
        deadline = time.monotonic() + 60
        while len(self.statuses) < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"


def test_requests_during_reloads_all_succeed(own_server: Server) -> None:
    city = own_server.rulesets / "cities" / "341100-chuzhou.yaml"
    with Load(own_server) as load, own_server.client() as admin:
        before = admin.get("/readyz").json()["sha256"]
        assert admin.post("/v1/admin/reload").json() == {"reloaded": True, "sha256": before, "issues": []}
        load.wait_for(20)
        own_server.process.send_signal(signal.SIGHUP)  # the same, by signal
        load.wait_for(20)
        # a ruleset that does not compile: refused with its errors, the old one keeps serving
        text = city.read_text(encoding="utf-8")
        city.write_text(text.replace("max_beneficiaries", "max_beneficiaries_typo", 1), encoding="utf-8")
        refused = admin.post("/v1/admin/reload")
        assert refused.status_code == 422
        body = refused.json()
        assert body["reloaded"] is False and body["sha256"] == before and body["issues"]
        assert all(i["code"] for i in body["issues"])
        load.wait_for(20)
        # a real change: a new sha256 is served, and every decision names the one that made it
        city.write_text(text.replace("version:", "version: 9", 1), encoding="utf-8")
        changed = admin.post("/v1/admin/reload").json()
        assert changed["reloaded"] is True and changed["sha256"] != before
        load.wait_for(40)
        after = admin.post("/v1/decisions", json=DOCUMENT).json()["ruleset"]["sha256"]
    assert not load.failures, load.failures[:5]
    assert set(load.statuses) == {200}, sorted(set(load.statuses))
    assert after in load.shas and len(load.shas) == 2  # the old city hash, then the new one
    assert "reload failed" in own_server.log_text()


def _workers_seen(server: Server) -> set[int]:
    return set(server.workers())


def _stalled_request(server: Server) -> socket.socket:
    """A request whose body is still arriving: its worker has started it and must answer it."""
    port = int(server.url.rsplit(":", 1)[1])
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = json.dumps(DOCUMENT).encode()
    conn.sendall(b"POST /v1/decisions HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n" % len(body) + body[:20])
    return conn


def test_killed_worker_in_flight_gets_503_and_service_recovers(own_server: Server) -> None:
    with Load(own_server) as load:
        first = own_server.workers()
        stalled = [_stalled_request(own_server) for _ in range(4)]
        load.wait_for(40)  # the stalled requests are in their workers by now, mixed with the load
        os.kill(first[0], signal.SIGKILL)
        os.kill(first[1], signal.SIGSEGV)  # what a crash in the C extension looks like
        answers = []
        for conn in stalled:
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                answers.append(data)
        fresh = own_server.wait_workers(2, exclude=set(first))
        load.wait_for(40)
    assert len(fresh) == 2
    for data in answers:
        assert data.startswith(b"HTTP/1.1 503 "), data[:200]
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"] == "worker_died"
    # clients of the killed workers saw a 503 or a dropped connection; nobody hung, the rest went on
    assert set(load.statuses) <= {200, 503}
    assert all("Timeout" not in f for f in load.failures), load.failures[:5]
    assert load.statuses[-40:].count(200) == 40
    log = own_server.log_text()
    assert "died (signal 9)" in log and "died (signal 11)" in log


def test_decision_log_from_several_workers(server: Server) -> None:
    def lines() -> list[str]:
        return server.log.read_text(encoding="utf-8").splitlines() if server.log.exists() else []

    before = len(lines())
    count = 120
    documents = [dict(DOCUMENT, bound_members=i % 7) for i in range(count)]

    def send(chunk: list[dict[str, Any]]) -> None:
        with server.client() as client:
            for document in chunk:
                assert client.post("/v1/decisions", json=document).status_code == 200

    threads = [threading.Thread(target=send, args=(documents[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = lines()[before:]
    assert len(written) == count
    entries = [json.loads(line) for line in written]  # a torn or interleaved line would not parse
    assert len({e["decision_id"] for e in entries}) == count
    assert sorted(e["facts"]["bound_members"] for e in entries) == sorted(d["bound_members"] for d in documents)
    assert {e["format"] for e in entries} == {"gongji.decision-log/2"}  # compact lines, the default
    assert all(e["facts"]["authorizer"]["id"] != DOCUMENT["authorizer"]["id"] for e in entries)  # masked


def test_metrics_count_decisions_and_name_the_rulesets(server: Server) -> None:
    with server.client() as client:
        for _ in range(3):
            client.post("/v1/decisions", json=DOCUMENT)
        client.post("/v1/decisions", content=b"{", headers={"content-type": "application/json"})
        sha = client.get("/readyz").json()["sha256"]
        text = client.get("/metrics").text
    assert f'gongji_ruleset_info{{sha256="{sha}"}} 1' in text
    assert 'gongji_decisions_total{city="341100",request="binding",outcome=' in text
    assert 'gongji_errors_total{code="body_not_json"}' in text
    assert 'gongji_request_duration_seconds_bucket{endpoint="decisions",le="+Inf"}' in text
    assert 'gongji_city_ruleset_info{city="341100"' in text


def test_admin_reload_of_an_unreadable_directory_keeps_serving(tmp_path: Path) -> None:
    import anyio

    from engine.service import ServiceState, create_app
    from tests.conftest import SHIPPED as RULESETS

    state = ServiceState(RULESETS, all_switches=False)
    state.rulesets = tmp_path / "missing"

    async def calls() -> tuple[str, httpx.Response, httpx.Response, str]:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            before = (await client.get("/readyz")).json()["sha256"]
            refused = await client.post("/v1/admin/reload")
            decided = await client.post("/v1/decisions", json=DOCUMENT)
            after = (await client.get("/readyz")).json()["sha256"]
            return before, refused, decided, after

    before, refused, decided, after = anyio.run(calls)
    assert refused.status_code == 422 and refused.json()["issues"] and not refused.json()["reloaded"]
    assert decided.status_code == 200 and after == before
