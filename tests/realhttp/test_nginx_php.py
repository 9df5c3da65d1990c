"""The admin API's HTTP client (gateway.panel_http) and the gateway against a real nginx with php-fpm, opt-in.

`make realhttp` runs these (it installs nginx and php-fpm from Debian when root); without PANELGATE_REALHTTP they
skip. The panels run PHP behind nginx: answers chunked (PHP sends no length), gzipped when the client accepts it,
flushed in pieces by a script that echoes as it goes, and kept-alive connections closed by nginx's own timer.
The PHP here answers get_lines and user_info in Xtream-Masters' shape; panel behaviour is the realpanel suite's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import build_app
from gateway.panel_http import PanelHttp, Reply
from gateway.upstream_settings import Origin, parse_origin
from tests.conftest import ACCESS_CODE, KEYS, UPSTREAM_KEY, AiohttpClient, make_config
from tests.serving import free_port

pytestmark = pytest.mark.skipif(not os.environ.get("PANELGATE_REALHTTP"),
                                reason="opt-in: `make realhttp` (a real nginx with php-fpm)")  # fmt: skip

KEEPALIVE = 1  # nginx's keepalive_timeout here, seconds

PANEL_PHP = r"""<?php
header('Content-Type: application/json');
if (($_POST['api_key'] ?? '') !== '%(key)s') {
    echo json_encode(['status' => 'STATUS_FAILURE', 'error' => 'Invalid API key.']);
    exit;
}
if (isset($_REQUEST['sleep'])) { usleep(intval($_REQUEST['sleep']) * 1000); }
$action = $_POST['action'] ?? '';
if ($action === 'user_info') {
    $me = ['id' => '1', 'username' => 'admin', 'api_key' => '%(key)s'];
    echo json_encode(['status' => 'STATUS_SUCCESS', 'data' => $me, 'permissions' => []]);
    exit;
}
$n = intval($_REQUEST['rows'] ?? 25);
$rows = [];
for ($i = 1; $i <= $n; $i++) {
    $rows[] = ['id' => strval($i), 'member_id' => '1', 'username' => "line$i", 'password' => bin2hex(random_bytes(5)),
               'admin_notes' => 'ملاحظة', 'exp_date' => '1924995600', 'max_connections' => '1', 'enabled' => '1'];
}
$out = json_encode(['status' => 'STATUS_SUCCESS', 'data' => $rows, 'recordsTotal' => $n, 'recordsFiltered' => $n,
                   'echo' => $_POST]);
if (!isset($_REQUEST['pieces'])) { echo $out; exit; }
foreach (str_split($out, 1000) as $piece) { echo $piece; flush(); usleep(1000); }  // a slow page, flushed as it goes
"""

NGINX_CONF = """worker_processes 1;
%(user)s
pid %(root)s/nginx.pid;
error_log %(root)s/nginx-error.log;
events { worker_connections 256; }
http {
  access_log off;
  keepalive_timeout %(keepalive)ds;
  gzip on; gzip_types application/json; gzip_min_length 100;
  server {
    listen 127.0.0.1:%(port)d;
    root %(root)s/www;
    location ~ \\.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:%(root)s/fpm.sock;
    }
  }
}
"""

FPM_CONF = """[global]
pid = %(root)s/fpm.pid
error_log = %(root)s/fpm.log
daemonize = yes
[www]
listen = %(root)s/fpm.sock
pm = static
pm.max_children = 8
"""


def _php_fpm() -> str | None:
    found = shutil.which("php-fpm") or next(iter(sorted(Path("/usr/sbin").glob("php-fpm*"))), None)
    return str(found) if found else None


@pytest.fixture(scope="module")
def panel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx + php-fpm serving the PHP above at /{ACCESS_CODE}/admin/index.php; stopped afterwards."""
    nginx, fpm = shutil.which("nginx"), _php_fpm()
    if nginx is None or fpm is None:
        pytest.fail("make realhttp needs nginx and php-fpm (it installs them when run as root)")
    root = tmp_path_factory.mktemp("realhttp")
    root.chmod(0o755)
    script = root / "www" / ACCESS_CODE / "admin" / "index.php"
    script.parent.mkdir(parents=True)
    script.write_text(PANEL_PHP % {"key": UPSTREAM_KEY})
    port = free_port()
    as_root = os.geteuid() == 0
    values = {"root": root, "port": port, "keepalive": KEEPALIVE, "user": "user root;" if as_root else ""}
    (root / "fpm.conf").write_text(FPM_CONF % values)
    (root / "nginx.conf").write_text(NGINX_CONF % values)
    subprocess.run([fpm, "-y", str(root / "fpm.conf"), *(["-R"] if as_root else [])], check=True)
    subprocess.run([nginx, "-p", str(root), "-c", str(root / "nginx.conf")], check=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        for pid_file in ("nginx.pid", "fpm.pid"):
            path = root / pid_file
            if path.exists():
                subprocess.run(["kill", path.read_text().strip()], check=False)


class Counted(PanelHttp):
    """PanelHttp counting the connections it opens."""

    opened = 0

    async def _open(self, *args: Any) -> Any:
        self.opened += 1
        return await super()._open(*args)


async def _call(http: PanelHttp, origin: Origin, *, query: str = "", form: str = "", timeout: float = 10.0) -> Reply:
    body = f"api_key={UPSTREAM_KEY}&action=get_lines{form}".encode()
    return await http.exchange(origin, "POST", f"/{ACCESS_CODE}/admin/index.php{query}", body=body,
                               headers=(("Content-Type", "application/x-www-form-urlencoded"),),
                               timeout=timeout, connect_timeout=2.0, limit=32 << 20)  # fmt: skip


async def test_the_panel_client_against_nginx_and_php(panel_url: str) -> None:
    origin = parse_origin(panel_url)
    http = Counted()
    for _ in range(30):  # chunked and gzipped, as nginx answers PHP; one connection kept
        reply = await _call(http, origin)
        assert reply.status == 200
        assert len(json.loads(reply.body)["data"]) == 25
    assert http.opened == 1
    big = await _call(http, origin, query="?rows=20000&pieces=1", timeout=30)  # PHP flushing 1 KB pieces
    assert len(json.loads(big.body)["data"]) == 20000
    await asyncio.sleep(KEEPALIVE + 0.5)  # nginx closes the idle connection: the next call must not fail
    assert (await _call(http, origin, query="?rows=1")).status == 200
    assert http.opened == 2
    echoed = json.loads((await _call(http, origin, form="&user_data%5Busername%5D=a%20b")).body)["echo"]
    assert echoed["user_data"] == {"username": "a b"}
    replies = await asyncio.gather(*(_call(http, origin, query="?sleep=50") for _ in range(20)))
    assert {r.status for r in replies} == {200}
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await _call(http, origin, query="?sleep=3000", timeout=0.5)
    assert time.monotonic() - began < 1.5
    assert (await _call(http, origin)).status == 200
    missing = await http.exchange(origin, "GET", "/nothing.php", body=None, timeout=5, connect_timeout=2, limit=1 << 20)
    assert missing.status == 404
    await http.close()


async def test_the_gateway_through_nginx_and_php(panel_url: str, aiohttp_client: AiohttpClient, policies_dir: Path,
                                                 tmp_path: Path) -> None:  # fmt: skip
    client = await aiohttp_client(build_app(make_config(panel_url, policies_dir, tmp_path)))
    path = f"/{ACCESS_CODE}/admin/index.php"
    for pause in (0.0, KEEPALIVE + 0.5):  # the second after nginx closed the idle connection
        await asyncio.sleep(pause)
        resp = await client.post(path, data={"api_key": KEYS["admin"], "action": "get_lines"})
        doc = await resp.json(content_type=None)
        assert doc["status"] == "STATUS_SUCCESS", doc
        assert len(doc["data"]) == 25
    resp = await client.post(path, data={"api_key": KEYS["admin"], "action": "user_info"})
    text = await resp.text()
    assert "STATUS_SUCCESS" in text and UPSTREAM_KEY not in text  # the panel's own key never reaches a client
