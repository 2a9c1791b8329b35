"""The compile entries: the only place that knows every front-end.

Each entry checks its arguments, merges the JSON options into one :class:`JsonOptions`, runs
its front-end (JSON Schema, regex, Lark) to the grammar IR under one compile budget (time and
memory, :mod:`constrain.budget`) and returns a :class:`~constrain.compiled.Compiled`. A schema
nested deeper than Python's stack allows is a :class:`CompileBudgetError`, not a crash.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Mapping

from .automata import ByteDFA
from .budget import DEFAULT_MAX_MEMORY_BYTES, compile_budget
from .compiled import Compiled
from .errors import CompileBudgetError
from .frontends.json_schema import normalize_schema_input, schema_to_grammar
from .frontends.lark import lark_to_grammar
from .frontends.regex import regex_to_dfa
from .ir import Grammar, Lex, lexeme, opt
from .options import DEFAULT, JsonOptions
from .tokens import Vocabulary, require_vocabulary

__all__ = ["compile_grammar", "compile_json_schema", "compile_lark", "compile_lark_file", "compile_regex"]


def compile_grammar(grammar: Grammar, vocab: Vocabulary, *, time_budget_s: float = 30.0,
                    max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES, **kw) -> Compiled:
    """Compile an IR :class:`~constrain.ir.Grammar` for ``vocab``.

    ``time_budget_s`` and ``max_memory_bytes`` (default 1 GiB, ``None``: no limit) bound the
    compile and each later first visit of a state (:class:`CompileBudgetError` past them).
    """
    return Compiled(grammar, vocab, time_budget_s=time_budget_s, max_memory_bytes=max_memory_bytes, **kw)


def compile_json_schema(schema: Any, vocab: Vocabulary, *, options: JsonOptions | None = None, strict: bool = DEFAULT,
                        whitespace: str = DEFAULT, max_whitespace: int | None = DEFAULT, lenient: bool = DEFAULT,
                        time_budget_s: float = 20.0, max_newlines: int | None = DEFAULT,
                        trailing_whitespace: bool = DEFAULT, canonical_literals: bool = DEFAULT,
                        canonical_strings: bool = DEFAULT, property_order: str = DEFAULT,
                        format_assertion: bool = DEFAULT, openapi_formats: bool = DEFAULT,
                        resources: Mapping[str, Any] | None = None, max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES,
                        canonical_tokens: bool = False) -> Compiled:
    """Compile a JSON schema (dict, JSON string or Pydantic model class) for ``vocab``.

    The JSON options come as ``options=JsonOptions(...)`` and/or as keywords (a keyword
    passed replaces that field of ``options``); their defaults are :class:`JsonOptions`'s.

    ``strict=True`` forbids undeclared properties (as OpenAI's strict mode does; names in
    ``required`` count as declared);
    ``whitespace="flexible"`` allows JSON whitespace wherever JSON does, in runs of at most
    ``max_whitespace`` characters (``None``: unbounded), ``"compact"`` allows none;
    ``lenient=True`` drops keywords that cannot be enforced, with a warning naming each;
    ``time_budget_s``: the whole compile's time; ``max_memory_bytes`` (default 1 GiB,
    ``None``: no limit): what the compile may allocate, counted per construction before it
    allocates and checked against the process's RSS growth. Past either (or a construction's
    state count) it raises :class:`CompileBudgetError`, naming the budget and the schema
    keyword and JSON pointer being compiled; the same budgets bound each later first visit
    of a state (``Matcher.mask()``).

    Narrowings for generation (the defaults accept every JSON spelling of a valid instance;
    ``decode.generate`` turns these on, see ``decode.GENERATION_JSON_OPTIONS``):
    ``max_newlines=k`` allows at most ``k`` line feeds in one whitespace run (no blank-line
    runs); ``trailing_whitespace=False`` ends the text right after the root value (no
    whitespace after it); ``canonical_literals=True`` spells strings the schema fixes
    (property names, ``enum``/``const`` strings) only canonically, as
    ``json.dumps(s, ensure_ascii=False)`` does, not with needless escapes such as ``\\u0061``;
    ``canonical_strings=True`` does so for every string, keys and free values alike (implies
    ``canonical_literals``): an escape only where JSON needs one (``\\"``, ``\\\\``, the short
    ``\\b \\f \\n \\r \\t``, ``\\u00xx`` for other control characters), never ``\\u002d`` for
    ``-`` nor ``\\/``. It composes with ``pattern``, ``format`` and length bounds: the language
    is the canonically spelled valid instances. ``property_order="declared"`` accepts an
    object's properties only in ``properties`` order (the default ``"any"`` accepts every
    order JSON Schema does: required ones all present, none repeated; its states are built on
    first visit, so the 2^n sets of properties seen cost only those a text reaches).
    ``resources``: other schema documents by URI (``{"http://example.com/s.json": {...}}``) that
    ``$ref`` may point to, resolved against each document's URI as its base; without them a
    remote reference is an :class:`UnsupportedSchemaError` (nothing is fetched).
    ``format_assertion=False`` treats ``format`` as an annotation (draft 2020-12's default:
    no check); the default ``True`` enforces the formats it knows (docs/json_schema.md).
    ``openapi_formats=True`` also enforces OpenAPI's ``byte`` (base64; by default an unknown
    format to JSON Schema: a warning and no check; ``decode.generate`` turns it on).

    ``canonical_tokens=True`` (every compile entry takes it) also allows a token only where
    the output stays the tokenizer's own encoding of its bytes (``"orderId"`` as the tokenizer
    spells it, never ``order`` + ``Id`` if it would merge them): the matcher carries the
    previous token and ANDs the grammar mask with a cached per-token row
    (:mod:`constrain.tokens.canonical`).  Needs a vocabulary from a Hugging Face BPE
    tokenizer (:class:`OptionError` otherwise).
    """
    require_vocabulary(vocab)
    opts = JsonOptions.build(options, strict=strict, lenient=lenient, whitespace=whitespace,
                             max_whitespace=max_whitespace, max_newlines=max_newlines,
                             trailing_whitespace=trailing_whitespace, canonical_literals=canonical_literals,
                             canonical_strings=canonical_strings, property_order=property_order,
                             format_assertion=format_assertion, openapi_formats=openapi_formats)
    with compile_budget(time_budget_s, max_memory_bytes):
        try:
            schema = normalize_schema_input(schema)
            g = schema_to_grammar(schema, resources=resources, **opts.as_dict())
            return Compiled(g, vocab, source=schema, kind="json_schema", time_budget_s=time_budget_s,
                            max_memory_bytes=max_memory_bytes, canonical_tokens=canonical_tokens)
        except RecursionError:
            # a schema nested (or referencing itself) deeper than Python's stack allows in
            # some step of the compiler: say so instead of crashing the caller
            raise CompileBudgetError("schema too deeply nested for the compiler "
                                     f"(Python recursion limit {sys.getrecursionlimit()})",
                                     budget="recursion") from None


def compile_regex(pattern: str, vocab: Vocabulary, *, dialect: str = "python", time_budget_s: float = 20.0,
                  max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES, canonical_tokens: bool = False) -> Compiled:
    """Compile a regex; the whole output must match it (full match over the text).

    ``canonical_tokens=True``: canonical tokenizations only (see :func:`compile_json_schema`).
    ``time_budget_s`` and ``max_memory_bytes`` (default 1 GiB, ``None``: no limit) bound the
    compile and each later first visit of a state (:class:`CompileBudgetError` past them).
    """
    require_vocabulary(vocab)
    lx = lexeme(f"regex:{dialect}:{pattern}", lambda: regex_to_dfa(pattern, encoding="utf8", dialect=dialect),
                f"regex {pattern!r}"[:80])
    g = Grammar({"$root": Lex(lx)}, "$root", {"$root": "regex"})
    with compile_budget(time_budget_s, max_memory_bytes):  # one budget for both steps
        if regex_to_dfa(pattern, encoding="utf8", dialect=dialect).accept[0]:
            # a pattern matching the empty string: allow the empty output too
            g = Grammar({"$root": opt(Lex(_nonempty(lx, pattern, dialect)))}, "$root", {"$root": "regex"})
        return Compiled(g, vocab, source=pattern, kind="regex", time_budget_s=time_budget_s,
                        max_memory_bytes=max_memory_bytes, canonical_tokens=canonical_tokens)


def _nonempty(lx, pattern: str, dialect: str):
    def build():
        d = regex_to_dfa(pattern, encoding="utf8", dialect=dialect)
        return d.difference(ByteDFA.epsilon())

    return lexeme(f"regex-nonempty:{dialect}:{pattern}", build, f"regex {pattern!r}"[:80])


def compile_lark(grammar_text: str, vocab: Vocabulary, *, start: str = "start", import_paths: Iterable[str] = (),
                 json_whitespace: str = DEFAULT, json_max_whitespace: int | None = DEFAULT,
                 json_strict: bool = DEFAULT, source: str = "<grammar>", time_budget_s: float = 30.0,
                 state_budget: int = 200_000, json_options: dict | JsonOptions | None = None,
                 max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES, canonical_tokens: bool = False) -> Compiled:
    """Compile a Lark grammar for ``vocab``; returns a :class:`~constrain.compiled.Compiled`.

    ``start`` names the start rule. ``import_paths`` are folders searched by ``%import``, before
    the shipped grammars (``constrain/grammars``: ``%import json.value``) and Lark's own
    ``common.lark``.
    ``json_*`` configure ``%json{...}`` blocks (see :mod:`constrain.frontends.lark`);
    ``json_options`` (a dict of some :class:`JsonOptions` fields) overrides them and adds the
    rest of ``compile_json_schema``'s narrowings, e.g. ``{"canonical_strings": True}``; a
    :class:`JsonOptions` there gives all of them (the ``json_*`` keywords passed replace its
    values). Errors raise
    :class:`~constrain.errors.GrammarError`. ``time_budget_s`` and ``max_memory_bytes``
    (default 1 GiB, ``None``: no limit) bound the whole compile, ``%json`` blocks included,
    and each later first visit of a state; past them (or ``state_budget`` parser states) it
    raises :class:`~constrain.errors.CompileBudgetError`.  ``canonical_tokens=True``: canonical
    tokenizations only (see :func:`compile_json_schema`).
    """
    with compile_budget(time_budget_s, max_memory_bytes):
        g = lark_to_grammar(grammar_text, start, import_paths=import_paths, json_whitespace=json_whitespace,
                            json_max_whitespace=json_max_whitespace, json_strict=json_strict, source=source,
                            json_options=json_options)
        return Compiled(g, vocab, source=grammar_text, kind="lark", time_budget_s=time_budget_s,
                        state_budget=state_budget, max_memory_bytes=max_memory_bytes,
                        canonical_tokens=canonical_tokens)


def compile_lark_file(path: str | os.PathLike[str], vocab: Vocabulary, *, start: str = "start",
                      import_paths: Iterable[str] = (), **kw: Any) -> Compiled:
    """Like :func:`compile_lark` for a ``.lark`` file; its folder is searched first by ``%import``."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    paths = [os.path.dirname(os.path.abspath(path)), *import_paths]
    return compile_lark(text, vocab, start=start, import_paths=paths, source=path, **kw)
