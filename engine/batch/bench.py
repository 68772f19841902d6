"""``make bench-batch [N=1000000]``: gongji batch end to end (read -> decide -> write summary) on a
synthetic population, with 1 worker, 2 workers and Spark local[2]; rows/s, scaling, peak memory.

Each run is a separate ``gongji batch`` process; its wall time includes loading the rulesets
(and starting the JVM for Spark).  Memory is the peak, sampled every 0.2 s, of the summed PSS
(proportional set size: shared pages of forked workers counted once) of the whole process
tree, the JVM included.  A run on a quarter of the rows shows whether memory grows with input.
Run it on a quiet machine: it takes about 3 x N / (decisions per second per core) seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss(root: int) -> int:
    """Summed PSS (KiB) of ``root`` and all its descendants."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _pss_kib(pid)
        pending.extend(_children(pid))
    return total


def measure(command: list[str]) -> dict[str, float]:
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_pss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    wall = time.monotonic() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}\n{err[-2000:]}")
    return {"seconds": wall, "peak_mib": peak[0] / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.batch.bench")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rulesets", default="rulesets")
    parser.add_argument("--keep", metavar="DIR", help="write the population and outputs here (default: a temp dir)")
    args = parser.parse_args(argv)
    gongji = [sys.executable, "-m", "engine.cli"]
    with tempfile.TemporaryDirectory(prefix="gongji-bench-") as temp:
        work = Path(args.keep or temp)
        work.mkdir(parents=True, exist_ok=True)
        quarter = max(1, args.n // 4)
        for n in (args.n, quarter):
            population = work / f"population-{n}.jsonl"
            if not population.exists():
                subprocess.run([*gongji, "synth", "--n", str(n), "--out", str(population), "--rulesets", args.rulesets],
                               check=True, stdout=subprocess.DEVNULL)
        runs = [("1 worker", args.n, ["--workers", "1"]), ("2 workers", args.n, ["--workers", "2"]),
                ("2 workers, N/4 rows", quarter, ["--workers", "2"]),
                ("Spark local[2]", args.n, ["--engine", "spark", "--master", "local[2]"])]
        results = []
        env = dict(os.environ, GONGJI_LOG_SALT=os.environ.get("GONGJI_LOG_SALT", "bench"))
        os.environ.update(env)
        for label, n, options in runs:
            out = work / f"out-{label.split(',')[0].replace(' ', '-').replace('[', '').replace(']', '')}-{n}.jsonl"
            result = measure([*gongji, "batch", str(work / f"population-{n}.jsonl"), "--out", str(out),
                              "--progress", "none", "--rulesets", args.rulesets, *options])
            result.update(label=label, rows=n, rows_per_s=n / result["seconds"])
            results.append(result)
            print(json.dumps(result), flush=True)
    one, two, _, spark = results
    print()
    print("| run | rows | wall s | rows/s | peak memory (PSS, MiB) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['label']} | {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_mib']:,.0f} |")
    print()
    print(f"scaling 1 -> 2 workers: {one['seconds'] / two['seconds']:.2f}x (target >= 1.8x); "
          f"Spark local[2] / 2 workers: {spark['seconds'] / two['seconds']:.2f}x the time (target <= 1.5x); "
          f"memory at N/4 vs N (2 workers): {results[2]['peak_mib']:.0f} vs {two['peak_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
