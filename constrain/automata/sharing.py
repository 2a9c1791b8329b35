"""One object per distinct DFA: lexemes with the same language share their arrays and tables.

Why: a :class:`~constrain.automata.dfa.ByteDFA` is canonical, so two lexemes built by
different routes (``"a" | ("a" minus "")``, a pattern and the same pattern under ``anyOf``)
with the same language have byte-identical arrays. Without sharing each kept its own copy
and its own token table: on ``JsonSchemaStore:253`` (MaskBench) two 8,344-state copies of one
pattern DFA, 3 MB each, plus a 3 MB table each. The registry holds weak references only, so
it keeps nothing alive on its own and needs no budget; a DFA keeps its own digest (a slot), so
the registry costs one weak reference per live DFA for the garbage collector to walk.
"""

from __future__ import annotations

import hashlib
import threading
import weakref

from .dfa import ByteDFA

__all__ = ["dfa_digest", "share_dfa"]

_BY_DIGEST: "weakref.WeakValueDictionary[bytes, ByteDFA]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def dfa_digest(dfa: ByteDFA) -> bytes:
    """A digest of ``dfa``'s canonical arrays (equal for equal languages; cached per object)."""
    d = dfa._digest
    if d is None:
        h = hashlib.blake2b(digest_size=20)
        T, cmap, acc = dfa.table, dfa.classes, dfa.accept
        h.update(repr((T.shape, T.dtype.str, cmap.shape, cmap.dtype.str)).encode())
        for a in (T, cmap, acc):
            h.update(memoryview(a).cast("B") if a.flags.c_contiguous else a.tobytes())
        d = dfa._digest = h.digest()  # equal on every thread that computes it
    return d


def _same(a: ByteDFA, b: ByteDFA) -> bool:
    return (a.table.shape == b.table.shape and (a.table == b.table).all()
            and (a.classes == b.classes).all() and (a.accept == b.accept).all())


def share_dfa(dfa):
    """The live DFA equal to ``dfa`` if there is one, else ``dfa`` (now the shared one).

    Other automata (a :class:`~constrain.automata.counted.CountedDFA`) pass through."""
    if type(dfa) is not ByteDFA:
        return dfa
    d = dfa_digest(dfa)
    with _LOCK:
        old = _BY_DIGEST.get(d)
        if old is not None and old is not dfa and _same(old, dfa):
            return old
        _BY_DIGEST[d] = dfa
    return dfa
