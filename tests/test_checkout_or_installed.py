"""A checkout and an installed package differ in two things: the default instance folder and the commands named."""

import pytest

from app import checkout_or_installed, config
from app.checkout_or_installed import admin_command, default_instance_path, in_checkout


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """As if the package sat in site-packages: nothing of the repository beside it."""
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    monkeypatch.setattr(checkout_or_installed, "PROJECT_ROOT", site_packages)
    return site_packages


def test_the_suite_runs_from_a_checkout():
    assert in_checkout()
    assert admin_command("db upgrade") == "flask --app wsgi db upgrade"
    assert default_instance_path() == str(checkout_or_installed.PROJECT_ROOT / "instance")


def test_installed_it_names_its_console_script(installed):
    assert not in_checkout()
    assert admin_command("db upgrade") == "openim-auth db upgrade"


def test_installed_the_instance_folder_is_the_working_directorys(installed, tmp_path, monkeypatch):
    working_directory = tmp_path / "service"
    working_directory.mkdir()
    monkeypatch.chdir(working_directory)
    monkeypatch.delenv("OPENIM_INSTANCE_PATH", raising=False)
    assert config.instance_path() == str(working_directory / "instance")
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    assert config.instance_path() == str(tmp_path / "elsewhere")


def test_the_migrations_are_inside_the_package():
    assert checkout_or_installed.MIGRATIONS.parent == checkout_or_installed.PACKAGE_ROOT
    assert (checkout_or_installed.MIGRATIONS / "alembic.ini").is_file()
    assert (checkout_or_installed.MIGRATIONS / "script.py.mako").is_file()
