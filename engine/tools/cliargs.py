"""Command-line pieces the CLI and the tools' subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from ..core.errors import Issue, SourceLocation, UsageError

DEFAULT_RULESETS = "rulesets"


def parse_switches(values: Sequence[str] | None) -> dict[str, str]:
    result = {}
    for item in values or ():
        name, sep, option = item.partition("=")
        if not sep or not name or not option:
            raise UsageError([Issue("invalid_switch", f"--switch takes NAME=OPTION, not {item!r}", SourceLocation(),
                                    expected="NAME=OPTION", found=item)])
        result[name.strip()] = option.strip()
    return result


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum`` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not at least {minimum}")
        return number

    return parse
