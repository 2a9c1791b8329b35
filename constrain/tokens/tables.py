"""The process-wide cache of token tables, and the interface the token automaton uses.

One table per (lexeme, vocabulary fingerprint), shared by every compiled grammar in the
process, so the JSON string lexeme is walked once per vocabulary. :func:`lexeme_table`
picks the kind of table a lexeme needs (a counted lexeme's :class:`CountedLexemeTable`, a
"B minus F" lexeme's :class:`DifferenceLexemeTable` derived from B's rows, else a plain
:class:`LexemeTable`); :class:`TokenTable` writes down what all three provide.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np

from ..cache import register
from .counted_table import CountedLexemeTable
from .lexeme_tables import DifferenceLexemeTable, LexemeTable
from .vocab import Vocabulary

__all__ = ["TokenTable", "lexeme_table"]

# rows of "B minus F" lexemes derived from B's rows (tests turn it off to compare)
USE_DIFFERENCE_TABLES = True


class TokenTable(Protocol):
    """What the token automaton reads from a table of one lexeme over one vocabulary.

    ``counted`` tables key their states by (count, base state); ``batchable`` tables
    (plain :class:`LexemeTable`) can be filled together by ``compute_rows_batched``.
    """

    counted: bool
    batchable: bool

    @property
    def n_rows(self) -> int:
        """Rows computed so far (what the table keeps in memory)."""

    def row(self, q: int) -> np.ndarray:
        """Packed mask of the tokens whose bytes all stay inside the lexeme from ``q``."""

    def splits(self, q: int) -> np.ndarray:
        """Trie nodes where the lexeme can end after a proper prefix of a token."""

    def viable_bytes(self, q: int) -> np.ndarray:
        """The bytes that keep the lexeme alive from ``q``."""


_TABLES: "OrderedDict[tuple[str, str], LexemeTable]" = OrderedDict()
_TABLES_LOCK = threading.Lock()
_TABLES_LIMIT = 4096
# rows kept by all tables together (checked when a table is added; tables grow lazily). Live
# automata hold their own tables, so this bounds only what is kept for later schemas: on a
# 100-schema Tekken sample 256 MiB compiles and decodes as fast as 1 GiB did
ROW_CACHE_BYTES = 256 << 20
_INSERTS = [0]


def _clear_tables() -> None:
    with _TABLES_LOCK:
        _TABLES.clear()


register("constrain.tokens.lexeme_tables", _clear_tables, lambda: len(_TABLES))


def _cached_row_bytes() -> int:
    return sum(t.n_rows * t.vocab.n_words * 4 for t in _TABLES.values())


def lexeme_table(lexeme, vocab: Vocabulary) -> LexemeTable:
    """The shared table of ``lexeme`` over ``vocab`` (LRU-bounded)."""
    key = (lexeme.key, vocab.fingerprint)
    with _TABLES_LOCK:
        t = _TABLES.get(key)
        if t is not None:
            _TABLES.move_to_end(key)
            return t
    dfa = lexeme.dfa
    base = lexeme_table(lexeme.minus[0], vocab) if USE_DIFFERENCE_TABLES and lexeme.minus else None
    if getattr(dfa, "counted", False):  # a CountedDFA (ByteDFA has no such flag)
        t = CountedLexemeTable(dfa, vocab)
    elif base is not None and base.batchable:
        t = DifferenceLexemeTable(dfa, vocab, base, lexeme.minus[1].dfa)
    else:
        t = LexemeTable(dfa, vocab)
    with _TABLES_LOCK:
        t = _TABLES.setdefault(key, t)
        _INSERTS[0] += 1
        if _INSERTS[0] % 64 == 0:  # the sum walks every table: only now and then
            while len(_TABLES) > 64 and _cached_row_bytes() > ROW_CACHE_BYTES:
                for _ in range(16):
                    _TABLES.popitem(last=False)
        while len(_TABLES) > _TABLES_LIMIT:
            _TABLES.popitem(last=False)
    return t
