"""The analyst and auditor web console, mounted at ``/console`` by ``gongji serve``.

Pages (one HTML shell, ``static/console.js`` renders them; zh by default, ``?lang=en``):
``/console/decide`` (form generated from the fact schema, result, why-not links, permalink),
``/console/rules`` (layers, dated versions on a timeline, sources with the quote highlighted,
what changes between two days), ``/console/matrix`` and ``/console/audit/{decision_id}`` (a
printable report of one logged decision; ``/console/audit#doc=…`` for a document not logged).
The pages decide through ``POST /v1/decisions`` and ``/v1/explanations``; ``/console/api/*``
serves only what those do not: form metadata, rules-browser data, changes between dates, the
matrix, source documents, verified why-not documents and decision-log lines.  Assets are files
of this package: no CDN, no build step.
"""

from .web import routes

__all__ = ["routes"]
