"""The `panelgate` command: serve, reload, check, key new|rotate|list (gateway.cli_keys), matrix, sim."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import cli_keys
from gateway.accesslog import configure_logging
from gateway.config import Config, ConfigError, load_config

SIM_DIALECTS = ("xtream_masters", "xui_reseller")


def _load(path: str, *, then: str = "") -> Config | None:
    """The validated config, or None after printing the error with its YAML path."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"panelgate: {path}: {exc}{then}", file=sys.stderr)
        return None


def _cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    print(
        f"{args.config}: ok ({len(config.upstreams)} upstream(s), {len(config.keys)} key(s), "
        f"{len(config.policies)} polic{'y' if len(config.policies) == 1 else 'ies'})"
    )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from gateway.server import per_process_warnings, serve

    config = _load(args.config)
    if config is None:
        return 2
    configure_logging()
    log = logging.getLogger("panelgate")
    log.info(
        "listening on %s:%d (operator listener %s:%d)",
        config.listen.host, config.listen.port, config.admin_listen.host, config.admin_listen.port,
    )
    for warning in per_process_warnings(config, args.workers):
        log.warning("%s", warning)
    serve(args.config, workers=args.workers, watch=args.watch, pid_file=args.pid_file)
    return 0


def _cmd_reload(args: argparse.Namespace) -> int:
    """Validate the config first, so a typo is reported here rather than only in the server's log."""
    if _load(args.config, then="; not reloading") is None:
        return 2
    try:
        pid = int(Path(args.pid_file).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(f"panelgate: cannot signal the server from {args.pid_file}: {exc}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to {pid}")
    return 0


def _cmd_sim(args: argparse.Namespace) -> int:
    from gateway.sim.xtream_masters import run_sim

    logging.basicConfig(level=logging.INFO)
    if args.dialect == "xui_reseller":
        from gateway.sim import xui_reseller

        key = xui_reseller.XuiResellerSim().key_of(88)
        print(f"simulated XUI.one panel: Reseller API on http://{args.host}:{args.port}/{args.reseller_code}/ "
              f"(reseller 88's key: {key}), admin API on /{args.access_code}/admin/index.php")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(xui_reseller.run_sim(args.host, args.port, args.access_code, args.api_key, args.reseller_code))
        return 0
    print(f"simulated {args.dialect} panel on http://{args.host}:{args.port}/{args.access_code}/admin/index.php")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sim(args.host, args.port, args.access_code, args.api_key))
    return 0


def _cmd_matrix(args: argparse.Namespace) -> int:
    from gateway.matrix import call_lines, cells, markdown

    if args.calls:
        print("\n".join(call_lines()))
        return 0
    if args.markdown:
        print(markdown(), end="")
        return 0
    for op, client, upstream, kind in cells():
        print(f"{op:28} {client:16} -> {upstream:16} {kind}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panelgate", description="API gateway for IPTV panels")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--watch", action="store_true", help="reload when the config file changes")
    p.add_argument("--pid-file", help="write the server's pid here (for `panelgate reload`)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("reload", help="validate a config and tell a running server (SIGHUP) to load it")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--pid-file", required=True)
    p.set_defaults(func=_cmd_reload)

    p = sub.add_parser("check", help="validate a config file")
    p.add_argument("-c", "--config", required=True)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("key", help="manage client keys")
    key_sub = p.add_subparsers(dest="key_command", required=True)
    cli_keys.add_parsers(key_sub)

    p = sub.add_parser("matrix", help="print the capability matrix (operation x client x upstream dialect)")
    p.add_argument("--markdown", action="store_true", help="as the Markdown of docs/matrix.md")
    p.add_argument("--calls", action="store_true", help="each cell's exact sequence of upstream calls")
    p.set_defaults(func=_cmd_matrix)

    p = sub.add_parser("sim", help="run a simulated panel")
    p.add_argument("--dialect", choices=SIM_DIALECTS, default="xtream_masters")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--access-code", default="admin")
    p.add_argument("--api-key", default="sim-admin-key")
    p.add_argument("--reseller-code", default="reseller", help="the Reseller API's access code (xui_reseller)")
    p.set_defaults(func=_cmd_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:
        # `panelgate matrix | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
