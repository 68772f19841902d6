/* gongji console: four pages rendered from the service's JSON. Plain ES2020, no dependencies,
   no build step. Every text comes from T (zh default, en) or from the rulesets' own zh/en texts;
   every value is inserted as text (never as HTML). */
"use strict";

const T = {
  zh: {
    title: "gongji 控制台", skip: "跳到正文", decide: "决定与解释", rules: "规则浏览", matrix: "城市对照表",
    audit: "审计报告", other_lang: "English", other_lang_label: "Switch to English", nav: "页面",
    example: "从示例开始", choose_example: "（选择示例文档）", city: "适用规则集（城市）",
    city_default: "按授权人参保地", request: "请求类型", authorizer: "授权人", beneficiary: "被授权人",
    authorization: "授权", expense: "费用", pooling_ytd: "本年度统筹累计", switches: "开关",
    switch_default: "默认", id: "标识", submit: "决定", paste: "粘贴 YAML / JSON",
    paste_label: "事实文档（YAML 或 JSON）", paste_load: "载入到表单", paste_decide: "按粘贴内容决定",
    permalink: "永久链接", permalink_hint: "链接中编码了事实文档（证件号码默认以占位符代替）",
    permalink_pii: "链接中包含证件号码（个人信息，会留在浏览器历史中）",
    eligible: "符合条件", not_eligible: "不符合条件", result: "决定结果", no_result: "填写表单后点击“决定”。",
    payment_plan: "支付方案", source: "支付来源", amount: "金额（元）", total: "合计",
    incomplete: "支付方案不完整：以下部分未能计算", failed: "未通过的检查", passed: "通过的检查", info: "说明",
    rule_chain: "规则链与完整解释", citations: "引用的政策原文", whynot: "如何才能符合条件",
    apply: "应用此修改", becomes_eligible: "修改后符合条件", still_not: "修改后仍不符合",
    no_suggestion: "无法仅通过修改事实满足", errors: "输入有误，请修改标出的字段：",
    error_other: "其他问题", server_error: "服务返回错误", network_error: "无法连接服务",
    actual: "实际值", open_source: "查看原文", ruleset: "规则集", as_of: "决定日期", period: "适用期间",
    audit_link: "打开审计报告", yes: "是", no: "否",
    rules_title: "规则浏览", date: "日期", show: "显示", layers: "规则集层级", parameters: "参数", rules_h: "规则",
    in_force: "当日生效", none_in_force: "当日无生效版本", versions: "各版本", variant: "仅当开关",
    from_open: "起始日未规定", to_open: "至今", changes: "两个日期之间的变化", date_a: "日期 A", date_b: "日期 B",
    compare: "比较", no_changes: "这两天生效的内容相同。", change_kind: "类别", item: "项目", change: "变化",
    before: "A 日", after: "B 日", parameter: "参数", rule: "规则", added: "新增", removed: "取消",
    value: "取值改变", sources: "出处改变", changed: "内容改变", notes: "分析员注释（英文原文）",
    option_in_force: "当前选项", close: "关闭", quote_not_found: "原文中未找到该引文", applies_to: "适用于",
    binding: "绑定", payment: "支付", outcome_pass: "通过", outcome_fail: "不通过", outcome_info: "说明",
    matrix_title: "城市对照表", differs: "各城市不同", differs_legend: "黄色底纹的行：各城市取值不同",
    switches_per_city: "各城市的开关", footnotes: "引文", default_option: "默认", chosen_option: "指定",
    depends: "取决于开关", unused: "当日本市没有规则使用此项", layer_national: "全国", layer_province: "省",
    layer_city: "市",
    audit_title: "决定审计报告", decision_id: "决定编号", decided_at: "决定时间", generated_at: "生成时间",
    not_logged: "此决定未记录于决定日志（由链接中的事实文档重新决定）", sha256: "规则集 sha256",
    print: "打印 / 保存为 PDF", explanation: "解释", jurisdiction_citations: "本决定所属辖区的引文",
    omitted: "已略去其他辖区的引文", same_ruleset_no: "注意：当前加载的规则集与作出此决定的规则集不同，解释按当前规则集重新生成。",
    audit_missing: "没有此编号的决定", audit_help: "从决定日志中某一行的 decision_id 打开：/console/audit/<decision_id>",
    overrides: "覆盖上级", inference: "推断（非引文）", inferences: "推断（非引文）：引文只通过注释支持取值", facts: "事实", switches_used: "开关取值", loading: "加载中…", masked: "（已遮蔽）",
  },
  en: {
    title: "gongji console", skip: "Skip to content", decide: "Decide & explain", rules: "Rules", matrix: "Matrix",
    audit: "Audit report", other_lang: "中文", other_lang_label: "切换到中文", nav: "Pages",
    example: "Start from an example", choose_example: "(choose an example document)", city: "Ruleset (city)",
    city_default: "the authorizer's pool", request: "Request", authorizer: "Authorizer", beneficiary: "Beneficiary",
    authorization: "Authorization", expense: "Expense", pooling_ytd: "Pooling used this year", switches: "Switches",
    switch_default: "default", id: "id", submit: "Decide",
    paste: "Paste YAML / JSON", paste_label: "Fact document (YAML or JSON)", paste_load: "Load into the form",
    paste_decide: "Decide the pasted document", permalink: "Permalink",
    permalink_hint: "the link encodes the fact document (ids replaced by placeholders unless included)",
    permalink_pii: "Include the ids in the link (personal data: it stays in the browser history)",
    eligible: "Eligible", not_eligible: "Not eligible", result: "Decision", no_result: "Fill in the form and press Decide.",
    payment_plan: "Payment plan", source: "Source", amount: "Amount (yuan)", total: "Total",
    incomplete: "The plan is incomplete: these shares could not be computed", failed: "Failed checks",
    passed: "Passed checks", info: "Notes", rule_chain: "Rule chain and full explanation",
    citations: "Policy text cited", whynot: "What would make it eligible", apply: "Apply this change",
    becomes_eligible: "eligible after the change", still_not: "still not eligible after the change",
    no_suggestion: "no change of the facts alone satisfies it",
    errors: "The input has problems; fix the marked fields:", error_other: "Other problems",
    server_error: "The service answered with an error", network_error: "The service cannot be reached",
    actual: "actual values", open_source: "open the source", ruleset: "Ruleset", as_of: "Decision date",
    period: "Period in force", audit_link: "Open the audit report", yes: "yes", no: "no",
    rules_title: "Rules browser", date: "Date", show: "Show", layers: "Ruleset layers", parameters: "Parameters",
    rules_h: "Rules", in_force: "in force that day", none_in_force: "no version in force that day",
    versions: "Versions", variant: "only under switch", from_open: "start not stated", to_open: "open-ended",
    changes: "What changes between two dates", date_a: "Date A", date_b: "Date B", compare: "Compare",
    no_changes: "The same is in force on both days.", change_kind: "Kind", item: "Item", change: "Change",
    before: "Day A", after: "Day B", parameter: "parameter", rule: "rule", added: "added", removed: "removed",
    value: "value changes", sources: "citation changes", changed: "content changes", notes: "Analyst notes",
    option_in_force: "option in force", close: "Close", quote_not_found: "the quote was not found in the document",
    applies_to: "applies to", binding: "binding", payment: "payment", outcome_pass: "pass", outcome_fail: "fail",
    outcome_info: "info",
    matrix_title: "City × policy item matrix", differs: "cities differ",
    differs_legend: "Shaded rows: the cities' values differ", switches_per_city: "Switches per city",
    footnotes: "Citations", default_option: "default", chosen_option: "chosen", depends: "depends on the switches",
    unused: "no rule of the city uses this item on that day", layer_national: "national",
    layer_province: "province", layer_city: "city",
    audit_title: "Decision audit report", decision_id: "Decision id", decided_at: "Decided at",
    generated_at: "Generated at", not_logged: "This decision is not in the decision log (decided again from the document in the link)",
    sha256: "Ruleset sha256", print: "Print / save as PDF", explanation: "Explanation",
    jurisdiction_citations: "Citations of this decision's jurisdiction", omitted: "Citations of other jurisdictions left out",
    same_ruleset_no: "Note: the rulesets loaded now differ from those that made this decision; the explanation was produced by the current ones.",
    audit_missing: "No decision with this id", audit_help: "Open from a decision-log line's decision_id: /console/audit/<decision_id>",
    overrides: "overrides", inference: "inference, not a citation", inferences: "Inferences (not citations): the quote backs the value only through the note", facts: "Facts", switches_used: "Switches", loading: "Loading…", masked: "(masked)",
  },
};

const params = new URLSearchParams(location.search);
let LANG = params.get("lang") === "en" ? "en" : "zh";
const t = (key) => T[LANG][key] ?? key;
const txt = (text) => (text && typeof text === "object" ? (text[LANG] ?? text.zh ?? text.en ?? "") : (text ?? ""));

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

// replaceChildren with h()'s rules: nested arrays flattened, null/false dropped
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  return el;
}

async function api(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (exc) {
    return { status: 0, body: { error: "network", summary: t("network_error") } };
  }
  const type = response.headers.get("content-type") || "";
  let body;
  try {
    body = type.includes("json") ? await response.json() : await response.text();
  } catch (exc) {
    body = null;
  }
  return { status: response.status, body, headers: response.headers };
}

const postJSON = (url, value) => api(url, {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(value),
});

// base64url of UTF-8 JSON: the permalink's document
function encodeDoc(doc) {
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  let bin = "";
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function decodeDoc(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
// Personal fields (the catalog's pii flags, /console/api/meta "pii_fields") never go into a URL
// unless asked: each distinct value becomes a placeholder ("hidden-1"), which decides the same way
// (no rule reads an id). Placeholders made on this page map back to the values typed in, so a
// suggestion link applied here keeps the real ids in the form.
const piiState = { include: false, values: new Map() };  // placeholder -> the value it stands for

function eachPii(doc, visit) {
  for (const path of (META.pii_fields || []).map((p) => p.split("."))) {
    let parent = doc;
    for (const key of path.slice(0, -1)) parent = parent && typeof parent === "object" ? parent[key] : undefined;
    const last = path[path.length - 1];
    if (parent && typeof parent === "object" && Object.prototype.hasOwnProperty.call(parent, last)) visit(parent, last);
  }
}
function linkDoc(doc) {
  if (piiState.include) return doc;
  const copy = JSON.parse(JSON.stringify(doc));
  const known = new Map([...piiState.values].map(([placeholder, value]) => [JSON.stringify(value), placeholder]));
  eachPii(copy, (parent, key) => {
    const value = JSON.stringify(parent[key]);
    let placeholder = known.get(value);
    if (placeholder === undefined) {
      placeholder = `hidden-${piiState.values.size + 1}`;
      piiState.values.set(placeholder, parent[key]);
      known.set(value, placeholder);
    }
    parent[key] = placeholder;
  });
  return copy;
}
function restorePii(doc) {
  if (doc) eachPii(doc, (parent, key) => { if (piiState.values.has(parent[key])) parent[key] = piiState.values.get(parent[key]); });
  return doc;
}
const linkHash = (doc) => `#doc=${encodeDoc(linkDoc(doc))}`;

function hashDoc() {
  const match = location.hash.match(/^#doc=([A-Za-z0-9_-]+)$/);
  if (!match) return null;
  try { return decodeDoc(match[1]); } catch (exc) { return null; }
}

// issues of a 4xx answer, whatever envelope the service uses
function issuesOf(body) {
  if (!body || typeof body !== "object") return [];
  for (const key of ["issues", "errors", "detail"]) {
    if (Array.isArray(body[key])) return body[key];
  }
  if (body.error && typeof body.error === "object") return issuesOf(body.error);
  return [];
}
const issueText = (issue) => {
  let text = `${issue.code ? issue.code + ": " : ""}${issue.message || ""}`;
  const extra = [];
  if (issue.expected !== undefined) extra.push(`expected ${typeof issue.expected === "string" ? issue.expected : JSON.stringify(issue.expected)}`);
  if (issue.found !== undefined) extra.push(`found ${JSON.stringify(issue.found)}`);
  if (extra.length) text += ` (${extra.join(", ")})`;
  return text;
};

const today = () => new Date().toISOString().slice(0, 10);
const withLang = (path) => (LANG === "en" ? path + (path.includes("?") ? "&" : "?") + "lang=en" : path);
const PAGES = ["decide", "rules", "matrix", "audit"];
const route = () => {
  const parts = location.pathname.replace(/\/+$/, "").split("/");
  const index = parts.indexOf("console");
  return { page: parts[index + 1] || "decide", arg: parts.slice(index + 2).join("/") };
};

let META = null;
async function meta() {
  if (!META) {
    const answer = await api("/console/api/meta");
    if (answer.status !== 200) throw new Error(answer.body?.summary || t("server_error"));
    META = answer.body;
  }
  return META;
}

function frame() {
  document.documentElement.lang = LANG === "zh" ? "zh-CN" : "en";
  document.title = `${t(route().page)} · ${t("title")}`;
  document.querySelector(".skip").textContent = t("skip");
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("nav"));
  nav.replaceChildren(...PAGES.map((page) => h("a", {
    href: withLang(`/console/${page}`), "aria-current": route().page === page ? "page" : null, text: t(page),
  })));
  const button = document.getElementById("lang-switch");
  button.textContent = t("other_lang");
  button.setAttribute("aria-label", t("other_lang_label"));
  button.setAttribute("lang", LANG === "zh" ? "en" : "zh-CN");
  button.onclick = () => {
    const form = document.getElementById("decide-form");
    if (form) decideState.draft = readForm(form); // keep what was typed but not yet decided
    LANG = LANG === "zh" ? "en" : "zh";
    const url = new URL(location.href);
    if (LANG === "en") url.searchParams.set("lang", "en"); else url.searchParams.delete("lang");
    history.replaceState(null, "", url);
    render();
  };
  document.getElementById("source-close").textContent = t("close");
}

const main = () => document.getElementById("main");
function showError(message) {
  fill(main(), h("div", { class: "panel", role: "alert" }, h("p", { class: "form-errors", text: message })));
}

// ------------------------------------------------------------------ source viewer

let viewerReturn = null;
async function openSource(documentName, quote) {
  const viewer = document.getElementById("source-viewer");
  const pre = document.getElementById("source-text");
  document.getElementById("source-title").textContent = documentName;
  const answer = await api(`/console/api/sources/${encodeURIComponent(documentName)}`);
  const text = typeof answer.body === "string" ? answer.body : issuesOf(answer.body).map(issueText).join("\n");
  const at = quote ? text.indexOf(quote) : -1;
  if (at >= 0) {
    fill(pre, text.slice(0, at), h("mark", { id: "quote-hit", text: quote }), text.slice(at + quote.length));
  } else {
    fill(pre, quote ? h("p", { class: "form-errors", text: `${t("quote_not_found")}: 「${quote}」` }) : "", text);
  }
  viewerReturn = document.activeElement;
  viewer.hidden = false;
  const hit = document.getElementById("quote-hit");
  if (hit) hit.scrollIntoView({ block: "center" });
  document.getElementById("source-close").focus();
}
function closeSource() {
  document.getElementById("source-viewer").hidden = true;
  if (viewerReturn && viewerReturn.focus) viewerReturn.focus();
}

function citeButton(source) {
  if (!source || !source.document) return null;
  return h("button", {
    type: "button", class: "secondary cite", "data-document": source.document, "data-quote": source.quote || "",
    title: t("open_source"), onclick: () => openSource(source.document, source.quote || ""),
  }, source.document, source.quote ? h("span", { class: "quote" }, `「${source.quote}」`) : "");
}

// ------------------------------------------------------------------ decide

const ENUM_LABELS = { request: "request", insurance: "insurance", status: "status", relationship: "relationship",
  category: "category", credential: "credential", hospital_level: "hospital_level" };
const GROUP_KEYS = ["authorizer", "beneficiary", "authorization", "expense", "pooling_ytd"];
const PAYMENT_ONLY = ["authorization", "expense"];
const fieldId = (pointer) => "f" + pointer.replace(/\//g, "-");
const errorId = (pointer) => "e" + pointer.replace(/\//g, "-");

function leafLabel(pointer) {
  const path = pointer.slice(1).replace(/\//g, ".");
  const last = path.split(".").pop();
  const field = META.fields[path];
  if (field) return field[LANG];
  if (last === "id") return `${t(path.split(".")[0])}${LANG === "zh" ? "" : " "}${t("id")}`;
  return t(last);
}

function leafControl(pointer, schema, required) {
  const id = fieldId(pointer);
  const key = pointer.split("/").pop();
  const common = { id, name: pointer, "data-pointer": pointer, "aria-describedby": errorId(pointer),
    "aria-required": required ? "true" : null };
  let control;
  if (schema.enum) {
    const group = META.labels[ENUM_LABELS[key]] || {};
    control = h("select", common, required ? null : h("option", { value: "", text: "—" }),
      schema.enum.map((value) => h("option", { value: String(value), "data-type": typeof value,
        text: group[String(value)] ? `${txt(group[String(value)])} (${value})` : String(value) })));
  } else if (schema.type === "boolean") {
    control = h("input", { ...common, type: "checkbox", "data-kind": "boolean" });
  } else if (schema.type === "integer") {
    control = h("input", { ...common, type: "number", step: "1", inputmode: "numeric", "data-kind": "integer" });
  } else {
    const example = (schema.examples || [])[0];
    control = h("input", { ...common, type: "text", autocomplete: "off", spellcheck: "false",
      placeholder: example ?? "", "data-kind": "string" });
  }
  return h("div", { class: "field" },
    h("label", { for: id }, leafLabel(pointer), required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : ""),
    control, h("span", { class: "field-error", id: errorId(pointer), role: "status" }));
}

function schemaFields(schema, pointer) {
  const required = new Set(schema.required || []);
  const out = [];
  for (const [key, sub] of Object.entries(schema.properties || {})) {
    const here = `${pointer}/${key}`;
    if (key === "switches" || key === "city") continue; // the city and switch selects are built from the rulesets
    if (sub.type === "object" && sub.properties) {
      out.push(h("fieldset", { "data-group": key, "data-pointer": here, class: PAYMENT_ONLY.includes(key) ? "payment-only" : null },
        h("legend", { text: t(key) }), schemaFields(sub, here),
        h("span", { class: "field-error", id: errorId(here), role: "status" })));
    } else {
      out.push(leafControl(here, sub, required.has(key)));
    }
  }
  return out;
}

// seq: the newest decide request; an answer to an older one (the user submitted again meanwhile)
// must not paint over the newer result
const decideState = { doc: null, decision: null, renders: 0, seq: 0 };

function switchFields(cityId) {
  const city = META.cities.find((c) => c.id === cityId);
  const box = h("fieldset", { id: "switches-box", "data-pointer": "/switches" }, h("legend", { text: t("switches") }));
  if (!city) {
    box.append(h("p", { class: "muted", text: META.cities.map((c) => txt(c.name)).join(" · ") }));
    return box;
  }
  for (const sw of city.switches) {
    const pointer = `/switches/${sw.id}`;
    box.append(h("div", { class: "field" },
      h("label", { for: fieldId(pointer), text: txt(sw.title) }),
      h("select", { id: fieldId(pointer), "data-switch": sw.id, "data-pointer": pointer, "aria-describedby": errorId(pointer) },
        h("option", { value: "", text: `${t("switch_default")}: ${sw.default}` }),
        sw.options.map((o) => h("option", { value: o.name, text: `${o.name} — ${txt(o.description)}` }))),
      h("span", { class: "field-error", id: errorId(pointer), role: "status" })));
  }
  box.append(h("span", { class: "field-error", id: errorId("/switches"), role: "status" }));
  return box;
}

function cityOf(doc) {
  if (doc.city) return doc.city;
  const region = doc.authorizer?.region || "";
  const found = META.cities.find((c) => region.slice(0, 4) === c.id.slice(0, 4));
  return found ? found.id : "";
}

function readForm(form) {
  const doc = {};
  const set = (pointer, value) => {
    const parts = pointer.slice(1).split("/");
    let target = doc;
    parts.slice(0, -1).forEach((part) => { target = target[part] ??= {}; });
    target[parts[parts.length - 1]] = value;
  };
  for (const el of form.querySelectorAll("[data-pointer]")) {
    if (!["INPUT", "SELECT"].includes(el.tagName)) continue;
    if (el.closest(".payment-only") && form.elements["/request"].value !== "payment") continue;
    const pointer = el.dataset.pointer;
    if (el.type === "checkbox") { set(pointer, el.checked); continue; }
    const raw = el.value.trim();
    if (raw === "") continue;
    if (el.dataset.kind === "integer") set(pointer, /^-?\d+$/.test(raw) ? Number(raw) : raw);
    else if (el.tagName === "SELECT" && el.selectedOptions[0]?.dataset.type === "number") set(pointer, Number(raw));
    else set(pointer, raw);
  }
  const city = form.querySelector("#f-city").value;
  if (city) doc.city = city;
  const order = ["request", "as_of", "city", "switches", "authorizer", "beneficiary", "relationship", "bound_members",
    "authorization", "expense"];
  return Object.fromEntries(order.filter((k) => k in doc).map((k) => [k, doc[k]]));
}

function fillForm(form, doc) {
  form.querySelector("#f-city").value = doc.city && META.cities.some((c) => c.id === doc.city) ? doc.city : "";
  form.querySelector("#switches-box").replaceWith(switchFields(cityOf(doc)));
  for (const el of form.querySelectorAll("[data-pointer]")) {
    if (!["INPUT", "SELECT"].includes(el.tagName)) continue;
    let value = doc;
    for (const part of el.dataset.pointer.slice(1).split("/")) value = value == null ? undefined : value[part];
    if (el.type === "checkbox") el.checked = value === true;
    else el.value = value === undefined || value === null ? "" : String(value);
  }
  syncRequest(form);
}

function syncRequest(form) {
  const payment = form.elements["/request"].value === "payment";
  form.querySelectorAll(".payment-only").forEach((el) => { el.hidden = !payment; });
}

function clearErrors(root) {
  root.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const box = root.querySelector("#form-errors");
  if (box) fill(box, );
}

function showIssues(form, issues, fallback) {
  const box = form.querySelector("#form-errors");
  const other = [];
  let first = null;
  for (const issue of issues) {
    let pointer = issue.pointer ?? (typeof issue.path === "string" ? issue.path : "");
    // the deepest field or group of the form the pointer falls in
    let slot = null;
    while (pointer && !slot) {
      slot = form.querySelector(`#${CSS.escape(errorId(pointer))}`);
      if (!slot) pointer = pointer.slice(0, pointer.lastIndexOf("/"));
    }
    if (!slot) { other.push(issue); continue; }
    slot.textContent = (slot.textContent ? slot.textContent + "；" : "") + issueText(issue);
    const control = form.querySelector(`#${CSS.escape(fieldId(pointer))}`);
    if (control) { control.setAttribute("aria-invalid", "true"); first ??= control; }
  }
  fill(box, h("p", { text: issues.length ? t("errors") : fallback || t("server_error") }),
    other.length ? h("ul", {}, other.map((i) => h("li", { text: issueText(i) }))) : "");
  (first || box).focus?.();
}

function renderDecide() {
  const form = h("form", { id: "decide-form", novalidate: true, "aria-labelledby": "form-title" });
  const exampleSelect = h("select", { id: "example" }, h("option", { value: "", text: t("choose_example") }),
    META.examples.map((e, i) => h("option", { value: String(i), text: `${e.name} — ${e.title}` })));
  exampleSelect.onchange = () => {
    const example = META.examples[Number(exampleSelect.value)];
    if (example) { fillForm(form, example.document); pasteBox.value = JSON.stringify(example.document, null, 2); }
  };
  const citySelect = h("select", { id: "f-city", "data-role": "city", "aria-describedby": errorId("/city") },
    h("option", { value: "", text: t("city_default") }),
    META.cities.map((c) => h("option", { value: c.id, text: `${txt(c.name)} ${c.id}` })));
  citySelect.onchange = () => form.querySelector("#switches-box").replaceWith(switchFields(citySelect.value || cityOf(readForm(form))));
  const pasteBox = h("textarea", { id: "paste", spellcheck: "false" });
  const pasteErrors = h("div", { id: "paste-errors", class: "form-errors", role: "alert" });
  async function parsePaste() {
    pasteErrors.textContent = "";
    const answer = await api("/console/api/parse", { method: "POST", headers: { "content-type": "application/yaml" }, body: pasteBox.value });
    if (answer.status !== 200) {
      pasteErrors.textContent = issuesOf(answer.body).map(issueText).join("\n") || t("server_error");
      return null;
    }
    return answer.body.document;
  }
  fill(form,
    h("h1", { id: "form-title", text: t("decide") }),
    h("div", { class: "field" }, h("label", { for: "example", text: t("example") }), exampleSelect),
    h("div", { id: "form-errors", class: "form-errors", role: "alert", tabindex: "-1" }),
    h("div", { class: "field" }, h("label", { for: "f-city", text: t("city") }), citySelect,
      h("span", { class: "field-error", id: errorId("/city"), role: "status" })),
    schemaFields(META.schema, ""),
    switchFields(""),
    h("span", { class: "field-error", id: errorId(""), role: "status" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "submit", text: t("submit") })),
    h("details", { class: "paste" }, h("summary", { text: t("paste") }),
      h("label", { for: "paste", text: t("paste_label") }), pasteBox, pasteErrors,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", id: "paste-load", text: t("paste_load"),
          onclick: async () => { const doc = await parsePaste(); if (doc) fillForm(form, doc); } }),
        h("button", { type: "button", class: "secondary", id: "paste-decide", text: t("paste_decide"),
          onclick: async () => { const doc = await parsePaste(); if (doc) { fillForm(form, doc); await decide(form, doc); } } }))),
  );
  // the request field comes from the schema; payment-only groups follow it
  const resultPane = h("section", { id: "result", class: "panel", "aria-live": "polite", "aria-labelledby": "result-title" },
    h("h2", { id: "result-title", text: t("result") }), h("p", { class: "muted", text: t("no_result") }));
  fill(main(), h("div", { class: "decide" }, h("div", { class: "panel" }, form), resultPane));
  form.elements["/request"].addEventListener("change", () => syncRequest(form));
  form.elements["/authorizer/region"].addEventListener("change", () => {
    if (!citySelect.value) form.querySelector("#switches-box").replaceWith(switchFields(cityOf(readForm(form))));
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); decide(form, readForm(form)); });
  const start = decideState.draft || restorePii(hashDoc()) || decideState.doc || META.examples[0]?.document;
  decideState.draft = null;
  if (start) fillForm(form, start);
  if (hashDoc()) decide(form, restorePii(hashDoc()));
}

async function decide(form, doc) {
  clearErrors(form);
  decideState.doc = doc;
  const hash = linkHash(doc);  // personal fields as placeholders unless included: URLs end up in histories
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
  const pane = document.getElementById("result");
  const seq = ++decideState.seq;
  pane.setAttribute("aria-busy", "true");
  const answer = await postJSON("/v1/decisions", doc);
  if (seq !== decideState.seq) return;  // superseded: the newer request renders
  pane.removeAttribute("aria-busy");
  if (answer.status !== 200) {
    decideState.decision = null;
    showIssues(form, issuesOf(answer.body), answer.body?.summary || answer.body?.message);
    fill(pane, h("h2", { id: "result-title", text: t("result") }),
      h("p", { class: "form-errors", id: "result-error", text: `${t("server_error")} (${answer.status})` }));
    pane.dataset.renders = String(++decideState.renders);
    pane.dataset.settled = pane.dataset.renders;
    return;
  }
  decideState.decision = answer.body;
  renderResult(pane, doc, answer.body, answer.headers, seq);
}

function planSection(payment) {
  const plan = payment.plan || [];
  const totalFen = plan.reduce((sum, p) => sum + Math.round(Number(p.amount) * 100), 0) || 1;
  const label = (source) => txt(META.plan_sources[source]) || source;
  return h("section", { "aria-labelledby": "plan-title" },
    h("h3", { id: "plan-title", text: t("payment_plan") }),
    payment.complete === false
      ? h("p", { class: "warn", id: "plan-incomplete", role: "note" }, `${t("incomplete")}: `,
        (payment.incomplete || []).map((x) => (typeof x === "string" ? x : x.code || JSON.stringify(x))).join(", "))
      : null,
    h("table", { id: "plan" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("source") }), h("th", { scope: "col", class: "amount", text: t("amount") }))),
      h("tbody", {}, plan.map((p) => h("tr", { "data-source": p.source },
        h("th", { scope: "row" }, h("span", { class: `swatch src-${p.source}`, "aria-hidden": "true" }), label(p.source)),
        h("td", { class: "amount", "data-amount": p.amount, text: p.amount })))),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row", text: t("total") }), h("td", { class: "amount", id: "plan-total", text: payment.total })))),
    h("div", { class: "bar", role: "img", "aria-label": plan.map((p) => `${label(p.source)} ${p.amount}`).join("，") },
      plan.filter((p) => Number(p.amount) > 0).map((p) => h("span", {
        class: `src-${p.source}`, style: `width:${(Math.round(Number(p.amount) * 100) / totalFen) * 100}%`,
        title: `${label(p.source)} ${p.amount}` }))),
    h("div", { class: "legend", "aria-hidden": "true" }, plan.map((p) => h("span", {},
      h("span", { class: `swatch src-${p.source}` }), `${label(p.source)} ${p.amount}`))));
}

function factsLine(facts) {
  const entries = Object.entries(facts || {});
  if (!entries.length) return null;
  return h("p", { class: "facts" }, `${t("actual")}: `, entries.map(([k, v], i) => [i ? "; " : "",
    h("code", { text: k }), " = ", typeof v === "string" ? v : JSON.stringify(v)]));
}

function inferenceLine(source) {
  return h("div", { class: "cite inference", "data-document": source.document },
    `${t("inference")}: ${source.note} `, citeButton(source));
}

function reasonItem(reason, hidden = new Set()) {
  return h("li", { class: `check ${reason.outcome}`, "data-code": reason.code, "data-rule": reason.rule },
    h("div", {}, h("strong", { text: txt(reason.message) }), " ", h("code", { class: "muted", text: `${reason.code} · ${reason.rule}` })),
    factsLine(reason.facts),
    reason.source && !hidden.has(reason.source.document) ? h("div", {}, citeButton(reason.source)) : null,
    (reason.inferences || []).map(inferenceLine));
}

async function renderResult(pane, doc, decision, headers, seq) {
  const reasons = decision.reasons || [];
  const group = (outcome) => reasons.filter((r) => r.outcome === outcome);
  const decisionId = headers?.get?.("x-decision-id");
  const auditHref = decisionId ? withLang(`/console/audit/${decisionId}`) : withLang(`/console/audit`) + linkHash(doc);
  const sources = [];
  const seen = new Set();
  for (const r of reasons) {
    if (r.source && !seen.has(r.source.document + r.source.quote)) { seen.add(r.source.document + r.source.quote); sources.push(r.source); }
  }
  const city = META.cities.find((c) => c.id === decision.city);
  fill(pane, 
    h("h2", { id: "result-title", text: t("result") }),
    h("div", { class: "summary-line", id: "decision", "data-eligible": String(decision.eligible), "data-city": decision.city,
      "data-request": decision.request },
      h("span", { class: `badge ${decision.eligible ? "yes" : "no"}`, id: "badge", text: decision.eligible ? t("eligible") : t("not_eligible") }),
      h("span", {}, `${city ? txt(city.name) : ""} ${decision.city} · ${t(decision.request)} · ${t("as_of")} ${decision.as_of}`)),
    h("p", { class: "muted" }, `${t("ruleset")} ${decision.ruleset?.version ?? ""} · sha256 `, h("code", { text: (decision.ruleset?.sha256 || "").slice(0, 16) + "…" }),
      decision.ruleset?.period ? ` · ${t("period")} ${decision.ruleset.period.from ?? t("from_open")} – ${decision.ruleset.period.to ?? t("to_open")}` : ""),
    h("p", {}, h("a", { href: location.href, id: "permalink", title: t("permalink_hint"), text: t("permalink") }), " · ",
      h("a", { href: auditHref, id: "audit-link", text: t("audit_link") }), " · ",
      h("label", { class: "muted" }, h("input", { type: "checkbox", id: "permalink-pii", checked: piiState.include,
        onchange: (event) => relink(event.target.checked, decisionId) }), " ", t("permalink_pii"))),
    decision.payment ? planSection(decision.payment) : null,
    h("section", { id: "whynot", "aria-labelledby": "whynot-title", hidden: decision.eligible ? true : null },
      h("h3", { id: "whynot-title", text: t("whynot") }), h("p", { class: "muted", text: t("loading") })),
    group("fail").length ? h("section", {}, h("h3", { text: t("failed") }), h("ul", { id: "failed", class: "plain" }, group("fail").map((r) => reasonItem(r)))) : null,
    group("info").length ? h("section", {}, h("h3", { text: t("info") }), h("ul", { id: "info" }, group("info").map((r) => reasonItem(r)))) : null,
    h("details", { open: group("fail").length ? null : true }, h("summary", { text: `${t("passed")} (${group("pass").length})` }),
      h("ul", { id: "passed" }, group("pass").map((r) => reasonItem(r)))),
    h("section", {}, h("h3", { text: t("citations") }), h("ul", { id: "citations" }, sources.map((s) => h("li", {}, citeButton(s))))),
    h("details", { id: "chain-box" }, h("summary", { text: t("rule_chain") }), h("pre", { class: "explanation", id: "explanation", text: t("loading") })),
  );
  pane.dataset.renders = String(++decideState.renders);
  // the explanation is fetched when first opened: /v1/explanations decides (and logs) again
  const box = document.getElementById("chain-box");
  box.addEventListener("toggle", async () => {
    if (!box.open || box.dataset.loaded) return;
    box.dataset.loaded = "1";
    const explanation = await postJSON(`/v1/explanations?lang=${LANG}`, doc);
    document.getElementById("explanation").textContent = explanationText(explanation);
  });
  if (!decision.eligible) await renderWhyNot(doc, seq);
  if (seq !== decideState.seq) return;  // a newer decision took the pane while the suggestions loaded
  pane.dataset.settled = String(decideState.renders);
}

function explanationText(answer) {
  if (answer.status !== 200) return issuesOf(answer.body).map(issueText).join("\n") || t("server_error");
  const body = answer.body;
  if (typeof body === "string") return body;
  return body.text ?? body.explanation ?? JSON.stringify(body, null, 2);
}

// the opt-in to personal data in links changed: the page's URL and its links follow
function relink(include, decisionId) {
  piiState.include = include;
  const doc = decideState.doc;
  if (!doc) return;
  history.replaceState(null, "", `${location.pathname}${location.search}${linkHash(doc)}`);
  document.getElementById("permalink")?.setAttribute("href", location.href);
  if (!decisionId) document.getElementById("audit-link")?.setAttribute("href", withLang("/console/audit") + linkHash(doc));
  document.querySelectorAll("#suggestions a.apply").forEach((a, i) => {
    const s = decideState.suggestions?.[i];
    if (s) a.setAttribute("href", linkHash(s.document));
  });
}

async function renderWhyNot(doc, seq) {
  const box = document.getElementById("whynot");
  if (!box) return;
  const answer = await postJSON("/console/api/suggestions", doc);
  if (seq !== decideState.seq) return;  // these suggestions belong to an older decision
  const title = h("h3", { id: "whynot-title", text: t("whynot") });
  if (answer.status !== 200) { fill(box, title, h("p", { class: "form-errors", text: issuesOf(answer.body).map(issueText).join("; ") })); return; }
  decideState.suggestions = answer.body.suggestions;
  const items = answer.body.suggestions.map((s) => h("li", { class: "suggestion", "data-kind": s.kind, "data-eligible": String(s.eligible) },
    h("a", { href: linkHash(s.document), class: "apply", "data-check": s.check },
      `${t("apply")}: ${txt(s.text)}`),
    " ", h("span", { class: s.eligible ? "" : "muted", text: `(${s.eligible ? t("becomes_eligible") : t("still_not")})` })));
  const stuck = answer.body.unrepairable.map((u) => h("li", { text: `${u.check}: ${t("no_suggestion")}` }));
  fill(box, title, h("ul", { id: "suggestions" }, items, stuck));
}

// ------------------------------------------------------------------ rules browser

const rulesState = { city: params.get("city") || "", asOf: params.get("as_of") || today(), switches: {},
  from: params.get("from") || "", to: params.get("to") || "" };

const dayNumber = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000;
const periodText = (p) => `${p.from ?? t("from_open")} – ${p.to ?? t("to_open")}`;
const layerTag = (layer) => h("span", { class: `tag ${layer}`, text: t(`layer_${layer}`) });

function timeline(versions, axis, day) {
  const span = axis.end - axis.start;
  const pos = (d) => `${Math.max(0, Math.min(100, ((d - axis.start) / span) * 100))}%`;
  return h("div", { class: "timeline", role: "img", "aria-label": versions.map((v) => periodText(v.period)).join("; ") },
    // the version in force is drawn last, on top of other readings' versions for the same days
    [...versions.filter((v) => !v.in_force), ...versions.filter((v) => v.in_force)].map((v) => {
      const from = v.period.from ? dayNumber(v.period.from) : axis.start;
      const to = (v.period.to ? dayNumber(v.period.to) : axis.end) + 1;
      const variant = Object.keys(v.variant || {}).length;
      // versions of the switch options in force on the main lane, other readings' on a thin lane below
      return h("span", { class: `v${v.in_force ? " now" : ""}${variant ? " variant" : ""}${v.reading === false ? " other" : ""}`,
        style: `left:${pos(from)};width:calc(${pos(to)} - ${pos(from)})`, title: `${periodText(v.period)} ${v.text ? txt(v.text) : ""}` });
    }),
    h("span", { class: "day", style: `left:${pos(day)}` }));
}

function axisOf(data) {
  const days = [];
  for (const item of [...data.parameters, ...data.rules]) {
    for (const v of item.versions) { if (v.period.from) days.push(dayNumber(v.period.from)); if (v.period.to) days.push(dayNumber(v.period.to)); }
  }
  days.push(dayNumber(data.as_of));
  const start = Math.min(...days) - 180;
  const end = Math.max(...days) + 365;
  return { start, end };
}

function axisRow(axis) {
  const first = new Date(axis.start * 86400000).getUTCFullYear() + 1;
  const last = new Date(axis.end * 86400000).getUTCFullYear();
  const marks = [];
  for (let year = first; year <= last; year++) {
    const d = dayNumber(`${year}-01-01`);
    marks.push(h("span", { style: `left:${((d - axis.start) / (axis.end - axis.start)) * 100}%`, text: String(year) }));
  }
  return h("div", { class: "axis", "aria-hidden": "true" }, marks);
}

function variantText(variant) {
  const entries = Object.entries(variant || {});
  return entries.length ? ` [${t("variant")} ${entries.map(([k, v]) => `${k}=${v}`).join(", ")}]` : "";
}

function paramItem(p, axis, day) {
  const now = p.versions.find((v) => v.in_force);
  return h("article", { class: "item", id: `param-${p.id}`, "data-param": p.id },
    h("div", { class: "item-head" }, h("h3", { text: txt(p.title) || p.id }), h("code", { text: p.id }), layerTag(p.layer),
      p.overrides ? h("span", { class: "muted", text: `${t("overrides")} ${p.overrides}` }) : null),
    h("p", {}, `${t("in_force")}: `, now ? h("span", { class: "in-force-value", "data-value": JSON.stringify(now.value), text: txt(p.in_force_text || now.text) })
      : h("span", { class: "in-force-value muted", "data-value": "none", text: t("none_in_force") })),
    timeline(p.versions, axis, day),
    h("details", {}, h("summary", { text: `${t("versions")} (${p.versions.length})` }),
      h("ul", { class: "versions" }, p.versions.map((v) => h("li", { class: v.in_force ? "now" : null },
        `${periodText(v.period)}${variantText(v.variant)}: ${txt(v.text)}`, v.note ? h("div", { class: "muted", lang: "en", text: v.note }) : null,
        h("div", {}, v.sources.map(citeButton)))))));
}

function ruleItem(r, axis, day) {
  const now = r.versions.find((v) => v.in_force);
  return h("article", { class: "item", id: `rule-${r.id}`, "data-rule": r.id },
    h("div", { class: "item-head" }, h("h3", { text: txt(r.title) || r.id }), h("code", { text: r.id }), layerTag(r.layer),
      h("span", { class: "muted", text: `${t("applies_to")} ${r.applies_to.map((a) => t(a)).join(" / ")}` })),
    h("p", { class: "muted", "data-in-force": String(Boolean(now)), text: now ? `${t("in_force")}: ${periodText(now.period)}` : t("none_in_force") }),
    timeline(r.versions, axis, day),
    h("details", {}, h("summary", { text: `${t("versions")} (${r.versions.length})` }),
      h("ul", { class: "versions" }, r.versions.map((v) => h("li", { class: v.in_force ? "now" : null },
        `${periodText(v.period)}${variantText(v.variant)}`,
        h("ul", {}, v.branches.filter((b) => b.outcome).map((b) => h("li", {}, `${t(`outcome_${b.outcome}`)} `, h("code", { text: b.code }), `: ${txt(b.message)}`))),
        h("div", {}, [...v.sources, ...v.branches.flatMap((b) => b.sources)].map(citeButton)))))));
}

async function renderRules() {
  fill(main(), h("p", { class: "muted", text: t("loading") }));
  if (!rulesState.city) rulesState.city = META.cities[0]?.id || "";
  const query = new URLSearchParams({ city: rulesState.city, as_of: rulesState.asOf });
  for (const [k, v] of Object.entries(rulesState.switches)) query.append("switch", `${k}=${v}`);
  const url = new URL(location.href);
  url.searchParams.set("city", rulesState.city);
  url.searchParams.set("as_of", rulesState.asOf);
  history.replaceState(null, "", url);
  const answer = await api(`/console/api/rules?${query}`);
  const citySelect = h("select", { id: "rules-city" }, META.cities.map((c) => h("option", { value: c.id, selected: c.id === rulesState.city, text: `${txt(c.name)} ${c.id}` })));
  const dateInput = h("input", { type: "date", id: "rules-date", value: rulesState.asOf, required: true });
  const dateError = h("span", { class: "field-error", id: "rules-date-error", role: "status" });
  const toolbar = h("form", { class: "toolbar", id: "rules-form", onsubmit: (e) => {
    e.preventDefault(); rulesState.city = citySelect.value; rulesState.asOf = dateInput.value; rulesState.switches = {}; renderRules(); } },
    h("label", { for: "rules-city" }, t("city"), citySelect), h("label", { for: "rules-date" }, t("date"), dateInput),
    h("button", { type: "submit", class: "primary", id: "rules-show", text: t("show") }), dateError);
  if (answer.status !== 200) {
    fill(main(), h("h1", { text: t("rules_title") }), toolbar);
    dateError.textContent = issuesOf(answer.body).map(issueText).join("; ") || t("server_error");
    dateInput.setAttribute("aria-invalid", "true");
    return;
  }
  const data = answer.body;
  const day = dayNumber(data.as_of);
  const axis = axisOf(data);
  const switchBox = h("div", {},
    data.switches.map((s) => h("div", { class: "field", "data-switch": s.id },
      h("label", { for: `sw-${s.id}` }, txt(s.title), " ", layerTag(s.layer)),
      h("select", { id: `sw-${s.id}`, onchange: (e) => { rulesState.switches[s.id] = e.target.value; renderRules(); } },
        s.options.map((o) => h("option", { value: o.name, selected: o.name === s.option,
          text: `${o.name}${o.name === s.default ? ` (${t("default_option")})` : ""} — ${txt(o.description)}` }))),
      h("div", { style: "grid-column: 2" }, s.options.find((o) => o.name === s.option)?.sources.map(citeButton)))));
  const fromInput = h("input", { type: "date", id: "diff-from", value: rulesState.from || data.as_of });
  const toInput = h("input", { type: "date", id: "diff-to", value: rulesState.to || data.as_of });
  const diffOut = h("div", { id: "diff-out", "aria-live": "polite" });
  const diffForm = h("form", { class: "toolbar", id: "diff-form", onsubmit: async (e) => {
    e.preventDefault();
    rulesState.from = fromInput.value; rulesState.to = toInput.value;
    const q = new URLSearchParams({ city: rulesState.city, from: fromInput.value, to: toInput.value });
    for (const [k, v] of Object.entries(rulesState.switches)) q.append("switch", `${k}=${v}`);
    const diff = await api(`/console/api/changes?${q}`);
    if (diff.status !== 200) { fill(diffOut, h("p", { class: "form-errors", role: "alert", text: issuesOf(diff.body).map(issueText).join("; ") })); return; }
    const rows = diff.body.changes;
    fill(diffOut, rows.length ? h("table", { id: "diff-table" },
      h("thead", {}, h("tr", {}, [t("change_kind"), t("item"), t("change"), `${t("before")} ${diff.body.from}`, `${t("after")} ${diff.body.to}`].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, rows.map((c) => h("tr", { "data-id": c.id, "data-change": c.change },
        h("td", { text: t(c.kind) }), h("td", {}, txt(c.title) || c.id, " ", h("code", { text: c.id })), h("td", { text: t(c.change) }),
        h("td", { text: c.old_text ? txt(c.old_text) : c.old == null ? "—" : JSON.stringify(c.old) }),
        h("td", { text: c.new_text ? txt(c.new_text) : c.new == null ? "—" : JSON.stringify(c.new) })))))
      : h("p", { id: "diff-none", text: t("no_changes") }));
  } },
    h("label", { for: "diff-from" }, t("date_a"), fromInput), h("label", { for: "diff-to" }, t("date_b"), toInput),
    h("button", { type: "submit", class: "secondary", id: "diff-run", text: t("compare") }));
  fill(main(), 
    h("h1", { text: `${t("rules_title")} · ${txt(data.name)} ${data.city}` }), toolbar,
    h("section", { class: "panel", "aria-labelledby": "layers-title" }, h("h2", { id: "layers-title", text: t("layers") }),
      h("div", { class: "layers" }, data.layers.map((l, i) => [i ? h("span", { "aria-hidden": "true", text: "→" }) : null,
        h("span", { class: "layer" }, layerTag(l.kind), " ", txt(l.name), " ", h("code", { text: `${l.id} ${l.version}` }))])),
      h("details", {}, h("summary", { text: t("notes") }), data.layers.map((l) => l.notes.length ? h("div", {},
        h("h3", { text: txt(l.name) }), h("ul", { lang: "en" }, l.notes.map((n) => h("li", {}, h("strong", { text: `${n.topic}: ` }), n.text)))) : null))),
    h("section", { class: "panel", "aria-labelledby": "diff-title" }, h("h2", { id: "diff-title", text: t("changes") }), diffForm, diffOut),
    h("details", { class: "panel", id: "rules-switches" }, h("summary", { text: `${t("switches")} (${data.switches.length})` }), switchBox),
    h("section", { "aria-labelledby": "params-title" }, h("h2", { id: "params-title", text: `${t("parameters")} (${data.parameters.length})` }),
      axisRow(axis), data.parameters.map((p) => paramItem(p, axis, day))),
    h("section", { "aria-labelledby": "rules-title" }, h("h2", { id: "rules-title", text: `${t("rules_h")} (${data.rules.length})` }),
      axisRow(axis), data.rules.map((r) => ruleItem(r, axis, day))),
  );
  if (rulesState.from && rulesState.to) diffForm.requestSubmit();
  const doc = new URLSearchParams(location.search).get("doc");
  if (doc) openSource(doc, new URLSearchParams(location.search).get("quote") || "");
}

// ------------------------------------------------------------------ matrix

const matrixState = { asOf: params.get("as_of") || today() };

async function renderMatrix() {
  fill(main(), h("p", { class: "muted", text: t("loading") }));
  const url = new URL(location.href);
  url.searchParams.set("as_of", matrixState.asOf);
  history.replaceState(null, "", url);
  const answer = await api(`/console/api/matrix?${new URLSearchParams({ as_of: matrixState.asOf, lang: LANG })}`);
  const dateInput = h("input", { type: "date", id: "matrix-date", value: matrixState.asOf });
  const dateError = h("span", { class: "field-error", id: "matrix-date-error", role: "status" });
  const toolbar = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); matrixState.asOf = dateInput.value; renderMatrix(); } },
    h("label", { for: "matrix-date" }, t("date"), dateInput), h("button", { type: "submit", class: "primary", id: "matrix-show", text: t("show") }), dateError);
  if (answer.status !== 200) {
    fill(main(), h("h1", { text: t("matrix_title") }), toolbar);
    dateError.textContent = issuesOf(answer.body).map(issueText).join("; ") || t("server_error");
    return;
  }
  const m = answer.body;
  const notes = m.footnotes.filter((f) => !f.document);
  const cites = m.footnotes.filter((f) => f.document);
  const cell = (c) => h("td", { class: [c.stated ? "" : "missing", c.switches.length ? "switch" : ""].join(" ").trim() || null },
    h("div", { class: "value" }, c.text, c.switches.length ? h("span", { class: "differs-mark", title: `${t("depends")}: ${c.switches.join(", ")}`, text: " *" }) : "",
      c.used ? "" : h("span", { class: "muted", title: t("unused"), text: " ~" })),
    c.in_force ? h("div", { class: "meta" }, `${c.period} · `, layerTag(c.layer),
      c.footnotes.length ? [" ", c.footnotes.map((n, i) => [i ? "," : "", h("a", { href: `#fn-${n}`, text: `[${n}]` })])] : "") : null);
  fill(main(), 
    h("h1", { text: `${t("matrix_title")} · ${m.as_of}` }), toolbar,
    h("p", { class: "muted" }, h("span", { class: "swatch", style: "background:var(--diff);border:1px solid var(--line)" }), t("differs_legend")),
    h("div", { class: "matrix-wrap" }, h("table", { class: "matrix", id: "matrix" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("item") }), m.cities.map((c) => h("th", { scope: "col" }, c.name, h("span", { class: "pid", text: c.id }))))),
      m.groups.map((g) => h("tbody", {}, h("tr", { class: "group" }, h("th", { colspan: String(m.cities.length + 1), scope: "colgroup", text: g.title })),
        g.rows.map((r) => h("tr", { class: r.differs ? "differs" : null, "data-param": r.param, "data-differs": String(r.differs) },
          h("th", { scope: "row" }, r.title, r.differs ? h("span", { class: "differs-mark", title: t("differs"), "aria-label": t("differs"), text: " ≠" }) : "",
            h("span", { class: "pid", text: r.param })), r.cells.map(cell))))))),
    h("details", { id: "matrix-switches" }, h("summary", { text: `${t("switches_per_city")} (${m.cities.reduce((n, c) => n + c.switches.length, 0)})` }),
      h("table", {}, h("thead", {}, h("tr", {}, [t("city"), t("switches"), t("option_in_force")].map((x) => h("th", { scope: "col", text: x })))),
        h("tbody", {}, m.cities.flatMap((c) => c.switches.map((s) => h("tr", {}, h("td", { text: `${c.name} ${c.id}` }),
          h("td", {}, s.title, " ", h("code", { text: s.id })),
          h("td", {}, h("code", { text: s.option }), ` [${s.chosen ? t("chosen_option") : t("default_option")}] `,
            s.options.find((o) => o.name === s.option)?.description ?? ""))))))),
    h("section", {}, h("h2", { text: `${t("footnotes")} (${cites.length})` }),
      h("ol", { class: "footnotes", id: "matrix-citations" }, cites.map((f) => h("li", { id: `fn-${f.number}`, value: String(f.number) }, citeButton(f),
        f.note ? h("span", { class: "muted" }, ` — ${t("inference")}: `, h("span", { lang: "en", text: f.note })) : null)))),
    // the rulesets' notes are English-only text: collapsed and marked as English on the Chinese page
    notes.length ? h("details", { id: "matrix-notes", class: "footnotes" }, h("summary", { text: `${t("notes")} (${notes.length})` }),
      h("ol", { lang: "en" }, notes.map((f) => h("li", { id: `fn-${f.number}`, value: String(f.number), text: f.note })))) : null,
  );
}

// ------------------------------------------------------------------ audit report

async function renderAudit(decisionId) {
  fill(main(), h("p", { class: "muted", text: t("loading") }));
  let report;
  if (decisionId) {
    const answer = await api(`/console/api/audit/${encodeURIComponent(decisionId)}`);
    if (answer.status !== 200) {
      fill(main(), h("h1", { text: t("audit_title") }), h("p", { class: "form-errors", role: "alert", id: "audit-error",
        text: `${t("audit_missing")}: ${decisionId}` }), h("p", { class: "muted", text: t("audit_help") }));
      return;
    }
    report = answer.body;
  } else {
    const doc = hashDoc();
    if (!doc) { fill(main(), h("h1", { text: t("audit_title") }), h("p", { text: t("audit_help") })); return; }
    const decided = await postJSON("/v1/decisions", doc);
    if (decided.status !== 200) { showError(issuesOf(decided.body).map(issueText).join("\n") || t("server_error")); return; }
    const parts = await postJSON("/console/api/audit", doc);
    if (parts.status !== 200) { showError(issuesOf(parts.body).map(issueText).join("\n") || t("server_error")); return; }
    report = { decision_id: null, timestamp: new Date().toISOString(), decision: decided.body, ruleset: decided.body.ruleset,
      same_ruleset: true, ...parts.body };
  }
  const d = report.decision;
  const city = META.cities.find((c) => c.id === d.city);
  fill(main(), h("article", { class: "panel report", id: "report" },
    h("div", { class: "no-print actions" }, h("button", { type: "button", class: "primary", id: "print", text: t("print"), onclick: () => window.print() })),
    h("h1", { text: t("audit_title") }),
    report.decision_id ? null : h("p", { class: "warn", text: t("not_logged") }),
    report.same_ruleset ? null : h("p", { class: "warn", text: t("same_ruleset_no") }),
    h("dl", {},
      h("dt", { text: t("decision_id") }), h("dd", { id: "audit-id", text: report.decision_id || "—" }),
      h("dt", { text: report.decision_id ? t("decided_at") : t("generated_at") }), h("dd", { id: "audit-time", text: report.timestamp }),
      h("dt", { text: t("result") }), h("dd", {}, h("span", { class: `badge ${d.eligible ? "yes" : "no"}`, id: "badge", "data-eligible": String(d.eligible),
        text: d.eligible ? t("eligible") : t("not_eligible") }), ` ${t(d.request)}`),
      h("dt", { text: t("city") }), h("dd", { text: `${city ? txt(city.name) : ""} ${d.city}` }),
      h("dt", { text: t("as_of") }), h("dd", { text: d.as_of }),
      h("dt", { text: t("ruleset") }), h("dd", { text: `${report.ruleset?.id ?? ""} ${report.ruleset?.version ?? ""}` }),
      h("dt", { text: t("sha256") }), h("dd", {}, h("code", { id: "audit-sha", text: report.ruleset?.sha256 ?? "" })),
      h("dt", { text: t("switches_used") }), h("dd", { text: Object.entries(d.switches || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—" })),
    d.payment ? planSection(d.payment) : null,
    (d.reasons || []).some((r) => r.outcome === "fail") ? [h("h2", { text: t("failed") }),
      h("ul", { id: "audit-failed" }, d.reasons.filter((r) => r.outcome === "fail").map((r) => reasonItem(r, new Set(report.omitted.map((c) => c.document)))))] : null,
    h("h2", { text: t("explanation") }), h("pre", { class: "explanation", id: "audit-explanation", text: report.explanation ? report.explanation[LANG] : "" }),
    h("h2", { text: t("jurisdiction_citations") }),
    h("ol", { id: "audit-citations" }, report.citations.map((c) => h("li", { "data-document": c.document },
      h("code", { text: c.document }), " ", h("span", { class: "quote", text: `「${c.quote}」` }), h("span", { class: "muted", text: ` — ${c.cited_by}` })))),
    (report.inferences || []).length ? [h("h2", { text: t("inferences") }), h("ul", { id: "audit-inferences" },
      report.inferences.map((c) => h("li", { "data-document": c.document }, h("span", { lang: "en", text: c.note }), " — ",
        h("code", { text: c.document }), " ", h("span", { class: "quote", text: `「${c.quote}」` }))))] : null,
    report.omitted.length ? h("p", { class: "muted", id: "audit-omitted", text: `${t("omitted")}: ${[...new Set(report.omitted.map((c) => c.document))].join(", ")}` }) : null,
  ));
}

// ------------------------------------------------------------------ start

async function render() {
  frame();
  try {
    await meta();
    const { page, arg } = route();
    if (page === "rules") await renderRules();
    else if (page === "matrix") await renderMatrix();
    else if (page === "audit") await renderAudit(arg);
    else renderDecide();
  } catch (exc) {
    console.error(exc.stack);
    showError(`${t("server_error")}: ${exc.message}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("source-close").addEventListener("click", closeSource);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !document.getElementById("source-viewer").hidden) closeSource(); });
  window.addEventListener("hashchange", () => {
    const doc = restorePii(hashDoc());
    const form = document.getElementById("decide-form");
    if (doc && form) { fillForm(form, doc); decide(form, doc); }
  });
  render();
});
