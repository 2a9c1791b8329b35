"""JSON Schema (draft 2020-12 and the older spellings real schemas use) -> grammar IR.

The front-end walks the schema once, producing rules over JSON lexemes
(:mod:`constrain.json_lexemes`). Design choices, all documented in docs/json_schema.md:

* ``$ref`` without siblings becomes a rule reference, so recursive schemas need no depth cap;
  ``$ref`` with siblings and ``allOf`` are merged at the schema level (allOf semantics).
* Object properties are generated in ``properties`` order; undeclared properties may appear
  between and after them unless ``additionalProperties: false`` or ``strict=True``.
* ``anyOf`` is a union; ``oneOf`` is a union of its branches, each conjoined with the
  complement of every other branch not provably disjoint from it (:meth:`_Compiler.complement`
  computes ``not`` as a schema); :class:`UnsupportedSchemaError` where a needed complement is
  not computable (``lenient=True`` treats it as ``anyOf``). ``not``, ``if``/``then``/``else`` and
  ``dependentSchemas`` use the same complements.
* Integers are generated without fraction or exponent; bounded numbers without exponent.
* A keyword that cannot be enforced raises :class:`UnsupportedSchemaError` naming the keyword
  and its JSON pointer, unless ``lenient=True``, which drops it with a warning.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from decimal import Decimal
from typing import Any

from .deadline import check_deadline, schema_location
from .errors import CompileBudgetError, ConstraintError, SchemaError, UnsupportedSchemaError
from .grammar import EMPTY, NOTHING, Expr, Grammar, Lex, Nfa, Ref, alt, opt, seq, star
from .json_lexemes import JsonLexemes, regex_escape
from .regex import regex_to_dfa

__all__ = ["schema_to_grammar", "normalize_schema_input", "SchemaWarning"]


class SchemaWarning(UserWarning):
    """A schema keyword was ignored (unknown format, or dropped in lenient mode)."""


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
MAX_ENUM = 2000
_ALL_TYPES = ("null", "boolean", "object", "array", "string", "number")
# numbers with a non-zero fraction and no exponent: a subset of the non-integers (complements)
_NONINT_REGEX = r"-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9][0-9]*"
_NOEXP_REGEX = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
# the keywords that give a property name its value schema (merged together, see merge())
_OBJECT_RULES = ("properties", "patternProperties", "additionalProperties")
# internal keywords holding lists, concatenated when schemas are merged
_LIST_INTERNALS = ("__also__", "__xof__", "__not__", "__patterns__", "__presence__", "__str_minus__",
                   "__num_and__", "__num_minus__", "__some__", "__ite__", "__contains_also__")
MAX_COUNT_STATES = 2000


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


def _ptr_escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _type_of(v: Any) -> str:
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


def _canon(v: Any) -> str:
    """Hashable identity of a JSON value with JSON Schema equality (1 == 1.0, true != 1)."""
    t = _type_of(v)
    if t in ("integer", "number"):
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        return "n:" + str(d.normalize())
    if t == "array":
        return "a:[" + ",".join(_canon(x) for x in v) + "]"
    if t == "object":
        return "o:{" + ",".join(json.dumps(k) + ":" + _canon(x) for k, x in sorted(v.items())) + "}"
    return t[0] + ":" + json.dumps(v, ensure_ascii=False)


# ---------------------------------------------------------------------------- presence formulas
# Boolean formulas over "property k is present", from anyOf/oneOf/not/allOf of `required`
# and from dependentRequired. The object automaton tracks presence of the few properties
# involved, so these are enforced exactly. Atoms: ("req", names); ("not", f); ("and", fs);
# ("or", fs); ("one", fs) = exactly one holds.

def _presence_eval(f, present) -> bool:
    op = f[0]
    if op == "req":
        return present is None or f[1] <= present  # None: a non-object, `required` holds vacuously
    if op == "not":
        return not _presence_eval(f[1], present)
    vals = [_presence_eval(x, present) for x in f[1]]
    if op == "and":
        return all(vals)
    if op == "or":
        return any(vals)
    return sum(vals) == 1


def _presence_names(f, out: set) -> set:
    if f[0] == "req":
        out |= f[1]
    elif f[0] == "not":
        _presence_names(f[1], out)
    else:
        for x in f[1]:
            _presence_names(x, out)
    return out


def _has_internal(x: Any, depth: int = 0) -> bool:
    """Whether a schema holds internal ``__...`` keywords (which jsonschema cannot check)."""
    if depth > 50:
        return True
    if isinstance(x, dict):
        return any(isinstance(k, str) and k.startswith("__") or _has_internal(v, depth + 1) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return any(_has_internal(v, depth + 1) for v in x)
    return False


def _has_object_only(f) -> bool:
    if f[0] == "object-only":
        return True
    if f[0] == "req":
        return False
    if f[0] == "not":
        return _has_object_only(f[1])
    return any(_has_object_only(x) for x in f[1])


_SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
_SCHEMA_LISTS = {"allOf", "anyOf", "oneOf", "prefixItems", "items"}
_SCHEMA_VALUES = {"items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains",
                  "propertyNames", "unevaluatedItems", "unevaluatedProperties"}


def _has_unevaluated(schema: Any) -> bool:
    """A schema object whose own unevaluated* keyword constrains something."""
    return isinstance(schema, dict) and any(
        schema.get(k) not in (None, True, {}) for k in ("unevaluatedProperties", "unevaluatedItems"))


_EVALUATING = ("properties", "patternProperties", "additionalProperties", "unevaluatedProperties", "items",
               "prefixItems", "additionalItems", "contains", "unevaluatedItems", "__contains_also__")


def _unevaluated_keyword(schema: dict) -> str:
    return "unevaluatedProperties" if schema.get("unevaluatedProperties") not in (None, True, {}) else "unevaluatedItems"


def _find_keywords(node: Any, keys: tuple[str, ...], ptr: str = "#", depth: int = 0):
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
            hit = _find_keywords(v, keys, f"{ptr}/{_ptr_escape(k)}", depth + 1)
            if hit:
                return hit
    elif isinstance(node, list):
        for i, v in enumerate(node):
            hit = _find_keywords(v, keys, f"{ptr}/{i}", depth + 1)
            if hit:
                return hit
    return None


class _Compiler:
    def __init__(self, root: Any, *, strict: bool, lenient: bool, lexemes: JsonLexemes):
        self.root = root
        self.strict = strict
        self.lenient = lenient
        self.L = lexemes
        self.rules: dict[str, Expr] = {}
        self.origins: dict[str, str] = {}
        self._ids: dict[str, Any] = {}
        self._ambiguous: set[str] = set()
        self._index_ids(root, "#")
        self._validator_cls = None
        declared = root.get("$schema", "") if isinstance(root, dict) else ""
        self.ref_overrides_siblings = isinstance(declared, str) and any(
            f"draft-0{n}" in declared for n in (3, 4, 6, 7))
        self._sub_names: dict[int, str] = {}
        self._keep: list = []  # keeps keyed schema objects alive so their ids stay unique

    # ------------------------------------------------------------------ errors

    def unsupported(self, keyword: str, ptr: str, why: str = "") -> None:
        """Raise, or in lenient mode warn that ``keyword`` at ``ptr`` is dropped."""
        if self.lenient:
            warnings.warn(f"ignoring {keyword!r} at {ptr}" + (f": {why}" if why else ""), SchemaWarning, stacklevel=4)
            return
        raise UnsupportedSchemaError(keyword, ptr, why)

    # ------------------------------------------------------------------ refs

    def _index_ids(self, node: Any, ptr: str, depth: int = 0) -> None:
        """Register ``$id``/``id`` and ``$anchor`` of every schema object (not of data values:
        only keywords that hold subschemas are descended into)."""
        if depth > 200 or not isinstance(node, dict):
            return
        for k in ("$id", "id"):
            v = node.get(k)
            if isinstance(v, str) and not (k == "id" and not v.startswith(("http", "urn", "#", "/")) and "." not in v):
                self._ids.setdefault(v, node)
                self._ids.setdefault(v.rstrip("#"), node)
        anchor = node.get("$anchor")
        if isinstance(anchor, str):
            key = "#" + anchor
            if key in self._ids and self._ids[key] is not node:
                self._ambiguous.add(key)  # the same anchor under different base URIs
            self._ids.setdefault(key, node)
        for k, v in node.items():
            if k in _SCHEMA_MAPS and isinstance(v, dict):
                for name, sub in v.items():
                    self._index_ids(sub, f"{ptr}/{k}/{_ptr_escape(name)}", depth + 1)
            elif k in _SCHEMA_LISTS and isinstance(v, list):
                for i, sub in enumerate(v):
                    self._index_ids(sub, f"{ptr}/{k}/{i}", depth + 1)
            elif k in _SCHEMA_VALUES:
                self._index_ids(v, f"{ptr}/{k}", depth + 1)

    def resolve(self, ref: str, ptr: str) -> tuple[Any, str]:
        """The schema a ``$ref`` points to and its pointer."""
        if not isinstance(ref, str):
            raise SchemaError(f"$ref at {ptr} must be a string")
        base, _, frag = ref.partition("#")
        if base:
            node = self._ids.get(base)
            if node is None:
                # a relative $id like "definitions.json" registered by its last path segment
                for k, v in self._ids.items():
                    if k.endswith("/" + base) or k == base:
                        node = v
                        break
            if node is None:
                if base.startswith(("http://", "https://")) and base.rstrip("/").rstrip("#") == str(self.root.get("$id", "") if isinstance(self.root, dict) else "").rstrip("/").rstrip("#"):
                    node = self.root
                else:
                    raise UnsupportedSchemaError("$ref", ptr, f"remote reference {ref!r} is not available")
            target_ptr = f"{ref}"
        else:
            node = self.root
            target_ptr = "#"
        if frag and not frag.startswith("/"):
            hit = self._ids.get("#" + frag)
            if "#" + frag in self._ambiguous:
                raise UnsupportedSchemaError("$anchor", ptr, f"anchor {frag!r} is defined under several base URIs")
            if hit is None:
                raise SchemaError(f"$ref {ref!r} at {ptr}: anchor {frag!r} not found")
            return hit, f"#{frag}"
        for part in [p for p in frag.split("/")[1:]] if frag else []:
            part = part.replace("~1", "/").replace("~0", "~")
            from urllib.parse import unquote

            part = unquote(part)
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError(f"$ref {ref!r} at {ptr} does not resolve (no {part!r})")
            target_ptr += "/" + _ptr_escape(part)
        return node, (target_ptr if not base else ref)

    # ------------------------------------------------------------------ normalization

    def normalize(self, schema: Any, ptr: str, depth: int = 0) -> Any:
        """Fold ``$ref``-with-siblings and ``allOf`` into one schema dict (allOf semantics)."""
        if not isinstance(schema, dict):
            return schema
        if depth > 64:
            raise UnsupportedSchemaError("$ref", ptr, "references merged with sibling keywords recurse too deeply")
        s = dict(schema)
        if "$ref" in s and self.ref_overrides_siblings:
            s = {"$ref": s["$ref"]}  # drafts 4-7: "all other properties in a $ref object are ignored"
        if "$ref" in s:
            ref = s.pop("$ref")
            target, tptr = self.resolve(ref, ptr)
            if _has_unevaluated(target) and set(s) - ANNOTATIONS:
                # its unevaluated* cannot see the annotations of the siblings merged into it
                raise UnsupportedSchemaError("unevaluatedProperties", tptr, "unevaluated* in a referenced schema with siblings")
            s = self.merge(self.normalize(target, tptr, depth + 1), s, ptr, depth)
        while (isinstance(s.get("not"), dict) and set(s["not"]) - ANNOTATIONS == {"not"}
               and not _has_unevaluated(s)):  # annotations inside `not` do not count as evaluated
            inner = s.pop("not")["not"]  # not(not X) == X
            s = self.merge(s, self.normalize(inner, f"{ptr}/not/not", depth + 1), ptr, depth)
            if not isinstance(s, dict):
                return s
        if "allOf" in s:
            parts = s.pop("allOf")
            if not isinstance(parts, list):
                raise SchemaError(f"allOf at {ptr} must be an array")
            for i, p in enumerate(parts):
                if _has_unevaluated(p) and (len(parts) > 1 or set(s) - ANNOTATIONS):
                    raise UnsupportedSchemaError("unevaluatedProperties", f"{ptr}/allOf/{i}",
                                                 "unevaluated* inside an allOf part cannot see its siblings")
                s = self.merge(s, self.normalize(p, f"{ptr}/allOf/{i}", depth + 1), ptr, depth)
                if s is False:
                    return False
        return s

    def merge(self, a: Any, b: Any, ptr: str, depth: int = 0) -> Any:
        """Schema-level conjunction of two normalized schemas."""
        if a is True or a == {}:
            return self.normalize(b, ptr, depth + 1) if isinstance(b, dict) else b
        if b is True or b == {}:
            return a
        if a is False or b is False:
            return False
        b = self.normalize(b, ptr, depth + 1)
        if b is False:
            return False
        for x, y in ((a, b), (b, a)):
            if isinstance(x, dict) and isinstance(y, dict) and "prefixItems" in x and "items" in y and "prefixItems" not in y:
                # y's `items` covers every item, x's only those after its prefix: not one schema
                raise UnsupportedSchemaError("prefixItems", ptr, "prefixItems and items from different allOf parts")
        out = {k: (list(v) if k in _LIST_INTERNALS else v) for k, v in a.items()}  # never mutate `a`
        if "if" in a and "if" in b:
            # two conditionals: keep b's as a separate triple (see _lower)
            out.setdefault("__ite__", []).append((b["if"], b.get("then", True), b.get("else", True)))
            b = {k: v for k, v in b.items() if k not in ("if", "then", "else")}
        for k, v in b.items():
            if k in _OBJECT_RULES:
                continue  # merged per property name below
            if k not in out:
                out[k] = v
                continue
            u = out[k]
            if k in ANNOTATIONS:
                continue
            if k in _LIST_INTERNALS:
                out[k] = list(u) + list(v)
                continue
            if k == "type":
                ta = set(u if isinstance(u, list) else [u])
                tb = set(v if isinstance(v, list) else [v])
                if "number" in ta:
                    ta.add("integer")
                if "number" in tb:
                    tb.add("integer")
                both = ta & tb
                if "number" in both or ("number" in ta and "number" in tb):
                    pass
                out[k] = sorted(both)
                if not both:
                    return False
            elif k in ("enum", "const"):
                out[k] = u
                out.setdefault("__also__", []).append({k: v})
            elif k == "required":
                out[k] = list(dict.fromkeys(list(u) + list(v)))
            elif k in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"):
                if isinstance(u, bool) or isinstance(v, bool):
                    out.setdefault("__also__", []).append({k: v})
                else:
                    out[k] = max(u, v)
            elif k in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"):
                if isinstance(u, bool) or isinstance(v, bool):
                    out.setdefault("__also__", []).append({k: v})
                else:
                    out[k] = min(u, v)
            elif k == "uniqueItems":
                out[k] = bool(u) or bool(v)
            elif k == "contains" and u != v:
                # two `contains` may be met by different items: each extra one is tracked by a
                # flag in the array automaton
                out.setdefault("__contains_also__", []).append(v)
            elif k in ("items", "additionalProperties", "additionalItems", "propertyNames", "contains", "unevaluatedProperties", "unevaluatedItems"):
                if isinstance(u, list) or isinstance(v, list):
                    out.setdefault("__also__", []).append({k: v})
                else:
                    out[k] = {"allOf": [u, v]}
            elif k in ("anyOf", "oneOf"):
                out.setdefault("__xof__", []).append((k, v))
            elif k == "not":
                out.setdefault("__not__", []).append(v)
            elif k == "pattern":
                out.setdefault("__patterns__", []).append(v)
            elif k == "dependentRequired":
                d = dict(u)
                for dk, dv in v.items():
                    d[dk] = list(dict.fromkeys(list(d.get(dk, [])) + list(dv)))
                out[k] = d
            elif k == "multipleOf":
                if isinstance(u, int) and isinstance(v, int):
                    out[k] = u * v // math.gcd(u, v)
                else:
                    out.setdefault("__also__", []).append({k: v})
            elif u == v or k not in VALIDATION_KEYWORDS:
                continue  # equal, or an annotation/unknown keyword: no effect on validity
            else:
                out.setdefault("__also__", []).append({k: v})
        self._merge_property_rules(a, b, out, ptr)
        return out

    def _merge_property_rules(self, a: dict, b: dict, out: dict, ptr: str) -> None:
        """``properties``, ``patternProperties`` and ``additionalProperties`` of ``out`` such
        that each name gets the conjunction of each side's OWN rule for it.

        By the spec a schema's ``additionalProperties`` sees only the ``properties`` and
        ``patternProperties`` of its own schema object, so a name that one allOf part declares
        or matches never escapes another part's ``additionalProperties``.  A side's rule for a
        name: its ``properties`` entry and the patterns it matches, else its
        ``additionalProperties`` (absent: anything).  Merged, a declared name gets both sides'
        ``properties``/``additionalProperties`` rules and each pattern the
        ``additionalProperties`` of the side lacking it (the merged patterns still apply to
        declared names, as the spec says).  That is exact unless a side with a non-trivial
        ``additionalProperties`` meets a name that matches a pattern it lacks but is not
        its ``additionalProperties``' business (it declares the name, or one of its own
        overlapping patterns matches it): no single schema object says that, so it is refused
        -- except for a pattern that forbids every undeclared name in an object closed anyway,
        which is folded into the declared names' schemas instead.
        """
        if not any(k in x for x in (a, b) for k in _OBJECT_RULES):
            return
        for x in (a, b):
            for k in ("properties", "patternProperties"):
                if not isinstance(x.get(k, {}), dict):
                    raise SchemaError(f"{k} at {ptr} must be an object")

        def own_addl(x: dict) -> Any:
            v = x.get("additionalProperties", True)
            return True if v == {} else v

        def conj(parts: list) -> Any:
            parts = [p for p in parts if p is not True and p != {}]
            if any(p is False for p in parts):
                return False
            return True if not parts else parts[0] if len(parts) == 1 else {"allOf": parts}

        sides = [(x.get("properties", {}), x.get("patternProperties", {}), own_addl(x)) for x in (a, b)]
        patterns = list(dict.fromkeys(q for _, qs, _ in sides for q in qs))
        dfas = {q: regex_to_dfa(q, encoding="utf8", search=True) for q in patterns}
        merged = {q: conj([qs[q] if q in qs else addl for _, qs, addl in sides]) for q in patterns}
        addl_all = conj([addl for _, _, addl in sides])

        def overlap(q: str, others) -> bool:
            return any(o != q and not dfas[q].intersect(dfas[o]).is_empty() for o in others)

        # a pattern that forbids every undeclared name it matches, in an object closed anyway,
        # only matters for the declared names: folded into their schemas, it leaves the
        # merged patterns (so it cannot reach a name another side declares)
        folded = {q for q in patterns if merged[q] is False and addl_all is False and not overlap(q, patterns)}
        for _, qs, addl in sides:
            if addl is not True and any(q not in qs and q not in folded and overlap(q, qs) for q in patterns):
                raise UnsupportedSchemaError(
                    "additionalProperties", ptr, "a patternProperties of one allOf part overlaps one of another "
                    "part that has additionalProperties: no single object applies both parts' rules")
        props = {}
        for name in dict.fromkeys(n for ps, _, _ in sides for n in ps):
            hits = [q for q in patterns if dfas[q].matches(name.encode())]
            rules = []
            for ps, qs, addl in sides:
                if name in ps:
                    rules.append(ps[name])
                    if addl is not True and any(q not in qs and q not in folded for q in hits):
                        raise UnsupportedSchemaError(
                            "additionalProperties", ptr, f"property {name!r} is declared by one allOf part and "
                            "matches a patternProperties of another, while the first part has additionalProperties")
                elif not any(q in qs for q in hits):
                    rules.append(addl)  # its own patterns miss the name: its additionalProperties decides
                rules += [qs[q] for q in hits if q in folded and q in qs]
            props[name] = conj(rules)
        for k in _OBJECT_RULES:
            out.pop(k, None)
        if props:
            out["properties"] = props
        if len(folded) < len(patterns):
            out["patternProperties"] = {q: merged[q] for q in patterns if q not in folded}
        if "additionalProperties" in a or "additionalProperties" in b:
            out["additionalProperties"] = addl_all

    # ------------------------------------------------------------------ entry

    def grammar(self) -> Grammar:
        hit = _find_keywords(self.root, ("$dynamicRef", "$recursiveRef"))
        if hit:
            raise UnsupportedSchemaError(hit[0], hit[1], "dynamic references (dynamic scope) are not supported")
        body = self.value(self.root, "#")
        tail = self.L.trailing_ws()
        start = seq(body, opt(Lex(tail))) if tail is not None else body
        self.rules["$root"] = start
        self.origins["$root"] = "#"
        return Grammar(self.rules, "$root", self.origins)

    def rule(self, name: str, make, origin: str) -> Expr:
        """A named rule (built once; cycles resolve through the name)."""
        if name not in self.rules:
            self.rules[name] = NOTHING  # placeholder while the body is built
            self.origins[name] = origin
            self.rules[name] = make()
        return Ref(name)

    def any_value(self) -> Expr:
        L = self.L

        def make() -> Expr:
            member = seq(Lex(L.string()), Lex(L.punct(":")), Ref("$any"))
            obj = seq(Lex(L.punct("{")), opt(seq(member, star(seq(Lex(L.punct(",")), member)))), Lex(L.punct("}")))
            arr = seq(Lex(L.punct("[")), opt(seq(Ref("$any"), star(seq(Lex(L.punct(",")), Ref("$any"))))), Lex(L.punct("]")))
            return alt(
                Lex(L.string()), Lex(L.number()), Lex(L.literal("true")), Lex(L.literal("false")),
                Lex(L.literal("null")), obj, arr,
            )

        return self.rule("$any", make, "any JSON value")

    # ------------------------------------------------------------------ values

    def value(self, schema: Any, ptr: str) -> Expr:
        if schema is True:
            return self.any_value()
        if schema is False:
            return NOTHING
        if not isinstance(schema, dict):
            raise SchemaError(f"schema at {ptr} must be an object or a boolean, not {type(schema).__name__}")
        keys = set(schema) - ANNOTATIONS
        if not keys:
            return self.any_value()
        if "$ref" in keys and self.ref_overrides_siblings:
            keys = {"$ref"}
        if keys == {"$ref"}:
            target, tptr = self.resolve(schema["$ref"], ptr)
            return self.rule("ref:" + tptr, lambda: self.value(target, tptr), tptr)
        s = self.normalize(schema, ptr)
        if s is False:
            return NOTHING
        if s is True:
            return self.any_value()
        with schema_location(None, ptr):  # budget errors inside name this schema object
            return self.node(s, ptr)

    def node(self, s: dict, ptr: str) -> Expr:
        """A normalized schema (no $ref, no allOf at the top)."""
        check_deadline()
        s = dict(s)
        if "nullable" in s:
            if s.pop("nullable") is True and "type" in s:
                t = s["type"]
                s["type"] = list(t) + ["null"] if isinstance(t, list) else [t, "null"]
        also = s.pop("__also__", [])
        if also:
            # keywords whose conjunction could not be folded: enum/const values are intersected
            # in enum_values(); any other must hold too, which we cannot express
            keep = []
            for extra in also:
                for k, v in extra.items():
                    if k in ("enum", "const"):
                        keep.append({k: v})
                    else:
                        self.unsupported(k, ptr, "conflicting values of this keyword under allOf/$ref")
            if keep:
                s["__also__"] = keep
        if self._types(s) == {"string"} and any(k in s for k in ("anyOf", "oneOf", "not", "__not__", "__xof__", "if")):
            # a string-only schema: its boolean structure is computed exactly on automata
            e = self._string_restrict(s, ptr)
            if e is not None:
                from .errors import RegexError

                try:
                    lx = self.L.string_expr(e)
                    return NOTHING if lx.dfa.is_empty() else Lex(lx)
                except RegexError as err:
                    raise UnsupportedSchemaError("pattern", ptr, str(err)) from err
        s = self._lower(s, ptr)
        if s is False:
            return NOTHING
        xofs = []
        for k in ("anyOf", "oneOf"):
            if k in s:
                xofs.append((k, s.pop(k)))
        xofs.extend(s.pop("__xof__", []))
        if xofs:
            return self.combinators(s, xofs, ptr)
        return self.plain(s, ptr)

    def _lower(self, s: dict, ptr: str) -> Any:
        """Rewrite ``if``/``then``/``else``, ``dependentSchemas`` (and schema-valued
        ``dependencies``) and the ``not`` forms :meth:`plain` cannot take into ``anyOf``
        entries over complements (see :meth:`complement`)."""
        xof: list = []
        if ("enum" in s or "const" in s) and not s.get("__also__"):
            s = self._filter_enum_by_applicators(s)
        ites = list(s.pop("__ite__", []))
        while ites:
            # further if/then/else triples merged in from allOf/$ref
            i_, t_, e_ = ites.pop()
            sub_s = self._lower({"if": i_, "then": t_, "else": e_}, ptr)
            if sub_s is False:
                return False
            xof.extend(sub_s.get("__xof__", []))
        if "if" in s:
            cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
            if not (then in (True, {}) and els in (True, {})):
                ccond = self.complement(cond, f"{ptr}/if")
                if ccond is None:
                    self.unsupported("if", ptr, "the negation of the `if` schema is not computable")
                elif _has_unevaluated(s) and _find_keywords(ccond, _EVALUATING):
                    # a failed `if` gives no annotations, but its complement's would count as evaluated
                    raise UnsupportedSchemaError(_unevaluated_keyword(s), ptr, "together with 'if' (else branch)")
                else:
                    xof.append(("anyOf", [{"allOf": [cond, then]}, {"allOf": [ccond, els]}]))
        else:
            s.pop("then", None)
            s.pop("else", None)
        dschemas = dict(s.pop("dependentSchemas", None) or {})
        deps = s.get("dependencies")
        if isinstance(deps, dict) and not all(isinstance(x, list) for x in deps.values()):
            s.pop("dependencies")
            dr = {k: v for k, v in deps.items() if isinstance(v, list)}
            dschemas.update({k: v for k, v in deps.items() if not isinstance(v, list)})
            if dr:
                s["dependencies"] = dr
        if dschemas:
            only_objects = self._types(s) == {"object"}
            for k, v in dschemas.items():
                if v is True or v == {}:
                    continue
                absent = {"not": {"required": [k]}}
                if only_objects:
                    xof.append(("anyOf", [absent, v]))
                else:
                    xof.append(("anyOf", [{"type": [t for t in _ALL_TYPES if t != "object"]},
                                          dict(absent, type="object"), v]))
        nots = ([s.pop("not")] if "not" in s else []) + list(s.pop("__not__", []))
        keep = []
        for i, n in enumerate(nots):
            if self._simple_not(n, s, f"{ptr}/not"):
                keep.append(n)
                continue
            c = self.complement(n, f"{ptr}/not")
            if c is None:
                keep.append(n)  # plain() reports it
            elif _has_unevaluated(s) and c is not True and _find_keywords(c, _EVALUATING):
                # `not` never contributes annotations, but its complement's would count as evaluated
                raise UnsupportedSchemaError(_unevaluated_keyword(s), ptr, "together with 'not'")
            elif c is False:
                return False
            elif c is not True:
                xof.append(("anyOf", c["anyOf"] if isinstance(c, dict) and set(c) == {"anyOf"} else [c]))
        if keep:
            s["__not__"] = keep
        if xof:
            s["__xof__"] = list(s.get("__xof__", [])) + xof
        return s

    _STRING_NEUTRAL = {
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "properties", "required",
        "additionalProperties", "patternProperties", "propertyNames", "minProperties", "maxProperties",
        "dependentRequired", "dependentSchemas", "dependencies", "items", "prefixItems", "additionalItems",
        "contains", "minContains", "maxContains", "minItems", "maxItems", "uniqueItems", "unevaluatedItems",
        "unevaluatedProperties", "nullable"}

    def _string_restrict(self, schema: Any, ptr: str, depth: int = 0):
        """The string content expression of the strings valid under ``schema`` (keywords of
        other types hold vacuously for strings), or None. `format` gives up (see complement)."""
        from .json_lexemes import ANY_STRING, string_spec

        if depth > 12:
            return None
        if schema is True:
            return ANY_STRING
        if schema is False:
            return ("or", [])
        if not isinstance(schema, dict):
            return None
        s = self.normalize(schema, ptr)
        if s is True or s is False:
            return self._string_restrict(s, ptr, depth + 1)
        parts = []
        spec_keys = {}
        for k, v in s.items():
            if k in ANNOTATIONS or k.startswith("x-") or k in self._STRING_NEUTRAL:
                continue
            if k == "type":
                if "string" not in self._types(s):
                    return ("or", [])
            elif k in ("pattern", "minLength", "maxLength", "__patterns__"):
                spec_keys[k] = v
            elif k in ("enum", "const"):
                vals = v if k == "enum" else [v]
                if not isinstance(vals, list):
                    return None
                parts.append(("or", [("lit", x) for x in dict.fromkeys(x for x in vals if isinstance(x, str))]))
            elif k in ("anyOf", "oneOf", "__xof__"):
                groups = v if k == "__xof__" else [(k, v)]
                for kind, branches in groups:
                    if not isinstance(branches, list):
                        return None
                    es = [self._string_restrict(b, f"{ptr}/{kind}/{i}", depth + 1) for i, b in enumerate(branches)]
                    if any(e is None for e in es):
                        return None
                    if kind == "anyOf":
                        parts.append(("or", es))
                    else:
                        parts.append(("or", [("minus", e, ("or", [x for j, x in enumerate(es) if j != i]))
                                             for i, e in enumerate(es)]))
            elif k in ("not", "__not__"):
                for n in (v if k == "__not__" else [v]):
                    e = self._string_restrict(n, f"{ptr}/not", depth + 1)
                    if e is None:
                        return None
                    parts.append(("minus", ANY_STRING, e))
            elif k == "if":
                ci = self._string_restrict(v, f"{ptr}/if", depth + 1)
                ct = self._string_restrict(s.get("then", True), f"{ptr}/then", depth + 1)
                ce = self._string_restrict(s.get("else", True), f"{ptr}/else", depth + 1)
                if ci is None or ct is None or ce is None:
                    return None
                parts.append(("or", [("and", [ci, ct]), ("minus", ce, ci)]))
            elif k in ("then", "else"):
                continue
            else:
                return None  # format, internal keywords, unknown validation keywords
        if spec_keys or not parts:
            pats = ([spec_keys["pattern"]] if "pattern" in spec_keys else []) + list(spec_keys.get("__patterns__", []))
            parts.append(string_spec(tuple(pats), (), spec_keys.get("minLength", 0), spec_keys.get("maxLength")))
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _filter_enum_by_applicators(self, s: dict) -> dict:
        """An enum/const schema with `not`, `if`, `dependentSchemas`, `anyOf`/`oneOf`: keep the
        values jsonschema accepts under those keywords (exact: the values are finite)."""
        keys = [k for k in ("not", "if", "then", "else", "dependentSchemas", "dependencies", "anyOf", "oneOf") if k in s]
        extra = list(s.get("__not__", [])), list(s.get("__xof__", []))
        if not keys and not extra[0] and not extra[1]:
            return s
        checks = {k: s[k] for k in keys}
        parts = [checks] + [{"not": n} for n in extra[0]] + [{kind: br} for kind, br in extra[1]]
        if _has_internal(parts):
            return s
        vals = [s["const"]] if "const" in s else list(s["enum"])
        if "const" in s and "enum" in s:
            ev = {_canon(x) for x in s["enum"]}
            vals = [v for v in vals if _canon(v) in ev]
        try:
            validators = [self._validator(p) for p in parts]
            vals = [v for v in vals if all(va.is_valid(v) for va in validators)]
        except Exception:
            return s
        out = {k: v for k, v in s.items() if k not in keys and k not in ("const", "__not__", "__xof__")}
        out["enum"] = vals
        return out

    def _simple_not(self, n: Any, s: dict, ptr: str) -> bool:
        """Whether :meth:`plain` handles ``not: n`` directly (presence, types, string values)."""
        f = self.presence_formula(n, ptr)
        if f is not None and not _has_object_only(f):
            return True
        lenient, self.lenient = self.lenient, False
        try:
            self._apply_not(n, set(self._types(s)), [], [], s, ptr)
            return True
        except UnsupportedSchemaError:
            return False
        finally:
            self.lenient = lenient

    def combinators(self, rest: dict, xofs: list, ptr: str) -> Expr:
        kind, branches = xofs[0]
        if not isinstance(branches, list) or not branches:
            raise SchemaError(f"{kind} at {ptr} must be a non-empty array")
        for i, b in enumerate(branches):
            if _has_unevaluated(b) and set(rest) - ANNOTATIONS:
                raise UnsupportedSchemaError("unevaluatedProperties", f"{ptr}/{kind}/{i}",
                                             "unevaluated* inside a branch cannot see its siblings")
        subs = [self.presence_formula(b, f"{ptr}/{kind}/{i}") for i, b in enumerate(branches)]
        if all(x is not None for x in subs) and not any(_has_object_only(x) for x in subs):
            # branches that only speak of which properties are present: enforce in the object
            rest = dict(rest)
            rest.setdefault("__presence__", []).append(("or" if kind == "anyOf" else "one", tuple(subs)))
            if xofs[1:]:
                return self.combinators(rest, xofs[1:], ptr)
            return self.plain(rest, ptr)
        bptr = f"{ptr}/{kind}"
        normed = []
        for i, b in enumerate(branches):
            nb = self.normalize(b, f"{bptr}/{i}") if isinstance(b, dict) else b
            merged = self.merge(rest, nb, f"{bptr}/{i}") if rest else nb
            if xofs[1:]:
                merged = dict(merged) if isinstance(merged, dict) else merged
                if isinstance(merged, dict):
                    merged.setdefault("__xof__", []).extend(xofs[1:])
            normed.append(merged)
        if kind == "oneOf" and len(normed) > 1:
            exact = self._one_of_strings(normed, bptr)
            if exact is not None:
                return exact
        if kind == "oneOf" and len(normed) > 1 and not self._disjoint(normed):
            exact = self._one_of_by_complements(branches, normed, bptr)
            if exact is not None:
                normed = exact
            elif not self.lenient:
                raise UnsupportedSchemaError("oneOf", ptr, "branches are not provably disjoint (lenient=True treats oneOf as anyOf)")
            else:
                warnings.warn(f"oneOf at {ptr} treated as anyOf (lenient)", SchemaWarning, stacklevel=3)
        exprs = []
        for i, b in enumerate(normed):
            if b is False:
                continue
            if b is True or b == {}:
                exprs.append(self.any_value())
            else:
                exprs.append(self.node(b, f"{bptr}/{i}"))
        return alt(*exprs) if exprs else NOTHING

    def _one_of_by_complements(self, branches: list, normed: list, ptr: str) -> list | None:
        """Exact oneOf: branch i conjoined with the complement of every branch j that is not
        provably disjoint from it; None when a needed complement is not computable."""
        n = len(normed)
        out = []
        for i in range(n):
            if normed[i] is False:
                out.append(False)
                continue
            vals = self._enum_filtered({k: v for k, v in normed[i].items() if not k.startswith("__")}) \
                if isinstance(normed[i], dict) and ("enum" in normed[i] or "const" in normed[i]) \
                and not normed[i].get("__also__") else None
            if vals is not None:
                # finite branch: keep the values no other branch accepts (checked by jsonschema)
                try:
                    others = [self._validator(b if isinstance(b, (dict, bool)) else {}) for j, b in enumerate(branches) if j != i]
                    kept = [v for v in vals if not any(o.is_valid(v) for o in others)]
                except Exception:
                    kept = None
                if kept is not None:
                    # the other keywords (and internal ones) stay: they filter the values again
                    rest_i = {k: v for k, v in normed[i].items() if k not in ("enum", "const")}
                    out.append(dict(rest_i, enum=kept) if kept else False)
                    continue
            conj = []
            keys = self._closed_keys(normed[i])
            for j in range(n):
                if j == i or normed[j] is False or self._disjoint2(normed[i], normed[j]):
                    continue
                c = self.complement(branches[j], f"{ptr}/{j}", keys=keys)
                if c is None:
                    return None
                if c is False:
                    conj = None
                    break
                if c is not True:
                    conj.append(c)
            if conj is None:
                out.append(False)
            elif conj:
                out.append(self.merge(normed[i], {"allOf": conj}, f"{ptr}/{i}"))
            else:
                out.append(normed[i])
        return out

    def _closed_keys(self, s: Any) -> set | None:
        """The only property names an object valid under ``s`` can have, or None."""
        if not isinstance(s, dict) or s.get("patternProperties"):
            return None
        addl = s.get("additionalProperties", s.get("unevaluatedProperties"))
        if addl is False:
            return set(s.get("properties") or {})
        if addl is None and self.strict:  # strict: the required names count as declared
            req = s.get("required")
            return set(s.get("properties") or {}) | (set(req) if isinstance(req, list) else set())
        return None

    def presence_formula(self, schema: Any, ptr: str, depth: int = 0):
        """The presence formula equivalent to ``schema``, or None if it says more than that."""
        if depth > 8:
            return None
        if schema is True or schema == {}:
            return ("and", ())
        if not isinstance(schema, dict):
            return None
        n = self.normalize(schema, ptr)
        if not isinstance(n, dict):
            return ("and", ()) if n is True else None
        parts = []
        for k, v in n.items():
            if k in ANNOTATIONS:
                continue
            if k == "type" and v == "object":
                continue  # only objects reach the object automaton; other types handled by caller
            if k == "required" and isinstance(v, list):
                parts.append(("req", frozenset(v)))
            elif k in ("anyOf", "oneOf") and isinstance(v, list) and v:
                subs = [self.presence_formula(b, f"{ptr}/{k}/{i}", depth + 1) for i, b in enumerate(v)]
                if any(x is None for x in subs):
                    return None
                parts.append(("or" if k == "anyOf" else "one", tuple(subs)))
            elif k == "__xof__":
                for kind, branches in v:
                    subs = [self.presence_formula(b, f"{ptr}/{kind}", depth + 1) for b in branches]
                    if any(x is None for x in subs):
                        return None
                    parts.append(("or" if kind == "anyOf" else "one", tuple(subs)))
            elif k in ("not", "__not__"):
                for x in (v if k == "__not__" else [v]):
                    sub = self.presence_formula(x, f"{ptr}/not", depth + 1)
                    if sub is None:
                        return None
                    parts.append(("not", sub))
            else:
                return None
        if any(k == "type" for k in n) and n.get("type") == "object":
            parts.append(("object-only", ()))
        return ("and", tuple(parts))

    def string_content_expr(self, s: Any, ptr: str):
        """The content expression of a schema that only admits strings, else None."""
        if not isinstance(s, dict):
            return None
        allowed = {"type", "pattern", "__patterns__", "format", "minLength", "maxLength", "enum", "const"}
        if set(s) - ANNOTATIONS - allowed:
            return None
        from . import formats
        from .json_lexemes import string_spec

        if "enum" in s or "const" in s:
            vals = s["enum"] if "enum" in s else [s["const"]]
            if "enum" in s and "const" in s:
                vals = [v for v in vals if _canon(v) == _canon(s["const"])]
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                return None
            if "type" in s and "string" not in self._types(s):
                return ("or", [])  # the values are strings, the type is not
            rest = {k: v for k, v in s.items() if k in allowed - {"enum", "const", "type"}}
            if rest:
                validator = self._validator(dict(rest, type="string"))
                vals = [v for v in vals if validator.is_valid(v)]
            return ("or", [("lit", v) for v in dict.fromkeys(vals)])
        if s.get("type") != "string":
            return None
        fmt = s.get("format")
        parts: list = [(None, None)]
        if fmt is not None:
            fp = formats.format_parts(fmt)
            if fp is None:
                warnings.warn(f"unknown format {fmt!r} at {ptr} ignored (format is an annotation)", SchemaWarning, stacklevel=3)
            else:
                parts = fp  # [(regex, length cap)]: hostname's 253, idn-hostname's union
        pats = ([s["pattern"]] if "pattern" in s else []) + list(s.get("__patterns__", []))
        specs = [string_spec(pats, [rx] if rx else [], s.get("minLength", 0), formats.capped(s.get("maxLength"), cap))
                 for rx, cap in parts]
        return specs[0] if len(specs) == 1 else ("or", specs)

    def _one_of_strings(self, branches: list, ptr: str):
        """Exact oneOf when string branches can be combined on automata and the rest are disjoint."""
        strs, others = [], []
        for b in branches:
            e = self.string_content_expr(b, ptr)
            if e is not None:
                strs.append(e)
            elif b is False:
                continue
            else:
                others.append(b)
        if len(strs) < 2 and not (strs and others):
            return None
        for o in others:
            if not isinstance(o, dict) or "string" in self._types(o) and not ("enum" in o or "const" in o):
                return None
            if "enum" in o or "const" in o:
                vals = o["enum"] if "enum" in o else [o["const"]]
                if any(isinstance(v, str) for v in vals):
                    return None
        if len(others) > 1 and not self._disjoint(others):
            return None
        exact = ("or", [("minus", e, ("or", [x for j, x in enumerate(strs) if j != i])) for i, e in enumerate(strs)])
        from .errors import RegexError

        try:
            lx = self.L.string_expr(exact)
            empty = lx.dfa.is_empty()
        except RegexError as err:
            raise UnsupportedSchemaError("pattern", ptr, str(err)) from err
        parts = [] if empty else [Lex(lx)]
        parts += [self.node(o, ptr) for o in others]
        return alt(*parts) if parts else NOTHING

    def _types(self, s: dict) -> set[str]:
        t = s.get("type")
        if t is None:
            return {"null", "boolean", "object", "array", "string", "number"}
        ts = set(t if isinstance(t, list) else [t])
        for x in ts:
            if x not in TYPE_NAMES:
                raise SchemaError(f"unknown type {x!r}")
        return ts

    def _disjoint(self, branches: list) -> bool:
        """True when no JSON value can satisfy two branches (by type or discriminator)."""
        sigs = []
        for b in branches:
            if not isinstance(b, dict):
                return False
            ts = self._types(b)
            if "number" in ts:
                ts = ts | {"integer"}
            if "enum" in b or "const" in b:
                vals = b["enum"] if "enum" in b else [b["const"]]
                ts = {_type_of(v) for v in vals}
            sigs.append(ts)
        if all(not (sigs[i] & sigs[j]) for i in range(len(sigs)) for j in range(i + 1, len(sigs))):
            return True
        # enum/const values pairwise distinct
        if all(isinstance(b, dict) and ("enum" in b or "const" in b) for b in branches):
            seen: set[str] = set()
            for b in branches:
                vals = b["enum"] if "enum" in b else [b["const"]]
                cs = {_canon(v) for v in vals}
                if cs & seen:
                    return False
                seen |= cs
            return True
        # a discriminator: a property required by all branches with pairwise distinct const/enum
        common = None
        for b in branches:
            req = set(b.get("required", [])) if isinstance(b.get("required", []), list) else set()
            common = req if common is None else common & req
        for key in sorted(common or ()):
            seen = set()
            ok = True
            for b in branches:
                p = b.get("properties", {}).get(key)
                p = self.normalize(p, "#") if isinstance(p, dict) else p
                if not isinstance(p, dict) or not ("enum" in p or "const" in p):
                    ok = False
                    break
                vals = p["enum"] if "enum" in p else [p["const"]]
                cs = {_canon(v) for v in vals}
                if cs & seen:
                    ok = False
                    break
                seen |= cs
            if ok:
                return True
        # branches whose type sets overlap only where one branch forbids the others' values is
        # not decided here
        return False

    # ------------------------------------------------------------------ complement
    # ``complement(s)`` is a schema whose instances are exactly the JSON values that fail
    # ``s`` (for a few keywords a documented subset of them: a number that is not an integer is
    # generated without exponent). Its result is only ever used positively (never complemented
    # again: internal keywords make ``complement`` give up), so a subset stays sound.

    def complement(self, schema: Any, ptr: str, depth: int = 0, keys: set | None = None) -> Any:
        """A schema for ``not schema``, or None where that is not computable.

        ``keys``: when given, the complement need only be right for objects whose property
        names all lie in ``keys`` (the context of a closed object: ``oneOf`` branches)."""
        if depth > 8:
            return None
        if _has_unevaluated(schema) or (isinstance(schema, dict) and _find_keywords(
                schema, ("unevaluatedProperties", "unevaluatedItems"))):
            return None  # annotations inside `not` are dropped: no schema-level complement
        if schema is True:
            return False
        if schema is False:
            return True
        if not isinstance(schema, dict):
            return None
        s = self.normalize(schema, ptr)
        if s is False:
            return True
        if s is True:
            return False
        s = {k: v for k, v in s.items()
             if not (k in ANNOTATIONS or k.startswith("x-") or (k not in VALIDATION_KEYWORDS and not k.startswith("__")))}
        if s.get("nullable") is True and "type" in s:
            t = s["type"]
            s["type"] = list(t) + ["null"] if isinstance(t, list) else [t, "null"]
        s.pop("nullable", None)
        if not s:
            return False
        if s.get("__also__"):
            return None
        if "enum" in s or "const" in s:
            vals = self._enum_filtered(s)
            return None if vals is None else self._complement_values(vals)
        T = self._types(s)
        num_all = "number" in T
        int_only = "integer" in T and not num_all
        numtype = "number" if num_all else "integer"
        pieces: list = []
        outside = [t for t in _ALL_TYPES if t not in T and not (t == "number" and int_only)]
        if outside:
            pieces.append({"type": outside})
        if int_only:
            pieces.append({"type": "number", "__num_and__": [_NONINT_REGEX]})
        done = {"type"}
        sub = lambda x, p: self.complement(x, p, depth + 1)  # noqa: E731
        # strings
        # `format` is left out: it is an annotation by default (jsonschema without a format
        # checker), so `not: {format}` may reject every string; dropping it keeps us sound
        skeys = [k for k in ("pattern", "__patterns__", "minLength", "maxLength") if k in s]
        done |= set(skeys) | {"format"}
        if skeys and "string" in T:
            e = self.string_content_expr(dict({k: s[k] for k in skeys}, type="string"), ptr)
            if e is None:
                return None
            pieces.append({"type": "string", "__str_minus__": [e]})
        # numbers
        nkeys = [k for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf") if k in s]
        done |= set(nkeys)
        if nkeys and (num_all or int_only):
            lo, hi, lo_x, hi_x = self._bounds(s, ptr)
            if lo is not None:
                pieces.append({"type": numtype, ("maximum" if lo_x else "exclusiveMaximum"): lo})
            if hi is not None:
                pieces.append({"type": numtype, ("minimum" if hi_x else "exclusiveMinimum"): hi})
            if "multipleOf" in s:
                m = s["multipleOf"]
                if isinstance(m, float) and m.is_integer():
                    m = int(m)
                if isinstance(m, bool) or not isinstance(m, int) or not 0 < m <= 100_000:
                    return None
                if m > 1:
                    pieces.append({"type": "integer", "__num_and__": [["nonmult", m]]})
                if num_all:
                    pieces.append({"type": "number", "__num_and__": [_NONINT_REGEX]})
        # objects
        okeys = [k for k in ("required", "properties", "minProperties", "maxProperties", "dependentRequired",
                             "dependentSchemas", "dependencies", "additionalProperties", "patternProperties",
                             "propertyNames", "unevaluatedProperties") if k in s]
        done |= set(okeys)
        if okeys and "object" in T:
            if s.get("required"):
                pieces.append({"type": "object", "not": {"required": list(s["required"])}})
            for p, ps in (s.get("properties") or {}).items():
                c = sub(ps, f"{ptr}/properties/{_ptr_escape(p)}")
                if c is None:
                    return None
                if c is not False:
                    pieces.append({"type": "object", "required": [p], "properties": {p: c}})
            if "minProperties" in s and int(s["minProperties"]) > 0:
                pieces.append({"type": "object", "maxProperties": int(s["minProperties"]) - 1})
            if "maxProperties" in s:
                pieces.append({"type": "object", "minProperties": int(s["maxProperties"]) + 1})
            deps = dict(s.get("dependentRequired") or {})
            dschemas = dict(s.get("dependentSchemas") or {})
            for k, v in (s.get("dependencies") or {}).items():
                (deps if isinstance(v, list) else dschemas)[k] = v
            for k, v in deps.items():
                if v:
                    pieces.append({"type": "object", "required": [k], "not": {"required": list(v)}})
            for k, v in dschemas.items():
                c = sub(v, f"{ptr}/dependentSchemas/{_ptr_escape(k)}")
                if c is None:
                    return None
                if c is not False:
                    pieces.append({"type": "object", "required": [k], "allOf": [c]})
            addl = s.get("additionalProperties", s.get("unevaluatedProperties", True))
            if addl not in (True, {}) and keys is not None and not s.get("patternProperties") \
                    and "propertyNames" not in s and not ("additionalProperties" in s and "unevaluatedProperties" in s):
                # in a closed context an undeclared property can only be one of `keys`
                c = sub(addl, f"{ptr}/additionalProperties")
                if c is None:
                    return None
                for k in sorted(set(keys) - set(s.get("properties") or {})):
                    if c is not False:
                        pieces.append({"type": "object", "required": [k], "properties": {k: c}})
            else:
                from .json_lexemes import ANY_STRING, string_spec

                if "additionalProperties" in s and "unevaluatedProperties" in s:
                    return None
                pp = s.get("patternProperties") or {}
                if addl not in (True, {}):
                    # some undeclared property (matching no pattern) with a value failing addl
                    c = sub(addl, f"{ptr}/additionalProperties")
                    if c is None:
                        return None
                    if c is not False:
                        kspec = string_spec((), (), 0, None, tuple(s.get("properties") or {}), tuple(pp))
                        pieces.append({"type": "object", "__some__": [[kspec, c]]})
                for pat, psch in pp.items():
                    c = sub(psch, f"{ptr}/patternProperties/{_ptr_escape(pat)}")
                    if c is None:
                        return None
                    if c is not False:
                        pieces.append({"type": "object", "__some__": [[string_spec((pat,)), c]]})
                names = s.get("propertyNames", True)
                if names not in (True, {}):
                    nn = self.normalize(names, f"{ptr}/propertyNames") if isinstance(names, dict) else names
                    if nn is False:
                        pieces.append({"type": "object", "minProperties": 1})
                    elif isinstance(nn, dict):
                        nn = {k: v for k, v in nn.items() if k not in ANNOTATIONS and k != "format"}
                        if nn.get("type", "string") != "string" and "string" not in (nn.get("type") or []):
                            pieces.append({"type": "object", "minProperties": 1})
                        elif set(nn) - {"type"}:
                            # property names are strings: the string restriction is exact
                            e = self._string_restrict(nn, f"{ptr}/propertyNames")
                            if e is None:
                                return None
                            pieces.append({"type": "object", "__some__": [[("minus", ANY_STRING, e), True]]})
        # arrays
        akeys = [k for k in ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "contains",
                             "minContains", "maxContains", "uniqueItems", "unevaluatedItems", "__contains_also__") if k in s]
        done |= set(akeys)
        if akeys and "array" in T:
            if "prefixItems" in s or isinstance(s.get("items"), list) or s.get("unevaluatedItems") not in (None, True, {}):
                return None
            if s.get("uniqueItems") is True or "maxContains" in s:
                return None
            if "items" in s:
                c = sub(s["items"], f"{ptr}/items")
                if c is None:
                    return None
                if c is not False:
                    pieces.append({"type": "array", "contains": c})
            if "minItems" in s and int(s["minItems"]) > 0:
                pieces.append({"type": "array", "maxItems": int(s["minItems"]) - 1})
            if "maxItems" in s:
                pieces.append({"type": "array", "minItems": int(s["maxItems"]) + 1})
            for ca in s.get("__contains_also__", []):
                c = sub(ca, f"{ptr}/contains")
                if c is None:
                    return None
                pieces.append({"type": "array", "items": c})
            if "contains" in s:
                mc = int(s.get("minContains", 1))
                if mc > 1:
                    return None
                if mc == 1:
                    c = sub(s["contains"], f"{ptr}/contains")
                    if c is None:
                        return None
                    pieces.append({"type": "array", "items": c})
        # applicators
        xofs = [(k, s[k]) for k in ("anyOf", "oneOf") if k in s] + list(s.get("__xof__", []))
        done |= {"anyOf", "oneOf", "__xof__"}
        for kind, branches in xofs:
            if not isinstance(branches, list) or not branches:
                return None
            cs = [sub(b, f"{ptr}/{kind}/{i}") for i, b in enumerate(branches)]
            if any(c is None for c in cs):
                return None
            pieces.append({"allOf": cs})  # none holds
            if kind == "oneOf" and len(branches) > 1:
                normed = [self.normalize(b, f"{ptr}/oneOf/{i}") for i, b in enumerate(branches)]
                for i in range(len(branches)):
                    for j in range(i + 1, len(branches)):
                        if not self._disjoint2(normed[i], normed[j]):
                            pieces.append({"allOf": [branches[i], branches[j]]})  # two hold
        nots = ([s["not"]] if "not" in s else []) + list(s.get("__not__", []))
        done |= {"not", "__not__"}
        pieces += nots
        if "if" in s:
            done |= {"if", "then", "else"}
            cthen = sub(s.get("then", True), f"{ptr}/then")
            celse = sub(s.get("else", True), f"{ptr}/else")
            if cthen is None or celse is None:
                return None
            if cthen is not False:
                pieces.append({"allOf": [s["if"], cthen]})
            if celse is not False:
                cif = sub(s["if"], f"{ptr}/if")
                if cif is None:
                    return None
                pieces.append({"allOf": [cif, celse]})
        done |= {"then", "else"}
        if "uniqueItems" in s and s["uniqueItems"] is not True:
            pass
        if set(s) - done:
            return None  # a keyword (or internal marker) we cannot negate
        pieces = [p for p in pieces if p is not False]
        if any(p is True for p in pieces):
            return True
        if not pieces:
            return False
        return pieces[0] if len(pieces) == 1 else {"anyOf": pieces}

    def _enum_filtered(self, s: dict) -> list | None:
        """The values of an enum/const schema that satisfy its sibling keywords."""
        vals = [s["const"]] if "const" in s else None
        if "enum" in s:
            if not isinstance(s["enum"], list):
                return None
            ev = {_canon(x) for x in s["enum"]}
            vals = list(s["enum"]) if vals is None else [v for v in vals if _canon(v) in ev]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const")}
        if any(k.startswith("__") for k in rest):
            return None
        if len(vals) > MAX_ENUM:
            return None
        if set(rest) - {"type"}:
            try:
                validator = self._validator(rest)
                return [v for v in vals if validator.is_valid(v)]
            except Exception:
                return None
        return [v for v in vals if self._type_ok(v, rest)]

    def _complement_values(self, vals: list) -> Any:
        """A schema for every JSON value except ``vals``."""
        pieces: list = []
        if not any(v is None for v in vals):
            pieces.append({"type": "null"})
        bools = [b for b in (True, False) if not any(v is b for v in vals)]
        if bools:
            pieces.append({"enum": bools})
        strs = [v for v in vals if isinstance(v, str)]
        pieces.append({"type": "string", "not": {"enum": strs}} if strs else {"type": "string"})
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if nums:
            pieces.append({"type": "number", "__num_and__": [_NOEXP_REGEX],
                           "__num_minus__": sorted({_number_literal_regex(v) for v in nums})})
        else:
            pieces.append({"type": "number"})
        for t, py in (("object", dict), ("array", list)):
            if any(isinstance(v, py) for v in vals):
                return None
            pieces.append({"type": t})
        return {"anyOf": pieces}

    def _disjoint2(self, a: Any, b: Any, depth: int = 0) -> bool:
        """True when no JSON value satisfies both normalized schemas (a sound proof, or False)."""
        if a is False or b is False:
            return True
        if not isinstance(a, dict) or not isinstance(b, dict) or depth > 4:
            return False
        try:
            if self._disjoint([a, b]):
                return True
        except ConstraintError:
            return False
        for x, y in ((a, b), (b, a)):
            # y is within the union of each of its anyOf/oneOf lists: disjoint from every branch
            for _, branches in [(k, y[k]) for k in ("anyOf", "oneOf") if k in y] + list(y.get("__xof__", [])):
                if isinstance(branches, list) and all(
                        self._disjoint2(x, self.normalize(br, "#") if isinstance(br, dict) else br, depth + 1)
                        for br in branches):
                    return True
        for x, y in ((a, b), (b, a)):
            if "enum" in x or "const" in x:
                vals = self._enum_filtered(x)
                if vals is None:
                    continue
                try:
                    yv = {k: v for k, v in y.items() if not k.startswith("__")}
                    validator = self._validator(yv)
                    if not any(validator.is_valid(v) for v in vals):
                        return True
                except Exception:
                    pass
        try:
            ta, tb = self._type_set(a), self._type_set(b)
        except ConstraintError:
            return False
        common = ta & tb
        for t in common:
            if t in ("null", "boolean"):
                return False
            if t == "integer" and "number" in common:
                continue  # decided with number
            if not self._disjoint_on(t, a, b, depth):
                return False
        return True

    def _type_set(self, s: Any, depth: int = 0) -> set:
        """A superset of the JSON types of the instances of a normalized schema (number
        implies integer), looking through enum/const and anyOf/oneOf branches."""
        if s is False:
            return set()
        if not isinstance(s, dict):
            return set(_ALL_TYPES) | {"integer"}
        ts = set(self._types(s))
        if s.get("nullable") is True:
            ts.add("null")
        if "number" in ts:
            ts.add("integer")
        if "enum" in s or "const" in s:
            vals = s["enum"] if "enum" in s else [s["const"]]
            if isinstance(vals, list):
                vt = {_type_of(v) for v in vals}
                if "integer" in vt:
                    vt.add("number")
                ts &= vt | ({"integer"} if "number" in vt else set())
        if depth < 6:
            xofs = [(k, s[k]) for k in ("anyOf", "oneOf") if k in s] + list(s.get("__xof__", []))
            for _, branches in xofs:
                if isinstance(branches, list):
                    u: set = set()
                    for i, b in enumerate(branches):
                        nb = self.normalize(b, "#") if isinstance(b, dict) else b
                        u |= self._type_set(nb, depth + 1)
                    ts &= u
        return ts

    def _disjoint_on(self, t: str, a: dict, b: dict, depth: int) -> bool:
        if t in ("number", "integer"):
            try:
                la, ha, lax, hax = self._bounds(a, "#")
                lb, hb, lbx, hbx = self._bounds(b, "#")
            except ConstraintError:
                return False

            def below(hi, hix, lo, lox):  # every value under (hi) is below every value over (lo)
                if hi is None or lo is None:
                    return False
                dh, dl = Decimal(repr(hi)), Decimal(repr(lo))
                return dh < dl or (dh == dl and (hix or lox))

            return below(ha, hax, lb, lbx) or below(hb, hbx, la, lax)
        if t == "string":
            # not `format`: an annotation by default, so two formats need not be disjoint
            ka = {k: v for k, v in a.items() if k in ("pattern", "__patterns__", "minLength", "maxLength")}
            kb = {k: v for k, v in b.items() if k in ("pattern", "__patterns__", "minLength", "maxLength")}
            if not ka and not kb:
                return False
            try:
                ea = self.string_content_expr(dict(ka, type="string"), "#")
                eb = self.string_content_expr(dict(kb, type="string"), "#")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return ea is not None and eb is not None and self.L.string_expr(("and", [ea, eb])).dfa.is_empty()
            except Exception:
                return False
        if t == "array":
            return (int(a.get("minItems", 0)) > b.get("maxItems", math.inf)) or (int(b.get("minItems", 0)) > a.get("maxItems", math.inf))
        if t == "object":
            if (int(a.get("minProperties", 0)) > b.get("maxProperties", math.inf)) or (int(b.get("minProperties", 0)) > a.get("maxProperties", math.inf)):
                return True
            for x, y in ((a, b), (b, a)):
                req = x.get("required", [])
                if not isinstance(req, list):
                    continue
                for p in req:
                    xp = (x.get("properties") or {}).get(p, True)
                    yp = self._property_schema(y, p)
                    if yp is None:
                        continue
                    if yp is False:
                        return True
                    try:
                        nx = self.normalize(xp, "#") if isinstance(xp, dict) else xp
                        ny = self.normalize(yp, "#") if isinstance(yp, dict) else yp
                    except ConstraintError:
                        continue
                    if xp is not True and self._disjoint2(nx, ny, depth + 1):
                        return True
            return False
        return False

    def _property_schema(self, y: dict, p: str) -> Any:
        """The schema ``y`` applies to property ``p`` (None when not simply known)."""
        props = y.get("properties") or {}
        pp = y.get("patternProperties") or {}
        try:
            matching = [pat for pat in pp if regex_to_dfa(pat, encoding="utf8", search=True).matches(p.encode())]
        except ConstraintError:
            return None
        if p in props:
            return None if matching else props[p]
        if matching:
            return pp[matching[0]] if len(matching) == 1 else None
        addl = y.get("additionalProperties", y.get("unevaluatedProperties"))
        if addl is None:
            req = y.get("required")
            return False if self.strict and not (isinstance(req, list) and p in req) else True
        return addl

    # ------------------------------------------------------------------ enum / const

    def _validator(self, schema: dict):
        import jsonschema

        if self._validator_cls is None:
            self._validator_cls = jsonschema.validators.validator_for(
                self.root if isinstance(self.root, dict) else {}, default=jsonschema.Draft202012Validator)
        if isinstance(self.root, dict):
            try:
                if getattr(self, "_root_validator", None) is None:
                    self._root_validator = self._validator_cls(self.root)
                # evolve keeps the resolver of the root, so "#/definitions/..." resolves
                return self._root_validator.evolve(schema=schema)
            except Exception:  # pragma: no cover - older jsonschema
                pass
        try:
            from referencing import Registry, Resource

            resource = Resource.from_contents(self.root if isinstance(self.root, dict) else {},
                                              default_specification=__import__("referencing.jsonschema").jsonschema.DRAFT202012)
            registry = Registry().with_resource("urn:structgen-root", resource)
            return self._validator_cls(schema, registry=registry)
        except Exception:  # pragma: no cover - older jsonschema
            return self._validator_cls(schema)

    def _value_ok(self, v: Any, s: dict, types: set, excluded: list, excluded_patterns: list) -> bool:
        """Whether an enum value passes what `not` and the complements added to ``s``."""
        t = _type_of(v)
        if not (t in types or (t == "integer" and "number" in types)):
            return False
        if isinstance(v, str):
            if v in excluded:
                return False
            for p in excluded_patterns:
                if regex_to_dfa(p, encoding="utf8", search=True).matches(v.encode()):
                    return False
            minus = s.get("__str_minus__", [])
            if minus:
                from .json_lexemes import string_content

                text = json.dumps(v, ensure_ascii=False)[1:-1].encode()
                if string_content(("or", list(minus))).matches(text):
                    return False
        elif t in ("integer", "number"):
            ands, minus = s.get("__num_and__", []), s.get("__num_minus__", [])
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
            vals = ev if vals is None else [v for v in vals if _canon(v) in {_canon(x) for x in ev}]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const") and not k.startswith("__")}
        if s.get("__patterns__"):
            rest["allOf"] = [{"pattern": p} for p in s["__patterns__"]]  # patterns merged from allOf
        if s.get("__contains_also__"):
            rest["allOf"] = list(rest.get("allOf", [])) + [{"contains": c} for c in s["__contains_also__"]]
        for k in ("__xof__", "__not__", "__some__"):
            if s.get(k):
                self.unsupported("enum", ptr, f"enum with internal constraint {k}")
        for extra in s.get("__also__", []):
            for k, v in extra.items():
                if k in ("enum", "const"):
                    allowed = {_canon(x) for x in (v if k == "enum" else [v])}
                    vals = [x for x in vals if _canon(x) in allowed]
        if len(vals) > MAX_ENUM:
            raise UnsupportedSchemaError("enum", ptr, f"more than {MAX_ENUM} values")
        keep = []
        if set(rest) - {"type"}:
            try:
                validator = self._validator(rest)
                keep = [v for v in vals if validator.is_valid(v)]
            except Exception as e:  # a schema jsonschema cannot check: fall back to types only
                keep = [v for v in vals if self._type_ok(v, rest)]
        else:
            keep = [v for v in vals if self._type_ok(v, rest)]
        if value_ok is not None:
            keep = [v for v in keep if value_ok(v)]
        if presence is not None:
            keep = [v for v in keep if _presence_eval(presence, frozenset(v) if isinstance(v, dict) else None)]
        seen: set[str] = set()
        exprs = []
        for v in keep:
            c = _canon(v)
            if c not in seen:
                seen.add(c)
                exprs.append(self.literal_value(v, ptr))
        return alt(*exprs) if exprs else NOTHING

    def _type_ok(self, v: Any, s: dict) -> bool:
        if "type" not in s:
            return True
        ts = self._types(s)
        t = _type_of(v)
        return t in ts or (t == "integer" and "number" in ts)

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
            return Lex(L.regex(_number_literal_regex(v), f"number {v!r}"))
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
        if isinstance(v, dict):
            parts = [Lex(L.punct("{"))]
            for i, (k, x) in enumerate(v.items()):
                if i:
                    parts.append(Lex(L.punct(",")))
                parts += [Lex(L.string_literal(k)), Lex(L.punct(":")), self.literal_value(x, ptr)]
            parts.append(Lex(L.punct("}")))
            return seq(*parts)
        raise SchemaError(f"not a JSON value at {ptr}: {v!r}")

    # ------------------------------------------------------------------ plain schemas

    def plain(self, s: dict, ptr: str) -> Expr:
        for k in list(s):
            if k.startswith("x-") or k in ANNOTATIONS:
                s.pop(k)
        self._check_unevaluated(s, ptr)
        nots = s.pop("__not__", [])
        if "not" in s:
            nots.insert(0, s.pop("not"))
        types = self._types(s)
        excluded_strings: list[str] = []
        excluded_patterns: list[str] = []
        presence = list(s.pop("__presence__", []))
        for i, n in enumerate(nots):
            f = self.presence_formula(n, f"{ptr}/not")
            if f is not None and not _has_object_only(f):
                presence.append(("not", f))
                continue
            types = self._apply_not(n, types, excluded_strings, excluded_patterns, s, f"{ptr}/not")
        for k in ("if", "then", "else"):
            if k in s:
                if k == "if":
                    self.unsupported("if", ptr, "if/then/else is not supported yet")
                s.pop(k)
        for k in ("dependentSchemas", "dependencies", "unevaluatedItems"):
            if k in s:
                v = s.pop(k)
                if k == "dependencies" and isinstance(v, dict) and all(isinstance(x, list) for x in v.values()):
                    s["dependentRequired"] = {**(s.get("dependentRequired") or {}), **v}
                elif v:
                    self.unsupported(k, ptr)
        dep = s.pop("dependentRequired", None) or {}
        if not isinstance(dep, dict):
            raise SchemaError(f"dependentRequired at {ptr} must be an object")
        for k, deps in dep.items():
            presence.append(("or", (("not", ("req", frozenset([k]))), ("req", frozenset([k, *deps])))))
        if presence:
            if not _presence_eval(("and", tuple(presence)), None):
                types &= {"object"}  # `required` holds vacuously for non-objects: the formula fails
            s["__presence__"] = presence
        if "enum" in s or "const" in s:
            expr = self.enum_values(s, ptr, ("and", tuple(presence)) if presence else None,
                                    lambda v: self._value_ok(v, s, types, excluded_strings, excluded_patterns))
            return expr
        if s.get("__also__"):
            for extra in s.pop("__also__"):
                for k in extra:
                    self.unsupported(k, ptr, "conflicting values under allOf")
        branches = []
        if "integer" in types and "number" not in types:
            branches.append(self._num_post(self.integer(s, ptr), s, ptr))
        if "number" in types:
            branches.append(self._num_post(self.number(s, ptr), s, ptr))
        if "string" in types:
            branches.append(self.string(s, ptr, excluded_strings, excluded_patterns))
        if "boolean" in types:
            branches.append(alt(Lex(self.L.literal("true")), Lex(self.L.literal("false"))))
        if "null" in types:
            branches.append(Lex(self.L.literal("null")))
        if "array" in types:
            branches.append(self.array(s, ptr))
        if "object" in types:
            branches.append(self.object(s, ptr))
        return alt(*branches) if branches else NOTHING

    def _apply_not(self, n: Any, types: set[str], excl: list[str], excl_pat: list[str], s: dict, ptr: str) -> set[str]:
        if n is True or n == {}:
            return set()
        if n is False:
            return types
        if not isinstance(n, dict):
            raise SchemaError(f"not at {ptr} must be a schema")
        n = self.normalize(n, ptr)
        if n is False:
            return types
        if n is True:
            return set()
        keys = set(n) - ANNOTATIONS
        if keys == {"type"}:
            nt = set(n["type"] if isinstance(n["type"], list) else [n["type"]])
            out = set(types)
            if "number" in nt:
                out -= {"number", "integer"}
            if "integer" in nt:
                out.discard("integer")
                if "number" in out:
                    self.unsupported("not", ptr, "not integer within number")
            return out - nt
        if keys <= {"enum", "const", "type"} and keys & {"enum", "const"}:
            vals = n.get("enum", []) + ([n["const"]] if "const" in n else [])
            if "type" in n and n["type"] != "string":
                self.unsupported("not", ptr, "not enum of non-string values")
                return types
            out = set(types)
            for v in vals:
                if isinstance(v, str):
                    excl.append(v)
                elif v is None:
                    out.discard("null")
                else:
                    self.unsupported("not", ptr, "not enum/const of a non-string value")
            return out
        if keys <= {"pattern", "type"} and "pattern" in keys and n.get("type", "string") == "string":
            excl_pat.append(n["pattern"])
            # without `type`, every non-string satisfies the pattern, so `not` rejects it
            return types if "type" in n else types & {"string"}
        if keys == {"anyOf"} and isinstance(n["anyOf"], list):
            out = types
            for i, b in enumerate(n["anyOf"]):
                out = self._apply_not(b, out, excl, excl_pat, s, f"{ptr}/anyOf/{i}")
            return out
        self.unsupported("not", ptr, f"not with {sorted(keys)} is not supported")
        return types

    # ------------------------------------------------------------------ scalars

    def _bounds(self, s: dict, ptr: str):
        lo = hi = None
        lo_x = hi_x = False
        if "minimum" in s:
            lo = s["minimum"]
        if "maximum" in s:
            hi = s["maximum"]
        em, eM = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if isinstance(em, bool):
            lo_x = em and lo is not None
        elif em is not None:
            if lo is None or Decimal(repr(em)) >= Decimal(repr(lo)):
                lo, lo_x = em, True
        if isinstance(eM, bool):
            hi_x = eM and hi is not None
        elif eM is not None:
            if hi is None or Decimal(repr(eM)) <= Decimal(repr(hi)):
                hi, hi_x = eM, True
        for v, k in ((lo, "minimum"), (hi, "maximum")):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise SchemaError(f"{k} at {ptr} must be a number")
        return lo, hi, lo_x, hi_x

    def integer(self, s: dict, ptr: str) -> Expr:
        from . import numeric

        lo, hi, lo_x, hi_x = self._bounds(s, ptr)
        ilo = ihi = None
        if lo is not None:
            d = Decimal(repr(lo)) if isinstance(lo, float) else Decimal(lo)
            ilo = int(d) + 1 if (lo_x and d == d.to_integral_value()) else math.ceil(d)
        if hi is not None:
            d = Decimal(repr(hi)) if isinstance(hi, float) else Decimal(hi)
            ihi = int(d) - 1 if (hi_x and d == d.to_integral_value()) else math.floor(d)
        if ilo is not None and ihi is not None and ilo > ihi:
            return NOTHING
        mult = s.get("multipleOf")
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise SchemaError(f"multipleOf at {ptr} must be a positive number")
            if isinstance(mult, float) and mult.is_integer():
                mult = int(mult)
            if mult == 1 or (isinstance(mult, float) and (1 / mult).is_integer()):
                mult = None  # every integer is a multiple of 1, 0.5, 0.25, ...
        if mult is not None:
            try:
                r = numeric.integer_multiple_of_regex(mult, ilo, ihi)
            except ValueError:
                return NOTHING  # no multiple in range
            if r is not None:
                return Lex(self.L.regex(r, f"integer multipleOf {mult}"))
            if isinstance(mult, int) and mult <= 100_000:
                rng = None if ilo is None and ihi is None else numeric.integer_range_regex(ilo, ihi)

                def build(k=mult, rng=rng):
                    d = _multiple_of_dfa(k)
                    return d if rng is None else d.intersect(regex_to_dfa(rng, encoding="utf8"))

                return Lex(self.L._lex("intmult", f"{mult}:{ilo}:{ihi}", build, f"integer multipleOf {mult}"))
            self.unsupported("multipleOf", ptr, f"multipleOf {mult} is not supported")
        if ilo is None and ihi is None:
            return Lex(self.L.integer())
        return Lex(self.L.regex(numeric.integer_range_regex(ilo, ihi), f"integer [{ilo}, {ihi}]"))

    def number(self, s: dict, ptr: str) -> Expr:
        from . import numeric

        lo, hi, lo_x, hi_x = self._bounds(s, ptr)
        mult = s.get("multipleOf")
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise SchemaError(f"multipleOf at {ptr} must be a positive number")
            if (isinstance(mult, int) or float(mult).is_integer()) and "integer":
                sub = dict(s, type="integer")
                return self.integer(sub, ptr)
            try:
                r = numeric.number_multiple_of_regex(mult, lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)
            except ValueError:
                return NOTHING
            if r is None:
                self.unsupported("multipleOf", ptr, f"multipleOf {mult} on numbers is not supported yet")
            else:
                return Lex(self.L.regex(r, f"number multipleOf {mult}"))
        if lo is None and hi is None:
            return Lex(self.L.number())
        try:
            r = numeric.number_range_regex(lo, hi, lo_exclusive=lo_x, hi_exclusive=hi_x)
        except ValueError:
            return NOTHING
        return Lex(self.L.regex(r, f"number range {lo}..{hi}"))

    def _num_post(self, e: Expr, s: dict, ptr: str) -> Expr:
        """Apply the internal number restrictions of complements (``__num_and__``: regexes or
        ``["nonmult", k]`` the number must match, ``__num_minus__``: regexes it must not)."""
        ands, minus = s.get("__num_and__", []), s.get("__num_minus__", [])
        if not ands and not minus or e is NOTHING:
            return e
        if not isinstance(e, Lex):
            self.unsupported("not", ptr, "negated number constraint")
            return e
        L = self.L
        base = e.lexeme

        def part(r):
            if isinstance(r, (list, tuple)):
                k = int(r[1])

                def build(k=k):
                    return _multiple_of_dfa(k, negate=True)

                return L._lex("intnonmult", str(k), build, f"integer not multipleOf {k}").dfa
            return L.regex(r).dfa

        def build_all():
            d = base.dfa
            for r in ands:
                d = d.intersect(part(r))
            for r in minus:
                d = d.difference(part(r))
            return d

        key = base.key + "|" + json.dumps([ands, minus])
        from .grammar import lexeme

        lx = lexeme(key, build_all, f"{base.name} restricted")
        return NOTHING if lx.dfa.is_empty() else Lex(lx)

    def string(self, s: dict, ptr: str, excluded: list[str] = (), excluded_patterns: list[str] = ()) -> Expr:
        from . import formats

        patterns = []
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise SchemaError(f"pattern at {ptr} must be a string")
            patterns.append(s["pattern"])
        patterns += s.get("__patterns__", [])
        parts: list = [(None, None)]
        fmt = s.get("format")
        if fmt is not None:
            fp = formats.format_parts(fmt)
            if fp is None:
                warnings.warn(f"unknown format {fmt!r} at {ptr} ignored (format is an annotation)", SchemaWarning, stacklevel=3)
            else:
                parts = fp  # [(regex, length cap)]: hostname's 253, idn-hostname's union
        if len(parts) > 1:
            # a union of capped languages: one string lexeme per part
            subs = [self._string_part(s, ptr, excluded, excluded_patterns, patterns, rx, cap) for rx, cap in parts]
            subs = [e for e in subs if e is not NOTHING]
            return alt(*subs) if subs else NOTHING
        return self._string_part(s, ptr, excluded, excluded_patterns, patterns, *parts[0])

    def _string_part(self, s: dict, ptr: str, excluded, excluded_patterns, patterns: list, fmt_rx, fmt_cap) -> Expr:
        from . import formats

        full = [fmt_rx] if fmt_rx else []
        lo = s.get("minLength", 0)
        hi = s.get("maxLength")
        for k, v in (("minLength", lo), ("maxLength", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise SchemaError(f"{k} at {ptr} must be a non-negative integer")
        lo = int(lo)
        hi = formats.capped(None if hi is None else int(hi), fmt_cap)
        if hi is not None and lo > hi:
            return NOTHING
        from .errors import RegexError

        try:
            minus = s.get("__str_minus__", [])
            if minus:
                from .json_lexemes import string_spec

                base = string_spec(tuple(patterns), tuple(full), lo, hi, tuple(excluded), tuple(excluded_patterns))
                lx = self.L.string_expr(("minus", base, ("or", list(minus))))
            else:
                lx = self.L.string(tuple(patterns), tuple(full), lo, hi, tuple(excluded), tuple(excluded_patterns))
            lx.dfa  # build now so errors point at the schema
        except RegexError as e:
            raise UnsupportedSchemaError("pattern", ptr, str(e)) from e
        except CompileBudgetError as e:
            raise e.locate("pattern" if patterns else "format" if fmt_rx else "maxLength" if hi is not None
                           else "minLength", ptr)
        if lx.dfa.is_empty():
            return NOTHING
        return Lex(lx)

    # ------------------------------------------------------------------ arrays

    def sub(self, schema: Any, ptr: str) -> Expr:
        """A subschema as a rule reference (inlined later when small)."""
        if schema is True or schema == {}:
            return self.any_value()
        if schema is False:
            return NOTHING
        # one rule per schema object: a subschema means the same wherever it is reached, and
        # recursion through merged ($ref + siblings) schemas reaches the same objects again
        name = self._sub_names.get(id(schema))
        if name is None:
            # a different schema object may already own this pointer's name (merged or
            # complement-made schemas): never let two languages share one rule
            name, k = "at:" + ptr, 1
            while name in self.rules:
                name, k = f"at:{ptr}#{k}", k + 1
            self._sub_names[id(schema)] = name
            self._keep.append(schema)
        return self.rule(name, lambda: self.value(schema, ptr), ptr)

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
            c = _canon(v)
            if c not in seen:
                seen.add(c)
                out.append(v)
        return out

    def _unique_finite(self, item: Any, lo: int, hi: int | None, ptr: str) -> Expr | None:
        """``uniqueItems`` over a finite item domain: the automaton tracks the set of values used."""
        vals = self._finite_domain(item, ptr)
        if vals is None:
            return None
        n = len(vals)
        top = n if hi is None else min(hi, n)
        if lo > top:
            return NOTHING
        # reachable subsets of at most `top` values, capped
        from math import comb

        if sum(comb(n, k) for k in range(top + 1)) > MAX_COUNT_STATES:
            return None
        L = self.L
        lits = [self.literal_value(v, ptr) for v in vals]
        comma = Lex(L.punct(","))
        index: dict[int, int] = {0: 0}
        order = [0]
        edges = []
        for m in order:
            if bin(m).count("1") >= top:
                continue
            for i in range(n):
                if m >> i & 1:
                    continue
                nm = m | 1 << i
                if nm not in index:
                    index[nm] = len(order)
                    order.append(nm)
                edges.append((index[m], index[nm], seq(comma, lits[i]) if m else lits[i]))
        finals = frozenset(index[m] for m in order if lo <= bin(m).count("1") <= top)
        body = Nfa(len(order), 0, finals, tuple(edges))
        return seq(Lex(L.punct("[")), body, Lex(L.punct("]")))

    def _check_unevaluated(self, s: dict, ptr: str) -> None:
        """unevaluated* is exact here only where no in-place applicator can add annotations.

        With the applicators folded in (allOf, $ref), what remains are keywords whose
        annotations depend on which branch or condition held (not, if, anyOf/oneOf,
        dependentSchemas, contains): there unevaluated* is not supported.
        """
        dynamic = [k for k in ("not", "__not__", "if", "anyOf", "oneOf", "__xof__", "dependentSchemas",
                               "dependencies", "__presence__") if s.get(k)]
        if s.get("unevaluatedProperties") not in (None, True, {}) and dynamic:
            raise UnsupportedSchemaError("unevaluatedProperties", ptr, f"together with {dynamic[0]!r}")
        ue = s.get("unevaluatedItems")
        if ue not in (None, True, {}):
            if dynamic or "contains" in s or "__contains_also__" in s:
                raise UnsupportedSchemaError("unevaluatedItems", ptr, f"together with {(dynamic or ['contains'])[0]!r}")
            # every item not covered by prefixItems/items is unevaluated: it must match `ue`
            s.pop("unevaluatedItems")
            if isinstance(s.get("items"), list):
                s.setdefault("additionalItems", ue)
            elif "items" not in s:
                s["items"] = ue

    def array(self, s: dict, ptr: str) -> Expr:
        L = self.L
        if "prefixItems" in s:
            prefix = s["prefixItems"]
            rest = s.get("items", True)
            prefix_ptr, rest_ptr = f"{ptr}/prefixItems", f"{ptr}/items"
        elif isinstance(s.get("items"), list):
            prefix = s["items"]
            rest = s.get("additionalItems", True)
            prefix_ptr, rest_ptr = f"{ptr}/items", f"{ptr}/additionalItems"
        else:
            prefix = []
            rest = s.get("items", True)
            prefix_ptr, rest_ptr = f"{ptr}/items", f"{ptr}/items"
        lo = int(s.get("minItems", 0))
        hi = s.get("maxItems")
        hi = None if hi is None else int(hi)
        if s.get("uniqueItems") is True and (hi is None or hi > 1):
            if hi is not None and lo > hi:
                return NOTHING
            if not prefix and "contains" not in s:
                exact = self._unique_finite(rest, lo, hi, rest_ptr)
                if exact is not None:
                    return exact
            self.unsupported("uniqueItems", ptr, "uniqueness of array items is not regular (only over a small finite item domain)")
        if hi is not None and lo > hi:
            return NOTHING
        if rest is False or (isinstance(rest, dict) and self.normalize(rest, rest_ptr) is False):
            hi = len(prefix) if hi is None else min(hi, len(prefix))
            if lo > hi:
                return NOTHING
        contains = s.get("contains")
        min_c = int(s.get("minContains", 1)) if contains is not None else 0
        max_c = None
        if contains is not None and "maxContains" in s:
            max_c = int(s["maxContains"])
            if min_c > max_c:
                return NOTHING
            ncont = self.complement(contains, f"{ptr}/contains")
            if ncont is None:
                self.unsupported("maxContains", ptr, "the negation of `contains` is not computable")
                max_c = None
        if max_c is not None:
            # exact counting: an item either matches `contains` (counted) or its complement
            item_exprs = [self.sub({"allOf": [p, ncont]}, f"{prefix_ptr}/{i}-contains") for i, p in enumerate(prefix)]
            rest_expr = self.sub({"allOf": [rest, ncont]}, f"{rest_ptr}-contains") if rest is not False else NOTHING
        else:
            item_exprs = [self.sub(p, f"{prefix_ptr}/{i}") for i, p in enumerate(prefix)]
            rest_expr = self.sub(rest, rest_ptr) if rest is not False else NOTHING
        cont_exprs = []
        if contains is not None and (min_c > 0 or max_c):
            for i, p in enumerate(prefix):
                cont_exprs.append(self.sub({"allOf": [p, contains]}, f"{prefix_ptr}/{i}+contains"))
            cont_rest = self.sub({"allOf": [rest, contains]} if rest is not True else contains, f"{rest_ptr}+contains")
        # positions 0..B, then a loop at B when unbounded
        # the loop state must sit after the first item, so that every looped item has a comma
        B = max(len(prefix), lo, 1) if hi is None else hi
        if B > MAX_COUNT_STATES:
            if hi is not None and lo <= len(prefix) + 1:
                B = max(len(prefix), lo)
                # bounded but large: fall back to a counted repeat of the rest item
            raise UnsupportedSchemaError("maxItems" if hi is not None else "minItems", ptr, f"item count bound {B} too large")
        C = min_c if max_c is None else max_c
        also = list(s.get("__contains_also__", []))
        if len(also) > 3:
            raise UnsupportedSchemaError("contains", ptr, "too many `contains` on one array")
        KF = 1 << len(also)
        n_states = (B + 1) * (C + 1) * KF
        sid = lambda i, c, f=0: (i * (C + 1) + c) * KF + f  # noqa: E731
        comma = Lex(L.punct(","))
        edges = []
        wcache: dict = {}

        def witness(k: int, counted: bool, m: int) -> Expr:
            """An item at position k (k == len(prefix): a rest item) that also meets the extra
            `contains` schemas in mask m."""
            key = (k, counted, m)
            if key not in wcache:
                base = prefix[k] if k < len(prefix) else rest
                if base is False:
                    wcache[key] = NOTHING
                    return NOTHING
                parts = [base]
                if counted:
                    parts.append(contains)
                elif max_c is not None:
                    parts.append(ncont)
                parts += [also[b] for b in range(len(also)) if m >> b & 1]
                wcache[key] = self.sub({"allOf": parts}, f"{ptr}/contains+{k}.{int(counted)}.{m}")
            return wcache[key]
        for i in range(B + 1):
            for c in range(C + 1):
                def item_at(k):
                    return item_exprs[k] if k < len(prefix) else rest_expr

                def cont_at(k):
                    return cont_exprs[k] if k < len(prefix) else cont_rest

                targets = []
                if i < B:
                    targets.append((i + 1, item_at(i), cont_at(i) if C else None))
                elif hi is None:
                    targets.append((i, rest_expr, cont_rest if C else None))
                kpos = i if i < len(prefix) else len(prefix)
                for ni, ex, cex in targets:
                    sep = comma if i > 0 else None
                    can_count = C and cex is not None and (max_c is None or c < C)
                    for f in range(KF):
                        edges.append((sid(i, c, f), sid(ni, c, f), seq(sep, ex) if sep else ex))
                        if can_count:
                            edges.append((sid(i, c, f), sid(ni, min(c + 1, C), f), seq(sep, cex) if sep else cex))
                        for m in range(1, KF):
                            w = witness(kpos, False, m)
                            edges.append((sid(i, c, f), sid(ni, c, f | m), seq(sep, w) if sep else w))
                            if can_count:
                                w = witness(kpos, True, m)
                                edges.append((sid(i, c, f), sid(ni, min(c + 1, C), f | m), seq(sep, w) if sep else w))
        finals = frozenset(sid(i, c, KF - 1) for i in range(lo, B + 1)
                           for c in range(min_c if max_c is not None else C, C + 1))
        body = Nfa(n_states, 0, finals, tuple(edges))
        return seq(Lex(L.punct("[")), body, Lex(L.punct("]")))

    # ------------------------------------------------------------------ objects

    def object(self, s: dict, ptr: str) -> Expr:
        L = self.L
        props = s.get("properties", {}) or {}
        if not isinstance(props, dict):
            raise SchemaError(f"properties at {ptr} must be an object")
        required = s.get("required", [])
        if isinstance(required, bool) or not isinstance(required, list):
            if isinstance(required, bool):
                required = []
            else:
                raise SchemaError(f"required at {ptr} must be an array")
        required = list(dict.fromkeys(required))
        addl = s.get("additionalProperties", s.get("unevaluatedProperties"))
        # strict mode closes objects, but a name the schema itself requires counts as declared
        # (with any value): otherwise ``required: ["x"]`` without ``properties.x`` is unsatisfiable
        strict_closed = addl is None and self.strict
        if addl is None:
            addl = False if self.strict else True
        undeclared_sub = True if strict_closed else addl
        pattern_props = s.get("patternProperties", {}) or {}
        names = s.get("propertyNames")
        name_patterns: list[str] = []
        name_full: list[str] = []
        name_min, name_max = 0, None
        name_enum = None
        if names is not None and names is not True and names != {}:
            nn = self.normalize(names, f"{ptr}/propertyNames")
            if nn is False:
                addl = False
                props = {}
            elif isinstance(nn, dict):
                for k, v in nn.items():
                    if k in ANNOTATIONS or k == "type":
                        continue
                    if k == "pattern":
                        name_patterns.append(v)
                    elif k == "__patterns__":
                        name_patterns += v
                    elif k == "minLength":
                        name_min = int(v)
                    elif k == "maxLength":
                        name_max = int(v) if name_max is None else min(name_max, int(v))
                    elif k == "format":
                        from . import formats

                        fp = formats.format_parts(v)
                        if fp is not None:
                            # the first part only for a union (idn-hostname: its ASCII names), a narrowing
                            name_full.append(fp[0][0])
                            name_max = formats.capped(name_max, fp[0][1])
                    elif k in ("enum", "const"):
                        name_enum = [x for x in (v if k == "enum" else [v]) if isinstance(x, str)]
                    else:
                        self.unsupported("propertyNames", f"{ptr}/propertyNames", f"keyword {k!r}")
        # declared properties that propertyNames forbids cannot appear
        import re as _re

        def name_ok(n: str) -> bool:
            if name_enum is not None and n not in name_enum:
                return False
            if not (name_min <= len(n) and (name_max is None or len(n) <= name_max)):
                return False
            for p in name_patterns:
                from .regex import regex_to_dfa

                if not regex_to_dfa(p, encoding="utf8", search=True).matches(n.encode()):
                    return False
            for p in name_full:
                from .regex import regex_to_dfa

                if not regex_to_dfa(p, encoding="utf8").matches(n.encode()):
                    return False
            return True

        from .regex import regex_to_dfa

        declared = []
        for name, sub in props.items():
            if not name_ok(name):
                if name in required:
                    return NOTHING
                continue
            schemas = [sub]
            for pat, psub in pattern_props.items():
                if regex_to_dfa(pat, encoding="utf8", search=True).matches(name.encode()):
                    schemas.append(psub)
            declared.append((name, schemas[0] if len(schemas) == 1 else {"allOf": schemas}))
        declared_names = [n for n, _ in declared]
        for r in required:
            if r not in declared_names:
                # required but undeclared: must come from additional/pattern properties
                matching = [p for p in pattern_props if regex_to_dfa(p, encoding="utf8", search=True).matches(r.encode())]
                sub = {"allOf": [pattern_props[p] for p in matching]} if matching else undeclared_sub
                if sub is False or not name_ok(r):
                    return NOTHING
                declared.append((r, sub))
                declared_names.append(r)
        presence = ("and", tuple(s.get("__presence__", [])))
        pnames = sorted(_presence_names(presence, set()))
        for r in pnames:
            if r not in declared_names and name_ok(r):
                matching = [p for p in pattern_props if regex_to_dfa(p, encoding="utf8", search=True).matches(r.encode())]
                sub = {"allOf": [pattern_props[p] for p in matching]} if matching else undeclared_sub
                if sub is not False:
                    declared.append((r, sub))
                    declared_names.append(r)
        tracked = [n for n in pnames if n in declared_names]
        if len(tracked) > 10:
            raise UnsupportedSchemaError("required", ptr, f"presence constraints over {len(tracked)} properties")
        allowed_sets = set()
        for bits in range(1 << len(tracked)):
            present = frozenset(n for i, n in enumerate(tracked) if bits >> i & 1)
            if _presence_eval(presence, present):
                allowed_sets.add(bits)
        if not allowed_sets:
            return NOTHING
        bit_of = {n: 1 << i for i, n in enumerate(tracked)}
        M = 1 << len(tracked)
        # key lexemes for undeclared properties: pattern properties, then additional ones
        extra: list[tuple[Expr, Expr]] = []
        extra_specs: list = []  # (key content expression, value schema, pointer) of each `extra`
        from .json_lexemes import string_spec
        pats = list(pattern_props.items())
        if len(pats) > 1:
            from .json_lexemes import JsonLexemes  # noqa: F401

            dfas = [regex_to_dfa(p, encoding="json", search=True) for p, _ in pats]
            for i in range(len(dfas)):
                for j in range(i + 1, len(dfas)):
                    if not dfas[i].intersect(dfas[j]).is_empty():
                        self.unsupported("patternProperties", f"{ptr}/patternProperties",
                                         f"patterns {pats[i][0]!r} and {pats[j][0]!r} overlap")
        for i, (pat, psub) in enumerate(pats):
            key = L.string(tuple([pat] + name_patterns), tuple(name_full), name_min, name_max, tuple(declared_names))
            if name_enum is not None:
                self.unsupported("propertyNames", ptr, "enum with patternProperties")
            if not key.dfa.is_empty():
                extra.append((Lex(key), self.sub(psub, f"{ptr}/patternProperties/{_ptr_escape(pat)}")))
                extra_specs.append((string_spec(tuple([pat] + name_patterns), tuple(name_full), name_min, name_max,
                                                tuple(declared_names)), psub, f"{ptr}/patternProperties/{_ptr_escape(pat)}"))
        if addl is not False:
            if name_enum is not None:
                allowed = [n for n in name_enum if n not in declared_names]
                keys = [Lex(L.string_literal(n)) for n in allowed]
                key_expr = alt(*keys) if keys else NOTHING
                key_spec = ("or", [("lit", n) for n in allowed])
            else:
                key_lx = L.string(tuple(name_patterns), tuple(name_full), name_min, name_max,
                                  tuple(declared_names), tuple(p for p, _ in pats))
                key_expr = NOTHING if key_lx.dfa.is_empty() else Lex(key_lx)
                key_spec = string_spec(tuple(name_patterns), tuple(name_full), name_min, name_max,
                                       tuple(declared_names), tuple(p for p, _ in pats))
            if key_expr is not NOTHING:
                vptr = f"{ptr}/additionalProperties"
                extra.append((key_expr, self.sub(addl, vptr)))
                extra_specs.append((key_spec, addl, vptr))
        # the ordered-properties automaton: (next declared index j, emitted any e, count c)
        minP = int(s.get("minProperties", 0))
        maxP = s.get("maxProperties")
        maxP = None if maxP is None else int(maxP)
        if maxP is not None and minP > maxP:
            return NOTHING
        C = maxP if maxP is not None else minP
        if (len(declared) + 1) * 2 * (C + 1) > 4 * MAX_COUNT_STATES:
            raise UnsupportedSchemaError("maxProperties" if maxP is not None else "minProperties", ptr, "bound too large")
        n = len(declared)
        req = set(required)
        comma, colon = Lex(L.punct(",")), Lex(L.punct(":"))

        # "some property (key in K, value in V)" constraints from complements: one flag bit each,
        # set by a member that is such a witness; final states need every flag
        somes = list(s.get("__some__", []))
        if len(somes) > 3:
            raise UnsupportedSchemaError("not", ptr, "too many negated property constraints on one object")
        T0 = len(tracked)
        F = 1 << len(somes)
        Mx = M * F
        from .json_lexemes import string_content

        def witnesses(name_or_spec, is_name: bool):
            """The subsets of `somes` whose key language holds (or may hold) this key."""
            idx = []
            for i, (kexpr, _) in enumerate(somes):
                if is_name:
                    if string_content(kexpr).matches(json.dumps(name_or_spec, ensure_ascii=False)[1:-1].encode()):
                        idx.append(i)
                elif not string_content(("and", [name_or_spec, kexpr])).is_empty():
                    idx.append(i)
            return [sub_ for sub_ in range(1, 1 << len(idx))], idx

        values_alts = []
        for name, sub in declared:
            kx = Lex(L.string_literal(name))
            vptr = f"{ptr}/properties/{_ptr_escape(name)}"
            alts_ = [(0, kx, self.sub(sub, vptr))]
            subsets, idx = witnesses(name, True) if somes else ([], [])
            for m in subsets:
                chosen = [idx[b] for b in range(len(idx)) if m >> b & 1]
                sch = {"allOf": [sub] + [somes[i][1] for i in chosen]}
                alts_.append((sum(1 << i for i in chosen), kx, self.sub(sch, vptr + "+witness")))
            values_alts.append(alts_)
        extra_alts = [(0, k, v) for k, v in extra]
        for kspec, vsch, vptr in (extra_specs if somes else []):
            subsets, idx = witnesses(kspec, False)
            for m in subsets:
                chosen = [idx[b] for b in range(len(idx)) if m >> b & 1]
                kx_spec = ("and", [kspec] + [somes[i][0] for i in chosen])
                klx = L.string_expr(kx_spec)
                if klx.dfa.is_empty():
                    continue
                sch = {"allOf": [vsch] + [somes[i][1] for i in chosen]}
                extra_alts.append((sum(1 << i for i in chosen), Lex(klx), self.sub(sch, vptr + "+witness")))

        def sid(j: int, e: int, c: int, pm: int) -> int:
            return ((j * 2 + e) * (C + 1) + c) * Mx + pm

        if (n + 1) * 2 * (C + 1) * Mx > 8 * MAX_COUNT_STATES:
            raise UnsupportedSchemaError("properties", ptr, "object automaton too large")
        edges = []
        for j in range(n + 1):
            for e in (0, 1):
                for c in range(C + 1):
                    for pm in range(Mx):
                        here = sid(j, e, c, pm)
                        nc = c + 1 if c < C else C
                        can_add = maxP is None or c < maxP
                        if j < n:
                            name = declared[j][0]
                            if name not in req:
                                edges.append((here, sid(j + 1, e, c, pm), EMPTY))
                            if can_add:
                                for fl, k, v in values_alts[j]:
                                    member = seq(k, colon, v)
                                    npm = pm | bit_of.get(name, 0) | (fl << T0)
                                    edges.append((here, sid(j + 1, 1, nc, npm), seq(comma, member) if e else member))
                        if can_add:
                            for fl, k, v in extra_alts:
                                member = seq(k, colon, v)
                                edges.append((here, sid(j, 1, nc, pm | (fl << T0)), seq(comma, member) if e else member))
        full = (F - 1) << T0
        finals = frozenset(sid(n, e, c, pm | full) for e in (0, 1) for c in range(C + 1) for pm in allowed_sets
                           if c >= minP and (e or c == 0))
        body = Nfa((n + 1) * 2 * (C + 1) * Mx, sid(0, 0, 0, 0), finals, tuple(edges))
        return seq(Lex(L.punct("{")), body, Lex(L.punct("}")))


def _multiple_of_dfa(k: int, negate: bool = False):
    """JSON integers divisible by ``k`` (``negate``: not divisible): the remainder automaton."""
    import numpy as np

    from .automata import ByteDFA

    n = 3 + k  # 0 start, 1 after '-', 2 a lone zero, 3 + r: remainder r so far
    trans = np.full((n, 256), -1, dtype=np.int64)
    digits = np.arange(10)
    trans[0, ord("-")] = 1
    for s in (0, 1):
        trans[s, ord("0")] = 2
        trans[s, ord("1"):ord("9") + 1] = 3 + digits[1:] % k
    r = np.arange(k)[:, None]
    trans[3:, ord("0"):ord("9") + 1] = 3 + (10 * r + digits[None, :]) % k
    accept = np.zeros(n, dtype=bool)
    if negate:
        accept[4:] = True  # remainders 1..k-1
    else:
        accept[2] = accept[3] = True
    return ByteDFA(trans, accept)


def _number_literal_regex(v: int | float) -> str:
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


def schema_to_grammar(schema: Any, *, strict: bool = False, lenient: bool = False,
                      whitespace: str = "flexible", max_whitespace: int | None = None,
                      max_newlines: int | None = None, trailing_whitespace: bool = True,
                      canonical_literals: bool = False, canonical_strings: bool = False) -> Grammar:
    """The grammar of the JSON texts valid under ``schema`` (options: see ``compile_json_schema``)."""
    schema = normalize_schema_input(schema)
    lex = JsonLexemes(whitespace, max_whitespace, max_newlines=max_newlines, trailing_ws=trailing_whitespace,
                      canonical_literals=canonical_literals, canonical_strings=canonical_strings)
    # deeply nested schemas recurse ~10 Python frames per level; 3.11 frames use no C stack
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return _Compiler(schema, strict=strict, lenient=lenient, lexemes=lex).grammar()
    finally:
        sys.setrecursionlimit(old)
