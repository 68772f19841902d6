"""``gongji batch``, ``gongji synth`` and ``gongji impact`` (registered by engine/cli.py)."""

from __future__ import annotations

import argparse
from functools import partial
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Iterator

from ..core.errors import Issue, SourceLocation, UsageError
from . import formats, rows
from .progress import MODES, Progress
from .runner import DEFAULT_CHUNK, BatchFailure, Job, RunOptions, bind, run
from ..tools.cliargs import whole_number

EXIT_OK, EXIT_INVALID, EXIT_INTERNAL = 0, 1, 3




def add_runner_options(p: argparse.ArgumentParser) -> None:
    """--workers / --engine / --master / --chunk-size, shared by batch, impact, diff --replay and replay."""
    p.add_argument("--engine", choices=["local", "spark"], default="local",
                   help="local: a process pool on this machine (default); spark: Apache Spark")
    p.add_argument("--workers", type=whole_number(1), metavar="N", help="local worker processes (default: every core)")
    p.add_argument("--master", metavar="URL", help="Spark master (default local[*], or spark-submit's)")
    p.add_argument("--chunk-size", type=whole_number(1), default=DEFAULT_CHUNK, metavar="ROWS",
                   help=f"rows per task (default {DEFAULT_CHUNK})")


def run_options(args: argparse.Namespace) -> RunOptions:
    if args.master and args.engine != "spark":
        raise UsageError([Issue("invalid_option", "--master needs --engine spark", SourceLocation(),
                                expected="--engine spark", found=args.master)])
    if args.workers and args.engine == "spark":
        raise UsageError([Issue("invalid_option", "--workers is for the local engine (Spark: --master local[N])",
                                SourceLocation(), expected="--engine local", found=str(args.workers))])
    return RunOptions(engine=args.engine, workers=args.workers, master=args.master, chunk=args.chunk_size)


def line_runner(options: RunOptions) -> Callable[..., Iterator[list[Any]]]:
    """The parallel runner the analyst tools take (diff --replay, replay): ``runner(load, dirs,
    work, path, state)`` applies ``work`` to the JSON Lines of ``path`` chunk by chunk, in order."""

    def runner(load: Callable[..., Any], dirs: tuple[str, ...], work: Callable[..., list[Any]], path: str,
               state: Any = None) -> Iterator[list[Any]]:
        return run(Job(load, dirs, work), formats.Source(path, "jsonl"), options, state=state)

    return runner


def _with_runner(command: Callable[..., int], args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    args.runner = line_runner(run_options(args))
    return command(args, out, err)


def plug_into_tools(sub: Any) -> None:
    """``gongji diff --replay`` and ``gongji replay`` decide on this runner (every core by default,
    or Spark): they take a ``runner`` and this package, above them, provides it."""
    for name in ("diff", "replay"):
        parser = sub.choices.get(name)
        if parser is None:
            continue
        add_runner_options(parser)
        parser.set_defaults(func=partial(_with_runner, parser.get_default("func")))


def register_cli(sub: Any, common: Any) -> None:
    plug_into_tools(sub)
    p = sub.add_parser("batch", help="decide a whole population (JSONL/CSV/Parquet) on every core or on Spark")
    p.add_argument("input", metavar="INPUT", help="fact documents: .jsonl, .csv (dotted columns) or .parquet")
    p.add_argument("--out", required=True, metavar="OUTPUT", help="results: .jsonl, .csv or .parquet ('-': stdout)")
    p.add_argument("--fields", choices=rows.FIELDS, default="summary",
                   help="summary (default: one slim row per decision) or full (adds the whole decision JSON)")
    p.add_argument("--input-format", choices=formats.FORMATS)
    p.add_argument("--output-format", choices=formats.FORMATS)
    p.add_argument("--as-of", help="decision date YYYY-MM-DD for every row (overrides the documents')")
    p.add_argument("--switch", action="append", metavar="NAME=OPTION", help="choose a switch option")
    p.add_argument("--salt", help="key for the hashed ids (default $GONGJI_LOG_SALT, else a random one kept in "
                   "OUTPUT.salt, as the decision log does)")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="auto: a bar on a terminal, lines every --progress-every seconds otherwise")
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS")
    add_runner_options(p)
    common(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("synth", help="write a reproducible synthetic population of fact documents")
    p.add_argument("--n", type=whole_number(1), required=True, metavar="N", help="number of documents")
    p.add_argument("--out", required=True, metavar="FILE", help=".jsonl, .csv or .parquet")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--format", choices=formats.FORMATS, dest="output_format")
    common(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("impact", help="re-decide a population under two ruleset versions; HTML report with charts")
    p.add_argument("old", metavar="OLD_DIR")
    p.add_argument("new", metavar="NEW_DIR")
    p.add_argument("--population", required=True, metavar="FILE", help=".jsonl, .csv or .parquet fact documents")
    p.add_argument("--input-format", choices=formats.FORMATS)
    p.add_argument("--html", metavar="FILE", help="write the self-contained HTML report here")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON here")
    p.add_argument("--progress", choices=MODES, default="auto")
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS")
    add_runner_options(p)
    p.set_defaults(func=cmd_impact)


def _salt(args: argparse.Namespace, err: TextIO) -> bytes:
    if args.salt:
        return args.salt.encode("utf-8")
    if os.environ.get("GONGJI_LOG_SALT"):
        return os.environ["GONGJI_LOG_SALT"].encode("utf-8")
    if args.out == "-":
        print("gongji batch: ids hashed with a one-off salt (give --salt or $GONGJI_LOG_SALT to link runs)", file=err)
        return secrets.token_hex(32).encode("utf-8")
    from ..runtime.auditlog import resolve_salt

    return resolve_salt(Path(args.out), None)


def _engine(args: argparse.Namespace) -> Any:
    from ..cli import load_engine

    engine = rows.warm(load_engine(args))
    if args.as_of is not None:
        from ..runtime.api import _parse_as_of

        _parse_as_of(args.as_of)  # a bad --as-of is a usage error, not one error row per input row
    return engine


class Tally:
    """The closing summary: decisions by city x request x outcome, error rows by code."""

    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.error_rows = 0
        self.rows = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        self.rows += len(records)
        for record in records:
            if record["status"] == "decided":
                outcome = "eligible" if record["eligible"] else "not_eligible"
                self.outcomes[(record["city"], record["request"], outcome)] += 1
            else:
                self.error_rows += 1
                self.errors.update(set(record["error_codes"]))

    def text(self, out_label: str) -> str:
        lines = [f"{self.rows} row(s) -> {out_label}: {self.rows - self.error_rows} decided, "
                 f"{self.error_rows} error row(s)"]
        if self.outcomes:
            lines.append("  city    request  outcome         rows")
            lines.extend(f"  {city:<7} {request:<8} {outcome:<15} {count}"
                         for (city, request, outcome), count in sorted(self.outcomes.items()))
        if self.errors:
            lines.append("  error rows by code:")
            ranked = sorted(self.errors.items(), key=lambda item: (-item[1], item[0]))
            lines.extend(f"    {code}: {count}" for code, count in ranked)
        return "\n".join(lines)


def cmd_batch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    in_fmt = formats.guess_format(args.input, args.input_format, "input")
    out_fmt = formats.guess_format(args.out, args.output_format, "output") if args.out != "-" else (
        args.output_format or "jsonl")
    options = run_options(args)
    source = formats.Source(args.input, in_fmt)
    if options.engine == "local":
        source.check()
    from ..tools.cliargs import parse_switches

    switches = parse_switches(args.switch)
    engine = _engine(args)  # fails early (before any worker starts) on rulesets that do not load
    salt = _salt(args, err)
    job = Job(rows.load_engine, (args.rulesets,), bind(rows.decide_chunk, fmt=in_fmt, fields=args.fields, salt=salt,
                                                        as_of=args.as_of), {"switches": switches})
    writer = formats.Writer(args.out, out_fmt, rows.columns(args.fields), stdout=out)
    summary_stream = err if args.out == "-" else out
    progress = Progress(err, source.count() if options.engine == "local" else None, "gongji batch",
                        args.progress, args.progress_every)
    tally = Tally()
    ok = False
    try:
        for records in run(job, source, options, state=engine):
            writer.write(records)
            tally.add(records)
            progress.update(len(records))
        writer.commit()
        ok = True
    except BatchFailure as failure:
        from ..core.errors import Printer

        progress.close(ok=False)
        Printer(err).issues(failure.issues)
        print(f"gongji batch: failed; {args.out} was not written", file=err)
        return EXIT_INTERNAL
    finally:
        if not ok:
            writer.abort()
    progress.close()
    print(tally.text(args.out), file=summary_stream)
    return EXIT_INVALID if tally.error_rows else EXIT_OK


def cmd_synth(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..runtime.api import Engine
    from .synth import population

    fmt = formats.guess_format(args.out, args.output_format, "output")
    engine = Engine.load(args.rulesets)
    count = formats.write_documents(args.out, fmt, population(engine, args.n, args.seed))
    print(f"{count} synthetic fact documents (seed {args.seed}, cities {', '.join(sorted(engine.cities))}) "
          f"-> {args.out}", file=out)
    return EXIT_OK


def cmd_impact(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .impact import impact_main

    return impact_main(args, out, err)

