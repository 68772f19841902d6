"""The runner: one function applied to every row of a large input, on all cores or on Spark.

A :class:`Job` names what each worker loads once (engines, from rulesets directories) and what it
does to a chunk of consecutive rows.  :func:`run_local` spreads chunks over a pool of worker
processes and yields the results **in input order**, streaming: at most ``inflight`` chunks are
read ahead, so memory stays flat for any input size.  On POSIX the workers are forked after the
parent has loaded the engines, so they start at once and share the compiled rulesets'
memory; elsewhere each worker loads them in its initializer.

A worker that dies (a crash in native code, the OOM killer) or meets an unexpected Python error
stops the whole job with a :class:`BatchFailure` naming the row it was deciding: never a
silently shorter output.  :func:`run_spark` does the same on Apache Spark (engine/batch/spark.py).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from ..core.errors import EngineError, Issue, SourceLocation
from .rows import RowFailure

DEFAULT_CHUNK = 500
_POLL_SECONDS = 0.2


class BatchFailure(EngineError):
    """The job stopped: a worker died or hit a bug.  Nothing was written under the output's name."""

    kind = "batch failed"


def failure(message: str, row: int | None = None) -> BatchFailure:
    pointer = f"row {row}" if row is not None else ""
    return BatchFailure([Issue("worker_failed", message, SourceLocation(pointer=pointer))], "batch failed")


@dataclass(frozen=True)
class Job:
    """``load(*dirs, **load_options)`` builds a worker's state once; ``work(state, items, first,
    mark)`` returns one result per item (``mark(row)`` records the row being worked on)."""

    load: Callable[..., Any]
    dirs: tuple[str, ...]
    work: Callable[..., list[Any]]
    load_options: Mapping[str, Any] = field(default_factory=dict)

    def state(self, dirs: Sequence[str] | None = None) -> Any:
        return self.load(*(dirs or self.dirs), **self.load_options)


@dataclass
class RunOptions:
    """How to run: ``engine`` local|spark, ``workers`` (local; default every core), ``master``
    (Spark; default local[*] or what spark-submit set), ``chunk`` rows per task."""

    engine: str = "local"
    workers: int | None = None
    master: str | None = None
    chunk: int = DEFAULT_CHUNK

    @property
    def worker_count(self) -> int:
        return max(1, self.workers if self.workers is not None else (os.cpu_count() or 1))


def run(job: Job, source: Any, options: RunOptions, state: Any = None) -> Iterator[list[Any]]:
    """Results of every chunk of ``source`` (a formats.Source), in input order."""
    if options.engine == "spark":
        from .spark import run_spark

        return run_spark(job, source, options)
    return run_local(job, source.chunks(options.chunk), options.worker_count, state=state)


# ------------------------------------------------------------------------------ local pool

_STATE: Any = None  # the worker's state; set in the parent just before forking


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RowFailure):
        return exc.detail
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int, by_thread: bool) -> None:
    """Exit when the parent ``gongji`` process dies, even by SIGKILL (no ``finally`` of its runs):
    a worker otherwise waits on its task queue forever, holding memory and a core's share.

    On Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG).  That
    signal follows the *thread* that forked, so when the pool was started from another thread
    (which may end before the pool does) or off Linux, a daemon thread polls ``os.getppid()``.
    """
    if sys.platform.startswith("linux") and not by_thread:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):  # no usable libc: poll instead
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="gongji-parent-watch", daemon=True).start()


def _worker(job: Job, slot: int, slots: Any, tasks: Any, results: Any, preloaded: bool,
            parent: int = -1, by_thread: bool = False) -> None:
    if parent > 0:
        _die_with_parent(parent, by_thread)
    # The parent handles Ctrl-C and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        state = _STATE if preloaded else job.state()
    except BaseException as exc:
        results.put(("load_failed", slot, _describe(exc)))
        return

    def mark(row: int) -> None:
        slots[2 * slot + 1] = row

    while True:
        task = tasks.get()
        if task is None:
            return
        number, first, items = task
        slots[2 * slot] = number
        try:
            out = job.work(state, items, first, mark)
        except BaseException as exc:
            row = exc.row if isinstance(exc, RowFailure) else slots[2 * slot + 1]
            results.put(("failed", number, row, _describe(exc)))
            return
        results.put(("done", number, out))


def run_local(job: Job, chunks: Iterable[tuple[int, list[Any]]], workers: int, state: Any = None,
              inflight: int | None = None) -> Iterator[list[Any]]:
    """Apply ``job`` to every chunk on ``workers`` processes (1: in this process), in order."""
    if workers <= 1:
        yield from _run_inline(job, chunks, state)
        return
    global _STATE
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    preloaded = ctx.get_start_method() == "fork"
    if preloaded:
        _STATE = state if state is not None else job.state()
    inflight = inflight or 3 * workers
    slots = ctx.Array("q", [-1] * (2 * workers), lock=False)
    tasks, results = ctx.Queue(), ctx.Queue()
    parent, by_thread = os.getpid(), threading.current_thread() is not threading.main_thread()
    processes = [ctx.Process(target=_worker, args=(job, i, slots, tasks, results, preloaded, parent, by_thread),
                             daemon=True, name=f"gongji-worker-{i}") for i in range(workers)]
    for process in processes:
        process.start()
    _STATE = None
    firsts: dict[int, tuple[int, int]] = {}
    done: dict[int, list[Any]] = {}
    source = iter(chunks)
    submitted = emitted = 0
    exhausted = clean = False

    def fill() -> None:
        nonlocal submitted, exhausted
        while not exhausted and submitted - emitted < inflight:
            chunk = next(source, None)
            if chunk is None:
                exhausted = True
                return
            first, items = chunk
            firsts[submitted] = (first, len(items))
            tasks.put((submitted, first, items))
            submitted += 1

    try:
        fill()
        while emitted < submitted:
            try:
                message = results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                _check_alive(processes, slots, firsts)
                continue
            if message[0] == "done":
                done[message[1]] = message[2]
            elif message[0] == "failed":
                _, number, row, detail = message
                first, size = firsts[number]
                raise failure(f"a worker failed on row {row} (chunk {number}, rows {first}-{first + size - 1}): "
                              f"{detail}", row)
            else:
                raise failure(f"worker {message[1]} could not load the rulesets: {message[2]}")
            while emitted in done:
                out = done.pop(emitted)
                firsts.pop(emitted, None)
                emitted += 1
                fill()
                yield out
        clean = True
    finally:
        _stop(processes, tasks, results, clean)


def _run_inline(job: Job, chunks: Iterable[tuple[int, list[Any]]], state: Any) -> Iterator[list[Any]]:
    state = state if state is not None else job.state()
    current = [-1]

    def mark(row: int) -> None:
        current[0] = row

    for number, (first, items) in enumerate(chunks):
        try:
            out = job.work(state, items, first, mark)
        except Exception as exc:
            row = exc.row if isinstance(exc, RowFailure) else current[0]
            raise failure(f"failed on row {row} (chunk {number}, rows {first}-{first + len(items) - 1}): "
                          f"{_describe(exc)}", row) from exc
        yield out


def _check_alive(processes: Sequence[Any], slots: Any, firsts: Mapping[int, tuple[int, int]]) -> None:
    for index, process in enumerate(processes):
        code = process.exitcode
        if code is None:
            continue
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        number, row = slots[2 * index], slots[2 * index + 1]
        where = ""
        if number in firsts:
            first, size = firsts[number]
            where = f" while deciding row {row} (chunk {number}, rows {first}-{first + size - 1})"
        raise failure(f"worker {index} (pid {process.pid}) {how}{where}", row if where else None)


def _stop(processes: Sequence[Any], tasks: Any, results: Any, clean: bool) -> None:
    if clean:
        for _ in processes:
            tasks.put(None)
        for process in processes:
            process.join(timeout=10)
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
    for q in (tasks, results):
        q.cancel_join_thread()
        q.close()


def bind(function: Callable[..., list[Any]], **options: Any) -> Callable[..., list[Any]]:
    """``work`` for a :class:`Job`: a module-level function with its keyword options (picklable)."""
    return partial(function, **options)
