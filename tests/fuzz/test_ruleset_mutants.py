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
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)
    return text + tail if isinstance(data, dict) or not tail else tail




def _chain(city: str) -> list[str]:
    data = FILES[city]
    province = next(rel for rel, d in FILES.items() if isinstance(d, dict) and d.get("ruleset") == data["parent"])
    return ["national.yaml", province, city]


def run_case(mutation: Mutation, workdir: Path) -> str:
    """Load and compile the mutant; returns "ok" or the sorted codes; raises on anything else."""
    case = Path(tempfile.mkdtemp(dir=workdir))
    try:
        (case / "sources").symlink_to(RULESETS / "sources")
        for rel in set(_chain(mutation.city)) | {mutation.file}:
            target = case / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel == mutation.file:
                target.write_text(mutate(mutation), encoding="utf-8")
            else:
                target.symlink_to(RULESETS / rel)
        with watchdog(TIMEOUT):
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
    (a signal) leaves its reproducer behind."""
    found: list[str] = []
    rng = random.Random(seed_value)
    for _ in range(examples):
        mutation = _random_mutation(rng)
        Path(status_path).write_text(mutation.describe(), encoding="utf-8")
        try:
            run_case(mutation, Path(workdir))
        except Exception as exc:  # reported, the batch goes on
            found.append(f"{mutation.describe()}: {type(exc).__name__}: {str(exc)[:300]}")
    Path(status_path).write_text(json.dumps({"done": examples, "failures": found}), encoding="utf-8")
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


def run_forked(seed_value: int, examples: int, workdir: Path) -> tuple[int, list[str]]:
    """Run a batch in a forked child; a child killed by a signal is a crash with its reproducer."""
    status = workdir / f"status-{seed_value}.json"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _child(seed_value, examples, str(workdir), str(status))
        finally:
            os._exit(70)
    _, code = os.waitpid(pid, 0)
    text = status.read_text(encoding="utf-8") if status.exists() else ""
    if os.WIFSIGNALED(code) or os.WEXITSTATUS(code) != 0:
        return 0, [f"crash (status {code}) in mutant {text}"]
    result = json.loads(text)
    return result["done"], result["failures"]


def test_a_forked_batch_survives_and_reports(workdir: Path) -> None:
    """The subprocess mode: a short batch in a forked child ends normally with no failures."""
    done, failures = run_forked(SEED, 5, workdir)
    assert failures == []
    assert done == 5


def main(argv: list[str] | None = None) -> int:
    """``make fuzz-rules SECONDS=N``: forked batches with fresh seeds until the time is up."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="first batch seed (default: drawn and printed)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    workdir = Path(tempfile.mkdtemp(prefix="gongji-mutants-"))
    deadline = time.monotonic() + args.seconds
    tried, failures, batch_seed = 0, [], args.seed
    print(f"ruleset mutant fuzz: first seed {args.seed}, {args.seconds:.0f} s, batches of {args.batch}")
    try:
        while time.monotonic() < deadline:
            done, found = run_forked(batch_seed, args.batch, workdir)
            tried += done
            failures += found
            for failure in found:
                print(f"FAIL seed {batch_seed}: {failure}", flush=True)
            batch_seed += 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{tried} mutants tried, {len(failures)} failure(s) (uncaught exceptions, hangs over {TIMEOUT} s, crashes)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
