"""Draft sources: cheap guesses of the next tokens, each behind one small interface.

Why point-mass drafts only: every source here proposes *tokens*, not distributions, so the
verifier accepts a draft ``d`` with probability ``p~(d)`` (the masked target's probability)
and on rejection samples the target with ``d`` removed; ALGORITHMS.md section 3.2 shows this
is exact for any proposal that is a function of the past, however good or bad it is.  A
source's quality only changes how many tokens a model pass yields.

A source gets a :class:`DraftContext` (a walker positioned where the next token goes, the
token history: prompt, output and the drafts so far) and returns up to ``k`` tokens.  The
:class:`Drafter` asks the sources in order at each position, keeps a proposal's tokens while
the grammar allows them (a source need not check), and records each position's mask for the
verifier.  Sources: :class:`GrammarDraft` (forced bytes, canonically tokenized, minus a
possible bridge token), :class:`NgramDraft` (prompt lookup) and :class:`RecyclingDraft`
(token recycling from earlier passes' top candidates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from constrain.tokens.bitmask import bits_at

from .tree import SiblingDraft

__all__ = ["BridgeDraft", "Draft", "DraftContext", "DraftSource", "Drafter", "FreeWalk", "GrammarDraft", "NgramDraft",
           "RecyclingDraft", "legal_extensions", "make_sources", "sibling_draft", "single_token"]


def single_token(mask: np.ndarray) -> int | None:
    """The one token a bitmask allows, or None when it allows zero or several."""
    nz = np.flatnonzero(mask)
    if len(nz) != 1:
        return None
    w = int(mask[nz[0]]) & 0xFFFFFFFF
    if w & (w - 1):
        return None
    return int(nz[0]) * 32 + w.bit_length() - 1


class FreeWalk:
    """The walker of an unconstrained row: every token of a fixed mask, never forced bytes.

    Gives rows without a constraint the matcher interface the :class:`Drafter` walks (EOS
    ends the row, so drafts never contain it)."""

    __slots__ = ("_mask", "_eos", "_n")

    def __init__(self, mask: np.ndarray, eos: frozenset, n: int = 0):
        self._mask, self._eos, self._n = mask, eos, n

    def mask(self) -> np.ndarray:
        return self._mask

    def is_allowed(self, t: int) -> bool:
        return t not in self._eos and 0 <= t < 32 * len(self._mask) and bool((int(self._mask[t >> 5]) >> (t & 31)) & 1)

    def advance(self, t: int) -> bool:
        if not self.is_allowed(t):
            return False
        self._n += 1
        return True

    def rollback(self, n: int) -> None:
        self._n -= n

    def is_finished(self) -> bool:
        return False

    def forced_bytes(self) -> bytes:
        return b""

    def copy(self) -> "FreeWalk":
        return FreeWalk(self._mask, self._eos, self._n)


@dataclass
class DraftContext:
    """Where a source is asked for a guess: ``walker`` (do not advance it) is the constraint's
    state at the next position, ``history`` the tokens before it (prompt, output, drafts)."""

    walker: object
    history: list
    vocab: object


class DraftSource(Protocol):
    """Proposes up to ``k`` next tokens (any tokens: the :class:`Drafter` keeps the legal prefix)."""

    name: str

    def propose(self, context: DraftContext, k: int) -> Sequence[int]: ...


def legal_extensions(vocab, prefix: bytes, mask: np.ndarray) -> np.ndarray:
    """The ids the packed ``mask`` allows among the tokens that start with ``prefix`` and are
    longer than it (a subtree of the vocabulary's byte trie)."""
    node = 0
    for b in prefix:
        node = vocab.child(node, b)
        if node < 0:
            return np.zeros(0, dtype=np.int64)
    ptr = vocab.node_token_ptr
    ids = vocab.node_token_ids[ptr[node + 1]:ptr[vocab.trie_end[node]]]
    words = mask.view(np.uint32)
    ids = ids[ids < 32 * len(words)]
    return ids[bits_at(words, ids)]


class GrammarDraft:
    """The bytes the grammar forces, as the tokenizer would spell them.

    Why canonical: several token sequences spell the same forced bytes, and the model has
    only seen the canonical one; drafting it (instead of appending it, as jump-forward
    does) lets the target reject a split it would not have made, so a wrong guess costs a
    pass, never a different output.  Bridge tokens (ALGORITHMS.md 3.6): when a token the
    grammar allows could start inside the forced bytes and run past their end (forced
    ``"name`` then free text: the model may write ``"name":`` as one token), the forced
    tokens from that split point on are dropped, so the draft never forces a split there.
    ``lookback`` is how many trailing split points are checked (llguidance uses 4).
    """

    name = "grammar"

    def __init__(self, vocab, lookback: int = 4):
        self.vocab = vocab
        self.lookback = lookback
        self._encoded: dict[bytes, list[int]] = {}

    def _encode(self, data: bytes) -> list[int]:
        ids = self._encoded.get(data)
        if ids is None:
            try:
                ids = self.vocab.encode(data.decode("utf-8"))
            except UnicodeDecodeError:  # forced bytes that end inside a character
                ids = self.vocab.greedy_encode(data)
            except ValueError:  # bytes no token has
                ids = []
            if len(self._encoded) > 4096:
                self._encoded.clear()
            self._encoded[data] = ids
        return ids

    def _extends(self, rest: bytes, mask: np.ndarray) -> bool:
        """Does the mask allow a token that starts with ``rest`` and is longer than it?"""
        return len(legal_extensions(self.vocab, rest, mask)) > 0

    def propose(self, context: DraftContext, k: int) -> list[int]:
        forced = context.walker.forced_bytes()
        if not forced:
            return []
        ids = self._encode(forced)
        if not ids:
            return []
        tb = self.vocab.token_bytes
        ends = np.cumsum([len(tb[t] or b"") for t in ids])
        keep = len(ids)
        walk = context.walker.copy()
        masks = [walk.mask()]
        for t in ids[:-1]:
            if not walk.advance(t):
                break
            masks.append(walk.mask())
        # split after ids[:j]: is there a legal token spanning forced[ends[j-1]:] and beyond?
        for j in range(len(masks) - 1, max(-1, len(ids) - 1 - self.lookback), -1):
            start = int(ends[j - 1]) if j else 0
            if start < len(forced) and self._extends(forced[start:], masks[j]):
                keep = j
        return ids[:min(keep, k)]


class BridgeDraft:
    """The output's first token where no other source has a guess: among the legal tokens that
    start with the bytes the grammar forces there (often none: whitespace may precede a JSON
    value) and go on with something other than whitespace (``{``, ``{"``, ``["``), the one after
    which the grammar forces the most bytes (``{"`` when the first key is forced), the lowest
    id among equals; nothing when more than ``max_candidates`` tokens qualify (free text).

    Why the first position only: there the prompt's prefill can verify a draft at almost no
    cost (a few more tokens in a pass over the whole prompt,
    :meth:`~decode.speculative.SpeculativeStep.prefill_draft`), while the other sources have
    nothing (no output, no recycled candidates, forced bytes that a longer token may carry);
    elsewhere a wrong guess would cost pass width.  ``start``: the history's length at that
    position (the prompt's)."""

    name = "grammar"

    def __init__(self, vocab, start: int, max_candidates: int = 64):
        self.vocab = vocab
        self.start = start
        self.max_candidates = max_candidates

    def propose(self, context: DraftContext, k: int) -> list[int]:
        if len(context.history) != self.start or k < 1:
            return []
        forced = context.walker.forced_bytes()
        ids = legal_extensions(self.vocab, forced, np.asarray(context.walker.mask()))
        tb, n = self.vocab.token_bytes, len(forced)
        kept = []
        for t in np.sort(ids).tolist():
            if not (tb[t] or b" ")[n:n + 1].isspace():
                kept.append(t)
                if len(kept) > self.max_candidates:  # free text: stop at the first one too many
                    return []
        best, most = None, -1
        for t in kept:
            walk = context.walker.copy()
            if not walk.advance(t) or walk.is_finished():
                continue
            n = len(walk.forced_bytes())
            if n > most:
                best, most = t, n
        return [] if best is None else [best]


class NgramDraft:
    """Prompt lookup: the tokens that followed the latest earlier occurrence of the history's
    last ``n`` tokens (``n`` from ``max_n`` down to 1), in the prompt or the output so far,
    among the occurrences whose next token the constraint allows here.

    Why: extraction outputs copy values from the prompt, and structured outputs repeat
    their own key sequences; both are free to find and often right (vLLM's ``ngram``).
    Why filter by the mask first: the latest match is often illegal where an earlier one is
    not (after ``"speed":`` the prompt's schema goes on with `` {"``, the output with a
    number), and an illegal first token would leave the position with no draft at all."""

    name = "ngram"

    def __init__(self, max_n: int = 3):
        self.max_n = max_n

    def propose(self, context: DraftContext, k: int) -> list[int]:
        h = np.asarray(context.history, dtype=np.int64)
        L = len(h)
        if L < 2:
            return []
        words = None
        for n in range(min(self.max_n, L - 1), 0, -1):
            windows = np.lib.stride_tricks.sliding_window_view(h[:L - 1], n)  # starts 0..L-1-n
            hits = np.flatnonzero((windows == h[L - n:]).all(axis=1))
            if not len(hits):
                continue
            nxt = h[hits + n]
            if words is None:
                words = np.asarray(context.walker.mask()).view(np.uint32)
            ok = (nxt >= 0) & (nxt < 32 * len(words))
            idx = np.where(ok, nxt, 0)
            ok &= bits_at(words, idx)
            legal = hits[ok]
            if len(legal):
                j = int(legal[-1]) + n
                return h[j:j + k].tolist()
        return []


class RecyclingDraft:
    """Token recycling: after token ``t``, the legal candidate the model ranked best the last
    time ``t`` was fed (the top ``top_k`` of that pass, kept per token).

    Why: the model's own earlier guesses cost nothing to keep (Luo et al. 2024: an adjacency
    table of top-k candidates) and, filtered by the grammar, fill the positions where neither
    the grammar nor the prompt has an answer.  :meth:`observe` records a pass's candidates.
    """

    name = "recycling"

    def __init__(self, top_k: int = 8):
        self.top_k = top_k
        self.table: dict[int, np.ndarray] = {}

    def observe(self, tokens: Sequence[int], top_ids: np.ndarray) -> None:
        """``top_ids[j]``: the model's best ``top_k`` tokens after ``tokens[j]``."""
        for t, ids in zip(tokens, top_ids):
            self.table[int(t)] = ids

    def propose(self, context: DraftContext, k: int) -> list[int]:
        if not context.history:
            return []
        cands = self.table.get(int(context.history[-1]))
        if cands is None:
            return []
        for t in cands.tolist():
            if context.walker.is_allowed(t):
                return [t]
        return []


def make_sources(spec, vocab, eos=frozenset()) -> list:
    """The draft source objects of a ``Speculation`` (names become fresh instances)."""
    from .model_draft import ModelDraft
    from .suffix import SuffixDraft

    out = []
    for d in spec.drafts:
        if d == "grammar":
            out.append(GrammarDraft(vocab))
        elif d == "ngram":
            out.append(NgramDraft(spec.ngram))
        elif d == "recycling":
            out.append(RecyclingDraft())
        elif d == "suffix":
            out.append(SuffixDraft(spec.history))
        elif d == "model":
            out.append(ModelDraft(spec.draft_model, eos))
        else:
            out.append(d)
    return out


def sibling_draft(spec, sources: list, eos: frozenset):
    """``(recycler, siblings)`` for a ``Speculation``: the token-recycling source among
    ``sources`` (a fresh one when ``spec.siblings`` needs its table and none drafts) and the
    :class:`SiblingDraft` reading it (None when ``spec.siblings`` is 0)."""
    recycler = next((s for s in sources if isinstance(s, RecyclingDraft)), None)
    if not spec.siblings:
        return recycler, None
    if recycler is None:  # siblings read recycling's table, drafted or not
        recycler = RecyclingDraft()
    return recycler, SiblingDraft(spec.siblings, recycler, eos)


@dataclass
class Draft:
    """One row's draft: ``tokens``, the ``source`` name of each, and ``masks`` ``[len+1, words]``:
    the constraint's mask before each drafted token and after the last (the bonus position)."""

    tokens: list = field(default_factory=list)
    sources: list = field(default_factory=list)
    masks: np.ndarray | None = None
    #: a copy of the walker positioned after the last drafted token (siblings start there)
    end: object = None
    #: a tree draft (:mod:`decode.speculative.tree`): each token's parent (-1: the root); None: a chain
    parents: list | None = None
    #: how many of ``tokens`` are the chain the sources drafted (the rest are siblings)
    chain: int = 0


class Drafter:
    """Builds a row's draft from its sources, keeping only grammar-legal tokens.

    At each position the sources are asked in order; the first proposal with a legal first
    token wins and is kept up to its first illegal token, then the next position asks again
    from the first source.  ``budget`` counts the drafted tokens that need the model's
    verdict: a token that is the only one its mask allows is certain and free (up to
    ``limit`` tokens in all).  EOS is never drafted (a row that can end stops at its mask).
    """

    def __init__(self, sources: list, vocab, eos: frozenset):
        self.sources = sources
        self.vocab = vocab
        self.eos = eos

    def draft(self, walker, history: list, budget: int, limit: int, rates: dict | None = None,
              min_prob: float = 0.0) -> Draft:
        """``rates``: each source's estimated chance that verification keeps one of its tokens
        once it reaches it; with them, drafting stops where the chance that the whole draft so
        far is kept (their product) would fall below ``min_prob`` (a position then costs more
        forward work than it is expected to save)."""
        walk = walker.copy()
        masks = [walk.mask()]
        toks: list[int] = []
        names: list[str] = []
        counted = 0
        path = 1.0
        stop = False
        while counted < budget and len(toks) < limit and not stop:
            ctx = DraftContext(walk, history + toks, self.vocab)
            took = 0
            for src in self.sources:
                for t in src.propose(ctx, min(budget - counted, limit - len(toks))):
                    t = int(t)
                    free = single_token(masks[-1]) is not None
                    if not free and rates is not None:
                        p = path * rates.get(src.name, 1.0)
                        if p < min_prob and toks:
                            stop = True
                            break
                    if t in self.eos or not walk.advance(t):
                        break
                    if walk.is_finished():  # an id the constraint reads as EOS
                        walk.rollback(1)
                        break
                    if not free:
                        counted += 1
                        if rates is not None:
                            path = p
                    masks.append(walk.mask())
                    toks.append(t)
                    names.append(src.name)
                    took += 1
                    if counted >= budget or len(toks) >= limit:
                        break
                if took or stop:
                    break
            if not took:
                break
        return Draft(toks, names, np.stack(masks), walk, None, len(toks))
