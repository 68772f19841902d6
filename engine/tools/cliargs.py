"""Command-line pieces the CLI and the tools' subcommands share."""

from __future__ import annotations

from collections.abc import Sequence

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
