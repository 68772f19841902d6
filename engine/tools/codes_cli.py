"""``gongji codes``: the table of every stable error and warning code (engine/core/codes.py)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from ..core.codes import KINDS, REGISTRY, Code
from ..core.errors import Issue, SourceLocation, UsageError
from ..core.validate import did_you_mean


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("codes", help="list every error and warning code with its meaning and exit status")
    p.add_argument("codes", nargs="*", metavar="CODE", help="only these codes")
    p.add_argument("--kind", choices=sorted(KINDS), help="only codes of this kind")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_codes)


def select(names: list[str], kind: str | None) -> list[Code]:
    """The registry entries asked for, in code order; unknown names are a usage error (all at once)."""
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise UsageError([Issue("unknown_code", f"{name!r} is not a gongji code", SourceLocation(pointer="CODE"),
                                found=name, hint=did_you_mean(name, REGISTRY)) for name in unknown])
    entries = [REGISTRY[name] for name in sorted(set(names))] if names else list(REGISTRY.values())
    return [e for e in entries if kind is None or kind in e.kinds]


def _exit_text(entry: Code) -> str:
    return "/".join(map(str, entry.exits)) or "-"


def table(entries: list[Code]) -> str:
    """Aligned text: code, kinds, exit status(es), meaning; codes input cannot cause are marked."""
    rows = [("CODE", "KIND", "EXIT", "MEANING")]
    for e in entries:
        meaning = e.meaning + (f" [not caused by input: {e.untriggerable}]" if e.untriggerable else "")
        rows.append((e.code, "/".join(e.kinds), _exit_text(e), meaning))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    kinds = sorted({k for e in entries for k in e.kinds})
    lines.append("")
    lines.extend(f"{k}: {KINDS[k][0]}" for k in kinds)
    lines.append(f"{len(entries)} code(s); codes are stable: a published code keeps its meaning.")
    return "\n".join(lines)


def cmd_codes(args: Any, out: TextIO, err: TextIO) -> int:
    entries = select(args.codes, args.kind)
    if args.format == "json":
        data = {"kinds": {k: {"meaning": m, "exit": e} for k, (m, e) in KINDS.items()},
                "codes": [e.to_dict() for e in entries]}
        print(json.dumps(data, ensure_ascii=False, indent=2), file=out)
    else:
        print(table(entries), file=out)
    return 0
