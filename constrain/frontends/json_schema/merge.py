"""``allOf`` and ``$ref``-with-siblings, folded into one schema (schema-level conjunction).

Keywords that combine exactly are merged (bounds tighten, ``required`` unions, ``type`` sets
intersect, ``multipleOf`` takes the lcm); the rest are carried as internal keywords (:mod:`.ir`)
that the keyword families enforce later. ``properties``/``patternProperties``/
``additionalProperties`` merge per property name so each side keeps its own rule.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

from ...errors import SchemaError, UnsupportedSchemaError
from ..regex import regex_to_dfa
from . import numeric
from .ir import ALSO, CONTAINS_ALSO, Conditional, ITE, LIST_INTERNALS, NOT, PART_ADDL, PATTERNS, XOF, Xof
from .keywords import (ANNOTATIONS, OBJECT_RULES, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES, VALIDATION_KEYWORDS,
                       has_unevaluated)
from .values import canon


#: keywords that only describe: schemas that differ in nothing else validate alike
DESCRIPTIVE = frozenset({
    "title", "description", "default", "examples", "example", "$comment", "readOnly", "writeOnly", "deprecated",
    "markdownDescription", "enumDescriptions", "deprecationMessage", "errorMessage", "xml", "externalDocs",
})
#: schema objects (and nesting depth) :func:`same_schema` compares before it answers "not
#: known to be the same"
SAME_SCHEMA_NODES = 2000
SAME_SCHEMA_DEPTH = 64


def same_schema(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same schema up to descriptive keywords (compared
    keyword by keyword into their subschemas; other values as JSON, so ``1`` is not
    ``true``); False where unsure (past ``SAME_SCHEMA_NODES`` objects or
    ``SAME_SCHEMA_DEPTH`` levels, internal values).

    Only meaningful where every ``$ref`` resolves alike wherever it sits: see
    :meth:`MergeMixin._same`."""
    left = [SAME_SCHEMA_NODES]

    def equal_values(x: Any, y: Any) -> bool:
        try:
            return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)
        except (TypeError, ValueError):
            return False

    def same(x: Any, y: Any, depth: int) -> bool:
        """``x`` and ``y`` are schemas (objects or booleans)."""
        if x is y:
            return True
        if not (isinstance(x, dict) and isinstance(y, dict)):
            return equal_values(x, y)
        left[0] -= 1
        if left[0] < 0 or depth > SAME_SCHEMA_DEPTH:
            return False
        keys = [k for k in x if k not in DESCRIPTIVE]
        if set(keys) != {k for k in y if k not in DESCRIPTIVE}:
            return False
        for k in keys:
            u, v = x[k], y[k]
            if k in SCHEMA_MAPS and isinstance(u, dict) and isinstance(v, dict):
                if u.keys() != v.keys() or not all(same(u[n], v[n], depth + 1) for n in u):
                    return False
            elif k in SCHEMA_LISTS and isinstance(u, list) and isinstance(v, list):
                if len(u) != len(v) or not all(same(p, q, depth + 1) for p, q in zip(u, v)):
                    return False
            elif k in SCHEMA_VALUES:
                if not same(u, v, depth + 1):
                    return False
            elif not equal_values(u, v):  # data (const, enum, names), internal values: exactly
                return False
        return True

    return same(a, b, 0)


def _values_both(k: str, u: Any, v: Any) -> list | None:
    """The values two ``enum`` lists (or two ``const`` values) share, in ``u``'s order, by JSON
    Schema equality; None for a malformed ``enum`` (left to the sibling-keyword path)."""
    uv, vv = (u, v) if k == "enum" else ([u], [v])
    if not isinstance(uv, list) or not isinstance(vv, list):
        return None
    try:
        keep = {canon(x) for x in vv}
        return [x for x in uv if canon(x) in keep]
    except (TypeError, ValueError, ArithmeticError):
        return None


def _multiple_of_both(u: Any, v: Any) -> int | float | None:
    """The ``multipleOf`` equivalent to both ``u`` and ``v``: their least common multiple,
    exact on the decimals JSON spells (a/D and b/D, D a common denominator: x is a multiple
    of both iff x·D is a multiple of lcm(a, b)).  None where a value is not a positive
    number or the result has no exact float spelling."""
    if isinstance(u, bool) or isinstance(v, bool) or not all(isinstance(x, (int, float)) and x > 0 for x in (u, v)):
        return None
    if isinstance(u, int) and isinstance(v, int):
        return u * v // math.gcd(u, v)
    fu, fv = numeric._as_fraction(u), numeric._as_fraction(v)
    d = math.lcm(fu.denominator, fv.denominator)
    both = Fraction(math.lcm(int(fu * d), int(fv * d)), d)
    if both.denominator == 1:
        return int(both)
    out = float(both)
    return out if numeric._as_fraction(out) == both else None


_COUNTS = ("minContains", "maxContains")


def _contains_counts(a: dict, b: dict, ptr: str) -> tuple[dict, dict]:
    """``a`` and ``b`` with their ``minContains`` / ``maxContains`` checked before a merge.

    The counts belong to their own schema's ``contains``: without one they are ignored (the
    spec), so they are dropped rather than merged onto the other side's ``contains``; with two
    different ``contains`` (kept as one plus ``CONTAINS_ALSO`` flags, "some item matches"
    each) a count cannot follow its own, so that is refused instead of counting the wrong one.
    """
    def own(x: dict) -> dict:
        if "contains" in x or not any(k in x for k in _COUNTS):
            return x
        return {k: v for k, v in x.items() if k not in _COUNTS}

    a, b = own(a), own(b)
    if "contains" in a and "contains" in b and a["contains"] != b["contains"]:
        counted = [k for x in (a, b) for k in _COUNTS if k in x and not (k == "minContains" and x[k] == 1)]
        if counted:
            raise UnsupportedSchemaError(counted[0], ptr, "minContains/maxContains beside two different contains "
                                         "(allOf parts or $ref siblings): each count belongs to its own")
    return a, b


class MergeMixin:
    """``$ref``-with-siblings and ``allOf`` folded into one schema (schema-level conjunction)."""

    def _same(self, a: Any, b: Any) -> bool:
        """``a`` and ``b`` are one condition: :func:`same_schema`, in a document whose schema
        objects all have one base URI (no ``$id`` below the root, no ``resources``), where a
        ``$ref`` means the same wherever it sits. Why: conjoined with itself, a schema is
        merged into a fresh object, and a recursion through it unfolds into new rules at every
        level until a budget stops it (the same ``$ref`` through ``properties`` and a matching
        ``patternProperties``); kept once, its ``$ref`` stays one named rule."""
        one = getattr(self, "_one_base", None)
        if one is None:
            one = self._one_base = len(set(self._base_of.values())) <= 1 and not self._remote_bases
        return one and same_schema(a, b)

    def normalize(self, schema: Any, ptr: str, depth: int = 0) -> Any:
        """Fold ``$ref``-with-siblings and ``allOf`` into one schema dict (allOf semantics)."""
        if not isinstance(schema, dict):
            return schema
        if depth > 64:
            raise UnsupportedSchemaError("$ref", ptr, "references merged with sibling keywords recurse too deeply")
        s = dict(schema)
        if "if" not in s:
            # `then`/`else` without a sibling `if` do nothing; dropped here so that merging
            # allOf parts never pairs them with another part's `if`
            s.pop("then", None)
            s.pop("else", None)
        elif (s["if"] is True or s["if"] is False or s["if"] == {}) and isinstance(s.get("allOf", []), list):
            # a constant `if` (no annotations of its own) always takes the same branch: that
            # branch applies in place, as an allOf part, with its annotations
            cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
            s["allOf"] = [*s.get("allOf", []), els if cond is False else then]
        if "$ref" in s and self.ref_overrides_siblings:
            s = {"$ref": s["$ref"]}  # drafts 4-7: "all other properties in a $ref object are ignored"
        if "$ref" in s:
            ref = s.pop("$ref")
            target, tptr = self.resolve(ref, ptr, at=schema)
            target = self.normalize(target, tptr, depth + 1)  # (a chain of references followed)
            if has_unevaluated(target) and set(s) - ANNOTATIONS:
                # its unevaluated* cannot see the annotations of the siblings merged into it
                local = self._localize_unevaluated(target, tptr)
                if local is None:
                    raise UnsupportedSchemaError("unevaluatedProperties", tptr,
                                                 "unevaluated* in a referenced schema with siblings")
                target = local
            s = self.merge(target, s, ptr, depth)
            if not isinstance(s, dict):
                return s  # a false (or true) target
        while (isinstance(s.get("not"), dict) and set(s["not"]) - ANNOTATIONS == {"not"}
               and not has_unevaluated(s) and not (self.reads_annotations() and self._evaluates(s["not"]["not"], ptr))):
            # annotations inside `not` do not count as evaluated: folded only where no
            # unevaluated* anywhere could read the inner schema's annotations
            inner = s.pop("not")["not"]  # not(not X) == X
            s = self.merge(s, self.normalize(inner, f"{ptr}/not/not", depth + 1), ptr, depth)
            if not isinstance(s, dict):
                return s
        if "allOf" in s:
            parts = s.pop("allOf")
            if not isinstance(parts, list):
                raise SchemaError(f"allOf at {ptr} must be an array")
            for i, p in enumerate(parts):
                # normalized first: a part that is a `$ref` (or an allOf) holds the target's
                # unevaluated* too
                p = self.normalize(p, f"{ptr}/allOf/{i}", depth + 1)
                if has_unevaluated(p) and (len(parts) > 1 or set(s) - ANNOTATIONS):
                    # it sees its own annotations only: local where those are static
                    local = self._localize_unevaluated(p, f"{ptr}/allOf/{i}")
                    if local is None:
                        raise UnsupportedSchemaError("unevaluatedProperties", f"{ptr}/allOf/{i}",
                                                     "unevaluated* inside an allOf part cannot see its siblings")
                    p = local
                s = self.merge(s, p, ptr, depth)
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
        if self._same(a, b):
            return a
        a, b = _contains_counts(a, b, ptr)
        tuples = self._merge_prefix_items(a, b)
        if tuples is not None:
            a, b = tuples
        for x, y in ((a, b), (b, a)) if tuples is None else ():
            if isinstance(x, dict) and isinstance(y, dict) and "prefixItems" in x and "items" in y and "prefixItems" not in y:
                # y's `items` covers every item, x's only those after its prefix: not one schema
                raise UnsupportedSchemaError("prefixItems", ptr, "prefixItems and items from different allOf parts")
        out = {k: (list(v) if k in LIST_INTERNALS else v) for k, v in a.items()}  # never mutate `a`
        if "if" in a and "if" in b:
            # two conditionals: keep b's as a separate triple (see _lower)
            out.setdefault(ITE, []).append(Conditional(b["if"], b.get("then", True), b.get("else", True)))
            b = {k: v for k, v in b.items() if k not in ("if", "then", "else")}
        for k, v in b.items():
            if k in OBJECT_RULES:
                continue  # merged per property name below
            if k not in out:
                out[k] = v
                continue
            u = out[k]
            if k in ANNOTATIONS:
                continue
            if k in LIST_INTERNALS:
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
                both = _values_both(k, u, v)
                if both is None:
                    out[k] = u
                    out.setdefault(ALSO, []).append({k: v})
                elif not both:
                    return False
                else:
                    # one list: disjointness proofs and the complement read discriminator
                    # values from `enum`, and the values are filtered by their siblings once
                    out[k] = both if k == "enum" else both[0]
            elif k == "required":
                out[k] = list(dict.fromkeys(list(u) + list(v)))
            elif k in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"):
                if isinstance(u, bool) or isinstance(v, bool):
                    out.setdefault(ALSO, []).append({k: v})
                else:
                    out[k] = max(u, v)
            elif k in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"):
                if isinstance(u, bool) or isinstance(v, bool):
                    out.setdefault(ALSO, []).append({k: v})
                else:
                    out[k] = min(u, v)
            elif k == "uniqueItems":
                out[k] = bool(u) or bool(v)
            elif k == "contains" and u != v:
                # two `contains` may be met by different items: each extra one is tracked by a
                # flag in the array automaton
                out.setdefault(CONTAINS_ALSO, []).append(v)
            elif k in ("unevaluatedProperties", "unevaluatedItems") and (u is True or u == {} or v is True or v == {}):
                # an unevaluated* that admits everything evaluates every remaining member, so the
                # other side's unevaluated* (which sees those annotations) has nothing left to check
                out[k] = True
            elif k in ("items", "additionalProperties", "additionalItems", "propertyNames", "contains", "unevaluatedProperties", "unevaluatedItems"):
                if self._same(u, v):
                    continue
                if isinstance(u, list) or isinstance(v, list):
                    out.setdefault(ALSO, []).append({k: v})
                else:
                    out[k] = {"allOf": [u, v]}
            elif k in ("anyOf", "oneOf"):
                if not self._same({k: u}, {k: v}):
                    out.setdefault(XOF, []).append(Xof(k, v))
            elif k == "not":
                out.setdefault(NOT, []).append(v)
            elif k == "pattern":
                out.setdefault(PATTERNS, []).append(v)
            elif k == "dependentRequired":
                d = dict(u)
                for dk, dv in v.items():
                    d[dk] = list(dict.fromkeys(list(d.get(dk, [])) + list(dv)))
                out[k] = d
            elif k == "multipleOf":
                both = _multiple_of_both(u, v)
                if both is not None:
                    out[k] = both
                else:
                    out.setdefault(ALSO, []).append({k: v})
            elif u == v or k not in VALIDATION_KEYWORDS:
                continue  # equal, or an annotation/unknown keyword: no effect on validity
            else:
                out.setdefault(ALSO, []).append({k: v})
        self._merge_property_rules(a, b, out, ptr)
        return out

    @staticmethod
    def _merge_prefix_items(a: dict, b: dict):
        """``(a', b')`` with both sides' ``prefixItems`` folded into ``a'`` position by position,
        or None where there is nothing to fold (or old-style array ``items``).

        Position ``i`` gets each side's own rule for it: its ``prefixItems[i]``, else its
        ``items`` (absent: anything). The longer prefix is kept, so the positions a side's
        ``prefixItems`` or ``items`` evaluate are evaluated after the merge too (what a
        parent's ``unevaluatedItems`` sees); ``items`` merges as usual."""
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return None
        pa, pb = a.get("prefixItems"), b.get("prefixItems")
        if pa is None and pb is None:
            return None
        if not (pa is not None and pb is not None or "items" in (b if pa is not None else a)):
            return None
        if any(not isinstance(p, list) for p in (pa, pb) if p is not None):
            return None
        if any(isinstance(x.get("items"), list) or "additionalItems" in x for x in (a, b)):
            return None
        la, lb = pa or [], pb or []
        ia, ib = a.get("items", True), b.get("items", True)

        def conj(x: Any, y: Any) -> Any:
            if x is True or x == {}:
                return y
            if y is True or y == {}:
                return x
            return False if x is False or y is False else {"allOf": [x, y]}

        merged = [conj(la[i] if i < len(la) else ia, lb[i] if i < len(lb) else ib) for i in range(max(len(la), len(lb)))]
        return dict(a, prefixItems=merged), {k: v for k, v in b.items() if k != "prefixItems"}

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
        if not any(k in x for x in (a, b) for k in OBJECT_RULES):
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
            parts = [p for i, p in enumerate(parts) if not any(self._same(p, q) for q in parts[:i])]
            if any(p is False for p in parts):
                return False
            return True if not parts else self.conjunction(parts)

        # the parts merged before (PART_ADDL entries, already in `out`) are sides too
        parts = [(x.get("properties", {}), x.get("patternProperties", {}), own_addl(x)) for x in (a, b)]
        sides = parts + [(e["properties"], e["patternProperties"], e["additionalProperties"])
                         for e in out.get(PART_ADDL, [])]
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
        part_mode = bool(out.get(PART_ADDL)) or any(addl is not True and any(q not in qs and q not in folded and overlap(q, qs)
                                                                    for q in patterns) for _, qs, addl in sides)
        if part_mode:
            # a key matching a pattern of one part and one of another part with
            # additionalProperties: the merged patterns carry only the schemas of the parts
            # that have them, and each part's additionalProperties goes along as a PART_ADDL
            # entry that the object applies to every key none of its own rules match
            folded = set()
            merged = {q: conj([qs[q] for _, qs, _ in sides if q in qs]) for q in patterns}
            out[PART_ADDL] = [{"properties": {n: {} for n in ps}, "patternProperties": {q: {} for q in qs},
                               "additionalProperties": addl} for ps, qs, addl in sides if addl is not True]
        props = {}
        for name in dict.fromkeys(n for ps, _, _ in sides for n in ps):
            hits = [q for q in patterns if dfas[q].matches(name.encode())]
            rules = []
            for ps, qs, addl in sides:
                if name in ps:
                    rules.append(ps[name])
                    if addl is not True and not part_mode and any(q not in qs and q not in folded for q in hits):
                        raise UnsupportedSchemaError(
                            "additionalProperties", ptr, f"property {name!r} is declared by one allOf part and "
                            "matches a patternProperties of another, while the first part has additionalProperties")
                elif not any(q in qs for q in hits):
                    rules.append(addl)  # its own patterns miss the name: its additionalProperties decides
                rules += [qs[q] for q in hits if q in folded and q in qs]
            props[name] = conj(rules)
        for k in OBJECT_RULES:
            out.pop(k, None)
        if props:
            out["properties"] = props
        if len(folded) < len(patterns):
            out["patternProperties"] = {q: merged[q] for q in patterns if q not in folded}
        if "additionalProperties" in a or "additionalProperties" in b:
            out["additionalProperties"] = addl_all
