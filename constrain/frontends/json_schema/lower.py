"""The recursive core: a JSON Schema -> grammar rules over JSON lexemes.

:class:`SchemaLowering` walks the schema once. ``value`` resolves references into named
rules, ``node`` normalizes (:mod:`.merge`) and dispatches to the applicators, ``plain`` to
one keyword family per JSON type. The families are mixins, one module each, sharing the
state of :class:`~.context.LoweringContext`; the import graph is a DAG (every family imports
only :mod:`.context`, :mod:`.ir`, :mod:`.keywords`, :mod:`.values` and the leaf modules),
while calls between families go through ``self``.
"""

from __future__ import annotations

from typing import Any

from ...budget import check_deadline, recursion_headroom, schema_location
from ...errors import RegexError, SchemaError, UnsupportedSchemaError
from ...ir import Expr, Grammar, Lex, NOTHING, Ref, alt, opt, seq, star
from .applicators import ApplicatorsMixin
from .arrays import ArraysMixin
from .complement import ComplementMixin
from .context import LoweringContext
from .dialects import declared_draft, to_declared_draft
from .disjoint import DisjointMixin
from .dynamic_refs import static_dynamic_refs
from .enums import EnumsMixin
from .ir import ALSO, NOT, PRESENCE, XOF, Xof, has_object_only, presence_eval, unevaluated_items_as_items
from .keyword_values import check_schema_document
from .keywords import ANNOTATIONS, find_keywords
from .lexemes import JsonLexemes
from .merge import MergeMixin
from .normalize import normalize_schema_input
from .numbers import NumbersMixin
from .objects import ObjectsMixin
from .refs import RefsMixin
from .strings import StringsMixin


class SchemaLowering(RefsMixin, MergeMixin, ApplicatorsMixin, ComplementMixin, DisjointMixin, EnumsMixin,
                     NumbersMixin, StringsMixin, ArraysMixin, ObjectsMixin, LoweringContext):
    """Schema -> grammar rules: the recursive core, over the keyword families' mixins."""

    def grammar(self) -> Grammar:
        hit = find_keywords(self.root, ("$dynamicRef", "$recursiveRef"))  # $dynamicRef: see dynamic_refs
        if hit:
            raise UnsupportedSchemaError(hit[0], hit[1], "dynamic references (dynamic scope) are not supported")
        body = self.value(self.root, "#")
        tail = self.L.trailing_ws()
        start = seq(body, opt(Lex(tail))) if tail is not None else body
        self.rules["$root"] = start
        self.origins["$root"] = "#"
        return Grammar(self.rules, "$root", self.origins)

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
            target, tptr = self.resolve(schema["$ref"], ptr, at=schema)
            return self.rule("ref:" + tptr, lambda: self.value(target, tptr), tptr)
        s = self.normalize(schema, ptr)
        if s is False:
            return NOTHING
        if s is True:
            return self.any_value()
        with schema_location(None, ptr):  # budget errors inside name this schema object
            return self.node(s, ptr)

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
            name = self.fresh_rule_name("at:" + ptr)
            self._sub_names[id(schema)] = name
            self._keep.append(schema)
        return self.rule(name, lambda: self.value(schema, ptr), ptr)

    def node(self, s: dict, ptr: str) -> Expr:
        """A normalized schema (no $ref, no allOf at the top)."""
        check_deadline()
        s = dict(s)
        if "nullable" in s:
            if s.pop("nullable") is True and "type" in s:
                t = s["type"]
                s["type"] = list(t) + ["null"] if isinstance(t, list) else [t, "null"]
        also = s.pop(ALSO, [])
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
                s[ALSO] = keep
        if self._types(s) == {"string"} and any(k in s for k in ("anyOf", "oneOf", "not", NOT, XOF, "if")):
            # a string-only schema: its boolean structure is computed exactly on automata
            e = self._string_restrict(s, ptr)
            if e is not None:
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
                xofs.append(Xof(k, s.pop(k)))
        xofs.extend(s.pop(XOF, []))
        if xofs:
            return self.combinators(s, xofs, ptr)
        return self.plain(s, ptr)

    def plain(self, s: dict, ptr: str) -> Expr:
        for k in list(s):
            if k.startswith("x-") or k in ANNOTATIONS:
                s.pop(k)
        self._check_unevaluated(s, ptr)
        nots = s.pop(NOT, [])
        if "not" in s:
            nots.insert(0, s.pop("not"))
        types = self._types(s)
        excluded_strings: list[str] = []
        excluded_patterns: list[str] = []
        presence = list(s.pop(PRESENCE, []))
        for i, n in enumerate(nots):
            f = self.presence_formula(n, f"{ptr}/not")
            if f is not None and not has_object_only(f):
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
                elif v and not (k == "unevaluatedItems" and v is True):  # true: nothing to check
                    self.unsupported(k, ptr)
        dep = s.pop("dependentRequired", None) or {}
        if not isinstance(dep, dict):
            raise SchemaError(f"dependentRequired at {ptr} must be an object")
        for k, deps in dep.items():
            presence.append(("or", (("not", ("req", frozenset([k]))), ("req", frozenset([k, *deps])))))
        if presence:
            if not presence_eval(("and", tuple(presence)), None):
                types &= {"object"}  # `required` holds vacuously for non-objects: the formula fails
            s[PRESENCE] = presence
        if "enum" in s or "const" in s:
            expr = self.enum_values(s, ptr, ("and", tuple(presence)) if presence else None,
                                    lambda v: self._value_ok(v, s, types, excluded_strings, excluded_patterns))
            return expr
        if s.get(ALSO):
            for extra in s.pop(ALSO):
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

    def _check_unevaluated(self, s: dict, ptr: str) -> None:
        """unevaluated* is exact here only where no in-place applicator can add annotations.

        With the applicators folded in (allOf, $ref), what remains are keywords whose
        annotations depend on which branch or condition held (if, anyOf/oneOf,
        dependentSchemas, contains): there unevaluated* is not supported. A `not` left here
        is lowered as a presence formula or on types and string values (``_apply_not``), and
        presence formulas (``dependentRequired``) only speak of which keys are present: none
        of them evaluates a property, so they are no obstacle.
        """
        deps = s.get("dependencies")
        dynamic = [k for k in ("if", "anyOf", "oneOf", XOF, "dependentSchemas") if s.get(k)]
        if isinstance(deps, dict) and not all(isinstance(x, list) for x in deps.values()):
            dynamic.append("dependencies")
        if s.get("unevaluatedProperties") not in (None, True, {}) and dynamic:
            raise UnsupportedSchemaError("unevaluatedProperties", ptr, f"together with {dynamic[0]!r}")
        ue = s.get("unevaluatedItems")
        if ue not in (None, True, {}):
            if dynamic:
                raise UnsupportedSchemaError("unevaluatedItems", ptr, f"together with {dynamic[0]!r}")
            unevaluated_items_as_items(s, s.pop("unevaluatedItems"))


def schema_to_grammar(schema: Any, *, strict: bool = False, lenient: bool = False,
                      whitespace: str = "flexible", max_whitespace: int | None = None,
                      max_newlines: int | None = None, trailing_whitespace: bool = True,
                      canonical_literals: bool = False, canonical_strings: bool = False,
                      property_order: str = "any", format_assertion: bool = True,
                      openapi_formats: bool = False, resources: Any = None) -> Grammar:
    """The grammar of the JSON texts valid under ``schema`` (options: see ``compile_json_schema``)."""
    schema = to_declared_draft(normalize_schema_input(schema))
    check_schema_document(schema)
    if resources is not None and not hasattr(resources, "items"):
        raise SchemaError(f"resources must map URIs to schema documents, not {type(resources).__name__}")
    docs = {}
    for uri, doc in (resources or {}).items():
        if not isinstance(uri, str):
            raise SchemaError(f"resources: a document's URI must be a string, not {type(uri).__name__}")
        doc = normalize_schema_input(doc)
        # a document without $schema is read in the dialect of the one that refers to it
        docs[uri] = to_declared_draft(doc, None if isinstance(doc, dict) and "$schema" in doc
                                      else declared_draft(schema))
        check_schema_document(docs[uri])
    schema, docs = static_dynamic_refs(schema, docs)
    lex = JsonLexemes(whitespace, max_whitespace, max_newlines=max_newlines, trailing_ws=trailing_whitespace,
                      canonical_literals=canonical_literals, canonical_strings=canonical_strings)
    with recursion_headroom():  # deeply nested schemas recurse ~10 Python frames per level
        return SchemaLowering(schema, strict=strict, lenient=lenient, lexemes=lex,
                              property_order=property_order, format_assertion=format_assertion,
                              openapi_formats=openapi_formats, resources=docs).grammar()
