"""``make bench``: decisions per second on one core, ours vs raw durable_rules, side by side.

* **ours** — the public API: ``engine.decide(document).to_dict()`` for distinct fact documents
  (validation, normalization, the durable_rules session, reasons with messages, facts looked at,
  sources, parameters — the full decision JSON an auditor reads).
* **raw** — the same compiled durable_rules rulesets driven with no layers: assert the base fact
  (already normalized, serialized in the loop), run the actions (they must compute and assert
  the derived facts for the chaining to happen), read eligibility, delete the session.  No
  validation, no recording, no reasons, no Decision object.
* **logged** — ours with the audit decision log on (one flushed JSON line per decision).

Timings use ``time.perf_counter`` over several rounds; the best round is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import durable_rules_engine as _dre

from ..runtime.api import Engine
from ..core.compile import CATCH_ALL, Segment, encode_eligible
from .samples import documents


def raw_decide(segment: Segment, base: dict[str, Any], sid: str) -> bool:
    """One decision with nothing but durable_rules and the compiled actions."""
    handle = segment.handle
    assert handle is not None
    derived: dict[str, Any] = {}
    fired: set[int] = set()
    failed = False
    _, offset = _dre.assert_fact(handle, segment.encode_base(sid, base))
    rules = segment.rules
    names = segment.names
    try:
        for stratum in (1, 2):
            if stratum == 2:
                if not segment.stratum2:
                    break
                _dre.assert_fact(handle, encode_eligible(sid, not failed))
            started = _dre.start_action_for_state(handle, offset)
            messages = started[1] if started else None
            while messages is not None:
                name = messages[2:messages.index('"', 2)]
                if name != CATCH_ALL:
                    slot, branch = names[name]
                    if slot not in fired:
                        fired.add(slot)
                        compiled = rules[slot].branches[branch]
                        if compiled.derive is not None:
                            _dre.assert_fact(handle, compiled.encode_fact(sid, compiled.derive(base, derived)))
                        if compiled.outcome == "fail":
                            failed = True
                messages = _dre.complete_and_start_action(handle, offset)
    finally:
        _dre.delete_state(handle, sid)
    return not failed


def interleaved(runs: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, float]:
    """Best rate of each variant, the variants taking turns within every round so that a noisy
    machine (this one is a shared VM) slows them alike."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: count / seconds for name, seconds in best.items()}


def bench(request: str, count: int, rounds: int, rulesets: str) -> dict[str, float]:
    docs = list(documents(count, request))
    engine = Engine.load(rulesets)
    prepared = []
    for doc in docs:  # compile and register every segment used, outside the timed loops
        normalized = engine.normalize(doc)
        city = engine.cities[normalized.city]
        segment = city.segment(city.switch_assignment(), normalized.as_of, normalized.request)
        engine.decide(doc).to_dict()
        prepared.append((segment, normalized.base))
    eligible_raw = [raw_decide(seg, base, f"w{i}") for i, (seg, base) in enumerate(prepared)]
    eligible_ours = [engine.decide(doc).eligible for doc in docs]
    if eligible_raw != eligible_ours:
        raise SystemExit("raw and engine decisions differ: the baseline is not the same decisions")

    def ours() -> None:
        decide = engine.decide
        for doc in docs:
            decide(doc).to_dict()

    def raw() -> None:
        for i, (segment, base) in enumerate(prepared):
            raw_decide(segment, base, f"r{i}")

    with tempfile.TemporaryDirectory() as folder:
        logged_engine = Engine.load(rulesets, decision_log=Path(folder) / "decisions.jsonl", log_salt=b"bench")

        def logged() -> None:
            decide = logged_engine.decide
            for doc in docs:
                decide(doc).to_dict()

        logged()  # compile its segments' renderers outside the timed rounds
        gc.freeze()  # what a long-running service does after start-up: compiled rules leave the GC's scans
        results = interleaved({"ours": ours, "raw": raw, "logged": logged}, count, rounds)
        gc.unfreeze()
        logged_engine.close()
    results["eligible_share"] = sum(eligible_ours) / count
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000, help="distinct fact documents per request type")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rulesets", default="rulesets")
    parser.add_argument("--request", choices=["binding", "payment", "both"], default="both")
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    print(f"gongji benchmark: {args.count} distinct documents per request, best of {args.rounds} rounds, one core")
    print(f"{'request':<9} {'ours (decisions/s)':>19} {'raw durable_rules/s':>20} {'overhead':>9} "
          f"{'with log/s':>11} {'log cost':>9} {'eligible':>9}")
    requests = ["binding", "payment"] if args.request == "both" else [args.request]
    for request in requests:
        r = bench(request, args.count, args.rounds, args.rulesets)
        overhead = r["raw"] / r["ours"] - 1
        log_cost = r["ours"] / r["logged"] - 1
        print(f"{request:<9} {r['ours']:>19,.0f} {r['raw']:>20,.0f} {overhead:>9.1%} {r['logged']:>11,.0f} "
              f"{log_cost:>9.1%} {r['eligible_share']:>9.1%}")
    print("overhead = time(ours)/time(raw) - 1: what validation, normalization, recording and the full decision "
          "JSON (reasons, messages, facts, sources) add to durable_rules' own work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
