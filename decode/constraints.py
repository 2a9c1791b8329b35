"""Constraints as the user gives them, and their coercion to a compiled ``constrain`` automaton.

Why: ``generate``, ``generate_object``, the CLI and the benchmarks accept a JSON schema (dict,
JSON text, Pydantic class), ``Regex``, ``Lark`` or a ``Compiled``; this module says how to read
each (``constraint_kind``), which JSON options generation compiles with
(``GENERATION_JSON_OPTIONS``), and caches compilations per vocabulary, since compiling a schema
costs far more than a decoding step.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from constrain.cache import register as _register_cache
from constrain.options import JsonOptions

from .result import GenerationArgumentError

__all__ = [
    "GENERATION_JSON_OPTIONS",
    "Lark",
    "Regex",
    "as_compiled",
    "compile_plan",
    "compiled_if_cached",
    "constraint_kind",
    "generation_json_options",
    "get_vocabulary",
    "is_compiled",
    "is_pydantic_class",
]


@dataclass(frozen=True)
class Regex:
    """A regular-expression constraint (full match over the output text)."""

    pattern: str


@dataclass(frozen=True)
class Lark:
    """A Lark grammar constraint: grammar text and its start rule."""

    text: str
    start: str = "start"


def lark_compiler():
    """``constrain``'s Lark compiler, looked up at each use: the one place a test puts a spy."""
    import constrain

    return constrain.compile_lark


def is_compiled(obj) -> bool:
    return hasattr(obj, "matcher") and hasattr(obj, "vocab") and callable(obj.matcher)


def is_pydantic_class(obj) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def constraint_kind(constraint) -> str | None:
    """"json", "regex", "lark", "compiled" or None (unconstrained); TypeError if unsupported."""
    if constraint is None:
        return None
    if is_compiled(constraint):
        kind = getattr(constraint, "kind", None)
        if kind in ("json", "json_schema"):
            return "json"
        return kind if kind in ("regex", "lark") else "compiled"
    if isinstance(constraint, Regex):
        return "regex"
    if isinstance(constraint, Lark) or callable(getattr(constraint, "to_lark", None)):
        return "lark"  # decode.Triggered and any other constraint that writes itself as a Lark grammar
    if isinstance(constraint, (dict, bool, str)) or is_pydantic_class(constraint):
        return "json"
    raise GenerationArgumentError(
        "constraint", f"unsupported type {type(constraint).__name__}: expected a Compiled, a JSON "
        "schema (dict or JSON string), a Pydantic model class, decode.Regex, decode.Lark or None"
    )


def _schema_of(constraint) -> dict | bool:
    if isinstance(constraint, str):
        from constrain.frontends.json_schema import normalize_schema_input

        try:
            json.loads(constraint)
        except json.JSONDecodeError as e:
            raise GenerationArgumentError(
                "constraint", "a str constraint must be a JSON schema; wrap regular expressions in "
                f"decode.Regex(...) ({e})") from None
        return normalize_schema_input(constraint)  # SchemaError for JSON that is no schema
    if is_pydantic_class(constraint):
        return constraint.model_json_schema()
    return constraint


#: ``compile_json_schema`` options used when ``generate`` / ``generate_object`` / the CLI compile
#: a JSON schema themselves.  Each narrows the schema's language (every output still validates)
#: towards what a model writes when it finishes well:
#:
#: - ``strict``: no undeclared properties (small models otherwise echo the schema back,
#:   ``{"properties": {...}}``, and never finish);
#: - ``canonical_literals``: property names and ``enum``/``const`` strings only in their plain
#:   spelling (``"name"``, never ``"\u006eame"``: a model that starts escaping keys rarely stops);
#: - ``canonical_strings``: every string value too, free or constrained, is spelled as
#:   ``json.dumps`` writes it: escapes only where JSON needs one (a datetime cannot come out as
#:   ``"2024\u002d01..."``); also applied to ``%json{...}`` blocks of ``Lark`` constraints;
#: - ``trailing_whitespace=False``: the output ends with the root value (EOS or the grammar
#:   stopping), instead of the model padding it with newlines;
#: - ``max_newlines=1`` with ``max_whitespace=16``: pretty-printed output stays possible (one
#:   line break plus indentation per run), blank-line runs do not;
#: - ``property_order="declared"``: properties in the schema's order, which a model follows;
#: - ``openapi_formats``: OpenAPI's ``format: byte`` asserted (base64), which a validator
#:   ignores (not a JSON Schema format) but a schema's author asked for.
#:
#: Compare: Outlines allows ``[ ]?`` between tokens, llguidance defaults to flexible whitespace
#: unless ``whitespace_flexible`` is off, XGrammar ``any_whitespace`` with ``max_whitespace_cnt``.
#: Pass ``json_options=`` to override entries (e.g. ``{"strict": False}``), or a ``Compiled`` for
#: full control; ``constrain.compile_json_schema``'s own defaults accept every JSON spelling.
#: The values are defined once, as ``constrain.JsonOptions.GENERATION``; this dict is its
#: ``as_dict()`` (every option by name), for ``**`` into ``compile_json_schema`` and for reading.
GENERATION_JSON_OPTIONS: dict = JsonOptions.GENERATION.as_dict()


def generation_json_options(json_options: dict | None = None, **overrides) -> dict:
    """``GENERATION_JSON_OPTIONS`` with the entries of ``json_options``, then ``overrides``,
    replacing its own; an unknown name is a ``constrain.OptionError`` before any compile."""
    return JsonOptions.GENERATION.replace(**{**(json_options or {}), **overrides}).as_dict()


_CACHE_SIZE = 64
_compiled_cache: "OrderedDict[tuple, tuple[Any, Any]]" = OrderedDict()
_cache_lock = threading.Lock()


def _clear_compiled_cache() -> None:
    with _cache_lock:
        _compiled_cache.clear()


# the compiled constraints (and through them their vocabularies) go with constrain.clear_caches()
_register_cache("decode.compiled_constraints", _clear_compiled_cache, lambda: len(_compiled_cache))


def _cached_compile(vocab, key: tuple, build):
    full_key = (id(vocab),) + key
    with _cache_lock:
        hit = _compiled_cache.get(full_key)
        if hit is not None and hit[0] is vocab:
            _compiled_cache.move_to_end(full_key)
            return hit[1]
    compiled = build()
    with _cache_lock:
        _compiled_cache[full_key] = (vocab, compiled)
        _compiled_cache.move_to_end(full_key)
        while len(_compiled_cache) > _CACHE_SIZE:
            _compiled_cache.popitem(last=False)
    return compiled


def as_compiled(constraint, vocab, **json_options):
    """Coerce any supported constraint to a ``constrain`` Compiled for ``vocab`` (None stays None).

    Accepts a Compiled (returned as is), a JSON schema (dict/bool or JSON text), a Pydantic
    model class, ``Regex``, ``Lark`` or an object with a ``to_lark()`` method returning a ``Lark``
    (``decode.Triggered``).  ``json_options`` (strict=, whitespace=, ...) go to
    ``compile_json_schema`` (none given: its own, spec-exact defaults; ``generate`` passes
    ``GENERATION_JSON_OPTIONS``).  Compilations are cached per (vocab, constraint, options) in a
    small LRU because compiling a schema costs far more than a decoding step.
    ``canonical_tokens=True`` compiles with canonical tokenizations only (a ``Compiled`` must
    already have been compiled so).
    """
    kind = constraint_kind(constraint)
    canonical = json_options.pop("canonical_tokens", False)
    if not isinstance(canonical, bool):
        raise GenerationArgumentError("canonical_tokens", f"must be True or False, got {canonical!r}")
    if kind is None:
        return None
    if is_compiled(constraint):
        if canonical and not getattr(constraint, "canonical_tokens", False):
            raise GenerationArgumentError(
                "canonical_tokens", "the constraint is already compiled without canonical_tokens; compile it "
                "with canonical_tokens=True (constrain.compile_json_schema(..., canonical_tokens=True))")
        return constraint
    key, build = compile_plan(constraint, vocab, canonical_tokens=canonical, **json_options)
    return _cached_compile(vocab, key, build)


def compiled_if_cached(constraint, vocab, **json_options):
    """What :func:`as_compiled` would return if that costs no compile: None stays None, a
    ``Compiled`` is returned as is, a constraint compiled before (same key) comes from the
    LRU; otherwise ``False`` (a compile is due). Why: ``generate`` compiles concurrently with
    the prompt's prefill only when there is a compile to wait for."""
    kind = constraint_kind(constraint)
    if kind is None:
        return None
    if is_compiled(constraint):
        return constraint
    opts = dict(json_options)
    canonical = opts.pop("canonical_tokens", False)
    if not isinstance(canonical, bool):
        return False  # as_compiled raises the argument error
    key, _ = compile_plan(constraint, vocab, canonical_tokens=canonical, **opts)
    full_key = (id(vocab),) + key
    with _cache_lock:
        hit = _compiled_cache.get(full_key)
    return hit[1] if hit is not None and hit[0] is vocab else False


def compile_plan(constraint, vocab, *, budgets: dict | None = None, canonical_tokens: bool = False,
                 **json_options) -> tuple[tuple, Any]:
    """``(key, build)`` for a constraint that is not compiled yet: ``build()`` compiles it for
    ``vocab``, and ``key`` identifies the result among constraints of one vocabulary (the kind,
    its canonical text, the options).  Why separate from :func:`as_compiled`: a caller with its
    own cache (``decode.serve``'s, bounded in bytes) compiles without filling this module's LRU.
    ``budgets`` (``time_budget_s``, ``max_memory_bytes``) go to the compile entry point and are
    not part of the key; ``canonical_tokens`` is.  Raises for an unsupported type; None or a
    ``Compiled`` is a caller error.
    """
    kind = constraint_kind(constraint)
    if kind is None or is_compiled(constraint):
        raise GenerationArgumentError("constraint", "compile_plan needs a constraint that is not compiled yet")
    budgets = dict(budgets or {})
    canon_kw = {"canonical_tokens": True} if canonical_tokens else {}
    # one JsonOptions for every kind that takes them: a schema's whole output, a Lark
    # grammar's %json{...} blocks (no options given: compile_json_schema's spec-exact defaults)
    options = JsonOptions.build(**json_options)
    import constrain

    if kind == "json":
        schema = _schema_of(constraint)
        key = ("json", json.dumps(schema, sort_keys=True, separators=(",", ":")), options, canonical_tokens)
        return key, lambda: constrain.compile_json_schema(schema, vocab, options=options, **canon_kw, **budgets)
    if kind == "regex":
        return (("regex", constraint.pattern, canonical_tokens),
                lambda: constrain.compile_regex(constraint.pattern, vocab, **canon_kw, **budgets))
    if kind == "lark":
        if not isinstance(constraint, Lark):
            constraint = constraint.to_lark()
        compile_lark = lark_compiler()
        kw = {} if constraint.start == "start" else {"start": constraint.start}
        return (("lark", constraint.text, constraint.start, options, canonical_tokens),
                lambda: compile_lark(constraint.text, vocab, json_options=options, **kw, **canon_kw, **budgets))
    raise AssertionError(kind)


def get_vocabulary(tokenizer, vocab_size: int | None = None):
    """``constrain.Vocabulary.from_hf`` (itself cached per tokenizer object and vocab_size)."""
    from constrain.tokens.vocab import Vocabulary

    return Vocabulary.from_hf(tokenizer, vocab_size=vocab_size)
