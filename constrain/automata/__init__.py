"""Byte automata: the currency of every stage below the front-ends.

:mod:`.dfa` holds :class:`ByteDFA` (canonical, minimized, class-compressed) and the
Thompson :class:`NFA` it is built from, with minimization and products; :mod:`.counted`
holds :class:`CountedDFA`, a small base automaton plus a character counter for JSON strings
with large length bounds; :mod:`.sharing` keeps one object per distinct DFA. None knows about tokens or grammars.
"""

from .counted import CountedDFA, counted_content_dfa, counted_string_dfa
from .dfa import DEFAULT_BUDGET, NFA, ByteDFA, finalize
from .sharing import dfa_digest, share_dfa

__all__ = ["ByteDFA", "CountedDFA", "DEFAULT_BUDGET", "NFA", "counted_content_dfa", "counted_string_dfa", "dfa_digest", "finalize",
           "share_dfa"]
