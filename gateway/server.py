"""Running the gateway: listeners, hot reload, worker processes and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from pathlib import Path

from aiohttp import web

from gateway.accesslog import access_logger, configure_logging, flush_access_log, install_log_scrubbing
from gateway.app import build_admin_app, build_app
from gateway.clientside.runtime import WORKERS_KEY_ENV
from gateway.clienttimeouts import GuardedRunner
from gateway.config import Config, ConfigError, load_config
from gateway.exchange import Live
from gateway.listeners import ClientTimeouts
from gateway.state import build_state, swap_state
from gateway.workers import Supervisor

log = logging.getLogger("panelgate")
SHUTDOWN_GRACE = ClientTimeouts().shutdown  # seconds in-flight requests get on SIGTERM, unless configured
WATCH_INTERVAL = 2.0
# Connections the kernel holds for accept() (aiohttp's default: 128). Past it a burst of connects is dropped
# unseen: an idle client then believes itself connected to a server that never saw it (nginx uses 511).
LISTEN_BACKLOG = 1024


async def start(config: Config, *, worker: int = 0, reuse_port: bool = False) -> tuple[Live, list[web.AppRunner]]:
    """Start the public and operator listeners. Worker N's operator listener is on admin port + N."""
    install_log_scrubbing()
    live = Live(build_state(config))
    runners: list[web.AppRunner] = []
    admin_port = config.admin_listen.port + worker if config.admin_listen.port else 0
    logger_class = access_logger(config.access_log)

    def timed_out(phase: str) -> None:
        live.state.metrics.client_timeouts.labels(phase).inc()

    for app, host, port, logged in (
        (build_app(config, live), config.listen.host, config.listen.port, config.access_log != "off"),
        (build_admin_app(live), config.admin_listen.host, admin_port, False),
    ):
        runner = GuardedRunner(
            app,
            timeouts=config.client_timeouts,
            on_timeout=timed_out,
            access_log=logging.getLogger("panelgate.access") if logged else None,
            access_log_class=logger_class,
            # aiohttp waits this long twice: for a request in flight to finish, then (its body's reading cancelled)
            # for its connection to end; a call to a panel goes on through both, an answer a client does not read
            # held its connection for both (60 s by default, measured). Half each: the whole is the grace.
            shutdown_timeout=config.client_timeouts.shutdown / 2,
        )
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=LISTEN_BACKLOG).start()
        runners.append(runner)
    return live, runners


async def reload_config(path: str, live: Live) -> bool:
    """Validate `path` and put it in force; an invalid file keeps the running config and says why."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        log.error("reload refused, keeping the running config: %s", exc)
        return False
    old = live.state.config
    if (config.listen, config.admin_listen) != (old.listen, old.admin_listen):
        log.warning("listen addresses changed: they take effect on restart only")
    if config.client_timeouts != old.client_timeouts:
        log.warning("client_timeouts changed: they take effect on restart only")
    try:
        await swap_state(live, config)
    except Exception as exc:  # valid, yet not put in force (an audit log that cannot be opened): nothing swapped
        log.error("reload refused, keeping the running config: %s: %s", type(exc).__name__, exc)
        return False
    log.info("config reloaded from %s", path)
    return True


def _stamp(path: str, live: Live) -> tuple[tuple[str, int], ...]:
    """The config file's and its key files' (keys_from) modification times: any change, a file added or gone
    included, means a reload."""
    files = (path, *live.state.config.watched)
    return tuple((f, Path(f).stat().st_mtime_ns if Path(f).exists() else 0) for f in files)


async def _watch(path: str, live: Live) -> None:
    last = _stamp(path, live)
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        with contextlib.suppress(OSError):
            stamp = _stamp(path, live)
            if stamp != last:
                try:
                    await reload_config(path, live)
                except Exception:  # the watcher must outlive any file it is shown: the next change is read again
                    log.exception("reload refused, keeping the running config")
                last = _stamp(path, live)


async def serve_one(path: str, *, worker: int = 0, reuse_port: bool = False, watch: bool = False,
                    restarts: int = 0) -> None:  # fmt: skip
    """Serve until SIGINT/SIGTERM; SIGHUP (or a changed file with `watch`) reloads the config. `restarts`: how
    many times this worker's slot was replaced after its process died (a metric)."""
    config = load_config(path)
    live, runners = await start(config, worker=worker, reuse_port=reuse_port)
    if restarts:
        live.state.metrics.worker_restarts.labels(str(worker)).inc(restarts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def on_hup() -> None:
        task = loop.create_task(reload_config(path, live))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    # held back since the process started (gateway.server.serve, gateway.workers): one sent meanwhile reloads now
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = loop.create_task(_watch(path, live)) if watch else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        # cleanup() stops accepting, then lets in-flight handlers finish for up to client_timeouts.shutdown seconds.
        for runner in reversed(runners):
            await runner.cleanup()
        flush_access_log()  # the last requests' lines (a spawned worker ends without running atexit)


def _worker_main(path: str, worker: int, watch: bool, restarts: int = 0) -> None:
    configure_logging(f"w{worker} ")
    asyncio.run(serve_one(path, worker=worker, reuse_port=True, watch=watch, restarts=restarts))


# What each process keeps for itself without Redis, and what that means once there are several of them.
_PER_PROCESS = (
    ("idempotency", "idempotent writes: a retry that reaches another worker runs the write again"),
    ("quotas", "key quotas: each worker counts its own, so a key gets up to N times its limit"),
    ("rate_limits", "rate limits and the auth-failure throttle: each worker keeps its own buckets"),
)


def per_process_warnings(config: Config, workers: int) -> list[str]:
    """What `workers` processes without a shared Redis each keep apart (README: per process), said at start-up
    rather than found out: a duplicated order, a quota that counts N times."""
    if workers <= 1:
        return []
    found = [f"--workers {workers} without redis.url for {what}"
             for feature, what in _PER_PROCESS if config.redis.endpoint(feature) is None]  # fmt: skip
    if config.cache.backend == "memory":
        found.append(f"--workers {workers} with the memory cache: a write through one worker invalidates its own "
                     "cache only; the others answer their entries until they expire")  # fmt: skip
    return found


def serve(path: str, *, workers: int = 1, watch: bool = False, pid_file: str | None = None) -> None:
    """Run the gateway; with `workers` > 1, that many processes share the port (SO_REUSEPORT), and one that dies
    is replaced (gateway.workers)."""
    # SIGHUP's default action ends the process: until its handler is installed (a worker's too, which inherits
    # the mask), a reload sent as soon as the pid file exists is held back, then delivered (serve_one)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    if pid_file:
        Path(pid_file).write_text(f"{os.getpid()}\n")
    try:
        if workers <= 1:
            asyncio.run(serve_one(path, watch=watch))
            return
        # One key for every worker's `/_o/` ids unless the config sets one (the workers inherit the environment).
        os.environ.setdefault(WORKERS_KEY_ENV, secrets.token_hex(64))
        Supervisor(path, workers, watch, _worker_main).run()
    finally:
        if pid_file:
            with contextlib.suppress(OSError):
                Path(pid_file).unlink()
