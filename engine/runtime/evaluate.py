"""The synchronous durable_rules driver: one session per decision, always cleaned up.

For one decision: assert the base fact, run actions to quiescence (each action derives facts
and asserts them, which may fire further rules), record every firing, then (stratified
negation) settle the checks that did not fire and, when rules read ``eligible``, assert it and
run to quiescence again.  The session state is deleted in ``finally``.  Errors inside actions
are never swallowed: the action is abandoned, the state deleted, and an EvaluationError
raised.  Only this module and compile.py know durable_rules exists.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine as _dre

from ..core.catalog import ELIGIBLE
from ..core.compile import CATCH_ALL, CompiledBranch, Segment, encode_catch_all, encode_eligible, generated_code
from ..core.errors import EvaluationError, Issue, SourceLocation


MAX_RULESETS = 1024  # distinct durable_rules rulesets per process (each costs ~0.4 MB, never freed)


class _Registry:
    """durable_rules rulesets can be neither replaced nor freed: register each content once, and
    at most ``limit`` of them (past it a decision needing a new one fails with
    ``ruleset_limit_reached``: memory stays bounded whatever the requests)."""

    def __init__(self, limit: int = MAX_RULESETS) -> None:
        self.handles: dict[str, int] = {}
        self.lock = threading.Lock()
        self.limit = limit

    def handle(self, segment: Segment) -> int:
        if segment.handle is not None:
            return segment.handle
        with self.lock:
            handle = self.handles.get(segment.digest)
            if handle is None:
                if len(self.handles) >= self.limit:
                    raise EvaluationError([Issue("ruleset_limit_reached", f"{segment.city} {segment.request} "
                                                 f"{segment.period.describe()}: already {len(self.handles)} compiled "
                                                 "rulesets registered with durable_rules in this process, the limit; "
                                                 "restrict the switches decisions may choose (decision_switches=) "
                                                 "or raise engine.evaluate.REGISTRY.limit", SourceLocation(),
                                                 expected=f"at most {self.limit}", found=len(self.handles) + 1)])
                name = f"gongji_{segment.city}_{segment.request}_{segment.digest[:20]}"
                try:
                    handle = _dre.create_ruleset(name, json.dumps(segment.durable, ensure_ascii=False))
                except Exception as exc:  # durable_rules only says "error code: N"
                    raise EvaluationError([Issue("engine_rejected_ruleset", f"durable_rules refused the compiled "
                                                 f"ruleset for {segment.city} {segment.request} "
                                                 f"{segment.period.describe()}: {exc}", SourceLocation())]) from exc
                self.handles[segment.digest] = handle
            segment.handle = handle
            return handle


REGISTRY = _Registry()
_SESSION_IDS = itertools.count(1)


@dataclass(slots=True)
class Firing:
    """One rule branch that held: fired in durable_rules, or established after quiescence."""

    slot: int
    branch: int
    rule_name: str  # durable_rules rule name; "" when established by the driver
    messages: str  # durable_rules' matched facts (raw JSON, parsed only for explanations)
    values: tuple[Any, ...] = ()

    @property
    def inferred(self) -> bool:
        return not self.rule_name


@dataclass(slots=True)
class Run:
    segment: Segment
    base: dict[str, Any]
    derived: dict[str, Any]
    firings: list[Firing]
    branch_of: dict[int, int]  # slot -> branch that held
    eligible: bool
    failed: list[int] = field(default_factory=list)  # slots of failing checks
    sid: str = ""  # the durable_rules session the decision used (deleted when it ended)


def _fault(code: str, message: str) -> EvaluationError:
    return EvaluationError([Issue(code, message, SourceLocation())])


def run(segment: Segment, base: dict[str, Any]) -> Run:
    """Decide one request in one compiled segment."""
    handle = segment.handle if segment.handle is not None else REGISTRY.handle(segment)
    sid = str(next(_SESSION_IDS))
    derived: dict[str, Any] = {}
    firings: list[Firing] = []
    branch_of: dict[int, int] = {}
    session = _Session(handle, sid, segment, base, derived, firings, branch_of)
    started = decided = False
    try:
        result, session.offset = _dre.assert_fact(handle, segment.encode_base(sid, base))
        if result not in (0, 1):
            raise _fault("engine_refused_fact", f"durable_rules refused the fact (code {result})")
        started = True
        session.drain()
        session.settle_derivations()
        eligible, failed = _settle(segment, derived, branch_of, firings)
        derived["eligible"] = eligible
        if session.later and session.take_later():
            session.drain()
        if session.pending and session.run_ready():  # actions reading ``eligible`` (stratum 2)
            session.drain()
        if segment.assert_eligible:
            _dre.assert_fact(handle, encode_eligible(sid, eligible))
            session.drain()
        session.settle_derivations()
        if session.pending:
            slot = session.pending[0][0]
            missing = [n for n in segment.rules[slot].inputs if n not in derived]
            raise _fault("inputs_missing", f"rule {segment.rules[slot].rule_id!r} fired, but its derivations "
                         f"could not run: derived fact(s) {missing} were never produced")
        _check_complete(segment, branch_of, firings)
        if not session.fired:  # nothing fired: let the catch-all fire, or deleting the state crashes
            _dre.assert_fact(handle, encode_catch_all(sid))
            session.drain()
        started = False
        decided = True
    except EvaluationError:
        raise
    except MemoryError as exc:  # durable_rules out of sessions or memory: not a fault of the rules' actions
        raise _fault("engine_resources_exhausted", f"durable_rules ran out of memory or sessions while evaluating "
                     f"{segment.city} {segment.request}: {exc or 'MemoryError'}") from exc
    except Exception as exc:
        raise _fault("action_failed", f"{type(exc).__name__} while evaluating {segment.city} "
                     f"{segment.request}: {exc}") from exc
    finally:
        if started:
            with contextlib.suppress(Exception):  # nothing started: deleting the state below is what matters
                _dre.abandon_action(handle, session.offset)
        if decided:
            _dre.delete_state(handle, sid)
        else:  # a fault is on its way out; the state may never have been created (the first assert failed)
            with contextlib.suppress(Exception):
                _dre.delete_state(handle, sid)
    return Run(segment, base, derived, firings, branch_of, eligible, failed, sid)


class _Session:
    """One decision's durable_rules session and the actions waiting for their inputs.

    durable_rules decides which branch of a rule holds (its patterns test only what the
    condition tests); the branch's derivations run as soon as every derived fact they read
    exists — at once in the common case, later when a predecessor has not run yet — and their
    fact is asserted only when some compiled condition tests it."""

    __slots__ = ("handle", "sid", "segment", "base", "derived", "firings", "branch_of", "offset", "pending", "later",
                 "fired")

    def __init__(self, handle: int, sid: str, segment: Segment, base: dict[str, Any], derived: dict[str, Any],
                 firings: list[Firing], branch_of: dict[int, int]):
        self.handle = handle
        self.sid = sid
        self.segment = segment
        self.base = base
        self.derived = derived
        self.firings = firings
        self.branch_of = branch_of
        self.offset = 0
        self.pending: list[tuple[int, CompiledBranch, Firing]] = []
        # slot -> (branch, rule name, messages) of a branch reading ``eligible`` that fired before it was set
        self.later: dict[int, tuple[int, str, str]] = {}
        self.fired = False

    def drain(self) -> None:
        handle, offset = self.handle, self.offset
        names, rules, branch_of = self.segment.names, self.segment.rules, self.branch_of
        started = _dre.start_action_for_state(handle, offset)
        messages = started[1] if started else None
        while messages is not None:
            self.fired = True
            name = messages[2:messages.index('"', 2)]
            if name != CATCH_ALL:
                for slot, branch in names[name]:  # usually one; more when branches share a rule
                    previous = branch_of.get(slot)
                    if previous is None:
                        compiled = rules[slot].branches[branch]
                        if compiled.reads_eligible and ELIGIBLE not in self.derived:
                            previous = self.later.setdefault(slot, (branch, name, messages))[0]
                            if previous == branch:
                                continue  # held by a failing check: taken once eligibility is settled
                        else:
                            self.take(slot, branch, compiled, Firing(slot, branch, name, messages))
                            continue
                    if previous != branch:
                        raise _fault("conflicting_branches", f"rule {rules[slot].rule_id!r}: branches {previous} "
                                     f"and {branch} both held; the compiled guards are inconsistent")
            messages = _dre.complete_and_start_action(handle, offset)

    def take(self, slot: int, branch: int, compiled: CompiledBranch, firing: Firing) -> bool:
        """Branch ``branch`` of the rule in ``slot`` fired: record it and run its action (now if
        its inputs exist, else once they do); True when a fact was asserted."""
        self.branch_of[slot] = branch
        self.firings.append(firing)
        if compiled.derive is None:
            return False
        if self.derived.keys() >= self.segment.needs[slot]:
            asserted = self.run(compiled, firing)  # the usual case: its inputs exist already
            if self.pending:
                asserted = self.run_ready() or asserted  # what it derived may be what a waiting action reads
            return asserted
        self.pending.append((slot, compiled, firing))
        return False

    def take_later(self) -> bool:
        """Once ``eligible`` is set: the branches that read it and fired with a failing check
        (their rules are those of the failing checks), in the order they fired; True when a
        fact was asserted."""
        asserted = False
        for slot, (branch, name, messages) in self.later.items():
            compiled = self.segment.rules[slot].branches[branch]
            asserted = self.take(slot, branch, compiled, Firing(slot, branch, name, messages)) or asserted
        self.later.clear()
        return asserted

    def settle_derivations(self) -> None:
        """Stratified negation for derivations: at quiescence, a rule whose inputs all exist and
        none of whose compiled branches fired holds its inferred branch; its action runs and
        its fact is asserted, and the session runs to quiescence again before the next one.
        One pass: the plan is in dependency order, so a rule's producers are judged before it
        (a rule whose inputs are still missing waits for the next call, after ``eligible``)."""
        derived, branch_of = self.derived, self.branch_of
        for slot, branch, needs in self.segment.inferred_derivations:
            if slot not in branch_of and derived.keys() >= needs:
                branch_of[slot] = branch
                firing = Firing(slot, branch, "", "")
                self.firings.append(firing)
                asserted = self.run(self.segment.rules[slot].branches[branch], firing)
                if self.pending:
                    asserted = self.run_ready() or asserted  # what it derived may be what a waiting action reads
                if asserted:
                    self.drain()  # its fact may fire rules: quiescent again before the next is judged

    def run_ready(self) -> bool:
        """Run every waiting action whose inputs exist (each may make others ready); True when
        one asserted a fact."""
        derived, needs = self.derived, self.segment.needs
        asserted = False
        progress = True
        while progress and self.pending:
            progress = False
            for item in list(self.pending):
                slot, compiled, firing = item
                if derived.keys() >= needs[slot]:
                    self.pending.remove(item)
                    asserted = self.run(compiled, firing) or asserted
                    progress = True
        return asserted

    def run(self, compiled: CompiledBranch, firing: Firing) -> bool:
        """Run one action: its derivations, and its fact asserted when a condition tests it
        (then True: rules may fire)."""
        firing.values = compiled.derive(self.base, self.derived)  # type: ignore[misc]
        if compiled.encode_fact is None:
            return False
        _dre.assert_fact(self.handle, compiled.encode_fact(self.sid, firing.values))
        return True


def settle_plan(segment: Segment) -> tuple[tuple[int, int | None, tuple[str, ...], frozenset[int] | None], ...]:
    """Per stratum-1 rule: (slot, inferred branch, inputs, failing branches if it is a check)."""
    plan = segment._settle_plan
    if plan is None:
        plan = tuple((rule.slot, rule.inferred, tuple(n for n in rule.inputs if n != "eligible"),
                      frozenset(i for i, b in enumerate(rule.branches) if b.outcome == "fail")
                      if rule.kind == "check" else None)
                     for rule in segment.rules if rule.stratum == 1)
        segment._settle_plan = plan
    return plan


def _settle(segment: Segment, derived: dict[str, Any], branch_of: dict[int, int],
            firings: list[Firing]) -> tuple[bool, list[int]]:
    """Checks and info rules whose compiled branches did not fire hold their inferred branch."""
    settle = segment._settle
    if settle is None:  # a segment's first decision: not worth generating for (a cold CLI run)
        segment._settle = False
        return _settle_reference(segment, derived, branch_of, firings)
    if settle is False:
        settle = segment._settle = _generate_settle(segment)
    return settle(derived, branch_of, firings)  # type: ignore[no-any-return]


def _generate_settle(segment: Segment) -> Any:
    """:func:`_settle_reference` as straight-line code for one segment: a branch test per rule,
    the inputs tested by name, the failing branches compared as constants.  The firings of the
    inferred branches are made once: an inferred branch settled here derives nothing, so
    nothing ever writes to its firing, and decisions share it."""
    namespace: dict[str, Any] = {"_missing": _missing, "_undecided": _undecided, "_Firing": Firing}
    lines = ["def settle(derived, branch_of, firings):", "    failed = []", "    g = branch_of.get"]
    checks = 0
    for slot, inferred, inputs, failing in settle_plan(segment):
        lines.append(f"    x = g({slot})")
        if inferred is not None:
            shared = segment.rules[slot].branches[inferred].derive is None
            namespace[f"_f{slot}"] = Firing(slot, inferred, "", "") if shared else None
            lines.append("    if x is None:")
            for name in inputs:
                lines.append(f"        if {name!r} not in derived:")
                lines.append(f"            _missing(_rules, {slot}, {name!r})")
            lines.append(f"        branch_of[{slot}] = x = {inferred}")
            lines.append(f"        firings.append(_f{slot})" if shared else
                         f"        firings.append(_Firing({slot}, {inferred}, '', ''))")
        if failing is not None:
            checks += 1
            if inferred is None:
                lines.append("    if x is None:")
                lines.append(f"        _undecided(_rules, {slot})")
            if failing:
                lines.append(f"    if {' or '.join(f'x == {b}' for b in sorted(failing))}:")
                lines.append(f"        failed.append({slot})")
    lines.append(f"    return {'not failed' if checks else 'False'}, failed")
    namespace["_rules"] = segment.rules
    exec(generated_code("\n".join(lines) + "\n", f"<settle {segment.city} {segment.request}>"), namespace)
    return namespace["settle"]


def _missing(rules: list[Any], slot: int, name: str) -> None:
    raise _fault("inputs_missing", f"rule {rules[slot].rule_id!r} could not be decided: "
                 f"derived fact {name!r} was never produced")


def _undecided(rules: list[Any], slot: int) -> None:
    raise _fault("check_undecided", f"check {rules[slot].rule_id!r} reached no branch")


def _settle_reference(segment: Segment, derived: dict[str, Any], branch_of: dict[int, int],
                      firings: list[Firing]) -> tuple[bool, list[int]]:
    """The meaning of the generated settle functions (the tests compare both)."""
    failed = []
    checks = 0
    for slot, inferred, inputs, failing in settle_plan(segment):
        branch = branch_of.get(slot)
        if branch is None and inferred is not None:
            for name in inputs:
                if name not in derived:
                    raise _fault("inputs_missing", f"rule {segment.rules[slot].rule_id!r} could not be decided: "
                                 f"derived fact {name!r} was never produced")
            branch_of[slot] = branch = inferred
            firings.append(Firing(slot, inferred, "", ""))
        if failing is not None:
            checks += 1
            if branch is None:
                raise _fault("check_undecided", f"check {segment.rules[slot].rule_id!r} reached no branch")
            if branch in failing:
                failed.append(slot)
    return checks > 0 and not failed, failed


def _check_complete(segment: Segment, branch_of: dict[int, int], firings: list[Firing]) -> None:
    if len(branch_of) == len(segment.rules):  # every rule reached a branch (the usual case)
        return
    for rule in segment.rules:
        if rule.slot not in branch_of:
            if rule.inferred is not None and rule.branches[rule.inferred].derive is not None:
                raise _fault("inputs_missing", f"rule {rule.rule_id!r} could not be decided: its inputs "
                             f"{list(rule.inputs)} were never all produced")
            if rule.inferred is not None:
                branch_of[rule.slot] = rule.inferred
                firings.append(Firing(rule.slot, rule.inferred, "", ""))
                continue
            raise _fault("rule_did_not_fire", f"rule {rule.rule_id!r} ({rule.kind}) reached no branch although "
                         "its branches cover every case")
