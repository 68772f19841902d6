"""``gongji serve`` whose workers misbehave at start when a marker file says so (tests only).

``GONGJI_TEST_WORKER_MARK`` names a file read by every worker as it starts: ``crash`` makes it
exit at once, ``hang`` makes it never start, ``slow SECONDS`` delays its start; absent or empty,
it starts normally. So a test can let a reload's new generation fail the way a worker crashing
at start (a segfault in the C extension, a broken import) would, with real processes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from engine.cli import main
from engine.service import command

_console_routes = command._console_routes


def _misbehaving_routes(state: Any) -> list[Any]:
    mark = Path(os.environ["GONGJI_TEST_WORKER_MARK"])
    words = mark.read_text(encoding="utf-8").split() if mark.exists() else []
    if words[:1] == ["crash"]:
        os._exit(70)
    if words[:1] == ["hang"]:
        time.sleep(3600)
    if words[:1] == ["slow"]:
        time.sleep(float(words[1]))
    return _console_routes(state)


if __name__ == "__main__":
    command._console_routes = _misbehaving_routes  # type: ignore[assignment]
    sys.exit(main())
