"""TRANSITION SHIM: counted strings split into :mod:`constrain.automata.counted` (the byte
automaton) and :mod:`constrain.tokens.counted_table` (its token rows); phase 2 deletes this."""

from .automata.counted import CountedDFA, counted_content_dfa, counted_string_dfa
from .tokens.counted_table import _WALKS, CountedLexemeTable

__all__ = ["CountedDFA", "CountedLexemeTable", "_WALKS", "counted_content_dfa", "counted_string_dfa"]
