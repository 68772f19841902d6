"""The fact catalog: every field a rule may look at, its type, and how it is shown.

Rules name fields by their path in the fact document (``beneficiary.region``); the compiler
maps a path to a short key in the flat fact that durable_rules sees (``b_reg``).  Computed
fields (``*.pool_code``, ``*.province_code``) are filled in by :mod:`engine.facts`.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Field:
    """One fact field. ``key`` is its name in the flat durable_rules fact."""

    path: str
    key: str
    type: VType
    title_zh: str
    title_en: str
    requests: frozenset[str] = frozenset({"binding", "payment"})
    nullable: bool = False
    computed: bool = False

    @property
    def set_key(self) -> str:
        """Companion boolean for nullable fields: durable_rules never sees a missing property."""
        return self.key + "_set"


BOTH = frozenset({"binding", "payment"})
PAYMENT = frozenset({"payment"})

_PARTY_FIELDS = (
    ("insurance", "ins", enum("insurance"), "参保类型", "insurance type", False, False),
    ("status", "st", enum("status"), "参保状态", "insurance status", False, False),
    ("region", "reg", REGION, "参保地", "insured place", False, False),
    ("pool_code", "pool", REGION, "统筹区", "pooling region", False, True),
    ("province_code", "prov", REGION, "参保省份", "province", False, True),
    ("retired", "ret", BOOL, "是否退休", "retired", False, False),
    ("account_balance", "bal", MONEY, "个人账户余额", "personal account balance", False, False),
)


def _party(prefix: str, role: str, role_zh: str) -> list[Field]:
    return [Field(f"{role}.{name}", f"{prefix}_{key}", vtype, role_zh + zh, f"{role}'s {en}",
                  nullable=nullable, computed=computed)
            for name, key, vtype, zh, en, nullable, computed in _PARTY_FIELDS]


FIELDS: tuple[Field, ...] = tuple(
    [
        Field("request", "rq", enum("request"), "请求类型", "request type"),
        Field("as_of", "asof", DATE, "决定日期", "decision date"),
        Field("city", "city", REGION, "适用规则集", "ruleset applied"),
    ]
    + _party("a", "authorizer", "授权人")
    + _party("b", "beneficiary", "被授权人")
    + [
        Field("beneficiary.last_unbound", "b_unb", DATE, "被授权人上次解除授权日期",
              "date the beneficiary's previous authorization was released", nullable=True),
        Field("relationship", "rel", enum("relationship"), "与授权人关系", "relationship to the authorizer"),
        Field("bound_members", "bound", INT, "已绑定人数", "beneficiaries already bound"),
        Field("authorization.start", "au_s", DATE, "授权开始日期", "authorization start", PAYMENT),
        Field("authorization.end", "au_e", DATE, "授权结束日期", "authorization end", PAYMENT, nullable=True),
        Field("authorization.limit", "au_l", MONEY, "授权额度", "authorization limit", PAYMENT, nullable=True),
        Field("expense.amount", "x_amt", MONEY, "费用金额", "expense amount", PAYMENT),
        Field("expense.category", "x_cat", enum("category"), "费用类别", "expense category", PAYMENT),
        Field("expense.hospital_level", "x_lvl", enum("hospital_level"), "医疗机构级别", "hospital level",
              PAYMENT, nullable=True),
        Field("expense.institution_region", "x_reg", REGION, "就医地", "where the expense happens", PAYMENT),
        Field("expense.institution_pool_code", "x_pool", REGION, "就医地统筹区", "pooling region of the expense",
              PAYMENT, computed=True),
        Field("expense.institution_province_code", "x_prov", REGION, "就医地省份", "province of the expense",
              PAYMENT, computed=True),
        Field("expense.cross_region_registered", "x_xreg", BOOL, "已办理异地就医备案",
              "cross-region treatment registered", PAYMENT),
        Field("expense.credential", "x_cred", enum("credential"), "结算凭证", "credential presented", PAYMENT),
        Field("expense.chronic_conditions", "x_chr", INT, "门诊慢性病病种数", "number of chronic conditions",
              PAYMENT, nullable=True),
        Field("expense.pooling_ytd.deductible_paid", "ytd_d", MONEY, "本年度已累计起付线",
              "deductible paid this year", PAYMENT),
        Field("expense.pooling_ytd.reimbursed", "ytd_r", MONEY, "本年度统筹已支付",
              "pooling reimbursed this year", PAYMENT),
    ]
)

BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}

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
