"""The grammar IR every front-end lowers to, and what runs it.

:mod:`.grammar` (rules over interned lexemes), :mod:`.rtn` (rules compiled to a recursive
transition network over lexeme symbols), :mod:`.members` (objects with members in any order,
whose states the network materialises on first visit), :mod:`.parser` (that network run with explicit
stacks). Below: :mod:`constrain.automata`; above: the token layer and the front-ends.
"""

from .grammar import (EMPTY, NOTHING, Alt, Expr, Grammar, Lex, Lexeme, Member, Members, Nfa, Ref, Repeat, Seq, alt,
                      lexeme, opt, plus, seq, star)
from .parser import Parser
from .rtn import RTN, compile_rtn, strongly_connected_components

__all__ = ["Alt", "EMPTY", "Expr", "Grammar", "Lex", "Lexeme", "Member", "Members", "NOTHING", "Nfa", "Parser", "RTN",
           "Ref", "Repeat", "Seq", "alt", "compile_rtn", "lexeme", "opt", "plus", "seq", "star",
           "strongly_connected_components"]
