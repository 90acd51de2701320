"""OPENIM_REDIS_*: what is refused at start-up, and that with the URL unset nothing of Redis is even imported."""

import subprocess
import sys

import pytest

from app import create_app
from app.checkout_or_installed import PROJECT_ROOT
from app.config import ConfigError
from tests.helpers import base_config

SENTINEL = {
    "OPENIM_REDIS_MODE": "sentinel",
    "OPENIM_REDIS_SENTINEL_MASTER": "mymaster",
    "OPENIM_REDIS_SENTINEL_ADDRESSES": ["10.0.0.5:26379"],
}


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"OPENIM_REDIS_URL": "http://127.0.0.1:6379/0"}, "must be redis://"),
        ({"OPENIM_REDIS_URL": "redis://127.0.0.1:port/0"}, "must be numbers"),
        ({"OPENIM_REDIS_URL": "redis://127.0.0.1/zero"}, "must be numbers"),
        ({"OPENIM_REDIS_URL": "redis:///0"}, "names no host"),
        ({"OPENIM_REDIS_URL": "redis://h:6379/0", "OPENIM_REDIS_MODE": "replica"}, "OPENIM_REDIS_MODE"),
        ({"OPENIM_REDIS_URL": "redis://h:6379/2", "OPENIM_REDIS_MODE": "cluster"}, "database 0 only"),
        ({"OPENIM_REDIS_URL": "redis:///0", **SENTINEL, "OPENIM_REDIS_SENTINEL_MASTER": ""}, "needs"),
        ({"OPENIM_REDIS_URL": "redis:///0", **SENTINEL, "OPENIM_REDIS_SENTINEL_ADDRESSES": "h:1"}, "must be a list"),
        ({"OPENIM_REDIS_URL": "redis:///0", **SENTINEL, "OPENIM_REDIS_SENTINEL_ADDRESSES": ["h"]}, "not host:port"),
        ({"OPENIM_REDIS_URL": "redis://h:6379/0", "OPENIM_REDIS_CACHE_TOPIC": 7}, "must be a string"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_at_start(settings, complaint, tmp_path):
    with pytest.raises(ConfigError, match=complaint):
        create_app({**base_config(f"sqlite:///{tmp_path / 'db'}"), **settings})


def test_the_settings_come_from_the_environment_as_strings(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "a-secret-from-the-environment")
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", "a-token-secret-from-the-environment")
    monkeypatch.setenv("FLASK_OPENIM_REDIS_URL", "rediss://user:pass@10.0.0.5:6380/3")
    monkeypatch.setenv("FLASK_OPENIM_REDIS_CACHE_TOPIC", "123")
    config = create_app().config
    assert config["OPENIM_REDIS_URL"] == "rediss://user:pass@10.0.0.5:6380/3"
    assert config["OPENIM_REDIS_CACHE_TOPIC"] == "123"
    assert config["OPENIM_REDIS_MODE"] == "standalone"


def test_unset_nothing_of_redis_is_imported_on_any_path(tmp_path):
    program = f"""
import sys
from app import create_app
from app.extensions import db
from tests.helpers import Api, base_config
app = create_app(base_config("sqlite:///{tmp_path / "db"}"))
with app.app_context():
    db.create_all()
api = Api(app.test_client())
token = api.register("alice")
assert api.parse_code(token) == 0
assert api.force_logout("alice", secret=base_config("")["OPENIM_SECRET"]).json["errCode"] == 0
assert app.test_client().get("/healthz").status_code == 200
with app.app_context():
    db.engine.dispose()
assert not [name for name in sys.modules if name == "redis" or name.startswith("redis.")], "redis imported"
"""
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
