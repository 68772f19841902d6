"""What the service serves: the current Engine (replaced atomically on reload) and its settings."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from ..runtime.api import Engine
from ..core.errors import EngineError, Issue, SourceLocation

log = logging.getLogger("gongji.service")

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Request body limits in bytes (413 above them)."""

    document: int = 1 * MiB
    batch: int = 256 * MiB


def compile_engine(rulesets: str | Path, switches: Mapping[str, str] | None = None,
                   all_switches: bool = True) -> Engine:
    """Load, validate and compile every segment (every switch combination when ``all_switches``;
    the default options are also registered with durable_rules), or raise with every issue."""
    engine = Engine.load(rulesets, switches=switches)
    issues = engine.check(all_switches=all_switches)
    if issues:
        raise EngineError(issues, f"rulesets {rulesets}: {len(issues)} compile problem(s)")
    return engine


def engine_sha256(engine: Engine) -> str:
    """One hash naming the whole ruleset set in force (over every city's content hash)."""
    digest = hashlib.sha256()
    for cid in sorted(engine.cities):
        digest.update(f"{cid}={engine.cities[cid].sha256}\n".encode())
    return digest.hexdigest()


class ServiceState:
    """The engine being served and everything a request handler needs.

    ``engine`` is replaced by one attribute assignment on reload, so a request that read it keeps
    deciding with the engine it started with; ``rulesets`` is the directory reloads read."""

    def __init__(self, rulesets: str | Path = "rulesets", *, engine: Engine | None = None,
                 switches: Mapping[str, str] | None = None, decision_log: Any = None, limits: Limits | None = None,
                 all_switches: bool = True):
        self.rulesets = Path(rulesets)
        self.switches = dict(switches or {})
        self.all_switches = all_switches
        self.engine: Engine = engine if engine is not None else compile_engine(rulesets, self.switches, all_switches)
        self.sha256 = engine_sha256(self.engine)
        self.decision_log = decision_log  # an engine.auditlog.DecisionLog or None
        self.limits = limits or Limits()
        self.ready = True
        self.reload_hook: Any = None  # set by the supervisor: reload every worker, not only this process
        self._reload_lock = threading.Lock()

    def swap(self, engine: Engine) -> None:
        self.engine = engine
        self.sha256 = engine_sha256(engine)

    def reload(self) -> tuple[bool, list[Issue]]:
        """Compile the rulesets directory again; swap only if everything compiled."""
        with self._reload_lock:
            try:
                engine = compile_engine(self.rulesets, self.switches, self.all_switches)
            except EngineError as error:
                log.warning("reload of %s failed; the previous rulesets keep serving: %s", self.rulesets,
                            "; ".join(i.format() for i in error.issues))
                return False, list(error.issues)
            except Exception as exc:  # an unreadable directory etc.: keep serving, report it
                log.exception("reload of %s failed", self.rulesets)
                return False, [Issue("reload_failed", f"{type(exc).__name__}: {exc}",
                                     SourceLocation(str(self.rulesets)))]
            self.swap(engine)
            log.info("reloaded %s: sha256 %s", self.rulesets, self.sha256)
            return True, []
