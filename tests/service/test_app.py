"""The app and its parts in-process (no server): metrics over workers, the docs page, batch limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from engine.core.load import load_file
from engine.service import Limits, ServiceState, create_app
from engine.service.metrics import Metrics
from engine.service.openapi import DOCS_PAGE
from tests.conftest import ROOT, SHIPPED

DOCUMENT = load_file(ROOT / "examples" / "baoding-binding.yaml").data


@pytest.fixture(scope="module")
def state() -> ServiceState:
    return ServiceState(SHIPPED, all_switches=False, limits=Limits(document=4096, batch=3 * 4096))


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return anyio.run(run)


class FakeDecision:
    def __init__(self, city: str, eligible: bool):
        self.city, self.request, self.eligible = city, "binding", eligible


def test_metrics_sum_every_workers_snapshot(tmp_path: Path) -> None:
    mine, other = Metrics(tmp_path), Metrics(tmp_path)
    other.decision(FakeDecision("341100", True))
    other.request("decisions", 200, 0.003)
    (tmp_path / "worker-1.json").write_text(json.dumps(other.snapshot()), encoding="utf-8")
    mine.decision(FakeDecision("341100", True))
    mine.decision(FakeDecision("140100", False))
    mine.request("decisions", 422, 0.0004)
    mine.error("fact_error")
    text = mine.render("f" * 64, {"341100": ("2026.1", "a" * 64)})
    assert 'gongji_decisions_total{city="341100",request="binding",outcome="eligible"} 2' in text
    assert 'gongji_decisions_total{city="140100",request="binding",outcome="not_eligible"} 1' in text
    assert 'gongji_http_requests_total{endpoint="decisions",status="200"} 1' in text
    assert 'gongji_http_requests_total{endpoint="decisions",status="422"} 1' in text
    assert 'gongji_request_duration_seconds_bucket{endpoint="decisions",le="0.0005"} 1' in text
    assert 'gongji_request_duration_seconds_bucket{endpoint="decisions",le="0.005"} 2' in text
    assert 'gongji_request_duration_seconds_count{endpoint="decisions"} 2' in text
    assert 'gongji_errors_total{code="fact_error"} 1' in text
    assert 'gongji_city_ruleset_info{city="341100",version="2026.1",sha256="' + "a" * 64 + '"} 1' in text


def test_docs_page_loads_nothing_from_elsewhere(state: ServiceState) -> None:
    assert "http://" not in DOCS_PAGE and "https://" not in DOCS_PAGE and "//cdn" not in DOCS_PAGE
    response = call(create_app(state), "GET", "/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")


def test_extra_routes_are_mounted(state: ServiceState) -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(sorted(request.app.state.gongji.engine.cities)[0])

    app = create_app(state, extra_routes=[Mount("/console", routes=[Route("/", hello)])])
    assert call(app, "GET", "/console/").text == "130600"


def test_batch_over_its_limit_ends_with_a_refusal_line(state: ServiceState) -> None:
    line = json.dumps(DOCUMENT).encode() + b"\n"
    count = 3 * 4096 // len(line) + 2

    async def chunks() -> Any:  # streamed: no Content-Length to refuse up front
        for _ in range(count):
            yield line

    response = call(create_app(state), "POST", "/v1/decisions:batch", content=chunks(),
                    headers={"content-type": "application/x-ndjson"})
    lines = [json.loads(x) for x in response.content.splitlines()]
    assert response.status_code == 200
    assert all("decision" in x for x in lines[:-1]) and len(lines) < count
    assert lines[-1]["status"] == 413 and lines[-1]["error"] == "body_too_large"
    assert [x["index"] for x in lines] == list(range(len(lines)))


def test_document_over_its_limit_is_413(state: ServiceState) -> None:
    body = json.dumps({**DOCUMENT, "pad": "x" * 5000}).encode()
    response = call(create_app(state), "POST", "/v1/decisions", content=body,
                    headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_one_batch_line_over_the_document_limit_is_refused_in_its_place(state: ServiceState) -> None:
    """A huge line (here split over many chunks, as a stream delivers it) is one 413 line; the
    lines around it are decided, and it is never parsed or re-scanned as it grows."""
    good = json.dumps(DOCUMENT).encode()

    async def chunks() -> Any:
        yield good + b"\n" + b'{"pad": "'
        for _ in range(8):  # 8 x 600 bytes: over the 4,096-byte document limit, under the batch limit
            yield b"x" * 600
        yield b'"}\n' + good + b"\n" + b"y" * 4200 + b"\n" + good  # a second huge line inside one chunk

    response = call(create_app(state), "POST", "/v1/decisions:batch", content=chunks(),
                    headers={"content-type": "application/x-ndjson"})
    lines = [json.loads(x) for x in response.content.splitlines()]
    assert [x["index"] for x in lines] == [0, 1, 2, 3, 4]
    assert ["decision" in x for x in lines] == [True, False, True, False, True]
    assert lines[1]["status"] == lines[3]["status"] == 413 and lines[1]["error"] == "body_too_large"


def test_a_logged_decision_names_its_log_id(tmp_path: Path) -> None:
    from engine.runtime.auditlog import DecisionLog, read_log

    log = DecisionLog(tmp_path / "decisions.jsonl", salt="0123456789abcdef")
    logged = ServiceState(SHIPPED, all_switches=False, decision_log=log)
    response = call(create_app(logged), "POST", "/v1/decisions", json=DOCUMENT)
    logged.decision_log.close()
    (entry,) = list(read_log(tmp_path / "decisions.jsonl"))
    assert response.headers["x-decision-id"] == entry.entry["decision_id"]
    assert "x-decision-id" not in call(create_app(ServiceState(SHIPPED, all_switches=False)), "POST", "/v1/decisions",
                                       json=DOCUMENT).headers


def test_reload_is_refused_from_another_machine(state: ServiceState) -> None:
    async def run(client_host: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(state), client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/admin/reload")

    refused = anyio.run(run, "192.0.2.7")  # a documentation address: nothing is sent anywhere
    assert refused.status_code == 403 and refused.json()["error"] == "admin_not_local"
    assert anyio.run(run, "127.0.0.1").status_code == 200


BATCH_SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
               "scheme": "http", "path": "/v1/decisions:batch", "raw_path": b"/v1/decisions:batch",
               "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/x-ndjson")],
               "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}


def _batch(state: ServiceState, messages: list[dict[str, Any]], then_disconnect: bool
           ) -> tuple[Metrics, list[dict[str, Any]]]:
    """Run a batch request whose client sends ``messages`` and then disconnects, or stays."""
    metrics = Metrics()
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if not then_disconnect:
            await anyio.sleep_forever()  # a client still connected: nothing more arrives
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(create_app(state, metrics=metrics), dict(BATCH_SCOPE), receive, send)
    return metrics, sent


@pytest.mark.parametrize("cut", ["mid_body", "after_body"])
def test_batch_cut_by_its_client_is_not_counted_as_200(state: ServiceState, cut: str) -> None:
    line = json.dumps(DOCUMENT).encode() + b"\n"
    if cut == "mid_body":  # the body stops arriving: the client went away in the middle of its stream
        messages = [{"type": "http.request", "body": line * 2, "more_body": True}, {"type": "http.disconnect"}]
    else:  # the whole body arrived, the client left before the answer ended
        messages = [{"type": "http.request", "body": line * 2 + line[:-1], "more_body": False}]
    metrics, sent = _batch(state, messages, then_disconnect=True)
    assert metrics.requests == {"decisions_batch\x1f499": 1}
    assert not metrics.errors  # no error answer was sent: the client left
    assert sent[-1].get("more_body") is True  # the answer was never ended
    text = metrics.render("sha", {})
    assert 'gongji_http_requests_total{endpoint="decisions_batch",status="499"} 1' in text


def test_batch_whose_client_stays_is_counted_as_200(state: ServiceState) -> None:
    line = json.dumps(DOCUMENT).encode() + b"\n"
    metrics, sent = _batch(state, [{"type": "http.request", "body": line * 3, "more_body": False}],
                           then_disconnect=False)
    assert metrics.requests == {"decisions_batch\x1f200": 1} and not metrics.errors
    assert sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body")
    assert b"".join(m.get("body", b"") for m in sent).count(b'"decision"') == 3


def test_a_decision_the_log_cannot_take_is_503_and_counted(tmp_path: Path) -> None:
    import os

    from engine.runtime.auditlog import DecisionLog

    log = DecisionLog(tmp_path / "decisions.jsonl", salt="0123456789abcdef")
    logged = ServiceState(SHIPPED, all_switches=False, decision_log=log)
    metrics = Metrics()
    reader, broken = os.pipe()
    os.close(reader)
    assert log.fd is not None
    os.dup2(broken, log.fd)  # writing the log now fails (EPIPE), as on a full disk
    os.close(broken)
    app = create_app(logged, metrics=metrics)
    assert call(app, "GET", "/readyz").status_code == 200
    response = call(app, "POST", "/v1/decisions", json=DOCUMENT)
    # not ready while the log cannot take lines: a load balancer sends the traffic elsewhere
    ready = call(app, "GET", "/readyz")
    log.close()
    assert response.status_code == 503 and response.json()["error"] == "log_write_failed"
    assert response.headers["retry-after"] == "1"
    assert [i["code"] for i in response.json()["issues"]] == ["log_write_failed"]
    assert metrics.errors["log_write_failed"] == 1
    assert ready.status_code == 503 and ready.json() == {"status": "not ready", "reason": "log_write_failed"}
    assert ready.headers["retry-after"] == "1"
