"""Per-lexeme token tables: the vocabulary walked through a lexeme DFA, once per state.

For a lexeme DFA state ``q`` the table holds

* ``row(q)`` -- the packed bitmask of tokens whose bytes all stay alive in the lexeme from
  ``q`` (``INSIDE[q]`` in the design notes), and
* ``splits(q)`` -- the trie nodes where the lexeme can be complete after a proper prefix of a
  token (the token's remaining bytes must then start the next lexeme: the token layer checks
  those few subtrees against the parser).

Both come from one walk of the token trie, level by level, that only expands the children of
nodes still alive -- a literal lexeme touches a handful of nodes, a string-content state most
of the trie. Tables are keyed by (lexeme key, vocabulary fingerprint) and shared by every
compiled grammar in the process, so the JSON string lexeme is walked once per vocabulary.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["LexemeTable", "lexeme_table", "pack_bits", "csr_positions", "set_bits"]


def csr_positions(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flat positions of all entries of CSR ``rows`` (in row order), without a Python loop."""
    starts = ptr[rows]
    lens = ptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(total)


def set_bits(words: np.ndarray, ids: np.ndarray) -> None:
    """OR the bits of token ``ids`` into packed uint32 ``words`` in place."""
    if ids.size:
        ids = ids.astype(np.int64, copy=False)
        np.bitwise_or.at(words, ids >> 5, np.left_shift(np.uint32(1), (ids & 31).astype(np.uint32)))


def pack_bits(allowed: np.ndarray, n_words: int) -> np.ndarray:
    """Pack a bool vector (one entry per token id) into int32 words, bit t%32 of word t//32."""
    b = np.packbits(allowed, bitorder="little")
    out = np.zeros(n_words * 4, dtype=np.uint8)
    out[: b.size] = b
    return out.view("<u4").astype(np.uint32, copy=False)


class LexemeTable:
    """Lazily computed INSIDE rows and split nodes for every state of one lexeme DFA."""

    def __init__(self, dfa, vocab):
        self.dfa = dfa
        self.vocab = vocab
        # class-compressed transitions: T[q, cmap[byte]] (-1 dead); a sink row for "dead"
        T = np.asarray(dfa._T, dtype=np.int32)
        cmap = np.asarray(dfa._cmap[:256], dtype=np.int64)
        n_states, n_cls = T.shape
        self.n_states = n_states
        self.n_cls = n_cls
        ext = np.full((n_states + 1, n_cls), n_states, dtype=np.int32)
        ext[:n_states] = np.where(T >= 0, T, n_states)
        self._flat = ext.ravel()
        self._cmap = cmap
        self._accept_ext = np.append(np.asarray(dfa.accept, dtype=bool), False)
        self._rows: dict[int, np.ndarray] = {}
        self._splits: dict[int, np.ndarray] = {}
        self._viable: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        # python lists for byte-at-a-time stepping in the token layer: T_list[q][cmap_list[b]]
        self.T_list: list[list[int]] = T.tolist()
        self.cmap_list: list[int] = cmap.tolist()
        self.accept_list: list[bool] = [bool(a) for a in dfa.accept]

    def viable_bytes(self, q: int) -> np.ndarray:
        """bool[256]: bytes with a transition out of ``q``."""
        v = self._viable.get(q)
        if v is None:
            v = self._viable[q] = self._flat[q * self.n_cls + self._cmap] != self.n_states
        return v

    def row(self, q: int) -> np.ndarray:
        r = self._rows.get(q)
        if r is None:
            self._compute(q)
            r = self._rows[q]
        return r

    def splits(self, q: int) -> np.ndarray:
        s = self._splits.get(q)
        if s is None:
            self._compute(q)
            s = self._splits[q]
        return s

    def _compute(self, q: int) -> None:
        v = self.vocab
        dead = self.n_states
        flat, cmap, n_cls = self._flat, self._cmap, self.n_cls
        n_nodes = v.trie_parent.shape[0]
        st = np.full(n_nodes, dead, dtype=np.int32)
        st[0] = q
        child_ptr, child_ids = v.child_ptr, v.child_ids
        alive = np.zeros(1, dtype=np.int64)  # node ids alive at the current depth
        alive_all = []
        while alive.size:
            pos = csr_positions(child_ptr, alive)
            if pos.size == 0:
                break
            kids = child_ids[pos]
            s = flat[st[v.trie_parent[kids]].astype(np.int64) * n_cls + cmap[v.trie_byte[kids]]]
            st[kids] = s
            keep = s != dead
            alive = kids[keep]
            if alive.size:
                alive_all.append(alive)
        nodes = np.concatenate(alive_all) if alive_all else np.zeros(0, dtype=np.int64)
        if nodes.size * 16 < n_nodes:
            # few nodes alive (literals, punctuation): set their tokens' bits directly
            row = np.zeros(v.n_words, dtype=np.uint32)
            set_bits(row, v.node_token_ids[csr_positions(v.node_token_ptr, nodes)])
        else:
            node_alive = np.zeros(n_nodes + 1, dtype=bool)  # last entry: "no node" (special ids)
            node_alive[nodes] = True
            row = pack_bits(node_alive[_token_node_or_end(v)], v.n_words)
        acc = self._accept_ext[st[nodes]]
        has_kids = child_ptr[nodes + 1] > child_ptr[nodes]
        splits = nodes[acc & has_kids].astype(np.int32)
        with self._lock:
            self._rows[q] = row
            self._splits[q] = splits


def _token_node_or_end(vocab) -> np.ndarray:
    """``vocab.token_node`` with "no node" (special ids, padding) mapped past the last node."""
    cached = getattr(vocab, "_token_node_or_end", None)
    if cached is None:
        cached = vocab.token_node.astype(np.int64)
        cached[cached < 0] = vocab.trie_parent.shape[0]
        vocab._token_node_or_end = cached
    return cached


_TABLES: "OrderedDict[tuple[str, str], LexemeTable]" = OrderedDict()
_TABLES_LOCK = threading.Lock()
_TABLES_LIMIT = 4096


def lexeme_table(lexeme, vocab) -> LexemeTable:
    """The shared table of ``lexeme`` over ``vocab`` (LRU-bounded)."""
    key = (lexeme.key, vocab.fingerprint)
    with _TABLES_LOCK:
        t = _TABLES.get(key)
        if t is not None:
            _TABLES.move_to_end(key)
            return t
    t = LexemeTable(lexeme.dfa, vocab)
    with _TABLES_LOCK:
        t = _TABLES.setdefault(key, t)
        while len(_TABLES) > _TABLES_LIMIT:
            _TABLES.popitem(last=False)
    return t
