"""A faster marshmallow load for input that is plainly valid.

marshmallow's load costs tens of µs per field, most of it bookkeeping for the
error messages of invalid input. Input that passes the same checks (each
field's type, then its very validators) is loaded by a plain loop here;
anything else goes to marshmallow, which decides and words the error.
tests/test_schemas.py holds the two to the same answers.

Only marshmallow's public API is used: a schema's `load_fields`, each field's
`data_key`, `attribute`, `required`, `load_default`, `allow_none` and
`validators`, and the `__marshmallow_hook__` marker that marshmallow's
decorators put on hook methods (marshmallow.decorators.MarshmallowHook).
"""

import inspect
import re

from marshmallow import Schema, ValidationError, missing

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_hooks(schema: Schema) -> bool:
    """Whether the schema declares pre/post-load or schema-level validation hooks, which only marshmallow runs."""
    return any(
        getattr(member, "__marshmallow_hook__", None) for _, member in inspect.getmembers(type(schema), callable)
    )


class FastLoader:
    """Loads a dict as `schema.load` would, or answers None when marshmallow must decide."""

    def __init__(self, schema: Schema, python_types: dict[type, type]):
        self.fields = self._derive_fields(schema, python_types)

    @staticmethod
    def _derive_fields(schema: Schema, python_types: dict[type, type]) -> list[tuple] | None:
        """(data key, attribute, Python type, required, validators) per field; None when not derivable."""
        if has_hooks(schema):
            return None
        derived = []
        for name, field in schema.load_fields.items():
            kind = python_types.get(type(field))
            if kind is None or field.load_default is not missing or field.allow_none:
                return None
            derived.append((field.data_key or name, field.attribute or name, kind, field.required, field.validators))
        return derived

    def load(self, data: dict) -> dict | None:
        """`data` loaded as marshmallow would load it, or None when any field is not plainly valid."""
        if self.fields is None:
            return None
        loaded = {}
        for key, attribute, kind, required, validators in self.fields:
            if key not in data:
                if required:
                    return None
                continue
            value = data[key]
            if type(value) is not kind or (kind is str and not value.isascii() and LONE_SURROGATE.search(value)):
                return None
            for validator in validators:
                try:
                    # As marshmallow, a validator that returns False refuses the value.
                    if validator(value) is False:
                        return None
                except ValidationError:
                    return None
            loaded[attribute] = value
        return loaded
