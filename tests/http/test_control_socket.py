"""Two instances on one host, each with its own gunicornc control socket (app/serving/gunicorn_settings.py).

gunicorn's default path is one per user: the instance started last took it
over, and the first to stop deleted it from under the other.
"""

import time

import pytest
from gunicorn.ctl.client import ControlClient

pytestmark = pytest.mark.http

SOCKET_WAIT_SECONDS = 10


def wait_for(path) -> None:
    """The control socket comes up in a thread of the master once its workers are spawned."""
    deadline = time.monotonic() + SOCKET_WAIT_SECONDS
    while not path.exists():
        assert time.monotonic() < deadline, f"no control socket at {path}"
        time.sleep(0.05)


def listening_at(socket_path) -> list[str]:
    """The addresses of the instance that answers on this control socket."""
    with ControlClient(str(socket_path), timeout=10) as client:
        return [listener["address"] for listener in client.send_command("show listeners")["listeners"]]


def test_each_instance_has_its_own_control_socket_and_keeps_it(start_server, http_database_url, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # gunicorn's default folder: $XDG_RUNTIME_DIR, here one of the test's own.
    environment = {"XDG_RUNTIME_DIR": str(runtime)}
    first = start_server(http_database_url, workers=1, upgrade=False, extra_env=environment)
    second = start_server(http_database_url, workers=1, upgrade=False, extra_env=environment)
    first_socket = runtime / f"openim-auth-127.0.0.1:{first.port}.ctl"
    second_socket = runtime / f"openim-auth-127.0.0.1:{second.port}.ctl"
    wait_for(first_socket)
    wait_for(second_socket)
    assert not (runtime / "gunicorn.ctl").exists()
    assert listening_at(first_socket) == [first.url]
    assert listening_at(second_socket) == [second.url]

    first.stop()
    first.wait_stopped()
    assert not first_socket.exists()
    assert listening_at(second_socket) == [second.url]
