"""The package as a user gets it: the sdist and the wheel built from this tree, the wheel in a fresh virtualenv.

Built once per session, outside the checkout: the repository's files are copied
to a temporary folder and `python -m build` makes the sdist, then the wheel from
the sdist (so a file the sdist lacks fails here too). The virtualenv gets the
wheel with its dependencies at requirements.txt's versions (`pip install -c`),
from PyPI or pip's cache: the dependencies the wheel declares must be enough.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.repository import REPO_ROOT, repository_files

BUILD_TIMEOUT_SECONDS = 300


@dataclass
class Distributions:
    sdist: Path
    wheel: Path


def run(command: list, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, **options)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def distributions(tmp_path_factory) -> Distributions:
    source = tmp_path_factory.mktemp("source")
    for path in repository_files():
        target = source / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(source)])
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Distributions(sdist, wheel)


@dataclass
class Installed:
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "openim-auth"

    def files(self) -> set[str]:
        """Every file and folder of the virtualenv, site-packages included."""
        return {str(path.relative_to(self.venv)) for path in self.venv.rglob("*")}


@pytest.fixture(scope="session")
def installed(distributions, tmp_path_factory) -> Installed:
    venv = tmp_path_factory.mktemp("installed") / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--constraint", str(REPO_ROOT / "requirements.txt"), str(distributions.wheel)], env=pip_environment())
    return Installed(venv)


def pip_environment() -> dict:
    """This environment, without what points pip or Python at the checkout's virtualenv."""
    return {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PIP_USER")}
