"""engine.core.semantics.NullProof: the pruned search for a path that reaches a derivation without
its input gives the same answers as trying every choice of the inputs the path mentions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from engine.core import semantics
from engine.core.layering import collect_views

ROOT = Path(__file__).resolve().parents[2]
TREES = [ROOT / "tests" / "fixtures" / "rulesets",  # the engine tests' snapshot of the rulesets
         ROOT / "tests" / "fixtures" / "invalid" / "nullable_input" / "rulesets",
         ROOT / "tests" / "fixtures" / "invalid" / "nullable_input--param" / "rulesets"]


def _every_choice(proof: semantics.NullProof, tv: Any, index: int, known: dict[Any, Any],
                  others: list[Any], choices: list[tuple[Any, ...]]) -> bool:
    """The search as it was before the pruning: every full choice, one by one."""
    return any(proof.reachable(tv, index, full) and proof.feasible(full)
               for full in ({**known, **dict(zip(others, values))} for values in itertools.product(*choices)))


def _questions(proof: semantics.NullProof) -> list[tuple[Any, int, dict[Any, Any], list[Any], list[Any]]]:
    """Every question ``issues()`` can ask, with the input absent and also present (so that
    both answers occur: with valid rules an absent input reaches no derivation)."""
    out = []
    for tv in proof.versions:
        for index, action in enumerate(tv.actions):
            for derivation in (action.derive if action is not None else ()):
                for operand in proof.reads(derivation.expr):
                    var = (operand.kind, operand.name)
                    others = [v for v in proof.branch_variables(tv, index) if v != var]
                    choices = [proof.domains[v[1]] if v[0] == "derived" else (False, True) for v in others]
                    out += [(tv, index, {var: present}, others, choices) for present in (False, True)]
    return out


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_pruned_search_answers_as_trying_every_choice(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[bool, bool]] = []
    issues = semantics.NullProof.issues

    def checked(proof: semantics.NullProof) -> list[Any]:
        for tv, index, known, others, choices in _questions(proof):
            asked.append((proof.witness(tv, index, known, others, choices),
                          _every_choice(proof, tv, index, known, others, choices)))
        return issues(proof)

    monkeypatch.setattr(semantics.NullProof, "issues", checked)
    _collection, views, _issues = collect_views(tree)
    for view in views.values():
        semantics.analyse(view)
    assert asked, "the proof ran on no derivation: the comparison would be empty"
    assert all(pruned == every for pruned, every in asked), [i for i, (p, e) in enumerate(asked) if p != e]
    answers = {answer for answer, _ in asked}
    # both answers were compared (the invalid trees' few derivations are all reachable)
    assert answers == ({True} if "invalid" in tree.parts else {True, False})
