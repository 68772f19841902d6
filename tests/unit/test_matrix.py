"""``gongji matrix``: the city × policy-item table on a date, its citations, text and HTML output."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.core.errors import UsageError
from engine.core.layering import ParamReference
from engine.tools.matrix import (DEFAULT_WIDTH, Matrix, build_matrix, display_width, parse_as_of, render_html,
                           render_text, resolve, wrap)

from tests.conftest import ROOT, RULESETS

CITIES = {"130600": "保定市", "140100": "太原市", "341100": "滁州市", "360900": "宜春市"}
NEAR_RELATIVES = ("spouse", "parent", "child", "sibling", "grandparent", "grandchild")
NARROW = ("spouse", "parent", "child")


def matrix_on(engine: Engine, day: str, lang: str = "zh", **switches: str) -> Matrix:
    return build_matrix(engine, parse_as_of(day), switches, lang)


def documents(matrix: Matrix, city: str, param: str) -> list[str]:
    return [f.document for f in matrix.citations(matrix.cell(city, param)) if not f.is_note]


def footnote_number(text: str, document: str, quote: str) -> int:
    """The number a text rendering gives the citation ``document「quote」``."""
    match = re.search(rf"^\s*\[(\d+)\] {re.escape(document)}「{re.escape(quote)}」", text, re.M)
    assert match, f"no footnote for {document} {quote}"
    return int(match.group(1))


# ----------------------------------------------------------------------------- the values


def test_chuzhou_scope_2023_is_spouse_parents_children_citing_000(engine: Engine) -> None:
    matrix = matrix_on(engine, "2023-05-01")
    cell = matrix.cell("341100", "relationship_scope")
    assert cell.value == NARROW
    assert cell.text == "配偶、父母、子女"
    assert cell.via == ("narrow_relationships",)  # the {param: ...} reference is resolved
    assert "000_b1a913a873027671.txt" in documents(matrix, "341100", "relationship_scope")
    assert (cell.period.start, cell.period.end) == (None, 20241208)
    assert (cell.layer, cell.origin) == ("province", "340000")
    assert ("scope_widening", "official") in cell.switches


def test_chuzhou_scope_2025_is_the_near_relatives(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01", lang="en")
    cell = matrix.cell("341100", "relationship_scope")
    assert cell.value == NEAR_RELATIVES
    for name in ("sibling", "grandparent", "grandchild"):
        assert name in cell.text
    assert cell.via == ("near_relatives",)
    assert cell.period.start == 20241209 and cell.period.end is None
    assert dict(cell.switches) == {"scope_widening": "official", "near_relative_reading": "civil_code"}
    cited = matrix.citations(cell)
    assert any(f.document == "OFFICIAL_SOURCES.md" for f in cited)
    assert any(f.is_note and "grandparent covers" in f.note for f in cited)  # the referenced version's note


def test_in_law_switch_changes_the_resolved_scope(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01", near_relative_reading="in_law_snippet")
    assert matrix.cell("341100", "relationship_scope").value == ("spouse", "child", "parent", "parent_in_law")


def test_taiyuan_reserve_floor_cites_001(engine: Engine, run_cli: Any) -> None:
    matrix = matrix_on(engine, "2025-03-01")
    cell = matrix.cell("140100", "reserve_floor")
    assert (cell.value, cell.text, cell.layer) == (100000, "1000.00 元", "city")
    assert documents(matrix, "140100", "reserve_floor") == ["001_b7f52e36b1dd2f22.txt"]
    assert not matrix.cell("341100", "reserve_floor").stated

    code, out, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01")
    assert code == 0 and err == ""
    number = footnote_number(out, "001_b7f52e36b1dd2f22.txt", "共济账户内资金仅1000元以上的部分可供被授权人使用,低于1000元时不能使用")
    row = _row_lines(out, "共济账户保留额")
    assert "1000.00 元" in row and f"市 [{number}]" in row


def _row_lines(text: str, title_start: str) -> str:
    """The lines of the table row whose item title starts with ``title_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    end = next(i for i in range(start + 1, len(lines)) if set(lines[i]) <= {"-", "="})
    return "\n".join(lines[start:end])


def test_taiyuan_member_limit_follows_the_switch(engine: Engine, run_cli: Any) -> None:
    default = matrix_on(engine, "2025-03-01").cell("140100", "max_beneficiaries")
    assert default.value == 6 and default.depends_on_switch
    one = matrix_on(engine, "2025-03-01", member_limit_reading="seed_one")
    cell = one.cell("140100", "max_beneficiaries")
    assert cell.value == 1 and cell.switches == (("member_limit_reading", "seed_one"),)
    assert [f.quote for f in one.citations(cell)] == ["只能有一个家庭成员被绑定到共济账户上"]
    assert one.cell("341100", "max_beneficiaries").value == 6  # other cities lack the switch
    taiyuan = next(c for c in one.cities if c.id == "140100")
    state = next(s for s in taiyuan.switches if s.id == "member_limit_reading")
    assert state.option == "seed_one" and state.chosen and state.default == "several"

    code, out, _ = run_cli("matrix", "--as-of", "2025-03-01", "--switch", "member_limit_reading=seed_one",
                           "--lang", "en", "--rulesets", RULESETS)
    assert code == 0
    assert "member_limit_reading=seed_one (the others at their defaults)" in out
    assert "member_limit_reading = seed_one [chosen]" in out
    row = _row_lines(out, "Most beneficiaries")
    assert re.search(r"\| 1 \*\s+\|", row)


def test_baoding_resident_outpatient_pooling_from_2025(engine: Engine) -> None:
    before = matrix_on(engine, "2024-06-01", lang="en")
    cell = before.cell("130600", "resident_outpatient.cap")
    assert cell.value is None and cell.text == "not stated" and cell.in_force
    assert cell.notes == ("the seed gives the resident outpatient numbers as the 2025 new rules only.",)
    assert cell.period.end == 20241231
    assert [f.note for f in before.citations(cell)] == list(cell.notes)

    after = matrix_on(engine, "2025-03-01", lang="en")
    cap = after.cell("130600", "resident_outpatient.cap")
    assert (cap.value, cap.text, cap.period.start) == (40000, "400.00 yuan", 20250101)
    assert [f.quote for f in after.citations(cap)] == ["统筹基金年度个人最高支付限额为400元"]
    assert after.cell("130600", "resident_outpatient.flat_ratio").text == "60%"
    assert after.cell("130600", "resident_chronic.cap_multi").text == "3000.00 yuan"


def test_layers_and_tables(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01", lang="en")
    assert matrix.cell("130600", "max_beneficiaries").layer == "national"
    assert matrix.cell("341100", "max_beneficiaries").layer == "city"
    assert matrix.cell("130600", "authorizer_statuses").layer == "province"
    assert matrix.cell("140100", "employee_outpatient.ratio").text == "level 1: 55%; level 2: 60%; level 3: 65%"
    assert matrix.cell("360900", "registration_extends_scope").text == "no"
    assert matrix.cell("140100", "authorizer_statuses").text == "not stated"


def test_rows_are_every_parameter_a_rule_uses_grouped(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01")
    used = {p for city in engine.cities.values() for tv in city.analysis.versions for p in tv.params}
    assert {row.param for row in matrix.rows} == used
    assert "near_relatives" not in used  # reached only through relationship_scope
    assert [g.id for g in matrix.groups] == ["who", "where", "when", "payment", "pooling"]
    assert [r.param for r in matrix.groups[0].rows][:2] == ["relationship_scope", "max_beneficiaries"]
    assert all(len(row.cells) == 4 for row in matrix.rows)
    assert [c.id for c in matrix.cities] == sorted(CITIES)


def test_unused_items_are_marked(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01")
    assert matrix.cell("140100", "employee_outpatient.retiree_ratio").used
    assert not matrix.cell("341100", "employee_outpatient.retiree_ratio").used
    assert matrix.cell("341100", "relationship_scope").used


def test_footnotes_are_numbered_once_in_order_of_use(engine: Engine) -> None:
    matrix = matrix_on(engine, "2025-03-01")
    assert len(set(matrix.footnotes)) == len(matrix.footnotes)
    seen: list[int] = []
    for row in matrix.rows:
        for cell in row.cells:
            assert all(1 <= n <= len(matrix.footnotes) for n in cell.footnotes)
            seen += [n for n in cell.footnotes if n not in seen]
            if cell.in_force:
                assert cell.footnotes, f"{row.param} has neither citation nor note"
    assert seen == list(range(1, len(matrix.footnotes) + 1))
    # the same national citation keeps one number in every city
    numbers = {matrix.cell(c, "account_excluded_categories").footnotes for c in CITIES}
    assert len(numbers) == 1


def test_resolve_follows_references(engine: Engine) -> None:
    view = engine.cities["341100"].view
    switches = engine.cities["341100"].switch_assignment()
    resolution = resolve(view, "relationship_scope", 20250301, switches)
    chain = resolution.complete
    assert resolution.missing is None and [p.id for p, _ in chain] == ["relationship_scope", "near_relatives"]
    assert isinstance(chain[0][1].value, ParamReference) and chain[1][1].value == NEAR_RELATIVES
    unknown = resolve(view, "no_such_parameter", 20250301, switches)
    assert unknown.missing == "no_such_parameter" and unknown.chain == () and unknown.complete == []


def test_engine_switches_apply(engine: Engine) -> None:
    pinned = Engine.load(RULESETS, switches={"member_limit_reading": "seed_one"})
    matrix = build_matrix(pinned, 20250301)
    assert matrix.cell("140100", "max_beneficiaries").value == 1


# ----------------------------------------------------------------------------- text


def test_text_table_fits_120_columns_and_is_deterministic(run_cli: Any) -> None:
    code, out, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01")
    assert code == 0 and err == ""
    assert max(display_width(line) for line in out.splitlines()) <= DEFAULT_WIDTH
    assert out.startswith("家庭共济政策对照表：2025-03-01\n")
    header = next(line for line in out.splitlines() if line.startswith("项目"))
    for cid, name in CITIES.items():
        assert f"{name} {cid}" in header
        assert re.search(rf"^  {name} {cid} 规则集版本 \S+ sha256 [0-9a-f]{{64}}$", out, re.M)
    assert "共济人员范围" in out and "[统筹基金待遇（门诊统筹等）]" in out
    assert "各市开关（当日适用的选项）" in out and "引文与注释" in out
    assert "scope_widening = official [默认]" in out
    assert run_cli("matrix", RULESETS, "--as-of", "2025-03-01")[1] == out


def test_text_chuzhou_2023_cites_000(run_cli: Any) -> None:
    code, out, _ = run_cli("matrix", RULESETS, "--as-of", "2023-05-01", "--lang", "en")
    assert code == 0
    number = footnote_number(out, "000_b1a913a873027671.txt", "共济对象:职工及其配偶、父母、子女")
    row = _row_lines(out, "Who may be bound")
    columns = [line.split(" | ")[3] for line in row.splitlines()]  # Chuzhou is the third city
    text = " ".join(c.strip() for c in columns)
    assert "spouse, parent, child *" in text and "until 2024-12-08" in text
    assert re.search(rf"province \[[\d,]*\b{number}\b", text)


def test_narrow_width_gives_a_listing(run_cli: Any) -> None:
    code, out, _ = run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--width", "80", "--lang", "en")
    assert code == 0
    assert max(display_width(line) for line in out.splitlines()) <= 80
    assert " | " not in out.split("Switches per city")[0]
    assert "Who may be bound (relationship scope) (relationship_scope)" in out
    assert re.search(r"^  Taiyuan 140100: 1000\.00 yuan$", out, re.M)
    flat = " ".join(out.split())
    assert "depends on the switches scope_widening=official, near_relative_reading=civil_code" in flat
    assert "value of near_relatives" in flat


def test_default_directory_is_rulesets(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("matrix", "--as-of", "2025-03-01")
    assert code == 0 and "rulesets（4 个城市" in out


def test_wrap_and_display_width() -> None:
    assert display_width("滁州 ab") == 7
    lines = wrap("配偶、父母、子女、兄弟姐妹、祖父母/外祖父母", 9)
    assert all(display_width(line) <= 9 for line in lines)
    assert not any(line.startswith("、") for line in lines)
    assert "".join(lines) == "配偶、父母、子女、兄弟姐妹、祖父母/外祖父母"
    assert wrap("abcdefghij kl", 4) == ["abcd", "efgh", "ij", "kl"]
    assert wrap("最多（不含授权人）", 6) == ["最多", "（不含", "授权", "人）"]
    assert wrap("one two\nthree", 20) == ["one two", "three"]
    assert wrap("x\u00a0*", 10) == ["x *"]
    assert wrap("中文", 1) == ["中", "文"]
    assert wrap("a\n\nb", 5) == ["a", "", "b"]


# ----------------------------------------------------------------------------- HTML


class _Structure(HTMLParser):
    """Checks that every element is closed in order; collects text, links and attributes."""

    VOID = {"meta", "br", "link", "img", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    assert parser.doctype
    assert parser.problems == [] and parser.stack == []
    return parser


def test_html_page_is_self_contained_and_well_formed(run_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "matrix.html"
    code, out, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--html", target,
                             "--switch", "member_limit_reading=seed_one")
    assert code == 0 and err == ""
    assert out.startswith(f"已写入 {target}：4 个城市 × 32 项")
    page = target.read_text(encoding="utf-8")
    parsed = parse_page(page)
    assert '<meta charset="utf-8">' in page
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    for tag, name, value in parsed.attrs:
        if name in ("href", "src"):
            assert value is not None and value.startswith("#"), (tag, name, value)
    text = "".join(parsed.text)
    for cid, name in CITIES.items():
        assert name in text and cid in text
        city = Engine.load(RULESETS).cities[cid]
        assert city.sha256 in text
    assert "2025-03-01" in text and "member_limit_reading=seed_one" in text
    # the date and switches come before the table, the footnotes after it
    assert (page.index("member_limit_reading=seed_one") < page.index('<table class="matrix">')
            < page.index("共济人员范围") < page.index("<h2>引文与注释</h2>"))
    footnotes = re.findall(r'<li id="fn-(\d+)">', page)
    assert footnotes == [str(n) for n in range(1, len(footnotes) + 1)]
    links = set(re.findall(r'href="#fn-(\d+)"', page))
    assert links <= set(footnotes) and links
    assert "「共济账户内资金仅1000元以上的部分可供被授权人使用,低于1000元时不能使用」" in text
    assert 'title="001_b7f52e36b1dd2f22.txt「只能有一个家庭成员被绑定到共济账户上」"' in page  # tooltip
    assert 'class="switch"' in page and 'title="取决于开关: member_limit_reading=seed_one"' in page


def test_html_escapes_all_text(run_cli: Any, tmp_path: Path) -> None:
    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    national = rulesets / "national.yaml"
    text = national.read_text(encoding="utf-8")
    assert "note: Only seed 001 (Taiyuan) states a reserve; elsewhere none is stated." in text
    national.write_text(text.replace("note: Only seed 001 (Taiyuan) states a reserve; elsewhere none is stated.",
                                     "note: 'Only <b>001</b> & \"Taiyuan\" <script>x</script>'"), encoding="utf-8")
    chuzhou = rulesets / "cities" / "341100-chuzhou.yaml"
    chuzhou.write_text(chuzhou.read_text(encoding="utf-8").replace("en: Chuzhou}", "en: \"Chu<i>zhou</i>\"}"),
                       encoding="utf-8")
    target = tmp_path / "m.html"
    code, _, err = run_cli("matrix", rulesets, "--as-of", "2025-03-01", "--html", target, "--lang", "en")
    assert code == 0, err
    page = target.read_text(encoding="utf-8")
    parsed = parse_page(page)
    assert "<b>" not in page and "<script>" not in page and "<i>" not in page
    assert "Only &lt;b&gt;001&lt;/b&gt; &amp; &quot;Taiyuan&quot; &lt;script&gt;" in page
    assert "Chu&lt;i&gt;zhou&lt;/i&gt;" in page
    assert "Only <b>001</b> & \"Taiyuan\" <script>x</script>" in "".join(parsed.text)


def test_render_functions_agree_with_the_cli(engine: Engine, run_cli: Any, tmp_path: Path) -> None:
    matrix = build_matrix(Engine.load(RULESETS), 20250301, {}, "en")
    assert run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--lang", "en")[1] == render_text(matrix)
    target = tmp_path / "m.html"
    run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--lang", "en", "--html", target)
    assert target.read_text(encoding="utf-8") == render_html(matrix)
    assert '<html lang="en">' in render_html(matrix)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("date", ["2025-02-30", "20250301", "yesterday"])
def test_invalid_date_is_a_usage_error(run_cli: Any, date: str) -> None:
    code, out, err = run_cli("matrix", RULESETS, "--as-of", date)
    assert code == 2 and out == ""
    assert "invalid_date" in err and "--as-of" in err and "Traceback" not in err


def test_missing_as_of_is_a_usage_error(run_cli: Any) -> None:
    code, _, err = run_cli("matrix", RULESETS)
    assert code == 2 and "--as-of" in err


def test_missing_directory_prints_its_issue(run_cli: Any, tmp_path: Path) -> None:
    code, out, err = run_cli("matrix", tmp_path / "nowhere", "--as-of", "2025-03-01")
    assert code == 1 and out == ""
    assert "file_not_found" in err and "no such rulesets directory" in err


def test_invalid_ruleset_prints_its_issues(run_cli: Any, tmp_path: Path) -> None:
    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    taiyuan = rulesets / "cities" / "140100-taiyuan.yaml"
    taiyuan.write_text(taiyuan.read_text(encoding="utf-8").replace('value: "1000.00"', 'value: "lots"'),
                       encoding="utf-8")
    code, _, err = run_cli("matrix", rulesets, "--as-of", "2025-03-01")
    assert code == 1 and "140100-taiyuan.yaml" in err and "invalid_parameter_value" in err


def test_directory_without_cities(run_cli: Any, tmp_path: Path) -> None:
    rulesets = tmp_path / "rulesets"
    shutil.copytree(RULESETS, rulesets)
    for path in (rulesets / "cities").glob("*.yaml"):
        path.unlink()
    code, _, err = run_cli("matrix", rulesets, "--as-of", "2025-03-01")
    assert code == 1 and "no_city_rulesets" in err


@pytest.mark.parametrize("switch, code_name", [
    ("no_such_switch=x", "unknown_switch"),
    ("member_limit_reading=two", "unknown_switch_option"),
    ("member_limit_reading", "invalid_switch"),
])
def test_bad_switches_are_usage_errors(run_cli: Any, switch: str, code_name: str) -> None:
    code, out, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--switch", switch)
    assert code == 2 and out == "" and code_name in err


def test_unknown_switch_through_the_api(engine: Engine) -> None:
    with pytest.raises(UsageError) as raised:
        build_matrix(engine, 20250301, {"no_such_switch": "x"})
    assert raised.value.issues[0].code == "unknown_switch"


def test_other_usage_errors(run_cli: Any, tmp_path: Path) -> None:
    code, _, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--html", tmp_path / "no" / "m.html")
    assert code == 2 and "file_unwritable" in err
    code, _, err = run_cli("matrix", RULESETS, "--as-of", "2025-03-01", "--width", "20")
    assert code == 2 and "invalid_width" in err
    code, _, err = run_cli("matrix", RULESETS, "--rulesets", tmp_path, "--as-of", "2025-03-01")
    assert code == 2 and "conflicting_arguments" in err


# ----------------------------------------------------------------------------- a small synthetic directory

MINIMAL = {
    "sources/doc.txt": "甲乙丙丁 quote one. 戊己 quote two.\n",
    "national.yaml": """\
ruleset: national
kind: national
name: {zh: 全国, en: National}
version: "1"
parameters:
  - id: rebind_delay_days
    type: int
    title: {zh: 解除后再绑定的等待天数, en: Days before rebinding}
    value: 1
    source: {document: doc.txt, quote: "甲乙丙丁 quote one.", note: "read as whole days & <kept>"}
  - id: resident_inpatient.cap
    type: money
    title: {zh: 居民住院限额, en: Resident inpatient cap}
    from: "2025-01-01"
    value: "100.00"
    source: {document: doc.txt, quote: "戊己 quote two."}
rules:
  - id: rebind_delay
    title: {zh: 等待, en: Wait}
    applies_to: [binding]
    source: {document: doc.txt, quote: "甲乙丙丁 quote one."}
    when: {fact: bound_members, lt: {param: rebind_delay_days}}
    then: {outcome: pass, code: delay_ok, message: {zh: 可以, en: fine}}
    else: {outcome: fail, code: too_soon, message: {zh: 太早, en: too soon}}
  - id: inpatient_cap
    title: {zh: 限额, en: Cap}
    applies_to: [binding]
    from: "2025-01-01"
    source: {document: doc.txt, quote: "戊己 quote two."}
    when: {fact: beneficiary.account_balance, lt: {param: resident_inpatient.cap}}
    then: {outcome: pass, code: cap_ok, message: {zh: 可以, en: fine}}
    else: {outcome: fail, code: cap_over, message: {zh: 超过, en: over}}
""",
    "provinces/340000-anhui.yaml": 'ruleset: "340000"\nkind: province\nparent: national\n'
                                   "name: {zh: 安徽省, en: Anhui}\nversion: \"1\"\n",
    "cities/341100-test.yaml": 'ruleset: "341100"\nkind: city\nparent: "340000"\n'
                               "name: {zh: 测试市, en: Testville}\nversion: \"0.1\"\n",
    "cities/341200-other.yaml": """\
ruleset: "341200"
kind: city
parent: "340000"
name: {zh: 另一市, en: Otherville}
version: "0.2"
parameters:
  - id: own_limit
    type: int
    title: {zh: 本市特有的限额, en: A limit only this city has}
    value: 3
    source: {document: doc.txt, quote: "戊己 quote two."}
rules:
  - id: own_limit_check
    title: {zh: 本市限额, en: Own limit}
    applies_to: [binding]
    source: {document: doc.txt, quote: "戊己 quote two."}
    when: {fact: bound_members, lt: {param: own_limit}}
    then: {outcome: pass, code: own_ok, message: {zh: 可以, en: fine}}
    else: {outcome: fail, code: own_over, message: {zh: 超过, en: over}}
""",
}


@pytest.fixture()
def minimal(tmp_path: Path) -> Path:
    """One city without switches; one parameter outside the known groups, one dated."""
    root = tmp_path / "minimal"
    for name, text in MINIMAL.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_items_without_a_version_or_group(minimal: Path, run_cli: Any, tmp_path: Path) -> None:
    matrix = build_matrix(Engine.load(minimal), 20240601, {}, "en")
    assert [(g.id, [r.param for r in g.rows]) for g in matrix.groups] == [
        ("pooling", ["resident_inpatient.cap"]), ("other", ["own_limit", "rebind_delay_days"])]
    own = matrix.cell("341100", "own_limit")
    assert (own.text, own.in_force, own.used, own.layer) == ("not defined here", False, False, "")
    assert matrix.cell("341200", "own_limit").text == "3" and matrix.cell("341200", "own_limit").layer == "city"
    cap = matrix.cell("341100", "resident_inpatient.cap")
    assert not cap.in_force and cap.text == "no version in force" and not cap.used and cap.footnotes == ()
    assert matrix.cell("341100", "rebind_delay_days").used
    with pytest.raises(KeyError):
        matrix.cell("140100", "rebind_delay_days")
    single = tmp_path / "single"
    shutil.copytree(minimal, single)
    (single / "cities" / "341200-other.yaml").unlink()
    assert "(1 city, 2 items)" in run_cli("matrix", single, "--as-of", "2024-06-01", "--lang", "en")[1]
    assert build_matrix(Engine.load(minimal), 20250101, {}, "en").cell("341100", "resident_inpatient.cap").used

    code, out, _ = run_cli("matrix", minimal, "--as-of", "2024-06-01", "--lang", "en")
    assert code == 0
    assert "(2 cities, 3 items)" in out and "    no switches" in out
    assert "[Other]" in out and "| no version in force ~" in out
    assert "[2] doc.txt「甲乙丙丁 quote one.」 — inference, not a citation: read as whole days & <kept>" in out

    target = tmp_path / "minimal.html"
    assert run_cli("matrix", minimal, "--as-of", "2024-06-01", "--html", target)[0] == 0
    page = target.read_text(encoding="utf-8")
    parse_page(page)
    assert page.count('<td colspan="4">无开关</td>') == 2 and "本市无此项" in page
    assert "read as whole days &amp; &lt;kept&gt;" in page and "<kept>" not in page
    assert "当日无有效版本" in page


def test_display_width_ignores_combining_marks() -> None:
    assert display_width("e\u0301") == 1
