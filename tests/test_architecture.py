"""The package's layers, enforced: imports only go downward.

    core      the rule language: load, validate, model, layering, semantics, compile (+ errors, values)
    runtime   deciding: facts, evaluate, render, decision, explain, api, the decision log
    tools     analyst tools built on the runtime: check/test, lint, diff, replay, matrix, why-not, bench
    (top)     entry points: cli, and any subsystem package that serves or scales decisions

A module may import its own layer or any lower one, never a higher one.  Only ``core.compile``
and ``runtime.evaluate`` (and the benchmark's raw baseline) may talk to durable_rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "engine"
LAYERS = ["core", "runtime", "tools"]
DURABLE_ALLOWED = {"engine.core.compile", "engine.runtime.evaluate", "engine.tools.bench"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def rank(module: str) -> int:
    """0.. for the layers, len(LAYERS) for everything on top (cli, service, batch ...)."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    if module == "engine":  # the package root re-exports the public API
        return len(LAYERS) + 1
    return len(LAYERS)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``, including those inside functions."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target in {"engine", *(f"engine.{layer}" for layer in LAYERS)}:
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_layer_or_on_top() -> None:
    assert {p.relative_to(PACKAGE).parts[0] for p in modules() if len(p.relative_to(PACKAGE).parts) > 1} >= set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_downward(path: Path) -> None:
    module = module_name(path)
    upward = []
    for line, target in imports_of(path):
        if not target.startswith("engine.") or target == module:
            continue
        if rank(target) > rank(module):
            upward.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target} (a higher layer)")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_compile_and_evaluate_know_durable_rules(path: Path) -> None:
    if module_name(path) in DURABLE_ALLOWED:
        return
    durable = [line for line, target in imports_of(path) if target.split(".")[0] in {"durable", "durable_rules_engine"}]
    assert not durable, f"{path.relative_to(ROOT)}:{durable[0]} imports durable_rules"


def test_the_checker_sees_an_upward_import() -> None:
    """Guard the checker itself: a core module importing the runtime is reported as upward."""
    source = "from ..runtime import api\nfrom . import values\nfrom ..runtime.facts import normalize\n"
    found = [target for _, target in imports_in(source, "engine.core.model")]
    assert found == ["engine.runtime.api", "engine.core.values", "engine.runtime.facts"]
    assert all(rank(target) > rank("engine.core.model") for target in (found[0], found[2]))
    assert rank("engine.cli") > rank("engine.tools.lint") > rank("engine.runtime.api") > rank("engine.core.compile")
