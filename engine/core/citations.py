"""Which citations a decision shows, and how.

A decision cites the sentence that governs *it*: the national text, or its own province's or
city's.  Each document speaks for one jurisdiction (national.yaml ``documents:``; undeclared =
national), a citation may say otherwise (``jurisdiction:``).  A citation with a ``note`` is an
*inference* — the quote backs the value only through what the note says (another place's text
behind a national default, a date read from a report) — and is shown as such, never as a
citation.  Other jurisdictions' citations without a note are not shown; ``gongji lint`` reports
a rule or parameter version that would be left with nothing of the decision's own
(``citation_other_jurisdiction``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .model import Source

NATIONAL = "national"


def jurisdiction(source: Source, documents: Mapping[str, str]) -> str:
    return source.jurisdiction or documents.get(source.document, NATIONAL)


def own(city: str) -> frozenset[str]:
    """The jurisdictions a decision of ``city`` may cite: the nation, its province, itself."""
    return frozenset((NATIONAL, city[:2] + "0000", city))


def belongs(source: Source, city: str, documents: Mapping[str, str]) -> bool:
    return jurisdiction(source, documents) in own(city)


def select(sources: Iterable[Source], city: str, documents: Mapping[str, str]) -> tuple[list[Source], list[Source]]:
    """(citations, inferences) a decision of ``city`` shows, in their written order."""
    cited: list[Source] = []
    inferred: list[Source] = []
    for source in sources:
        if source.note:
            inferred.append(source)
        elif belongs(source, city, documents):
            cited.append(source)
    return cited, inferred


def inference_json(source: Source) -> dict[str, Any]:
    return {"note": source.note, "document": source.document, "quote": source.quote}
