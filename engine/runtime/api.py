"""The public API: ``Engine.load(path)`` compiles once; ``engine.decide(facts)`` decides many times.

Decisions are pure functions of (fact document, ruleset content, switches): the engine keeps no
state between decisions except compiled rulesets and the optional decision log.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as _dt
import gc
import hashlib
import itertools
import os
import pickle
import stat
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Mapping

from ..core import values
from ..core.compile import Segment, compile_segment, timeline
from .decision import Decision
from ..core.errors import CompileError, FactError, Issue, RuleFileError, SourceLocation, UsageError
from .evaluate import REGISTRY, run
from .render import FrozenDict
from .explain import verify_run
from .facts import Facts, normalize
from ..core.layering import Collection, ParamReference, View, collect_views
from ..core.load import Limits, limits_scope
from ..core.model import Period
from ..core.privacy import mask_pointer, mask_text
from ..core.regions import region_name
from ..core.semantics import Analysis, analyse
from ..core.validate import did_you_mean

REQUESTS = ("binding", "payment")
SEGMENT_CACHE = 64  # segments compiled for a decision's own switches, kept per city (least recently used)

SegmentKey = tuple[tuple[tuple[str, str], ...], int, str]


class City:
    """One city's merged, type-checked rules and its compiled segments.

    Three stores: segments prepared at load (the default switches; never evicted), segments a
    tool compiled for every switch combination (``segments()``: a finite set the tool asked
    for), and segments compiled on first use for a decision's own switches, of which at most
    ``cache_size`` are kept (least recently used goes; durable_rules' registration of their
    content stays, deduplicated by content in :data:`engine.evaluate.REGISTRY`)."""

    def __init__(self, view: View, analysis: Analysis, cache_size: int = SEGMENT_CACHE):
        self.view = view
        self.analysis = analysis
        self.id = view.id
        self.name = view.ruleset.name
        self.cache_size = cache_size
        self._timelines: dict[tuple[tuple[str, str], ...], tuple[list[int], list[Period]]] = {}
        self._segments: dict[SegmentKey, Segment] = {}
        self._recent: OrderedDict[SegmentKey, Segment] = OrderedDict()
        # the engine's own switches, their segment starts and segments: no lookup per decision
        self.default: tuple[Mapping[str, str], list[int], dict[tuple[int, str], Segment]] | None = None
        self._lock = threading.Lock()  # decisions in several threads may compile the same segment

    @property
    def version(self) -> str:
        return self.view.ruleset.version

    @property
    def sha256(self) -> str:
        return self.view.sha256

    def switch_assignment(self, *overrides: Mapping[str, str] | None, pointer: str = "/switches",
                          error: type = FactError) -> dict[str, str]:
        """Defaults, then each override in turn; unknown switches or options are errors."""
        assignment = self.view.switch_defaults()
        issues = []
        for override in overrides:
            for name, option in (override or {}).items():
                switch = self.view.switches.get(name)
                # names and options come from the request: free text, masked like any (privacy.py)
                where = SourceLocation(pointer=mask_pointer(f"{pointer}/{name}"))
                if switch is None:
                    issues.append(Issue("unknown_switch", f"{self.id} has no switch {mask_text(name)!r}", where,
                                        expected=f"one of {sorted(self.view.switches)}", found=mask_text(name),
                                        hint=did_you_mean(name, self.view.switches)))
                elif option not in switch.option_names:
                    issues.append(Issue("unknown_switch_option", f"switch {name!r} has no option "
                                        f"{mask_text(option)!r}", where, expected=f"one of {list(switch.option_names)}",
                                        found=mask_text(option), hint=did_you_mean(option, switch.option_names)))
                else:
                    assignment[name] = option
        if issues:
            raise error(issues)
        return assignment

    def periods(self, switches: Mapping[str, str]) -> tuple[list[int], list[Period]]:
        key = tuple(sorted(switches.items()))
        cached = self._timelines.get(key)
        if cached is None:
            periods = timeline(self.view, dict(switches))
            starts = [p.start or 0 for p in periods]
            cached = (starts, periods)
            self._timelines[key] = cached
        return cached

    def prepare_default(self, switches: Mapping[str, str]) -> None:
        """Keep the segments of the engine's own switches at hand (compiled by ``compile_all``)."""
        starts, periods = self.periods(switches)
        key = tuple(sorted(switches.items()))
        table = {(index, request): self._segments[(key, index, request)]
                 for index in range(len(periods)) for request in REQUESTS}
        self.default = (FrozenDict(switches), starts, table)

    def segment(self, switches: Mapping[str, str], day: int, request: str) -> Segment:
        """The segment deciding ``request`` on ``day`` (compiled on first use for non-default switches)."""
        starts, periods = self.periods(switches)
        index = bisect.bisect_right(starts, day) - 1
        key = (tuple(sorted(switches.items())), index, request)
        segment = self._segments.get(key)
        if segment is None:
            segment = self._recent_segment(key, switches, periods[index], request)
        if segment.issues:
            raise CompileError(segment.issues)
        return segment

    def _recent_segment(self, key: SegmentKey, switches: Mapping[str, str], period: Period,
                        request: str) -> Segment:
        with self._lock:
            segment = self._recent.get(key)
            if segment is not None:
                self._recent.move_to_end(key)
                return segment
        segment = compile_segment(self.view, self.analysis, request, dict(switches), period)
        if not segment.issues:
            with self._lock:
                self._recent[key] = segment
                while len(self._recent) > self.cache_size:
                    self._recent.popitem(last=False)
        return segment

    def segments(self, switches: Mapping[str, str]) -> Iterator[Segment]:
        """Every segment (each period of the timeline × each request) for one switch assignment;
        a segment with problems is yielded with its ``issues`` (and not cached)."""
        _, periods = self.periods(switches)
        for index, period in enumerate(periods):
            for request in REQUESTS:
                yield self._compiled(switches, index, period, request)

    def _compiled(self, switches: Mapping[str, str], index: int, period: Period, request: str) -> Segment:
        cache_key = (tuple(sorted(switches.items())), index, request)
        segment = self._segments.get(cache_key)
        if segment is None:
            segment = compile_segment(self.view, self.analysis, request, dict(switches), period)
            if not segment.issues:
                with self._lock:
                    segment = self._segments.setdefault(cache_key, segment)
        return segment

    def params_read(self) -> set[str]:
        """Every parameter some rule reads, directly or through ``{param: ...}`` references."""
        used = {name for tv in self.analysis.versions for name in tv.params}
        pending = list(used)
        while pending:
            param = self.view.parameters.get(pending.pop())
            for typed in param.versions if param is not None else ():
                if isinstance(typed.value, ParamReference) and typed.value.name not in used:
                    used.add(typed.value.name)
                    pending.append(typed.value.name)
        return used

    def all_assignments(self) -> list[dict[str, str]]:
        names = sorted(self.view.switches)
        options = [self.view.switches[n].option_names for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*options)]

    def compile_all(self, switches: Mapping[str, str], register: bool) -> list[Issue]:
        """Compile every segment for one switch assignment; returns problems instead of raising."""
        issues: list[Issue] = []
        for segment in self.segments(switches):
            issues.extend(segment.issues)
            if register and not segment.issues:
                try:
                    REGISTRY.handle(segment)
                except Exception as exc:  # EvaluationError from durable_rules' own checks
                    issues.extend(getattr(exc, "issues", []))
        return issues


class Engine:
    """Compiled rulesets of every city in a directory.

    ``Engine.load("rulesets")`` (or ``Engine("rulesets")``) validates, merges, type-checks,
    compiles every segment (each effective period × request type) under the default switches
    and registers it with durable_rules: a defect anywhere fails the load (``CompileError``),
    not a later request.  ``decide(facts)`` returns a :class:`Decision`.  The loaded engine is
    not changed by decisions (only bounded caches are filled), so one engine may be shared by
    threads.

    Options: ``switches`` (choose an option of a ruleset switch for every decision),
    ``decision_switches`` (which switches a fact document's ``switches`` may choose: ``True``
    any, ``False`` none, or a set of switch names; each other assignment compiles its
    segments on first use, ``segment_cache`` of them kept per city), ``decision_log`` (path
    of an audit log, one JSON line per decision; ``log_fields`` ``"compact"`` (default) keeps the facts
    and a decision record a replay verifies, ``"full"`` the whole decision, ``"minimal"`` only
    pseudonyms, request, city, outcome and failing codes; ``log_mode`` ``"strict"`` writes each line before
    ``decide`` returns, ``"group"`` batches lines for at most ``log_window`` seconds),
    ``verify`` (cross-check every decision against the condition IR evaluated in Python; used
    by the tests), ``limits`` (an :class:`engine.Limits`: size, line length, depth and alias
    bounds of every rule file read), ``prepare`` (``False``: compile on first use, for ``check`` which reports
    every problem itself), ``freeze`` (``gc.freeze()`` after loading, as long-running
    processes and the command line do: the compiled rules leave the collector's scans),
    ``cache_dir`` (a private directory keeping the validated, merged and analysed rulesets
    keyed by the content of every file and of the engine's code: a later load of the same
    content skips YAML, JSON Schema, layering and analysis; by default ``$GONGJI_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/gongji`` or ``~/.cache/gongji``; ``False``, or ``$GONGJI_CACHE_DIR``
    set to ``""`` or ``off``, keeps no cache; see :func:`default_cache_dir`).
    """

    def __init__(self, rulesets: str | Path = "rulesets", *, switches: Mapping[str, str] | None = None,
                 decision_log: str | Path | None = None, log_salt: str | bytes | None = None,
                 verify: bool = False, limits: Limits | None = None, log_fields: str = "compact",
                 prepare: bool = True, freeze: bool = False,
                 decision_switches: bool | Iterable[str] = True, segment_cache: int = SEGMENT_CACHE,
                 log_mode: str = "strict", log_window: float | None = None,
                 cache_dir: str | Path | None | bool = None):
        self.path = Path(rulesets)
        self.collection: Collection
        with limits_scope(limits), _collector_paused():  # bounds on every rule file read (core.load.Limits)
            self.collection, views, analyses, issues = analysed(self.path, cache_dir, limits)
        self.cities: dict[str, City] = {cid: City(views[cid], analysis, segment_cache)
                                        for cid, analysis in analyses.items()}
        if any(i.severity == "error" for i in issues):
            file_errors = any(i.severity == "error" for i in self.collection.issues)
            raise (RuleFileError if file_errors else CompileError)(issues)
        self.switches = dict(switches or {})
        for city in self.cities.values():
            known = {k: v for k, v in self.switches.items() if k in city.view.switches}
            city.switch_assignment(known, pointer="switches", error=UsageError)
        unknown = [k for k in self.switches if not any(k in c.view.switches for c in self.cities.values())]
        if unknown:
            raise UsageError([Issue("unknown_switch", f"no ruleset has switch {name!r}", SourceLocation(), found=name)
                              for name in unknown])
        self.decision_switches: bool | frozenset[str] = (decision_switches if isinstance(decision_switches, bool)
                                                         else frozenset(decision_switches))
        self.verify = verify
        if prepare:
            with _collector_paused():
                self.prepare()
        self.log = None
        if decision_log is not None:
            from .auditlog import DecisionLog

            self.log = DecisionLog(decision_log, salt=log_salt, fields=log_fields, mode=log_mode, window=log_window)
        if freeze:
            gc.collect()
            gc.freeze()

    def prepare(self) -> None:
        """Compile and register every segment under the engine's switches; raise on any defect."""
        issues: list[Issue] = []
        for city in self.cities.values():
            assignment = city.switch_assignment({k: v for k, v in self.switches.items() if k in city.view.switches})
            issues.extend(city.compile_all(assignment, register=True))
            if not issues:
                city.prepare_default(assignment)
        if issues:
            raise CompileError(issues)

    @classmethod
    def load(cls, rulesets: str | Path = "rulesets", **options: Any) -> Engine:
        """Load, validate and compile every ruleset under ``rulesets``."""
        return cls(rulesets, **options)

    def city(self, code: str) -> City:
        try:
            return self.cities[code]
        except KeyError:
            raise UsageError([Issue("unknown_city", f"no city ruleset {code!r}", SourceLocation(),
                                    expected=f"one of {sorted(self.cities)}", found=code,
                                    hint=did_you_mean(code, self.cities))]) from None

    def check(self, all_switches: bool = True) -> list[Issue]:
        """Compile every period of every city (default switches registered with durable_rules,
        every other switch combination compiled); returns the problems found."""
        issues: list[Issue] = []
        for city in self.cities.values():
            defaults = city.switch_assignment()
            issues.extend(city.compile_all(defaults, register=True))
            if all_switches:
                for assignment in city.all_assignments():
                    if assignment != defaults:
                        issues.extend(city.compile_all(assignment, register=False))
        return issues

    def normalize(self, facts: Mapping[str, Any], as_of: str | _dt.date | None = None) -> Facts:
        # no default_as_of: the normalizer reads today's date only for a document without one
        return normalize(facts, as_of=None if as_of is None else _parse_as_of(as_of))

    def decide(self, facts: Mapping[str, Any], as_of: str | _dt.date | None = None) -> Decision:
        """Decide one binding or payment request (a fact document as in docs/CONTRACT.md)."""
        normalized = self.normalize(facts, as_of)
        decision = self.decide_facts(normalized)
        if self.log is not None:
            self.log.write(decision)
        return decision

    def decide_facts(self, normalized: Facts, switches: Mapping[str, str] | None = None) -> Decision:
        city = self.cities.get(normalized.city)
        if city is None:
            pointer = "/city" if normalized.document.get("city") is not None else "/authorizer/region"
            raise FactError([Issue("unknown_city", f"no ruleset for city {normalized.city} "
                                   f"({region_name(normalized.city) or 'unknown region'})",
                                   SourceLocation(pointer=pointer), expected=f"one of {sorted(self.cities)}",
                                   found=normalized.city)])
        if city.default is not None and not switches and not normalized.switches:
            assignment, starts, table = city.default
            segment = table[(bisect.bisect_right(starts, normalized.as_of) - 1, normalized.request)]
        else:
            if normalized.switches and self.decision_switches is not True:
                self._refuse_switches(normalized.switches)
            assignment = city.switch_assignment(
                {k: v for k, v in self.switches.items() if k in city.view.switches}, switches, normalized.switches)
            segment = city.segment(assignment, normalized.as_of, normalized.request)
        result = run(segment, normalized.base)
        if self.verify:
            verify_run(result)
        return Decision(result, normalized, city.name.zh, city.version, city.sha256, assignment)

    def _refuse_switches(self, requested: Mapping[str, str]) -> None:
        allowed = self.decision_switches if isinstance(self.decision_switches, frozenset) else frozenset()
        refused = [name for name in requested if name not in allowed]
        if refused:
            raise FactError([Issue("switch_not_allowed", f"this engine does not let a fact document choose switch "
                                   f"{name!r}", SourceLocation(pointer=f"/switches/{name}"),
                                   expected=f"one of {sorted(allowed)}" if allowed else "no switches",
                                   found=name) for name in refused])

    def decide_many(self, documents: Iterable[Mapping[str, Any]]) -> Iterable[Decision | FactError]:
        """Decide each document in turn; invalid ones yield their FactError instead of stopping."""
        for document in documents:
            try:
                yield self.decide(document)
            except FactError as error:
                yield error

    def close(self) -> None:
        if self.log is not None:
            self.log.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


Analysed = tuple[Collection, dict[str, View], dict[str, Analysis], list[Issue]]
_PAUSE_LOCK = threading.Lock()
_PAUSED = [0, False]  # loads under way, and whether the collector was enabled before the first


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic garbage collection while loading and compiling: they allocate many objects
    and few cycles, and the young-generation passes they trigger were ~15 % of a load.  Loads in
    several threads nest: the last one to finish restores the collector as the first found it."""
    with _PAUSE_LOCK:
        if _PAUSED[0] == 0:
            _PAUSED[1] = gc.isenabled()
            gc.disable()
        _PAUSED[0] += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _PAUSED[0] -= 1
            if _PAUSED[0] == 0 and _PAUSED[1]:
                gc.enable()


def _collector_after_fork() -> None:
    """A child forked while a load runs in another thread (a supervisor restarting a worker during
    a reload) has no such thread: it must not keep the collector off for ever."""
    global _PAUSE_LOCK
    _PAUSE_LOCK = threading.Lock()  # another thread may have held it at the fork
    if _PAUSED[0]:
        _PAUSED[0] = 0
        if _PAUSED[1]:
            gc.enable()


os.register_at_fork(after_in_child=_collector_after_fork)
_ENGINE_DIR = Path(__file__).resolve().parent.parent  # the whole engine package


def analyse_directory(path: Path) -> Analysed:
    """Load, validate, merge and analyse every ruleset under ``path`` (no compiling)."""
    collection, views, issues = collect_views(path)
    analyses: dict[str, Analysis] = {}
    for cid, view in views.items():
        if view.ruleset.kind == "city":
            analyses[cid] = analyse(view)
            issues.extend(analyses[cid].issues)
    return collection, views, analyses, issues


def content_key(path: Path, extra: str = "") -> str:
    """sha256 of every file under ``path`` (names and bytes), of the engine's own code and of
    ``extra`` (the input limits the files were read under)."""
    digest = hashlib.sha256(extra.encode())
    for root in (_ENGINE_DIR, path):
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            if root is _ENGINE_DIR and file.suffix != ".py":
                continue
            digest.update(str(file.relative_to(root)).encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


CACHE_MAGIC = b"gongji-cache/1\n"  # then the payload's sha256 (32 bytes), then the pickle
CACHE_FILES = 16  # analysed ruleset versions kept per cache directory (the least recently used go)


def cache_key(path: Path, limits: Limits | None) -> str:
    """The cache entry's key: the content (:func:`content_key`), the limits the files are read
    under, and the directory's own path, which the analysis keeps for its messages."""
    return content_key(path, repr(limits) + "\0" + str(Path(path).resolve()))


def default_cache_dir() -> Path | None:
    """Where the analysed rulesets are cached when ``Engine(cache_dir=...)`` is not given:
    ``$GONGJI_CACHE_DIR`` (set to ``""`` or ``off``: no cache), else ``$XDG_CACHE_HOME/gongji``,
    else ``~/.cache/gongji``; None when no home directory is known."""
    env = os.environ.get("GONGJI_CACHE_DIR")
    if env is not None:
        return None if env.strip() in ("", "off") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):
        return Path(base) / "gongji"
    home = os.path.expanduser("~")
    return Path(home) / ".cache" / "gongji" if os.path.isabs(home) else None


def _read_cache(file: Path) -> Analysed | None:
    """The cached result, or None when it is missing, not ours, writable by others, or damaged (its
    digest does not match: a damaged pickle is never unpickled)."""
    try:
        with open(file, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            data = handle.read()
    except OSError:
        return None
    head = len(CACHE_MAGIC)
    if not data.startswith(CACHE_MAGIC) or hashlib.sha256(data[head + 32:]).digest() != data[head:head + 32]:
        return None
    try:
        return pickle.loads(data[head + 32:])  # type: ignore[no-any-return]
    except Exception:  # an engine change the key missed cannot happen, but never fail a load on the cache
        return None


def _write_cache(folder: Path, file: Path, result: Analysed) -> None:
    """Write atomically (a private temporary file renamed into place), then keep the newest
    :data:`CACHE_FILES` entries; any failure leaves the load unaffected."""
    with contextlib.suppress(OSError, pickle.PicklingError, RecursionError):
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        temporary = folder / f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(CACHE_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(temporary, file)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        entries = sorted(folder.glob("rulesets-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[CACHE_FILES:]:
            with contextlib.suppress(OSError):
                old.unlink()


def analysed(path: Path, cache_dir: str | Path | None | bool, limits: Limits | None = None) -> Analysed:
    """:func:`analyse_directory`, through the on-disk cache (``cache_dir``; None: the
    :func:`default_cache_dir`; False: none).

    The cache holds pickles, so its directory must be private: it is created 0700 and a
    directory others may write to is not used, nor a file that is not ours.  Each entry carries
    the sha256 of its pickle, checked before unpickling: a damaged entry is ignored and rebuilt.
    A result with errors is never cached."""
    if cache_dir is None:
        cache_dir = default_cache_dir()
    if cache_dir is None or cache_dir is False or cache_dir is True:
        return analyse_directory(path)
    folder = Path(cache_dir)
    try:
        key = cache_key(path, limits)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        private = info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    except OSError:
        return analyse_directory(path)
    file = folder / f"rulesets-{key}.pickle"
    if private:
        cached = _read_cache(file)
        if cached is not None:
            with contextlib.suppress(OSError):
                os.utime(file)  # recently used: kept by the pruning in _write_cache
            return cached
    result = analyse_directory(path)
    if private and not any(i.severity == "error" for i in result[3]):
        _write_cache(folder, file, result)
    return result


def _parse_as_of(as_of: str | _dt.date | None) -> int | None:
    if as_of is None:
        return None
    try:
        return values.parse_date(as_of)
    except values.ValueProblem as exc:
        raise UsageError([Issue("invalid_date", f"as_of: {exc}", SourceLocation(pointer="as_of"), expected=exc.expected,
                                found=str(as_of))]) from None
