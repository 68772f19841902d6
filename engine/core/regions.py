"""6-digit administrative codes of the *insured place* and the pooling regions they belong to.

The conventions here are ours, not the seeds' (DOMAIN.md, "Modelling conventions"):
pool code = first 4 digits + ``00``; province code = first 2 digits + ``0000``; the four
municipalities pool at province level; county-level cities directly under a province
(省直辖县级行政区划) form their own pool.
"""

from __future__ import annotations

import re

# 2-digit province prefixes of the national standard GB/T 2260 (incl. 71 Taiwan, 81 HK, 82 Macao).
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# The "90" block of a prefecture-level code holds county-level units directly under the province
# (e.g. 429004 仙桃, 419001 济源, 469001 五指山, 659001 石河子): each pools on its own.
_DIRECT_COUNTY_BLOCK = "90"

_CODE = re.compile(r"[0-9]{6}\Z")
_ID_CARD = re.compile(r"[0-9]{15}\Z|[0-9]{17}[0-9Xx]\Z")


_VALID: set[str] = set()


def region_problem(code: object) -> str | None:
    """Why ``code`` is not a 6-digit admin code, or None when it is one."""
    if isinstance(code, str) and code in _VALID:
        return None
    problem = _region_problem(code)
    if problem is None and len(_VALID) < 100_000:
        _VALID.add(code)  # type: ignore[arg-type]
    return problem


def _region_problem(code: object) -> str | None:
    if not isinstance(code, str):
        return f"{type(code).__name__} is not a region code (write it as a quoted string)"
    if not _CODE.match(code):
        if _ID_CARD.match(code):
            return "looks like an ID-card number; give the 6-digit code of the insured place"
        return "is not 6 digits"
    if code[:2] not in PROVINCES:
        return f"province prefix {code[:2]} does not exist"
    if code[2:] == "0000" or code[2:4] == "00":
        return None if code[2:] == "0000" else "prefecture digits 00 with a county part is not a code"
    return None


def province_code(code: str) -> str:
    return code[:2] + "0000"


def pool_code(code: str) -> str:
    """The pooling region (统筹区) of an insured-place code."""
    if code[:2] in MUNICIPALITIES:
        return code[:2] + "0000"
    if code[2:4] == _DIRECT_COUNTY_BLOCK:
        return code
    return code[:4] + "00"


# Names for display only (the four seed cities, their provinces and their districts/counties).
NAMES: dict[str, str] = {
    "340000": "安徽省", "341100": "滁州市", "341102": "琅琊区", "341103": "南谯区", "341122": "来安县",
    "341124": "全椒县", "341125": "定远县", "341126": "凤阳县", "341181": "天长市", "341182": "明光市",
    "140000": "山西省", "140100": "太原市", "140105": "小店区", "140106": "迎泽区", "140107": "杏花岭区",
    "140108": "尖草坪区", "140109": "万柏林区", "140110": "晋源区", "140121": "清徐县", "140181": "古交市",
    "360000": "江西省", "360900": "宜春市", "360902": "袁州区", "360981": "丰城市", "360982": "樟树市",
    "360983": "高安市", "130000": "河北省", "130600": "保定市", "130602": "竞秀区", "130606": "莲池区",
    "130681": "涿州市", "130682": "定州市",
}


def region_name(code: str) -> str:
    if code in NAMES:
        return NAMES[code]
    if code[2:] == "0000":
        return PROVINCES.get(code[:2], "")
    return ""
