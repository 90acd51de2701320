"""gunicorn as a subprocess, and helpers to talk to it and to check the database."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from app.storage.models import User
from tests.helpers import SECRET, TEST_DATABASE_URL, TOKEN_SECRET, is_mysql, register_body, token_body

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
READY_TIMEOUT_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(instance_path: Path, database_url: str, bind: str, workers: int) -> dict:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "GUNICORN_", "OPENIM_")) and key != "TEST_DATABASE_URL"
    }
    return {
        **inherited,
        "OPENIM_INSTANCE_PATH": str(instance_path),
        "FLASK_OPENIM_SECRET": SECRET,
        "FLASK_OPENIM_TOKEN_SECRET": TOKEN_SECRET,
        "FLASK_SQLALCHEMY_DATABASE_URI": database_url,
        "OPENIM_BIND": bind,
        "OPENIM_WORKERS": str(workers),
    }


class Server:
    """One gunicorn instance; `post` returns (HTTP status, JSON answer)."""

    def __init__(
        self, workdir: Path, database_url: str, workers: int, extra_env: dict | None = None, wsgi_app: str = "wsgi:app"
    ):
        self.workdir = workdir
        self.wsgi_app = wsgi_app
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gunicorn.log"
        self.env = {
            **server_environment(workdir / "instance", database_url, f"127.0.0.1:{self.port}", workers),
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None

    def upgrade_database(self) -> None:
        result = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"flask db upgrade failed:\n{result.stderr}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", self.wsgi_app],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log_tail()}"
            try:
                status, answer = self.get("/")
            except requests.ConnectionError:
                time.sleep(0.05)
                continue
            assert (status, answer["errCode"]) == (404, 404)
            return
        raise AssertionError(f"gunicorn did not answer within {READY_TIMEOUT_SECONDS}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT): the tests need no graceful draining."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def get(self, path: str) -> tuple[int, dict]:
        with requests.get(self.url + path, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return response.status_code, response.json()

    def post(self, path: str, body: dict | bytes, headers: dict | None = None) -> tuple[int, dict]:
        options = {"data": body} if isinstance(body, bytes) else {"json": body}
        with requests.post(self.url + path, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS, **options) as response:
            return response.status_code, response.json()

    # The routes, as tests/helpers.py's `Api` calls them in process; a fresh operationID unless given.

    def register(self, user_id: str, operation_id: str | None = None, **profile) -> tuple[int, dict]:
        body = register_body(user_id, operation_id=operation_id or uuid.uuid4().hex, **profile)
        return self.post("/auth/user_register", body)

    def user_token(self, user_id: str, platform: int = 1) -> tuple[int, dict]:
        return self.post("/auth/user_token", token_body(user_id, platform, operation_id=uuid.uuid4().hex))

    def parse_token(self, token: str) -> tuple[int, dict]:
        return self.post("/auth/parse_token", {"operationID": "parse"}, headers={"token": token})

    def force_logout(self, user_id: str, platform: int = 1) -> tuple[int, dict]:
        """A kick with the API secret."""
        body = {"secret": SECRET, "platform": platform, "fromUserID": user_id, "operationID": f"kick-{user_id}"}
        return self.post("/auth/force_logout", body)


def stop_all(servers: list[Server]) -> None:
    for server in servers:
        server.stop()
    for server in servers:
        server.wait_stopped()


class Servers:
    """Starts gunicorn servers and stops them all at once."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.started: list[Server] = []

    def start(
        self,
        database_url: str,
        workers: int = 4,
        upgrade: bool = True,
        extra_env: dict | None = None,
        wsgi_app: str = "wsgi:app",
    ) -> Server:
        """Run `flask db upgrade` (unless told not to), start gunicorn (`wsgi_app`), wait until it answers."""
        server = Server(self.tmp_path_factory.mktemp("gunicorn"), database_url, workers, extra_env, wsgi_app)
        self.started.append(server)
        if upgrade:
            server.upgrade_database()
        server.start()
        return server

    def stop_all(self) -> None:
        stop_all(self.started)


def all_at_once(calls: list[Callable[[], tuple[int, dict]]]) -> list[tuple[int, dict]]:
    """Run every call in its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except requests.RequestException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [result for result in results if isinstance(result, Exception)]
    assert not failures, f"{len(failures)} requests failed, first: {failures[0]!r}"
    return results


def err_codes(results: list[tuple[int, dict]]) -> list[int]:
    return [answer["errCode"] for _, answer in results]


def assert_no_server_errors(results: list[tuple[int, dict]]) -> None:
    server_errors = [(status, answer) for status, answer in results if status >= 500]
    assert not server_errors, f"{len(server_errors)} answers were 5xx, first: {server_errors[0]}"


def count_users(engine: Engine, prefix: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(User).where(User.user_id.startswith(prefix, autoescape=True))
        return connection.execute(query).scalar_one()


def delete_users(engine: Engine, *user_ids: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(User).where(User.user_id.in_(user_ids)))


needs_mysql = pytest.mark.skipif(not is_mysql(TEST_DATABASE_URL), reason="needs TEST_DATABASE_URL (MySQL/MariaDB)")


# --- raw sockets and the server's log, for the tests of slow and malformed requests ---------

# A raw socket's reads end after this long without a byte.
RAW_SOCKET_TIMEOUT_SECONDS = 15


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=RAW_SOCKET_TIMEOUT_SECONDS)
    sock.settimeout(RAW_SOCKET_TIMEOUT_SECONDS)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (b"" if it just closes it)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def status_and_answer(raw: bytes) -> tuple[int, dict]:
    status_line, _, rest = raw.partition(b"\r\n")
    match = re.fullmatch(rb"HTTP/1\.[01] (\d{3}) .*", status_line)
    assert match, raw[:200]
    body = rest.partition(b"\r\n\r\n")[2]
    return int(match.group(1)), json.loads(body)


def log_since(server, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode(errors="replace")


def log_size(server) -> int:
    return server.log_path.stat().st_size


def worker_pids(master_pid: int) -> set[int]:
    """The children of gunicorn's master, from /proc."""
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # pid (comm) state ppid …; comm may hold spaces and parentheses.
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == master_pid:
            children.add(int(entry))
    return children
