"""The console in a real browser: every page against the running service's own answers."""

from __future__ import annotations

import re

import base64
import copy
import json
from pathlib import Path
from typing import Any

import yaml

from engine import Engine
from engine.core import catalog, values
from engine.core.layering import resolve

from .conftest import ARTEFACTS, ROOT, RULESETS, Service, screenshot

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def permalink(document: dict[str, Any]) -> str:
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
    return "/console/decide#doc=" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def wait_decided(page: Any, after: int) -> None:
    """Until the result pane shows a decision rendered after the ``after``-th one and settles."""
    page.wait_for_function(
        "n => { const p = document.getElementById('result');"
        " return p && Number(p.dataset.settled || 0) > n; }", arg=after)


def renders(page: Any) -> int:
    return int(page.eval_on_selector("#result", "p => Number(p.dataset.renders || 0)"))


def shown_decision(page: Any) -> dict[str, Any]:
    """What the page shows: eligibility, city, request, failed codes and the payment plan."""
    return page.evaluate("""() => {
        const d = document.getElementById('decision');
        const plan = Array.from(document.querySelectorAll('#plan tbody tr')).map(
            tr => ({source: tr.dataset.source, amount: tr.querySelector('td').dataset.amount}));
        const total = document.getElementById('plan-total');
        return {eligible: d.dataset.eligible === 'true', city: d.dataset.city, request: d.dataset.request,
                fail_codes: Array.from(document.querySelectorAll('#failed [data-code]')).map(li => li.dataset.code),
                plan: plan, total: total ? total.textContent : null,
                incomplete: !!document.getElementById('plan-incomplete')};
    }""")


def expected_view(decision: dict[str, Any]) -> dict[str, Any]:
    payment = decision.get("payment") or {}
    return {"eligible": decision["eligible"], "city": decision["city"], "request": decision["request"],
            "fail_codes": [r["code"] for r in decision["reasons"] if r["outcome"] == "fail"],
            "plan": [{"source": p["source"], "amount": p["amount"]} for p in payment.get("plan", [])],
            "total": payment.get("total"), "incomplete": payment.get("complete") is False}


def test_form_decides_every_example_as_the_api_does(page: Any, service: Service) -> None:
    page.goto("/console/decide")
    page.wait_for_selector("#decide-form #submit")
    labels = page.evaluate("""() => Array.from(document.querySelectorAll('#decide-form input, #decide-form select'))
        .filter(c => c.id !== 'example' && !c.closest('[hidden]')).filter(c => c.labels.length === 0).map(c => c.id)""")
    assert labels == [], f"form controls without a label: {labels}"
    cities_seen: set[tuple[str, str]] = set()
    for index, path in enumerate(EXAMPLES):
        document = load(path)
        before = renders(page)
        page.select_option("#example", str(index))
        page.click("#submit")
        wait_decided(page, before)
        expected = service.decide(document)
        assert shown_decision(page) == expected_view(expected), path.name
        cities_seen.add((expected["city"], expected["request"]))
        if path.stem == "chuzhou-payment":
            screenshot(page, "decide-payment", full_page=True)
            page.evaluate("() => window.scrollTo(0, 0)")
            screenshot(page, "decide")
    assert len(cities_seen) == 8  # a binding and a payment case of each of the four cities
    # a plan the sources do not let the engine complete says so (payment.complete false)
    document = load(ROOT / "examples" / "taiyuan-payment.yaml")
    document["beneficiary"]["insurance"] = "employee"  # Taiyuan's employee outpatient pooling: not modelled
    expected = service.decide(document)
    # a fresh load: from the decide page itself the link is a same-document hash change, and
    # the result pane would still show the last example until its new decision renders
    page.goto("about:blank")
    page.goto(permalink(document))
    wait_decided(page, 0)
    assert shown_decision(page) == expected_view(expected)
    if expected["payment"].get("complete") is False:
        assert page.inner_text("#plan-incomplete").endswith(", ".join(expected["payment"]["incomplete"]))


def test_an_older_answer_arriving_last_does_not_replace_the_newer_decision(page: Any, service: Service) -> None:
    """Submit, then submit another case before the first answer arrives: when the first answer
    comes last it is dropped, so the page shows (and settles on) the decision last asked for."""
    first, second = load(EXAMPLES[0]), load(EXAMPLES[1])
    assert expected_view(service.decide(first)) != expected_view(service.decide(second))
    page.goto("/console/decide")
    page.wait_for_selector("#decide-form #submit")
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if not held:
            held.append(route)  # answered only when the test lets it go
        else:
            route.continue_()

    page.route("**/v1/decisions", hold_the_first)
    try:
        before = renders(page)
        page.select_option("#example", "0")
        page.click("#submit")
        page.wait_for_function("() => document.getElementById('result').getAttribute('aria-busy') === 'true'")
        page.select_option("#example", "1")
        page.click("#submit")
        wait_decided(page, before)
        assert shown_decision(page) == expected_view(service.decide(second))
        settled = page.eval_on_selector("#result", "p => p.dataset.settled")
        assert len(held) == 1
        with page.expect_response("**/v1/decisions"):
            held[0].continue_()
        page.wait_for_timeout(300)  # the page has read the first answer: it must change nothing
        assert shown_decision(page) == expected_view(service.decide(second))
        assert page.eval_on_selector("#result", "p => p.dataset.settled") == settled
    finally:
        page.unroute("**/v1/decisions")


def test_why_not_suggestion_applied_makes_it_eligible(page: Any, service: Service) -> None:
    document = load(ROOT / "examples" / "taiyuan-binding.yaml")
    document["relationship"] = "other"
    assert service.decide(document)["eligible"] is False
    page.goto(permalink(document))
    wait_decided(page, 0)
    assert page.get_attribute("#decision", "data-eligible") == "false"
    link = page.locator("#suggestions li[data-kind='facts'][data-eligible='true'] a.apply").first
    text = link.inner_text()
    assert "relationship" in text
    screenshot(page, "decide-why-not", full_page=True)
    before = renders(page)
    link.click()
    wait_decided(page, before)
    assert page.get_attribute("#decision", "data-eligible") == "true"
    assert page.locator("#badge").inner_text() == "符合条件"
    # the applied document is now the page's permalink, and the API agrees with what is shown
    applied = json.loads(base64.urlsafe_b64decode(page.url.split("#doc=")[1] + "==="))
    assert applied["relationship"] != "other"
    assert shown_decision(page) == expected_view(service.decide(applied))
    # the rule chain and full explanation come from /v1/explanations when opened
    page.click("#chain-box summary")
    page.wait_for_function("() => document.getElementById('explanation').textContent.startsWith('决定：')")
    explained = service.http.post("/v1/explanations", params={"lang": "zh"}, json=applied)
    assert page.inner_text("#explanation").strip() == explained.text.strip()


def test_permalink_opens_the_same_case(page: Any, service: Service) -> None:
    document = load(ROOT / "examples" / "yichun-payment.yaml")
    document["expense"]["amount"] = "777.77"
    page.goto(permalink(document))
    wait_decided(page, 0)
    assert page.input_value("#f-expense-amount") == "777.77"
    assert shown_decision(page) == expected_view(service.decide(document))
    # the permalink the page offers opens the same case in a new tab
    href = page.get_attribute("#permalink", "href")
    other = page.context.new_page()
    other.goto(href)
    wait_decided(other, 0)
    assert shown_decision(other) == shown_decision(page)
    # its audit-report link: the service keeps a log and names the logged line (x-decision-id), so the
    # report is that logged decision, not a new one marked "not from the log"
    other.click("#audit-link")
    other.wait_for_selector("#report")
    assert re.search(r"/console/audit/[0-9a-f-]{36}$", other.url), other.url
    decision = service.decide(document)
    assert other.inner_text("#audit-sha") == decision["ruleset"]["sha256"]
    assert other.get_attribute("#badge", "data-eligible") == str(decision["eligible"]).lower()
    assert other.locator("#report .warn").count() == 0
    # a document that was never logged: the report decides it and says it is not from the log
    other.goto(permalink(document).replace("/console/decide#", "/console/audit#"))
    other.wait_for_selector("#report")
    assert other.locator("#report .warn").count() == 1
    assert other.get_attribute("#badge", "data-eligible") == str(decision["eligible"]).lower()
    assert "003_9012a3a345cdc650.txt" in other.inner_text("#audit-citations")  # Yichun's own seed


def linked(url: str) -> dict[str, Any] | None:
    """The fact document a console URL carries (``#doc=``), or None."""
    if "#doc=" not in url:
        return None
    return json.loads(base64.urlsafe_b64decode(url.split("#doc=")[1] + "==="))


def test_links_carry_no_ids_unless_asked(page: Any, service: Service) -> None:
    """The permalink, the audit link and the why-not links hold placeholders for the personal
    fields (the catalog's pii flags) by default; the form keeps the real ids, and the decision is
    the same; the opt-in box puts the ids in the link."""
    document = load(ROOT / "examples" / "taiyuan-binding.yaml")
    document["relationship"] = "other"  # not eligible: the why-not suggestions are links too
    ids = [document["authorizer"]["id"], document["beneficiary"]["id"]]
    page.goto(permalink(document))  # a link made with the ids in it (by hand, or opted in)
    wait_decided(page, 0)
    page.wait_for_selector("#suggestions a.apply")

    def links() -> list[str]:
        return [page.url, page.get_attribute("#permalink", "href"), page.get_attribute("#audit-link", "href"),
                *page.eval_on_selector_all("#suggestions a.apply", "as => as.map(a => a.getAttribute('href'))")]

    carried = [doc for doc in map(linked, links()) if doc is not None]
    assert len(carried) >= 3  # the page's URL, the permalink and at least one suggestion
    for doc in carried:
        assert [doc["authorizer"]["id"], doc["beneficiary"]["id"]] == ["hidden-1", "hidden-2"], doc
    assert not any(i in json.dumps(links()) for i in ids)
    assert page.input_value("#f-authorizer-id") == ids[0]  # the form keeps what was typed
    shared = linked(page.url)
    assert shared is not None and service.decide(shared) == service.decide(document)  # same decision
    # a suggestion applied on this page keeps the real ids in the form, placeholders in the URL
    before = renders(page)
    page.locator("#suggestions a.apply").first.click()
    wait_decided(page, before)
    assert page.input_value("#f-beneficiary-id") == ids[1]
    assert (linked(page.url) or {})["beneficiary"]["id"] == "hidden-2"
    # the explicit opt-in: the link carries the ids
    page.check("#permalink-pii")
    opted = linked(page.url)
    assert opted is not None and [opted["authorizer"]["id"], opted["beneficiary"]["id"]] == ids
    assert linked(page.get_attribute("#permalink", "href") or "") == opted


def test_invalid_input_shows_the_error_next_to_its_field(page: Any, service: Service) -> None:
    page.goto("/console/decide")
    page.wait_for_selector("#decide-form #submit")
    page.select_option("#example", "0")
    page.fill("#f-authorizer-region", "34110")
    page.fill("#f-bound_members", "-1")
    before = renders(page)
    page.click("#submit")
    wait_decided(page, before)
    region_error = page.inner_text("#e-authorizer-region")
    assert "invalid_region_code" in region_error
    assert page.get_attribute("#f-authorizer-region", "aria-invalid") == "true"
    assert page.inner_text("#e-bound_members") != ""
    assert page.get_attribute("#f-bound_members", "aria-invalid") == "true"
    # the rest of the page stays: the form, its values and the error summary
    assert page.input_value("#f-authorizer-region") == "34110"
    assert page.locator("#form-errors").inner_text().strip() != ""
    screenshot(page, "decide-invalid", full_page=True)
    # fixing the field clears its error
    page.fill("#f-authorizer-region", "341102")
    page.fill("#f-bound_members", "1")
    before = renders(page)
    page.click("#submit")
    wait_decided(page, before)
    assert page.inner_text("#e-authorizer-region") == ""
    assert page.get_attribute("#f-authorizer-region", "aria-invalid") is None


def _in_force_text(engine: Engine, city: str, param: str, day: str, lang: str) -> str:
    view = engine.cities[city].view
    chain = resolve(view, param, values.parse_date(day), view.switch_defaults()).complete
    owner, typed = chain[-1]
    return catalog.label(owner.type, typed.value, lang)


def _value_change(engine: Engine, city: str, param: str) -> tuple[str, str]:
    """The day before and the first day of a change of ``param``'s value (Shanxi widened the
    relationship scope on 2024-09-01), found in the rulesets rather than written here."""
    view = engine.cities[city].view
    for day in sorted({v.period.start for p in view.parameters.values() for v in p.versions if v.period.start}):
        before, after = values.format_date(values.previous_day(day)), values.format_date(day)
        if _in_force_text(engine, city, param, before, "zh") != _in_force_text(engine, city, param, after, "zh"):
            return before, after
    raise AssertionError(f"{param} never changes in {city}")


def test_rules_browser_at_two_dates_shows_the_change(page: Any, service: Service) -> None:
    engine = Engine.load(RULESETS)
    before_day, after_day = _value_change(engine, "140100", "relationship_scope")
    old = _in_force_text(engine, "140100", "relationship_scope", before_day, "zh")
    new = _in_force_text(engine, "140100", "relationship_scope", after_day, "zh")
    page.goto(f"/console/rules?city=140100&as_of={before_day}")
    value = page.locator("#param-relationship_scope .in-force-value")
    value.wait_for()
    assert value.inner_text() == old
    screenshot(page, "rules")
    page.fill("#rules-date", after_day)
    page.click("#rules-show")
    page.wait_for_function("t => document.querySelector('#param-relationship_scope .in-force-value')?.textContent === t",
                           arg=new)
    # what changes between the two days, from the same snapshots gongji diff compares
    page.fill("#diff-from", before_day)
    page.fill("#diff-to", after_day)
    page.click("#diff-run")
    row = page.locator("#diff-table tr[data-id='relationship_scope']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[3] == old and cells[4] == new
    # a citation opens its source document with the quote highlighted
    button = page.locator("#param-relationship_scope button.cite").first
    page.locator("#param-relationship_scope summary").click()
    quote = button.get_attribute("data-quote")
    button.click()
    hit = page.locator("#quote-hit")
    hit.wait_for()
    assert hit.inner_text() == quote
    screenshot(page, "rules-source")
    page.keyboard.press("Escape")
    assert page.locator("#source-viewer").is_hidden()


def test_matrix_table_first_with_differing_rows(page: Any, service: Service) -> None:
    answer = service.http.get("/console/api/matrix", params={"as_of": "2025-03-01", "lang": "zh"}).json()
    differing = {r["param"] for g in answer["groups"] for r in g["rows"] if r["differs"]}
    assert differing
    page.goto("/console/matrix?as_of=2025-03-01")
    page.wait_for_selector("#matrix")
    shown = set(page.eval_on_selector_all("#matrix tr.differs", "rows => rows.map(r => r.dataset.param)"))
    assert shown == differing
    # the table comes before the (collapsed) switches, and the first screen shows it
    order = page.evaluate("() => document.getElementById('matrix').compareDocumentPosition("
                          "document.getElementById('matrix-switches')) & Node.DOCUMENT_POSITION_FOLLOWING")
    assert order
    assert page.get_attribute("#matrix-switches", "open") is None
    assert page.evaluate("() => document.getElementById('matrix').getBoundingClientRect().top") < 400
    screenshot(page, "matrix")
    # the rulesets' English-only notes are not mixed into the Chinese table: collapsed, marked English
    notes = [f["note"] for f in answer["footnotes"] if not f["document"]]
    assert notes
    table = page.inner_text("#matrix")
    assert not [n for n in notes if n[:40] in table]
    assert page.get_attribute("#matrix-notes ol", "lang") == "en"
    assert page.get_attribute("#matrix-notes", "open") is None
    # English page: headings and cells in English
    page.click("#lang-switch")
    page.wait_for_function("() => document.documentElement.lang === 'en' && document.querySelector('#matrix')")
    assert "matrix" in page.inner_text("h1").lower()
    english = service.http.get("/console/api/matrix", params={"as_of": "2025-03-01", "lang": "en"}).json()
    first = english["groups"][0]["rows"][0]
    assert page.locator(f"#matrix tr[data-param='{first['param']}'] td").first.inner_text().startswith(
        first["cells"][0]["text"])


def test_audit_report_of_a_logged_decision_prints_to_pdf(page: Any, service: Service) -> None:
    document = load(ROOT / "examples" / "baoding-binding.yaml")
    response = service.http.post("/v1/decisions", json=document)
    assert response.status_code == 200
    decision = response.json()
    entries = [json.loads(line) for line in service.log.read_text(encoding="utf-8").splitlines()]
    entry = next(e for e in entries if e["decision_id"] == response.headers["x-decision-id"])
    page.goto(f"/console/audit/{entry['decision_id']}")
    page.wait_for_selector("#report")
    assert page.inner_text("#audit-id") == entry["decision_id"]
    assert page.inner_text("#audit-time") == entry["timestamp"]
    assert page.inner_text("#audit-sha") == decision["ruleset"]["sha256"]
    assert page.get_attribute("#badge", "data-eligible") == str(decision["eligible"]).lower()
    cited = page.eval_on_selector_all("#audit-citations li", "items => items.map(i => i.dataset.document)")
    assert cited
    # Baoding's report cites no other city's seed (000 Chuzhou, 001 Taiyuan, 003 Yichun)
    assert not {d for d in cited if d[:3] in ("000", "001", "003")}
    assert "000_b1a913a873027671.txt" not in page.inner_text("#audit-explanation")
    screenshot(page, "audit", full_page=True)
    pdf = ARTEFACTS / "audit.pdf"  # kept with the screenshots
    page.emulate_media(media="print")
    page.pdf(path=str(pdf), format="A4")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000
    # an unknown id is an error on the page, not a blank page
    page.goto("/console/audit/00000000-0000-4000-8000-000000000000")
    page.wait_for_selector("#audit-error")


def test_usable_at_900px_and_by_keyboard(browser: Any, service: Service) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 900}, base_url=service.base)
    try:
        page = context.new_page()
        document = copy.deepcopy(load(ROOT / "examples" / "chuzhou-payment.yaml"))
        page.goto(permalink(document).replace("/console/decide", "/console/decide?lang=en"))
        wait_decided(page, 0)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 900
        assert page.inner_text("#badge") in ("Eligible", "Not eligible")
        screenshot(page, "decide-900-en")
        # switching the language keeps what was typed and shows the same decision in Chinese
        page.fill("#f-expense-amount", "321.00")
        page.click("#lang-switch")
        page.wait_for_function("() => document.documentElement.lang === 'zh-CN' && document.getElementById('badge')")
        assert page.input_value("#f-expense-amount") == "321.00"
        assert page.inner_text("#badge") in ("符合条件", "不符合条件")
        page.click("#lang-switch")
        page.wait_for_function("() => document.documentElement.lang === 'en' && document.getElementById('badge')")
        # keyboard, on a freshly loaded page: the skip link comes first, then the page links
        page.reload()
        page.wait_for_selector("#badge")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip"
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent") == "Rules"
        page.keyboard.press("Enter")
        page.wait_for_selector("#params-title")
        assert page.evaluate("() => document.documentElement.lang") == "en"
    finally:
        context.close()


def test_paste_box_decides_yaml_and_reports_syntax_errors(page: Any, service: Service) -> None:
    page.goto("/console/decide")
    page.wait_for_selector("#decide-form #submit")
    page.click("details.paste summary")
    page.fill("#paste", "request: binding\n  as_of: [")
    page.click("#paste-decide")
    page.wait_for_function("() => document.getElementById('paste-errors').textContent.includes('yaml_syntax_error')")
    text = (ROOT / "examples" / "yichun-binding.yaml").read_text(encoding="utf-8")
    page.fill("#paste", text)
    before = renders(page)
    page.click("#paste-decide")
    wait_decided(page, before)
    assert page.inner_text("#paste-errors") == ""
    assert shown_decision(page) == expected_view(service.decide(yaml.safe_load(text)))
    assert page.input_value("#f-beneficiary-last_unbound") == str(yaml.safe_load(text)["beneficiary"]["last_unbound"])
