"""national -> province -> city: load a rulesets directory, merge layers, type parameters.

A city inherits every switch, parameter and rule of its province and of the nation.  It may
replace one by id only by saying so (``overrides: <ancestor id>``); a silent same-id clash is an
error, and so is an override that names the wrong ancestor.  An override replaces the whole
item (all its dated versions).  Parameter values are typed here, once, for every version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from . import catalog, values
from .catalog import VType
from .errors import CompileError, Issue, RuleFileError, SourceLocation
from .load import load_file
from .model import Parameter, ParamVersion, Period, Rule, RulesetFile, Switch, TypeSpec, build_file
from .validate import did_you_mean

LAYER_ORDER = {"national": 0, "province": 1, "city": 2}


@dataclass(frozen=True)
class ParamReference:
    """``value: {param: other}``: this version takes ``other``'s value in force on the same day."""

    name: str

    def __str__(self) -> str:
        return f"{{param: {self.name}}}"


@dataclass(frozen=True)
class TypedParamVersion:
    version: ParamVersion
    value: Any  # engine representation (fen, basis points, YYYYMMDD, tuple...)

    @property
    def period(self) -> Period:
        return self.version.period


@dataclass(frozen=True)
class ResolvedParameter:
    """A parameter as the merged view sees it: its type and its typed versions."""

    id: str
    definition: Parameter  # the effective definition (the override if any)
    base: Parameter  # where the type was declared
    type: VType
    nullable: bool
    versions: tuple[TypedParamVersion, ...]

    @property
    def title(self) -> Any:
        return self.definition.title or self.base.title

    def in_force(self, day: int, switches: Mapping[str, str]) -> TypedParamVersion | None:
        """The version in force on ``day`` under the switch options (None: nothing is)."""
        for typed in self.versions:
            if typed.period.contains(day) and variant_matches(typed.version.variant, switches):
                return typed
        return None


@dataclass
class Collection:
    """Every ruleset file of one directory, indexed, with the documents they cite."""

    root: Path
    files: dict[str, RulesetFile]
    documents: dict[str, str]
    issues: list[Issue] = field(default_factory=list)
    complete: bool = True  # every file was read and built (a file's own errors aside)

    def chain(self, ruleset_id: str) -> list[RulesetFile]:
        """[national, province, city] (shorter for upper layers); stops at a missing parent."""
        chain = []
        current = self.files.get(ruleset_id)
        while current is not None:
            chain.append(current)
            parent = self.files.get(current.parent) if current.parent else None
            # only an upper layer is a parent (a national file naming a parent, a city naming a
            # city or itself is reported by load_collection / the model): no cycles, no disorder
            if parent is None or LAYER_ORDER.get(parent.kind, 3) >= LAYER_ORDER.get(current.kind, 3):
                break
            current = parent
        return list(reversed(chain))

    @property
    def cities(self) -> list[str]:
        return sorted(rid for rid, f in self.files.items() if f.kind == "city")


def load_documents(root: Path) -> dict[str, str]:
    """Citable source documents: ``<root>/sources/*`` by file name."""
    docs: dict[str, str] = {}
    folder = root / "sources"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file():
                docs[path.name] = path.read_text(encoding="utf-8")
    return docs


def ruleset_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*.yaml"):
        if path.name.endswith(".test.yaml") or "sources" in path.relative_to(root).parts:
            continue
        found.append(path)
    return sorted(found)


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:
        absolute = Path(os.path.abspath(path))
        return str(absolute.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def load_collection(root: Path | str) -> Collection:
    """Load and build every ruleset file under ``root``; issues are collected, not raised."""
    root = Path(root)
    issues: list[Issue] = []
    if not root.exists():
        issues.append(Issue("file_not_found", "no such rulesets directory", SourceLocation(str(root))))
        return Collection(root, {}, {}, issues)
    if not root.is_dir():
        issues.append(Issue("not_a_directory", "rulesets must be a directory of YAML files", SourceLocation(str(root))))
        return Collection(root, {}, {}, issues)
    documents = load_documents(root)
    files: dict[str, RulesetFile] = {}
    paths = ruleset_files(root)
    if not paths:
        issues.append(Issue("empty_ruleset_dir", "no ruleset files (*.yaml) found", SourceLocation(display_path(root))))
    unreadable = False
    malformed = False  # schema errors: merging such a file would report consequences, not causes
    for path in paths:
        loaded = load_file(path, display_path(path))
        built, found = build_file(loaded, documents)
        issues.extend(found)
        if built is None or built.id == "?":
            unreadable = True
            continue
        if not built.well_formed:
            malformed = True
        if built.id == "national" and built.kind != "national":
            # it would take the national file's place: every chain would break, so stop at the cause
            issues.append(Issue("kind_mismatch", f"the id 'national' belongs to the national ruleset, but this is a "
                                f"{built.kind} ruleset", built.loc, expected="a 6-digit region code", found=built.id))
            unreadable = True
            continue
        if built.id in files:
            issues.append(Issue("duplicate_ruleset_id",
                                f"ruleset {built.id!r} is also defined in {files[built.id].path}",
                                built.loc, found=built.id))
            continue
        files[built.id] = built
    if unreadable:
        # A file that could not be read may be the missing parent: do not report consequences.
        return Collection(root, files, documents, issues, complete=False)
    for rid, ruleset in files.items():
        if ruleset.parent == "national" and "national" not in files:
            continue  # reported once below as missing_national
        parent = files.get(ruleset.parent) if ruleset.parent else None
        if parent is not None and ruleset.kind != "national" and LAYER_ORDER.get(parent.kind, 3) >= LAYER_ORDER.get(
                ruleset.kind, 3):
            issues.append(Issue("unexpected_parent", f"the parent of {ruleset.kind} ruleset {rid!r} must be a layer "
                                f"above it, but {parent.id!r} is a {parent.kind} ruleset", ruleset.parent_loc,
                                expected="national" if ruleset.kind == "province" else "a province (or national)",
                                found=ruleset.parent))
            continue
        if ruleset.parent and ruleset.parent not in files:
            candidates = [f for f in files if f != rid and LAYER_ORDER.get(files[f].kind, 0) < LAYER_ORDER.get(
                ruleset.kind, 3)]
            issues.append(Issue("unknown_parent", f"parent ruleset {ruleset.parent!r} does not exist",
                                ruleset.parent_loc, expected=f"one of {sorted(candidates)}",
                                found=ruleset.parent, hint=did_you_mean(ruleset.parent, candidates)))
    complete = bool(files) and not malformed
    if files and "national" not in files:
        issues.append(Issue("missing_national", "no national ruleset (kind: national) in this directory",
                            SourceLocation(display_path(root))))
        complete = False
    return Collection(root, files, documents, issues, complete=complete)


# ------------------------------------------------------------------------------ merging


@dataclass
class View:
    """The merged, typed content of one ruleset chain (a city, or a province for checks)."""

    ruleset: RulesetFile
    chain: list[RulesetFile]
    switches: dict[str, Switch]
    parameters: dict[str, ResolvedParameter]
    rules: list[Rule]
    sha256: str
    issues: list[Issue] = field(default_factory=list)
    unresolved: set[str] = field(default_factory=set)  # defined, but too broken to type (reported)

    @property
    def id(self) -> str:
        return self.ruleset.id

    def switch_defaults(self) -> dict[str, str]:
        return {sid: sw.default for sid, sw in self.switches.items()}


def _merge(chain: list[RulesetFile], what: str, get: Any, issues: list[Issue]) -> dict[str, tuple[Any, Any]]:
    """Merge items by id along the chain; returns id -> (effective item, base item)."""
    merged: dict[str, tuple[Any, Any]] = {}
    owner: dict[str, str] = {}
    chain_ids = [f.id for f in chain]
    for position, ruleset in enumerate(chain):
        ancestors = chain_ids[:position]
        for item in get(ruleset):
            target = item.overrides
            if target is not None:
                if target not in ancestors:
                    issues.append(Issue("unknown_override_target",
                                        f"{what} {item.id!r} overrides {target!r}, which is not an ancestor of "
                                        f"{ruleset.id!r}", item.loc, expected=f"one of {ancestors}" if ancestors
                                        else "no overrides in a national ruleset", found=target,
                                        hint=did_you_mean(target, ancestors)))
                    merged.setdefault(item.id, (item, item))
                    owner.setdefault(item.id, ruleset.id)
                    continue
                if item.id not in merged:
                    issues.append(Issue("override_target_missing",
                                        f"{what} {item.id!r} overrides {target!r}, which has no {what} of that id",
                                        item.loc, found=item.id,
                                        hint=did_you_mean(item.id, [k for k in merged])))
                    merged[item.id] = (item, item)
                    owner[item.id] = ruleset.id
                    continue
                if owner[item.id] != target:
                    issues.append(Issue("conflicting_override",
                                        f"{what} {item.id!r} says it overrides {target!r} but the {what} it would "
                                        f"replace comes from {owner[item.id]!r}", item.loc,
                                        expected=owner[item.id], found=target))
                merged[item.id] = (item, merged[item.id][1])
                owner[item.id] = ruleset.id
                continue
            if item.id in merged:
                issues.append(Issue("override_not_declared",
                                    f"{what} {item.id!r} is already defined by {owner[item.id]!r}; to replace it "
                                    f"say 'overrides: \"{owner[item.id]}\"', or choose another id", item.loc,
                                    found=item.id))
                continue
            merged[item.id] = (item, item)
            owner[item.id] = ruleset.id
    return merged


def _variant_assignments(variants: Iterable[tuple[tuple[str, str], ...]]) -> list[dict[str, str]]:
    """All combinations of the switch options mentioned, to check overlaps under each."""
    options: dict[str, set[str]] = {}
    for variant in variants:
        for switch, option in variant:
            options.setdefault(switch, set()).add(option)
    if not options:
        return [{}]
    names = sorted(options)
    combos = itertools.product(*[sorted(options[n]) + ["<other>"] for n in names])
    return [dict(zip(names, combo)) for combo in combos]


def variant_matches(variant: tuple[tuple[str, str], ...], assignment: Mapping[str, str]) -> bool:
    return all(assignment.get(switch) == option for switch, option in variant)


@dataclass(frozen=True)
class Resolution:
    """A parameter on one day, followed through its ``{param: other}`` references."""

    chain: tuple[tuple[ResolvedParameter, TypedParamVersion], ...]  # versions in force, the asked one first
    missing: str | None = None  # where the chain stops: a parameter with no version in force that day

    @property
    def complete(self) -> list[tuple[ResolvedParameter, TypedParamVersion]]:
        """The chain when every parameter in it has a version in force, else empty."""
        return list(self.chain) if self.missing is None else []


def resolve(view: View, param_id: str, day: int, switches: Mapping[str, str]) -> Resolution:
    """The versions in force on ``day``: the parameter's own, then those its ``{param: other}``
    references lead to, up to the first parameter with none in force.  Loading rejects reference
    cycles; the length bound is a second guard."""
    chain: list[tuple[ResolvedParameter, TypedParamVersion]] = []
    current: str | None = param_id
    while current is not None and len(chain) < 16:
        param = view.parameters.get(current)
        typed = param.in_force(day, switches) if param is not None else None
        if param is None or typed is None:
            return Resolution(tuple(chain), current)
        chain.append((param, typed))
        current = typed.value.name if isinstance(typed.value, ParamReference) else None
    return Resolution(tuple(chain))


def check_overlaps(kind: str, item_id: str, versions: list[Any], issues: list[Issue]) -> None:
    """Versions active under the same switch options must not overlap in time."""
    reported: set[tuple[int, int]] = set()
    for assignment in _variant_assignments(v.variant for v in versions):
        active = [(i, v) for i, v in enumerate(versions) if variant_matches(v.variant, assignment)]
        for (i, a), (j, b) in itertools.combinations(active, 2):
            if a.period.overlaps(b.period) and (i, j) not in reported:
                reported.add((i, j))
                issues.append(Issue("overlapping_effective_periods",
                                    f"{kind} {item_id!r}: this version ({b.period.describe()}) overlaps another "
                                    f"({a.period.describe()}, line {a.loc.line})" +
                                    (f" under switches {assignment}" if assignment else ""), b.loc,
                                    expected="versions that do not overlap", found=b.period.to_json()))


def param_type(spec: TypeSpec) -> VType:
    simple = {"money": catalog.MONEY, "percent": catalog.PERCENT, "date": catalog.DATE, "int": catalog.INT,
              "bool": catalog.BOOL, "text": catalog.TEXT}
    if spec.type in simple:
        return simple[spec.type]
    if spec.type == "set":
        return catalog.set_of(catalog.enum(spec.of) if spec.of in catalog.ENUMS else catalog.TEXT)
    if spec.type == "table":
        key = catalog.enum(spec.key) if spec.key in catalog.ENUMS else catalog.TEXT
        elem = simple.get(spec.of or "", catalog.INT)
        return catalog.table_of(key, elem)
    if spec.type == "choice":
        for name, domain in catalog.ENUMS.items():
            if set(domain) == set(spec.options):
                return catalog.enum(name)  # shown with the catalog's labels
        return VType("enum", spec.options, name=f"choice:{','.join(spec.options)}")
    return catalog.TEXT


def parse_value(vtype: VType, raw: Any) -> Any:
    """Parse a parameter/literal value into the engine representation; raises ValueProblem."""
    kind = vtype.kind
    if kind == "money":
        return values.parse_money(raw)
    if kind == "percent":
        return values.parse_percent(raw)
    if kind == "date":
        return values.parse_date(raw)
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise values.ValueProblem(f"{raw!r} is not a whole number", "a whole number")
        return raw
    if kind == "bool":
        if not isinstance(raw, bool):
            raise values.ValueProblem(f"{raw!r} is not true/false", "true or false")
        return raw
    if kind in ("text", "region"):
        if not isinstance(raw, str):
            raise values.ValueProblem(f"{raw!r} is not text", "a quoted text value")
        if kind == "region":
            from .regions import region_problem

            problem = region_problem(raw)
            if problem:
                raise values.ValueProblem(f"{raw!r} {problem}", "a 6-digit region code")
        return raw
    if kind == "enum":
        if raw not in vtype.domain or isinstance(raw, bool):
            hint = did_you_mean(raw, vtype.domain)
            raise values.ValueProblem(f"{raw!r} is not one of {list(vtype.domain)}" + (f" ({hint})" if hint else ""),
                                      f"one of {list(vtype.domain)}")
        return raw
    if kind == "set":
        if not isinstance(raw, (list, tuple)):
            raise values.ValueProblem(f"{raw!r} is not a list", vtype.describe())
        items = tuple(parse_value(vtype.elem, item) for item in raw) if vtype.elem else tuple(raw)
        if len(set(items)) != len(items):
            raise values.ValueProblem("the list repeats an item", "a list without repeats")
        return items
    if kind == "table":
        if not isinstance(raw, dict) or vtype.key is None or vtype.elem is None:
            raise values.ValueProblem(f"{raw!r} is not a mapping", vtype.describe())
        table = {}
        for key, value in raw.items():
            if vtype.key.kind == "enum" and key not in vtype.key.domain and isinstance(key, str) and key.isdigit():
                key = int(key)
            table[parse_value(vtype.key, key)] = parse_value(vtype.elem, value)
        missing = [k for k in vtype.key.domain if k not in table]
        if missing:
            raise values.ValueProblem(f"the table has no entry for {missing}", f"an entry for every one of "
                                      f"{list(vtype.key.domain)}")
        return tuple((k, table[k]) for k in vtype.key.domain)
    raise values.ValueProblem(f"cannot read {raw!r}", vtype.describe())


def _resolve_parameter(effective: Parameter, base: Parameter, issues: list[Issue]) -> ResolvedParameter | None:
    spec = base.type_spec
    if spec is None and base.overrides is not None:
        return None  # an override of nothing: already reported as override_target_missing
    if spec is None:
        issues.append(Issue("missing_field", f"parameter {base.id!r} needs a 'type' where it is first defined",
                            base.loc, expected="type"))
        return None
    if effective is not base and effective.type_spec is not None and effective.type_spec != spec:
        issues.append(Issue("override_type_mismatch", f"parameter {effective.id!r} changes type from "
                            f"{spec.type} to {effective.type_spec.type} in its override", effective.loc,
                            expected=spec.type, found=effective.type_spec.type))
    vtype = param_type(spec)
    nullable = bool(base.nullable) if effective.nullable is None else bool(effective.nullable)
    typed = []
    for version in effective.versions:
        if version.value is None:
            if not nullable:
                issues.append(Issue("invalid_parameter_value", f"parameter {effective.id!r} is not nullable; "
                                    "say 'nullable: true' where it is defined if the sources do not state it",
                                    version.value_loc, expected=vtype.describe(), found=None))
                continue
            typed.append(TypedParamVersion(version, None))
            continue
        if isinstance(version.value, dict) and list(version.value) == ["param"] and isinstance(
                version.value["param"], str):
            typed.append(TypedParamVersion(version, ParamReference(version.value["param"])))
            continue
        try:
            typed.append(TypedParamVersion(version, parse_value(vtype, version.value)))
        except values.ValueProblem as exc:
            issues.append(Issue("invalid_parameter_value", f"parameter {effective.id!r}: {exc}", version.value_loc,
                                expected=exc.expected, found=_short(version.value)))
    check_overlaps("parameter", effective.id, list(effective.versions), issues)
    return ResolvedParameter(effective.id, effective, base, vtype, nullable, tuple(typed))


def _short(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= 60 else text[:57] + "..."


def _check_references(parameters: dict[str, ResolvedParameter], issues: list[Issue]) -> None:
    """``{param: other}`` values: the other exists, has the same type, and no circle forms."""
    edges: dict[str, set[str]] = {}
    for pid, param in parameters.items():
        for typed in param.versions:
            if not isinstance(typed.value, ParamReference):
                continue
            target = parameters.get(typed.value.name)
            if target is None:
                issues.append(Issue("unknown_parameter", f"parameter {pid!r} takes the value of {typed.value.name!r}, "
                                    "which does not exist", typed.version.value_loc, found=typed.value.name,
                                    hint=did_you_mean(typed.value.name, parameters)))
                continue
            if not target.type.compatible(param.type):
                issues.append(Issue("type_mismatch", f"parameter {pid!r} ({param.type.describe()}) cannot take the "
                                    f"value of {target.id!r} ({target.type.describe()})", typed.version.value_loc,
                                    expected=param.type.describe(), found=target.type.describe()))
            edges.setdefault(pid, set()).add(target.id)
    reported: set[frozenset[str]] = set()
    for start in sorted(edges):
        path = [start]
        node = start
        seen = {start}
        while True:
            nxt = sorted(edges.get(node, ()))
            if not nxt:
                break
            node = nxt[0]
            path.append(node)
            if node in seen:
                cycle = path[path.index(node):]
                members = frozenset(cycle)
                if members not in reported:  # once per circle, not once per member
                    reported.add(members)
                    issues.append(Issue("parameter_reference_cycle", "parameters take each other's values in a "
                                        "circle: " + " -> ".join(cycle), parameters[cycle[0]].definition.loc,
                                        found=cycle))
                break
            seen.add(node)


def build_view(collection: Collection, ruleset_id: str) -> View:
    """Merge the chain ending at ``ruleset_id`` and type its parameters; issues go to view.issues."""
    chain = collection.chain(ruleset_id)
    issues: list[Issue] = []
    switches_m = _merge(chain, "switch", lambda f: f.switches, issues)
    params_m = _merge(chain, "parameter", lambda f: f.parameters, issues)
    rules_m = _merge(chain, "rule", lambda f: f.rules, issues)
    switches = {sid: pair[0] for sid, pair in switches_m.items()}
    for sid, (effective, base) in switches_m.items():
        if effective is not base and set(effective.option_names) != set(base.option_names):
            issues.append(Issue("override_type_mismatch", f"switch {sid!r} must keep the options "
                                f"{list(base.option_names)} when overridden", effective.loc,
                                expected=list(base.option_names), found=list(effective.option_names)))
    parameters: dict[str, ResolvedParameter] = {}
    unresolved: set[str] = set()
    for pid, (effective, base) in params_m.items():
        resolved = _resolve_parameter(effective, base, issues)
        if resolved is not None:
            parameters[pid] = resolved
        else:
            unresolved.add(pid)
    _check_references(parameters, issues)
    rules = [pair[0] for pair in rules_m.values()]
    for rule in rules:
        check_overlaps("rule", rule.id, [v for v in rule.versions], issues)
    for item_kind, items in (("parameter", [p.definition for p in parameters.values()]), ("rule", rules)):
        for item in items:
            for version in item.versions:
                for switch, option in version.variant:
                    if switch not in switches:
                        issues.append(Issue("unknown_switch", f"{item_kind} {item.id!r} depends on switch "
                                            f"{switch!r}, which is not declared", version.loc, found=switch,
                                            hint=did_you_mean(switch, switches)))
                    elif option not in switches[switch].option_names:
                        issues.append(Issue("unknown_switch_option", f"switch {switch!r} has no option {option!r}",
                                            version.loc, expected=f"one of {list(switches[switch].option_names)}",
                                            found=option, hint=did_you_mean(option, switches[switch].option_names)))
    if chain and chain[-1].kind == "city":
        _check_size(chain[-1], switches, parameters, rules, issues)
    digest = hashlib.sha256()
    for ruleset in chain:
        digest.update(ruleset.id.encode())
        digest.update(b"\0")
        digest.update(ruleset.sha256.encode())
        digest.update(b"\0")
    cited = sorted({s.document for item in itertools.chain(rules, (p.definition for p in parameters.values()))
                    for v in item.versions for s in v.sources})
    for name in cited:
        if name in collection.documents:
            digest.update(name.encode() + b"\0" + hashlib.sha256(collection.documents[name].encode()).digest())
    return View(chain[-1] if chain else RulesetFile("?", "?", None, None, "", "", (), (), (), (), "", ""),  # type: ignore[arg-type]
                chain, switches, parameters, rules, digest.hexdigest(), issues, unresolved)


# Compiled rulesets `check` may have to build for one city: every switch combination × every
# effective period × 2 requests.  The shipped cities need at most 64 × 5; one compilation takes
# ~10 ms, so the bound keeps a full check of one city within about a minute.
MAX_SEGMENTS = 4096


def _check_size(city: RulesetFile, switches: dict[str, Switch], parameters: dict[str, ResolvedParameter],
                rules: list[Rule], issues: list[Issue]) -> None:
    """Refuse a city whose full check would compile an unbounded number of rulesets (a product of
    switch options, or thousands of dated versions) instead of running for hours."""
    combinations = 1
    for switch in switches.values():
        combinations *= max(1, len(switch.option_names))
    days: set[int] = set()
    for period in itertools.chain((v.period for rule in rules for v in rule.versions),
                                  (t.period for p in parameters.values() for t in p.versions)):
        if period.start:
            days.add(period.start)
        if period.end:
            days.add(period.end + 1)  # an upper bound on the days a new period starts: only counted
    periods = len(days) + 1
    segments = combinations * periods * 2
    if segments > MAX_SEGMENTS:
        issues.append(Issue("too_many_segments", f"city {city.id!r}: {combinations} switch combination(s) × "
                            f"{periods} effective period(s) × 2 request types would compile {segments} rulesets "
                            f"(limit {MAX_SEGMENTS}); use fewer switches or fewer dated versions", city.loc,
                            expected=f"at most {MAX_SEGMENTS} compiled rulesets", found=segments))


def raise_if_errors(issues: list[Issue], cls: type = CompileError) -> None:
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise cls(errors)


def collect_views(root: Path | str) -> tuple[Collection, dict[str, View], list[Issue]]:
    """Load a directory and merge every chain (provinces too, so their overrides are checked);
    return the problems instead of raising.  Files with errors of their own are still merged,
    so one run reports everything; only when a file could not be read at all (it may be a
    missing parent) does merging stop there."""
    collection = load_collection(root)
    issues = [i for i in collection.issues if i.severity == "error"]
    if not collection.complete:
        return collection, {}, issues
    views = {rid: build_view(collection, rid) for rid in sorted(collection.files)}
    issues += [i for v in views.values() for i in v.issues]
    return collection, views, issues


def load_views(root: Path | str) -> tuple[Collection, dict[str, View]]:
    """Load and merge a directory; raise every problem at once (file errors as RuleFileError)."""
    collection, views, issues = collect_views(root)
    file_errors = [i for i in collection.issues if i.severity == "error"]
    if file_errors:
        raise RuleFileError(issues)
    raise_if_errors(issues)
    return collection, views
