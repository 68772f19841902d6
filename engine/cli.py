"""``gongji``: check rule files, decide and explain requests, and the analyst tools.

Exit codes: 0 success (a decision was made, eligible or not; checks passed), 1 invalid input
(rule files or fact documents, every problem on stderr), 2 usage error, 3 internal error (an
unexpected exception, or an engine fault reported with its code, e.g. ``action_failed``).
No Python traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Iterable, Sequence

from .core.errors import (EngineError, EvaluationError, FactError, Issue, Printer, SourceLocation, UsageError,
                          sort_issues)
from .core.load import SourceMap, add_limit_arguments, limits_from_args, limits_scope, load_file
from .core.privacy import mask_load_issue
from .tools.cliargs import DEFAULT_RULESETS, parse_switches

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
BUG_NOTE = "This is a bug in gongji, not in your input; please report it with the command you ran."


def fault_status(issues: Iterable[Issue]) -> int:
    """3 when an issue is an engine fault (a code of kind ``internal`` in ``engine/core/codes.py``),
    else 1: a coded fault is still an internal error, as the exit codes promise."""
    from .core.codes import REGISTRY

    internal = any((entry := REGISTRY.get(i.code)) is not None and entry.kind == "internal" for i in issues)
    return EXIT_INTERNAL if internal else EXIT_INVALID


# ----------------------------------------------------------------------------- inputs


def read_documents(paths: Sequence[str]) -> Iterable[tuple[str, Any, SourceMap | None, list[Issue]]]:
    """(label, document, source map, load issues) for each fact document in ``paths``.

    ``.jsonl`` files hold one JSON document per line, each read on its own: a line that is not
    UTF-8, not JSON, too deep or too large is reported with its line number and the others are
    still decided; a byte-order mark on line 1 is skipped.  ``-`` reads one document from stdin."""
    from .core.load import load_json_text, load_yaml_text, read_stream

    for path in paths:
        if path == "-":
            text, problems = read_stream(sys.stdin, "<stdin>")
            if text is None:
                yield "<stdin>", None, None, problems
                continue
            is_json = text.lstrip().startswith("{")
            loaded = _guarded(load_json_text if is_json else load_yaml_text, text, "<stdin>")
            yield "<stdin>", loaded.data, loaded.source, loaded.issues
            continue
        if path.endswith(".jsonl"):
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                code = "file_not_found" if isinstance(exc, FileNotFoundError) else "file_unreadable"
                yield path, None, None, [Issue(code, exc.strerror or str(exc), SourceLocation(path))]
                continue
            for number, line in enumerate(raw.split(b"\n"), 1):
                label = f"{path}:{number}"
                if number == 1:
                    line = line.removeprefix(b"\xef\xbb\xbf")
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield label, None, None, [Issue("file_not_utf8", f"line {number} is not UTF-8 text: {exc.reason} "
                                                    f"at byte {exc.start + 1}", SourceLocation(path, number,
                                                                                               exc.start + 1))]
                    continue
                if not text.strip():
                    continue
                loaded = _guarded(load_json_text, text, label)
                issues = [Issue(i.code, i.message, SourceLocation(path, number, i.location.col, i.location.pointer),
                                i.expected, i.found, i.severity, i.hint) for i in loaded.issues]
                yield label, loaded.data, None, issues
            continue
        loaded = _guarded(load_file, path, path)
        yield path, loaded.data, loaded.source, loaded.issues


def _guarded(load: Callable[[str, str], Any], source: str, label: str) -> Any:
    """One document's load, whatever it holds: a loader failure becomes that document's issue
    (a YAML nested 10,000 deep makes PyYAML's composer recurse; a control character makes its
    reader refuse the text before parsing starts), never the end of the run."""
    import yaml

    from .core.load import Loaded

    try:
        return load(source, label)
    except RecursionError:
        issue = Issue("nesting_too_deep", "the document nests too deeply to be read", SourceLocation(label))
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        issue = Issue("yaml_syntax_error", f"cannot read the document: {problem}", SourceLocation(label))
    return Loaded(None, SourceMap(label), [issue])


def locate(error: FactError, label: str, smap: SourceMap | None) -> list[Issue]:
    """Attach file positions (YAML) or at least the file name to fact-document issues."""
    out = []
    for item in error.issues:
        pointer = item.location.pointer
        if smap is not None and smap.values:
            loc = smap.location(pointer)
        else:
            loc = SourceLocation(label, 0, 0, pointer or "/")
        out.append(Issue(item.code, item.message, loc, item.expected, item.found, item.severity, item.hint))
    return out


def load_engine(args: argparse.Namespace, **options: Any) -> Any:
    from .runtime.api import Engine

    import gc

    # the analysed rulesets are cached between runs (engine.runtime.api.default_cache_dir)
    engine = Engine.load(args.rulesets, switches=parse_switches(getattr(args, "switch", None)), **options)
    # the compiled rules leave the collector's scans (a full collection took 43-64 ms), frozen
    # without Engine(freeze=True)'s collection first: a command's process is short-lived and what
    # little garbage the load left costs less than that ~25 ms pass
    gc.freeze()
    return engine


# ----------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .runtime.api import Engine

    printer = Printer(err)
    status = EXIT_OK
    for directory in args.paths:
        try:
            engine = Engine.load(directory, prepare=False)  # check() reports every segment's problems
            problems = engine.check(all_switches=not args.default_switches)
        except EngineError as error:
            printer.issues(error.issues)
            count = len([i for i in error.issues if i.severity == "error"])
            print(f"{directory}: {count} error(s)", file=err)
            status = EXIT_INVALID
            continue
        if problems:
            printer.issues(problems)
            print(f"{directory}: {len(sort_issues(problems))} error(s)", file=err)
            status = EXIT_INVALID
            continue
        collection = engine.collection
        rules = sum(len(f.rules) for f in collection.files.values())
        params = sum(len(f.parameters) for f in collection.files.values())
        periods = sum(len(c.periods(c.switch_assignment())[1]) for c in engine.cities.values())
        print(f"ok: {directory}: {len(collection.files)} rulesets ({len(engine.cities)} cities), {rules} rules, "
              f"{params} parameters, {periods} effective periods compiled", file=out)
    return status


def _decide_all(args: argparse.Namespace, err: TextIO, engine: Any, emit: Callable[[Any, str], None]) -> int:
    """Decide every document of ``args.facts``; bad documents are reported and skipped."""
    from .core.privacy import mask_source

    printer = Printer(err, mask=mask_source)
    status = EXIT_OK
    try:
        for label, document, smap, load_issues in read_documents(args.facts):
            if load_issues:
                printer.issues(mask_load_issue(issue) for issue in load_issues)
                status = max(status, EXIT_INVALID)
                continue
            try:
                decision = engine.decide(document, as_of=args.as_of)
            except FactError as error:
                printer.issues(locate(error, label, smap))
                print(f"{label}: invalid fact document ({len(error.issues)} problem(s))", file=err)
                status = max(status, EXIT_INVALID)
                continue
            except EvaluationError as error:  # a ruleset defect met by this document; go on with the rest
                printer.issues([Issue(i.code, i.message, SourceLocation(label), i.expected, i.found, i.severity,
                                      i.hint) for i in error.issues])
                print(f"{label}: no decision ({error.kind})", file=err)
                fault = fault_status(error.issues)
                if fault == EXIT_INTERNAL:
                    print(BUG_NOTE, file=err)
                status = max(status, fault)  # an engine fault outranks an invalid document
                continue
            emit(decision, label)
    finally:
        engine.close()
    return status


def cmd_decide(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def emit(decision: Any, label: str) -> None:
        if args.format == "json":
            print(decision.to_json(), file=out)
        else:
            print(summary_text(decision, args.lang), file=out)

    engine = load_engine(args, **({"decision_log": args.log, "log_fields": args.log_fields, "log_mode": args.log_mode}
                                  if args.log else {}))
    return _decide_all(args, err, engine, emit)


def summary_text(decision: Any, lang: str) -> str:
    data = decision.to_dict()
    zh = lang == "zh"
    if zh:
        verdict = "可以" if decision.eligible else "不可以"
    else:
        verdict = "ELIGIBLE" if decision.eligible else "NOT ELIGIBLE"
    lines = [f"{data['city']} {decision.city_name} {data['request']} {data['as_of']}: {verdict}"]
    for reason in data["reasons"]:
        mark = {"pass": "✓", "fail": "✗", "info": "ℹ"}[reason["outcome"]]
        lines.append(f"  {mark} {reason['code']}: {reason['message'][lang]}")
    if "payment" in data:
        plan = ", ".join(f"{p['source']} {p['amount']}" for p in data["payment"]["plan"])
        lines.append(("  支付方案：" if zh else "  plan: ") + plan + f" (= {data['payment']['total']})")
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    engine = load_engine(args)

    def emit(decision: Any, label: str) -> None:
        if args.format == "json":
            data = decision.explanation()
            if args.why_not:
                from .tools.counterfactual import why_not

                data["why_not"] = why_not(decision, engine).to_json()
            print(json.dumps(data, ensure_ascii=False, indent=2), file=out)
            return
        print(decision.explain(args.lang, only_failures=args.only_failures), file=out, end="")
        if args.why_not:
            from .tools.counterfactual import why_not

            print(why_not(decision, engine).text(args.lang), file=out, end="")

    return _decide_all(args, err, engine, emit)


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One binding and one payment decision per city, with their explanations."""
    from .runtime.api import Engine
    from .core.load import load_file as _load

    engine = Engine.load(args.rulesets, verify=True)
    demo_dir = Path(args.examples)
    files = sorted(demo_dir.glob("*.yaml"))
    if not files:
        raise UsageError([Issue("file_not_found", "no example fact documents", SourceLocation(str(demo_dir)))])
    for path in files:
        loaded = _load(path)
        if loaded.issues:
            Printer(err).issues(loaded.issues)
            return EXIT_INVALID
        decision = engine.decide(loaded.data)
        title = (loaded.source.text.splitlines() or [""])[0].lstrip("# ").strip()
        print("=" * 100, file=out)
        print(f"{path}: {title}", file=out)
        print("=" * 100, file=out)
        print(decision.explain(args.lang), file=out)
    print(f"{len(files)} demo decisions for cities {', '.join(sorted(engine.cities))} "
          f"(each cross-checked against the condition IR).", file=out)
    return EXIT_OK


# ----------------------------------------------------------------------------- wiring


def version_text(rulesets: str) -> str:
    """The package, durable-rules and Python versions, then each city's ruleset version and sha256."""
    from importlib.metadata import PackageNotFoundError, version

    from .runtime.api import Engine

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    lines = [f"gongji {installed('gongji')} (durable-rules {installed('durable-rules')}, "
             f"Python {sys.version.split()[0]})"]
    try:
        engine = Engine.load(rulesets)
    except EngineError as error:
        lines.append(f"rulesets {rulesets}: not loadable ({error.summary}; run `gongji check {rulesets}`)")
        return "\n".join(lines)
    lines.append(f"rulesets {rulesets}:")
    for city in sorted(engine.cities.values(), key=lambda c: c.id):
        lines.append(f"  {city.id} {city.name.zh} ({city.name.en}) version {city.version} sha256 {city.sha256}")
    return "\n".join(lines)


class VersionAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(version_text(str(values)), file=sys.stdout)
        parser.exit(EXIT_OK)


CORE_COMMANDS = ("check", "decide", "explain", "demo")  # defined here; every other command is an extension


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first word), or None when a help option comes first."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the ``argv`` of one of :data:`CORE_COMMANDS`, without the
    extensions' subcommands: importing them (the service, batch, pytest for ``gongji test``...)
    would be most of a ``gongji decide``'s start-up."""
    parser = argparse.ArgumentParser(prog="gongji", description="Rule engine for 职工医保个人账户家庭共济 "
                                     "(family sharing of the employee medical-insurance personal account).")
    parser.add_argument("--version", action=VersionAction, nargs="?", const=DEFAULT_RULESETS, metavar="RULESETS",
                        help="print the package version and the version and sha256 of each ruleset in RULESETS "
                             f"(default: {DEFAULT_RULESETS}) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rulesets", default=DEFAULT_RULESETS, help="rulesets directory (default: rulesets)")
        add_limit_arguments(p)

    p = sub.add_parser("check", help="validate and compile rulesets; print every error")
    p.add_argument("paths", nargs="*", default=[DEFAULT_RULESETS], metavar="DIR")
    p.add_argument("--default-switches", action="store_true", help="compile only the default switch options")
    add_limit_arguments(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("decide", help="decide fact documents (JSON/YAML/JSONL); one decision per document")
    p.add_argument("facts", nargs="+", metavar="FACTS")
    p.add_argument("--format", choices=["json", "text"], default="json")
    p.add_argument("--as-of", help="decision date YYYY-MM-DD (overrides the documents')")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")
    p.add_argument("--switch", action="append", metavar="NAME=OPTION", help="choose a switch option")
    p.add_argument("--log", metavar="FILE", help="append each decision to an audit log (JSON lines)")
    p.add_argument("--log-fields", choices=["compact", "full", "minimal"], default="compact",
                   help="compact (default): facts (ids pseudonymized) and a decision record (outcome, every "
                        "reason's rule and code, the plan), replayable and verified by replay; full: facts and "
                        "the whole decision; minimal: pseudonyms, request, city, outcome and failing codes only")
    p.add_argument("--log-mode", choices=["strict", "group"], default="strict",
                   help="strict: each line written before the next decision (default); group: lines written "
                        "together within 10 ms, flushed at exit and on SIGTERM/SIGINT")
    common(p)
    p.set_defaults(func=cmd_decide)

    p = sub.add_parser("explain", help="explain decisions for an auditor (zh default, --lang en)")
    p.add_argument("facts", nargs="+", metavar="FACTS")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--as-of", help="decision date YYYY-MM-DD")
    p.add_argument("--switch", action="append", metavar="NAME=OPTION")
    p.add_argument("--only-failures", action="store_true", help="show only the checks that failed")
    p.add_argument("--why-not", action="store_true", help="list minimal changes that would make it eligible")
    common(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("demo", help="decide and explain the example requests of every city")
    p.add_argument("--examples", default="examples")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")
    common(p)
    p.set_defaults(func=cmd_demo)

    if argv is None or _command_of(argv) not in CORE_COMMANDS:
        for register in _extensions():
            register(sub, common)
    return parser


def _extensions() -> list[Callable[..., None]]:
    """Analyst tools live in their own modules; each adds its subcommand."""
    import importlib

    found = []
    for name in ("tools.testing", "tools.diff", "tools.replay", "tools.matrix", "tools.lint", "tools.codes_cli",
                 "service", "batch"):
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        register = getattr(module, "register_cli", None)
        if register is not None:
            found.append(register)
    return found


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
            return int(exc.code or 0)
        try:
            limits = limits_from_args(args)
        except ValueError as exc:
            raise UsageError([Issue("invalid_limit", str(exc), SourceLocation(),
                                    expected="a positive whole number")]) from None
        with limits_scope(limits):
            status = int(args.func(args, out, err))
        out.flush()  # a full disk shows here, not as a traceback at interpreter exit
        return status
    except UsageError as error:
        Printer(err).issues(error.issues)
        return EXIT_USAGE
    except EngineError as error:
        Printer(err).issues(error.issues)
        print(error.summary, file=err)
        status = fault_status(error.issues)
        if status == EXIT_INTERNAL:
            print(BUG_NOTE, file=err)
        return status
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # writing the output failed (stdout on a full disk, /dev/full)
        print(f"gongji: cannot write the output: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    except Exception as exc:
        print(f"gongji: internal error: {type(exc).__name__}: {exc}", file=err)
        print(BUG_NOTE, file=err)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
