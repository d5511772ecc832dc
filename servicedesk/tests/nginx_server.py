"""Debian's nginx on loopback running the shipped deploy/nginx files, for the tests in front of
the desk (test_nginx.py: limits, protected downloads, the access log; test_failover.py: two
Daphne processes behind the shipped upstream).

`nginx_config` writes a test http{} block from the shipped files: the log format, the upgrade
map and the locations as shipped, on a plain http listener (no TLS); the upstream is either
the shipped one with its ports pointed at the test's processes (`shipped_upstream`: its
max_fails, fail_timeout and backup server as shipped) or a single server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nginx"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def need_nginx() -> str:
    """The nginx binary; skip without it (fail with REQUIRE_SERVICES=1)."""
    binary = nginx_binary()
    if binary is None:
        reason = "needs nginx: apt-get install -y nginx-light (the CI script installs it)"
        if os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return binary


def shipped_upstream(ports: dict[int, int]) -> str:
    """The shipped `upstream welddesk` block with each shipped port (8001, 8002, 8009) replaced
    by the test's: every server line keeps its parameters (max_fails, fail_timeout, backup)."""
    main = (DEPLOY / "welddesk.conf").read_text()
    block = re.search(r"^upstream welddesk \{.*?^\}$", main, re.S | re.M).group(0)
    shipped = set(re.findall(r"server 127\.0\.0\.1:(\d+)", block))
    assert shipped == {str(p) for p in ports}, f"the shipped upstream has ports {shipped}"
    for shipped_port, port in ports.items():
        block = block.replace(f"127.0.0.1:{shipped_port} ", f"127.0.0.1:{port} ")
    return block


def nginx_config(tmp: Path, port: int, media: Path, *, upstream: str) -> Path:
    """The deploy files in a test http{} block: the log format, the map and the locations as
    shipped, the media path at the test's, `upstream` as the `welddesk` upstream (a block, or
    a port for a single server)."""
    main = (DEPLOY / "welddesk.conf").read_text()
    log_format = re.search(r"^log_format welddesk .*?;$", main, re.S | re.M).group(0)
    upgrade_map = re.search(r"^map \$http_upgrade .*?^}$", main, re.S | re.M).group(0)
    locations = (DEPLOY / "welddesk-locations.conf").read_text()
    assert "/srv/welddesk/var/media/" in locations
    (tmp / "locations.conf").write_text(locations.replace("/srv/welddesk/var/media/", f"{media}/"))
    if not upstream.startswith("upstream"):
        upstream = f"upstream welddesk {{ server 127.0.0.1:{upstream}; }}"
    config = tmp / "nginx.conf"
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy"))
    temp += "".join(f" {kind}_temp_path {tmp}/{kind};" for kind in ("fastcgi", "uwsgi", "scgi"))
    config.write_text(
        f"""
daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    {temp}
    {log_format}
    {upgrade_map}
    {upstream}
    server {{
        listen 127.0.0.1:{port};
        access_log {tmp}/access.log welddesk;
        include {tmp}/locations.conf;
    }}
}}
"""
    )
    return config


@contextlib.contextmanager
def running_nginx(binary: str, config: Path, port: int) -> Iterator[subprocess.Popen]:
    """Run nginx with `config` until the block ends (bounded start and stop)."""
    tmp = config.parent
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"nginx did not start: {(tmp / 'error.log').read_text()}")
            time.sleep(0.1)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
