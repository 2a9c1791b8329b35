"""Input normalisation: a schema given as a dict, a bool, JSON text (str or UTF-8 bytes) or a
Pydantic model class becomes the JSON value the lowering walks. Draft-dependent behaviour
(``$ref`` overriding its siblings before 2019-09) is decided from ``$schema`` in
:class:`~.context.LoweringContext`."""

from __future__ import annotations

import json
from typing import Any

from ...errors import SchemaError


def normalize_schema_input(schema: Any) -> Any:
    """Accept a dict, a bool, a JSON string or a Pydantic model class; return a JSON value."""
    if isinstance(schema, (dict, bool)):
        return schema
    if isinstance(schema, (bytes, bytearray)):
        try:
            schema = bytes(schema).decode("utf-8")
        except UnicodeDecodeError as e:
            raise SchemaError(f"schema bytes are not valid UTF-8: byte {e.object[e.start]:#04x} at "
                              f"offset {e.start} ({e.reason})") from None
    if isinstance(schema, str):
        try:
            value = json.loads(schema)
        except json.JSONDecodeError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from None
        if not isinstance(value, (dict, bool)):
            # valid JSON, just not a schema (e.g. '"hello"', or a file holding a list)
            kind = {list: "an array", str: "a string", int: "a number", float: "a number"}.get(type(value), "null")
            raise SchemaError(f"a JSON Schema must be an object or a boolean, got {kind}")
        return value
    if hasattr(schema, "model_json_schema"):
        return schema.model_json_schema()
    raise SchemaError(f"a schema must be a dict, a bool, a JSON string or a Pydantic model, not {type(schema).__name__}")
