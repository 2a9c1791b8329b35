"""Keyword tables: which JSON Schema keywords matter for validity, which are annotations, which
hold subschemas, and the limits the lowering works within.

Anything not in :data:`VALIDATION_KEYWORDS` has no effect on which instances are valid (an
annotation or an unknown keyword); the subschema tables say where ``$id``/``$anchor`` and
keyword searches descend.
"""

from __future__ import annotations

from typing import Any

from .ir import CONTAINS_ALSO
from .values import ptr_escape

# keywords with no effect on validity (annotations and identifiers)
ANNOTATIONS = {
    "$schema", "$id", "id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary", "title",
    "description", "default", "examples", "example", "readOnly", "writeOnly", "deprecated",
    "contentMediaType", "contentEncoding", "contentSchema", "$defs", "definitions",
    "discriminator", "xml", "externalDocs", "markdownDescription", "enumDescriptions",
    "deprecationMessage", "errorMessage", "additionalItems_", "tsType", "javaType",
}
# keywords that affect validity (everything else is an annotation for us)
VALIDATION_KEYWORDS = {
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "items", "prefixItems",
    "additionalItems", "unevaluatedItems", "contains", "minContains", "maxContains", "maxItems",
    "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "properties",
    "patternProperties", "additionalProperties", "unevaluatedProperties", "propertyNames",
    "dependentRequired", "dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf", "not",
    "if", "then", "else", "$ref", "nullable",
}
TYPE_NAMES = ("null", "boolean", "object", "array", "string", "number", "integer")
MAX_ENUM = 2000  # enum values that each become their own alternative (objects, arrays)
# enum values that share one lexeme (strings, numbers: a trie each): the DFA's state budget
# bounds them, this bounds the per-value filtering by sibling keywords (ISO 3166-2 has ~5,000 codes)
MAX_ENUM_GROUPED = 20000
ALL_TYPES = ("null", "boolean", "object", "array", "string", "number")
# numbers with a non-zero fraction and no exponent: a subset of the non-integers (complements)
NONINT_REGEX = r"-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9][0-9]*"
NOEXP_REGEX = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
# the keywords that give a property name its value schema (merged together, see merge())
OBJECT_RULES = ("properties", "patternProperties", "additionalProperties")
MAX_COUNT_STATES = 2000

# keywords holding subschemas: maps of them, lists of them, one of them
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems", "items"}
SCHEMA_VALUES = {"items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains",
                 "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
# keywords of other types, vacuous for a string (see StringsMixin._string_restrict)
STRING_NEUTRAL = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "properties", "required",
    "additionalProperties", "patternProperties", "propertyNames", "minProperties", "maxProperties",
    "dependentRequired", "dependentSchemas", "dependencies", "items", "prefixItems", "additionalItems",
    "contains", "minContains", "maxContains", "minItems", "maxItems", "uniqueItems", "unevaluatedItems",
    "unevaluatedProperties", "nullable"}
# keywords that evaluate properties/items (what unevaluated* looks at)
EVALUATING = ("properties", "patternProperties", "additionalProperties", "unevaluatedProperties", "items",
              "prefixItems", "additionalItems", "contains", "unevaluatedItems", CONTAINS_ALSO)


def has_unevaluated(schema: Any) -> bool:
    """A schema object whose own unevaluated* keyword constrains something."""
    return isinstance(schema, dict) and any(
        schema.get(k) not in (None, True, {}) for k in ("unevaluatedProperties", "unevaluatedItems"))


def unevaluated_keyword(schema: dict) -> str:
    return "unevaluatedProperties" if schema.get("unevaluatedProperties") not in (None, True, {}) else "unevaluatedItems"


def find_keywords(node: Any, keys: tuple[str, ...], ptr: str = "#", depth: int = 0):
    """(keyword, pointer) of the first occurrence of any of ``keys`` in a schema tree."""
    if depth > 500:
        return None
    if isinstance(node, dict):
        for k in keys:
            if k in node:
                return k, ptr
        for k, v in node.items():
            if k in ("enum", "const", "default", "examples", "example"):
                continue
            hit = find_keywords(v, keys, f"{ptr}/{ptr_escape(k)}", depth + 1)
            if hit:
                return hit
    elif isinstance(node, list):
        for i, v in enumerate(node):
            hit = find_keywords(v, keys, f"{ptr}/{i}", depth + 1)
            if hit:
                return hit
    return None

