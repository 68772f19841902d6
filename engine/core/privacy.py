"""Personal data: masked in explanations, errors and logs unless explicitly asked for.

What is personal is declared in the fact catalog (``Field.pii``: the parties' ids, which may be
ID-card numbers, 身份证号).  Masking goes by field first: whatever a PII field holds is hidden,
whatever its shape; a known non-personal field (an amount, a date) is never masked, except a
whole ID-card number typed into it.  Only text whose field is unknown (an unknown key, a switch
name, a line that did not parse) is masked by shape: ID-card-shaped digit runs.  The decision log
keeps a salted hash instead, so the same person stays linkable across lines without being readable.
"""

from __future__ import annotations

import contextlib
import dataclasses

import hashlib
import hmac
import json
import re
from typing import Any

from . import catalog
from .errors import Issue, SourceLocation

_ID_CARD = re.compile(r"^[0-9]{15}$|^[0-9]{17}[0-9Xx]$")
# An ID-card-shaped run inside free text: not part of a longer number, a decimal or an amount.
_ID_RUN = re.compile(r"(?<![0-9.])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])(?!\.[0-9])")
_HIDDEN = "(hidden)"


def mask_id(value: str) -> str:
    """``341102198001011234`` -> ``341***********1234``; short ids keep first and last character."""
    if not value:
        return value
    if _ID_CARD.match(value):
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if len(value) <= 2:
        return "*" * len(value)
    if len(value) <= 5:
        return value[0] + "*" * (len(value) - 2) + value[-1]
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def mask_text(text: str) -> str:
    """Free text of unknown meaning: ID-card-shaped runs masked, the rest kept."""
    return _ID_RUN.sub(lambda m: mask_id(m.group(0)), text)


def mask_value(value: Any) -> Any:
    """A PII field's value, whatever its type: ids masked, anything else not shown at all."""
    return mask_id(value) if isinstance(value, str) else _HIDDEN


def mask_document(value: Any, depth: int = 0) -> Any:
    """A copy with every PII field (by name, at any depth) masked and ID-shaped text masked."""
    if depth > 32:
        return "…"
    if isinstance(value, dict):
        return {mask_text(str(k)) if isinstance(k, str) else k:
                (mask_value(v) if k in catalog.PII_NAMES else mask_document(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_document(v, depth + 1) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _pii_strings(value: Any, depth: int = 0) -> list[str]:
    """The text held by PII keys anywhere inside ``value`` (bounded depth)."""
    out: list[str] = []
    pending = [(value, depth)]
    while pending:
        node, level = pending.pop()
        if level > 32:
            continue
        if isinstance(node, dict):
            for key, item in node.items():
                if key in catalog.PII_NAMES and isinstance(item, str):
                    out.append(item)
                else:
                    pending.append((item, level + 1))
        elif isinstance(node, (list, tuple)):
            pending.extend((item, level + 1) for item in node)
    return out


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]] if pointer else []


def _known(tokens: list[str]) -> bool:
    path = ".".join(tokens)
    return not tokens or path in catalog.DOC_BY_PATH or path in catalog.GROUP_BY_PATH


_MISSING = object()


def _at(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, (list, tuple)) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def mask_pointer(pointer: str) -> str:
    """Tokens of a pointer that are not catalog names (unknown keys) are free text: masked."""
    tokens = _tokens(pointer)
    if _known(tokens):
        return pointer
    out, known = [], True
    for index, token in enumerate(tokens):
        known = known and _known(tokens[: index + 1])
        out.append(token if known else mask_text(token))
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in out)


def mask_issue(issue: Issue, document: Any) -> Issue:
    """An issue about ``document`` with personal data masked by field (see the module docstring)."""
    pointer = issue.location.pointer
    tokens = _tokens(pointer)
    spec = catalog.DOC_BY_PATH.get(".".join(tokens))
    raw = _at(document, tokens)
    pairs: list[tuple[str, str]] = []
    found = issue.found
    if isinstance(found, str) and tokens and found == tokens[-1]:  # the issue is about the key itself
        spec, raw = None, _MISSING
    if spec is not None and spec.pii:  # first: a personal field hides whatever it holds, lists and objects too
        if raw is not _MISSING:
            hidden = mask_value(raw)
            for form in {str(raw), repr(raw), json.dumps(raw, ensure_ascii=False, default=str)}:
                pairs.append((form, hidden))
            found = hidden if found is not None else None
    elif isinstance(raw, (dict, list, tuple)):  # found is the JSON text of a whole object or list
        masked = mask_document(raw)
        # the message may quote the object too (``{found!r} is not allowed here``): an id inside
        # it, under any key, goes the way of the id fields
        for show in (repr, str, lambda v: json.dumps(v, ensure_ascii=False, default=str)):
            with contextlib.suppress(RecursionError, ValueError):  # too deep to show: the ids alone, below
                pairs.append((show(raw), show(masked)))
        # ... and where the message shows it in another form (numbers normalised), the ids alone
        pairs.extend((value, mask_id(value)) for value in _pii_strings(raw) if len(value) >= 4)
        if found is not None:
            text = json.dumps(masked, ensure_ascii=False, default=str)
            found = text if len(text) <= 80 else text[:77] + "..."
    elif spec is not None:
        # an id typed into the wrong field, as text or as a number (ids have 18 digits: no huge ints here)
        text = str(raw) if type(raw) is int and raw.bit_length() < 100 else raw
        if isinstance(text, str) and _ID_CARD.match(text.strip()):
            pairs.append((text, mask_id(text.strip())))
        elif isinstance(text, str):  # an id inside other text ("a 3411…"): the run is masked
            pairs.append((text, mask_text(text)))
    elif isinstance(found, str):
        pairs.append((found, mask_text(found)))  # an unknown key or text in an unknown place
    message = issue.message
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        if old and old != new:
            message = message.replace(old, new)
            if isinstance(found, str):
                found = found.replace(old, new)
            elif type(found) is int and str(found) == old:  # the id as a number: shown masked, as text
                found = new
    if spec is not None and spec.pii and raw is not _MISSING and isinstance(raw, str) and len(raw) >= 4 \
            and raw in message:  # an escaped form we did not foresee: say nothing about the value
        message = f"the {spec.title_en} is invalid"
    if spec is None or isinstance(raw, (dict, list, tuple)):
        # free text, or an object or list in a known field that the message shows in a form of its
        # own (capped at some depth, numbers normalised): ID-card-shaped runs are masked by shape
        message = mask_text(message)
        if isinstance(found, str):
            found = mask_text(found)
    location = issue.location
    masked_pointer = mask_pointer(pointer)
    if masked_pointer != pointer:
        location = SourceLocation(location.file, location.line, location.col, masked_pointer)
    if message == issue.message and found == issue.found and location is issue.location:
        return issue
    return Issue(issue.code, message, location, issue.expected, found, issue.severity, issue.hint)


# A PII key and its value on one source line: YAML (``id: x``, ``"id": "x"``) or JSON.
_PII_KEYS = "|".join(sorted(re.escape(name) for name in catalog.PII_NAMES))
_PII_ENTRY = re.compile(
    r"(?P<key>(?P<q>[\"']?)\b(?:" + _PII_KEYS + r")\b(?P=q)\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"?|'[^'\n]*'?|[^,}\]\s#][^,}\]\n#]*)")


def mask_source(text: str) -> str:
    """Source text of a fact document as error output may quote it: PII values masked by key,
    ID-card-shaped runs masked everywhere else (lines that may not even parse)."""

    def hide(match: re.Match[str]) -> str:
        value = match.group("value")
        quote = value[0] if value[:1] in "\"'" else ""
        inner = value[1:-1] if quote and len(value) > 1 and value.endswith(quote) else value[len(quote):]
        closing = quote if quote and len(value) > 1 and value.endswith(quote) else ""
        return match.group("key") + quote + mask_id(inner.strip()) + closing

    return mask_text(_PII_ENTRY.sub(hide, text))


class Pseudonyms:
    """:func:`pseudonym` for one salt, several times faster: the keyed inner and outer SHA-256
    states of HMAC are computed once and copied per value (the same HMAC-SHA-256, RFC 2104, so
    the same pseudonyms as :func:`pseudonym`)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, salt: bytes):
        key = hashlib.sha256(salt).digest() if len(salt) > 64 else salt  # SHA-256's block is 64 bytes
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return "h:" + outer.digest()[:12].hex()  # the first 24 hex digits, without making all 64


def pseudonym(value: str, salt: bytes) -> str:
    """A salted, keyed hash: stable for one salt, useless without it."""
    # hmac.digest: the one-shot C HMAC, the same bytes as hmac.new(...).digest() without its objects
    return "h:" + hmac.digest(salt, value.encode("utf-8"), "sha256").hex()[:24]


def mask_load_issue(issue: Issue) -> Issue:
    """An issue from reading a document that could not be loaded: no field is known, so personal
    data is masked by shape in its message and ``found`` (a YAML tag error quotes the value)."""
    found = mask_text(issue.found) if isinstance(issue.found, str) else issue.found
    location = issue.location
    if location.pointer:  # an unknown key on the way down (a deep nesting) is free text too
        location = dataclasses.replace(location, pointer=mask_pointer(location.pointer))
    return dataclasses.replace(issue, message=mask_text(issue.message), found=found, location=location)
