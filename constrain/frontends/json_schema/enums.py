"""``enum`` / ``const``: finite value sets, filtered by every sibling keyword, as literals.

Values are deduplicated under JSON Schema equality (:func:`.values.canon`); siblings are
checked with jsonschema where it can, and against the internal restrictions complements add
(:meth:`EnumsMixin._value_ok`). A finite domain also makes ``uniqueItems`` regular (:mod:`.arrays`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ...errors import SchemaError, UnsupportedSchemaError
from ...ir import Expr, Lex, Member, NOTHING, alt, seq
from ..regex import regex_to_dfa
from .ir import ALSO, CONTAINS_ALSO, NOT, NUM_AND, NUM_MINUS, PART_ADDL, PATTERNS, SOME, STR_MINUS, XOF, is_internal, presence_eval
from .keywords import ANNOTATIONS, MAX_ENUM, MAX_ENUM_GROUPED
from .lexemes import string_content
from .values import canon, number_literal_regex, numbers_literal_regex, type_of


# an enum's string values as one lexeme, and its number values as another (tests turn these
# off to compare with one lexeme per value)
GROUP_STRING_ENUMS = True
GROUP_NUMBER_ENUMS = True


class EnumsMixin:
    """``enum``/``const``: finite value sets, filtered by their sibling keywords, as literals."""

    def _value_ok(self, v: Any, s: dict, types: set, excluded: list, excluded_patterns: list) -> bool:
        """Whether an enum value passes what `not` and the complements added to ``s``."""
        t = type_of(v)
        if not (t in types or (t == "integer" and "number" in types)):
            return False
        if isinstance(v, str):
            if v in excluded:
                return False
            for p in excluded_patterns:
                if regex_to_dfa(p, encoding="utf8", search=True).matches(v.encode()):
                    return False
            minus = s.get(STR_MINUS, [])
            if minus:
                text = json.dumps(v, ensure_ascii=False)[1:-1].encode()
                if string_content(("or", list(minus))).matches(text):
                    return False
        elif t in ("integer", "number"):
            ands, minus = s.get(NUM_AND, []), s.get(NUM_MINUS, [])
            text = json.dumps(v).encode()
            for r in ands:
                if isinstance(r, (list, tuple)):
                    d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
                    if d != d.to_integral_value() or int(d) % int(r[1]) == 0:
                        return False
                elif not regex_to_dfa(r, encoding="utf8").matches(text):
                    return False
            for r in minus:
                if regex_to_dfa(r, encoding="utf8").matches(text):
                    return False
        return True

    def enum_values(self, s: dict, ptr: str, presence=None, value_ok=None) -> Expr:
        vals: list | None = None
        if "const" in s:
            vals = [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError(f"enum at {ptr} must be an array")
            ev = s["enum"]
            vals = ev if vals is None else [v for v in vals if canon(v) in {canon(x) for x in ev}]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const") and not is_internal(k)}
        if s.get(PATTERNS):
            rest["allOf"] = [{"pattern": p} for p in s[PATTERNS]]  # patterns merged from allOf
        if s.get(CONTAINS_ALSO):
            rest["allOf"] = list(rest.get("allOf", [])) + [{"contains": c} for c in s[CONTAINS_ALSO]]
        if s.get(PART_ADDL):
            rest["allOf"] = list(rest.get("allOf", [])) + list(s[PART_ADDL])  # each entry is a JSON Schema rule
        for k in (XOF, NOT, SOME):
            if s.get(k):
                self.unsupported("enum", ptr, f"enum with internal constraint {k}")
        for extra in s.get(ALSO, []):
            for k, v in extra.items():
                if k in ("enum", "const"):
                    allowed = {canon(x) for x in (v if k == "enum" else [v])}
                    vals = [x for x in vals if canon(x) in allowed]
        if len(vals) > MAX_ENUM_GROUPED:
            raise UnsupportedSchemaError("enum", ptr, f"more than {MAX_ENUM_GROUPED} values")
        structured = sum(not self._groups(v) for v in vals)
        if structured > MAX_ENUM:
            raise UnsupportedSchemaError("enum", ptr, f"more than {MAX_ENUM} values that are not strings or numbers")
        keep = []
        if set(rest) - {"type"}:
            keep = self._values_valid(vals, rest, "enum", ptr)
        else:
            keep = [v for v in vals if self._type_ok(v, rest)]
        if value_ok is not None:
            keep = [v for v in keep if value_ok(v)]
        if presence is not None:
            keep = [v for v in keep if presence_eval(presence, frozenset(v) if isinstance(v, dict) else None)]
        seen: set[str] = set()
        exprs = []
        strings = []
        numbers = []
        for v in keep:
            c = canon(v)
            if c not in seen:
                seen.add(c)
                if self._groups(v):
                    (strings if isinstance(v, str) else numbers).append(v)
                else:
                    exprs.append(self.literal_value(v, ptr))
        if len(numbers) > 1:
            # likewise one lexeme for the number values (2,000 integers were 2,000 lexemes,
            # each its own DFA, token table and plan: 3 s to compile); the same language
            exprs.append(Lex(self.L.regex(numbers_literal_regex(numbers), f"{len(numbers)} numbers")))
        elif numbers:
            exprs.append(self.literal_value(numbers[0], ptr))
        if len(strings) > 1:
            # one lexeme for all the string values (a trie of their spellings), not one per
            # value: an enum of 1,555 codes (Github_medium:129) made 1,555 lexemes, so the
            # state before the value had a thread, a token table and a row walk per value
            # (~400 ms for its first visit); the language is the same
            exprs.append(Lex(self.L.string_expr(("or", [("lit", v) for v in strings]))))
        elif strings:
            exprs.append(self.literal_value(strings[0], ptr))
        return alt(*exprs) if exprs else NOTHING

    @staticmethod
    def _groups(v: Any) -> bool:
        """Whether an enum value joins its kind's one lexeme (strings, numbers)."""
        if isinstance(v, str):
            return GROUP_STRING_ENUMS
        return isinstance(v, (int, float)) and not isinstance(v, bool) and GROUP_NUMBER_ENUMS

    def literal_value(self, v: Any, ptr: str) -> Expr:
        L = self.L
        if v is None:
            return Lex(L.literal("null"))
        if v is True:
            return Lex(L.literal("true"))
        if v is False:
            return Lex(L.literal("false"))
        if isinstance(v, str):
            return Lex(L.string_literal(v))
        if isinstance(v, (int, float)):
            return Lex(L.regex(number_literal_regex(v), f"number {v!r}"))
        if isinstance(v, list):
            items = [self.literal_value(x, ptr) for x in v]
            if not items:
                return seq(Lex(L.punct("[")), Lex(L.punct("]")))
            parts = [Lex(L.punct("["))]
            for i, it in enumerate(items):
                if i:
                    parts.append(Lex(L.punct(",")))
                parts.append(it)
            parts.append(Lex(L.punct("]")))
            return seq(*parts)
        if isinstance(v, dict) and len(v) > 1 and self.property_order == "any":
            # an object value equals its members in any order (JSON Schema equality)
            members = tuple(Member(L.string_literal(k), ((0, self._value_rule(self.literal_value(x, ptr), ptr)),),
                                   required=True) for k, x in v.items())
            return self._members_rule(ptr, members)
        if isinstance(v, dict):
            parts = [Lex(L.punct("{"))]
            for i, (k, x) in enumerate(v.items()):
                if i:
                    parts.append(Lex(L.punct(",")))
                parts += [Lex(L.string_literal(k)), Lex(L.punct(":")), self.literal_value(x, ptr)]
            parts.append(Lex(L.punct("}")))
            return seq(*parts)
        raise SchemaError(f"not a JSON value at {ptr}: {v!r}")

    def _finite_domain(self, schema: Any, ptr: str) -> list | None:
        """The values of a schema with a small finite domain (enum/const, boolean, null), else None."""
        n = self.normalize(schema, ptr) if isinstance(schema, dict) else schema
        if not isinstance(n, dict):
            return None
        n = {k: v for k, v in n.items() if k not in ANNOTATIONS and not k.startswith("x-")}
        if "enum" in n or "const" in n:
            vals = self._enum_filtered(n)
        elif set(n) == {"type"} and set(self._types(n)) <= {"boolean", "null"}:
            ts = self._types(n)
            vals = ([True, False] if "boolean" in ts else []) + ([None] if "null" in ts else [])
        else:
            return None
        if vals is None:
            return None
        out, seen = [], set()
        for v in vals:
            c = canon(v)
            if c not in seen:
                seen.add(c)
                out.append(v)
        return out
