"""The Lark front-end: Lark grammar text -> grammar IR (:mod:`.convert`), with the ``%json``/
``%special`` extensions (:mod:`.extensions`) and terminal DFAs (:mod:`.terminals`)."""

from .convert import JSON_BLOCK_OPTIONS, lark_to_grammar
from .terminals import terminal_dfa

__all__ = ["JSON_BLOCK_OPTIONS", "lark_to_grammar", "terminal_dfa"]
