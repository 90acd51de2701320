"""deploy/openim-auth.service and deploy/openim-auth.env: systemd takes the unit, and the settings exist.

`systemd-analyze verify` runs where systemd is installed (Debian's systemd package),
skipped elsewhere. It checks that ExecStart is executable, so the copy it reads
starts this Python instead of /opt/openim-auth/bin/openim-auth.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import DEFAULTS, ENVIRONMENT_KEYS, STRING_KEYS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "openim-auth.service"
ENVIRONMENT_FILE = DEPLOY / "openim-auth.env"
INSTALLED_COMMAND = "/opt/openim-auth/bin/openim-auth"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# What the service reads from the environment besides FLASK_<setting> (app/config.py, the gunicorn settings).
ENVIRONMENT_VARIABLES = {
    "OPENIM_INSTANCE_PATH",
    "OPENIM_BIND",
    "OPENIM_WORKERS",
    "OPENIM_ACCESS_LOG",
    "OPENIM_HEALTH_BIND",
}
ENVIRONMENT_VARIABLES |= set(ENVIRONMENT_KEYS) | {"GUNICORN_CMD_ARGS"}
SETTINGS = set(DEFAULTS) | set(STRING_KEYS) | {"SQLALCHEMY_DATABASE_URI"}


def unit_settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze (Debian's systemd package)")
def test_systemd_accepts_the_unit(tmp_path):
    text = UNIT.read_text()
    assert text.count(INSTALLED_COMMAND) == 1
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_COMMAND, sys.executable))
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_unit_serves_with_the_environment_file():
    settings = unit_settings()
    assert settings["ExecStart"] == [f"{INSTALLED_COMMAND} serve"]
    assert settings["EnvironmentFile"] == ["/etc/openim-auth/openim-auth.env"]
    assert ENVIRONMENT_FILE.read_text().startswith("# /etc/openim-auth/openim-auth.env:")
    # The control socket goes to the unit's runtime directory, one per bind address.
    assert settings["Environment"] == ["XDG_RUNTIME_DIR=/run/openim-auth"]
    assert settings["RuntimeDirectory"] == ["openim-auth"]


def test_the_environment_file_names_only_settings_that_exist():
    assignments = re.findall(r"^#?([A-Z][A-Z0-9_]*)=", ENVIRONMENT_FILE.read_text(), flags=re.M)
    assert "OPENIM_INSTANCE_PATH" in assignments
    unknown = [
        name
        for name in assignments
        if name not in ENVIRONMENT_VARIABLES and not (name.startswith("FLASK_") and name[6:] in SETTINGS)
    ]
    assert unknown == []
