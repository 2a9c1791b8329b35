"""``complement(s)``: a schema whose instances are exactly the JSON values failing ``s``.

For a few keywords it is a documented subset (a number that is not an integer is generated
without exponent). Its result is only used positively, never complemented again (internal
keywords make ``complement`` give up), so a subset stays sound.
"""

from __future__ import annotations

from typing import Any

from . import formats
from .ir import ALSO, CONTAINS_ALSO, NOT, NUM_AND, NUM_MINUS, PATTERNS, SOME, STR_MINUS, SomeMember, XOF, is_internal
from .keywords import (ALL_TYPES, ANNOTATIONS, MAX_ENUM, NOEXP_REGEX, NONINT_REGEX, VALIDATION_KEYWORDS,
                       has_unevaluated)
from .lexemes import ANY_STRING, string_spec
from .values import canon, number_literal_regex, ptr_escape


class ComplementMixin:
    """``complement(s)``: a schema for ``not s`` (or None where not computable)."""

    def complement(self, schema: Any, ptr: str, depth: int = 0, keys: set | None = None) -> Any:
        """A schema for ``not schema``, or None where that is not computable.

        ``keys``: when given, the complement need only be right for objects whose property
        names all lie in ``keys`` (the context of a closed object: ``oneOf`` branches)."""
        if depth > 8:
            return None
        if isinstance(schema, dict) and self.reaches(schema, ptr, has_unevaluated):
            # an unevaluated* that constrains (not `true`/`{}`, which never fails) reads the
            # annotations around it, which no schema-level complement keeps; `$ref`s followed
            return None
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
             if not (k in ANNOTATIONS or k.startswith("x-") or (k not in VALIDATION_KEYWORDS and not is_internal(k)))}
        if s.get("nullable") is True and "type" in s:
            t = s["type"]
            s["type"] = list(t) + ["null"] if isinstance(t, list) else [t, "null"]
        s.pop("nullable", None)
        if not s:
            return False
        if s.get(ALSO):
            return None
        if "enum" in s or "const" in s:
            vals = self._enum_filtered(s)
            return None if vals is None else self._complement_values(vals)
        T = self._types(s)
        num_all = "number" in T
        int_only = "integer" in T and not num_all
        numtype = "number" if num_all else "integer"
        pieces: list = []
        outside = [t for t in ALL_TYPES if t not in T and not (t == "number" and int_only)]
        if outside:
            pieces.append({"type": outside})
        if int_only:
            pieces.append({"type": "number", NUM_AND: [NONINT_REGEX]})
        done = {"type"}
        sub = lambda x, p: self.complement(x, p, depth + 1)  # noqa: E731
        # strings: those failing the string keywords. An asserted `format` that is exact here
        # and has no length cap (ipv4, ipv6, uuid, uri, ...) counts as its language; the others
        # are left out (narrowed formats: the strings they refuse may be valid; capped ones:
        # the complement of hostname's 253-character counter is a product past the budget),
        # so their complement misses those strings: a narrowing, never a string they accept
        skeys = [k for k in ("pattern", PATTERNS, "minLength", "maxLength") if k in s]
        done |= set(skeys) | {"format"}
        sup = formats.format_superset_parts(s["format"]) if isinstance(s.get("format"), str) else None
        if self.format_assertion and sup is not None and all(cap is None for _, cap in sup):
            skeys.append("format")
        if skeys and "string" in T:
            e = self.string_content_expr(dict({k: s[k] for k in skeys}, type="string"), ptr, superset=True)
            if e is None:
                return None
            pieces.append({"type": "string", STR_MINUS: [e]})
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
                    pieces.append({"type": "integer", NUM_AND: [["nonmult", m]]})
                if num_all:
                    pieces.append({"type": "number", NUM_AND: [NONINT_REGEX]})
        # objects
        okeys = [k for k in ("required", "properties", "minProperties", "maxProperties", "dependentRequired",
                             "dependentSchemas", "dependencies", "additionalProperties", "patternProperties",
                             "propertyNames", "unevaluatedProperties") if k in s]
        done |= set(okeys)
        if okeys and "object" in T:
            if s.get("required"):
                pieces.append({"type": "object", "not": {"required": list(s["required"])}})
            for p, ps in (s.get("properties") or {}).items():
                c = sub(ps, f"{ptr}/properties/{ptr_escape(p)}")
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
                c = sub(v, f"{ptr}/dependentSchemas/{ptr_escape(k)}")
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
                        pieces.append({"type": "object", SOME: [SomeMember(kspec, c)]})
                for pat, psch in pp.items():
                    c = sub(psch, f"{ptr}/patternProperties/{ptr_escape(pat)}")
                    if c is None:
                        return None
                    if c is not False:
                        pieces.append({"type": "object", SOME: [SomeMember(string_spec((pat,)), c)]})
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
                            pieces.append({"type": "object", SOME: [SomeMember(("minus", ANY_STRING, e), True)]})
        # arrays
        akeys = [k for k in ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "contains",
                             "minContains", "maxContains", "uniqueItems", "unevaluatedItems", CONTAINS_ALSO) if k in s]
        done |= set(akeys)
        if akeys and "array" in T:
            if s.get("unevaluatedItems") not in (None, True, {}):
                return None
            if s.get("uniqueItems") is True or "maxContains" in s:
                return None
            tuple_ = s["prefixItems"] if "prefixItems" in s else s["items"] if isinstance(s.get("items"), list) else None
            if tuple_ is not None:
                # a tuple fails where some item it reaches fails its schema, or (a closed tuple)
                # where there are more items; a rest schema other than false or true would need
                # "some item after the tuple fails", which no keyword says
                if not isinstance(tuple_, list) or ("prefixItems" in s and isinstance(s.get("items"), list)):
                    return None
                rest = s.get("items", True) if "prefixItems" in s else s.get("additionalItems", True)
                if rest is False:
                    pieces.append({"type": "array", "minItems": len(tuple_) + 1})
                elif rest is not True and rest != {}:
                    return None
                key = "prefixItems" if "prefixItems" in s else "items"
                for i, item in enumerate(tuple_):
                    c = sub(item, f"{ptr}/{key}/{i}")
                    if c is None:
                        return None
                    if c is not False:
                        pieces.append({"type": "array", "minItems": i + 1, "prefixItems": [True] * i + [c]})
            elif "items" in s:
                c = sub(s["items"], f"{ptr}/items")
                if c is None:
                    return None
                if c is not False:
                    pieces.append({"type": "array", "contains": c})
            if "minItems" in s and int(s["minItems"]) > 0:
                pieces.append({"type": "array", "maxItems": int(s["minItems"]) - 1})
            if "maxItems" in s:
                pieces.append({"type": "array", "minItems": int(s["maxItems"]) + 1})
            for ca in s.get(CONTAINS_ALSO, []):
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
        xofs = [(k, s[k]) for k in ("anyOf", "oneOf") if k in s] + list(s.get(XOF, []))
        done |= {"anyOf", "oneOf", XOF}
        for kind, branches in xofs:
            if not isinstance(branches, list) or not branches:
                return None
            cs = [sub(b, f"{ptr}/{kind}/{i}") for i, b in enumerate(branches)]
            if any(c is None for c in cs):
                return None
            normed = [self.normalize(b, f"{ptr}/{kind}/{i}") for i, b in enumerate(branches)]
            split = self._none_by_discriminator(normed, cs, T, f"{ptr}/{kind}")
            if split is not None:
                pieces += split  # none holds, and two never do: the discriminator tells them apart
                continue
            pieces.append({"allOf": cs})  # none holds
            if kind == "oneOf" and len(branches) > 1:
                for i in range(len(branches)):
                    for j in range(i + 1, len(branches)):
                        if not self._disjoint2(normed[i], normed[j]):
                            pieces.append({"allOf": [branches[i], branches[j]]})  # two hold
        nots = ([s["not"]] if "not" in s else []) + list(s.get(NOT, []))
        done |= {"not", NOT}
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

    def _none_by_discriminator(self, normed: list, cs: list, T: set, ptr: str) -> list | None:
        """Pieces for "no branch holds" where a discriminator tells object branches apart;
        None where there is none (the caller then conjoins the complements ``cs``). ``normed``:
        the branches, normalized.

        Why: ``allOf`` of the branches' complements lowers to the product of their pieces
        (one alternative per way every branch fails: ~500 objects for three branches of six
        properties, walked in parallel by every step inside them). When every branch requires
        a property ``P`` whose values it lists (``enum``/``const``), pairwise disjoint, an
        object fails them all iff it lacks ``P``, or its ``P`` is none of the listed values,
        or its ``P`` is branch ``x``'s and it fails branch ``x`` (it cannot satisfy another,
        whose ``P`` values it does not have): a sum, not a product. Objects only: the
        schema being complemented is object-typed (``T``), or every branch is (then every
        non-object fails them all, one piece more)."""
        if len(normed) < 2 or len(cs) != len(normed) or not all(isinstance(nb, dict) for nb in normed):
            return None
        object_only = all(self._types(nb) == {"object"} for nb in normed)
        if T != {"object"} and not object_only:
            return None
        for key, lists in self._discriminators(normed, ptr):
            # (a branch listing no value matches nothing: left to the product, as any doubt)
            others = self._complement_values([v for vals in lists for v in vals]) if all(lists) else None
            if others is None:
                continue
            pieces: list = [{"type": "object", "not": {"required": [key]}},
                            {"type": "object", "required": [key], "properties": {key: others}}]
            if object_only and T != {"object"}:
                pieces.append({"type": [t for t in ALL_TYPES if t != "object"]})
            for vals, c in zip(lists, cs):
                if c is False:
                    continue
                tagged = {"type": "object", "required": [key], "properties": {key: {"enum": vals}}}
                pieces.append(tagged if c is True else {"allOf": [tagged, c]})
            return pieces
        return None

    def _enum_filtered(self, s: dict) -> list | None:
        """The values of an enum/const schema that satisfy its sibling keywords."""
        vals = [s["const"]] if "const" in s else None
        if "enum" in s:
            if not isinstance(s["enum"], list):
                return None
            ev = {canon(x) for x in s["enum"]}
            vals = list(s["enum"]) if vals is None else [v for v in vals if canon(v) in ev]
        rest = {k: v for k, v in s.items() if k not in ("enum", "const")}
        if any(is_internal(k) for k in rest):
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
            pieces.append({"type": "number", NUM_AND: [NOEXP_REGEX],
                           NUM_MINUS: sorted({number_literal_regex(v) for v in nums})})
        else:
            pieces.append({"type": "number"})
        for t, py in (("object", dict), ("array", list)):
            if any(isinstance(v, py) for v in vals):
                return None
            pieces.append({"type": t})
        return {"anyOf": pieces}

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
