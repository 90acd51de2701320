"""A clone alone runs, tests and documents the service: no file points outside the repository.

The developers' own folder beside the checkout is not part of a clone, so a link,
path or script there breaks for everyone else. The needles are built from pieces
so that this file does not find itself.
"""

import re
from pathlib import Path

from tests.repository import REPO_ROOT, repository_files

SIBLING = "sha" + "red"
FORBIDDEN = re.compile(
    "|".join(
        [
            re.escape(".." + "/" + SIBLING),  # the folder itself, relative to the checkout
            re.escape(SIBLING + "/") + "(?:seeds|tools|SPEC)",  # what it holds: the page, the scripts, the contract
            re.escape("SP" + "EC §"),  # the contract's sections: a clone points readers at docs/ instead
            re.escape("/" + "work" + "/"),  # an absolute path on the developers' machine
            r"\.parent\s*/\s*[\"']" + SIBLING + r"[\"']",  # a path built from the checkout's parent
        ]
    )
)
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)")


def outside_references(text: str, where: Path = REPO_ROOT / "README.md") -> list[str]:
    """The forbidden pieces of a line of the file `where`, and its Markdown links that climb out of the repository."""
    found = [match.group(0) for match in FORBIDDEN.finditer(text)]
    for match in MARKDOWN_LINK.finditer(text):
        target = match.group(1)
        if "://" not in target and not (where.parent / target).resolve().is_relative_to(REPO_ROOT):
            found.append(match.group(0))
    return found


def test_no_file_refers_outside_the_repository():
    files = repository_files()
    assert len(files) > 20  # the listing found the repository, not an empty directory
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if outside_references(line, path)
    ]
    assert found == []


def test_the_check_catches_what_it_is_meant_to():
    sibling_dir = ".." + "/" + SIBLING
    assert outside_references(f"The contract is [SPEC]({sibling_dir}/SPEC.md)")
    assert outside_references(f"bash {sibling_dir}/tools/galera-cluster.sh up")
    assert outside_references(f"the page ({SIBLING}/seeds/000.txt)")
    assert outside_references(f'ROOT.parent / "{SIBLING}" / "tools"')
    assert outside_references("see [the notes](" + ".." + "/notes.md)")
    assert outside_references("see [the notes](" + "../.." + "/notes.md)", REPO_ROOT / "docs" / "cli.md")
    assert not outside_references("see [Try it](" + ".." + "/README.md#try-it)", REPO_ROOT / "docs" / "cli.md")
    assert not outside_references("The shared MariaDB is never touched; scripts/galera-cluster.sh up")
    assert not outside_references('ROOT / "scripts" / "galera-cluster.sh"')
