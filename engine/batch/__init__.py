"""Population scale: ``gongji batch`` (every core, or Apache Spark), ``gongji synth`` and
``gongji impact``.

* :mod:`.runner` — one job over every row of a large input, in order, streaming; local process
  pool (engine loaded once per worker) or Spark (:mod:`.spark`);
* :mod:`.formats` / :mod:`.records` — JSON Lines, CSV (dotted columns) and Parquet in and out;
* :mod:`.rows` — one input row -> one output row (decision summary, full decision, or error row);
* :mod:`.synth` — a reproducible synthetic population; :mod:`.impact` — the HTML impact report.
"""

from __future__ import annotations

from typing import Any


def register_cli(sub: Any, common: Any) -> None:
    """Add ``batch``, ``synth`` and ``impact`` (called by :func:`engine.cli.build_parser`)."""
    from .cli import register_cli as register

    register(sub, common)
