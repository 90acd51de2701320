"""The suite's own layout: shared helpers live in tests/helpers.py (and tests/galera/cluster.py,
tests/http/server.py); no test module imports a conftest or another test module."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Built from pieces, so that this file does not match itself.
FORBIDDEN = [
    "from tests." + "conftest",
    "import " + "conftest",
    "from tests." + "test_",
    "from tests.galera." + "conftest",
    "from tests.http." + "conftest",
    "from tests.http." + "test_",
    "from tests.galera." + "test_",
]


def test_nothing_imports_a_conftest_or_a_test_module():
    found = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(needle in line for needle in FORBIDDEN)
    ]
    assert found == []


def test_the_needles_catch_the_imports_they_are_for():
    """Else the test above would pass whatever the suite imports."""
    lines = ["from tests." + "conftest import SECRET", "from tests." + "test_register import MINIMAL_BODY"]
    assert all(any(needle in line for needle in FORBIDDEN) for line in lines)
