"""Shortest completions: the fewest bytes that take a state to one where the output may end.

A byte-level search from the state blows up on big schemas (every open property list, every
string, multiplies the frontier), so the answer is computed from the grammar's structure:

* per lexeme state, the shortest way to finish the lexeme: a breadth-first search over the
  lexeme's DFA, one representative byte per byte class (memoized per state);
* per RTN state, the fewest bytes to the return of its rule: a fixpoint over lexeme edges
  (cost: the lexeme's shortest string) and call edges (cost: the callee's shortest string plus
  what is left after the return). This is Knuth's grammar problem; the costs are sums, so a
  worklist relaxation from the accepting states converges to the exact minimum.

A thread ``(stack, lexeme, lexeme_state)`` then costs: finish the lexeme, finish the rule it
returns into, then every rule below on the stack. A state's shortest completion is that of its
cheapest thread, spelled out by following the recorded choices. Every answer is checked by
walking it through the automaton before it is returned.

Used to close an output that is running out of tokens (``decode.generate(finish_within_budget=True)``).
"""

from __future__ import annotations

import weakref
from collections import deque

import numpy as np

from ..budget import check_deadline

__all__ = ["Completions"]

# a lexeme's tails depend on its token table alone, and tables are shared by every compile
# that has the lexeme (cached per lexeme and vocabulary): kept per table, as long as it lives
_TABLE_TAILS: "weakref.WeakKeyDictionary[object, dict[int, bytes | None]]" = weakref.WeakKeyDictionary()
_TABLE_TAILS_MAX = 1024  # tails kept per table
_BULK_ROWS = 8192  # tables up to this many transitions are read as one list by lexeme_tail
_CHECK_EVERY_EDGES = 50_000  # dependents scanned by _solve between two deadline checks

INF = float("inf")

# the byte each byte class is spelled with: readable ones first (letters, digits, then other
# printable ASCII), so a forced string content reads "aaa" rather than control bytes
_BYTE_PREFERENCE = sorted(range(256), key=lambda b: (
    0 if 0x61 <= b <= 0x7A else 1 if 0x30 <= b <= 0x39 else 2 if 0x41 <= b <= 0x5A
    else 3 if 0x20 <= b < 0x7F else 4, b))

_PREF = np.array(_BYTE_PREFERENCE, dtype=np.int64)

# one lexeme-tail search visits at most this many lexeme states (a counted string of a few
# thousand characters is well within it)
LEXEME_SEARCH_LIMIT = 200_000


# lexeme tails of small tables search their live moves only (_live_moves; False: every
# class of each visited state, as before, to compare)
LIVE_EDGES = True


def _live_moves(table, byts: list[int]):
    """``expand(s)`` for :meth:`Completions.lexeme_tail`: the live moves ``(target, byte)`` of
    state ``s``, in the order of ``byts`` (one byte per class, preferred first), from one
    numpy pass over the whole table."""
    T = table.state_table[:, [table.cmap_list[b] for b in byts]]
    src, k = np.nonzero(T < table.n_states)  # row-major: by state, then in ``byts`` order
    ptr = np.searchsorted(src, np.arange(table.n_states + 1)).tolist()
    moves = list(zip(T[src, k].tolist(), np.asarray(byts, dtype=np.int64)[k].tolist()))
    return lambda s: moves[ptr[s]:ptr[s + 1]]


class Completions:
    """Shortest completions over one :class:`~constrain.tokens.TokenAutomaton` (built lazily)."""

    def __init__(self, automaton):
        self.automaton = automaton
        self.rtn = automaton.rtn
        self._tails: dict[tuple[int, int], bytes | None] = {}
        self._class_bytes: dict[int, list[int]] = {}
        self._dist: list[float] | None = None
        self._choice: list[tuple] | None = None
        self._stack_cost: dict[tuple[int, ...], float] = {}
        self._lex_cost: list[float] = []
        self._lazy_dist: dict[int, float] = {}
        self._key_dist: dict[int, dict] = {}

    # ------------------------------------------------------------------ lexemes

    def _bytes_of_classes(self, x: int) -> list[int]:
        """One byte per byte class of lexeme ``x`` (bytes of one class step alike)."""
        hit = self._class_bytes.get(x)
        if hit is None:
            table = self.automaton.tables[x]
            # each class's first byte in preference order, classes by that byte's rank
            cls = np.asarray(table.dfa.classes)[:256][_PREF]
            _, first = np.unique(cls, return_index=True)
            hit = self._class_bytes[x] = _PREF[np.sort(first)].tolist()
        return hit

    def lexeme_tail(self, x: int, q: int) -> bytes | None:
        """The shortest bytes finishing lexeme ``x`` from its DFA state ``q`` (``b""`` if ``q``
        accepts; ``None`` if nothing finishes it within the search limit)."""
        key = (x, q)
        if key in self._tails:
            return self._tails[key]
        table = self.automaton.tables[x]
        shared = _TABLE_TAILS.get(table)
        if shared is None:
            shared = _TABLE_TAILS.setdefault(table, {})
        if q in shared:
            result = self._tails[key] = shared[q]
            return result
        byts = self._bytes_of_classes(x)
        if table.counted:
            step, accepts = table.step, table.accepts

            def expand(s: int) -> list[tuple[int, int]]:
                return [(step(s, b), b) for b in byts]
        else:
            cmap, acc = table.cmap_list, table.accept_list
            accepts = acc.__getitem__
            if table.n_states * table.n_cls <= _BULK_ROWS and LIVE_EDGES:
                # a small table's live moves at once, each state's in byte-preference order
                # (one numpy pass): a key's DFA is mostly escape spellings, where all but one or
                # two classes are dead, and reading every class of each visited state (a row
                # per state) was most of a search's time (0.25 ms per new key, issue 18 part 2q)
                expand = _live_moves(table, byts)
            else:
                row_of = table.py_row  # built and kept on first use (T_list is a plain dict)
                if table.n_states * table.n_cls <= _BULK_ROWS:
                    # a small table at once (one numpy call) rather than a row tuple per visited
                    # state, each built and kept by T_list: that was most of a search's time
                    T = table.state_table
                    row_of = np.where(T >= table.n_states, -1, T).tolist().__getitem__
                moves = [(cmap[b], b) for b in byts]

                def expand(s: int) -> list[tuple[int, int]]:  # one row read per state, not per byte
                    row = row_of(s)
                    return [(row[c], b) for c, b in moves]
        result: bytes | None = None
        if accepts(q):
            result = b""
        else:
            prev: dict[int, tuple[int, int]] = {q: (-1, -1)}
            frontier = deque([q])
            while frontier and result is None:
                s = frontier.popleft()
                for t, b in expand(s):
                    if t < 0 or t in prev:
                        continue
                    prev[t] = (s, b)
                    if accepts(t):
                        out = bytearray()
                        while t != q:
                            t, byte = prev[t]
                            out.append(byte)
                        result = bytes(reversed(out))
                        break
                    frontier.append(t)
                if len(prev) > LEXEME_SEARCH_LIMIT:
                    break
        if len(self._tails) > 500_000:
            self._tails.clear()
        self._tails[key] = result
        if len(shared) < _TABLE_TAILS_MAX:
            shared[q] = result
        return result

    # ------------------------------------------------------------------ rules

    def _solve(self) -> None:
        """Fewest bytes from every RTN state to its rule's return, and the edge achieving it.

        Over the static states; an any-order object's start costs its ``{`` plus its members'
        closed form (:meth:`constrain.ir.members.MembersRule.distance`), recomputed whenever
        one of its value rules gets cheaper. Its lazy states are costed on demand."""
        rtn = self.rtn
        n = rtn.static_states
        lex_cost = []
        for x in range(len(rtn.lexemes)):
            t = self.lexeme_tail(x, 0)
            lex_cost.append(INF if t is None else len(t))
        self._lex_cost = lex_cost
        dependents: list[list[int]] = [[] for _ in range(n)]
        for q in range(n):
            for nxt in rtn.lex_edges[q].values():
                if nxt < n:
                    dependents[nxt].append(q)
            for callee, ret in rtn.call_edges[q]:
                dependents[ret].append(q)
                dependents[rtn.rule_start[callee]].append(q)
        objects = {mr.start: mr for mr in rtn.members.values()}
        for s, mr in objects.items():
            for r in {r for _, alts, *_ in mr.members for _, r in alts}:
                if rtn.rule_start[r] >= 0:
                    dependents[rtn.rule_start[r]].append(s)
        dist = [INF] * n
        choice: list[tuple] = [()] * n
        work = deque()
        queued = [False] * n
        for q in range(n):
            if rtn.accepting[q]:
                dist[q] = 0
                choice[q] = ("return",)
                work.append(q)
                queued[q] = True
        lex_edges, call_edges, rule_start = rtn.lex_edges, rtn.call_edges, rtn.rule_start

        def value_cost(r: int) -> float:
            return dist[rule_start[r]] if rule_start[r] >= 0 else INF

        steps = 0
        while work:
            s = work.popleft()
            queued[s] = False
            steps += len(dependents[s])
            if steps >= _CHECK_EVERY_EDGES:  # a root with thousands of alternatives rescans them all
                steps = 0
                check_deadline()
            for q in dependents[s]:
                best, pick = dist[q], None
                mr = objects.get(q)
                if mr is not None:
                    c = lex_cost[mr.open] + mr.distance((0, 0, 0, 0), lex_cost, value_cost)
                    if c < best:
                        best, pick = c, ("lexeme", mr.open, lex_edges[q][mr.open])
                else:
                    for x, nxt in lex_edges[q].items():
                        c = lex_cost[x] + dist[nxt]
                        if c < best:
                            best, pick = c, ("lexeme", x, nxt)
                    for callee, ret in call_edges[q]:
                        c = dist[rule_start[callee]] + dist[ret]
                        if c < best:
                            best, pick = c, ("call", callee, ret)
                if pick is not None:  # only strict improvements: the choices stay acyclic
                    dist[q], choice[q] = best, pick
                    if not queued[q]:
                        queued[q] = True
                        work.append(q)
        self._dist, self._choice = dist, choice
        self._value_cost = value_cost

    def _dist_of(self, q: int) -> float:
        """``dist`` of any state: static ones from the fixpoint, lazy ones on demand."""
        if q < len(self._dist):
            return self._dist[q]
        d = self._lazy_dist.get(q)
        if d is None:
            rtn = self.rtn
            mr = rtn.lex_edges.owners.get(q)
            if mr is not None:  # a key state: the closed form
                d = mr.distance(mr.key_of(q), self._lex_cost, self._value_cost,
                                self._key_dist.setdefault(id(mr), {}))
            else:  # after a comma, a key or a colon: a few edges from the next key state
                d = self._lazy_choice(q)[0]
            self._lazy_dist[q] = d
        return d

    def _lazy_choice(self, q: int) -> tuple[float, tuple]:
        """The cheapest edge out of lazy state ``q`` and its cost (an object's key states
        read it off their closed form, instead of costing every member's successor)."""
        rtn = self.rtn
        mr = rtn.lazy_owner.get(q)
        if mr is not None:
            got = mr.choice(q, self._lex_cost, self._value_cost, self._key_dist.setdefault(id(mr), {}))
            if got is not None:
                return got
        best, pick = INF, ()
        for x, nxt in rtn.lex_edges[q].items():
            c = self._lex_cost[x] + self._dist_of(nxt)
            if c < best:
                best, pick = c, ("lexeme", x, nxt)
        for callee, ret in rtn.call_edges[q]:
            c = self._value_cost(callee) + self._dist_of(ret)
            if c < best:
                best, pick = c, ("call", callee, ret)
        return best, pick

    def _choice_of(self, q: int) -> tuple:
        return self._choice[q] if q < len(self._choice) else self._lazy_choice(q)[1]

    def _spell(self, frames: tuple[int, ...], out: bytearray) -> bool:
        """Append the bytes finishing each frame's rule, top (last) first."""
        rule_start = self.rtn.rule_start
        work = list(frames)  # LIFO: the top frame is expanded first
        limit = 4 * (sum(self._dist_of(f) for f in frames) + len(frames)) + 1_000
        steps = 0
        while work:
            steps += 1
            if steps > limit:
                return False  # a cycle in the choices would be a bug; the caller checks
            q = work.pop()
            ch = self._choice_of(q)
            if not ch:
                return False
            if ch[0] == "lexeme":
                out += self.lexeme_tail(ch[1], 0)
                work.append(ch[2])
            elif ch[0] == "call":
                work.append(ch[2])
                work.append(rule_start[ch[1]])
        return True

    def _frames_cost(self, frames: tuple[int, ...]) -> float:
        c = self._stack_cost.get(frames)
        if c is None:
            c = sum(self._dist_of(f) for f in frames)
            if len(self._stack_cost) > 200_000:
                self._stack_cost.clear()
            self._stack_cost[frames] = c
        return c

    # ------------------------------------------------------------------ states

    def _best_thread(self, st):
        """``(cost, lexeme tail, frames)`` of the cheapest thread of ``st``, or None."""
        if self._dist is None:
            self._solve()
        lex_edges = self.rtn.lex_edges
        best = None
        for stack, x, q in st.threads:
            tail = self.lexeme_tail(x, q)
            if tail is None:
                continue
            frames = stack[:-1] + (lex_edges[stack[-1]][x],)
            cost = len(tail) + self._frames_cost(frames)
            if cost < INF and (best is None or cost < best[0]):
                best = (cost, tail, frames)
        return best

    def length(self, st) -> float:
        """Bytes in the shortest completion of ``st`` (0 if it may end; ``inf`` if none known)."""
        if st.can_end:
            return 0
        best = self._best_thread(st)
        return INF if best is None else best[0]

    def shortest(self, st) -> bytes | None:
        """The shortest bytes after which ``st`` may end (``b""`` if it may end now)."""
        if st.can_end:
            return b""
        best = self._best_thread(st)
        if best is None:
            return None
        _, tail, frames = best
        out = bytearray(tail)
        if not self._spell(frames, out):
            return None
        a = self.automaton
        end = a.walk(st, bytes(out))
        if not end.can_end:  # never expected: a wrong completion must not reach the output
            return None
        return bytes(out)
