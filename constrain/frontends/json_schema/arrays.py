"""Arrays: one automaton over positions (prefix items, then the rest item) x ``contains``
counter x one flag per extra ``contains`` merged in; ``uniqueItems`` only over a small finite
item domain (the automaton tracks the set of values used)."""

from __future__ import annotations

from typing import Any

from ...errors import UnsupportedSchemaError
from ...ir import Expr, Lex, NOTHING, Nfa, seq
from .ir import CONTAINS_ALSO
from .values import canon
from .keywords import MAX_COUNT_STATES


class ArraysMixin:
    """Arrays: the positional automaton over items, with counted ``contains`` and finite ``uniqueItems``."""

    def _unique_finite(self, prefix: list, rest: Any, lo: int, hi: int | None, ptr: str,
                       prefix_ptr: str, rest_ptr: str) -> Expr | None:
        """``uniqueItems`` where every position's values come from a finite domain (enum/const,
        boolean, null; ``prefixItems`` each with its own, the rest item one, or no rest item):
        the automaton's states are (position, set of values used), built from the empty array
        and at most ``MAX_COUNT_STATES`` of them.  None where a domain is not finite."""
        doms = []
        for k, p in enumerate(prefix):
            d = self._finite_domain(p, f"{prefix_ptr}/{k}")
            if d is None:
                return None
            doms.append(d)
        if rest is False or (isinstance(rest, dict) and self.normalize(rest, rest_ptr) is False):
            rest_dom = None
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        else:
            rest_dom = self._finite_domain(rest, rest_ptr)
            if rest_dom is None:
                return None
        # one index per distinct value (JSON equality: canon), over every domain
        index_of: dict[str, int] = {}
        values: list = []
        for d in doms + ([rest_dom] if rest_dom is not None else []):
            for v in d:
                c = canon(v)
                if c not in index_of:
                    index_of[c] = len(values)
                    values.append(v)
        dom_idx = [[index_of[canon(v)] for v in d] for d in doms]
        rest_idx = [index_of[canon(v)] for v in rest_dom] if rest_dom is not None else None
        top = len(values) if hi is None else min(hi, len(values))
        if lo > top:
            return NOTHING
        L = self.L
        lits = [self.literal_value(v, ptr) for v in values]
        comma = Lex(L.punct(","))
        P = len(prefix)
        state_of: dict[tuple[int, int], int] = {(0, 0): 0}
        order = [(0, 0)]
        edges = []
        for pos, used in order:
            if pos >= top:
                continue
            choices = dom_idx[pos] if pos < P else rest_idx
            if choices is None:
                continue
            for i in choices:
                if used >> i & 1:
                    continue
                key = (pos + 1, used | 1 << i)  # (items so far, values used)
                if key not in state_of:
                    if len(order) >= MAX_COUNT_STATES:
                        return None
                    state_of[key] = len(order)
                    order.append(key)
                edges.append((state_of[(pos, used)], state_of[key], seq(comma, lits[i]) if pos else lits[i]))
        finals = frozenset(state_of[k] for k in order if lo <= k[0] <= top)
        body = Nfa(len(order), 0, finals, tuple(edges))
        return seq(Lex(L.punct("[")), body, Lex(L.punct("]")))

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
        if s.get("uniqueItems") is True and (rest is False or (isinstance(rest, dict) and self.normalize(rest, rest_ptr) is False)):
            hi = len(prefix) if hi is None else min(hi, len(prefix))  # at most one item: always unique
        if s.get("uniqueItems") is True and (hi is None or hi > 1):
            if hi is not None and lo > hi:
                return NOTHING
            if "contains" not in s:
                exact = self._unique_finite(prefix, rest, lo, hi, ptr, prefix_ptr, rest_ptr)
                if exact is not None:
                    return exact
            self.unsupported("uniqueItems", ptr, "uniqueness of array items is not regular (only where every "
                             "item's values come from a small finite set: enum/const, boolean, null)")
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
            keyword = "maxItems" if hi is not None else "minItems"
            raise UnsupportedSchemaError(keyword, ptr, f"counting {B} items needs {B + 1} automaton positions "
                                         f"(at most {MAX_COUNT_STATES + 1})")
        C = min_c if max_c is None else max_c
        also = list(s.get(CONTAINS_ALSO, []))
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
