"""Fact-document fuzzing: hostile documents drawn from the fact catalog, run with a watchdog.

A case is a valid document (``engine.core.catalog.generate``) with a few mutations: a field replaced by
a hostile value (huge exponents, 5,000-digit integers, deep nesting, control characters, lone
surrogates, ID-card numbers in the wrong place ...), removed, duplicated or joined by an unknown
key.  The document is written as JSON text (so numbers keep their exact spelling) and fed to the
same reading and deciding steps as ``gongji decide``.

Each case must end, within the watchdog's limit, in a decision, a FactError or load issues with
snake_case codes; every issue it prints must be free of the document's personal ids.

Two modes:

* in-process (:func:`run_case`): fast; a per-case watchdog (SIGALRM) turns a Python-level hang into
  a failure.  A hang inside one C call (``int()`` of a billion-digit Decimal) only ends when the
  call does, so
* in a subprocess (:func:`run_subprocess`): a JSON Lines file through ``gongji decide`` with a
  wall-clock timeout; catches hangs in C code and aborts (a negative exit status), and checks that
  every line is either decided or reported with its line number.

``python tests/fuzz/fact_fuzz.py --seconds N [--count M] [--workers W] [--seed S]`` (``make fuzz-facts
SECONDS=N [COUNT=M] [WORKERS=W]``) runs both for N seconds (or M documents) and prints the counts.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from engine.core import catalog  # noqa: E402
from engine.cli import _guarded  # noqa: E402
from engine.core.errors import EvaluationError, FactError, Issue, render_with_context  # noqa: E402
from engine.core.load import load_json_text  # noqa: E402
from engine.core.privacy import mask_load_issue, mask_source  # noqa: E402
from guard import Hang, watchdog  # noqa: E402  (tests/fuzz is on sys.path)

CASE_SECONDS = 5.0  # per in-process case; far above any real case (milliseconds), far below a hang
MEMORY_LIMIT = 3 * 1024**3  # bytes of address space for a fuzzing process: a runaway case fails, the machine lives


def limit_memory(limit: int = MEMORY_LIMIT) -> None:
    """Cap this process's address space (a MemoryError, not the OOM killer, ends a runaway case)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
CODE = re.compile(r"[a-z][a-z0-9_]*\Z")


class Raw:
    """A JSON token written verbatim (``1e999999999``, a 5,000-digit integer)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


HUGE_NUMBERS = ["1e999999999", "1E+300000", "1e999999", "-1e999999", "9" * 5000, "-" + "9" * 4400, "1e-999999999",
                "-0", "0.30000000000000004", "1e308", "2.0", "2.50", "-1", "1000.001", "1E+2", "0e-7", "123456789012345"]
TEXTS = ["", "\x00", "\x01\x02", "\u202e", "\ud800", "341122198205052345", "34112219820505234X", "A" * 70,
         "2025-02-30", "2025-13-01", "341102\n", "💥", "0.300000000000000004", "300.005", "-5.00", "990000",
         "999999999999999.00", "  341102", "employee ", "Spouse", "true", "null", "{", "\\", "x" * 5000]
PLAIN = [None, True, False, 0, 1, -1, 7, 1001, 2.5, [], {}, ["a"], {"id": "341122198205052345"}]


def deep(depth: int, kind: str = "list") -> Any:
    """A value nested ``depth`` levels (built without recursion)."""
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return Raw(rng.choice(HUGE_NUMBERS))
    if roll < 0.6:
        return rng.choice(TEXTS)
    if roll < 0.9:
        return copy.deepcopy(rng.choice(PLAIN))  # a fresh copy: later edits must not reach PLAIN (or loop)
    return deep(rng.choice([17, 70, 600, 5000]), rng.choice(["list", "dict"]))


def person_id(rng: random.Random) -> str:
    """Distinctive ids, so that finding one in any output is a leak, not a coincidence."""
    if rng.random() < 0.5:
        return "3411" + "".join(rng.choice("0123456789") for _ in range(13)) + rng.choice("0123456789X")
    return "P-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(10))


def valid_document(rng: random.Random) -> dict[str, Any]:
    """A valid document from the catalog, with distinctive ids and cities that have rulesets."""
    cities = {"341100": "341102", "140100": "140105", "360900": "360902", "130600": "130602"}

    def choose(spec: catalog.Field, rng: random.Random) -> Any:
        if spec.pii:
            return person_id(rng)
        if spec.path == "city":
            return rng.choice(sorted(cities))
        if spec.path in ("authorizer.region", "beneficiary.region", "expense.institution_region"):
            return rng.choice(sorted(cities.values()))
        return None

    return catalog.generate(rng, rng.choice(catalog.ENUMS["request"]), choose)


def containers(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [("", doc)]
    for prefix, node in list(found):
        for key, value in node.items():
            if isinstance(value, dict) and not key.startswith("x"):
                found.append((f"{prefix}/{key}", value))
    return found


def mutate(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One to three hostile edits anywhere in the document."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        _, target = rng.choice(containers(doc))
        roll = rng.random()
        key = rng.choice(sorted(target)) if target else "x"
        if roll < 0.6:
            target[key] = hostile(rng)
        elif roll < 0.7:  # a party's id (or the whole party) copied into another field, in some wrapping
            party = doc.get(rng.choice(["authorizer", "beneficiary"]))
            if isinstance(party, dict) and isinstance(party.get("id"), str):
                # under an id key it is personal whatever its shape; as bare text only when it is
                # shaped like an ID-card number ("P-ABC" typed into an amount is just text)
                forms = [dict(party), [{"id": party["id"]}]]  # shallow: a field may already be 5,000 deep
                if re.fullmatch(r"[0-9]{17}[0-9X]", party["id"]):
                    forms += [[party["id"]], {"x": party["id"]}, f"a {party['id']}", party["id"]]
                target[key] = rng.choice(forms)
        elif roll < 0.8:
            target.pop(key, None)
        elif roll < 0.9:
            target[rng.choice(["x", "Request", "341122198205052345", "id", "amount", "\u0000"])] = hostile(rng)
        else:
            target.setdefault("switches" if target is doc else "x", {})
            if target is doc and isinstance(doc["switches"], dict):
                doc["switches"][rng.choice(["scope_widening", "x341122198205052345", "region_reading"])] = \
                    rng.choice(["seed", "on", "341122198205052345"])
    return doc


def to_json(value: Any) -> str:
    """JSON text with Raw tokens verbatim and nesting of any depth (no recursion)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (_Text, Raw)):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [_Text("}")]
            for index, (key, child) in enumerate(reversed(list(item.items()))):
                parts.append(child)
                parts.append(_Text(json.dumps(key) + ": "))
                if index < len(item) - 1:
                    parts.append(_Text(", "))
            parts.append(_Text("{"))
            stack.extend(parts)
        elif isinstance(item, list):
            parts = [_Text("]")]
            for index, child in enumerate(reversed(item)):
                parts.append(child)
                if index < len(item) - 1:
                    parts.append(_Text(", "))
            parts.append(_Text("["))
            stack.extend(parts)
        else:
            out.append(json.dumps(item))
    return "".join(out)


@dataclass
class _Text:
    text: str


_GENERATED_ID = re.compile(r"3411[0-9]{13}[0-9X]|P-[A-Z]{10}")


def ids_of(doc: Any) -> list[str]:
    """The personal ids a document holds, in the shapes :func:`person_id` makes (other text put in
    an id field by a mutation may legitimately appear elsewhere in the same document)."""
    found = []
    for role in ("authorizer", "beneficiary"):
        party = doc.get(role) if isinstance(doc, dict) else None
        value = party.get("id") if isinstance(party, dict) else None
        if isinstance(value, str) and _GENERATED_ID.fullmatch(value):
            found.append(value)
    return found




def leaks(text: str, ids: list[str]) -> list[str]:
    """Ids (or the distinctive middle of an ID-card number) that appear in ``text``."""
    out = []
    for value in ids:
        probes = [value] + ([value[4:14]] if re.fullmatch(r"[0-9]{17}[0-9X]", value) else [])
        out += [p for p in probes if p in text]
    return out


@dataclass
class Tally:
    cases: int = 0
    decided: int = 0
    invalid: int = 0
    failures: list[str] = field(default_factory=list)


def run_case(engine: Any, text: str, seconds: float = CASE_SECONDS) -> str:
    """Read and decide one JSON document as ``gongji decide`` does; returns decided|invalid.

    Raises AssertionError (or :class:`Hang`) with the reason when the engine misbehaves."""
    original_ids = _ids_in_text(text)
    with watchdog(seconds):
        loaded = _guarded(load_json_text, text, "case.json")
        issues: list[Issue] = [mask_load_issue(i) for i in loaded.issues]  # as gongji decide prints them
        if not issues:
            try:
                engine.decide(loaded.data)
                return "decided"
            except FactError as error:
                issues = list(error.issues)
                assert issues, "a FactError without issues"
            except EvaluationError as error:
                raise AssertionError(f"evaluation error on a document: {error}") from error
        shown = "\n".join(render_with_context(i, mask_source(text)) for i in issues)
    for issue in issues:
        assert CODE.match(issue.code), f"not a snake_case code: {issue.code!r}"
    leaked = leaks(shown, original_ids)
    assert not leaked, f"personal id {leaked[0]!r} in the error output:\n{shown}"
    return "invalid"


def _ids_in_text(text: str) -> list[str]:
    try:
        return ids_of(json.loads(text))
    except (ValueError, RecursionError):
        return []


def case(seed: int) -> str:
    """The JSON text of case ``seed``: a valid document (1 in 8) or a mutated one."""
    rng = random.Random(seed)
    doc = valid_document(rng)
    if rng.random() >= 0.125:
        doc = mutate(doc, rng)
    return to_json(doc)


def _limit_child(cpu_seconds: float) -> None:
    """In the ``gongji decide`` child: the fuzzers' address-space cap and a CPU-time limit."""
    import resource

    limit_memory()
    seconds = max(1, int(cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))  # SIGXCPU, then SIGKILL


def run_subprocess(texts: list[str], timeout: float = 120.0, workdir: Path | None = None,
                   rulesets: Path = ROOT / "rulesets", wall: float | None = None) -> Tally:
    """All ``texts`` as one JSON Lines file through ``gongji decide`` in a subprocess.

    Every line must be decided (one JSON decision on stdout) or reported on stderr with its line
    number; the exit status is 0 or 1, never an abort, an internal error or a traceback.  The child
    may use ``timeout`` seconds of CPU (a hang in C code spins: SIGXCPU ends it and it is reported);
    the wall clock (``wall``, default ten times that) is only a backstop, so that a busy machine or
    a run under ``nice`` does not report waiting for a core as a hang."""
    tally = Tally(cases=len(texts))
    wall = max(600.0, 10 * timeout) if wall is None else wall
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8",
                        errors="surrogatepass")
        command = [sys.executable, "-m", "engine.cli", "decide", str(path), "--rulesets", str(rulesets)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=wall, cwd=ROOT,
                                  preexec_fn=lambda: _limit_child(timeout),
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)))
        except subprocess.TimeoutExpired:
            tally.failures.append(f"no result within {wall} s")
            return tally
        if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            tally.failures.append(f"no result within {timeout} s of CPU (signal {-done.returncode})")
            return tally
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        if done.returncode not in (0, 1):
            tally.failures.append(f"exit status {done.returncode}: {err[-2000:]}")
        if "internal error" in err or "Traceback" in err:
            tally.failures.append(f"internal error: {err[-2000:]}")
        tally.decided = sum(1 for line in out.splitlines() if line.startswith("{"))
        reported = {int(m.group(1)) for m in re.finditer(re.escape(str(path)) + r":(\d+)", err)}
        tally.invalid = len(reported)
        lines = [n for n, t in enumerate(texts, 1) if t.strip()]
        if tally.decided + len(reported) != len(lines) or not reported <= set(lines):
            tally.failures.append(f"{len(lines)} lines, {tally.decided} decided, {len(reported)} reported")
        by_line: dict[int, list[str]] = {}
        number = 0
        for line in err.splitlines():  # an issue line names its line; caret lines follow it
            match = re.match(re.escape(str(path)) + r":(\d+)", line)
            number = int(match.group(1)) if match else number
            by_line.setdefault(number, []).append(line)
        for number, shown in by_line.items():
            leaked = leaks("\n".join(shown), _ids_in_text(texts[number - 1])) if 0 < number <= len(texts) else []
            if leaked:
                tally.failures.append(f"line {number}: personal id {leaked[0]!r} on stderr")
                break
    return tally


SLOW = 1.0  # CPU seconds: a case slower than this is reported as a (soft) hang


def _worker(engine: Any, seed: int, count: int | None, deadline: float, batch: int, report: Path) -> None:
    """One worker's share: in-process cases, and every ``batch`` cases 200 of them again through a
    ``gongji decide`` subprocess.  The tally goes to ``report`` as JSON (progress included, so the
    parent can print it), failures are printed as they happen."""
    total, failures, slowest, runs, lines = Tally(), 0, 0.0, 0, 0
    rng = random.Random(seed)

    def save(done: bool = False) -> None:
        report.write_text(json.dumps({"cases": total.cases, "decided": total.decided, "invalid": total.invalid,
                                      "failures": failures, "slowest": slowest, "runs": runs, "lines": lines,
                                      "done": done}), encoding="utf-8")

    while time.monotonic() < deadline and (count is None or total.cases < count):
        size = batch if count is None else min(batch, count - total.cases)
        seeds = [rng.randrange(2**63) for _ in range(size)]
        for case_seed in seeds:
            total.cases += 1
            started = time.process_time()
            try:
                outcome = run_case(engine, case(case_seed))
                total.decided += outcome == "decided"
                total.invalid += outcome == "invalid"
            except (AssertionError, Hang, Exception) as exc:  # every failure is reported with its seed
                failures += 1
                print(f"FAIL case seed {case_seed}: {type(exc).__name__}: {str(exc)[:500]}", flush=True)
            spent = time.process_time() - started
            slowest = max(slowest, spent)
            if spent > SLOW:
                failures += 1
                print(f"FAIL case seed {case_seed}: slow: {spent:.2f} s of CPU", flush=True)
            if time.monotonic() >= deadline:
                break
        tail = seeds[:200]  # the same documents again, through the command line in a subprocess
        if tail:
            result = run_subprocess([case(s) for s in tail])
            runs, lines = runs + 1, lines + result.cases
            for failure in result.failures:
                failures += 1
                print(f"FAIL subprocess batch (seeds {tail[0]}..): {failure[:500]}", flush=True)
        save()
    save(done=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--count", type=int, default=None,
                        help="stop after this many documents (decided in-process; 200 of every batch again "
                        "through gongji decide)")
    parser.add_argument("--workers", type=int, default=1, help="forked workers, each with its own seed")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--batch", type=int, default=500, help="cases between two subprocess runs")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"fact-document fuzz: seed {seed}, up to {args.seconds:g} s"
          + (f" or {args.count:,} documents" if args.count else "") + f", {args.workers} worker(s)", flush=True)
    limit_memory()
    from engine import Engine

    engine = Engine.load(ROOT / "rulesets")
    started = time.monotonic()
    deadline = started + args.seconds
    folder = Path(tempfile.mkdtemp(prefix="gongji-factfuzz-"))
    reports, pids = [], []
    for index in range(args.workers):
        share = None if args.count is None else args.count // args.workers + (index < args.count % args.workers)
        report = folder / f"worker-{index}.json"
        reports.append(report)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 70
            try:
                _worker(engine, seed + index, share, deadline, args.batch, report)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    crashed = 0
    remaining = set(pids)
    last = started
    while remaining:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.5)
            if time.monotonic() - last > 60:
                last = time.monotonic()
                done = sum(json.loads(r.read_text())["cases"] for r in reports if r.exists())
                print(f"  {done:,} documents, {done / (last - started):.0f}/s", flush=True)
            continue
        remaining.discard(pid)
        if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
            crashed += 1
            print(f"FAIL worker {pids.index(pid)} ended with status {status}", flush=True)
    totals = {"cases": 0, "decided": 0, "invalid": 0, "failures": 0, "runs": 0, "lines": 0}
    slowest = 0.0
    for report in reports:
        data = json.loads(report.read_text()) if report.exists() else {}
        for key in totals:
            totals[key] += data.get(key, 0)
        slowest = max(slowest, data.get("slowest", 0.0))
    failures = totals["failures"] + crashed
    elapsed = time.monotonic() - started
    print(f"{totals['cases']:,} documents in {elapsed:.0f} s: {totals['decided']:,} decided, {totals['invalid']:,} "
          f"refused with codes (slowest {slowest:.3f} s of CPU); {totals['lines']:,} of them again as JSON Lines in "
          f"{totals['runs']:,} gongji subprocesses; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
