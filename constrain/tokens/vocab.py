"""Token vocabulary as exact bytes, plus the token trie every vectorized walk uses.

``Vocabulary`` is built once per tokenizer (and logits width) and cached.  It knows:

- ``token_bytes[t]``: the exact bytes token ``t`` stands for in generated text, or ``None``
  for ids that grammar text never produces (special / control tokens, ``<unk>``, padding ids
  beyond the tokenizer up to the model's logits width).
- ``eos_ids``: the ids that may only end the output (``eos_token_id`` and the usual chat end
  tokens present in the vocabulary).
- A byte trie over all token byte strings, laid out in preorder with children sorted by byte,
  as flat numpy arrays (see :class:`Vocabulary`).

Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen, Tekken) writes token bytes with the GPT-2
byte-to-unicode table; SentencePiece (Llama 2, Mistral v1-v3) writes spaces as ``▁`` and has
``<0xHH>`` byte-fallback tokens.  Both are handled (:mod:`.hf_vocab`), the family being
detected from the tokenizer's decoder (and its vocabulary as a fallback).
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
from typing import Iterable, Sequence

import numpy as np

from ..cache import register
from ..errors import VocabularyError
from .hf_vocab import added_tokens, bytelevel_bytes, detect_family, id_to_piece, sentencepiece_bytes

__all__ = ["CONTROL_NAMES", "EOS_NAMES", "Vocabulary", "require_eos", "require_vocabulary"]


#: chat/end tokens that end the output when present in a vocabulary.
EOS_NAMES = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|end|>")
#: strings that are always control tokens when they are whole entries of a vocabulary.
CONTROL_NAMES = frozenset(
    {
        "<unk>", "<s>", "</s>", "<pad>", "<mask>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
        "<|eot_id|>", "<|end|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
        "<|end_header_id|>", "<|pad|>", "<|unk|>",
    }
)
_CONTROL_RE = re.compile(r"^(<\|[^|\s]+\|>|<SPECIAL_\d+>|\[control_\d+\])$")

_CACHE_ATTR = "_structgen_vocabularies"
# for tokenizers that refuse new attributes: id -> (tokenizer, {vocab_size: Vocabulary})
_FALLBACK_CACHE: dict[int, tuple[object, dict]] = {}
_CACHE_LOCK = threading.Lock()


def _clear_fallback_cache() -> None:
    with _CACHE_LOCK:
        _FALLBACK_CACHE.clear()


register("constrain.vocab.fallback_vocabularies", _clear_fallback_cache, lambda: len(_FALLBACK_CACHE))


def _cache_of(tokenizer) -> dict:
    with _CACHE_LOCK:
        cache = getattr(tokenizer, "__dict__", {}).get(_CACHE_ATTR)
        if cache is not None:
            return cache
        cache = {}
        try:
            object.__setattr__(tokenizer, _CACHE_ATTR, cache)
            return cache
        except (AttributeError, TypeError):
            hit = _FALLBACK_CACHE.get(id(tokenizer))
            if hit is not None and hit[0] is tokenizer:
                return hit[1]
            _FALLBACK_CACHE[id(tokenizer)] = (tokenizer, cache)
            return cache


class Vocabulary:
    """Exact token bytes, EOS ids and the token trie of one tokenizer at one logits width.

    Attributes
    ----------
    size : int
        Logits width (the tokenizer's length, or the ``vocab_size`` asked for, if larger).
    n_words : int
        ``ceil(size / 32)``: int32 words of a packed mask (bit ``t % 32`` of word ``t // 32``).
    token_bytes : list[bytes | None]
        Bytes of every id; ``None`` for special/control/padding ids (never matched by text).
    token_lens : np.ndarray[int32]
        ``len(token_bytes[t])``, 0 for ``None``.
    eos_ids : np.ndarray[int64]
        Ids that may only end the output (their ``token_bytes`` are ``None``).
    special_ids : np.ndarray[int64]
        Ids below the tokenizer's length whose bytes are ``None`` (eos included, padding not).
    text_ids : np.ndarray[int64]
        Ids whose bytes are not ``None``, ascending.
    max_token_len : int
    missing_bytes : frozenset[int]
        Byte values that occur in no token (SmolLM2 lacks 21, e.g. 0x04, 0xF1, 0xFF): text
        containing them cannot be generated at all, and :meth:`encode` raises on it.
    Trie (``N`` nodes, preorder, children in byte order; node 0 is the root, the empty string):
        ``trie_parent`` int32[N] (-1 for the root), ``trie_byte`` int16[N] (-1 for the root),
        ``trie_depth`` int32[N], ``trie_end`` int32[N] (exclusive end of the node's subtree:
        the subtree of ``v`` is ``range(v, trie_end[v])``), ``token_node`` int32[size] (node of
        each token's full bytes, -1 for ``None`` tokens), ``node_token_ptr`` int32[N+1] /
        ``node_token_ids`` int32 (CSR: the ids whose bytes end exactly at each node; several
        ids may share bytes, e.g. SentencePiece ``<0x41>`` and ``A``), ``levels[d]`` int32
        (nodes at depth ``d``, ascending; ``levels[0] == [0]``), ``child_ptr`` int32[N+1] /
        ``child_ids`` int32 / ``child_bytes`` uint8 (CSR of children sorted by byte).
    """

    # ------------------------------------------------------------------ construction

    def __init__(
        self,
        token_bytes: Sequence[bytes | None],
        eos_ids: Iterable[int] = (),
        *,
        tokenizer=None,
        family: str = "custom",
        n_tokenizer: int | None = None,
    ):
        tb = [
            b if type(b) is bytes and b else (bytes(b) if b else None) for b in token_bytes
        ]
        self.size: int = len(tb)
        if self.size == 0:
            raise VocabularyError("empty vocabulary")
        self.n_words: int = (self.size + 31) // 32
        eos = sorted({int(e) for e in eos_ids})
        for e in eos:
            if not 0 <= e < self.size:
                raise VocabularyError(f"eos id {e} out of range for a vocabulary of {self.size}")
            tb[e] = None  # an EOS id is never matched by text
        self.token_bytes: list[bytes | None] = tb
        self.eos_ids: np.ndarray = np.asarray(eos, dtype=np.int64)
        self.tokenizer = tokenizer
        self.family: str = family
        self.n_tokenizer: int = self.size if n_tokenizer is None else min(n_tokenizer, self.size)
        self.token_lens: np.ndarray = np.fromiter(
            (0 if b is None else len(b) for b in tb), dtype=np.int32, count=self.size
        )
        has = self.token_lens > 0
        self.text_ids: np.ndarray = np.flatnonzero(has).astype(np.int64)
        self.special_ids: np.ndarray = np.flatnonzero(~has[: self.n_tokenizer]).astype(np.int64)
        self.max_token_len: int = int(self.token_lens.max(initial=0))
        self._build_trie()
        self._fingerprint: str | None = None
        self._padded: np.ndarray | None = None
        self._encoder = None
        self._encoder_lock = threading.Lock()
        self._special_re = None

    @classmethod
    def from_token_bytes(
        cls, token_bytes: Sequence[bytes | None], eos_ids: Iterable[int] = ()
    ) -> "Vocabulary":
        """A hand-made vocabulary (no tokenizer; :meth:`encode` is greedy longest match)."""
        return cls(token_bytes, eos_ids)

    @classmethod
    def from_hf(cls, tokenizer, vocab_size: int | None = None) -> "Vocabulary":
        """The vocabulary of a Hugging Face tokenizer, padded to ``vocab_size`` (logits width).

        Cached per (tokenizer object, vocab_size): the cache lives on the tokenizer object
        itself, so it goes away with the tokenizer.  ``vocab_size`` smaller than the tokenizer
        is allowed only when every dropped id is special.
        """
        cache = _cache_of(tokenizer)
        voc = cache.get(vocab_size)
        if voc is None:
            voc = cls._build_from_hf(tokenizer, vocab_size)
            voc = cache.setdefault(vocab_size, voc)
        return voc

    @classmethod
    def from_name(cls, name: str, vocab_size: int | None = None) -> "Vocabulary":
        """``from_hf(load_tokenizer(name))`` for ``"smollm2"``, ``"tekken"``, ``"mistral"``;
        the tokenizer is loaded once per process."""
        from ..tokenizers import load_tokenizer

        tok = _NAMED_TOKENIZERS.get(name)
        if tok is None:
            tok = _NAMED_TOKENIZERS.setdefault(name, load_tokenizer(name))
        return cls.from_hf(tok, vocab_size)

    @classmethod
    def _build_from_hf(cls, tok, vocab_size: int | None) -> "Vocabulary":
        pieces, vocab_map = id_to_piece(tok)
        n = len(pieces)
        added = added_tokens(tok)  # id -> (content, special)
        family = detect_family(tok, pieces)

        special: set[int] = set()
        for i in getattr(tok, "all_special_ids", []) or []:
            if i is not None and 0 <= int(i) < n:
                special.add(int(i))
        for i, (_, is_special) in added.items():
            if is_special and 0 <= i < n:
                special.add(i)
        unk = getattr(tok, "unk_token_id", None)
        if isinstance(unk, int) and 0 <= unk < n:
            special.add(unk)
        for i, p in enumerate(pieces):
            if p and p[0] in "<[" and (p in CONTROL_NAMES or _CONTROL_RE.match(p)):
                special.add(i)

        if family == "bytelevel":
            tb = bytelevel_bytes(pieces)
        elif family == "sentencepiece":
            tb = sentencepiece_bytes(pieces)
        else:  # pragma: no cover - detect_family raises first
            raise VocabularyError(f"unsupported tokenizer family {family!r}")
        for i, (content, is_special) in added.items():
            if 0 <= i < n and not is_special:
                tb[i] = content.encode("utf-8")
        for i in special:
            tb[i] = None

        eos: set[int] = set()
        e = getattr(tok, "eos_token_id", None)
        if isinstance(e, (list, tuple)):
            eos.update(int(x) for x in e if x is not None)
        elif e is not None:
            eos.add(int(e))
        for name in EOS_NAMES:
            i = vocab_map.get(name)
            if i is not None:
                eos.add(i)

        size = n if vocab_size is None else int(vocab_size)
        if size < n:
            dropped = [i for i in range(size, n) if tb[i] is not None]
            if dropped:
                raise VocabularyError(
                    f"vocab_size={size} is smaller than the tokenizer ({n} ids) and drops "
                    f"text tokens such as {dropped[:5]}"
                )
            tb = tb[:size]
            eos = {i for i in eos if i < size}
        else:
            tb = tb + [None] * (size - n)
        return cls(tb, eos, tokenizer=tok, family=family, n_tokenizer=n)

    # ------------------------------------------------------------------ trie

    def _build_trie(self) -> None:
        ids = self.text_ids
        lens_all = self.token_lens
        tb = self.token_bytes
        # One sort of the byte strings (a prefix sorts before its extensions, so the sorted
        # order is the trie's preorder); everything after is array work.
        order = np.asarray(sorted(ids.tolist(), key=tb.__getitem__), dtype=np.int64)
        k = len(order)
        lens = lens_all[order].astype(np.int64)
        starts = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(lens, out=starts[1:])
        flat = np.frombuffer(b"".join([tb[i] for i in order.tolist()]), dtype=np.uint8)

        # LCP of each string with its predecessor, one depth at a time over the pairs still equal.
        present = np.zeros(256, dtype=bool)
        present[flat] = True
        self.missing_bytes: frozenset[int] = frozenset(np.flatnonzero(~present).tolist())

        lcp = np.zeros(k, dtype=np.int64)
        if k > 1:
            active = np.arange(1, k)
            minlen = np.minimum(lens[1:], lens[:-1])
            d = 0
            while active.size:
                ok = minlen[active - 1] > d
                active = active[ok]
                if not active.size:
                    break
                same = flat[starts[active] + d] == flat[starts[active - 1] + d]
                active = active[same]
                lcp[active] += 1
                d += 1
        dup = np.zeros(k, dtype=bool)
        if k > 1:
            dup[1:] = (lcp[1:] == lens[1:]) & (lens[1:] == lens[:-1])
        uniq_of_sorted = np.cumsum(~dup) - 1  # index among unique strings
        u = np.flatnonzero(~dup)
        lcp_u, len_u, start_u = lcp[u], lens[u], starts[u]

        counts = len_u - lcp_u  # new nodes contributed by each unique string (>= 1)
        total = int(counts.sum())
        n_nodes = 1 + total
        block_start = np.zeros(len(u) + 1, dtype=np.int64)
        np.cumsum(counts, out=block_start[1:])
        node_string = np.repeat(np.arange(len(u)), counts)
        offs = np.arange(total, dtype=np.int64) - np.repeat(block_start[:-1], counts)
        node_depth = lcp_u[node_string] + offs + 1

        depth = np.zeros(n_nodes, dtype=np.int32)
        depth[1:] = node_depth
        byte = np.full(n_nodes, -1, dtype=np.int16)
        if total:
            byte[1:] = flat[start_u[node_string] + node_depth - 1]

        # levels: nodes of each depth, ascending (stable sort keeps preorder)
        by_depth = np.argsort(depth, kind="stable").astype(np.int32)
        level_counts = np.bincount(depth, minlength=1)
        level_bounds = np.zeros(len(level_counts) + 1, dtype=np.int64)
        np.cumsum(level_counts, out=level_bounds[1:])
        levels = [by_depth[level_bounds[d] : level_bounds[d + 1]] for d in range(len(level_counts))]

        # parent: the last node of depth d-1 before the node, in preorder
        parent = np.full(n_nodes, -1, dtype=np.int32)
        for d in range(1, len(levels)):
            prev, cur = levels[d - 1], levels[d]
            parent[cur] = prev[np.searchsorted(prev, cur) - 1]

        # subtree sizes bottom-up
        size = np.ones(n_nodes, dtype=np.int64)
        for d in range(len(levels) - 1, 0, -1):
            cur = levels[d]
            size += np.bincount(parent[cur], weights=size[cur], minlength=n_nodes).astype(np.int64)
        end = (np.arange(n_nodes, dtype=np.int64) + size).astype(np.int32)

        # children CSR (children of a node are ascending in id and in byte)
        child_counts = np.bincount(parent[1:], minlength=n_nodes) if n_nodes > 1 else np.zeros(n_nodes, np.int64)
        child_ptr = np.zeros(n_nodes + 1, dtype=np.int32)
        np.cumsum(child_counts, out=child_ptr[1:])
        child_ids = (np.argsort(parent[1:], kind="stable") + 1).astype(np.int32)
        child_bytes = byte[child_ids].astype(np.uint8)

        # tokens -> terminal nodes
        terminal = block_start[1:].astype(np.int32)  # last node of each unique string's block
        token_node = np.full(self.size, -1, dtype=np.int32)
        token_node[order] = terminal[uniq_of_sorted]
        with_node = self.text_ids
        tn = token_node[with_node]
        o = np.argsort(tn, kind="stable")
        node_token_ids = with_node[o].astype(np.int32)
        node_token_ptr = np.zeros(n_nodes + 1, dtype=np.int32)
        np.cumsum(np.bincount(tn, minlength=n_nodes), out=node_token_ptr[1:])

        self.n_nodes = n_nodes
        self.trie_parent = parent
        self.trie_byte = byte
        self.trie_depth = depth
        self.trie_end = end
        self.token_node = token_node
        self.node_token_ptr = node_token_ptr
        self.node_token_ids = node_token_ids
        self.levels = levels
        self.child_ptr = child_ptr
        self.child_ids = child_ids
        self.child_bytes = child_bytes

    def child(self, node: int, b: int) -> int:
        """Child of ``node`` along byte ``b``, or -1."""
        lo, hi = int(self.child_ptr[node]), int(self.child_ptr[node + 1])
        if lo == hi:
            return -1
        j = lo + int(np.searchsorted(self.child_bytes[lo:hi], b))
        if j < hi and int(self.child_bytes[j]) == b:
            return int(self.child_ids[j])
        return -1

    def node_tokens(self, node: int) -> np.ndarray:
        """Ids whose bytes end exactly at ``node``."""
        return self.node_token_ids[self.node_token_ptr[node] : self.node_token_ptr[node + 1]]

    def node_bytes(self, node: int) -> bytes:
        """The byte string a trie node stands for."""
        out = []
        while node > 0:
            out.append(int(self.trie_byte[node]))
            node = int(self.trie_parent[node])
        return bytes(reversed(out))

    @property
    def padded_bytes(self) -> np.ndarray:
        """uint8[size, max_token_len], token bytes left-aligned and zero padded (lazy)."""
        if self._padded is None:
            m = np.zeros((self.size, max(self.max_token_len, 1)), dtype=np.uint8)
            ids = self.text_ids
            lens = self.token_lens[ids].astype(np.int64)
            flat = np.frombuffer(b"".join([self.token_bytes[i] for i in ids.tolist()]), dtype=np.uint8)
            rows = np.repeat(ids, lens)
            starts = np.zeros(len(ids) + 1, dtype=np.int64)
            np.cumsum(lens, out=starts[1:])
            cols = np.arange(len(flat)) - np.repeat(starts[:-1], lens)
            m[rows, cols] = flat
            self._padded = m
        return self._padded

    # ------------------------------------------------------------------ misc API

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"Vocabulary(size={self.size}, family={self.family!r}, text={len(self.text_ids)}, "
            f"special={len(self.special_ids)}, eos={self.eos_ids.tolist()}, nodes={self.n_nodes})"
        )

    @property
    def fingerprint(self) -> str:
        """Stable hash of (size, every token's bytes, eos ids): a key for caches elsewhere."""
        if self._fingerprint is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(b"structgen-vocab-v1")
            h.update(np.int64(self.size).tobytes())
            h.update(self.token_lens.astype("<i4").tobytes())
            h.update(b"".join(b for b in self.token_bytes if b is not None))
            h.update(self.eos_ids.astype("<i8").tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def decode_bytes(self, ids: Iterable[int], *, skip_special: bool = True) -> bytes:
        """Concatenated bytes of ``ids``; ``None`` ids are skipped (or raise if not ``skip_special``)."""
        tb = self.token_bytes
        out = []
        for i in ids:
            b = tb[int(i)]
            if b is None:
                if not skip_special:
                    raise VocabularyError(f"token {int(i)} has no text bytes")
                continue
            out.append(b)
        return b"".join(out)

    def mask_to_ids(self, mask) -> np.ndarray:
        """Allowed ids (int64, ascending) of a packed int32 bitmask (1-D, ``n_words`` words)."""
        m = np.ascontiguousarray(np.asarray(mask).reshape(-1)).astype("<i4", copy=False)
        words = np.flatnonzero(m)
        if 4 * len(words) < len(m):
            # a narrow mask (keys, punctuation): unpack only its nonzero words
            bits = np.unpackbits(np.ascontiguousarray(m[words]).view(np.uint8), bitorder="little")
            r, c = np.nonzero(bits.reshape(len(words), 32))
            ids = words[r] * 32 + c
        else:
            ids = np.flatnonzero(np.unpackbits(m.view(np.uint8), bitorder="little"))
        return ids[ids < self.size].astype(np.int64)

    def ids_to_mask(self, ids, out: np.ndarray | None = None) -> np.ndarray:
        """Packed int32 bitmask (``n_words`` words) with the bits of ``ids`` set."""
        bits = np.zeros(self.n_words * 32, dtype=bool)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise VocabularyError("token id out of range")
        bits[ids] = True
        words = np.packbits(bits, bitorder="little").view("<i4").astype(np.int32)
        if out is not None:
            out[...] = words
            return out
        return words

    # ------------------------------------------------------------------ canonicality

    def is_canonical(self, ids: Iterable[int]) -> bool:
        """Whether ``ids`` is the tokenizer's own encoding of its bytes (:meth:`encode`).

        Exact by definition: the bytes are decoded and re-encoded.  Trailing EOS ids are
        ignored (an output may end with one); any other id without text bytes, or bytes that
        are not UTF-8 (a tokenizer encodes text), make it False.  Byte-level BPE (SmolLM2,
        Tekken): the tokenizer's ``encode`` of the text.  SentencePiece: the encoding the
        text gets in the middle of an output, i.e. without SentencePiece's dummy-prefix ``▁``
        (see :meth:`encode`).  Without a tokenizer: greedy longest match.  An id out of range
        is a :class:`VocabularyError` naming its position.
        """
        ids = [int(i) for i in ids]
        for k, i in enumerate(ids):
            if not 0 <= i < self.size:
                raise VocabularyError(f"is_canonical: token id {i} at position {k} is out of range "
                                      f"for a vocabulary of {self.size}")
        eos = set(self.eos_ids.tolist())
        while ids and ids[-1] in eos:
            ids.pop()
        tb = self.token_bytes
        if any(tb[i] is None for i in ids):
            return False
        try:
            text = b"".join(tb[i] for i in ids).decode("utf-8")
        except UnicodeDecodeError:
            return False
        try:
            return self.encode(text) == ids
        except VocabularyError:
            return False

    # ------------------------------------------------------------------ encode

    def encode(self, text: str) -> list[int]:
        """Canonical tokenization of ``text`` whose token bytes concatenate to ``text.encode()``.

        With a tokenizer: its own encoding without special tokens (special-token strings in
        the text are tokenized as plain text).  If that does not give back exactly the text's
        bytes -- SentencePiece prepends a dummy ``▁`` -- the text is encoded after a sentinel
        (``"\\n"``, which no piece merges with) and the sentinel's tokens are dropped, which is
        the tokenization the text gets in the middle of an output.  A literal ``▁`` in
        SentencePiece text (which SentencePiece itself reads as a space) becomes its three
        byte-fallback tokens, the text around it being encoded as above.  Without a tokenizer,
        or if all this fails, greedy longest match on the trie.  The result always round-trips;
        ``ValueError`` if the text contains bytes that no token has (:attr:`missing_bytes`).
        """
        data = text.encode("utf-8")
        if not data:
            return []
        if self.missing_bytes and not self.missing_bytes.isdisjoint(data):
            return self._dp_encode(data)  # raises, naming the bytes
        if self.tokenizer is not None:
            enc = self._encoder_for(text)
            if enc is not None:
                ids = enc.encode(text, add_special_tokens=False).ids
                if self._exact(ids, data):
                    return list(ids)
                for sentinel in ("\n", "\x00"):
                    ids = enc.encode(sentinel + text, add_special_tokens=False).ids
                    rest = self._strip_prefix(ids, sentinel.encode("utf-8"))
                    if rest is not None and self._exact(rest, data):
                        return rest
                if self.family == "sentencepiece" and "\u2581" in text:
                    # A literal "▁" is whitespace to SentencePiece: the only way to produce
                    # it is byte fallback.  Encode the pieces around it on their own.
                    out: list[int] = []
                    for k, part in enumerate(text.split("\u2581")):
                        if k:
                            out.extend(self.greedy_encode("\u2581".encode("utf-8")))
                        if part:
                            out.extend(self.encode(part))
                    return out
        return self.greedy_encode(data)

    def greedy_encode(self, data: bytes) -> list[int]:
        """Greedy longest-match tokenization of ``data`` on the trie (exact).

        Falls back to a shortest tokenization by dynamic programming when greedy gets stuck
        (possible when some bytes exist only inside longer tokens); raises ``ValueError`` when
        no tokenization exists (see :attr:`missing_bytes`).
        """
        out = []
        pos, n = 0, len(data)
        while pos < n:
            matches = self._matches_at(data, pos)
            if not matches:
                return self._dp_encode(data)
            best, pos = matches[-1]
            out.append(best)
        return out

    def _matches_at(self, data: bytes, pos: int) -> list[tuple[int, int]]:
        """(token id, end) for every token that matches ``data`` at ``pos``, shortest first."""
        ntp = self.node_token_ptr
        node, j, n = 0, pos, len(data)
        found = []
        while j < n:
            node = self.child(node, data[j])
            if node < 0:
                break
            j += 1
            if ntp[node + 1] > ntp[node]:
                found.append((int(self.node_token_ids[ntp[node]]), j))
        return found

    def _dp_encode(self, data: bytes) -> list[int]:
        n = len(data)
        INF = n + 1
        cost = [INF] * (n + 1)
        back: list[tuple[int, int] | None] = [None] * (n + 1)
        cost[0] = 0
        for pos in range(n):
            if cost[pos] == INF:
                continue
            for tid, end in self._matches_at(data, pos):
                if cost[pos] + 1 < cost[end]:
                    cost[end] = cost[pos] + 1
                    back[end] = (tid, pos)
        if cost[n] == INF:
            bad = sorted(set(data) & self.missing_bytes)
            where = f"bytes {[hex(b) for b in bad]} occur in no token" if bad else "no tokenization exists"
            raise VocabularyError(f"cannot encode {data[:40]!r}...: {where}")
        out = []
        pos = n
        while pos > 0:
            tid, prev = back[pos]
            out.append(tid)
            pos = prev
        return out[::-1]

    def _exact(self, ids: Sequence[int], data: bytes) -> bool:
        tb = self.token_bytes
        parts = []
        for i in ids:
            if not 0 <= i < self.size or tb[i] is None:
                return False
            parts.append(tb[i])
        return b"".join(parts) == data

    def _strip_prefix(self, ids: Sequence[int], sentinel: bytes) -> list[int] | None:
        targets = (sentinel, b" " + sentinel)
        acc = b""
        tb = self.token_bytes
        for k, i in enumerate(ids):
            if acc in targets:
                return list(ids[k:])
            if not 0 <= i < self.size or tb[i] is None:
                return None
            acc += tb[i]
            if len(acc) > len(sentinel) + 1:
                return None
        return [] if acc in targets else None

    def _encoder_for(self, text: str):
        """The tokenizer's own backend when ``text`` holds no special-token string (the common
        case), else a private copy that tokenizes special-token strings as plain text."""
        bt = getattr(self.tokenizer, "backend_tokenizer", None)
        if bt is None:
            return None
        if self._special_re is None:
            contents = sorted(
                {
                    getattr(t, "content", str(t))
                    for t in (getattr(self.tokenizer, "added_tokens_decoder", None) or {}).values()
                    if getattr(t, "special", True)
                },
                key=len,
                reverse=True,
            )
            self._special_re = re.compile("|".join(map(re.escape, contents))) if contents else False
        plain = (
            bt.truncation is None
            and bt.padding is None
            and (self._special_re is False or self._special_re.search(text) is None)
        )
        return bt if plain else self._get_encoder()

    def _get_encoder(self):
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    bt = getattr(self.tokenizer, "backend_tokenizer", None)
                    if bt is None:
                        self._encoder = False
                    else:
                        enc = copy.deepcopy(bt)
                        enc.encode_special_tokens = True
                        enc.no_truncation()
                        enc.no_padding()
                        self._encoder = enc
        return self._encoder or None


_NAMED_TOKENIZERS: dict[str, object] = {}  # "smollm2", "tekken", "mistral": at most three
register("constrain.vocab.named_tokenizers", _NAMED_TOKENIZERS.clear, lambda: len(_NAMED_TOKENIZERS))


def require_vocabulary(obj: object, where: str = "vocab") -> Vocabulary:
    """``obj`` itself if it is a :class:`Vocabulary`; otherwise a :class:`VocabularyError`
    that says what was passed and how to build the right thing from it.

    Every entry point that takes a vocabulary calls this first: a tokenizer passed in its
    place would otherwise fail deep inside the compiler (``AttributeError ... fingerprint``).
    """
    if isinstance(obj, Vocabulary):
        return obj
    got = type(obj).__name__
    if isinstance(obj, str):
        hint = f"use Vocabulary.from_name({obj!r}) or Vocabulary.from_hf(tokenizer)"
    elif hasattr(obj, "convert_ids_to_tokens") or hasattr(obj, "get_vocab"):
        hint = "use Vocabulary.from_hf(tokenizer)"
    else:
        hint = "use Vocabulary.from_hf(tokenizer) or Vocabulary.from_token_bytes(...)"
    raise VocabularyError(f"{where}: expected constrain.Vocabulary, got {got}; {hint}")


def require_eos(vocab: Vocabulary, where: str = "vocab") -> None:
    """A :class:`VocabularyError` unless ``vocab`` has an EOS id: without one no output can end."""
    if len(np.asarray(vocab.eos_ids)) == 0:
        raise VocabularyError(
            f"{where}: the vocabulary has no EOS id, so no output could ever end; build it with "
            "eos_ids=[...] (Vocabulary.from_token_bytes(tokens, eos_ids=[...])) or from a "
            "tokenizer that has an eos_token"
        )


# ---------------------------------------------------------------------------- HF helpers
