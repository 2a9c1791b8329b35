"""JSON values under JSON Schema equality (``1 == 1.0``, ``true != 1``), and their spellings."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ...errors import SchemaError
from .lexemes import regex_escape


def ptr_escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def type_of(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise SchemaError(f"not a JSON value: {v!r}")


def canon(v: Any) -> str:
    """Hashable identity of a JSON value with JSON Schema equality (1 == 1.0, true != 1)."""
    t = type_of(v)
    if t in ("integer", "number"):
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        return "n:" + str(d.normalize())
    if t == "array":
        return "a:[" + ",".join(canon(x) for x in v) + "]"
    if t == "object":
        return "o:{" + ",".join(json.dumps(k) + ":" + canon(x) for k, x in sorted(v.items())) + "}"
    return t[0] + ":" + json.dumps(v, ensure_ascii=False)


def listed_values(s: dict) -> list | None:
    """The values a schema's ``enum`` and ``const`` both allow (None: it has neither, or a
    malformed ``enum``); what an instance can be, whatever the other keywords say."""
    vals = None
    if "enum" in s:
        if not isinstance(s["enum"], list):
            return None
        vals = list(s["enum"])
    if "const" in s:
        c = canon(s["const"])
        vals = [s["const"]] if vals is None else [v for v in vals if canon(v) == c]
    return vals


def values_disjoint(lists: list[list]) -> bool:
    """No value (by JSON Schema equality) is in two of ``lists``."""
    seen: set[str] = set()
    for vals in lists:
        cs = {canon(v) for v in vals}
        if cs & seen:
            return False
        seen |= cs
    return True


def number_literal_regex(v: int | float) -> str:
    """JSON spellings of one number value: the plain form plus trailing zeros after a point."""
    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    if d == d.to_integral_value():
        i = int(d)
        base = regex_escape(str(i))
        alts = [base + r"(?:\.0+)?"]
        if i == 0:
            alts.append(r"-0(?:\.0+)?")
        return "(?:" + "|".join(alts) + ")"
    text = format(d.normalize(), "f")
    return regex_escape(text) + "0*"


def numbers_literal_regex(values: list) -> str:
    """JSON spellings of several number values, as one regex: :func:`number_literal_regex` of
    each, with the plain texts of the integers (and of the other numbers) in one alternation
    each, so that the regex compiler reads them as one literal set (a trie) and the suffix
    (``(?:\\.0+)?`` after an integer, ``0*`` after a fraction) is built once."""
    ints, fracs, zero = [], [], False
    for v in values:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        if d == d.to_integral_value():
            i = int(d)
            zero |= i == 0
            ints.append(regex_escape(str(i)))
        else:
            fracs.append(regex_escape(format(d.normalize(), "f")))
    if zero:
        ints.append(r"-0")
    alts = []
    if ints:
        alts.append("(?:" + "|".join(ints) + r")(?:\.0+)?")
    if fracs:
        alts.append("(?:" + "|".join(fracs) + ")0*")
    return "(?:" + "|".join(alts) + ")"
