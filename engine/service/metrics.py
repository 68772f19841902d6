"""Prometheus text exposition of the service's counters, summed over every worker.

Each worker counts in its own memory and, when a directory is given, writes a snapshot of its
counters to ``<dir>/worker-<pid>.json`` (write then rename: a reader never sees half a file) at
most once a second and when it stops. ``/metrics`` answered by any worker sums the snapshots of
every worker that ever ran under this supervisor with its own live counters, so counters only
grow, across restarts too (a worker killed with SIGKILL loses at most its last second).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SNAPSHOT_EVERY = 1.0  # seconds


def _key(*labels: str) -> str:
    return "\x1f".join(labels)


def _labels(names: tuple[str, ...], key: str) -> str:
    values = key.split("\x1f")
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters of one process; ``render`` sums them with the other workers' snapshots."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory else None
        self.decisions: Counter[str] = Counter()  # city, request, outcome
        self.requests: Counter[str] = Counter()  # endpoint, status
        self.errors: Counter[str] = Counter()  # code
        self.buckets: Counter[str] = Counter()  # endpoint, le
        self.latency_sum: Counter[str] = Counter()  # endpoint
        self.latency_count: Counter[str] = Counter()  # endpoint
        self.reloads: Counter[str] = Counter()  # result (counted by the supervisor)
        self._written = 0.0

    def decision(self, decision: Any) -> None:
        outcome = "eligible" if decision.eligible else "not_eligible"
        self.decisions[_key(decision.city, decision.request, outcome)] += 1

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def reload(self, result: str) -> None:
        """A reload attempt: ``ok``, ``rejected`` (the rulesets did not compile) or
        ``workers_failed`` (the new generation did not come up)."""
        self.reloads[result] += 1

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[_key(endpoint, str(status))] += 1
        self.latency_sum[endpoint] += seconds
        self.latency_count[endpoint] += 1
        for bound in BUCKETS:
            if seconds <= bound:
                self.buckets[_key(endpoint, repr(bound))] += 1
                break
        if self.directory is not None and time.monotonic() - self._written >= SNAPSHOT_EVERY:
            self.save()

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {name: dict(getattr(self, name)) for name in
                ("decisions", "requests", "errors", "buckets", "latency_sum", "latency_count", "reloads")}

    def save(self) -> None:
        if self.directory is None:
            return
        self._written = time.monotonic()
        path = self.directory / f"worker-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot()), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # metrics are best effort: never fail a request over them

    def totals(self) -> dict[str, Counter[str]]:
        """Own live counters plus every other worker's last snapshot."""
        own = self.snapshot()
        total: dict[str, Counter[str]] = {name: Counter(values) for name, values in own.items()}
        if self.directory is not None:
            mine = f"worker-{os.getpid()}.json"
            for path in sorted(self.directory.glob("worker-*.json")):
                if path.name == mine:
                    continue
                try:
                    other = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                for name, values in other.items():
                    if name in total:
                        total[name].update(values)
        return total

    def render(self, sha256: str, cities: dict[str, tuple[str, str]]) -> str:
        """The exposition text; ``cities`` maps a city to (version, sha256) of its ruleset in force."""
        total = self.totals()
        out = ["# HELP gongji_decisions_total Decisions made, by city, request and outcome.",
               "# TYPE gongji_decisions_total counter"]
        for key, value in sorted(total["decisions"].items()):
            out.append(f"gongji_decisions_total{{{_labels(('city', 'request', 'outcome'), key)}}} {int(value)}")
        out += ["# HELP gongji_http_requests_total HTTP requests, by endpoint and status.",
                "# TYPE gongji_http_requests_total counter"]
        for key, value in sorted(total["requests"].items()):
            out.append(f"gongji_http_requests_total{{{_labels(('endpoint', 'status'), key)}}} {int(value)}")
        out += ["# HELP gongji_errors_total Error answers, by error code.", "# TYPE gongji_errors_total counter"]
        for key, value in sorted(total["errors"].items()):
            out.append(f'gongji_errors_total{{code="{_escape(key)}"}} {int(value)}')
        out += ["# HELP gongji_request_duration_seconds Time to answer a request, by endpoint.",
                "# TYPE gongji_request_duration_seconds histogram"]
        for endpoint in sorted(total["latency_count"]):
            running = 0
            for bound in BUCKETS:
                running += int(total["buckets"].get(_key(endpoint, repr(bound)), 0))
                out.append(f'gongji_request_duration_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {running}')
            count = int(total["latency_count"][endpoint])
            out.append(f'gongji_request_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {count}')
            out.append(f'gongji_request_duration_seconds_sum{{endpoint="{endpoint}"}} '
                       f'{total["latency_sum"][endpoint]:.6f}')
            out.append(f'gongji_request_duration_seconds_count{{endpoint="{endpoint}"}} {count}')
        out += ["# HELP gongji_reloads_total Reload attempts, by result (ok, rejected, workers_failed).",
                "# TYPE gongji_reloads_total counter"]
        for key, value in sorted(total["reloads"].items()):
            out.append(f'gongji_reloads_total{{result="{_escape(key)}"}} {int(value)}')
        out += ["# HELP gongji_ruleset_info The rulesets in force (sha256 over every city's content hash).",
                "# TYPE gongji_ruleset_info gauge", f'gongji_ruleset_info{{sha256="{sha256}"}} 1',
                "# HELP gongji_city_ruleset_info Each city's ruleset in force.",
                "# TYPE gongji_city_ruleset_info gauge"]
        for city, (version, city_sha) in sorted(cities.items()):
            out.append(f'gongji_city_ruleset_info{{city="{city}",version="{_escape(version)}",sha256="{city_sha}"}} 1')
        return "\n".join(out) + "\n"
