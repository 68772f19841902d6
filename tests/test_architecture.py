"""The package's layers, enforced: imports only go downward.

    core      the rule language: load, validate, model, layering, semantics, compile (+ errors, values)
    runtime   deciding: facts, evaluate, render, decision, explain, api, the decision log
    tools     analyst tools built on the runtime: check/test, lint, diff, replay, matrix, why-not, bench
    (top)     entry points: cli, and any subsystem package that serves or scales decisions

A module may import its own layer or any lower one, never a higher one.  Only ``core.compile``
and ``runtime.evaluate`` (and the benchmark's raw baseline) may talk to durable_rules, and only
compile and evaluate know its fact names (``m``, ``e``, ``d<slot>``, ``v<index>``): every other
module reads conditions through typed references (``engine.core.conditions``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "engine"
LAYERS = ["core", "runtime", "tools"]
DURABLE_ALLOWED = {"engine.core.compile", "engine.runtime.evaluate", "engine.tools.bench"}
DURABLE_NAMES_ALLOWED = {"engine.core.compile", "engine.runtime.evaluate"}
# compile's names for durable_rules' facts, and the Segment/CompiledRule fields that hold them
DURABLE_NAME_IMPORTS = {"BASE", "ELIGIBLE_OWNER", "CATCH_ALL_FACT", "owners", "durable_json"}
DURABLE_NAME_ATTRIBUTES = {"owner", "ref_owner", "derived_slot"}


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


def durable_names_in(source: str, module: str) -> list[str]:
    """Where ``source`` names durable_rules' facts: compile's fact-name constants, the fields that
    hold such names, a literal ``"m"``/``"e"``, an f-string building ``d<slot>``/``v<index>``, or
    a name taken apart (``owner[1:]``)."""
    found = []
    tree = ast.parse(source)
    formatted = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("compile"):
            found += [f"{line}: imports {a.name}" for a in node.names if a.name in DURABLE_NAME_IMPORTS]
        elif isinstance(node, ast.Attribute) and node.attr in DURABLE_NAME_ATTRIBUTES:
            found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Constant) and node.value in ("m", "e") and id(node) not in formatted:
            found.append(f"{line}: {node.value!r}")
        elif (isinstance(node, ast.JoinedStr) and len(node.values) == 2 and isinstance(node.values[0], ast.Constant)
              and node.values[0].value in ("d", "v") and isinstance(node.values[1], ast.FormattedValue)):
            found.append(f"{line}: f\"{node.values[0].value}{{...}}\"")
        elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice)
              and isinstance(node.slice.lower, ast.Constant) and node.slice.lower.value == 1
              and node.slice.upper is None and "owner" in ast.unparse(node.value)):
            found.append(f"{line}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_compile_and_evaluate_know_durable_fact_names(path: Path) -> None:
    module = module_name(path)
    if module in DURABLE_NAMES_ALLOWED:
        return
    found = durable_names_in(path.read_text(encoding="utf-8"), module)
    assert not found, f"{path.relative_to(ROOT)} names durable_rules' facts: " + "; ".join(found)


def test_the_checker_sees_durable_fact_names() -> None:
    """Guard the checker itself: what counterfactual and lint did before typed references."""
    source = ("from ..core.compile import BASE, ELIGIBLE_OWNER, Test\n"
              "slot = int(test.owner[1:])\nkey = f\"v{index}\"\nowner = f\"d{slot}\"\nx = test.ref_owner\n"
              "memory = {\"e\": {}}\n")
    found = durable_names_in(source, "engine.tools.counterfactual")
    assert len(found) == 8, found
    assert durable_names_in("from ..core.conditions import DerivedRef\nname = ref.name\n", "engine.tools.lint") == []
