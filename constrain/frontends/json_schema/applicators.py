"""The applicators: ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else``, ``dependentSchemas``.

``anyOf`` is a union; ``oneOf`` a union of its branches, each conjoined with the complement of
every other branch not provably disjoint from it (:mod:`.complement`, :mod:`.disjoint`),
refused where a needed complement is not computable (``lenient=True`` treats it as ``anyOf``).
``not``, ``if``/``then``/``else`` and ``dependentSchemas`` are rewritten into ``anyOf`` over the
same complements. Branches that only speak of which properties are present reduce to
presence formulas (:mod:`.ir`), enforced exactly by the object automaton.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...errors import ConstraintError, SchemaError, UnsupportedSchemaError
from ...ir import Expr, NOTHING, alt
from .context import SchemaWarning
from .ir import (ALSO, CONTAINS_ALSO, ITE, Conditional, PART_ADDL, NOT, PRESENCE, XOF, Xof, has_internal, has_object_only, is_internal,
                 unevaluated_items_as_items)
from .keywords import ALL_TYPES, ANNOTATIONS, EVALUATING, has_unevaluated, unevaluated_keyword
from .values import canon, values_disjoint


# anyOf branches combined into sets (2^n - 1 of them) under a parent's unevaluated*
MAX_ANYOF_UNION = 4
# keywords that hold vacuously for every non-object
OBJECT_ONLY = {"properties", "required", "additionalProperties", "patternProperties", "propertyNames",
               "minProperties", "maxProperties", "dependentRequired", "unevaluatedProperties"}


def _with_xofs(schema: Any, xofs: list) -> Any:
    """``schema`` (a branch merged with its siblings) conjoined with the ``anyOf``/``oneOf``
    groups still to expand: a ``true`` branch becomes ``{XOF: xofs}``, never drops them; the
    schema's own list is copied, not extended in place (other branches share it)."""
    if schema is False:
        return False
    if schema is True:
        schema = {}
    return dict(schema, **{XOF: list(schema.get(XOF, [])) + list(xofs)})


class ApplicatorsMixin:
    """``anyOf``/``oneOf``/``not``/``if``-``then``-``else``/``dependentSchemas``, and the
    presence formulas they reduce to on objects."""

    def _lower(self, s: dict, ptr: str, outer: tuple = ()) -> Any:
        """Rewrite ``if``/``then``/``else``, ``dependentSchemas`` (and schema-valued
        ``dependencies``) and the ``not`` forms :meth:`plain` cannot take into ``anyOf``
        entries over complements (see :meth:`complement`). ``outer``: the schemas an
        if/then/else triple merged in from ``allOf`` sits beside (what the parent's
        unevaluated* sees besides it, :meth:`_annotation_free`)."""
        xof: list = []
        if ("enum" in s or "const" in s) and not s.get(ALSO):
            s = self._filter_enum_by_applicators(s)
        ites = list(s.pop(ITE, []))
        if (ites or "if" in s) and not has_unevaluated(s) and self._types(s) == {"object"}:
            triples = ites + ([Conditional(s.pop("if"), s.pop("then", True), s.pop("else", True))] if "if" in s else [])
            switches, ites = self._switch_on_discriminators(triples, s, ptr)
            xof.extend(switches)
        while ites:
            # further if/then/else triples merged in from allOf/$ref
            i_, t_, e_ = ites.pop()
            # with the parent's unevaluated* so that the triple's annotations are treated as its own
            uneval = {k: s[k] for k in ("unevaluatedProperties", "unevaluatedItems") if k in s}
            sub_s = self._lower({"if": i_, "then": t_, "else": e_, **uneval}, ptr,
                                outer=(*outer, s, {XOF: list(xof)}, {ITE: list(ites)}))
            if sub_s is False:
                return False
            xof.extend(sub_s.get(XOF, []))
        if "if" in s:
            cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
            if not (then in (True, {}) and els in (True, {})):
                ccond = self.complement(cond, f"{ptr}/if")
                if ccond is None:
                    self.unsupported("if", ptr, "the negation of the `if` schema is not computable")
                else:
                    if has_unevaluated(s) and self._evaluates(ccond, ptr):
                        # a failed `if` gives no annotations, but its complement's would count as evaluated
                        ccond = self._annotation_free(ccond, [s, els, *outer, {XOF: xof}], ptr)
                        if ccond is None:
                            raise UnsupportedSchemaError(unevaluated_keyword(s), ptr, "together with 'if' (else branch)")
                    xof.append(Xof("anyOf", [{"allOf": [cond, then]}, {"allOf": [ccond, els]}]))
            elif has_unevaluated(s) and self._evaluates(cond, ptr):
                # `if` alone validates nothing but, when it holds, its annotations count: valid iff
                # (cond and every member evaluated with cond's annotations) or evaluated without them
                # (the second needs no complement: cond failing only takes annotations away)
                xof.append(Xof("anyOf", [cond, True]))
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
                # `v` only applies (and only gives annotations) where `k` is present: the same
                # language, but a parent's unevaluated* must not see `v`'s annotations otherwise,
                # and inside `v` the presence of `k` is known: an `anyOf`/`oneOf` of `v` whose
                # branches list distinct values for `k` without requiring it is then
                # discriminated (disjoint), not conjoined with every other branch's complement
                # (typed: on a non-object `k` is never present and `v` never applies, nor adds
                # annotations for an unevaluatedItems beside it)
                present = {"allOf": [{"required": [k]} if only_objects else {"type": "object", "required": [k]}, v]}
                if only_objects:
                    xof.append(Xof("anyOf", [absent, present]))
                else:
                    xof.append(Xof("anyOf", [{"type": [t for t in ALL_TYPES if t != "object"]},
                                          dict(absent, type="object"), present]))
        nots = ([s.pop("not")] if "not" in s else []) + list(s.pop(NOT, []))
        keep = []
        for i, n in enumerate(nots):
            if self._simple_not(n, s, f"{ptr}/not"):
                keep.append(n)
                continue
            c = self.complement(n, f"{ptr}/not")
            if c is None:
                keep.append(n)  # plain() reports it
            if c is not None and has_unevaluated(s) and c is not True and self._evaluates(c, ptr):
                # `not` never contributes annotations, but its complement's would count as evaluated
                c = self._annotation_free(c, [s, *outer, {XOF: xof}], ptr)
                if c is None:
                    raise UnsupportedSchemaError(unevaluated_keyword(s), ptr, "together with 'not'")
            if c is None:
                pass
            elif c is False:
                return False
            elif c is not True:
                xof.append(Xof("anyOf", c["anyOf"] if isinstance(c, dict) and set(c) == {"anyOf"} else [c]))
        if keep:
            s[NOT] = keep
        if xof:
            s[XOF] = list(s.get(XOF, [])) + xof
        return s

    def _filter_enum_by_applicators(self, s: dict) -> dict:
        """An enum/const schema with `not`, `if`, `dependentSchemas`, `anyOf`/`oneOf`: keep the
        values jsonschema accepts under those keywords (exact: the values are finite)."""
        keys = [k for k in ("not", "if", "then", "else", "dependentSchemas", "dependencies", "anyOf", "oneOf") if k in s]
        extra = list(s.get(NOT, [])), list(s.get(XOF, []))
        if not keys and not extra[0] and not extra[1]:
            return s
        checks = {k: s[k] for k in keys}
        parts = [checks] + [{"not": n} for n in extra[0]] + [{kind: br} for kind, br in extra[1]]
        if has_internal(parts):
            return s
        vals = [s["const"]] if "const" in s else list(s["enum"])
        if "const" in s and "enum" in s:
            ev = {canon(x) for x in s["enum"]}
            vals = [v for v in vals if canon(v) in ev]
        try:
            validators = [self._validator(p) for p in parts]
            vals = [v for v in vals if all(va.is_valid(v) for va in validators)]
        except Exception:
            return s
        out = {k: v for k, v in s.items() if k not in keys and k not in ("const", NOT, XOF)}
        out["enum"] = vals
        return out

    def _simple_not(self, n: Any, s: dict, ptr: str) -> bool:
        """Whether :meth:`plain` handles ``not: n`` directly (presence, types, string values)."""
        f = self.presence_formula(n, ptr)
        if f is not None and not has_object_only(f):
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
            if isinstance(b, dict) and ("$ref" in b or "allOf" in b):
                # a branch that is a `$ref` (or an allOf) holds its target's (parts') unevaluated*
                b = self.normalize(b, f"{ptr}/{kind}/{i}")
            if has_unevaluated(b) and set(rest) - ANNOTATIONS:
                local = self._localize_unevaluated(b, f"{ptr}/{kind}/{i}")
                if local is None:
                    raise UnsupportedSchemaError("unevaluatedProperties", f"{ptr}/{kind}/{i}",
                                                 "unevaluated* inside a branch cannot see its siblings")
                branches = [*branches[:i], local, *branches[i + 1:]]
        if kind == "anyOf" and has_unevaluated(rest):
            union = self._any_of_unions(rest, branches, xofs[1:], ptr)
            if union is not None:
                return union
        subs = [self.presence_formula(b, f"{ptr}/{kind}/{i}") for i, b in enumerate(branches)]
        if all(x is not None for x in subs) and not any(has_object_only(x) for x in subs):
            # branches that only speak of which properties are present: enforce in the object
            rest = dict(rest)
            rest.setdefault(PRESENCE, []).append(("or" if kind == "anyOf" else "one", tuple(subs)))
            if xofs[1:]:
                return self.combinators(rest, xofs[1:], ptr)
            return self.plain(rest, ptr)
        bptr = f"{ptr}/{kind}"
        normed = []
        for i, b in enumerate(branches):
            nb = self.normalize(b, f"{bptr}/{i}") if isinstance(b, dict) else b
            merged = self.merge(rest, nb, f"{bptr}/{i}") if rest else nb
            if xofs[1:]:
                merged = _with_xofs(merged, xofs[1:])
            normed.append(merged)
        if kind == "oneOf" and len(normed) > 1:
            exact = self._one_of_strings(normed, bptr)
            if exact is not None:
                return exact
        if kind == "oneOf" and sum(b is not False for b in normed) > 1 and all(
                b is False or isinstance(b, dict) and "type" not in b and set(b) - ANNOTATIONS <= OBJECT_ONLY
                for b in normed):
            # branches of object keywords only each take every non-object, so oneOf takes none:
            # typed, a discriminator (a required property with distinct values) decides them
            normed = [b if b is False else dict(b, type="object") for b in normed]
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

    def _discriminator_condition(self, cond: Any, ptr: str) -> tuple[str, list, bool] | None:
        """``(P, values, requires_P)`` when ``cond`` holds for an object exactly when its
        property ``P`` is one of ``values`` (and, ``requires_P``, present; else also when it
        is absent), read on objects only: ``type`` at most ``object``, one property whose
        schema lists values (``enum``/``const``, filtered by its siblings), ``required`` at
        most ``[P]``; None otherwise."""
        c = self.normalize(cond, ptr) if isinstance(cond, dict) else None
        if not isinstance(c, dict) or set(c) - ANNOTATIONS - {"type", "properties", "required"}:
            return None
        props = c.get("properties")
        if c.get("type", "object") not in ("object", ["object"]) or not isinstance(props, dict) or len(props) != 1:
            return None
        (key, ps), = props.items()
        req = c.get("required", [])
        if req not in ([], [key]):
            return None
        ps = self.normalize(ps, f"{ptr}/properties/{key}") if isinstance(ps, dict) else None
        if not isinstance(ps, dict) or not ("enum" in ps or "const" in ps):
            return None
        vals = self._enum_filtered({k: v for k, v in ps.items() if k not in ANNOTATIONS})
        return None if vals is None else (key, vals, bool(req))

    def _switch_on_discriminators(self, triples: list, s: dict, ptr: str) -> tuple[list, list]:
        """``if``/``then``/``else`` triples of an object schema whose ``if``s test one property
        ``P`` against pairwise disjoint value lists, as one ``anyOf`` per such group (a
        switch); returns (the switches, the other triples).

        Why: each triple lowers to an ``anyOf`` of two branches, and conjoined they are the
        product of all ways the ``if``s can hold (2^n: 17 rule types keyed by ``name`` did not
        compile within 20 s, JsonSchemaStore:361), though on an object at most one of them
        holds where ``P`` is present. Exact, on objects: ``P`` has branch i's value (then i,
        every other else), or a value none lists (every else), or ``P`` is absent (every
        then where the ``if``s do not require ``P``, every else where they do; no branch when
        ``s`` requires ``P``)."""
        groups: dict[tuple[str, bool], list[tuple[list, Any, Any]]] = {}
        rest = []
        for t in triples:
            d = self._discriminator_condition(t[0], f"{ptr}/if")
            if d is None:
                rest.append(t)
            else:
                groups.setdefault((d[0], d[2]), []).append((d[1], t))
        switches = []
        trivial = (True, {})
        for (key, requires), members in groups.items():
            lists = [vals for vals, _ in members]
            others = self._complement_values([v for vals in lists for v in vals]) if values_disjoint(lists) else None
            if len(members) < 2 or others is None:
                rest.extend(t for _, t in members)
                continue
            thens = [t[1] for _, t in members]
            elses = [t[2] for _, t in members]
            branches = []
            for i, vals in enumerate(lists):
                other_elses = [e for j, e in enumerate(elses) if j != i and e not in trivial]
                then = [thens[i]] if thens[i] not in trivial else []
                branches.append({"allOf": [{"required": [key], "properties": {key: {"enum": vals}}}, *then, *other_elses]})
            branches.append({"allOf": [{"required": [key], "properties": {key: others}}] + [e for e in elses if e not in trivial]})
            required = s.get("required")
            if not (isinstance(required, list) and key in required):
                absent = elses if requires else thens
                branches.append({"allOf": [{"not": {"required": [key]}}] + [x for x in absent if x not in trivial]})
            switches.append(Xof("anyOf", branches))
        return switches, rest

    def _any_of_unions(self, rest: dict, branches: list, more: list, ptr: str) -> Expr | None:
        """``anyOf`` under a parent's unevaluated*: every matching branch adds its annotations,
        so an instance is valid iff for some non-empty set of branches it matches them all and
        every member is evaluated by the parent or one of them (adding matching branches only
        adds annotations).  Exact as the union over the sets of their ``allOf``; None (each
        branch alone, as before) where at most one branch evaluates anything, or where there
        are more than ``MAX_ANYOF_UNION`` branches."""
        from itertools import combinations

        evaluating = [i for i, b in enumerate(branches) if isinstance(b, dict) and self._evaluates(b, ptr)]
        if len(evaluating) < 2:
            return None
        if len(branches) > MAX_ANYOF_UNION:
            return None
        sets = [c for k in range(1, len(branches) + 1) for c in combinations(range(len(branches)), k)
                if len(c) == 1 or all(i in evaluating for i in c)]  # plain branches add no annotations
        exprs = []
        for c in sets:
            cptr = f"{ptr}/anyOf/{c[0]}"
            part = branches[c[0]] if len(c) == 1 else {"allOf": [branches[i] for i in c]}
            nb = self.normalize(part, cptr) if isinstance(part, dict) else part
            merged = self.merge(rest, nb, cptr) if rest else nb
            if merged is False:
                continue
            if more:
                merged = _with_xofs(merged, more)
            exprs.append(self.any_value() if merged is True or merged == {} else self.node(merged, cptr))
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
            vals = self._enum_filtered({k: v for k, v in normed[i].items() if not is_internal(k)}) \
                if isinstance(normed[i], dict) and ("enum" in normed[i] or "const" in normed[i]) \
                and not normed[i].get(ALSO) and not normed[i].get(PART_ADDL) else None
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
                if has_unevaluated(normed[i]) and c not in (True, False) and self._evaluates(c, ptr):
                    # branch j failing gives no annotations, but its complement's would count
                    c = self._annotation_free(c, [normed[i]], f"{ptr}/{j}")
                    if c is None:
                        raise UnsupportedSchemaError(unevaluated_keyword(normed[i]), f"{ptr}/{i}",
                                                     f"oneOf branches {i} and {j} overlap and the complement of {j} "
                                                     "would add annotations")
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

    def _localize_unevaluated(self, part: Any, ptr: str) -> Any:
        """``part`` (an ``allOf`` part, a ``$ref`` target or an ``anyOf``/``oneOf`` branch with
        siblings) with its own unevaluated* rewritten into ``additionalProperties`` /
        ``items``, or None.

        An unevaluated* sees only the annotations of its own schema object and the in-place
        applicators inside it, never its siblings'. Where nothing inside ``part`` evaluates
        dynamically (no ``anyOf``/``oneOf``/``if``/``not``/``dependentSchemas`` reaching an
        evaluating keyword), the keys it sees evaluated are the static ``properties`` and
        ``patternProperties``, so ``unevaluatedProperties: U`` is ``additionalProperties: U``
        (and ``unevaluatedItems: U`` the ``items`` after ``prefixItems``, or-ed with
        ``contains``), which stay local when merged; and they annotate the same keys for an
        outer unevaluated*.
        """
        if not isinstance(part, dict):
            return None
        n = self.normalize(part, ptr)
        if not isinstance(n, dict):
            return n
        for k in ("anyOf", "oneOf", XOF, "if", ITE, "then", "else", "not", NOT, "dependentSchemas", "dependencies"):
            if k in n and self._evaluates(n[k], ptr):
                return None
        n = dict(n)
        up = n.pop("unevaluatedProperties", None)
        if up not in (None, True, {}) and "additionalProperties" not in n:
            n["additionalProperties"] = up
        ui = n.pop("unevaluatedItems", None)
        if ui not in (None, True, {}):
            unevaluated_items_as_items(n, ui)
        return n

    def _evaluates(self, node: Any, ptr: str) -> bool:
        """Whether a keyword that evaluates properties or items (what a parent's unevaluated*
        sees) is reachable in ``node`` (see :meth:`reaches`)."""
        return self.reaches(node, ptr, lambda n: any(k in n for k in EVALUATING))

    def _may_evaluate_name(self, node: Any, name: str, ptr: str) -> bool:
        """Whether something reachable in ``node`` could mark property ``name`` evaluated: a
        ``properties`` declaring it, or any ``patternProperties``/``additionalProperties``/
        ``unevaluatedProperties`` (see :meth:`reaches`)."""
        return self.reaches(node, ptr, lambda n: (isinstance(n.get("properties"), dict) and name in n["properties"])
                             or any(k in n for k in ("patternProperties", "additionalProperties", "unevaluatedProperties")))

    def _annotation_free(self, c: Any, ctx: list, ptr: str, depth: int = 0) -> Any:
        """A schema equivalent to the complement ``c`` wherever it is conjoined with the schemas
        ``ctx`` (one of them carrying the parent's ``unevaluatedProperties``), but whose
        keywords add no annotations; None where that is not computable here.

        A complement (of a failed branch, of `not`, of a failed `if`) contributes no
        annotations, yet lowering it as keywords would: ``properties: {k: S}`` would mark ``k``
        evaluated. Statically, ``k`` either is evaluated by ``ctx`` anyway (declared there or
        matching one of its ``patternProperties``, or falling to its ``additionalProperties``,
        which the merge conjoins), or is unevaluated and faces ``unevaluatedProperties`` ``U``
        (``S ∧ U``). Declaring ``k``
        with that conjunction keeps every instance's verdict; the same for a ``prefixItems``
        position facing ``unevaluatedItems`` (:meth:`_neutral_item`). Refused (None): ``ctx``
        with in-place applicators that might evaluate ``k`` (which keys they evaluate depends
        on the instance), complements with ``patternProperties``/``additionalProperties``,
        ``items`` or ``contains``.
        """
        if isinstance(c, bool):
            return c
        if not isinstance(c, dict):
            return None
        out = {}
        for k, v in c.items():
            if k in ("anyOf", "oneOf", "allOf"):
                if not isinstance(v, list):
                    return None
                subs = [self._annotation_free(b, ctx, ptr, depth + 1) for b in v]
                if any(x is None for x in subs):
                    return None
                out[k] = subs
            elif k == XOF:
                groups = []
                for kind, branches in v:
                    subs = [self._annotation_free(b, ctx, ptr, depth + 1) for b in branches]
                    if any(x is None for x in subs):
                        return None
                    groups.append(Xof(kind, subs))
                out[k] = groups
            elif k == "properties":
                if not isinstance(v, dict):
                    return None
                props = {name: self._neutral_property(name, sub, ctx, ptr) for name, sub in v.items()}
                if any(x is None for x in props.values()):
                    return None
                out[k] = props
            elif k == "prefixItems":
                if not isinstance(v, list):
                    return None
                items = [self._neutral_item(j, sub, ctx, ptr) for j, sub in enumerate(v)]
                if any(x is None for x in items):
                    return None
                out[k] = items
            elif k in EVALUATING or k in ("if", ITE, "dependentSchemas", "$ref") or (k == "dependencies" and isinstance(v, dict)
                                                                                 and not all(isinstance(x, list) for x in v.values())):
                return None
            else:
                out[k] = v  # `not` (complemented again where it is lowered), presence, scalars
        return out

    def _neutral_property(self, name: str, sub: Any, ctx: list, ptr: str) -> Any:
        """``sub`` for property ``name``, conjoined with the parent's ``unevaluatedProperties``
        where nothing in ``ctx`` evaluates ``name`` (see :meth:`_annotation_free`; an
        ``additionalProperties`` of ``ctx`` is conjoined by the merge itself); None where a
        pattern of ``ctx`` cannot be compiled."""
        from ..regex import regex_to_dfa

        uneval = []
        for part in ctx:
            if not isinstance(part, dict):
                continue
            if (name in (part.get("properties") or {}) or "additionalProperties" in part
                    or part.get("unevaluatedProperties") in (True, {})):  # these evaluate every name
                return sub
            for p in part.get("patternProperties") or {}:
                try:
                    if regex_to_dfa(p, encoding="utf8", search=True).matches(name.encode("utf-8")):
                        return sub
                except ConstraintError:
                    return None  # the pattern is refused where it is lowered
            if part.get("unevaluatedProperties") not in (None, True, {}):
                uneval.append(part["unevaluatedProperties"])
        if uneval:
            # not evaluated statically; refused where an in-place applicator of ``ctx`` might
            # evaluate it (which names those evaluate depends on the instance; `then`/`else`
            # on the `if`)
            in_place = self._in_place_applicators(ctx, ptr)
            if in_place is None or self._may_evaluate_name(in_place, name, ptr):
                return None
        return self.conjunction([sub, *uneval]) if uneval else sub

    def _in_place_applicators(self, ctx: list, ptr: str) -> list | None:
        """The in-place applicators of the schemas ``ctx`` (what they evaluate depends on the
        instance; `then`/`else` on the `if`), a `$ref` as its target; None where one does not
        resolve."""
        out = []
        for part in ctx:
            if not isinstance(part, dict):
                continue
            out += [part[k] for k in ("anyOf", "oneOf", "allOf", XOF, "if", "then", "else", ITE, NOT,
                                      "dependentSchemas", "dependencies") if k in part]
            if isinstance(part.get("$ref"), str):
                try:
                    out.append(self.resolve(part["$ref"], ptr, at=part)[0])
                except ConstraintError:
                    return None
        return out

    def _neutral_item(self, j: int, sub: Any, ctx: list, ptr: str) -> Any:
        """The item analogue of :meth:`_neutral_property`: a complement's ``prefixItems[j]``,
        conjoined with the parent's ``unevaluatedItems`` where nothing in ``ctx`` evaluates
        position ``j`` statically (a longer ``prefixItems``, an ``items``, an
        ``unevaluatedItems: true``); None where ``contains`` or an in-place applicator of
        ``ctx`` might evaluate it (which items those evaluate depends on the instance)."""
        uneval = []
        for part in ctx:
            if not isinstance(part, dict):
                continue
            if "contains" in part or part.get(CONTAINS_ALSO):
                return None
            prefix = part.get("prefixItems")
            if isinstance(prefix, list) and len(prefix) > j:
                return sub
            it = part.get("items")
            if isinstance(it, list):
                if len(it) > j or "additionalItems" in part:
                    return sub
            elif it is not None:
                return sub  # every item after the part's own prefix
            ue = part.get("unevaluatedItems")
            if ue is True or ue == {}:
                return sub
            if ue is not None:
                uneval.append(ue)
        if uneval:
            in_place = self._in_place_applicators(ctx, ptr)
            if in_place is None or self.reaches(
                    in_place, ptr, lambda n: (isinstance(n.get("prefixItems"), list) and len(n["prefixItems"]) > j)
                    or any(k in n for k in ("items", "contains", "unevaluatedItems", CONTAINS_ALSO))):
                return None
        return self.conjunction([sub, *uneval]) if uneval else sub

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
            elif k == XOF:
                for kind, branches in v:
                    subs = [self.presence_formula(b, f"{ptr}/{kind}", depth + 1) for b in branches]
                    if any(x is None for x in subs):
                        return None
                    parts.append(("or" if kind == "anyOf" else "one", tuple(subs)))
            elif k in ("not", NOT):
                for x in (v if k == NOT else [v]):
                    sub = self.presence_formula(x, f"{ptr}/not", depth + 1)
                    if sub is None:
                        return None
                    parts.append(("not", sub))
            else:
                return None
        if any(k == "type" for k in n) and n.get("type") == "object":
            parts.append(("object-only", ()))
        return ("and", tuple(parts))

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
        # the schema's own keywords (internal ones come from merged allOf / if parts)
        shown = sorted(k for k in keys if not is_internal(k)) or sorted(keys)
        self.unsupported("not", ptr, f"not with {shown} is not supported")
        return types
