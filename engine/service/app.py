"""The ASGI application: routes, body limits, content types and error mapping.

Decisions are synchronous C calls made in the event-loop thread: one request at a time per
process holds a durable_rules session, so no amount of concurrency can exhaust the 1,024 live
sessions a process may have (and the GIL would serialize them anyway).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import traceback
import uuid
from typing import Any
from collections.abc import Callable, Iterable, Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..cli import locate
from ..core.errors import EngineError, EvaluationError, FactError, Issue, SourceLocation, UsageError
from ..core.load import load_json_text
from ..core.privacy import mask_load_issue
from ..runtime.auditlog import LOG_RETRY_AFTER
from .metrics import Metrics
from .state import ServiceState

RETRY_AFTER = str(round(LOG_RETRY_AFTER))  # seconds, for a decision the log could not take

log = logging.getLogger("gongji.service")

REQUEST_LABEL = "<request>"  # the "file" of issues about a request body (the CLI uses the path)
JSON_TYPES = ("application/json",)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json-lines")
CLIENT_CLOSED = 499  # the metrics' status for a batch whose client went away before its answer ended
BATCH_YIELD_EVERY = 64  # decisions between two yields to the event loop in a batch (fairness)


class Problem(Exception):
    """An HTTP error answer: status, a stable code, and the issues behind it."""

    def __init__(self, status: int, code: str, message: str, issues: Sequence[Issue] = (),
                 headers: dict[str, str] | None = None, error_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.issues = list(issues)
        self.headers = headers or {}
        self.error_id = error_id  # 500s: the id under which the server logged the fault

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "summary": self.message,
                               "issues": [i.to_dict() for i in self.issues]}
        if self.error_id:
            out["error_id"] = self.error_id
        return out


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    return Response(body, status, headers=headers, media_type="application/json")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _require_type(request: Request, accepted: Iterable[str]) -> None:
    found = _media_type(request)
    accepted = tuple(accepted)
    if found not in accepted:
        raise Problem(415, "unsupported_media_type", f"this endpoint takes {' or '.join(accepted)}",
                      [Issue("unsupported_media_type", "wrong Content-Type", SourceLocation(pointer="/"),
                             expected=list(accepted), found=found or None)])
    charset = request.headers.get("content-type", "").lower().partition("charset=")[2].strip().strip('"')
    if charset and charset not in ("utf-8", "utf8"):
        raise Problem(415, "unsupported_media_type", "request bodies are UTF-8",
                      [Issue("unsupported_charset", "only UTF-8 bodies are read", SourceLocation(pointer="/"),
                             expected="utf-8", found=charset)])


def _too_large(limit: int) -> Problem:
    return Problem(413, "body_too_large", f"the body is over the limit of {limit} bytes",
                   [Issue("body_too_large", "request body too large", SourceLocation(pointer="/"),
                          expected=f"at most {limit} bytes")])


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_document(raw: bytes, label: str = REQUEST_LABEL) -> Any:
    """Bytes -> a fact document, through the CLI's own JSON reader (exact decimals, its issues).

    Unreadable bodies (not UTF-8, not JSON) are 400; the CLI reports them as the same issues."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Problem(400, "body_not_utf8", "the body is not UTF-8 text",
                      [Issue("file_not_utf8", f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                             SourceLocation(label))]) from None
    loaded = load_json_text(text, label)
    if loaded.issues:
        raise Problem(400, "body_not_json", "the body is not one JSON document",
                      [mask_load_issue(issue) for issue in loaded.issues])  # as the CLI prints them
    return loaded.data


def _fact_problem(error: EngineError, label: str = REQUEST_LABEL) -> Problem:
    """422 with the issue list the CLI prints for the same document (same ``locate``)."""
    issues = locate(error, label, None) if isinstance(error, FactError) else list(error.issues)
    return Problem(422, error.kind, f"invalid fact document ({len(error.issues)} problem(s))", issues)


def _as_of(request: Request) -> str | None:
    return request.query_params.get("as_of") or None


class Service:
    """The request handlers over one :class:`ServiceState`."""

    def __init__(self, state: ServiceState, metrics: Metrics):
        self.state = state
        self.metrics = metrics

    def decide(self, document: Any, as_of: str | None, engine: Any = None) -> Any:
        """One decision, logged when the service has a decision log; errors become Problems."""
        return self.decide_logged(document, as_of, engine)[0]

    def decide_logged(self, document: Any, as_of: str | None, engine: Any = None) -> tuple[Any, str | None]:
        """The decision and its decision-log id (None when the service keeps no log)."""
        engine = engine or self.state.engine  # read once: a reload swapping it mid-request changes nothing
        try:
            decision = engine.decide(document, as_of=as_of)
        except (FactError, UsageError) as error:
            raise _fact_problem(error) from None
        log = self.state.decision_log
        if log is None:
            return decision, None
        try:
            return decision, log.write(decision)
        except UsageError as error:  # log_write_failed (a full disk): an unlogged decision is not answered
            raise Problem(503, "log_write_failed", "the decision could not be written to the decision log, so it "
                          "is not answered; the request may be retried", error.issues,
                          {"retry-after": RETRY_AFTER}) from None

    # ------------------------------------------------------------------ endpoints

    async def decisions(self, request: Request) -> Response:
        _require_type(request, JSON_TYPES)
        document = parse_document(await read_body(request, self.state.limits.document))
        decision, decision_id = self.decide_logged(document, _as_of(request))
        self.metrics.decision(decision)
        headers = {"x-gongji-ruleset-sha256": decision.sha256}
        if decision_id is not None:  # the audit report links to the logged line by this id
            headers["x-decision-id"] = decision_id
        # the CLI prints to_json() and a newline: the same bytes
        return Response(decision.to_json().encode("utf-8") + b"\n", 200, media_type="application/json",
                        headers=headers)

    async def explanations(self, request: Request) -> Response:
        _require_type(request, JSON_TYPES)
        params = request.query_params
        lang = params.get("lang", "zh")
        fmt = params.get("format", "text")
        flags = {}
        for name in ("why_not", "only_failures"):
            value = params.get(name, "false").lower()
            if value not in ("true", "false", "1", "0"):
                raise Problem(422, "invalid_parameter", f"{name} is true or false",
                              [Issue("invalid_parameter", f"query parameter {name!r}", SourceLocation(pointer=name),
                                     expected="true or false", found=value)])
            flags[name] = value in ("true", "1")
        for name, value, allowed in (("lang", lang, ("zh", "en")), ("format", fmt, ("text", "json"))):
            if value not in allowed:
                raise Problem(422, "invalid_parameter", f"{name} is one of {list(allowed)}",
                              [Issue("invalid_parameter", f"query parameter {name!r}", SourceLocation(pointer=name),
                                     expected=list(allowed), found=value)])
        document = parse_document(await read_body(request, self.state.limits.document))
        engine = self.state.engine  # the why-not variants are decided by the engine that decided
        decision = self.decide(document, _as_of(request), engine)
        self.metrics.decision(decision)
        from ..tools.counterfactual import why_not

        if fmt == "json":  # as `gongji explain --format json`
            data = decision.explanation()
            if flags["why_not"]:
                data["why_not"] = why_not(decision, engine).to_json()
            return Response((json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
                            media_type="application/json")
        text = decision.explain(lang, only_failures=flags["only_failures"])
        if flags["why_not"]:
            text += why_not(decision, engine).text(lang)
        return PlainTextResponse(text)

    async def batch(self, scope: Any, receive: Any, send: Any) -> None:
        """JSON Lines in, JSON Lines out, one output line per input line, streamed both ways.

        A raw ASGI endpoint: it reads body chunks and sends answer lines as each input line is
        complete, so a client may stream a corpus of any length up to the limit."""
        request = Request(scope, receive)
        started = time.perf_counter()
        status = 200
        try:
            try:
                _require_type(request, JSONL_TYPES)
                limit = self.state.limits.batch
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise _too_large(limit)
            except Problem as problem:
                status = problem.status
                self.metrics.error(problem.code)
                await _json_response(problem.body(), problem.status, problem.headers)(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/x-ndjson")]})
            as_of = _as_of(request)
            lines = _LineSplitter(self.state.limits.document)
            size = index = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":  # the stream was cut: the answer never ended
                    status = CLIENT_CLOSED
                    return
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                size += len(chunk)
                if size > limit:  # the answer has started: the refusal is the last line
                    status = 413
                    self.metrics.error("body_too_large")
                    await send({"type": "http.response.body", "body": self._batch_error(index, _too_large(limit))})
                    return
                complete = lines.feed(chunk)
                for start in range(0, len(complete), BATCH_YIELD_EVERY):
                    out = []
                    for line in complete[start:start + BATCH_YIELD_EVERY]:
                        if line is None:  # one line over the document limit: refused in its place
                            self.metrics.error("body_too_large")
                            out.append(self._batch_error(index, _too_large(self.state.limits.document)))
                        else:
                            out.append(self._batch_line(index, line, as_of))
                        index += 1
                    # sending yields to the event loop: other requests run between slices of a batch
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
            pending = lines.rest()
            tail = self._batch_line(index, pending, as_of) if pending.strip() else b""
            if await request.is_disconnected():  # gone while its last lines were decided: never answered
                status = CLIENT_CLOSED
                return
            await send({"type": "http.response.body", "body": tail})
        finally:
            self.metrics.request("decisions_batch", status, time.perf_counter() - started)

    def _batch_line(self, index: int, line: bytes, as_of: str | None) -> bytes:
        try:
            if not line.strip():
                raise Problem(400, "empty_line", "an empty line is not a fact document",
                              [Issue("empty_document", "empty line", SourceLocation(REQUEST_LABEL, index + 1, 1))])
            label = f"{REQUEST_LABEL}:{index + 1}"
            document = parse_document(line, label)
            decision = self.decide(document, as_of)
        except Problem as problem:
            self.metrics.error(problem.code)
            return self._batch_error(index, problem)
        except Exception as exc:  # one bad line never stops the batch
            return self._batch_error(index, self._internal(exc))
        self.metrics.decision(decision)
        return f'{{"index":{index},"decision":{decision.to_json()}}}\n'.encode()

    @staticmethod
    def _batch_error(index: int, problem: Problem) -> bytes:
        data = {"index": index, "status": problem.status, **problem.body()}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def _internal(self, exc: BaseException) -> Problem:
        """500 with an id; the traceback goes to the server log only, under that id."""
        error_id = str(uuid.uuid4())
        log.error("internal error %s: %s", error_id, "".join(traceback.format_exception(exc)).rstrip())
        issues = list(exc.issues) if isinstance(exc, EvaluationError) else []
        return Problem(500, "internal_error", f"internal error {error_id}; it is logged under this id",
                       [Issue(i.code, i.message, i.location) for i in issues], {"x-error-id": error_id}, error_id)

    async def rulesets(self, request: Request) -> Response:
        engine = self.state.engine
        cities = []
        for cid in sorted(engine.cities):
            city = engine.cities[cid]
            assignment = city.switch_assignment({k: v for k, v in engine.switches.items() if k in city.view.switches})
            _, periods = city.periods(assignment)
            cities.append({
                "id": cid, "name": {"zh": city.view.ruleset.name.zh, "en": city.view.ruleset.name.en},
                "version": city.version, "sha256": city.sha256,
                "layers": [{"id": f.id, "kind": f.kind, "version": f.version} for f in city.view.chain],
                "periods": [p.to_json() for p in periods],
                "switches": [{"id": sid, "title": {"zh": sw.title.zh, "en": sw.title.en}, "default": sw.default,
                              "in_force": assignment[sid], "options": list(sw.option_names)}
                             for sid, sw in sorted(city.view.switches.items())],
            })
        return _json_response({"sha256": self.state.sha256, "directory": str(self.state.rulesets),
                               "cities": cities})

    async def matrix(self, request: Request) -> Response:
        from ..tools.matrix import build_matrix, parse_as_of, render_html

        params = request.query_params
        lang = params.get("lang", "zh")
        if lang not in ("zh", "en"):
            raise Problem(422, "invalid_parameter", "lang is zh or en",
                          [Issue("invalid_parameter", "query parameter 'lang'", SourceLocation(pointer="lang"),
                                 expected=["zh", "en"], found=lang)])
        text = params.get("as_of")
        if not text:
            raise Problem(422, "missing_parameter", "as_of=YYYY-MM-DD is required",
                          [Issue("missing_parameter", "query parameter 'as_of'", SourceLocation(pointer="as_of"),
                                 expected="a date YYYY-MM-DD")])
        try:
            matrix = build_matrix(self.state.engine, parse_as_of(text), lang=lang)
        except EngineError as error:
            raise Problem(422, error.kind, error.summary, error.issues) from None
        if "text/html" in request.headers.get("accept", ""):
            return Response(render_html(matrix).encode("utf-8"), media_type="text/html; charset=utf-8")
        return _json_response(plain(matrix))

    async def reload(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        if not _is_loopback(client):  # the admin endpoint has no credentials: only this machine may reload
            raise Problem(403, "admin_not_local", f"reloading is allowed from this machine only, not from {client}")
        if self.state.reload_hook is not None:  # pre-fork: the supervisor reloads every worker
            result = await self.state.reload_hook()
        else:
            reloaded, issues = self.state.reload()
            result = {"reloaded": reloaded, "sha256": self.state.sha256, "issues": [i.to_dict() for i in issues]}
        if result["reloaded"]:
            return _json_response(result, 200)
        # the new workers did not come up: not the rulesets' fault, and the caller may retry
        crashed = any(i.get("code") == "reload_workers_failed" for i in result["issues"])
        self.metrics.error("reload_workers_failed" if crashed else "reload_failed")
        return _json_response(result, 503 if crashed else 422)

    async def metrics_text(self, request: Request) -> Response:
        engine = self.state.engine
        cities = {cid: (c.version, c.sha256) for cid, c in engine.cities.items()}
        return Response(self.metrics.render(self.state.sha256, cities).encode("utf-8"),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        from .openapi import openapi_document

        return _json_response(openapi_document())

    async def docs(self, request: Request) -> Response:
        from .openapi import DOCS_PAGE

        return Response(DOCS_PAGE.encode("utf-8"), media_type="text/html; charset=utf-8")

    async def healthz(self, request: Request) -> Response:
        return _json_response({"status": "alive"})

    async def readyz(self, request: Request) -> Response:
        if not self.state.ready:
            return _json_response({"status": "not ready"}, 503)
        log = self.state.decision_log
        if log is not None and not log.writable():  # every decision would be a 503 log_write_failed
            return _json_response({"status": "not ready", "reason": "log_write_failed"}, 503,
                                  {"retry-after": RETRY_AFTER})
        engine = self.state.engine
        return _json_response({"status": "ready", "sha256": self.state.sha256, "cities": sorted(engine.cities)})

    # ------------------------------------------------------------------ wrapping

    def endpoint(self, handler: Callable[[Request], Any], name: str) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status_code
                return response
            except Problem as problem:
                status = problem.status
                self.metrics.error(problem.code)
                return _json_response(problem.body(), problem.status, problem.headers)
            except Exception as exc:
                problem = self._internal(exc)
                self.metrics.error(problem.code)
                return _json_response(problem.body(), 500, problem.headers)
            finally:
                self.metrics.request(name, status, time.perf_counter() - started)

        run.__name__ = name
        return run


def plain(value: Any) -> Any:
    """Dataclasses (the matrix) -> JSON values: dates as ISO text, periods as {from, to}, sets sorted."""
    import dataclasses
    from decimal import Decimal

    from ..core.model import Period, Text

    if isinstance(value, Text):
        return {"zh": value.zh, "en": value.en}
    if isinstance(value, Period):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if type(value).__name__ == "Matrix":
            from ..core import values

            out["as_of"] = values.format_date(value.as_of)
        return out
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class _Asgi:
    """Makes Starlette treat a bound method as a raw ASGI endpoint (not a request handler)."""

    def __init__(self, handler: Callable[..., Any]):
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.handler(scope, receive, send)


def create_app(state: ServiceState, extra_routes: Sequence[BaseRoute] = (), metrics: Metrics | None = None
               ) -> Starlette:
    """The Starlette app serving ``state``; ``extra_routes`` are added as they are (e.g. a Mount)."""
    metrics = metrics or Metrics()
    service = Service(state, metrics)
    wrap = service.endpoint
    routes: list[BaseRoute] = [
        Route("/v1/decisions", wrap(service.decisions, "decisions"), methods=["POST"]),
        Route("/v1/decisions:batch", _Asgi(service.batch), methods=["POST"]),
        Route("/v1/explanations", wrap(service.explanations, "explanations"), methods=["POST"]),
        Route("/v1/rulesets", wrap(service.rulesets, "rulesets"), methods=["GET"]),
        Route("/v1/matrix", wrap(service.matrix, "matrix"), methods=["GET"]),
        Route("/v1/admin/reload", wrap(service.reload, "reload"), methods=["POST"]),
        Route("/metrics", wrap(service.metrics_text, "metrics"), methods=["GET"]),
        Route("/openapi.json", wrap(service.openapi, "openapi"), methods=["GET"]),
        Route("/docs", wrap(service.docs, "docs"), methods=["GET"]),
        Route("/healthz", wrap(service.healthz, "healthz"), methods=["GET"]),
        Route("/readyz", wrap(service.readyz, "readyz"), methods=["GET"]),
    ]
    routes.extend(extra_routes)
    app = Starlette(routes=routes)
    app.state.service = service
    app.state.gongji = state
    return app


class _LineSplitter:
    """JSON Lines from body chunks: each chunk is scanned once (no re-scan of what came before),
    and a line growing past ``limit`` bytes is reported as ``None`` in its place and skipped up to
    its newline, so one huge line costs neither quadratic time nor a document parse."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pending = bytearray()
        self.skipping = False

    def feed(self, chunk: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if self.skipping:
                self.skipping = False
            else:
                self.pending += chunk[start:end]
                out.append(self._take() if len(self.pending) <= self.limit else self._drop())
            start = end + 1
        if not self.skipping:
            self.pending += chunk[start:]
            if len(self.pending) > self.limit:
                self.skipping = True
                out.append(self._drop())
        return out

    def rest(self) -> bytes:
        return b"" if self.skipping else self._take()

    def _take(self) -> bytes:
        line = bytes(self.pending)
        self.pending.clear()
        return line

    def _drop(self) -> None:
        self.pending.clear()
        return None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")
