"""The fact catalog: every field a rule may look at, its type, and how it is shown.

Rules name fields by their path in the fact document (``beneficiary.region``); the compiler
maps a path to a short key in the flat fact that durable_rules sees (``b_reg``).  Computed
fields (``*.pool_code``, ``*.province_code``) are filled in by :mod:`engine.facts`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from . import values

# ---------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class VType:
    """A value type. ``kind`` is one of KINDS; ``domain`` lists enum values."""

    kind: str
    domain: tuple[Any, ...] = ()
    elem: VType | None = None  # element type of a set, value type of a table
    key: VType | None = None  # key type of a table
    name: str = ""  # enum domain name, e.g. "relationship"

    def describe(self) -> str:
        if self.kind == "enum":
            return f"one of {list(self.domain)}"
        if self.kind == "set":
            return f"a list of {self.elem.describe() if self.elem else '?'}"
        if self.kind == "table":
            return f"a table {self.key.describe() if self.key else '?'} -> {self.elem.describe() if self.elem else '?'}"
        return {"money": "an amount like \"300.00\"", "date": "a date YYYY-MM-DD", "bool": "true or false",
                "int": "a whole number", "region": "a 6-digit region code", "percent": "a percentage like 60",
                "text": "a text value"}.get(self.kind, self.kind)

    @property
    def ordered(self) -> bool:
        return self.kind in ("money", "date", "int", "percent")

    def compatible(self, other: VType) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "enum":
            return self.name == other.name
        if self.kind in ("set", "table"):
            return bool(self.elem and other.elem and self.elem.compatible(other.elem)) and (
                self.kind == "set" or bool(self.key and other.key and self.key.compatible(other.key)))
        return True


MONEY = VType("money")
DATE = VType("date")
BOOL = VType("bool")
INT = VType("int")
REGION = VType("region")
PERCENT = VType("percent")
TEXT = VType("text")


def enum(name: str) -> VType:
    return VType("enum", ENUMS[name], name=name)


def set_of(elem: VType) -> VType:
    return VType("set", elem=elem)


def table_of(key: VType, elem: VType) -> VType:
    return VType("table", elem=elem, key=key)


ENUMS: dict[str, tuple[Any, ...]] = {
    "request": ("binding", "payment"),
    "insurance": ("employee", "resident", "none"),
    "status": ("normal", "suspended", "terminated", "arrears"),
    "relationship": ("spouse", "parent", "child", "sibling", "grandparent", "grandchild",
                     "parent_in_law", "child_in_law", "other"),
    "category": ("outpatient", "pharmacy", "inpatient", "chronic_disease", "maternity",
                 "resident_contribution", "public_health", "fitness", "wellness", "cosmetic",
                 "commercial_insurance"),
    "credential": ("own", "authorizer"),
    "hospital_level": (1, 2, 3),
    "region_scope": ("same_pool", "same_province", "national"),
    "payment_mode": ("split", "zero_balance_only"),
}

# Display names of enum values: (zh, en).
LABELS: dict[str, dict[Any, tuple[str, str]]] = {
    "request": {"binding": ("绑定", "binding"), "payment": ("支付", "payment")},
    "insurance": {"employee": ("职工医保", "employee insurance"), "resident": ("居民医保", "resident insurance"),
                  "none": ("未参保", "not insured")},
    "status": {"normal": ("正常参保", "normal"), "suspended": ("暂停(停保)", "suspended"),
               "terminated": ("终止", "terminated"), "arrears": ("欠费", "in arrears")},
    "relationship": {"spouse": ("配偶", "spouse"), "parent": ("父母", "parent"), "child": ("子女", "child"),
                     "sibling": ("兄弟姐妹", "sibling"), "grandparent": ("祖父母/外祖父母", "grandparent"),
                     "grandchild": ("孙子女/外孙子女", "grandchild"),
                     "parent_in_law": ("配偶父母", "parent-in-law"),
                     "child_in_law": ("子女配偶", "child-in-law"), "other": ("其他", "other")},
    "category": {"outpatient": ("普通门诊", "outpatient"), "pharmacy": ("定点药店购药", "pharmacy"),
                 "inpatient": ("住院", "inpatient"), "chronic_disease": ("门诊慢特病", "chronic disease"),
                 "maternity": ("生育", "maternity"),
                 "resident_contribution": ("居民医保个人缴费", "resident-insurance contribution"),
                 "public_health": ("公共卫生", "public health"), "fitness": ("体育健身", "fitness"),
                 "wellness": ("养生保健", "wellness"), "cosmetic": ("美容", "cosmetic"),
                 "commercial_insurance": ("普惠型商业补充医疗保险", "inclusive commercial insurance")},
    "credential": {"own": ("本人凭证", "own credential"), "authorizer": ("授权人凭证", "authorizer's credential")},
    "hospital_level": {1: ("一级", "level 1"), 2: ("二级", "level 2"), 3: ("三级", "level 3")},
    "region_scope": {"same_pool": ("同一统筹区", "same pooling region"),
                     "same_province": ("省内", "same province"), "national": ("全国", "nationwide")},
    "payment_mode": {"split": ("先本人账户、不足部分由共济账户支付", "own account first, shared pays the rest"),
                     "zero_balance_only": ("本人账户余额为零时才使用共济账户",
                                           "shared account only when own balance is zero")},
}

# ---------------------------------------------------------------------------------- fields
#
# Every field of a fact document is declared once, here.  The facts JSON Schema
# (``schemas/facts.schema.json``, :func:`facts_schema`), the normalizers (:mod:`engine.facts`), the masking
# of personal data (:mod:`engine.privacy`) and the synthetic documents of the tests (:func:`generate`) are
# all derived from these declarations: adding a fact field is one entry below (plus the rules using it).

MAP = VType("map")  # a mapping of text to text (``switches``); never seen by rules

BOTH = frozenset({"binding", "payment"})
PAYMENT = frozenset({"payment"})


@dataclass(frozen=True)
class Gen:
    """Hints for synthetic documents: ``edges`` are drawn often (bugs live there), ``high`` bounds
    random amounts (yuan) and counts, ``present`` is the chance an optional field is given."""

    edges: tuple[Any, ...] = ()
    high: int = 0
    present: float = 0.5


@dataclass(frozen=True)
class Field:
    """One fact field. ``key`` is its name in the flat durable_rules fact ("" = rules never see it).

    ``required``: the document must give it (for the requests in ``requests``); otherwise it may be
    absent and then it is ``nullable`` (rules see ``<key>_set`` false), has a ``default`` document
    value, or falls back to another field's value (``fallback``).  ``low``/``high`` bound an int
    (inclusive), an amount in fen (``low`` only) or the length of text.  ``after`` names a date
    field this one may not precede.  ``pii`` fields are personal data: masked in every output."""

    path: str
    key: str
    type: VType
    title_zh: str
    title_en: str
    requests: frozenset[str] = BOTH
    nullable: bool = False
    computed: bool = False
    required: bool = True
    pii: bool = False
    low: int | None = None
    high: int | None = None
    default: Any = None
    fallback: str = ""
    after: str = ""
    derive: str = ""  # computed fields: "pool" or "province" of the region field ``fallback``
    description: str = ""
    example: Any = None
    gen: Gen = Gen()

    @property
    def set_key(self) -> str:
        """Companion boolean for nullable fields: durable_rules never sees a missing property."""
        return self.key + "_set"

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rpartition(".")[0]


@dataclass(frozen=True)
class Group:
    """A nested object of the document (``authorizer``, ``expense.pooling_ytd`` ...)."""

    path: str
    requests: frozenset[str] = BOTH
    required: bool = True
    description: str = ""


GROUPS: tuple[Group, ...] = (
    Group("authorizer", description="The insured person whose personal account pays (授权人)"),
    Group("beneficiary", description="The family member who uses it (被授权人)"),
    Group("authorization", PAYMENT, description="The authorization in force"),
    Group("expense", PAYMENT, description="The expense to settle"),
    Group("expense.pooling_ytd", PAYMENT, required=False,
          description="Year-to-date pooling use of the beneficiary for this benefit"),
)

_REGION_TEXT = "6-digit administrative code of the INSURED place (never an ID-card number)"
_MONEY_TEXT = "Yuan, >= 0, at most 2 decimals; a string like \"300.00\" (or a number)"
_EDGE_MONEY = ("0.00", "0.01", "999.99", "1000.00", "1000.01", "80.00", "300.00", "400.00", "500.00", "600.00",
               "800.00", "1500.00", "1800.00", "2000.00", "3000.00")
# Days where rules or parameters of the shipped rulesets change, and the days around them.
_EDGE_DATES = ("2022-06-30", "2022-07-01", "2022-12-31", "2023-01-01", "2024-08-01", "2024-08-02", "2024-08-16",
               "2024-08-17", "2024-08-29", "2024-08-30", "2024-08-31", "2024-09-01", "2024-10-19", "2024-10-20",
               "2024-11-25", "2024-11-26", "2024-12-08", "2024-12-09", "2024-12-31", "2025-01-01", "2026-01-08",
               "2026-01-09")

_PARTY_FIELDS = (
    # name, key, type, zh, en, extra Field arguments
    ("id", "", TEXT, "证件号码", "id", dict(pii=True, low=1, high=64, example="341102198001011234",
                                          description="Opaque id (may be an ID-card number: masked in output "
                                                      "and logs)")),
    ("insurance", "ins", enum("insurance"), "参保类型", "insurance type", {}),
    ("status", "st", enum("status"), "参保状态", "insurance status", {}),
    ("region", "reg", REGION, "参保地", "insured place", dict(description=_REGION_TEXT, example="341102")),
    ("pool_code", "pool", REGION, "统筹区", "pooling region", dict(computed=True, derive="pool")),
    ("province_code", "prov", REGION, "参保省份", "province", dict(computed=True, derive="province")),
    ("retired", "ret", BOOL, "是否退休", "retired", dict(gen=Gen(present=0.3))),
    ("account_balance", "bal", MONEY, "个人账户余额", "personal account balance",
     dict(description=_MONEY_TEXT, example="3200.00", gen=Gen(_EDGE_MONEY, high=6000))),
)


def _party(prefix: str, role: str, role_zh: str) -> list[Field]:
    fields = []
    for name, key, vtype, zh, en, extra in _PARTY_FIELDS:
        if extra.get("computed"):
            extra = dict(extra, fallback=f"{role}.region")
        fields.append(Field(f"{role}.{name}", f"{prefix}_{key}" if key else "", vtype, role_zh + zh,
                            f"{role}'s {en}", **extra))
    return fields


CATALOG: tuple[Field, ...] = tuple(
    [
        Field("request", "rq", enum("request"), "请求类型", "request type"),
        Field("as_of", "asof", DATE, "决定日期", "decision date", required=False, default="today",
              description="Decision date; picks the dated rule versions (default: today)", example="2025-03-01",
              gen=Gen(_EDGE_DATES, present=1.0)),
        Field("city", "city", REGION, "适用规则集", "ruleset applied", required=False,
              fallback="authorizer.pool_code", example="341102",
              description="Ruleset to apply (a city code); default: the authorizer's pooling region"),
        Field("switches", "", MAP, "开关选择", "switch options", required=False,
              description="Extension: choose an option of a ruleset switch for this decision (what-if)",
              gen=Gen(present=0.15)),
    ]
    + _party("a", "authorizer", "授权人")
    + _party("b", "beneficiary", "被授权人")
    + [
        Field("beneficiary.last_unbound", "b_unb", DATE, "被授权人上次解除授权日期",
              "date the beneficiary's previous authorization was released", nullable=True, required=False,
              description="Extension: day this person's previous authorization was released (rebinding "
                          "delays, e.g. Yichun)", example="2025-03-01", gen=Gen(_EDGE_DATES, present=0.1)),
        Field("relationship", "rel", enum("relationship"), "与授权人关系", "relationship to the authorizer",
              description="The beneficiary is the authorizer's ..."),
        Field("bound_members", "bound", INT, "已绑定人数", "beneficiaries already bound", low=0, high=1000,
              description="Beneficiaries already bound to this authorizer (not counting this one)",
              gen=Gen((0, 1, 2, 3, 4, 5, 6), high=8)),
        Field("authorization.start", "au_s", DATE, "授权开始日期", "authorization start", PAYMENT,
              description="ISO date YYYY-MM-DD", example="2025-03-01", gen=Gen(_EDGE_DATES)),
        Field("authorization.end", "au_e", DATE, "授权结束日期", "authorization end", PAYMENT, nullable=True,
              required=False, after="authorization.start", description="ISO date YYYY-MM-DD",
              example="2025-03-01", gen=Gen(_EDGE_DATES, present=0.6)),
        Field("authorization.limit", "au_l", MONEY, "授权额度", "authorization limit", PAYMENT, nullable=True,
              required=False, description="Cap per settlement set by the authorizer (optional)",
              example="3200.00", gen=Gen(_EDGE_MONEY, high=3000, present=0.4)),
        Field("expense.amount", "x_amt", MONEY, "费用金额", "expense amount", PAYMENT, low=1,
              description=_MONEY_TEXT, example="3200.00", gen=Gen(_EDGE_MONEY, high=3000)),
        Field("expense.category", "x_cat", enum("category"), "费用类别", "expense category", PAYMENT),
        Field("expense.hospital_level", "x_lvl", enum("hospital_level"), "医疗机构级别", "hospital level",
              PAYMENT, nullable=True, required=False, description="For pooling ratios (optional)",
              gen=Gen(present=0.85)),
        Field("expense.institution_region", "x_reg", REGION, "就医地", "where the expense happens", PAYMENT,
              description=_REGION_TEXT, example="341102"),
        Field("expense.institution_pool_code", "x_pool", REGION, "就医地统筹区", "pooling region of the expense",
              PAYMENT, computed=True, derive="pool", fallback="expense.institution_region"),
        Field("expense.institution_province_code", "x_prov", REGION, "就医地省份", "province of the expense",
              PAYMENT, computed=True, derive="province", fallback="expense.institution_region"),
        Field("expense.cross_region_registered", "x_xreg", BOOL, "已办理异地就医备案",
              "cross-region treatment registered", PAYMENT, description="异地就医备案 done", gen=Gen(present=0.3)),
        Field("expense.credential", "x_cred", enum("credential"), "结算凭证", "credential presented", PAYMENT,
              description="Whose card / e-credential is presented"),
        Field("expense.chronic_conditions", "x_chr", INT, "门诊慢性病病种数", "number of chronic conditions",
              PAYMENT, nullable=True, required=False, low=1, high=50,
              description="Extension: number of chronic conditions (chronic_disease)", gen=Gen((1, 2), 4, 0.5)),
        Field("expense.pooling_ytd.deductible_paid", "ytd_d", MONEY, "本年度已累计起付线",
              "deductible paid this year", PAYMENT, required=False, default="0.00", description=_MONEY_TEXT,
              example="3200.00", gen=Gen(_EDGE_MONEY, high=1000, present=0.9)),
        Field("expense.pooling_ytd.reimbursed", "ytd_r", MONEY, "本年度统筹已支付",
              "pooling reimbursed this year", PAYMENT, required=False, default="0.00", description=_MONEY_TEXT,
              example="3200.00", gen=Gen(_EDGE_MONEY, high=3500, present=0.9)),
    ]
)

FIELDS: tuple[Field, ...] = tuple(f for f in CATALOG if f.key)  # what rules may name
DOCUMENT: tuple[Field, ...] = tuple(f for f in CATALOG if not f.computed)  # what a fact document holds
PII_NAMES: frozenset[str] = frozenset(f.name for f in CATALOG if f.pii)
BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
DOC_BY_PATH: dict[str, Field] = {f.path: f for f in DOCUMENT}
GROUP_BY_PATH: dict[str, Group] = {g.path: g for g in GROUPS}

# Derived facts with a meaning fixed by the engine.
ELIGIBLE = "eligible"
PLAN_SOURCES: tuple[str, ...] = ("pooling_fund", "beneficiary_account", "authorizer_account", "cash")
PLAN_FACTS: dict[str, str] = {f"pay.{source}": source for source in PLAN_SOURCES}
RESERVED_DERIVED: dict[str, VType] = {ELIGIBLE: BOOL, **{name: MONEY for name in PLAN_FACTS}}
SOURCE_LABELS = {"pooling_fund": ("统筹基金", "pooling fund"),
                 "beneficiary_account": ("被授权人本人个人账户", "beneficiary's own account"),
                 "authorizer_account": ("授权人共济账户", "authorizer's shared account"),
                 "cash": ("现金/自付", "cash")}


def label(vtype: VType, value: Any, lang: str) -> str:
    """Human text of a value in ``lang`` (zh|en)."""
    if value is None:
        return "未规定" if lang == "zh" else "not stated"
    kind = vtype.kind
    if kind == "money":
        return values.format_money(value) + (" 元" if lang == "zh" else " yuan")
    if kind == "date":
        return values.format_date(value)
    if kind == "percent":
        return values.format_percent(value)
    if kind == "bool":
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if kind == "enum":
        names = LABELS.get(vtype.name, {})
        if value in names:
            return names[value][0 if lang == "zh" else 1]
        return str(value)
    if kind == "set" and vtype.elem is not None:
        sep = "、" if lang == "zh" else ", "
        return sep.join(label(vtype.elem, item, lang) for item in value) or ("无" if lang == "zh" else "none")
    if kind == "table" and vtype.elem is not None and vtype.key is not None:
        sep = "；" if lang == "zh" else "; "
        return sep.join(f"{label(vtype.key, k, lang)}: {label(vtype.elem, v, lang)}" for k, v in value)
    return str(value)


def to_json_value(vtype: VType, value: Any) -> Any:
    """Machine form of an engine value (money/dates as strings, sets as lists)."""
    if value is None:
        return None
    kind = vtype.kind
    if kind == "money":
        return values.format_money(value)
    if kind == "date":
        return values.format_date(value)
    if kind == "percent":
        return values.format_percent(value)
    if kind == "set":
        return [to_json_value(vtype.elem, v) for v in value] if vtype.elem else list(value)
    if kind == "table":
        return {str(k): to_json_value(vtype.elem, v) for k, v in value} if vtype.elem else {}
    return value


# ---------------------------------------------------------------------------------- the facts JSON Schema

SCHEMA_ID = "https://gongji.example/schemas/facts.schema.json"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}(?![\\s\\S])"
REGION_PATTERN = "^[0-9]{6}(?![\\s\\S])"
MONEY_PATTERN = "^[0-9]{1,13}(\\.[0-9]{1,2})?(?![\\s\\S])"
EXPECTED = {"date": "a date YYYY-MM-DD",
            "region": "a 6-digit administrative code of the insured place (never an ID-card number)",
            "money": "an amount like \"300.00\" (at most 2 decimals, not negative)"}


def _field_schema(spec: Field) -> dict[str, Any]:
    kind = spec.type.kind
    out: dict[str, Any]
    if kind == "enum":
        out = {"enum": list(spec.type.domain)}
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind == "int":
        out = {"type": "integer", "minimum": spec.low, "maximum": spec.high}
    elif kind == "text":
        out = {"type": "string", "minLength": spec.low, "maxLength": spec.high}
    elif kind == "map":
        out = {"type": "object", "additionalProperties": {"type": "string"}}
    elif kind in ("date", "region"):
        out = {"type": "string", "pattern": DATE_PATTERN if kind == "date" else REGION_PATTERN,
               "x-error": f"invalid_{'date' if kind == 'date' else 'region_code'}"}
    elif kind == "money":
        out = {"anyOf": [{"type": "string", "pattern": MONEY_PATTERN}, {"type": "number", "minimum": 0}],
               "x-error": "invalid_money"}
    else:  # pragma: no cover - a new kind needs its schema here
        raise ValueError(f"no schema for {kind!r}")
    if spec.description:
        out["description"] = spec.description
    if spec.example is not None and kind != "text":
        out["examples"] = [spec.example]
    if kind in EXPECTED:
        out["x-expected"] = EXPECTED[kind]
    return out


def _object_schema(prefix: str) -> dict[str, Any]:
    """The schema of the object at ``prefix`` ("" = the document): its fields and nested groups."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    children = [(f.name, f, None) for f in DOCUMENT if f.parent == prefix]
    children += [(g.path.rsplit(".", 1)[-1], None, g) for g in GROUPS if g.path.rpartition(".")[0] == prefix]
    order = {f.path: i for i, f in enumerate(CATALOG)}
    for name, spec, group in sorted(children, key=lambda c: order.get(c[1].path if c[1] else
                                                                      _first_field(c[2].path), 0)):
        if group is not None:
            properties[name] = _object_schema(group.path)
            if group.description:
                properties[name]["description"] = group.description
            if group.required and group.requests == BOTH:
                required.append(name)
        elif spec is not None:
            properties[name] = _field_schema(spec)
            if spec.required and (spec.requests == BOTH or prefix):
                required.append(name)
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if required:
        out["required"] = required
    out["properties"] = properties
    return out


def _first_field(group: str) -> str:
    return next(f.path for f in CATALOG if f.path.startswith(group + "."))


def facts_schema() -> dict[str, Any]:
    """The JSON Schema of a fact document, derived from the catalog (``schemas/facts.schema.json``)."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
        "title": "gongji fact document",
        "description": "One binding or payment request (docs/CONTRACT.md). Unknown fields are errors. "
                       "Generated from engine/core/catalog.py: `make facts-schema` rewrites it.",
    }
    schema.update(_object_schema(""))
    payment_only = [g.path for g in GROUPS if "." not in g.path and g.requests == PAYMENT]
    payment_only += [f.path for f in DOCUMENT if "." not in f.path and f.requests == PAYMENT]
    schema["allOf"] = [{
        "if": {"properties": {"request": {"const": "payment"}}, "required": ["request"]},
        "then": {"required": [p for p in payment_only if (GROUP_BY_PATH.get(p) or DOC_BY_PATH[p]).required]},
        "else": {"properties": {p: False for p in payment_only},
                 "x-because": "only payment requests carry " + " and ".join(f"'{p}'" for p in payment_only)},
    }]
    schema["examples"] = [example_document("binding")]
    return schema


def example_document(request: str) -> dict[str, Any]:
    """A valid document made of the catalog's examples (and each enum's first value)."""
    doc: dict[str, Any] = {}
    for spec in DOCUMENT:
        if request not in spec.requests or (not spec.required and spec.path != "as_of"):
            continue
        kind = spec.type.kind
        value = spec.example if spec.example is not None else (
            spec.type.domain[0] if kind == "enum" else False if kind == "bool" else spec.low or 0)
        _put(doc, spec.path, value)
    doc["request"] = request
    return doc


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[name] = value


def schema_text() -> str:
    import json

    return json.dumps(facts_schema(), ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------------------- synthetic documents

_SOME_REGIONS = ("341102", "341122", "140105", "360902", "130602", "340102", "110105", "310104", "440305")


def generate(rng: Any, request: str, choose: Any = None) -> dict[str, Any]:
    """A valid random document for ``request``, drawn field by field from the catalog.

    ``choose(field, rng)`` may return a value for a field (e.g. regions of one city) or None to
    let the catalog draw it: enum values, counts within bounds, amounts and dates leaning on the
    ``Gen`` edges, optional fields present with their ``Gen.present`` chance."""
    doc: dict[str, Any] = {"request": request}
    absent = tuple(g.path + "." for g in GROUPS if not g.required and rng.random() >= 0.9)
    for spec in DOCUMENT:
        if request not in spec.requests or spec.path == "request" or spec.path.startswith(absent or ("\0",)):
            continue
        value = choose(spec, rng) if choose is not None else None
        if value is None:
            if not spec.required and rng.random() >= spec.gen.present:
                continue
            value = draw(spec, rng, doc)
        _put(doc, spec.path, value)
    return doc


def draw(spec: Field, rng: Any, doc: dict[str, Any] | None = None) -> Any:
    """One valid value of ``spec`` (``doc`` so far, for fields that depend on earlier ones)."""
    kind, gen = spec.type.kind, spec.gen
    if kind == "enum":
        return rng.choice(spec.type.domain)
    if kind == "bool":
        return rng.random() < gen.present
    if kind == "int":
        if gen.edges and rng.random() < 0.5:
            return rng.choice(gen.edges)
        return rng.randint(spec.low or 0, min(spec.high or 0, gen.high or spec.high or 0))
    if kind == "text":
        return "".join(rng.choice("0123456789X") for _ in range(rng.choice([1, 6, 18])))
    if kind == "map":
        return {}
    if kind == "region":
        return rng.choice(gen.edges or _SOME_REGIONS)
    if kind == "money":
        low = spec.low or 0
        if gen.edges and rng.random() < 0.25:
            text = rng.choice(gen.edges)
            if values.parse_money(text) >= low:
                return text
        return values.format_money(rng.randint(low, max(low, (gen.high or 1000) * 100)))
    if kind == "date":
        floor = _get(doc or {}, spec.after) if spec.after else None
        if gen.edges and rng.random() < 0.3:
            options = [d for d in gen.edges if floor is None or d >= floor]
            if options:
                return rng.choice(options)
        start = values.parse_date(floor) if floor else 20210101
        first = values.date_of(max(start, 20210101))
        span = (values.date_of(20271231) - first).days
        return (first + _dt.timedelta(days=rng.randrange(max(span, 0) + 1))).isoformat()
    raise ValueError(f"cannot draw {kind!r}")  # pragma: no cover - a new kind needs its draw here


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.core.catalog [--check] [FILE]``: write (or check) the generated facts schema."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    target = Path(args[0] if args else Path(__file__).resolve().parents[2] / "schemas" / "facts.schema.json")
    text = schema_text()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run `make facts-schema`", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
