"""gunicornc's control socket: one path per instance, named after its addresses (app/serving/gunicorn_settings.py).

tests/http/test_control_socket.py starts two instances and shows it.
"""

import os
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from app.serving.gunicorn_settings import MAX_SOCKET_PATH_BYTES, control_socket_path, use_own_control_socket


def master_with(**chosen) -> SimpleNamespace:
    """What on_starting is given: the master, whose config holds the final settings."""
    cfg = Config()
    for name, value in chosen.items():
        cfg.set(name, value)
    return SimpleNamespace(cfg=cfg)


def test_the_default_path_becomes_one_of_this_instance():
    master = master_with(bind=["127.0.0.1:10000"])
    default = master.cfg.control_socket
    use_own_control_socket(master)
    assert master.cfg.control_socket == os.path.join(os.path.dirname(default), "openim-auth-127.0.0.1:10000.ctl")


def test_instances_on_other_addresses_get_other_paths():
    paths = {
        control_socket_path("/run/user/0", binds)
        for binds in (["127.0.0.1:10000"], ["127.0.0.1:10002"], ["0.0.0.0:10000"], ["127.0.0.1:10000", "[::1]:10000"])
    }
    assert len(paths) == 4


def test_a_chosen_path_is_kept(tmp_path):
    chosen = str(tmp_path / "mine.ctl")
    master = master_with(bind=["127.0.0.1:10000"], control_socket=chosen)
    use_own_control_socket(master)
    assert master.cfg.control_socket == chosen


@pytest.mark.parametrize("bind", ["unix:/run/openim/auth.sock", "unix:/" + "deep/" * 30 + "auth.sock"])
def test_unix_socket_binds_make_a_file_name_that_fits(bind):
    path = control_socket_path("/run/user/1000", [bind])
    assert os.path.dirname(path) == "/run/user/1000"
    assert len(os.fsencode(path)) <= MAX_SOCKET_PATH_BYTES
    assert path == control_socket_path("/run/user/1000", [bind])
