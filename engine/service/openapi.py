"""The OpenAPI 3.1 document, built from the JSON Schemas in ``schemas/`` (one source of truth).

``Facts`` is ``schemas/facts.schema.json`` and ``Decision`` is ``schemas/decision.schema.json``
as they are (OpenAPI 3.1 schemas are JSON Schema 2020-12); only their ``$id``/``$schema`` are
dropped and their internal ``#/$defs/...`` references re-rooted under ``components``. The few
service-only shapes (an error answer, a batch line) are written here; they wrap those two.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from ..core.validate import SCHEMA_DIR


def _component(name: str, file: str) -> dict[str, Any]:
    schema = json.loads((SCHEMA_DIR / file).read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    schema.pop("$id", None)

    def reroot(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: reroot(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                out["$ref"] = f"#/components/schemas/{name}/$defs/" + ref[len("#/$defs/"):]
            return out
        if isinstance(node, list):
            return [reroot(v) for v in node]
        return node

    return reroot(schema)


ISSUE = {
    "type": "object", "required": ["code", "severity", "message"],
    "description": "One problem, as the CLI reports it: a stable code, where (JSON pointer), expected vs found.",
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "severity": {"enum": ["error", "warning"]},
        "message": {"type": "string"},
        "file": {"type": "string"}, "line": {"type": "integer"}, "col": {"type": "integer"},
        "pointer": {"type": "string"},
        "expected": {}, "found": {}, "hint": {"type": "string"},
    },
}
PROBLEM = {
    "type": "object", "required": ["error", "summary", "issues"],
    "description": "An error answer (4xx/5xx). 500 answers carry error_id, which is in the server log.",
    "properties": {
        "error": {"type": "string"}, "summary": {"type": "string"},
        "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
        "error_id": {"type": "string"},
    },
}
BATCH_LINE = {
    "description": "One output line per input line, in input order, with the input's 0-based index.",
    "oneOf": [
        {"type": "object", "required": ["index", "decision"], "additionalProperties": False,
         "properties": {"index": {"type": "integer", "minimum": 0},
                        "decision": {"$ref": "#/components/schemas/Decision"}}},
        {"type": "object", "required": ["index", "status", "error", "summary", "issues"],
         "properties": {"index": {"type": "integer", "minimum": 0}, "status": {"type": "integer"},
                        "error": {"type": "string"}, "summary": {"type": "string"},
                        "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}}}},
    ],
}
PERIOD = {"type": "object", "required": ["from", "to"],
          "properties": {"from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]}}}
RULESETS = {
    "type": "object", "required": ["sha256", "cities"],
    "properties": {
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "directory": {"type": "string"},
        "cities": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "version", "sha256", "periods", "switches"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "object"}, "version": {"type": "string"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "layers": {"type": "array", "items": {"type": "object"}},
                "periods": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
                "switches": {"type": "array", "items": {
                    "type": "object", "required": ["id", "default", "in_force", "options"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "object"},
                                   "default": {"type": "string"}, "in_force": {"type": "string"},
                                   "options": {"type": "array", "items": {"type": "string"}}}}},
            }}},
    },
}
RELOAD = {
    "type": "object", "required": ["reloaded", "sha256", "issues"],
    "properties": {"reloaded": {"type": "boolean"}, "sha256": {"type": "string"},
                   "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}}},
}
MATRIX = {"type": "object", "required": ["as_of", "cities", "groups"],
          "description": "Every city x policy item in force on as_of, with citations (gongji matrix).",
          "properties": {"as_of": {"type": "string"}, "cities": {"type": "array"}, "groups": {"type": "array"},
                         "footnotes": {"type": "array"}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "The body is not UTF-8 JSON (or JSON Lines).", 413: "The body is over the size limit.",
            415: "Wrong Content-Type.", 422: "Invalid input: every issue, as the CLI reports them.",
            500: "Internal error; error_id is in the server log.",
            503: "The worker handling the request stopped before answering, or the decision could not be "
                 "written to the decision log (log_write_failed); retry."}
    return {str(s): {"description": text[s],
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


AS_OF = {"name": "as_of", "in": "query", "required": False, "description": "Decide on this date (as --as-of)",
         "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}}
FACTS_BODY = {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Facts"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process)."""
    from .. import __version__

    flag = {"type": "string", "enum": ["true", "false"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "gongji decision service", "version": __version__,
                 "description": "Decisions on 职工医保个人账户家庭共济 (family sharing of the employee "
                                "medical-insurance personal account): binding and payment."},
        "paths": {
            "/v1/decisions": {"post": {
                "operationId": "decide", "summary": "Decide one fact document",
                "description": "The body and answer are exactly `gongji decide --format json`'s.",
                "parameters": [AS_OF], "requestBody": FACTS_BODY,
                "responses": {"200": _json("Decision", "The decision"), **_errors(400, 413, 415, 422, 500, 503)}}},
            "/v1/decisions:batch": {"post": {
                "operationId": "decideBatch", "summary": "Decide JSON Lines, streamed",
                "parameters": [AS_OF],
                "requestBody": {"required": True, "content": {"application/x-ndjson": {
                    "schema": {"type": "string"}, "itemSchema": {"$ref": "#/components/schemas/Facts"}}}},
                "responses": {"200": {"description": "One line per input line (a decision or an error)",
                                      "content": {"application/x-ndjson": {
                                          "schema": {"type": "string"},
                                          "itemSchema": {"$ref": "#/components/schemas/BatchLine"}}}},
                              **_errors(413, 415, 500)}}},
            "/v1/explanations": {"post": {
                "operationId": "explain", "summary": "Explain one decision (as gongji explain)",
                "parameters": [
                    AS_OF,
                    {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh", "en"]}},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["text", "json"]}},
                    {"name": "why_not", "in": "query", "schema": flag},
                    {"name": "only_failures", "in": "query", "schema": flag}],
                "requestBody": FACTS_BODY,
                "responses": {"200": {"description": "The explanation",
                                      "content": {"text/plain": {"schema": {"type": "string"}},
                                                  "application/json": {"schema": {"type": "object"}}}},
                              **_errors(400, 413, 415, 422, 500, 503)}}},
            "/v1/rulesets": {"get": {
                "operationId": "rulesets", "summary": "Cities, versions, sha256, periods, switches",
                "responses": {"200": _json("Rulesets", "The rulesets in force"), **_errors(500)}}},
            "/v1/matrix": {"get": {
                "operationId": "matrix", "summary": "Every city x policy item on a date",
                "parameters": [{**AS_OF, "required": True},
                               {"name": "lang", "in": "query", "schema": {"type": "string", "enum": ["zh", "en"]}}],
                "responses": {"200": {"description": "JSON, or one HTML page with Accept: text/html",
                                      "content": {"application/json": {"schema": {"$ref":
                                                                                  "#/components/schemas/Matrix"}},
                                                  "text/html": {"schema": {"type": "string"}}}},
                              **_errors(422, 500)}}},
            "/v1/admin/reload": {"post": {
                "operationId": "reload", "summary": "Compile the rulesets again and swap them in atomically",
                "responses": {"200": _json("Reload", "Reloaded"),
                              "422": _json("Reload", "They did not compile; the old ones keep serving"),
                              "503": _json("Reload", "They compiled, but the new workers did not start accepting "
                                                     "(reload_workers_failed); the old ones keep serving"),
                              **_errors(500)}}},
            "/healthz": {"get": {"operationId": "healthz", "summary": "Alive",
                                 "responses": {"200": {"description": "alive", "content": {"application/json": {
                                     "schema": {"type": "object"}}}}}}},
            "/readyz": {"get": {"operationId": "readyz", "summary": "Rulesets loaded and compiled",
                                "responses": {"200": {"description": "ready", "content": {"application/json": {
                                    "schema": {"type": "object"}}}},
                                              "503": {"description": "not ready: starting, or the decision log "
                                                                     "cannot be written (reason log_write_failed)",
                                                      "content": {"application/json": {
                                                          "schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus text exposition",
                                 "responses": {"200": {"description": "metrics",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": {
            "Facts": _component("Facts", "facts.schema.json"),
            "Decision": _component("Decision", "decision.schema.json"),
            "Issue": ISSUE, "Problem": PROBLEM, "BatchLine": BATCH_LINE, "Period": PERIOD,
            "Rulesets": RULESETS, "Reload": RELOAD, "Matrix": MATRIX,
        }},
    }


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gongji decision service — API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.4em} .op{border:1px solid #ccc;border-radius:6px;margin:.6em 0;padding:.4em .8em}
.m{display:inline-block;min-width:4em;font-weight:bold;color:#fff;border-radius:3px;padding:0 .4em;text-align:center}
.post{background:#2a7} .get{background:#27a} code,pre{font:12px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em} summary{cursor:pointer}
</style></head><body>
<h1>gongji decision service</h1>
<p>The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1); the request
and decision schemas are <code>schemas/facts.schema.json</code> and <code>schemas/decision.schema.json</code>.</p>
<div id="ops">loading…</div>
<script>
// Everything is on this page: no script or style from anywhere else.
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const ops = document.getElementById('ops'); ops.textContent = '';
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    const d = document.createElement('details'); d.className = 'op';
    const params = (op.parameters || []).map(p => `<li><code>${esc(p.name)}</code> (${p.in})
      ${esc(p.description || '')} <code>${esc(JSON.stringify(p.schema))}</code></li>`).join('');
    const responses = Object.entries(op.responses)
      .map(([s, r]) => `<li><b>${s}</b> ${esc(r.description)}</li>`).join('');
    const body = op.requestBody
      ? `<p>Body: <code>${esc(Object.keys(op.requestBody.content).join(', '))}</code></p>` : '';
    d.innerHTML = `<summary><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code>
      — ${esc(op.summary || '')}</summary><p>${esc(op.description || '')}</p>${body}
      ${params ? '<p>Parameters:</p><ul>' + params + '</ul>' : ''}<p>Responses:</p><ul>${responses}</ul>`;
    ops.appendChild(d);
  }
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const d = document.createElement('details'); d.className = 'op';
    d.innerHTML = `<summary>schema <b>${esc(name)}</b></summary><pre>${esc(JSON.stringify(schema, null, 2))}</pre>`;
    ops.appendChild(d);
  }
});
</script></body></html>
"""
