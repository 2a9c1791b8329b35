"""Disjointness: sound proofs that no JSON value satisfies two schemas.

By type sets, distinct ``enum``/``const`` values, discriminator properties, number ranges,
string automata and item/property counts. ``oneOf`` branches proved disjoint need no
complement.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from typing import Any

from ...errors import ConstraintError
from ..regex import regex_to_dfa
from .ir import PATTERNS, XOF, is_internal
from .keywords import ALL_TYPES
from .values import listed_values, ptr_escape, type_of, values_disjoint


class DisjointMixin:
    """Sound proofs that no JSON value satisfies two schemas (``oneOf`` without complements)."""

    def _disjoint(self, branches: list) -> bool:
        """True when no JSON value can satisfy two branches (by type or discriminator)."""
        sigs = []
        for b in branches:
            if not isinstance(b, dict):
                return False
            ts = self._types(b)
            if "number" in ts:
                ts = ts | {"integer"}
            vals = listed_values(b)
            if vals is not None:
                ts = {type_of(v) for v in vals}
            sigs.append(ts)
        if all(not (sigs[i] & sigs[j]) for i in range(len(sigs)) for j in range(i + 1, len(sigs))):
            return True
        # enum/const values pairwise distinct
        if all(isinstance(b, dict) and ("enum" in b or "const" in b) for b in branches):
            lists = [listed_values(b) for b in branches]
            return all(vals is not None for vals in lists) and values_disjoint(lists)
        # a discriminator: a property required by all branches with pairwise distinct const/enum.
        # `required` and `properties` hold vacuously for non-objects, so this proves nothing
        # where two branches share another type (both take 1 or "x")
        if any(sigs[i] & sigs[j] - {"object"} for i in range(len(sigs)) for j in range(i + 1, len(sigs))):
            return False
        if next(self._discriminators(branches), None) is not None:
            return True
        # branches whose type sets overlap only where one branch forbids the others' values is
        # not decided here
        return False

    def _discriminators(self, branches: list, ptr: str | None = None):
        """Each property that every (normalized) branch requires and lists pairwise disjoint
        values for (``enum``/``const``), in name order, as ``(name, [values per branch])``. A
        branch's list is every value its objects can have there (other keywords only narrow
        it), so on objects the property tells the branches apart. ``ptr``: the branches' list,
        for errors (None: a proof's, "#")."""
        common: set | None = None
        for b in branches:
            req = b.get("required", [])
            req = set(req) if isinstance(req, list) else set()
            common = req if common is None else common & req
        for key in sorted(common or ()):
            lists = []
            for i, b in enumerate(branches):
                props = b.get("properties")
                p = props.get(key) if isinstance(props, dict) else None
                if isinstance(p, dict):
                    p = self.normalize(p, "#" if ptr is None else f"{ptr}/{i}/properties/{ptr_escape(key)}")
                vals = listed_values(p) if isinstance(p, dict) else None
                if vals is None:
                    break
                lists.append(vals)
            else:
                if values_disjoint(lists):
                    yield key, lists

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
            for _, branches in [(k, y[k]) for k in ("anyOf", "oneOf") if k in y] + list(y.get(XOF, [])):
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
                    yv = {k: v for k, v in y.items() if not is_internal(k)}
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
            return set(ALL_TYPES) | {"integer"}
        ts = set(self._types(s))
        if s.get("nullable") is True:
            ts.add("null")
        if "number" in ts:
            ts.add("integer")
        if "enum" in s or "const" in s:
            vals = s["enum"] if "enum" in s else [s["const"]]
            if isinstance(vals, list):
                vt = {type_of(v) for v in vals}
                if "integer" in vt:
                    vt.add("number")
                ts &= vt | ({"integer"} if "number" in vt else set())
        if depth < 6:
            xofs = [(k, s[k]) for k in ("anyOf", "oneOf") if k in s] + list(s.get(XOF, []))
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
            ka = {k: v for k, v in a.items() if k in ("pattern", PATTERNS, "minLength", "maxLength")}
            kb = {k: v for k, v in b.items() if k in ("pattern", PATTERNS, "minLength", "maxLength")}
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
        addl = y.get("additionalProperties")
        if addl is None and y.get("unevaluatedProperties") not in (None, True, {}):
            # which keys are unevaluated depends on the annotations of the branch that holds
            # (a parent's unevaluated* merged into oneOf branches): not a property schema
            return None
        if addl is None:
            req = y.get("required")
            return False if self.strict and not (isinstance(req, list) and p in req) else True
        return addl
