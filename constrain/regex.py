"""TRANSITION SHIM: the regex front-end moved to :mod:`constrain.frontends.regex` (syntax,
charsets, compile); phase 2 deletes this."""

from .errors import CompileBudgetError, RegexError
from .frontends.regex import Alt, Assert, Chars, Look, Repeat, Seq, any_char_dfa, charset_dfa, parse_regex, regex_to_dfa

__all__ = ["Alt", "Assert", "Chars", "CompileBudgetError", "Look", "RegexError", "Repeat", "Seq", "any_char_dfa",
           "charset_dfa", "parse_regex", "regex_to_dfa"]
