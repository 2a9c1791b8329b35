"""The token-level automaton: states, byte/token transitions and per-state masks.

A state is a set of *threads* ``(stack, lexeme, lexeme_state)``: a parser stack (whose top
has an edge for ``lexeme``) and how far into that lexeme the output is. A thread whose lexeme
state accepts also spawns the threads of every lexeme that may follow (computed by the parser
once per stack and cached), so a state always knows every way the output can go on. States
are interned: equal thread sets are the same object, which carries its own caches:

* ``mask`` -- the packed token mask, computed on first use: the OR of the lexemes' INSIDE rows
  (:mod:`constrain.tokens`) plus the tokens that cross a lexeme boundary, found by walking only
  the trie subtrees below split nodes through the real parser;
* ``steps`` -- byte and token transitions (tokens keyed from ``TOKEN_KEY`` on), to the next
  state's id (``sid``, resolved by the automaton), not to the state: a dict of ints is never
  tracked by the garbage collector, and states hold no references to each other.

Every alive state is a viable prefix: lexeme DFAs are trimmed and every RTN state can reach
acceptance, so "some thread survives" is exactly "some valid continuation exists".
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left

import numpy as np

from .completion import Completions
from ..budget import check_deadline, compile_budget
from ..errors import CompileBudgetError
from ..ir import RTN, Parser
from .bitmask import pack_bits, set_bits
from .lexeme_tables import FILL_BATCH_MIN, fill_rows
from .shared_rows import share
from .tables import lexeme_table
from .trie import child_lists, csr_positions, tokens_at_nodes
from .vocab import Vocabulary

__all__ = ["State", "TokenAutomaton"]

Thread = tuple[tuple[int, ...], int, int]
Threads = "tuple[Thread, ...] | frozenset[Thread]"

#: thread sets smaller than this are sorted tuples, larger ones frozensets (thread_set)
TUPLE_THREADS_MAX = 32


def thread_set(threads) -> "tuple[Thread, ...] | frozenset[Thread]":
    """A state's threads in their one interned form: a sorted tuple below
    ``TUPLE_THREADS_MAX`` threads, a frozenset from there on (sorting would cost more there).

    Why: a set is always tracked by the garbage collector, a tuple of tuples of ints is
    untracked at its first collection; a long document's walk holds tens of thousands of
    small states, and every full collection inside a decoding step walked their sets.
    The form depends only on the size, so equal sets always get the same form.
    """
    if len(threads) < TUPLE_THREADS_MAX:
        return tuple(sorted(threads))
    return frozenset(threads)

# crossing walks from at most this many split nodes start depth-first in Python, and fall
# back to the level-by-level numpy walk after this many (node, byte) lookups
SMALL_WALK_ROOTS = 64
SMALL_WALK_BUDGET = 2048
# State.steps keys: bytes below, tokens from here on
TOKEN_KEY = 256
# states with at least this many threads step bytes per (lexeme, lexeme state) group
GROUP_MIN = 32
# lexeme states with equal split nodes cross in one walk (_compute_mask; tests turn it off)
CROSS_GROUPS = True
#: a state with more threads than this is refused (CompileBudgetError): an ambiguous grammar
#: (``start: "a" start start |``) multiplies its parser stacks at every byte, and each step
#: costs its thread count, so without a bound a matcher hangs. MaskBench's states stay under
#: ~250 threads (1,500 sampled schemas and the largest ones, session 20).
MAX_THREADS = 50_000


def _bounded(threads: set) -> set:
    """``threads``, or :class:`CompileBudgetError` past ``MAX_THREADS`` (see there)."""
    if len(threads) > MAX_THREADS:
        raise CompileBudgetError(f"more than {MAX_THREADS:,} parser threads at one position: the grammar is too "
                                 "ambiguous here (a rule like `s: \"a\" s s |` multiplies its parses at every byte)",
                                 budget="states")
    return threads


class State:
    __slots__ = ("threads", "can_end", "sid", "mask", "steps", "_first", "_first_bits", "_first_list",
                 "_below", "_groups", "__weakref__")

    def __init__(self, threads: Threads, can_end: bool, sid: int = 0):
        self.threads = threads
        self.can_end = can_end
        # the state's id: > 0 interned (TokenAutomaton._by_sid), < 0 a crossing walk's own
        # (_WalkStates), 0 the dead state; never reused within an automaton
        self.sid = sid
        self.mask: np.ndarray | None = None
        # byte b -> the sid of the state after it; TOKEN_KEY + t -> after token t (one dict
        # for both). Ids, not states: a dict of ints stays untracked by the garbage
        # collector, so a state is one tracked object, not two (part 2r)
        self.steps: dict[int, int] = {}
        self._first: np.ndarray | None = None
        self._first_bits: int | None = None
        self._first_list: tuple[int, ...] | None = None  # a tuple: untracked by the collector
        # trie node -> live nodes below it when the bytes past it run from this state
        # (crossing walks of several lexeme states into one follow state share them)
        self._below: dict[int, tuple[int, ...]] | None = None
        # (lexeme, lexeme state) -> stacks, for states with many threads (GROUP_MIN)
        self._groups: dict[tuple[int, int], tuple[tuple[int, ...], ...]] | None = None

    @property
    def dead(self) -> bool:
        return not self.threads and not self.can_end

    def __repr__(self) -> str:
        return f"State({len(self.threads)} threads, can_end={self.can_end})"


def _byte_set(bits: int) -> np.ndarray:
    """bool[256] of a 256-bit byte set (bit ``b``: byte ``b``)."""
    return np.unpackbits(np.frombuffer(bits.to_bytes(32, "little"), dtype=np.uint8), bitorder="little").astype(bool)


class TokenAutomaton:
    """Token transitions and masks over one compiled grammar and one vocabulary."""

    def __init__(self, rtn: RTN, vocab: Vocabulary, *, state_limit: int = 50_000):
        self.rtn = rtn
        self.vocab = vocab
        self.parser = Parser(rtn)
        self.tables = [lexeme_table(lx, vocab) for lx in rtn.lexemes]
        # plain lexemes step through python lists; counted ones through their own method
        self._trans = [None if t.counted else t.T_list for t in self.tables]
        self._cmaps = [None if t.counted else t.cmap_list for t in self.tables]
        self._accept = [None if t.counted else t.accept_list for t in self.tables]
        self._after: dict[tuple, tuple[tuple[Thread, ...], bool]] = {}
        self._split_kids: dict[int, tuple] = {}
        self._viable_bits: dict[tuple[int, int], int] = {}
        self._first_lists: dict[int, tuple[int, ...]] = {}  # first_list: 256-bit set -> bytes
        self._walks: dict[tuple[int, int, int], tuple[int, bool, int]] = {}  # lexeme_walk
        # interned states by thread set (thread_set), one dict per ``can_end``: keyed by the set
        # itself, not a (threads, can_end) tuple, one object less per state for the garbage
        # collector to walk
        self._intern: tuple[dict, dict] = ({}, {})
        # sid -> interned state (what State.steps point to); the dead state is 0
        self._sids = itertools.count(1)
        self._by_sid: dict[int, State] = {}
        self._state_limit = state_limit
        self._lock = threading.RLock()
        # (seconds, bytes) each first visit of a state may take (Compiled sets its own budgets)
        self.mask_budget: tuple[float | None, int | None] = (None, None)
        self._completions: Completions | None = None
        self.dead = State(frozenset(), False)
        self._by_sid[0] = self.dead
        ready, can_end = self.parser.initial()
        threads = set()
        for s in ready:
            threads.update(self._lexeme_threads(s))
        self.start = self._state(thread_set(threads), can_end)
        eos = np.zeros(vocab.size, dtype=bool)
        eos[np.asarray(vocab.eos_ids, dtype=np.int64)] = True
        self._eos_row = pack_bits(eos, vocab.n_words)
        self._eos_set = frozenset(int(i) for i in vocab.eos_ids)

    def release(self) -> None:
        """Drop the caches (byte and token steps, crossing memos, interned states, the
        completions, which hold the automaton), so that what is left is freed by reference
        counting at once.

        Why: a cycle is freed only by a full garbage collection, which then runs inside
        whatever decoding step triggers it (the longest steps on MaskBench, 20-35 ms). Steps
        hold state ids, so states no longer form cycles; the completions still do.
        :class:`~constrain.Compiled` calls this when it is dropped. Matchers still walking the
        automaton stay correct: every cleared entry is a cache, recomputed on the next visit
        (ids are never reused, so a step to a dropped id is a miss, never a wrong state).
        """
        with self._lock:
            states = self.interned_states()
            for d in self._intern:
                d.clear()
            self._by_sid.clear()
            self._by_sid[0] = self.dead
            self._after.clear()
            self._split_kids.clear()
            self._walks.clear()
            self._first_lists.clear()
            self._completions = None
        for st in states:
            st.steps = {}
            st._below = None

    # ------------------------------------------------------------------ threads

    def _lexeme_threads(self, stack: tuple[int, ...]) -> list[Thread]:
        return [(stack, x, 0) for x in self.rtn.lex_edges[stack[-1]]]

    def after_lexeme(self, stack: tuple[int, ...], lex: int) -> tuple[tuple[Thread, ...], bool]:
        """Threads that start once lexeme ``lex`` completes on ``stack``; may the output end?"""
        key = (stack, lex)
        hit = self._after.get(key)
        if hit is None:
            # the threads of the ready stacks in one comprehension: a first visit over
            # hundreds of objects in oneOf branches makes thousands of these per step
            ready, can_end = self.parser.after(stack, lex)
            lex_edges = self.rtn.lex_edges
            hit = (tuple([(s, x, 0) for s in ready for x in lex_edges[s[-1]]]), can_end)
            if len(self._after) > 4 * self._state_limit:
                self._after.clear()
            self._after[key] = hit
        return hit

    def _state(self, threads: "Threads", can_end: bool) -> State:
        if not threads and not can_end:
            return self.dead
        intern = self._intern[1 if can_end else 0]
        st = intern.get(threads)
        if st is None:
            by_sid = self._by_sid
            if len(intern) >= self._state_limit:
                # states stay valid for whoever holds them; only sharing (and the steps to
                # them: their ids leave _by_sid) is lost
                for old in intern.values():
                    by_sid.pop(old.sid, None)
                intern.clear()
            st = intern[threads] = State(threads, can_end, next(self._sids))
            by_sid[st.sid] = st
        return st

    def interned_states(self) -> list[State]:
        """The states interned now (both ``can_end`` values)."""
        return [st for d in self._intern for st in d.values()]

    # ------------------------------------------------------------------ transitions

    def step(self, st: State, b: int) -> State:
        """The state after one more byte."""
        nxt = self._by_sid.get(st.steps.get(b, -1))
        if nxt is not None:
            return nxt
        nxt = self._state(*self._next_threads(st, b))
        st.steps[b] = nxt.sid
        return nxt

    def _next_threads(self, st: State, b: int) -> tuple[Threads, bool]:
        """The threads after ``st`` and one more byte: per (lexeme, lexeme state) group for
        states with many threads (``GROUP_MIN``), thread by thread otherwise."""
        if len(st.threads) >= GROUP_MIN:
            return self._step_groups(self.stacks_by_lexeme_state(st), b)
        return self._step_threads(st.threads, b)

    @staticmethod
    def stacks_by_lexeme_state(st: State) -> "dict[tuple[int, int], tuple[tuple[int, ...], ...] | list[tuple[int, ...]]]":
        """``st``'s parser stacks per (lexeme, lexeme state); kept on the state when it has
        ``GROUP_MIN`` threads or more (small states rebuild it: one object less each for the
        garbage collector), with each group's stacks as a tuple. Why tuples: a list is
        tracked by the collector for as long as it lives, a tuple of stacks is untracked at
        its first collection; kept lists were 51k of JsonSchemaStore:51's 67k long-lived
        objects after its walks, walked by every full collection (part 2r)."""
        g = st._groups
        if g is None:
            g = {}
            for stack, x, q in st.threads:
                g.setdefault((x, q), []).append(stack)
            if len(st.threads) >= GROUP_MIN:
                g = st._groups = {k: tuple(v) for k, v in g.items()}
        return g

    def _step_groups(self, groups, b: int) -> tuple[Threads, bool]:
        """:meth:`_step_threads` over threads grouped by (lexeme, lexeme state): the lexeme
        steps once per group. Why: a state after a key of objects inside ``oneOf`` branches
        holds thousands of threads on a few lexeme states (stacks that differ in the member
        set), and most bytes of a crossing walk kill whole groups."""
        trans, cmaps, accept = self._trans, self._cmaps, self._accept
        out: set[Thread] = set()
        can_end = False
        for (x, q), stacks in groups.items():
            tx = trans[x]
            if tx is not None:
                try:
                    q2 = tx[q][cmaps[x][b]]
                except KeyError:
                    q2 = self.tables[x].py_row(q)[cmaps[x][b]]
                if q2 < 0:
                    continue
                done = accept[x][q2]
            else:
                table = self.tables[x]
                q2 = table.step(q, b)
                if q2 < 0:
                    continue
                done = table.accepts(q2)
            out.update([(stack, x, q2) for stack in stacks])
            if done:
                for stack in stacks:
                    more, ce = self.after_lexeme(stack, x)
                    out.update(more)
                    can_end = can_end or ce
        return thread_set(_bounded(out)), can_end

    def _step_threads(self, threads, b: int) -> tuple[Threads, bool]:
        """The threads after one more byte, and whether the output may end there."""
        trans, cmaps, accept = self._trans, self._cmaps, self._accept
        out: set[Thread] = set()
        can_end = False
        for stack, x, q in threads:
            tx = trans[x]
            if tx is not None:
                try:
                    q2 = tx[q][cmaps[x][b]]
                except KeyError:  # the first step out of this lexeme state (see LexemeTable.T_list)
                    q2 = self.tables[x].py_row(q)[cmaps[x][b]]
                done = q2 >= 0 and accept[x][q2]
            else:
                table = self.tables[x]
                q2 = table.step(q, b)
                done = q2 >= 0 and table.accepts(q2)
            if q2 >= 0:
                out.add((stack, x, q2))
                if done:
                    more, ce = self.after_lexeme(stack, x)
                    out.update(more)
                    can_end = can_end or ce
        return thread_set(_bounded(out)), can_end

    def walk(self, st: State, data: bytes) -> State:
        for b in data:
            st = self.step(st, b)
            if st is self.dead:
                break
        return st

    def advance(self, st: State, token: int) -> State:
        """The state after a (non-EOS) token; ``self.dead`` if the token is not allowed.

        The byte steps already taken are followed; past the first one not taken yet the
        token's bytes run over thread sets, and only the state after the whole token is
        interned. Why: interning a state per byte made a long document's walk hold several
        states per token (a state, its thread set and its step dict each), which
        the garbage collector's full collections then walked inside decoding steps.
        """
        if not 0 <= token < len(self.vocab.token_bytes):
            return self.dead
        key = TOKEN_KEY + token
        nxt = self._by_sid.get(st.steps.get(key, -1))
        if nxt is None:
            data = self.vocab.token_bytes[token]
            nxt = self.dead if not data else self._walk_token(st, data)
            st.steps[key] = nxt.sid
        return nxt

    def _walk_token(self, st: State, data: bytes) -> State:
        dead, by_sid = self.dead, self._by_sid
        for i, b in enumerate(data):
            nxt = by_sid.get(st.steps.get(b, -1))
            if nxt is None:
                break
            if nxt is dead:
                return dead
            st = nxt
        else:
            return st
        if i == len(data) - 1:  # the last byte from an interned state: a cached step
            return self.step(st, data[i])
        threads, can_end = st.threads, st.can_end
        for b in data[i:]:
            if not threads:
                return dead
            threads, can_end = self._step_threads(threads, b)
        return self._state(threads, can_end)

    def is_eos(self, token: int) -> bool:
        return token in self._eos_set

    def first_bytes(self, st: State) -> np.ndarray:
        """bool[256]: bytes that can come next."""
        f = st._first
        if f is None:
            f = st._first = _byte_set(self.first_bits(st))
        return f

    def first_bits(self, st: State) -> int:
        """:meth:`first_bytes` as a 256-bit Python int (bit ``b``: byte ``b``), for callers that
        test it against other byte sets one state at a time (no numpy call per state)."""
        bits = st._first_bits
        if bits is None:
            # 256-bit Python ints per (lexeme, state): a state with a hundred threads (the
            # keys after ``{``) ORs ints instead of a hundred small numpy arrays
            bits = 0
            cache = self._viable_bits
            if len(cache) > 4 * self._state_limit:  # counted lexemes have many states
                cache.clear()
            for _, x, q in st.threads:
                b = cache.get((x, q))
                if b is None:
                    b = self.viable_bits(x, q)
                bits |= b
            st._first_bits = bits
        return bits

    def first_list(self, st: State) -> tuple[int, ...]:
        """:meth:`first_bytes` as a sorted tuple of byte values, kept on the state.

        Why: the crossing walks need it at every trie node they expand, one state each; the
        tuples are memoized per 256-bit set (a few hundred distinct ones per automaton), so
        a new state costs an OR of ints and a dict lookup, not a numpy unpack."""
        f = st._first_list
        if f is None:
            bits = self.first_bits(st)
            f = self._first_lists.get(bits)
            if f is None:
                f = tuple(np.flatnonzero(_byte_set(bits)).tolist())
                if len(self._first_lists) > 4 * self._state_limit:
                    self._first_lists.clear()
                self._first_lists[bits] = f
            st._first_list = f
        return f

    def viable_bits(self, x: int, q: int) -> int:
        """The bytes with a transition out of state ``q`` of lexeme ``x``, as a 256-bit int."""
        b = self._viable_bits.get((x, q))
        if b is None:
            b = self._viable_bits[(x, q)] = int.from_bytes(
                np.packbits(self.tables[x].viable_bytes(q), bitorder="little").tobytes(), "little")
        return b

    def lexeme_walk(self, x: int, q: int, token: int) -> tuple[int, bool, int] | None:
        """Lexeme ``x``'s DFA from state ``q`` over the token's bytes alone: ``(q_end, accepts,
        mid)``, ``q_end`` -1 if the DFA dies on them, ``accepts`` whether it accepts at
        ``q_end``, ``mid`` the bytes (a 256-bit int) that come right after a proper prefix at
        which it accepts.  None for a counted lexeme.

        Why: it depends on the lexeme, ``q`` and the token only, not on the parser stacks,
        so it is memoized per automaton and recurs at every grammar state holding that
        lexeme state (the whitespace lexeme between every two JSON tokens); with the thread
        set after the lexeme (:meth:`follow_state`) it gives the state after the token
        without stepping it byte by byte (``CanonicalMatcher._lookahead``)."""
        key = (x, q, token)
        hit = self._walks.get(key)
        if hit is not None:
            return hit
        tx, cm, acc = self._trans[x], self._cmaps[x], self._accept[x]
        if tx is None:
            return None
        data = self.vocab.token_bytes[token]
        mid, last = 0, len(data) - 1
        for i, b in enumerate(data):
            try:
                q = tx[q][cm[b]]
            except KeyError:  # the first step out of this lexeme state (see LexemeTable.T_list)
                q = self.tables[x].py_row(q)[cm[b]]
            if q < 0:
                break
            if i < last and acc[q]:
                mid |= 1 << data[i + 1]
        hit = (q, q >= 0 and acc[q], mid)
        if len(self._walks) > 4 * self._state_limit:
            self._walks.clear()
        self._walks[key] = hit
        return hit

    def lexeme_forced(self, x: int, q: int, limit: int) -> bytes:
        """The bytes lexeme ``x`` forces from state ``q`` (at most ``limit``): one byte with a
        transition at a time, stopping at an accepting state.  Why: a thread of ``x`` at ``q``
        must spell them before anything can follow ``x``, whatever its stacks, so the
        canonical lookahead proves dead ends per lexeme state (``CanonicalMatcher``)."""
        tx, cm, acc = self._trans[x], self._cmaps[x], self._accept[x]
        out = []
        while len(out) < limit and not acc[q]:
            bits = self.viable_bits(x, q)
            if not bits or bits & (bits - 1):
                break
            b = bits.bit_length() - 1
            try:
                q = tx[q][cm[b]]
            except KeyError:
                q = self.tables[x].py_row(q)[cm[b]]
            out.append(b)
        return bytes(out)

    def follow_state(self, x: int, stacks) -> State:
        """The state holding the threads that start once lexeme ``x`` completes on each of
        ``stacks`` (what :meth:`step` adds when a thread of ``x`` accepts)."""
        return self._follow_union(((x, stacks),))

    def _follow_union(self, groups) -> State:
        """:meth:`follow_state` of several ``(lexeme, stacks)`` groups at once: the union of
        their threads, and the output may end if it may after any of them."""
        threads: set[Thread] = set()
        can_end = False
        for x, stacks in groups:
            for s in stacks:
                more, ce = self.after_lexeme(s, x)
                threads.update(more)
                can_end = can_end or ce
        return self._state(thread_set(threads), can_end)

    # ------------------------------------------------------------------ masks

    def mask(self, st: State) -> np.ndarray:
        """Packed uint32 mask of the tokens allowed in ``st`` (EOS bits where it may end).

        The first visit computes it under ``mask_budget`` (time, memory): past either it
        raises :class:`~constrain.errors.CompileBudgetError` and ``st`` stays unvisited (a
        later call tries again), rather than stalling the decoder.
        """
        m = st.mask
        if m is None:
            with self._lock:
                m = st.mask
                if m is None:
                    with compile_budget(*self.mask_budget, fresh_rss=False):
                        m = self._compute_mask(st)
                        if m.flags.writeable:  # a new array: equal masks of other states, one copy
                            m = share(m)
                    st.mask = m
        return m

    def _compute_mask(self, st: State) -> np.ndarray:
        """The mask of ``st``: its lexeme states' rows, and the tokens crossing a lexeme's end.

        Lexeme states with equal split nodes cross in one walk from the union of their
        follow states: a node below a split is live from a union exactly when it is live
        from one of its parts (a step maps a union of threads to the union of the steps), so
        the walk's output is the union of the separate walks'. Why: after ``{`` of a big
        ``anyOf`` every branch's key lexeme has the same split nodes (a closing quote) but a
        follow state of its own; 220 separate walks were half of such a first visit
        (``Github_medium:1089``, docs/benchmarks.md part 2u).
        """
        v = self.vocab
        if not st.threads:
            return self._eos_row.copy() if st.can_end else np.zeros(v.n_words, dtype=np.uint32)
        by_pair = self.stacks_by_lexeme_state(st)
        if len(by_pair) >= FILL_BATCH_MIN:
            fill_rows([(self.tables[x], q) for x, q in by_pair])
        # equal rows are one shared array (shared_rows): the keys after ``{`` of a big object
        # all start with the same row, so each distinct array is ORed in once, at the end
        rows: dict[int, np.ndarray] = {}
        # lexeme states with equal split nodes cross together (see above)
        by_splits: dict[tuple, tuple[np.ndarray, list]] = {}
        for i, ((x, q), stacks) in enumerate(by_pair.items()):
            if not i & 31:
                check_deadline()
            table = self.tables[x]
            r = table.row(q)
            rows[id(r)] = r
            splits = table.splits(q)
            if splits.size == 0:
                continue
            key = (splits.dtype.char, splits.tobytes()) if CROSS_GROUPS else (x, q)
            hit = by_splits.get(key)
            if hit is None:
                by_splits[key] = (splits, [(x, stacks)])
            else:
                hit[1].append((x, stacks))
        crossing: list[np.ndarray] = []
        for splits, groups in by_splits.values():
            # the state right after the lexemes complete, for their stacks only
            after = self._follow_union(groups)
            if not after.threads:
                continue  # nothing may follow: no token can cross the lexemes' end
            crossing.append(self._cross(after, splits))
        distinct = iter(rows.values())
        first = next(distinct)
        if not crossing and not st.can_end and len(rows) == 1:
            # one lexeme row and nothing crossing (a string's content, a key's first state):
            # the mask is that row, already shared and read-only; no copy, no share
            return first
        words = first.copy()
        for r in distinct:
            words |= r
        if st.can_end:
            words |= self._eos_row
        if crossing:
            nodes = np.concatenate(crossing)
            set_bits(words, tokens_at_nodes(v, nodes))
        return words

    def _cross(self, after: State, splits: np.ndarray) -> np.ndarray:
        """Live nodes below the split nodes ``splits`` when the bytes past them run from ``after``.

        A string's split set can hold thousands of nodes (every token with a closing quote
        inside), though after a key only ``:`` or a blank goes on. The split nodes' children
        are bucketed by byte once per split set; the walk starts from the buckets of the
        bytes ``after`` can take, a few nodes, and goes on depth-first from there.
        """
        walk = _WalkStates(self)
        if splits.size <= SMALL_WALK_ROOTS:
            return self._walk_subtrees(after, splits, walk)
        if not after.threads:
            return np.zeros(0, dtype=np.int64)
        kids, ptr = self._split_children(splits)
        out = []
        for b in self.first_list(after):
            lo, hi = ptr[b], ptr[b + 1]
            if lo == hi:
                continue
            nxt = walk.step(after, b)
            if nxt is self.dead:
                continue
            level1 = kids[lo:hi]
            out.append(level1)
            out.append(self._walk_subtrees(nxt, level1, walk))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _split_children(self, splits: np.ndarray):
        """Children of the nodes ``splits``, sorted by byte, with a 257-entry bucket index."""
        hit = self._split_kids.get(id(splits))
        if hit is not None and hit[0] is splits:
            return hit[1], hit[2]
        v = self.vocab
        pos = csr_positions(v.child_ptr, splits.astype(np.int64))
        byts = v.child_bytes[pos]
        order = np.argsort(byts, kind="stable")
        kids = v.child_ids[pos][order].astype(np.int64)
        ptr = np.searchsorted(byts[order], np.arange(257)).tolist()
        if len(self._split_kids) > 4 * self._state_limit:
            self._split_kids.clear()
        self._split_kids[id(splits)] = (splits, kids, ptr)  # holds splits: its id stays unique
        return kids, ptr

    def _walk_subtrees(self, start: State, roots: np.ndarray, walk: "_WalkStates") -> np.ndarray:
        """Live trie nodes strictly below ``roots`` when their remaining bytes run from ``start``.

        Few live nodes (the usual case: a key's closing quote followed by ``:``) are found
        depth-first in Python; if the walk grows past a small budget it is redone level by
        level over all subtrees at once, where numpy handles the nodes and Python only steps
        each distinct (state, byte) pair once (the walk's states are interned in ``walk``,
        steps memoized).
        """
        if roots.size <= SMALL_WALK_ROOTS:
            out = self._walk_subtrees_small(start, roots, walk)
            if out is not None:
                return out
        v = self.vocab
        child_ptr, child_ids, child_bytes = v.child_ptr, v.child_ids, v.child_bytes
        dead = self.dead
        local: list[State] = [start]
        index = {id(start): 0}
        nodes = roots.astype(np.int64)
        sids = np.zeros(nodes.size, dtype=np.int64)
        out = []
        while nodes.size:
            check_deadline()
            pos, owner = csr_positions(child_ptr, nodes, with_owner=True)
            if pos.size == 0:
                break
            combo = sids[owner] * 256 + child_bytes[pos]
            uniq, inv = np.unique(combo, return_inverse=True)
            res = np.empty(uniq.size, dtype=np.int64)
            for i, u in enumerate(uniq.tolist()):
                if not i & 1023 and i:
                    check_deadline()
                src = local[u >> 8]
                nxt = walk.step(src, u & 255) if src.threads else dead
                if nxt is dead:
                    res[i] = -1
                    continue
                j = index.get(id(nxt))
                if j is None:
                    j = index[id(nxt)] = len(local)
                    local.append(nxt)
                res[i] = j
            new = res[inv]
            keep = new >= 0
            nodes = child_ids[pos][keep]
            sids = new[keep]
            if nodes.size:
                out.append(nodes)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _walk_subtrees_small(self, start: State, roots: np.ndarray, walk: "_WalkStates",
                             budget: int = SMALL_WALK_BUDGET):
        """:meth:`_walk_subtrees` depth-first in Python; ``None`` once ``budget`` edges are tried.

        At each node only the bytes the state can take are looked up among the node's
        children (sorted by byte), or the children are scanned if they are fewer. The live
        nodes below each root are memoized on ``start``: the masks of several lexeme states
        (a string's content states, its empty state) cross into the same follow state
        through mostly the same split nodes.
        """
        memo = start._below
        if memo is None:
            memo = start._below = {}
        ptr, ids, byts = child_lists(self.vocab)
        step, by_sid, first_list = walk.step, self._by_sid, self.first_list
        out: list[int] = []
        tried = 0
        for root in roots.tolist():
            hit = memo.get(root)
            if hit is not None:
                out.extend(hit)
                continue
            below: list[int] = []
            work = [(root, start)]
            while work:
                node, st = work.pop()
                lo, hi = ptr[node], ptr[node + 1]
                if lo == hi:
                    continue
                # a child is live iff its byte is one of st's first bytes (a lexeme byte with
                # a transition keeps its thread alive); only a child with children of its
                # own needs the state after it: a leaf is not stepped
                viable = first_list(st)
                steps = st.steps
                if len(viable) < hi - lo:
                    tried += len(viable)
                    for b in viable:
                        j = bisect_left(byts, b, lo, hi)
                        if j < hi and byts[j] == b:
                            kid = ids[j]
                            below.append(kid)
                            if ptr[kid] != ptr[kid + 1]:
                                work.append((kid, by_sid.get(steps.get(b, -1)) or step(st, b)))
                else:
                    tried += hi - lo
                    bits = self.first_bits(st)
                    for j in range(lo, hi):
                        b = byts[j]
                        if bits >> b & 1:
                            kid = ids[j]
                            below.append(kid)
                            if ptr[kid] != ptr[kid + 1]:
                                work.append((kid, by_sid.get(steps.get(b, -1)) or step(st, b)))
                if tried > budget:
                    return None
            memo[root] = tuple(below)
            out.extend(below)
        return np.asarray(out, dtype=np.int64)

    @property
    def completions(self):
        """Shortest completions (:class:`~constrain.tokens.completion.Completions`), built on first use."""
        c = self._completions
        if c is None:
            with self._lock:
                if self._completions is None:
                    self._completions = Completions(self)
                c = self._completions
        return c

    def shortest_completion(self, st: State) -> bytes | None:
        """The shortest bytes taking ``st`` to a state where the output may end."""
        return self.completions.shortest(st)

    def forced_bytes(self, st: State, limit: int = 256) -> bytes:
        """Bytes every valid continuation starts with (stops where EOS or a choice is possible)."""
        out = bytearray()
        while len(out) < limit and not st.can_end and st.threads:
            nz = np.flatnonzero(self.first_bytes(st))
            if nz.size != 1:
                break
            b = int(nz[0])
            out.append(b)
            st = self.step(st, b)
        return bytes(out)


class _WalkStates:
    """The states one crossing walk of a first visit steps through, below its follow state.

    A walk down the trie below a lexeme's split nodes needs the state after each byte, but
    those states are not interned unless an interned one already exists: they live as long
    as the walk (with their own steps memoized, and equal thread sets shared within it), and
    an interned state's steps only ever lead to interned states. Why: the walks made most of
    a long document's states (Github_ultra:124: 10.8k of 19k, beside 8.4k along the tokens
    taken), and every full garbage collection inside a decoding step walked them.
    """

    __slots__ = ("automaton", "own", "by_sid")

    def __init__(self, automaton: TokenAutomaton):
        self.automaton = automaton
        self.own: dict = {}  # (threads, can_end) -> the walk's own state
        self.by_sid: dict[int, State] = {}  # the own states by their (negative) sid

    def step(self, st: State, b: int) -> State:
        a = self.automaton
        i = st.steps.get(b)
        if i is not None:
            nxt = (a._by_sid if i >= 0 else self.by_sid).get(i)
            if nxt is not None:
                return nxt
        threads, can_end = a._next_threads(st, b)
        if not threads and not can_end:
            nxt = a.dead
        else:
            nxt = a._intern[1 if can_end else 0].get(threads)
            if nxt is None:
                key = (threads, can_end)
                nxt = self.own.get(key)
                if nxt is None:
                    nxt = self.own[key] = State(threads, can_end, -next(a._sids))
                    self.by_sid[nxt.sid] = nxt
        if st.sid < 0 or nxt.sid >= 0:
            st.steps[b] = nxt.sid  # never from an interned state to one of the walk's own
        return nxt
