"""The public surface of both packages, pinned: a name added or removed here is an API change
that README.md, docs/ and users see, so it must be deliberate (update this list with it)."""

from __future__ import annotations

import importlib
import re

import pytest

PUBLIC = {
    "constrain": [
        "CanonicalMatcher", "CompileBudgetError", "Compiled", "ConstraintError", "EmptyLanguageError", "Grammar",
        "GrammarError", "JsonOptions", "Matcher", "OptionError", "RegexError", "SchemaError",
        "SchemaWarning", "UnsupportedSchemaError", "Vocabulary", "VocabularyError", "clear_caches",
        "compile_grammar", "compile_json_schema", "compile_lark", "compile_lark_file",
        "compile_regex", "grammars", "lark_to_grammar",
    ],
    "decode": [
        "Agent", "AgentResult",
        "GENERATION_JSON_OPTIONS", "GenerationArgumentError", "GenerationError", "GenerationResult",
        "GrammarAligned", "HFTokenLM", "Lark", "LogitsProcessor", "Predicate", "Regex", "Samples", "Speculation",
        "TableLM", "TokenLM", "Triggered", "WeightedGenerationResult",
        "apply_token_bitmask_", "as_compiled", "chat", "generate", "generate_object", "load_default_model",
        "load_model", "masked_sample", "sample",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_pinned_and_sorted(package):
    mod = importlib.import_module(package)
    assert list(mod.__all__) == PUBLIC[package]
    assert list(mod.__all__) == sorted(mod.__all__)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_resolves_and_is_documented(package):
    mod = importlib.import_module(package)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", mod.__version__)
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"{package}.{name} has no docstring"
        assert name in dir(mod)


def test_error_family():
    """Everything raised on bad input is a ConstraintError (docs/errors.md)."""
    import constrain
    import decode

    errors = [getattr(constrain, n) for n in PUBLIC["constrain"] if n.endswith("Error")]
    errors += [getattr(decode, n) for n in PUBLIC["decode"] if n.endswith("Error")]
    assert len(errors) >= 11
    for e in errors:
        assert issubclass(e, constrain.ConstraintError), e


def test_paths_readme_shows_keep_working():
    from constrain.tokenizers import load_tokenizer  # noqa: F401  README: "The constraint engine on its own"
    import decode

    assert decode.generate.__module__ == "decode.loop"
    assert decode.LogitsProcessor.__name__ == "LogitsProcessor"
