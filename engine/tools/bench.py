"""``make bench``: the performance targets of issue 10, measured on one core, side by side.

* **raw** — the same compiled durable_rules rulesets driven with no layers: assert the base fact
  (already normalized, serialized in the loop), run the actions (they must compute and assert
  the derived facts for the chaining to happen), read eligibility, delete the session.  No
  validation, no recording, no reasons, no Decision object.  Every ratio is to this, measured
  in the same run, so a noisy machine moves both alike.
* **full** — the public API: ``engine.decide(document).to_dict()`` for distinct fact documents
  (validation, normalization, the durable_rules session, reasons with messages, facts looked at,
  sources, parameters — the full decision JSON an auditor reads).
* **eligible + codes** / **plan + codes** — ``decide(document)`` then ``eligible`` and
  ``fail_codes`` (and the payment plan): what a batch job or service reads; nothing rendered.
* **full + log** — full, with the decision log (default, compact lines) in group-commit mode
  (the strict mode is shown too, and ``--log-fields full`` lines, which render the whole
  decision).  Its rate is best-of-rounds like the others; its cost (the last column) is the
  median of 40 short paired rounds against full on the same documents (:func:`paired_cost`).
* **p99** — CPU time of one full decision (``time.thread_time_ns``), the 99th percentile.
* **load + compile** — ``Engine.load`` of the rulesets, which compiles and registers every
  default segment, in a fresh process (median of a few), CPU and wall time: through the
  default cache of analysed rulesets (``engine.runtime.api.default_cache_dir``), and without it.

Rates are decisions per second of CPU time, best of ``--rounds`` rounds.  ``python -m
engine.tools.bench cold`` times ``gongji decide`` as whole processes (``make bench-cold``).
``python -m engine.tools.bench memory`` decides random documents with random dates and switches and prints the
resident memory at checkpoints (``make bench-memory``: 100k and 1M).  ``python -m engine.tools.bench
raw-vs --against DIR`` times raw durable_rules of this tree and of another source tree (each with
its own compiled rulesets and raw driver, in its own process, rounds alternating: ``make
bench-raw-vs`` against the compiler issue 10 measured).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import durable_rules_engine as _dre

from ..core.catalog import ELIGIBLE
from ..core.compile import CATCH_ALL, Segment, encode_catch_all, encode_eligible
from ..core.errors import EngineError
from ..runtime.api import Engine
from ..runtime.evaluate import settle_plan
from .samples import document, documents

TARGETS = {  # issue 10
    ("binding", "full"): 30_000, ("binding", "codes"): 45_000,
    ("payment", "full"): 10_000, ("payment", "codes"): 15_000,
}
P99_TARGET_MS = {"binding": 0.25, "payment": 0.6}
FULL_SHARE_TARGET = {"binding": 0.45}
LOAD_TARGET_MS = 150
LOG_COST_TARGET = 0.30


def raw_decide(segment: Segment, base: dict[str, Any], sid: str, counts: list[int] | None = None) -> bool:
    """One decision with nothing but durable_rules and the compiled actions (``counts`` gets
    the number of facts asserted): what the compiled rulesets need to run, as the driver runs
    them — a durable rule may decide several branches, an action's derivations run once the
    facts they read exist (those reading ``eligible`` once it is set), its fact asserted only
    when a condition tests it, the inferred derivations settled in one pass in dependency order,
    ``eligible`` asserted only when a condition the checks' rules cannot decide tests it."""
    handle = segment.handle
    assert handle is not None
    derived: dict[str, Any] = {}
    fired: set[int] = set()
    pending: list[Any] = []
    later: list[Any] = []  # actions waiting for ``eligible``
    failed = False
    asserted = 1
    any_fired = False
    _, offset = _dre.assert_fact(handle, segment.encode_base(sid, base))
    rules = segment.rules
    names = segment.names
    needs = segment.needs

    def act(compiled: Any) -> None:
        """Run a branch's derivations; assert its fact when a condition tests it."""
        nonlocal asserted
        produced = compiled.derive(base, derived)
        if compiled.encode_fact is not None:
            _dre.assert_fact(handle, compiled.encode_fact(sid, produced))
            asserted += 1

    def run_ready() -> bool:
        before = asserted
        progress = True
        while progress and pending:
            progress = False
            for item in list(pending):
                slot, compiled = item
                if derived.keys() >= needs[slot]:
                    pending.remove(item)
                    act(compiled)
                    progress = True
        return asserted > before

    def drain() -> None:
        nonlocal failed, any_fired
        started = _dre.start_action_for_state(handle, offset)
        messages = started[1] if started else None
        while messages is not None:
            any_fired = True
            name = messages[2:messages.index('"', 2)]
            if name != CATCH_ALL:
                for slot, branch in names[name]:
                    if slot in fired:
                        continue
                    fired.add(slot)
                    compiled = rules[slot].branches[branch]
                    if compiled.derive is None:
                        pass
                    elif derived.keys() >= needs[slot]:
                        act(compiled)
                        if pending:
                            run_ready()
                    elif ELIGIBLE in needs[slot] and ELIGIBLE not in derived:
                        later.append((slot, compiled))
                    else:
                        pending.append((slot, compiled))
                    if compiled.outcome == "fail":
                        failed = True
            messages = _dre.complete_and_start_action(handle, offset)

    def settle_derivations() -> None:
        for slot, branch, slot_needs in segment.inferred_derivations:  # in dependency order: one pass
            if slot not in fired and derived.keys() >= slot_needs:
                fired.add(slot)
                before = asserted
                act(rules[slot].branches[branch])
                if pending:
                    run_ready()
                if asserted > before:
                    drain()

    try:
        drain()
        settle_derivations()
        for slot in _failing_alone(segment):  # checks that fail by holding alone
            if slot not in fired:
                failed = True
        derived["eligible"] = not failed
        pending += later
        if pending and run_ready():
            drain()
        if segment.assert_eligible:
            _dre.assert_fact(handle, encode_eligible(sid, not failed))
            asserted += 1
            drain()
        settle_derivations()
        if not any_fired:
            _dre.assert_fact(handle, encode_catch_all(sid))
            drain()
    finally:
        _dre.delete_state(handle, sid)
    if counts is not None:
        counts.append(asserted)
    return not failed


# id(segment) -> (the segment, its slots): the segment is kept so that its id cannot be reused by
# another engine's segment while the entry exists (a bare id could answer for the wrong one)
_FAILING_ALONE: dict[int, tuple[Segment, tuple[int, ...]]] = {}


def _failing_alone(segment: Segment) -> tuple[int, ...]:
    """The checks of ``segment`` whose inferred branch fails (they fail when nothing else fired),
    once per segment as the driver's generated settle step has them."""
    entry = _FAILING_ALONE.get(id(segment))
    if entry is None:
        entry = _FAILING_ALONE[id(segment)] = (segment, tuple(
            slot for slot, inferred, _, failing in settle_plan(segment) if failing is not None and inferred in failing))
    return entry[1]


def interleaved(runs: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, float]:
    """Best rate (per CPU second) of each variant, the variants taking turns within every round."""
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            start = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - start)
    return {name: count / max(seconds, 1e-9) for name, seconds in best.items()}


def paired_cost(base: Callable[[list[Any]], None], other: Callable[[list[Any]], None], docs: list[Any],
                chunk: int = 250, pairs: int = 40, clock: Callable[[], float] = time.process_time) -> float:
    """How much more CPU ``other`` takes than ``base`` (0.25: +25 %): the median, over ``pairs``
    short paired rounds on the same ``chunk`` of documents, of other's time over base's, each
    pair run in ABBA order.  A ratio of two best-of-N rates compares moments that may be minutes
    apart, which a shared VM's drifting load can move by tens of per cent; the two halves of a
    pair are milliseconds apart, and the median drops the pairs a burst hit."""
    ratios = []
    for index in range(pairs):
        start = (index * chunk) % max(1, len(docs) - chunk + 1)
        part = docs[start:start + chunk]
        times = []
        for run in (base, other, other, base):
            began = clock()
            run(part)
            times.append(clock() - began)
        ratios.append((times[1] + times[2]) / max(times[0] + times[3], 1e-9) - 1)
    return statistics.median(ratios)


def p99_ms(engine: Engine, docs: list[dict[str, Any]]) -> float:
    clock = time.thread_time_ns
    samples = []
    for doc in docs:
        start = clock()
        engine.decide(doc).to_dict()
        samples.append(clock() - start)
    samples.sort()
    return samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6


def bench(request: str, count: int, rounds: int, rulesets: str) -> dict[str, float]:
    docs = list(documents(count, request))
    engine = Engine.load(rulesets)
    prepared = []
    for doc in docs:  # every segment used is prepared at load; warm the renderers outside the timed loops
        normalized = engine.normalize(doc)
        city = engine.cities[normalized.city]
        segment = city.segment(city.switch_assignment(), normalized.as_of, normalized.request)
        engine.decide(doc).to_dict()
        prepared.append((segment, normalized.base))
    asserted: list[int] = []
    eligible_raw = [raw_decide(seg, base, f"w{i}", asserted) for i, (seg, base) in enumerate(prepared)]
    eligible_ours = [engine.decide(doc).eligible for doc in docs]
    if eligible_raw != eligible_ours:
        raise SystemExit("raw and engine decisions differ: the baseline is not the same decisions")

    def deciding(one: Engine) -> Callable[[list[dict[str, Any]]], None]:
        """Full decisions of ``one`` over a list of documents (the log's runs and its pairs too)."""
        def run(part: list[dict[str, Any]]) -> None:
            decide = one.decide
            for doc in part:
                decide(doc).to_dict()
        return run

    def codes() -> None:
        decide = engine.decide
        for doc in docs:
            decision = decide(doc)
            _ = decision.eligible, decision.fail_codes, decision.payment

    def raw() -> None:
        for i, (segment, base) in enumerate(prepared):
            raw_decide(segment, base, f"r{i}")

    runs: dict[str, Callable[[], None]] = {"raw": raw, "full": functools.partial(deciding(engine), docs),
                                           "codes": codes}
    with tempfile.TemporaryDirectory() as folder:
        engines = {mode: Engine.load(rulesets, decision_log=Path(folder) / f"{mode}.jsonl", log_salt=b"bench",
                                     log_mode=mode) for mode in ("group", "strict")}
        engines["group_full"] = Engine.load(rulesets, decision_log=Path(folder) / "full.jsonl", log_salt=b"bench",
                                            log_mode="group", log_fields="full")

        for mode in engines:
            runs[f"log_{mode}"] = functools.partial(deciding(engines[mode]), docs)
            runs[f"log_{mode}"]()  # warm its renderers outside the timed rounds
        gc.collect()
        gc.freeze()  # what a long-running service does after start-up
        try:
            results = interleaved(runs, count, rounds)
            for mode in engines:
                results[f"cost_{mode}"] = paired_cost(deciding(engine), deciding(engines[mode]), docs)
            results["p99_ms"] = p99_ms(engine, docs)
        finally:
            gc.unfreeze()
            for other in engines.values():
                other.close()
    results["eligible_share"] = sum(eligible_ours) / count
    results["asserts"] = statistics.mean(asserted)
    return results


def load_ms(rulesets: str, times: int, cache: bool = True) -> tuple[float, float]:
    """Medians of the CPU and the wall time of ``Engine.load`` (prepared: compiled and
    registered) in fresh processes, through the default cache of analysed rulesets (warmed by
    a first, untimed load) or with none (``GONGJI_CACHE_DIR=off``)."""
    code = ("import time, sys; from engine import Engine; c = time.process_time(); t = time.perf_counter(); "
            "Engine.load(sys.argv[1]); print(time.process_time() - c, time.perf_counter() - t)")
    env = dict(os.environ)
    if not cache:
        env["GONGJI_CACHE_DIR"] = "off"
    else:
        subprocess.run([sys.executable, "-c", code, rulesets], capture_output=True, env=env, check=True)
    cpu, wall = [], []
    for _ in range(times):
        out = subprocess.run([sys.executable, "-c", code, rulesets], capture_output=True, text=True, check=True,
                             env=env)
        seconds = [float(x) for x in out.stdout.split()]
        cpu.append(seconds[0] * 1000)
        wall.append(seconds[1] * 1000)
    return statistics.median(cpu), statistics.median(wall)


def _row(name: str, value: str, target: str = "", ratio: str = "") -> str:
    return f"  {name:<34} {value:>14} {target:>14} {ratio:>10}"


def main_targets(args: argparse.Namespace) -> int:
    print(f"gongji benchmark: {args.count} distinct documents per request, best of {args.rounds} rounds, one core, "
          "CPU time")
    print(_row("measure", "value", "target", "÷ raw"))
    for cache, label in ((True, "load + compile (cached analysis)"), (False, "load + compile (no cache)")):
        cpu, wall = load_ms(args.rulesets, args.load_runs, cache)
        print(_row(label, f"{cpu:.0f} ms CPU", f"≤ {LOAD_TARGET_MS} ms" if cache else "", f"{wall:.0f} wall"))
    requests = ["binding", "payment"] if args.request == "both" else [args.request]
    for request in requests:
        r = bench(request, args.count, args.rounds, args.rulesets)
        raw = r["raw"]
        share = FULL_SHARE_TARGET.get(request)
        codes_label = "eligible + codes" if request == "binding" else "plan + codes"
        print(f"{request} ({r['eligible_share']:.0%} eligible)")
        print(_row("raw durable_rules", f"{raw:,.0f}/s", "", "100%"))
        print(_row("asserts per decision (raw)", f"{r['asserts']:.1f}", "≤ 5" if request == "payment" else ""))
        print(_row("full: decide().to_dict()", f"{r['full']:,.0f}/s",
                   f"≥ {TARGETS[(request, 'full')]:,}/s" + (f", {share:.0%}" if share else ""),
                   f"{r['full'] / raw:.0%}"))
        print(_row(codes_label, f"{r['codes']:,.0f}/s", f"≥ {TARGETS[(request, 'codes')]:,}/s",
                   f"{r['codes'] / raw:.0%}"))
        for mode, label in (("group", "group"), ("strict", "strict"), ("group_full", "group, --log-fields full")):
            print(_row(f"full + log ({label})", f"{r[f'log_{mode}']:,.0f}/s",
                       f"cost ≤ {LOG_COST_TARGET:.0%}" if mode == "group" else "", f"+{r[f'cost_{mode}']:.0%}"))
        print(_row("p99 CPU, full", f"{r['p99_ms']:.3f} ms", f"≤ {P99_TARGET_MS[request]} ms"))
    return 0


# ------------------------------------------------------------------------------ raw, two trees side by side

# One process per source tree: it imports that tree's engine and its own ``raw_decide`` (the raw
# driver of the compiled rulesets it was written for), prepares the documents, then times one
# round each time the parent asks, so that the two trees' rounds alternate within the same minute.
_RAW_CHILD = """
import gc, os, sys, time
tree, request, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree)
os.chdir(tree)
from engine.runtime.api import Engine
from engine.tools import bench
from engine.tools.samples import documents
engine = Engine.load("rulesets")
prepared = []
for doc in documents(count, request):
    facts = engine.normalize(doc)
    city = engine.cities[facts.city]
    prepared.append((city.segment(city.switch_assignment(), facts.as_of, request), facts.base))
    engine.decide(doc)
raw = bench.raw_decide
asserted = []
try:
    for i, (segment, base) in enumerate(prepared):
        raw(segment, base, "w%d" % i, asserted)
except TypeError:  # a raw driver that does not count its asserts
    asserted = []
    for i, (segment, base) in enumerate(prepared):
        raw(segment, base, "w%d" % i)
gc.collect()
gc.freeze()
patterns = {}
for segment, _ in prepared:
    patterns[id(segment)] = sum(len(rule["all"]) for rule in segment.durable.values())
print("ready", sum(asserted) / len(asserted) if asserted else -1,
      sum(patterns.values()) / len(patterns), flush=True)
rounds = 0
for line in sys.stdin:
    if line.strip() != "run":
        break
    rounds += 1
    start = time.process_time()
    for i, (segment, base) in enumerate(prepared):
        raw(segment, base, "r%d_%d" % (rounds, i))
    print(time.process_time() - start, flush=True)
"""


def main_raw_vs(args: argparse.Namespace) -> int:
    """Raw durable_rules of this tree against another source tree (``--against``, e.g. a
    ``git worktree`` of an older commit), each in its own process, their rounds alternating:
    the best rate of each (decisions per CPU second), the ratio, and the asserts per decision."""
    here = str(Path(__file__).resolve().parents[2])
    request = "payment" if args.request == "both" else args.request
    trees = {"against": str(Path(args.against).resolve()), "this": here}
    children = {}
    for name, tree in trees.items():
        children[name] = subprocess.Popen([sys.executable, "-c", _RAW_CHILD, tree, request, str(args.count)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    best: dict[str, float] = {}
    try:
        info = {}
        for name, child in children.items():
            assert child.stdout is not None
            _, asserts, patterns = child.stdout.readline().split()
            info[name] = (float(asserts), float(patterns))
        for _ in range(args.rounds):
            for name, child in children.items():
                assert child.stdin is not None and child.stdout is not None
                child.stdin.write("run\n")
                child.stdin.flush()
                seconds = float(child.stdout.readline())
                best[name] = min(best.get(name, float("inf")), seconds)
    finally:
        for child in children.values():
            with contextlib.suppress(OSError):
                assert child.stdin is not None
                child.stdin.close()
            child.wait()
    print(f"raw durable_rules, {request}: {args.count} distinct documents, best of {args.rounds} alternating "
          "rounds, CPU time")
    for name, tree in trees.items():
        asserts, patterns = info[name]
        counted = f"  asserts per decision {asserts:.1f}" if asserts >= 0 else ""  # an old driver counts none
        print(f"  {name:<8} {args.count / best[name]:>10,.0f}/s{counted}  patterns per segment used {patterns:.1f}"
              f"  ({tree})")
    print(f"  ratio    {best['against'] / best['this']:.2f}x")
    return 0


# ------------------------------------------------------------------------------ memory


def mixed_documents(engine: Engine, seed: int = 14) -> Iterator[dict[str, Any]]:
    """Endless distinct documents of both requests with random dates (1990-2045) and, on every
    other document, a random switch assignment of its city."""
    rng = random.Random(seed)
    options = {cid: {name: list(switch.option_names) for name, switch in city.view.switches.items()}
               for cid, city in engine.cities.items()}
    cities = sorted(options)
    index = 0
    while True:
        city = rng.choice(cities)
        doc = document(rng, index, rng.choice(("binding", "payment")), city)
        doc["as_of"] = (_dt.date(1990, 1, 1) + _dt.timedelta(days=rng.randrange(20000))).isoformat()
        if rng.random() < 0.5:
            doc["switches"] = {name: rng.choice(opts) for name, opts in options[city].items()}
        index += 1
        yield doc


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main_memory(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as folder:
        log = dict(decision_log=Path(folder) / "decisions.jsonl", log_salt=b"bench", log_mode="group") \
            if args.log else {}
        with Engine.load(args.rulesets, freeze=True, **log) as engine:
            return _memory_run(engine, sorted(args.checkpoints), args.log)


def _memory_run(engine: Engine, checkpoints: list[int], logged: bool) -> int:
    print(f"gongji memory: {checkpoints[-1]:,} mixed decisions (random dates and switches"
          f"{', decision log on' if logged else ''}); RSS after load {rss_mib():.1f} MiB")
    errors = 0
    for done, doc in enumerate(mixed_documents(engine), 1):
        try:
            engine.decide(doc).to_dict()
        except EngineError:  # a limit reached is counted, the run goes on
            errors += 1
        if done in checkpoints:
            print(f"  after {done:>9,} decisions: RSS {rss_mib():8.1f} MiB  ({errors} refused)", flush=True)
            if done == checkpoints[-1]:
                break
    return 0


# ------------------------------------------------------------------------------ cold start


COLD_TARGET_MS = 300


def main_cold(args: argparse.Namespace) -> int:
    """``gongji decide FILE`` as whole fresh processes: the median wall and CPU time (user + system,
    from ``getrusage``) of ``--load-runs`` runs after one untimed run that fills the cache."""
    import resource

    gongji = Path(sys.executable).with_name("gongji")
    command = [str(gongji) if gongji.exists() else sys.executable, *([] if gongji.exists() else ["-m", "engine.cli"]),
               "decide", args.facts, "--rulesets", args.rulesets]
    subprocess.run(command, capture_output=True, check=True)
    walls, cpus = [], []
    for _ in range(args.load_runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    print(f"cold `gongji decide {args.facts}` ({args.load_runs} fresh processes, cache warm): "
          f"median {statistics.median(walls):.0f} ms wall, {statistics.median(cpus):.0f} ms CPU "
          f"(target ≤ {COLD_TARGET_MS} ms)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=["targets", "memory", "cold", "raw-vs"], default="targets")
    parser.add_argument("--against", help="raw-vs: the other source tree (e.g. a git worktree of an older commit)")
    parser.add_argument("--facts", default="examples/chuzhou-payment.yaml", help="cold: the document decided")
    parser.add_argument("--count", type=int, default=4000, help="distinct fact documents per request type")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--load-runs", type=int, default=5, help="fresh processes timing Engine.load")
    parser.add_argument("--rulesets", default="rulesets")
    parser.add_argument("--request", choices=["binding", "payment", "both"], default="both")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="memory: numbers of decisions after which RSS is printed")
    parser.add_argument("--log", action="store_true",
                        help="memory: decide with a decision log (group commit, compact lines, in a temporary folder)")
    args = parser.parse_args(argv)
    if args.what == "raw-vs" and not args.against:
        parser.error("raw-vs needs --against DIR")
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    if args.what == "cold":
        return main_cold(args)
    if args.what == "raw-vs":
        return main_raw_vs(args)
    return main_memory(args) if args.what == "memory" else main_targets(args)


if __name__ == "__main__":
    raise SystemExit(main())
