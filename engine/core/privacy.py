"""Personal data: masked in explanations and logs unless explicitly asked for.

IDs may be ID-card numbers (身份证号).  Explanations show a masked form; the decision log keeps a
salted hash so the same person stays linkable across lines without being readable.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_ID_CARD = re.compile(r"^[0-9]{15}$|^[0-9]{17}[0-9Xx]$")


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


def pseudonym(value: str, salt: bytes) -> str:
    """A salted, keyed hash: stable for one salt, useless without it."""
    return "h:" + hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]
