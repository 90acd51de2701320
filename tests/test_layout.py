"""The house's layers, held by the imports (docs/architecture.md).

Data flows one way: web → rules → storage; admin → rules (and storage, for
bulk writes); the leaves at app/'s root and wire_format/ import no layer.
Rules and storage never reach into HTTP; one dialect never imports the
other, and shared web code reaches a dialect only through the registry.
"""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
LEAVES = {"app.config", "app.openim", "app.errors", "app.jwt_tokens", "app.metrics", "app.extensions"}
LEAVES |= {"app.checkout_or_installed"}
# The doors that put the house together: the factory, and the console script `openim-auth`.
DOORS = {"app", "app.command"}
MAX_MODULE_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def imported_modules(module: str) -> set[str]:
    """Every module `module` imports, at any depth of its code (`from a import b` counts a and a.b)."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def layer_of(module: str) -> str:
    """'leaf', or the folder under app/ ('rules', 'storage', 'web', …), or 'door' for those of DOORS."""
    if module in DOORS:
        return "door"
    if module in LEAVES or module.startswith("app.wire_format"):
        return "leaf"
    return module.split(".")[1]


def app_layers_imported(module: str) -> set[str]:
    """The layers of the app's modules that `module` imports."""
    names = {name for name in imported_modules(module) if name.startswith("app.")}
    return {layer_of(known) for known in MODULES if known != "app" and any(n == known for n in names)}


# Which layers each layer may import besides itself.
ALLOWED = {
    "leaf": {"leaf"},
    "serving": {"leaf", "serving"},
    "storage": {"leaf", "storage"},
    "rules": {"leaf", "storage", "rules"},
    "admin": {"leaf", "storage", "rules", "admin"},
    "web": {"leaf", "rules", "web", "storage", "serving"},
    "migrations": {"leaf", "storage"},
}


@pytest.mark.parametrize("module", [name for name in MODULES if name not in DOORS])
def test_each_layer_imports_only_the_layers_below(module):
    layer = layer_of(module)
    assert layer in ALLOWED, f"{module}: a folder of app/ that the layer rules do not know"
    assert app_layers_imported(module) <= ALLOWED[layer]


@pytest.mark.parametrize("module", [name for name in MODULES if layer_of(name) in ("rules", "storage", "admin")])
def test_rules_storage_and_admin_never_touch_http(module):
    imports = imported_modules(module)
    assert "flask.request" not in imports
    assert not {name for name in imports if name.startswith("app.web")}


@pytest.mark.parametrize("module", [name for name in MODULES if layer_of(name) == "rules"])
def test_rules_use_no_request_state(module):
    assert "flask.g" not in imported_modules(module)


def test_storage_never_imports_rules():
    for module in MODULES:
        if layer_of(module) == "storage":
            assert not {name for name in imported_modules(module) if name.startswith("app.rules")}, module


def test_one_dialect_never_imports_the_other():
    for module in MODULES:
        for dialect, other in (("app.web.v2", "app.web.v3"), ("app.web.v3", "app.web.v2")):
            if module.startswith(dialect):
                assert not {name for name in imported_modules(module) if name.startswith(other)}, module


def test_shared_web_code_reaches_a_dialect_through_the_registry_only():
    for module in MODULES:
        if layer_of(module) == "web" and not module.startswith(("app.web.v2", "app.web.v3")):
            dialect_imports = {
                name for name in imported_modules(module) if name.startswith(("app.web.v2", "app.web.v3"))
            }
            if module != "app.web.dialects":
                assert not dialect_imports, module


def test_one_token_door():
    """Only the door mints, verifies or records a token: rules/tokens.py, and token_mirror.py, its hook
    for OpenIM's Redis; nothing else above storage reads or writes the records itself."""
    door_only = {"app.jwt_tokens.mint_token", "app.jwt_tokens.mint_v3_token", "app.jwt_tokens.verify_token"}
    door_only |= {"app.jwt_tokens.verify_v3_token", "app.storage.token_records", "app.storage.token_record_reads"}
    door_only |= {"app.storage.record_writes"}
    for module in MODULES:
        if module in ("app.rules.tokens", "app.rules.token_mirror") or layer_of(module) == "storage":
            continue
        assert not imported_modules(module) & door_only, module


def test_leaf_modules_import_nothing_of_the_layers():
    for module in MODULES:
        if layer_of(module) == "leaf":
            assert app_layers_imported(module) <= {"leaf"}, module
    assert not {name for name in imported_modules("app.openim") if name.startswith("app")}
    assert not {name for name in imported_modules("app.errors") if name.startswith("app")}


def test_jwt_is_pure():
    imports = imported_modules("app.jwt_tokens")
    assert not {name for name in imports if name.split(".")[0] in ("flask", "sqlalchemy")}


def test_errors_carry_no_http():
    source = (APP / "errors.py").read_text()
    assert "err_code" not in source and "http_status" not in source


def test_no_module_is_over_300_lines():
    long = {module: lines for module, path in MODULES.items() if (lines := len(path.read_text().splitlines())) > 300}
    assert long == {}


def test_no_two_modules_share_a_name_across_layers():
    """errors.py, metrics.py and friends once had namesakes in web/; a name says one thing."""
    names = [path.stem for path in MODULES.values() if path.stem != "__init__"]
    assert sorted({name for name in names if names.count(name) > 1}) == [
        "answers",
        "auth",
        "openapi_wording",
        "schemas",
        "user",
    ]


def test_the_rules_counters_know_nothing_of_flask_nor_load_prometheus_on_import():
    imports = imported_modules("app.metrics")
    assert not {name for name in imports if name.split(".")[0] in ("flask", "werkzeug")}
    # gunicorn's master imports the app package before it sets PROMETHEUS_MULTIPROC_DIR.
    tree = ast.parse((APP / "metrics.py").read_text())
    top_level = {
        alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names
    }
    top_level |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in top_level if name.startswith("prometheus_client")}


def _layout_section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following != -1 else len(text)]


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md"])
def test_every_module_is_named_in_the_documented_layout(document):
    """A module added without a line in the layouts is a file a newcomer cannot place: name it there."""
    layout = _layout_section(APP.parent / document, "## Layout")
    unnamed = [
        str(path.relative_to(APP.parent))
        for path in MODULES.values()
        if path.name != "__init__.py" and "migrations" not in path.parts and path.name not in layout
    ]
    assert unnamed == []
