"""The per-lexeme token tables: batched and single walks agree; rows match brute force."""

from __future__ import annotations

import numpy as np

from constrain.json_lexemes import JsonLexemes
from constrain.tokens import LexemeTable, compute_rows_batched


def _brute_row(dfa, vocab, q):
    allowed = np.zeros(vocab.size, dtype=bool)
    for t, b in enumerate(vocab.token_bytes):
        if not b:
            continue
        s = q
        for byte in b:
            s = int(dfa.trans[s, byte])
            if s < 0:
                break
        allowed[t] = s >= 0
    return allowed


def _row_bits(row, n):
    ids = np.arange(n)
    return ((row[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1).astype(bool)


def test_rows_batched_equal_single_and_brute_force(smollm2_vocab):
    L = JsonLexemes("flexible", 4)
    lexemes = [L.string_literal("name"), L.string_literal("ünïcode"), L.punct(","), L.literal("true"),
               L.string(patterns=("^[a-z]+$",))]
    single = [LexemeTable(lx.dfa, smollm2_vocab) for lx in lexemes]
    batched = [LexemeTable(lx.dfa, smollm2_vocab) for lx in lexemes]
    pairs = [(t, q) for t in batched for q in range(min(t.n_states, 8))]
    compute_rows_batched(pairs)
    for t1, t2, lx in zip(single, batched, lexemes):
        for q in range(min(t1.n_states, 8)):
            assert (t1.row(q) == t2._rows[q]).all(), (lx, q)
            assert (np.sort(t1.splits(q)) == np.sort(t2._splits[q])).all(), (lx, q)
    # and one table against a per-token brute force on the real vocabulary
    t = single[0]
    for q in (0, 3):
        assert (_row_bits(t.row(q), smollm2_vocab.size) == _brute_row(lexemes[0].dfa, smollm2_vocab, q)).all()
