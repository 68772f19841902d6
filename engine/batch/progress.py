"""Progress on stderr: a bar with rows/s and ETA on a terminal (tqdm), plain periodic lines
otherwise (logs, CI).  It only ever writes to its own stream, never to the output."""

from __future__ import annotations

import time
from typing import Any, TextIO

MODES = ("auto", "bar", "lines", "none")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """``update(n)`` after each chunk; ``close()`` at the end.  The bar is created on the first
    update, after the worker processes were forked (tqdm may start a thread)."""

    def __init__(self, stream: TextIO, total: int | None, label: str, mode: str = "auto", every: float = 10.0):
        if mode == "auto":
            isatty = getattr(stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "lines"
        self.stream = stream
        self.total = total
        self.label = label
        self.mode = mode
        self.every = every
        self.done = 0
        self.started = time.monotonic()
        self.last = self.started
        self._bar: Any = None

    def update(self, rows: int) -> None:
        self.done += rows
        if self.mode == "bar":
            if self._bar is None:
                import tqdm

                tqdm.tqdm.monitor_interval = 0  # no monitor thread in a process that forks workers
                self._bar = tqdm.tqdm(total=self.total, unit=" rows", unit_scale=True, file=self.stream,
                                      desc=self.label, dynamic_ncols=True, smoothing=0.1, mininterval=0.5)
            self._bar.update(rows)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self.last >= self.every:
                self.last = now
                print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done} rows"
        if self.total:
            text += f" of {self.total} ({100 * self.done / self.total:.1f}%)"
        text += f", {rate:.0f} rows/s, elapsed {_duration(elapsed)}"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_duration((self.total - self.done) / rate)}"
        return text

    def close(self, ok: bool = True) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and ok:
            print(self.line(time.monotonic()) + " — done", file=self.stream, flush=True)
