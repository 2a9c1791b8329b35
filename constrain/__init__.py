"""constrain: JSON Schema, regexes and grammars compiled to token automata with cached masks.

Pipeline: front-ends (:mod:`.frontends`: JSON Schema, Lark, regex) -> grammar IR (:mod:`.ir`)
-> byte automata (:mod:`.automata`) -> token layer (:mod:`.tokens`) -> :class:`Compiled` and
:class:`Matcher`. :mod:`.compiler` holds the compile entries, :mod:`.options` the JSON
options, :mod:`.budget` the compile budget, :mod:`.collector` the garbage collector around it. This module is the public API only.
"""

from . import grammars
from .cache import cache_budget, clear_caches, set_cache_budget
from .collector import gc_deferral, gc_freeze, set_gc_deferral, set_gc_freeze
from .compiled import Compiled
from .compiler import compile_grammar, compile_json_schema, compile_lark, compile_lark_file, compile_regex
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
from .frontends.json_schema import SchemaWarning
from .frontends.lark import lark_to_grammar
from .ir import Grammar
from .matcher import CanonicalMatcher, Matcher
from .options import JsonOptions
from .tokens import Vocabulary


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "0.1.0"
    try:
        return version("structgen")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "0.1.0"  # keep in sync with pyproject.toml


__version__ = _version()

__all__ = [
    "CanonicalMatcher",
    "CompileBudgetError",
    "Compiled",
    "ConstraintError",
    "EmptyLanguageError",
    "Grammar",
    "GrammarError",
    "JsonOptions",
    "Matcher",
    "OptionError",
    "RegexError",
    "SchemaError",
    "SchemaWarning",
    "UnsupportedSchemaError",
    "Vocabulary",
    "VocabularyError",
    "cache_budget",
    "clear_caches",
    "compile_grammar",
    "compile_json_schema",
    "compile_lark",
    "compile_lark_file",
    "compile_regex",
    "gc_deferral",
    "gc_freeze",
    "grammars",
    "lark_to_grammar",
    "set_cache_budget",
    "set_gc_deferral",
    "set_gc_freeze",
]
