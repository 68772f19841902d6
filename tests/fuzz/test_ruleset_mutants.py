"""Ruleset mutation fuzzing: every mutant of the shipped rulesets loads, or is refused with coded issues.

A mutant is one shipped ruleset file (of the engine tests' frozen snapshot, tests/fixtures/rulesets, so
that policy edits do not move the regression cases) with one change, drawn by hypothesis from the shapes of
``schemas/ruleset.schema.json``: a key dropped or renamed (to another field name of the schema), a
value replaced by a wrong type or another enum value of the schema, two values swapped, a value
nested hundreds of levels deep, a node shared (written as a YAML anchor and alias), or an alias bomb
appended.  Each mutant is written into a copy of its chain (national, one province, one city) and
loaded and compiled like ``gongji check --default-switches`` does (without registering anything
with durable_rules).  The only acceptable outcomes are success, or ``RuleFileError`` /
``CompileError`` whose issues all carry a snake_case code.  Any other exception fails; a case that
runs longer than the watchdog (``GONGJI_FUZZ_TIMEOUT`` seconds, default 20) fails as a hang; a
process killed by a signal (durable_rules is C) is caught by the subprocess mode.

``make test`` runs a bounded, seeded batch (``GONGJI_FUZZ_EXAMPLES``, default 30; the seed is
fixed so the suite is deterministic, and printed; ``GONGJI_FUZZ_SEED=N|random`` varies it).  ``make fuzz-rules SECONDS=N`` runs fresh seeds in
forked children until the time is up:  ``python -m tests.fuzz.test_ruleset_mutants --seconds N``.
Minimised failures are kept in ``ruleset_regressions.json`` and replayed by every run.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from engine import CompileError, Engine, RuleFileError
from tests.fuzz.guard import suite_seed, watchdog

ROOT = Path(__file__).resolve().parents[2]
RULESETS = ROOT / "tests" / "fixtures" / "rulesets"  # the engine tests' frozen snapshot of the shipped rulesets
REGRESSIONS = Path(__file__).with_name("ruleset_regressions.json")
CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
TIMEOUT = float(os.environ.get("GONGJI_FUZZ_TIMEOUT", "20"))
EXAMPLES = int(os.environ.get("GONGJI_FUZZ_EXAMPLES", "30"))
SEED = suite_seed()
OPS = ("drop", "rename", "replace", "swap", "enum", "deep", "share", "alias_bomb", "set")


def _ruleset_files() -> dict[str, Any]:
    files = {}
    for path in sorted(RULESETS.rglob("*.yaml")):
        rel = path.relative_to(RULESETS).as_posix()
        if rel.endswith(".test.yaml") or rel.startswith("sources/"):
            continue
        files[rel] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return files


def _schema_words() -> tuple[list[str], list[Any]]:
    """Every field name and every enum/const value the ruleset schema mentions."""
    schema = json.loads((ROOT / "schemas" / "ruleset.schema.json").read_text(encoding="utf-8"))
    names: set[str] = set()
    values: list[Any] = []
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            names.update(k for k in node.get("properties", {}) if isinstance(node.get("properties"), dict))
            for key in ("enum", "examples"):
                if isinstance(node.get(key), list):
                    values.extend(v for v in node[key] if v not in values)
            if "const" in node and node["const"] not in values:
                values.append(node["const"])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return sorted(names), values


FILES = _ruleset_files()
NAMES, SCHEMA_VALUES = _schema_words()
CITIES = sorted(rel for rel, data in FILES.items() if isinstance(data, dict) and data.get("kind") == "city")


@dataclass(frozen=True)
class Mutation:
    file: str  # path under rulesets/
    city: str  # the city whose chain is loaded
    steps: tuple[int, ...]  # choose the node: index into sorted keys / list items at each level
    op: str
    payload: Any = None

    def describe(self) -> str:
        return json.dumps({"file": self.file, "city": self.city, "steps": list(self.steps), "op": self.op,
                           "payload": self.payload}, ensure_ascii=False, default=repr)


def steps_to(file: str, *path: Any) -> tuple[int, ...]:
    """The steps that lead to ``path`` (keys, list indexes, or ``("id", X)`` for the list item with that
    id) in a shipped file; used to write regression cases by name."""
    node, steps = FILES[file], []
    for key in path:
        if isinstance(key, tuple):
            key = next(i for i, item in enumerate(node) if isinstance(item, dict) and item.get(key[0]) == key[1])
        steps.append(sorted(node, key=str).index(key) if isinstance(node, dict) else key)
        node = node[key]
    return tuple(steps)


def _locate(data: Any, steps: tuple[int, ...]) -> tuple[Any, Any]:
    """(container, key) of the node the steps lead to; (None, None) for the whole document."""
    container, key = None, None
    node = data
    for step in steps:
        if isinstance(node, dict) and node:
            keys = sorted(node, key=str)
            container, key = node, keys[step % len(keys)]
        elif isinstance(node, list) and node:
            container, key = node, step % len(node)
        else:
            break
        node = container[key]
    return container, key


def _number(payload: Any) -> int:
    """A count or index from any payload (the same payload always gives the same number)."""
    if isinstance(payload, int) and not isinstance(payload, bool):
        return abs(payload)
    return len(json.dumps(payload, default=repr))


def mutate(mutation: Mutation) -> str:
    """The YAML text of the mutated file."""
    data = copy.deepcopy(FILES[mutation.file])
    container, key = _locate(data, mutation.steps)
    op, payload = mutation.op, mutation.payload
    tail = ""
    if op == "alias_bomb":
        tail = "x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
            f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 2 + _number(payload) % 8))
    elif container is None:
        data = payload if op == "replace" else data
    elif op == "drop":
        del container[key]
    elif op == "rename" and isinstance(container, dict):
        new = str(payload)
        if new not in container:
            container[new] = container.pop(key)
    elif op in ("replace", "enum"):
        container[key] = payload
    elif op == "swap":
        keys = sorted(container, key=str) if isinstance(container, dict) else list(range(len(container)))
        other = keys[_number(payload) % len(keys)]
        container[key], container[other] = container[other], container[key]
    elif op == "deep":
        value = container[key]
        for _ in range(_number(payload) % 300 + 1):
            value = [value]
        container[key] = value
    elif op == "set":  # add or replace one key of the mapping the steps lead to (payload: [key, value])
        target = container[key] if isinstance(container[key], dict) else container
        if isinstance(target, dict) and isinstance(payload, (list, tuple)) and len(payload) == 2:
            target[str(payload[0])] = payload[1]
    elif op == "share":  # the same node twice: the dumper writes an anchor and an alias
        keys = sorted(container, key=str) if isinstance(container, dict) else list(range(len(container)))
        container[keys[_number(payload) % len(keys)]] = container[key]
    text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True, sort_keys=False,
                     width=200)
    return text + tail if isinstance(data, dict) or not tail else tail




def _chain(city: str) -> list[str]:
    data = FILES[city]
    province = next(rel for rel, d in FILES.items() if isinstance(d, dict) and d.get("ruleset") == data["parent"])
    return ["national.yaml", province, city]


class _UnchangedFiles:
    """Load and build each unchanged (symlinked) file of a chain once per process.

    A mutant changes one file; the other two of its chain are the snapshot's, and reading,
    validating and building them again for every mutant was two thirds of a case.  Only files
    that are symlinks into the snapshot are memoised, so the mutated file always goes through
    the real path (``GONGJI_FUZZ_MEMO=0`` turns this off; a test checks both give the same
    outcomes)."""

    def __init__(self) -> None:
        self.loaded: dict[tuple[str, str], Any] = {}
        self.built: dict[int, Any] = {}

    def __enter__(self) -> _UnchangedFiles:
        from engine.core import layering

        real_load, real_build = layering.load_file, layering.build_file

        def load_file(path: Any, display: str | None = None, *args: Any, **kwargs: Any) -> Any:
            path = Path(path)
            if args or kwargs or not path.is_symlink():
                return real_load(path, display, *args, **kwargs)
            key = (str(path.resolve()), display or str(path))
            if key not in self.loaded:
                self.loaded[key] = real_load(path, display)
            return self.loaded[key]

        def build_file(loaded: Any, documents: dict[str, str]) -> Any:
            if not any(loaded is value for value in self.loaded.values()):
                return real_build(loaded, documents)
            if id(loaded) not in self.built:
                self.built[id(loaded)] = real_build(loaded, documents)
            built, found = self.built[id(loaded)]
            return built, list(found)

        self._saved = (real_load, real_build)
        layering.load_file, layering.build_file = load_file, build_file
        return self

    def __exit__(self, *exc: Any) -> None:
        from engine.core import layering

        layering.load_file, layering.build_file = self._saved


MEMO = _UnchangedFiles() if os.environ.get("GONGJI_FUZZ_MEMO", "1") != "0" else None


def run_case(mutation: Mutation, workdir: Path, memo: _UnchangedFiles | None = MEMO) -> str:
    """Load and compile the mutant; returns "ok" or the sorted codes; raises on anything else."""
    # the same directory for every case of a process: file names in issues stay comparable, and
    # the unchanged files' memo (keyed by the name the loader shows) can hit
    case = workdir / f"case-{os.getpid()}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir()
    try:
        (case / "sources").symlink_to(RULESETS / "sources")
        for rel in set(_chain(mutation.city)) | {mutation.file}:
            target = case / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel == mutation.file:
                target.write_text(mutate(mutation), encoding="utf-8")
            else:
                target.symlink_to(RULESETS / rel)
        with watchdog(TIMEOUT), (memo if memo is not None else contextlib.nullcontext()):
            try:
                engine = Engine.load(case)
                issues = []
                for city in engine.cities.values():
                    issues += city.compile_all(city.switch_assignment(), register=False)
            except (RuleFileError, CompileError) as error:
                issues = list(error.issues)
                assert issues, f"{type(error).__name__} without issues"
        bad = [i for i in issues if not CODE.fullmatch(i.code or "")]
        assert not bad, f"issues without a stable code: {bad}"
        return "ok" if not issues else ",".join(sorted({i.code for i in issues}))
    finally:
        shutil.rmtree(case, ignore_errors=True)


# ------------------------------------------------------------------ strategies

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=12),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["2025-02-30", "12.345", "60%",
                                                                                     "341100", "national", "-1"]))
payloads = st.one_of(scalars, st.sampled_from(NAMES), st.sampled_from(SCHEMA_VALUES) if SCHEMA_VALUES else scalars,
                     st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(NAMES), scalars, max_size=3),
                     st.integers(0, 400))


@st.composite
def mutations(draw: Any) -> Mutation:
    file = draw(st.sampled_from(sorted(FILES)))
    city = file if file in CITIES else draw(st.sampled_from([c for c in CITIES if file == "national.yaml"
                                                             or _chain(c)[1] == file] or CITIES))
    steps = tuple(draw(st.lists(st.integers(0, 10**6), min_size=0, max_size=7)))
    op = draw(st.sampled_from(OPS))
    if op == "rename":
        payload = draw(st.sampled_from(NAMES))
    elif op == "set":
        payload = [draw(st.sampled_from(NAMES)), draw(payloads)]
    else:
        payload = draw(st.sampled_from(SCHEMA_VALUES) if op == "enum" and SCHEMA_VALUES else payloads)
    return Mutation(file, city, steps, op, payload)


# ------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="gongji-mutants-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_mutation_seed_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nruleset mutant fuzz: seed {SEED}, {EXAMPLES} examples (GONGJI_FUZZ_SEED={SEED} repeats it)")


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(mutation=mutations())
def test_every_mutant_loads_or_is_refused_with_codes(mutation: Mutation, workdir: Path) -> None:
    try:
        run_case(mutation, workdir)
    except Exception as exc:
        raise AssertionError(f"mutant {mutation.describe()}: {type(exc).__name__}: {exc}") from exc


def _regressions() -> list[dict[str, Any]]:
    return json.loads(REGRESSIONS.read_text(encoding="utf-8")) if REGRESSIONS.exists() else []


@pytest.mark.parametrize("case", _regressions(), ids=lambda case: case["name"])
def test_minimised_failures_stay_fixed(case: dict[str, Any], workdir: Path) -> None:
    mutation = Mutation(case["file"], case["city"], tuple(case["steps"]), case["op"], case.get("payload"))
    assert run_case(mutation, workdir) == case["expect"]


def test_the_mutator_produces_what_it_says(workdir: Path) -> None:
    """Guard the harness itself: a dropped required field and an alias bomb are refused with their codes."""
    city = CITIES[0]
    keys = sorted(FILES[city], key=str)
    dropped = Mutation(city, city, (keys.index("version"),), "drop")
    assert "missing_field" in run_case(dropped, workdir)
    assert run_case(Mutation(city, city, (), "alias_bomb", 5), workdir) == "alias_limit_exceeded"
    assert run_case(Mutation(city, city, (keys.index("name"),), "deep", 100), workdir) == "nesting_too_deep"


def _child(seed_value: int, examples: int, workdir: str, status_path: str) -> None:
    """One fuzzing batch in a forked child: the mutant under test is written first, so a crash
    (a signal) leaves its reproducer behind.  Per case it keeps the CPU time, so a case slower
    than a second shows even when the watchdog (wall time, generous on a busy machine) did not fire."""
    found: list[str] = []
    outcomes = {"ok": 0, "refused": 0}
    slowest, slow = 0.0, 0
    rng = random.Random(seed_value)
    for _ in range(examples):
        mutation = _random_mutation(rng)
        Path(status_path).write_text(mutation.describe(), encoding="utf-8")
        started = time.process_time()
        try:
            outcomes["ok" if run_case(mutation, Path(workdir)) == "ok" else "refused"] += 1
        except Exception as exc:  # reported, the batch goes on
            found.append(f"{mutation.describe()}: {type(exc).__name__}: {str(exc)[:300]}")
        spent = time.process_time() - started
        slowest = max(slowest, spent)
        if spent > SLOW:
            slow += 1
            found.append(f"{mutation.describe()}: slow: {spent:.2f} s of CPU")
    Path(status_path).write_text(json.dumps({"done": examples, "failures": found, "outcomes": outcomes,
                                             "slowest": slowest, "slow": slow}), encoding="utf-8")
    os._exit(0)


def _random_mutation(rng: random.Random) -> Mutation:
    """The same mutation space without hypothesis (for forked batches, where hypothesis' shrinking
    and database do not help)."""
    file = rng.choice(sorted(FILES))
    candidates = [c for c in CITIES if file == "national.yaml" or file == c or _chain(c)[1] == file]
    steps = tuple(rng.randrange(10**6) for _ in range(rng.randrange(8)))
    op = rng.choice(OPS)
    pool: list[Any] = [None, True, False, 0, -1, 2**70, "", "x", 1.5, float("nan"), "2025-02-30", [], {}, [1, "a"],
                       {"id": "x"}, rng.randrange(400)] + NAMES + SCHEMA_VALUES
    payload = rng.choice(NAMES) if op == "rename" else [rng.choice(NAMES), rng.choice(pool)] if op == "set" else \
        rng.choice(pool)
    return Mutation(file, rng.choice(candidates or CITIES), steps, op, payload)


SLOW = 1.0  # CPU seconds: a case slower than this is reported as a (soft) hang


@dataclass
class Batch:
    done: int
    failures: list[str]
    outcomes: dict[str, int]
    slowest: float = 0.0


def _start(seed_value: int, examples: int, workdir: Path) -> int:
    status = workdir / f"status-{seed_value}.json"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _child(seed_value, examples, str(workdir), str(status))
        finally:
            os._exit(70)
    return pid


def _finish(seed_value: int, code: int, workdir: Path) -> Batch:
    """The batch's result; a child killed by a signal (or failing) is a crash with its reproducer."""
    status = workdir / f"status-{seed_value}.json"
    text = status.read_text(encoding="utf-8") if status.exists() else ""
    status.unlink(missing_ok=True)
    if os.WIFSIGNALED(code) or os.WEXITSTATUS(code) != 0:
        return Batch(0, [f"crash (status {code}) in mutant {text}"], {})
    result = json.loads(text)
    return Batch(result["done"], result["failures"], result["outcomes"], result["slowest"])


def run_forked(seed_value: int, examples: int, workdir: Path) -> Batch:
    """Run a batch in a forked child and wait for it."""
    pid = _start(seed_value, examples, workdir)
    _, code = os.waitpid(pid, 0)
    return _finish(seed_value, code, workdir)


def test_a_forked_batch_survives_and_reports(workdir: Path) -> None:
    """The subprocess mode: a short batch in a forked child ends normally with no failures."""
    batch = run_forked(SEED, 5, workdir)
    assert batch.failures == []
    assert batch.done == 5 == sum(batch.outcomes.values())


def test_the_unchanged_files_memo_changes_no_outcome(workdir: Path) -> None:
    """The memo of unchanged chain files is a speed-up only: the same mutants, with and without it,
    give the same outcomes (codes)."""
    rng = random.Random(SEED)
    mutants = [_random_mutation(rng) for _ in range(12)]
    mutants.append(Mutation(CITIES[0], CITIES[0], (), "alias_bomb", 2))
    with_memo = [run_case(m, workdir, _UnchangedFiles()) for m in mutants]
    assert with_memo == [run_case(m, workdir, None) for m in mutants]


def main(argv: list[str] | None = None) -> int:
    """``make fuzz-rules SECONDS=N [COUNT=M] [WORKERS=W]``: forked batches with fresh seeds until
    the time is up or COUNT mutants were tried, W batches at a time."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--count", type=int, default=None, help="stop after this many mutants")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="first batch seed (default: drawn and printed)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    workdir = Path(tempfile.mkdtemp(prefix="gongji-mutants-"))
    # Warm up here, before the batches fork: imports, validators and the memo of every unchanged
    # chain file are then inherited, so a batch's first mutant is not charged ~1 s of start-up
    # (which the per-case CPU limit reported as a slow case).  The unchanged chains must load.
    for city in CITIES:
        outcome = run_case(Mutation(city, city, (), "swap", []), workdir)  # a no-op mutation
        if outcome != "ok":
            print(f"the unchanged chain of {city} does not load: {outcome}", file=sys.stderr)
            return 2
    started = time.monotonic()
    deadline = started + args.seconds
    tried, failures, outcomes, slowest, next_seed = 0, [], {"ok": 0, "refused": 0}, 0.0, args.seed
    running: dict[int, tuple[int, int]] = {}  # pid -> (batch seed, mutants)

    def wanted() -> int:  # mutants still to start
        if time.monotonic() >= deadline:
            return 0
        in_flight = sum(size for _, size in running.values())
        return args.batch if args.count is None else max(0, args.count - tried - in_flight)

    print(f"ruleset mutant fuzz: first seed {args.seed}, up to {args.seconds:.0f} s"
          + (f" or {args.count:,} mutants" if args.count else "")
          + f", batches of {args.batch}, {args.workers} at a time", flush=True)
    last_report = started
    try:
        while running or wanted():
            while len(running) < args.workers and wanted():
                size = min(args.batch, wanted())
                running[_start(next_seed, size, workdir)] = (next_seed, size)
                next_seed += 1
            pid, code = os.waitpid(-1, 0)
            batch = _finish(running.pop(pid)[0], code, workdir)
            tried += batch.done
            failures += batch.failures
            slowest = max(slowest, batch.slowest)
            for key, value in batch.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + value
            for failure in batch.failures:
                print(f"FAIL: {failure}", flush=True)
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                print(f"  {tried:,} mutants, {len(failures)} failure(s), {tried / (last_report - started):.1f}/s",
                      flush=True)
    finally:
        for pid in running:
            os.kill(pid, 9)
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"{tried:,} mutants tried in {elapsed:.0f} s ({outcomes['ok']:,} loaded, {outcomes['refused']:,} refused "
          f"with codes), {len(failures)} failure(s) (uncaught exceptions, hangs over {TIMEOUT} s, cases over "
          f"{SLOW} s of CPU, crashes); slowest case {slowest:.2f} s of CPU")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
