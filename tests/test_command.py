"""The `openim-auth` command, in process: its version, its help, and the settings `serve` gives gunicorn.

tests/package/ runs it as installed, from a wheel, over HTTP.
"""

import os

import pytest
from click.testing import CliRunner

from app import __version__
from app.command import main
from app.serving.gunicorn_service import Service
from app.serving.gunicorn_settings import settings
from tests.helpers import SECRET, TOKEN_SECRET


@pytest.fixture
def in_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    return tmp_path


def test_version_is_the_packages():
    result = CliRunner().invoke(main, ["--version"])
    assert (result.exit_code, result.output) == (0, f"openim-auth {__version__}\n")


def test_help_lists_the_commands_without_building_the_app(in_empty_folder):
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert {"db", "users", "serve", "shell", "routes"} <= set(result.output.split())
    assert "--app" not in result.output
    assert list(in_empty_folder.iterdir()) == []  # no instance folder, no generated secrets


def test_the_apps_commands_run_on_the_app(in_empty_folder, monkeypatch):
    monkeypatch.setenv("FLASK_OPENIM_SECRET", SECRET)
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", TOKEN_SECRET)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["users", "create", "alice", "--nickname", "Alice"]).output == "created alice\n"
    shown = runner.invoke(main, ["users", "show", "alice"])
    assert shown.exit_code == 0 and "alice" in shown.output
    assert (in_empty_folder / "instance" / "openim.db").is_file()


def test_serve_takes_the_production_settings(monkeypatch):
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    cfg = Service({}, "v2").cfg
    expected = {**settings(), "bind": [settings()["bind"]]}
    assert {name: cfg.settings[name].value for name in expected} == expected


def test_gunicorn_cmd_args_override_the_settings_and_the_options_override_both(monkeypatch):
    monkeypatch.setenv("OPENIM_BIND", "127.0.0.1:10001")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--timeout 45 --workers 3 --bind 127.0.0.1:10002")
    cfg = Service({}, "v2").cfg
    assert (cfg.timeout, cfg.workers, cfg.bind) == (45, 3, ["127.0.0.1:10002"])
    cfg = Service({"workers": 2, "bind": ["127.0.0.1:10003", "[::1]:10003"]}, "v2").cfg
    assert (cfg.timeout, cfg.workers, cfg.bind) == (45, 2, ["127.0.0.1:10003", "[::1]:10003"])


@pytest.mark.parametrize(("root_dialect", "root_route"), [("v2", "/auth/user_token"), ("v3", "/auth/get_user_token")])
def test_serve_loads_the_dialect_asked_for(in_empty_folder, monkeypatch, root_dialect, root_route):
    monkeypatch.setenv("FLASK_OPENIM_SECRET", SECRET)
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", TOKEN_SECRET)
    app = Service({}, root_dialect).load()
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert root_route in rules
    assert any(rule.startswith("/v3/") for rule in rules) == (root_dialect == "v2")
    assert os.path.isdir(in_empty_folder / "instance")
