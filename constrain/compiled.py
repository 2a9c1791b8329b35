"""The :class:`Compiled` constraint: one grammar's tables over one vocabulary, shared by matchers.

A ``Compiled`` holds the RTN, the token automaton (with its caches) and the budgets later
first visits run under; ``matcher()`` is cheap. Compile-time warmup (rows of narrow lexeme
states, masks along the shortest output) lives here too: it is optional work bounded by the
``EAGER_*`` knobs. The compile entries (argument checks, options, front-ends) are in
:mod:`constrain.compiler`.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left
from typing import Any

import numpy as np

from .budget import DEFAULT_MAX_MEMORY_BYTES, check_deadline, compile_budget
from .errors import CompileBudgetError, EmptyLanguageError, OptionError
from .ir import Grammar, compile_rtn
from .matcher import CanonicalMatcher, Matcher
from .tokens import (DifferenceLexemeTable, TokenAutomaton, Vocabulary, compute_rows_batched, dense_trie,
                     require_vocabulary)
from .tokens.lexeme_tables import compute_difference_rows
from .tokens import lexeme_tables as _lexeme_tables
from .tokens.canonical import canonical_filter
from .tokens.trie import child_lists

__all__ = ["Compiled"]

# compile-time row precomputation: the states of small lexemes (up to EAGER_SMALL_TABLE DFA
# states: keys, literals, punctuation, enums) one byte in and along their shortest word, the states at most EAGER_ROW_DEPTH bytes into
# bigger ones up to EAGER_ROW_STATES states (a pattern's first bytes), at most EAGER_ROW_MAX
# of them, within EAGER_ROW_BUDGET_S; every other row is computed on the first
# visit of a state that needs it (several together, lexeme_tables.fill_rows). Precomputing
# every state (the old default: depth unbounded, 2 s) spent compile time on rows no text
# visits: about half of all compile time on a 100-schema MaskBench sample
EAGER_ROW_STATES = 4096
EAGER_ROW_MAX = 8192
EAGER_WIDE_TABLE = 4096
EAGER_WIDE_MAX = 1024
EAGER_DIFFERENCE_CHUNK = 128  # difference tables' rows computed together (lanes of one walk)
# ... as soon as there are this many (fewer: each alone, a Python walk of the names' region).
# First visits batch from lexeme_tables.DIFFERENCE_BATCH_MIN (8) on; at compile the 2-7 rows
# of a schema's few objects each alone cost ~30% more than one walk (100-schema sample)
EAGER_DIFFERENCE_BATCH_MIN = 2
EAGER_ROW_BUDGET_S = 0.1
EAGER_ROW_DEPTH = 1
EAGER_SMALL_TABLE = 64  # lexemes with at most this many DFA states: more than the first byte ...
# ... of such a lexeme, the rows of the states one byte in and of those along its shortest
# word (a key's name as written, not its escaped spellings: ``\u0061`` for ``a`` is most of a
# key's DFA states; a literal's digits). Every state's row (False, the old plan) spent ~80% of
# the compile-time rows on small tables' deeper states, of which the 100-schema sample's
# walks read 4% (issue 18 part 2o); those rows now come on first visit, as any state's may
EAGER_SMALL_WORD_PATH = True
# compile-time masks of the states along the grammar's shortest output (see _precompute_masks):
# every output passes through them, so they are paid here or on the first steps. Turned off
# (issue 18 part 2d, MaskBench sample 100, CPU time) compile p50 fell ~30% but the per-token
# p90/p99 rose 60 -> 71 / 280 -> 328 us: kept, with the lexeme tails the shortest output
# needs shared per token table across compiles (tokens/completion.py)
EAGER_MASK_BUDGET_S = 0.1
EAGER_MASK_MAX = 4096
# ... only at the token boundaries of a greedy longest-match tokenization of that output (a
# walk of the vocabulary's trie): a decoder visits the states between tokens, never those
# inside one, and the masks at every byte (most of them inside a key's name) were two
# thirds of this work. False: every byte's state, as before
EAGER_MASK_TOKEN_BOUNDARIES = True
EAGER_MASK_RTN_STATES = 50_000  # bigger grammars skip it (solving the completions costs more)


def _json_spaced(text: bytes) -> bytes:
    """``text`` (compact JSON) with a blank after every ``:`` and ``,`` outside strings: the
    other spelling most JSON takes (``json.dumps``'s default separators)."""
    out = bytearray()
    in_string = escaped = False
    for b in text:
        out.append(b)
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x3A, 0x2C):
            out.append(0x20)
    return bytes(out)


def _bfs_levels(T: np.ndarray, dead: int, max_depth: int | None = None) -> list[list[int]]:
    """States of a class-compressed DFA (``T[q, c]``, ``dead`` = no move) by distance from 0,
    up to ``max_depth`` (all levels if ``None``). Each level's states in increasing order."""
    if T.size <= 2048:
        # small tables (keys, enums: most of them) in plain Python: a numpy level costs more
        # than the whole walk
        rows = T.tolist()
        seen_set = {0, dead}
        levels = [[0]]
        while max_depth is None or len(levels) <= max_depth:
            nxt = sorted({t for q in levels[-1] for t in rows[q]} - seen_set)
            if not nxt:
                break
            seen_set.update(nxt)
            levels.append(nxt)
        return levels
    seen = np.zeros(dead + 1, dtype=bool)
    seen[dead] = True
    seen[0] = True
    levels = [[0]]
    frontier = np.array([0])
    while frontier.size and (max_depth is None or len(levels) <= max_depth):
        nxt = np.unique(T[frontier].ravel())
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        if nxt.size:
            levels.append(nxt.tolist())
        frontier = nxt
    return levels


def _greedy_token_ends(vocab: Vocabulary, text: bytes) -> set[int]:
    """Offsets where a greedy longest-match tokenization of ``text`` over ``vocab`` puts a
    token boundary (0 included): at each offset the longest token that is a prefix of the
    rest (a walk of the vocabulary's trie), or one byte where none is."""
    ptr, ids, byts = child_lists(vocab)
    tok_ptr = vocab.node_token_ptr
    ends = {0}
    i, n = 0, len(text)
    while i < n:
        node, j, best = 0, i, i + 1
        while j < n:
            lo, hi = ptr[node], ptr[node + 1]
            k = bisect_left(byts, text[j], lo, hi)
            if k == hi or byts[k] != text[j]:
                break
            node = ids[k]
            j += 1
            if tok_ptr[node + 1] > tok_ptr[node]:
                best = j
        i = best
        ends.add(i)
    return ends


def _check_nonempty(rtn, grammar: Grammar) -> None:
    """:class:`EmptyLanguageError` if no output can complete: exact, and nearly free.

    ``compile_rtn`` keeps only rules that reach acceptance, taking every lexeme as non-empty;
    a lexeme's language is known only once its DFA exists (``{"const": "\\ud800"}`` has no
    UTF-8 spelling, a regex ``(?!)`` matches nothing). With no empty lexeme (the usual case) the
    start rule is productive already; otherwise productivity is recomputed without the empty
    lexemes' edges (a fixpoint over rules, each round one backward sweep over the states).
    """
    empty = [lx.is_empty() for lx in rtn.lexemes]
    if not any(empty):
        return
    n = rtn.static_states
    n_rules = len(rtn.rule_start)
    productive = [False] * n_rules
    while True:
        # states that reach their rule's acceptance through non-empty lexemes and productive calls
        # (an any-order object's states are built later: its own test says whether it can end)
        rev: list[list[int]] = [[] for _ in range(n)]
        for q in range(n):
            for lx, t in rtn.lex_edges[q].items():
                if not empty[lx] and t < n:
                    rev[t].append(q)
            for callee, t in rtn.call_edges[q]:
                if productive[callee]:
                    rev[t].append(q)
        live = list(rtn.accepting[:n])
        for r, mr in rtn.members.items():
            live[mr.start] = mr.alive((0, 0, 0, 0), productive)
        work = [q for q in range(n) if live[q]]
        while work:
            for q in rev[work.pop()]:
                if not live[q]:
                    live[q] = True
                    work.append(q)
        now = [s >= 0 and live[s] for s in rtn.rule_start]
        if now == productive:
            break
        productive = now
    if productive[0]:
        return
    # lexeme names may hold lone surrogates (the very reason they are empty): escape them
    names = [lx.name.encode("utf-8", "backslashreplace").decode() for lx, e in zip(rtn.lexemes, empty) if e]
    start = grammar.origins.get(grammar.start, grammar.start)
    # the innermost rule that matches nothing (rules are numbered outside in) locates it
    dead = [r for r in range(n_rules) if not productive[r]]
    inner = rtn.rule_names[dead[-1]]
    where = grammar.origins.get(inner, inner)
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    at = f"at {where!r}" if where == start else f"at {where!r}, inside {start!r}"
    raise EmptyLanguageError(
        f"the constraint matches no string: {listed} match{'es' if len(names) == 1 else ''} "
        f"nothing, and every output needs one ({at})",
        pointer=where)


def _shortest_path(t) -> tuple[bytes, list[int]]:
    """The shortest word of a (small, plain) token table's lexeme, smallest bytes first, and
    the states along it (start first); a breadth-first walk of its class-compressed DFA
    (``b""`` and ``[0]`` if it accepts nothing). Each state on the path is reached by a
    shortest path, so the ``i``-th one is ``i`` bytes from the start."""
    T, n = t.state_table.tolist(), t.n_states
    byte_of: dict[int, int] = {}
    for b, c in enumerate(t.cmap_list):
        byte_of.setdefault(c, b)
    came: dict[int, tuple[int, int] | None] = {0: None}
    level = [0]
    while level:
        for q in level:
            if t.accept_list[q]:
                out = bytearray()
                path = [q]
                while came[q] is not None:
                    q, b = came[q]
                    out.append(b)
                    path.append(q)
                return bytes(reversed(out)), path[::-1]
        nxt = []
        for q in level:
            for c, q2 in enumerate(T[q]):
                if q2 != n and q2 not in came and c in byte_of:
                    came[q2] = (q, byte_of[c])
                    nxt.append(q2)
        level = nxt
    return b"", [0]


def _shortest_word(t) -> bytes:
    """The shortest word of a (small, plain) token table's lexeme (see _shortest_path)."""
    return _shortest_path(t)[0]


def _word_states(t) -> set[int]:
    """The states of table ``t`` along its shortest word (see ``EAGER_SMALL_WORD_PATH``)."""
    return set(_shortest_path(t)[1])


# per token table (tables are shared across compiles, rows never dropped from one): the
# states _precompute_rows would fill, found once instead of by a BFS per compile
_EAGER_PLANS: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def _eager_plan(t, below_first: np.ndarray) -> tuple:
    """``(depth, state, kind)`` of the states of table ``t`` worth a row at compile time.

    ``kind`` 0: narrow (batched walk), 1: wide (dense walk), 2: a difference table's state.
    Depends only on the table and its vocabulary, so it is kept per table (weakly).
    """
    plan = _EAGER_PLANS.get(t)
    if plan is not None:
        return plan
    out: list[tuple[int, int, int]] = []
    if isinstance(t, DifferenceLexemeTable):
        out = [(d, q, 2) for d, qs in enumerate(_bfs_levels(t.state_table, t.n_states, EAGER_ROW_DEPTH))
               for q in qs]
    elif t.batchable and t.n_states <= EAGER_ROW_STATES:
        T = t.state_table
        # small tables (keys, literals, punctuation, enums): the states one byte in and
        # those along the shortest word (EAGER_SMALL_WORD_PATH; every state if False); big
        # ones (patterns, formats): the first EAGER_ROW_DEPTH bytes only
        small = t.n_states <= EAGER_SMALL_TABLE
        if small and EAGER_SMALL_WORD_PATH and len(set(t.cmap_list)) == t.n_cls:
            # the word's i-th state is i bytes in (its BFS level: every class has a byte, so
            # the word's search and the levels see the same moves), so only levels 0 and 1 are
            # walked; the full BFS then filtered to these was a third of a small table's plan
            levels = _bfs_levels(T, t.n_states, 1) + [[q] for q in _shortest_path(t)[1][2:]]
        else:
            depth = t.n_states if small else EAGER_ROW_DEPTH
            levels = _bfs_levels(T, t.n_states, depth)
            if small and EAGER_SMALL_WORD_PATH:
                on_path = _word_states(t)
                levels = [[q for q in qs if d <= 1 or q in on_path] for d, qs in enumerate(levels)]
        # trie nodes below each planned state's first bytes (the planned states only: a big
        # table's other states were most of this product)
        planned = [q for qs in levels for q in qs]
        reach = dict(zip(planned, ((T[planned][:, t.classes] != t.n_states).astype(np.int64)
                                   @ below_first).tolist()))
        for d, qs in enumerate(levels):
            for q in qs:
                # first bytes reaching a big subtree (a key's opening quote) may still be
                # narrow a level down: the table's own test decides
                if reach[q] <= _lexeme_tables.DENSE_MIN_NODES or not t.is_wide(q):
                    out.append((d, q, 0))
                elif t.n_states <= EAGER_WIDE_TABLE:
                    out.append((d, q, 1))
    plan = _EAGER_PLANS[t] = tuple(out)
    return plan


class Compiled:
    """A constraint compiled against one vocabulary; ``matcher()`` is cheap and shares caches.

    ``time_budget_s`` and ``max_memory_bytes`` bound the compile (:mod:`constrain.budget`:
    counted states and table sizes first, then RSS growth, then wall time) and, each on its
    own, every later first visit of a state: a mask that cannot be computed within them makes
    ``Matcher.mask()`` raise :class:`CompileBudgetError` (the state stays unvisited) instead
    of hanging the decoder.
    """

    def __init__(self, grammar: Grammar, vocab: Vocabulary, *, source: Any = None, kind: str = "grammar",
                 time_budget_s: float = 30.0, state_budget: int = 200_000,
                 max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES, canonical_tokens: bool = False):
        t0 = time.perf_counter()
        vocab = require_vocabulary(vocab)
        if not isinstance(canonical_tokens, bool):
            raise OptionError(f"canonical_tokens must be True or False, got {canonical_tokens!r}")
        self.canonical_tokens = canonical_tokens
        # the vocabulary's canonical filter (built once per vocabulary, before the grammar: a
        # vocabulary it cannot serve is an OptionError whatever the grammar)
        self.canonical_filter = canonical_filter(vocab) if canonical_tokens else None
        self.grammar = grammar
        self.kind = kind
        self.source = source
        self.time_budget_s = time_budget_s
        self.max_memory_bytes = max_memory_bytes
        with compile_budget(time_budget_s, max_memory_bytes):
            self.rtn = compile_rtn(grammar, state_budget=state_budget)
            # build every lexeme DFA now: compile errors surface here, not mid-generation
            for lx in self.rtn.lexemes:
                if lx.minus is None:
                    lx.dfa
                else:  # "B minus F": its table needs B and F only (tokens.tables.lexeme_table)
                    lx.minus[0].dfa
                    lx.minus[1].dfa
                check_deadline()
            _check_nonempty(self.rtn, grammar)
            self.automaton = TokenAutomaton(self.rtn, vocab)
            self.automaton.mask_budget = (time_budget_s, max_memory_bytes)
            try:
                # optional work: a budget running out here only leaves masks to first use
                self._precompute_rows(max(0.0, min(EAGER_ROW_BUDGET_S, time_budget_s - (time.perf_counter() - t0))))
                self._precompute_masks(max(0.0, min(EAGER_MASK_BUDGET_S, time_budget_s - (time.perf_counter() - t0))))
            except CompileBudgetError:
                pass
        # the automaton's state graph is cyclic: free it when this Compiled goes, rather than
        # in the full collection some later decoding step would trigger (TokenAutomaton.release)
        weakref.finalize(self, TokenAutomaton.release, self.automaton)
        self.compile_time_s = time.perf_counter() - t0

    def _precompute_rows(self, budget_s: float) -> None:
        """Token rows of narrow lexeme DFA states, computed now rather than on first visit.

        A mask is the OR of its threads' rows plus the few tokens that cross a lexeme end, so
        with the rows in hand a first visit costs little. Narrow states (literals, keys,
        punctuation, digits) cost mostly numpy overhead per trie level, so they go through
        batched walks, shallow states first (every key's first bytes are visited right after
        ``{`` or ``,``), until ``budget_s``; the rest, and wide states (string content), are
        computed on first use.
        """
        if budget_s <= 0:
            return
        t0 = time.perf_counter()
        below_first = dense_trie(self.automaton.vocab).below_first
        todo: list[tuple[int, int, object]] = []
        wide: list[tuple[int, int, object]] = []
        diff: list[tuple[int, int, object]] = []
        seen = set()
        for t in self.automaton.tables:
            if id(t) in seen:
                continue
            seen.add(id(t))
            plan = _eager_plan(t, below_first)
            if not plan:
                continue
            left = [(d, q, kind) for d, q, kind in plan if not t.has_row(q)]
            if not left:
                _EAGER_PLANS[t] = ()  # rows are never dropped from a table: done for good
                continue
            for d, q, kind in left:
                (todo if kind == 0 else wide if kind == 1 else diff).append((d, q, t))
        todo.sort(key=lambda x: x[0])
        todo = todo[:EAGER_ROW_MAX]
        for i in range(0, len(todo), 256):
            if time.perf_counter() - t0 > budget_s:
                return
            compute_rows_batched([(t, q) for _, q, t in todo[i:i + 256]])
        diff.sort(key=lambda x: x[0])
        diff = diff[:EAGER_ROW_MAX]
        # the base's rows corrected along the excluded names: many tables' regions as lanes
        # of one numpy walk (one at a time, a Python walk of the names' region each: ~12% of
        # the median compile on the sample, issue 18 part 2o)
        step = EAGER_DIFFERENCE_CHUNK if len(diff) >= EAGER_DIFFERENCE_BATCH_MIN else 1
        for i in range(0, len(diff), step):
            if time.perf_counter() - t0 > budget_s:
                return
            chunk = [(t, q) for _, q, t in diff[i:i + step]]
            if len(chunk) == 1:
                chunk[0][0].row(chunk[0][1])
            else:
                compute_difference_rows(chunk)
        wide.sort(key=lambda x: x[0])
        by_table: dict[int, tuple] = {}
        for _, q, t in wide[:EAGER_WIDE_MAX]:
            by_table.setdefault(id(t), (t, []))[1].append(q)
        for t, qs in by_table.values():
            if time.perf_counter() - t0 > budget_s:
                return
            t.compute_dense(qs)

    def _precompute_masks(self, budget_s: float) -> None:
        """Masks of the states along the grammar's shortest output, computed now.

        A first visit of a state is the expensive step (its crossing tokens are walked then);
        the structural states of an output (after ``{``, a key, ``:``, a value's end) are the
        ones every output passes through, and the shortest output (:mod:`constrain.tokens.completion`)
        passes through them, for JSON written both compactly and with blanks after ``:`` and
        ``,``. Bounded by ``budget_s`` and ``EAGER_MASK_MAX`` masks.
        """
        if budget_s <= 0 or self.rtn.num_states > EAGER_MASK_RTN_STATES:
            return
        t0 = time.perf_counter()
        a = self.automaton
        tail = a.shortest_completion(a.start)
        if not tail:
            return
        spellings = [tail]
        if self.kind == "json_schema":
            # json.dumps's default separators, and most models' JSON, put a blank after ':'
            # and ','; that spelling first, in case the budget ends before the compact one
            spellings.insert(0, _json_spaced(tail))
        done = 0
        for text in spellings:
            st = a.start
            cuts = _greedy_token_ends(a.vocab, text) if EAGER_MASK_TOKEN_BOUNDARIES else None
            for i, b in enumerate(text):
                if done >= EAGER_MASK_MAX or time.perf_counter() - t0 > budget_s:
                    return
                if st.mask is None and (cuts is None or i in cuts):
                    a.mask(st)
                    done += 1
                st = a.step(st, b)
                if st is a.dead:
                    break

    @property
    def vocab(self) -> Vocabulary:
        return self.automaton.vocab

    def matcher(self) -> Matcher:
        """A fresh walk; a :class:`CanonicalMatcher` when compiled with ``canonical_tokens=True``."""
        if self.canonical_filter is not None:
            return CanonicalMatcher(self.automaton, self.canonical_filter)
        return Matcher(self.automaton)

    def precompute(self, max_states: int = 256, time_budget_s: float = 1.0) -> int:
        """Compute masks ahead of time for states reachable through forced and common bytes.

        Returns the number of masks computed. Optional: masks are otherwise computed on first
        use and cached.
        """
        a = self.automaton
        t0 = time.perf_counter()
        seen = {id(a.start)}
        work = [a.start]
        done = 0
        while work and done < max_states and time.perf_counter() - t0 < time_budget_s:
            st = work.pop()
            a.mask(st)
            done += 1
            for b in a.first_bytes(st).nonzero()[0].tolist():
                nxt = a.step(st, b)
                if id(nxt) not in seen and nxt is not a.dead:
                    seen.add(id(nxt))
                    work.append(nxt)
        return done

    def __repr__(self) -> str:
        canon = ", canonical tokens" if self.canonical_tokens else ""
        return (f"Compiled({self.kind}, {len(self.rtn.lexemes)} lexemes, {self.rtn.num_states} parser states, "
                f"{self.compile_time_s * 1e3:.1f} ms{canon})")
