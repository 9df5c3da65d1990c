"""nginx as the reference proxy, from a config generated in a temp dir (its own pid, logs, cache, temp paths).

The system nginx service is never touched: `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'` runs in the
foreground as a child of the benchmark and is stopped by its pid.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.procs import HOST, Proc


def version() -> str:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return out.split("/", 1)[-1] if "/" in out else out


def _main(root: Path, servers: str, workers: int) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read the temp dir they were given
    return f"""{user}worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy_temp;
    fastcgi_temp_path {root}/fastcgi_temp;
    uwsgi_temp_path {root}/uwsgi_temp;
    scgi_temp_path {root}/scgi_temp;
    keepalive_requests 1000000;
{servers}
}}
"""


def proxy_config(root: Path, *, sim_port: int, cache_port: int, pass_port: int, stream_port: int,
                 origin_port: int) -> str:  # fmt: skip
    """One worker (the gateway runs one process): proxy_cache and proxy_pass to the simulator, and a stream
    proxy with proxy_buffering off in front of the origin."""
    servers = f"""
    proxy_cache_path {root}/cache levels=1:2 keys_zone=bench:10m max_size=64m inactive=10m use_temp_path=off;
    upstream sim {{ server {HOST}:{sim_port}; keepalive 64; }}
    upstream origin {{ server {HOST}:{origin_port}; keepalive 64; }}
    server {{
        listen {HOST}:{cache_port} backlog=1024;
        location / {{
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_key $request_uri;
            proxy_cache_valid 200 30s;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
    server {{
        listen {HOST}:{pass_port} backlog=1024;
        location / {{
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen {HOST}:{stream_port} backlog=1024;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
        }}
    }}"""
    return _main(root, servers, 1)


def origin_config(root: Path, *, port: int, file: Path) -> str:
    """The stream origin: every path is the same 1 GiB file, sent with sendfile (almost no CPU)."""
    servers = f"""
    sendfile on;
    server {{
        listen {HOST}:{port} backlog=1024;
        root {file.parent};
        location / {{ try_files /{file.name} =404; default_type video/mp2t; }}
    }}"""
    return _main(root, servers, 1)


def start(name: str, root: Path, config: str, port: int) -> Proc:
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(config)
    argv = ["nginx", "-p", str(root), "-c", str(conf), "-e", str(root / "error.log"), "-g", "daemon off;"]
    return Proc(name, argv, root / "stdout.log").ready(port)
