"""The values of a schema document's keywords, checked against the draft 2020-12 meta-schema's
kinds before anything is lowered.

Why one walk over the document first and not a check where each object is lowered: ``allOf``
parts, ``anyOf`` branches and ``if`` schemas are merged or folded before they would be lowered
on their own, so a check at lowering missed them. Why not ``jsonschema``'s meta-schema
validation: only the kinds the lowering relies on are checked, in one pass that knows each
value's JSON pointer. Without it a ``"minProperties": "x"`` surfaced as a bare ``int()`` error
and ``"minItems": -1`` or ``"properties": []`` compiled into a silently different automaton.
"""

from __future__ import annotations

from typing import Any

from ...errors import SchemaError
from .keywords import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES, TYPE_NAMES
from .values import ptr_escape

# keywords whose value is a count (the meta-schema's nonNegativeInteger)
COUNT_KEYWORDS = ("maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
                  "maxProperties", "minProperties")
# keywords whose value maps names to subschemas
SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# keywords whose value is a list of subschemas (the meta-schema wants them non-empty; an empty
# one has an unambiguous meaning, and peers' suites use ``prefixItems: []``, so it is accepted)
SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")


def is_json_integer(v: Any) -> bool:
    """An integer as JSON Schema counts them: ``2`` and ``2.0`` are, ``True`` is not."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def _bad(keyword: str, pointer: str, what: str) -> SchemaError:
    return SchemaError(f"{keyword} at {pointer} {what}", keyword=keyword, pointer=pointer)


def check_keyword_values(s: dict, ptr: str) -> None:
    """Raise :class:`SchemaError` naming the keyword's pointer if one of ``s``'s keywords has a
    value the meta-schema forbids; checks only the kinds of value the lowering relies on."""
    for k in COUNT_KEYWORDS:
        if k in s and not (is_json_integer(s[k]) and s[k] >= 0):
            raise _bad(k, f"{ptr}/{k}", f"must be a non-negative integer, not {s[k]!r}")
    for k in SCHEMA_MAP_KEYWORDS:
        if k in s and not isinstance(s[k], dict):
            raise _bad(k, f"{ptr}/{k}", f"must be an object mapping names to schemas, not {type(s[k]).__name__}")
    for k in SCHEMA_LIST_KEYWORDS:
        if k in s and not isinstance(s[k], list):
            raise _bad(k, f"{ptr}/{k}", f"must be an array of schemas, not {type(s[k]).__name__}")
    if "uniqueItems" in s and not isinstance(s["uniqueItems"], bool):
        raise _bad("uniqueItems", f"{ptr}/uniqueItems", f"must be a boolean, not {s['uniqueItems']!r}")
    if "dependentRequired" in s:
        dr = s["dependentRequired"]
        if not isinstance(dr, dict):
            raise _bad("dependentRequired", f"{ptr}/dependentRequired", "must be an object")
        for name, req in dr.items():
            if not (isinstance(req, list) and all(isinstance(x, str) for x in req)):
                raise _bad("dependentRequired", f"{ptr}/dependentRequired/{ptr_escape(name)}",
                           "must be an array of strings")
    if "type" in s:
        t = s["type"]
        names = t if isinstance(t, list) else [t]
        if not names or not all(isinstance(x, str) for x in names):
            raise _bad("type", f"{ptr}/type", "must be a type name or a non-empty array of them")
        for x in names:
            if x not in TYPE_NAMES:
                raise SchemaError(f"unknown type {x!r} at {ptr}/type (known: {', '.join(TYPE_NAMES)})",
                                  keyword="type", pointer=f"{ptr}/type")


def check_schema_document(schema: Any) -> None:
    """:func:`check_keyword_values` on every schema object of the document, at every position
    where the vocabulary puts a subschema (``enum``/``const`` values are data and not walked);
    iterative, so a deep document costs no Python recursion."""
    stack = [(schema, "#")]
    while stack:
        s, ptr = stack.pop()
        if not isinstance(s, dict):
            continue
        check_keyword_values(s, ptr)
        for k in SCHEMA_MAPS:
            if isinstance(s.get(k), dict):
                stack.extend((v, f"{ptr}/{k}/{ptr_escape(n)}") for n, v in s[k].items())
        for k in SCHEMA_LISTS:
            if isinstance(s.get(k), list):
                stack.extend((v, f"{ptr}/{k}/{i}") for i, v in enumerate(s[k]))
        for k in SCHEMA_VALUES:
            if isinstance(s.get(k), dict):
                stack.append((s[k], f"{ptr}/{k}"))
