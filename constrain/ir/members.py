"""Objects with members in any order, their states materialised on first visit.

A JSON object whose properties may come in any order needs, exactly, a state per set of
declared properties seen so far (each may appear once, the required ones must all appear):
2^n states for n properties, which no eager construction survives. A parse visits only a
path through them, so the RTN keeps a :class:`MembersRule` per :class:`~constrain.ir.Members`
rule and asks it for a state's edges when the parser first reaches that state.

A *key* ``(seen, count, flags, emitted)`` is one position between members: the declared
members seen (a bit mask), the member count (capped where the bounds stop caring), the witness
flags set so far and whether any member was written (a comma comes first then). Its RTN
states, made together on first visit:

* ``A`` -- the key itself: ``close`` to the rule's accepting end when the object may end,
  ``comma`` to ``B`` (or, before the first member, the key lexemes directly);
* ``B`` -- after the comma: each member's key lexeme to a ``P``;
* ``P`` -- after a key: ``colon`` to a ``V``;
* ``V`` -- after the colon: a call of each value rule, returning to the next key's ``A``.

Only keys that can still reach the end are materialised (:meth:`MembersRule.alive`), so the
RTN's promise holds: every state reaches acceptance. Without witness flags that test is a
closed form over the unseen members (the required ones must be writable, the presence
formula satisfiable by some subset of the tracked ones, the count bounds reachable); with
them it is a search over keys, bounded by ``SEARCH_LIMIT`` (:class:`CompileBudgetError`
naming the schema location past it).
"""

from __future__ import annotations

import heapq
import weakref
import threading
from typing import Callable

from ..budget import check_deadline
from ..errors import CompileBudgetError
from .grammar import Members

__all__ = ["MembersRule", "SEARCH_LIMIT"]

#: keys a coreachability or shortest-completion search may visit (witness flags only)
SEARCH_LIMIT = 50_000

INF = float("inf")

Key = tuple[int, int, int, int]  # (seen mask, count, flags, emitted)


class MembersRule:
    """The lazily built states of one :class:`Members` rule of an RTN."""

    def __init__(self, spec: Members, lex_symbol: Callable, rule_index: dict[str, int]):
        self.spec = spec
        self.where = spec.where
        self.open, self.close = lex_symbol(spec.open), lex_symbol(spec.close)
        self.comma, self.colon = lex_symbol(spec.comma), lex_symbol(spec.colon)
        # members: (key lexeme, ((flags, value rule), ...), required, presence bit, declared bit)
        self.members = []
        for i, m in enumerate(spec.declared):
            self.members.append((lex_symbol(m.key), tuple((fl, rule_index[r]) for fl, r in m.values),
                                 m.required, m.presence, 1 << i))
        for m in spec.extras:
            self.members.append((lex_symbol(m.key), tuple((fl, rule_index[r]) for fl, r in m.values), False, 0, 0))
        self.n_declared = len(spec.declared)
        self.min_count, self.max_count = spec.min_count, spec.max_count
        self.cap = spec.max_count if spec.max_count is not None else spec.min_count
        self.full_flags = (1 << spec.n_flags) - 1
        self.required_mask = sum(1 << i for i, m in enumerate(spec.declared) if m.required)
        self.tracked = [(1 << i, m.presence) for i, m in enumerate(spec.declared) if m.presence]
        self.tracked_members = [i for i, m in enumerate(spec.declared) if m.presence]
        self.key_ok: list[bool] | None = None
        self._rtn: "weakref.ref | None" = None
        self.productive: list[bool] | None = None
        self.start = self.end = -1
        self._ids: dict[Key, int] = {}
        self._key_of: dict[int, Key] = {}
        self._node_of: dict[int, tuple[str, Key]] = {}  # key states ("A") and after-comma states ("B")
        self._alive: dict[Key, bool] = {}
        # key -> (final, ((member, alternative index, next key), ...) alive): _plan
        self._plans: dict[Key, tuple[bool, tuple]] = {}
        self._tracked_memo: dict[int, frozenset[int]] = {}
        self._mask_memo: tuple | None = None
        self._searched = 0

    # ------------------------------------------------------------------ what may end

    def _usable(self, m, prod) -> bool:
        return self.key_ok[m] and any(prod[r] for _, r in self.members[m][1])

    def _presence(self, seen: int) -> int:
        return sum(p for bit, p in self.tracked if seen & bit)

    def final(self, key: Key) -> bool:
        seen, c, fl, _ = key
        return (seen & self.required_mask == self.required_mask and c >= self.min_count and fl == self.full_flags
                and (self.spec.allowed is None or self._presence(seen) in self.spec.allowed))

    def successors(self, key: Key, prod) -> list[tuple[int, int, int, Key]]:
        """``(member, flags, value rule, next key)`` for each member writable at ``key``."""
        seen, c, fl, _ = key
        if self.max_count is not None and c >= self.max_count:
            return []
        nc = min(c + 1, self.cap) if self.cap else 0
        out = []
        for m, (_, alts, _, _, bit) in enumerate(self.members):
            if seen & bit or not self.key_ok[m]:
                continue
            for afl, r in alts:
                if prod[r]:
                    out.append((m, afl, r, (seen | bit, nc, fl | afl, 1)))
        return out

    def _tracked_unseen(self, seen: int, prod) -> tuple[list[int], list[int]] | None:
        """The presence bits of the unseen tracked members that must be added (required) and
        that may be (optional, usable); None if a required one cannot be written."""
        forced, free = [], []
        for m in self.tracked_members:
            _, _, req, pres, bit = self.members[m]
            if seen & bit:
                continue
            usable = self._usable(m, prod)
            if req:
                if not usable:
                    return None
                forced.append(pres)
            elif usable:
                free.append(pres)
        return forced, free

    def _tracked_sizes(self, seen: int, prod) -> frozenset[int]:
        """How many unseen tracked members can be added so that the presence formula holds."""
        memo = prod is self.productive
        tseen = sum(bit for bit, _ in self.tracked if seen & bit)
        if memo and tseen in self._tracked_memo:
            return self._tracked_memo[tseen]
        if not self.tracked:
            out = frozenset([0]) if self.spec.allowed is None or 0 in self.spec.allowed else frozenset()
            return out
        split = self._tracked_unseen(seen, prod)
        if split is None:
            return frozenset()
        forced, free = split
        base = self._presence(seen) | sum(forced)
        allowed = self.spec.allowed
        # every subset of the free members as (presence mask, size), the list doubled per
        # member: 2^n entries for n free members, not 2^n * n bit tests (a first visit over
        # hundreds of objects with 7 tracked members each built hundreds of these)
        combos = [(base, 0)]
        for p in free:
            combos += [(pm | p, k + 1) for pm, k in combos]
        n_forced = len(forced)
        out = frozenset(n_forced + k for pm, k in combos if allowed is None or pm in allowed)
        if memo:
            self._tracked_memo[tseen] = out
        return out

    def alive(self, key: Key, prod=None) -> bool:
        """May the object still end from ``key`` (``prod``: which rules are productive)?"""
        if prod is None:
            prod = self.productive
        memo = prod is self.productive
        if memo:
            hit = self._alive.get(key)
            if hit is not None:
                return hit
        if self.spec.n_flags:
            self._searched = 0
            res = self._search_alive(key, prod, {} if not memo else self._alive)
        else:
            res = self._closed_form_alive(key, prod)
        if memo:
            self._alive[key] = res
        return res

    def _masks(self, prod) -> tuple[int, int, int, bool]:
        """(required untracked, required untracked but unusable, optional untracked usable,
        some extra usable) as bit masks over the declared members: the closed form then costs
        a few big-integer operations per key, not a loop over the members."""
        if prod is self.productive and self._mask_memo is not None:
            return self._mask_memo
        req = bad = opt = 0
        for m in range(self.n_declared):
            _, _, r, pres, bit = self.members[m]
            if pres:
                continue
            usable = self._usable(m, prod)
            if r:
                req |= bit
                if not usable:
                    bad |= bit
            elif usable:
                opt |= bit
        extras = any(self._usable(m, prod) for m in range(self.n_declared, len(self.members)))
        out = (req, bad, opt, extras)
        if prod is self.productive:
            self._mask_memo = out
        return out

    def _closed_form_alive(self, key: Key, prod) -> bool:
        seen, c, _, _ = key
        req, bad, opt, extras = self._masks(prod)
        if bad & ~seen:
            return False
        forced = (req & ~seen).bit_count()
        optional = (opt & ~seen).bit_count()
        for t in self._tracked_sizes(seen, prod):
            lo = c + forced + t
            if self.max_count is not None and lo > self.max_count:
                continue
            if extras or lo + optional >= self.min_count:
                return True
        return False

    def _search_alive(self, key: Key, prod, memo: dict) -> bool:
        """Depth-first search over keys (objects with witness flags), memoized, bounded."""
        def visit(k: Key) -> bool:
            hit = memo.get(k)
            if hit is not None:
                return hit
            self._searched += 1
            if self._searched > SEARCH_LIMIT:
                raise CompileBudgetError(f"object at {self.where or '#'} with negated property constraints: "
                                         f"more than {SEARCH_LIMIT} member states to search", budget="states")
            if not self._searched & 1023:
                check_deadline()
            memo[k] = False  # a cycle (extras at a capped count) does not make a key alive
            res = self.final(k) or any(visit(k2) for _, _, _, k2 in self.successors(k, prod) if k2 != k)
            memo[k] = res
            return res
        return visit(key)

    # ------------------------------------------------------------------ states

    @property
    def rtn(self):
        """The RTN this rule is bound to, held weakly. Why: the RTN holds its rules (its
        lazy edges' owners), so a strong reference back made a cycle, and a dropped
        constraint's RTN (tens of thousands of states on big schemas, more after decoding
        materialised key states) waited for a full garbage collection, which then walked it
        inside a later schema's decoding step (issue 18, docs/benchmarks.md part 2r)."""
        ref = self._rtn
        return None if ref is None else ref()

    @rtn.setter
    def rtn(self, rtn) -> None:
        self._rtn = None if rtn is None else weakref.ref(rtn)

    def bind(self, rtn, start: int, end: int, productive: list[bool]) -> None:
        """Attach to the compiled RTN: ``start`` reads ``open`` into the first key."""
        self.rtn, self.start, self.end, self.productive = rtn, start, end, productive
        # rules of one shape share their memos: a first visit over hundreds of objects in
        # ``oneOf`` branches asked the same questions of each (Github_medium:574: 787 rules,
        # 127 shapes)
        memos = getattr(rtn, "member_memos", None)
        memos = memos.setdefault(self.shape(), ({}, {}, {})) if memos is not None else ({}, {}, {})
        self._alive, self._tracked_memo, self._plans = memos
        self._mask_memo = None
        first = self.key_state((0, 0, 0, 0))
        rtn.lex_edges.set_static(start, {self.open: first})

    def shape(self) -> tuple:
        """What :meth:`alive`, :meth:`final` and the tracked-member counts depend on under
        ``productive``: per member its bit, requiredness, presence bit, whether its key
        language is empty and which of its values' flags have a productive rule; the count
        bounds, the witness flags, the presence formula. Rules with equal shapes give equal
        answers for every key."""
        prod = self.productive
        members = tuple((bit, req, pres, self.key_ok[m], tuple((fl, bool(prod[r])) for fl, r in alts))
                        for m, (_, alts, req, pres, bit) in enumerate(self.members))
        allowed = self.spec.allowed
        return (members, self.n_declared, self.min_count, self.max_count, self.spec.n_flags,
                None if allowed is None else frozenset(allowed))

    def key_state(self, key: Key) -> int:
        """The RTN state of ``key`` (allocated now, its edges built on first visit)."""
        q = self._ids.get(key)
        if q is None:
            q = self._ids[key] = self.rtn.new_state(None, (), False, owner=self)
            self._key_of[q] = key
            self._node_of[q] = ("A", key)
        return q

    def key_of(self, q: int) -> Key | None:
        return self._key_of.get(q)

    def materialize(self, q: int) -> dict[int, int]:
        """The lexeme edges of key state ``q``, building its ``B``/``P``/``V`` states."""
        key = self._key_of[q]
        rtn = self.rtn
        edges: dict[int, int] = {}
        final, succ = self._plan(key)
        if final:
            edges[self.close] = self.end
        by_key: dict[int, list[tuple[int, int]]] = {}
        members = self.members
        for m, ai, k2 in succ:
            x, alts = members[m][0], members[m][1]
            by_key.setdefault(x, []).append((alts[ai][1], self.key_state(k2)))
        keys = {}
        for x, calls in by_key.items():
            v = rtn.new_state({}, tuple(sorted(set(calls))), False)
            keys[x] = rtn.new_state({self.colon: v}, (), False)
        if keys:
            if key[3]:
                b = edges[self.comma] = rtn.new_state(keys, (), False)
                self._node_of[b] = ("B", key)
                rtn.lazy_owner[b] = self
            else:
                edges.update(keys)
        return edges

    def _plan(self, key: Key) -> tuple[bool, tuple]:
        """Whether the object may end at ``key``, and its successors that stay alive as
        ``(member, alternative index, next key)``: indices, not lexemes or rules, so that
        rules of one shape share the answer (:meth:`shape`; their members' alternatives
        line up)."""
        plan = self._plans.get(key)
        if plan is None:
            succ = []
            for m, afl, r, k2 in self.successors(key, self.productive):
                if self.alive(k2):
                    succ.append((m, self.members[m][1].index((afl, r)), k2))
            plan = self._plans[key] = (self.final(key), tuple(succ))
        return plan

    # ------------------------------------------------------------------ shortest completions

    def distance(self, key: Key, lex_cost: list[float], value_cost: Callable[[int], float],
                 memo: dict | None = None) -> float:
        """Fewest bytes from ``key`` to the rule's return, given each lexeme's and each value
        rule's shortest spelling (``inf``: no way to end)."""
        return self.plan(key, lex_cost, value_cost, memo)[0]

    def plan(self, key: Key, lex_cost: list[float], value_cost: Callable[[int], float],
             memo: dict | None = None) -> tuple[float, tuple[int, ...] | None]:
        """``distance`` and the members a cheapest completion adds, in any order (None where
        it comes from the search, objects with witness flags). ``memo`` holds results for one
        set of costs."""
        if memo is not None and key in memo:
            return memo[key]
        member_cost = memo.get("member_cost") if memo is not None else None
        if member_cost is None:
            member_cost = []
            for m, (x, alts, _, _, _) in enumerate(self.members):
                best = min((value_cost(r) for _, r in alts), default=INF)
                member_cost.append(lex_cost[x] + lex_cost[self.colon] + best if self.key_ok[m] else INF)
            if memo is not None:
                memo["member_cost"] = member_cost
        if self.spec.n_flags:
            got = (self._search_distance(key, lex_cost, value_cost, member_cost), None)
        else:
            got = self._closed_form_distance(key, lex_cost, member_cost)
        if memo is not None:
            memo[key] = got
        return got

    def _closed_form_distance(self, key: Key, lex_cost, member_cost) -> tuple[float, tuple[int, ...]]:
        """The members to add cost the same in any order: the missing required ones, the
        cheapest subset of tracked ones the presence formula accepts, and the cheapest others
        the minimum count still needs; then commas and the close."""
        seen, c, _, e = key
        forced: list[int] = []
        forced_cost = 0.0
        optional: list[tuple[float, int]] = []
        tracked_forced: list[tuple[int, int]] = []
        tracked_free: list[tuple[int, int]] = []
        for m in range(self.n_declared):
            _, _, req, pres, bit = self.members[m]
            if seen & bit:
                continue
            mc = member_cost[m]
            if req and mc == INF:
                return INF, ()
            if pres:
                if req:
                    tracked_forced.append((pres, m))
                elif mc < INF:
                    tracked_free.append((pres, m))
            elif req:
                forced.append(m)
                forced_cost += mc
            elif mc < INF:
                optional.append((mc, m))
        optional.sort()
        extra = min(((member_cost[m], m) for m in range(self.n_declared, len(self.members))), default=(INF, -1))
        base_pm = self._presence(seen) | sum(p for p, _ in tracked_forced)
        base = forced + [m for _, m in tracked_forced]
        base_cost = forced_cost + sum(member_cost[m] for _, m in tracked_forced)
        allowed = self.spec.allowed
        best, best_plan = INF, ()
        for sub in range(1 << len(tracked_free)):
            pm, chosen, cost = base_pm, list(base), base_cost
            for j, (p, m) in enumerate(tracked_free):
                if sub >> j & 1:
                    pm, cost = pm | p, cost + member_cost[m]
                    chosen.append(m)
            if allowed is not None and pm not in allowed:
                continue
            need = max(0, self.min_count - (c + len(chosen)))
            if self.max_count is not None and c + len(chosen) + need > self.max_count:
                continue
            # the `need` cheapest of the optional members (once each) and extras (repeatable)
            picks = sorted(optional[:need] + ([extra] * need if extra[0] < INF else []))[:need]
            if len(picks) < need:
                continue
            total = len(chosen) + need
            commas = total if e else max(0, total - 1)
            d = cost + sum(mc for mc, _ in picks) + commas * lex_cost[self.comma] + lex_cost[self.close]
            if d < best:
                best, best_plan = d, tuple(chosen + [m for _, m in picks])
        return best, best_plan

    def choice(self, q: int, lex_cost, value_cost, memo: dict) -> tuple[float, tuple] | None:
        """``(distance, first step)`` of a completion from key state ``q`` or the state after
        its comma, read off the plan (a member of a cheapest completion may come first);
        None where the caller should compare the edges itself."""
        node = self._node_of.get(q)
        if node is None:
            return None
        kind, key = node
        d, plan = self.plan(key, lex_cost, value_cost, memo)
        if plan is None or d == INF:
            return None
        edges = self.rtn.lex_edges[q]
        if kind == "A":
            if not plan:
                return d, ("lexeme", self.close, edges[self.close])
            if key[3]:
                return d, ("lexeme", self.comma, edges[self.comma])
            x = self.members[plan[0]][0]
            return d, ("lexeme", x, edges[x])
        if not plan:  # after a comma where the cheapest way was to close: compare the edges
            return None
        x = self.members[plan[0]][0]
        return d - lex_cost[self.comma], ("lexeme", x, edges[x])

    def _search_distance(self, key: Key, lex_cost, value_cost, member_cost) -> float:
        """A* over keys (objects with witness flags; the missing required members are a
        consistent lower bound), bounded by ``SEARCH_LIMIT`` keys (``inf`` past it)."""
        prod = self.productive
        close = lex_cost[self.close]

        def h(k: Key) -> float:
            return close + sum(member_cost[m] for m in range(self.n_declared)
                               if self.members[m][2] and not k[0] & self.members[m][4])

        best = {key: 0.0}
        heap = [(h(key), 0, 0.0, key)]
        tie = 1
        expanded = 0
        while heap:
            _, _, g, k = heapq.heappop(heap)
            if k is None:
                return g
            if g > best.get(k, INF):
                continue
            expanded += 1
            if expanded > SEARCH_LIMIT:
                return INF
            if self.final(k):
                heapq.heappush(heap, (g + close, tie, g + close, None))
                tie += 1
            comma = lex_cost[self.comma] if k[3] else 0
            for m, _, r, k2 in self.successors(k, prod):
                if not self.alive(k2):
                    continue
                g2 = g + comma + lex_cost[self.members[m][0]] + lex_cost[self.colon] + value_cost(r)
                if g2 < best.get(k2, INF):
                    best[k2] = g2
                    heapq.heappush(heap, (g2 + h(k2), tie, g2, k2))
                    tie += 1
        return INF


class LazyEdges(list):
    """``RTN.lex_edges``: a list whose ``None`` entries (key states of :class:`MembersRule`s
    not visited yet) are built on first read."""

    def __init__(self, items, lock: threading.RLock):
        super().__init__(items)
        self.owners: dict[int, MembersRule] = {}
        self.lock = lock

    def __getitem__(self, q):
        v = list.__getitem__(self, q)
        if v is None:
            with self.lock:
                v = list.__getitem__(self, q)
                if v is None:
                    v = self.owners[q].materialize(q)
                    list.__setitem__(self, q, v)
        return v

    def set_static(self, q: int, edges: dict[int, int]) -> None:
        list.__setitem__(self, q, edges)

    def is_lazy(self, q: int) -> bool:
        return q in self.owners
