"""The pre-fork supervisor: compile once, fork workers that share it, restart the dead, reload.

The parent loads and compiles every ruleset, freezes the heap for the garbage collector (so
workers' pages stay shared), binds the listening socket and forks N workers; each runs a
uvicorn server on the inherited socket and the kernel spreads connections over them.

Requests in flight on a worker that dies: when a worker accepts a connection it hands the
parent a duplicate of its descriptor over a SOCK_SEQPACKET pair (SCM_RIGHTS) with a slot number,
and says when the connection ends. While a request is being handled (from its start until its
answer starts) the worker sets the connection's slot byte in a memory page it shares with the
parent: no system call per request. A worker killed (SIGKILL, a segfault in the C extension)
leaves its connections open in the parent, which answers ``503`` on each connection whose slot
is set and closes the others; nothing hangs. A worker killed after an answer started closes
that connection mid-answer (the client sees a truncated answer, never a hang). The dead worker
is forked again.

Reload (SIGHUP or ``POST /v1/admin/reload``): the parent compiles the rulesets in a thread while
it keeps supervising; on success it forks a new generation of workers from the new engine and,
once they are accepting, retires the old ones: they stop accepting, answer what they hold with
``Connection: close`` and exit when their connections are done. On failure nothing changes and
the errors go back to the caller and to the log. The old generation stays the one in force (and
is restarted if one of its workers dies) until every new worker is accepting: a new worker that
dies first, or a new generation not accepting within ``--reload-timeout``, abandons the reload
(``reload_workers_failed``). Whatever happens, once things settle exactly ``--workers`` workers
serve.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import gc
import json
import logging
import mmap
import os
import selectors
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

from ..core.errors import EngineError, Issue, SourceLocation, UsageError
from .state import Limits, ServiceState

log = logging.getLogger("gongji.service")

RETIRE_GRACE = 10.0  # seconds an old worker may keep finishing its connections after a reload
STOP_GRACE = 10.0  # seconds workers get to finish on shutdown before SIGKILL
KEEP_ALIVE = 5  # seconds an idle connection stays open
RESTART_BACKOFF = 1.0  # seconds between restarts of a worker that keeps dying at once
READY_TIMEOUT = 60.0  # seconds a new generation gets to accept before a reload is abandoned
KILL_AFTER = 5.0  # seconds past RETIRE_GRACE after which a retiring worker that did not exit is killed

# Messages on a worker's channel: O<slot> + the connection's fd (accepted), C<slot> (closed),
# R (accepting), L (reload, please); the parent answers L with l<json>.
OPEN, CLOSE, READY, RELOAD, RELOADED = b"O", b"C", b"R", b"L", b"l"
SLOTS = 65536  # connections a worker tracks at once (one byte each in the shared page)
IDLE, BUSY = 0, 1  # a slot's byte: no request, or a request not answered yet

WORKER_DIED_BODY = json.dumps({"error": "worker_died", "summary": "the worker handling this request stopped "
                               "before answering; the request may be retried", "issues": []}).encode()
WORKER_DIED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
               b"connection: close\r\ncontent-length: " + str(len(WORKER_DIED_BODY)).encode() + b"\r\n\r\n"
               + WORKER_DIED_BODY)


@dataclass
class Worker:
    pid: int
    slot: int
    generation: int
    channel: socket.socket
    started: float
    slots: mmap.mmap  # one byte per tracked connection, shared with the worker
    ready: bool = False
    retiring: bool = False
    kill_at: float | None = None  # retiring: SIGKILL if still alive then (a worker stuck before its loop)
    connections: dict[int, int] = field(default_factory=dict)  # slot -> the parent's copy of the connection


@dataclass
class Options:
    rulesets: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    decision_log: str | None = None
    switches: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    all_switches: bool = True
    extra_routes: Callable[[ServiceState], list[Any]] | None = None
    ready_timeout: float = READY_TIMEOUT


@dataclass
class Pending:
    """A compiled new generation whose workers are starting; ``state`` is not in force yet."""

    state: ServiceState
    generation: int
    deadline: float


class Supervisor:
    def __init__(self, options: Options, announce: Callable[[str], None] = print):
        self.options = options
        self.announce = announce
        self.workers: dict[int, Worker] = {}
        self.generation = 0  # the generation in force (its workers serve self.state)
        self.generations = 0  # the last generation number handed out
        self.stopping = False
        self.selector = selectors.DefaultSelector()
        self.reload_thread: threading.Thread | None = None
        self.reload_result: tuple[ServiceState | None, list[Issue]] | None = None
        self.reload_waiters: list[Worker | None] = []  # who asked (None: SIGHUP)
        # asked while a reload was under way: that one may have read the files before their edit,
        # so they get a reload of their own once it is done (all of them share that next one)
        self.queued_waiters: list[Worker | None] = []
        self.pending: Pending | None = None
        self.deaths: dict[int, list[float]] = {}
        self.pending_restarts: list[tuple[float, int, int]] = []  # (not before, slot, generation)
        self.supervisor_fds: list[socket.socket] = []  # closed in every worker right after fork
        self.metrics: Any = None

    # ------------------------------------------------------------------ parent

    def build_state(self) -> ServiceState:
        from ..runtime.auditlog import DecisionLog

        o = self.options
        decision_log = DecisionLog(o.decision_log) if o.decision_log else None
        state = ServiceState(o.rulesets, switches=o.switches, decision_log=decision_log, limits=o.limits,
                             all_switches=o.all_switches)
        return state

    def run(self) -> int:
        self.state = self.build_state()  # compile errors propagate: the CLI prints them and exits 1
        _raise_descriptor_limit()  # the parent holds a descriptor per request in flight
        try:
            self.listener = socket.create_server((self.options.host, self.options.port), backlog=2048)
        except OSError as exc:
            raise UsageError([Issue("address_unavailable", f"cannot listen on {self.options.host}:"
                                    f"{self.options.port}: {exc.strerror or exc}", SourceLocation(),
                                    expected="a free port on a local address",
                                    found=f"{self.options.host}:{self.options.port}")]) from None
        self.listener.set_inheritable(True)
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="gongji-metrics-"))
        from .metrics import Metrics

        self.metrics = Metrics(self.metrics_dir)  # the parent's own counters (reloads), summed like a worker's
        host, port = self.listener.getsockname()[:2]
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())
        self.wake = wake_w  # the compile thread writes a 0 byte here when it is done
        self.supervisor_fds = [wake_r, wake_w]
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, lambda *_: None)  # delivered through the wakeup fd
        self.selector.register(wake_r, selectors.EVENT_READ, "signal")
        _preload()
        gc.collect()
        gc.freeze()  # compiled rulesets stay in shared pages after fork
        for slot in range(self.options.workers):
            self.spawn(slot, self.state, self.generation)
        self.announce(f"gongji serve: listening on http://{host}:{port} with {self.options.workers} worker(s), "
                      f"rulesets {self.options.rulesets} sha256 {self.state.sha256}")
        try:
            self.loop(wake_r)
        finally:
            self.shutdown()
            signal.set_wakeup_fd(-1)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 0

    def loop(self, wake_r: socket.socket) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.5):
                if key.data == "signal":
                    self.on_signals(wake_r)
                else:
                    self.on_message(key.data)
            self.reap()
            self.after_reload()
            self.respawn()
            self.retire_when_ready()
            self.kill_stuck()

    def on_signals(self, wake_r: socket.socket) -> None:
        try:
            data = wake_r.recv(4096)
        except BlockingIOError:
            return
        for number in data:
            if number in (signal.SIGTERM, signal.SIGINT):
                log.info("stopping")
                self.stopping = True
            elif number == signal.SIGHUP:
                self.start_reload(None)

    def spawn(self, slot: int, state: ServiceState, generation: int) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        slots = mmap.mmap(-1, SLOTS)  # anonymous and shared: the worker writes, the parent reads after its death
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            code = 1
            try:
                parent_end.close()
                self.selector.close()
                for own in self.supervisor_fds:  # the signal/wake pair: a worker writing there would wake the parent
                    own.close()
                for other in self.workers.values():  # copies of connections the parent holds must not live on here
                    other.channel.close()
                    other.slots.close()
                    for fd in other.connections.values():
                        _close(fd)
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGHUP, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL if sig == signal.SIGCHLD else signal.SIG_IGN)
                # the parent's handlers only feed its wake-up pair: until uvicorn installs its own,
                # SIGTERM/SIGINT stop a worker (one stuck starting would otherwise ignore them)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                code = run_worker(self.listener, state, child_end, slots, self.metrics_dir, self.options)
            except BaseException:  # a worker must never return into the parent's code
                log.exception("worker failed")
            finally:
                os._exit(code)
        child_end.close()
        parent_end.setblocking(False)
        worker = Worker(pid, slot, generation, parent_end, time.monotonic(), slots)
        self.workers[pid] = worker
        self.selector.register(parent_end, selectors.EVENT_READ, worker)
        log.info("worker %d started (slot %d, generation %d)", pid, slot, generation)

    def on_message(self, worker: Worker) -> None:
        while True:
            try:
                data, ancillary, _, _ = worker.channel.recvmsg(64, socket.CMSG_SPACE(4 * 4))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            kind = data[:1]
            if kind == OPEN:
                slot = int.from_bytes(data[1:3], "big")
                for level, ctype, payload in ancillary:
                    if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
                        fds = array.array("i")
                        fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                        for extra in fds[1:]:
                            _close(extra)
                        if fds:
                            old = worker.connections.pop(slot, None)
                            if old is not None:
                                _close(old)
                            worker.connections[slot] = fds[0]
            elif kind == CLOSE:
                fd = worker.connections.pop(int.from_bytes(data[1:3], "big"), None)
                if fd is not None:
                    _close(fd)
            elif kind == READY:
                worker.ready = True
            elif kind == RELOAD:
                self.start_reload(worker)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self.on_message(worker)  # what it said before dying
            self.selector.unregister(worker.channel)
            worker.channel.close()
            rescued = 0
            for slot, fd in worker.connections.items():
                if worker.slots[slot] == BUSY:
                    rescued += _answer_503(fd)
                else:
                    _close(fd)  # idle: the client sees the connection close, as with any server
            worker.slots.close()
            how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}")
            if worker.retiring or self.stopping:
                log.info("worker %d (generation %d) finished: %s", pid, worker.generation, how)
                continue
            if self.pending is not None and worker.generation == self.pending.generation:
                # the new generation is not healthy: keep the one in force, do not restart
                self.abandon_reload(f"worker {pid} of the new generation stopped ({how}) before the new "
                                    f"generation was accepting")
                continue
            if worker.generation != self.generation:
                continue  # an abandoned or replaced generation: nothing to restart
            log.warning("worker %d died (%s); %d request(s) in flight answered 503; restarting", pid, how, rescued)
            self.restart(worker.slot, worker.generation)

    def restart(self, slot: int, generation: int) -> None:
        """Queue a new worker for ``slot``; ``respawn`` forks it as soon as that is safe."""
        now = time.monotonic()
        recent = [t for t in self.deaths.get(slot, []) if now - t < 10]
        recent.append(now)
        self.deaths[slot] = recent
        not_before = now + (RESTART_BACKOFF if len(recent) > 3 else 0.0)  # dying at once again and again
        self.pending_restarts.append((not_before, slot, generation))

    def respawn(self) -> None:
        # never fork while the compile thread runs (a fork copies only this thread, and any lock
        # the other one holds stays locked in the child); the loop keeps answering meanwhile
        if not self.pending_restarts or self.reload_thread is not None or self.stopping:
            return
        now = time.monotonic()
        due = [entry for entry in self.pending_restarts if entry[0] <= now]
        self.pending_restarts = [entry for entry in self.pending_restarts if entry[0] > now]
        for _, slot, generation in due:
            # a restart queued for a generation a reload has since replaced is covered by the new
            # generation's own worker in that slot; one that already has a worker is a duplicate
            if generation != self.generation or any(
                    w.slot == slot and w.generation == generation and not w.retiring for w in self.workers.values()):
                continue
            self.spawn(slot, self.state, self.generation)

    def kill_stuck(self) -> None:
        """SIGKILL a retiring worker that outlived its grace (stuck before its event loop ran)."""
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.retiring and worker.kill_at is not None and now >= worker.kill_at:
                log.warning("worker %d (generation %d) did not stop after retiring; killing it",
                            worker.pid, worker.generation)
                worker.kill_at = None
                _signal(worker.pid, signal.SIGKILL)

    def retire(self, worker: Worker) -> None:
        worker.retiring = True
        worker.kill_at = time.monotonic() + RETIRE_GRACE + KILL_AFTER
        _signal(worker.pid, signal.SIGUSR1)

    # ------------------------------------------------------------------ reload

    def start_reload(self, asker: Worker | None) -> None:
        if self.reload_thread is not None or self.pending is not None:
            self.queued_waiters.append(asker)  # answered by the next reload, which reads the files anew
            return
        self.reload_waiters.append(asker)

        def compile_new() -> None:
            try:
                self.reload_result = (self.build_state(), [])
            except EngineError as error:
                self.reload_result = (None, list(error.issues))
            except Exception as exc:  # reported; the old rulesets keep serving
                self.reload_result = (None, [Issue("reload_failed", f"{type(exc).__name__}: {exc}",
                                                   SourceLocation(str(self.options.rulesets)))])
            with contextlib.suppress(OSError):
                self.wake.send(b"\0")

        log.info("reloading %s", self.options.rulesets)
        self.reload_thread = threading.Thread(target=compile_new, name="gongji-reload", daemon=True)
        self.reload_thread.start()

    def after_reload(self) -> None:
        if self.reload_thread is None or self.reload_thread.is_alive():
            return
        self.reload_thread.join()
        self.reload_thread = None
        new_state, issues = self.reload_result or (None, [])
        self.reload_result = None
        if new_state is None:
            log.warning("reload failed; the previous rulesets keep serving: %s",
                        "; ".join(i.format() for i in issues))
            self.count_reload("rejected")
            self.answer_reload({"reloaded": False, "sha256": self.state.sha256,
                                "issues": [i.to_dict() for i in issues]})
            return
        old_log = self.state.decision_log
        if old_log is not None and new_state.decision_log is not None:
            new_state.decision_log.close()
            new_state.decision_log = old_log  # one descriptor on the log for every generation
        gc.collect()
        gc.freeze()  # the new engine joins the shared pages of the workers about to be forked
        self.generations += 1
        self.pending = Pending(new_state, self.generations, time.monotonic() + self.options.ready_timeout)
        for slot in range(self.options.workers):
            self.spawn(slot, new_state, self.pending.generation)

    def retire_when_ready(self) -> None:
        pending = self.pending
        if pending is None:
            return
        fresh = [w for w in self.workers.values() if w.generation == pending.generation and not w.retiring]
        if len(fresh) < self.options.workers or not all(w.ready for w in fresh):
            if time.monotonic() >= pending.deadline:
                self.abandon_reload(f"the new generation was not accepting within {self.options.ready_timeout:g} s "
                                    f"({sum(w.ready for w in fresh)} of {self.options.workers} workers ready)")
            return
        self.pending = None
        self.state, self.generation = pending.state, pending.generation
        self.count_reload("ok")
        self.answer_reload({"reloaded": True, "sha256": self.state.sha256, "issues": []})
        for worker in self.workers.values():
            if worker.generation != self.generation and not worker.retiring:
                self.retire(worker)
        gc.unfreeze()  # the previous engine is garbage now: let the collector have it, then freeze again
        gc.collect()
        gc.freeze()
        log.info("reloaded: generation %d serves rulesets sha256 %s", self.generation, self.state.sha256)

    def abandon_reload(self, reason: str) -> None:
        """The new generation did not come up: retire what there is of it, keep the one in force."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        for worker in self.workers.values():
            if worker.generation == pending.generation and not worker.retiring:
                self.retire(worker)
        issue = Issue("reload_workers_failed", f"{reason}; the previous rulesets keep serving",
                      SourceLocation(str(self.options.rulesets)), expected="every new worker accepting",
                      found=reason)
        log.error("reload failed: %s", issue.message)
        self.count_reload("workers_failed")
        self.answer_reload({"reloaded": False, "sha256": self.state.sha256, "issues": [issue.to_dict()]})

    def count_reload(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.reload(result)
            self.metrics.save()

    def answer_reload(self, result: dict[str, Any]) -> None:
        payload = RELOADED + json.dumps(result, ensure_ascii=False).encode("utf-8")
        for asker in self.reload_waiters:
            if asker is not None and asker.pid in self.workers:
                try:
                    asker.channel.setblocking(True)
                    asker.channel.send(payload)
                except OSError:
                    pass
                finally:
                    asker.channel.setblocking(False)
        self.reload_waiters = []
        if self.queued_waiters and not self.stopping:
            queued, self.queued_waiters = self.queued_waiters, []
            first, *rest = queued
            self.start_reload(first)
            self.reload_waiters.extend(rest)

    # ------------------------------------------------------------------ stop

    def shutdown(self) -> None:
        for worker in self.workers.values():
            _signal(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while self.workers and time.monotonic() < deadline:
            self.stopping = True
            self.reap()
            time.sleep(0.05)
        for worker in list(self.workers.values()):
            _signal(worker.pid, signal.SIGKILL)
        while self.workers:
            self.reap()
            time.sleep(0.01)
        self.listener.close()
        if self.state.decision_log is not None:
            self.state.decision_log.close()


def _raise_descriptor_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _preload() -> None:
    """Import the web stack and build the OpenAPI document once, before forking: workers start
    faster (a reload waits for them) and share these pages."""
    import uvicorn.protocols.http.httptools_impl  # noqa: F401
    import uvloop  # noqa: F401

    from ..tools import counterfactual, matrix  # noqa: F401
    from . import app  # noqa: F401
    from .openapi import openapi_document

    openapi_document()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _answer_503(fd: int) -> int:
    """Answer a request whose worker died, on the parent's copy of its connection; 1 if sent."""
    try:
        with socket.socket(fileno=fd) as conn:
            conn.settimeout(1.0)
            conn.sendall(WORKER_DIED)
            conn.shutdown(socket.SHUT_RDWR)
            return 1
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
            log.warning("could not answer a request of a dead worker: %s", exc)
        return 0


# ---------------------------------------------------------------------- worker


def run_worker(listener: socket.socket, state: ServiceState, channel: socket.socket, slots: mmap.mmap,
               metrics_dir: Path, options: Options) -> int:
    """One worker: a uvicorn server on the inherited socket; the parent holds a copy of each of
    its connections and can read which have a request in flight (``slots``)."""
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from .app import create_app
    from .metrics import Metrics

    connections: dict[Any, int] = {}  # client address -> slot of the connection
    free = list(range(SLOTS - 1, -1, -1))
    draining = False
    reload_replies: list[asyncio.Future[dict[str, Any]]] = []

    def tell(message: bytes, fd: int | None = None) -> None:
        try:
            if fd is None:
                channel.send(message)
            else:
                channel.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        except OSError:
            pass  # the parent is gone: we are being stopped anyway

    class Tracked(HttpToolsProtocol):
        gongji_slot: int | None = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is None or self.client is None or not free:
                return  # untracked: if this worker dies, the connection is reset instead of answered
            slot = free.pop()
            slots[slot] = IDLE
            tell(OPEN + slot.to_bytes(2, "big"), sock.fileno())
            self.gongji_slot = slot
            connections[tuple(self.client)] = slot

        def connection_lost(self, exc: Exception | None) -> None:
            slot = self.gongji_slot
            if slot is not None:
                self.gongji_slot = None
                if connections.get(tuple(self.client or ())) == slot:
                    del connections[tuple(self.client or ())]
                slots[slot] = IDLE
                tell(CLOSE + slot.to_bytes(2, "big"))
                free.append(slot)
            super().connection_lost(exc)

    async def reload_via_parent() -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        reload_replies.append(future)
        tell(RELOAD)
        return await future

    state.reload_hook = reload_via_parent
    metrics = Metrics(metrics_dir)
    extra = options.extra_routes(state) if options.extra_routes else []
    app = create_app(state, extra_routes=extra, metrics=metrics)

    async def tracked_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        client = tuple(scope["client"]) if scope.get("client") else None
        slot = connections.get(client)
        if slot is not None:
            slots[slot] = BUSY  # from here until the answer starts, the parent answers 503 if we die

        async def send_tracked(message: Any) -> None:
            if message["type"] == "http.response.start":
                if slot is not None:
                    slots[slot] = IDLE
                if draining:  # retiring after a reload: the client reconnects to a fresh worker
                    message = dict(message, headers=[*message.get("headers", []), (b"connection", b"close")])
            await send(message)

        try:
            await app(scope, receive, send_tracked)
        finally:
            if slot is not None and connections.get(client) == slot:
                slots[slot] = IDLE

    config = uvicorn.Config(tracked_app, http=Tracked, loop="uvloop", lifespan="off", access_log=False,
                            log_level="warning", timeout_keep_alive=KEEP_ALIVE, server_header=False)

    class WorkerServer(uvicorn.Server):
        def capture_signals(self) -> Any:  # type: ignore[override]
            loop = asyncio.get_running_loop()

            def retire() -> None:
                nonlocal draining
                if draining:
                    return
                draining = True
                for server in self.servers:
                    server.close()  # closes this process's copy of the listener only

                async def finish() -> None:
                    deadline = loop.time() + RETIRE_GRACE
                    while self.server_state.connections and loop.time() < deadline:
                        await asyncio.sleep(0.05)
                    self.should_exit = True

                loop.create_task(finish())

            @contextlib.contextmanager
            def handlers() -> Any:
                loop.add_signal_handler(signal.SIGTERM, self.handle_exit, signal.SIGTERM, None)
                loop.add_signal_handler(signal.SIGINT, self.handle_exit, signal.SIGINT, None)
                loop.add_signal_handler(signal.SIGUSR1, retire)
                yield

            return handlers()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            loop = asyncio.get_running_loop()
            channel.setblocking(True)
            loop.add_reader(channel.fileno(), on_reply)
            tell(READY)

    def on_reply() -> None:
        try:
            data = channel.recv(1 << 20, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the parent is gone; it stops us soon
            asyncio.get_running_loop().remove_reader(channel.fileno())
            return
        if data.startswith(RELOADED) and reload_replies:
            reload_replies.pop(0).set_result(json.loads(data[1:]))

    server = WorkerServer(config)
    try:
        server.run(sockets=[listener])
    finally:
        metrics.save()
    return 0
