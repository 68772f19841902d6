"""The console's HTTP routes (pages, static assets, /console/api/*) and their error answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..core.errors import EngineError, FactError, Issue, SourceLocation, UsageError
from ..core.privacy import mask_text
from . import data

STATIC = Path(__file__).resolve().parent / "static"
SHELL = STATIC / "index.html"
PAGES = ("decide", "rules", "matrix", "audit")


def _error(exc: EngineError, status: int = 422) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=status)


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "zh")
    if lang not in data.LANGS:
        raise UsageError([Issue("unknown_language", f"no language {lang!r}", SourceLocation(pointer="/lang"),
                                expected="zh or en", found=lang)])
    return lang


def _switches(request: Request) -> dict[str, str]:
    """``?switch=name=option`` (repeatable)."""
    chosen: dict[str, str] = {}
    for item in request.query_params.getlist("switch"):
        name, sep, option = item.partition("=")
        if not sep or not name or not option:
            raise UsageError([Issue("invalid_switch", "a switch is NAME=OPTION", SourceLocation(pointer="/switch"),
                                    expected="NAME=OPTION", found=item)])
        chosen[name] = option
    return chosen


DEFAULT_BODY_LIMIT = 1024 * 1024


async def _body(request: Request, state: Any) -> bytes:
    """The request body, refused (413) above the service's per-document limit."""
    limits = getattr(state, "limits", None)
    limit = getattr(limits, "document", DEFAULT_BODY_LIMIT)
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class _TooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit

    def response(self) -> JSONResponse:
        issue = Issue("body_too_large", "request body too large", SourceLocation(pointer="/"),
                      expected=f"at most {self.limit} bytes")
        return JSONResponse({"error": "body_too_large", "summary": f"the body is over the limit of {self.limit} bytes",
                             "issues": [issue.to_dict()]}, status_code=413)


def routes(state: Any) -> list[BaseRoute]:
    """The console's routes, for the service to mount at ``/console``; ``state.engine`` is read
    per request, so a reload shows at once."""

    def guarded(call: Any, *args: Any) -> Response:
        # in the event-loop thread, like the service's decisions: durable_rules sessions are never
        # opened from two threads of one process
        try:
            result = call(*args)
        except EngineError as exc:
            return _error(exc)
        if isinstance(result, Response):
            return result
        body = json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=data.json_default)
        return Response(body.encode("utf-8"), media_type="application/json")

    async def page(request: Request) -> Response:
        return FileResponse(SHELL, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def index(request: Request) -> Response:
        target = request.url_for("console-decide").replace(query=request.url.query)
        return RedirectResponse(str(target), status_code=307)

    async def meta(request: Request) -> Response:
        return guarded(data.meta, state.engine)

    async def parse(request: Request) -> Response:
        try:
            body = await _body(request, state)
        except _TooLarge as exc:
            return exc.response()
        return guarded(lambda: {"document": data.parse_document(body, request.headers.get("content-type", ""))})

    async def suggestions(request: Request) -> Response:
        try:
            body = await _body(request, state)
        except _TooLarge as exc:
            return exc.response()

        def run() -> Any:
            document = data.parse_document(body, "application/json")
            return data.suggestions(state.engine, document)

        return guarded(run)

    async def audit_document(request: Request) -> Response:
        try:
            body = await _body(request, state)
        except _TooLarge as exc:
            return exc.response()

        def run() -> Any:
            return data.audit_document(state.engine, data.parse_document(body, "application/json"))

        return guarded(run)

    async def rules(request: Request) -> Response:
        def run() -> Any:
            engine = state.engine
            city = request.query_params.get("city") or sorted(engine.cities)[0]
            day = data.parse_day(request.query_params.get("as_of"), "as_of")
            return data.rules_browser(engine, city, day, _switches(request))

        return guarded(run)

    async def changes(request: Request) -> Response:
        def run() -> Any:
            params = request.query_params
            day_a = data.parse_day(params.get("from"), "from")
            day_b = data.parse_day(params.get("to"), "to")
            return data.changes_between(state.engine, params.get("city", ""), day_a, day_b, _switches(request))

        return guarded(run)

    async def matrix(request: Request) -> Response:
        def run() -> Any:
            day = data.parse_day(request.query_params.get("as_of"), "as_of")
            return data.matrix_json(state.engine, day, _lang(request), _switches(request))

        return guarded(run)

    async def source(request: Request) -> Response:
        name = request.path_params["name"]
        return guarded(lambda: PlainTextResponse(data.source_document(state.engine, name)))

    async def audit(request: Request) -> Response:
        decision_id = request.path_params["decision_id"]
        # not a UUID: no log line can have it, so no search (the text is the user's: masked by shape)
        entry = (await run_in_threadpool(data.find_logged, _log_path(state), decision_id)
                 if data.is_decision_id(decision_id) else None)  # file reading off the event loop
        if entry is None:
            shown = mask_text(decision_id)
            return JSONResponse(FactError([Issue("unknown_decision", f"no logged decision {shown!r}",
                                                 SourceLocation(pointer="/decision_id"),
                                                 expected="the decision_id of a line of the service's decision "
                                                          "log (a UUID)",
                                                 found=shown)]).to_dict(), status_code=404)
        return guarded(data.audit_entry, state.engine, entry)  # decides again: in the event-loop thread

    # paths under the service's Mount("/console", ...) (engine/service/command.py)
    return [
        Route("/", index),
        *[Route(f"/{name}", page, name=f"console-{name}") for name in PAGES],
        Route("/audit/{decision_id}", page),
        Route("/api/meta", meta),
        Route("/api/parse", parse, methods=["POST"]),
        Route("/api/suggestions", suggestions, methods=["POST"]),
        Route("/api/rules", rules),
        Route("/api/changes", changes),
        Route("/api/matrix", matrix),
        Route("/api/sources/{name}", source),
        Route("/api/audit", audit_document, methods=["POST"]),
        Route("/api/audit/{decision_id}", audit),
        Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"),
    ]


def _log_path(state: Any) -> Path | None:
    """The service's decision log (``gongji serve --log FILE``), where the audit report looks a
    decision id up; the engine's own log when the service has none."""
    log = getattr(state, "decision_log", None) or getattr(state.engine, "log", None)
    path = getattr(log, "path", None)
    return Path(path) if path is not None else None


__all__ = ["routes"]
