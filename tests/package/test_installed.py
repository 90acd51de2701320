"""The installed package runs from anywhere: `openim-auth` in an empty folder, as docs/install.md says.

From a folder outside the checkout, with nothing of the checkout on the path:
`db upgrade`, `serve` on a free port, a user registered and a token issued over
HTTP, `users show`; on SQLite (the instance folder's default database) and on
MariaDB by URL. Nothing may be written into the virtualenv: the instance folder,
its generated secrets and the SQLite database go to the working directory.
"""

import os
import signal
import subprocess
import tarfile
import time
import uuid
import zipfile
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy.engine import make_url

from app import __version__
from tests.helpers import TEST_DATABASE_URL, is_mysql, register_body, token_body
from tests.http.server import free_port
from tests.scratch_database import fresh_mysql_database

pytestmark = pytest.mark.package

MIGRATION_FILES = {
    "app/migrations/alembic.ini",
    "app/migrations/script.py.mako",
    "app/migrations/env.py",
    "app/migrations/versions/0001_users.py",
    "app/migrations/versions/0004_bounded_token_records.py",
}
COMMAND_TIMEOUT_SECONDS = 60
READY_TIMEOUT_SECONDS = 30


def test_the_wheel_holds_the_package_its_data_and_the_command(distributions):
    assert distributions.wheel.name == f"openim_auth-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(distributions.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"openim_auth-{__version__}.dist-info/entry_points.txt").decode()
    assert MIGRATION_FILES <= names
    assert {"app/__init__.py", "app/command.py", "app/serving/gunicorn_settings.py"} <= names
    assert {name.split("/")[0] for name in names} == {"app", f"openim_auth-{__version__}.dist-info"}
    assert "openim-auth = app.command:main" in entry_points


def test_the_sdist_holds_what_builds_the_wheel(distributions):
    root = f"openim_auth-{__version__}"
    with tarfile.open(distributions.sdist) as sdist:
        names = {name.removeprefix(f"{root}/") for name in sdist.getnames()}
    assert MIGRATION_FILES | {"pyproject.toml", "setup.py", "setup.cfg", "README.md"} <= names


@pytest.fixture(params=["sqlite", "mysql"])
def database_url(request) -> Iterator[str | None]:
    """None for the default (SQLite in the instance folder), or a fresh MariaDB database of the test's own."""
    if request.param == "sqlite":
        yield None
        return
    if not is_mysql(TEST_DATABASE_URL):
        pytest.skip("needs TEST_DATABASE_URL (MySQL/MariaDB)")
    url = make_url(TEST_DATABASE_URL)
    with fresh_mysql_database(
        url.set(database=f"{url.database}_package").render_as_string(hide_password=False)
    ) as fresh:
        yield fresh


class User:
    """Someone who installed the package and works in an empty folder of their own."""

    def __init__(self, installed, folder, database_url: str | None):
        self.command = str(installed.command)
        self.folder = folder
        self.env = {
            "PATH": f"{installed.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(folder),
            "LANG": "C.UTF-8",
            # gunicorn's control socket goes there; and no bytecode caches into site-packages.
            "XDG_RUNTIME_DIR": str(folder),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENIM_WORKERS": "2",
        }
        if database_url:
            self.env["FLASK_SQLALCHEMY_DATABASE_URI"] = database_url

    def run(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.command, *arguments],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )
        if check:
            assert result.returncode == 0, f"openim-auth {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
        return result

    def serve(self, port: int, log) -> subprocess.Popen:
        return subprocess.Popen(
            [self.command, "serve", "--bind", f"127.0.0.1:{port}"],
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def generated_secret(self) -> str:
        namespace: dict = {}
        exec((self.folder / "instance" / "config.py").read_text(), namespace)
        return namespace["OPENIM_SECRET"]


def wait_until_answering(url: str, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"openim-auth serve exited:\n{log_path.read_text()}"
        try:
            with requests.get(url, timeout=5) as response:
                assert response.json()["errCode"] == 404
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"openim-auth serve did not answer within {READY_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def wait_for_control_socket(path) -> None:
    """Its own, in $XDG_RUNTIME_DIR (app/serving/gunicorn_settings.py); up once the workers are spawned."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not path.exists():
        assert time.monotonic() < deadline, f"no control socket at {path}"
        time.sleep(0.05)


def post(url: str, body: dict) -> dict:
    with requests.post(url, json=body, timeout=30) as response:
        assert response.status_code == 200, response.text
        return response.json()


def test_installed_it_migrates_serves_and_administers_from_an_empty_folder(installed, database_url, tmp_path):
    folder = tmp_path / "service"
    folder.mkdir()
    user = User(installed, folder, database_url)
    files_before = installed.files()

    assert user.run("--version").stdout == f"openim-auth {__version__}\n"
    not_set_up = user.run("users", "show", "alice", check=False)
    assert not_set_up.returncode == 1
    assert "run `openim-auth db upgrade` first" in not_set_up.stderr
    user.run("db", "upgrade")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    user_id = f"pkg-{uuid.uuid4().hex[:12]}"
    with open(log_path, "wb") as log:
        service = user.serve(port, log)
    try:
        wait_until_answering(url, service, log_path)
        secret = user.generated_secret()
        registered = post(f"{url}/auth/user_register", register_body(user_id, secret=secret))
        assert registered["errCode"] == 0, registered
        issued = post(f"{url}/auth/user_token", token_body(user_id, secret=secret))
        assert issued["errCode"] == 0 and issued["data"]["token"], issued
        wait_for_control_socket(folder / f"openim-auth-127.0.0.1:{port}.ctl")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    assert service.returncode == 0, log_path.read_text()

    shown = user.run("users", "show", user_id)
    assert user_id in shown.stdout
    instance = {path.name for path in (folder / "instance").iterdir()}
    assert "config.py" in instance
    assert ("openim.db" in instance) == (database_url is None)
    assert installed.files() == files_before
    assert os.listdir(folder) == ["instance"]
