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
        "SchemaWarning", "UnsupportedSchemaError", "Vocabulary", "VocabularyError", "cache_budget",
        "clear_caches", "compile_grammar", "compile_json_schema", "compile_lark", "compile_lark_file",
        "compile_regex", "gc_deferral", "gc_freeze", "grammars", "lark_to_grammar", "set_cache_budget",
        "set_gc_deferral", "set_gc_freeze",
    ],
    "decode": [
        "Agent", "AgentResult",
        "GENERATION_JSON_OPTIONS", "GenerationArgumentError", "GenerationError", "GenerationResult",
        "GrammarAligned", "HFTokenLM", "Healing", "Lark", "LogitsProcessor", "Predicate", "Regex", "RepairResult",
        "Samples", "Speculation", "SuffixStore",
        "TableLM", "TokenLM", "Triggered", "WeightedGenerationResult",
        "apply_token_bitmask_", "as_compiled", "chat", "generate", "generate_object", "heal", "load_default_model",
        "load_model", "masked_sample", "repair", "sample", "use_grouped_attention",
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


#: decode.vllm, the vLLM plugin: its own surface; the adapters import vLLM, the rest never does
VLLM_PLUGIN = ["ConstrainedRows", "ConstraintSpec", "EXTRA_ARGS_KEY", "StructgenLogitsProcessor",
               "spec_from_extra_args"]
VLLM_ADAPTERS = {"StructgenLogitsProcessor"}


def test_vllm_plugin_surface_is_pinned_and_imports_without_vllm():
    import subprocess
    import sys

    mod = importlib.import_module("decode.vllm")
    assert list(mod.__all__) == VLLM_PLUGIN == sorted(VLLM_PLUGIN)
    for name in sorted(set(mod.__all__) - VLLM_ADAPTERS):
        obj = getattr(mod, name)
        if callable(obj) or isinstance(obj, type):
            assert (obj.__doc__ or "").strip(), f"decode.vllm.{name} has no docstring"
    code = ("import sys, decode.vllm as v; [getattr(v, n) for n in v.__all__ if 'Processor' not in n]; "
            "assert not any(m == 'vllm' or m.startswith('vllm.') for m in sys.modules), 'vllm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


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


#: decode.serve (the OpenAI-compatible server), its own surface: importable without its extra
SERVE_PUBLIC = ["ConstraintCache", "Engine", "RequestHandle", "RowResult", "SamplingParams", "ServeConfig",
                "ServerProcess", "ServerThread", "create_app", "free_port", "serve"]


def test_serve_surface_is_pinned():
    import sys

    import decode.serve as serve

    assert list(serve.__all__) == SERVE_PUBLIC == sorted(SERVE_PUBLIC)
    for name in serve.__all__:
        assert (getattr(serve, name).__doc__ or "").strip(), f"decode.serve.{name} has no docstring"
    # the serve extra is optional: importing the package loads neither FastAPI nor uvicorn
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import sys, decode.serve; "
                          "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

