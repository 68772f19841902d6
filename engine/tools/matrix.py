"""``gongji matrix``: every city × policy item as in force on one day, each value with its citation.

For policy analysts: the rows are the parameters the cities' rules use (grouped: who may share,
where, from when, how the bill is split, outpatient pooling), the columns are the cities.  A
cell holds the value in force on the day under the chosen switch options (``{param: other}``
values resolved to the value they stand for), its effective period, the ruleset layer it comes
from (national, province or city) and its citations, numbered and listed after the table.
Output: an aligned text table (CJK characters count two columns; a per-item listing when the
table would not fit the width), or one self-contained HTML page (``--html FILE``).
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..core import catalog, citations, values
from ..core.errors import Issue, RuleFileError, SourceLocation, UsageError
from ..core.layering import View, resolve, variant_matches
from ..core.model import Period, Text

if TYPE_CHECKING:  # pragma: no cover
    from ..runtime.api import City, Engine

DEFAULT_WIDTH = 120
MIN_COLUMN = 16  # narrower city columns than this: the per-item listing instead of the table

# ----------------------------------------------------------------------------- groups

# (group id, zh title, en title, parameter ids in display order)
GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("who", "共济对象：谁可以授权、谁可以被绑定", "Who: authorizer and beneficiaries",
     ("relationship_scope", "max_beneficiaries", "authorizer_types", "authorizer_statuses", "beneficiary_types",
      "beneficiary_statuses")),
    ("where", "地域范围：在哪里绑定、在哪里使用", "Where: binding and use",
     ("region_scope", "expense_region_scope", "registration_extends_scope")),
    ("when", "实施时间", "When", ("sharing_start",)),
    ("payment", "费用与扣款：共济账户付什么、怎么付", "How the bill is split",
     ("payment_mode", "reserve_floor", "shareable_categories", "account_excluded_categories",
      "allow_authorizer_credential")),
    ("pooling", "统筹基金待遇（门诊统筹等）", "Pooling-fund benefits (outpatient pooling ...)",
     ("pooling_statuses",
      "employee_outpatient.categories", "employee_outpatient.deductible", "employee_outpatient.ratio",
      "employee_outpatient.retiree_bonus", "employee_outpatient.retiree_ratio", "employee_outpatient.cap",
      "employee_outpatient.retiree_cap",
      "resident_outpatient.categories", "resident_outpatient.deductible", "resident_outpatient.ratio",
      "resident_outpatient.flat_ratio", "resident_outpatient.cap",
      "resident_chronic.deductible", "resident_chronic.ratio", "resident_chronic.cap", "resident_chronic.cap_multi")),
    ("other", "其他", "Other", ()),
)
POOLING_PREFIXES = ("pooling", "employee_", "resident_")  # with a dot: employee_outpatient.cap ...

LAYER_NAMES = {"national": ("全国", "national"), "province": ("省", "province"), "city": ("市", "city")}

WORDS: dict[str, tuple[str, str]] = {
    "title": ("家庭共济政策对照表", "Family-sharing policy matrix"),
    "rulesets": ("规则集目录", "rulesets"),
    "cities_items": ("{cities} 个城市，{items} 项", "{cities} {city_word}, {items} items"),
    "switches": ("开关", "switches"),
    "all_defaults": ("全部为默认选项", "all at their default options"),
    "others_default": ("其余为默认选项", "the others at their defaults"),
    "legend": ("图例", "legend"),
    "legend_text": ("* 取值取决于开关选项（见各市开关）；~ 当日本市没有规则使用此项；[n] 见文末引文与注释",
                    "* the value depends on a switch option (see the switches per city); ~ no rule of the "
                    "city uses this item on that day; [n] see the citations and notes at the end"),
    "item": ("项目", "item"),
    "not_stated": ("未规定", "not stated"),
    "no_version": ("当日无有效版本", "no version in force"),
    "absent": ("本市无此项", "not defined here"),
    "switches_per_city": ("各市开关（当日适用的选项）", "Switches per city (options in force)"),
    "no_switches": ("无开关", "no switches"),
    "version": ("规则集版本", "ruleset version"),
    "default": ("默认", "default"),
    "chosen": ("指定", "chosen"),
    "options": ("可选", "options"),
    "citations": ("引文与注释", "Citations and notes"),
    "note": ("注", "note"),
    "inference": ("推断（非引文）", "inference, not a citation"),
    "any_date": ("不限日期", "any date"),
    "depends": ("取决于开关", "depends on the switches"),
    "unused": ("当日本市没有规则使用此项", "no rule of the city uses this item on that day"),
    "via": ("取自", "value of"),
    "layers": ("规则集层级", "ruleset layers"),
    "wrote": ("已写入 {file}：{cities} 个城市 × {items} 项，{notes} 条引文与注释",
              "wrote {file}: {cities} {city_word} x {items} items, {notes} citations and notes"),
    "in_force_on": ("生效日期", "in force on"),
    "period": ("有效期", "effective"),
    "layer": ("来源层级", "layer"),
}


def _city_word(count: int) -> str:
    return "city" if count == 1 else "cities"


def word(key: str, lang: str) -> str:
    zh, en = WORDS[key]
    return zh if lang == "zh" else en


# ----------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Footnote:
    """A citation (``document`` + exact ``quote``) or, with ``document`` empty, a version's note."""

    document: str
    quote: str
    note: str = ""

    @property
    def is_note(self) -> bool:
        return not self.document

    def text(self, lang: str) -> str:
        if self.is_note:
            return f"{word('note', lang)}{'：' if lang == 'zh' else ': '}{self.note}"
        extra = f" — {word('inference', lang)}{'：' if lang == 'zh' else ': '}{self.note}" if self.note else ""
        return f"{self.document}「{self.quote}」{extra}"


@dataclass(frozen=True)
class Cell:
    """One city's value of one item on the day, with where it comes from."""

    param: str
    text: str  # the value in the chosen language ("not stated" for null)
    value: Any  # engine representation; None when not stated or no version is in force
    in_force: bool  # some version is in force on the day under the switches
    period: Period  # the days the value holds (through any {param: other} reference)
    origin: str  # ruleset id the version comes from
    layer: str  # national | province | city
    footnotes: tuple[int, ...]  # 1-based numbers into Matrix.footnotes: citations, then notes
    notes: tuple[str, ...]
    switches: tuple[tuple[str, str], ...]  # the switch options the value depends on
    via: tuple[str, ...]  # parameters whose value a {param: other} reference takes
    used: bool  # some rule of the city in force on the day uses the item

    @property
    def stated(self) -> bool:
        return self.value is not None

    @property
    def depends_on_switch(self) -> bool:
        return bool(self.switches)


@dataclass(frozen=True)
class Row:
    param: str
    title: Text
    cells: tuple[Cell, ...]  # in Matrix.cities order


@dataclass(frozen=True)
class Group:
    id: str
    title: Text
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class SwitchState:
    """A switch of one city: the option in force and whether it came from the command line."""

    id: str
    title: Text
    option: str
    default: str
    options: tuple[tuple[str, Text], ...]  # (name, description)
    chosen: bool


@dataclass(frozen=True)
class CityColumn:
    id: str
    name: Text
    version: str
    sha256: str
    layers: tuple[tuple[str, Text, str], ...]  # (ruleset id, name, version) national -> city
    switches: tuple[SwitchState, ...]


@dataclass(frozen=True)
class Matrix:
    as_of: int
    lang: str
    directory: str
    overrides: tuple[tuple[str, str], ...]
    cities: tuple[CityColumn, ...]
    groups: tuple[Group, ...]
    footnotes: tuple[Footnote, ...]

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    def cell(self, city: str, param: str) -> Cell:
        """The cell of ``city`` (id) for ``param``; KeyError when either is not in the matrix."""
        ids = [c.id for c in self.cities]
        for row in self.rows:
            if row.param == param and city in ids:
                return row.cells[ids.index(city)]
        raise KeyError((city, param))

    def citations(self, cell: Cell) -> list[Footnote]:
        return [self.footnotes[n - 1] for n in cell.footnotes]


class _Footnotes:
    """Numbers footnotes in order of first use; the same citation keeps one number."""

    def __init__(self) -> None:
        self.numbers: dict[Footnote, int] = {}

    def number(self, footnote: Footnote) -> int:
        if footnote not in self.numbers:
            self.numbers[footnote] = len(self.numbers) + 1
        return self.numbers[footnote]

    def ordered(self) -> tuple[Footnote, ...]:
        return tuple(self.numbers)  # numbered in insertion order


def _intersect(periods: Iterable[Period]) -> Period:
    periods = list(periods)
    starts = [p.start for p in periods if p.start is not None]
    ends = [p.end for p in periods if p.end is not None]
    return Period(max(starts) if starts else None, min(ends) if ends else None)


def _layer(view: View, origin: str) -> str:
    """``national``, ``province`` or ``city``: the kind of the ruleset ``origin`` of the chain."""
    return next((ruleset.kind for ruleset in view.chain if ruleset.id == origin), "")


def _group_of(param: str) -> str:
    for group_id, _, _, members in GROUPS:
        if param in members:
            return group_id
    return "pooling" if "." in param and param.startswith(POOLING_PREFIXES) else "other"


def _order_key(param: str) -> tuple[int, int, str]:
    group = _group_of(param)
    position = [g[0] for g in GROUPS].index(group)
    members = GROUPS[position][3]
    return (position, members.index(param) if param in members else len(members), param)


def _params_used(city: City, day: int | None, switches: Mapping[str, str] | None) -> set[str]:
    """Parameters some rule version uses; with ``day``, only versions in force that day."""
    used: set[str] = set()
    for tv in city.analysis.versions:
        if day is not None and switches is not None and not (
                tv.version.enabled and tv.version.period.contains(day)
                and variant_matches(tv.version.variant, switches)):
            continue
        used |= tv.params
    return used


def _cell(city: City, param_id: str, day: int, switches: Mapping[str, str], used: bool, lang: str,
          footnotes: _Footnotes) -> Cell:
    view = city.view
    chain = resolve(view, param_id, day, switches).complete
    param = view.parameters.get(param_id)
    if param is None:  # another city's own parameter
        return Cell(param_id, word("absent", lang), None, False, Period(), "", "", (), (), (), (), used)
    if not chain:
        origin = param.definition.origin
        return Cell(param_id, word("no_version", lang), None, False, Period(), origin, _layer(view, origin),
                    (), (), (), (), used)
    outer_param, outer = chain[0]
    _, inner = chain[-1]
    value = inner.value
    text = word("not_stated", lang) if value is None else catalog.label(outer_param.type, value, lang)
    numbers: list[int] = []
    notes: list[str] = []
    documents = dict(view.chain[0].documents) if view.chain else {}
    for _, typed in chain:
        for source in typed.version.sources:
            if not source.note and not citations.belongs(source, view.id, documents):
                continue  # another jurisdiction's sentence: not this city's citation
            number = footnotes.number(Footnote(source.document, source.quote, " ".join(source.note.split())))
            if number not in numbers:
                numbers.append(number)
    for _, typed in chain:
        note = " ".join(typed.version.note.split())
        if note and note not in notes:
            notes.append(note)
            numbers.append(footnotes.number(Footnote("", "", note)))
    variant: list[tuple[str, str]] = []
    for _, typed in chain:
        for pair in typed.version.variant:
            if pair not in variant:
                variant.append(pair)
    origin = outer_param.definition.origin
    return Cell(param_id, text, value, True, _intersect(t.period for _, t in chain), origin, _layer(view, origin),
                tuple(numbers), tuple(notes), tuple(variant), tuple(p.id for p, _ in chain[1:]), used)


def _switch_states(city: City, assignment: Mapping[str, str], chosen: Mapping[str, str]) -> tuple[SwitchState, ...]:
    states = []
    for sid in sorted(city.view.switches):
        switch = city.view.switches[sid]
        states.append(SwitchState(sid, switch.title, assignment[sid], switch.default,
                                  tuple((o.name, o.description) for o in switch.options), sid in chosen))
    return tuple(states)


def build_matrix(engine: Engine, as_of: int, switches: Mapping[str, str] | None = None,
                 lang: str = "zh") -> Matrix:
    """The matrix of every city of ``engine`` on ``as_of`` (YYYYMMDD) under ``switches``.

    A switch applies to the cities that have it; a name no city has, or an option the switch
    does not have, is a :class:`UsageError`."""
    overrides = dict(switches or {})
    unknown = sorted(n for n in overrides if not any(n in c.view.switches for c in engine.cities.values()))
    if unknown:
        known = sorted({s for c in engine.cities.values() for s in c.view.switches})
        raise UsageError([Issue("unknown_switch", f"no ruleset has switch {name!r}",
                                SourceLocation(pointer="--switch"), expected=f"one of {known}", found=name)
                          for name in unknown])
    footnotes = _Footnotes()
    cities = [engine.cities[cid] for cid in sorted(engine.cities)]
    columns: list[CityColumn] = []
    assignments: list[dict[str, str]] = []
    for city in cities:
        base = {k: v for k, v in engine.switches.items() if k in city.view.switches}
        chosen = {k: v for k, v in overrides.items() if k in city.view.switches}
        assignment = city.switch_assignment(base, chosen, pointer="--switch", error=UsageError)
        assignments.append(assignment)
        layers = tuple((r.id, r.name, r.version) for r in city.view.chain)
        columns.append(CityColumn(city.id, city.name, city.version, city.sha256, layers,
                                  _switch_states(city, assignment, {**base, **chosen})))
    params = sorted(set().union(*(_params_used(c, None, None) for c in cities)), key=_order_key)
    used_today = [_params_used(c, as_of, a) for c, a in zip(cities, assignments)]
    rows_by_group: dict[str, list[Row]] = {g[0]: [] for g in GROUPS}
    for pid in params:
        title = next((c.view.parameters[pid].title for c in cities
                      if pid in c.view.parameters and c.view.parameters[pid].title), None) or Text(pid, pid)
        cells = tuple(_cell(c, pid, as_of, a, pid in u, lang, footnotes)
                      for c, a, u in zip(cities, assignments, used_today))
        rows_by_group[_group_of(pid)].append(Row(pid, title, cells))
    groups = tuple(Group(gid, Text(zh, en), tuple(rows_by_group[gid]))
                   for gid, zh, en, _ in GROUPS if rows_by_group[gid])
    return Matrix(as_of, lang, str(engine.path), tuple(sorted(overrides.items())), tuple(columns), groups,
                  footnotes.ordered())


# ----------------------------------------------------------------------------- text


def display_width(text: str) -> int:
    """Terminal columns: wide and full-width (CJK) characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


_NO_LINE_START = set("、，。；：）」』》！？,.;:)]%")
_NO_LINE_END = set("（「『《")
NBSP = "\u00a0"  # joins what must stay on one line; printed as a space


def _tokens(text: str) -> list[str]:
    """Words, single wide characters and single spaces; closing punctuation sticks to the left."""
    tokens: list[str] = []
    word_chars = ""
    for char in text:
        if (char.isspace() and char != NBSP) or display_width(char) == 2:
            if word_chars:
                tokens.append(word_chars)
                word_chars = ""
            tokens.append(" " if char.isspace() else char)
        else:
            word_chars += char
    if word_chars:
        tokens.append(word_chars)
    merged: list[str] = []
    for token in tokens:
        if merged and merged[-1] != " " and token != " " and (
                token[0] in _NO_LINE_START or merged[-1][-1] in _NO_LINE_END):
            merged[-1] += token
        else:
            merged.append(token)
    return merged


def wrap(text: str, width: int, first: int | None = None) -> list[str]:
    """Lines of at most ``width`` columns (the first line ``first``, when given); breaks at
    spaces or between CJK characters, never before closing punctuation."""
    lines: list[str] = []

    def limit() -> int:
        return first if first is not None and not lines else width

    for paragraph in text.split("\n"):
        line, line_width, space, before = "", 0, False, len(lines)
        for token in _tokens(paragraph):
            if token == " ":
                space = bool(line)
                continue
            token_width = display_width(token)
            gap = 1 if space and line else 0
            if line_width + gap + token_width <= limit():
                line += " " * gap + token
                line_width += gap + token_width
            else:
                if line:
                    lines.append(line)
                line, line_width = "", 0
                while token_width > limit():  # a word longer than a line: split it
                    head, head_width = "", 0
                    for char in token:
                        if head_width + display_width(char) > limit():
                            break
                        head += char
                        head_width += display_width(char)
                    head = head or token[0]  # a wide character in a one-column line: let it overflow
                    lines.append(head)
                    token = token[len(head):]
                    token_width = display_width(token)
                line, line_width = token, token_width
            space = False
        if line or len(lines) == before:  # an empty paragraph stays an empty line
            lines.append(line)
    return [line.replace(NBSP, " ") for line in lines]


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def describe_period(period: Period, lang: str) -> str:
    start = values.format_date(period.start) if period.start else None
    end = values.format_date(period.end) if period.end else None
    if start and end:
        return f"{start} 至 {end}" if lang == "zh" else f"{start} to {end}"
    if start:
        return f"{start} 起" if lang == "zh" else f"from {start}"
    if end:
        return f"至 {end}" if lang == "zh" else f"until {end}"
    return word("any_date", lang)


def _layer_text(cell: Cell, lang: str) -> str:
    zh, en = LAYER_NAMES.get(cell.layer, (cell.layer, cell.layer))
    return zh if lang == "zh" else en


def _origin_text(cell: Cell, lang: str) -> str:
    """The layer and, below the national one, the ruleset id: ``省 340000`` / ``national``."""
    layer = _layer_text(cell, lang)
    return layer if cell.layer == "national" else f"{layer} {cell.origin}"


def _refs(numbers: Sequence[int]) -> str:
    return "[" + ",".join(str(n) for n in numbers) + "]" if numbers else ""


def _value_text(cell: Cell) -> str:
    marks = ("*" if cell.depends_on_switch else "") + ("~" if not cell.used else "")
    return f"{cell.text}{NBSP}{marks}" if marks else cell.text


def _cell_lines(cell: Cell, width: int, lang: str) -> list[str]:
    lines = wrap(_value_text(cell), width)
    if cell.in_force:
        lines += wrap(describe_period(cell.period, lang), width)
        lines += wrap(f"{_layer_text(cell, lang)} {_refs(cell.footnotes)}".strip(), width)
    return lines


def _city_heading(column: CityColumn, lang: str) -> str:
    return f"{column.name.get(lang)} {column.id}"


def _switch_summary(matrix: Matrix, lang: str) -> str:
    if not matrix.overrides:
        return word("all_defaults", lang)
    chosen = ", ".join(f"{k}={v}" for k, v in matrix.overrides)
    return chosen + _parens(word("others_default", lang), lang)


def _counts(matrix: Matrix) -> str:
    count = len(matrix.cities)
    return word("cities_items", matrix.lang).format(cities=count, city_word=_city_word(count), items=len(matrix.rows))


def _parens(text: str, lang: str) -> str:
    return f"（{text}）" if lang == "zh" else f" ({text})"


def _colon(lang: str) -> str:
    return "：" if lang == "zh" else ": "


def _header_lines(matrix: Matrix, width: int) -> list[str]:
    lang = matrix.lang
    counts = _counts(matrix)
    lines = [f"{word('title', lang)}{_colon(lang)}{values.format_date(matrix.as_of)}",
             f"{word('rulesets', lang)}{_colon(lang)}{matrix.directory}" + _parens(counts, lang),
             f"{word('switches', lang)}{_colon(lang)}{_switch_summary(matrix, lang)}",
             f"{word('legend', lang)}{_colon(lang)}{word('legend_text', lang)}"]
    return [out for line in lines for out in wrap(line, width)]


def _table_lines(matrix: Matrix, width: int) -> list[str] | None:
    """The aligned table, or None when the city columns would be narrower than MIN_COLUMN."""
    lang = matrix.lang
    count = len(matrix.cities)
    titles = [row.title.get(lang) for row in matrix.rows] + [word("item", lang)]
    label = max(12, min(24, max(display_width(t) for t in titles)))
    column = (width - label - 3 * count) // max(count, 1)
    if count == 0 or column < MIN_COLUMN:
        return None
    total = label + count * (column + 3)
    lines: list[str] = []

    def emit(blocks: Sequence[list[str]]) -> None:
        height = max(len(b) for b in blocks)
        for index in range(height):
            parts = [pad(b[index] if index < len(b) else "", label if i == 0 else column)
                     for i, b in enumerate(blocks)]
            lines.append(" | ".join(parts).rstrip())

    emit([wrap(word("item", lang), label)] + [wrap(_city_heading(c, lang), column) for c in matrix.cities])
    for group in matrix.groups:
        lines.append("=" * total)
        lines.append(f"[{group.title.get(lang)}]")
        for index, row in enumerate(group.rows):
            lines.append(("=" if index == 0 else "-") * total)
            emit([wrap(row.title.get(lang), label)] + [_cell_lines(c, column, lang) for c in row.cells])
    lines.append("=" * total)
    return lines


def _listing_lines(matrix: Matrix, width: int) -> list[str]:
    """One block per item, one line group per city: for widths a table cannot use."""
    lang = matrix.lang
    lines: list[str] = []
    for group in matrix.groups:
        lines += _hanging(f"== {group.title.get(lang)} ==", width, 3)
        for row in group.rows:
            lines += _hanging(f"{row.title.get(lang)} ({row.param})", width, 2)
            for column, cell in zip(matrix.cities, row.cells):
                lines += _hanging(f"  {_city_heading(column, lang)}{_colon(lang)}{_value_text(cell)}", width, 6)
                if cell.in_force:
                    meta = [describe_period(cell.period, lang), _origin_text(cell, lang), _refs(cell.footnotes)]
                    if cell.switches:
                        meta.append(f"{word('depends', lang)} "
                                    + ", ".join(f"{k}={v}" for k, v in cell.switches))
                    if cell.via:
                        meta.append(f"{word('via', lang)} {', '.join(cell.via)}")
                    lines += _hanging("      " + ("；" if lang == "zh" else "; ").join(m for m in meta if m),
                                      width, 6)
        lines.append("")
    return lines


def _hanging(text: str, width: int, indent: int) -> list[str]:
    """Wrap ``text`` (which starts with its own indent) with continuation lines indented."""
    lead = len(text) - len(text.lstrip(" "))
    lines = wrap(text[lead:], width - indent, first=width - lead)
    return [" " * (lead if i == 0 else indent) + line for i, line in enumerate(lines)]


def _switch_tag(state: SwitchState, lang: str) -> str:
    """``chosen`` for an option set with --switch (or by the engine), else ``default``."""
    return word("chosen", lang) if state.chosen else word("default", lang)


def _switch_lines(matrix: Matrix, width: int) -> list[str]:
    lang = matrix.lang
    lines = [word("switches_per_city", lang)]
    for column in matrix.cities:
        lines += _hanging(f"  {_city_heading(column, lang)}  {word('version', lang)} {column.version}  "
                          f"sha256 {column.sha256}", width, 4)
        if not column.switches:
            lines.append(f"    {word('no_switches', lang)}")
        for state in column.switches:
            options = " | ".join(name for name, _ in state.options)
            lines += _hanging(f"    {state.id} = {state.option} [{_switch_tag(state, lang)}]"
                              + _parens(f"{word('options', lang)}{_colon(lang)}{options}", lang), width, 8)
            description = dict(state.options)[state.option].get(lang)
            lines += _hanging(f"      {state.title.get(lang)}{_colon(lang)}{description}", width, 8)
    return lines


def _footnote_lines(matrix: Matrix, width: int) -> list[str]:
    lines = [word("citations", matrix.lang)]
    digits = len(str(len(matrix.footnotes)))
    for number, footnote in enumerate(matrix.footnotes, 1):
        lead = " " * (2 + digits - len(str(number)))
        lines += _hanging(f"{lead}[{number}] {footnote.text(matrix.lang)}", width, digits + 5)
    return lines


def render_text(matrix: Matrix, width: int = DEFAULT_WIDTH) -> str:
    """The header, the table (or the per-item listing), the switches per city and the footnotes."""
    table = _table_lines(matrix, width)
    parts = [_header_lines(matrix, width), [""], table if table is not None else _listing_lines(matrix, width),
             [""], _switch_lines(matrix, width), [""], _footnote_lines(matrix, width)]
    return "\n".join(line.rstrip() for part in parts for line in part) + "\n"


# ----------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}
th,td{border:1px solid #bbb;padding:.35em .5em;vertical-align:top;text-align:left}
table.matrix thead th{position:sticky;top:0;background:#eef2f7}
table.matrix th[scope=row]{background:#fafafa;max-width:16em;font-weight:600}
table.matrix td{min-width:11em;max-width:22em}
tr.group th{background:#dde5ef;font-size:1.05em}
.pid{display:block;font-family:monospace;font-weight:normal;color:#666;font-size:.8em}
.value{font-weight:600}
.missing .value{color:#8a5a00;font-weight:normal;font-style:italic}
.unused{background:#f6f6f6;color:#777}
.switch{border-left:4px solid #c77d00}
.mark{color:#c77d00;font-weight:bold;cursor:help}
.meta,.note{font-size:.82em;color:#555;margin-top:.2em}
.note{color:#8a5a00}
sup a{text-decoration:none}
code{font-size:.9em}
ol.footnotes li{margin:.25em 0}
ol.footnotes li:target{background:#fff3c4}
.quote{font-family:inherit}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell_html(matrix: Matrix, cell: Cell) -> str:
    lang = matrix.lang
    classes = [c for c, on in (("missing", not cell.stated), ("switch", cell.depends_on_switch),
                               ("unused", not cell.used)) if on]
    parts = [f'<div class="value">{_e(cell.text)}']
    if cell.depends_on_switch:
        tip = f"{word('depends', lang)}: " + ", ".join(f"{k}={v}" for k, v in cell.switches)
        parts.append(f' <span class="mark" title="{_e(tip)}">*</span>')
    if not cell.used:
        parts.append(f' <span class="mark" title="{_e(word("unused", lang))}">~</span>')
    parts.append("</div>")
    for note in cell.notes:
        parts.append(f'<div class="note">{_e(note)}</div>')
    if cell.in_force:
        meta = [f"{_e(describe_period(cell.period, lang))}",
                _e(_origin_text(cell, lang))]
        if cell.via:
            meta.append(f"{_e(word('via', lang))} " + ", ".join(f"<code>{_e(v)}</code>" for v in cell.via))
        links = [f'<a href="#fn-{n}" title="{_e(matrix.footnotes[n - 1].text(lang))}">{n}</a>'
                 for n in cell.footnotes]
        sup = f' <sup>[{",".join(links)}]</sup>' if links else ""
        parts.append(f'<div class="meta">{" · ".join(meta)}{sup}</div>')
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attr}>{''.join(parts)}</td>"


def render_html(matrix: Matrix) -> str:
    """One self-contained page: inline CSS, no scripts, no external resources, all text escaped."""
    lang = matrix.lang
    day = values.format_date(matrix.as_of)
    out: list[str] = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', "<head>",
                      '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{_e(word('title', lang))} {_e(day)}</title>", f"<style>{_CSS}</style>", "</head>",
                      "<body>", f"<h1>{_e(word('title', lang))}{_e(_colon(lang))}{_e(day)}</h1>", "<p>"]
    counts = _counts(matrix)
    out.append(f"{_e(word('in_force_on', lang))}{_e(_colon(lang))}<strong>{_e(day)}</strong><br>")
    out.append(f"{_e(word('rulesets', lang))}{_e(_colon(lang))}<code>{_e(matrix.directory)}</code>"
               f"{_e(_parens(counts, lang))}<br>")
    out.append(f"{_e(word('switches', lang))}{_e(_colon(lang))}{_e(_switch_summary(matrix, lang))}<br>")
    out.append(f"{_e(word('legend', lang))}{_e(_colon(lang))}{_e(word('legend_text', lang))}</p>")

    out.append(f"<h2>{_e(word('switches_per_city', lang))}</h2>")
    out.append('<table class="switches"><thead><tr>'
               + "".join(f"<th>{_e(h)}</th>" for h in (
                   ("城市", "开关", "说明", "适用选项", "可选") if lang == "zh"
                   else ("city", "switch", "title", "option in force", "options")))
               + "</tr></thead><tbody>")
    for column in matrix.cities:
        states = column.switches or ()
        span = max(1, len(states))
        head = f'<th scope="rowgroup" rowspan="{span}">{_e(_city_heading(column, lang))}</th>'
        if not states:
            out.append(f'<tr>{head}<td colspan="4">{_e(word("no_switches", lang))}</td></tr>')
        for index, state in enumerate(states):
            description = dict(state.options)[state.option].get(lang)
            options = "<br>".join(f"<code>{_e(name)}</code>: {_e(text.get(lang))}" for name, text in state.options)
            out.append("<tr>" + (head if index == 0 else "")
                       + f"<td><code>{_e(state.id)}</code></td><td>{_e(state.title.get(lang))}</td>"
                       + f"<td><strong><code>{_e(state.option)}</code></strong>"
                       + f" [{_e(_switch_tag(state, lang))}]<br>{_e(description)}</td><td>{options}</td></tr>")
    out.append("</tbody></table>")

    out.append(f"<h2>{_e(word('title', lang))}</h2>")
    out.append('<table class="matrix"><thead><tr>'
               f'<th scope="col">{_e(word("item", lang))}</th>'
               + "".join(f'<th scope="col">{_e(c.name.get(lang))}<span class="pid">{_e(c.id)}</span></th>'
                         for c in matrix.cities)
               + "</tr></thead>")
    for group in matrix.groups:
        out.append(f'<tbody><tr class="group"><th colspan="{len(matrix.cities) + 1}" scope="colgroup">'
                   f"{_e(group.title.get(lang))}</th></tr>")
        for row in group.rows:
            out.append(f'<tr><th scope="row">{_e(row.title.get(lang))}<span class="pid">{_e(row.param)}</span></th>'
                       + "".join(_cell_html(matrix, cell) for cell in row.cells) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")

    out.append(f"<h2>{_e(word('citations', lang))}</h2>")
    out.append('<ol class="footnotes">')
    for number, footnote in enumerate(matrix.footnotes, 1):
        if footnote.is_note:
            body = f"{_e(word('note', lang))}{_e(_colon(lang))}{_e(footnote.note)}"
        else:
            body = f'<code>{_e(footnote.document)}</code> <span class="quote">「{_e(footnote.quote)}」</span>'
            if footnote.note:
                body += f" — {_e(word('inference', lang))}{_e(_colon(lang))}{_e(footnote.note)}"
        out.append(f'<li id="fn-{number}">{body}</li>')
    out.append("</ol>")

    out.append(f"<h2>{_e(word('layers', lang))}</h2>")
    out.append('<table class="rulesets"><thead><tr>'
               + "".join(f"<th>{_e(h)}</th>" for h in (
                   ("城市", "规则集版本", "sha256", "层级（全国 → 省 → 市）") if lang == "zh"
                   else ("city", "ruleset version", "sha256", "layers (national → province → city)")))
               + "</tr></thead><tbody>")
    for column in matrix.cities:
        layers = " → ".join(f"{_e(name.get(lang))} <code>{_e(rid)}</code> {_e(version)}"
                            for rid, name, version in column.layers)
        out.append(f"<tr><td>{_e(_city_heading(column, lang))}</td><td>{_e(column.version)}</td>"
                   f"<td><code>{_e(column.sha256)}</code></td><td>{layers}</td></tr>")
    out.append("</tbody></table>")
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- CLI


def parse_as_of(text: str) -> int:
    """``--as-of`` as YYYYMMDD; a malformed or impossible date is a usage error."""
    try:
        return values.parse_date(text)
    except values.ValueProblem as problem:
        raise UsageError([Issue("invalid_date", f"--as-of: {problem}", SourceLocation(pointer="--as-of"),
                                expected=problem.expected, found=text)]) from None


def register_cli(sub: Any, common: Any) -> None:
    p = sub.add_parser("matrix", help="table of every city x policy item in force on a date, with citations")
    p.add_argument("dir", nargs="?", default=None, metavar="DIR", help="rulesets directory (default: rulesets)")
    p.add_argument("--as-of", required=True, metavar="DATE", help="the day to show, YYYY-MM-DD")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML page instead of the text table")
    p.add_argument("--switch", action="append", metavar="NAME=OPTION", help="choose a switch option (repeatable)")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, metavar="N",
                   help=f"text width in columns (default {DEFAULT_WIDTH}); too narrow for a table: a listing")
    common(p)
    p.set_defaults(func=cmd_matrix)


def cmd_matrix(args: Any, out: TextIO, err: TextIO) -> int:
    from ..runtime.api import Engine
    from .cliargs import DEFAULT_RULESETS, parse_switches

    day = parse_as_of(args.as_of)
    switches = parse_switches(args.switch)
    if args.width < 40:
        raise UsageError([Issue("invalid_width", "--width must be at least 40 columns",
                                SourceLocation(pointer="--width"), expected="40 or more", found=args.width)])
    rulesets = args.rulesets
    if args.dir is not None and rulesets not in (DEFAULT_RULESETS, args.dir):
        raise UsageError([Issue("conflicting_arguments", "give the rulesets directory once: DIR or --rulesets",
                                SourceLocation(pointer="DIR"), found=[args.dir, rulesets])])
    directory = args.dir if args.dir is not None else rulesets
    engine = Engine.load(directory)
    if not engine.cities:
        raise RuleFileError([Issue("no_city_rulesets", "the directory holds no city ruleset",
                                   SourceLocation(directory))])
    matrix = build_matrix(engine, day, switches, args.lang)
    if args.html:
        path = Path(args.html)
        try:
            path.write_text(render_html(matrix), encoding="utf-8")
        except OSError as exc:
            raise UsageError([Issue("file_unwritable", f"cannot write the HTML page: {exc.strerror or exc}",
                                    SourceLocation(args.html))]) from None
        print(word("wrote", args.lang).format(file=args.html, cities=len(matrix.cities),
                                              city_word=_city_word(len(matrix.cities)), items=len(matrix.rows),
                                              notes=len(matrix.footnotes)), file=out)
        return 0
    out.write(render_text(matrix, args.width))
    return 0


__all__ = ["Cell", "CityColumn", "Footnote", "Group", "Matrix", "Row", "SwitchState", "build_matrix",
           "cmd_matrix", "display_width", "parse_as_of", "register_cli", "render_html", "render_text", "resolve",
           "wrap"]
