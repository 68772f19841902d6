"""Same decisions from two source trees: decide one corpus with each, compare byte for byte.

``python -m tests.fuzz.differential --against DIR [--count N]`` (``make check-same AGAINST=main``)
decides, in one process per tree (each importing its own engine and rulesets), the property
corpus: ``engine.tools.samples.documents(N, request, city=...)`` for both requests and every city,
then as many documents again with random dates (1990-2045) and, on half of them, random switch
assignments (as ``bench memory`` does).  This tree decides with ``verify=True`` (the oracle).  For
each document it compares ``to_json()`` (or the refusal's codes); for every fourth one also the
explanation (``explanation_json`` without its trace, the trace's entries in order and as a set).
Exit status 1 when any decision differs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# One line per document: request, then hashes of to_json, explanation without trace, trace,
# sorted trace ("-" where not computed), or "error" and the hash of the refusal's codes.
_CHILD = """
import datetime as dt, hashlib, json, os, random, sys
tree, count, verify = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
sys.path.insert(0, tree)
os.chdir(tree)
from engine.runtime.api import Engine
from engine.core.errors import EngineError
from engine.runtime.explain import explanation_json
from engine.tools.samples import document, documents
engine = Engine.load("rulesets", verify=verify)
cities = sorted(engine.cities)

def corpus():
    for request in ("payment", "binding"):
        for city in cities:
            yield from documents(count, request, seed=2026, city=city)
    rng = random.Random(77)
    options = {cid: {name: list(s.option_names) for name, s in c.view.switches.items()}
               for cid, c in engine.cities.items()}
    for index in range(count * len(cities)):
        city = rng.choice(cities)
        doc = document(rng, index, "payment" if index % 4 else "binding", city)
        doc["as_of"] = (dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(20000))).isoformat()
        if rng.random() < 0.5:
            doc["switches"] = {name: rng.choice(opts) for name, opts in options[city].items()}
        yield doc

def h(text):
    return hashlib.sha256(text.encode()).hexdigest()[:20]

def dumps(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

for index, doc in enumerate(corpus()):
    try:
        decision = engine.decide(doc)
    except EngineError as error:
        print(doc["request"], "error", h(repr(sorted(i.code for i in error.issues))), "-", "-", "-")
        continue
    fields = [h(decision.to_json()), "-", "-", "-"]
    if index % 4 == 0:
        data = explanation_json(decision)
        trace = data.pop("trace")
        fields[1:] = [h(dumps(data)), h(dumps(trace)), h(dumps(sorted(map(dumps, trace))))]
    print(doc["request"], *fields)
"""


def decide(tree: Path, count: int, verify: bool) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(tree), str(count), "1" if verify else "0"],
                            stdout=subprocess.PIPE, text=True)


def compare(against: Path, count: int) -> int:
    theirs, ours = decide(against, count, False), decide(ROOT, count, True)
    assert theirs.stdout is not None and ours.stdout is not None
    totals = {"documents": 0, "refused": 0, "decisions differ": 0, "explained": 0,
              "explanations differ": 0, "trace order differs": 0, "trace entries differ": 0}
    shown = 0
    for number, (old, new) in enumerate(zip(theirs.stdout, ours.stdout)):
        a, b = old.split(), new.split()
        totals["documents"] += 1
        totals["refused"] += a[1] == "error"
        width = 3 if "error" in (a[1], b[1]) else 2  # a refusal compares its codes' hash too
        if a[:width] != b[:width]:
            totals["decisions differ"] += 1
            if shown < 5:
                print(f"  document {number} ({a[0]}): decisions differ", file=sys.stderr)
                shown += 1
        if a[2] != "-" and b[2] != "-":
            totals["explained"] += 1
            totals["explanations differ"] += a[2] != b[2]
            totals["trace order differs"] += a[3] != b[3]
            totals["trace entries differ"] += a[4] != b[4]
    codes = theirs.wait(), ours.wait()
    if codes != (0, 0):
        print(f"a deciding process failed: exit statuses {codes}", file=sys.stderr)
        return 2
    print(f"{totals['documents']:,} documents decided by {against} and by {ROOT} (with the oracle): "
          f"{totals['refused']:,} refused, to_json() differs for {totals['decisions differ']:,}")
    print(f"{totals['explained']:,} explanations: differ without the trace for {totals['explanations differ']:,}; "
          f"the trace's entries differ for {totals['trace entries differ']:,}, their order for "
          f"{totals['trace order differs']:,}")
    return 1 if totals["decisions differ"] or totals["explanations differ"] or totals["trace entries differ"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.differential", description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the other source tree (e.g. a git worktree of main)")
    parser.add_argument("--count", type=int, default=2500,
                        help="documents per request and city (the corpus holds 3 x 4 cities x this many)")
    args = parser.parse_args(argv)
    return compare(Path(args.against).resolve(), args.count)


if __name__ == "__main__":
    raise SystemExit(main())
