"""The intermediate form: what a normalized schema carries beyond JSON Schema keywords.

The lowering works on schema dicts. Where two schemas are conjoined (``allOf``, ``$ref`` with
siblings) or a schema is complemented (``not``, ``oneOf``, ``if``), some constraints have no
JSON Schema spelling in one object (two ``pattern``s, two ``anyOf`` lists, "some property
whose name matches K has a value in V"). They travel in the dict under the internal keys
below, each holding a *list* of the entries its docstring names; :func:`.merge.MergeMixin.merge`
concatenates them (:data:`LIST_INTERNALS`). Internal keys start with ``__``, which no JSON
Schema keyword does, and :func:`has_internal` tells whether a schema holds any (jsonschema
cannot check those, so value filters fall back).

Why keys in the dict rather than a separate record: complements build schemas that re-enter
the lowering as ordinary subschemas (``{"anyOf": [..., {"type": "number", NUM_AND: [...]}]}``),
through ``$ref`` resolution, merging and rule naming; the markers must survive exactly that
path. The entries themselves are typed (:class:`Xof`, :class:`Conditional`, :class:`SomeMember`,
presence formulas below).

Presence formulas: boolean formulas over "property k is present", from ``anyOf``/``oneOf``/
``not``/``allOf`` of ``required`` and from ``dependentRequired``. The object automaton tracks
the presence of the few properties involved, so they are enforced exactly. Atoms:
``("req", frozenset(names))``; ``("not", f)``; ``("and", fs)``; ``("or", fs)``; ``("one", fs)``
(exactly one holds); ``("object-only", ())`` marks a formula that also says ``type: object``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

#: ``[{keyword: value}]``: a keyword whose two values could not be folded into one (enum/const
#: values are intersected; any other is unsupported)
ALSO = "__also__"
#: ``[Xof]``: further ``anyOf``/``oneOf`` lists, all of which must hold
XOF = "__xof__"
#: ``[schema]``: further ``not`` schemas
NOT = "__not__"
#: ``[regex]``: further ``pattern``s (strings)
PATTERNS = "__patterns__"
#: ``[presence formula]``: conditions on which properties are present (objects)
PRESENCE = "__presence__"
#: ``[string content expression]``: languages the string content must avoid (complements)
STR_MINUS = "__str_minus__"
#: ``[regex | ["nonmult", k]]``: what the number text must also match (``["nonmult", k]``: an
#: integer not divisible by k); entries are part of lexeme keys, hence JSON lists
NUM_AND = "__num_and__"
#: ``[regex]``: number spellings excluded (complements of enum values)
NUM_MINUS = "__num_minus__"
#: ``[SomeMember]``: "some property with a key in K has a value valid under V" (objects)
SOME = "__some__"
#: ``[Conditional]``: further ``if``/``then``/``else`` triples
ITE = "__ite__"
#: ``[schema]``: further ``contains`` schemas, each met by some item (arrays)
CONTAINS_ALSO = "__contains_also__"

#: ``[{"properties": {name: {}}, "patternProperties": {regex: {}}, "additionalProperties": S}]``:
#: the ``additionalProperties`` of ``allOf`` parts whose patterns differ from the merged ones
#: (a key that none of a part's names and patterns match must satisfy its ``S``); each entry
#: is itself that JSON Schema rule
PART_ADDL = "__part_addl__"

#: the internal keys, all holding lists that are concatenated when schemas are merged
LIST_INTERNALS = (ALSO, XOF, NOT, PATTERNS, PRESENCE, STR_MINUS, NUM_AND, NUM_MINUS, SOME, ITE, CONTAINS_ALSO,
                  PART_ADDL)


class Xof(NamedTuple):
    """An ``anyOf``/``oneOf`` list carried beside the schema's own."""

    kind: str  # "anyOf" | "oneOf"
    branches: list


class Conditional(NamedTuple):
    """An ``if``/``then``/``else`` triple merged in from another ``allOf`` part."""

    if_: Any
    then: Any
    else_: Any


class SomeMember(NamedTuple):
    """Some property whose key content is in ``key`` (a string content expression) has a
    value valid under ``value`` (a schema)."""

    key: Any
    value: Any


def unevaluated_items_as_items(s: dict, ue: Any) -> None:
    """Rewrite ``unevaluatedItems: ue`` of ``s`` (already popped) as its local ``items``.

    Where nothing evaluates items dynamically, every item past ``prefixItems``/``items`` is
    unevaluated unless a ``contains`` schema matches it (contains annotates the items it
    matches, whatever the counts): such an item must match ``ue`` or one of them.
    """
    contains = ([s["contains"]] if "contains" in s else []) + list(s.get(CONTAINS_ALSO, []))
    rest = {"anyOf": [*contains, ue]} if contains else ue
    if isinstance(s.get("items"), list):
        s.setdefault("additionalItems", rest)
    elif "items" not in s:
        s["items"] = rest


def is_internal(key: str) -> bool:
    """Whether a schema dict key is one of the internal keys above (not a JSON Schema keyword)."""
    return key.startswith("__")


def presence_eval(f, present) -> bool:
    op = f[0]
    if op == "req":
        return present is None or f[1] <= present  # None: a non-object, `required` holds vacuously
    if op == "not":
        return not presence_eval(f[1], present)
    vals = [presence_eval(x, present) for x in f[1]]
    if op == "and":
        return all(vals)
    if op == "or":
        return any(vals)
    return sum(vals) == 1


def presence_names(f, out: set) -> set:
    if f[0] == "req":
        out |= f[1]
    elif f[0] == "not":
        presence_names(f[1], out)
    else:
        for x in f[1]:
            presence_names(x, out)
    return out


def has_internal(x: Any, depth: int = 0) -> bool:
    """Whether a schema holds internal ``__...`` keywords (which jsonschema cannot check)."""
    if depth > 50:
        return True
    if isinstance(x, dict):
        return any(isinstance(k, str) and k.startswith("__") or has_internal(v, depth + 1) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return any(has_internal(v, depth + 1) for v in x)
    return False


def has_object_only(f) -> bool:
    if f[0] == "object-only":
        return True
    if f[0] == "req":
        return False
    if f[0] == "not":
        return has_object_only(f[1])
    return any(has_object_only(x) for x in f[1])

