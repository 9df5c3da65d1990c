"""`serve --workers N`: N worker processes sharing the port (SO_REUSEPORT), and a supervisor that replaces the
ones that die.

A worker that exits while the server is not stopping (killed by the OOM killer, a crash in a C extension, a
SIGKILL) is started again in its slot, so its operator port (admin port + N) comes back. Each replacement waits a
back-off that doubles while the slot keeps dying young (RESTART_FIRST .. RESTART_MAX seconds) and starts again
from the first once a worker lived STABLE_AFTER seconds: a worker that crashes at start-up does not spin. Each
replacement is logged, and the new process counts the slot's replacements in
`panelgate_worker_restarts_total{worker}` on its operator listener.

Signals: SIGTERM/SIGINT stop the workers (forwarded; nothing is replaced from then on), SIGHUP is forwarded.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

log = logging.getLogger("panelgate")

RESTART_FIRST = 0.5  # seconds before a dead worker's first replacement
RESTART_MAX = 30.0
STABLE_AFTER = 60.0  # a worker that lived this long resets its slot's back-off
WorkerMain = Callable[[str, int, bool, int], None]  # (config path, slot, watch, restarts so far)


@dataclass
class Slot:
    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = RESTART_FIRST
    due: float | None = None  # when a replacement starts (None: not waiting for one)


def _how(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    def __init__(self, path: str, workers: int, watch: bool, target: WorkerMain) -> None:
        self.path = path
        self.watch = watch
        self.target = target
        self.slots = [Slot(i) for i in range(workers)]
        self.stopping = False
        self._ctx = multiprocessing.get_context("spawn")

    def _start(self, slot: Slot) -> None:
        slot.process = self._ctx.Process(target=self.target, args=(self.path, slot.index, self.watch, slot.restarts),
                                         name=f"panelgate-w{slot.index}")  # fmt: skip
        # the worker starts with SIGHUP blocked (a forwarded reload would otherwise kill it while it starts) and
        # unblocks it once its handler is installed (gateway.server.serve_one)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            slot.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        slot.started, slot.due = time.monotonic(), None

    def _signal(self, signum: int, _frame: object = None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for slot in self.slots:
            if slot.process is not None and slot.process.pid is not None and slot.process.is_alive():
                os.kill(slot.process.pid, signum)

    def _reap(self, slot: Slot) -> None:
        """`slot`'s worker has exited: schedule its replacement (unless the server is stopping)."""
        assert slot.process is not None
        now = time.monotonic()
        slot.process.join()  # reaps it: exitcode is known from here
        how, pid = _how(slot.process), slot.process.pid
        slot.process = None
        if self.stopping:
            return
        if now - slot.started >= STABLE_AFTER:
            slot.backoff = RESTART_FIRST
        slot.restarts += 1
        slot.due = now + slot.backoff
        log.error("worker %d (pid %s) died (%s); replacing it in %.1fs (replacement %d)", slot.index, pid, how,
                  slot.backoff, slot.restarts)  # fmt: skip
        slot.backoff = min(slot.backoff * 2, RESTART_MAX)

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        for slot in self.slots:
            self._start(slot)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # blocked by gateway.server.serve until here
        while True:
            running = {slot.process.sentinel: slot for slot in self.slots if slot.process is not None}
            if self.stopping and not running:
                return
            now = time.monotonic()
            waits = [slot.due - now for slot in self.slots if slot.due is not None and not self.stopping]
            timeout = max(0.0, min([0.5, *waits]))  # wakes for signals' flag and due replacements
            for sentinel in multiprocessing.connection.wait(list(running), timeout):
                self._reap(running[sentinel])  # type: ignore[index]
            for slot in self.slots:
                if slot.due is not None and not self.stopping and time.monotonic() >= slot.due:
                    self._start(slot)
