"""Each error code of ``gongji serve`` itself, in-process (engine/core/codes.py names this file for them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import Engine
from engine.service import ServiceState, create_app
from engine.service import state as state_module
from tests.conftest import RULESETS
from tests.service.test_app import DOCUMENT, call


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return create_app(ServiceState(RULESETS, engine=Engine.load(RULESETS)))


def first_code(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["issues"][0]["code"])


def test_content_type_and_charset(app) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(DOCUMENT).encode()
    text = call(app, "POST", "/v1/decisions", content=body, headers={"content-type": "text/plain"})
    assert (text.status_code, first_code(text)) == (415, "unsupported_media_type")
    latin = call(app, "POST", "/v1/decisions", content=body,
                 headers={"content-type": "application/json; charset=latin-1"})
    assert (latin.status_code, first_code(latin)) == (415, "unsupported_charset")


def test_query_parameters(app) -> None:  # type: ignore[no-untyped-def]
    flag = call(app, "POST", "/v1/explanations", params={"why_not": "maybe"}, json=DOCUMENT)
    assert (flag.status_code, first_code(flag)) == (422, "invalid_parameter")
    no_date = call(app, "GET", "/v1/matrix")
    assert (no_date.status_code, first_code(no_date)) == (422, "missing_parameter")


def test_an_empty_line_of_a_batch(app) -> None:  # type: ignore[no-untyped-def]
    body = (json.dumps(DOCUMENT) + "\n\n" + json.dumps(DOCUMENT) + "\n").encode()
    response = call(app, "POST", "/v1/decisions:batch", content=body, headers={"content-type": "application/x-ndjson"})
    lines = [json.loads(line) for line in response.content.splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert (lines[1]["status"], lines[1]["issues"][0]["code"]) == (400, "empty_document")


def test_a_reload_that_raises_keeps_serving(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = ServiceState(RULESETS, engine=Engine.load(RULESETS))
    before = state.sha256

    def unreadable(*args: object, **kwargs: object) -> Engine:
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(state_module, "compile_engine", unreadable)
    response = call(create_app(state), "POST", "/v1/admin/reload")
    assert (response.status_code, first_code(response)) == (422, "reload_failed")
    assert state.sha256 == before


def test_serve_refuses_zero_workers(run_cli) -> None:  # type: ignore[no-untyped-def]
    status, _, err = run_cli("serve", str(RULESETS), "--workers", "0")
    assert status == 2
    assert ": invalid_option: --workers must be at least 1" in err
