"""constrain: JSON Schema, regexes and grammars compiled to token automata with cached masks.

Pipeline: front-ends (:mod:`.json_schema`, :mod:`.regex`) -> grammar IR (:mod:`.grammar`)
-> byte automata (:mod:`.automata`) -> token layer (:mod:`.tokens`, :mod:`.automaton`)
-> :class:`Matcher`.
"""

from .cache import clear_caches
from .compiled import Compiled, compile_grammar, compile_json_schema, compile_regex
from .errors import (
    CompileBudgetError,
    ConstraintError,
    EmptyLanguageError,
    GrammarError,
    OptionError,
    RegexError,
    SchemaError,
    UnsupportedSchemaError,
    VocabularyError,
)
from . import grammars
from .json_schema import SchemaWarning
from .lark import compile_lark, compile_lark_file, lark_to_grammar
from .matcher import Matcher
from .vocab import Vocabulary

__all__ = [
    "Compiled",
    "CompileBudgetError",
    "ConstraintError",
    "EmptyLanguageError",
    "GrammarError",
    "Matcher",
    "OptionError",
    "RegexError",
    "SchemaError",
    "SchemaWarning",
    "UnsupportedSchemaError",
    "Vocabulary",
    "clear_caches",
    "VocabularyError",
    "compile_grammar",
    "compile_json_schema",
    "compile_lark",
    "compile_lark_file",
    "compile_regex",
    "grammars",
    "lark_to_grammar",
]
