"""`panelgate key new | rotate | list`: keys made, rotated and listed without ever storing a secret.

`key new` prints a key once and its entry (or, with `-c` and a config whose `keys_from` names a file or a
directory, writes the entry there); `key rotate` gives a key a new secret and keeps the old one valid for a grace
period (`previous_secrets`); `key list` shows every key's dates, quotas and last use, from Redis (the `keyuse` endpoint)
or else from the running gateway's operator listener (`/status.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.config import Config, ConfigError, KeyConfig, load_config
from gateway.key_files import add_entry, replace_entry
from gateway.key_lifecycle import duration, iso, moment
from gateway.keys import digest_of, new_key
from gateway.keyuse import KeyUse
from gateway.redis.link import Unavailable


def _config(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"panelgate: {path}: {exc}", file=sys.stderr)
        return None


def _show_once(key: str) -> None:
    print("New key (shown once; give it to the client, it is not stored anywhere):")
    print(f"  {key}")


def key_new(args: argparse.Namespace) -> int:
    """Print a new key once; its entry is written to `keys_from` (with -c) or printed to paste under `keys:`."""
    entry: dict[str, Any] = {"id": args.id, "digest": "", "policy": args.policy}
    if args.reseller_id is not None and args.reseller_id <= 0:  # the config refuses it: no reload would pass
        print(f"panelgate: --reseller-id: expected a positive integer, got {args.reseller_id}", file=sys.stderr)
        return 2
    if args.reseller_id is not None:
        entry["reseller_id"] = args.reseller_id
    if args.upstream:
        entry["upstream"] = args.upstream
    if args.expires_at:
        try:  # as the config will read it: a key written with a time it cannot read stops every reload
            expires = moment(args.expires_at, "--expires-at")
        except ConfigError as exc:
            print(f"panelgate: {exc}", file=sys.stderr)
            return 2
        if expires <= time.time():
            print(f"panelgate: --expires-at: {iso(expires)} has passed: the key would never work", file=sys.stderr)
            return 2
        entry["expires_at"] = iso(expires)
    config = _config(args.config) if args.config else None
    if args.config and config is None:
        return 2
    if config is not None:
        problem = _problem_with(entry, config, args.config)
        if problem:
            print(f"panelgate: {problem}", file=sys.stderr)
            return 2
    key = new_key()
    entry["digest"] = digest_of(key)
    if config is not None and config.keys_from:
        written = add_entry(Path(config.keys_from), entry)
        _show_once(key)
        print(f"Its entry is in {written}; `panelgate reload` (or `serve --watch`) puts it in force.")
        return 0
    _show_once(key)
    print("Add this entry under `keys:` in the gateway config:")
    print("  - {" + ", ".join(f'{k}: "{v}"' if k in ("digest", "expires_at") else f"{k}: {v}"
                              for k, v in entry.items()) + "}")  # fmt: skip
    return 0


def _problem_with(entry: dict[str, Any], config: Config, config_path: str) -> str:
    if any(k.id == entry["id"] for k in config.keys):
        rotate = shlex.join(["panelgate", "key", "rotate", "-c", config_path, "--id", entry["id"]])
        return f"a key with id {entry['id']!r} exists already (rotate it: {rotate})"
    if entry["policy"] not in config.policies:
        return f"no policy named {entry['policy']!r} (have: {', '.join(config.policies)})"
    targets = {*config.upstreams, *config.pools}
    if entry.get("upstream", config.default_upstream) not in targets:
        return f"no upstream or pool named {entry['upstream']!r}"
    if config.keys_from and Path(config.keys_from).is_dir():
        name = str(entry["id"])  # the entry's file is named after it (gateway.key_files.add_entry)
        if Path(name).name != name or name.startswith(".") or "\x00" in name:
            return f"--id {name!r}: the key's file in {config.keys_from} is named after it; use a plain name"
        if (Path(config.keys_from) / f"{name}.yaml").exists():
            return f"{Path(config.keys_from) / f'{name}.yaml'} exists already"
    return ""


def key_rotate(args: argparse.Namespace) -> int:
    """A new secret for key `--id`; the old one stays valid for `--grace`."""
    config = _config(args.config)
    if config is None:
        return 2
    key = next((k for k in config.keys if k.id == args.id), None)
    if key is None or key.ip_only:
        print(f"panelgate: no key with a secret has id {args.id!r}", file=sys.stderr)
        return 2
    now = time.time()
    try:
        grace = duration(args.grace)
        until = iso(now + grace)
    except ValueError as exc:
        print(f"panelgate: --grace: {exc}", file=sys.stderr)
        return 2
    except (OverflowError, OSError):  # past the year 9999: no date can say it
        print(f"panelgate: --grace: {args.grace!r} is too long", file=sys.stderr)
        return 2
    secret = new_key()
    kept = [{"digest": p.digest, "until": iso(p.until)} for p in key.lifecycle.previous if p.until > now]
    previous = [*kept, {"digest": key.digest, "until": until}]
    if not key.source:
        _show_once(secret)
        print(f"Key {key.id} is in the main config: set its digest to \"{digest_of(secret)}\" and add")
        print("    previous_secrets:")
        for p in previous:
            print(f"      - {{digest: \"{p['digest']}\", until: \"{p['until']}\"}}")
        print("then `panelgate reload`. (Keys under `keys_from` are rotated in place.)")
        return 0

    def rotated(entry: dict[str, Any]) -> dict[str, Any]:
        entry["digest"] = digest_of(secret)
        entry["previous_secrets"] = previous
        return entry

    replace_entry(Path(key.source), key.id, rotated)
    if _config(args.config) is None:  # never leave a file the gateway cannot load
        return 2
    _show_once(secret)
    print(f"The old secret of {key.id} stays valid until {until}. {key.source} is rewritten; `panelgate reload`")
    print("(or `serve --watch`) puts it in force.")
    return 0


def _from_redis(config: Config) -> dict[str, float] | None:
    endpoint = config.redis.endpoint("keyuse")
    if endpoint is None:
        return None

    async def read() -> dict[str, float] | None:
        use = KeyUse(replace(endpoint, timeout=2.0))
        try:
            return await use.stored()
        except Unavailable:
            return None  # unknown (the running gateway is asked next), never "never used"
        finally:
            await use.close()

    return asyncio.run(read())


MAX_WORKERS = 256  # operator ports asked past admin_listen's, at most


def _from_gateway(config: Config) -> dict[str, float] | None:
    """Last uses from the running gateway's operator listeners: `serve --workers N` gives worker i its own on
    admin_listen.port + i, and without Redis each knows only the uses it served, so every worker is asked (up to
    the first port where none answers)."""
    listen = config.admin_listen
    host = "127.0.0.1" if listen.host in ("0.0.0.0", "::", "") else listen.host
    seen: dict[str, float] | None = None
    for worker in range(MAX_WORKERS):
        try:
            with urllib.request.urlopen(f"http://{host}:{listen.port + worker}/status.json", timeout=2) as answer:
                keys = json.load(answer).get("keys", [])
        except (OSError, ValueError, AttributeError):
            break
        seen = seen if seen is not None else {}
        for k in keys if isinstance(keys, list) else []:
            if isinstance(k, dict) and k.get("last_used"):
                seen[k["id"]] = max(seen.get(k["id"], 0.0), float(k["last_used"]))
    return seen


def _ago(then: float, now: float) -> str:
    seconds = int(now - then)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{iso(then)} ({seconds // size} {unit} ago)"
    return f"{iso(then)} ({seconds} s ago)"


def _row(key: KeyConfig, used: dict[str, float] | None, now: float) -> list[str]:
    life = key.lifecycle
    state = life.state(now)
    rotating = [p for p in life.previous if p.until > now]
    if rotating:
        state += f", old secret until {iso(max(p.until for p in rotating))}"
    dates = " ".join(f"{n}={iso(t)}" for n, t in (("from", life.not_before), ("until", life.expires_at)) if t)
    last = "unknown" if used is None else _ago(used[key.id], now) if key.id in used else "never"
    return [key.id, key.policy.name, str(key.reseller_id or "-"), state, dates or "-",
            "; ".join(q.describe() for q in key.quotas) or "-", last]  # fmt: skip


def key_list(args: argparse.Namespace) -> int:
    """Every key of the config: policy, reseller, state and dates, quotas, last use."""
    config = _config(args.config)
    if config is None:
        return 2
    used, source = _from_redis(config), "redis"
    if used is None:
        used, source = _from_gateway(config), "the running gateway"
    now = time.time()
    rows = [["id", "policy", "reseller", "state", "dates", "quotas", "last used"]]
    rows += [_row(k, used, now) for k in config.keys]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    print(f"(last use from {source})" if used is not None else "(last use unknown: no Redis, and no gateway "
          f"answering on {config.admin_listen.host}:{config.admin_listen.port})")  # fmt: skip
    return 0


def add_parsers(sub: Any) -> None:
    """The `key` command's subcommands, on `sub` (argparse's subparsers of `key`)."""
    k = sub.add_parser("new", help="generate a client key and its config entry")
    k.add_argument("--id", required=True, help="a name for the key, shown in logs and the audit trail")
    k.add_argument("--policy", default="reseller")
    k.add_argument("--reseller-id", type=int)
    k.add_argument("--upstream")
    k.add_argument("--expires-at", help="refused from this time on, e.g. 2027-01-01T00:00:00Z")
    k.add_argument("-c", "--config", help="check against this config, and write the entry to its keys_from")
    k.set_defaults(func=key_new)
    k = sub.add_parser("rotate", help="a new secret for a key; the old one stays valid for a grace period")
    k.add_argument("-c", "--config", required=True)
    k.add_argument("--id", required=True)
    k.add_argument("--grace", default="24h", help="how long the old secret still works: 3600, 15m, 24h, 7d")
    k.set_defaults(func=key_rotate)
    k = sub.add_parser("list", help="every key: policy, state, dates, quotas, last use")
    k.add_argument("-c", "--config", required=True)
    k.set_defaults(func=key_list)
