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

from collections import deque

__all__ = ["Completions"]

INF = float("inf")

# the byte each byte class is spelled with: readable ones first (letters, digits, then other
# printable ASCII), so a forced string content reads "aaa" rather than control bytes
_BYTE_PREFERENCE = sorted(range(256), key=lambda b: (
    0 if 0x61 <= b <= 0x7A else 1 if 0x30 <= b <= 0x39 else 2 if 0x41 <= b <= 0x5A
    else 3 if 0x20 <= b < 0x7F else 4, b))

# one lexeme-tail search visits at most this many lexeme states (a counted string of a few
# thousand characters is well within it)
LEXEME_SEARCH_LIMIT = 200_000


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

    # ------------------------------------------------------------------ lexemes

    def _bytes_of_classes(self, x: int) -> list[int]:
        """One byte per byte class of lexeme ``x`` (bytes of one class step alike)."""
        hit = self._class_bytes.get(x)
        if hit is None:
            table = self.automaton.tables[x]
            cmap = table.dfa.classes
            seen: set[int] = set()
            hit = []
            for b in _BYTE_PREFERENCE:
                c = int(cmap[b])
                if c not in seen:
                    seen.add(c)
                    hit.append(b)
            self._class_bytes[x] = hit
        return hit

    def lexeme_tail(self, x: int, q: int) -> bytes | None:
        """The shortest bytes finishing lexeme ``x`` from its DFA state ``q`` (``b""`` if ``q``
        accepts; ``None`` if nothing finishes it within the search limit)."""
        key = (x, q)
        if key in self._tails:
            return self._tails[key]
        table = self.automaton.tables[x]
        if table.counted:
            step, accepts = table.step, table.accepts
        else:
            T, cmap, acc = table.T_list, table.cmap_list, table.accept_list
            step = lambda s, b: T[s][cmap[b]]  # noqa: E731
            accepts = acc.__getitem__
        result: bytes | None = None
        if accepts(q):
            result = b""
        else:
            byts = self._bytes_of_classes(x)
            prev: dict[int, tuple[int, int]] = {q: (-1, -1)}
            frontier = deque([q])
            while frontier and result is None:
                s = frontier.popleft()
                for b in byts:
                    t = step(s, b)
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
        return result

    # ------------------------------------------------------------------ rules

    def _solve(self) -> None:
        """Fewest bytes from every RTN state to its rule's return, and the edge achieving it."""
        rtn = self.rtn
        n = rtn.num_states
        lex_cost = []
        for x in range(len(rtn.lexemes)):
            t = self.lexeme_tail(x, 0)
            lex_cost.append(INF if t is None else len(t))
        dependents: list[list[int]] = [[] for _ in range(n)]
        for q in range(n):
            for nxt in rtn.lex_edges[q].values():
                dependents[nxt].append(q)
            for callee, ret in rtn.call_edges[q]:
                dependents[ret].append(q)
                dependents[rtn.rule_start[callee]].append(q)
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
        while work:
            s = work.popleft()
            queued[s] = False
            for q in dependents[s]:
                best, pick = dist[q], None
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

    def _spell(self, frames: tuple[int, ...], out: bytearray) -> bool:
        """Append the bytes finishing each frame's rule, top (last) first."""
        choice, rule_start = self._choice, self.rtn.rule_start
        work = list(frames)  # LIFO: the top frame is expanded first
        limit = 4 * (sum(self._dist[f] for f in frames) + len(frames)) + 1_000
        steps = 0
        while work:
            steps += 1
            if steps > limit:
                return False  # a cycle in the choices would be a bug; the caller checks
            q = work.pop()
            ch = choice[q]
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
            dist = self._dist
            c = sum(dist[f] for f in frames)
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
