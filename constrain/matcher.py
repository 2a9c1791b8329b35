"""Matcher: one walk through a compiled constraint, token by token.

A matcher is a list of interned automaton states (its history), so ``copy`` is a list copy,
``rollback(n)`` drops the last ``n`` entries and ``mask`` is a cached lookup on the current
state. Many matchers share one :class:`~constrain.tokens.TokenAutomaton` and its caches.
"""

from __future__ import annotations

import numpy as np

from .errors import OptionError
from .tokens import TokenAutomaton, Vocabulary, clear_bits, count_bits

__all__ = ["CanonicalMatcher", "Matcher"]

_FINISHED = object()
#: canonical masks with at most this many tokens are checked one token ahead (see
#: ``CanonicalMatcher._lookahead``)
LOOKAHEAD_MAX = 512
LOOKAHEAD_WIDE = 2048
#: bytes of packed masks the filter's mask cache (per (state, filter state), shared by
#: matchers) may hold before it is emptied: a mask is a whole vocabulary's words (6 KiB on
#: SmolLM2), so an entry count alone let it grow to ~400 MB
LOOKAHEAD_CACHE_BYTES = 64 << 20
LOOKAHEAD_CACHE_MIN = 64  # entries kept whatever the vocabulary's size
#: canonical witnesses checked against the grammar before a next state's full mask is computed
WITNESS_TRIES = 16
#: tokens judged at once where the bytes a state forces branch (``_alive``); more: skipped
PREFIXED_MAX = 4096
#: the lookahead judges tokens that stay inside one lexeme from lexeme-level facts
#: (``CanonicalMatcher._lexeme_local``) rather than stepping each through the grammar; the
#: tests turn it off to compare
LEXEME_SHORTCUT = True


class Matcher:
    """Walks a compiled constraint: mask, advance, rollback, copy, accepting."""

    __slots__ = ("_automaton", "_history")

    def __init__(self, automaton: TokenAutomaton, _history: list | None = None):
        self._automaton = automaton
        self._history = _history if _history is not None else [automaton.start]

    # ----------------------------------------------------------------- queries

    @property
    def vocab(self) -> Vocabulary:
        return self._automaton.vocab

    def _state(self):
        return self._history[-1]

    def is_finished(self) -> bool:
        """True once an EOS token has been consumed."""
        return self._history[-1] is _FINISHED

    def is_accepting(self) -> bool:
        """True when the output so far is complete (EOS would be allowed), or finished."""
        st = self._history[-1]
        return st is _FINISHED or st.can_end

    def mask(self) -> np.ndarray:
        """int32 words, bit ``t % 32`` of word ``t // 32`` set iff token ``t`` is allowed."""
        st = self._history[-1]
        if st is _FINISHED:
            return np.zeros(self._automaton.vocab.n_words, dtype=np.int32)
        return self._automaton.mask(st).view(np.int32)

    def fill_mask(self, out, row: int = 0) -> None:
        """Write the mask into row ``row`` of a preallocated numpy array or torch tensor."""
        m = self.mask()
        if isinstance(out, np.ndarray):
            if out.ndim == 1:
                out[:] = m
            else:
                out[row, :] = m
            return
        # a torch tensor (any device): ``new_tensor`` copies the words over without constrain
        # importing torch itself
        src = out.new_tensor(m)
        if out.dim() == 1:
            out.copy_(src)
        else:
            out[row].copy_(src)

    def is_allowed(self, token_id: int) -> bool:
        """Check one token without computing (or touching) the full mask."""
        st = self._history[-1]
        if st is _FINISHED:
            return False
        a = self._automaton
        if a.is_eos(token_id):
            return st.can_end
        return a.advance(st, token_id) is not a.dead

    def forced_bytes(self) -> bytes:
        """The bytes that every valid continuation must start with."""
        st = self._history[-1]
        if st is _FINISHED:
            return b""
        return self._automaton.forced_bytes(st)

    def shortest_completion(self) -> bytes | None:
        """The shortest bytes after which the output may end (``b""`` if it may end now).

        Computed from the grammar's structure (:mod:`constrain.tokens.completion`), so it is cheap on
        big schemas too. Used to close an output that is running out of tokens
        (``decode.generate(finish_within_budget=True)``).
        """
        st = self._history[-1]
        if st is _FINISHED:
            return b""
        return self._automaton.shortest_completion(st)

    def shortest_completion_length(self) -> float:
        """Bytes in :meth:`shortest_completion` without spelling it out (``inf`` if none)."""
        st = self._history[-1]
        if st is _FINISHED:
            return 0
        return self._automaton.completions.length(st)

    # ----------------------------------------------------------------- moves

    def advance(self, token_id: int) -> bool:
        """Consume one token; False (state unchanged) if it is not allowed."""
        st = self._history[-1]
        if st is _FINISHED:
            return False
        a = self._automaton
        if a.is_eos(token_id):
            if st.can_end:
                self._history.append(_FINISHED)
                return True
            return False
        nxt = a.advance(st, token_id)
        if nxt is a.dead:
            return False
        self._history.append(nxt)
        return True

    def advance_bytes(self, data: bytes) -> bool:
        """Consume raw bytes (e.g. a forced continuation); False leaves the state unchanged."""
        st = self._history[-1]
        if st is _FINISHED:
            return False
        a = self._automaton
        nxt = a.walk(st, data)
        if nxt is a.dead:
            return False
        self._history.append(nxt)
        return True

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` successful advances."""
        if n < 0 or n > len(self._history) - 1:
            raise OptionError(f"cannot roll back {n} tokens: only {len(self._history) - 1} consumed")
        if n:
            del self._history[-n:]

    def reset(self) -> None:
        del self._history[1:]

    def copy(self) -> "Matcher":
        return Matcher(self._automaton, list(self._history))

    @property
    def num_consumed(self) -> int:
        return len(self._history) - 1


def _without(mask: np.ndarray, ids: list[int]) -> np.ndarray:
    """A copy of packed ``mask`` with the bits of ``ids`` cleared."""
    out = mask.copy()
    clear_bits(out.view(np.uint32), np.asarray(ids, dtype=np.int64))
    return out


def _dfa_run(a: TokenAutomaton, x: int, q: int, data: bytes) -> int:
    """Lexeme ``x``'s DFA state after ``data`` from ``q`` (-1: it dies on them)."""
    row, cm = a.tables[x].py_row, a._cmaps[x]
    for b in data:
        q = row(q)[cm[b]]
        if q < 0:
            return q
    return q


class CanonicalMatcher(Matcher):
    """A :class:`Matcher` whose mask also keeps the output the tokenizer's canonical encoding.

    The mask is the grammar's mask AND the canonical filter's row for the tokens so far
    (:class:`~constrain.tokens.canonical.CanonicalFilter`: the previous token, the class of
    the text before it, and how it attached).  Why: see :mod:`constrain.tokens.canonical`.

    A canonical token can lead nowhere: ``" "`` where the grammar then forces ``"x"`` and
    ``" x"`` is a token.  Where the mask is narrow, each token is checked one step ahead and
    such tokens are dropped (:meth:`_lookahead`); where one is taken anyway (a wide mask,
    or a caller advancing a token the mask did not allow), the next mask falls back to the
    grammar's rather than leave the decoder with no token.  :attr:`fallbacks` counts the
    tokens taken that were not canonical; the filter restarts at such a token.
    """

    __slots__ = ("_filter", "_canon", "fallbacks")

    def __init__(self, automaton: TokenAutomaton, cfilter, _history: list | None = None,
                 _canon: list | None = None, fallbacks: int = 0):
        super().__init__(automaton, _history)
        self._filter = cfilter
        self._canon = _canon if _canon is not None else [cfilter.start]
        self.fallbacks = fallbacks

    def _filter_state(self):
        return self._canon[-1]

    def mask(self) -> np.ndarray:
        st = self._history[-1]
        if st is _FINISHED:
            return super().mask()
        key = (id(st), self._canon[-1])
        cache = self._filter.mask_cache
        hit = cache.get(key)
        if hit is not None and hit[0] is st:
            return hit[1]
        m = super().mask()
        out = self._filter.restrict(self._canon[-1], m)
        if not out.any() and m.any():
            out = m  # no canonical continuation is valid: the grammar's mask (see fallbacks)
        else:
            out = self._lookahead(st, out)
        if len(cache) >= max(LOOKAHEAD_CACHE_MIN, LOOKAHEAD_CACHE_BYTES // out.nbytes):
            cache.clear()
        cache[key] = (st, out)  # the state object is kept so that its id is not reused
        return out

    def _lookahead(self, st, out: np.ndarray) -> np.ndarray:
        """``out`` without the tokens after which no token is both valid and canonical.

        A canonical prefix may still lead nowhere: after ``{"`` the token ``o`` is canonical,
        but if the grammar forces ``rderId`` next, every token it allows would merge with
        ``o`` (``or`` is a merge).  Where few tokens are allowed (keys, literals, punctuation:
        where the grammar forces bytes), each is checked one step ahead; wide masks (free
        text) are left as they are, as is a mask every token of which leads nowhere.
        """
        a = self._automaton
        f = self._filter
        vocab = a.vocab
        n = count_bits(out)  # wide masks leave before unpacking
        if n > LOOKAHEAD_MAX or n < 2:
            return out
        fst = self._canon[-1]
        rest, known, gone, n_gone = out, None, None, 0
        if LEXEME_SHORTCUT and not f.sentencepiece:
            # kept or dropped without a grammar step (cached per lexeme state)
            alive, gone, known = self._lexeme_alive(st, fst, out)
            if alive is not None:
                rest = out & ~alive
            if gone is not None:
                n_gone = count_bits(gone)
                if n_gone:
                    rest = rest & ~gone
                else:
                    gone = None
        ids = vocab.mask_to_ids(rest)
        # the filter side for every token at once (one row lookup), the grammar side per
        # token (a cached transition per token)
        toks = [t for t in ids.tolist() if not a.is_eos(t)]
        if known is not None:
            fnexts_all = [known[t] for t in toks]
        else:
            fnexts_all = f.next_states(fst, np.asarray(toks, dtype=np.int64))
        todo, nxts, fnexts = [], [], []
        dead_state = a.dead
        for t, fnext in zip(toks, fnexts_all):
            if fnext is None:
                continue
            nxt = a.advance(st, t)
            if nxt is dead_state or (nxt.can_end and fnext[3]):
                continue
            todo.append(t), nxts.append(nxt), fnexts.append(fnext)
        if not todo:
            return out if gone is None or n_gone == n else out & ~gone
        if not f.sentencepiece:
            # witnesses: a one-byte token whose byte the grammar allows next (valid by
            # construction) and that may follow canonically (CanonicalFilter.witness_bits,
            # cached per filter state whatever the grammar state, against
            # TokenAutomaton.first_bits: 256-bit ints, one AND per token); tokens without
            # one are judged by _alive
            first = a.first_bits
            found = [w & first(n) for w, n in zip(f.witness_bits(fnexts), nxts)]
            dead = [t for i, t in enumerate(todo) if not found[i] and not self._alive(nxts[i], fnexts[i])]
            if gone is not None and n_gone + len(dead) < n:
                out = out & ~gone
            return out if not dead or n_gone + len(dead) == n else _without(out, dead)
        # SentencePiece: the shortest token of each byte that may come next, judged
        # canonical after each token in one vectorized pass (CanonicalFilter.allowed_pairs).
        # A one-byte witness is valid in the grammar by construction (its byte is one of
        # ``first_bytes``); longer ones are walked, a few per token
        cands: dict[int, np.ndarray] = {}
        per = []
        for nxt in nxts:
            c = cands.get(id(nxt))
            if c is None:
                c = cands[id(nxt)] = f.short_tokens(a.first_bytes(nxt), 1)
            per.append(c)
        lens = np.fromiter((len(c) for c in per), dtype=np.int64, count=len(per))
        which = np.repeat(np.arange(len(per)), lens)
        us = np.concatenate(per) if len(per) else np.zeros(0, dtype=np.int64)
        good = f.allowed_pairs(fnexts, which, us) if len(us) else np.zeros(0, dtype=bool)
        single = good & (vocab.token_lens[us] == 1)
        found = np.zeros(len(todo), dtype=bool)
        found[which[single]] = True
        tries = np.zeros(len(todo), dtype=np.int64)
        for k in np.flatnonzero(good & ~single & ~found[which]).tolist():
            i = int(which[k])
            if found[i] or tries[i] >= WITNESS_TRIES:
                continue
            tries[i] += 1
            found[i] = a.advance(nxts[i], int(us[k])) is not dead_state
        dead = [t for i, t in enumerate(todo) if not found[i] and not self._alive(nxts[i], fnexts[i])]
        return out if not dead or len(dead) == n else _without(out, dead)

    def _lexeme_alive(self, st, fst, out: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, dict | None]:
        """Packed words: tokens of ``out`` that the lookahead would keep and tokens it would
        drop, both found from lexeme-level facts and cached across grammar states (None:
        none found); and the next filter states of ``out``'s tokens where a cache miss
        computed them (else None).

        Each lexeme state ``(x, q)`` of ``st`` (with the stacks of its threads) carries its
        threads over a token that stays inside ``x`` to ``x`` at the DFA state after the
        token's bytes (:meth:`TokenAutomaton.lexeme_walk`, stack-free) plus, where ``x``
        accepts there, the threads that follow ``x`` (:meth:`TokenAutomaton.follow_state`).
        Those threads are a subset of the state after the token, so a one-byte witness
        among their first bytes (``x``'s viable bytes there, or-ed with the follow state's),
        an end the output may take there, or a canonical token along the bytes ``x`` forces
        next keeps the token exactly as stepping it would.  Where ``x`` neither accepts
        inside the token nor at its end, they are *all* the threads the token leaves from
        this lexeme state, and every valid continuation starts with the bytes ``x`` forces
        (:meth:`TokenAutomaton.lexeme_forced`): no canonical token along or after them that
        stays inside ``x`` proves the token dead here (:meth:`_lexeme_verdict`).  A token is
        dropped when every lexeme state of ``st`` proves it dead or cannot take it.

        Those answers depend on the lexeme, ``q``, the follow state's first bytes and whether
        it may end, the filter state and the token, never on the stacks, so they are cached
        per ``(lexeme key, q, follow bits, follow may end, filter state class)``
        (:meth:`CanonicalFilter.state_class`: the states that allow the same tokens with the
        same next states share it)
        (:attr:`CanonicalFilter.lexeme_verdicts`: tokens kept, judged, left open): the
        whitespace-and-punctuation lexemes between JSON tokens recur at every grammar state
        and in every schema.  The tokens neither kept nor dropped are stepped as before."""
        a = self._automaton
        f = self._filter
        vocab = a.vocab
        groups = a.stacks_by_lexeme_state(st)
        alive = fn_all = None
        closed, proof = None, True  # tokens each lexeme state drops or cannot take (AND)
        fclass = f.state_class(fst)  # the verdicts depend on fst only through its class
        rest = text = out & ~a._eos_row.view(np.int32)  # EOS is no lexeme's
        for (x, q), stacks in groups.items():
            if a._trans[x] is None:  # counted lexeme: no lexeme_walk, so no proof of a dead end
                proof = False
                continue
            fs = a.follow_state(x, stacks)
            fbits = a.first_bits(fs)
            key = (a.rtn.lexemes[x].key, a.tables[x].n_states, q, fbits, fs.can_end, fclass)
            entry = f.lexeme_verdict(key)  # this process's, else a stored one
            new = rest if entry is None else rest & ~entry[1]
            if entry is None or new.any():
                ids = vocab.mask_to_ids(new)
                # only tokens whose first byte x takes at q can stay inside it; the others
                # are other lexeme states' (where x accepts at q, the follow's threads are
                # in st when a byte led there; else, as at a nullable lexeme's start, open)
                takes = a.tables[x].viable_bytes(q)[f.first_byte[ids]]
                cand = ids[takes]
                shut = not a._accept[x][q] or set(st.threads).issuperset(fs.threads)
                opened = [] if shut else ids[~takes].tolist()
                if fn_all is None:  # next filter states of all of out's tokens, once per call
                    oids = vocab.mask_to_ids(text)
                    fn_all = dict(zip(oids.tolist(), f.next_states(fst, oids)))
                keep = []
                viable = a.viable_bits
                walks = f.lexeme_walks(key[:3])  # x's walks from q, shared across compiles
                for t in cand.tolist():
                    fnext = fn_all[t]
                    if fnext is None:
                        opened.append(t)
                        continue
                    w = walks.get(t)
                    if w is None:
                        w = walks[t] = a.lexeme_walk(x, q, t)
                    q_end, accepts, mid = w
                    if q_end < 0:
                        if mid:  # x accepted inside the token: the follow may take the rest
                            opened.append(t)
                        continue
                    if accepts and fs.can_end and fnext[3]:
                        keep.append((t, None, 0, q_end, True, mid))
                    else:
                        keep.append((t, fnext, viable(x, q_end) | (fbits if accepts else 0), q_end,
                                     accepts, mid))
                wit = iter(f.witness_bits([k[1] for k in keep if k[1] is not None]))
                found = []
                for t, fnext, first, q_end, accepts, mid in keep:
                    if fnext is None or next(wit) & first:
                        found.append(t)
                        continue
                    verdict = self._lexeme_verdict(x, q_end, accepts, mid, fbits, fnext)
                    if verdict:
                        found.append(t)
                    elif verdict is None:
                        opened.append(t)
                judged = vocab.ids_to_mask(ids)
                yes, op = vocab.ids_to_mask(found), vocab.ids_to_mask(opened)
                if entry is not None:
                    judged, yes, op = judged | entry[1], yes | entry[0], op | entry[2]
                entry = f.put_lexeme_verdict(key, yes, judged, op)
            kept = entry[0] & rest
            alive = kept if alive is None else alive | kept
            rest = rest & ~kept  # a token kept once need not be judged by the other lexemes
            settled = entry[1] & ~entry[2]  # kept, dropped, or not this lexeme state's
            closed = settled if closed is None else closed & settled
        dead = rest & closed if proof and closed is not None else None
        return alive, dead, fn_all

    def _lexeme_verdict(self, x: int, q: int, accepts: bool, mid: int, fbits: int, fnext) -> bool | None:
        """Whether some token valid after a token that left lexeme ``x`` at DFA state ``q``
        (accepting there: ``accepts``; accepting inside it: ``mid`` nonzero) is canonical in
        filter state ``fnext``: True, False or None (not decided here).

        Every valid continuation of ``x`` at ``q`` starts with the bytes ``x`` forces from
        ``q`` (:meth:`TokenAutomaton.lexeme_forced`), or, where none are forced, with one of
        its viable bytes or, where it accepts, the follow state's first bytes ``fbits``.
        True: a canonical token along the forced bytes, or one starting with them that ``x``
        takes whole.  False (only where ``x`` accepted nowhere inside the token, so no other
        threads left this lexeme state): no canonical token starts with them, or, where ``x``
        does not accept at ``q``, each of at most :data:`WITNESS_TRIES` that does dies in
        ``x`` before accepting (:meth:`CanonicalFilter.forced_witnesses` lists them)."""
        a = self._automaton
        f = self._filter
        path = b"" if accepts else a.lexeme_forced(x, q, int(a.vocab.max_token_len) + 1)
        if path:
            heads = (path,)
        else:
            bits = a.viable_bits(x, q) | (fbits if accepts else 0)
            heads = tuple(bytes([b]) for b in range(256) if bits >> b & 1)
        if not heads:
            return None
        some, cands = f.forced_witnesses(fnext, path, False, heads, PREFIXED_MAX)
        if some:  # a prefix of what x forces: x takes it
            return True
        if path and (cands is None or len(cands)):
            # one byte further: past ``path`` x goes on with one of its viable bytes or, where
            # it accepts there, the follow's threads with one of ``fbits``, so a valid token
            # longer than ``path`` starts with ``path`` and one of those (see _alive; here
            # even for a short list: ``self`` after `` fal`` crosses into the follow, which
            # leaves the token open, but ``l`` may not follow ``false``)
            qp = _dfa_run(a, x, q, path)
            bits = a.viable_bits(x, qp) | (fbits if a._accept[x][qp] else 0)
            more = tuple(path + bytes([b]) for b in range(256) if bits >> b & 1)
            cands = f.forced_witnesses(fnext, path, False, more, PREFIXED_MAX)[1]
        if cands is None:
            return None
        walks = [a.lexeme_walk(x, q, u) for u in cands[:WITNESS_TRIES].tolist()]
        if any(w[0] >= 0 for w in walks):  # x takes the whole candidate
            return True
        if mid or (len(cands) and (accepts or len(cands) > WITNESS_TRIES or any(w[2] for w in walks))):
            return None
        return False  # no candidate, or each one x rejects before accepting anywhere

    def _alive(self, nxt, fnext) -> bool:
        """Whether some token is valid in grammar state ``nxt`` and canonical in filter state
        ``fnext`` (called for the tokens the lookahead found no one-byte witness for).

        First the bytes ``nxt`` forces (:meth:`_forced_bytes`): the tokens along them, and
        where the bytes branch, every token starting with the forced prefix (or, with none,
        with a byte that may come next) judged canonical at once: none canonical is an exact
        "no" (blank runs before ``"``, which the pre-tokenizer splits), a canonical one the
        grammar accepts an exact "yes".  Then a witness search (the shortest tokens of each
        byte that may come next, :meth:`CanonicalFilter.short_tokens`), and only then the next
        state's full mask (a grammar first visit): there the answer is exact too."""
        a = self._automaton
        f = self._filter
        path, complete = self._forced_bytes(nxt)
        heads = (path,) if path or complete else tuple(bytes([b]) for b in a.first_bytes(nxt).nonzero()[0])
        some, cands = f.forced_witnesses(fnext, path, complete, heads, PREFIXED_MAX)
        if some:  # a token along the forced bytes: valid, and canonical
            return True
        if complete:
            return False
        if path and (cands is None or len(cands) > WITNESS_TRIES):
            # one byte further: a valid token longer than ``path`` goes on with a byte the
            # state after ``path`` allows (it branches there), so these heads hold every
            # valid token the ones along ``path`` do not (`` tru`` before ``e``: the tokens
            # ``e`` + a byte that may follow ``true``, not every token starting with ``e``)
            after = a.walk(nxt, path)
            more = tuple(path + bytes([b]) for b in a.first_bytes(after).nonzero()[0].tolist())
            cands = f.forced_witnesses(fnext, path, False, more, PREFIXED_MAX)[1]
        if cands is not None:
            if not len(cands):
                return False  # every valid token is among the ones judged
            for u in cands[:WITNESS_TRIES].tolist():
                if a.advance(nxt, u) is not a.dead:
                    return True
            if len(cands) <= WITNESS_TRIES:
                return False  # every canonical one is invalid: all were stepped
        cands = f.short_tokens(a.first_bytes(nxt))
        if len(cands):
            for u in cands[f.allowed_among(fnext, cands)][:WITNESS_TRIES].tolist():
                if a.advance(nxt, u) is not a.dead:
                    return True
        cache = f.mask_cache
        key = ("next", id(nxt))
        hit = cache.get(key)
        if hit is None or hit[0] is not nxt:
            vocab = a.vocab
            nids = vocab.mask_to_ids(a.mask(nxt).view(np.int32))
            nids = nids[vocab.token_lens[nids] > 0]
            hit = cache[key] = (nxt, None if len(nids) > LOOKAHEAD_WIDE else nids)
        if hit[1] is None:
            return True  # a wide next mask: some token fits
        return f.any_allowed(fnext, hit[1])

    def _forced_bytes(self, nxt) -> tuple[bytes, bool]:
        """(path, complete): the bytes grammar state ``nxt`` forces (one viable byte at a
        time, while some token goes on along them), and whether the tokens spelling prefixes
        of ``path`` are all its valid tokens (the forced bytes end, or no token goes on
        along them, before a second byte is possible; otherwise every other valid token
        starts with ``path``).  Why: a token the lookahead finds no witness for is mostly
        one before forced bytes (``o`` before ``rderId``, a blank run before ``"``); there
        :meth:`CanonicalFilter.forced_witnesses` answers without the next state's full mask
        (a grammar first visit)."""
        a = self._automaton
        vocab = a.vocab
        node, st, path = 0, nxt, []
        while True:
            bs = a.first_bytes(st).nonzero()[0]
            if len(bs) != 1:
                return bytes(path), not len(bs)
            b = int(bs[0])
            node = vocab.child(node, b)
            if node < 0:
                return bytes(path), True
            st = a.step(st, b)
            if st is a.dead:  # first_bytes over-approximated: nothing valid past here
                return bytes(path), True
            path.append(b)

    def is_allowed(self, token_id: int) -> bool:
        if not super().is_allowed(token_id):
            return False
        m = self.mask()
        return bool((int(m[token_id >> 5]) >> (token_id & 31)) & 1)

    def is_canonical_step(self, token_id: int) -> bool:
        """Whether ``token_id`` keeps the output canonical here (grammar aside)."""
        return self._filter.next_state(self._canon[-1], token_id) is not None

    def advance(self, token_id: int) -> bool:
        st = self._canon[-1]
        if not super().advance(token_id):
            return False
        if self._history[-1] is _FINISHED:
            self._canon.append(st)
            return True
        nxt = self._filter.next_state(st, token_id)
        if nxt is None:  # a token the mask did not allow (fallback, or a forced token)
            self.fallbacks += 1
            nxt = self._filter.restart(token_id)
        self._canon.append(nxt)
        return True

    def advance_bytes(self, data: bytes) -> bool:
        if not super().advance_bytes(data):
            return False
        self._canon.append(self._filter.after_bytes(self._canon[-1], data))
        return True

    def rollback(self, n: int = 1) -> None:
        super().rollback(n)
        if n:
            del self._canon[-n:]

    def reset(self) -> None:
        super().reset()
        del self._canon[1:]

    def copy(self) -> "CanonicalMatcher":
        return CanonicalMatcher(self._automaton, self._filter, list(self._history), list(self._canon),
                                self.fallbacks)
