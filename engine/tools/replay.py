"""``gongji replay``: re-decide logged decisions and report every difference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import EngineError, Issue, Printer, SourceLocation, UsageError
from ..runtime.auditlog import document_from_entry, read_log


def diff_values(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Human-readable differences between two JSON values (paths like /payment/plan/2/amount)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                out.append(f"{path}/{key}: removed (was {json.dumps(expected[key], ensure_ascii=False)[:80]})")
            elif key not in expected:
                out.append(f"{path}/{key}: added ({json.dumps(actual[key], ensure_ascii=False)[:80]})")
            else:
                out.extend(diff_values(expected[key], actual[key], f"{path}/{key}"))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for index, (a, b) in enumerate(zip(expected, actual)):
            out.extend(diff_values(a, b, f"{path}/{index}"))
        return out
    if expected != actual:
        return [f"{path or '/'}: {json.dumps(expected, ensure_ascii=False)[:80]} -> "
                f"{json.dumps(actual, ensure_ascii=False)[:80]}"]
    return []


@dataclass
class ReplayReport:
    lines: int = 0
    replayed: int = 0
    matched: int = 0
    mismatches: list[tuple[int, str, list[str]]] = field(default_factory=list)
    problems: list[Issue] = field(default_factory=list)


def replay(path: Path, engine: Any, require_same_hash: bool = True) -> ReplayReport:
    """Re-decide every logged decision with ``engine`` and compare with what was logged."""
    report = ReplayReport()
    entries = list(read_log(path))
    if require_same_hash:
        wrong = []
        for line in entries:
            if line.entry is None:
                continue
            ruleset = line.entry.get("ruleset") or {}
            city = engine.cities.get(ruleset.get("id"))
            if city is None or city.sha256 != ruleset.get("sha256"):
                wrong.append(Issue("ruleset_hash_mismatch", f"line {line.number} was decided by ruleset "
                                   f"{ruleset.get('id')} sha256 {str(ruleset.get('sha256'))[:16]}…, but the loaded "
                                   f"rulesets have {city.sha256[:16] + '…' if city else 'no such city'}; "
                                   "replay against the directory that produced it with --against DIR",
                                   SourceLocation(str(path), line.number, 1), expected=ruleset.get("sha256"),
                                   found=city.sha256 if city else None))
        if wrong:
            raise UsageError(wrong)
    for line in entries:
        report.lines += 1
        if line.entry is None:
            assert line.problem is not None
            report.problems.append(line.problem)
            continue
        entry = line.entry
        try:
            decision = engine.decide(document_from_entry(entry))
        except EngineError as error:
            report.problems.append(Issue("replay_failed", f"line {line.number}: " + "; ".join(
                i.message for i in error.issues), SourceLocation(str(path), line.number, 1)))
            continue
        report.replayed += 1
        differences = diff_values(entry["decision"], decision.to_dict())
        if differences:
            report.mismatches.append((line.number, str(entry.get("decision_id", "")), differences))
        else:
            report.matched += 1
    return report


# ------------------------------------------------------------------------------ CLI


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("replay", help="re-decide every line of a decision log and report mismatches")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--against", metavar="DIR", help="replay under these rulesets even if their hash differs")
    common(p)
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: Any, out: TextIO, err: TextIO) -> int:
    from ..runtime.api import Engine

    path = Path(args.log)
    engine = Engine.load(args.against or args.rulesets)
    report = replay(path, engine, require_same_hash=args.against is None)
    if report.problems:
        Printer(err).issues(report.problems)
    for number, decision_id, differences in report.mismatches:
        print(f"{path}:{number}: mismatch (decision {decision_id})", file=out)
        for line in differences[:20]:
            print(f"    {line}", file=out)
        if len(differences) > 20:
            print(f"    ... {len(differences) - 20} more differences", file=out)
    print(f"{report.lines} line(s): {report.replayed} replayed, {report.matched} identical, "
          f"{len(report.mismatches)} mismatched, {len(report.problems)} unreadable or failed", file=out)
    return 0 if not report.mismatches and not report.problems else 1
