"""The fuzzers' shared pieces: the per-case watchdog (a Python-level hang becomes an exception naming
the case) and the seed of the bounded runs in ``make test``."""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Iterator
from typing import Any


class Hang(Exception):
    """A case ran past the watchdog's limit."""


@contextlib.contextmanager
def watchdog(seconds: float, wall: float | None = None) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread when the block uses more than ``seconds`` of CPU time,
    or runs longer than ``wall`` seconds by the clock (default: ten times ``seconds``, at least 60).

    CPU time, not wall time, is the primary limit: on a busy machine (CI, or a long run under
    ``nice``) a case that takes a millisecond of CPU can wait seconds for a core, and a wall-clock
    limit then reports hangs that are not there.  A real hang spins (it is a loop or a huge
    computation), so it uses CPU; the wall-clock backstop catches a case that blocks instead."""
    wall = max(60.0, 10 * seconds) if wall is None else wall

    def fire(signum: int, frame: Any) -> None:
        what = f"{seconds} s of CPU" if signum == signal.SIGPROF else f"{wall} s"
        raise Hang(f"no result within {what}")

    previous = signal.signal(signal.SIGPROF, fire), signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, wall)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


# ``make test`` must land the same way on every machine, so its bounded fuzz batches use a fixed
# seed; exploring fresh seeds is the job of ``make fuzz-facts`` / ``make fuzz-rules`` (whose
# minimised findings become regression cases).  GONGJI_FUZZ_SEED=N replays or varies a run,
# GONGJI_FUZZ_SEED=random draws one (and the run prints it).
SUITE_SEED = 20261201


def suite_seed() -> int:
    """The seed of the bounded fuzz batches in the test suite."""
    value = os.environ.get("GONGJI_FUZZ_SEED", "").strip()
    if value == "random":
        return random.SystemRandom().randrange(2**32)
    return int(value) if value else SUITE_SEED
