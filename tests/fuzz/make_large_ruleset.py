"""Build a large ruleset for timing ``gongji check``: the shipped rulesets with N extra dated
parameters in Chuzhou (N=2100 gives about 1 MB, the default size limit).

    python tests/fuzz/make_large_ruleset.py OUT N && gongji check --default-switches OUT
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARAMETER = """  - id: extra_param_{i}
    type: money
    title: {{zh: 额外参数{i}, en: Extra parameter {i}}}
    versions:
      - to: "2024-12-31"
        value: "{i}.00"
        source: {{document: 000_b1a913a873027671.txt, quote: "同一个家庭账户最多能绑定7人,包括授权人本人"}}
      - from: "2025-01-01"
        value: "{i}.50"
        source: {{document: 000_b1a913a873027671.txt, quote: "同一个家庭账户最多能绑定7人,包括授权人本人"}}
"""


def build(out: Path, count: int) -> int:
    shutil.copytree(ROOT / "rulesets", out, ignore=shutil.ignore_patterns("*.test.yaml"))
    city = out / "cities" / "341100-chuzhou.yaml"
    text = city.read_text(encoding="utf-8")
    text = text.replace("\nparameters:\n", "\nparameters:\n" + "".join(PARAMETER.format(i=i) for i in range(count)), 1)
    city.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


if __name__ == "__main__":
    print(f"{build(Path(sys.argv[1]), int(sys.argv[2]))} bytes")
