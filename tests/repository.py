"""The files a clone of the repository holds, for the tests that read or copy all of them."""

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Not the repository's own: virtualenvs, caches and build output that .gitignore keeps out.
UNTRACKED_PARTS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", "build", "dist", "instance"}


def repository_files() -> list[Path]:
    """What a clone holds, plus new files not yet committed (but not ignored ones)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # an unpacked archive, not a checkout
        return [
            path
            for path in REPO_ROOT.rglob("*")
            if path.is_file()
            and not UNTRACKED_PARTS.intersection(path.relative_to(REPO_ROOT).parts)
            and not any(part.startswith(".venv") or part.endswith(".egg-info") for part in path.parts)
            and path.relative_to(REPO_ROOT).parts[:2] != ("bench", "out")
        ]
    return [REPO_ROOT / name for name in listed.decode().split("\0") if name and (REPO_ROOT / name).is_file()]
