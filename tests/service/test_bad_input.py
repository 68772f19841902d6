"""Bad input gets a clear 4xx and the server keeps serving; an internal fault is a 500 with an id."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.core.load import load_file
from tests.conftest import ROOT, SHIPPED as RULESETS
from tests.service.conftest import Server

DOCUMENT = load_file(ROOT / "examples" / "yichun-payment.yaml").data
GOOD = json.dumps(DOCUMENT).encode()
JSON = {"content-type": "application/json"}

MALFORMED = [
    ("truncated", GOOD[: len(GOOD) // 2], 400, "json_syntax_error"),
    ("empty", b"", 400, "json_syntax_error"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, 400, "nesting_too_deep"),
    ("nesting the parser takes", json.dumps({**DOCUMENT, "switches": json.loads("[" * 900 + "]" * 900)}).encode(),
     400, "nesting_too_deep"),
    ("moderate nesting", json.dumps({**DOCUMENT, "switches": json.loads("[" * 50 + "]" * 50)}).encode(), 422,
     "wrong_type"),
    ("huge integer", GOOD.replace(b'"bound_members": 1', b'"bound_members": ' + b"9" * 5000), 400,
     "number_too_large"),
    ("huge exponent", GOOD.replace(b'"bound_members": 1', b'"bound_members": 1e999999'), 422, None),
    ("huge money", json.dumps({**DOCUMENT, "expense": {**DOCUMENT["expense"], "amount": 10 ** 300}}).encode(),
     422, "invalid_money"),
    ("not UTF-8", GOOD.replace(b'"payment"', b'"pa\xffment"'), 400, "file_not_utf8"),
    ("NaN", GOOD.replace(b'"bound_members": 1', b'"bound_members": NaN'), 422, None),
    ("a list", b"[1, 2]", 422, "wrong_type"),
    ("two documents", GOOD + GOOD, 400, "json_syntax_error"),
]


@pytest.mark.parametrize("name,body,status,code", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_bodies_get_4xx(server: Server, name: str, body: bytes, status: int, code: str | None) -> None:
    assert b'"bound_members": 1' in GOOD
    with server.client() as client:
        response = client.post("/v1/decisions", content=body, headers=JSON)
        assert response.status_code == status, response.text[:300]
        issues = response.json()["issues"]
        assert issues and "Traceback" not in response.text
        if code is not None:
            assert code in {i["code"] for i in issues}
        assert client.get("/healthz").status_code == 200


def test_unknown_city_and_switch_are_422_with_their_codes(server: Server) -> None:
    with server.client() as client:
        city = client.post("/v1/decisions", json={**DOCUMENT, "city": "110100"})
        switch = client.post("/v1/decisions", json={**DOCUMENT, "switches": {"no_such_switch": "x"}})
        as_of = client.post("/v1/decisions", params={"as_of": "2025-13-45"}, json=DOCUMENT)
    assert city.status_code == 422 and city.json()["issues"][0]["code"] == "unknown_city"
    assert switch.status_code == 422 and switch.json()["issues"][0]["code"] == "unknown_switch"
    assert as_of.status_code == 422 and as_of.json()["issues"][0]["code"] == "invalid_date"


def test_limits_and_content_types(server: Server) -> None:
    with server.client() as client:
        big = client.post("/v1/decisions", content=b" " * (1024 * 1024 + 1) + GOOD, headers=JSON)
        assert big.status_code == 413 and big.json()["error"] == "body_too_large"
        text = client.post("/v1/decisions", content=GOOD, headers={"content-type": "text/plain"})
        assert text.status_code == 415 and text.json()["issues"][0]["found"] == "text/plain"
        latin = client.post("/v1/decisions", content=GOOD, headers={"content-type": "application/json; charset=latin-1"})
        assert latin.status_code == 415
        batch = client.post("/v1/decisions:batch", content=GOOD, headers=JSON)
        assert batch.status_code == 415
        assert client.post("/v1/decisions", content=GOOD, headers=JSON).status_code == 200


def test_chunked_body_over_the_limit_is_refused(server: Server) -> None:
    """No Content-Length to trust: the server counts what arrives."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"POST /v1/decisions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        try:
            for _ in range(20):
                conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass  # the server answered and closed while we were still sending
        data = conn.recv(65536)
    assert data.startswith(b"HTTP/1.1 413 "), data[:100]


def test_internal_error_is_500_with_a_logged_id(caplog: pytest.LogCaptureFixture) -> None:
    import httpx
    import anyio

    from engine.service import ServiceState, create_app

    state = ServiceState(RULESETS, all_switches=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated fault")

    state.engine.decide = broken  # type: ignore[method-assign]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/decisions", json=DOCUMENT)

    with caplog.at_level(logging.ERROR, logger="gongji.service"):
        response = anyio.run(call)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error" and body["error_id"]
    assert "Traceback" not in response.text and "simulated" not in response.text
    assert any(body["error_id"] in record.getMessage() for record in caplog.records)


def test_the_cli_reports_the_same_malformed_documents(tmp_path: Path) -> None:
    """The reader fixes behind the 4xx answers hold for `gongji decide` too: exit 1, never 3."""
    paths = []
    for index, (_, body, _, code) in enumerate(MALFORMED):
        path = tmp_path / f"doc{index:02d}.json"
        path.write_bytes(body)
        paths.append((path, code))
    out, err = io.StringIO(), io.StringIO()
    status = main(["decide", *[str(p) for p, _ in paths], "--rulesets", str(RULESETS)], out=out, err=err)
    assert status == 1 and not out.getvalue()
    for path, code in paths:
        if code is not None:
            assert f"{code}:" in "\n".join(line for line in err.getvalue().splitlines() if line.startswith(str(path)))


def test_a_busy_port_is_a_usage_error(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "engine.cli", "serve", str(RULESETS), "--port", port,
                             "--default-switches-only"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "address_unavailable" in result.stderr and "Traceback" not in result.stderr
