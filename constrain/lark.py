"""TRANSITION SHIM: the Lark front-end moved to :mod:`constrain.frontends.lark`, left-recursion
elimination to :mod:`constrain.ir.left_recursion`, the compile entries to
:mod:`constrain.compiler`; phase 2 deletes this."""

from .compiler import compile_lark, compile_lark_file
from .frontends.lark import JSON_BLOCK_OPTIONS, lark_to_grammar, terminal_dfa
from .ir.left_recursion import eliminate_left_recursion

__all__ = ["JSON_BLOCK_OPTIONS", "compile_lark", "compile_lark_file", "eliminate_left_recursion", "lark_to_grammar",
           "terminal_dfa"]
