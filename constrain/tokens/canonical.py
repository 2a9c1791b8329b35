"""Canonical token sequences: the tokenizer's own encoding of their bytes, and a mask filter.

Why: a byte-level grammar mask allows every tokenization of a legal string, ``order`` + ``Id``
as well as ``orderId``; the tokenizer never produces the former, so a model puts mass on
spellings it never saw in training (tokenization bias, ALGORITHMS.md section 5).  With
``canonical_tokens=True`` a compiled constraint allows a token only where the output stays
canonical.

The test is local: Vieira et al., "Language Models over Canonical Byte-Pair Encodings"
(ICML 2025, arXiv 2502.07568) show that for BPE a token string is canonical iff each of its
adjacent pairs is (bigram canonicality).  Their argument holds for BPE applied to one chunk
with merges taken by rank, leftmost first (what Hugging Face ``tokenizers`` does); we check
its conditions on real tokenizers rather than assume them:

- pre-tokenization (a regex splitting text into chunks BPE never merges across) is not part
  of their theorem.  For a pair ``(a, b)`` we run the tokenizer's own pre-tokenizer on the
  pair's text: the junction must be a chunk boundary (then each token must be its own text's
  encoding) or inside one chunk holding both tokens (then no merge may cross the junction);
  any other split is non-canonical.  Regex chunking depends only on character classes, so it
  is computed once per pair of *class signatures* (letters, digits, blanks, the characters
  the regexes name literally), not per pair of tokens.  A chunk boundary can in principle
  depend on text beyond the pair (regex lookahead); the tests compare against the
  tokenizer's ``encode`` on random texts.
- ``ignore_merges`` tokenizers (Tekken, and Mistral's SentencePiece conversion) emit a whole
  chunk that is itself a token without merging: such a token is canonical on its own even if
  merges cannot build it, but inside a longer chunk only merge-built tokens occur.
- a pair that splits a multi-byte character: the partial character is classed as
  punctuation for chunking (the pair alone cannot say what the character is).
- Tekken's merges are derived from tiktoken ranks (several merges build one token); there
  the context-free merge test can reject a canonical pair (``"\\n\\n"``, ``" "`` inside the
  blank chunk ``"\\n\\n \\n\\n"``), so byte-level BPE with ``ignore_merges`` is refused with
  an :class:`OptionError` rather than given a filter that forbids canonical outputs.

The merge test is vectorized over the vocabulary.  A token's derivation is a binary tree; a
pair ``(a, b)`` is non-canonical iff some merge ``(r, l) -> m`` exists with ``r`` on ``a``'s
right spine, ``l`` on ``b``'s left spine, and ``m`` applied while both still exist: its
rank below the rank that absorbs ``r`` into its parent (strictly: a tie goes to the left
pair inside ``a``) and not above the rank that absorbs ``l`` (a tie goes to the crossing
pair, which is further left).  For a previous token ``a`` the row over every ``b`` is one
gather over the flattened left spines of all tokens.

Rows are packed int32 words, cached in LRU caches bounded in bytes (:data:`ROW_CACHE_BYTES`):
the pre-tokenizer part is one row per *class* of previous tokens (signature and context,
:meth:`CanonicalFilter.class_words`), the merge part one row per crossing set (tokens whose
right spines offer the same crossing merges share it), so a filter state's row is
``split | (join & ~conflicts)`` in words.  A narrow grammar mask is refined token by token
instead (:meth:`CanonicalFilter.restrict`), reading only its tokens' signatures and spines.

SentencePiece with byte fallback (Mistral v1-v3) has no pre-tokenizer and merges characters;
a byte-fallback token ``<0xHH>`` is canonical only for a byte whose character has no piece
(a single-byte character with a piece, ``<0x41>`` for ``A``, never is).  A multi-byte
character is spelled with byte tokens only when it has no piece; a pair of byte tokens
cannot tell, so byte tokens of multi-byte characters are allowed.  "Canonical" means the
encoding the text gets in the middle of an output, without SentencePiece's dummy prefix
``▁`` (see :meth:`Vocabulary.encode`).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import threading
import unicodedata
import weakref
from collections import OrderedDict

import numpy as np

from ..errors import OptionError
from .bitmask import bits_at, clear_bits, count_bits, pack_bits, set_bits
from .bytelevel import BYTES_TO_UNICODE
from .canonical_store import CAN_JOIN, CAN_SPLIT, DONE, END_JOIN, END_SPLIT, outcome_store, row_store, verdict_store

__all__ = ["START", "CanonicalFilter", "canonical_filter"]

INF = np.int64(1 << 40)
#: bytes each of the filter's packed-row caches may hold (LRU): filter-state rows, rows per
#: class of previous tokens (signature and context), merge-conflict rows per right spine.
#: SmolLM2's rows are 6 KiB, so 16 MiB is ~2,700 of them
ROW_CACHE_BYTES = 16 << 20
#: grammar masks of at most this many tokens are refined token by token, not by a full row
#: (:meth:`CanonicalFilter.restrict`)
RESTRICT_MAX = 4096
#: crossing sets kept per vocabulary (LRU; small arrays)
ROW_CACHE_SIZE = 4096
#: filter states whose one-byte witness rows (256 bools) are kept (``byte_witnesses``; FIFO)
WITNESS_CACHE_SIZE = 8192
#: witness candidates per first byte (``short_tokens``)
SHORT_PER_BYTE = 4
#: ``next_states`` calls with at most this many tokens use a memo per (state, token) of up
#: to ``NEXT_MEMO_SIZE`` entries (FIFO)
NEXT_MEMO_IDS = 16
NEXT_MEMO_SIZE = 1 << 16
_MISSING = object()
#: lexeme walks kept by ``lexeme_walks`` (all dropped past it)
WALK_MEMO_SIZE = 1 << 18
#: pre-tokenizer results memoized per filter (short class strings), up to
CHUNK_MEMO_SIZE = 400_000
SPLIT, JOIN, EITHER = 0, 1, 2
#: the stored bit of each of ``_outcome_row``'s five arrays, in order
_BITS = (CAN_SPLIT, CAN_JOIN, END_SPLIT, END_JOIN, DONE)
#: the filter's state at the start of the output: no previous token, a chunk boundary
START = (-1, 0, SPLIT, True)
_BLANKS = frozenset(" \t\n\r")
#: what may follow a pair when its chunking is judged: the end of the text, a word, a digit,
#: punctuation, a blank, a line break (a pre-tokenizer regex sees only these classes)
_CONTINUATIONS = ("", "a", "A", "0", "!", " ", "\n", "\t")

# characters the pre-tokenizer regexes name literally (GPT-2 contractions, Tekken's [\r\n/])
_LITERAL = frozenset("'/ \n\r")
_CONTRACTION = frozenset("strevmldSTREVMLD")
_CLASS_REP = {"Lu": "A", "Lt": "A", "Ll": "a", "Lm": "\u02b0", "Lo": "\u4e00", "Mn": "\u0301", "Mc": "\u0301",
              "Me": "\u0301", "Nd": "0", "Nl": "0", "No": "0"}
_LOCK = threading.Lock()


def _utf8_len(lead: int) -> int:
    """Bytes in a UTF-8 character starting with ``lead`` (1 for a stray continuation byte)."""
    return 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if lead >= 0xF0 else 1


def _rep_char(c: str) -> str:
    """A character with the same meaning to a pre-tokenizer regex as ``c``."""
    if c in _LITERAL:
        return c
    if "\udc80" <= c <= "\udcff":  # a byte of a character split across tokens
        return "!"
    if c.isspace():
        return "\t"
    return _CLASS_REP.get(unicodedata.category(c), "!")


class CanonicalFilter:
    """Which tokens may follow which in a canonical encoding, for one vocabulary.

    Build with :func:`canonical_filter` (cached on the vocabulary).  ``row(prev)`` is a packed
    int32 mask (``vocab.n_words`` words) of the tokens allowed right after token ``prev``
    (``prev=-1``: at the start of the output); EOS ids are always in it.
    """

    def __init__(self, vocab):
        tok = vocab.tokenizer
        bt = getattr(tok, "backend_tokenizer", None)
        if bt is None:
            raise OptionError("canonical_tokens needs a vocabulary built from a Hugging Face BPE tokenizer "
                              "(Vocabulary.from_hf); a hand-made vocabulary has no canonical encoding")
        spec_json = bt.to_str()
        spec = json.loads(spec_json)
        model = spec.get("model") or {}
        if model.get("type") != "BPE" or not model.get("merges"):
            raise OptionError(f"canonical_tokens: only BPE tokenizers are supported, got {model.get('type')!r}")
        self.vocab = vocab
        self.size = vocab.size
        self.ignore_merges = bool(model.get("ignore_merges"))
        self.sentencepiece = vocab.family == "sentencepiece"
        if self.ignore_merges and not self.sentencepiece:
            # merges converted from tiktoken ranks (Tekken, Llama 3): a merge across a junction
            # depends on text the pair test does not see (Tekken keeps " " apart between two
            # "\n\n" in one blank chunk), so the filter would forbid canonical continuations
            raise OptionError("canonical_tokens is not exact for byte-level BPE converted from tiktoken "
                              "ranks (ignore_merges, e.g. Tekken): refused rather than forbid canonical "
                              "outputs; Vocabulary.is_canonical still works")
        self._pre = None if self.sentencepiece else bt.pre_tokenizer
        # added (non-special) tokens are cut out of the text before anything else: always
        # their own chunk, canonical next to anything
        added = np.zeros(vocab.size, dtype=bool)
        for i, at in (getattr(tok, "added_tokens_decoder", None) or {}).items():
            if 0 <= int(i) < vocab.size and vocab.token_bytes[int(i)] is not None:
                added[int(i)] = True
        self.added = added
        self._lock = threading.Lock()
        # packed rows: per filter state (allowed, split, join), per class of previous tokens
        # (``_outcome_key``: split, join before merge conflicts), per right-spine crossing set
        # (merge conflicts; ``_conflict_key`` maps a token to its set)
        self._rows: OrderedDict[int, tuple] = OrderedDict()  # by _row_key
        self._class_rows: OrderedDict[tuple, tuple] = OrderedDict()
        self._conflict_rows: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._conflict_key: OrderedDict[int, bytes] = OrderedDict()
        self._crossings: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._complete: set[tuple] = set()
        self._short: np.ndarray | None = None  # outcome rows computed for every live signature
        self._class_arrays = None  # _class_tables
        self._outcomes: dict[tuple, tuple] = {}
        self._ends: dict[str, list[int]] = {}
        #: CanonicalMatcher's masks per (automaton state, filter state), shared by matchers
        self.mask_cache: dict = {}
        self._singles = self._nothing = None
        # one-byte tokens (the lookahead's witnesses): per class and per previous token
        self._bytes = None
        self._byte_classes: OrderedDict[tuple, tuple] = OrderedDict()
        self._byte_tables = None  # _byte_merges
        self._byte_conf: dict[int, int] = {}  # byte_conflict_bits
        self._witness_rows: dict[tuple, int] = {}  # witness_bits
        self._forced: dict[tuple, tuple] = {}  # forced_witnesses
        self._next_memo: dict[tuple, tuple | None] = {}  # next_states of a few tokens
        #: the lookahead's lexeme-level verdicts (``CanonicalMatcher._lexeme_alive``): key ->
        #: packed tokens (kept, judged, left open), LRU bounded by :data:`ROW_CACHE_BYTES`
        self.lexeme_verdicts: OrderedDict[tuple, tuple] = OrderedDict()
        self._classes: dict[tuple, tuple] = {}  # state_class, FIFO
        self._walks: dict[tuple, dict] = {}  # lexeme_walks
        self._row_ids: dict[tuple, int] = {}  # _row_key per state (FIFO)
        self._row_id_of: dict[tuple, int] = {}  # _row_key per (class, end)
        self._class_rep: dict[tuple, tuple] = {}  # a filter state of each class (save_verdicts)
        self.hits = self.misses = 0
        self._build_merges(model, tok)
        self._build_derivations()
        self._build_spines()
        self._build_signatures()
        self._build_singletons()
        # each token's first byte (0 for tokens without bytes): the lexeme-level lookahead
        # keeps to the tokens a lexeme state can start
        self.first_byte = np.array([d[0] if d else 0 for d in vocab.token_bytes], dtype=np.int64)
        # pre-tokenizer outcomes other processes computed (canonical_store): read once here,
        # this process's additions written back at exit (or by save_outcomes)
        self._store = None if self._pre is None else outcome_store(
            json.dumps(spec.get("pre_tokenizer"), sort_keys=True), self.sig_reps)
        self._stored = self._store.load() if self._store is not None else {}
        self._unsaved = False
        # lexeme-level verdicts other processes of this code computed for this tokenizer
        # (canonical_store.VerdictStore): taken into lexeme_verdicts when first asked for
        self._verdict_store = None if self._pre is None else verdict_store(spec_json, vocab.size)
        self._stored_verdicts: dict[tuple, tuple] = {}
        if self._verdict_store is not None:
            for (lex, n, q, fbits, can_end, prev, ctx, mode, end), rows in self._verdict_store.load().items():
                fst = START if prev < 0 else (prev, self.ctx_id(ctx), mode, end)
                self._stored_verdicts[(lex, n, q, fbits, can_end, self.state_class(fst))] = rows
        self._verdicts_unsaved = False
        # class and conflict rows other processes of this code computed for this tokenizer
        # (canonical_store.RowStore): taken into the row caches when first asked for
        self._row_store = None if self._pre is None else row_store(spec_json, vocab.size, vocab.n_words)
        self._stored_rows = self._row_store.load() if self._row_store is not None else {}
        self._rows_unsaved = False
        if self._store is not None or self._verdict_store is not None:
            atexit.register(_save_at_exit, weakref.ref(self))

    # ------------------------------------------------------------------ construction

    def _piece_id(self) -> dict[str, int]:
        return self.vocab.tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)

    def _build_merges(self, model, tok) -> None:
        pid = self._piece_id()
        self._pid = pid
        us, vs, ws = [], [], []
        for m in model["merges"]:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            u, v, w = pid.get(a), pid.get(b), pid.get(a + b)
            if u is None or v is None or w is None:
                us.append(-1), vs.append(-1), ws.append(-1)
                continue
            us.append(u), vs.append(v), ws.append(w)
        u = np.asarray(us, dtype=np.int64)
        v = np.asarray(vs, dtype=np.int64)
        w = np.asarray(ws, dtype=np.int64)
        rank = np.arange(len(u), dtype=np.int64)
        ok = (u >= 0) & (u < self.size) & (v < self.size) & (w < self.size)
        u, v, w, rank = u[ok], v[ok], w[ok], rank[ok]
        # first rank wins when a pair is listed twice (as tokenizers does)
        key = u * self.size + v
        _, first = np.unique(key, return_index=True)
        u, v, w, rank = u[first], v[first], w[first], rank[first]
        self._merge = dict(zip(zip(u.tolist(), v.tolist()), zip(rank.tolist(), w.tolist())))
        order = np.lexsort((v, u))
        self.m_left, self.m_right, self.m_rank = u[order], v[order], rank[order]
        self.m_ptr = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.m_left, minlength=self.size), out=self.m_ptr[1:])

    def _atoms(self, data: bytes) -> list[int] | None:
        """The symbols BPE starts from for ``data``: its bytes (byte-level) or characters
        (SentencePiece, byte fallback for characters without a piece)."""
        pid = self._pid
        if not self.sentencepiece:
            out = [pid.get(BYTES_TO_UNICODE[b]) for b in data]
            return None if None in out else out
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        out = []
        for c in text:
            i = pid.get("\u2581" if c == " " else c)
            if i is None:
                for b in c.encode("utf-8"):
                    j = pid.get(f"<0x{b:02X}>")
                    if j is None:
                        return None
                    out.append(j)
            else:
                out.append(i)
        return out

    def _build_derivations(self) -> None:
        """Each token's last merge in BPE of its own bytes: children and rank (-1: atom)."""
        n = self.size
        lc = np.full(n, -1, dtype=np.int64)
        rc = np.full(n, -1, dtype=np.int64)
        rank = np.full(n, -1, dtype=np.int64)
        reach = np.zeros(n, dtype=bool)  # BPE of the token's bytes (one chunk) is the token
        merge = self._merge
        tb = self.vocab.token_bytes
        for t in self.vocab.text_ids.tolist():
            syms = self._atoms(tb[t])
            if syms is None:
                continue
            last = None
            while len(syms) > 1:
                best = None
                for i in range(len(syms) - 1):
                    r = merge.get((syms[i], syms[i + 1]))
                    if r is not None and (best is None or r[0] < best[0]):
                        best = (r[0], i, r[1])
                if best is None:
                    break
                r, i, w = best
                last = (syms[i], syms[i + 1], r)
                syms[i:i + 2] = [w]
            if syms == [t]:
                reach[t] = True
                if last is not None:
                    lc[t], rc[t], rank[t] = last
        self.lc, self.rc, self.rank, self.reachable = lc, rc, rank, reach

    def _build_spines(self) -> None:
        """Left spines of every token, flattened: (token, spine member, rank absorbing it)."""
        toks = self.vocab.text_ids[self.reachable[self.vocab.text_ids]]
        parts_t, parts_s, parts_d = [toks], [toks], [np.full(len(toks), INF)]
        cur_t, cur = toks, toks
        while True:
            has = self.lc[cur] >= 0
            cur_t, parent, cur = cur_t[has], cur[has], self.lc[cur[has]]
            if not len(cur):
                break
            parts_t.append(cur_t), parts_s.append(cur), parts_d.append(self.rank[parent])
        self.sp_tok = np.concatenate(parts_t)
        self.sp_id = np.concatenate(parts_s)
        self.sp_death = np.concatenate(parts_d)
        # the same entries grouped by token (a subset's spines: ``conflicts_among``) and by
        # spine member (the tokens a crossing merge can hit: ``_conflicts``)
        n = self.size
        by_tok = np.argsort(self.sp_tok, kind="stable")
        self.tok_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.sp_tok, minlength=n), out=self.tok_ptr[1:])
        self.tok_member, self.tok_death = self.sp_id[by_tok], self.sp_death[by_tok]
        by_member = np.argsort(self.sp_id, kind="stable")
        self.member_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.sp_id, minlength=n), out=self.member_ptr[1:])
        self.member_tok, self.member_death = self.sp_tok[by_member], self.sp_death[by_member]

    def _build_signatures(self) -> None:
        """Class signature of every token's text: what a pre-tokenizer regex sees of it.

        Characters become a representative of their class (:func:`_rep_char`); the first two
        characters, and two after an apostrophe, keep contraction letters (``'s``, ``'ll``);
        runs of one class are cut to two (a regex tells one blank from several, not two from
        three), and past five characters only the first three and last two are kept (a token
        that may occur is one chunk on its own: only its ends meet other text).  SmolLM2's 49k
        tokens have a few hundred signatures.
        """
        n = self.size
        sig = np.full(n, -1, dtype=np.int64)
        table: dict[str, int] = {}
        cache: dict[str, str] = {}
        tb = self.vocab.token_bytes
        reps = []
        for t in self.vocab.text_ids.tolist():
            text = tb[t].decode("utf-8", "surrogateescape")
            r = []
            keep = 2
            for c in text:
                x = cache.get(c)
                if x is None:
                    x = cache[c] = _rep_char(c)
                if keep > 0 and c in _CONTRACTION:
                    x = c
                keep = 2 if c == "'" else keep - 1
                if len(r) >= 2 and r[-1] == x and r[-2] == x:
                    continue
                r.append(x)
            s = "".join(r)
            if len(s) > 5:  # one chunk alone: only its ends meet other text
                s = s[:3] + s[-2:]
            k = table.get(s)
            if k is None:
                k = table[s] = len(reps)
                reps.append(s)
            sig[t] = k
        self.sig, self.sig_reps = sig, reps
        # contexts: the last two character classes before a token (its predecessor's, and one
        # before that when the predecessor is one character)
        self.ctx_chars: list[str] = [""]
        self._ctx_of: dict[str, int] = {"": 0}
        self.sig_tail = np.array([self.ctx_id(r[-2:]) for r in reps], dtype=np.int64)
        self.sig_len1 = np.array([len(r) == 1 for r in reps], dtype=bool)

    def ctx_id(self, text: str) -> int:
        """Id of a context (at most two class characters, runs cut to two)."""
        text = text[-2:]
        i = self._ctx_of.get(text)
        if i is None:
            i = self._ctx_of[text] = len(self.ctx_chars)
            self.ctx_chars.append(text)
        return i

    def _chunk_ends(self, text: str) -> list[int]:
        """Where the pre-tokenizer ends its chunks in ``text`` (memoized: contexts repeat)."""
        if self._pre is None:
            return [len(text)]
        hit = self._ends.get(text)
        if hit is None:
            if len(self._ends) >= CHUNK_MEMO_SIZE:
                self._ends.clear()
            hit = self._ends[text] = [e for _, (_, e) in self._pre.pre_tokenize_str(text)]
        return hit

    def _build_singletons(self) -> None:
        """Tokens that are their own text's encoding (the only ones allowed first)."""
        one_chunk = np.array([len(self._chunk_ends(r)) <= 1 for r in self.sig_reps], dtype=bool)
        ok = np.zeros(self.size, dtype=bool)
        ids = self.vocab.text_ids
        ok[ids] = one_chunk[self.sig[ids]] & (self.reachable[ids] | self.ignore_merges)
        ok |= self.added
        if self.sentencepiece:
            # <0xHH> of a byte whose one-byte character has a piece is never canonical; the
            # others are atoms BPE never merges (a pair with them is one chunk, no conflict)
            for b in range(256):
                j = self._pid.get(f"<0x{b:02X}>")
                if j is None or j >= self.size:
                    continue
                c = "\u2581" if b == 0x20 else chr(b)
                if b < 0x80 and c in self._pid:
                    ok[j] = False
                else:
                    self.reachable[j] = ok[j]
        self.singleton = ok
        # SentencePiece byte-fallback tokens by UTF-8 role: the byte, or -1 for other tokens
        self.fallback_byte = np.full(self.size, -1, dtype=np.int64)
        if self.sentencepiece:
            for b in range(256):
                j = self._pid.get(f"<0x{b:02X}>")
                if j is not None and j < self.size:
                    self.fallback_byte[j] = b
            self._cont_ids = np.flatnonzero((self.fallback_byte >= 0x80) & (self.fallback_byte < 0xC0))
        # signatures of tokens that may occur at all: the only ones whose pairs are judged
        self._live_sigs = np.unique(self.sig[np.flatnonzero(ok)])

    def _pack(self, bits: np.ndarray) -> np.ndarray:
        return pack_bits(bits, self.vocab.n_words).view(np.int32)

    # ------------------------------------------------------------------ rows

    def _outcome_key(self, s: int, ctx: int, mode: int) -> tuple:
        """What :meth:`_outcome_row` depends on: the signature, the text before it as the
        pre-tokenizer sees it, and the mode only where that text is not empty and the mode
        is not ``EITHER`` (many filter states share one row)."""
        pre = self.ctx_chars[ctx]
        if mode == SPLIT and pre[-1:] not in _BLANKS:
            # a known boundary after a non-blank: no lookbehind can move it, and a short
            # context would misread the chunk it closed (``ß中東`` + ``Жñ`` seen as ``中東Жñ``)
            pre = ""
        return (s, pre, mode if pre and mode != EITHER else EITHER)

    def _outcome_row(self, s: int, ctx: int, mode: int, sigs: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(can_split, can_join, end_split, end_join) over signatures, for a token of
        signature ``s`` preceded by the character class ``ctx`` and attached to it as ``mode``
        says; computed for ``sigs`` (default: every signature a token may have), lazily.

        ``can_split[k]``: in some context the junction is a chunk boundary; ``can_join[k]``:
        in some context both tokens lie inside one chunk.  Either way neither token is cut,
        and the previous token's start is a boundary (``mode=SPLIT``) or not (``JOIN``) as
        when it was accepted.  The contexts are what may follow the pair
        (:data:`_CONTINUATIONS`): ``\\s+(?!\\S)`` chunks a blank run differently at the end of
        the text and before a word.  ``end_*``: the same when the text ends after the pair
        (EOS may follow).
        """
        key = self._outcome_key(s, ctx, mode)
        row = self._outcomes.get(key)
        k = len(self.sig_reps)
        if row is None:
            codes = self._stored.pop(key, None)
            if codes is not None:  # computed by an earlier process
                row = tuple((codes & bit).astype(bool) for bit in _BITS)
                if row[4][self._live_sigs].all():
                    self._complete.add(key)
            else:
                row = tuple(np.zeros(k, dtype=bool) for _ in range(5))
            self._outcomes[key] = row
        if key in self._complete:
            return row[:4]
        can_split, can_join, end_split, end_join, done = row
        todo = self._live_sigs if sigs is None else sigs
        todo = todo[~done[todo]]
        if not len(todo):
            if sigs is None:
                self._complete.add(key)
            return row[:4]
        if sigs is not None:
            todo = np.unique(todo)
        _, pre, mode = key
        p = len(pre)
        a = self.sig_reps[s]
        pa = p + len(a)
        for j in todo.tolist():
            b = self.sig_reps[j]
            pab = pa + len(b)
            # only a blank at the end of the pair lets what follows move a boundary within it
            for c in (_CONTINUATIONS if b[-1] in _BLANKS else _CONTINUATIONS[:2]):
                ends = self._chunk_ends(pre + a + b + c)
                if p and mode != EITHER and (p in ends) != (mode == SPLIT):
                    continue
                if any(p < e < pab and e != pa for e in ends):
                    continue
                if pa in ends:
                    can_split[j] = True
                    end_split[j] |= not c
                else:
                    can_join[j] = True
                    end_join[j] |= not c
        done[todo] = True
        self._unsaved = True
        if sigs is None:
            self._complete.add(key)
        return row[:4]

    def save_outcomes(self) -> None:
        """Write the pre-tokenizer outcomes computed so far to the on-disk store
        (:mod:`constrain.tokens.canonical_store`), for later processes; done at exit too."""
        if self._store is None or not self._unsaved:
            return
        rows = {}
        for key, row in list(self._outcomes.items()):
            codes = np.zeros(len(self.sig_reps), dtype=np.uint8)
            for flags, bit in zip(row, _BITS):
                codes[flags] |= bit
            rows[key] = codes
        self._store.save(rows)
        self._unsaved = False

    def _crossing(self, prev: int) -> tuple[np.ndarray, np.ndarray]:
        """(members, ranks), members ascending: the left-spine members ``l`` that some merge
        ``(r, l)`` with ``r`` on ``prev``'s right spine joins while ``r`` still exists, and the
        least such rank.  A token ``b`` conflicts with ``prev`` iff one of its left-spine
        entries ``(l, death)`` has ``l`` here with rank <= death."""
        hit = self._crossings.get(prev)
        if hit is not None:
            return hit
        vs, ms = [], []
        r, death = prev, INF
        while r >= 0:
            lo, hi = self.m_ptr[r], self.m_ptr[r + 1]
            if hi > lo:
                m = self.m_rank[lo:hi]
                sel = m < death
                vs.append(self.m_right[lo:hi][sel])
                ms.append(m[sel])
            death = self.rank[r]
            r = self.rc[r]
        v = np.concatenate(vs) if vs else np.zeros(0, dtype=np.int64)
        m = np.concatenate(ms) if ms else np.zeros(0, dtype=np.int64)
        order = np.lexsort((m, v))
        v, m = v[order], m[order]
        first = np.ones(len(v), dtype=bool)
        first[1:] = v[1:] != v[:-1]
        hit = self._crossings[prev] = (v[first], m[first])
        while len(self._crossings) > ROW_CACHE_SIZE:
            self._crossings.popitem(last=False)
        return hit

    @staticmethod
    def _ranges(ptr: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the CSR slices ``ptr[k]:ptr[k+1]`` of ``keys``, concatenated, and the
        position in ``keys`` each index came from."""
        lo = ptr[keys]
        n = ptr[keys + 1] - lo
        total = int(n.sum())
        if not total:
            z = np.zeros(0, dtype=np.int64)
            return z, z
        owner = np.repeat(np.arange(len(keys)), n)
        starts = np.cumsum(n) - n
        return lo[owner] + (np.arange(total) - starts[owner]), owner

    def _conflicts(self, prev: int) -> np.ndarray:
        """bool[size]: tokens ``b`` such that some merge crosses the junction of ``(prev, b)``
        (computed fresh; :meth:`conflict_words` is the cached, packed form)."""
        members, ranks = self._crossing(prev)
        out = np.zeros(self.size, dtype=bool)
        idx, owner = self._ranges(self.member_ptr, members)
        out[self.member_tok[idx[ranks[owner] <= self.member_death[idx]]]] = True
        return out

    def conflict_words(self, prev: int) -> np.ndarray:
        """:meth:`_conflicts` packed (``vocab.n_words`` int32 words), cached per crossing set:
        tokens whose right spines offer the same crossing merges share one row."""
        with self._lock:
            key = self._conflict_key.get(prev)
            hit = None if key is None else self._conflict_rows.get(key)
            if hit is not None:
                self._conflict_rows.move_to_end(key)
                return hit
        members, ranks = self._crossing(prev)
        key = members.tobytes() + b"|" + ranks.tobytes()
        with self._lock:
            hit = self._conflict_rows.get(key)
        if hit is None:
            hit = self._stored_row(_conflict_name(key), 1)
            hit = self._pack(self._conflicts(prev)) if hit is None else hit[0]
        with self._lock:
            _bounded_put(self._conflict_key, prev, key, ROW_CACHE_SIZE)
            _bounded_put(self._conflict_rows, key, hit, self._row_limit(1))
        return hit

    def conflicts_among(self, prev: int, ids: np.ndarray) -> np.ndarray:
        """bool[len(ids)]: :meth:`_conflicts` for the tokens ``ids`` only (their spines alone
        are read: cheap where the full row is not cached)."""
        key = self._conflict_key.get(prev)
        hit = None if key is None else self._conflict_rows.get(key)
        if hit is not None:
            return bits_at(hit, ids)
        members, ranks = self._crossing(prev)
        out = np.zeros(len(ids), dtype=bool)
        if not len(members):
            return out
        idx, owner = self._ranges(self.tok_ptr, ids)
        mem = self.tok_member[idx]
        pos = np.minimum(np.searchsorted(members, mem), len(members) - 1)
        hit = (members[pos] == mem) & (ranks[pos] <= self.tok_death[idx])
        out[owner[hit]] = True
        return out

    def split_join(self, state) -> tuple[np.ndarray, np.ndarray, bool]:
        """bool[size] twice, and a flag: tokens that may follow canonically at a chunk
        boundary / inside the previous token's chunk (EOS excluded), and whether the text may
        end here.  ``state`` is ``(prev, ctx, mode, end)``."""
        prev, ctx, mode, end = state
        ids = self.vocab.text_ids
        split = np.zeros(self.size, dtype=bool)
        join = np.zeros(self.size, dtype=bool)
        if self.sentencepiece:
            return self._sp_split_join(state)
        if prev < 0:
            split[ids] = self.singleton[ids]
            return split, join, True
        if not self.singleton[prev]:
            return split, join, False
        if self.added[prev]:
            split[ids] = self.singleton[ids]
            return split, join, end
        can_split, can_join, _, _ = self._outcome_row(int(self.sig[prev]), ctx, mode)
        sig = self.sig[ids]
        split[ids] = (can_split[sig] | self.added[ids]) & self.singleton[ids]
        if self.reachable[prev]:
            join[ids] = can_join[sig] & ~self.added[ids] & self.reachable[ids] & self.singleton[ids]
            join &= ~self._conflicts(prev)
        return split, join, end

    def _sp_split_join(self, state):
        """SentencePiece: one chunk (no pre-tokenizer), so pairs only need no crossing merge;
        byte-fallback tokens follow UTF-8 (``ctx`` holds the bytes of an unfinished
        character): continuation bytes only inside a character, and a finished character
        spelled in bytes only if it has no piece."""
        prev, partial, _, _ = state
        split = np.zeros(self.size, dtype=bool)
        join = np.zeros(self.size, dtype=bool)
        if partial:
            need = _utf8_len(partial[0])
            for j in self._cont_ids.tolist():
                data = partial + bytes([int(self.fallback_byte[j])])
                if len(data) < need:
                    join[j] = True
                elif len(data) == need:
                    try:
                        c = data.decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    join[j] = c not in self._pid
            return split, join, False
        ids = self.vocab.text_ids
        join[ids] = self.singleton[ids]
        join[self._cont_ids] = False
        if prev >= 0:
            if not self.singleton[prev]:
                join[:] = False
            elif self.reachable[prev]:
                join &= ~self._conflicts(prev)
        return split, join, True

    def allowed_among(self, state, ids: np.ndarray) -> np.ndarray:
        """bool[len(ids)]: which of the text tokens ``ids`` may follow canonically in ``state``
        (judges only their signatures and spines: cheap where the full row is not cached)."""
        sp, jo = self.split_join_among(state, ids)
        return sp | jo

    def split_join_among(self, state, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bits of ``ids`` in the state's split and join rows (EOS not set), read from the
        cached row, else from the previous token's class rows, else from the outcomes of the
        ``ids``' signatures only; merge conflicts from the ``ids``' spines."""
        if self.sentencepiece or state[0] < 0 or self._row_key(state) in self._rows:
            _, split, join = self._entry(state)
            return bits_at(split, ids), bits_at(join, ids)
        prev, ctx, mode, _ = state
        sig = self.sig[ids]
        ok = self.singleton[ids] & (sig >= 0)
        if not ok.any() or not self.singleton[prev]:
            return np.zeros(len(ids), dtype=bool), np.zeros(len(ids), dtype=bool)
        if self.added[prev]:
            return ok, np.zeros(len(ids), dtype=bool)
        cls = self._class_rows.get(self._outcome_key(int(self.sig[prev]), ctx, mode))
        if cls is not None:  # the class's rows are there: their bits
            sp, jo = bits_at(cls[0], ids), bits_at(cls[1], ids)
        else:
            can_split, can_join, _, _ = self._outcome_row(int(self.sig[prev]), ctx, mode, sig[ok])
            sig = np.where(ok, sig, 0)
            sp = ok & (can_split[sig] | self.added[ids])
            jo = ok & can_join[sig] & ~self.added[ids] & self.reachable[ids]
        if not self.reachable[prev]:
            jo[:] = False
        elif jo.any():
            jo[jo] = ~self.conflicts_among(prev, ids[jo])
        return sp, jo

    def restrict(self, state, mask: np.ndarray) -> np.ndarray:
        """``mask & row(state)`` (packed int32 words).  Where the row is not cached and
        ``mask`` is narrow (at most :data:`RESTRICT_MAX` tokens: keys, literals, punctuation)
        only the mask's tokens are judged (:meth:`allowed_among`: their signatures' outcomes
        and their spines), so a first visit does not compute the previous token's row over
        the whole vocabulary."""
        if self.sentencepiece or state[0] < 0 or self._row_key(state) in self._rows:
            return mask & self.row(state)
        if count_bits(mask) > RESTRICT_MAX:
            return mask & self.row(state)
        vocab = self.vocab
        ids = vocab.mask_to_ids(mask)
        keep = self.allowed_among(state, ids)
        eos = np.isin(ids, vocab.eos_ids)
        if eos.any():
            keep[eos] = bool(self.singleton[state[0]]) and bool(state[3])
        return vocab.ids_to_mask(ids[keep])

    def conflicts_pairs(self, prevs: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """bool[len(ids)]: whether a merge crosses the junction of ``(prevs[i], ids[i])``, for
        many pairs at once (the crossing sets of the distinct ``prevs`` looked up together)."""
        out = np.zeros(len(ids), dtype=bool)
        if not len(ids):
            return out
        keys, ranks = [], []
        for p in np.unique(prevs).tolist():
            members, r = self._crossing(p)
            keys.append(members + p * self.size)
            ranks.append(r)
        keys = np.concatenate(keys)
        if not len(keys):
            return out
        ranks = np.concatenate(ranks)
        idx, owner = self._ranges(self.tok_ptr, ids)
        q = prevs[owner] * self.size + self.tok_member[idx]
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        hit = (keys[pos] == q) & (ranks[pos] <= self.tok_death[idx])
        out[owner[hit]] = True
        return out

    def allowed_pairs(self, states: list, which: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """bool[len(ids)]: whether token ``ids[i]`` may follow canonically in filter state
        ``states[which[i]]`` (each state after a token: ``prev >= 0``), all pairs at once."""
        if self.sentencepiece:
            out = np.zeros(len(ids), dtype=bool)
            for k, st in enumerate(states):
                sel = which == k
                if sel.any():
                    out[sel] = self.allowed_among(st, ids[sel])
            return out
        prev = np.array([st[0] for st in states], dtype=np.int64)[which]
        sig = self.sig[ids]
        ok = self.singleton[ids] & (sig >= 0) & self.singleton[prev]
        sig = np.where(ok, sig, 0)
        cs = np.zeros(len(ids), dtype=bool)
        cj = np.zeros(len(ids), dtype=bool)
        # states grouped by the outcome row they read (``_outcome_key``); pairs sorted by group
        st = np.array([(p, ctx, mode) for p, ctx, mode, _ in states], dtype=np.int64).reshape(-1, 3)
        raw = (self.sig[st[:, 0]] * (len(self.ctx_chars) + 1) + st[:, 1]) * 3 + st[:, 2]
        uniq, first, inv = np.unique(raw, return_index=True, return_inverse=True)
        groups: dict[tuple, int] = {}
        reps = []
        of_raw = np.empty(len(uniq), dtype=np.int64)
        for u, k in enumerate(first.tolist()):
            p, ctx, mode, _ = states[k]
            key = self._outcome_key(int(self.sig[p]), ctx, mode)
            g = groups.get(key)
            if g is None:
                g = groups[key] = len(reps)
                reps.append((int(self.sig[p]), ctx, mode))
            of_raw[u] = g
        cls = of_raw[inv.reshape(-1)]
        pc = np.where(ok, cls[which], len(reps))
        order = np.argsort(pc, kind="stable")
        bounds = np.searchsorted(pc[order], np.arange(len(reps) + 1))
        for g, (sp, ctx, mode) in enumerate(reps):
            sel = order[bounds[g]: bounds[g + 1]]
            if not len(sel):
                continue
            can_split, can_join, _, _ = self._outcome_row(sp, ctx, mode, sig[sel])
            cs[sel] = can_split[sig[sel]]
            cj[sel] = can_join[sig[sel]]
        added_prev = self.added[prev]
        out = ok & (cs | self.added[ids] | added_prev)
        join = ok & ~out & cj & ~self.added[ids] & self.reachable[ids] & self.reachable[prev]
        j = np.flatnonzero(join)
        if len(j):
            out[j[~self.conflicts_pairs(prev[j], ids[j])]] = True
        return out

    def _byte_tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(ids, ok, spine, owner): the one-byte token of each byte (``ids[b]``, 0 where there
        is none), whether it may occur at all, and its left-spine entries (indices into
        ``tok_member`` / ``tok_death`` and the byte each belongs to)."""
        hit = self._bytes
        if hit is None:
            tb = self.vocab.token_bytes
            ids = np.zeros(256, dtype=np.int64)
            ok = np.zeros(256, dtype=bool)
            for t in self.vocab.text_ids[self.vocab.token_lens[self.vocab.text_ids] == 1].tolist():
                b = tb[t][0]
                if not ok[b] and self.singleton[t] and self.sig[t] >= 0:
                    ids[b], ok[b] = t, True
            spine, owner = self._ranges(self.tok_ptr, ids[ok])
            hit = self._bytes = (ids, ok, spine, np.flatnonzero(ok)[owner])
        return hit

    def _byte_class(self, s: int, ctx: int, mode: int) -> tuple[int, int]:
        """(split, join) of :meth:`_byte_tokens` as 256-bit ints (:meth:`witness_bits`) after
        a previous token of signature ``s`` in context ``(ctx, mode)``, join before merge
        conflicts (the class part of :meth:`allowed_pairs` for one-byte tokens); cached per
        class."""
        key = self._outcome_key(s, ctx, mode)
        hit = self._byte_classes.get(key)
        if hit is None:
            ids, ok, _, _ = self._byte_tokens()
            sig = self.sig[ids]
            can_split, can_join, _, _ = self._outcome_row(s, ctx, mode, sig[ok])
            sig = np.where(ok, sig, 0)
            split = ok & (can_split[sig] | self.added[ids])
            join = ok & can_join[sig] & ~self.added[ids] & self.reachable[ids]
            hit = (self._ints(split), self._ints(join))
            _bounded_put(self._byte_classes, key, hit, ROW_CACHE_SIZE)
        return hit

    def _byte_merges(self) -> dict | None:
        """The merges whose right side is a one-byte token, by left side (token -> list of
        (rank, byte)), built once for :meth:`byte_conflict_bits`; None where a one-byte token
        is not an atom of its own (its left spine is more than itself): then the pair test
        is used."""
        hit = self._byte_tables
        if hit is None:
            ids, ok, spine, owner = self._byte_tokens()
            if not (np.array_equal(self.tok_member[spine], ids[owner]) and (self.tok_death[spine] == INF).all()
                    and len(spine) == int(ok.sum())):
                self._byte_tables = hit = (None,)
                return None
            byte_of = np.full(self.size, -1, dtype=np.int64)
            byte_of[ids[ok]] = np.flatnonzero(ok)
            sel = byte_of[self.m_right] >= 0
            by_left: dict[int, list] = {}
            for r, rank, b in zip(self.m_left[sel].tolist(), self.m_rank[sel].tolist(),
                                  byte_of[self.m_right[sel]].tolist()):
                by_left.setdefault(r, []).append((rank, b))
            hit = self._byte_tables = (by_left,)
        return hit[0]

    def byte_conflicts(self, prevs: np.ndarray) -> np.ndarray:
        """bool[len(prevs), 256]: one-byte tokens that a merge joins across the junction after
        each of ``prevs`` (:meth:`conflicts_pairs` for them): :meth:`byte_conflict_bits`
        unpacked, or the pair test where a one-byte token is not an atom."""
        prevs = np.asarray(prevs, dtype=np.int64)
        if self._byte_merges() is not None:
            bits = [self.byte_conflict_bits(p) for p in prevs.tolist()]
            packed = np.frombuffer(b"".join(x.to_bytes(32, "little") for x in bits), dtype=np.uint8)
            return np.unpackbits(packed.reshape(len(prevs), 32), axis=1, bitorder="little").astype(bool)
        out = np.zeros((len(prevs), 256), dtype=bool)
        ids, ok, _, _ = self._byte_tokens()
        b = np.flatnonzero(ok)
        for i, p in enumerate(prevs.tolist()):
            out[i, b] = self.conflicts_pairs(np.full(len(b), p), ids[b])
        return out

    def byte_conflict_bits(self, prev: int) -> int:
        """The one-byte tokens a merge joins across the junction after ``prev``, as a 256-bit
        int (bit ``b``: the one-byte token of byte ``b``): a merge ``(r, b)`` with ``r`` on
        ``prev``'s right spine, applied before ``r`` is absorbed (a one-byte token is an atom:
        nothing absorbs it first; the spine walked as :meth:`_crossing` walks it).  Byte-level
        BPE whose one-byte tokens are atoms only (:meth:`_byte_merges`).  Memoized per token:
        it depends only on the merges.

        Why: the lookahead's witness rows of new filter states need it per previous token; a
        few spine members, each with its handful of one-byte merges (a dict built once), are
        cheaper in Python ints than the numpy calls a batch of states cost."""
        hit = self._byte_conf.get(prev)
        if hit is None:
            by_left = self._byte_merges()
            hit, r, death = 0, int(prev), INF
            while r >= 0:
                for rank, b in by_left.get(r, ()):
                    if rank < death:
                        hit |= 1 << b
                death, r = int(self.rank[r]), int(self.rc[r])
            self._byte_conf[prev] = hit
        return hit

    def byte_witnesses(self, states: list) -> np.ndarray:
        """bool[len(states), 256]: whether the one-byte token of each byte may follow
        canonically in each filter state (each after a token, ``prev >= 0``; byte-level BPE),
        equal to :meth:`allowed_pairs` on those tokens.

        Why: the lookahead's witness for a token is mostly a one-byte token whose byte the
        grammar allows next.  The answer depends on the filter state only, not on the grammar
        state, and the same states recur at many grammar states (the tokens of keys and
        punctuation), so rows are cached per filter state (:data:`WITNESS_CACHE_SIZE`, FIFO);
        a missing one is the class part and :meth:`byte_conflict_bits` (:meth:`_witness_int`)."""
        bits = self.witness_bits(states)
        if not bits:
            return np.zeros((0, 256), dtype=bool)
        packed = np.frombuffer(b"".join(b.to_bytes(32, "little") for b in bits), dtype=np.uint8)
        return np.unpackbits(packed.reshape(len(bits), 32), axis=1, bitorder="little").astype(bool)

    def witness_bits(self, states: list) -> list[int]:
        """:meth:`byte_witnesses` as 256-bit Python ints (bit ``b``: the one-byte token of byte
        ``b``), the form the rows are cached in: the lookahead ANDs each with its token's next
        grammar state's :meth:`~constrain.tokens.TokenAutomaton.first_bits`, one int operation
        per token instead of stacking numpy rows."""
        cache = self._witness_rows
        rows = [cache.get(st) for st in states]
        if None in rows:
            with self._lock:
                for i, r in enumerate(rows):
                    if r is None:
                        rows[i] = cache[states[i]] = self._witness_int(states[i])
                while len(cache) > WITNESS_CACHE_SIZE:
                    del cache[next(iter(cache))]
        return rows

    def _witness_int(self, state) -> int:
        """One state's :meth:`witness_bits` computed: the previous token's class part
        (:meth:`_byte_class`) and the previous token's :meth:`byte_conflict_bits`, both
        memoized, combined as int operations: no numpy call per state once they are there."""
        prev, ctx, mode = int(state[0]), state[1], state[2]
        if not self.singleton[prev]:
            return 0
        if self.added[prev]:
            return self._ints(self._byte_tokens()[1])
        split, join = self._byte_class(int(self.sig[prev]), ctx, mode)
        if join and self.reachable[prev]:
            if self._byte_merges() is not None:
                return split | (join & ~self.byte_conflict_bits(prev))
            return split | (join & ~self._ints(self.byte_conflicts([prev])[0]))
        return split

    def _ints(self, flags: np.ndarray) -> int:
        """bool[256] as a 256-bit int (bit ``b``: ``flags[b]``)."""
        return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")

    def forced_witnesses(self, state, path: bytes, complete: bool, heads: tuple[bytes, ...],
                         limit: int) -> tuple[bool, np.ndarray | None]:
        """(some, cands) for a lookahead whose next grammar state forces the bytes ``path``:
        ``some``: a token spelling a prefix of ``path`` may follow canonically in ``state``;
        ``cands`` (unless ``some`` or ``complete``): the tokens starting with one of
        ``heads`` that may follow canonically (None: more than ``limit`` to judge).

        Why a filter method: neither depends on the grammar state, only on the filter state
        and the bytes, and both recur (a blank run before ``"``), so they are cached
        (:data:`WITNESS_CACHE_SIZE`, FIFO); the caller checks the grammar side."""
        key = (state, path, complete, heads)
        cache = self._forced
        hit = cache.get(key)
        if hit is not None:
            return hit
        vocab = self.vocab
        node, along = 0, []
        for b in path:
            node = vocab.child(node, b)
            if node < 0:
                break
            along.append(vocab.node_tokens(node))
        some = bool(along) and self.any_allowed(state, np.concatenate(along).astype(np.int64))
        cands = None
        if not some and not complete:
            cands = self.vocab_prefixed(list(heads), limit)
            if cands is not None:
                cands = cands[self.allowed_among(state, cands)]
        hit = (some, cands)
        with self._lock:
            cache[key] = hit
            while len(cache) > WITNESS_CACHE_SIZE:
                del cache[next(iter(cache))]
        return hit

    def put_lexeme_verdict(self, key: tuple, kept: np.ndarray, judged: np.ndarray, opened: np.ndarray,
                           new: bool = True) -> tuple:
        """Store a lexeme-level lookahead verdict (:attr:`lexeme_verdicts`: packed tokens kept,
        judged, left open; judged and neither kept nor open: dropped) and return it."""
        entry = (kept, judged, opened)
        with self._lock:
            _bounded_put(self.lexeme_verdicts, key, entry, self._row_limit(3))
            self._verdicts_unsaved |= new
        return entry

    def lexeme_walks(self, key: tuple) -> dict:
        """The memo of ``TokenAutomaton.lexeme_walk`` results (token -> ``(q_end, accepts,
        mid)``) of one lexeme state ``key = (lexeme key, DFA size, q)``, kept here, per
        vocabulary, beside the verdicts that are keyed the same way.  Why: an automaton's own
        memo dies with its compile, and the lexemes between JSON tokens recur in every schema
        (the bench's 27,300 walks of a first pass are 10,787 distinct ones).  Bounded: all of
        them are dropped past :data:`WALK_MEMO_SIZE` entries."""
        walks = self._walks.get(key)
        if walks is None:
            with self._lock:  # a new lexeme state (rare): count what is kept
                if sum(map(len, self._walks.values())) > WALK_MEMO_SIZE:
                    self._walks.clear()
                walks = self._walks.setdefault(key, {})
        return walks

    def lexeme_verdict(self, key: tuple) -> tuple | None:
        """The verdict of ``key`` (:attr:`lexeme_verdicts`), else the one an earlier process
        stored (:meth:`save_verdicts`), else None."""
        hit = self.lexeme_verdicts.get(key)
        if hit is None and self._stored_verdicts:
            rows = self._stored_verdicts.pop(key, None)
            if rows is not None:
                hit = self.put_lexeme_verdict(key, *(self.vocab.ids_to_mask(r) for r in rows), new=False)
        return hit

    def save_verdicts(self) -> None:
        """Write the lexeme-level verdicts computed so far to the on-disk store
        (:class:`~constrain.tokens.canonical_store.VerdictStore`), for later processes of
        this code; done at exit too."""
        if self._verdict_store is None or not self._verdicts_unsaved:
            return
        entries = {}
        for (lex, n, q, fbits, can_end, cls), rows in list(self.lexeme_verdicts.items()):
            fst = self._class_rep.get(cls)
            if isinstance(lex, str) and fst is not None:
                prev, ctx, mode, end = fst
                key = (lex, int(n), int(q), int(fbits), bool(can_end), int(prev), self.ctx_chars[ctx], int(mode),
                       bool(end))
                entries[key] = tuple(self.vocab.mask_to_ids(r) for r in rows)
        self._verdict_store.save(entries)
        self._verdicts_unsaved = False

    def vocab_prefixed(self, heads: list[bytes], limit: int) -> np.ndarray | None:
        """Text tokens whose bytes start with one of ``heads``, each head's in byte order (the
        vocabulary trie's subtree of the head: its nodes are numbered in preorder, i.e. in
        byte order, so the subtree's tokens are one slice); None if there are more than
        ``limit``.  Why the trie: a sorted copy of the vocabulary cost ~20 ms per process."""
        vocab = self.vocab
        ptr, toks, end = vocab.node_token_ptr, vocab.node_token_ids, vocab.trie_end
        out, n = [], 0
        for h in heads:
            node = 0
            for b in h:
                node = vocab.child(node, b)
                if node < 0:
                    break
            if node < 0:
                continue
            lo, hi = int(ptr[node]), int(ptr[end[node]])
            n += hi - lo
            if n > limit:
                return None
            out.append(toks[lo:hi])
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def short_tokens(self, first: np.ndarray, per_byte: int = SHORT_PER_BYTE) -> np.ndarray:
        """The ``per_byte`` (at most :data:`SHORT_PER_BYTE`) shortest tokens that may occur at
        all starting with each byte where the bool[256] ``first`` is set (witness candidates
        for the lookahead)."""
        table = self._short
        if table is None:
            ids = self.vocab.text_ids[self.singleton[self.vocab.text_ids]]
            tb = self.vocab.token_bytes
            lead = np.fromiter((tb[t][0] for t in ids.tolist()), dtype=np.int64, count=len(ids))
            ids = ids[np.lexsort((ids, self.vocab.token_lens[ids], lead))]
            lead = np.sort(lead)
            table = np.full((256, SHORT_PER_BYTE), -1, dtype=np.int64)
            start = np.searchsorted(lead, np.arange(256))
            stop = np.searchsorted(lead, np.arange(256), side="right")
            for b in range(256):
                row = ids[start[b]: min(stop[b], start[b] + SHORT_PER_BYTE)]
                table[b, : len(row)] = row
            self._short = table
        out = table[first][:, :per_byte].ravel()
        return out[out >= 0]

    def any_allowed(self, state, ids: np.ndarray) -> bool:
        """Whether one of the text tokens ``ids`` may follow canonically in ``state``."""
        return bool(self.allowed_among(state, ids).any())

    def _row_limit(self, rows_per_entry: int) -> int:
        """Entries a packed-row cache may keep under :data:`ROW_CACHE_BYTES`."""
        return max(16, ROW_CACHE_BYTES // (4 * self.vocab.n_words * rows_per_entry))

    def class_words(self, s: int, ctx: int, mode: int) -> tuple[np.ndarray, np.ndarray]:
        """Packed (split, join) rows for a previous token of signature ``s`` in context
        ``(ctx, mode)``, the join row before merge conflicts (:meth:`conflict_words`).  Every
        previous token of the class shares them, so a filter state's row is word operations:
        ``split | (join & ~conflicts)``."""
        key = self._outcome_key(s, ctx, mode)
        with self._lock:
            hit = self._class_rows.get(key)
            if hit is not None:
                self._class_rows.move_to_end(key)
                return hit
        hit = self._stored_row(_class_name(key), 2)
        if hit is None:
            can_split, can_join, _, _ = self._outcome_row(s, ctx, mode)
            sig, split_ok, split_added, join_ok = self._class_tables()
            split = (np.append(can_split, False)[sig] & split_ok) | split_added
            join = np.append(can_join, False)[sig] & join_ok
            hit = (self._pack(split), self._pack(join))
        else:
            hit = (hit[0], hit[1])
        with self._lock:
            _bounded_put(self._class_rows, key, hit, self._row_limit(2))
        return hit

    def _stored_row(self, name: str, k: int) -> np.ndarray | None:
        """The ``k`` rows an earlier process stored under ``name`` (:meth:`save_rows`), taken
        out of the store (copies), else None; a row computed here is marked for saving."""
        rows = self._stored_rows.pop(name, None) if self._stored_rows else None
        if rows is not None and rows.shape == (k, self.vocab.n_words):
            return rows.copy()
        self._rows_unsaved = True
        return None

    def save_rows(self) -> None:
        """Write the class and conflict rows cached now (:meth:`class_words`,
        :meth:`conflict_words`) to the on-disk store
        (:class:`~constrain.tokens.canonical_store.RowStore`), for later processes of this
        code; done at exit too."""
        if self._row_store is None or not self._rows_unsaved:
            return
        with self._lock:
            classes = list(self._class_rows.items())
            conflicts = list(self._conflict_rows.items())
        entries = {_class_name(key): np.stack(rows) for key, rows in classes}
        entries.update((_conflict_name(key), row[None]) for key, row in conflicts)
        self._row_store.save(entries)
        self._rows_unsaved = False

    def _class_tables(self) -> tuple[np.ndarray, ...]:
        """Per-vocabulary arrays :meth:`class_words` combines with an outcome row, built once:
        each token's signature (``len(sig_reps)``, an extra always-False entry, for tokens
        without text) and the token-side factors of the split and join rows.  Why: gathering
        and scattering over ``text_ids`` at every new class cost several times the row itself."""
        hit = self._class_arrays
        if hit is None:
            text = np.zeros(self.size, dtype=bool)
            text[self.vocab.text_ids] = True
            single = text & self.singleton
            sig = np.where(text & (self.sig >= 0), self.sig, len(self.sig_reps))
            hit = self._class_arrays = (sig, single, single & self.added,
                                        single & ~self.added & self.reachable)
        return hit

    def _words(self, state) -> tuple[np.ndarray, np.ndarray, bool]:
        """:meth:`split_join` packed, by word operations on the cached class and conflict
        rows (byte-level BPE; SentencePiece packs :meth:`split_join`)."""
        prev, ctx, mode, end = state
        if self.sentencepiece:
            split, join, end = self.split_join(state)
            return self._pack(split), self._pack(join), end
        if self._singles is None:
            ids = self.vocab.text_ids
            single = np.zeros(self.size, dtype=bool)
            single[ids] = self.singleton[ids]
            self._singles = self._pack(single)
            self._nothing = np.zeros(self.vocab.n_words, dtype=np.int32)
        if prev < 0:
            return self._singles, self._nothing, True
        if not self.singleton[prev]:
            return self._nothing, self._nothing, False
        if self.added[prev]:
            return self._singles, self._nothing, end
        split, join = self.class_words(int(self.sig[prev]), ctx, mode)
        if not self.reachable[prev]:
            return split, self._nothing, end
        return split, join & ~self.conflict_words(prev), end

    def _row_key(self, state) -> int:
        """The key of ``state``'s row in the row cache: a small int naming its
        :meth:`state_class` and whether the text may end there (the EOS bits), so that the
        states of one class share a row; memoized per state, so that a cached row costs one
        lookup of the state, as when rows were keyed by the state itself."""
        k = self._row_ids.get(state)
        if k is None:
            cls = state if self.sentencepiece or state[0] < 0 else (self.state_class(state), bool(state[3]))
            with self._lock:
                if len(self._row_id_of) >= NEXT_MEMO_SIZE:  # ids are reused: rows keyed by them go too
                    self._row_id_of.clear()
                    self._row_ids.clear()
                    self._rows.clear()
                k = self._row_id_of.setdefault(cls, len(self._row_id_of))
                self._row_ids[state] = k
                if len(self._row_ids) > NEXT_MEMO_SIZE:
                    del self._row_ids[next(iter(self._row_ids))]
        return k

    def state_class(self, state) -> tuple:
        """A key shared by the filter states that allow the same text tokens, each with the
        same next state: the previous token's outcome class (:meth:`_outcome_key`), the
        context after it, whether merges may join to it, and its crossing set (the merges
        across the junction, :meth:`_crossing`); EOS (``state[3]``) aside.

        Why: the filter's row and the lookahead's lexeme verdicts depend on the state only
        through these, and many previous tokens share them (a key's tokens, blank runs), so
        keyed by the class a first visit finds more of them cached.  SentencePiece states
        and :data:`START` are their own class.  Memoized per state (FIFO)."""
        hit = self._classes.get(state)
        if hit is not None:
            return hit
        prev, ctx, mode, _ = state
        if self.sentencepiece or prev < 0:
            key = state
        elif not self.singleton[prev]:
            key = ("none",)  # nothing may follow
        else:
            s = int(self.sig[prev])
            nctx = self.ctx_chars[int(self.sig_tail[s] if not self.sig_len1[s]
                                      else self.ctx_id(self.ctx_chars[ctx] + self.sig_reps[s]))]
            if self.added[prev]:
                key = ("added", nctx)
            elif not self.reachable[prev]:
                key = (self._outcome_key(s, ctx, mode), nctx, None)
            else:
                members, ranks = self._crossing(prev)
                key = (self._outcome_key(s, ctx, mode), nctx, members.tobytes() + b"|" + ranks.tobytes())
        with self._lock:
            self._classes[state] = key
            self._class_rep.setdefault(key, state)
            for memo in (self._classes, self._class_rep):
                if len(memo) > NEXT_MEMO_SIZE:
                    del memo[next(iter(memo))]
        return key

    def _entry(self, state):
        key = self._row_key(state)
        with self._lock:
            hit = self._rows.get(key)
            if hit is not None:
                self._rows.move_to_end(key)
                self.hits += 1
                return hit
        split, join, end = self._words(state)
        both = (split | join).view(np.uint32)  # a new array: split and join are cached rows
        (set_bits if end else clear_bits)(both, np.asarray(self.vocab.eos_ids))
        entry = (both.view(np.int32), split, join)
        with self._lock:
            self.misses += 1
            _bounded_put(self._rows, key, entry, self._row_limit(3))
        return entry

    def row(self, state: tuple | None = None) -> np.ndarray:
        """Packed int32 mask (``vocab.n_words`` words) of the tokens allowed in ``state``
        (:data:`START` at the beginning of the output), EOS ids included."""
        return self._entry(self.start if state is None else state)[0]

    def next_state(self, state, token: int):
        """The state after ``token``; None if ``token`` is not canonical there."""
        allowed, split, join = self._entry(state)
        w, b = token >> 5, np.int32(1) << np.int32(token & 31)
        if not allowed[w] & b:
            return None
        sp, jo = bool(split[w] & b), bool(join[w] & b)
        prev, ctx, mode = state[0], state[1], state[2]
        if self.sentencepiece:
            b = int(self.fallback_byte[token])
            partial = ctx + bytes([b]) if b >= 0x80 else b""
            if partial and len(partial) >= _utf8_len(partial[0]):
                partial = b""
            return (int(token), partial, JOIN, not partial)
        if prev < 0:
            return (int(token), 0, SPLIT, bool(self.singleton[token]))
        s = int(self.sig[prev])
        nctx = self.sig_tail[s] if not self.sig_len1[s] else self.ctx_id(self.ctx_chars[ctx] + self.sig_reps[s])
        if self.added[prev] or self.added[token]:
            end = True
        else:
            _, _, end_split, end_join = self._outcome_row(s, ctx, mode)
            end = bool((sp and end_split[self.sig[token]]) or (jo and end_join[self.sig[token]]))
        return (int(token), int(nctx), EITHER if sp and jo else SPLIT if sp else JOIN, end)

    def next_states(self, state, ids: np.ndarray) -> list:
        """:meth:`next_state` for many tokens at once (one row lookup, vectorized bits).
        A few tokens (at most :data:`NEXT_MEMO_IDS`: the lookahead's tokens that no lexeme
        verdict decides) are answered from a memo per (state, token) where it has them:
        the numpy calls cost more than the answer for so few."""
        if len(ids) <= NEXT_MEMO_IDS:
            memo = self._next_memo
            toks = [int(t) for t in ids]
            got = [memo.get((state, t), _MISSING) for t in toks]
            miss = [t for t, g in zip(toks, got) if g is _MISSING]
            if miss:
                new = self._next_states(state, np.asarray(miss, dtype=np.int64))
                with self._lock:
                    for t, g in zip(miss, new):
                        memo[(state, t)] = g
                    while len(memo) > NEXT_MEMO_SIZE:
                        del memo[next(iter(memo))]
                fill = iter(new)
                got = [next(fill) if g is _MISSING else g for g in got]
            return got
        return self._next_states(state, ids)

    def _next_states(self, state, ids: np.ndarray) -> list:
        ids = np.asarray(ids, dtype=np.int64)
        prev, ctx, mode = state[0], state[1], state[2]
        if self.sentencepiece or not len(ids):
            return [self.next_state(state, int(t)) for t in ids.tolist()]
        sp, jo = self.split_join_among(state, ids)
        ok = sp | jo
        eos = np.isin(ids, self.vocab.eos_ids)
        if eos.any():
            ok[eos] = prev < 0 or (bool(self.singleton[prev]) and bool(state[3]))
        toks = ids.tolist()
        if prev < 0:
            single = self.singleton[ids].tolist()
            return [(t, 0, SPLIT, e) if k else None for t, k, e in zip(toks, ok.tolist(), single)]
        s = int(self.sig[prev])
        nctx = int(self.sig_tail[s] if not self.sig_len1[s] else self.ctx_id(self.ctx_chars[ctx] + self.sig_reps[s]))
        if self.added[prev]:
            ends = np.ones(len(ids), dtype=bool)
        else:
            _, _, end_split, end_join = self._outcome_row(s, ctx, mode)
            sg = self.sig[ids]
            ends = (sp & end_split[sg]) | (jo & end_join[sg]) | self.added[ids]
        modes = np.where(sp & jo, EITHER, np.where(sp, SPLIT, JOIN)).tolist()
        return [(t, nctx, m, e) if k else None for t, k, m, e in zip(toks, ok.tolist(), modes, ends.tolist())]

    def state_of(self, ids) -> tuple | None:
        """The state after the tokens ``ids`` from the start; None once one is not canonical."""
        st = self.start
        for t in ids:
            st = self.next_state(st, int(t))
            if st is None:
                return None
        return st

    @property
    def start(self) -> tuple:
        """The state at the beginning of the output."""
        return (-1, b"", SPLIT, True) if self.sentencepiece else START

    def restart(self, token: int) -> tuple:
        """A state after ``token`` with no history (after a token the filter did not allow)."""
        return (int(token), b"" if self.sentencepiece else 0, EITHER, True)

    def after_bytes(self, state, data: bytes) -> tuple:
        """The state after raw bytes were appended (a forced continuation): their canonical
        encoding's last token, with no history; ``state`` itself for no bytes."""
        if not data:
            return state
        try:
            ids = self.vocab.encode(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return state
        return self.restart(ids[-1]) if ids else state

    def state_after_prompt(self, ids, window: int = 8) -> tuple:
        """The state after a prompt's tokens ``ids``, for an output glued to it (healing):
        its last ``window`` tokens walked, the first with no history (:meth:`restart`), a
        special token starting the text afresh, a non-canonical step restarting there (as
        :class:`CanonicalMatcher` does).  Why only a window: the state is the last token,
        the character classes before it and how it attached, all set within a few tokens."""
        ids = [int(x) for x in ids]
        st = self.start
        for k, t in enumerate(ids[-window:]):
            if self.vocab.token_lens[t] == 0:  # a special token (no text)
                st = self.start
            elif k == 0 and len(ids) > window:  # text before it that the window does not see
                st = self.restart(t)
            else:
                nxt = self.next_states(st, [t])[0]
                st = nxt if nxt is not None else self.restart(t)
        return st

    def pair_ok(self, prev: int, nxt: int) -> bool:
        """Whether ``nxt`` may follow ``prev`` (-1: first) in some context (no history)."""
        st = self.start if prev < 0 else self.restart(prev)
        return self.next_state(st, nxt) is not None


def _save_at_exit(ref) -> None:
    f = ref()
    if f is not None:
        f.save_outcomes()
        f.save_verdicts()
        f.save_rows()


def _class_name(key: tuple) -> str:
    """The stored name of a class row (an outcome key: signature, context, mode)."""
    s, pre, mode = key
    return "c:" + json.dumps([int(s), pre, int(mode)])


def _conflict_name(key: bytes) -> str:
    """The stored name of a conflict row (a crossing set's members and ranks, hashed)."""
    return "x:" + hashlib.sha256(key).hexdigest()


def _bounded_put(cache: OrderedDict, key, value, limit: int) -> None:
    """``cache[key] = value``, least recently used entries dropped past ``limit``."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def canonical_filter(vocab) -> CanonicalFilter:
    """The :class:`CanonicalFilter` of ``vocab``, built once and kept on the vocabulary."""
    f = getattr(vocab, "_canonical_filter", None)
    if f is None:
        with _LOCK:
            f = getattr(vocab, "_canonical_filter", None)
            if f is None:
                f = CanonicalFilter(vocab)
                vocab._canonical_filter = f
    return f
