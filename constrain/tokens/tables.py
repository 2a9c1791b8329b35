"""The process-wide cache of token tables, and the interface the token automaton uses.

One table per (lexeme, vocabulary fingerprint), shared by every compiled grammar in the
process, so the JSON string lexeme is walked once per vocabulary. :func:`lexeme_table`
picks the kind of table a lexeme needs (a counted lexeme's :class:`CountedLexemeTable`, a
"B minus F" lexeme's :class:`DifferenceLexemeTable` derived from B's rows, else a plain
:class:`LexemeTable`); :class:`TokenTable` writes down what all three provide.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Protocol

import numpy as np

from ..cache import DEFAULT_CACHE_BUDGET, cache_budget, on_budget_change, register
from .counted_table import CountedLexemeTable
from .lexeme_tables import DifferenceLexemeTable, LexemeTable
from .vocab import Vocabulary

__all__ = ["TokenTable", "cached_bytes", "lexeme_table", "table_bytes"]

# rows of "B minus F" lexemes derived from B's rows (tests turn it off to compare)
USE_DIFFERENCE_TABLES = True
# ... over the pair product of B and F (difference_product) instead of C's canonical DFA,
# which is then never built unless something else asks for it (tests turn it off to compare)
USE_DIFFERENCE_PRODUCT = True


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
# the bytes the tables keep are bounded by constrain.set_cache_budget (checked when a table
# is added, every _CHECK_EVERY additions while the budget is large; tables grow lazily). Live
# automata hold their own tables, so this bounds only what is kept for later schemas
_CHECK_EVERY = 64
_INSERTS = [0]
# (id(dfa), vocabulary fingerprint) -> table: the table of a DFA shared by several lexeme
# keys (automata.sharing). Weak, so it keeps nothing alive, and an entry leaves with its table
# (one weak reference per live table for the garbage collector to walk, where a dict of
# (weak dfa, weak table) pairs grew to three tracked objects per table ever built); the
# table's own ``dfa`` tells a live entry from one whose DFA id was reused
_BY_DFA: "weakref.WeakValueDictionary[tuple[int, str], LexemeTable]" = weakref.WeakValueDictionary()


def _clear_tables() -> None:
    with _TABLES_LOCK:
        _TABLES.clear()
        _BY_DFA.clear()


register("constrain.tokens.lexeme_tables", _clear_tables, lambda: len(_TABLES))


_PY_SLOT = 8
_PY_TUPLE = 56


def table_bytes(t) -> int:
    """What a table holds: its rows (counted in full, though equal rows are shared), its
    transition and class arrays, and the Python tuples of the states stepped byte by byte
    (``T_list``, viable bytes: a tuple header and a slot per entry). Uncounted, those were a
    third of the cached tables' memory on a 100-schema MaskBench sample (17 of 54 MB)."""
    n = getattr(t, "n_rows", 0) * t.vocab.n_words * 4
    for name in ("_flat", "_cls_bfs", "_F_flat"):
        a = getattr(t, name, None)
        if isinstance(a, np.ndarray):
            n += a.nbytes
    for a in getattr(t, "_F_edge_csr", None) or ():
        n += a.nbytes
    n_cls = getattr(t, "n_cls", 0)
    for name in ("T_list", "_F_list"):
        d = getattr(t, name, None)
        if d:
            n += len(d) * (_PY_TUPLE + _PY_SLOT * n_cls)
    for name in ("_viable_lists", "_F_bytes"):
        d = getattr(t, name, None)
        if d:
            n += len(d) * (_PY_TUPLE + _PY_SLOT * 16)  # a few live bytes per state, typically
    return n


def cached_bytes() -> int:
    """Bytes held by the cached tables (:func:`table_bytes` summed)."""
    with _TABLES_LOCK:
        tables = list(_TABLES.values())
    return sum(table_bytes(t) for t in tables)


def _trim() -> None:
    """Evict least recently used tables until the cache fits :func:`cache_budget`."""
    budget = cache_budget()
    with _TABLES_LOCK:
        while len(_TABLES) > _TABLES_LIMIT:
            _TABLES.popitem(last=False)
        if budget is None:
            return
        total = sum(table_bytes(t) for t in _TABLES.values())
        while _TABLES and total > budget:
            _, t = _TABLES.popitem(last=False)
            total -= table_bytes(t)


on_budget_change("constrain.tokens.lexeme_tables", _trim)


def lexeme_table(lexeme, vocab: Vocabulary) -> LexemeTable:
    """The shared table of ``lexeme`` over ``vocab`` (LRU-bounded)."""
    key = (lexeme.key, vocab.fingerprint)
    with _TABLES_LOCK:
        t = _TABLES.get(key)
        if t is not None:
            _TABLES.move_to_end(key)
            return t
    base = lexeme_table(lexeme.minus[0], vocab) if USE_DIFFERENCE_TABLES and lexeme.minus else None
    dfa = t = None
    if base is not None and base.batchable and USE_DIFFERENCE_PRODUCT:
        # "B minus F" straight from B's and F's DFAs: C's own canonical DFA is never built
        t = DifferenceLexemeTable.from_product(vocab, base, lexeme.minus[1].dfa)
    else:
        dfa = lexeme.dfa
        # another lexeme with the same DFA (automata.sharing gives equal languages one
        # object): its table has the very rows this one needs, so share it instead of a copy
        with _TABLES_LOCK:
            shared = _BY_DFA.get((id(dfa), vocab.fingerprint))
            if shared is not None and shared.dfa is dfa:
                t = shared
    if t is None:
        if getattr(dfa, "counted", False):  # a CountedDFA (ByteDFA has no such flag)
            t = CountedLexemeTable(dfa, vocab)
        elif base is not None and base.batchable:
            t = DifferenceLexemeTable(dfa, vocab, base, lexeme.minus[1].dfa)
        else:
            t = LexemeTable(dfa, vocab)
    with _TABLES_LOCK:
        t = _TABLES.setdefault(key, t)
        if dfa is not None:  # product tables have no DFA of their own to share by
            _BY_DFA[(id(dfa), vocab.fingerprint)] = t
        _INSERTS[0] += 1
        check = _INSERTS[0] % _CHECK_EVERY == 0 or len(_TABLES) > _TABLES_LIMIT
    budget = cache_budget()
    if check or (budget is not None and budget < DEFAULT_CACHE_BUDGET // 16):
        _trim()  # the sum walks every table: only now and then unless the budget is small
    return t
