"""The ``gongji serve`` subcommand."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any, TextIO


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("serve", help="serve decisions over HTTP/JSON (OpenAPI at /openapi.json, docs at /docs)")
    p.add_argument("directory", nargs="?", metavar="RULESETS", help="rulesets directory (default: --rulesets)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: one per core)")
    p.add_argument("--log", metavar="FILE", help="append every decision to this audit log (the --log format)")
    p.add_argument("--switch", action="append", metavar="NAME=OPTION", help="choose a switch option for every decision")
    p.add_argument("--max-body", type=int, default=1024 * 1024, metavar="BYTES",
                   help="largest single fact document (default 1 MiB; 413 above)")
    p.add_argument("--max-batch", type=int, default=256 * 1024 * 1024, metavar="BYTES",
                   help="largest batch body (default 256 MiB)")
    p.add_argument("--default-switches-only", action="store_true",
                   help="compile only the default switch options up front (faster start; others compile on first use)")
    p.add_argument("--reload-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long a reload waits for the new workers to accept before it is abandoned "
                        "(default 60; the old rulesets keep serving)")
    common(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..tools.cliargs import parse_switches
    from ..core.errors import Issue, SourceLocation, UsageError
    from .state import Limits
    from .supervisor import Options, Supervisor

    if not args.reload_timeout > 0:
        raise UsageError([Issue("invalid_option", "--reload-timeout must be a positive number of seconds",
                                SourceLocation(), expected="a number > 0", found=args.reload_timeout)])
    if args.workers < 1:
        raise UsageError([Issue("invalid_option", "--workers must be at least 1", SourceLocation(),
                                expected="a whole number >= 1", found=args.workers)])
    logging.basicConfig(stream=err, level=logging.INFO,
                        format="%(asctime)s gongji[%(process)d] %(levelname)s %(message)s")
    options = Options(rulesets=Path(args.directory or args.rulesets), host=args.host, port=args.port,
                      workers=args.workers, decision_log=args.log, switches=parse_switches(args.switch),
                      limits=Limits(document=args.max_body, batch=args.max_batch),
                      all_switches=not args.default_switches_only, extra_routes=_console_routes,
                      ready_timeout=args.reload_timeout)

    def announce(line: str) -> None:
        print(line, file=out, flush=True)

    return Supervisor(options, announce).run()


def _console_routes(state: Any) -> list[Any]:
    """The web console (issue 13) at /console when its package is there."""
    try:
        from ..console import routes  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__.rsplit('.', 1)[0]}.console":
            raise
        return []
    from starlette.routing import Mount

    return [Mount("/console", routes=list(routes(state)))]

