"""TRANSITION SHIM: the grammar IR moved to :mod:`constrain.ir` (``ir.grammar`` and ``ir.rtn``);
phase 2 deletes this."""

from .ir.grammar import (EMPTY, NOTHING, Alt, Expr, Grammar, Lex, Lexeme, Nfa, Ref, Repeat, Seq, alt, lexeme, opt,
                         plus, seq, star)
from .ir.rtn import RTN, compile_rtn, strongly_connected_components

__all__ = ["Alt", "EMPTY", "Expr", "Grammar", "Lex", "Lexeme", "NOTHING", "Nfa", "RTN", "Ref", "Repeat", "Seq", "alt",
           "compile_rtn", "lexeme", "opt", "plus", "seq", "star", "strongly_connected_components"]
