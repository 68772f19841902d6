"""``gongji replay``: re-decide logged decisions and report every difference."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from ..core.errors import EngineError, Issue, Printer, SourceLocation, UsageError
from ..runtime.auditlog import LogLine, document_from_entry, parse_log_line, read_log, record_of


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


def replay(path: Path, engine: Any, require_same_hash: bool = True,
           runner: Callable[..., Iterator[list[Any]]] | None = None) -> ReplayReport:
    """Re-decide every logged decision with ``engine`` and compare with what was logged.

    With ``runner`` (``runner(load, dirs, work, path, state)`` yields ``work``'s results for each
    chunk of lines in file order; engine.batch plugs in every core or Spark) the lines are decided
    in parallel and tallied in file order, and the log is streamed twice (hash check, then replay),
    never held in memory; without it, one by one here from the lines read first (``engine`` may
    be appending to this very log)."""
    report = ReplayReport()
    entries: Iterable[LogLine] = list(read_log(path)) if runner is None else ()
    if require_same_hash:
        wrong = []
        for line in entries if runner is None else read_log(path):
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
    if runner is None:
        results: Iterator[tuple[int, tuple[Any, ...]]] = (
            (line.number, replay_line(engine, line)) for line in entries)
    else:
        results = _parallel(path, engine, runner)
    for number, result in results:
        report.lines += 1
        if result[0] == "problem":
            report.problems.append(result[1])
        elif result[0] == "mismatch":
            report.replayed += 1
            report.mismatches.append((number, result[1], result[2]))
        else:
            report.replayed += 1
            report.matched += 1
    return report


def replay_line(engine: Any, line: LogLine) -> tuple[Any, ...]:
    """``("problem", Issue)``, ``("mismatch", decision id, differences)`` or ``("match",)``."""
    if line.entry is None:
        assert line.problem is not None
        return ("problem", line.problem)
    entry = line.entry
    if entry.get("fields") == "minimal":
        return ("problem", Issue("log_not_replayable", f"line {line.number} was logged with --log-fields minimal: "
                                 "it keeps no facts to decide again", SourceLocation(line.path, line.number, 1),
                                 expected="a line logged with --log-fields full"))
    try:
        decision = engine.decide(document_from_entry(entry))
    except EngineError as error:
        return ("problem", Issue("replay_failed", f"line {line.number}: " + "; ".join(
            i.message for i in error.issues), SourceLocation(line.path, line.number, 1)))
    if "decision" in entry:  # a full line (gongji.decision-log/1): the whole decision, compared whole
        differences = diff_values(entry["decision"], decision.to_dict())
    else:  # a compact line: the rebuilt decision's record must be the logged one
        differences = diff_values(entry["record"], record_of(decision.to_dict()))
    if differences:
        return ("mismatch", str(entry.get("decision_id", "")), differences)
    return ("match",)


def _load_engine(directory: str) -> Any:
    from ..runtime.api import Engine

    return Engine.load(directory)


def _replay_chunk(engine: Any, lines: list[str], first: int, mark: Any, *, path: str) -> list[Any]:
    out: list[Any] = []
    for offset, text in enumerate(lines):
        mark(first + offset)
        if text.strip():
            line = parse_log_line(Path(path), first + offset + 1, text)
            out.append((first + offset + 1, replay_line(engine, line)))
    return out


def _parallel(path: Path, engine: Any, runner: Callable[..., Iterator[list[Any]]]
              ) -> Iterator[tuple[int, tuple[Any, ...]]]:
    # Workers never append to a decision log: a logging engine is not reused, they load their own.
    state = engine if getattr(engine, "log", None) is None else None
    for chunk in runner(_load_engine, (str(engine.path),), partial(_replay_chunk, path=str(path)), str(path), state):
        yield from chunk


# ------------------------------------------------------------------------------ CLI


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("replay", help="re-decide every line of a decision log and report mismatches")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--against", metavar="DIR", help="replay under these rulesets even if their hash differs")
    common(p)  # engine.batch adds --workers/--engine/--master and the parallel runner
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: Any, out: TextIO, err: TextIO) -> int:
    from ..runtime.api import Engine

    path = Path(args.log)
    engine = Engine.load(args.against or args.rulesets)
    report = replay(path, engine, require_same_hash=args.against is None, runner=getattr(args, "runner", None))
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
