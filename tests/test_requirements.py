"""The dependency files agree: one list of runtime packages, every install pinned.

requirements.in and requirements-dev.in are the lock source; `make lock` compiles
them into requirements.txt and requirements-dev.txt. pyproject.toml names the runtime
packages a second time for pip installs of the package, so the two must not drift.
"""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(name: str) -> list[str]:
    lines = (REPO_ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def requirements(name: str) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in requirement_lines(name) if not line.startswith("-")]
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def install_requires() -> dict[str, Requirement]:
    """The package's dependencies (pyproject.toml)."""
    with open(REPO_ROOT / "pyproject.toml", "rb") as file:
        parsed = [Requirement(line) for line in tomllib.load(file)["project"]["dependencies"]]
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", requirement
    return specifier.version


def test_pyproject_and_requirements_in_name_the_same_runtime_packages():
    assert set(install_requires()) == set(requirements("requirements.in"))


def test_marshmallow_major_is_bounded():
    for declared in (install_requires()["marshmallow"], requirements("requirements.in")["marshmallow"]):
        assert declared.specifier.contains("4.9")
        assert not declared.specifier.contains("5.0")


def test_lock_files_pin_every_package_and_satisfy_their_sources():
    runtime, dev = requirements("requirements.txt"), requirements("requirements-dev.txt")
    versions = {name: pinned_version(requirement) for name, requirement in {**runtime, **dev}.items()}
    for source in ("requirements.in", "requirements-dev.in"):
        for name, declared in requirements(source).items():
            assert name in versions, f"{name} of {source} is not in the lock files"
            assert declared.specifier.contains(versions[name]), (name, versions[name])
    for name, declared in install_requires().items():
        assert declared.specifier.contains(versions[name]), (name, versions[name])
    # The dev set is constrained by the runtime pins: where both name a package, it is one version.
    assert {name: pinned_version(dev[name]) for name in runtime.keys() & dev.keys()} == {
        name: pinned_version(runtime[name]) for name in runtime.keys() & dev.keys()
    }
    assert "-c requirements.txt" in requirement_lines("requirements-dev.in")


def test_runtime_lock_holds_no_development_package():
    dev_only = set(requirements("requirements-dev.in"))
    assert dev_only and not dev_only & set(requirements("requirements.txt"))
