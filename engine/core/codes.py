"""The one registry of error and warning codes: what each means, who can cause it, how ``gongji`` exits.

Codes are stable: a code once published keeps its meaning (tools and people match on it), and a new
problem gets a new code.  The modules that report a problem write its code as a literal where they
report it; ``tests/unit/test_error_fixtures.py`` scans ``engine/`` and ``schemas/*.json`` and fails
when a code is reported but not declared here, or declared here but reported nowhere.  The same test
requires a fixture under ``tests/fixtures/invalid/`` for every code outside input can trigger
(or, with ``tested_in``, names the test module that exercises it).  ``gongji codes`` prints this table.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> what is wrong, and the exit status of ``gongji`` when a code of that kind stops a command
KINDS: dict[str, tuple[str, int | None]] = {
    "input": ("a file or directory cannot be read or parsed (rule, test, fact files, logs)", 1),
    "rule_file": ("a rule file or rulesets directory is wrong (`gongji check` reports it)", 1),
    "test_file": ("a policy test file (*.test.yaml) is wrong", 1),
    "fact": ("a fact document (a request to decide) is wrong", 1),
    "log": ("a decision log cannot be replayed", 1),
    "usage": ("the command line was used wrongly", 2),
    "api": ("the Python API was called wrongly (no command reaches it)", None),
    "internal": ("an engine fault, never bad input; please report it", 3),
    "lint_warning": ("a warning of `gongji lint` (exit 0; --strict makes it exit 1)", 0),
    "http": ("a request to `gongji serve` or its web console is refused (an HTTP 4xx answer, no exit "
                       "status)", None),
    "batch_job": ("a `gongji batch` job stopped; nothing was written under the output's name", 3),
}


@dataclass(frozen=True)
class Code:
    """One stable code.  ``kinds``: where it can come from (first: the main one); ``untriggerable``:
    why no outside input can cause it ("" when input can); ``tested_in``: for a triggerable code
    without a fixture in tests/fixtures/invalid/, the test module that exercises it."""

    code: str
    kinds: tuple[str, ...]
    meaning: str
    untriggerable: str = ""
    tested_in: str = ""

    @property
    def kind(self) -> str:
        return self.kinds[0]

    @property
    def triggerable(self) -> bool:
        return not self.untriggerable

    @property
    def exits(self) -> tuple[int, ...]:
        """Every exit status of ``gongji`` this code can lead to (by its kinds)."""
        return tuple(sorted({e for k in self.kinds if (e := KINDS[k][1]) is not None}))

    @property
    def exit(self) -> int | None:
        """The exit status when it is fixed (one for every place the code comes from), else None."""
        return self.exits[0] if len(self.exits) == 1 else None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "kinds": list(self.kinds), "meaning": self.meaning,
                                  "exit": self.exit, "exits": list(self.exits), "triggerable": self.triggerable}
        if self.untriggerable:
            out["untriggerable"] = self.untriggerable
        return out


_INTERNAL = ("internal",)
_SCHEMA = ("rule_file", "test_file", "fact")  # every schema-checked document: rules, tests, facts
_LINT = "tests/unit/test_lint.py"
_MATRIX = "tests/unit/test_matrix.py"
_SERVE = "tests/service/test_error_codes.py"
_BATCH = "tests/batch/test_batch_local.py"

_ALL = [
    # -- reading any file (engine/core/load.py, engine/cli.py, tools that read corpora and logs)
    Code("file_not_found", ("input", "usage"),
         "a file or directory that was named does not exist, or is a directory where a file is expected; "
         "also `gongji test` finding no *.test.yaml and `gongji demo` finding no examples (exit 2)"),
    Code("file_unreadable", ("input",), "a file exists but cannot be read (permissions, an I/O error)"),
    Code("file_not_utf8", ("input",), "a rule, test or fact file is not UTF-8 text"),
    Code("yaml_syntax_error", ("input",),
         "a YAML file does not parse, or a tagged scalar cannot be read as its tag's type "
         "(often a ': ' inside unquoted text)"),
    Code("json_syntax_error", ("input",), "a JSON file, a line of a .jsonl file or JSON on stdin does not parse"),
    Code("duplicate_key", ("input",), "a YAML mapping has the same key twice (the second would replace the first)"),
    Code("invalid_key", ("input",), "a YAML mapping key is not a scalar, or a '<<' merge names something "
                                    "other than a mapping"),
    Code("nesting_too_deep", ("input",), "a document nests mappings and lists deeper than the limit (--max-depth, "
                                         "default 64)"),
    Code("document_too_large", ("input",), "a document is larger than the limit (--max-bytes, default 1 MiB)"),
    Code("line_too_long", ("input",), "a line of a document is longer than the limit (--max-line-length)"),
    Code("alias_limit_exceeded", ("input",),
         "YAML aliases would add more nodes than the limit when expanded (--max-alias-nodes), or an alias "
         "refers to a node that contains it"),
    Code("number_too_large", ("input",), "a number in a JSON document has more digits than can be read (4300)"),
    Code("invalid_date", ("input", "rule_file", "fact", "usage"),
         "a date is not a real calendar day written YYYY-MM-DD (in a file, a fact document, or --as-of)"),
    # -- the schema of rule, test and fact files (engine/core/validate.py, schemas/*.json x-error)
    Code("missing_field", _SCHEMA,
         "a required field is missing: by the schema, or a part the language needs (a province or city "
         "ruleset's parent, a parameter's type where first defined, 'then' of a 'when' and back, 'when' or "
         "'cases' of an 'else', a rule's body, a condition)"),
    Code("unknown_field", _SCHEMA, "a field the schema does not allow at that place (a typo or the wrong "
                                   "level; the hint names the nearest field)"),
    Code("wrong_type", _SCHEMA, "a value has the wrong type for its place (e.g. text where a list is "
                                "expected), a literal is missing where a value is required, or 'present' is "
                                "not given true or false"),
    Code("invalid_value", _SCHEMA, "a value the schema does not allow at that place: not one of its options, "
                                   "not of the required text form, or outside its size or number bounds"),
    Code("invalid_structure", _SCHEMA, "a value has none of the shapes accepted at that place"),
    Code("schema_violation", _SCHEMA, "a schema rule without a more specific code was broken",
         untriggerable="fallback for JSON-Schema keywords that none of schemas/*.json uses"),
    Code("invalid_identifier", ("rule_file",),
         "an id, reason code, derived-fact name or variant switch name is not a lower-case snake_case "
         "identifier (parts joined by dots where ids allow it)"),
    Code("invalid_region_code", ("rule_file", "test_file", "fact"),
         "a region code is not the 6-digit administrative code of a real place (a ruleset id or parent, a "
         "region of a fact document, a test file's ruleset); an ID-card number is named as such"),
    Code("invalid_money", ("fact", "test_file"),
         "an amount is not money: not a number like \"300.00\", negative, more than 2 decimals, implausibly "
         "large, or 0.00 where it must be more"),
    Code("empty_file", ("rule_file", "test_file"), "a rule file or policy test file is empty"),
    # -- one rule file (engine/core/model.py)
    Code("ruleset_id_mismatch", ("rule_file",),
         "a ruleset file's name starts with a 6-digit code other than the ruleset id it declares"),
    Code("kind_mismatch", ("rule_file",),
         "a ruleset's kind does not fit its id or parent: the national ruleset has id 'national'; a province "
         "code ends in 0000 and its parent is 'national'; a city is not a province code and its parent is "
         "its province"),
    Code("unexpected_parent", ("rule_file",), "the national ruleset declares a parent"),
    Code("unknown_document", ("rule_file",), "a citation names a document that is not in the rulesets' sources/ "
                                             "folder"),
    Code("duplicate_note_id", ("rule_file",), "two notes of one rule file have the same id"),
    Code("duplicate_parameter_id", ("rule_file",), "two parameters of one rule file have the same id"),
    Code("duplicate_rule_id", ("rule_file",), "two rules of one rule file have the same id"),
    Code("duplicate_switch_id", ("rule_file",), "two switches of one rule file have the same id"),
    Code("invalid_effective_period", ("rule_file",), "a version's effective period ends ('to') before it starts "
                                                     "('from')"),
    Code("invalid_type", ("rule_file",),
         "a parameter's type is incomplete: a set without 'of' naming an enum, a table without 'key' naming "
         "an enum or without 'of' money/percent/int, a choice without options"),
    Code("mixed_inline_and_versions", ("rule_file",),
         "a rule or parameter gives both 'versions' and the fields of an inline version"),
    Code("mixed_when_and_cases", ("rule_file",), "a rule version gives both when/then and cases"),
    Code("disabled_with_body", ("rule_file",), "a rule version with enabled: false also has conditions or actions"),
    Code("invalid_condition", ("rule_file",),
         "a condition is malformed: all/any/not share their mapping with other keys, or a comparison lacks "
         "exactly one left side (fact, derived, param) naming something, or exactly one operator"),
    Code("unknown_operator", ("rule_file",),
         "a condition uses an operator the language does not have (the hint names the right one, e.g. ge "
         "for >=)"),
    Code("unknown_function", ("rule_file",), "an expression calls a function the language does not have"),
    Code("wrong_arity", ("rule_file",), "a function is given the wrong number of arguments"),
    Code("unknown_placeholder", ("rule_file",),
         "a {...} placeholder in a message is not {fact.path}, {derived:name} or {param:name}"),
    Code("unknown_fact_field", ("rule_file",), "a rule names a fact field that the fact catalog does not have"),
    # -- merging the layers of a rulesets directory (engine/core/layering.py)
    Code("not_a_directory", ("input",), "the rulesets path is a file, not a directory"),
    Code("empty_ruleset_dir", ("rule_file",), "the rulesets directory holds no ruleset files (*.yaml)"),
    Code("duplicate_ruleset_id", ("rule_file",), "two files of one rulesets directory declare the same ruleset"),
    Code("unknown_parent", ("rule_file",), "a ruleset's parent is not a ruleset of the directory"),
    Code("missing_national", ("rule_file",), "the rulesets directory has no national ruleset (kind: national)"),
    Code("unknown_override_target", ("rule_file",),
         "an item's 'overrides' names a ruleset that is not an ancestor of its own ruleset"),
    Code("override_target_missing", ("rule_file",), "an item overrides an ancestor that has no item of that id"),
    Code("conflicting_override", ("rule_file",),
         "an item says it overrides one ancestor, but the item of that id it would replace comes from another"),
    Code("override_not_declared", ("rule_file",),
         "an item reuses the id of an ancestor's item without saying 'overrides:' (say it, or choose another id)"),
    Code("override_type_mismatch", ("rule_file",), "an override changes a parameter's type or a switch's options"),
    Code("overlapping_effective_periods", ("rule_file",),
         "two versions of one rule or parameter are in force on the same day under the same switch options"),
    Code("invalid_parameter_value", ("rule_file",),
         "a parameter version's value does not fit the parameter's type, or is null although the parameter "
         "is not declared nullable"),
    Code("unknown_parameter", ("rule_file",),
         "a rule reads, or a parameter takes the value of, a parameter that the city's rulesets do not have"),
    Code("parameter_reference_cycle", ("rule_file",), "parameters take each other's values in a circle"),
    Code("unknown_switch", ("rule_file", "fact", "usage"),
         "a switch that does not exist: named by a version's variant, a fact document's switches, or --switch"),
    Code("unknown_switch_option", ("rule_file", "fact", "usage"),
         "a switch option that does not exist: a switch's default, a version's variant, a fact document's "
         "switches, or --switch NAME=OPTION"),
    # -- types and meaning of the rules of a city (engine/core/semantics.py)
    Code("type_mismatch", ("rule_file",),
         "types do not fit: a comparison of different types, an ordered operator (lt, ge, ...) on an unordered "
         "value, a list where one value is expected or back, a function on a non-number, a parameter taking "
         "the value of another type, one derived fact with two types, 'present' on a value that is never "
         "absent, or a literal that is not of its field's type"),
    Code("unknown_enum_value", ("rule_file",), "a literal is not one of the values of its field's enum"),
    Code("field_not_available", ("rule_file",),
         "a rule reads a fact that only some request types have, but applies to other request types too"),
    Code("unknown_derived_fact", ("rule_file",), "a rule reads a derived fact that no rule derives"),
    Code("invalid_expression", ("rule_file",),
         "an expression is not a value: a bare decimal number (write \"1.50\" for money or \"1.5%\" for a "
         "percentage) or something that is neither a literal, a reference nor a function"),
    Code("reserved_name", ("rule_file",), "a rule derives 'eligible', which the engine derives from the checks"),
    Code("derive_not_total", ("rule_file",),
         "a deriving rule has a branch (else included) that does not derive the same facts as the others"),
    Code("check_not_total", ("rule_file",),
         "a check's branches (else included) do not all give pass or fail, with at least one of each"),
    Code("rule_has_no_effect", ("rule_file",), "an enabled rule neither derives facts nor gives an outcome"),
    Code("derived_fact_redefined", ("rule_file",), "two rules derive the same fact (each has one producing rule)"),
    Code("derivation_cycle", ("rule_file",), "rules derive facts from each other in a circle"),
    Code("self_comparison", ("rule_file",), "a condition compares a value with itself, so it is always true or "
                                            "always false"),
    Code("nullable_input", ("rule_file",),
         "a derivation reads a value that can be absent (a nullable fact, parameter or derived fact) on a path "
         "to its branch; test it with {..., present: true} in that branch's condition"),
    Code("check_depends_on_eligibility", ("rule_file",),
         "a check reads 'eligible' (directly or through derived facts), which is the result of all checks"),
    # -- compiling one city, period and request (engine/core/compile.py)
    Code("parameter_not_in_force", ("rule_file",),
         "a rule reads a parameter that has no version in force in some period (under some switch options)"),
    Code("payment_plan_incomplete", ("rule_file",),
         "in some period no rule in force derives every fact of the payment plan"),
    Code("derived_fact_unavailable", ("rule_file",),
         "a rule reads a derived fact that no rule in force in that period derives for that request type"),
    Code("unsupported_condition", ("rule_file",), "the right side of 'in' or 'not_in' is not a list or a list "
                                                  "parameter"),
    Code("segment_too_large", ("rule_file",),
         "the rules of one city in force in one period for one request type compile to more distinct tests "
         "than durable_rules builds in reasonable time (compile.MAX_SEGMENT_TESTS)"),
    Code("too_many_segments", ("rule_file",),
         "a city's switch combinations x effective periods x request types would compile more rulesets than "
         "the limit (layering.MAX_SEGMENTS); use fewer switches or fewer dated versions"),
    Code("condition_too_complex", ("rule_file",),
         "a branch of a rule expands to more alternatives than the compiler allows (compile.MAX_TERMS); "
         "split the rule"),
    Code("null_in_arithmetic", ("rule_file",),
         "arithmetic uses a parameter that is null (the sources do not state it) in that period",
         untriggerable="the nullable_input proof of semantics.py rejects every such ruleset first; this is the "
                       "compiler's net behind it"),
    Code("plan_invalid", ("rule_file",),
         "the payment rules gave this document a plan that breaks an invariant (a share missing, negative or "
         "not money, shares not summing to the expense, the shared account paying when not eligible or more "
         "than a balance): a ruleset defect met while deciding"),
    Code("no_city_rulesets", ("rule_file",), "`gongji matrix`: the rulesets directory holds no city ruleset",
         tested_in=_MATRIX),
    # -- policy test files (engine/tools/testing.py)
    Code("duplicate_case_name", ("test_file",), "two cases of one policy test file have the same name"),
    Code("unknown_city", ("fact", "test_file", "api"),
         "no city ruleset for the city of a fact document (its city or authorizer region), a test file's "
         "ruleset, or Engine.city(code)"),
    # -- fact documents (engine/runtime/facts.py)
    Code("invalid_period", ("fact",), "the authorization ends before it starts"),
    Code("switch_not_allowed", ("fact",),
         "a fact document chooses a switch that this engine does not let documents choose "
         "(Engine(decision_switches=...); the CLI lets documents choose any)", tested_in="tests/unit/test_prepared.py"),
    Code("ruleset_limit_reached", ("fact",),
         "deciding this document needs a new compiled ruleset, but the process already registered the limit "
         "with durable_rules (evaluate.MAX_RULESETS; documents choosing many switch options and dates)",
         tested_in="tests/unit/test_prepared.py"),
    Code("invalid_document", ("fact",), "the fact document is invalid (no more specific problem was found)",
         untriggerable="the normalizer and the facts schema agree (a property test keeps them so); a safety net"),
    # -- rows of a `gongji batch` input (engine/batch/rows.py): each becomes an error row of the output
    Code("invalid_json", ("fact",), "a row of a batch input is not a JSON document", tested_in=_BATCH),
    Code("empty_line", ("fact",), "a line of a JSON-lines batch input is empty", tested_in=_BATCH),
    Code("worker_failed", ("batch_job",),
         "a `gongji batch` worker died or raised while deciding (the message names the row and chunk)",
         untriggerable="a worker killed by the system (e.g. out of memory) or an engine bug; bad rows become "
                       "error rows instead (tests/batch/test_batch_local.py simulates both)"),
    # -- the command line
    Code("invalid_switch", ("usage",), "--switch is not NAME=OPTION"),
    Code("log_unwritable", ("usage",),
         "the decision log (--log FILE), its folder or its salt file (<log>.salt) cannot be created, opened or "
         "read"),
    Code("log_write_failed", ("usage", "http"),
         "a decision could not be written to the decision log (e.g. a full disk); it is not returned either "
         "(`gongji serve`: HTTP 503, counted in gongji_errors_total)",
         tested_in="tests/unit/test_auditlog.py"),
    Code("log_salt_invalid", ("usage",),
         "the decision log's salt is unsafe: a salt file shorter than 16 bytes, or an empty $GONGJI_LOG_SALT "
         "or log salt"),
    Code("invalid_limit", ("usage",),
         "an input-limit option (--max-bytes, --max-line-length, --max-depth, --max-alias-nodes) is not a "
         "positive whole number"),
    Code("ruleset_hash_mismatch", ("usage",),
         "`gongji replay`: a logged decision was made by rulesets other than the loaded ones (replay them "
         "with --against DIR)"),
    Code("conflicting_arguments", ("usage",),
         "`gongji matrix` is given two different rulesets directories (DIR and --rulesets)", tested_in=_MATRIX),
    Code("invalid_width", ("usage",), "`gongji matrix --width` is below 40 columns", tested_in=_MATRIX),
    Code("file_unwritable", ("usage",), "`gongji matrix --html FILE` cannot be written", tested_in=_MATRIX),
    Code("unknown_code", ("usage",), "`gongji codes` is asked about a code that is not in this registry"),
    Code("invalid_option", ("usage",),
         "a command option has a value the command does not take, or needs another option (`gongji serve "
         "--workers` below 1; `gongji batch --master` without --engine spark, --workers with it)",
         tested_in=_SERVE),
    Code("address_unavailable", ("usage",),
         "`gongji serve` cannot listen on its host and port (in use, or not an address of this machine)",
         tested_in="tests/service/test_bad_input.py"),
    Code("unknown_format", ("usage",),
         "`gongji batch`: the input or output format cannot be told from the file name (.jsonl, .csv, .parquet; "
         "or give --input-format/--output-format)", tested_in=_BATCH),
    Code("remote_input", ("usage",), "`gongji batch`: a URL as input without --engine spark (only Spark reads "
                                     "URLs)", tested_in="tests/batch/test_error_codes.py"),
    Code("unsupported_output", ("usage",), "`gongji batch --out -` with Parquet output (Parquet cannot be "
                                           "written to standard output)", tested_in="tests/batch/test_error_codes.py"),
    Code("output_unwritable", ("usage",), "`gongji batch`: the output file cannot be created (e.g. its folder "
                                          "does not exist)", tested_in=_BATCH),
    # -- requests to `gongji serve` (engine/service/); the documents they carry have the codes above
    Code("unsupported_media_type", ("http",),
         "a request body's Content-Type is not one the endpoint takes (JSON; JSON lines for a batch)",
         tested_in=_SERVE),
    Code("unsupported_charset", ("http",), "a request body's charset is not UTF-8", tested_in=_SERVE),
    Code("body_too_large", ("http",), "a request body (a document, or a whole batch) is over the service's limit",
         tested_in="tests/service/test_bad_input.py"),
    Code("invalid_parameter", ("http",),
         "a query parameter has a value the endpoint does not take (why_not and only_failures: true or false; "
         "lang: zh or en; format: text or json)", tested_in=_SERVE),
    Code("missing_parameter", ("http",), "a required query parameter is missing (as_of of /v1/matrix)",
         tested_in=_SERVE),
    Code("empty_document", ("http",), "a line of a batch request (JSON lines) is empty", tested_in=_SERVE),
    Code("reload_failed", ("http",),
         "reloading the rulesets (POST /v1/admin/reload, or SIGHUP) raised an unexpected error, e.g. an "
         "unreadable directory; the rulesets loaded before keep serving", tested_in=_SERVE),
    Code("reload_workers_failed", ("http",),
         "a reload compiled, but a worker of the new generation stopped before accepting, or the new generation "
         "was not accepting within --reload-timeout (HTTP 503); the rulesets loaded before keep serving",
         tested_in="tests/service/test_supervisor.py"),
    # -- the web console's own JSON (engine/console/web.py)
    Code("unknown_language", ("http",), "a console request asks for a language other than zh or en (lang=)",
         tested_in="tests/console/test_console_api.py"),
    Code("unknown_decision", ("http",), "the console is asked for a decision id the decision log does not hold",
         tested_in="tests/console/test_console_api.py"),
    # -- the Python API only
    Code("log_closed", ("api",), "DecisionLog.write() after close()",
         untriggerable="Python API misuse only; the CLI closes the log after its last decision"),
    Code("invalid_log_mode", ("api",), "DecisionLog(mode=...) names no decision-log mode",
         untriggerable="Python API misuse only; the CLI's --log-mode offers the valid modes only"),
    Code("invalid_log_window", ("api",), "DecisionLog(window=...) is not a positive number of seconds, at most 10",
         untriggerable="Python API misuse only; the CLI uses the default window"),
    Code("invalid_log_fields", ("api",), "DecisionLog(fields=...) names no known set of logged fields",
         untriggerable="Python API misuse only; the CLI's --log-fields offers compact, full and minimal only"),
    # -- decision logs (engine/runtime/auditlog.py, engine/tools/replay.py)
    Code("corrupt_log_line", ("log",),
         "a decision-log line is not JSON or lacks one of ruleset, as_of, facts, decision (record on a compact line)"),
    Code("log_not_replayable", ("log",),
         "`gongji replay`: a line was logged with --log-fields minimal and keeps no facts to decide again"),
    Code("replay_failed", ("log",),
         "`gongji replay`: a logged decision could not be decided again (the message says why)"),
    # -- engine faults (engine/runtime/evaluate.py, decision.py, explain.py)
    Code("engine_rejected_ruleset", _INTERNAL, "durable_rules refused a ruleset the compiler produced",
         untriggerable="a compiler bug: rule files that check cleanly compile to rulesets durable_rules accepts"),
    Code("engine_refused_fact", _INTERNAL, "durable_rules refused a fact the encoder produced",
         untriggerable="an encoder bug: facts are encoded from normalized documents"),
    Code("action_failed", _INTERNAL,
         "an exception while durable_rules evaluated a decision or ran a generated action",
         untriggerable="a generated derive function raised (the typed IR makes this a compiler bug) or "
                       "durable_rules failed"),
    Code("engine_resources_exhausted", _INTERNAL,
         "durable_rules ran out of memory or of live sessions (1,024 per ruleset) during a decision",
         untriggerable="each decision deletes its session in a finally block; only exhausted memory or a "
                       "caller holding sessions open can cause it"),
    Code("conflicting_branches", _INTERNAL, "two guarded branches of one rule both held",
         untriggerable="the compiled guards of one rule exclude each other"),
    Code("inputs_missing", _INTERNAL, "a rule could not be decided because a derived fact it reads was never "
                                      "produced",
         untriggerable="the compiler checks that every derived fact a rule reads is produced in its period"),
    Code("check_undecided", _INTERNAL, "a check reached no branch",
         untriggerable="a check's branches, else included, cover every case"),
    Code("rule_did_not_fire", _INTERNAL, "a rule reached no branch",
         untriggerable="a rule's branches, else included, cover every case"),
    Code("oracle_disagreement", _INTERNAL,
         "with verify=True, durable_rules and the condition-IR evaluator chose different branches",
         untriggerable="both evaluate the same compiled conditions; a disagreement is an engine fault"),
    # -- warnings of `gongji lint` (engine/tools/lint.py)
    Code("branch_never_holds", ("lint_warning",),
         "a branch of a rule version holds for no input in any city, period and switch options (its condition "
         "contradicts itself, an earlier case or the parameters in force)", tested_in=_LINT),
    Code("rule_version_never_in_force", ("lint_warning",),
         "a rule version is in force in no city, period or switch options",
         untriggerable="a guard: the timeline starts a period on every version's first day and every switch "
                       "combination is compiled, so a version that passes `check` is in force somewhere"),
    Code("parameter_unused", ("lint_warning",),
         "no rule of any city reads the parameter (directly or through {param: ...})", tested_in=_LINT),
    Code("switch_unused", ("lint_warning",), "no rule or parameter version depends on the switch",
         tested_in=_LINT),
    Code("effective_period_gap", ("lint_warning",),
         "after its first version, a rule or parameter has days with no version in force in some city and "
         "switch options", tested_in=_LINT),
    Code("quote_not_found", ("lint_warning",), "a citation's quote is not in its document verbatim",
         tested_in=_LINT),
    Code("citation_other_jurisdiction", ("lint_warning",),
         "a rule or parameter version a city uses cites only other jurisdictions' texts and has no note, so that "
         "city's decisions would show no sentence that governs them", tested_in=_LINT),
    Code("override_no_change", ("lint_warning",),
         "an override is identical to what it replaces (values, dates, variants, citations)", tested_in=_LINT),
]

REGISTRY: dict[str, Code] = {c.code: c for c in sorted(_ALL, key=lambda c: c.code)}


def lookup(code: str) -> Code:
    """The registry entry of ``code`` (KeyError when it is not a registered code)."""
    return REGISTRY[code]


def describe(code: str) -> str:
    """One line for people: ``code (kind, exit N): meaning``; an unknown code says so."""
    entry = REGISTRY.get(code)
    if entry is None:
        return f"{code}: not a gongji code"
    exit_text = "exit " + " or ".join(map(str, entry.exits)) if entry.exits else "no command exit"
    text = f"{entry.code} ({'/'.join(entry.kinds)}, {exit_text}): {entry.meaning}"
    if entry.untriggerable:
        text += f" [not caused by input: {entry.untriggerable}]"
    return text
