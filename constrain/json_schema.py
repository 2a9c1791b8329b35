"""JSON Schema (draft 2020-12 and the older spellings real schemas use) -> grammar IR.

The front-end walks the schema once, producing rules over JSON lexemes
(:mod:`constrain.json_lexemes`). Design choices, all documented in docs/json_schema.md:

* ``$ref`` without siblings becomes a rule reference, so recursive schemas need no depth cap;
  ``$ref`` with siblings and ``allOf`` are merged at the schema level (allOf semantics).
* Object properties are generated in ``properties`` order; undeclared properties may appear
  between and after them unless ``additionalProperties: false`` or ``strict=True``.
* ``anyOf`` is a union; ``oneOf`` is a union only where its branches are provably disjoint
  (different types, or distinct ``const``/``enum`` values of a common required property),
  otherwise :class:`UnsupportedSchemaError` (``lenient=True`` treats it as ``anyOf``).
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

from .errors import SchemaError, UnsupportedSchemaError
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
MAX_COUNT_STATES = 2000


def normalize_schema_input(schema: Any) -> Any:
    """Accept a dict, a bool, a JSON string or a Pydantic model class; return a JSON value."""
    if isinstance(schema, (dict, bool)):
        return schema
    if isinstance(schema, (str, bytes)):
        try:
            return json.loads(schema)
        except json.JSONDecodeError as e:
            raise SchemaError(f"schema is not valid JSON: {e}") from e
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


def _has_object_only(f) -> bool:
    if f[0] == "object-only":
        return True
    if f[0] == "req":
        return False
    if f[0] == "not":
        return _has_object_only(f[1])
    return any(_has_object_only(x) for x in f[1])


class _Compiler:
    def __init__(self, root: Any, *, strict: bool, lenient: bool, lexemes: JsonLexemes):
        self.root = root
        self.strict = strict
        self.lenient = lenient
        self.L = lexemes
        self.rules: dict[str, Expr] = {}
        self.origins: dict[str, str] = {}
        self._ids: dict[str, Any] = {}
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
        if depth > 200:
            return
        if isinstance(node, dict):
            for k in ("$id", "id"):
                v = node.get(k)
                if isinstance(v, str) and not (k == "id" and isinstance(node.get("properties"), dict) and "id" in node.get("properties", {}) and False):
                    self._ids.setdefault(v, node)
                    self._ids.setdefault(v.rstrip("#"), node)
            anchor = node.get("$anchor")
            if isinstance(anchor, str):
                self._ids.setdefault("#" + anchor, node)
            for k, v in node.items():
                if k in ("enum", "const", "default", "examples", "example"):
                    continue
                self._index_ids(v, f"{ptr}/{_ptr_escape(k)}", depth + 1)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self._index_ids(v, f"{ptr}/{i}", depth + 1)

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
            s = self.merge(self.normalize(target, tptr, depth + 1), s, ptr, depth)
        while isinstance(s.get("not"), dict) and set(s["not"]) - ANNOTATIONS == {"not"}:
            inner = s.pop("not")["not"]  # not(not X) == X
            s = self.merge(s, self.normalize(inner, f"{ptr}/not/not", depth + 1), ptr, depth)
            if not isinstance(s, dict):
                return s
        if "allOf" in s:
            parts = s.pop("allOf")
            if not isinstance(parts, list):
                raise SchemaError(f"allOf at {ptr} must be an array")
            for i, p in enumerate(parts):
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
        out = dict(a)
        for k, v in b.items():
            if k not in out:
                out[k] = v
                continue
            u = out[k]
            if k in ANNOTATIONS:
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
            elif k == "properties":
                props = dict(u)
                for pk, pv in v.items():
                    props[pk] = {"allOf": [props[pk], pv]} if pk in props else pv
                out[k] = props
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
        # additionalProperties of one side applies to the other side's extra properties
        if isinstance(a, dict) and isinstance(b, dict):
            for x, y in ((a, b), (b, a)):
                addl = x.get("additionalProperties")
                if addl is None or addl is True or "patternProperties" in x:
                    continue
                xprops = x.get("properties", {})
                props = dict(out.get("properties", {}))
                for pk in y.get("properties", {}):
                    if pk not in xprops:
                        props[pk] = {"allOf": [props[pk], addl]} if addl is not False else False
                out["properties"] = props
        return out

    # ------------------------------------------------------------------ entry

    def grammar(self) -> Grammar:
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
        return self.node(s, ptr)

    def node(self, s: dict, ptr: str) -> Expr:
        """A normalized schema (no $ref, no allOf at the top)."""
        s = dict(s)
        if "nullable" in s:
            if s.pop("nullable") is True and "type" in s:
                t = s["type"]
                s["type"] = list(t) + ["null"] if isinstance(t, list) else [t, "null"]
        also = s.pop("__also__", [])
        if also:
            # keywords whose conjunction could not be folded: each must hold; handle as anyOf-free
            for extra in also:
                for k, v in extra.items():
                    self.unsupported(k, ptr, "conflicting values of this keyword under allOf/$ref")
        xofs = []
        for k in ("anyOf", "oneOf"):
            if k in s:
                xofs.append((k, s.pop(k)))
        xofs.extend(s.pop("__xof__", []))
        if xofs:
            return self.combinators(s, xofs, ptr)
        return self.plain(s, ptr)

    def combinators(self, rest: dict, xofs: list, ptr: str) -> Expr:
        kind, branches = xofs[0]
        if not isinstance(branches, list) or not branches:
            raise SchemaError(f"{kind} at {ptr} must be a non-empty array")
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
            if not self.lenient:
                raise UnsupportedSchemaError("oneOf", ptr, "branches are not provably disjoint (lenient=True treats oneOf as anyOf)")
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
            rest = {k: v for k, v in s.items() if k in allowed - {"enum", "const", "type"}}
            if rest:
                validator = self._validator(dict(rest, type="string"))
                vals = [v for v in vals if validator.is_valid(v)]
            return ("or", [("lit", v) for v in dict.fromkeys(vals)])
        if s.get("type") != "string":
            return None
        fmt = s.get("format")
        full = []
        if fmt is not None:
            r = formats.format_regex(fmt) if isinstance(fmt, str) else None
            if r is None:
                warnings.warn(f"unknown format {fmt!r} at {ptr} ignored (format is an annotation)", SchemaWarning, stacklevel=3)
            else:
                full.append(r)
        pats = ([s["pattern"]] if "pattern" in s else []) + list(s.get("__patterns__", []))
        return string_spec(pats, full, s.get("minLength", 0), s.get("maxLength"))

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

    # ------------------------------------------------------------------ enum / const

    def _validator(self, schema: dict):
        import jsonschema

        if self._validator_cls is None:
            self._validator_cls = jsonschema.validators.validator_for(
                self.root if isinstance(self.root, dict) else {}, default=jsonschema.Draft202012Validator)
        try:
            from referencing import Registry, Resource

            resource = Resource.from_contents(self.root if isinstance(self.root, dict) else {},
                                              default_specification=__import__("referencing.jsonschema").jsonschema.DRAFT202012)
            registry = Registry().with_resource("urn:structgen-root", resource)
            return self._validator_cls(schema, registry=registry)
        except Exception:  # pragma: no cover - older jsonschema
            return self._validator_cls(schema)

    def enum_values(self, s: dict, ptr: str) -> Expr:
        vals: list | None = None
        if "const" in s:
            vals = [s["const"]]
        if "enum" in s:
            if not isinstance(s["enum"], list):
                raise SchemaError(f"enum at {ptr} must be an array")
            ev = s["enum"]
            vals = ev if vals is None else [v for v in vals if _canon(v) in {_canon(x) for x in ev}]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const") and not k.startswith("__")}
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
                    s.setdefault("dependentRequired", {}).update(v)
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
            if presence:
                self.unsupported("enum", ptr, "enum together with presence constraints")
            expr = self.enum_values(s, ptr)
            return expr
        if s.get("__also__"):
            for extra in s.pop("__also__"):
                for k in extra:
                    self.unsupported(k, ptr, "conflicting values under allOf")
        branches = []
        if "integer" in types and "number" not in types:
            branches.append(self.integer(s, ptr))
        if "number" in types:
            branches.append(self.number(s, ptr))
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
            return types
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

    def string(self, s: dict, ptr: str, excluded: list[str] = (), excluded_patterns: list[str] = ()) -> Expr:
        from . import formats

        patterns = []
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise SchemaError(f"pattern at {ptr} must be a string")
            patterns.append(s["pattern"])
        patterns += s.get("__patterns__", [])
        full = []
        fmt = s.get("format")
        if fmt is not None:
            r = formats.format_regex(fmt) if isinstance(fmt, str) else None
            if r is None:
                warnings.warn(f"unknown format {fmt!r} at {ptr} ignored (format is an annotation)", SchemaWarning, stacklevel=3)
            else:
                full.append(r)
        lo = s.get("minLength", 0)
        hi = s.get("maxLength")
        for k, v in (("minLength", lo), ("maxLength", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise SchemaError(f"{k} at {ptr} must be a non-negative integer")
        lo = int(lo)
        hi = None if hi is None else int(hi)
        if hi is not None and lo > hi:
            return NOTHING
        from .errors import RegexError

        try:
            lx = self.L.string(tuple(patterns), tuple(full), lo, hi, tuple(excluded), tuple(excluded_patterns))
            lx.dfa  # build now so errors point at the schema
        except RegexError as e:
            raise UnsupportedSchemaError("pattern", ptr, str(e)) from e
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
            name = self._sub_names[id(schema)] = "at:" + ptr
            self._keep.append(schema)
        return self.rule(name, lambda: self.value(schema, ptr), ptr)

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
            self.unsupported("uniqueItems", ptr, "uniqueness of array items is not regular")
        if hi is not None and lo > hi:
            return NOTHING
        if rest is False or (isinstance(rest, dict) and self.normalize(rest, rest_ptr) is False):
            hi = len(prefix) if hi is None else min(hi, len(prefix))
            if lo > hi:
                return NOTHING
        contains = s.get("contains")
        min_c = int(s.get("minContains", 1)) if contains is not None else 0
        if contains is not None and "maxContains" in s:
            self.unsupported("maxContains", ptr)
        item_exprs = [self.sub(p, f"{prefix_ptr}/{i}") for i, p in enumerate(prefix)]
        rest_expr = self.sub(rest, rest_ptr) if rest is not False else NOTHING
        cont_exprs = []
        if contains is not None and min_c > 0:
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
        C = min_c
        n_states = (B + 1) * (C + 1)
        sid = lambda i, c: i * (C + 1) + c  # noqa: E731
        comma = Lex(L.punct(","))
        edges = []
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
                for ni, ex, cex in targets:
                    sep = comma if i > 0 else None
                    edges.append((sid(i, c), sid(ni, c), seq(sep, ex) if sep else ex))
                    if C and cex is not None:
                        edges.append((sid(i, c), sid(ni, min(c + 1, C)), seq(sep, cex) if sep else cex))
        finals = frozenset(sid(i, C) for i in range(lo, B + 1))
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
        if addl is None:
            addl = False if self.strict else True
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
                        name_max = int(v)
                    elif k == "format":
                        from . import formats

                        r = formats.format_regex(v)
                        if r is not None:
                            name_full.append(r)
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
                sub = {"allOf": [pattern_props[p] for p in matching]} if matching else addl
                if sub is False or not name_ok(r):
                    return NOTHING
                declared.append((r, sub))
                declared_names.append(r)
        presence = ("and", tuple(s.get("__presence__", [])))
        pnames = sorted(_presence_names(presence, set()))
        for r in pnames:
            if r not in declared_names and name_ok(r):
                matching = [p for p in pattern_props if regex_to_dfa(p, encoding="utf8", search=True).matches(r.encode())]
                sub = {"allOf": [pattern_props[p] for p in matching]} if matching else addl
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
        if addl is not False:
            if name_enum is not None:
                allowed = [n for n in name_enum if n not in declared_names]
                keys = [Lex(L.string_literal(n)) for n in allowed]
                key_expr = alt(*keys) if keys else NOTHING
            else:
                key_lx = L.string(tuple(name_patterns), tuple(name_full), name_min, name_max,
                                  tuple(declared_names), tuple(p for p, _ in pats))
                key_expr = NOTHING if key_lx.dfa.is_empty() else Lex(key_lx)
            if key_expr is not NOTHING:
                vptr = f"{ptr}/additionalProperties"
                extra.append((key_expr, self.sub(addl, vptr)))
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

        def sid(j: int, e: int, c: int, pm: int) -> int:
            return ((j * 2 + e) * (C + 1) + c) * M + pm

        if (n + 1) * 2 * (C + 1) * M > 8 * MAX_COUNT_STATES:
            raise UnsupportedSchemaError("properties", ptr, "object automaton too large")
        edges = []
        values = [(Lex(L.string_literal(name)), self.sub(sub, f"{ptr}/properties/{_ptr_escape(name)}")) for name, sub in declared]
        for j in range(n + 1):
            for e in (0, 1):
                for c in range(C + 1):
                    for pm in range(M):
                        here = sid(j, e, c, pm)
                        nc = c + 1 if c < C else C
                        can_add = maxP is None or c < maxP
                        if j < n:
                            name = declared[j][0]
                            if name not in req:
                                edges.append((here, sid(j + 1, e, c, pm), EMPTY))
                            if can_add:
                                k, v = values[j]
                                member = seq(k, colon, v)
                                npm = pm | bit_of.get(name, 0)
                                edges.append((here, sid(j + 1, 1, nc, npm), seq(comma, member) if e else member))
                        if can_add:
                            for k, v in extra:
                                member = seq(k, colon, v)
                                edges.append((here, sid(j, 1, nc, pm), seq(comma, member) if e else member))
        finals = frozenset(sid(n, e, c, pm) for e in (0, 1) for c in range(C + 1) for pm in allowed_sets
                           if c >= minP and (e or c == 0))
        body = Nfa((n + 1) * 2 * (C + 1) * M, sid(0, 0, 0, 0), finals, tuple(edges))
        return seq(Lex(L.punct("{")), body, Lex(L.punct("}")))


def _multiple_of_dfa(k: int):
    """JSON integers divisible by ``k``: the remainder automaton over decimal digits."""
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
                      whitespace: str = "flexible", max_whitespace: int | None = None) -> Grammar:
    """The grammar of the JSON texts valid under ``schema``."""
    schema = normalize_schema_input(schema)
    lex = JsonLexemes(whitespace, max_whitespace)
    # deeply nested schemas recurse ~10 Python frames per level; 3.11 frames use no C stack
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        return _Compiler(schema, strict=strict, lenient=lenient, lexemes=lex).grammar()
    finally:
        sys.setrecursionlimit(old)
