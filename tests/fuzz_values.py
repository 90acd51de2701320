"""Hypothesis strategies for fuzzing the routes with any JSON and any header, shared by both dialects' fuzz tests."""

from hypothesis import strategies as st

from app import create_app
from app.web.openapi import IMPLICIT_METHODS, api_rules, documented_routes
from tests.helpers import SECRET, base_config

# The users the fuzz tests seed: a manager and an ordinary user.
MANAGER, USER = "admin", "alice"


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()


def request_keys() -> list[str]:
    """Every documented body key, in the spellings clients use (docs/api-v2.md binds them all)."""
    keys = {"phoneNum"}
    for route in documented_routes(create_app(base_config("sqlite://"))).values():
        if route.request is not None:
            keys |= {field.data_key or name for name, field in route.request().fields.items()}
    return sorted(keys | {key.upper() for key in keys} | {key.lower() for key in keys})


# Known keys, with the real secret and the seeded users among the values, so
# bodies get past the checks into the rules and the database; anything else around them.
keys = st.sampled_from(request_keys()) | st.text(max_size=8)


def containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)


values = st.recursive(
    json_scalars | st.sampled_from([SECRET, MANAGER, USER]) | st.sampled_from(range(10)),
    containers,
    max_leaves=12,
)
json_values = st.dictionaries(keys, values, max_size=12) | values


# What an HTTP server hands over as a header value: latin-1, no control characters but tab.
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f") | st.just("\t"), max_size=70
)


def every_operation(app, prefix: str = "") -> list[tuple[str, str]]:
    """The v2 routes (prefix ""), or those under `prefix`; v3's are fuzzed by tests/test_v3_fuzz.py."""
    return sorted(
        (rule.rule, method)
        for rule in api_rules(app)
        for method in rule.methods - IMPLICIT_METHODS
        if rule.rule.startswith(prefix + "/") and (prefix or not rule.rule.startswith("/v3/"))
    )
