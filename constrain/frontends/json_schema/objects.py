"""Objects: members in any order (the default), or in ``properties`` order.

With ``property_order="any"`` an object is one :class:`~constrain.ir.Members` rule: each
declared property at most once, the required ones all, undeclared ones (pattern or
additional) repeatable unless the object is closed, the count within
``minProperties``/``maxProperties``, the presence formulas (``dependentRequired`` and
complements) and witness flags of ``some property`` constraints from complements checked at
the end. Its states (the set of properties seen) are built on first visit
(:mod:`constrain.ir.members`), so 50 optional properties cost only the states a parse visits.

With ``property_order="declared"`` (generation's narrowing: small models wander less) the
automaton is the ordered one: states are (next declared property, emitted anything yet,
property count, presence bits, witness flags), properties come in ``properties`` order and
undeclared ones may appear between and after them unless the object is closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...errors import SchemaError, UnsupportedSchemaError
from ...ir import EMPTY, Alt, Expr, Lex, Member, Members, NOTHING, Nfa, Ref, alt, seq
from ..regex import regex_to_dfa
from . import formats
from .ir import PART_ADDL, PATTERNS, PRESENCE, SOME, presence_eval, presence_names
from .keywords import ANNOTATIONS, MAX_COUNT_STATES
from .lexemes import string_content, string_spec
from .values import ptr_escape

# key languages of overlapping patternProperties (sets of patterns a key matches exactly)
MAX_PATTERN_REGIONS = 32
# "some property" constraints (witness flags) on one object: a member whose key may witness k
# of them gets 2^k - 1 extra value alternatives, so the count bounds that product
MAX_WITNESS_FLAGS = 4


@dataclass(frozen=True)
class PropertyNames:
    """The key language ``propertyNames`` allows: content patterns (search), full-match format
    regexes, length bounds, and an optional finite set of names."""

    patterns: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    min_length: int = 0
    max_length: int | None = None
    enum: tuple[str, ...] | None = None

    def allows(self, n: str) -> bool:
        if self.enum is not None and n not in self.enum:
            return False
        if not (self.min_length <= len(n) and (self.max_length is None or len(n) <= self.max_length)):
            return False
        for p in self.patterns:
            if not regex_to_dfa(p, encoding="utf8", search=True).matches(n.encode()):
                return False
        for p in self.full:
            if not regex_to_dfa(p, encoding="utf8").matches(n.encode()):
                return False
        return True


class ObjectsMixin:
    """Objects: the ordered-properties automaton with presence tracking and witness flags."""

    def _pattern_regions(self, pats: list, ptr: str) -> list | None:
        """Key languages of overlapping ``patternProperties``: for each set of patterns that some
        key matches exactly (all of them and none of the others), that set (indices) and its
        language as a string expression; None when no two patterns overlap.  The regions are
        split pattern by pattern (intersection and difference of automata), at most
        ``MAX_PATTERN_REGIONS`` of them (else ``UnsupportedSchemaError``)."""
        langs = [string_spec((p,)) for p, _ in pats]
        dfas = [string_content(e) for e in langs]
        if all(dfas[i].intersect(dfas[j]).is_empty() for i in range(len(dfas)) for j in range(i + 1, len(dfas))):
            return None
        regions: list = []
        for i, e in enumerate(langs):
            new = []
            for matched, r in regions:
                both, only = ("and", [r, e]), ("minus", r, e)
                if not string_content(both).is_empty():
                    new.append((matched + (i,), both))
                if not string_content(only).is_empty():
                    new.append((matched, only))
            fresh = ("minus", e, ("or", [r for _, r in regions])) if regions else e
            if not string_content(fresh).is_empty():
                new.append(((i,), fresh))
            regions = new
            if len(regions) > MAX_PATTERN_REGIONS:
                self.unsupported("patternProperties", f"{ptr}/patternProperties",
                                 f"overlapping patterns make more than {MAX_PATTERN_REGIONS} key languages")
        return regions

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
        names = self._property_names(s.get("propertyNames"), ptr)
        no_keys = names is None
        if no_keys:  # propertyNames: false -- no property at all, required or matching a pattern
            addl, undeclared_sub, props, pattern_props = False, False, {}, {}
            names = PropertyNames()
        name_patterns, name_full = list(names.patterns), list(names.full)
        name_min, name_max, name_enum = names.min_length, names.max_length, names.enum
        # declared properties that propertyNames forbids cannot appear
        name_ok = (lambda _name: False) if no_keys else names.allows
        part_addl = [] if no_keys else s.get(PART_ADDL, [])

        def with_parts(psub: Any, matched: set) -> Any:
            """``psub`` and the additionalProperties of each merged allOf part none of whose
            patterns a key matching exactly ``matched`` matches (see ``PART_ADDL``); the key is
            one no part declares."""
            extra_rules = [e["additionalProperties"] for e in part_addl if not matched & set(e["patternProperties"])]
            return self.conjunction([psub, *extra_rules])

        def undeclared_value(name: str) -> Any:
            """The value schema of a property no ``properties`` declares (required, or tracked
            by presence constraints): its matching patterns' schemas, else ``additionalProperties``,
            and every part rule; False where none may have it."""
            matching = [p for p in pattern_props if regex_to_dfa(p, encoding="utf8", search=True).matches(name.encode())]
            sub = self.conjunction([pattern_props[p] for p in matching]) if matching else undeclared_sub
            return False if sub is False else with_parts(sub, set(matching))

        declared = []
        for name, sub in props.items():
            if not name_ok(name):
                if name in required:
                    return NOTHING
                continue
            schemas = [sub]
            for pat, psub in pattern_props.items():
                # an equal schema twice is the same condition: kept once, a `$ref` in it stays a
                # named rule (conjoined with itself it would be merged into a fresh schema at
                # every level of a recursion, unfolded until a budget stops it)
                if not any(self._same(psub, x) for x in schemas) and \
                        regex_to_dfa(pat, encoding="utf8", search=True).matches(name.encode()):
                    schemas.append(psub)
            declared.append((name, self.conjunction(schemas)))
        declared_names = [n for n, _ in declared]
        for r in required:
            if r not in declared_names:
                # required but undeclared: must come from additional/pattern properties
                sub = undeclared_value(r)
                if sub is False or not name_ok(r):
                    return NOTHING
                declared.append((r, sub))
                declared_names.append(r)
        presence = ("and", tuple(s.get(PRESENCE, [])))
        pnames = sorted(presence_names(presence, set()))
        for r in pnames:
            if r not in declared_names and name_ok(r):
                sub = undeclared_value(r)
                if sub is not False:
                    declared.append((r, sub))
                    declared_names.append(r)
        tracked = [n for n in pnames if n in declared_names]
        if len(tracked) > 10:
            raise UnsupportedSchemaError("required", ptr, f"presence constraints over {len(tracked)} properties")
        allowed_sets = set()
        for bits in range(1 << len(tracked)):
            present = frozenset(n for i, n in enumerate(tracked) if bits >> i & 1)
            if presence_eval(presence, present):
                allowed_sets.add(bits)
        if not allowed_sets:
            return NOTHING
        bit_of = {n: 1 << i for i, n in enumerate(tracked)}
        M = 1 << len(tracked)
        # key lexemes for undeclared properties: pattern properties, then additional ones
        extra: list[tuple[Expr, Expr]] = []
        extra_specs: list = []  # (key content expression, value schema, pointer) of each `extra`
        pats = list(pattern_props.items())
        for e in part_addl:
            if set(e["patternProperties"]) - set(pattern_props):
                raise UnsupportedSchemaError("additionalProperties", ptr, "an allOf part's patterns were dropped")

        regions = self._pattern_regions(pats, ptr) if len(pats) > 1 else None
        if regions is None:
            for i, (pat, psub) in enumerate(pats):
                psub = with_parts(psub, {pat})
                key = L.string(tuple([pat] + name_patterns), tuple(name_full), name_min, name_max, tuple(declared_names))
                if name_enum is not None:
                    self.unsupported("propertyNames", ptr, "enum with patternProperties")
                if not key.is_empty():
                    extra.append((Lex(key), self.sub(psub, f"{ptr}/patternProperties/{ptr_escape(pat)}")))
                    extra_specs.append((string_spec(tuple([pat] + name_patterns), tuple(name_full), name_min, name_max,
                                                    tuple(declared_names)), psub, f"{ptr}/patternProperties/{ptr_escape(pat)}"))
        else:
            # overlapping patterns: one key language per set of matching patterns, whose value
            # must satisfy all their schemas
            if name_enum is not None:
                self.unsupported("propertyNames", ptr, "enum with patternProperties")
            names_spec = string_spec(tuple(name_patterns), tuple(name_full), name_min, name_max, tuple(declared_names))
            for matched, kexpr in regions:
                psub = self.conjunction([pats[i][1] for i in matched])
                psub = with_parts(psub, {pats[i][0] for i in matched})
                kspec = ("and", [names_spec, kexpr])
                key = L.string_expr(kspec)
                if key.dfa.is_empty():
                    continue
                pptr = f"{ptr}/patternProperties/{ptr_escape(pats[matched[0]][0])}"
                extra.append((Lex(key), self.sub(psub, pptr)))
                extra_specs.append((kspec, psub, pptr))
        if addl is not False:
            if name_enum is not None:
                allowed = [n for n in name_enum if n not in declared_names and name_ok(n)]
                keys = [Lex(L.string_literal(n)) for n in allowed]
                key_expr = alt(*keys) if keys else NOTHING
                key_spec = ("or", [("lit", n) for n in allowed])
            else:
                key_lx = L.string(tuple(name_patterns), tuple(name_full), name_min, name_max,
                                  tuple(declared_names), tuple(p for p, _ in pats))
                key_expr = NOTHING if key_lx.is_empty() else Lex(key_lx)
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
        somes = list(s.get(SOME, []))
        if len(somes) > MAX_WITNESS_FLAGS:
            raise UnsupportedSchemaError("not", ptr, "too many negated property constraints on one object")
        T0 = len(tracked)
        F = 1 << len(somes)
        Mx = M * F

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
            vptr = f"{ptr}/properties/{ptr_escape(name)}"
            alts_ = [(0, kx, self.sub(sub, vptr))]
            subsets, idx = witnesses(name, True) if somes else ([], [])
            for m in subsets:
                chosen = [idx[b] for b in range(len(idx)) if m >> b & 1]
                sch = self.conjunction([sub] + [somes[i][1] for i in chosen])
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
                sch = self.conjunction([vsch] + [somes[i][1] for i in chosen])
                extra_alts.append((sum(1 << i for i in chosen), Lex(klx), self.sub(sch, vptr + "+witness")))

        if self.property_order == "any":
            allowed = frozenset(allowed_sets) if tracked else None
            return self._members(ptr, declared, req, bit_of, values_alts, extra_alts, minP, maxP, allowed, len(somes))

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

    def _members(self, ptr: str, declared, req, bit_of, values_alts, extra_alts, minP, maxP, allowed,
                 n_flags) -> Expr:
        """The any-order object: a rule whose body is a :class:`Members` (values are called)."""

        def values(alts) -> tuple[tuple[int, str], ...]:
            return tuple((fl, name) for fl, _, v in alts if (name := self._value_rule(v, ptr)) is not None)

        members = [Member(values_alts[j][0][1].lexeme, values(values_alts[j]), name in req, bit_of.get(name, 0))
                   for j, (name, _) in enumerate(declared)]
        extras = []
        for fl, k, v in extra_alts:
            keys = k.items if isinstance(k, Alt) else (k,)  # propertyNames' enum: one literal each
            for kx in keys:
                extras.append(Member(kx.lexeme, values([(fl, kx, v)])))
        return self._members_rule(ptr, tuple(members), tuple(extras), minP, maxP, allowed, n_flags)

    def _members_rule(self, ptr: str, members: tuple, extras: tuple = (), minP: int = 0, maxP: int | None = None,
                      allowed=None, n_flags: int = 0) -> Expr:
        """A rule whose body is the :class:`Members` of these members (a reference to it)."""
        L = self.L
        body = Members(L.punct("{"), L.punct("}"), L.punct(","), L.punct(":"), members, extras,
                       minP, maxP, allowed, n_flags, ptr)
        name = self.fresh_rule_name("object:" + ptr)
        self.rules[name] = body
        self.origins[name] = ptr
        return Ref(name)

    def _value_rule(self, v: Expr, ptr: str) -> str | None:
        """The rule a member's value is called by (None: no value matches)."""
        if v is NOTHING:
            return None
        if isinstance(v, Ref):
            return v.name
        name = self.fresh_rule_name("value:" + ptr)
        self.rules[name] = v
        self.origins[name] = ptr
        return name

    def _property_names(self, names: Any, ptr: str) -> PropertyNames | None:
        """What ``propertyNames`` says about a key (None: no key at all)."""
        name_patterns: list[str] = []
        name_full: list[str] = []
        name_min, name_max = 0, None
        name_enum = None
        if names is not None and names is not True and names != {}:
            nn = self.normalize(names, f"{ptr}/propertyNames")
            if nn is False:
                return None
            if isinstance(nn, dict):
                for k, v in nn.items():
                    if k in ANNOTATIONS:
                        continue
                    if k == "type":
                        if "string" not in (v if isinstance(v, list) else [v]):
                            return None  # names are strings: none has another type
                        continue
                    if k == "pattern":
                        name_patterns.append(v)
                    elif k == PATTERNS:
                        name_patterns += v
                    elif k == "minLength":
                        name_min = int(v)
                    elif k == "maxLength":
                        name_max = int(v) if name_max is None else min(name_max, int(v))
                    elif k == "format":
                        fp = self.format_parts(v, f"{ptr}/propertyNames")
                        if fp is not None:
                            # the first part only for a union (idn-hostname: its ASCII names), a narrowing
                            name_full.extend(formats.regexes(fp[0][0]))
                            name_max = formats.capped(name_max, fp[0][1])
                    elif k in ("enum", "const"):
                        # each of `enum` and `const` narrows the names (a number allows none)
                        listed = [x for x in (v if k == "enum" else [v]) if isinstance(x, str)]
                        name_enum = listed if name_enum is None else [x for x in name_enum if x in listed]
                    else:
                        self.unsupported("propertyNames", f"{ptr}/propertyNames", f"keyword {k!r}")
        return PropertyNames(tuple(name_patterns), tuple(name_full), name_min, name_max,
                             None if name_enum is None else tuple(name_enum))
