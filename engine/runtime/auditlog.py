"""The audit decision log (one JSON line per decision) and its replay.

Each line: a decision id (UUID4), a UTC timestamp, the ruleset id + version + content hash, the
decision date and switches in effect, the input facts with personal ids replaced by a salted
keyed hash (the same person stays linkable across lines; the id is not readable), and the
decision.  Three sets of fields (``fields=``):

* ``compact`` (the default, format ``gongji.decision-log/2``): the decision as a ``record`` —
  request, city, date, ``eligible``, every reason's rule, outcome, code and how it was
  established, and the whole payment plan.  The full decision is a deterministic function of the
  facts and the ruleset content (its sha256 is on the line): ``gongji replay`` rebuilds it and
  verifies it against the record, so nothing is lost, at a fraction of the cost of rendering it.
* ``full`` (``gongji.decision-log/1``): the whole decision JSON, readable without the rulesets.
* ``minimal``: pseudonyms, request, outcome and failing codes only; not replayable.

Lines are written with ``write`` system calls of whole lines on an ``O_APPEND``
descriptor, so concurrent writers do not interleave.  Two modes:

* ``strict`` (the default): each line is written before ``decide`` returns; a crash of the
  process (even ``kill -9``) loses no decision that was returned.
* ``group`` (group commit): lines are buffered and written together, at the latest
  ``window`` seconds (default :data:`GROUP_WINDOW`) after the first of them, or as soon as
  :data:`GROUP_LINES` lines are waiting; on ``close()``, at exit, and on SIGTERM/SIGINT the
  buffer is written first.  A ``kill -9`` (or power loss) loses at most the lines of the last
  window, never more than :data:`GROUP_LINES`.  A write that fails (a full disk) keeps its
  lines: the flusher retries them (backing off up to :data:`GROUP_RETRY_MAX`), and until a
  retry succeeds ``write()`` and ``close()`` raise ``log_write_failed`` and :attr:`failure`
  holds the error, so nothing is dropped silently.

``gongji replay LOG`` re-decides every line and reports mismatches.
"""

from __future__ import annotations

import contextlib
import atexit
import datetime as _dt
import json
import os
import secrets
import tempfile
import signal
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator, Mapping

from ..core import values
from ..core.errors import InputError, Issue, SourceLocation, UsageError
from ..core.privacy import Pseudonyms
from .render import dumps, reasons_record_json, record_reasons, renderer

LOG_FORMAT = "gongji.decision-log/1"  # full and minimal lines
COMPACT_FORMAT = "gongji.decision-log/2"  # compact lines: a decision record instead of the decision
LOG_MODES = ("strict", "group")
GROUP_WINDOW = 0.01  # seconds a group-commit line may wait in memory
GROUP_LINES = 256  # lines a group-commit buffer holds at most
GROUP_RETRY_MAX = 1.0  # seconds at most between the flusher's retries of a failing write
LOG_RETRY_AFTER = 1.0  # seconds a log that failed a write is not writable() (strict mode; the service's retry-after)


MIN_SALT_BYTES = 16  # a salt file shorter than this is refused (the ones created here have 64 hex digits)
LOG_FIELDS = ("compact", "full", "minimal")
DEFAULT_LOG_FIELDS = "compact"


def _salt_error(path: Path, message: str, **kw: Any) -> UsageError:
    return UsageError([Issue("log_salt_invalid", message, SourceLocation(str(path)), **kw)])


def _read_salt(salt_path: Path) -> bytes:
    try:
        value = salt_path.read_bytes().strip()
    except OSError as exc:
        raise UsageError([Issue("log_unwritable", f"cannot read the log's salt: {exc.strerror or exc}",
                                SourceLocation(str(salt_path)))]) from exc
    if len(value) < MIN_SALT_BYTES:
        # an empty or short key would make the pseudonyms guessable: never use it silently
        raise _salt_error(salt_path, f"the salt file holds {len(value)} byte(s); a salt needs at least "
                          f"{MIN_SALT_BYTES} (delete it only if no log was written with it)",
                          expected=f"at least {MIN_SALT_BYTES} bytes", found=len(value))
    return value


def _create_salt(salt_path: Path) -> bytes:
    """Create ``<log>.salt`` atomically: the salt is written and synced to a private temporary file,
    then linked into place.  The link fails if another process got there first; then its salt,
    complete by construction, is the one every process uses."""
    value = secrets.token_hex(32).encode("ascii")
    fd, tmp = tempfile.mkstemp(prefix=f".{salt_path.name}.", dir=salt_path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(value + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, salt_path)
        except FileExistsError:
            return _read_salt(salt_path)
        return value
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def resolve_salt(path: Path, salt: str | bytes | None) -> bytes:
    """The pseudonym key: given, from $GONGJI_LOG_SALT, or a random one kept in ``<log>.salt`` (0600)."""
    if salt is not None:
        value = salt.encode("utf-8") if isinstance(salt, str) else salt
        if not value:
            raise _salt_error(path, "the log salt is empty", expected="a non-empty secret")
        return value
    env = os.environ.get("GONGJI_LOG_SALT")
    if env is not None:
        # the operator's own secret: its strength is theirs to choose, but set-and-empty is a mistake
        if not env:
            raise _salt_error(path, "$GONGJI_LOG_SALT is set but empty", expected="a non-empty secret")
        return env.encode("utf-8", "surrogateescape")
    salt_path = path.with_name(path.name + ".salt")
    if salt_path.exists():
        return _read_salt(salt_path)
    return _create_salt(salt_path)


def _text(value: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (possible in JSON input) becomes U+FFFD."""
    return value.encode("utf-8", "replace").decode("utf-8") if not value.isascii() else value


def masked_facts(document: Any, salt: bytes | Pseudonyms) -> Any:
    """The input document with both ids replaced by their pseudonyms (a shallow copy)."""
    if not isinstance(document, dict):
        return document
    hide = salt if isinstance(salt, Pseudonyms) else Pseudonyms(salt)
    facts = dict(document)
    for role in ("authorizer", "beneficiary"):
        party = facts.get(role)
        if isinstance(party, dict):
            pid = party.get("id")
            if isinstance(pid, str):
                facts[role] = {**party, "id": hide(pid if pid.isascii() else _text(pid))}
    return facts


def minimal_facts(document: Any, salt: bytes | Pseudonyms) -> dict[str, Any]:
    """``--log-fields minimal``: the pseudonyms and the request, nothing about health or money."""
    masked = masked_facts(document, salt)
    out: dict[str, Any] = {}
    if isinstance(masked, dict):
        for key in ("request", "city"):
            if isinstance(masked.get(key), str):
                out[key] = masked[key]
        for role in ("authorizer", "beneficiary"):
            party = masked.get(role)
            if isinstance(party, dict) and isinstance(party.get("id"), str):
                out[role] = {"id": party["id"]}
    return out


def _json_default(value: Any) -> Any:
    """Dates and exact decimals in documents given through the Python API."""
    if isinstance(value, _dt.date):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# one encoder for every line: json.dumps with options builds a new JSONEncoder on each call
_facts_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default).encode
# ... and JSONEncoder.encode a new C encoder.  This one is built once, without the circular-reference
# markers it would share between threads: a decided document holds only the catalog's fields, so
# nothing in it can refer to itself (a document with any other key is refused before deciding).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_facts_chunks = (_c_encoder(None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
                 if _c_encoder is not None else None)


def _facts_text(facts: Any) -> str:
    return "".join(_facts_chunks(facts, 0)) if _facts_chunks is not None else _facts_json(facts)


try:  # orjson writes the same bytes as json's C encoder with these options; the line ~1.27x faster
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; the json path below is the fallback and is tested
    _orjson = None

try:  # the compact line in C (engine/runtime/_logline.c, built by `pip install`): the same bytes
    from . import _logline
except ImportError:  # a tree whose extension is not built: the Python path below, tested as well
    _logline = None


def _utf8(text: str) -> bytes:
    # a lone surrogate from the input (JSON "\\ud800") is written as the same JSON escape
    return text.encode("utf-8", "backslashreplace")


_LINE_HEAD = f'{{"format":"{COMPACT_FORMAT}","decision_id":"'.encode("ascii")
_LINE_TIMESTAMP = b'","timestamp":"'
_RECORD_ELIGIBLE = (b'"eligible":false,"reasons":', b'"eligible":true,"reasons":')
_LINE_PAYMENT = b',"payment":'
_LINE_END = b"}}\n"
DATE_CACHE = 8192  # decision dates whose text the log keeps (a few thousand recur)


def _line_parts(decision: Any, seg_renderer: Any) -> tuple[Any, ...]:
    """(switches, switches JSON, ruleset JSON, and for the writers the bytes of a compact line
    that are neither the decision's nor its date: from the timestamp to the date, from the date
    to the facts, from the facts to the date in the record, from there to ``eligible``; and the
    segment's table of reason records).  Kept on the segment's renderer (they go when the segment
    goes): a segment belongs to one city of one loaded engine, so its ruleset (version, sha256),
    city and request are its own, and so is the content of its switches (it was compiled for
    them).  The date is not in them: a segment decides many dates (hundreds, in a batch of
    claims), and parts kept per date cost ~1.2 KB each."""
    ruleset = dumps({"id": decision.ruleset_id, "version": decision.ruleset_version, "sha256": decision.sha256})
    switches = seg_renderer.switches_json(decision.switches)
    parts = (decision.switches, switches, ruleset,
             (_utf8(f'","ruleset":{ruleset},"as_of":"'),
              _utf8(f'","switches":{switches},"fields":"compact","facts":'),
              _utf8(',"record":' + _record_head(decision, "")[:-2]), b'",',  # the head without its date's '",'
              seg_renderer.record_table()))
    seg_renderer.log_parts = parts
    return parts


_DATES: dict[int, tuple[str, bytes]] = {}  # day -> its ISO text and bytes, at most DATE_CACHE


def _date(day: int) -> tuple[str, bytes]:
    known = _DATES.get(day)
    if known is None:
        if len(_DATES) >= DATE_CACHE:
            _DATES.clear()
        text = values.format_date(day)
        known = _DATES[day] = (text, text.encode("ascii"))
    return known


def _compact_bytes(decision_id: str, timestamp: str, ruleset: str, as_of: str, switches: str, facts: Any,
                   record: str) -> bytes:
    """The compact line in UTF-8 (``ruleset``, ``switches`` and ``record`` are JSON already).
    Through orjson when it is installed and takes the facts; else (a lone surrogate, an integer
    past 64 bits) the same bytes through :mod:`json`."""
    if _orjson is not None:
        fragment = _orjson.Fragment
        try:
            return _orjson.dumps({"format": COMPACT_FORMAT, "decision_id": decision_id, "timestamp": timestamp,
                                  "ruleset": fragment(ruleset), "as_of": as_of, "switches": fragment(switches),
                                  "fields": "compact", "facts": facts, "record": fragment(record)},
                                 default=_json_default) + b"\n"
        except TypeError:  # orjson.JSONEncodeError
            pass
    return _compact_json_bytes(decision_id, timestamp, ruleset, as_of, switches, facts, record)


def _compact_json_bytes(decision_id: str, timestamp: str, ruleset: str, as_of: str, switches: str, facts: Any,
                        record: str) -> bytes:
    """:func:`_compact_bytes` through :mod:`json` alone: the writer of the lines orjson refuses."""
    return _utf8(f'{{"format":"{COMPACT_FORMAT}","decision_id":"{decision_id}","timestamp":"{timestamp}",'
                 f'"ruleset":{ruleset},"as_of":"{as_of}","switches":{switches},"fields":"compact",'
                 f'"facts":{_facts_text(facts)},"record":{record}}}\n')


def _record_head(decision: Any, as_of: str) -> str:
    return f'{{"request":"{decision.request}","city":"{decision.city}","as_of":"{as_of}",'


def decision_record_json(decision: Any, as_of: str | None = None) -> str:
    """The compact record of a decision (canonical JSON, nothing rendered): what
    :func:`record_of` takes from the decision's full JSON, built from the run directly."""
    payment = decision.payment
    return (_record_head(decision, as_of or values.format_date(decision.as_of))
            + _RECORD_ELIGIBLE[decision.eligible].decode("ascii") + reasons_record_json(decision.run)
            + (f',"payment":{_payment_json(payment)}}}' if payment is not None else "}"))


def _payment_json(payment: Mapping[str, Any]) -> str:
    """``dumps(payment)`` for the plan's fixed shape (sources are the catalog's identifiers and
    amounts formatted decimals: nothing to escape; the codes come from rule files: escaped)."""
    plan = ",".join([f'{{"source":"{item["source"]}","amount":"{item["amount"]}"}}' for item in payment["plan"]])
    incomplete = ",".join([json.encoder.encode_basestring(code) for code in payment["incomplete"]])
    return (f'{{"plan":[{plan}],"total":"{payment["total"]}","complete":{"true" if payment["complete"] else "false"},'
            f'"incomplete":[{incomplete}]}}')


def _payment_bytes(payment: Mapping[str, Any]) -> bytes:
    """``dumps(payment)`` in UTF-8 (orjson writes the same bytes; the tests compare them)."""
    return _orjson.dumps(payment) if _orjson is not None else _utf8(_payment_json(payment))


def record_of(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The compact record of a full decision (``to_dict()``): request, city, as_of, eligible,
    each reason's rule/outcome/code/established and the payment.  A replay compares a compact
    line's record with this, computed from the decision it rebuilt."""
    out: dict[str, Any] = {key: decision.get(key) for key in ("request", "city", "as_of", "eligible")}
    out["reasons"] = [{key: reason.get(key) for key in ("rule", "outcome", "code", "established")}
                      for reason in decision.get("reasons") or ()]
    if decision.get("payment") is not None:
        out["payment"] = decision["payment"]
    return out


_RANDOM = threading.local()  # per thread: ids made from os.urandom, 4 KiB at a time
_VARIANT = "89ab"
# a forked child must not hand out the ids left in its parent's pool
os.register_at_fork(after_in_child=lambda: _RANDOM.__dict__.clear())


def _uuid4_pool() -> list[str]:
    """256 random (version 4) UUIDs from one ``getrandom`` call of the OS's random source."""
    text = os.urandom(16 * 256).hex()
    # the version nibble is 4; the variant's two top bits are 10 (one of 8, 9, a, b)
    return [f"{t[:8]}-{t[8:12]}-4{t[13:16]}-{_VARIANT[int(t[16], 16) & 3]}{t[17:20]}-{t[20:]}"
            for t in [text[i:i + 32] for i in range(0, len(text), 32)]]


def _uuid4() -> str:
    """A random (version 4) UUID; formatted 256 at a time, per thread."""
    pool: list[str] | None = getattr(_RANDOM, "pool", None)
    if not pool:
        pool = _RANDOM.pool = _uuid4_pool()
    return pool.pop()


_CLOCK = threading.local()  # per thread: the timestamp text of the current second


def _timestamp() -> str:
    """Now in UTC, ISO 8601 with microseconds (as ``datetime.isoformat(timespec="microseconds")``)."""
    now = time.time_ns() // 1000
    second, micro = divmod(now, 1_000_000)
    if getattr(_CLOCK, "second", None) != second:
        _CLOCK.second = second
        _CLOCK.text = _dt.datetime.fromtimestamp(second, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_CLOCK.text}{micro:06d}+00:00"


class DecisionLog:
    """Appends one line per decision; safe to share between threads.  ``mode`` is ``strict``
    (each line written before :meth:`write` returns) or ``group`` (see the module docstring)."""

    def __init__(self, path: str | Path, salt: str | bytes | None = None, fsync: bool = False,
                 fields: str = DEFAULT_LOG_FIELDS, mode: str = "strict", window: float | None = None):
        if mode not in LOG_MODES:
            raise UsageError([Issue("invalid_log_mode", f"no decision-log mode {mode!r}", SourceLocation(),
                                    expected=f"one of {list(LOG_MODES)}", found=mode)])
        window = GROUP_WINDOW if window is None else window
        if not 0 < window <= 10:
            raise UsageError([Issue("invalid_log_window", "the group-commit window must be a positive number of "
                                    "seconds, at most 10", SourceLocation(), expected="0 < window <= 10",
                                    found=window)])
        self.path = Path(path)
        if fields not in LOG_FIELDS:
            raise UsageError([Issue("invalid_log_fields", f"log fields {fields!r} are not known", SourceLocation(),
                                    expected=f"one of {list(LOG_FIELDS)}", found=fields)])
        self.fields = fields
        self.fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the log first: a path that cannot be a log (a directory) must not leave a salt behind
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.salt = resolve_salt(self.path, salt)
        except (OSError, UsageError) as exc:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            if isinstance(exc, UsageError):
                raise
            raise UsageError([Issue("log_unwritable", f"cannot open the decision log: {exc.strerror or exc}",
                                    SourceLocation(str(path)))]) from exc
        self.fsync = fsync
        self.hide = Pseudonyms(self.salt)
        self.native = (_logline.LineWriter(self.salt, _LINE_HEAD, _LINE_TIMESTAMP, *_RECORD_ELIGIBLE, _LINE_PAYMENT,
                                           _LINE_END) if _logline is not None else None)
        self._dates: dict[int, str] = {}  # as_of -> its text, bounded
        self.mode = mode
        self.window = window
        # reentrant: the SIGTERM/SIGINT handler runs in the main thread, maybe inside write()
        self.lock = threading.RLock()
        self._ruleset_json: dict[tuple[str, str], str] = {}
        # group mode: the lines waiting, in one buffer (256 separate line objects kept alive cost
        # the decisions around them measurably more: fresh memory each time), and how many
        self._pending = bytearray()
        self._pending_lines = 0
        self._torn = False  # a failed write left part of a line in the file
        self._accepted = 0  # bytes of the last failed write's data that did reach the file
        self.failure: UsageError | None = None  # group mode: the last flush failed and is not retried yet
        self.failed_at: float | None = None  # time.monotonic() of the last failed write; None once one succeeds
        self._wake = threading.Condition(self.lock)
        self._flusher_idle = False  # the flusher waits for a batch's first line (not timing a window)
        self._batch_started = 0.0  # time.monotonic() of the pending batch's first line
        self._flusher: threading.Thread | None = None
        if mode == "group":
            _GROUP_LOGS.add(self)
            _install_signal_flush()
            self._flusher = threading.Thread(target=self._flush_loop, name="gongji-log-flush", daemon=True)
            self._flusher.start()

    def line(self, decision: Any) -> tuple[str, bytes]:
        """(decision id, the JSON line in UTF-8); the decision part is the compact record, or the
        decision's own canonical JSON (``full``), or its outcome (``minimal``)."""
        if self.fields == "compact":  # the default, and the fast path: nothing rendered
            return self._compact_line(decision)
        decision_id = _uuid4()
        ruleset = self._ruleset_json.get((decision.ruleset_id, decision.sha256))
        if ruleset is None:
            ruleset = dumps({"id": decision.ruleset_id, "version": decision.ruleset_version, "sha256": decision.sha256})
            self._ruleset_json[(decision.ruleset_id, decision.sha256)] = ruleset
        switches = renderer(decision.run.segment).switches_json(decision.switches)
        as_of = self._dates.get(decision.as_of)
        if as_of is None:
            if len(self._dates) >= 4096:
                self._dates.clear()
            as_of = self._dates[decision.as_of] = values.format_date(decision.as_of)
        head = (f'{{"format":"{LOG_FORMAT}","decision_id":"{decision_id}","timestamp":"{_timestamp()}",'
                f'"ruleset":{ruleset},"as_of":"{as_of}","switches":{switches},')
        if self.fields == "minimal":
            summary = {"eligible": decision.eligible, "codes": decision.fail_codes}  # nothing rendered
            facts = json.dumps(minimal_facts(decision.facts.document, self.hide), ensure_ascii=False,
                               separators=(",", ":"))
            return decision_id, _utf8(head + f'"fields":"minimal","facts":{facts},'
                                      f'"decision":{dumps(summary)}}}\n')
        facts = _facts_json(masked_facts(decision.facts.document, self.hide))
        return decision_id, _utf8(head + f'"facts":{facts},"decision":{decision.to_json()}}}\n')

    def _compact_line(self, decision: Any) -> tuple[str, bytes]:
        """The compact line, joined from bytes: those that depend only on the segment and its
        switches are made once (:func:`_line_parts`); per line, the id, the time, the date, the
        masked facts, the record's reasons (from the segment's table of them) and the payment:
        in C when the extension is built (``native``) and takes the document, else in Python.
        The same bytes as :func:`_compact_bytes` (the tests compare them), which writes the line
        when neither C nor orjson takes the facts."""
        run = decision.run
        seg_renderer = run.segment._renderer or renderer(run.segment)
        switches = decision.switches
        parts = seg_renderer.log_parts
        if parts is None or (parts[0] is not switches and parts[1] != seg_renderer.switches_json(switches)):
            parts = _line_parts(decision, seg_renderer)
        as_of, as_of_bytes = _date(decision.as_of)
        payment = decision.payment
        if self.native is not None:
            made: tuple[str, bytes] | None = self.native.line(
                decision.facts.document, parts[3], as_of_bytes, decision.eligible, run.branch_of,
                None if payment is None else _payment_bytes(payment))
            if made is not None:
                return made
        decision_id, timestamp = _uuid4(), _timestamp()
        facts = masked_facts(decision.facts.document, self.hide)
        try:
            facts_json = _orjson.dumps(facts, default=_json_default) if _orjson is not None else None
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits
            facts_json = None
        if facts_json is None:  # orjson refused the facts (or is missing): json's bytes
            return decision_id, _compact_json_bytes(decision_id, timestamp, parts[2], as_of, parts[1], facts,
                                                    decision_record_json(decision, as_of))
        to_date, to_facts, to_record_date, to_eligible, _ = parts[3]
        return decision_id, b"".join((
            _LINE_HEAD, decision_id.encode("ascii"), _LINE_TIMESTAMP, timestamp.encode("ascii"), to_date, as_of_bytes,
            to_facts, facts_json, to_record_date, as_of_bytes, to_eligible, _RECORD_ELIGIBLE[decision.eligible],
            record_reasons(run), _LINE_END if payment is None else _LINE_PAYMENT + _payment_bytes(payment) + _LINE_END))

    def _write_all(self, data: bytes) -> None:
        assert self.fd is not None
        prefix = b"\n" if self._torn else b""  # an earlier write stopped mid-line: end that fragment
        data = prefix + data
        written = 0
        try:
            written = os.write(self.fd, data)
            while written < len(data):  # a short write on a full disk: finish the line or fail loudly
                written += os.write(self.fd, data[written:])
            self._torn = False
            if self.fsync:
                os.fsync(self.fd)
            self.failed_at = None
        except OSError as exc:
            self.failed_at = time.monotonic()
            self._torn = self._torn or 0 < written < len(data)
            self._accepted = max(0, written - len(prefix))
            raise UsageError([Issue("log_write_failed", f"cannot write to the decision log: {exc.strerror or exc}; "
                                    "the decision was made but is not logged, so it is not returned",
                                    SourceLocation(str(self.path)))]) from exc

    def write(self, decision: Any) -> str:
        """Append the decision (strict: written on return; group: within the window); returns its id."""
        decision_id, data = self._compact_line(decision) if self.fields == "compact" else self.line(decision)
        with self.lock:
            if self.fd is None:
                raise UsageError([Issue("log_closed", "the decision log is closed", SourceLocation(str(self.path)))])
            if self.mode == "strict":
                self._write_all(data)
            else:
                if self.failure is not None:  # the flusher could not write: retry now, or report it
                    self._flush_locked()
                first = not self._pending
                self._pending += data
                self._pending_lines += 1  # a signal's flush may run between these: _flush_locked mends it
                if self._pending_lines >= GROUP_LINES:
                    self._flush_locked()
                elif first:
                    self._batch_started = time.monotonic()
                    if self._flusher_idle:  # else it is timing a window already: it reads the new start
                        self._wake.notify()
        return decision_id

    def _flush_locked(self) -> None:
        if self._pending and self.fd is not None:
            # written, then forgotten: a signal arriving between the two repeats the batch (same
            # decision ids) rather than losing it
            try:
                self._write_all(bytes(self._pending))
            except UsageError as error:
                # keep every line not wholly written for the retry (one cut short is written again
                # whole); a line holds no newline but its last byte (JSON escapes the others)
                done = self._pending.rfind(b"\n", 0, self._accepted) + 1
                self._pending_lines -= self._pending.count(b"\n", 0, done)
                del self._pending[:done]
                self.failure = error
                raise
            self._pending.clear()
        if not self._pending:
            self._pending_lines = 0
        self.failure = None

    def writable(self, pause: float = LOG_RETRY_AFTER) -> bool:
        """False while the log is known not to take lines: in group mode until the flusher's retry
        succeeds; in strict mode for ``pause`` seconds after a failed write (nothing retries
        there, so after the pause the next decision is the probe).  A service's readiness."""
        failed_at = self.failed_at
        return self.failure is None and (failed_at is None or time.monotonic() - failed_at >= pause)

    def flush(self) -> None:
        """Write every buffered line now (group mode; nothing to do in strict mode)."""
        with self.lock:
            self._flush_locked()

    def _flush_loop(self) -> None:
        """Writes a batch one window after its first line, unless a full batch was written by
        ``write`` first.  Woken only from idle (a batch's first line), never while it times a
        window: under load, waking it for every batch cost each decision more than its line
        (a thread switch for the GIL, and a second write of the batch's first line)."""
        delay = self.window
        with self.lock:
            while self.fd is not None:
                if not self._pending:
                    self._flusher_idle = True
                    self._wake.wait()
                    self._flusher_idle = False
                    continue
                remaining = self._batch_started + delay - time.monotonic()
                if remaining > 0:  # the first line of the batch waits at most one window
                    self._wake.wait(remaining)
                    continue  # the batch may have been written meanwhile, and another begun
                try:
                    self._flush_locked()
                    delay = self.window
                except UsageError:
                    # log_write_failed (kept in self.failure: write() and close() report it); the
                    # lines stay buffered and are tried again, less often while it keeps failing
                    delay = min(GROUP_RETRY_MAX, delay * 2)
                    self._batch_started = time.monotonic()

    def close(self) -> None:
        with self.lock:
            if self.fd is not None:
                try:
                    self._flush_locked()
                finally:
                    os.close(self.fd)
                    self.fd = None
                    self._wake.notify_all()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(timeout=1)
        _GROUP_LOGS.discard(self)


_GROUP_LOGS: weakref.WeakSet[DecisionLog] = weakref.WeakSet()
_SIGNALS_INSTALLED = False
_ATEXIT_INSTALLED = False


def flush_group_logs() -> None:
    """Write what every open group-commit log holds (at exit and on SIGTERM/SIGINT)."""
    for log in list(_GROUP_LOGS):
        if log.lock.acquire(timeout=1):  # a signal may arrive while this thread holds the lock
            try:
                log._flush_locked()
            except UsageError:  # log_write_failed: nothing more can be done while exiting
                pass
            finally:
                log.lock.release()


def _install_signal_flush() -> None:
    """Flush group logs before SIGTERM/SIGINT take their previous course (main thread only)."""
    global _SIGNALS_INSTALLED, _ATEXIT_INSTALLED
    if not _ATEXIT_INSTALLED:
        _ATEXIT_INSTALLED = True
        atexit.register(flush_group_logs)
    if _SIGNALS_INSTALLED or threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; at exit the buffer is written
    _SIGNALS_INSTALLED = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number: int, frame: Any, previous: Any = previous) -> None:
            flush_group_logs()
            if callable(previous):
                previous(number, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        signal.signal(signum, handler)


# ------------------------------------------------------------------------------ reading and replay


@dataclass
class LogLine:
    number: int
    entry: dict[str, Any] | None
    problem: Issue | None = None
    path: str = ""


def read_log(path: Path) -> Iterator[LogLine]:
    """Every line of a log; a corrupt line is reported with its number and the rest still read."""
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError([Issue("file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable",
                                f"cannot read the decision log: {exc.strerror or exc}",
                                SourceLocation(str(path)))]) from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield parse_log_line(path, number, line)


def parse_log_line(path: Path, number: int, line: str) -> LogLine:
    """One non-blank line of a log: its entry, or the problem that makes it unreadable."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        return LogLine(number, None, Issue("corrupt_log_line", f"not JSON: {exc.msg} (column {exc.colno})",
                                           SourceLocation(str(path), number, exc.colno)), str(path))
    # a compact line (gongji.decision-log/2) holds a "record" where a full one holds the "decision"
    needed = ("ruleset", "as_of", "facts", "record" if isinstance(entry, dict) and "decision" not in entry
              and "record" in entry else "decision")
    missing = [k for k in needed if not isinstance(entry, dict) or k not in entry]
    if missing:
        return LogLine(number, None, Issue("corrupt_log_line", f"a decision-log line needs {missing}",
                                           SourceLocation(str(path), number, 1), expected=missing), str(path))
    return LogLine(number, entry, path=str(path))


def document_from_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The fact document a log line was decided from: its (masked) facts with the logged
    ``as_of`` and switches, so that a replay decides the same day under the same options."""
    document = dict(entry["facts"])
    if entry.get("as_of") is not None:
        document["as_of"] = entry["as_of"]
    if entry.get("switches"):
        document["switches"] = entry["switches"]
    return document
