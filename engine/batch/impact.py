"""``gongji impact OLD NEW --population FILE --html report.html``: who gains, who loses, how much
money moves, when a population is re-decided under a new ruleset version.

Every row is normalized once and decided under both versions on the runner (every core, or
Spark).  The report counts changed outcomes by city, by relationship and by reason (a failing
code that no longer fails, or a new one), and sums the payment plans per source — pooling fund,
the beneficiary's own account, the authorizer's shared account, cash — in exact yuan
(``Decimal``), with the money moved from one source to another.  The HTML page is one file with
its charts as inline SVG (no script, no external resource).
"""

from __future__ import annotations

import argparse
import html
import json
from collections import Counter
from decimal import Decimal
from typing import Any, TextIO
from collections.abc import Mapping, Sequence

from ..core import catalog
from ..core.errors import EngineError
from . import formats
from .progress import Progress
from .rows import Mark, mask_text, parse_item, warm
from .runner import BatchFailure, Job, bind, run

PLAN = catalog.PLAN_SOURCES
SOURCE_LABELS = {"pooling_fund": "pooling fund 统筹基金", "beneficiary_account": "own account 本人账户",
                 "authorizer_account": "shared account 共济账户", "cash": "cash 现金"}
COLORS = {"pooling_fund": "#4e79a7", "beneficiary_account": "#59a14f", "authorizer_account": "#f28e2b",
          "cash": "#e15759"}
CHANGE_KINDS = ("became eligible", "became not eligible", "payment plan changed", "failing reasons changed")
CHANGE_COLORS = ("#59a14f", "#e15759", "#f28e2b", "#9c755f")
ZERO = Decimal("0.00")


# ------------------------------------------------------------------------------ workers


def load_pair(old_dir: str, new_dir: str) -> tuple[Any, Any]:
    from ..runtime.api import Engine

    return warm(Engine.load(old_dir)), warm(Engine.load(new_dir))


def _outcome(engine: Any, facts: Any) -> tuple[Any, ...]:
    """(eligible, failing codes, plan amounts or None, plan complete) — or ("error", codes)."""
    try:
        decision = engine.decide_facts(facts)
    except EngineError as error:
        return ("error", tuple(sorted({i.code for i in error.issues})))
    fails = tuple(sorted({t.head["code"] for t, _, _ in decision.reason_parts() if t.fails}))
    payment = decision.payment
    plan = tuple(p["amount"] for p in payment["plan"]) if payment is not None else None
    return (bool(decision.eligible), fails, plan, payment is None or bool(payment.get("complete", True)))


def impact_chunk(engines: tuple[Any, Any], items: Sequence[Any], first: int, mark: Mark, *,
                 fmt: str) -> list[tuple[Any, ...]]:
    """Per row: ("error", codes, message) or (city, request, relationship, old outcome, new outcome)."""
    old, new = engines
    out: list[tuple[Any, ...]] = []
    for offset, item in enumerate(items):
        mark(first + offset)
        try:
            document = parse_item(fmt, item)
            facts = old.normalize(document)  # once: both versions decide the very same facts
        except (ValueError, RecursionError):
            out.append(("error", ("invalid_json",), "not a JSON document"))
            continue
        except EngineError as error:
            out.append(("error", tuple(sorted({i.code for i in error.issues})), mask_text(error.issues[0].message)))
            continue
        relationship = document.get("relationship") if isinstance(document, dict) else None
        out.append((facts.city, facts.request, str(relationship), _outcome(old, facts), _outcome(new, facts)))
    return out


# ------------------------------------------------------------------------------ the tally


def _money(values: Sequence[str] | None) -> list[Decimal]:
    return [Decimal(v) for v in values] if values is not None else [ZERO] * len(PLAN)


def change_kinds(old: tuple[Any, ...], new: tuple[Any, ...]) -> list[str]:
    if old[0] == "error" or new[0] == "error":
        return [] if old == new else ["failing reasons changed"]
    kinds = []
    if old[0] != new[0]:
        kinds.append("became eligible" if new[0] else "became not eligible")
    elif old[2] != new[2]:
        kinds.append("payment plan changed")
    if not kinds and old[1] != new[1]:
        kinds.append("failing reasons changed")
    return kinds


def reasons(old: tuple[Any, ...], new: tuple[Any, ...]) -> list[str]:
    if old[0] == "error" or new[0] == "error":
        before = "error (" + ", ".join(old[1]) + ")" if old[0] == "error" else "decided"
        after = "error (" + ", ".join(new[1]) + ")" if new[0] == "error" else "decided"
        return [f"{before} -> {after}"]
    gone = [f"{code} no longer fails" for code in old[1] if code not in new[1]]
    added = [f"{code} now fails" for code in new[1] if code not in old[1]]
    return gone + added


def flows(before: Sequence[Decimal], after: Sequence[Decimal]) -> list[tuple[str, str, Decimal]]:
    """Money that moved from one source to another in one plan (decreases matched to increases
    in plan order; the total of a plan is the expense, so they balance)."""
    give = [[PLAN[i], b - a] for i, (b, a) in enumerate(zip(before, after)) if b > a]
    take = [[PLAN[i], a - b] for i, (b, a) in enumerate(zip(before, after)) if a > b]
    out = []
    gi = ti = 0
    while gi < len(give) and ti < len(take):
        amount = min(give[gi][1], take[ti][1])
        out.append((give[gi][0], take[ti][0], amount))
        give[gi][1] -= amount
        take[ti][1] -= amount
        if give[gi][1] == 0:
            gi += 1
        if take[ti][1] == 0:
            ti += 1
    return out


class Impact:
    """Sums over the population (in input order; exact)."""

    def __init__(self) -> None:
        self.rows = 0
        self.decided = 0
        self.changed = 0
        self.errors: Counter[str] = Counter()
        self.by_city: dict[str, Counter[str]] = {}
        self.by_relationship: dict[str, Counter[str]] = {}
        self.by_reason: Counter[str] = Counter()
        self.payments = 0
        self.incomplete = 0  # payments whose new plan leaves a share uncomputed
        self.old_money = dict.fromkeys(PLAN, ZERO)
        self.new_money = dict.fromkeys(PLAN, ZERO)
        self.city_delta: dict[str, dict[str, Decimal]] = {}
        self.moved: dict[tuple[str, str], Decimal] = {}

    def add(self, results: Sequence[tuple[Any, ...]]) -> None:
        for result in results:
            self.rows += 1
            if result[0] == "error":
                self.errors.update(result[1])
                continue
            city, request, relationship, old, new = result
            self.decided += 1
            for table, key in ((self.by_city, city), (self.by_relationship, relationship)):
                table.setdefault(key, Counter())["rows"] += 1
            kinds = change_kinds(old, new)
            if kinds:
                self.changed += 1
                for table, key in ((self.by_city, city), (self.by_relationship, relationship)):
                    table[key]["changed"] += 1
                    table[key].update(kinds)
                self.by_reason.update(reasons(old, new))
            if request == "payment" and old[0] != "error" and new[0] != "error":
                self.payments += 1
                self.incomplete += not new[3]
                before, after = _money(old[2]), _money(new[2])
                delta = self.city_delta.setdefault(city, dict.fromkeys(PLAN, ZERO))
                for source, b, a in zip(PLAN, before, after):
                    self.old_money[source] += b
                    self.new_money[source] += a
                    delta[source] += a - b
                for giver, taker, amount in flows(before, after):
                    self.moved[(giver, taker)] = self.moved.get((giver, taker), ZERO) + amount

    def to_json(self) -> dict[str, Any]:
        def table(rows: Mapping[str, Counter[str]]) -> list[dict[str, Any]]:
            return [{"key": key, "rows": c["rows"], "changed": c["changed"], **{k: c[k] for k in CHANGE_KINDS}}
                    for key, c in sorted(rows.items())]

        return {
            "format": "gongji.impact/1",
            "rows": self.rows, "decided": self.decided, "changed": self.changed,
            "errors": dict(sorted(self.errors.items())),
            "by_city": table(self.by_city),
            "by_relationship": table(self.by_relationship),
            "by_reason": [{"reason": r, "rows": n}
                          for r, n in sorted(self.by_reason.items(), key=lambda item: (-item[1], item[0]))],
            "payments": self.payments,
            "incomplete_plans": self.incomplete,
            "money_yuan": {s: {"old": str(self.old_money[s]), "new": str(self.new_money[s]),
                               "change": str(self.new_money[s] - self.old_money[s])} for s in PLAN},
            "money_change_by_city_yuan": {c: {s: str(v) for s, v in d.items()}
                                          for c, d in sorted(self.city_delta.items())},
            "money_moved_yuan": [{"from": g, "to": t, "amount": str(a)} for (g, t), a in sorted(self.moved.items())],
        }


# ------------------------------------------------------------------------------ SVG charts


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _text_width(text: str) -> float:
    """Rough width in pixels of 12px sans-serif text (CJK characters are about twice as wide)."""
    return sum(12.0 if ord(ch) > 0x2E80 else 6.6 for ch in str(text))


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[str], values: Sequence[Sequence[float]],
                 colors: Sequence[str], fmt: Any = lambda v: f"{v:,.0f}") -> str:
    """Horizontal stacked bars, one per label, as an inline SVG element."""
    width, bar, gap, top = 860, 22, 10, 56
    left = int(min(420, max([120.0] + [_text_width(label) + 16 for label in labels])))
    height = top + len(labels) * (bar + gap) + 20
    total = max([sum(row) for row in values] + [1e-9])
    scale = (width - left - 130) / total  # room for the total after the bar
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_esc(title)}" font-family="sans-serif" font-size="12">',
           f'<text x="0" y="16" font-size="14" font-weight="bold">{_esc(title)}</text>']
    x = left
    for name, color in zip(series, colors):  # legend
        out.append(f'<rect x="{x}" y="28" width="12" height="12" fill="{color}"/>'
                   f'<text x="{x + 16}" y="38">{_esc(name)}</text>')
        x += int(32 + _text_width(name))
    for i, (label, row) in enumerate(zip(labels, values)):
        y = top + i * (bar + gap)
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end">{_esc(label)}</text>')
        x0 = float(left)
        for name, value, color in zip(series, row, colors):
            w = value * scale
            if w > 0:
                out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}">'
                           f'<title>{_esc(label)} — {_esc(name)}: {_esc(fmt(value))}</title></rect>')
                x0 += w
        out.append(f'<text x="{x0 + 6:.1f}" y="{y + bar * 0.7:.1f}">{_esc(fmt(sum(row)))}</text>')
    out.append("</svg>")
    return "".join(out)


def signed_bars(title: str, labels: Sequence[str], values: Sequence[Decimal], colors: Sequence[str]) -> str:
    """Horizontal bars around a zero line (money gained / lost per source)."""
    width, bar, gap, top = 860, 22, 10, 36
    left = int(min(420, max([120.0] + [_text_width(label) + 16 for label in labels])))
    height = top + len(labels) * (bar + gap) + 20
    span = max([abs(v) for v in values] + [Decimal("0.01")])
    half = (width - left - 150) / 2  # the right 150 px hold the amounts
    zero = left + half
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_esc(title)}" font-family="sans-serif" font-size="12">',
           f'<text x="0" y="16" font-size="14" font-weight="bold">{_esc(title)}</text>',
           f'<line x1="{zero}" y1="{top - 6}" x2="{zero}" y2="{height - 14}" stroke="#888"/>']
    for i, (label, value, color) in enumerate(zip(labels, values, colors)):
        y = top + i * (bar + gap)
        w = float(abs(value) / span) * half
        x = zero if value >= 0 else zero - w
        out.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" text-anchor="end">{_esc(label)}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}">'
                   f'<title>{_esc(label)}: {_esc(yuan(value, signed=True))}</title></rect>')
        out.append(f'<text x="{width - 4}" y="{y + bar * 0.7:.1f}" text-anchor="end">'
                   f'{_esc(yuan(value, signed=True))}</text>')
    out.append("</svg>")
    return "".join(out)


def yuan(value: Decimal, signed: bool = False) -> str:
    text = f"¥{abs(value):,.2f}"
    if signed:
        return ("+" if value > 0 else "−" if value < 0 else "±") + text
    return ("−" if value < 0 else "") + text


# ------------------------------------------------------------------------------ the page


_STYLE = """body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left;white-space:nowrap}.muted{color:#777}
.kpi{display:inline-block;margin:0 18px 8px 0;padding:8px 12px;background:#f4f6fa;border-radius:6px}
.kpi b{display:block;font-size:20px}"""


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>")


def _change_section(title: str, rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    labels = [f"{r['key']} {names.get(r['key'], '')}".strip() for r in rows]
    chart = stacked_bars(title, labels, CHANGE_KINDS, [[r[k] for k in CHANGE_KINDS] for r in rows], CHANGE_COLORS)
    table = _table(["", "rows", "changed", *CHANGE_KINDS],
                   [[label, r["rows"], r["changed"], *(r[k] for k in CHANGE_KINDS)] for label, r in zip(labels, rows)])
    return chart + table


def render_html(report: Mapping[str, Any], old: str, new: str, population: str, names: Mapping[str, str]) -> str:
    money = report["money_yuan"]
    old_total = [Decimal(money[s]["old"]) for s in PLAN]
    new_total = [Decimal(money[s]["new"]) for s in PLAN]
    changes = [Decimal(money[s]["change"]) for s in PLAN]
    labels = [SOURCE_LABELS[s] for s in PLAN]
    reasons_rows = report["by_reason"][:15]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>gongji impact: {_esc(old)} → {_esc(new)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Impact of {_esc(new)} (was {_esc(old)})</h1>",
        f"<p class=\"muted\">Population {_esc(population)}: every row decided under both ruleset versions "
        "(the same normalized facts, the same day). Amounts in yuan, exact.</p>",
        f"<div class=\"kpi\">rows<b>{report['rows']:,}</b></div>",
        f"<div class=\"kpi\">decided<b>{report['decided']:,}</b></div>",
        f"<div class=\"kpi\">changed<b>{report['changed']:,}</b></div>",
        f"<div class=\"kpi\">payments<b>{report['payments']:,}</b></div>",
        f"<div class=\"kpi\">incomplete plans<b>{report['incomplete_plans']:,}</b></div>",
        f"<div class=\"kpi\">invalid rows<b>{report['rows'] - report['decided']:,}</b></div>",
        "<h2>Changed outcomes by city</h2>", _change_section("Changed decisions by city", report["by_city"], names),
        "<h2>Money by source</h2>",
        f"<p class=\"muted\">{report['incomplete_plans']:,} plans are incomplete: a pooling share the sources do "
        "not give is not computed, so their other sources carry the whole amount.</p>"
        if report["incomplete_plans"] else "",
        stacked_bars("Payment plans per source, old and new (yuan)", ["old", "new"], labels,
                     [[float(v) for v in old_total], [float(v) for v in new_total]],
                     [COLORS[s] for s in PLAN], fmt=lambda v: f"¥{v:,.2f}"),
        signed_bars("Change per source (new − old)", labels, changes, [COLORS[s] for s in PLAN]),
        _table(["source", "old", "new", "change"],
               [[label, yuan(o), yuan(n), yuan(c, signed=True)]
                for label, o, n, c in zip(labels, old_total, new_total, changes)]),
        "<h3>Money moved between sources</h3>",
        _table(["from", "to", "amount"], [[SOURCE_LABELS[m["from"]], SOURCE_LABELS[m["to"]],
                                          yuan(Decimal(m["amount"]))] for m in report["money_moved_yuan"]])
        if report["money_moved_yuan"] else "<p>No money moved.</p>",
        "<h3>Change per source by city</h3>",
        _table(["city", *labels], [[f"{c} {names.get(c, '')}".strip(),
                                    *(yuan(Decimal(d[s]), signed=True) for s in PLAN)]
                                   for c, d in report["money_change_by_city_yuan"].items()]),
        "<h2>Changed outcomes by relationship</h2>",
        _change_section("Changed decisions by relationship", report["by_relationship"], {}),
        "<h2>Changed outcomes by reason</h2>",
        stacked_bars("Decisions per reason change (top 15)", [r["reason"] for r in reasons_rows], ["rows"],
                     [[r["rows"]] for r in reasons_rows], ["#76b7b2"]) if reasons_rows else "<p>No change.</p>",
    ]
    if report["errors"]:
        parts += ["<h2>Rows not decided</h2>", _table(["code", "rows"], sorted(report["errors"].items()))]
    parts.append("<p class=\"muted\">Charts: the charts' tooltips give exact values. Generated by gongji impact."
                 "</p></body></html>\n")
    return "".join(parts)


def render_text(report: Mapping[str, Any]) -> str:
    lines = [f"{report['rows']} row(s): {report['decided']} decided under both, {report['changed']} changed, "
             f"{report['rows'] - report['decided']} invalid"]
    for row in report["by_city"]:
        kinds = ", ".join(f"{k} {row[k]}" for k in CHANGE_KINDS if row[k])
        lines.append(f"  {row['key']}: {row['changed']} of {row['rows']} changed" + (f" ({kinds})" if kinds else ""))
    for reason in report["by_reason"][:10]:
        lines.append(f"  {reason['rows']:>8}  {reason['reason']}")
    lines.append("  money (yuan), old -> new: " + "; ".join(
        f"{s} {v['old']} -> {v['new']}" for s, v in report["money_yuan"].items()))
    return "\n".join(lines)


def impact_main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..core.errors import Printer
    from .cli import run_options

    options = run_options(args)
    fmt = formats.guess_format(args.population, args.input_format, "input")
    source = formats.Source(args.population, fmt)
    if options.engine == "local":
        source.check()
    # Reports are written whole or not at all: temp files beside the targets (reserved first, so an
    # unwritable target fails before any work), renamed into place once both are complete.
    pending: list[tuple[formats.PendingFile, str]] = []
    try:
        for path, kind in ((args.json, "json"), (args.html, "html")):
            if path:
                pending.append((formats.PendingFile(path), kind))
        engines = load_pair(args.old, args.new)
        names = {cid: city.name.zh for engine in engines for cid, city in engine.cities.items()}
        job = Job(load_pair, (args.old, args.new), bind(impact_chunk, fmt=fmt))
        progress = Progress(err, source.count() if options.engine == "local" else None, "gongji impact",
                            args.progress, args.progress_every)
        impact = Impact()
        try:
            for results in run(job, source, options, state=engines):
                impact.add(results)
                progress.update(len(results))
        except BatchFailure as failure:
            progress.close(ok=False)
            Printer(err).issues(failure.issues)
            if pending:
                print(f"gongji impact: failed; {', '.join(p.path for p, _ in pending)} not written", file=err)
            return 3
        progress.close()
        report = impact.to_json()
        for file, kind in pending:
            file.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n" if kind == "json" else
                       render_html(report, args.old, args.new, args.population, names))
        for file, _ in pending:
            file.publish()
        pending = []
    finally:
        for file, _ in pending:
            file.discard()
    print(render_text(report), file=out)
    return 0
