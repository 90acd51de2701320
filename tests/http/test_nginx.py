"""deploy/nginx.conf, run by the real nginx (Debian's) in front of a real gunicorn.

gunicorn's sync workers each serve one connection for as long as its client
takes: a dozen idle or half-sent requests straight to gunicorn take every
worker, and /healthz waits behind them. Through nginx, which reads requests
whole before it passes them on, the same connections cost gunicorn nothing.
The config is rendered with free ports and a temporary prefix, and nginx runs
as a subprocess of the test (`nginx -p <tmp> -c <conf> -g 'daemon off;'`).
"""

import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from app.config import DEFAULTS
from tests.http.server import PROJECT_ROOT, Servers, free_port

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
pytestmark = [
    pytest.mark.http,
    pytest.mark.skipif(NGINX is None, reason="needs Debian's nginx (apt-get install nginx)"),
]

SITE = PROJECT_ROOT / "deploy" / "nginx.conf"
WORKERS = 2
IDLE_CONNECTIONS = 12
# Generous bounds (shared 2-core machine): prompt means under PROMPT, stalled means no answer within STALL.
PROMPT_SECONDS = 5
STALL_SECONDS = 5
READY_TIMEOUT_SECONDS = 15
# The access log line of the test's gunicorn shows the forwarded headers it got.
ACCESS_LOG_FORMAT = '"%(m)s %(U)s" %(s)s xff=%({x-forwarded-for}i)s real=%({x-real-ip}i)s'


def render_site(upstream_port: int, listen_port: int, read_timeout_seconds: int | None = None) -> str:
    site = SITE.read_text()
    site, listens = re.subn(r"^(\s*)listen 80;$", rf"\1listen 127.0.0.1:{listen_port};", site, flags=re.M)
    site, upstreams = re.subn(r"server 127\.0\.0\.1:10000;", f"server 127.0.0.1:{upstream_port};", site)
    assert (listens, upstreams) == (1, 1), "deploy/nginx.conf no longer has the lines the test rewrites"
    if read_timeout_seconds is not None:
        site, count = re.subn(r"proxy_read_timeout \d+s;", f"proxy_read_timeout {read_timeout_seconds}s;", site)
        assert count == 1
    return site


def main_config(prefix: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides around a site, pointed into `prefix`."""
    # Workers run as `nobody` by default and could not write the temp folders under the test's tmp.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 512; }}
http {{
    access_log {prefix / "access.log"};
{temp_paths}
    include {site};
}}
"""


class Nginx:
    def __init__(self, prefix: Path, upstream_port: int, read_timeout_seconds: int | None = None):
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = prefix / "site.conf"
        site.write_text(render_site(upstream_port, self.port, read_timeout_seconds))
        self.config = prefix / "nginx.conf"
        self.config.write_text(main_config(prefix, site))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(self.config), "-e", str(prefix / "error.log"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.wait_until_listening()

    def wait_until_listening(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.process.stderr.read().decode()}\n{self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen within {READY_TIMEOUT_SECONDS}s\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()


@pytest.fixture(scope="module")
def backend(tmp_path_factory, http_database_url):
    servers = Servers(tmp_path_factory)
    yield servers.start(
        http_database_url,
        workers=WORKERS,
        # Its access log (off by default) shows the client address gunicorn took.
        extra_env={"GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_LOG_FORMAT}'", "OPENIM_ACCESS_LOG": "on"},
    )
    servers.stop_all()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory, backend):
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), backend.port)
    yield proxy
    proxy.stop()


def hold_connections(stack: ExitStack, port: int) -> None:
    """IDLE_CONNECTIONS open connections: half send nothing, half a request head and part of its body."""
    for index in range(IDLE_CONNECTIONS):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
        if index % 2:
            sock.sendall(
                b"POST /auth/user_register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 200\r\n\r\n{"userID": '
            )
    time.sleep(0.5)  # let the server take them all in


def timed_healthz(base_url: str, timeout: float) -> tuple[float, int, dict]:
    started = time.monotonic()
    with requests.get(base_url + "/healthz", timeout=timeout) as response:
        return time.monotonic() - started, response.status_code, response.json()


def test_healthz_answers_promptly_through_nginx_beside_a_dozen_idle_connections(nginx):
    with ExitStack() as stack:
        hold_connections(stack, nginx.port)
        for _ in range(3):
            elapsed, status, answer = timed_healthz(nginx.url, timeout=30)
            assert (status, answer["errCode"]) == (200, 0), answer
            assert elapsed < PROMPT_SECONDS, f"/healthz took {elapsed:.1f}s through nginx"


def gunicorn_log_line(backend, path: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in backend.log_path.read_text(errors="replace").splitlines() if f" {path}" in line]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {path}:\n{backend.log_tail()}")


def test_gunicorn_gets_the_client_address_nginx_saw_not_a_forged_one(nginx, backend):
    path = f"/probe-{uuid.uuid4().hex}"
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"}
    with requests.get(nginx.url + path, headers=forged, timeout=30) as response:
        assert (response.status_code, response.json()["errCode"]) == (404, 404)
    line = gunicorn_log_line(backend, path)
    assert "xff=127.0.0.1 real=127.0.0.1" in line, line
    assert "203.0.113.7" not in line


def post_bytes(base_url: str, size: int) -> requests.Response:
    return requests.post(
        base_url + "/auth/user_register",
        data=b" " * size,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


def test_the_body_limit_is_the_apps_with_the_apps_answer(nginx, backend):
    limit = DEFAULTS["MAX_CONTENT_LENGTH"]
    for base_url in (nginx.url, backend.url):
        with post_bytes(base_url, limit) as response:
            assert response.status_code == 400, (base_url, response.text)  # blank JSON, but not too large
    with post_bytes(nginx.url, limit + 1) as through_nginx, post_bytes(backend.url, limit + 1) as direct:
        assert through_nginx.status_code == direct.status_code == 413
        assert through_nginx.headers["Content-Type"].startswith("application/json")
        assert (
            through_nginx.json() == direct.json() == {"errCode": 400, "errMsg": "request body too large", "data": None}
        )


V3_TOO_LARGE = {"errCode": 1001, "errMsg": "ArgsError", "errDlt": "request body too large"}
V2_SERVER_ERROR = {"errCode": 500, "errMsg": "server error", "data": None}
V3_SERVER_ERROR = {"errCode": 500, "errMsg": "ServerInternalError", "errDlt": "server error"}


def test_a_body_too_large_for_v3_gets_v3s_answer(nginx, backend):
    """nginx refuses it before gunicorn sees it: in the dialect of the URL, as gunicorn would (errCode 1001)."""

    def post(base_url: str) -> requests.Response:
        return requests.post(
            base_url + "/v3/auth/get_admin_token",
            data=b" " * 70_000,
            headers={"Content-Type": "application/json", "operationID": "op-large"},
            timeout=30,
        )

    with post(nginx.url) as through_nginx, post(backend.url) as direct:
        assert through_nginx.status_code == direct.status_code == 413
        assert through_nginx.headers["Content-Type"].startswith("application/json")
        assert through_nginx.json() == direct.json() == V3_TOO_LARGE


@pytest.mark.parametrize(
    ("path", "answer"),
    [("/healthz", V2_SERVER_ERROR), ("/v3/auth/get_admin_token", V3_SERVER_ERROR), ("/v3", V3_SERVER_ERROR)],
)
def test_a_gunicorn_that_is_down_is_an_enveloped_502_in_the_urls_dialect(tmp_path, path, answer):
    proxy = Nginx(tmp_path, upstream_port=free_port())
    try:
        with requests.post(proxy.url + path, json={}, timeout=30) as response:
            assert response.status_code == 502
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.json() == answer
    finally:
        proxy.stop()


@pytest.mark.parametrize(
    ("path", "answer"), [("/auth/user_token", V2_SERVER_ERROR), ("/v3/auth/get_user_token", V3_SERVER_ERROR)]
)
def test_a_gunicorn_that_does_not_answer_in_time_is_an_enveloped_504_in_the_urls_dialect(tmp_path, path, answer):
    """nginx's 504 (proxy_read_timeout, here cut to 1 s) gets the body of its 502, and keeps its status."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes connections, never answers
        proxy = Nginx(tmp_path, upstream_port=silent.getsockname()[1], read_timeout_seconds=1)
        try:
            with requests.post(proxy.url + path, json={}, timeout=30) as response:
                assert response.status_code == 504
                assert response.json() == answer
        finally:
            proxy.stop()


def test_nginx_gives_up_before_gunicorns_worker_timeout():
    site = SITE.read_text()
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", site).group(1))
    assert read_timeout < runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["timeout"]
    body_limit = re.search(r"client_max_body_size (\d+)k;", site).group(1)
    assert int(body_limit) * 1024 == DEFAULTS["MAX_CONTENT_LENGTH"]


def test_the_same_connections_straight_to_gunicorn_stall_it(backend, nginx):
    """The contrast: why the proxy exists. (Last in the module: it leaves gunicorn busy for a moment.)"""
    with ExitStack() as stack:
        hold_connections(stack, backend.port)
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            timed_healthz(backend.url, timeout=STALL_SECONDS)
        assert time.monotonic() - started >= STALL_SECONDS
    # Once the clients go, the workers are free again.
    elapsed, status, answer = timed_healthz(backend.url, timeout=30)
    assert (status, answer["errCode"]) == (200, 0), answer
