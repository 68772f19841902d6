"""The fuzzers' watchdog: CPU time is the limit, the wall clock a backstop."""

from __future__ import annotations

import time

import pytest

from tests.fuzz.guard import Hang, watchdog


def test_a_spinning_block_is_stopped_by_its_cpu_limit() -> None:
    with pytest.raises(Hang, match="of CPU"), watchdog(0.2, wall=30):
        while True:
            pass


def test_a_blocked_block_is_stopped_by_the_wall_clock_backstop() -> None:
    with pytest.raises(Hang, match=r"within 0\.3 s$"), watchdog(5, wall=0.3):
        time.sleep(5)


def test_waiting_for_a_core_is_not_a_hang() -> None:
    """Sleeping stands in for a busy machine: wall time passes, CPU time does not."""
    with watchdog(0.2, wall=30):
        time.sleep(0.5)


def test_a_spinning_child_is_ended_by_its_cpu_limit() -> None:
    """The subprocess mode's limit: a child that spins gets SIGXCPU after its CPU seconds."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fact_fuzz import _limit_child

    done = subprocess.run([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: _limit_child(1),
                          timeout=60)
    assert done.returncode == -signal.SIGXCPU
