"""The one-way flow, held by the imports: wire → schemas → rules → storage.

Rules and storage never reach into HTTP; the pure parts import nothing of the app's state.
"""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"


def imported_modules(module: str) -> set[str]:
    """Every module `module` (a path under app/, dotted) imports, at any depth of its code."""
    tree = ast.parse((APP.parent / (module.replace(".", "/") + ".py")).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


RULES = [
    "app.errors",
    "app.rules.users",
    "app.jwt_tokens",
    "app.storage.token_records",
    "app.admin.importer",
    "app.rules.access",
    "app.admin.cli",
    "app.rules.tokens",
    "app.rules.clock",
    "app.rules.batches",
    "app.rules.pages",
]


@pytest.mark.parametrize("module", RULES)
def test_rules_never_import_http(module):
    imports = imported_modules(module)
    assert not {name for name in imports if name.startswith("app.web")}
    assert "flask.request" not in imports and "flask.g" not in imports


@pytest.mark.parametrize("module", ["app.openim", "app.errors"])
def test_leaf_modules_import_nothing_of_the_app(module):
    assert not {name for name in imported_modules(module) if name.startswith("app")}


def test_jwt_is_pure():
    imports = imported_modules("app.jwt_tokens")
    assert not {name for name in imports if name.split(".")[0] in ("flask", "sqlalchemy")}
    assert not {
        name for name in imports if name.startswith(("app.storage.models", "app.storage.database", "app.extensions"))
    }


@pytest.mark.parametrize("module", ["app.config", "app.wire_format.field_rules", "app.wire_format.schema_base"])
def test_config_and_schemas_do_not_load_tokens_or_storage(module):
    imports = imported_modules(module)
    assert not {
        name
        for name in imports
        if name.startswith(("app.token", "app.jwt", "app.storage.models", "app.storage.database"))
    }


def test_errors_carry_no_http():
    source = (APP / "errors.py").read_text()
    assert "err_code" not in source and "http_status" not in source


def test_the_rules_counters_know_nothing_of_flask_nor_load_prometheus_on_import():
    imports = imported_modules("app.metrics")
    assert not {name for name in imports if name.split(".")[0] in ("flask", "werkzeug")}
    assert not {name for name in imports if name.startswith("app.web")}
    # gunicorn's master imports the app package before it sets PROMETHEUS_MULTIPROC_DIR.
    tree = ast.parse((APP / "metrics.py").read_text())
    top_level = {
        alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names
    }
    top_level |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in top_level if name.startswith("prometheus_client")}
