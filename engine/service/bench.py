"""``make bench-serve``: throughput and latency of ``gongji serve`` on loopback.

Starts the server itself (1 worker, then 2), drives it with a small asyncio HTTP/1.1 client
(keep-alive connections, one request in flight per connection) for a fixed time per cell, and
stops by itself. Reports decisions/s and p50/p99/p99.9 latency for binding and payment at
concurrency 1, 16 and 64, then batch throughput (JSON Lines). The client runs on the same
machine: on 2 cores it takes CPU from the workers, so absolute numbers are a lower bound.

    python -m engine.service.bench [--seconds 3] [--workers 1 2] [--batch-lines 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = (1, 16, 64)


@dataclass
class Cell:
    workers: int
    request: str
    concurrency: int
    count: int
    errors: int
    seconds: float
    latencies: list[float]

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def row(self) -> str:
        return (f"| {self.workers} | {self.request} | {self.concurrency} | {self.count / self.seconds:,.0f} | "
                f"{self.percentile(50):.2f} | {self.percentile(99):.2f} | {self.percentile(99.9):.2f} | "
                f"{self.errors} |")


def _request(path: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
    if length:
        return status, await reader.readexactly(int(length.group(1)))
    body = b""  # chunked (the batch answer)
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def _drive(port: int, payload: bytes, concurrency: int, seconds: float) -> tuple[int, int, list[float], float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                writer.write(payload)
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    results = await asyncio.gather(*(connection() for _ in range(concurrency)), return_exceptions=True)
    elapsed = time.perf_counter() - began
    errors += sum(1 for r in results if isinstance(r, BaseException))
    return len(latencies), errors, latencies, elapsed


def _run(coroutine: Any) -> Any:
    """uvloop when there is one (it is a dependency of the server): a cheaper client leaves more
    of the shared cores to the workers being measured."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _start(workers: int) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(ROOT / "rulesets"), "--port", "0",
                                "--workers", str(workers)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not found:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    port = int(found.group(1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every worker answering
        try:
            probe = b"GET /readyz HTTP/1.1\r\nhost: b\r\n\r\n"
            count, errors, _, _ = _run(_drive(port, probe, workers * 4, 0.2))
            if count and not errors:
                break
        except OSError:
            time.sleep(0.1)
    return process, port


def _document(name: str) -> dict[str, Any]:
    from ..core.load import load_file

    return load_file(ROOT / "examples" / name).data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per cell (default 3)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-lines", type=int, default=5000)
    args = parser.parse_args(argv)
    payloads = {"binding": json.dumps(_document("chuzhou-binding.yaml")).encode(),
                "payment": json.dumps(_document("chuzhou-payment.yaml")).encode()}
    cells: list[Cell] = []
    batches: list[tuple[int, int, float, int]] = []
    for workers in args.workers:
        process, port = _start(workers)
        try:
            for request, body in payloads.items():
                payload = _request("/v1/decisions", body)
                _run(_drive(port, payload, 4, min(args.seconds, 0.5)))  # warm every worker
                for concurrency in CONCURRENCY:
                    count, errors, latencies, elapsed = _run(_drive(port, payload, concurrency, args.seconds))
                    cells.append(Cell(workers, request, concurrency, count, errors, elapsed, latencies))
                    print(cells[-1].row(), flush=True)
            lines = b"\n".join(payloads["binding" if i % 2 else "payment"] for i in range(args.batch_lines)) + b"\n"
            payload = _request("/v1/decisions:batch", lines, "application/x-ndjson")
            # one batch per worker at once, so every worker has one
            count, errors, _, elapsed = _run(_drive(port, payload, workers, args.seconds))
            batches.append((workers, count * args.batch_lines, elapsed, errors))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print()
    print("| workers | request | concurrency | decisions/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for cell in cells:
        print(cell.row())
    print()
    print("| workers | batch decisions/s | errors |")
    print("|---|---|---|")
    for workers, decided, elapsed, errors in batches:
        print(f"| {workers} | {decided / elapsed:,.0f} | {errors} |")
    by = {(c.workers, c.request, c.concurrency): c.count / c.seconds for c in cells}
    for request in payloads:
        if (1, request, 64) in by and (2, request, 64) in by:
            ratio = by[(2, request, 64)] / by[(1, request, 64)]
            print(f"\n{request}: 2 workers / 1 worker at concurrency 64 = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
